package component_test

import (
	"errors"
	"testing"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/component"
	"github.com/chatstore/chatstore/memstore"
)

// TestStoreLastKEverywhere: a store's last_k means the same written in a
// URL and in a Haystack dictionary: 0 is a store whose default read is
// empty, a number is that many rounds, and all (URL) or null (dictionary)
// every message.
func TestStoreLastKEverywhere(t *testing.T) {
	for _, c := range []struct {
		url   string
		value any
		want  int
	}{
		{"memory://?last_k=0", 0, chatstore.NoHistory},
		{"memory://?last_k=3", 3, 3},
		{"memory://?last_k=all", nil, chatstore.All},
	} {
		byURL, err := chatstore.Open(t.Context(), c.url, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer byURL.Close()
		byDict, err := component.LoadStore(t.Context(), map[string]any{
			"type":            memstore.HaystackType,
			"init_parameters": map[string]any{"last_k": c.value},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer byDict.Close()
		if a, b := byURL.Options().LastK, byDict.Options().LastK; a != c.want || b != c.want {
			t.Errorf("%s: LastK %d; dictionary last_k %v: LastK %d; want %d", c.url, a, c.value, b, c.want)
		}
	}
}

// TestStoreDictOfAView: a view made by chatstore.Prefixed has no Haystack
// dictionary, as a store loaded from one would see every history.
func TestStoreDictOfAView(t *testing.T) {
	st, err := chatstore.Open(t.Context(), "memory://", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := component.StoreDict(st); err != nil {
		t.Fatalf("the store itself: %v", err)
	}
	view := chatstore.Prefixed(st, "tenant:acme:")
	if _, err := component.StoreDict(view); !errors.Is(err, chatstore.ErrNotSupported) {
		t.Errorf("a view: %v, want ErrNotSupported", err)
	}
	if _, err := component.NewWriter(view).Dict(); !errors.Is(err, chatstore.ErrNotSupported) {
		t.Errorf("a writer over a view: %v, want ErrNotSupported", err)
	}
}
