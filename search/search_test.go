package search

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/chatstore/chatstore/chat"
)

func TestTokens(t *testing.T) {
	for in, want := range map[string][]string{
		"Hello, World!":          {"hello", "world"},
		"Café CRÈME brûlée":      {"cafe", "creme", "brulee"},
		"naïve Ångström façade":  {"naive", "angstrom", "facade"},
		"Ｔｏｋｙｏ ﬁle":              {"tokyo", "file"},
		"e-mail foo.bar_baz 42x": {"e", "mail", "foo", "bar", "baz", "42x"},
		"東京都に行きます":               {"東", "京", "都", "に", "行", "き", "ま", "す"},
		"東京tower":                {"東", "京", "tower"},
		"Привет МИР":             {"привет", "мир"},
		"Ελληνικά":               {"ελληνικα"},
		"서울 시청":                  {"서울", "시청"},
		"":                       nil,
		"  ...  ":                nil,
		"straße":                 {"straße"},
	} {
		if got := Tokens(nil, in); !slices.Equal(got, want) {
			t.Errorf("Tokens(%q) = %q, want %q", in, got, want)
		}
	}
	if got := IndexText("Café, 東京!"); got != "cafe 東 京" {
		t.Errorf("IndexText = %q", got)
	}
	// A token of MaxTokenBytes or more is dropped, as PostgreSQL drops
	// such a word, and its neighbours become adjacent; the length is the
	// folded token's, in bytes.
	below, at := strings.Repeat("x", MaxTokenBytes-1), strings.Repeat("X", MaxTokenBytes)
	for in, want := range map[string][]string{
		below:                             {below},
		at:                                nil,
		"alpha " + at + "y omega":         {"alpha", "omega"},
		"alpha " + at + " omega " + below: {"alpha", "omega", below},
		strings.Repeat("ж", (MaxTokenBytes-1)/2): {strings.Repeat("ж", (MaxTokenBytes-1)/2)}, // 2,046 bytes
		strings.Repeat("Ж", MaxTokenBytes/2+1):   nil,                                        // 2,048 bytes
		strings.Repeat("é", MaxTokenBytes-1):     {strings.Repeat("e", MaxTokenBytes-1)},     // folded to 2,046 bytes
	} {
		if got := Tokens(nil, in); !slices.Equal(got, want) {
			t.Errorf("Tokens of %d bytes starting %.20q: %d tokens %.40q, want %d", len(in), in, len(got), got, len(want))
		}
	}
	if got := IndexText("alpha " + at + ", omega"); got != "alpha omega" {
		t.Errorf("IndexText with a long word = %.40q", got)
	}
	if q, err := Parse(`"alpha omega"`); err != nil || !MatchDoc(Doc{Text: "Alpha " + at + " omega"}, q, false) {
		t.Errorf("a phrase across a dropped word: %v", err)
	}
	// Devanagari keeps its vowel signs (marks, but not accents).
	if got := Tokens(nil, "नमस्ते"); len(got) != 1 || got[0] != "नमस्ते" {
		t.Errorf("Devanagari: %q", got)
	}
}

func TestParse(t *testing.T) {
	for in, want := range map[string]string{
		`refund failed`:           `refund failed`,
		`"Refund  FAILED" card`:   `"refund failed" card`,
		`refund -card`:            `refund -card`,
		`-"card declined" refund`: `-"card declined" refund`,
		`ref*`:                    `ref*`,
		`"card decl"*`:            `"card decl"*`,
		`東京`:                      `"東 京"`,
		`東京*`:                     `"東 京"`,
		`e-mail`:                  `"e mail"`,
		`"unclosed phrase`:        `"unclosed phrase"`,
		`a ... b`:                 `a b`,
		`Crème*`:                  `creme*`,
		`OR AND NOT`:              `or and not`,
		`refund -- x`:             `refund x`,
	} {
		q, err := Parse(in)
		if err != nil || q.String() != want {
			t.Errorf("Parse(%q) = %q %v, want %q", in, q.String(), err, want)
		}
	}
	// ﷲ (3 bytes) folds to 8 bytes: a word of fewer bytes than a query
	// may have that is a token of MaxTokenBytes or more, which is not
	// indexed, so cannot be searched for or excluded; nor must the prefix
	// pass to another token of the term.
	lengthens := strings.Repeat("ﷲ", 300)
	if one := Tokens(nil, "ﷲ"); len(one) != 1 || 300*len(one[0]) < MaxTokenBytes || len(lengthens)+16 > MaxQueryBytes {
		t.Fatalf("ﷲ folds to %q; 300 of them are %d bytes", one, len(lengthens))
	}
	for _, in := range []string{"", "   ", "-refund", `-"a b"`, "...", "a*", strings.Repeat("x ", 17), strings.Repeat("x", MaxQueryBytes+1), "\xff",
		"refund " + lengthens, "refund -" + lengthens, "ab-" + lengthens + "*", `"refund ` + lengthens + `"`} {
		if _, err := Parse(in); !errors.Is(err, ErrInvalidQuery) {
			t.Errorf("Parse(%.40q): %v, want ErrInvalidQuery", in, err)
		}
	}
}

func TestMatch(t *testing.T) {
	doc := Tokens(nil, "The refund FAILED because the card was declined. 東京都")
	for q, want := range map[string]bool{
		"refund":                true,
		"refund failed":         true,
		`"refund failed"`:       true,
		`"failed refund"`:       false,
		"refund -card":          false,
		"refund -paypal":        true,
		`refund -"card failed"`: true,
		"decl*":                 true,
		"declined*":             true,
		"declines*":             false,
		`"card was decl"*`:      true,
		"東京":                    true,
		"京東":                    false,
		"都":                     true,
		"Déclined":              true,
		"paypal":                false,
	} {
		pq, err := Parse(q)
		if err != nil {
			t.Fatal(err)
		}
		if got := Match(doc, pq); got != want {
			t.Errorf("Match(%q) = %v, want %v", q, got, want)
		}
	}
	q, _ := Parse("plan")
	d := Doc{Text: "hello", Reasoning: "I plan to answer"}
	if MatchDoc(d, q, false) || !MatchDoc(d, q, true) {
		t.Error("reasoning is searched only when asked")
	}
}

func TestDocument(t *testing.T) {
	id := "c1"
	a := chat.Assistant("Let me check", chat.ToolCall{ToolName: "lookup_order", Arguments: map[string]any{"order": "A-42"}, ID: &id})
	a.Content = append(a.Content, chat.Reasoning{ReasoningText: "the user wants order status"}, chat.Image{Base64Image: "aGVsbG8=", MimeType: "image/png"})
	d := Document(a)
	if d.Text != "Let me check\nlookup_order\norder\nA-42" || d.Reasoning != "the user wants order status" {
		t.Errorf("Document = %+v", d)
	}
	r := chat.Tool("shipped on Monday", chat.ToolCall{ToolName: "lookup_order"}, false)
	if d := Document(r); d.Text != "shipped on Monday" {
		t.Errorf("tool result: %+v", d)
	}
	if !Document(chat.User("")).Empty() {
		t.Error("an empty message gives an empty document")
	}
}

func TestSnippet(t *testing.T) {
	q, _ := Parse("refund decl*")
	got := Snippet(Doc{Text: "Your <b>refund</b> was Declined & the card too."}, q)
	want := "Your &lt;b&gt;<mark>refund</mark>&lt;/b&gt; was <mark>Declined</mark> &amp; the card too."
	if got != want {
		t.Errorf("Snippet:\n got %s\nwant %s", got, want)
	}
	long := strings.Repeat("word ", 50) + "refund " + strings.Repeat("tail ", 50)
	got = Snippet(Doc{Text: long}, q)
	if !strings.HasPrefix(got, "…word") || !strings.Contains(got, "<mark>refund</mark>") || !strings.HasSuffix(got, "…") || len(got) > 300 {
		t.Errorf("a long text: %q", got)
	}
	got = Snippet(Doc{Text: "nothing here", Reasoning: "about the refund"}, q)
	if got != "about the <mark>refund</mark>" {
		t.Errorf("a match in the reasoning: %q", got)
	}
	q, _ = Parse("東京")
	if got := Snippet(Doc{Text: "私は東京に住んでいます"}, q); got != "私は<mark>東</mark><mark>京</mark>に住んでいます" {
		t.Errorf("Japanese: %q", got)
	}
}

// TestSnippetOfALargeMessage: a snippet looks through the start of a large
// message only, and still says something.
func TestSnippetOfALargeMessage(t *testing.T) {
	q, _ := Parse("needle")
	big := strings.Repeat("hay ", 1<<20) + "needle"
	got := Snippet(Doc{Text: big}, q)
	if !strings.HasPrefix(got, "hay hay") || strings.Contains(got, "<mark>") || len(got) > 400 {
		t.Errorf("a match past the first 64 KiB: %.100q…", got)
	}
	if got := Snippet(Doc{Text: "needle " + big}, q); !strings.HasPrefix(got, "<mark>needle</mark> hay") {
		t.Errorf("a match at the start: %.100q…", got)
	}
}

// TestDocumentOfAReadBack: a message with Go-typed tool arguments gives
// the index the same words as the same message read back from its JSON,
// which is what a backend that indexes from what it stored sees.
func TestDocumentOfAReadBack(t *testing.T) {
	type point struct{ X, Y float64 }
	m := chat.Assistant("", chat.ToolCall{ToolName: "lookup", Arguments: map[string]any{
		"n": 1e6, "f": 0.5, "i": 7, "u": uint8(3), "b": true, "none": nil,
		"m": map[string]string{"k": "v"}, "s": []int{1, 2}, "p": point{1, 2.5}, "big": 1e20,
	}})
	body, err := m.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	back, err := chat.Unmarshal(body)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := Document(m), Document(back); got != want {
		t.Errorf("written:\n%q\nread back:\n%q", got.Text, want.Text)
	}
}
