package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
)

// TestClientSearch: the client's Search answers what the store's does,
// every option carried, and its errors are the store's.
func TestClientSearch(t *testing.T) {
	ctx := context.Background()
	st, c := newServed(t)
	for i, id := range []string{"s/a", "s/b", "t/c"} {
		m := chat.Assistant("the refund failed, card declined")
		m.Content = append(m.Content, chat.Reasoning{ReasoningText: "a duplicate charge"})
		if _, err := st.Write(ctx, id, []chat.Message{chat.User("refund please"), m}); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			u := "u-1"
			if _, err := st.SetMetadata(ctx, id, map[string]*string{"user": &u}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, o := range []chatstore.SearchOptions{
		{Query: "refund"},
		{Query: "refund", Limit: 2},
		{Query: "refund", Prefix: "s/", Roles: []chat.Role{chat.RoleAssistant}},
		{Query: "duplicate", Reasoning: true},
		{Query: "refund", Metadata: map[string]string{"user": "u-1"}},
		{Query: "refund", Since: time.Now().Add(-time.Hour), Until: time.Now().Add(time.Hour)},
	} {
		want, err := st.Search(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Search(ctx, o)
		if err != nil || len(got.Hits) == 0 || len(got.Hits) != len(want.Hits) || got.NextCursor != want.NextCursor {
			t.Fatalf("%+v: %+v %v, want %+v", o, got, err, want)
		}
		for i := range got.Hits {
			g, w := got.Hits[i], want.Hits[i]
			if g.HistoryID != w.HistoryID || g.MessageID != w.MessageID || g.Role != w.Role || !g.CreatedAt.Equal(w.CreatedAt) || g.Snippet != w.Snippet || g.Score != w.Score {
				t.Errorf("%+v hit %d: %+v, want %+v", o, i, g, w)
			}
		}
		if got.NextCursor != "" {
			o.Cursor = got.NextCursor
			if next, err := c.Search(ctx, o); err != nil || len(next.Hits) == 0 {
				t.Errorf("next page: %+v %v", next, err)
			}
		}
	}
	if _, err := c.Search(ctx, chatstore.SearchOptions{Query: "-refund"}); !errors.Is(err, chatstore.ErrInvalidQuery) {
		t.Errorf("an invalid query: %v", err)
	}
	if _, err := c.Search(ctx, chatstore.SearchOptions{Query: "refund", Cursor: "x"}); !errors.Is(err, chatstore.ErrInvalidCursor) {
		t.Errorf("an invalid cursor: %v", err)
	}
}
