// Package storebench holds the workloads the backends' benchmarks share,
// so that their figures measure the same thing and compare, and the
// harness their same-run baselines go through.
package storebench

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
)

// The workloads the issues state their speed targets in. Every backend's
// benchmarks call these; a backend adds only how its store is opened and its
// same-run baseline.

// Conversation returns n messages alternating user and assistant, about 60
// characters of text each, so that every two messages are one round. The
// backends' benchmarks use it, so their figures compare.
func Conversation(n int) []chat.Message {
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

// Fill appends n messages of Conversation to a history, 1000 per write.
func Fill(tb testing.TB, st *chatstore.Store, history string, n int) {
	tb.Helper()
	batch := Conversation(1000)
	for written := 0; written < n; written += len(batch) {
		if _, err := st.Write(context.Background(), history, batch[:min(len(batch), n-written)]); err != nil {
			tb.Fatal(err)
		}
	}
}

// Bodies returns the first n messages of Conversation in Haystack's JSON,
// for baselines that write raw rows.
func Bodies(n int) []string {
	out := make([]string, n)
	for i, m := range Conversation(n) {
		j, err := m.MarshalJSON()
		if err != nil {
			panic(err) // Conversation's messages are valid
		}
		out[i] = string(j)
	}
	return out
}

// RetrieveLast10 reads the last 10 rounds (20 messages) of histories of
// each of the sizes, as sub-benchmarks "history=N"; the time must not grow
// with the size.
func RetrieveLast10(b *testing.B, st *chatstore.Store, sizes ...int) {
	ctx := context.Background()
	for _, n := range sizes {
		id := fmt.Sprint("h", n)
		Fill(b, st, id, n)
		b.Run(fmt.Sprint("history=", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if msgs, err := st.RetrieveLast(ctx, id, 10); err != nil || len(msgs) != 20 {
					b.Fatalf("%d messages, %v", len(msgs), err)
				}
			}
		})
	}
}

// Window reads a budgeted window (ReadOptions.MaxTokens 1000, about 30
// rounds of Conversation) of histories of each of the sizes, as
// sub-benchmarks "history=N", and of the largest with a compaction in
// effect 100 messages before its end ("history=N/compacted"): the time must
// not grow with the size (issue 17: within 1.5× from 100 messages to a
// million).
func Window(b *testing.B, st *chatstore.Store, sizes ...int) {
	ctx := context.Background()
	read := func(id string, o chatstore.ReadOptions) func(b *testing.B) {
		return func(b *testing.B) {
			b.ReportAllocs()
			var win chatstore.Window
			o.LastK, o.MaxTokens, o.Window = chatstore.All, 1000, &win
			for b.Loop() {
				if msgs, err := st.Read(ctx, id, o); err != nil || len(msgs) < 20 || win.Tokens > 1000 {
					b.Fatalf("%d messages, %d tokens, %v", len(msgs), win.Tokens, err)
				}
			}
		}
	}
	var last string
	for _, n := range sizes {
		last = fmt.Sprint("w", n)
		Fill(b, st, last, n)
		b.Run(fmt.Sprint("history=", n), read(last, chatstore.ReadOptions{}))
	}
	page, err := st.Read(ctx, last, chatstore.ReadOptions{Newest: true, Limit: 100})
	if err != nil {
		b.Fatal(err)
	}
	through, _ := page[0].Meta[chatstore.MessageIDKey].(string)
	if _, err := st.Compact(ctx, last, through, chat.User("<conversation_summary>\nWeather questions about Berlin, all answered: sunny, 22 degrees.\n</conversation_summary>")); err != nil {
		b.Fatal(err)
	}
	b.Run(fmt.Sprintf("history=%d/compacted", sizes[len(sizes)-1]), read(last, chatstore.ReadOptions{}))
}

// Tokenizers runs WriteBatch100 and WriteOne on a store of each tokenizer
// open returns, as sub-benchmarks "tokenizer=NAME/batch100" and
// "…/one": what measuring every message costs a write, side by side.
func Tokenizers(b *testing.B, open func(b *testing.B, tokenizer string) *chatstore.Store) {
	for _, name := range chatstore.Tokenizers() {
		b.Run("tokenizer="+name+"/batch100", func(b *testing.B) { WriteBatch100(b, open(b, name)) })
		b.Run("tokenizer="+name+"/one", func(b *testing.B) { WriteOne(b, open(b, name), "h") })
	}
}

// WriteBatch100 writes batches of 100 messages from one goroutine,
// to 100 histories in turn, and reports msgs/s.
func WriteBatch100(b *testing.B, st *chatstore.Store) {
	msgs := Conversation(100)
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

// WriteOne appends single messages to one history from one goroutine
// and reports msgs/s. The history may have been filled first.
func WriteOne(b *testing.B, st *chatstore.Store, history string) {
	msgs := Conversation(2)
	ctx := context.Background()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if _, err := st.Write(ctx, history, msgs[i%2:i%2+1]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// Parallel64 sets b's parallelism so that RunParallel starts 64 goroutines
// (exactly when GOMAXPROCS divides 64, as on the 2-CPU machines the targets
// were set on): the clients of the concurrent targets, and of baselines
// measured against them.
func Parallel64(b *testing.B) { b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0))) }

// Clients64 runs 64 clients (see Parallel64), each on a history of its own,
// appending one message per iteration and, with read, then reading the last
// 10 rounds. It reports msgs/s, or loops/s with read.
func Clients64(b *testing.B, st *chatstore.Store, read bool) {
	msgs := Conversation(2)
	unit := "msgs/s"
	if read {
		unit = "loops/s"
	}
	b.ReportAllocs()
	Loop64(b, unit, func(ctx context.Context, history string, i int) error {
		if _, err := st.Write(ctx, history, msgs[i%2:i%2+1]); err != nil || !read {
			return err
		}
		_, err := st.RetrieveLast(ctx, history, 10)
		return err
	})
}

// Loop64 runs 64 clients (see Parallel64), each calling loop with a history
// name of its own ("h1", "h2", …) and its own iteration count, and reports
// the iterations per second as unit. The backends' baselines run through it
// too, so that they are measured by the same harness as the store.
func Loop64(b *testing.B, unit string, loop func(ctx context.Context, history string, i int) error) {
	ctx := context.Background()
	var next atomic.Int64
	Parallel64(b)
	b.RunParallel(func(pb *testing.PB) {
		history := fmt.Sprint("h", next.Add(1))
		for i := 0; pb.Next(); i++ {
			if err := loop(ctx, history, i); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), unit)
}
