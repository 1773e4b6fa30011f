package pgstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/driver"
	"github.com/chatstore/chatstore/internal/testenv"
	"github.com/chatstore/chatstore/pgstore"
)

// What only PostgreSQL's costs have: measuring, when a store opens, the
// messages of an older schema (TestFixtureFromVersion5), of another
// tokenizer, of an older chatstore still running, or of a measuring that
// was interrupted, with several servers opening together and others
// writing; the sums kept by every statement that changes messages, with
// processes writing and editing at once (TestTwoProcessesEditAndWrite).
// The rules themselves are the conformance suite's.

// checkCosts checks that every message and compaction record of the schema
// costs what the tokenizer measures, and every history's sum is that of its
// messages, as the store reads them and in the tables: no row unmeasured,
// the tokenizer's name recorded. It returns how many messages it checked.
func checkCosts(t *testing.T, pool *pgxpool.Pool, schema string, s *pgstore.Store, tokenizer string) int {
	t.Helper()
	ctx := t.Context()
	meter, err := chatstore.NewMeter(tokenizer)
	if err != nil {
		t.Fatal(err)
	}
	if s.Counter() != meter.Name() {
		t.Errorf("Counter() = %q, want %q", s.Counter(), meter.Name())
	}
	q := pgx.Identifier{schema}.Sanitize()
	var recorded string
	if err := pool.QueryRow(ctx, "SELECT coalesce(counter, '') FROM "+q+".chatstore_schema").Scan(&recorded); err != nil || recorded != meter.Name() {
		t.Errorf("recorded counter %q (%v), want %q", recorded, err, meter.Name())
	}
	if n := queryInt(t, pool, "SELECT count(*) FROM "+q+".messages WHERE cost_text IS NULL OR cost_flat IS NULL"); n != 0 {
		t.Errorf("%d messages unmeasured", n)
	}
	infos, err := s.Query(ctx, driver.Query{Limit: 100_000})
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, info := range infos {
		msgs, err := s.Range(ctx, info.ID, 0, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		var sum driver.Cost
		for _, m := range msgs {
			want, err := meter.Measure(m.JSON)
			if err != nil {
				t.Fatal(err)
			}
			if m.Cost != want {
				t.Errorf("%s/%s costs %+v, want %+v", info.ID, m.ID, m.Cost, want)
			}
			sum = sum.Add(m.Cost)
			checked++
		}
		if info.Cost != sum {
			t.Errorf("%s: Query's cost %+v, want the sum of its %d messages, %+v", info.ID, info.Cost, len(msgs), sum)
		}
		if i, _, err := s.Info(ctx, info.ID); err != nil || i.Cost != sum {
			t.Errorf("%s: Info's cost %+v (%v), want %+v", info.ID, i.Cost, err, sum)
		}
		recs, err := s.Compactions(ctx, info.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if want, err := meter.Measure(r.JSON); err != nil || r.Cost != want {
				t.Errorf("%s: compaction through %s costs %+v, want %+v (%v)", info.ID, r.Through, r.Cost, want, err)
			}
		}
	}
	return checked
}

// newStore opens a store on the schema with a tokenizer, its log in buf.
func newStore(t *testing.T, pool *pgxpool.Pool, schema, tokenizer string, buf *bytes.Buffer) *pgstore.Store {
	t.Helper()
	o := &pgstore.Options{Schema: schema, Tokenizer: tokenizer}
	if buf != nil {
		o.Logger = slog.New(slog.NewTextHandler(buf, nil))
	}
	s, err := pgstore.New(t.Context(), pool, o)
	if err != nil {
		t.Fatalf("opening with tokenizer %q: %v", tokenizer, err)
	}
	return s
}

// fill writes a few histories through a store counting with tokenizer:
// one of more than two batches of measuring, with a gap, a caller's id,
// images and reasoning, a fork, and compaction records.
func fill(t *testing.T, pool *pgxpool.Pool, schema, tokenizer string) {
	t.Helper()
	ctx := t.Context()
	st, err := chatstore.New(newStore(t, pool, schema, tokenizer, nil), &chatstore.Options{Tokenizer: tokenizer})
	if err != nil {
		t.Fatal(err)
	}
	bulk := make([]chat.Message, 2*pgstore.MeasureBatch+7)
	for i := range bulk {
		bulk[i] = chat.User(fmt.Sprintf("message number %d of the bulk, with some words to count", i))
	}
	write := func(id string, msgs ...chat.Message) {
		t.Helper()
		if _, err := st.Write(ctx, id, msgs); err != nil {
			t.Fatal(err)
		}
	}
	write("a/bulk", bulk...)
	write("a/one", chat.User("Where is my order? 你好"), chat.Assistant("It shipped yesterday."))
	img, err := chat.UserParts(chat.Text{Text: "What is this?"}, chat.Image{Base64Image: "iVBORw0KGgo=", MimeType: "image/png"})
	if err != nil {
		t.Fatal(err)
	}
	write("b", img, chat.Assistant("A picture."), chat.User("thanks"))
	if err := st.DeleteMessage(ctx, "a/bulk", "3"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Compact(ctx, "a/one", "1", chat.User("The user asked about an order; it shipped.")); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Compact(ctx, "a/bulk", "100", chat.User("A hundred messages of the bulk.")); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Fork(ctx, "a/one", "c", ""); err != nil {
		t.Fatal(err)
	}
}

// TestOpenWithAnotherTokenizer: a schema whose costs are of one tokenizer,
// opened with another, is measured again before New returns (messages,
// sums, compaction records), saying so in the log; opened again with the
// same, it has nothing to do; and back with the first, the costs are the
// first's again.
func TestOpenWithAnotherTokenizer(t *testing.T) {
	pool := testPool(t)
	schema := freshSchema(t, pool)
	fill(t, pool, schema, chatstore.TokenizerApprox)
	n := checkCosts(t, pool, schema, newStore(t, pool, schema, "", nil), chatstore.TokenizerApprox)

	for _, tok := range []string{chatstore.TokenizerO200k, chatstore.TokenizerCl100k, chatstore.TokenizerApprox} {
		var logged bytes.Buffer
		s := newStore(t, pool, schema, tok, &logged)
		if got := checkCosts(t, pool, schema, s, tok); got != n {
			t.Errorf("%s: %d messages, want %d", tok, got, n)
		}
		if !strings.Contains(logged.String(), "measured messages for token budgets") || !strings.Contains(logged.String(), fmt.Sprintf("messages=%d", n)) {
			t.Errorf("%s: the log says:\n%s", tok, logged.String())
		}
		// The store is the tokenizer's to the root store, no other's.
		if _, err := chatstore.New(s, &chatstore.Options{Tokenizer: tok}); err != nil {
			t.Errorf("%s: chatstore.New: %v", tok, err)
		}
		logged.Reset()
		newStore(t, pool, schema, tok, &logged)
		if logged.Len() != 0 {
			t.Errorf("%s: opening again logs %q", tok, logged.String())
		}
	}
	// The URL's parameter.
	st, err := chatstore.Open(t.Context(), storeURL(t, schema)+"&tokenizer=o200k_base", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	checkCosts(t, pool, schema, st.Driver().(*pgstore.Store), chatstore.TokenizerO200k)
	s, err := pgstore.Open(t.Context(), storeURL(t, schema)+"&tokenizer=cl100k_base", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkCosts(t, pool, schema, s, chatstore.TokenizerCl100k)
	if _, err := pgstore.Open(t.Context(), storeURL(t, schema)+"&tokenizer=words", nil); !errors.Is(err, chatstore.ErrInvalidOptions) {
		t.Errorf("tokenizer=words: %v", err)
	}
}

// TestMeasuringInterrupted: a measuring stopped in the middle (here, its
// context canceled after two batches) leaves no tokenizer recorded, so
// that the next open, even with the tokenizer recorded before, measures
// everything again.
func TestMeasuringInterrupted(t *testing.T) {
	pool := testPool(t)
	schema := freshSchema(t, pool)
	fill(t, pool, schema, chatstore.TokenizerApprox)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	tr := &batchCounter{after: 2, do: cancel}
	if _, err := pgstore.New(ctx, tracedPool(t, tr), &pgstore.Options{Schema: schema, Tokenizer: chatstore.TokenizerO200k}); err == nil {
		t.Fatal("New succeeded, its context canceled")
	}
	if tr.n.Load() < 2 {
		t.Fatalf("%d batches measured", tr.n.Load())
	}
	q := pgx.Identifier{schema}.Sanitize()
	if n := queryInt(t, pool, "SELECT count(*) FROM "+q+".chatstore_schema WHERE counter IS NULL"); n != 1 {
		t.Error("a tokenizer is recorded after an interrupted measuring")
	}
	var logged bytes.Buffer
	s := newStore(t, pool, schema, chatstore.TokenizerApprox, &logged)
	checkCosts(t, pool, schema, s, chatstore.TokenizerApprox)
	if !strings.Contains(logged.String(), "measured messages for token budgets") {
		t.Errorf("the log says:\n%s", logged.String())
	}
}

// tracedPool is a pool on the test server whose connections report to
// tracer, closed when the test ends.
func tracedPool(t *testing.T, tracer pgx.QueryTracer) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(testenv.Get(t, urlEnv, urlExample))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.Tracer = tracer
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// batchCounter is a pgx tracer that calls do once after the batches that
// measure (those that lock histories for it) have ended after times.
type batchCounter struct {
	after int64
	do    func()
	n     atomic.Int64
}

func (b *batchCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}
func (b *batchCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (b *batchCounter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}
func (b *batchCounter) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	if strings.Contains(d.SQL, "ORDER BY hid FOR UPDATE") && d.Err == nil {
		if b.n.Add(1) == b.after+1 {
			b.do()
		}
	}
}
func (b *batchCounter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// TestOpenTogether: servers opening at once with another tokenizer than
// the schema's wait for the one that measures, and find nothing to do.
func TestOpenTogether(t *testing.T) {
	pool := testPool(t)
	schema := freshSchema(t, pool)
	fill(t, pool, schema, chatstore.TokenizerApprox)
	const openers = 4
	var (
		wg     sync.WaitGroup
		logs   [openers]bytes.Buffer
		stores [openers]*pgstore.Store
		errs   [openers]error
	)
	for i := range openers {
		wg.Go(func() {
			// A pool each, as servers have.
			p := testPool(t)
			stores[i], errs[i] = pgstore.New(t.Context(), p, &pgstore.Options{Schema: schema, Tokenizer: chatstore.TokenizerCl100k,
				Logger: slog.New(slog.NewTextHandler(&logs[i], nil))})
		})
	}
	wg.Wait()
	measured := 0
	for i := range openers {
		if errs[i] != nil {
			t.Fatalf("opener %d: %v", i, errs[i])
		}
		if strings.Contains(logs[i].String(), "measured messages") {
			measured++
		}
	}
	if measured != 1 {
		t.Errorf("%d openers measured", measured)
	}
	checkCosts(t, pool, schema, stores[0], chatstore.TokenizerCl100k)
}

// TestUnmeasuredRows: rows an older chatstore writes during an upgrade
// have no cost, read as none, and add nothing to their history's sum; the
// next store to open measures them, while a store of this version writes
// and deletes in the same histories, and every sum comes out exact.
func TestUnmeasuredRows(t *testing.T) {
	pool := testPool(t)
	schema := freshSchema(t, pool)
	fill(t, pool, schema, chatstore.TokenizerApprox)
	q := pgx.Identifier{schema}.Sanitize()
	ctx := t.Context()
	// The older version's write, in SQL: no cost, no sum.
	old := func(history string, n int) {
		t.Helper()
		if _, err := pool.Exec(ctx, "WITH h AS (UPDATE "+q+".histories SET count = count + $2, next_seq = next_seq + $2 WHERE name = $1 RETURNING hid, next_seq - $2 AS first) "+
			"INSERT INTO "+q+".messages (hid, seq, kind, body, created_at) SELECT h.hid, h.first + i, 0, "+
			"jsonb_build_object('role', 'user', 'meta', '{}'::jsonb, 'name', NULL, 'content', jsonb_build_array(jsonb_build_object('text', 'old message ' || i))), 1 "+
			"FROM h, generate_series(0, $2 - 1) AS i", history, n); err != nil {
			t.Fatal(err)
		}
	}
	old("a/one", 3)
	s := newStore(t, pool, schema, "", nil) // the fast path sees them, and measures
	checkCosts(t, pool, schema, s, chatstore.TokenizerApprox)

	old("a/bulk", 3*pgstore.MeasureBatch)
	old("b", 5)
	st, err := chatstore.New(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Unmeasured, they cost nothing.
	msgs, err := s.Range(ctx, "b", 3, 8)
	if err != nil || len(msgs) != 5 || msgs[0].Cost != (driver.Cost{}) {
		t.Fatalf("an unmeasured message: %+v %v", msgs, err)
	}
	// A server of this version writes and edits those histories while
	// another opens and measures them.
	stop, started := make(chan struct{}), make(chan struct{})
	var (
		wg    sync.WaitGroup
		werr  error
		turns atomic.Int64
	)
	wg.Go(func() {
		defer close(started) // if it failed at once
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if i == 1 {
				started <- struct{}{}
			}
			turns.Add(1)
			id := []string{"a/bulk", "b", "a/one"}[i%3]
			if _, err := st.Write(ctx, id, []chat.Message{chat.User(fmt.Sprint("new ", i)), chat.Assistant("ok")}); err != nil {
				werr = err
				return
			}
			msgs, err := st.ReadStored(ctx, id, chatstore.ReadOptions{LastK: 1})
			if err != nil {
				werr = err
				return
			}
			if err := st.DeleteMessage(ctx, id, msgs[0].Message.Meta[chatstore.MessageIDKey].(string)); err != nil {
				werr = err
				return
			}
		}
	})
	<-started
	var logged bytes.Buffer
	before := turns.Load()
	s2 := newStore(t, pool, schema, "", &logged)
	during := turns.Load() - before
	close(stop)
	wg.Wait()
	if werr != nil {
		t.Fatal(werr)
	}
	t.Logf("%d writes and deletes while the store opened", during)
	if !strings.Contains(logged.String(), fmt.Sprintf("messages=%d", 3*pgstore.MeasureBatch+5)) {
		t.Errorf("the log says:\n%s", logged.String())
	}
	checkCosts(t, pool, schema, s2, chatstore.TokenizerApprox)
}

// TestCompactionRecords: the records as the tables hold them. Compact
// checks the message and its position, keeps the newest max and moves
// the history's updated_at; Fork copies the records of the messages it
// copies; Delete, DeletePrefix and DeleteAll leave no record behind.
func TestCompactionRecords(t *testing.T) {
	pool := testPool(t)
	schema := freshSchema(t, pool)
	s := newStore(t, pool, schema, "", nil)
	ctx := t.Context()
	q := pgx.Identifier{schema}.Sanitize()
	records := func() int { return queryInt(t, pool, "SELECT count(*) FROM "+q+".compactions") }
	st, err := chatstore.New(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"p/a", "p/b", "q"} {
		if _, err := st.Write(ctx, id, []chat.Message{chat.User("0"), chat.Assistant("1"), chat.User("2"), chat.Assistant("3")}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.DeleteMessage(ctx, "q", "1"); err != nil {
		t.Fatal(err)
	}
	at0 := time.Now().UnixMilli() + 1000 // after the writes
	rec := func(through string, pos, at int64) driver.Compaction {
		return driver.Compaction{Through: through, ThroughPos: pos, JSON: []byte(`{"role":"user","meta":{},"name":null,"content":[{"text":"summary ` + through + `"}]}`),
			Cost: driver.Cost{Text: pos, Flat: at}, CreatedAt: at}
	}
	for _, c := range []struct {
		id string
		c  driver.Compaction
	}{
		{"q", rec("1", 1, 10)},    // deleted
		{"q", rec("2", 1, 10)},    // not at that position
		{"nope", rec("0", 0, 10)}, // no such history
	} {
		if err := s.Compact(ctx, c.id, c.c, 3); !errors.Is(err, driver.ErrNotFound) {
			t.Errorf("Compact(%s, %+v): %v, want ErrNotFound", c.id, c.c, err)
		}
	}
	if n := records(); n != 0 {
		t.Fatalf("%d records after failed compactions", n)
	}
	for i, c := range []driver.Compaction{rec("0", 0, at0), rec("2", 2, at0+1), rec("3", 3, at0+2), rec("1", 1, at0+3), rec("2", 2, at0+3)} {
		if err := s.Compact(ctx, "p/a", c, 3); err != nil {
			t.Fatalf("compaction %d: %v", i, err)
		}
	}
	got, err := s.Compactions(ctx, "p/a")
	if err != nil || len(got) != 3 {
		t.Fatalf("Compactions: %+v %v", got, err)
	}
	for i, want := range []driver.Compaction{rec("2", 2, at0+3), rec("1", 1, at0+3), rec("3", 3, at0+2)} {
		if g := got[i]; g.Through != want.Through || g.ThroughPos != want.ThroughPos || g.Cost != want.Cost || g.CreatedAt != want.CreatedAt || !strings.Contains(string(g.JSON), "summary "+want.Through) {
			t.Errorf("record %d: %+v, want %+v", i, g, want)
		}
	}
	if info, _, err := s.Info(ctx, "p/a"); err != nil || info.UpdatedAt != at0+3 {
		t.Errorf("updated_at %d (%v), want the newest record's time", info.UpdatedAt, err)
	}
	if none, err := s.Compactions(ctx, "nope"); err != nil || len(none) != 0 {
		t.Errorf("an unknown history's records: %+v %v", none, err)
	}
	// The fork through 2 copies the records through 1 and 2.
	if _, err := s.Fork(ctx, "p/a", "p/fork", ptr("2"), at0+4); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Compactions(ctx, "p/fork"); err != nil || len(got) != 2 || got[0].Through != "2" || got[1].Through != "1" {
		t.Errorf("the fork's records: %+v %v", got, err)
	}
	if err := s.Compact(ctx, "p/b", rec("3", 3, at0), 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(ctx, "q", rec("3", 3, at0), 1); err != nil {
		t.Fatal(err)
	}
	if n := records(); n != 7 {
		t.Fatalf("%d records, want 7", n)
	}
	if err := s.Delete(ctx, "p/fork"); err != nil {
		t.Fatal(err)
	}
	if n := records(); n != 5 {
		t.Errorf("%d records after Delete, want 5", n)
	}
	if err := s.DeletePrefix(ctx, "p/"); err != nil {
		t.Fatal(err)
	}
	if n := records(); n != 1 {
		t.Errorf("%d records after DeletePrefix, want 1", n)
	}
	if err := s.DeleteAll(ctx); err != nil {
		t.Fatal(err)
	}
	if n := records(); n != 0 {
		t.Errorf("%d records after DeleteAll", n)
	}
}

func ptr[T any](v T) *T { return &v }

// TestTailOneStatement: with compaction records possible, a last_k read of
// a history without any is still one statement (driver.CompactionTailer),
// sent in one request (after the settings that pin its plan, see pinned),
// for a history that holds messages, an empty one and an unknown one; of
// a compacted history, the read sees the records.
func TestTailOneStatement(t *testing.T) {
	pool := testPool(t)
	schema := freshSchema(t, pool)
	var queries atomic.Int64
	s, err := pgstore.New(t.Context(), tracedPool(t, requestCounter{&queries}), &pgstore.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	st, err := chatstore.New(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := st.Write(ctx, "h", []chat.Message{chat.User("q0"), chat.Assistant("a0"), chat.User("q1"), chat.Assistant("a1")}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SetMetadata(ctx, "empty", map[string]*string{"k": ptr("v")}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		id   string
		want int
	}{{"h", 2}, {"empty", 0}, {"unknown", 0}} {
		queries.Store(0)
		msgs, err := st.RetrieveLast(ctx, c.id, 1)
		if err != nil || len(msgs) != c.want {
			t.Fatalf("%s: %d messages, %v", c.id, len(msgs), err)
		}
		if n := queries.Load(); n != 1 {
			t.Errorf("%s: %d requests, want 1", c.id, n)
		}
	}
	if _, err := st.Compact(ctx, "h", "3", chat.User("summary")); err != nil {
		t.Fatal(err)
	}
	msgs, err := st.RetrieveLast(ctx, "h", 1)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("compacted: %v %v", msgs, err)
	}
	if text, _ := msgs[0].Text(); text != "summary" {
		t.Errorf("compacted: %q, want the summary", text)
	}
}

// requestCounter is a pgx tracer that counts the requests sent, each one
// round trip: statements sent alone, and batches.
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
