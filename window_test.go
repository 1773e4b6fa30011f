package chatstore_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/driver"
	"github.com/chatstore/chatstore/memstore"
)

// pageCounter is a memstore that counts the messages its pages return.
type pageCounter struct {
	*memstore.Store
	read atomic.Int64
}

func (p *pageCounter) Page(ctx context.Context, id string, span driver.Span) ([]driver.Message, error) {
	msgs, err := p.Store.Page(ctx, id, span)
	p.read.Add(int64(len(msgs)))
	return msgs, err
}

// TestWindowReadsOnlyTheWindow: a budgeted read of a long history reads
// the window and about a page more, not the history, with or without a
// compaction in effect.
func TestWindowReadsOnlyTheWindow(t *testing.T) {
	ctx := t.Context()
	drv := &pageCounter{Store: memstore.New()}
	st, err := chatstore.New(drv, nil)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []chat.Message
	for i := range 5000 {
		msgs = append(msgs, chat.User("question "+strconv.Itoa(i)), chat.Assistant("an answer of some words "+strconv.Itoa(i)))
	}
	if _, err := st.Write(ctx, "h", msgs); err != nil {
		t.Fatal(err)
	}
	for _, compacted := range []bool{false, true} {
		if compacted {
			if _, err := st.Compact(ctx, "h", "9000", chat.User("summary")); err != nil {
				t.Fatal(err)
			}
		}
		drv.read.Store(0)
		var win chatstore.Window
		got, err := st.Read(ctx, "h", chatstore.ReadOptions{LastK: chatstore.All, MaxTokens: 200, Window: &win})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 || win.Tokens > 200 || !win.More {
			t.Fatalf("compacted %v: %d messages, window %+v", compacted, len(got), win)
		}
		if n := drv.read.Load(); n > int64(len(got))+100 {
			t.Errorf("compacted %v: a window of %d messages read %d", compacted, len(got), n)
		}
	}
}
