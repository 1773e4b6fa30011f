package redisstore_test

import (
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/driver"
	"github.com/chatstore/chatstore/internal/testenv"
)

// TestListingWithALaggingIndex: a history whose entry in the recency index
// stands in an older step than its last write (its listing failed, or has
// yet to run) is listed where the index has it, at the last millisecond of
// that step, and paging goes on from there: every history once, in that
// order, whatever the page size. A cursor of its own time would page back
// to the newer histories for ever.
func TestListingWithALaggingIndex(t *testing.T) {
	for _, mode := range []struct {
		name   string
		client func(testing.TB) redis.UniversalClient
	}{{"single", singleClient}, {"cluster", clusterClient}} {
		t.Run(mode.name, func(t *testing.T) {
			c := mode.client(t)
			prefix := testPrefix()
			step := int64(1) << driver.RecencyShift
			base := (time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC).UnixMilli()/step + 1) * step
			clk := testenv.NewClock(base)
			st := prefixedStore(t, c, prefix, 0, &chatstore.Options{Clock: clk})
			for i, id := range []string{"a", "b", "c", "d"} {
				clk.Set(base + int64(4*i)*step)
				if _, err := st.Write(t.Context(), id, []chat.Message{chat.User("hi")}); err != nil {
					t.Fatal(err)
				}
			}
			// d's entry falls back to a time in step 2, between a's and b's.
			if err := c.ZAdd(t.Context(), prefix+"}updated", redis.Z{Score: float64(-(base + 2*step + 5)), Member: "d"}).Err(); err != nil {
				t.Fatal(err)
			}
			for _, limit := range []int{1, 2, 3, 10} {
				got, updated := listByRecency(t, st, limit)
				if want := []string{"c", "b", "d", "a"}; !slices.Equal(got, want) {
					t.Errorf("limit %d: %v, want %v", limit, got, want)
				}
				if d := updated["d"]; d != base+12*step {
					t.Errorf("limit %d: d updated at %d, want its own time %d", limit, d, base+12*step)
				}
			}
			// A write in a later step lists it again.
			clk.Set(base + 13*step)
			if _, err := st.Write(t.Context(), "d", []chat.Message{chat.User("again")}); err != nil {
				t.Fatal(err)
			}
			if got, _ := listByRecency(t, st, 2); !slices.Equal(got, []string{"d", "c", "b", "a"}) {
				t.Errorf("after d's write: %v", got)
			}
		})
	}
}

// TestListingRepairedByALaterStep: on a cluster, where a write lists its
// history after its script, a history whose listing failed (here, removed
// from both indexes) is not listed again by writes in the same step, which
// leave the indexes alone, but is by the first write in a later step, in
// the index by id too.
func TestListingRepairedByALaterStep(t *testing.T) {
	c := clusterClient(t)
	prefix := testPrefix()
	step := int64(1) << driver.RecencyShift
	base := (time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC).UnixMilli()/step + 1) * step
	clk := testenv.NewClock(base)
	st := prefixedStore(t, c, prefix, 0, &chatstore.Options{Clock: clk})
	write := func(at int64) {
		t.Helper()
		clk.Set(at)
		if _, err := st.Write(t.Context(), "h", []chat.Message{chat.User("hi")}); err != nil {
			t.Fatal(err)
		}
	}
	write(base)
	if err := c.ZRem(t.Context(), prefix+"histories", "h").Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.ZRem(t.Context(), prefix+"}updated", "h").Err(); err != nil {
		t.Fatal(err)
	}
	write(base + step - 1)
	byID := func() []string {
		t.Helper()
		page, err := st.List(t.Context(), chatstore.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, h := range page.Histories {
			ids = append(ids, h.ID)
		}
		return ids
	}
	if got := byID(); len(got) != 0 {
		t.Fatalf("a write in the same step listed the history: %v", got)
	}
	write(base + step)
	if got := byID(); !slices.Equal(got, []string{"h"}) {
		t.Errorf("by id after a write in the next step: %v", got)
	}
	if got, _ := listByRecency(t, st, 10); !slices.Equal(got, []string{"h"}) {
		t.Errorf("by recency after a write in the next step: %v", got)
	}
}

// listByRecency pages through st's histories by recency, limit a page, and
// returns their ids and times (Unix ms).
func listByRecency(t *testing.T, st *chatstore.Store, limit int) ([]string, map[string]int64) {
	t.Helper()
	var ids []string
	updated := map[string]int64{}
	o := chatstore.ListOptions{Order: chatstore.ByUpdated, Limit: limit}
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatalf("limit %d: paging does not end: %v", limit, ids)
		}
		page, err := st.List(t.Context(), o)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range page.Histories {
			ids = append(ids, h.ID)
			updated[h.ID] = h.UpdatedAt.UnixMilli()
		}
		if page.NextCursor == "" {
			return ids, updated
		}
		o.Cursor = page.NextCursor
	}
}
