package bench

import (
	"fmt"
	"math/rand/v2"
	"slices"
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
	word    func() string // the next word of a text
	turn    int
	call    int
	pending []chat.Message // the rest of a turn that next has not returned yet
}

func newGenerator(seed uint64) *generator {
	g := &generator{rng: rand.New(rand.NewPCG(seed, 0x63686174))}
	g.word = func() string { return words[g.rng.IntN(len(words))] }
	return g
}

// The search corpus (S1): the same turns, with text drawn from a larger
// vocabulary by Zipf's law (s = 1.1), as the words of natural text are: a
// few words in nearly every message, most words in few. The vocabulary is
// the list above, then made-up words of two to four syllables.
const corpusWords = 30000

var corpusVocab = func() []string {
	syl := strings.Fields("ka lo mi ren tos va del pur sin gao bel tur nix ome fra dun lys cor pel am sto vik ros ter ual ban quo ish ept zel")
	rng := rand.New(rand.NewPCG(7, 7))
	vocab := slices.Clone(words)
	seen := map[string]bool{}
	for _, w := range vocab {
		seen[w] = true
	}
	for len(vocab) < corpusWords {
		var b strings.Builder
		for range 2 + rng.IntN(3) {
			b.WriteString(syl[rng.IntN(len(syl))])
		}
		if w := b.String(); !seen[w] {
			seen[w] = true
			vocab = append(vocab, w)
		}
	}
	return vocab
}()

// newCorpusGenerator makes the messages of one history of the search
// corpus.
func newCorpusGenerator(seed uint64) *generator {
	g := newGenerator(seed)
	z := rand.NewZipf(g.rng, 1.1, 1, corpusWords-1)
	g.word = func() string { return corpusVocab[z.Uint64()] }
	return g
}

// searchQueries are S1's queries: two words each, of middling frequency
// (ranks 100 to 3,000 of the corpus's vocabulary), as people search for
// what was particular to a conversation rather than for "the".
func searchQueries(n int) []string {
	rng := rand.New(rand.NewPCG(11, 11))
	out := make([]string, n)
	for i := range out {
		out[i] = corpusVocab[100+rng.IntN(2900)] + " " + corpusVocab[100+rng.IntN(2900)]
	}
	return out
}

// text returns words up to about n characters, ending with a full stop.
func (g *generator) text(n int) string {
	var b strings.Builder
	b.Grow(n + 16)
	for b.Len() < n {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(g.word())
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
