package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/driver"
	"github.com/chatstore/chatstore/internal/testenv"
	"github.com/chatstore/chatstore/redisstore"
)

// splitWrite runs a cluster write's pipeline that lists its history beside
// its script (prelist) in two parts, while between is set: the listing,
// then between(script), where script runs the rest (at most once; it runs
// after between if between did not run it).
type splitWrite struct {
	between atomic.Pointer[func(script func())]
}

func (*splitWrite) DialHook(next redis.DialHook) redis.DialHook { return next }

func (*splitWrite) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (h *splitWrite) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		between := h.between.Load()
		var listing, rest []redis.Cmder
		for _, c := range cmds {
			if c.Name() == "zadd" {
				listing = append(listing, c)
			} else {
				rest = append(rest, c)
			}
		}
		if between == nil || len(listing) == 0 || len(rest) == 0 {
			return next(ctx, cmds)
		}
		if err := next(ctx, listing); err != nil {
			return err
		}
		var (
			ran bool
			err error
		)
		script := func() {
			if !ran {
				ran, err = true, next(ctx, rest)
			}
		}
		(*between)(script)
		script()
		return err
	}
}

// write writes a message of text to history id of st, between running
// between its listing and its script, and fails the test if it fails.
func (h *splitWrite) write(t *testing.T, st *chatstore.Store, id, text string, between func(script func())) {
	t.Helper()
	h.between.Store(&between)
	defer h.between.Store(nil)
	if _, err := st.Write(t.Context(), id, []chat.Message{chat.User(text)}); err != nil {
		t.Fatal(err)
	}
}

// beforeMark runs fn, while set, before a pipeline that leaves a
// removal's marks (redisstore.MarkSrc) runs.
type beforeMark struct {
	fn atomic.Pointer[func()]
}

func (*beforeMark) DialHook(next redis.DialHook) redis.DialHook { return next }

func (*beforeMark) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (h *beforeMark) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if fn := h.fn.Load(); fn != nil && slices.ContainsFunc(cmds, func(c redis.Cmder) bool {
			a := c.Args()
			return len(a) > 1 && a[0] == "eval" && a[1] == redisstore.MarkSrc
		}) {
			(*fn)()
		}
		return next(ctx, cmds)
	}
}

// TestRemovalMeetsACreation: on a cluster, a write that may create its
// history lists it beside its script, so a removal from the listing
// indexes (a listing that prunes an id with no history, a Delete) can take
// that entry out before the script creates the history. Whether the script
// then runs before the removal's check (which finds the history and lists
// it again) or after it (and finds its mark, and lists it again), the
// history ends listed, by id and by recency. The mark expires.
func TestRemovalMeetsACreation(t *testing.T) {
	removals := []struct {
		name string
		do   func(ctx context.Context, st *chatstore.Store) error
	}{
		{"a listing prunes", func(ctx context.Context, st *chatstore.Store) error {
			page, err := st.List(ctx, chatstore.ListOptions{Order: chatstore.ByUpdated})
			if err == nil && len(page.Histories) > 0 {
				err = errors.New("the listing shows a history that does not exist yet")
			}
			return err
		}},
		{"a delete", func(ctx context.Context, st *chatstore.Store) error { return st.Delete(ctx, "h") }},
	}
	for _, removal := range removals {
		for _, scriptFirst := range []bool{false, true} {
			name := removal.name + ", then the script"
			if scriptFirst {
				name = removal.name + ", the script before its check"
			}
			t.Run(name, func(t *testing.T) {
				ctx := t.Context()
				ca, cb := clusterClient(t), clusterClient(t)
				split, mark := &splitWrite{}, &beforeMark{}
				ca.AddHook(split)
				cb.AddHook(mark)
				prefix := testPrefix()
				a := prefixedStore(t, ca, prefix, 0, nil)
				b := prefixedStore(t, cb, prefix, 0, nil)
				entry := func() bool {
					_, ok := recencyScore(t, ca, prefix, "h")
					return ok
				}
				met := false
				between := func(script func()) {
					if !entry() {
						t.Error("the write's listing did not run before its script")
					}
					if scriptFirst {
						run := func() {
							met = !entry()
							script()
						}
						mark.fn.Store(&run)
						defer mark.fn.Store(nil)
					}
					if err := removal.do(ctx, b); err != nil {
						t.Errorf("the removal: %v", err)
					}
					if !scriptFirst {
						met = !entry()
						script()
					}
				}
				split.write(t, a, "h", "hi", between)
				if !met {
					t.Fatal("the removal did not take the write's entry out before the script ran")
				}
				all, err := b.List(ctx, chatstore.ListOptions{})
				if err != nil {
					t.Fatal(err)
				}
				recent, _ := listByRecency(t, b, 10)
				if len(all.Histories) != 1 || all.Histories[0].ID != "h" || !slices.Equal(recent, []string{"h"}) {
					t.Errorf("listed by id %v, by recency %v; want h", all.Histories, recent)
				}
				if d := ca.PTTL(ctx, prefix+"{h}:u").Val(); d <= 0 || d > time.Minute {
					t.Errorf("the removal's mark expires in %v, want within a minute", d)
				}
				if _, err := a.Write(ctx, "h", []chat.Message{chat.User("again")}); err != nil {
					t.Fatal(err)
				}
				if recent, _ := listByRecency(t, b, 10); !slices.Equal(recent, []string{"h"}) {
					t.Errorf("listed by recency %v after the next write; want h", recent)
				}
			})
		}
	}
}

// TestRemovalRelistsAnOlderState: on a cluster, a removal that meets a
// history that exists lists it again from its state, which a write in
// flight may be about to change: here a write that adds the history beside
// its script (the index lost it) in a later step, while another process's
// write wipes the expired history, and so unlists and relists it, before
// that script runs. The entry must end in the step of the history's last
// write, not behind it, and stay there through a later write in that step.
func TestRemovalRelistsAnOlderState(t *testing.T) {
	ctx := t.Context()
	ca, cb := clusterClient(t), clusterClient(t)
	split := &splitWrite{}
	ca.AddHook(split)
	prefix := testPrefix()
	base, step := stepStart()
	clkA, clkB := testenv.NewClock(base), testenv.NewClock(base)
	a := prefixedStore(t, ca, prefix, time.Minute, &chatstore.Options{Clock: clkA})
	b := prefixedStore(t, cb, prefix, time.Minute, &chatstore.Options{Clock: clkB})
	if _, err := b.Write(ctx, "h", []chat.Message{chat.User("hi")}); err != nil {
		t.Fatal(err)
	}
	if err := ca.ZRem(ctx, prefix+"}updated", "h").Err(); err != nil {
		t.Fatal(err)
	}
	later := base + 120*step // expired by the stores' clocks
	clkB.Set(later)
	clkA.Set(later + step)
	added := false
	between := func(script func()) {
		_, added = recencyScore(t, ca, prefix, "h")
		if _, err := b.Write(ctx, "h", []chat.Message{chat.User("anew")}); err != nil {
			t.Error(err)
		}
		script()
	}
	split.write(t, a, "h", "w2", between)
	if !added {
		t.Fatal("the write did not add the history to the recency index beside its script")
	}
	clkA.Set(later + step + 1)
	if _, err := a.Write(ctx, "h", []chat.Message{chat.User("w3")}); err != nil {
		t.Fatal(err)
	}
	sc, ok := recencyScore(t, ca, prefix, "h")
	info, _, err := a.Info(ctx, "h")
	if err != nil {
		t.Fatal(err)
	}
	up := info.UpdatedAt.UnixMilli()
	if !ok || -sc>>driver.RecencyShift != up>>driver.RecencyShift {
		t.Errorf("entry at %d (step %d), history updated at %d (step %d)", -sc, -sc>>driver.RecencyShift, up, up>>driver.RecencyShift)
	}
}

// noScriptOnce answers NOSCRIPT, unsent, to the EVALSHA of the next
// pipeline that holds one, while armed, and runs the rest of that
// pipeline; it counts the pipelines that hold a ZADD.
type noScriptOnce struct {
	armed atomic.Bool
	zadds atomic.Int32
}

type noScriptErr struct{}

func (noScriptErr) Error() string { return "NOSCRIPT No matching script (injected)" }
func (noScriptErr) RedisError()   {}

func (*noScriptOnce) DialHook(next redis.DialHook) redis.DialHook { return next }

func (*noScriptOnce) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (h *noScriptOnce) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if slices.ContainsFunc(cmds, func(c redis.Cmder) bool { return c.Name() == "zadd" }) {
			h.zadds.Add(1)
		}
		if !slices.ContainsFunc(cmds, func(c redis.Cmder) bool { return c.Name() == "evalsha" }) || !h.armed.Swap(false) {
			return next(ctx, cmds)
		}
		var rest []redis.Cmder
		for _, c := range cmds {
			if c.Name() == "evalsha" {
				c.SetErr(noScriptErr{})
			} else {
				rest = append(rest, c)
			}
		}
		if err := next(ctx, rest); err != nil {
			return err
		}
		return noScriptErr{}
	}
}

// TestScriptLoadedBesideAListing: a cluster write whose script Redis does
// not hold (NOSCRIPT: it ran EVAL after) while the listing beside it took
// is listed once, beside the script, and is listed.
func TestScriptLoadedBesideAListing(t *testing.T) {
	c := clusterClient(t)
	h := &noScriptOnce{}
	c.AddHook(h)
	st := prefixedStore(t, c, testPrefix(), 0, nil)
	h.armed.Store(true)
	if _, err := st.Write(t.Context(), "h", []chat.Message{chat.User("hi")}); err != nil {
		t.Fatal(err)
	}
	if h.armed.Load() {
		t.Fatal("the write did not run its script beside a listing")
	}
	if n := h.zadds.Load(); n != 1 {
		t.Errorf("%d pipelines listed the history, want 1 (the one beside the script)", n)
	}
	if recent, _ := listByRecency(t, st, 10); !slices.Equal(recent, []string{"h"}) {
		t.Errorf("listed by recency %v; want h", recent)
	}
}

// TestNoOpsFromAnotherProcess: a replay of an idempotent write, and a
// write whose messages the history holds already, by a process that has
// not listed the history (on a cluster it adds such a history to the
// indexes beside its script, as for a history it may be creating) move it
// in no listing by recency.
func TestNoOpsFromAnotherProcess(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			ctx := t.Context()
			prefix := testPrefix()
			base, step := stepStart()
			clk := testenv.NewClock(base)
			first := prefixedStore(t, mode.client(t), prefix, 0, &chatstore.Options{Clock: clk})
			known := chat.User("hello")
			known.Meta = map[string]any{chatstore.MessageIDKey: "m-1"}
			if _, _, err := first.WriteIdempotent(ctx, "a", "key-1", []chat.Message{known}); err != nil {
				t.Fatal(err)
			}
			clk.Set(base + 4*step)
			if _, err := first.Write(ctx, "b", []chat.Message{chat.User("hi")}); err != nil {
				t.Fatal(err)
			}
			for i, op := range []func(st *chatstore.Store) error{
				func(st *chatstore.Store) error {
					_, replayed, err := st.WriteIdempotent(ctx, "a", "key-1", []chat.Message{known})
					if err == nil && !replayed {
						err = errors.New("not replayed")
					}
					return err
				},
				func(st *chatstore.Store) error {
					n, err := st.Write(ctx, "a", []chat.Message{known})
					if err == nil && n != 0 {
						err = fmt.Errorf("stored %d", n)
					}
					return err
				},
			} {
				clk.Set(base + int64(8+4*i)*step)
				other := prefixedStore(t, mode.client(t), prefix, 0, &chatstore.Options{Clock: clk})
				if err := op(other); err != nil {
					t.Fatalf("op %d: %v", i, err)
				}
				if got, _ := listByRecency(t, other, 10); !slices.Equal(got, []string{"b", "a"}) {
					t.Errorf("after op %d: by recency %v, want [b a]", i, got)
				}
			}
		})
	}
}

// TestMarkFoundByAnotherWrite: on a cluster, process A adds a new history
// to the indexes beside its script, in step S+1; a listing prunes that
// entry (the history does not exist yet) and leaves its mark; process B,
// whose clock is still in step S, creates the history, finds the mark and
// lists it in S. A's script, which finds the mark too, must list the
// history again after it (its addition was taken out), so that the entry
// stands in S+1, the step of the history's last change, through A's later
// writes in that step. (An earlier version had the first write to find a
// mark take it.)
func TestMarkFoundByAnotherWrite(t *testing.T) {
	ctx := t.Context()
	ca, cb, cq := clusterClient(t), clusterClient(t), clusterClient(t)
	split := &splitWrite{}
	ca.AddHook(split)
	prefix := testPrefix()
	base, step := stepStart()
	clkA, clkQ := testenv.NewClock(base+step), testenv.NewClock(base+step-2)
	a := prefixedStore(t, ca, prefix, 0, &chatstore.Options{Clock: clkA})
	b := prefixedStore(t, cb, prefix, 0, nil)
	q := prefixedStore(t, cq, prefix, 0, &chatstore.Options{Clock: clkQ})
	between := func(script func()) {
		if _, err := b.List(ctx, chatstore.ListOptions{Order: chatstore.ByUpdated}); err != nil {
			t.Error(err)
		}
		if _, ok := recencyScore(t, ca, prefix, "h"); ok {
			t.Error("not pruned")
		}
		if _, err := q.Write(ctx, "h", []chat.Message{chat.User("q")}); err != nil {
			t.Error(err)
		}
		script()
	}
	split.write(t, a, "h", "p", between)
	for i := int64(1); i <= 2; i++ {
		clkA.Set(base + step + i)
		if _, err := a.Write(ctx, "h", []chat.Message{chat.User("more")}); err != nil {
			t.Fatal(err)
		}
		sc, ok := recencyScore(t, ca, prefix, "h")
		info, _, _ := a.Info(ctx, "h")
		up := info.UpdatedAt.UnixMilli()
		if !ok || -sc>>driver.RecencyShift != up>>driver.RecencyShift {
			t.Errorf("after write %d: entry at %d (step %d, ok %v), history updated at %d (step %d)", i, -sc, -sc>>driver.RecencyShift, ok, up, up>>driver.RecencyShift)
		}
	}
}

// failZRems makes a client's pipelines that remove from the listing
// indexes fail, unsent.
type failZRems struct{}

func (failZRems) DialHook(next redis.DialHook) redis.DialHook { return next }

func (failZRems) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (failZRems) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if slices.ContainsFunc(cmds, func(c redis.Cmder) bool { return c.Name() == "zrem" }) {
			return errors.New("injected: the removal stops here")
		}
		return next(ctx, cmds)
	}
}

// TestMarkOutlivesADelete: a write adds a new history beside its script; a
// listing prunes that entry and marks the history; a Delete of the id runs
// its script and stops before its own removal from the indexes. The
// Delete must not take the mark with the history's keys: the write's
// script, which creates the history after it, must find the mark and list
// the history.
func TestMarkOutlivesADelete(t *testing.T) {
	ctx := t.Context()
	ca, cb, cd := clusterClient(t), clusterClient(t), clusterClient(t)
	split := &splitWrite{}
	ca.AddHook(split)
	cd.AddHook(failZRems{})
	prefix := testPrefix()
	a := prefixedStore(t, ca, prefix, 0, nil)
	b := prefixedStore(t, cb, prefix, 0, nil)
	d := prefixedStore(t, cd, prefix, 0, nil)
	between := func(script func()) {
		if _, err := b.List(ctx, chatstore.ListOptions{Order: chatstore.ByUpdated}); err != nil {
			t.Error(err)
		}
		if err := d.Delete(ctx, "h"); err == nil {
			t.Error("the delete whose removal failed answered no error")
		}
		script()
	}
	split.write(t, a, "h", "hi", between)
	if recent, _ := listByRecency(t, b, 10); !slices.Equal(recent, []string{"h"}) {
		t.Errorf("listed by recency %v; want h", recent)
	}
}
