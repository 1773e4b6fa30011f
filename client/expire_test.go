package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
)

// TestClientSetExpiry sets a sliding TTL, a fixed time and none through a
// server, and reads them back with Info and List as the store has them;
// what the API cannot carry, and what the server refuses, are
// chatstore.ErrInvalidExpiry.
func TestClientSetExpiry(t *testing.T) {
	ctx := context.Background()
	st, c := newServed(t)
	if _, err := c.Write(ctx, "h", []chat.Message{chat.User("a")}); err != nil {
		t.Fatal(err)
	}
	info, err := c.SetExpiry(ctx, "h", chatstore.Expiry{TTL: 30 * 24 * time.Hour})
	want, _, _ := st.Info(ctx, "h")
	if err != nil || info.Expiry.TTL != 30*24*time.Hour || !info.ExpiresAt.Equal(want.ExpiresAt) || want.ExpiresAt.IsZero() || info.Count != 1 {
		t.Errorf("SetExpiry TTL: %+v %v, store says %+v", info, err, want)
	}
	if got, _, err := c.Info(ctx, "h"); err != nil || got.Expiry.TTL != 30*24*time.Hour || !got.ExpiresAt.Equal(want.ExpiresAt) {
		t.Errorf("Info: %+v %v", got, err)
	}
	at := time.Date(2100, 1, 31, 0, 0, 0, 0, time.UTC)
	if info, err := c.SetExpiry(ctx, "h", chatstore.Expiry{At: at}); err != nil || !info.ExpiresAt.Equal(at) || info.Expiry.TTL != 0 {
		t.Errorf("SetExpiry At: %+v %v", info, err)
	}
	if page, err := c.List(ctx, chatstore.ListOptions{}); err != nil || len(page.Histories) != 1 || !page.Histories[0].ExpiresAt.Equal(at) {
		t.Errorf("List: %+v %v", page, err)
	}
	if info, err := c.SetExpiry(ctx, "h", chatstore.Expiry{}); err != nil || !info.ExpiresAt.IsZero() || info.Expiry.TTL != 0 {
		t.Errorf("SetExpiry none: %+v %v", info, err)
	}
	for _, x := range []chatstore.Expiry{
		{TTL: 1500 * time.Millisecond},
		{TTL: time.Hour, At: at},
		{TTL: -time.Second},
		{At: time.Now().Add(200 * 365 * 24 * time.Hour)},
	} {
		if _, err := c.SetExpiry(ctx, "h", x); !errors.Is(err, chatstore.ErrInvalidExpiry) {
			t.Errorf("SetExpiry %+v: %v", x, err)
		}
	}
	if got, _, _ := st.Info(ctx, "h"); !got.ExpiresAt.IsZero() {
		t.Errorf("a refused SetExpiry changed the history: %+v", got)
	}
}
