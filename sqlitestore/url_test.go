package sqlitestore_test

import (
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/sqlitestore"
)

func TestOpenByURL(t *testing.T) {
	dir := t.TempDir()
	abs := filepath.Join(dir, "abs.db")
	st, err := chatstore.Open(t.Context(), "sqlite://"+filepath.ToSlash(abs)+"?synchronous=full&busy_timeout=2s&last_k=3&search=true", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Write(t.Context(), "h", []chat.Message{chat.User("x")}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if _, err := os.Stat(abs); err != nil {
		t.Errorf("absolute path: %v", err)
	}

	// sqlite:NAME is relative to the working directory.
	t.Chdir(dir)
	st, err = chatstore.Open(t.Context(), "sqlite:rel/../rel.db", nil)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if _, err := os.Stat(filepath.Join(dir, "rel.db")); err != nil {
		t.Errorf("relative path: %v", err)
	}

	for _, bad := range []string{
		"sqlite://chat.db",    // a host, not a path
		"sqlite://",           // no file
		"sqlite:///",          // no file
		"sqlite:x.db?mode=ro", // unknown parameter
		"sqlite:x.db?synchronous=extra",
		"sqlite:x.db?busy_timeout=soon",
		"sqlite:x.db?search=maybe",
		"sqlite:x.db?secure_delete=maybe",
	} {
		if _, err := chatstore.Open(t.Context(), bad, nil); !errors.Is(err, chatstore.ErrInvalidOptions) {
			t.Errorf("%s: err = %v, want ErrInvalidOptions", bad, err)
		}
	}
	if _, err := chatstore.Open(t.Context(), "sqlite:///nonexistent-dir/sub/chat.db", nil); err == nil {
		t.Errorf("opened a file in a directory that does not exist")
	}
	for query, want := range map[string]bool{"": false, "?secure_delete=true": false, "?secure_delete=false": true} {
		u, err := url.Parse("sqlite:x.db" + query)
		if err != nil {
			t.Fatal(err)
		}
		if _, o, err := sqlitestore.ParseURL(u); err != nil {
			t.Errorf("%q: %v", query, err)
		} else if o.NoSecureDelete != want {
			t.Errorf("%q: NoSecureDelete %v, want %v", query, o.NoSecureDelete, want)
		}
	}
}

// TestOpenWithoutSearch: search=false keeps no index; Search is not
// supported, and everything else works.
func TestOpenWithoutSearch(t *testing.T) {
	st, err := chatstore.Open(t.Context(), "sqlite://"+filepath.ToSlash(filepath.Join(t.TempDir(), "chat.db"))+"?search=false", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := t.Context()
	if _, err := st.Write(ctx, "h", []chat.Message{chat.User("hello"), chat.Assistant("hi")}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Search(ctx, chatstore.SearchOptions{Query: "hello"}); !errors.Is(err, chatstore.ErrNotSupported) {
		t.Errorf("Search: %v, want ErrNotSupported", err)
	}
	if _, err := st.Fork(ctx, "h", "f", "0"); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteMessage(ctx, "h", "0"); err != nil {
		t.Fatal(err)
	}
	if msgs, err := st.RetrieveLast(ctx, "h", chatstore.All); err != nil || len(msgs) != 1 {
		t.Errorf("read: %d %v", len(msgs), err)
	}
	if err := st.DeleteAll(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestOpenMissingDirectory: SQLite creates the file but not its directory,
// and the error says which directory is missing rather than only SQLite's
// "unable to open database file".
func TestOpenMissingDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "no", "such")
	_, err := chatstore.Open(t.Context(), "sqlite://"+filepath.ToSlash(filepath.Join(dir, "chat.db")), nil)
	if err == nil || !strings.Contains(err.Error(), "the directory "+dir+" does not exist") {
		t.Errorf("err = %v, want it to name the missing directory %s", err, dir)
	}
}
