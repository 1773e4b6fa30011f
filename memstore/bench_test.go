package memstore_test

import (
	"testing"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/internal/storebench"
	"github.com/chatstore/chatstore/memstore"
)

func benchStore(b *testing.B) *chatstore.Store {
	b.Helper()
	st, err := chatstore.New(memstore.New(), nil)
	if err != nil {
		b.Fatal(err)
	}
	return st
}

func BenchmarkRetrieveLast10(b *testing.B) {
	storebench.RetrieveLast10(b, benchStore(b), 100, 100_000, 1_000_000)
}

// BenchmarkWriteOne appends to a history of a million: the cost of a write
// must not depend on the history's length.
func BenchmarkWriteOne(b *testing.B) {
	st := benchStore(b)
	storebench.Fill(b, st, "h", 1_000_000)
	storebench.WriteOne(b, st, "h")
}

func BenchmarkWriteBatch100(b *testing.B) { storebench.WriteBatch100(b, benchStore(b)) }

func BenchmarkWindow(b *testing.B) { storebench.Window(b, benchStore(b), 100, 1_000_000) }

// BenchmarkTokenizers: the write cost of each tokenizer.
func BenchmarkTokenizers(b *testing.B) {
	storebench.Tokenizers(b, func(b *testing.B, name string) *chatstore.Store {
		s := memstore.New()
		if err := s.SetTokenizer(name); err != nil {
			b.Fatal(err)
		}
		st, err := chatstore.New(s, &chatstore.Options{Tokenizer: name})
		if err != nil {
			b.Fatal(err)
		}
		return st
	})
}
