package memstore_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/memstore"
	"github.com/chatstore/chatstore/storetest"
)

func filled(b *testing.B, n int) *chatstore.Store {
	b.Helper()
	st, err := chatstore.New(memstore.New(), nil)
	if err != nil {
		b.Fatal(err)
	}
	msgs := storetest.Conversation(1000)
	for written := 0; written < n; written += len(msgs) {
		if _, err := st.Write(context.Background(), "h", msgs[:min(len(msgs), n-written)]); err != nil {
			b.Fatal(err)
		}
	}
	return st
}

// BenchmarkRetrieveLast10 reads the last 10 rounds (20 messages) of
// histories of growing length; the time must not grow with the length.
func BenchmarkRetrieveLast10(b *testing.B) {
	for _, n := range []int{100, 100_000, 1_000_000} {
		b.Run(fmt.Sprint("history=", n), func(b *testing.B) {
			st := filled(b, n)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				msgs, err := st.RetrieveLast(ctx, "h", 10)
				if err != nil || len(msgs) != 20 {
					b.Fatalf("%d messages, %v", len(msgs), err)
				}
			}
		})
	}
}

// BenchmarkWriteOne appends single messages to a history of a million.
func BenchmarkWriteOne(b *testing.B) {
	st := filled(b, 1_000_000)
	msgs := storetest.Conversation(2)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if _, err := st.Write(ctx, "h", msgs[i%2:i%2+1]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkWriteBatch100 appends batches of 100 messages; the messages/s
// figure is what the target is stated in.
func BenchmarkWriteBatch100(b *testing.B) {
	st := filled(b, 0)
	msgs := storetest.Conversation(100)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := st.Write(ctx, "h", msgs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(msgs))/b.Elapsed().Seconds(), "msgs/s")
}
