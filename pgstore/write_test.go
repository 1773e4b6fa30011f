package pgstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

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
	a, err := pgstore.New(t.Context(), tracedPool(t, requestCounter{&requests}), &pgstore.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	b, err := pgstore.New(t.Context(), pool, &pgstore.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	sa, err := chatstore.New(a, nil)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := chatstore.New(b, nil)
	if err != nil {
		t.Fatal(err)
	}
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

// requestCounter is a pgx tracer that counts the statements and batches
// sent: the requests of a write, each one round trip.
type requestCounter struct{ n *atomic.Int64 }

func (c requestCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}
func (c requestCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (c requestCounter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	c.n.Add(1)
	return ctx
}
func (c requestCounter) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (c requestCounter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

// TestTailPageFromLastRead: a read of the last rounds of a history this
// process wrote and read before is sized from that read and the messages
// written since; it is one statement and reads what a process that never
// read the history reads, on random conversations of every kind of
// message, read after each write. Read again with nothing written, its
// page is the rows the walk took: the tail, the system messages it
// stepped over, and its end, plus one.
func TestTailPageFromLastRead(t *testing.T) {
	pool := testPool(t)
	schema := freshSchema(t, pool)
	var limits []int64
	a, err := pgstore.New(t.Context(), tracedPool(t, limitRecorder{&limits}), &pgstore.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	b, err := pgstore.New(t.Context(), pool, &pgstore.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	opts := &chatstore.Options{KeepSystemMessages: true}
	sa, err := chatstore.New(a, opts)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := chatstore.New(b, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	call := chat.ToolCall{ID: chat.Ptr("c"), ToolName: "f", Arguments: map[string]any{}}
	kinds := []chat.Message{chat.User("u"), chat.Assistant("a"), chat.Assistant("", call), chat.Tool("r", call, false), chat.System("s")}
	rng := rand.New(rand.NewPCG(1, 2))
	read := func(id string, rounds int) ([]chat.Message, int64) {
		t.Helper()
		limits = limits[:0]
		got, err := sa.RetrieveLast(ctx, id, rounds)
		if err != nil {
			t.Fatal(err)
		}
		if len(limits) != 1 {
			t.Fatalf("%s: %d statements, want 1", id, len(limits))
		}
		return got, limits[0]
	}
	for _, rounds := range []int{1, 3} {
		id := fmt.Sprintf("h%d", rounds)
		systems := 0
		for i := range 100 {
			batch := make([]chat.Message, 1+rng.IntN(3))
			for j := range batch {
				batch[j] = kinds[rng.IntN(len(kinds))]
				if batch[j].Role == chat.RoleSystem {
					systems++
				}
			}
			if _, err := sa.Write(ctx, id, batch); err != nil {
				t.Fatal(err)
			}
			got, page := read(id, rounds)
			want, err := sb.RetrieveLast(ctx, id, rounds)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s, write %d: read %v, want %v", id, i, got, want)
			}
			again, next := read(id, rounds)
			if !reflect.DeepEqual(again, want) {
				t.Fatalf("%s, write %d, read again: %v, want %v", id, i, again, want)
			}
			if next > page || next > int64(len(want)+systems+2) {
				t.Errorf("%s, write %d: read again with a page of %d rows, after %d; want at most %d", id, i, next, page, len(want)+systems+2)
			}
		}
	}
}

// limitRecorder is a pgx tracer that records the page size (the third
// argument) of each statement sent that has one.
type limitRecorder struct{ limits *[]int64 }

func (r limitRecorder) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	if len(d.Args) >= 3 {
		if n, ok := d.Args[2].(int64); ok {
			*r.limits = append(*r.limits, n)
		}
	}
	return ctx
}
func (r limitRecorder) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
