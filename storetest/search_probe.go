package storetest

// Review probes of Search (issue 18): paging across another tenant's
// writes (which move scores that weigh words by the whole index), and the
// time filters' bounds on every backend.

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
)

// testSearchProbePagingAcrossUnrelatedWrite: paging through hits that tie
// does not skip or repeat one when, between pages, an unrelated history
// (here another tenant's) is written.
func (s suite) testSearchProbePagingAcrossUnrelatedWrite(t *testing.T) {
	st, ok := s.searchStore(t, newClock())
	if !ok {
		return
	}
	a, b := chatstore.Prefixed(st, "tenant:a:"), chatstore.Prefixed(st, "tenant:b:")
	for i := range 3 {
		write(t, a, fmt.Sprint("h", i), chat.User("swordfish"))
	}
	var got []string
	o := chatstore.SearchOptions{Query: "swordfish", Limit: 1}
	for page := 0; ; page++ {
		p, err := a.Search(ctx(t), o)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range p.Hits {
			got = append(got, h.HistoryID+"/"+h.MessageID)
		}
		if o.Cursor = p.NextCursor; o.Cursor == "" || page > 10 {
			break
		}
		write(t, b, fmt.Sprint("other", page), chat.User("the quick brown fox jumps over the lazy dog"))
	}
	if want := []string{"h0/0", "h1/0", "h2/0"}; !slices.Equal(sorted(got), want) {
		t.Errorf("pages of tenant a, with tenant b writing between them: %v, want each of %v once", got, want)
	}
}

// testSearchProbeTimeBounds: since and until at a finer grain than the
// stored milliseconds, and until at the Unix epoch.
func (s suite) testSearchProbeTimeBounds(t *testing.T) {
	c := newClock()
	st, ok := s.searchStore(t, c)
	if !ok {
		return
	}
	write(t, st, "h", withID(chat.User("swordfish"), "m"))
	at := c.Now() // the message's time, a whole millisecond
	for _, tc := range []struct {
		name string
		o    chatstore.SearchOptions
		want int
	}{
		{"until half a millisecond after it", chatstore.SearchOptions{Until: at.Add(500 * time.Microsecond)}, 1},
		{"since half a millisecond after it", chatstore.SearchOptions{Since: at.Add(500 * time.Microsecond)}, 0},
		{"until the Unix epoch", chatstore.SearchOptions{Until: time.Unix(0, 0)}, 0},
	} {
		o := tc.o
		o.Query = "swordfish"
		if got := found(t, st, o); len(got) != tc.want {
			t.Errorf("%s (message at %s): %d hits, want %d", tc.name, at.Format(time.RFC3339Nano), len(got), tc.want)
		}
	}
}
