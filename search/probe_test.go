package search

import (
	"testing"

	"github.com/chatstore/chatstore/chat"
)

// Review probes: words a message holds that its Document hides, and case
// that Tokens does not fold.

func TestProbeToolArgumentsWords(t *testing.T) {
	call := chat.ToolCall{ToolName: "run_code", ID: chat.Ptr("c1"), Arguments: map[string]any{
		"code":  "x := load()\nreturn total\ttax",
		"query": "price<limit && qty>0",
	}}
	d := Document(chat.Assistant("", call))
	for _, q := range []string{"return", "tax", "limit", "qty", `"return total"`} {
		pq, err := Parse(q)
		if err != nil {
			t.Fatal(err)
		}
		if !MatchDoc(d, pq, false) {
			t.Errorf("a tool call whose arguments hold the word does not match %s; the index has %q", q, IndexText(d.Text))
		}
	}
}

func TestProbeGreekFinalSigma(t *testing.T) {
	for _, c := range []struct{ text, q string }{
		{"ο δρόμος είναι κλειστός", "ΔΡΟΜΟΣ"},
		{"ΚΛΕΙΣΤΟΣ", "κλειστός"},
	} {
		pq, err := Parse(c.q)
		if err != nil {
			t.Fatal(err)
		}
		if !MatchDoc(Doc{Text: c.text}, pq, false) {
			t.Errorf("%q does not match %q: tokens %q and %q (case is said not to matter)", c.q, c.text, Tokens(nil, c.q), Tokens(nil, c.text))
		}
	}
}
