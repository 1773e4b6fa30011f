package pgstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
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

// clockStore opens a store on schema with its own pool, as a process of
// its own would, on clock.
func clockStore(t *testing.T, schema string, clock *testenv.Clock) (*chatstore.Store, *pgstore.Store) {
	t.Helper()
	s, err := pgstore.New(t.Context(), testPool(t), &pgstore.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	st, err := chatstore.New(s, &chatstore.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	return st, s
}

// orphans counts the rows of every table that belong to no history.
func orphans(t *testing.T, pool *pgxpool.Pool, schema string) int {
	t.Helper()
	q := pgx.Identifier{schema}.Sanitize()
	n := 0
	for _, table := range []string{"messages", "metadata", "idempotency_keys", "compactions"} {
		k := queryInt(t, pool, "SELECT count(*) FROM "+q+"."+table+" x WHERE NOT EXISTS (SELECT FROM "+q+".histories h WHERE h.hid = x.hid)")
		if k > 0 {
			t.Logf("%d rows of %s belong to no history", k, table)
		}
		n += k
	}
	return n
}

// TestExpiryHidesPurgesAndSweeps: the PostgreSQL side of expiry, as its
// tables hold it. Every change works the expiry out again (sliding TTL,
// fixed time, default TTL, a fork's copy); once expired, a history is
// gone for every read though its rows are still there; a write makes it
// anew, with nothing of the old one left in any table; Sweep removes
// expired histories whole, counting their messages.
func TestExpiryHidesPurgesAndSweeps(t *testing.T) {
	pool := testPool(t)
	schema := freshSchema(t, pool)
	q := pgx.Identifier{schema}.Sanitize()
	clock := testenv.NewClock(1_700_000_000_000)
	st, s := clockStore(t, schema, clock)
	ctx := t.Context()
	t0 := clock.Millis()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	rows := func(table, name string) int {
		t.Helper()
		return queryInt(t, pool, "SELECT count(*) FROM "+q+"."+table+" x JOIN "+q+".histories h ON h.hid = x.hid WHERE h.name = $1", name)
	}
	u1 := "u1"
	for _, id := range []string{"a", "b"} {
		_, err := st.Write(ctx, id, []chat.Message{chat.User("question " + id), chat.Assistant("answer " + id)})
		must(err)
		_, err = st.SetMetadata(ctx, id, map[string]*string{"user": &u1})
		must(err)
	}
	_, _, err := st.WriteIdempotent(ctx, "a", "k", []chat.Message{chat.User("keyed")})
	must(err)
	_, err = st.Compact(ctx, "a", "1", chat.User("summary"))
	must(err)
	info, err := st.SetExpiry(ctx, "a", chatstore.Expiry{TTL: time.Hour})
	must(err)
	if info.Expiry.TTL != time.Hour || info.ExpiresAt.UnixMilli() != t0+time.Hour.Milliseconds() {
		t.Fatalf("after SetExpiry: %+v", info)
	}
	// A write pushes a sliding expiry back; a fork copies it.
	clock.Add(30 * time.Minute)
	_, err = st.Write(ctx, "a", []chat.Message{chat.Assistant("later")})
	must(err)
	want := clock.After(time.Hour)
	if info, _, _ := st.Info(ctx, "a"); !info.ExpiresAt.Equal(want) {
		t.Errorf("after a write: expires at %v, want %v", info.ExpiresAt, want)
	}
	fork, err := st.Fork(ctx, "a", "fork", "")
	must(err)
	if fork.Expiry.TTL != time.Hour || !fork.ExpiresAt.Equal(want) || fork.Count != 4 {
		t.Errorf("fork: %+v", fork)
	}
	// A fixed time, which writes do not move.
	_, err = st.SetExpiry(ctx, "b", chatstore.Expiry{At: clock.After(2 * time.Hour)})
	must(err)
	_, err = st.Write(ctx, "b", []chat.Message{chat.User("more")})
	must(err)
	if info, _, _ := st.Info(ctx, "b"); !info.ExpiresAt.Equal(clock.After(2*time.Hour)) || !info.Expiry.At.Equal(info.ExpiresAt) {
		t.Errorf("b: %+v", info)
	}

	// a and fork expire at once.
	clock.Add(time.Hour)
	if n, err := st.Count(ctx, "a"); n != 0 || err != nil {
		t.Errorf("Count: %d %v", n, err)
	}
	if msgs, err := st.RetrieveLast(ctx, "a", chatstore.All); len(msgs) != 0 || err != nil {
		t.Errorf("RetrieveLast: %v %v", msgs, err)
	}
	if msgs, err := st.Range(ctx, "a", 0, 10); len(msgs) != 0 || err != nil {
		t.Errorf("Range: %v %v", msgs, err)
	}
	if _, ok, err := st.Info(ctx, "fork"); ok || err != nil {
		t.Errorf("Info of the expired fork: %v %v", ok, err)
	}
	if _, err := st.Message(ctx, "a", "0"); !errors.Is(err, chatstore.ErrNotFound) {
		t.Errorf("Message: %v", err)
	}
	if err := st.DeleteMessage(ctx, "a", "0"); !errors.Is(err, chatstore.ErrNotFound) {
		t.Errorf("DeleteMessage: %v", err)
	}
	if _, err := st.Truncate(ctx, "a", "0"); !errors.Is(err, chatstore.ErrNotFound) {
		t.Errorf("Truncate: %v", err)
	}
	if recs, err := s.Compactions(ctx, "a"); len(recs) != 0 || err != nil {
		t.Errorf("Compactions: %v %v", recs, err)
	}
	if _, err := st.Fork(ctx, "a", "f2", "0"); !errors.Is(err, chatstore.ErrNotFound) {
		t.Errorf("Fork through a message of an expired history: %v", err)
	}
	page, err := st.List(ctx, chatstore.ListOptions{Order: chatstore.ByUpdated})
	must(err)
	var ids []string
	for _, h := range page.Histories {
		ids = append(ids, h.ID)
	}
	if !slices.Equal(ids, []string{"b"}) {
		t.Errorf("List: %v", ids)
	}
	if got := hits(t, st, chatstore.SearchOptions{Query: "question"}); !slices.Equal(got, []string{"b/0"}) {
		t.Errorf("Search: %v", got)
	}
	if rows("messages", "a") != 4 {
		t.Fatalf("the expired history's rows went before a sweep")
	}

	// A write to the expired history makes it anew, in the write's
	// transaction: nothing of the old one is left.
	_, err = st.Write(ctx, "a", []chat.Message{chat.User("new start")})
	must(err)
	info, ok, err := st.Info(ctx, "a")
	if err != nil || !ok || info.Count != 1 || info.CreatedAt.UnixMilli() != clock.Millis() || len(info.Metadata) != 0 || info.Expiry != (chatstore.Expiry{}) || !info.ExpiresAt.IsZero() {
		t.Errorf("made anew: %+v %v %v", info, ok, err)
	}
	if m, err := st.Message(ctx, "a", "0"); err != nil || m.Message.Texts()[0] != "new start" {
		t.Errorf("its first message: %+v %v", m, err)
	}
	for _, table := range []string{"metadata", "idempotency_keys", "compactions"} {
		if n := rows(table, "a"); n != 0 {
			t.Errorf("%d rows of %s left of the old history", n, table)
		}
	}
	if n := orphans(t, pool, schema); n != 0 {
		t.Errorf("%d rows of no history", n)
	}

	// Sweep removes the fork whole.
	sw, err := st.Sweep(ctx, 10)
	if err != nil || sw.Histories != 1 || sw.Messages != 4 {
		t.Errorf("Sweep: %+v %v", sw, err)
	}
	if n := queryInt(t, pool, "SELECT count(*) FROM "+q+".histories WHERE name = 'fork'"); n != 0 {
		t.Errorf("the fork's row is still there")
	}
	if n := orphans(t, pool, schema); n != 0 {
		t.Errorf("%d rows of no history after the sweep", n)
	}

	// The default TTL applies from a history's next change.
	must(st.SetDefaultTTL(time.Minute))
	_, err = st.Write(ctx, "c", []chat.Message{chat.User("c")})
	must(err)
	if info, _, _ := st.Info(ctx, "c"); !info.ExpiresAt.Equal(clock.After(time.Minute)) {
		t.Errorf("c: %+v", info)
	}
	clock.Add(2 * time.Minute)
	if n, _ := st.Count(ctx, "c"); n != 0 {
		t.Errorf("c is there past its default TTL")
	}
	if n, _ := st.Count(ctx, "b"); n != 3 {
		t.Errorf("b, unchanged since the default was set, has %d messages", n)
	}
	// A fixed time in the past expires a history at once.
	_, err = st.SetExpiry(ctx, "b", chatstore.Expiry{At: clock.After(-time.Millisecond)})
	must(err)
	if _, ok, _ := st.Info(ctx, "b"); ok {
		t.Errorf("b is there after expiring in the past")
	}
	sw, err = st.Sweep(ctx, 10)
	if err != nil || sw.Histories != 2 || sw.Messages != 1+3 {
		t.Errorf("Sweep: %+v %v", sw, err)
	}
	if n := orphans(t, pool, schema); n != 0 {
		t.Errorf("%d rows of no history after the sweep", n)
	}
	if sw, err := st.Sweep(ctx, 10); err != nil || sw.Histories != 0 {
		t.Errorf("a sweep with nothing to do: %+v %v", sw, err)
	}
}

// TestSweepTwoProcesses: two stores, each with a pool of its own as two
// processes have, sweep one schema at once, in small batches, while
// writers in both renew some of the histories the sweeps are after. No
// sweep fails or waits for the other; each expired history is removed
// once (the sweeps' counts add up to the histories gone, and their
// messages); a history that a write renewed before a sweep reached it is
// never removed, and one that a sweep removed first is made anew by the
// write; nothing is left half removed.
func TestSweepTwoProcesses(t *testing.T) {
	const (
		histories = 300
		ttl       = time.Hour
	)
	pool := testPool(t)
	schema := freshSchema(t, pool)
	q := pgx.Identifier{schema}.Sanitize()
	// The writers' clock says the histories have half their TTL left;
	// the sweeps are at the time they expire.
	clock := testenv.NewClock(1_700_000_000_000)
	stA, _ := clockStore(t, schema, clock)
	stB, _ := clockStore(t, schema, clock)
	ctx := t.Context()
	t0 := clock.Millis()
	for i := range histories {
		id := fmt.Sprint("h", i)
		if _, err := stA.Write(ctx, id, []chat.Message{chat.User("q"), chat.Assistant("a")}); err != nil {
			t.Fatal(err)
		}
		if _, err := stA.SetExpiry(ctx, id, chatstore.Expiry{TTL: ttl}); err != nil {
			t.Fatal(err)
		}
	}
	hids := map[string]int64{}
	rows, err := pool.Query(ctx, "SELECT name, hid FROM "+q+".histories")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var (
			name string
			hid  int64
		)
		if err := rows.Scan(&name, &hid); err != nil {
			t.Fatal(err)
		}
		hids[name] = hid
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	clock.Add(ttl / 2)
	sweepAt := t0 + ttl.Milliseconds()

	var (
		wg               sync.WaitGroup
		swept, msgsSwept atomic.Int64
		errs             = make(chan error, 8)
	)
	var bySweeper [2]atomic.Int64
	sweep := func(s driver.Expirer, n int) {
		defer wg.Done()
		for {
			sw, err := s.Sweep(ctx, sweepAt, 7)
			if err != nil {
				errs <- fmt.Errorf("sweep: %w", err)
				return
			}
			swept.Add(sw.Histories)
			msgsSwept.Add(sw.Messages)
			bySweeper[n].Add(sw.Histories)
			if sw.Histories == 0 {
				return
			}
		}
	}
	// Every third history is written to, from both stores in turn, the
	// last first: the sweeps take the oldest first, which is the first
	// written, so that they meet the writers half way.
	write := func(st *chatstore.Store, from int) {
		defer wg.Done()
		for i := from; i >= 0; i -= 6 {
			if _, err := st.Write(ctx, fmt.Sprint("h", i), []chat.Message{chat.User("renew")}); err != nil {
				errs <- fmt.Errorf("write: %w", err)
				return
			}
		}
	}
	wg.Add(4)
	go sweep(stA.Driver().(driver.Expirer), 0)
	go sweep(stB.Driver().(driver.Expirer), 1)
	go write(stA, histories-3)
	go write(stB, histories-6)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// A sweep that found only rows the other held stops early; one more
	// finishes the job.
	wg.Add(1)
	sweep(stA.Driver().(driver.Expirer), 0)

	survivors := 0
	for i := range histories {
		id := fmt.Sprint("h", i)
		var (
			hid   int64
			count int
		)
		err := pool.QueryRow(ctx, "SELECT hid, count FROM "+q+".histories WHERE name = $1", id).Scan(&hid, &count)
		switch {
		case i%3 != 0:
			if !errors.Is(err, pgx.ErrNoRows) {
				t.Errorf("%s, expired and not written, is still there (%v)", id, err)
			}
		case err != nil:
			t.Errorf("%s, written, is not there: %v", id, err)
		case hid == hids[id]:
			survivors++
			if count != 3 {
				t.Errorf("%s, renewed, holds %d messages, want 3", id, count)
			}
		case count != 1:
			t.Errorf("%s, swept then written, holds %d messages, want 1", id, count)
		}
	}
	if got, want := swept.Load(), int64(histories-survivors); got != want {
		t.Errorf("the sweeps removed %d histories, want %d (%d renewed in time)", got, want, survivors)
	}
	if got, want := msgsSwept.Load(), 2*int64(histories-survivors); got != want {
		t.Errorf("the sweeps removed %d messages, want %d", got, want)
	}
	t.Logf("%d histories swept (%d and %d by each store), %d renewed before a sweep reached them", swept.Load(), bySweeper[0].Load(), bySweeper[1].Load(), survivors)
	if n := orphans(t, pool, schema); n != 0 {
		t.Errorf("%d rows of no history", n)
	}
}

// TestSweepPlan: Sweep finds expired histories along histories_by_expiry,
// whatever the plan's parameters (a generic plan too), and deletes them
// and their messages by their keys, however many histories never expire.
func TestSweepPlan(t *testing.T) {
	pool := testPool(t)
	schema := freshSchema(t, pool)
	s, err := pgstore.New(t.Context(), pool, &pgstore.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	q := pgx.Identifier{schema}.Sanitize()
	// 20,000 histories of 5 messages; one in 50 expires.
	for _, sql := range []string{
		"INSERT INTO " + q + ".histories (name, count, next_seq, created_at, updated_at, ttl, expires_at) " +
			"SELECT 'h' || i, 5, 5, 1, 1, CASE WHEN i % 50 = 0 THEN 1000 ELSE 0 END, CASE WHEN i % 50 = 0 THEN 1000 + i ELSE 0 END FROM generate_series(1, 20000) i",
		"INSERT INTO " + q + ".messages (hid, seq, kind, body) SELECT h.hid, s, 2, '{}' FROM " + q + ".histories h, generate_series(0, 4) s",
		"VACUUM ANALYZE " + q + ".histories",
		"VACUUM ANALYZE " + q + ".messages",
	} {
		if _, err := pool.Exec(t.Context(), sql); err != nil {
			t.Fatal(err)
		}
	}
	lock, sweep := pgstore.SweepSQL(s)
	for _, generic := range []bool{false, true} {
		plan := explainPlan(t, pool, generic, lock, "20000, 100")
		if !strings.Contains(plan, "Index Scan using histories_by_expiry") || strings.Contains(plan, "Seq Scan") {
			t.Errorf("generic %v: the lock does not walk histories_by_expiry:\n%s", generic, plan)
		}
		plan = explainPlan(t, pool, generic, sweep, "'{50,100,150}', 20000")
		if strings.Contains(plan, "Seq Scan") {
			t.Errorf("generic %v: the sweep reads whole tables:\n%s", generic, plan)
		}
	}
}

// explainPlan returns the plan of sql run with the arguments args (SQL
// literals), as a prepared statement, with the plan PostgreSQL makes for
// the arguments, or with the generic plan it may cache after five runs.
// It runs the statement, in a transaction it rolls back.
func explainPlan(t *testing.T, pool *pgxpool.Pool, generic bool, sql, args string) string {
	t.Helper()
	tx, err := pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	mode := "force_custom_plan"
	if generic {
		mode = "force_generic_plan"
	}
	if _, err := tx.Exec(t.Context(), "SET LOCAL plan_cache_mode = "+mode); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(t.Context(), "PREPARE explained AS "+sql); err != nil {
		t.Fatal(err)
	}
	// A prepared statement outlives the transaction.
	defer tx.Exec(context.Background(), "DEALLOCATE explained")
	return explain(t, tx, "EXPLAIN ANALYZE EXECUTE explained ("+args+")")
}

// TestFixtureFromVersion6 loads a schema of the release before expiry
// (testdata/README.md), with messages, metadata, a gap, a fork and a
// compaction record: opening it migrates it, rewriting no row; its
// histories read as they did, with no expiry; Sweep finds nothing; and
// expiry can then be set and swept.
func TestFixtureFromVersion6(t *testing.T) {
	pool := testPool(t)
	schema := loadFixture(t, pool, "v6")
	q := pgx.Identifier{schema}.Sanitize()
	ctx := t.Context()
	// The rows as version 6 left them: a migration that rewrote one
	// would move it (ctid).
	rowsAt := func() []string {
		t.Helper()
		rows, err := pool.Query(ctx, "SELECT name || ' ' || ctid::text FROM "+q+".histories ORDER BY name")
		if err != nil {
			t.Fatal(err)
		}
		out, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	before := rowsAt()
	var logged bytes.Buffer
	s := newStore(t, pool, schema, "", &logged)
	if n := queryInt(t, pool, "SELECT version FROM "+q+".chatstore_schema"); n != pgstore.SchemaVersion || n != 7 {
		t.Errorf("version %d after opening, want 7", n)
	}
	if after := rowsAt(); !slices.Equal(after, before) {
		t.Errorf("the migration rewrote the histories: %v, then %v", before, after)
	}
	if logged.Len() != 0 {
		t.Errorf("opening measured or indexed again:\n%s", logged.String())
	}
	infos, err := s.Query(ctx, driver.Query{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int64{}
	for _, info := range infos {
		counts[info.ID] = info.Count
		if info.Expiry != (driver.Expiry{}) || info.ExpiresAt != 0 {
			t.Errorf("%s: %+v", info.ID, info)
		}
	}
	if want := map[string]int64{"support/alice": 7, "alice-fork": 6, "bob": 2, "carol": 3}; !maps.Equal(counts, want) {
		t.Errorf("histories %v, want %v", counts, want)
	}
	if info, _, err := s.Info(ctx, "carol"); err != nil || info.Metadata["user_id"] != "u-7" {
		t.Errorf("carol: %+v %v", info, err)
	}
	if recs, err := s.Compactions(ctx, "support/alice"); err != nil || len(recs) != 1 || recs[0].Through != "q-2" {
		t.Errorf("Compactions: %+v %v", recs, err)
	}
	if msgs, err := s.Tail(ctx, "support/alice", 100); err != nil || len(msgs) != 7 {
		t.Errorf("Tail: %d messages, %v", len(msgs), err)
	}
	st, err := chatstore.New(s, &chatstore.Options{KeepSystemMessages: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := hits(t, st, chatstore.SearchOptions{Query: "shipped"}); len(got) != 4 {
		t.Errorf("search: %v", got)
	}
	checkCosts(t, pool, schema, s, chatstore.TokenizerApprox)
	if sw, err := s.Sweep(ctx, time.Now().Add(chatstore.MaxTTL).UnixMilli(), 100); err != nil || sw != (driver.Swept{}) {
		t.Errorf("Sweep after the migration: %+v %v", sw, err)
	}
	now := time.Now().UnixMilli()
	if info, err := s.SetExpiry(ctx, "carol", driver.Expiry{TTL: 60_000}, now); err != nil || info.ExpiresAt != now+60_000 || info.Count != 3 {
		t.Errorf("SetExpiry: %+v %v", info, err)
	}
	if sw, err := s.Sweep(ctx, now+60_000, 100); err != nil || sw != (driver.Swept{Histories: 1, Messages: 3}) {
		t.Errorf("Sweep: %+v %v", sw, err)
	}
	if n := orphans(t, pool, schema); n != 0 {
		t.Errorf("%d rows of no history", n)
	}
}

// TestExpiredHistoryMadeAnew: a metadata change, a keyed write, a fork
// onto its id and SetExpiry each make an expired history anew, in their
// transaction, from a store that never saw it (the locked path of a
// write), leaving nothing of the old one.
func TestExpiredHistoryMadeAnew(t *testing.T) {
	pool := testPool(t)
	schema := freshSchema(t, pool)
	clock := testenv.NewClock(1_700_000_000_000)
	st, _ := clockStore(t, schema, clock)
	ctx := t.Context()
	u1, u2 := "u1", "u2"
	for _, id := range []string{"meta", "keyed", "fork", "expiry", "source"} {
		if _, _, err := st.WriteIdempotent(ctx, id, "k", []chat.Message{chat.User("old " + id), chat.Assistant("a")}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.SetMetadata(ctx, id, map[string]*string{"old": &u1}); err != nil {
			t.Fatal(err)
		}
		if id == "source" {
			continue
		}
		if _, err := st.Compact(ctx, id, "1", chat.User("summary")); err != nil {
			t.Fatal(err)
		}
		if _, err := st.SetExpiry(ctx, id, chatstore.Expiry{TTL: time.Minute}); err != nil {
			t.Fatal(err)
		}
	}
	clock.Add(time.Minute)
	// Another process, which knows none of them.
	other, _ := clockStore(t, schema, clock)
	info, err := other.SetMetadata(ctx, "meta", map[string]*string{"new": &u2})
	if err != nil || info.Count != 0 || len(info.Metadata) != 1 || info.Metadata["new"] != "u2" || info.CreatedAt.UnixMilli() != clock.Millis() {
		t.Errorf("SetMetadata: %+v %v", info, err)
	}
	if n, replayed, err := other.WriteIdempotent(ctx, "keyed", "k", []chat.Message{chat.User("new")}); err != nil || n != 1 || replayed {
		t.Errorf("a keyed write with the expired history's key: %d %v %v", n, replayed, err)
	}
	if info, err := other.Fork(ctx, "source", "fork", ""); err != nil || info.Count != 2 || info.Metadata["old"] != "u1" || info.Expiry != (chatstore.Expiry{}) {
		t.Errorf("a fork onto the expired history: %+v %v", info, err)
	}
	info, err = other.SetExpiry(ctx, "expiry", chatstore.Expiry{TTL: time.Hour})
	if err != nil || info.Count != 0 || len(info.Metadata) != 0 || !info.ExpiresAt.Equal(clock.After(time.Hour)) {
		t.Errorf("SetExpiry: %+v %v", info, err)
	}
	for _, id := range []string{"meta", "keyed", "fork", "expiry"} {
		if recs, err := other.Compactions(ctx, id); err != nil || len(recs) != 0 {
			t.Errorf("%s: compactions of the expired history: %+v %v", id, recs, err)
		}
	}
	if m, err := other.Message(ctx, "keyed", "0"); err != nil || m.Message.Texts()[0] != "new" {
		t.Errorf("the keyed write's message: %+v %v", m, err)
	}
	if n := orphans(t, pool, schema); n != 0 {
		t.Errorf("%d rows of no history", n)
	}
	if sw, err := other.Sweep(ctx, 10); err != nil || sw.Histories != 0 {
		t.Errorf("Sweep: %+v %v", sw, err)
	}
}

// TestDeleteRacingWritesLeavesNothing: a Delete (or a DeletePrefix) that
// waits for a write to the history must remove what the write stored too:
// erased means erased, not rows of no history left behind. Writers and
// deleters race on a few histories; then no table holds a row of a
// history that is gone.
func TestDeleteRacingWritesLeavesNothing(t *testing.T) {
	pool := testPool(t)
	schema := freshSchema(t, pool)
	st, _ := clockStore(t, schema, testenv.NewClock(1_700_000_000_000))
	ctx := t.Context()
	const rounds = 150
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				id := fmt.Sprint("p/h", i%3)
				if _, err := st.Write(ctx, id, []chat.Message{chat.User("q"), chat.Assistant("a")}); err != nil {
					t.Error(err)
					return
				}
				u := fmt.Sprint("u", w)
				if _, err := st.SetMetadata(ctx, id, map[string]*string{"user_id": &u}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for d := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				var err error
				if d == 0 {
					err = st.Delete(ctx, fmt.Sprint("p/h", i%3))
				} else {
					err = chatstore.Prefixed(st, "p/").DeleteAll(ctx)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := orphans(t, pool, schema); n != 0 {
		t.Errorf("%d rows of deleted histories left behind", n)
	}
	if err := chatstore.Prefixed(st, "p/").DeleteAll(ctx); err != nil {
		t.Fatal(err)
	}
	if n := orphans(t, pool, schema); n != 0 {
		t.Errorf("%d rows of deleted histories left behind after a last delete", n)
	}
}
