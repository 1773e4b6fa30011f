package bench

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/chatstore/chatstore/chat"
)

// The messages of the workloads: what an agent's history holds, not
// one-line placeholders. A turn is a user question (about 200 characters);
// every other turn the assistant calls a tool (a tool call with JSON
// arguments, then a tool result of about 300 characters) before it answers
// (about 600 characters). The text comes from a fixed word list and a seeded
// generator, so every run writes the same bytes.

var words = strings.Fields(`the a of to and in is it for on with as this that at by from
conversation history message assistant user tool weather forecast Berlin Paris
order invoice customer support ticket refund shipping address delivery status
please could you check whether my last payment went through thanks again
temperature humidity wind rain tomorrow morning evening week report summary
database query result rows columns latency error retry timeout success
document section paragraph citation source answer question context window
model prompt token reasoning plan step next previous result value`)

// generator makes the messages of one history, deterministically from its
// seed.
type generator struct {
	rng     *rand.Rand
	turn    int
	call    int
	pending []chat.Message // the rest of a turn that next has not returned yet
}

func newGenerator(seed uint64) *generator {
	return &generator{rng: rand.New(rand.NewPCG(seed, 0x63686174))}
}

// text returns words up to about n characters, ending with a full stop.
func (g *generator) text(n int) string {
	var b strings.Builder
	b.Grow(n + 16)
	for b.Len() < n {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(words[g.rng.IntN(len(words))])
	}
	b.WriteByte('.')
	return b.String()
}

// turnMessages returns the next turn: 2 messages, or 4 with a tool call.
func (g *generator) turnMessages() []chat.Message {
	g.turn++
	user := chat.User(g.text(200))
	if g.turn%2 == 1 {
		return []chat.Message{user, chat.Assistant(g.text(600))}
	}
	g.call++
	call := chat.ToolCall{
		ID:       chat.Ptr(fmt.Sprintf("call_%d", g.call)),
		ToolName: "search_orders",
		Arguments: map[string]any{
			"query":    g.text(40),
			"limit":    float64(1 + g.rng.IntN(20)),
			"customer": fmt.Sprintf("cust-%05d", g.rng.IntN(100000)),
		},
	}
	return []chat.Message{
		user,
		chat.Assistant("", call),
		chat.Tool(g.text(300), call, false),
		chat.Assistant(g.text(600)),
	}
}

// next returns the next n messages of the history. A turn may end in one
// call and go on in the next, as when a client writes each message as it
// happens.
func (g *generator) next(n int) []chat.Message {
	out := make([]chat.Message, 0, n)
	for len(out) < n {
		if len(g.pending) == 0 {
			g.pending = g.turnMessages()
		}
		k := min(n-len(out), len(g.pending))
		out = append(out, g.pending[:k]...)
		g.pending = g.pending[k:]
	}
	return out
}

// Messages returns the first n messages of the history seeded with seed:
// the mix every workload writes.
func Messages(seed uint64, n int) []chat.Message {
	return newGenerator(seed).next(n)
}
