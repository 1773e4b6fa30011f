package tokens

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/chatstore/chatstore/chat"
)

// randomRun is a run of messages of every kind the renderer knows, with
// texts that end in the spaces, newlines and punctuation that can merge
// with the "\n" joining two messages.
func randomRun(r *rand.Rand, n int) []chat.Message {
	words := []string{"hello", "world", "ünïcödé", "数据", " ", "  ", "\n", ".", "!?", "--", "\t", "x1", "[user]", "🙂"}
	text := func() string {
		var b strings.Builder
		for range r.IntN(12) {
			b.WriteString(words[r.IntN(len(words))])
			if r.IntN(3) == 0 {
				b.WriteByte(' ')
			}
		}
		return b.String()
	}
	msgs := make([]chat.Message, n)
	for i := range msgs {
		switch r.IntN(6) {
		case 0:
			msgs[i] = chat.User(text())
		case 1:
			msgs[i] = chat.Assistant(text())
		case 2:
			msgs[i] = chat.Assistant(text(), call("search", map[string]any{"q": text(), "n": r.IntN(100)}))
		case 3:
			msgs[i] = result(text(), "search", r.IntN(2) == 0)
		case 4:
			msgs[i] = msg(chat.RoleUser, chat.Text{Text: text()}, png)
		default:
			msgs[i] = chat.System(text())
		}
	}
	return msgs
}

// TestAdditive checks that a run's count follows from its messages measured
// one at a time: exactly for Approximate, and for Tiktoken never below the
// count of the joined text and within two tokens per join of it (on
// texts made to end in what merges across a join).
func TestAdditive(t *testing.T) {
	approx, err := NewApproximate(nil)
	if err != nil {
		t.Fatal(err)
	}
	cpt3, err := NewApproximate(&Options{CharsPerToken: 3, TokensPerFile: NoCharge})
	if err != nil {
		t.Fatal(err)
	}
	counters := map[string]Additive{"approx": approx, "approx3": cpt3}
	for _, enc := range []string{O200kBase, Cl100kBase} {
		tk, err := NewTiktoken(&Options{Encoding: enc})
		if err != nil {
			t.Fatal(err)
		}
		counters[enc] = tk
	}
	for name, c := range counters {
		t.Run(name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, uint64(len(name))))
			below := 0
			for i := range 400 {
				msgs := randomRun(r, 1+r.IntN(8))
				var text, flat int64
				for _, m := range msgs {
					x, f := c.Measure(m)
					if got, want := c.Total(x, f, 1), int64(c.Count([]chat.Message{m}, nil)); got != want {
						t.Fatalf("run %d: one message %#v: Total %d, Count %d", i, m, got, want)
					}
					text, flat = text+x, flat+f
				}
				got, want := c.Total(text, flat, int64(len(msgs))), int64(c.Count(msgs, nil))
				switch _, tiktoken := c.(*Tiktoken); {
				case !tiktoken && got != want:
					t.Fatalf("run %d: Total %d, Count %d\n%q", i, got, want, Render(msgs, nil))
				case tiktoken && (got < want || got > want+2*int64(len(msgs)-1)):
					t.Fatalf("run %d: Total %d, Count %d: want Count to Count+%d\n%q", i, got, want, 2*(len(msgs)-1), Render(msgs, nil))
				case got != want:
					below++
				}
			}
			t.Log(fmt.Sprintf("%d of 400 runs counted above Count", below))
			if c.Total(5, 5, 0) != 0 {
				t.Error("Total of no messages is not 0")
			}
		})
	}
}
