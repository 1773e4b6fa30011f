package chatstore_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/driver"
	"github.com/chatstore/chatstore/memstore"
	"github.com/chatstore/chatstore/tokens"
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

// TestSlidingWindowCases: the windows of Haystack's own
// SlidingWindowCompactor tests (test_sliding_window.py; its test counter is
// the approximate counter without flat charges, as these messages have
// none), on a store that skips system messages, as stores do by default:
// Haystack keeps the leading system message besides, which a store's read
// leaves to the caller's current messages.
func TestSlidingWindowCases(t *testing.T) {
	ctx := t.Context()
	tc := func(id string) chat.Message {
		return chat.Assistant("", chat.ToolCall{ToolName: "search", ID: chat.Ptr(id), Arguments: map[string]any{}})
	}
	tr := func(text, id string) chat.Message {
		return chat.Tool(text, chat.ToolCall{ToolName: "search", ID: chat.Ptr(id), Arguments: map[string]any{}}, false)
	}
	cases := []struct {
		name   string
		msgs   []chat.Message
		budget int64
		want   []int // indices into msgs
	}{{
		// Test_sliding_window's history case: the newest whole turns.
		name: "turns",
		msgs: []chat.Message{chat.System("rules"), chat.User("old question"), chat.Assistant(strings.Repeat("old answer ", 100)),
			chat.User("recent question"), chat.Assistant("recent answer"), chat.User("current task"), chat.Assistant("current answer")},
		budget: 30,
		want:   []int{3, 4, 5, 6},
	}, {
		// The current task overruns: its user message and the newest step.
		name: "current task overruns",
		msgs: []chat.Message{chat.System("rules"), chat.User("old question"), tc("old-call"), tr("old result", "old-call"), chat.Assistant("old final answer"),
			chat.User("current task"), tc("current-call-1"), tr(strings.Repeat("large intermediate result ", 100), "current-call-1"),
			tc("current-call-2"), tr("latest result", "current-call-2")},
		budget: 52,
		want:   []int{5, 8, 9},
	}}
	for _, c := range cases {
		st, err := chatstore.New(memstore.New(), nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range c.msgs {
			c.msgs[i] = c.msgs[i].WithMeta("i", i)
		}
		if _, err := st.Write(ctx, "h", c.msgs); err != nil {
			t.Fatal(err)
		}
		got, err := st.Read(ctx, "h", chatstore.ReadOptions{LastK: chatstore.All, MaxTokens: c.budget})
		if err != nil {
			t.Fatal(err)
		}
		var idx []int
		for _, m := range got {
			n, err := strconv.Atoi(fmt.Sprint(m.Meta["i"]))
			if err != nil {
				t.Fatal(err)
			}
			idx = append(idx, n)
		}
		if !slices.Equal(idx, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, idx, c.want)
		}
	}
}

// TestWindowEdges: the window's report and bounds where a round is large.
func TestWindowEdges(t *testing.T) {
	ctx := t.Context()
	open := func(msgs ...chat.Message) *chatstore.Store {
		st, err := chatstore.New(memstore.New(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Write(ctx, "h", msgs); err != nil {
			t.Fatal(err)
		}
		return st
	}
	long := func(n int) string { return strings.Repeat("x", n) }

	// A round that the budget leaves out is not read whole to be refused
	// for its bytes: only what is taken counts toward MaxBytes.
	st := open(chat.User(long(4000)), chat.Assistant(long(2500)), chat.User("hi"), chat.Assistant("hello"))
	var win chatstore.Window
	got, err := st.Read(ctx, "h", chatstore.ReadOptions{LastK: chatstore.All, MaxTokens: 800, MaxBytes: 2500, Window: &win})
	if err != nil || len(got) != 2 || !win.More {
		t.Errorf("a small window past a large round: %d messages, %+v, %v", len(got), win, err)
	}

	// A newest round over the budget with nothing older and nothing left
	// out of it: exceeded, but no more.
	st = open(chat.User(long(4000)), chat.Assistant("ok"))
	if got, err = st.Read(ctx, "h", chatstore.ReadOptions{LastK: chatstore.All, MaxTokens: 100, Window: &win}); err != nil || len(got) != 2 || !win.Exceeded || win.More {
		t.Errorf("one round over the budget: %d messages, %+v, %v", len(got), win, err)
	}

	// The omitted tokens are those of the messages as stored, whatever a
	// pruned read returned in their place.
	call := chat.ToolCall{ToolName: "search", ID: chat.Ptr("c"), Arguments: map[string]any{}}
	msgs := []chat.Message{
		chat.User("first"), chat.Assistant("one"),
		chat.User("second"), chat.Assistant("", call), chat.Tool(long(2000), call, false), chat.Assistant("two"),
		chat.User("third"), chat.Assistant("", call), chat.Tool("small", call, false), chat.Assistant("three"),
	}
	st = open(msgs...)
	if got, err = st.Read(ctx, "h", chatstore.ReadOptions{LastK: 2, MaxTokens: 100_000, PruneToolResults: true, Window: &win}); err != nil || win.Pruned != 1 {
		t.Fatalf("pruned read: %d messages, %+v, %v", len(got), win, err)
	}
	counter, _ := tokens.NewApproximate(nil)
	if want := int64(counter.Count(msgs[:2], nil)); win.Omitted != 2 || win.OmittedTokens != want {
		t.Errorf("omitted %d messages of %d tokens, want 2 of %d", win.Omitted, win.OmittedTokens, want)
	}
}
