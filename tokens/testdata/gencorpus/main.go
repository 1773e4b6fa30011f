// Command gencorpus writes ../corpus.json: strings of many kinds with their
// o200k_base and cl100k_base token counts as two independent Go ports of
// tiktoken give them (github.com/tiktoken-go/tokenizer v0.7.0 and
// github.com/pkoukk/tiktoken-go v0.1.8 with its offline vocabularies). It
// stops if the two disagree. Both pass tiktoken's own test vectors; the
// later tokenizer releases do not (they split "\n \n"), so v0.7.0 is pinned.
//
// It is a module of its own so that chatstore does not depend on either
// port. Run it from this directory: go run . > ../corpus.json
package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"

	pk "github.com/pkoukk/tiktoken-go"
	pkloader "github.com/pkoukk/tiktoken-go-loader"
	tk "github.com/tiktoken-go/tokenizer"
)

type entry struct {
	S      string `json:"s"`
	O200k  int    `json:"o200k"`
	Cl100k int    `json:"cl100k"`
}

func main() {
	pk.SetBpeLoader(pkloader.NewOfflineLoader())
	var counts [2]func(string) int
	for i, enc := range []string{"o200k_base", "cl100k_base"} {
		c, err := tk.Get(tk.Encoding(enc))
		check(err)
		p, err := pk.GetEncoding(enc)
		check(err)
		counts[i] = func(s string) int {
			n, err := c.Count(s)
			check(err)
			if m := len(p.Encode(s, nil, nil)); m != n {
				check(fmt.Errorf("%s: the ports disagree on %q: %d and %d", enc, s, n, m))
			}
			return n
		}
	}
	var out []entry
	for _, s := range corpus() {
		out = append(out, entry{s, counts[0](s), counts[1](s)})
	}
	// One entry a line, so that a change shows as the lines it changes.
	fmt.Println("[")
	for i, e := range out {
		b, err := json.Marshal(e)
		check(err)
		sep := ","
		if i == len(out)-1 {
			sep = ""
		}
		fmt.Printf("%s%s\n", b, sep)
	}
	fmt.Println("]")
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "gencorpus:", err)
		os.Exit(1)
	}
}

// corpus returns the strings: hand-picked edge cases of the split patterns,
// then random ones drawn from scripts, whitespace, digits and symbols, then
// long unbroken runs that take the heap path of the merge.
func corpus() []string {
	out := []string{
		"", " ", "  ", "\n", "\n\n", "\r\n", " \n", "\n ", "\t", "\u00a0", "\u3000", "\u0085", "\u2028",
		"hello world", "Hello, world!", "HELLO WORLD", "HelloWorld", "helloWORLD", "ABCdef GHIjkl",
		"don't", "DON'T", "it's", "IT'S", "we'll", "We'Ve", "they're", "I'm", "I'd", "'s", "'S", "x's'", "''s",
		"1", "12", "123", "1234", "1234567", "3.14159", "1,000,000", "٣٤٥", "Ⅻ", "½",
		"a  b", "a   b", "a\t\tb", "a \n b", "a\n\n\nb", "a\n \n b", "x\n\t\t\ny", "today\n \n", "today\n  \n", "today\n ",
		"foo/bar", "a//b\n", "x!!!\n\n", "}\n}\n", "  {\n    \"a\": 1\n  }", "<|endoftext|>", "<|fim_prefix|>", "hello <|endoftext|>",
		"東京都に行きます", "👋🌍 Hello 🎉🎉 👨‍👩‍👧‍👦", "👍", "नमस्ते दुनिया", "مرحبا بالعالم", "Привет, мир", "Γειά σου Κόσμε",
		"e\u0301", "E\u0301COLE", "ǅungla", "ﬁne", "İstanbul", "straße STRASSE",
		"func main() {\n\tfmt.Println(\"hi\")\n}\n", "SELECT * FROM t WHERE id = 42;",
		`{"city": "\u6771\u4eac", "emoji": "\ud83d\udc4b", "n": 1.0}`,
	}
	rng := rand.New(rand.NewPCG(17, 2026))
	ranges := [][2]rune{
		{0x20, 0x7e}, {0x20, 0x7e}, {0x20, 0x7e}, {0xa0, 0x24f}, {0x300, 0x36f}, {0x370, 0x3ff}, {0x400, 0x4ff},
		{0x600, 0x6ff}, {0x900, 0x97f}, {0x3040, 0x30ff}, {0x4e00, 0x9fff}, {0xac00, 0xd7a3},
		{0x1f300, 0x1faff}, {0x2000, 0x206f}, {0x0, 0x1f}, {0x30, 0x39},
	}
	spaces := []string{" ", " ", "  ", "\n", "\n\n", "\t", "\r\n", " \n ", "\u00a0", "\u3000"}
	for range 400 {
		var sb strings.Builder
		for n := 1 + rng.IntN(120); n > 0; n-- {
			r := ranges[rng.IntN(len(ranges))]
			c := r[0] + rune(rng.IntN(int(r[1]-r[0]+1)))
			if c >= 0xd800 && c <= 0xdfff {
				continue
			}
			if rng.IntN(4) == 0 {
				sb.WriteString(spaces[rng.IntN(len(spaces))])
			}
			sb.WriteRune(c)
		}
		out = append(out, sb.String())
	}
	for _, n := range []int{99, 100, 101, 300, 2000} {
		for _, c := range []string{"x", "0", "^", " ", "\n", "'s", "ab", "é"} {
			out = append(out, strings.Repeat(c, n), " "+strings.Repeat(c, n)+"\n")
		}
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		out = append(out, base64.StdEncoding.EncodeToString(b), "data:image/png;base64,"+base64.StdEncoding.EncodeToString(b))
	}
	return out
}
