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
	"sync"
	"testing"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/driver"
)

func rawDB(t *testing.T, path string) *sql.DB {
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
	if err := migrate(t.Context(), db, 1); err != nil {
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
	if err := migrate(t.Context(), db, 3); err != nil {
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
