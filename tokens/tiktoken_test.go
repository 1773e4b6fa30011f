package tokens

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode"

	"github.com/chatstore/chatstore/chat"
	"github.com/dlclark/regexp2"
)

func mustLoad(t testing.TB, name string) *encoding {
	t.Helper()
	e, err := load(name)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestVectors holds tiktoken's own test vectors (tests/test_encoding.py)
// and ids from its docs and issues.
func TestVectors(t *testing.T) {
	for _, c := range []struct {
		enc, s string
		ids    []uint32
	}{
		{Cl100kBase, "hello world", []uint32{15339, 1917}},
		{Cl100kBase, "rer", []uint32{38149}},
		{Cl100kBase, "'rer", []uint32{2351, 81}},
		{Cl100kBase, "today\n ", []uint32{31213, 198, 220}},
		{Cl100kBase, "today\n \n", []uint32{31213, 27907}},
		{Cl100kBase, "today\n  \n", []uint32{31213, 14211}},
		{Cl100kBase, " \u00850", []uint32{220, 126, 227, 15}},
		{Cl100kBase, "👍", []uint32{9468, 239, 235}},
		// "hello <|endoftext|>" with allowed_special="all" is [15339, 220,
		// 100257]; as ordinary text the special token is seven tokens.
		{Cl100kBase, "<|endoftext|>", []uint32{27, 91, 8862, 728, 428, 91, 29}},
		{Cl100kBase, "", nil},
	} {
		e := mustLoad(t, c.enc)
		if got := e.encode(c.s); !slices.Equal(got, c.ids) {
			t.Errorf("%s %q: %v, want %v", c.enc, c.s, got, c.ids)
		}
		if got := e.count(c.s); got != len(c.ids) {
			t.Errorf("%s count %q: %d, want %d", c.enc, c.s, got, len(c.ids))
		}
	}
}

// TestLoneSurrogate: tiktoken encodes Python's lone surrogate "\ud83d" as
// U+FFFD. A Go string cannot hold one; its UTF-8 spelling, or any bytes
// that are not UTF-8, are read as U+FFFD too.
func TestLoneSurrogate(t *testing.T) {
	e := mustLoad(t, Cl100kBase)
	want := e.encode("\uFFFD")
	for _, s := range []string{"\xed\xa0\xbd", "\xff"} {
		if got := e.encode(s); !slices.Equal(got, want) {
			t.Errorf("%q: %v, want %v", s, got, want)
		}
	}
}

// TestRepeated is tiktoken's test_simple_repeated for cl100k_base, whose
// ids for runs of zeros are those of gpt2 only up to three digits: cl100k
// splits digits in threes.
func TestRepeated(t *testing.T) {
	e := mustLoad(t, Cl100kBase)
	for n := 1; n <= 17; n++ {
		s := strings.Repeat("0", n)
		want := (n + 2) / 3
		if got := e.count(s); got != want {
			t.Errorf("%d zeros: %d tokens, want %d", n, got, want)
		}
	}
}

// TestPlainCounts are the plain-string counts of the spec, which both Go
// ports of tiktoken agree on.
func TestPlainCounts(t *testing.T) {
	for _, c := range []struct {
		s             string
		o200k, cl100k int
	}{
		{"hello world", 2, 2},
		{"Hello, world!", 4, 4},
		{`{"city":"Paris"}`, 5, 5},
		{"東京都に行きます", 5, 8},
		{"👋🌍 Hello 🎉🎉 👨‍👩‍👧‍👦", 20, 30},
		{"👍", 1, 3},
		{"<|endoftext|>", 7, 7},
		{"<|endofprompt|>", 7, 7},
		{"a\n\nb\n\nc", 5, 5}, // tiktoken issue 249
	} {
		if got := mustLoad(t, O200kBase).count(c.s); got != c.o200k {
			t.Errorf("o200k %q: %d, want %d", c.s, got, c.o200k)
		}
		if got := mustLoad(t, Cl100kBase).count(c.s); got != c.cl100k {
			t.Errorf("cl100k %q: %d, want %d", c.s, got, c.cl100k)
		}
	}
}

// TestCorpus compares with testdata/corpus.json, counts from two
// independent Go ports of tiktoken (testdata/gencorpus says how they were
// made): random text of many scripts, whitespace, digits and symbols, and
// long runs.
func TestCorpus(t *testing.T) {
	data, err := os.ReadFile("testdata/corpus.json")
	if err != nil {
		t.Fatal(err)
	}
	var corpus []struct {
		S             string
		O200k, Cl100k int
	}
	if err := json.Unmarshal(data, &corpus); err != nil {
		t.Fatal(err)
	}
	o, cl := mustLoad(t, O200kBase), mustLoad(t, Cl100kBase)
	for _, c := range corpus {
		if got := o.count(c.S); got != c.O200k {
			t.Errorf("o200k %q: %d, want %d", c.S, got, c.O200k)
		}
		if got := cl.count(c.S); got != c.Cl100k {
			t.Errorf("cl100k %q: %d, want %d", c.S, got, c.Cl100k)
		}
	}
	if len(corpus) < 500 {
		t.Errorf("the corpus has %d strings", len(corpus))
	}
}

// TestMergeHeap: the heap makes the same merges as the scan, which is
// tiktoken's own algorithm for short pieces, on pieces of every length.
// Small alphabets make many merges and many ties between equal pairs.
func TestMergeHeap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabets := []string{"ab", "x", "0", " \n", "abc ", "aé東", "\x00\xff", "the quick brown fox, "}
	for _, name := range []string{O200kBase, Cl100kBase} {
		e := mustLoad(t, name)
		for i := range 3000 {
			abc := []rune(alphabets[i%len(alphabets)])
			n := 2 + rng.IntN(heapFrom-2)
			if i%10 == 0 {
				n = heapFrom + rng.IntN(400)
			}
			var sb strings.Builder
			for sb.Len() < n {
				sb.WriteRune(abc[rng.IntN(len(abc))])
			}
			p := sb.String()
			var scan, heap []string
			ns := e.mergeScan(p, func(tok string) { scan = append(scan, tok) })
			nh := e.mergeHeap(p, func(tok string) { heap = append(heap, tok) })
			if ns != nh || !slices.Equal(scan, heap) {
				t.Fatalf("%s %q:\nscan %q\nheap %q", name, p, scan, heap)
			}
			if strings.Join(heap, "") != p {
				t.Fatalf("%s %q: tokens %q do not spell it", name, p, heap)
			}
			for _, tok := range heap {
				if _, ok := e.ranks[tok]; !ok {
					t.Fatalf("%s %q: %q is not a token", name, p, tok)
				}
			}
		}
	}
}

// TestRepetitive is tiktoken's test_catastrophically_repetitive, and its
// test_large_repeated at a fifth of the size: long runs come back whole
// from their tokens, in linear-logarithmic time (a quadratic merge takes
// minutes on a million bytes).
func TestRepetitive(t *testing.T) {
	for _, name := range []string{O200kBase, Cl100kBase} {
		e := mustLoad(t, name)
		for _, c := range []string{"^", "0", "a", "'s", " ", "\n", "x", "é", "東", "กา"} {
			for _, s := range []string{strings.Repeat(c, 10_000), " " + strings.Repeat(c, 10_000), " " + strings.Repeat(c, 10_000) + "\n"} {
				var toks []string
				e.pieces(s, func(p string) {
					if _, ok := e.ranks[p]; ok {
						toks = append(toks, p)
						return
					}
					e.merge(p, func(tok string) { toks = append(toks, tok) })
				})
				if strings.Join(toks, "") != s {
					t.Errorf("%s: %d × %q does not come back", name, len(s), c)
				}
				if n := e.count(s); n != len(toks) {
					t.Errorf("%s: %d × %q: count %d, %d tokens", name, len(s), c, n, len(toks))
				}
			}
		}
		// tokenizer v0.7.0 agrees, after 4.7 s.
		if n := e.count("[user] " + strings.Repeat("x", 100_000)); n != 12504 {
			t.Errorf("%s: %d tokens for 100,000 × x, want 12504", name, n)
		}
		if n := e.count(strings.Repeat("x", 200_000)); n == 0 {
			t.Errorf("%s: no tokens for 200,000 × x", name)
		}
	}
}

// oldCl100k is cl100k_base's pattern before tiktoken made it possessive,
// which the Go ports still use.
const oldCl100k = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`

func splitWith(t *testing.T, pattern, s string) []string {
	t.Helper()
	e := &encoding{split: regexp2.MustCompile(pattern, regexp2.None)}
	var out []string
	e.pieces(s, func(p string) { out = append(out, p) })
	return out
}

// TestCl100kPattern: the atomic-group spelling of tiktoken's current
// cl100k_base pattern splits the corpus as the older pattern does, except
// for whitespace at the very end of the text, which it keeps in one piece
// as tiktoken does.
func TestCl100kPattern(t *testing.T) {
	data, err := os.ReadFile("testdata/corpus.json")
	if err != nil {
		t.Fatal(err)
	}
	var corpus []struct{ S string }
	if err := json.Unmarshal(data, &corpus); err != nil {
		t.Fatal(err)
	}
	cur := specs[Cl100kBase].pattern
	for _, c := range corpus {
		s := strings.TrimRightFunc(c.S, unicode.IsSpace) + "."
		if got, want := splitWith(t, cur, s), splitWith(t, oldCl100k, s); !slices.Equal(got, want) {
			t.Errorf("%q: %q, the old pattern %q", s, got, want)
		}
	}
	for _, c := range []struct {
		s    string
		want []string
	}{
		{"a\n  \n  ", []string{"a", "\n  \n  "}},
		{"a  ", []string{"a", "  "}},
		{"today\n \n", []string{"today", "\n \n"}},
		{"a\n  \n  b", []string{"a", "\n  \n", " ", " b"}},
		{"a\n\n", []string{"a", "\n\n"}},
		{"it's", []string{"it", "'s"}},
		{"IT'S", []string{"IT", "'S"}},
		{"x 123456", []string{"x", " ", "123", "456"}},
		{"!!!\n\n", []string{"!!!\n\n"}},
	} {
		if got := splitWith(t, cur, c.s); !slices.Equal(got, c.want) {
			t.Errorf("%q: %q, want %q", c.s, got, c.want)
		}
	}
	// The older pattern splits trailing whitespace at its last newline.
	if got := splitWith(t, oldCl100k, "a\n  \n  "); !slices.Equal(got, []string{"a", "\n  \n", "  "}) {
		t.Errorf("old pattern: %q", got)
	}
}

// TestConcurrent counts from many goroutines at once (for -race).
func TestConcurrent(t *testing.T) {
	tk, err := NewTiktoken(nil)
	if err != nil {
		t.Fatal(err)
	}
	msgs := []chat.Message{chat.User(strings.Repeat("Hello, world! ", 50)), chat.User(strings.Repeat("x", 500))}
	want := tk.Count(msgs, nil)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				if got := tk.Count(msgs, nil); got != want {
					t.Errorf("%d, want %d", got, want)
				}
			}
		})
	}
	wg.Wait()
}
