package bench

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
)

// trace records, in order, which side RunCompare worked on.
type trace struct {
	mu     sync.Mutex
	events []string
}

func (t *trace) add(e string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if n := len(t.events); n == 0 || t.events[n-1] != e {
		t.events = append(t.events, e)
	}
}

// traceStore is a Target that only records that it was called.
type traceStore struct{ t *trace }

func (s traceStore) Write(_ context.Context, _ string, msgs []chat.Message) (int, error) {
	s.t.add("store")
	return len(msgs), nil
}
func (s traceStore) RetrieveLast(context.Context, string, int) ([]chat.Message, error) {
	s.t.add("store")
	return nil, nil
}
func (s traceStore) Delete(context.Context, string) error { s.t.add("store"); return nil }
func (s traceStore) Search(context.Context, chatstore.SearchOptions) (chatstore.SearchPage, error) {
	s.t.add("store")
	return chatstore.SearchPage{}, nil
}

// traceRaw is a rawDB that only records that it was called.
type traceRaw struct{ t *trace }

func (r traceRaw) append(context.Context, string, [][]byte) error { r.t.add("raw"); return nil }
func (r traceRaw) last(context.Context, string, int) ([][]byte, error) {
	r.t.add("raw")
	return nil, nil
}
func (r traceRaw) delete(context.Context, string) error { r.t.add("raw"); return nil }
func (r traceRaw) settle(context.Context) error         { r.t.add("settle"); return nil }
func (r traceRaw) close(context.Context) error          { return nil }

// TestRunCompareTakesTurns: the store and the baseline take turns workload
// by workload, the store first in W1 and W3 and the baseline in W2 and
// W4, with the database settled before every run; S1 runs on the store
// alone; and each workload's figures are paired with their own.
func TestRunCompareTakesTurns(t *testing.T) {
	tr := &trace{}
	raw := &Raw{name: "raw test", db: traceRaw{tr}}
	cfg := Config{Workloads: []string{"W1", "W2", "W3", "W4", "S1"}, Scale: 0.001, Clients: 2, Duration: 20 * time.Millisecond, Reads: 2}
	c, err := RunCompare(t.Context(), traceStore{tr}, "store", raw, cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"settle", "store", "settle", "raw", // W1
		"settle", "raw", "settle", "store", // W2
		"settle", "store", "settle", "raw", // W3
		"settle", "raw", "settle", "store", // W4
		"settle", "store", // S1
	}
	if !slices.Equal(tr.events, want) {
		t.Errorf("runs in the order\n%s\nwant\n%s", strings.Join(tr.events, " "), strings.Join(want, " "))
	}
	var got []string
	for _, r := range c.Ratios {
		got = append(got, r.Workload)
	}
	if w := "W1 W2 W3 W3 W3 W4"; strings.Join(got, " ") != w {
		t.Errorf("ratios of %v, want %s", got, w)
	}
	// S1's two results (the fill and the searches) follow the store's
	// others; the baseline has none.
	if n := len(c.Store.Results); n != 8 || c.Store.Results[6].Workload != "S1" || c.Store.Results[7].Workload != "S1" || len(c.Raw.Results) != 6 {
		t.Errorf("results: the store's %+v, the baseline's %+v", c.Store.Results, c.Raw.Results)
	}
}
