package storetest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
)

// testErase: erasing by metadata removes exactly the matching histories of
// the view, their messages from searches too, and says how many; again, it
// removes nothing.
func (s suite) testErase(t *testing.T) {
	st, ok := s.editStore(t, newClock())
	if !ok {
		return
	}
	a, b := chatstore.Prefixed(st, "a/"), chatstore.Prefixed(st, "b/")
	v42, v7 := "u-42", "u-7"
	var want chatstore.Erasure
	for i := range 2*chatstore.EraseBatch + 30 {
		user := &v7
		if i%2 == 0 {
			user = &v42
		}
		id := fmt.Sprint("h", i)
		msgs := []chat.Message{chat.User(fmt.Sprintf("zebrafish question %d from %s", i, *user)), chat.Assistant("an answer")}
		if i%3 == 0 {
			msgs = msgs[:1]
		}
		write(t, a, id, msgs...)
		if _, err := a.SetMetadata(ctx(t), id, map[string]*string{"user_id": user}); err != nil {
			t.Fatal(err)
		}
		if user == &v42 {
			want.Histories++
			want.Messages += int64(len(msgs))
		}
	}
	write(t, b, "other", chat.User("zebrafish in another view"))
	if _, err := b.SetMetadata(ctx(t), "other", map[string]*string{"user_id": &v42}); err != nil {
		t.Fatal(err)
	}

	got, err := a.Erase(ctx(t), map[string]string{"user_id": "u-42"})
	if err != nil || got != want {
		t.Fatalf("erase: %+v, %v; want %+v", got, err, want)
	}
	if left := listAll(t, a, chatstore.ListOptions{Metadata: map[string]string{"user_id": "u-42"}}); len(left) != 0 {
		t.Errorf("histories left matching: %v", left)
	}
	if kept := listAll(t, a, chatstore.ListOptions{Metadata: map[string]string{"user_id": "u-7"}}); len(kept) != int(2*chatstore.EraseBatch+30-want.Histories) {
		t.Errorf("%d histories of another user left, want %d", len(kept), 2*chatstore.EraseBatch+30-want.Histories)
	}
	if n := count(t, b, "other"); n != 1 {
		t.Errorf("another view's matching history lost its messages: %d left", n)
	}
	if page, err := a.Search(ctx(t), chatstore.SearchOptions{Query: "u-42"}); err == nil {
		for _, h := range page.Hits {
			t.Errorf("an erased message is still found: %+v", h)
		}
	} else if !errors.Is(err, chatstore.ErrNotSupported) {
		t.Fatal(err)
	}
	if again, err := a.Erase(ctx(t), map[string]string{"user_id": "u-42"}); err != nil || again != (chatstore.Erasure{}) {
		t.Errorf("erasing again: %+v, %v", again, err)
	}
	if _, err := a.Erase(ctx(t), nil); !errors.Is(err, chatstore.ErrInvalidMetadata) {
		t.Errorf("erasing with no pair to match: %v", err)
	}
}
