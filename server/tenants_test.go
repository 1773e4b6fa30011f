package server

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/memstore"
)

// TestTenantListing pages through a tenant's listing: its own ids, without
// the prefix they are stored under, in pages that follow one another, with
// ?prefix= inside its own ids; histories stored under neighbouring ids,
// another tenant's or none's, never appear; another tenant's cursor leads
// to none of that tenant's histories.
func TestTenantListing(t *testing.T) {
	tokens, err := ParseTokens(strings.NewReader("acme 0123456789abcdef0123\nacme2 fedcba9876543210fedc\n"))
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, "memory://", &Options{Tokens: tokens})
	acme := []string{"Authorization", "Bearer 0123456789abcdef0123"}
	acme2 := []string{"Authorization", "Bearer fedcba9876543210fedc"}
	for _, id := range []string{"c", "a", "b/1", "b/2"} {
		if r := f.do("POST", messagesPath(id), body(chat.User(id)), acme...); r.code != 200 {
			t.Fatalf("acme writes %s: %d %s", id, r.code, r.body)
		}
	}
	for _, id := range []string{"a", "z"} {
		f.do("POST", messagesPath(id), body(chat.User(id)), acme2...)
	}
	for _, id := range []string{"tenant:acme", "tenant:acme;", "tenant:acme:", "tenant:acmf:a", "a"} {
		if _, err := f.store.Write(t.Context(), id, []chat.Message{chat.User(id)}); err != nil {
			t.Fatal(err)
		}
	}
	list := func(query string, auth []string) (ids []string) {
		t.Helper()
		cursor := ""
		for range 10 {
			q := query
			if cursor != "" {
				q += "&cursor=" + url.QueryEscape(cursor)
			}
			r := f.do("GET", "/v1/histories?"+q, "", auth...)
			var page struct {
				Histories []struct {
					ID string `json:"chat_history_id"`
				} `json:"histories"`
				NextCursor *string `json:"next_cursor"`
			}
			if r.code != 200 || json.Unmarshal(r.body, &page) != nil {
				t.Fatalf("GET /v1/histories?%s: %d %s", q, r.code, r.body)
			}
			for _, h := range page.Histories {
				ids = append(ids, h.ID)
			}
			if page.NextCursor == nil {
				return ids
			}
			cursor = *page.NextCursor
		}
		t.Fatal("the listing does not end")
		return nil
	}
	for _, q := range []string{"limit=1", "limit=3", "limit=100"} {
		if got := list(q, acme); !slices.Equal(got, []string{"a", "b/1", "b/2", "c"}) {
			t.Errorf("acme lists %q with %s", got, q)
		}
	}
	if got := list("limit=1&prefix=b/", acme); !slices.Equal(got, []string{"b/1", "b/2"}) {
		t.Errorf("acme lists %q under b/", got)
	}
	r := f.do("GET", "/v1/histories?limit=1", "", acme2...)
	var page struct {
		NextCursor string `json:"next_cursor"`
	}
	if err := json.Unmarshal(r.body, &page); err != nil || page.NextCursor == "" {
		t.Fatalf("acme2's first page: %s", r.body)
	}
	if r := f.do("GET", "/v1/histories?cursor="+url.QueryEscape(page.NextCursor), "", acme...); r.code != 200 || strings.Contains(string(r.body), `"z"`) {
		t.Errorf("acme with acme2's cursor: %d %s", r.code, r.body)
	}
}

// TestWriteLimitIsTheStores: without a limit of its own the server takes
// the smaller of its default and the store's, and a larger one is capped
// at the store's, so that its answer names the limit that holds, for
// writes and for a context request's current messages alike.
func TestWriteLimitIsTheStores(t *testing.T) {
	for _, c := range []struct {
		storeLimit, serverLimit, want int
	}{
		{0, 0, DefaultMaxWriteMessages},
		{5, 0, 5},
		{5, 20, 5},
		{50, 20, 20},
	} {
		st, err := chatstore.New(memstore.New(), &chatstore.Options{MaxWriteMessages: c.storeLimit})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		srv, err := New(st, &Options{MaxWriteMessages: c.serverLimit, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		f := &fixture{t: t, store: st, srv: srv}
		msgs := slices.Repeat([]chat.Message{chat.User("x")}, c.want+1)
		want := fmt.Sprintf("the limit is %d", c.want)
		r := f.do("POST", messagesPath("h"), body(msgs...))
		if r.code != 400 || r.errorCode(t) != "too_many_messages" || !strings.Contains(string(r.body), "in one write; "+want) {
			t.Errorf("store %d, server %d: a write of %d: %d %s", c.storeLimit, c.serverLimit, len(msgs), r.code, r.body)
		}
		cur, _ := json.Marshal(map[string]any{"current_messages": msgs})
		if r := f.do("POST", "/v1/histories/h/context", string(cur)); r.code != 400 || !strings.Contains(string(r.body), want) {
			t.Errorf("store %d, server %d: %d current messages: %d %s", c.storeLimit, c.serverLimit, len(msgs), r.code, r.body)
		}
		if r := f.do("POST", messagesPath("h"), body(msgs[1:]...)); r.code != 200 {
			t.Errorf("store %d, server %d: a write of %d: %d %s", c.storeLimit, c.serverLimit, len(msgs)-1, r.code, r.body)
		}
	}
}
