package tokens

import (
	"strings"
	"testing"

	"github.com/chatstore/chatstore/chat"
)

// english is 1 KiB of English prose.
var english = func() string {
	para := "The quick brown fox jumps over the lazy dog. Retrieval-augmented generation combines a search step " +
		"with a language model, so answers can cite the documents they were drawn from. In 2024, many teams " +
		"reported that careful chunking mattered more than the choice of embedding model. "
	return strings.Repeat(para, 1+1024/len(para))[:1024]
}()

func benchCount(b *testing.B, c Counter, text string) {
	msgs := []chat.Message{chat.User(text)}
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		c.Count(msgs, nil)
	}
}

func counters(b *testing.B) map[string]Counter {
	a, err := NewApproximate(nil)
	if err != nil {
		b.Fatal(err)
	}
	o, err := NewTiktoken(nil)
	if err != nil {
		b.Fatal(err)
	}
	cl, err := NewTiktoken(&Options{Encoding: Cl100kBase})
	if err != nil {
		b.Fatal(err)
	}
	return map[string]Counter{"approximate": a, "o200k": o, "cl100k": cl}
}

// BenchmarkCount counts one message of 1 KiB of English and one of 100 KB
// of a single letter, the worst case for byte-pair merging: one piece of
// 100,000 bytes.
func BenchmarkCount(b *testing.B) {
	texts := []struct{ name, text string }{
		{"english-1KiB", english},
		{"unbroken-100KB", strings.Repeat("x", 100_000)},
	}
	cs := counters(b)
	for _, name := range []string{"approximate", "o200k", "cl100k"} {
		for _, t := range texts {
			b.Run(name+"/"+t.name, func(b *testing.B) { benchCount(b, cs[name], t.text) })
		}
	}
}

// BenchmarkLoad is the first NewTiktoken of an encoding: reading and
// checking its vocabulary.
func BenchmarkLoad(b *testing.B) {
	for _, name := range []string{O200kBase, Cl100kBase} {
		b.Run(name, func(b *testing.B) {
			sp := specs[name]
			data, err := assetsFile(sp.file)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := parseRanks(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
