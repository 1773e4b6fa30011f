package storetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
)

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

// WriteBatches writes n batches of three messages to a history, their texts
// "TAG-BATCH-INDEX", for tests where several processes write one history.
func WriteBatches(ctx context.Context, st *chatstore.Store, history, tag string, n int) error {
	for i := range n {
		msgs := []chat.Message{
			chat.User(fmt.Sprintf("%s-%d-0", tag, i)),
			chat.Assistant(fmt.Sprintf("%s-%d-1", tag, i)),
			chat.User(fmt.Sprintf("%s-%d-2", tag, i)),
		}
		if w, err := st.Write(ctx, history, msgs); err != nil || w != 3 {
			return fmt.Errorf("batch %d of %s: wrote %d: %w", i, tag, w, err)
		}
	}
	return nil
}

// CheckBatches checks a history that writers with the given tags filled
// with WriteBatches(n) at the same time: every message is there once, each
// batch is contiguous and in order, each writer's batches are in order, and
// the ids are unique. It returns how often the writers took turns.
func CheckBatches(t testing.TB, msgs []chat.Message, tags []string, n int) (turns int) {
	t.Helper()
	if len(msgs) != len(tags)*n*3 {
		t.Fatalf("%d messages, want %d", len(msgs), len(tags)*n*3)
	}
	ids := map[any]bool{}
	next := map[string]int{}
	prev := ""
	for i := 0; i < len(msgs); i += 3 {
		first, _ := msgs[i].Text()
		tag, b, _ := splitTag(first)
		if b != next[tag] {
			t.Fatalf("%s: batch %d where %d was due: lost or reordered", tag, b, next[tag])
		}
		next[tag]++
		if prev != "" && tag != prev {
			turns++
		}
		prev = tag
		for j := range 3 {
			if got, _ := msgs[i+j].Text(); got != fmt.Sprintf("%s-%d-%d", tag, b, j) {
				t.Fatalf("message %d is %q: writes interleaved", i+j, got)
			}
			id := msgs[i+j].Meta[chatstore.MessageIDKey]
			if ids[id] {
				t.Fatalf("duplicate id %v", id)
			}
			ids[id] = true
		}
	}
	return turns
}

// Overlap reports whether every pair of [start, end] time spans overlaps:
// the writers of a concurrency test really ran at the same time.
func Overlap(spans [][2]int64) bool {
	for _, a := range spans {
		for _, b := range spans {
			if a[0] == 0 || a[0] > b[1] {
				return false
			}
		}
	}
	return true
}
