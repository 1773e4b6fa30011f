package sqlitestore_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
)

// conversation returns n messages alternating user and assistant (one round
// every two messages), about 60 characters of text each.
func conversation(n int) []chat.Message {
	msgs := make([]chat.Message, n)
	for i := range msgs {
		if i%2 == 0 {
			msgs[i] = chat.User(fmt.Sprintf("Question number %d: what is the weather like in Berlin today?", i))
		} else {
			msgs[i] = chat.Assistant(fmt.Sprintf("Answer number %d: it is sunny and 22 degrees in Berlin.", i))
		}
	}
	return msgs
}

func openBench(b *testing.B, dir, query string) *chatstore.Store {
	b.Helper()
	st, err := chatstore.Open(context.Background(), "sqlite://"+filepath.ToSlash(filepath.Join(dir, "bench.db"))+query, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

// BenchmarkRetrieveLast10 reads the last 10 rounds (20 messages) of
// histories of 100, 100,000 and 1,000,000 messages in one file.
func BenchmarkRetrieveLast10(b *testing.B) {
	dir := b.TempDir()
	st := openBench(b, dir, "")
	ctx := context.Background()
	batch := conversation(1000)
	for _, n := range []int{100, 100_000, 1_000_000} {
		id := fmt.Sprint("h", n)
		for written := 0; written < n; written += len(batch) {
			if _, err := st.Write(ctx, id, batch[:min(len(batch), n-written)]); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(fmt.Sprint("history=", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				msgs, err := st.RetrieveLast(ctx, id, 10)
				if err != nil || len(msgs) != 20 {
					b.Fatalf("%d messages, %v", len(msgs), err)
				}
			}
		})
	}
}

// BenchmarkWriteBatch100 writes batches of 100 messages from one goroutine.
func BenchmarkWriteBatch100(b *testing.B) {
	st := openBench(b, b.TempDir(), "")
	msgs := conversation(100)
	ctx := context.Background()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if _, err := st.Write(ctx, fmt.Sprint("h", i%100), msgs); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N*len(msgs))/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkWriteOne writes single messages from one goroutine, each write a
// transaction of its own.
func BenchmarkWriteOne(b *testing.B) {
	st := openBench(b, b.TempDir(), "")
	msgs := conversation(2)
	ctx := context.Background()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if _, err := st.Write(ctx, "h", msgs[i%2:i%2+1]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkWriteOneParallel64 writes single messages from 64 goroutines, each
// on its own history: group commit lets one transaction serve many writes.
func BenchmarkWriteOneParallel64(b *testing.B) {
	for _, sync := range []string{"normal", "full"} {
		b.Run("synchronous="+sync, func(b *testing.B) {
			st := openBench(b, b.TempDir(), "?synchronous="+sync)
			msgs := conversation(2)
			ctx := context.Background()
			var next atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(32) // 2 CPUs × 32 = 64 goroutines
			b.RunParallel(func(pb *testing.PB) {
				id := fmt.Sprint("h", next.Add(1))
				i := 0
				for pb.Next() {
					if _, err := st.Write(ctx, id, msgs[i%2:i%2+1]); err != nil {
						b.Error(err)
						return
					}
					i++
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
