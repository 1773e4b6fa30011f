package chatstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/driver"
	"github.com/chatstore/chatstore/memstore"
)

// ranges counts the Range calls of the driver it wraps.
type ranges struct {
	driver.Store
	calls int
}

func (r *ranges) Range(ctx context.Context, id string, from, to int) ([]driver.Message, error) {
	r.calls++
	return r.Store.Range(ctx, id, from, to)
}

// TestMessage finds messages by their chat_message_id on either side of a
// page boundary, reading only the pages up to the one that holds it, and
// says ErrNotFound for ids no history holds, in a view for another view's
// messages too.
func TestMessage(t *testing.T) {
	drv := &ranges{Store: memstore.New()}
	st, err := chatstore.New(drv, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := t.Context()
	msgs := make([]chat.Message, chatstore.MaxRangeLimit+5)
	for i := range msgs {
		msgs[i] = chat.User(fmt.Sprint("text ", i))
	}
	msgs[3].Meta = map[string]any{chatstore.MessageIDKey: "own-id", "k": "v"}
	msgs[4].Meta = map[string]any{chatstore.MessageIDKey: ""} // an empty id is an id
	if _, err := st.Write(ctx, "h", msgs); err != nil {
		t.Fatal(err)
	}
	// The ids the store gave, by position: generated ones step over the
	// ids the write supplied.
	var ids []string
	for offset := 0; offset < len(msgs); offset += chatstore.MaxRangeLimit {
		page, err := st.Range(ctx, "h", offset, chatstore.MaxRangeLimit)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range page {
			ids = append(ids, m.Meta[chatstore.MessageIDKey].(string))
		}
	}
	last := len(msgs) - 1
	for _, c := range []struct{ pos, pages int }{
		{0, 1}, {3, 1}, {4, 1}, {chatstore.MaxRangeLimit - 1, 1}, {chatstore.MaxRangeLimit, 2}, {last, 2},
	} {
		drv.calls = 0
		id := ids[c.pos]
		m, err := st.Message(ctx, "h", id)
		if err != nil {
			t.Errorf("message %q: %v", id, err)
			continue
		}
		if text, _ := m.Text(); text != fmt.Sprint("text ", c.pos) || m.Meta[chatstore.MessageIDKey] != id {
			t.Errorf("message %q: %q with meta %v, want the one at %d", id, text, m.Meta, c.pos)
		}
		if drv.calls != c.pages {
			t.Errorf("message %q: read %d pages, want %d", id, drv.calls, c.pages)
		}
	}
	if ids[3] != "own-id" || ids[4] != "" {
		t.Fatalf("the supplied ids were not kept: %q", ids[:5])
	}
	if m, _ := st.Message(ctx, "h", "own-id"); m.Meta["k"] != "v" {
		t.Errorf("the meta of own-id: %v", m.Meta)
	}

	other := chatstore.Prefixed(st, "other:")
	if _, err := other.Write(ctx, "h", []chat.Message{{Role: chat.RoleUser, Content: []chat.Part{chat.Text{Text: "mine"}}, Meta: map[string]any{chatstore.MessageIDKey: "mine"}}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		store         *chatstore.Store
		history, id   string
		wantErr       error
		wantReadPages int
	}{
		{st, "h", "nope", chatstore.ErrNotFound, 2},
		{st, "h", "mine", chatstore.ErrNotFound, 2}, // the view's message is not the store's "h"'s
		{other, "h", "own-id", chatstore.ErrNotFound, 1},
		{st, "unknown", "0", chatstore.ErrNotFound, 1},
		{st, "h", strings.Repeat("x", chatstore.MaxHistoryIDLen+1), chatstore.ErrNotFound, 0},
		{st, "h", "bad\x00id", chatstore.ErrNotFound, 0},
		{st, "", "0", chatstore.ErrInvalidHistoryID, 0},
	} {
		drv.calls = 0
		_, err := c.store.Message(ctx, c.history, c.id)
		if !errors.Is(err, c.wantErr) {
			t.Errorf("message %.20q of %q: %v, want %v", c.id, c.history, err, c.wantErr)
		}
		if drv.calls != c.wantReadPages {
			t.Errorf("message %.20q of %q: read %d pages, want %d", c.id, c.history, drv.calls, c.wantReadPages)
		}
	}
	if m, err := other.Message(ctx, "h", "mine"); err != nil || m.Meta[chatstore.MessageIDKey] != "mine" {
		t.Errorf("the view's own message: %v %v", m.Meta, err)
	}
	if _, err := st.Message(ctx, "h", "nope"); err == nil || !strings.Contains(err.Error(), `history "h" has no message with chat_message_id "nope"`) {
		t.Errorf("the not-found error does not say what was not found: %v", err)
	}
	st.Close()
	if _, err := st.Message(ctx, "h", "0"); !errors.Is(err, chatstore.ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}
