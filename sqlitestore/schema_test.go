package sqlitestore

import (
	"database/sql"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/driver"
)

// rawDB opens the file at path with database/sql, as another program
// would, until the test ends.
func rawDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func pragmaInt(t *testing.T, db interface {
	QueryRow(string, ...any) *sql.Row
}, name string) int {
	t.Helper()
	var v int
	if err := db.QueryRow("PRAGMA " + name).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSchemaNewFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.db")
	s, err := Open(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v := pragmaInt(t, s.readers, "user_version"); v != schemaVersion {
		t.Errorf("user_version = %d, want %d", v, schemaVersion)
	}
	if v := pragmaInt(t, s.readers, "application_id"); v != applicationID {
		t.Errorf("application_id = %#x", v)
	}
	var mode string
	if err := s.readers.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v", mode, err)
	}
	if v := pragmaInt(t, s.readers, "foreign_keys"); v != 1 {
		t.Errorf("foreign_keys = %d", v)
	}
	if v := pragmaInt(t, s.readers, "synchronous"); v != 1 {
		t.Errorf("synchronous = %d, want 1 (NORMAL) by default", v)
	}
	if v := pragmaInt(t, s.readers, "busy_timeout"); v != 5000 {
		t.Errorf("busy_timeout = %d", v)
	}
	for _, db := range []*sql.DB{s.readers, s.writer} {
		if v := pragmaInt(t, db, "secure_delete"); v != 1 {
			t.Errorf("secure_delete = %d, want 1 (on) by default", v)
		}
	}
	// Reopening changes nothing.
	s2, err := Open(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	s2.Close()
}

func TestSynchronousFull(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "full.db"), &Options{Synchronous: "full", BusyTimeout: 1500 * 1e6})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v := pragmaInt(t, s.readers, "synchronous"); v != 2 {
		t.Errorf("synchronous = %d, want 2 (FULL)", v)
	}
	if v := pragmaInt(t, s.readers, "busy_timeout"); v != 1500 {
		t.Errorf("busy_timeout = %d", v)
	}
	if _, err := Open(t.Context(), filepath.Join(t.TempDir(), "x.db"), &Options{Synchronous: "extra"}); !errors.Is(err, chatstore.ErrInvalidOptions) {
		t.Errorf("synchronous=extra: %v", err)
	}
}

// TestMigrateFromVersion1 writes a history in a file at schema version 1, as
// the previous release left it, and opens it with this one.
func TestMigrateFromVersion1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v1.db")
	db := rawDB(t, path)
	if err := migrate(t.Context(), db, 1, Options{}); err != nil {
		t.Fatal(err)
	}
	body, _ := chat.User("written by version 1").MarshalJSON()
	for _, q := range []string{
		`INSERT INTO histories (hid, name) VALUES (7, 'old')`,
		fmt.Sprintf(`INSERT INTO messages (hid, seq, round, own_round, message_id, body, rounds, open, open_start, caller_ids) VALUES (7, 0, 0, 0, NULL, '%s', 1, 0, 0, 0)`, body),
		`INSERT INTO messages (hid, seq, round, own_round, message_id, body, rounds, open, open_start, caller_ids) VALUES (7, 1, 0, 0, NULL, '{"role":"assistant","meta":{},"name":null,"content":[{"text":"ok"}]}', 1, 0, 0, 0)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if v := pragmaInt(t, db, "user_version"); v != 1 {
		t.Fatalf("user_version = %d", v)
	}
	db.Close()

	st, err := chatstore.Open(t.Context(), "sqlite://"+filepath.ToSlash(path), nil)
	if err != nil {
		t.Fatalf("opening a version 1 file: %v", err)
	}
	defer st.Close()
	msgs, err := st.RetrieveLast(t.Context(), "old", chatstore.All)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("after migration: %v %v", msgs, err)
	}
	if text, _ := msgs[0].Text(); text != "written by version 1" {
		t.Errorf("message 0 = %q", text)
	}
	if _, err := st.Write(t.Context(), "old", []chat.Message{chat.User("written by version 2")}); err != nil {
		t.Fatal(err)
	}
	db = rawDB(t, path)
	if v := pragmaInt(t, db, "user_version"); v != schemaVersion {
		t.Errorf("user_version = %d after migration, want %d", v, schemaVersion)
	}
	// The column version 2 added exists: 0 for histories created before,
	// until version 5 gave them the migration's time.
	var created int64
	if err := db.QueryRow("SELECT created_at FROM histories WHERE name = 'old'").Scan(&created); err != nil || created == 0 {
		t.Errorf("created_at = %d, %v", created, err)
	}
	if _, err := st.Write(t.Context(), "new", []chat.Message{chat.User("x")}); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow("SELECT created_at FROM histories WHERE name = 'new'").Scan(&created); err != nil || created == 0 {
		t.Errorf("created_at of a new history = %d, %v", created, err)
	}
}

func TestRefuseNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "future.db")
	s, err := Open(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db := rawDB(t, path)
	if _, err := db.Exec(fmt.Sprintf("PRAGMA user_version = %d", schemaVersion+5)); err != nil {
		t.Fatal(err)
	}
	_, err = Open(t.Context(), path, nil)
	if !errors.Is(err, chatstore.ErrIncompatibleSchema) {
		t.Fatalf("err = %v, want ErrIncompatibleSchema", err)
	}
	if v := pragmaInt(t, db, "user_version"); v != schemaVersion+5 {
		t.Errorf("refusing changed the file: user_version %d", v)
	}
}

func TestRefuseForeignDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "other.db")
	db := rawDB(t, path)
	if _, err := db.Exec("CREATE TABLE notes (x TEXT); INSERT INTO notes VALUES ('keep me')"); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(t.Context(), path, nil); !errors.Is(err, chatstore.ErrIncompatibleSchema) {
		t.Fatalf("err = %v, want ErrIncompatibleSchema", err)
	}
	var n int
	if err := db.QueryRow("SELECT count(*) FROM sqlite_schema WHERE name = 'histories'").Scan(&n); err != nil || n != 0 {
		t.Errorf("refusing created tables: %d %v", n, err)
	}
	// A file that is not SQLite at all.
	junk := filepath.Join(t.TempDir(), "junk.db")
	if err := os.WriteFile(junk, []byte("this is not a database, just some text that is long enough......................................................"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(t.Context(), junk, nil); err == nil {
		t.Errorf("opened a text file as a database")
	}
}

// Several openers of one new file at once (as several processes starting
// together would) all succeed and migrate it once.
func TestConcurrentFirstOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "race.db")
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Go(func() {
			s, err := Open(t.Context(), path, nil)
			if err == nil {
				_, err = s.Count(t.Context(), "x")
				s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("opener %d: %v", i, err)
		}
	}
}

// TestMigrateToVersion4: histories as version 3 stored them (round numbers,
// pending rounds as math.MaxInt64, system messages with own_round) read the
// same after the migration to kinds, for every last_k, and their rows hold
// the kinds the store gives such messages now.
func TestMigrateToVersion4(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v3.db")
	db := rawDB(t, path)
	if err := migrate(t.Context(), db, 3, Options{}); err != nil {
		t.Fatal(err)
	}
	bodies := map[driver.Kind]string{
		driver.Joins:  `{"role":"user","meta":{},"name":null,"content":[{"text":"q"}]}`,
		driver.Closes: `{"role":"assistant","meta":{},"name":null,"content":[{"text":"a"}]}`,
		driver.Alone:  `{"role":"system","meta":{},"name":null,"content":[{"text":"s"}]}`,
	}
	histories := map[string][]driver.Kind{
		"open":   {driver.Joins, driver.Closes, driver.Joins, driver.Alone, driver.Joins, driver.Closes, driver.Joins, driver.Alone, driver.Joins},
		"closed": {driver.Alone, driver.Joins, driver.Joins, driver.Closes, driver.Closes, driver.Alone},
		"one":    {driver.Joins},
	}
	hid := 0
	for name, kinds := range histories {
		hid++
		if _, err := db.Exec(`INSERT INTO histories (hid, name) VALUES (?, ?)`, hid, name); err != nil {
			t.Fatal(err)
		}
		// Rounds as version 3 numbered them: in the order they closed.
		const pending = math.MaxInt64
		rounds := make([]int64, len(kinds))
		var closed, open, openStart int64
		for i, k := range kinds {
			switch k {
			case driver.Alone:
				rounds[i] = closed
				closed++
			case driver.Closes:
				for j := range i {
					if rounds[j] == pending {
						rounds[j] = closed
					}
				}
				rounds[i] = closed
				closed++
				open = 0
			default:
				if open == 0 {
					openStart = int64(i)
				}
				rounds[i] = pending
				open++
			}
			if _, err := db.Exec(`INSERT INTO messages (hid, seq, round, own_round, message_id, body, rounds, open, open_start, caller_ids) VALUES (?, ?, ?, ?, NULL, ?, ?, ?, ?, 0)`,
				hid, i, rounds[i], k == driver.Alone, bodies[k], closed, open, openStart); err != nil {
				t.Fatal(err)
			}
		}
	}
	db.Close()

	st, err := chatstore.Open(t.Context(), "sqlite://"+filepath.ToSlash(path)+"?skip_system_messages=false", nil)
	if err != nil {
		t.Fatalf("opening a version 3 file: %v", err)
	}
	defer st.Close()
	db = rawDB(t, path)
	for name, kinds := range histories {
		rows, err := db.Query(`SELECT m.kind FROM messages m JOIN histories h ON h.hid = m.hid WHERE h.name = ? ORDER BY m.seq`, name)
		if err != nil {
			t.Fatal(err)
		}
		var got []driver.Kind
		for rows.Next() {
			var k driver.Kind
			if err := rows.Scan(&k); err != nil {
				t.Fatal(err)
			}
			got = append(got, k)
		}
		rows.Close()
		if !slices.Equal(got, kinds) {
			t.Errorf("%s: kinds after migration %v, want %v", name, got, kinds)
		}
		all := make([]driver.Message, len(kinds))
		for i, k := range kinds {
			all[i] = driver.Message{Pos: int64(i), Kind: k}
		}
		for _, k := range []int{1, 2, 3, 4, 5, chatstore.All} {
			want, _ := driver.LastRounds(k, 0, driver.Backwards(all))
			msgs, err := st.RetrieveLast(t.Context(), name, k)
			if err != nil {
				t.Fatal(err)
			}
			var gotIDs, wantIDs []string
			for _, m := range msgs {
				gotIDs = append(gotIDs, m.Meta[chatstore.MessageIDKey].(string))
			}
			for _, m := range want {
				wantIDs = append(wantIDs, strconv.FormatInt(m.Pos, 10))
			}
			if !slices.Equal(gotIDs, wantIDs) {
				t.Errorf("%s, last_k %d: %v, want %v", name, k, gotIDs, wantIDs)
			}
		}
	}
	// The dropped columns are gone.
	if _, err := db.Exec(`SELECT round FROM messages`); err == nil {
		t.Error("column round is still there")
	}
}

// TestMigrateToVersion5 writes histories as version 4 left them (the
// bookkeeping on the newest message row, a history row without messages
// left by a write that stored nothing), opens the file with this version,
// and checks counts, reads, ids, and that the editing operations work on
// the old histories.
func TestMigrateToVersion5(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v4.db")
	db := rawDB(t, path)
	if err := migrate(t.Context(), db, 4, Options{}); err != nil {
		t.Fatal(err)
	}
	user := func(text string) string { b, _ := chat.User(text).MarshalJSON(); return string(b) }
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO histories (hid, name, created_at) VALUES (1, 'plain', 1000), (2, 'named', 0), (3, 'empty', 3000)`, nil},
		{`INSERT INTO messages (hid, seq, kind, message_id, body, caller_ids) VALUES
			(1, 0, 0, NULL, ?1, 0), (1, 1, 1, NULL, ?2, 0), (1, 2, 0, NULL, ?3, 0),
			(2, 0, 0, NULL, ?1, 0), (2, 1, 0, 'q1', ?2, 1), (2, 2, 1, NULL, ?3, 1)`,
			[]any{user("m0"), user("m1"), user("m2")}},
	} {
		if _, err := db.Exec(q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	before := time.Now().UnixMilli()
	st, err := chatstore.Open(t.Context(), "sqlite://"+filepath.ToSlash(path), nil)
	if err != nil {
		t.Fatalf("opening a version 4 file: %v", err)
	}
	defer st.Close()
	ctx := t.Context()
	idsOf := func(h string) []string {
		t.Helper()
		msgs, err := st.ReadStored(ctx, h, chatstore.ReadOptions{LastK: chatstore.All})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range msgs {
			ids = append(ids, m.Message.Meta[chatstore.MessageIDKey].(string))
			if text, _ := m.Message.Text(); strings.HasPrefix(text, "m") != m.CreatedAt.IsZero() {
				t.Errorf("%s: message %q has time %v: only those written before version 5 have none", h, text, m.CreatedAt)
			}
		}
		return ids
	}
	if got := idsOf("plain"); !slices.Equal(got, []string{"0", "1", "2"}) {
		t.Errorf("plain: %v", got)
	}
	if got := idsOf("named"); !slices.Equal(got, []string{"0", "q1", "2"}) {
		t.Errorf("named: %v", got)
	}
	info, ok, err := st.Info(ctx, "plain")
	if err != nil || !ok || info.Count != 3 || info.CreatedAt.UnixMilli() != 1000 || info.UpdatedAt.UnixMilli() < before || info.Metadata == nil {
		t.Errorf("plain's info: %+v %v %v", info, ok, err)
	}
	if info, ok, err := st.Info(ctx, "named"); err != nil || !ok || info.Count != 3 || info.CreatedAt.UnixMilli() < before {
		t.Errorf("named's info (no created_at before): %+v %v %v", info, ok, err)
	}
	if _, ok, _ := st.Info(ctx, "empty"); ok {
		t.Error("a history row without messages, invisible in version 4, exists")
	}
	page, err := st.List(ctx, chatstore.ListOptions{})
	if err != nil || len(page.Histories) != 2 || page.Histories[0].ID != "named" || page.Histories[1].ID != "plain" {
		t.Errorf("list: %+v %v", page, err)
	}
	if m, err := st.Message(ctx, "named", "q1"); err != nil {
		t.Errorf("Message q1: %v", err)
	} else if text, _ := m.Message.Text(); text != "m1" {
		t.Errorf("Message q1 = %q", text)
	}
	// Writes continue the ids; a caller's id already held is skipped.
	write := func(h string, msgs ...chat.Message) int {
		t.Helper()
		n, err := st.Write(ctx, h, msgs)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	q1 := chat.User("again")
	q1.Meta = map[string]any{chatstore.MessageIDKey: "q1"}
	if n := write("named", q1, chat.Assistant("a")); n != 1 {
		t.Errorf("wrote %d to named, want 1 (q1 is held)", n)
	}
	write("plain", chat.Assistant("a"))
	if got := idsOf("plain"); !slices.Equal(got, []string{"0", "1", "2", "3"}) {
		t.Errorf("plain after a write: %v", got)
	}
	if got := idsOf("named"); !slices.Equal(got, []string{"0", "q1", "2", "3"}) {
		t.Errorf("named after a write: %v", got)
	}
	// The editing operations on the old histories.
	if err := st.DeleteMessage(ctx, "plain", "3"); err != nil {
		t.Fatal(err)
	}
	write("plain", chat.Assistant("b"))
	if got := idsOf("plain"); !slices.Equal(got, []string{"0", "1", "2", "4"}) {
		t.Errorf("plain after delete and write: %v", got)
	}
	if n, err := st.Truncate(ctx, "named", "q1"); err != nil || n != 3 {
		t.Errorf("truncate named from q1: %d %v", n, err)
	}
	if n := write("named", q1); n != 1 {
		t.Errorf("writing q1 again after truncating it wrote %d", n)
	}
	if got := idsOf("named"); !slices.Equal(got, []string{"0", "q1"}) {
		t.Errorf("named after truncate and write: %v", got)
	}
	if _, err := st.SetMetadata(ctx, "plain", map[string]*string{"user_id": ptr("u-1")}); err != nil {
		t.Fatal(err)
	}
	if info, err := st.Fork(ctx, "plain", "fork", "1"); err != nil || info.Count != 2 || info.Metadata["user_id"] != "u-1" {
		t.Errorf("fork: %+v %v", info, err)
	}
	write("fork", chat.User("c"))
	if got := idsOf("fork"); !slices.Equal(got, []string{"0", "1", "5"}) {
		t.Errorf("fork after a write: %v", got)
	}
	page, err = st.List(ctx, chatstore.ListOptions{Order: chatstore.ByUpdated, Metadata: map[string]string{"user_id": "u-1"}})
	if err != nil || len(page.Histories) != 2 || page.Histories[0].ID != "fork" || page.Histories[1].ID != "plain" {
		t.Errorf("list by user: %+v %v", page, err)
	}
	for h, want := range map[string]int{"plain": 4, "named": 2, "fork": 3} {
		if n, err := st.Count(ctx, h); err != nil || n != want {
			t.Errorf("count of %s: %d %v, want %d", h, n, err, want)
		}
	}
	db = rawDB(t, path)
	if _, err := db.Exec(`SELECT caller_ids FROM messages`); err == nil {
		t.Error("messages.caller_ids is still there")
	}
	var count, next int64
	if err := db.QueryRow(`SELECT count, next_seq FROM histories WHERE name = 'plain'`).Scan(&count, &next); err != nil || count != 4 || next != 5 {
		t.Errorf("plain's row: count %d, next_seq %d, %v", count, next, err)
	}
}

func ptr(s string) *string { return &s }
