package sqlitestore

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/driver"
	"github.com/chatstore/chatstore/search"
)

func hasIndex(t *testing.T, path string) bool {
	t.Helper()
	db := rawDB(t, path)
	defer db.Close()
	var has bool
	if err := db.QueryRow(hasIndexSQL).Scan(&has); err != nil {
		t.Fatal(err)
	}
	return has
}

func openStore(t *testing.T, path string, opts *Options) *chatstore.Store {
	t.Helper()
	drv, err := Open(t.Context(), path, opts)
	if err != nil {
		t.Fatal(err)
	}
	st, err := chatstore.New(drv, &chatstore.Options{KeepSystemMessages: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// hits counts the hits of a query, reading every page.
func hits(t *testing.T, st *chatstore.Store, query string) int {
	t.Helper()
	n := 0
	o := chatstore.SearchOptions{Query: query, Limit: chatstore.MaxSearchLimit}
	for {
		page, err := st.Search(t.Context(), o)
		if err != nil {
			t.Fatalf("Search(%q): %v", query, err)
		}
		n += len(page.Hits)
		if o.Cursor = page.NextCursor; o.Cursor == "" {
			return n
		}
	}
}

// TestMigrateToVersion6 opens a version 5 file of more messages than one
// batch of indexMessages, across histories, with messages that give the
// index nothing or do not decode: every message is indexed on opening,
// with progress in the log. Opening with search=false then drops the
// index, and with search on builds it again, messages written meanwhile
// included.
func TestMigrateToVersion6(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v5.db")
	db := rawDB(t, path)
	if err := migrate(t.Context(), db, 5, Options{}); err != nil {
		t.Fatal(err)
	}
	const perHistory = 1200 // > reindexBatch, and batches end inside histories
	body := func(m chat.Message) string { b, _ := m.MarshalJSON(); return string(b) }
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for h := 1; h <= 3; h++ {
		if _, err := tx.Exec(`INSERT INTO histories (hid, name, count, next_seq, created_at, updated_at) VALUES (?, ?, ?, ?, 1, 1)`,
			h, fmt.Sprint("h", h), perHistory, perHistory); err != nil {
			t.Fatal(err)
		}
		for i := range perHistory {
			m := chat.User(fmt.Sprintf("message number%d about topic%d", i, i%7))
			switch {
			case h == 2 && i == 5:
				m = chat.User("")
				m.Content = []chat.Part{chat.Image{Base64Image: "aGVsbG8=", MimeType: "image/png"}}
			case h == 3 && i == 5:
				m = chat.Assistant("visible answer")
				m.Content = append(m.Content, chat.Reasoning{ReasoningText: "hidden thought"})
			}
			b := body(m)
			if h == 3 && i == 6 {
				b = `{"role": "user", "content": 42}`
			}
			if _, err := tx.Exec(`INSERT INTO messages (hid, seq, kind, body, created_at) VALUES (?, ?, 1, ?, 1)`, h, i, b); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	db.Close()

	defer func(n int64) { progressEvery = n }(progressEvery)
	progressEvery = 1000
	var logs bytes.Buffer
	st := openStore(t, path, &Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	for q, want := range map[string]int{
		"message":                  3*perHistory - 3, // less the image, the answer, the body that does not decode
		"number1100":               3,
		"topic3":                   3 * (perHistory / 7),
		"visible":                  1,
		"hidden":                   0,
		`"about topic6" number999`: 0,
	} {
		if got := hits(t, st, q); got != want {
			t.Errorf("%q: %d hits, want %d", q, got, want)
		}
	}
	page, err := st.Search(t.Context(), chatstore.SearchOptions{Query: "hidden", Reasoning: true})
	if err != nil || len(page.Hits) != 1 || page.Hits[0].HistoryID != "h3" || page.Hits[0].MessageID != "5" {
		t.Errorf("reasoning: %+v %v", page, err)
	}
	log := logs.String()
	for _, want := range []string{"indexing messages for search", "messages=3600", "done=1000 of=3600", "done=3000 of=3600", "indexed messages for search", "left out of the search index"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log does not say %q:\n%s", want, log)
		}
	}
	if v := pragmaInt(t, rawDB(t, path), "user_version"); v != schemaVersion {
		t.Errorf("user_version %d", v)
	}
	st.Close()

	// search=false: no index in the file, Search refused, the rest works.
	st = openStore(t, path, &Options{NoSearch: true})
	if hasIndex(t, path) {
		t.Error("search=false kept the index")
	}
	if _, err := st.Search(t.Context(), chatstore.SearchOptions{Query: "message"}); !errors.Is(err, chatstore.ErrNotSupported) {
		t.Errorf("Search with search=false: %v", err)
	}
	if _, err := st.Write(t.Context(), "h1", []chat.Message{chat.User("written unindexed")}); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteMessage(t.Context(), "h2", "0"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Fork(t.Context(), "h3", "h4", "9"); err != nil {
		t.Fatal(err)
	}
	st.Close()

	// Search on again: the index is built from what the file holds now.
	logs.Reset()
	st = openStore(t, path, &Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	for q, want := range map[string]int{
		"unindexed": 1,
		"message":   3*perHistory - 3 - 1 + 8, // less h2/0, and the fork's ten but its answer and its bad body
		"visible":   2,
	} {
		if got := hits(t, st, q); got != want {
			t.Errorf("rebuilt, %q: %d hits, want %d", q, got, want)
		}
	}
	if !strings.Contains(logs.String(), "messages=3610") {
		t.Errorf("rebuilding: %s", logs.String())
	}
}

// TestSearchSettingChanged: two stores on one file with different search
// settings. Opening with search=false drops the index, so the store that
// keeps it refuses to write until reopened; opening with search on builds
// it again, so the store with search=false refuses in turn.
func TestSearchSettingChanged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chat.db")
	on := openStore(t, path, nil)
	write := func(st *chatstore.Store) error {
		_, err := st.Write(t.Context(), "h", []chat.Message{chat.User("hello")})
		return err
	}
	if err := write(on); err != nil {
		t.Fatal(err)
	}
	off := openStore(t, path, &Options{NoSearch: true})
	if err := write(off); err != nil {
		t.Fatal(err)
	}
	if err := write(on); !errors.Is(err, chatstore.ErrIncompatibleSchema) || !strings.Contains(err.Error(), "search=false") {
		t.Errorf("a write with search on after another opened with search=false: %v", err)
	}
	on2 := openStore(t, path, nil)
	if err := write(off); !errors.Is(err, chatstore.ErrIncompatibleSchema) {
		t.Errorf("a write with search=false after another opened with search on: %v", err)
	}
	if err := write(on2); err != nil {
		t.Fatal(err)
	}
	if got := hits(t, on2, "hello"); got != 3 {
		t.Errorf("%d hits, want 3", got)
	}
}

func TestMatchExpr(t *testing.T) {
	for in, want := range map[string]string{
		`refund`:                 `text : (("refund"))`,
		`refund "card declined"`: `text : (("refund" AND "card declined"))`,
		`decl* -paypal -"a bc"*`: `text : (("decl"*) NOT "paypal" NOT "a bc"*)`,
		`東京`:                     `text : (("東 京"))`,
	} {
		q, err := search.Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := matchExpr(q, false); got != want {
			t.Errorf("matchExpr(%q) = %s, want %s", in, got, want)
		}
	}
	q, _ := search.Parse("plan -later")
	if got, want := matchExpr(q, true), `text : (("plan") NOT "later") OR reasoning : (("plan") NOT "later")`; got != want {
		t.Errorf("with reasoning: %s", got)
	}
}

func TestDocKey(t *testing.T) {
	if k, err := docKey(3, 7); err != nil || k != 3<<32+7 {
		t.Errorf("docKey(3, 7) = %d %v", k, err)
	}
	for _, c := range [][2]int64{{1 << 31, 0}, {1, 1 << 32}, {-1, 0}} {
		if _, err := docKey(c[0], c[1]); err == nil {
			t.Errorf("docKey(%d, %d) has a key", c[0], c[1])
		}
	}
}

// TestSearchOneGroup runs writes and removals in one transaction, as group
// commit does: the rows a write leaves for the end of the transaction are
// in the index before a later request removes their messages.
func TestSearchOneGroup(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "chat.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	write := func(history, text string) *request {
		m := chat.User(text)
		body, err := m.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		recs := []driver.Record{{JSON: body, Kind: driver.Joins, CreatedAt: 1, Role: "user", Doc: search.Document(m)}}
		return &request{ctx: t.Context(), fn: func(t *txn) error {
			_, err := t.write(history, recs)
			return err
		}}
	}
	edit := func(fn func(t *txn) error) *request { return &request{ctx: t.Context(), fn: fn} }
	s.txMu.Lock() // as the commit loop holds it
	err = s.runTx([]*request{
		write("a", "apple one"),
		write("a", "apple two"),
		edit(func(t *txn) error { _, _, err := t.remove("a", "0", 2, s.stmts.deleteSeq); return err }),
		write("b", "apple three"),
		edit(func(t *txn) error {
			t.forget("b")
			_, err := t.stmt(s.stmts.deleteHistory).ExecContext(t.ctx, "b")
			return err
		}),
		write("c", "apple four"), // may take b's hid, and so b's keys
	})
	s.txMu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	q, _ := search.Parse("apple")
	hits, err := s.Search(t.Context(), driver.SearchQuery{Query: q, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range hits {
		got = append(got, h.HistoryID+"/"+h.ID)
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"a/1", "c/0"}) {
		t.Errorf("hits %v, want a/1 and c/0", got)
	}
	// Search reads the messages of the index's rows, and would not show
	// rows left behind: count them.
	var n int
	if err := s.readers.QueryRow(`SELECT count(*) FROM search_index WHERE search_index MATCH 'apple'`).Scan(&n); err != nil || n != 2 {
		t.Errorf("the index holds %d rows for apple, want 2 (%v)", n, err)
	}
}
