package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/driver"
	"github.com/chatstore/chatstore/internal/testenv"
)

// stepStart is the first millisecond of a step of the recency index
// (driver.RecencyShift) after the suite's clocks' start.
func stepStart() (base, step int64) {
	step = int64(1) << driver.RecencyShift
	return (time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC).UnixMilli()/step + 1) * step, step
}

// recencyScore is the score of a history in the recency index, and
// whether it has one.
func recencyScore(t *testing.T, c redis.UniversalClient, prefix, id string) (int64, bool) {
	t.Helper()
	sc, err := c.ZScore(t.Context(), prefix+"}updated", id).Result()
	if errors.Is(err, redis.Nil) {
		return 0, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return int64(sc), true
}

// TestListingWithAMovedEntry: a history whose entry in the recency index
// stands in another step than its last write is listed where the index
// has it, with its own time, and paging goes on from there: every history
// once, in that order, whatever the page size. An entry that lags in an
// older step (its listing failed, or has yet to run) is listed at the last
// millisecond of that step; a cursor of the history's own time would page
// back to the newer histories for ever. One ahead in a later step (a
// cluster write's listing beside its script, while the script has yet to
// run, or after a write that stored nothing) is listed at the first
// millisecond of that step. A write in a later step puts either back in
// place.
func TestListingWithAMovedEntry(t *testing.T) {
	base, step := stepStart()
	for _, tc := range []struct {
		name, id string
		to       int64 // the entry's new time
		want     []string
	}{
		// d's entry falls back to a time in step 2, between a's and b's.
		{"lagging", "d", base + 2*step + 5, []string{"c", "b", "d", "a"}},
		// a's entry moves on to a time in step 10, between c's and d's.
		{"ahead", "a", base + 10*step + 5, []string{"d", "a", "c", "b"}},
	} {
		for _, mode := range modes {
			t.Run(tc.name+"/"+mode.name, func(t *testing.T) {
				c := mode.client(t)
				prefix := testPrefix()
				clk := testenv.NewClock(base)
				st := prefixedStore(t, c, prefix, 0, &chatstore.Options{Clock: clk})
				ids := []string{"a", "b", "c", "d"}
				writeEvery4Steps(t, st, clk, ids...)
				own := base + int64(4*slices.Index(ids, tc.id))*step
				if err := c.ZAdd(t.Context(), prefix+"}updated", redis.Z{Score: float64(-tc.to), Member: tc.id}).Err(); err != nil {
					t.Fatal(err)
				}
				for _, limit := range []int{1, 2, 3, 10} {
					got, updated := listByRecency(t, st, limit)
					if !slices.Equal(got, tc.want) {
						t.Errorf("limit %d: %v, want %v", limit, got, tc.want)
					}
					if at := updated[tc.id]; at != own {
						t.Errorf("limit %d: %s updated at %d, want its own time %d", limit, tc.id, at, own)
					}
				}
				clk.Set(base + 13*step)
				if _, err := st.Write(t.Context(), tc.id, []chat.Message{chat.User("again")}); err != nil {
					t.Fatal(err)
				}
				want := append([]string{tc.id}, slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return id == tc.id })...)
				slices.Reverse(want[1:])
				if got, _ := listByRecency(t, st, 2); !slices.Equal(got, want) {
					t.Errorf("after %s's write: %v, want %v", tc.id, got, want)
				}
			})
		}
	}
}

// writeEvery4Steps writes a message to each history of ids, the first at
// the first step after the suite's clocks' start (stepStart), each next
// four steps later.
func writeEvery4Steps(t *testing.T, st *chatstore.Store, clk *testenv.Clock, ids ...string) {
	t.Helper()
	base, step := stepStart()
	for i, id := range ids {
		clk.Set(base + int64(4*i)*step)
		if _, err := st.Write(t.Context(), id, []chat.Message{chat.User("hi")}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestEntryNeverBehindWithinStep: on a cluster, a change that places a
// history in the recency index at its exact time (an edit, or a write of
// an earlier release) does not keep the next write in the same step from
// listing it at the step's end, nor does one after that write move it
// back: the entry never stands behind its history in its step, where the
// listings of earlier releases would page back to it for ever.
func TestEntryNeverBehindWithinStep(t *testing.T) {
	c := clusterClient(t)
	prefix := testPrefix()
	base, step := stepStart()
	clk := testenv.NewClock(base)
	st := prefixedStore(t, c, prefix, 0, &chatstore.Options{Clock: clk})
	v := "v"
	check := func(at int64) {
		t.Helper()
		if sc, _ := recencyScore(t, c, prefix, "h"); -sc < at || -sc>>driver.RecencyShift != at>>driver.RecencyShift {
			t.Errorf("h's entry %d is not in its step at or after its change %d", -sc, at)
		}
	}
	clk.Set(base + 1)
	if _, err := st.SetMetadata(t.Context(), "h", map[string]*string{"k": &v}); err != nil {
		t.Fatal(err)
	}
	clk.Set(base + 3)
	if _, err := st.Write(t.Context(), "h", []chat.Message{chat.User("hi"), chat.Assistant("ok")}); err != nil {
		t.Fatal(err)
	}
	check(base + 3)
	clk.Set(base + 5)
	if err := st.DeleteMessage(t.Context(), "h", "0"); err != nil {
		t.Fatal(err)
	}
	check(base + 5)
	clk.Set(base + 7)
	if _, err := st.Write(t.Context(), "h", []chat.Message{chat.User("again")}); err != nil {
		t.Fatal(err)
	}
	check(base + 7)

	// A write that finds the history expired by the store's clock (not
	// yet by Redis's) wipes it, starts it anew and lists it again.
	wst := prefixedStore(t, c, prefix+"w", time.Minute, &chatstore.Options{Clock: clk})
	clk.Set(base + 9)
	if _, err := wst.Write(t.Context(), "h", []chat.Message{chat.User("hi")}); err != nil {
		t.Fatal(err)
	}
	later := base + 120*step // two minutes on: expired
	for _, at := range []int64{later + 1, later + 3} {
		clk.Set(at)
		if _, err := wst.Write(t.Context(), "h", []chat.Message{chat.User("anew")}); err != nil {
			t.Fatal(err)
		}
		if sc, _ := recencyScore(t, c, prefix+"w", "h"); -sc < at || -sc>>driver.RecencyShift != at>>driver.RecencyShift {
			t.Errorf("after the wipe, h's entry %d is not in its step at or after its write %d", -sc, at)
		}
	}
	if n, err := wst.Count(t.Context(), "h"); err != nil || n != 2 {
		t.Errorf("the history after the wipe holds %d messages (%v), want 2", n, err)
	}
}

// failZAdds makes the commands of a client's pipelines that add to a key
// ending in suffix fail, while armed, unsent; the pipeline's other commands
// run.
type failZAdds struct {
	suffix string
	armed  atomic.Bool
}

func (f *failZAdds) DialHook(next redis.DialHook) redis.DialHook { return next }

func (f *failZAdds) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (f *failZAdds) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if !f.armed.Load() {
			return next(ctx, cmds)
		}
		injected := errors.New("injected: listing failed")
		var rest []redis.Cmder
		for _, c := range cmds {
			if a := c.Args(); len(a) > 1 && a[0] == "zadd" && strings.HasSuffix(fmt.Sprint(a[1]), f.suffix) {
				c.SetErr(injected)
			} else {
				rest = append(rest, c)
			}
		}
		if len(rest) == len(cmds) {
			return next(ctx, cmds)
		}
		if len(rest) > 0 {
			if err := next(ctx, rest); err != nil {
				return err
			}
		}
		return injected
	}
}

// TestListingFailedThenRepaired: on a cluster, where a write lists its
// history after its script (or, for a history the process has not listed,
// beside it, and then after it if that failed), a write whose listing
// fails answers ErrOutcomeUnknown, and this process's next write to the
// history lists it, though in the same step; a history missing from both
// indexes (a listing lost to another process) is listed again by its first
// write in a later step, in the index by id too.
func TestListingFailedThenRepaired(t *testing.T) {
	c := clusterClient(t)
	fail := &failZAdds{suffix: "}updated"}
	c.AddHook(fail)
	prefix := testPrefix()
	base, step := stepStart()
	clk := testenv.NewClock(base)
	st := prefixedStore(t, c, prefix, 0, &chatstore.Options{Clock: clk})
	write := func(id string, at int64) error {
		t.Helper()
		clk.Set(at)
		_, err := st.Write(t.Context(), id, []chat.Message{chat.User("hi")})
		return err
	}
	if err := write("h", base); err != nil {
		t.Fatal(err)
	}
	fail.armed.Store(true)
	if err := write("h", base+step+1); !errors.Is(err, chatstore.ErrOutcomeUnknown) {
		t.Fatalf("a write whose listing failed: %v, want ErrOutcomeUnknown", err)
	}
	if err := write("n", base+step+2); !errors.Is(err, chatstore.ErrOutcomeUnknown) {
		t.Fatalf("a first write whose listings beside and after its script failed: %v, want ErrOutcomeUnknown", err)
	}
	fail.armed.Store(false)
	if sc, _ := recencyScore(t, c, prefix, "h"); -sc>>driver.RecencyShift != base>>driver.RecencyShift {
		t.Fatalf("h's entry moved to %d though its listing failed", -sc)
	}
	if _, ok := recencyScore(t, c, prefix, "n"); ok {
		t.Fatal("n is listed by recency though both its listings failed")
	}
	if err := write("n", base+step+3); err != nil {
		t.Fatal(err)
	}
	if sc, ok := recencyScore(t, c, prefix, "n"); !ok || -sc>>driver.RecencyShift != (base+step)>>driver.RecencyShift {
		t.Errorf("the write after n's failed listings left its entry at %d (%v), want step %d", -sc, ok, (base+step)>>driver.RecencyShift)
	}
	if err := write("h", base+step+2); err != nil {
		t.Fatal(err)
	}
	if sc, _ := recencyScore(t, c, prefix, "h"); -sc>>driver.RecencyShift != (base+step)>>driver.RecencyShift {
		t.Errorf("the write after the failed listing left h's entry at %d, want step %d", -sc, (base+step)>>driver.RecencyShift)
	}

	// Another process lost g's first listing.
	if err := write("g", base+2*step); err != nil {
		t.Fatal(err)
	}
	if err := c.ZRem(t.Context(), prefix+"histories", "g").Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.ZRem(t.Context(), prefix+"}updated", "g").Err(); err != nil {
		t.Fatal(err)
	}
	if err := write("g", base+3*step); err != nil {
		t.Fatal(err)
	}
	page, err := st.List(t.Context(), chatstore.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, h := range page.Histories {
		ids = append(ids, h.ID)
	}
	if !slices.Equal(ids, []string{"g", "h", "n"}) {
		t.Errorf("by id after g's write in a later step: %v", ids)
	}
	if got, _ := listByRecency(t, st, 10); !slices.Equal(got, []string{"g", "n", "h"}) {
		t.Errorf("by recency after g's write in a later step: %v", got)
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
