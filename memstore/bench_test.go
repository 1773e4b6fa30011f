package memstore_test

import (
	"testing"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/memstore"
	"github.com/chatstore/chatstore/storetest"
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
	storetest.BenchRetrieveLast10(b, benchStore(b), 100, 100_000, 1_000_000)
}

// BenchmarkWriteOne appends to a history of a million: the cost of a write
// must not depend on the history's length.
func BenchmarkWriteOne(b *testing.B) {
	st := benchStore(b)
	storetest.Fill(b, st, "h", 1_000_000)
	storetest.BenchWriteOne(b, st, "h")
}

func BenchmarkWriteBatch100(b *testing.B) { storetest.BenchWriteBatch100(b, benchStore(b)) }
