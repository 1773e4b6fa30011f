package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
)

// TestClientAddressing calls each operation of issue 16 through a server
// over the in-memory store, and checks it against the store itself.
func TestClientAddressing(t *testing.T) {
	ctx := context.Background()
	st, c := newServed(t)
	const id = "a/b"
	if _, ok, err := c.Info(ctx, id); ok || err != nil {
		t.Errorf("Info of an unknown history: %v %v", ok, err)
	}
	if _, err := c.Write(ctx, id, []chat.Message{chat.User("a"), chat.Assistant("b"), chat.User("c"), chat.Assistant("d")}); err != nil {
		t.Fatal(err)
	}
	u := "u-42"
	info, err := c.SetMetadata(ctx, id, map[string]*string{"user_id": &u, "gone": nil})
	if err != nil || info.Metadata["user_id"] != "u-42" || len(info.Metadata) != 1 || info.Count != 4 {
		t.Errorf("SetMetadata: %+v %v", info, err)
	}
	long := string(make([]byte, 600))
	if _, err := c.SetMetadata(ctx, id, map[string]*string{"k": &long}); !errors.Is(err, chatstore.ErrInvalidMetadata) {
		t.Errorf("SetMetadata over the limit: %v", err)
	}
	info, ok, err := c.Info(ctx, id)
	want, _, _ := st.Info(ctx, id)
	if !ok || err != nil || !info.CreatedAt.Equal(want.CreatedAt) || !info.UpdatedAt.Equal(want.UpdatedAt) || info.Count != 4 || info.Metadata["user_id"] != "u-42" {
		t.Errorf("Info: %+v %v %v, store says %+v", info, ok, err, want)
	}
	sm, err := c.Message(ctx, id, "2")
	if err != nil || sm.Message.Texts()[0] != "c" || time.Since(sm.CreatedAt) > time.Minute {
		t.Errorf("Message: %+v %v", sm, err)
	}
	if _, err := c.Message(ctx, id, "9"); !errors.Is(err, chatstore.ErrNotFound) {
		t.Errorf("Message of an absent id: %v", err)
	}
	page, err := c.ReadStored(ctx, id, chatstore.ReadOptions{After: "1", Limit: 2})
	if err != nil || len(page) != 2 || page[0].Message.Meta[chatstore.MessageIDKey] != "2" || page[1].CreatedAt.IsZero() {
		t.Errorf("ReadStored after 1: %+v %v", page, err)
	}
	if msgs, err := c.Read(ctx, id, chatstore.ReadOptions{After: "2", Limit: 5}); err != nil || len(msgs) != 1 {
		t.Errorf("Read after 2: %v %v", msgs, err)
	}
	if _, err := c.Read(ctx, id, chatstore.ReadOptions{After: "x", Limit: 5}); !errors.Is(err, chatstore.ErrNotFound) {
		t.Errorf("Read after an absent id: %v", err)
	}
	if msgs, err := c.Read(ctx, id, chatstore.ReadOptions{Newest: true, Limit: 3}); err != nil || len(msgs) != 3 || msgs[0].Meta[chatstore.MessageIDKey] != "1" {
		t.Errorf("Read the newest 3: %v %v", msgs, err)
	}
	if page, err := c.ReadStored(ctx, id, chatstore.ReadOptions{Before: "2", Limit: 5}); err != nil || len(page) != 2 || page[0].Message.Meta[chatstore.MessageIDKey] != "0" {
		t.Errorf("ReadStored before 2: %+v %v", page, err)
	}
	if _, err := c.Read(ctx, id, chatstore.ReadOptions{Before: "x", Limit: 5}); !errors.Is(err, chatstore.ErrNotFound) {
		t.Errorf("Read before an absent id: %v", err)
	}
	f, err := c.Fork(ctx, id, "fork", "1")
	if err != nil || f.ID != "fork" || f.Count != 2 || f.Metadata["user_id"] != "u-42" {
		t.Errorf("Fork: %+v %v", f, err)
	}
	if _, err := c.Fork(ctx, id, "fork", ""); !errors.Is(err, chatstore.ErrExists) {
		t.Errorf("Fork onto an existing history: %v", err)
	}
	if err := c.DeleteMessage(ctx, id, "0"); err != nil {
		t.Errorf("DeleteMessage: %v", err)
	}
	if err := c.DeleteMessage(ctx, id, "0"); !errors.Is(err, chatstore.ErrNotFound) {
		t.Errorf("DeleteMessage again: %v", err)
	}
	if n, err := c.Truncate(ctx, id, "2"); err != nil || n != 2 {
		t.Errorf("Truncate: %d %v", n, err)
	}
	if n, _ := st.Count(ctx, id); n != 1 {
		t.Errorf("%d messages left, want 1", n)
	}
	time.Sleep(3 * time.Millisecond)
	c.SetMetadata(ctx, "fork", map[string]*string{"topic": &u})
	p, err := c.List(ctx, chatstore.ListOptions{Order: chatstore.ByUpdated, Limit: 1})
	if err != nil || len(p.Histories) != 1 || p.Histories[0].ID != "fork" || p.NextCursor == "" {
		t.Fatalf("List by recency: %+v %v", p, err)
	}
	if p, err = c.List(ctx, chatstore.ListOptions{Order: chatstore.ByUpdated, Cursor: p.NextCursor}); err != nil || len(p.Histories) != 1 || p.Histories[0].ID != id {
		t.Errorf("List by recency, page 2: %+v %v", p, err)
	}
	p, err = c.List(ctx, chatstore.ListOptions{Metadata: map[string]string{"user_id": "u-42", "topic": "u-42"}})
	if err != nil || len(p.Histories) != 1 || p.Histories[0].ID != "fork" {
		t.Errorf("List by metadata: %+v %v", p, err)
	}
	if p, err = c.List(ctx, chatstore.ListOptions{Prefix: "a/"}); err != nil || len(p.Histories) != 1 || p.Histories[0].ID != id {
		t.Errorf("List with a prefix: %+v %v", p, err)
	}
}
