package chatstore_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/chatstore/chatstore"
)

// TestLastKValue: the grammar of a last_k in a decoded dictionary is a
// whole number ≥ 0 of any type JSON, YAML or Go code gives, or null, which
// is what the caller says; nothing else, not even the text grammar's "all".
func TestLastKValue(t *testing.T) {
	for _, c := range []struct {
		v          any
		null, want int
	}{
		{nil, chatstore.All, chatstore.All},
		{nil, -1, -1},
		{0, chatstore.All, 0},
		{3, -1, 3},
		{int64(4), -1, 4},
		{uint64(5), -1, 5},
		{float64(6), -1, 6},
		{json.Number("7"), -1, 7},
	} {
		if got, err := chatstore.LastKValue(c.v, c.null); err != nil || got != c.want {
			t.Errorf("LastKValue(%#v, %d) = %d, %v; want %d", c.v, c.null, got, err, c.want)
		}
	}
	for _, bad := range []any{-1, json.Number("-2"), 1.5, "all", "3", true, []any{1}, map[string]any{}} {
		if _, err := chatstore.LastKValue(bad, chatstore.All); !errors.Is(err, chatstore.ErrInvalidLastK) {
			t.Errorf("LastKValue(%#v): err = %v, want ErrInvalidLastK", bad, err)
		}
	}
}

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
		byDict, err := chatstore.FromHaystack(t.Context(), map[string]any{
			"type":            "haystack_experimental.chat_message_stores.in_memory.InMemoryChatMessageStore",
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
