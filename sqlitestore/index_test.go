package sqlitestore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/driver"
	"github.com/chatstore/chatstore/memstore"
	"github.com/chatstore/chatstore/search"
)

// openBoth opens a Store on path, and a chatstore.Store over it, until
// the test ends.
func openBoth(t *testing.T, path string, o *Options) (*Store, *chatstore.Store) {
	t.Helper()
	s, err := Open(t.Context(), path, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	st, err := chatstore.New(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s, st
}

// idle are Options under which the background loop never indexes during a
// test: what is indexed, a search did (or the test, by catchUp).
func idle() *Options { return &Options{indexAfter: 1 << 60, indexEvery: time.Hour} }

// indexState is what the file says of the index: its rows matching word,
// and the rows of unindexed (hid → from_seq).
func indexState(t *testing.T, path, word string) (rows int, marked map[int64]int64) {
	t.Helper()
	db := rawDB(t, path)
	if err := db.QueryRow(`SELECT count(*) FROM search_index WHERE search_index MATCH ?`, word).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	r, err := db.Query(`SELECT hid, from_seq FROM unindexed`)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	marked = map[int64]int64{}
	for r.Next() {
		var hid, from int64
		if err := r.Scan(&hid, &from); err != nil {
			t.Fatal(err)
		}
		marked[hid] = from
	}
	return rows, marked
}

func users(texts ...string) []chat.Message {
	var msgs []chat.Message
	for _, s := range texts {
		msgs = append(msgs, chat.User(s))
	}
	return msgs
}

// TestIndexAfterWrites: a write marks its history unindexed from its first
// message, and adds nothing to the index; a search indexes what is marked
// first, so it finds every acknowledged write, and leaves nothing marked.
func TestIndexAfterWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chat.db")
	st := openStore(t, path, idle())
	ctx := t.Context()
	if _, err := st.Write(ctx, "a", users("kiwi one", "kiwi two")); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Write(ctx, "a", users("kiwi three")); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Write(ctx, "b", users("kiwi four")); err != nil {
		t.Fatal(err)
	}
	rows, marked := indexState(t, path, "kiwi")
	if rows != 0 || !maps2(marked, []int64{0, 0}) {
		t.Fatalf("after the writes: %d rows in the index, marked %v; want none, and both histories from 0", rows, marked)
	}
	if n := hits(t, st, "kiwi"); n != 4 {
		t.Errorf("search finds %d, want 4", n)
	}
	if rows, marked := indexState(t, path, "kiwi"); rows != 4 || len(marked) != 0 {
		t.Errorf("after the search: %d rows, marked %v; want 4 and none", rows, marked)
	}
	// The next write marks from its own position.
	if _, err := st.Write(ctx, "a", users("kiwi five")); err != nil {
		t.Fatal(err)
	}
	if _, marked := indexState(t, path, "kiwi"); !maps2(marked, []int64{3}) {
		t.Errorf("after a write of position 3: marked %v", marked)
	}
	if n := hits(t, st, "kiwi"); n != 5 {
		t.Errorf("search finds %d, want 5", n)
	}
	if rows, _ := indexState(t, path, "kiwi"); rows != 5 {
		t.Errorf("%d rows, want 5: a message indexed twice?", rows)
	}
}

// maps2 reports whether marked holds exactly the from_seqs want (of any
// histories).
func maps2(marked map[int64]int64, want []int64) bool {
	var got []int64
	for _, v := range marked {
		got = append(got, v)
	}
	slices.Sort(got)
	slices.Sort(want)
	return slices.Equal(got, want)
}

// TestIndexRemovedBeforeIndexing: messages and histories removed before
// they are indexed leave nothing in the index nor marked, and the rest is
// found.
func TestIndexRemovedBeforeIndexing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chat.db")
	st := openStore(t, path, idle())
	ctx := t.Context()
	if _, err := st.Write(ctx, "a", users("plum 0", "plum 1", "plum 2", "plum 3", "plum 4")); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Write(ctx, "gone", users("plum gone")); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteMessage(ctx, "a", "1"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Truncate(ctx, "a", "3"); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if _, marked := indexState(t, path, "plum"); len(marked) != 1 {
		t.Errorf("marked %v: want only a's row (the deleted history's went with it)", marked)
	}
	if n := hits(t, st, "plum"); n != 2 {
		t.Errorf("search finds %d, want 2 (plum 0, plum 2)", n)
	}
	if rows, marked := indexState(t, path, "plum"); rows != 2 || len(marked) != 0 {
		t.Errorf("%d rows, marked %v; want 2 and none", rows, marked)
	}
	var check string
	if err := rawDB(t, path).QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Errorf("integrity_check: %q %v", check, err)
	}
}

// TestIndexInBatches: catchUp stops at its budget in the middle of a
// history, marks where to go on, and indexAll goes on there until nothing
// is left, each batch a transaction.
func TestIndexInBatches(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chat.db")
	o := idle()
	o.indexBatch = 3
	s, st := openBoth(t, path, o)
	ctx := t.Context()
	for _, id := range []string{"a", "b", "c"} {
		var msgs []chat.Message
		for i := range 7 {
			msgs = append(msgs, chat.User(fmt.Sprintf("fig %s %d", id, i)))
		}
		if _, err := st.Write(ctx, id, msgs); err != nil {
			t.Fatal(err)
		}
	}
	// One batch: the first 3 of the first history.
	var next indexCursor
	var more bool
	err := s.submit(ctx, &request{ctx: ctx, fn: func(t *txn) error {
		var err error
		next, more, err = t.catchUp(indexCursor{}, 3)
		return err
	}})
	if err != nil {
		t.Fatal(err)
	}
	rows, marked := indexState(t, path, "fig")
	if rows != 3 || !more || !maps2(marked, []int64{3, 0, 0}) {
		t.Fatalf("after a batch of 3: %d rows, more %v, marked %v", rows, more, marked)
	}
	if _, ok := marked[next.after+1]; !ok {
		t.Errorf("next %d: want just before the history it did not finish (%v)", next.after, marked)
	}
	if err := s.indexAll(ctx); err != nil {
		t.Fatal(err)
	}
	if rows, marked := indexState(t, path, "fig"); rows != 21 || len(marked) != 0 {
		t.Errorf("after indexAll: %d rows, marked %v; want 21 and none", rows, marked)
	}
	if n := hits(t, st, "fig"); n != 21 {
		t.Errorf("search finds %d, want 21", n)
	}
}

// TestIndexOfAnotherProcess: a search indexes what another store on the
// file wrote and left unindexed, and what a store closed before indexing
// is indexed by the next to open the file.
func TestIndexOfAnotherProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chat.db")
	ctx := t.Context()
	writer := openStore(t, path, idle())
	reader := openStore(t, path, idle())
	if _, err := writer.Write(ctx, "a", users("pear by the writer")); err != nil {
		t.Fatal(err)
	}
	if n := hits(t, reader, "pear"); n != 1 {
		t.Errorf("the other store finds %d, want 1", n)
	}
	if _, err := writer.Write(ctx, "a", users("pear left unindexed")); err != nil {
		t.Fatal(err)
	}
	if err := writer.Close(); err != nil {
		t.Fatal(err)
	}
	if _, marked := indexState(t, path, "pear"); len(marked) != 1 {
		t.Fatalf("marked %v after the writer closed", marked)
	}
	// A store opened on it indexes it in the background at once.
	done := make(chan struct{}, 1)
	o := idle()
	o.indexEvery = time.Millisecond
	o.afterIndex = func(error) {
		select {
		case done <- struct{}{}:
		default:
		}
	}
	s, err := Open(ctx, path, o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	<-done
	if rows, marked := indexState(t, path, "pear"); rows != 2 || len(marked) != 0 {
		t.Errorf("after the background round: %d rows, marked %v; want 2 and none", rows, marked)
	}
}

// TestIndexInTheBackground: once a store has written indexAfter messages,
// its background loop indexes them without a search.
func TestIndexInTheBackground(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chat.db")
	o := idle()
	o.indexAfter = 5
	done := make(chan struct{}, 16)
	o.afterIndex = func(error) { done <- struct{}{} }
	_, st := openBoth(t, path, o)
	ctx := t.Context()
	for i := range 4 {
		if _, err := st.Write(ctx, "a", users(fmt.Sprint("grape ", i))); err != nil {
			t.Fatal(err)
		}
	}
	if _, marked := indexState(t, path, "grape"); len(marked) != 1 {
		t.Fatalf("marked %v after 4 writes", marked)
	}
	if _, err := st.Write(ctx, "b", users("grape 4")); err != nil {
		t.Fatal(err)
	}
	for {
		<-done
		if rows, marked := indexState(t, path, "grape"); rows == 5 && len(marked) == 0 {
			break
		}
	}
}

// TestIndexFork: a fork is marked unindexed from its first message, and
// its copies are found.
func TestIndexFork(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chat.db")
	st := openStore(t, path, idle())
	ctx := t.Context()
	if _, err := st.Write(ctx, "a", users("lime one", "lime two")); err != nil {
		t.Fatal(err)
	}
	if n := hits(t, st, "lime"); n != 2 {
		t.Fatalf("search finds %d, want 2", n)
	}
	if _, err := st.Fork(ctx, "a", "b", ""); err != nil {
		t.Fatal(err)
	}
	if _, marked := indexState(t, path, "lime"); !maps2(marked, []int64{0}) {
		t.Errorf("after the fork: marked %v, want the copy from 0", marked)
	}
	page, err := st.Search(ctx, chatstore.SearchOptions{Query: "lime", Prefix: "b"})
	if err != nil || len(page.Hits) != 2 {
		t.Errorf("the copy: %d hits, %v", len(page.Hits), err)
	}
}

// TestIndexSearchOff: opening the file with search=false drops the index
// and what was marked; opening it with search again fills the index from
// every message.
func TestIndexSearchOff(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chat.db")
	ctx := t.Context()
	st := openStore(t, path, idle())
	if _, err := st.Write(ctx, "a", users("date one")); err != nil {
		t.Fatal(err)
	}
	st.Close()
	off := openStore(t, path, &Options{NoSearch: true})
	if _, err := off.Write(ctx, "a", users("date two")); err != nil {
		t.Fatal(err)
	}
	off.Close()
	var marked int
	if err := rawDB(t, path).QueryRow(`SELECT count(*) FROM unindexed`).Scan(&marked); err != nil || marked != 0 {
		t.Errorf("search=false left %d marked (%v)", marked, err)
	}
	on := openStore(t, path, idle())
	if rows, marked := indexState(t, path, "date"); rows != 2 || len(marked) != 0 {
		t.Errorf("reopened with search: %d rows, marked %v", rows, marked)
	}
	if n := hits(t, on, "date"); n != 2 {
		t.Errorf("search finds %d, want 2", n)
	}
}

// TestIndexKeyedWrite: a keyed write is marked too, and its replay marks
// nothing more.
func TestIndexKeyedWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chat.db")
	s, err := Open(t.Context(), path, idle())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	body, _ := chat.User("melon").MarshalJSON()
	m := chat.User("melon")
	rec := []driver.Record{{JSON: body, Kind: driver.Joins, CreatedAt: 1, Role: "user", Doc: search.Document(m)}}
	for range 2 {
		if _, err := s.WriteKeyed(t.Context(), "a", driver.Key{Key: "k", Fingerprint: "f", TTL: time.Hour}, rec); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.toIndex.Load(); got != 1 { // the first write's
		t.Errorf("counted %d for the background loop, want 1", got)
	}
	q, _ := search.Parse("melon")
	hits, err := s.Search(t.Context(), driver.SearchQuery{Query: q, Limit: 10})
	if err != nil || len(hits) != 1 {
		t.Errorf("%d hits, %v", len(hits), err)
	}
}

// TestMigrateToVersion9: a file of version 8 indexed every write in it, so
// the migration marks nothing, and its messages are found.
func TestMigrateToVersion9(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "v8.db")
	db := rawDB(t, path)
	if err := migrate(ctx, db, 8, Options{}); err != nil {
		t.Fatal(err)
	}
	body, _ := chat.User("quince of version 8").MarshalJSON()
	for _, q := range []string{
		`INSERT INTO histories (hid, name, count, next_seq, created_at, updated_at) VALUES (3, 'old', 1, 1, 1000, 1000)`,
		fmt.Sprintf(`INSERT INTO messages (hid, seq, kind, body, created_at) VALUES (3, 0, 0, '%s', 1000)`, body),
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	// As version 8's write did, in its transaction.
	if _, _, err := indexMessages(ctx, db, nil); err != nil {
		t.Fatal(err)
	}
	db.Close()
	st := openStore(t, path, idle())
	if v := pragmaInt(t, rawDB(t, path), "user_version"); v != 9 {
		t.Errorf("user_version %d", v)
	}
	if rows, marked := indexState(t, path, "quince"); rows != 1 || len(marked) != 0 {
		t.Errorf("after the migration: %d rows, marked %v", rows, marked)
	}
	if n := hits(t, st, "quince"); n != 1 {
		t.Errorf("search finds %d, want 1", n)
	}
}

// TestSearchEndsWhileWritesGoOn: a search indexes what was marked when it
// began, not what writers add while it indexes: a writer that keeps
// adding to the history it is in the middle of, or keeps starting new
// histories, faster than a batch a transaction, must not keep it going.
// (The deadline only bounds the failure: indexing what was marked at the
// start takes a few transactions.)
func TestSearchEndsWhileWritesGoOn(t *testing.T) {
	for _, tc := range []struct {
		name    string
		history func(i int) string
	}{
		{"same history", func(int) string { return "a" }},
		{"new histories", func(i int) string { return fmt.Sprint("new-", i) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "chat.db")
			o := idle()
			o.indexBatch = 1
			_, st := openBoth(t, path, o)
			ctx := t.Context()
			if _, err := st.Write(ctx, "a", users("kiwi 0", "kiwi 1", "kiwi 2")); err != nil {
				t.Fatal(err)
			}
			stop := make(chan struct{})
			wrote := make(chan int)
			go func() {
				n := 0
				defer func() { wrote <- n }()
				for {
					select {
					case <-stop:
						return
					default:
					}
					if _, err := st.Write(ctx, tc.history(n), users("kiwi a", "kiwi b", "kiwi c")); err != nil {
						t.Error(err)
						return
					}
					n++
				}
			}()
			sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			page, err := st.Search(sctx, chatstore.SearchOptions{Query: "kiwi", Limit: 1})
			close(stop)
			n := <-wrote
			if err != nil {
				t.Fatalf("search, while %d writes went on: %v", n, err)
			}
			if len(page.Hits) != 1 {
				t.Errorf("%d hits", len(page.Hits))
			}
		})
	}
}

// TestIndexAllBoundsAHistory: indexAll indexes a history it takes in part
// up to the end it had when it first took it, leaves what is written after
// marked from there, and unmarks a history it so indexed to its end.
func TestIndexAllBoundsAHistory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chat.db")
	s, st := openBoth(t, path, idle())
	ctx := t.Context()
	round := func(c indexCursor) (indexCursor, bool) {
		t.Helper()
		var (
			next indexCursor
			more bool
		)
		err := s.submit(ctx, &request{ctx: ctx, fn: func(t *txn) error {
			var err error
			next, more, err = t.catchUp(c, 1)
			return err
		}})
		if err != nil {
			t.Fatal(err)
		}
		return next, more
	}
	for _, h := range []string{"a", "b"} {
		if _, err := st.Write(ctx, h, users("nut 0", "nut 1", "nut 2")); err != nil {
			t.Fatal(err)
		}
	}
	c, more := round(indexCursor{})
	if !more {
		t.Fatal("one message of six indexed, and no more?")
	}
	// Written after the indexing began, left for later: to a, which it
	// is in the middle of, and to c, a new history.
	for _, h := range []string{"a", "c"} {
		if _, err := st.Write(ctx, h, users("nut 3", "nut 4")); err != nil {
			t.Fatal(err)
		}
	}
	for more {
		c, more = round(c)
	}
	rows, marked := indexState(t, path, "nut")
	if rows != 6 || !maps2(marked, []int64{3, 0}) {
		t.Errorf("after indexing what was marked when it began: %d rows, marked %v; want 6, and a from 3 and c from 0", rows, marked)
	}
	if n := hits(t, st, "nut"); n != 10 {
		t.Errorf("search finds %d, want 10", n)
	}
	if rows, marked := indexState(t, path, "nut"); rows != 10 || len(marked) != 0 {
		t.Errorf("after the search: %d rows, marked %v; want 10 and none", rows, marked)
	}
}

// TestSubmitAfterClose: a request submitted once the commit loop has
// stopped fails with ErrClosed, even when the queue still holds a request
// (one that won its race with Close and was queued after the loop stopped,
// which nothing will ever answer): it must not wait for an answer forever.
// Close waits for the background indexing, whose indexAll submits, so a
// submit that waits forever would keep Close from returning too. The timer
// only turns the hang into a failure.
func TestSubmitAfterClose(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "chat.db"), idle())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for i := range 64 {
		s.queue <- &request{ctx: ctx, fn: func(*txn) error { return nil }, done: make(chan struct{})}
		errc := make(chan error, 1)
		go func() { errc <- s.submit(ctx, &request{ctx: ctx, fn: func(*txn) error { return nil }}) }()
		select {
		case err := <-errc:
			if !errors.Is(err, chatstore.ErrClosed) {
				t.Fatalf("submit %d after Close: %v, want ErrClosed", i, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("submit %d after Close, with a request left in the queue, still waits", i)
		}
	}
}

// TestIndexAsTheWriteGaveIt: what indexing after the write puts in the
// index is what the write's own document (driver.Record.Doc, which the
// root package makes from the caller's message) would have put there, as
// memstore and pgstore index it: a search finds the same messages either
// way. Tool call arguments may hold Go values that do not come back from
// the stored JSON as they went in (a float64 is "1e+06" to the document,
// 1000000.0 in JSON; a map[string]string is "map[k:v]").
func TestIndexAsTheWriteGaveIt(t *testing.T) {
	ctx := t.Context()
	sq := openStore(t, filepath.Join(t.TempDir(), "chat.db"), idle())
	mem, err := chatstore.New(memstore.New(), &chatstore.Options{KeepSystemMessages: true})
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	msg := chat.Assistant("", chat.ToolCall{ToolName: "lookup", Arguments: map[string]any{"n": 1e6, "m": map[string]string{"k": "v"}}})
	for _, st := range []*chatstore.Store{sq, mem} {
		if _, err := st.Write(ctx, "a", []chat.Message{msg}); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{"lookup", "1e", "map", "1000000"} {
		if got, want := hits(t, sq, q), hits(t, mem, q); got != want {
			t.Errorf("search %q: sqlitestore finds %d, memstore %d", q, got, want)
		}
	}
}

// TestCloseWhileIndexing: Close returns while the background loop is
// indexing, or about to submit a round, however they interleave: a round
// queued after the commit loop stopped fails instead of waiting for it.
func TestCloseWhileIndexing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chat.db")
	for i := range 20 {
		o := idle()
		o.indexAfter = 1
		s, err := Open(t.Context(), path, o)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := chat.User(fmt.Sprint("close ", i)).MarshalJSON()
		rec := []driver.Record{{JSON: body, Kind: driver.Joins, CreatedAt: 1}}
		stop := make(chan struct{})
		wrote := make(chan struct{})
		go func() {
			defer close(wrote)
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.Write(t.Context(), "h", rec); err != nil {
					return // closed
				}
			}
		}()
		for s.toIndex.Load() == 0 && len(s.indexWake) == 0 {
			runtime.Gosched()
		}
		closed := make(chan error, 1)
		go func() { closed <- s.Close() }()
		select {
		case err := <-closed:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("Close did not return")
		}
		close(stop)
		<-wrote
	}
}

// TestIndexBatchBytes: a batch stops after the message that brings its
// bodies to indexBytes, whatever its count, so that large messages are not
// held a thousand at a time; the rest is indexed by the next batches.
func TestIndexBatchBytes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chat.db")
	s, st := openBoth(t, path, idle())
	ctx := t.Context()
	big := strings.Repeat("walnut ", 1<<20/7) // about 1 MiB
	for range 10 {
		if _, err := st.Write(ctx, "a", users(big)); err != nil {
			t.Fatal(err)
		}
	}
	var more bool
	err := s.submit(ctx, &request{ctx: ctx, fn: func(t *txn) error {
		var err error
		_, more, err = t.catchUp(indexCursor{}, 1000)
		return err
	}})
	if err != nil {
		t.Fatal(err)
	}
	rows, marked := indexState(t, path, "walnut")
	if want := indexBytes/(1<<20) + 1; rows > want || rows < want-1 || !more || len(marked) != 1 {
		t.Errorf("one batch: %d rows, more %v, marked %v; want about %d and the rest marked", rows, more, marked, want)
	}
	if err := s.indexAll(ctx); err != nil {
		t.Fatal(err)
	}
	if rows, marked := indexState(t, path, "walnut"); rows != 10 || len(marked) != 0 {
		t.Errorf("after indexAll: %d rows, marked %v", rows, marked)
	}
}

// TestIndexInTheWrite: a write of indexInWrite messages or more indexes
// them in its own transaction, marking nothing; to a history already
// marked it marks instead, and a search indexes each message once.
func TestIndexInTheWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chat.db")
	st := openStore(t, path, idle())
	ctx := t.Context()
	many := func(n int) []chat.Message {
		var msgs []chat.Message
		for i := range n {
			msgs = append(msgs, chat.User(fmt.Sprint("cherry ", i)))
		}
		return msgs
	}
	if _, err := st.Write(ctx, "big", many(indexInWrite)); err != nil {
		t.Fatal(err)
	}
	if rows, marked := indexState(t, path, "cherry"); rows != indexInWrite || len(marked) != 0 {
		t.Fatalf("after a write of %d: %d rows, marked %v; want all indexed, none marked", indexInWrite, rows, marked)
	}
	if _, err := st.Write(ctx, "small", many(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Write(ctx, "small", many(indexInWrite+3)); err != nil {
		t.Fatal(err)
	}
	if rows, marked := indexState(t, path, "cherry"); rows != indexInWrite || !maps2(marked, []int64{0}) {
		t.Fatalf("after writes to a marked history: %d rows, marked %v", rows, marked)
	}
	want := indexInWrite + 1 + indexInWrite + 3
	if n := hits(t, st, "cherry"); n != want {
		t.Errorf("search finds %d, want %d", n, want)
	}
	if rows, marked := indexState(t, path, "cherry"); rows != want || len(marked) != 0 {
		t.Errorf("after the search: %d rows (a message indexed twice?), marked %v", rows, marked)
	}
}

// TestIndexRetriedAfterAFailure: a background round that fails is tried
// again by the loop itself, with no more writes to wake it: here clearing
// the marks of indexed histories fails until the first round has failed.
func TestIndexRetriedAfterAFailure(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chat.db")
	o := idle()
	o.indexAfter = 1
	o.indexEvery = time.Millisecond
	rounds := make(chan error, 64)
	o.afterIndex = func(err error) {
		select {
		case rounds <- err:
		default:
		}
	}
	_, st := openBoth(t, path, o)
	clear := faultMarks(t, path)
	if _, err := st.Write(t.Context(), "a", users("quince")); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(20 * time.Second)
	next := func() error {
		t.Helper()
		select {
		case err := <-rounds:
			return err
		case <-deadline:
			t.Fatal("no background round")
			return nil
		}
	}
	if err := next(); err == nil {
		t.Fatal("the round that could not clear its mark did not fail")
	}
	clear()
	for {
		if err := next(); err == nil {
			break
		}
	}
	if rows, marked := indexState(t, path, "quince"); rows != 1 || len(marked) != 0 {
		t.Errorf("after the retry: %d rows, marked %v; want 1 and none", rows, marked)
	}
}

// faultMarks makes clearing the marks of indexed histories fail, so that
// every indexing round fails, until the returned function is called. The
// connection waits for the store's writer rather than failing busy.
func faultMarks(t *testing.T, path string) (clear func()) {
	t.Helper()
	db := rawDB(t, path)
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`PRAGMA busy_timeout = 10000`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TRIGGER fault_d BEFORE DELETE ON unindexed BEGIN SELECT RAISE(ABORT, 'test fault'); END;
		CREATE TRIGGER fault_u BEFORE UPDATE ON unindexed BEGIN SELECT RAISE(ABORT, 'test fault'); END;`); err != nil {
		t.Fatal(err)
	}
	return func() {
		t.Helper()
		if _, err := db.Exec(`DROP TRIGGER fault_d; DROP TRIGGER fault_u;`); err != nil {
			t.Fatal(err)
		}
	}
}

// TestIndexRetryWaits: after a failed round the loop waits indexEvery
// before trying again, however many writes wake it meanwhile.
func TestIndexRetryWaits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chat.db")
	o := idle()
	o.indexAfter = 1 // every write wakes the loop
	rounds := make(chan error, 64)
	o.afterIndex = func(err error) { rounds <- err }
	s, st := openBoth(t, path, o)
	faultMarks(t, path)
	ctx := t.Context()
	if _, err := st.Write(ctx, "a", users("medlar")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-rounds:
		if err == nil {
			t.Fatal("the round that could not clear its mark did not fail")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no background round")
	}
	for i := range 20 {
		if _, err := st.Write(ctx, "a", users(fmt.Sprint("medlar ", i))); err != nil {
			t.Fatal(err)
		}
	}
	// Close waits for the loop to stop: every round it ran has reported.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(rounds); n != 0 {
		t.Errorf("%d more rounds within the hour after the failure, woken by writes", n)
	}
}

// TestIndexLargeWriteToAMarkedHistory: a write of indexInWrite messages or
// more to a history already marked is marked too, and counts towards
// waking the background loop as a small write does.
func TestIndexLargeWriteToAMarkedHistory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chat.db")
	o := idle()
	o.indexAfter = indexInWrite
	rounds := make(chan error, 64)
	o.afterIndex = func(err error) { rounds <- err }
	_, st := openBoth(t, path, o)
	ctx := t.Context()
	if _, err := st.Write(ctx, "a", users("sloe")); err != nil {
		t.Fatal(err)
	}
	big := make([]string, indexInWrite+8)
	for i := range big {
		big[i] = fmt.Sprint("sloe ", i)
	}
	if _, err := st.Write(ctx, "a", users(big...)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-rounds:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the large write to a marked history did not wake the background loop")
	}
	if rows, marked := indexState(t, path, "sloe"); rows != len(big)+1 || len(marked) != 0 {
		t.Errorf("after the round: %d rows, marked %v; want %d and none", rows, marked, len(big)+1)
	}
}
