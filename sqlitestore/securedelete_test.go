package sqlitestore_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/internal/testenv"
	"github.com/chatstore/chatstore/sqlitestore"
)

// TestSecureDelete: a history deleted, or erased by its metadata, leaves
// none of its messages' or metadata's bytes in the file once the WAL is
// checkpointed, with secure_delete on (the default); with it off, they are
// still there, which shows that the test can tell. The search index keeps
// the words of the deleted messages (one at a time, folded, not the text)
// until its segments are merged: with secure_delete on, 'optimize' does it
// at once, as docs/STORE.md tells an operator.
func TestSecureDelete(t *testing.T) {
	for _, on := range []bool{true, false} {
		for _, how := range []string{"delete", "erase"} {
			t.Run(fmt.Sprintf("secure_delete=%v/%s", on, how), func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "secure.db")
				query := ""
				if !on {
					query = "?secure_delete=false"
				}
				st, err := chatstore.Open(t.Context(), "sqlite://"+filepath.ToSlash(path)+query, nil)
				if err != nil {
					t.Fatal(err)
				}
				defer st.Close()
				ctx := t.Context()
				// Other histories around it, so that its pages are not
				// the only ones.
				for i := range 20 {
					if _, err := st.Write(ctx, fmt.Sprint("keep-", i), []chat.Message{chat.User(fmt.Sprint("an ordinary message number ", i))}); err != nil {
						t.Fatal(err)
					}
				}
				secret, user := "zqxjvesperine", "wyvernuserkolp"
				text := "tell me about " + secret // the body's text, as it is in its JSON
				msgs := []chat.Message{chat.User(text), chat.Assistant(secret + " is a secret word")}
				if _, err := st.Write(ctx, "gone", msgs); err != nil {
					t.Fatal(err)
				}
				if _, err := st.SetMetadata(ctx, "gone", map[string]*string{"user_id": &user}); err != nil {
					t.Fatal(err)
				}
				if _, err := st.Write(ctx, "keep-20", []chat.Message{chat.User("written after")}); err != nil {
					t.Fatal(err)
				}
				checkpoint(t, path)
				if raw := fileBytes(t, path); !bytes.Contains(raw, []byte(text)) || !bytes.Contains(raw, []byte(user)) {
					t.Fatal("the file does not hold the history's words before it is deleted: the test would prove nothing")
				}
				switch how {
				case "delete":
					err = st.Delete(ctx, "gone")
				case "erase":
					var e chatstore.Erasure
					e, err = st.Erase(ctx, map[string]string{"user_id": user})
					if e.Histories != 1 {
						t.Errorf("erased %+v", e)
					}
				}
				if err != nil {
					t.Fatal(err)
				}
				checkpoint(t, path)
				raw := fileBytes(t, path)
				for _, w := range []string{text, user} {
					if got := bytes.Count(raw, []byte(w)); on && got > 0 {
						t.Errorf("secure_delete on: %q is still in the file %d times after the history is gone", w, got)
					} else if !on && got == 0 {
						t.Errorf("secure_delete off: %q is no longer in the file; this test cannot tell the settings apart", w)
					}
				}
				if !on {
					return
				}
				// The word, alone, is in the search index's segments (FTS5
				// marks the rows of a contentless_delete table deleted and
				// drops them when it merges), until Scrub rewrites it.
				if !bytes.Contains(raw, []byte(secret)) {
					t.Log("the search index no longer holds the word before Scrub: this run does not show that Scrub removes it")
				}
				if err := st.Scrub(ctx); err != nil {
					t.Fatal(err)
				}
				raw = fileBytes(t, path)
				if bytes.Contains(raw, []byte(secret)) {
					t.Errorf("%q is still in the file after Scrub", secret)
				}
				if wal := fileBytes(t, path+"-wal"); len(wal) != 0 {
					t.Errorf("Scrub left %d bytes in the write-ahead log", len(wal))
				}
				// The store works on after it.
				if n := countOf(t, st, "keep-3"); n != 1 {
					t.Errorf("after Scrub: keep-3 holds %d messages", n)
				}
				if page, err := st.Search(ctx, chatstore.SearchOptions{Query: "ordinary"}); err != nil || len(page.Hits) != 20 {
					t.Errorf("after Scrub: search finds %d, %v; want the 20 kept", len(page.Hits), err)
				}
			})
		}
	}
}

// checkpoint copies the WAL into the file and truncates it, as a
// checkpoint of SQLite's (or an operator) does.
func checkpoint(t *testing.T, path string) {
	t.Helper()
	var busy, log, done int
	if err := sqlitestore.RawDB(t, path).QueryRow("PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &log, &done); err != nil || busy != 0 {
		t.Fatalf("wal_checkpoint: busy %d, %v", busy, err)
	}
}

// fileBytes is the database file and its WAL, if any.
func fileBytes(t *testing.T, path string) []byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if wal, err := os.ReadFile(path + "-wal"); err == nil {
		raw = append(raw, wal...)
	}
	return raw
}

func countOf(t *testing.T, st *chatstore.Store, id string) int {
	t.Helper()
	n, err := st.Count(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestScrubWithoutSearch: Scrub works on a store opened with search=false,
// which has dropped its search index, and still empties the WAL. Found by
// review: it failed on the missing index and never checkpointed.
func TestScrubWithoutSearch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nosearch.db")
	st, err := chatstore.Open(t.Context(), "sqlite://"+filepath.ToSlash(path)+"?search=false", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Write(t.Context(), "h", []chat.Message{chat.User("hello")}); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(t.Context(), "h"); err != nil {
		t.Fatal(err)
	}
	if err := st.Scrub(t.Context()); err != nil {
		t.Fatalf("Scrub on a search=false store: %v", err)
	}
	if wal := fileBytes(t, path+"-wal"); len(wal) != 0 {
		t.Errorf("Scrub left %d bytes in the write-ahead log", len(wal))
	}
}

// TestEraseThenScrubLeavesNoExpired: an erasure does not see a matching
// history that has expired but is not swept yet (it is gone for every
// read); Scrub sweeps it before it scrubs, so that erase-then-scrub leaves
// nothing of it in the file. Found by review.
func TestEraseThenScrubLeavesNoExpired(t *testing.T) {
	path := filepath.Join(t.TempDir(), "erase.db")
	clock := testenv.NewClock(1_700_000_000_000)
	st, err := chatstore.Open(t.Context(), "sqlite://"+filepath.ToSlash(path), &chatstore.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := t.Context()
	user, secret := "wyvernuserkolp", "zqxjvesperine"
	for _, id := range []string{"live", "expired"} {
		if _, err := st.Write(ctx, id, []chat.Message{chat.User("tell me about " + secret + " " + id)}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.SetMetadata(ctx, id, map[string]*string{"user_id": &user}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.SetExpiry(ctx, "expired", chatstore.Expiry{TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	clock.Add(2 * time.Minute)
	if er, err := st.Erase(ctx, map[string]string{"user_id": user}); err != nil || er.Histories != 1 {
		t.Fatalf("erase: %+v, %v; want the live history", er, err)
	}
	if raw := fileBytes(t, path); !bytes.Contains(raw, []byte(secret+" expired")) {
		t.Log("the expired history's message is not in the main file before Scrub: this run does not show that Scrub sweeps it")
	}
	if err := st.Scrub(ctx); err != nil {
		t.Fatal(err)
	}
	raw := fileBytes(t, path)
	for _, w := range []string{secret, user} {
		if bytes.Contains(raw, []byte(w)) {
			t.Errorf("after Erase and Scrub, %q is still in the file", w)
		}
	}
}
