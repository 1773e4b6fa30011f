package pgstore_test

import (
	"sync/atomic"
	"testing"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/pgstore"
)

// TestWritePresumesNewHistories: a write to a history the process does not
// know is one request when the history is new (created with the write); when
// the history exists, the presumption costs one more request, nothing is
// stored twice or lost, and the next such write presumes the history exists,
// until a locked write finds one new again.
func TestWritePresumesNewHistories(t *testing.T) {
	pool := testPool(t)
	schema := freshSchema(t, pool)
	var requests atomic.Int64
	a, sa := storeOn(t, tracedPool(t, requestCounter{&requests}), schema, nil)
	_, sb := storeOn(t, pool, schema, nil)
	ctx := t.Context()
	// Written by the other process: a does not know them.
	for _, id := range []string{"e1", "e2"} {
		if _, err := sb.Write(ctx, id, []chat.Message{chat.User("q"), chat.Assistant("a")}); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		id       string
		requests int64
		count    int
	}{
		{"n1", 1, 1}, // new, presumed new: created with the write
		{"e1", 3, 3}, // exists, presumed new: the create stores nothing, then locked
		{"e2", 2, 3}, // exists, presumed so: locked
		{"n2", 2, 1}, // new, presumed to exist: locked
		{"n3", 1, 1}, // new, presumed new again
		{"n3", 1, 2}, // known: guarded
	} {
		requests.Store(0)
		n, err := sa.Write(ctx, c.id, []chat.Message{chat.User("more")})
		if err != nil || n != 1 {
			t.Fatalf("%s: wrote %d, %v", c.id, n, err)
		}
		if got := requests.Load(); got != c.requests {
			t.Errorf("%s: %d requests, want %d", c.id, got, c.requests)
		}
		msgs, err := sa.RetrieveLast(ctx, c.id, chatstore.All)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != c.count {
			t.Fatalf("%s: %d messages, want %d", c.id, len(msgs), c.count)
		}
		if text, _ := msgs[c.count-1].Text(); text != "more" {
			t.Errorf("%s: the last message is %q, want the write's", c.id, text)
		}
	}
	// A keyed write to a new history records its key with it.
	pgstore.PresumeExisting(a, false)
	requests.Store(0)
	if n, replayed, err := sa.WriteIdempotent(ctx, "k1", "key", []chat.Message{chat.User("q")}); err != nil || n != 1 || replayed {
		t.Fatalf("keyed write: %d %v %v", n, replayed, err)
	}
	if got := requests.Load(); got != 1 {
		t.Errorf("keyed write to a new history: %d requests, want 1", got)
	}
	if n, replayed, err := sb.WriteIdempotent(ctx, "k1", "key", []chat.Message{chat.User("q")}); err != nil || n != 1 || !replayed {
		t.Fatalf("keyed write again, by the other process: %d %v %v, want 1 replayed", n, replayed, err)
	}
}
