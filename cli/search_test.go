package cli

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	_ "github.com/chatstore/chatstore/sqlitestore"
)

// TestSearchCommand: chatstore search on a server and on a store file, its
// filters, its limit across pages, JSON Lines, and its errors.
func TestSearchCommand(t *testing.T) {
	ctx := context.Background()
	st, url := newServedStore(t)
	for i, id := range []string{"support/a", "support/b", "sales/c"} {
		st.Write(ctx, id, []chat.Message{chat.User("my <refund> failed"), chat.Assistant("the refund is on its way")})
		if i == 0 {
			u := "u-42"
			st.SetMetadata(ctx, id, map[string]*string{"user_id": &u})
		}
	}
	out, err := run(t, "search", "refund failed", "--server", url)
	if err != nil || strings.Count(out, "\n") != 3 || !strings.Contains(out, "\tuser\t") || !strings.Contains(out, "my <**refund**> **failed**\n") {
		t.Errorf("search: %q %v", out, err)
	}
	out, err = run(t, "search", "refund", "--server", url, "--metadata", "user_id=u-42", "--role", "assistant")
	if err != nil || !strings.HasPrefix(out, "support/a\t1\tassistant\t20") || strings.Count(out, "\n") != 1 {
		t.Errorf("search --metadata --role: %q %v", out, err)
	}
	out, err = run(t, "search", "refund", "--server", url, "--limit", "4", "--json")
	if err != nil || strings.Count(out, "\n") != 4 {
		t.Fatalf("search --limit 4 --json: %q %v", out, err)
	}
	var hit map[string]any
	if err := json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &hit); err != nil || hit["chat_history_id"] == nil || !strings.Contains(hit["snippet"].(string), "<mark>refund</mark>") {
		t.Errorf("a JSON hit: %v %v", hit, err)
	}
	out, err = run(t, "search", "refund", "--server", url, "--prefix", "sales/", "--since", "2000-01-01T00:00:00Z")
	if err != nil || strings.Count(out, "\n") != 2 || strings.Contains(out, "support") {
		t.Errorf("search --prefix --since: %q %v", out, err)
	}
	// On a store file.
	file := "sqlite://" + filepath.ToSlash(filepath.Join(t.TempDir(), "s.db"))
	fs, err := chatstore.Open(ctx, file, nil)
	if err != nil {
		t.Fatal(err)
	}
	fs.Write(ctx, "h", []chat.Message{chat.User("Crème brûlée recipe")})
	fs.Close()
	if out, err := run(t, "search", "creme", "--store", file); err != nil || !strings.HasPrefix(out, "h\t0\tuser\t") || !strings.Contains(out, "**Crème** brûlée recipe") {
		t.Errorf("search on a store file: %q %v", out, err)
	}
	for _, args := range [][]string{
		{"search", "--server", url},
		{"search", "-refund", "--server", url},
		{"search", "refund", "--since", "yesterday", "--server", url},
		{"search", "refund", "--limit", "0", "--server", url},
		{"search", "refund", "--role", "robot", "--server", url},
	} {
		if _, err := run(t, args...); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}

// TestPlainSnippet: a snippet printed on a terminal shows its marks and
// nothing of the stored text as control sequences or marks.
func TestPlainSnippet(t *testing.T) {
	bold := [2]string{"[", "]"}
	for in, want := range map[string]string{
		"my <mark>refund</mark> &amp; more":                "my [refund] & more",
		"&lt;mark&gt;not a match&lt;/mark&gt;":             "<mark>not a match</mark>",
		"title \x1b]0;owned\a\x1b[2J <mark>x</mark>\nnext": "title ]0;owned [2J [x] next",
		"\ue000fake\ue001 <mark>real</mark>":               "fake [real]",
	} {
		if got := plainSnippet(in, bold); got != want {
			t.Errorf("plainSnippet(%q) = %q, want %q", in, got, want)
		}
	}
}
