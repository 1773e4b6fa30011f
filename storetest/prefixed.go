package storetest

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
)

// testPrefixed checks that views made by chatstore.Prefixed are isolated:
// a view reads, counts, lists, deletes and deletes-all only the histories
// under its prefix, never another view's or those outside any prefix, also
// ids that sort among its own; its ids are its own, without the prefix;
// and its List pages with cursors.
func (s suite) testPrefixed(t *testing.T) {
	st := s.store(t, nil)
	a, b := chatstore.Prefixed(st, "t:a:"), chatstore.Prefixed(st, "t:b:")
	for _, v := range []struct {
		st   *chatstore.Store
		name string
	}{{a, "a"}, {b, "b"}, {st, "plain"}} {
		for _, id := range []string{"h", "h2", "h3"} {
			write(t, v.st, id, chat.User(v.name+" "+id), chat.Assistant("ok"))
		}
	}
	// Neighbours of a's range in the store, and the prefix itself as an id.
	outside := []string{"t:a", "t:a;", "t:a9", "t:", "t:b"}
	for _, id := range append(outside, "t:a:") {
		write(t, st, id, chat.User(id))
	}

	if got := texts(retrieve(t, a, "h", chatstore.All)); !slices.Equal(got, []string{"a h", "ok"}) {
		t.Errorf("a reads %q", got)
	}
	if got := texts(retrieve(t, st, "t:a:h", chatstore.All)); !slices.Equal(got, []string{"a h", "ok"}) {
		t.Errorf("a's h is not stored under t:a:h: the store reads %q there", got)
	}
	var buf bytes.Buffer
	if _, err := b.WriteJSON(ctx(t), &buf, nil, "h", chatstore.ReadOptions{LastK: chatstore.All}); err != nil || !strings.Contains(buf.String(), `"b h"`) || strings.Contains(buf.String(), `"a h"`) {
		t.Errorf("b's WriteJSON: %s %v", buf.Bytes(), err)
	}
	if c := count(t, a, "t:b:h"); c != 0 {
		t.Errorf("a counts %d messages in t:b:h, which is its own t:a:t:b:h", c)
	}
	if _, err := a.Count(ctx(t), ""); !errors.Is(err, chatstore.ErrInvalidHistoryID) {
		t.Errorf("a view's empty id (its bare prefix): %v", err)
	}
	long := strings.Repeat("x", chatstore.MaxHistoryIDLen-len("t:a:")+1)
	if _, err := a.Write(ctx(t), long, []chat.Message{chat.User("x")}); !errors.Is(err, chatstore.ErrInvalidHistoryID) {
		t.Errorf("an id over the limit with the prefix: %v", err)
	}

	// Listing: a's own ids, stripped, in pages of every size.
	want := []string{"h", "h2", "h3"}
	for _, limit := range []int{1, 2, 3, 4} {
		if got := listAll(t, a, chatstore.ListOptions{Limit: limit}); !slices.Equal(got, want) {
			t.Errorf("a lists %q with limit %d, want %q", got, limit, want)
		}
	}
	if got := listAll(t, a, chatstore.ListOptions{Prefix: "h", Limit: 1}); !slices.Equal(got, want) {
		t.Errorf("a lists %q under its h, want %q", got, want)
	}
	if got := listAll(t, a, chatstore.ListOptions{Prefix: "h2"}); !slices.Equal(got, []string{"h2"}) {
		t.Errorf("a lists %q under its h2", got)
	}
	// A cursor of b's leads a to none of b's histories.
	page, err := b.List(ctx(t), chatstore.ListOptions{Limit: 1})
	if err != nil || page.NextCursor == "" {
		t.Fatalf("b's first page: %+v %v", page, err)
	}
	if page, err := a.List(ctx(t), chatstore.ListOptions{Cursor: page.NextCursor}); err != nil || len(page.Histories) != 0 {
		t.Errorf("a given b's cursor: %+v %v", page, err)
	}

	// Delete and DeleteAll reach a's histories only.
	if err := a.Delete(ctx(t), "h"); err != nil {
		t.Fatal(err)
	}
	if count(t, a, "h") != 0 || count(t, b, "h") != 2 || count(t, st, "h") != 2 {
		t.Errorf("a's Delete(h): a %d, b %d, plain %d messages", count(t, a, "h"), count(t, b, "h"), count(t, st, "h"))
	}
	if err := a.DeleteAll(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if got := listAll(t, a, chatstore.ListOptions{}); len(got) != 0 {
		t.Errorf("a lists %q after its DeleteAll", got)
	}
	if c := count(t, st, "t:a:"); c != 0 {
		t.Errorf("the history named a's prefix survived a's DeleteAll: %d messages", c)
	}
	for _, id := range append(outside, "h", "h2", "h3", "t:b:h", "t:b:h2", "t:b:h3") {
		if c := count(t, st, id); c == 0 {
			t.Errorf("a's DeleteAll deleted %q", id)
		}
	}
	// A view owns nothing: its Close leaves the store open, and closing the
	// store closes the view.
	if err := b.Close(); err != nil || count(t, b, "h") != 2 || count(t, st, "h") != 2 {
		t.Errorf("closing a view: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Count(ctx(t), "h"); !errors.Is(err, chatstore.ErrClosed) {
		t.Errorf("a view of a closed store: %v", err)
	}
}

// listAll lists every history of st, page by page (listInfos), and
// returns their ids.
func listAll(t *testing.T, st *chatstore.Store, opts chatstore.ListOptions) []string {
	t.Helper()
	var ids []string
	for _, h := range listInfos(t, st, opts) {
		ids = append(ids, h.ID)
	}
	return ids
}

// listInfos lists every history of st, page by page. The store does not
// change meanwhile, so a history listed twice fails the test, as does a
// listing that does not end.
func listInfos(t *testing.T, st *chatstore.Store, opts chatstore.ListOptions) []chatstore.HistoryInfo {
	t.Helper()
	var out []chatstore.HistoryInfo
	seen := map[string]bool{}
	for range 10_000 {
		page, err := st.List(ctx(t), opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range page.Histories {
			if seen[h.ID] {
				t.Fatalf("%s listed twice (options %+v)", h.ID, opts)
			}
			seen[h.ID] = true
			out = append(out, h)
		}
		if opts.Cursor = page.NextCursor; opts.Cursor == "" {
			return out
		}
	}
	t.Fatal("the listing does not end")
	return nil
}
