package pgstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/pgstore"
)

// keyStore is a Store in schema over pool, with an empty cache of history
// states: its first write to a history takes the locked path.
func keyStore(t *testing.T, pool *pgxpool.Pool, schema string) *chatstore.Store {
	t.Helper()
	drv, err := pgstore.New(t.Context(), pool, &pgstore.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	st, err := chatstore.New(drv, nil)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func mustKeyed(t *testing.T, st *chatstore.Store, id, key string, msgs ...chat.Message) (int, bool) {
	t.Helper()
	n, replayed, err := st.WriteIdempotent(t.Context(), id, key, msgs)
	if err != nil {
		t.Fatalf("WriteIdempotent(%q, %q): %v", id, key, err)
	}
	return n, replayed
}

func queryInt(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// TestExpiredKeysDeleted: each keyed write deletes up to 16 of its history's
// expired keys, oldest first, on the guarded and the locked path alike, and
// replaces an expired record of its own key.
func TestExpiredKeysDeleted(t *testing.T) {
	pool := testPool(t)
	schema := freshSchema(t, pool)
	s := pgx.Identifier{schema}.Sanitize()
	st := keyStore(t, pool, schema)
	mustKeyed(t, st, "h", "k0", chat.User("0"))
	mustKeyed(t, st, "other", "k0", chat.User("0"))
	// 40 expired keys each, old-1 the newest.
	if _, err := pool.Exec(t.Context(), "INSERT INTO "+s+".idempotency_keys SELECT hid, 'old-' || i, 'fp', 1, now() - interval '1 hour' - i * interval '1 second' "+
		"FROM "+s+".histories, generate_series(1, 40) i WHERE name IN ('h', 'other')"); err != nil {
		t.Fatal(err)
	}
	// expired returns how many of the old keys a history has left, and the
	// oldest of them (its number).
	expired := func(id string) (n, oldest int) {
		err := pool.QueryRow(t.Context(), "SELECT count(*), coalesce(max(substr(k.key, 5)::int), 0) FROM "+s+".idempotency_keys k JOIN "+s+".histories h USING (hid) "+
			"WHERE h.name = $1 AND k.key LIKE 'old-%'", id).Scan(&n, &oldest)
		if err != nil {
			t.Fatal(err)
		}
		return n, oldest
	}
	// st knows the history's state (the guarded path); other does not until
	// it has written (the locked path, then the guarded one).
	other := keyStore(t, pool, schema)
	for i, w := range []struct {
		st         *chatstore.Store
		path       string
		wantLeft   int
		wantOldest int
	}{{st, "guarded", 24, 24}, {other, "locked", 8, 8}, {other, "guarded", 0, 0}} {
		key := fmt.Sprint("k", i+1)
		if n, replayed := mustKeyed(t, w.st, "h", key, chat.User(key)); n != 1 || replayed {
			t.Fatalf("%s write: n=%d replayed=%v", w.path, n, replayed)
		}
		if n, oldest := expired("h"); n != w.wantLeft || oldest != w.wantOldest {
			t.Errorf("after a %s keyed write: %d expired keys left, the oldest old-%d; want %d, old-%d", w.path, n, oldest, w.wantLeft, w.wantOldest)
		}
	}
	if n, _ := expired("other"); n != 40 {
		t.Errorf("another history's expired keys: %d, want 40 (untouched)", n)
	}
	// An expired record of a key from a write of other messages is
	// replaced: the key writes anew, on both paths.
	third := keyStore(t, pool, schema)
	for _, path := range []string{"locked", "guarded"} {
		if _, err := pool.Exec(t.Context(), "INSERT INTO "+s+".idempotency_keys SELECT hid, 'k-exp', 'fp', 7, now() - interval '1 second' FROM "+s+".histories WHERE name = 'h' "+
			"ON CONFLICT (hid, key) DO UPDATE SET fingerprint = 'fp', written = 7, expires_at = excluded.expires_at"); err != nil {
			t.Fatal(err)
		}
		if n, replayed := mustKeyed(t, third, "h", "k-exp", chat.User(path)); n != 1 || replayed {
			t.Errorf("%s: a key whose record expired: n=%d replayed=%v, want 1 false", path, n, replayed)
		}
		if n, replayed := mustKeyed(t, third, "h", "k-exp", chat.User(path)); n != 1 || !replayed {
			t.Errorf("%s: its retry: n=%d replayed=%v, want 1 true", path, n, replayed)
		}
	}
	if n := queryInt(t, pool, "SELECT count(*) FROM "+s+".idempotency_keys k JOIN "+s+".histories h USING (hid) WHERE h.name = 'h'"); n != 5 {
		t.Errorf("history h has %d keys, want 5 (k0-k3, k-exp)", n)
	}
}

// TestDeletesForgetKeys: Delete, DeletePrefix and DeleteAll delete the
// histories' keys, and only theirs.
func TestDeletesForgetKeys(t *testing.T) {
	pool := testPool(t)
	schema := freshSchema(t, pool)
	s := pgx.Identifier{schema}.Sanitize()
	st := keyStore(t, pool, schema)
	ids := []string{"a", "b", "t1/x", "t1/y", "t2/x"}
	for _, id := range ids {
		mustKeyed(t, st, id, "k1", chat.User("1"))
		mustKeyed(t, st, id, "k2", chat.User("2"))
	}
	keys := func() int { return queryInt(t, pool, "SELECT count(*) FROM "+s+".idempotency_keys") }
	if n := keys(); n != 2*len(ids) {
		t.Fatalf("%d keys, want %d", n, 2*len(ids))
	}
	for _, step := range []struct {
		name string
		do   func() error
		want int
	}{
		{"Delete", func() error { return st.Delete(t.Context(), "a") }, 8},
		{"DeletePrefix", func() error { return chatstore.Prefixed(st, "t1/").DeleteAll(t.Context()) }, 4},
		{"DeleteAll", func() error { return st.DeleteAll(t.Context()) }, 0},
	} {
		if err := step.do(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if n := keys(); n != step.want {
			t.Errorf("after %s: %d keys, want %d", step.name, n, step.want)
		}
	}
}

// TestMigrationFromVersion1: a schema written by the previous version, with
// histories in it, migrates when opened: the histories are intact and keyed
// writes work.
func TestMigrationFromVersion1(t *testing.T) {
	pool := testPool(t)
	schema := freshSchema(t, pool)
	s := pgx.Identifier{schema}.Sanitize()
	if _, err := pgstore.NewAtVersion(t.Context(), pool, &pgstore.Options{Schema: schema}, 1); err != nil {
		t.Fatal(err)
	}
	// The previous code's write, in SQL: this code's writes need the
	// current schema.
	oldWrite(t, pool, s, "h", `{"role":"user","content":[{"text":"q"}],"meta":{}}`, `{"role":"assistant","content":[{"text":"a"}],"meta":{}}`)
	if n := queryInt(t, pool, "SELECT version FROM "+s+".chatstore_schema"); n != 1 {
		t.Fatalf("version %d, want 1", n)
	}
	if n := queryInt(t, pool, "SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename = 'idempotency_keys'", schema); n != 0 {
		t.Fatalf("version 1 has the keys table")
	}

	st := keyStore(t, pool, schema)
	if n := queryInt(t, pool, "SELECT version FROM "+s+".chatstore_schema"); n != pgstore.SchemaVersion {
		t.Errorf("version %d after opening, want %d", n, pgstore.SchemaVersion)
	}
	msgs, err := st.RetrieveLast(t.Context(), "h", chatstore.All)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("after the migration: %d messages, %v", len(msgs), err)
	}
	// Version 3 dropped the open round's size from the history's row.
	if n := queryInt(t, pool, "SELECT count(*) FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'histories' AND column_name = 'open'", schema); n != 0 {
		t.Errorf("histories.open is still there")
	}
	if n, replayed := mustKeyed(t, st, "h", "k", chat.User("x")); n != 1 || replayed {
		t.Errorf("keyed write: n=%d replayed=%v", n, replayed)
	}
	if n, replayed := mustKeyed(t, st, "h", "k", chat.User("x")); n != 1 || !replayed {
		t.Errorf("its retry: n=%d replayed=%v", n, replayed)
	}
	if n, err := st.Count(t.Context(), "h"); err != nil || n != 3 {
		t.Errorf("count %d, %v; want 3", n, err)
	}
	// Opening again finds nothing to do.
	if _, err := pgstore.New(t.Context(), pool, &pgstore.Options{Schema: schema}); err != nil {
		t.Errorf("reopening: %v", err)
	}
}

// oldWrite stores messages (kind 0, then 1 for the last) as the code of
// schema versions 1 to 3 did: a history's row counting them, ids
// generated.
func oldWrite(t *testing.T, pool *pgxpool.Pool, schema, id string, bodies ...string) {
	t.Helper()
	if _, err := pool.Exec(t.Context(), "INSERT INTO "+schema+".histories (name, count, rounds, created_at, updated_at) "+
		"VALUES ($1, $2, 1, '2026-01-02 03:04:05.678+00', '2026-02-03 04:05:06.789+00')", id, len(bodies)); err != nil {
		t.Fatal(err)
	}
	for i, b := range bodies {
		kind := 0
		if i == len(bodies)-1 {
			kind = 1
		}
		if _, err := pool.Exec(t.Context(), "INSERT INTO "+schema+".messages (hid, seq, kind, body) SELECT hid, $2, $3, $4 FROM "+schema+".histories WHERE name = $1", id, i, kind, b); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMigrationFromVersion3: the schema of the code before driver.Editor,
// with a history holding messages and the empty row a write of nothing
// left, migrates to version 4: the history exists with its times (to the
// millisecond), its messages have no time, its counter is its count, and
// it can be edited and written; the empty row is no history.
func TestMigrationFromVersion3(t *testing.T) {
	pool := testPool(t)
	schema := freshSchema(t, pool)
	s := pgx.Identifier{schema}.Sanitize()
	if _, err := pgstore.NewAtVersion(t.Context(), pool, &pgstore.Options{Schema: schema}, 3); err != nil {
		t.Fatal(err)
	}
	oldWrite(t, pool, s, "h", `{"role":"user","content":[{"text":"0"}],"meta":{}}`, `{"role":"user","content":[{"text":"1"}],"meta":{}}`, `{"role":"assistant","content":[{"text":"2"}],"meta":{}}`)
	if _, err := pool.Exec(t.Context(), "INSERT INTO "+s+".histories (name) VALUES ('empty')"); err != nil {
		t.Fatal(err)
	}
	st := keyStore(t, pool, schema)
	info, ok, err := st.Info(t.Context(), "h")
	if err != nil || !ok || info.Count != 3 || info.CreatedAt.UnixMilli() != time.Date(2026, 1, 2, 3, 4, 5, 678e6, time.UTC).UnixMilli() ||
		info.UpdatedAt.UnixMilli() != time.Date(2026, 2, 3, 4, 5, 6, 789e6, time.UTC).UnixMilli() {
		t.Fatalf("old history: %+v %v %v", info, ok, err)
	}
	if _, ok, _ := st.Info(t.Context(), "empty"); ok {
		t.Error("an empty row of version 3 is a history")
	}
	stored, err := st.ReadStored(t.Context(), "h", chatstore.ReadOptions{LastK: chatstore.All})
	if err != nil || len(stored) != 3 || !stored[0].CreatedAt.IsZero() {
		t.Fatalf("old messages: %+v %v", stored, err)
	}
	if err := st.DeleteMessage(t.Context(), "h", "2"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Write(t.Context(), "h", []chat.Message{chat.Assistant("3")}); err != nil {
		t.Fatal(err)
	}
	msgs, err := st.RetrieveLast(t.Context(), "h", chatstore.All)
	if err != nil || len(msgs) != 3 || msgs[2].Meta[chatstore.MessageIDKey] != "3" {
		t.Errorf("after a delete and a write: %v %v", msgs, err)
	}
	page, err := st.List(t.Context(), chatstore.ListOptions{Order: chatstore.ByUpdated})
	if err != nil || len(page.Histories) != 1 || page.Histories[0].ID != "h" {
		t.Errorf("listing: %+v %v", page, err)
	}
}
