package pgstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/driver"
	"github.com/chatstore/chatstore/internal/testenv"
	"github.com/chatstore/chatstore/pgstore"
)

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
	opts := &chatstore.Options{KeepSystemMessages: true}
	_, sa := storeOn(t, tracedPool(t, limitRecorder{&limits}), schema, opts)
	_, sb := storeOn(t, pool, schema, opts)
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
// argument) of each statement sent, alone or in a batch, that has one.
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
func (r limitRecorder) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}
func (r limitRecorder) TraceBatchQuery(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	r.TraceQueryStart(ctx, nil, pgx.TraceQueryStartData{SQL: d.SQL, Args: d.Args})
}
func (r limitRecorder) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// TestTailPlanPinned: a tail read's first page runs its cached generic
// plan, not one planned again for its values, a plan that walks the primary
// key backwards whatever the statistics (the plan by costs alone is logged,
// for comparison); and its settings end with it: the connection's are the
// server's defaults after it.
func TestTailPlanPinned(t *testing.T) {
	cfg, err := pgxpool.ParseConfig(testenv.Get(t, urlEnv, urlExample))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 1 // one connection: the reads' and the checks'
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	schema := freshSchema(t, testPool(t))
	s, st := storeOn(t, pool, schema, nil)
	ctx := t.Context()
	big := make([]chat.Message, 0, 2000)
	for i := range 1000 {
		big = append(big, chat.User(fmt.Sprint("q", i)), chat.Assistant(fmt.Sprint("a", i)))
	}
	if _, err := st.Write(ctx, "big", big); err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		if _, err := st.Write(ctx, fmt.Sprint("small", i), []chat.Message{chat.User("q")}); err != nil {
			t.Fatal(err)
		}
	}
	q := pgx.Identifier{schema}.Sanitize()
	if _, err := pool.Exec(ctx, "ANALYZE "+q+".messages; ANALYZE "+q+".histories"); err != nil {
		t.Fatal(err)
	}
	for range 8 {
		// A bare read (tailBare) and one that reports its window's
		// tokens, so reads the costs (tailUncompacted).
		msgs, err := st.RetrieveLast(ctx, "big", 2)
		if err != nil || len(msgs) != 4 {
			t.Fatalf("read: %d messages, %v", len(msgs), err)
		}
		var win chatstore.Window
		if msgs, err = st.Read(ctx, "big", chatstore.ReadOptions{LastK: 2, Window: &win}); err != nil || len(msgs) != 4 || win.Tokens == 0 {
			t.Fatalf("windowed read: %d messages, %d tokens, %v", len(msgs), win.Tokens, err)
		}
	}
	// Each read ran the generic plan of its statement, none was planned
	// for its values (PostgreSQL 14 counts them).
	pin, statements := pgstore.TailSQL(s)
	for _, name := range []string{"tailBare", "tailUncompacted"} {
		var generic, custom int64
		err = pool.QueryRow(ctx, "SELECT coalesce(sum(generic_plans), 0), coalesce(sum(custom_plans), 0) FROM pg_prepared_statements WHERE statement = $1", statements[name]).Scan(&generic, &custom)
		switch {
		case err != nil && !strings.Contains(err.Error(), "42703"): // no such column before 14
			t.Fatal(err)
		case err == nil && (generic != 8 || custom != 0):
			t.Errorf("%s ran %d generic plans and %d custom ones, want 8 and 0", name, generic, custom)
		}
	}
	for _, name := range []string{"plan_cache_mode", "enable_bitmapscan", "enable_seqscan", "enable_sort"} {
		var v, reset string
		if err := pool.QueryRow(ctx, "SELECT current_setting($1), reset_val FROM pg_settings WHERE name = $1", name).Scan(&v, &reset); err != nil {
			t.Fatal(err)
		}
		if v != reset {
			t.Errorf("%s is %s after the reads, want %s", name, v, reset)
		}
	}
	for name, sql := range statements {
		plan := func(pinned bool) string {
			t.Helper()
			tx, err := pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			set := "SELECT set_config('plan_cache_mode', 'force_generic_plan', true)"
			if pinned {
				set = pin
			}
			if _, err := tx.Exec(ctx, set); err != nil {
				t.Fatal(err)
			}
			// A prepared statement outlives the transaction: one name each.
			p := fmt.Sprintf("p_%s_%t", strings.ToLower(name), pinned)
			if _, err := tx.Exec(ctx, "PREPARE "+p+" AS "+sql); err != nil {
				t.Fatal(err)
			}
			rows, err := tx.Query(ctx, "EXPLAIN EXECUTE "+p+"('big', 9223372036854775807, 30, 0)", pgx.QueryExecModeSimpleProtocol)
			if err != nil {
				t.Fatal(err)
			}
			lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatal(err)
			}
			return strings.Join(lines, "\n")
		}
		t.Logf("%s, the generic plan by costs alone:\n%s", name, plan(false))
		got := plan(true)
		if !strings.Contains(got, "Index Scan Backward using messages_pkey") || strings.Contains(got, "Sort") ||
			strings.Contains(got, "Bitmap") || strings.Contains(got, "Seq Scan") {
			t.Errorf("%s, pinned: want a walk of messages_pkey backwards, got\n%s", name, got)
		}
	}
}

// storeOn opens a Store of schema on pool, and a chatstore.Store over it
// with options o.
func storeOn(t *testing.T, pool *pgxpool.Pool, schema string, o *chatstore.Options) (*pgstore.Store, *chatstore.Store) {
	t.Helper()
	s, err := pgstore.New(t.Context(), pool, &pgstore.Options{Schema: schema})
	if err == nil {
		var st *chatstore.Store
		if st, err = chatstore.New(s, o); err == nil {
			return s, st
		}
	}
	t.Fatal(err)
	return nil, nil
}

// TestBareTail: a bare tail read (driver.Span.Bare) runs tailBare, so the
// messages of its first page have no costs or times, where the full
// read's have them; and when the last rounds go past the first page (a
// process that never read the history, rounds of 43 messages), its later
// pages are read in full and it gives what the full read gives. (What a
// bare read gives is storetest's BareTail, on every backend.)
func TestBareTail(t *testing.T) {
	ctx := t.Context()
	pool := testPool(t)
	schema := freshSchema(t, pool)
	// A store of its own for each read: no earlier read sizes its first
	// page.
	open := func() *pgstore.Store {
		s, err := pgstore.New(ctx, pool, &pgstore.Options{Schema: schema})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	var long []driver.Record // 12 rounds of 43 messages
	for i := range 12 * 43 {
		body, _ := chat.User(fmt.Sprint("turn ", i)).MarshalJSON()
		kind := driver.Joins
		if i%43 == 42 {
			kind = driver.Closes
		}
		long = append(long, driver.Record{JSON: body, Kind: kind, CreatedAt: int64(1000 + i), Cost: driver.Cost{Text: 1, Flat: 1}})
	}
	if _, err := open().Write(ctx, "long", long); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ rounds, want int }{{10, 430}, {1, 43}} {
		full, _, err := open().TailUncompacted(ctx, "long", driver.Span{Rounds: c.rounds}, 0)
		if err != nil || len(full) != c.want {
			t.Fatalf("%d rounds, full: %d messages, %v", c.rounds, len(full), err)
		}
		bare, _, err := open().TailUncompacted(ctx, "long", driver.Span{Rounds: c.rounds, Bare: true}, 0)
		if err != nil || len(bare) != len(full) {
			t.Fatalf("%d rounds, bare: %d messages, %v", c.rounds, len(bare), err)
		}
		for i, f := range full {
			b := bare[i]
			if b.Pos != f.Pos || b.ID != f.ID || b.Kind != f.Kind || string(b.JSON) != string(f.JSON) || f.Cost == (driver.Cost{}) || f.CreatedAt == 0 {
				t.Errorf("%d rounds, message %d: bare %+v, full %+v", c.rounds, i, b, f)
			}
		}
		if last := bare[len(bare)-1]; last.Cost != (driver.Cost{}) || last.CreatedAt != 0 {
			t.Errorf("%d rounds: the bare read's first page has costs and times: %+v", c.rounds, last)
		}
		if c.rounds == 10 && (bare[0].Cost != full[0].Cost || bare[0].CreatedAt != full[0].CreatedAt) {
			t.Errorf("the bare read's oldest message, on a later page, is %+v, want it read in full: %+v", bare[0], full[0])
		}
	}
}
