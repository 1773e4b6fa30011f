package sqlitestore

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/driver"
)

// TestMigrateToVersion8: a history written at schema version 7, before
// expiry, keeps its messages and metadata and has no expiry after the
// migration, whatever the default TTL, until its next change.
func TestMigrateToVersion8(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "v7.db")
	db := rawDB(t, path)
	if err := migrate(ctx, db, 7, Options{}); err != nil {
		t.Fatal(err)
	}
	body, _ := chat.User("written by version 7").MarshalJSON()
	for _, q := range []string{
		`INSERT INTO histories (hid, name, count, next_seq, caller_ids, created_at, updated_at) VALUES (3, 'old', 2, 2, 0, 1000, 2000)`,
		fmt.Sprintf(`INSERT INTO messages (hid, seq, kind, message_id, body, created_at) VALUES (3, 0, 0, NULL, '%s', 1000)`, body),
		`INSERT INTO messages (hid, seq, kind, message_id, body, created_at) VALUES (3, 1, 1, NULL, '{"role":"assistant","meta":{},"name":null,"content":[{"text":"ok"}]}', 2000)`,
		`INSERT INTO metadata (hid, key, value) VALUES (3, 'user_id', 'u-1')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	s, err := Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v := pragmaInt(t, s.readers, "user_version"); v != schemaVersion {
		t.Errorf("user_version %d", v)
	}
	s.Policy().SetTTL("", 1000)
	info, ok, err := s.Info(ctx, "old")
	if err != nil || !ok || info.Count != 2 || info.Metadata["user_id"] != "u-1" || info.ExpiresAt != 0 || info.Expiry != (driver.Expiry{}) {
		t.Fatalf("after the migration: %+v, %v, %v", info, ok, err)
	}
	if msgs, err := s.Range(ctx, "old", 0, 10); err != nil || len(msgs) != 2 {
		t.Fatalf("messages: %d, %v", len(msgs), err)
	}
	if got, err := s.Sweep(ctx, 1<<62, 100); err != nil || got != (driver.Swept{}) {
		t.Errorf("a sweep in the far future removed %+v, %v", got, err)
	}
	// Its next change gives it the default.
	v := "u-2"
	info, err = s.SetMetadata(ctx, "old", map[string]*string{"user_id": &v}, 10, 5000)
	if err != nil || info.ExpiresAt != 6000 {
		t.Errorf("after a change at 5000 with a default TTL of 1000: %+v, %v", info, err)
	}
	var plan string
	if err := s.readers.QueryRow(`SELECT sql FROM sqlite_schema WHERE name = 'histories_by_expiry'`).Scan(&plan); err != nil {
		t.Errorf("the index on expires_at: %v", err)
	}
}

// TestSweepAfterRenewalInOneTransaction: a write that renews a history and
// a sweep that would have removed it before, in one transaction of the
// commit loop (group commit): the sweep sees the renewal, which has not
// reached the history's row yet when it runs, and removes nothing.
func TestSweepAfterRenewalInOneTransaction(t *testing.T) {
	ctx := t.Context()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "group.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Policy().SetTTL("", 1000)
	var now atomic.Int64
	now.Store(1000)
	s.Policy().SetClock(now.Load)
	rec := func(at int64) []driver.Record {
		body, _ := chat.User(fmt.Sprint("at ", at)).MarshalJSON()
		return []driver.Record{{JSON: body, Kind: driver.Joins, CreatedAt: at}}
	}
	if _, err := s.Write(ctx, "h", rec(1000)); err != nil { // expires at 2000
		t.Fatal(err)
	}
	now.Store(1500)
	var swept driver.Swept
	group := []*request{
		{ctx: ctx, fn: func(t *txn) error { _, err := t.write("h", rec(1500)); return err }}, // to 2500
		{ctx: ctx, fn: func(t *txn) (err error) { swept, err = t.sweep(2200, 10); return err }},
	}
	s.txMu.Lock()
	s.commitGroup(group)
	s.txMu.Unlock()
	for _, r := range group {
		if r.err != nil {
			t.Fatal(r.err)
		}
	}
	now.Store(2200)
	if n, err := s.Count(ctx, "h"); err != nil || n != 2 || swept != (driver.Swept{}) {
		t.Errorf("h holds %d messages (%v), the sweep removed %+v: want 2 and nothing", n, err, swept)
	}
	// And a sweep after it expires again removes it, with both messages.
	if swept, err = s.Sweep(context.Background(), 2500, 10); err != nil || swept != (driver.Swept{Histories: 1, Messages: 2}) {
		t.Errorf("sweep at 2500: %+v, %v", swept, err)
	}
}
