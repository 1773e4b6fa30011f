package chatstore_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/driver"
	"github.com/chatstore/chatstore/memstore"
)

// onlyStore hides every optional interface of a driver, DeletePrefix
// among them, so that a view's DeleteAll takes its one-by-one way.
type onlyStore struct{ driver.Store }

// TestPrefixedDeleteAll: a view's DeleteAll deletes the histories under
// its prefix, the prefix itself as an id included, and nothing else,
// whether the driver deletes by prefix or the view deletes one by one; and
// DeletePrefix on a view deletes under the view's prefix and its own.
func TestPrefixedDeleteAll(t *testing.T) {
	for name, drv := range map[string]driver.Store{"PrefixDeleter": memstore.New(), "one by one": onlyStore{memstore.New()}} {
		t.Run(name, func(t *testing.T) {
			st, err := chatstore.New(drv, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			ids := []string{"p:", "p:a", "p:b", "p:n:a", "p:n:b", "p", "p;", "q:a", "a"}
			for _, id := range ids {
				if _, err := st.Write(t.Context(), id, []chat.Message{chat.User(id)}); err != nil {
					t.Fatal(err)
				}
			}
			p := chatstore.Prefixed(st, "p:")
			if err := chatstore.Prefixed(p, "n:").DeleteAll(t.Context()); err != nil {
				t.Fatal(err)
			}
			if got := left(t, st); !slices.Equal(got, []string{"a", "p", "p:", "p:a", "p:b", "p;", "q:a"}) {
				t.Errorf("after DeleteAll of the view's view n:: %q", got)
			}
			if err := p.DeleteAll(t.Context()); err != nil {
				t.Fatal(err)
			}
			if got := left(t, st); !slices.Equal(got, []string{"a", "p", "p;", "q:a"}) {
				t.Errorf("after the view's DeleteAll: %q", got)
			}
		})
	}
}

func left(t *testing.T, st *chatstore.Store) []string {
	t.Helper()
	page, err := st.List(t.Context(), chatstore.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, h := range page.Histories {
		ids = append(ids, h.ID)
	}
	return ids
}

// TestPrefixedIDs: a view's ids are checked as ids of their own (an empty
// one is refused although the bare prefix is a valid id) and with the
// prefix (which must leave them within MaxHistoryIDLen, as the error
// says); a view of a view adds both prefixes.
func TestPrefixedIDs(t *testing.T) {
	st, err := chatstore.Open(t.Context(), "memory://", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p := chatstore.Prefixed(st, "tenant:acme:")
	if _, err := p.Write(t.Context(), "", []chat.Message{chat.User("x")}); !errors.Is(err, chatstore.ErrInvalidHistoryID) {
		t.Errorf("empty id: %v", err)
	}
	fits := strings.Repeat("x", chatstore.MaxHistoryIDLen-len("tenant:acme:"))
	if _, err := p.Write(t.Context(), fits, []chat.Message{chat.User("x")}); err != nil {
		t.Errorf("an id that fits with the prefix: %v", err)
	}
	_, err = p.Write(t.Context(), fits+"x", []chat.Message{chat.User("x")})
	if !errors.Is(err, chatstore.ErrInvalidHistoryID) || !strings.Contains(err.Error(), `with the store's prefix "tenant:acme:" it is 513 bytes long; the limit is 512`) {
		t.Errorf("an id one byte too long with the prefix: %v", err)
	}
	if _, err := st.Write(t.Context(), fits+"x", []chat.Message{chat.User("x")}); err != nil {
		t.Errorf("the same id in the store itself: %v", err)
	}
	nested := chatstore.Prefixed(p, "inner:")
	if _, err := nested.Write(t.Context(), "h", []chat.Message{chat.User("x")}); err != nil {
		t.Fatal(err)
	}
	if n, _ := st.Count(t.Context(), "tenant:acme:inner:h"); n != 1 {
		t.Errorf("a view of a view does not store under both prefixes (%d messages there)", n)
	}
	if n, _ := p.Count(t.Context(), "inner:h"); n != 1 {
		t.Errorf("the outer view does not see the inner view's history")
	}
}

// TestPrefixedIdempotencyKeys: the same key on the same id in two views is
// two keys, as the histories are two.
func TestPrefixedIdempotencyKeys(t *testing.T) {
	st, err := chatstore.Open(t.Context(), "memory://", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, prefix := range []string{"a:", "b:"} {
		n, replayed, err := chatstore.Prefixed(st, prefix).WriteIdempotent(t.Context(), "h", "key-1", []chat.Message{chat.User(prefix)})
		if err != nil || n != 1 || replayed {
			t.Errorf("view %s: %d %v %v", prefix, n, replayed, err)
		}
	}
}
