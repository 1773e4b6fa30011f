package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/driver"
)

// Expiry (driver.Expirer): histories with a time to live of their own,
// sliding or fixed, or a default one, hidden from every read once they
// have expired and removed by Sweep. Drivers whose backend expires
// histories itself (driver.NativeExpirer) are tested with short real TTLs
// instead of the store's clock.

// set advances the clock to t.
func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// expiryStore returns a store over a fresh driver with the clock c and
// options o (nil for the suite's), and whether its driver is an Expirer
// and a NativeExpirer; a driver that is no Expirer must refuse SetExpiry
// and Sweep with ErrNotSupported, and a ttl option.
func (s suite) expiryStore(t *testing.T, c *clock, o *chatstore.Options) (st *chatstore.Store, ok, native bool) {
	t.Helper()
	if o == nil {
		o = &chatstore.Options{}
	}
	o.KeepSystemMessages, o.Clock = true, c
	drv := s.newDriver(t)
	x, ok := drv.(driver.Expirer)
	if !ok {
		if _, err := chatstore.New(drv, &chatstore.Options{TTL: time.Hour}); !errors.Is(err, chatstore.ErrInvalidOptions) {
			t.Errorf("a ttl on a driver that cannot expire histories: %v, want ErrInvalidOptions", err)
		}
		o.TTL = 0
	}
	st, err := chatstore.New(drv, o)
	if err != nil {
		t.Fatalf("chatstore.New: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if !ok {
		if _, err := st.SetExpiry(ctx(t), "h", chatstore.Expiry{TTL: time.Hour}); !errors.Is(err, chatstore.ErrNotSupported) {
			t.Errorf("SetExpiry on a driver without Expirer: %v, want ErrNotSupported", err)
		}
		if _, err := st.Sweep(ctx(t), 0); !errors.Is(err, chatstore.ErrNotSupported) {
			t.Errorf("Sweep on a driver without Expirer: %v, want ErrNotSupported", err)
		}
		return st, false, false
	}
	_, native = x.(driver.NativeExpirer)
	return st, true, native
}

func setExpiry(t *testing.T, st *chatstore.Store, id string, x chatstore.Expiry) chatstore.HistoryInfo {
	t.Helper()
	info, err := st.SetExpiry(ctx(t), id, x)
	if err != nil {
		t.Fatalf("SetExpiry(%q, %+v): %v", id, x, err)
	}
	return info
}

func info(t *testing.T, st *chatstore.Store, id string) (chatstore.HistoryInfo, bool) {
	t.Helper()
	h, ok, err := st.Info(ctx(t), id)
	if err != nil {
		t.Fatalf("Info(%q): %v", id, err)
	}
	return h, ok
}

// checkAlive checks that history id reads as holding want messages.
func checkAlive(t *testing.T, st *chatstore.Store, id string, want int) {
	t.Helper()
	if n := count(t, st, id); n != want {
		t.Errorf("%s: count %d, want %d", id, n, want)
	}
	if _, ok := info(t, st, id); !ok {
		t.Errorf("%s: Info says it does not exist", id)
	}
}

// checkGone checks that every read takes history id, which held a message
// "0" with the word zebrafish, for one that does not exist.
func checkGone(t *testing.T, st *chatstore.Store, id string) {
	t.Helper()
	if n := count(t, st, id); n != 0 {
		t.Errorf("%s: count %d after expiry", id, n)
	}
	if msgs := retrieve(t, st, id, chatstore.All); len(msgs) != 0 {
		t.Errorf("%s: Retrieve returned %d messages after expiry", id, len(msgs))
	}
	if msgs, err := st.Range(ctx(t), id, 0, 10); err != nil || len(msgs) != 0 {
		t.Errorf("%s: Range after expiry: %d messages, %v", id, len(msgs), err)
	}
	if msgs, err := st.Read(ctx(t), id, chatstore.ReadOptions{Newest: true, Limit: 10}); err != nil || len(msgs) != 0 {
		t.Errorf("%s: a page after expiry: %d messages, %v", id, len(msgs), err)
	}
	if msgs, err := st.Read(ctx(t), id, chatstore.ReadOptions{LastK: 2, MaxTokens: 1000}); err != nil || len(msgs) != 0 {
		t.Errorf("%s: a budgeted read after expiry: %d messages, %v", id, len(msgs), err)
	}
	if h, ok := info(t, st, id); ok {
		t.Errorf("%s: Info after expiry: %+v", id, h)
	}
	if _, err := st.Message(ctx(t), id, "0"); !errors.Is(err, chatstore.ErrNotFound) {
		t.Errorf("%s: Message after expiry: %v, want ErrNotFound", id, err)
	}
	if cs, err := st.Compactions(ctx(t), id); err != nil && !errors.Is(err, chatstore.ErrNotSupported) || len(cs) != 0 {
		t.Errorf("%s: compactions after expiry: %d, %v", id, len(cs), err)
	}
	for _, h := range listAll(t, st, chatstore.ListOptions{}) {
		if h == id {
			t.Errorf("%s: listed after expiry", id)
		}
	}
	for _, h := range listAll(t, st, chatstore.ListOptions{Order: chatstore.ByUpdated, Metadata: map[string]string{"user_id": "u-42"}}) {
		if h == id {
			t.Errorf("%s: listed by metadata after expiry", id)
		}
	}
	if page, err := st.Search(ctx(t), chatstore.SearchOptions{Query: "zebrafish", Prefix: id, Limit: 100}); err == nil {
		for _, hit := range page.Hits {
			if hit.HistoryID == id {
				t.Errorf("%s: search found message %s after expiry", id, hit.MessageID)
			}
		}
	} else if !errors.Is(err, chatstore.ErrNotSupported) {
		t.Errorf("search: %v", err)
	}
}

// writeOwned writes a history of two messages with metadata user_id=u-42.
func writeOwned(t *testing.T, st *chatstore.Store, id string) {
	t.Helper()
	write(t, st, id, chat.User("a zebrafish question"), chat.Assistant("a zebrafish answer"))
	u := "u-42"
	if _, err := st.SetMetadata(ctx(t), id, map[string]*string{"user_id": &u}); err != nil {
		t.Fatal(err)
	}
}

// testExpiry: a sliding TTL is pushed back by every change and not by
// reads; a fixed time is not moved; once past, a history is gone for every
// read, and a write starts it anew; clearing an expiry removes it.
func (s suite) testExpiry(t *testing.T) {
	c := newClock()
	st, ok, native := s.expiryStore(t, c, nil)
	if !ok {
		return
	}
	if native {
		s.testExpiryNative(t, st, c)
		return
	}
	start := c.Now()
	writeOwned(t, st, "slide")
	h := setExpiry(t, st, "slide", chatstore.Expiry{TTL: time.Hour})
	if h.Expiry.TTL != time.Hour || !h.Expiry.At.IsZero() || !h.ExpiresAt.Equal(start.Add(time.Hour)) {
		t.Errorf("after SetExpiry: expiry %+v, expires at %v; want a TTL of 1h, expiring at %v", h.Expiry, h.ExpiresAt, start.Add(time.Hour))
	}
	c.advance(59 * time.Minute)
	retrieve(t, st, "slide", chatstore.All) // reads do not renew
	checkAlive(t, st, "slide", 2)
	write(t, st, "slide", chat.User("another zebrafish"))
	if h, _ := info(t, st, "slide"); !h.ExpiresAt.Equal(c.Now().Add(time.Hour)) {
		t.Errorf("a write did not push the expiry back: expires at %v, want %v", h.ExpiresAt, c.Now().Add(time.Hour))
	}
	c.advance(59 * time.Minute)
	v := "x"
	if _, err := st.SetMetadata(ctx(t), "slide", map[string]*string{"k": &v}); err != nil {
		t.Fatal(err)
	}
	c.advance(59 * time.Minute)
	checkAlive(t, st, "slide", 3)
	retrieve(t, st, "slide", chatstore.All)
	c.advance(time.Minute)
	checkGone(t, st, "slide")
	if err := st.DeleteMessage(ctx(t), "slide", "0"); !errors.Is(err, chatstore.ErrNotFound) {
		t.Errorf("DeleteMessage of an expired history: %v, want ErrNotFound", err)
	}
	if _, err := st.Truncate(ctx(t), "slide", "0"); !errors.Is(err, chatstore.ErrNotFound) {
		t.Errorf("Truncate of an expired history: %v, want ErrNotFound", err)
	}
	if _, err := st.Fork(ctx(t), "slide", "fork-through", "0"); !errors.Is(err, chatstore.ErrNotFound) {
		t.Errorf("Fork through a message of an expired history: %v, want ErrNotFound", err)
	}
	if f, err := st.Fork(ctx(t), "slide", "fork-all", ""); err != nil || f.Count != 0 || len(f.Metadata) != 0 {
		t.Errorf("Fork of an expired history: %+v, %v; want an empty history", f, err)
	}

	// Written again: a new history, which keeps nothing of the old one but
	// its own TTL, which went with it.
	c.advance(time.Second)
	write(t, st, "slide", chat.User("a new start"))
	h, _ = info(t, st, "slide")
	if h.Count != 1 || len(h.Metadata) != 0 || !h.CreatedAt.Equal(c.Now()) || h.Expiry != (chatstore.Expiry{}) || !h.ExpiresAt.IsZero() {
		t.Errorf("written after expiry: %+v; want a new history of 1 message, without metadata or expiry", h)
	}
	if msgs := retrieve(t, st, "slide", chatstore.All); len(msgs) != 1 || ids(msgs)[0] != "0" {
		t.Errorf("written after expiry: %v, want one message with id 0", ids(msgs))
	}
	if err := st.Delete(ctx(t), "slide"); err != nil {
		t.Fatal(err)
	}

	// A fixed time is not moved by changes.
	writeOwned(t, st, "fixed")
	at := c.Now().Add(10 * time.Minute)
	h = setExpiry(t, st, "fixed", chatstore.Expiry{At: at})
	if !h.Expiry.At.Equal(at) || h.Expiry.TTL != 0 || !h.ExpiresAt.Equal(at) {
		t.Errorf("a fixed expiry: %+v, expires at %v; want %v", h.Expiry, h.ExpiresAt, at)
	}
	c.advance(9 * time.Minute)
	write(t, st, "fixed", chat.User("zebrafish once more"))
	if h, _ := info(t, st, "fixed"); !h.ExpiresAt.Equal(at) {
		t.Errorf("a write moved a fixed expiry to %v", h.ExpiresAt)
	}
	c.advance(time.Minute)
	checkGone(t, st, "fixed")

	// Cleared: no expiry (this store has no default).
	writeOwned(t, st, "cleared")
	setExpiry(t, st, "cleared", chatstore.Expiry{TTL: time.Minute})
	if h := setExpiry(t, st, "cleared", chatstore.Expiry{}); h.Expiry != (chatstore.Expiry{}) || !h.ExpiresAt.IsZero() {
		t.Errorf("cleared: %+v, expires at %v", h.Expiry, h.ExpiresAt)
	}
	c.advance(1000 * time.Hour)
	checkAlive(t, st, "cleared", 2)

	// A time in the past expires it at once; SetExpiry creates a history
	// as SetMetadata does.
	writeOwned(t, st, "past")
	setExpiry(t, st, "past", chatstore.Expiry{At: c.Now().Add(-time.Second)})
	checkGone(t, st, "past")
	h = setExpiry(t, st, "new", chatstore.Expiry{TTL: time.Minute})
	if h.Count != 0 || !h.CreatedAt.Equal(c.Now()) || !h.ExpiresAt.Equal(c.Now().Add(time.Minute)) {
		t.Errorf("SetExpiry of a new history: %+v", h)
	}
	checkAlive(t, st, "new", 0)

	// Out of range.
	for _, x := range []chatstore.Expiry{{TTL: -time.Second}, {TTL: chatstore.MaxTTL + time.Hour}, {TTL: time.Hour, At: c.Now()}, {At: time.Unix(-5, 0)}} {
		if _, err := st.SetExpiry(ctx(t), "new", x); !errors.Is(err, chatstore.ErrInvalidExpiry) {
			t.Errorf("SetExpiry(%+v): %v, want ErrInvalidExpiry", x, err)
		}
	}
	if h, _ := info(t, st, "new"); h.Expiry.TTL != time.Minute {
		t.Errorf("a refused SetExpiry changed the expiry to %+v", h.Expiry)
	}
}

// testExpiryNative: a NativeExpirer's backend removes a history on its own
// clock, every key together; short real TTLs, waited for by polling.
func (s suite) testExpiryNative(t *testing.T, st *chatstore.Store, c *clock) {
	writeOwned(t, st, "slide")
	writeOwned(t, st, "fixed")
	writeOwned(t, st, "kept")
	h := setExpiry(t, st, "slide", chatstore.Expiry{TTL: 700 * time.Millisecond})
	if h.Expiry.TTL != 700*time.Millisecond || !h.ExpiresAt.Equal(c.Now().Add(700*time.Millisecond)) {
		t.Errorf("after SetExpiry: %+v, expires at %v", h.Expiry, h.ExpiresAt)
	}
	setExpiry(t, st, "fixed", chatstore.Expiry{At: c.Now().Add(time.Second)})
	setExpiry(t, st, "kept", chatstore.Expiry{TTL: 500 * time.Millisecond})
	setExpiry(t, st, "kept", chatstore.Expiry{})
	waitGone(t, st, "slide")
	waitGone(t, st, "fixed")
	checkGone(t, st, "slide")
	checkGone(t, st, "fixed")
	checkAlive(t, st, "kept", 2)
	write(t, st, "slide", chat.User("a new start"))
	if h, _ := info(t, st, "slide"); h.Count != 1 || len(h.Metadata) != 0 {
		t.Errorf("written after expiry: %+v; want a new history of 1 message, without metadata", h)
	}
	writeOwned(t, st, "past")
	setExpiry(t, st, "past", chatstore.Expiry{At: c.Now().Add(-time.Second)})
	checkGone(t, st, "past")
}

// waitGone polls until history id has no messages, for up to 15s.
func waitGone(t *testing.T, st *chatstore.Store, id string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for count(t, st, id) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not expired after 15s", id)
		}
		time.Sleep(20 * time.Millisecond) // polling a real clock, not dodging a race
	}
}

// testExpiryDefaults: the store's default TTL and a view's apply, as a
// sliding expiry, to the histories without one of their own, under the
// longest prefix that has one.
func (s suite) testExpiryDefaults(t *testing.T) {
	c := newClock()
	st, ok, native := s.expiryStore(t, c, &chatstore.Options{TTL: 24 * time.Hour})
	if !ok {
		return
	}
	ta, tb := chatstore.Prefixed(st, "t/a/"), chatstore.Prefixed(st, "t/b/")
	if err := ta.SetDefaultTTL(time.Hour); err != nil {
		t.Fatal(err)
	}
	if d := ta.DefaultTTL("x"); d != time.Hour {
		t.Errorf("view's default TTL %v, want 1h", d)
	}
	if d := tb.DefaultTTL("x"); d != 24*time.Hour {
		t.Errorf("other view's default TTL %v, want the store's 24h", d)
	}
	for _, v := range []*chatstore.Store{st, ta, tb} {
		writeOwned(t, v, "h")
		writeOwned(t, v, "own")
		setExpiry(t, v, "own", chatstore.Expiry{TTL: 48 * time.Hour})
	}
	now := c.Now()
	for _, tc := range []struct {
		st   *chatstore.Store
		id   string
		want time.Duration
	}{{st, "h", 24 * time.Hour}, {ta, "h", time.Hour}, {tb, "h", 24 * time.Hour}, {ta, "own", 48 * time.Hour}} {
		h, _ := info(t, tc.st, tc.id)
		if !h.ExpiresAt.Equal(now.Add(tc.want)) || h.Expiry.TTL != 0 && tc.id == "h" {
			t.Errorf("%s%s: expires at %v (own %+v), want %v", tc.st.Prefix(), tc.id, h.ExpiresAt, h.Expiry, now.Add(tc.want))
		}
	}
	if native {
		return // hours of real time
	}
	c.advance(time.Hour)
	checkGone(t, ta, "h")
	checkAlive(t, tb, "h", 2)
	checkAlive(t, ta, "own", 2)
	// A new default applies from a history's next change.
	if err := ta.SetDefaultTTL(0); err != nil {
		t.Fatal(err)
	}
	write(t, ta, "h", chat.User("zebrafish"))
	if h, _ := info(t, ta, "h"); !h.ExpiresAt.Equal(c.Now().Add(24 * time.Hour)) {
		t.Errorf("after the view's default went: expires at %v, want the store's 24h from now", h.ExpiresAt)
	}
	c.advance(23 * time.Hour)
	checkGone(t, st, "h")
	checkGone(t, tb, "h")
	checkAlive(t, ta, "own", 2)

	// A fork takes the original's own expiry, and the default of its id.
	writeOwned(t, st, "src")
	setExpiry(t, st, "src", chatstore.Expiry{TTL: 2 * time.Hour})
	c.advance(time.Minute)
	f, err := st.Fork(ctx(t), "src", "t/a/fork", "")
	if err != nil || f.Expiry.TTL != 2*time.Hour || !f.ExpiresAt.Equal(c.Now().Add(2*time.Hour)) {
		t.Errorf("fork: %+v, %v; want the original's TTL of 2h from now", f, err)
	}
	f, err = st.Fork(ctx(t), "t/b/h", "t/a/fork2", "")
	if err != nil || f.Expiry.TTL != 0 || !f.ExpiresAt.Equal(c.Now().Add(24*time.Hour)) {
		t.Errorf("fork of a history without an expiry of its own: %+v, %v", f, err)
	}
}

// testExpirySweep: Sweep removes expired histories a batch at a time with
// everything they held (their search entries, compactions, idempotency
// keys, metadata), and nothing else.
func (s suite) testExpirySweep(t *testing.T) {
	c := newClock()
	st, ok, native := s.expiryStore(t, c, &chatstore.Options{TTL: time.Hour})
	if !ok || native {
		return // a NativeExpirer's sweep is tested with its backend
	}
	const n = 25
	var want chatstore.Erasure
	for i := range n {
		id := fmt.Sprint("h", i)
		if _, _, err := st.WriteIdempotent(ctx(t), id, "key-1", []chat.Message{chat.User("a zebrafish question"), chat.Assistant("the zebrafish answer")}); err != nil {
			t.Fatal(err)
		}
		u := "u-42"
		if _, err := st.SetMetadata(ctx(t), id, map[string]*string{"user_id": &u}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Compact(ctx(t), id, "1", chat.Assistant("a summary")); err != nil && !errors.Is(err, chatstore.ErrNotSupported) {
			t.Fatal(err)
		}
		if i%5 == 0 {
			setExpiry(t, st, id, chatstore.Expiry{TTL: 1000 * time.Hour}) // kept
			continue
		}
		want.Histories++
		want.Messages += 2
	}
	if got, err := st.Sweep(ctx(t), 0); err != nil || got != (chatstore.Erasure{}) {
		t.Errorf("a sweep before anything expired: %+v, %v", got, err)
	}
	c.advance(time.Hour)
	var got chatstore.Erasure
	for range n {
		sw, err := st.Sweep(ctx(t), 7)
		if err != nil {
			t.Fatal(err)
		}
		if sw.Histories > 7 {
			t.Fatalf("a sweep of at most 7 removed %d", sw.Histories)
		}
		got.Histories += sw.Histories
		got.Messages += sw.Messages
		if sw.Histories == 0 {
			break
		}
	}
	if got != want {
		t.Errorf("swept %+v, want %+v", got, want)
	}
	for i := range n {
		id := fmt.Sprint("h", i)
		if i%5 == 0 {
			checkAlive(t, st, id, 2)
			continue
		}
		checkGone(t, st, id)
		// Written again with the same key: a new write, not a replay of
		// what went with the history.
		if n, replayed, err := st.WriteIdempotent(ctx(t), id, "key-1", []chat.Message{chat.User("zebrafish again")}); err != nil || replayed || n != 1 {
			t.Errorf("%s: keyed write after the sweep: %d, replayed %v, %v", id, n, replayed, err)
		}
		if cs, err := st.Compactions(ctx(t), id); err == nil && len(cs) != 0 {
			t.Errorf("%s: %d compactions survived the sweep", id, len(cs))
		}
	}
	if page, err := st.Search(ctx(t), chatstore.SearchOptions{Query: "answer", Limit: 100}); err == nil {
		if len(page.Hits) != n/5 {
			t.Errorf("search finds %d answers after the sweep, want the %d of the histories kept", len(page.Hits), n/5)
		}
	}
	if left := listAll(t, st, chatstore.ListOptions{Metadata: map[string]string{"user_id": "u-42"}}); len(left) != n/5 {
		t.Errorf("%d histories with the metadata left, want %d", len(left), n/5)
	}
}

// testExpiryRace: writes race with sweeps over histories that have
// expired. A write to an expired history starts a new one, which no sweep
// may remove: every write acknowledged is there at the end, alone.
func (s suite) testExpiryRace(t *testing.T) {
	c := newClock()
	st, ok, native := s.expiryStore(t, c, &chatstore.Options{TTL: time.Hour})
	if !ok || native {
		return
	}
	const n = 40
	for i := range n {
		write(t, st, fmt.Sprint("h", i), chat.User("old"), chat.Assistant("old"))
	}
	c.advance(2 * time.Hour)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		swept   chatstore.Erasure
		written []string
	)
	stop := make(chan struct{})
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				sw, err := st.Sweep(ctx(t), 3)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				swept.Histories += sw.Histories
				swept.Messages += sw.Messages
				mu.Unlock()
				select {
				case <-stop:
					return
				default:
				}
			}
		}()
	}
	var ww sync.WaitGroup
	for w := range 2 {
		ww.Add(1)
		go func() {
			defer ww.Done()
			for i := w; i < n; i += 2 {
				id := fmt.Sprint("h", i)
				if i%4 < 2 {
					if _, err := st.Write(ctx(t), id, []chat.Message{chat.User("new zebrafish")}); err != nil {
						t.Error(err)
						continue
					}
				} else if _, err := st.SetExpiry(ctx(t), id, chatstore.Expiry{TTL: 3 * time.Hour}); err != nil {
					t.Error(err)
					continue
				}
				mu.Lock()
				written = append(written, id)
				mu.Unlock()
			}
		}()
	}
	ww.Wait()
	close(stop)
	wg.Wait()
	for {
		sw, err := st.Sweep(ctx(t), 100)
		if err != nil {
			t.Fatal(err)
		}
		swept.Histories += sw.Histories
		swept.Messages += sw.Messages
		if sw.Histories == 0 {
			break
		}
	}
	// Every old history was expired and is removed once, by a sweep or
	// by the write that started it anew (which a sweep does not count).
	if swept.Histories > n || swept.Messages != 2*swept.Histories {
		t.Errorf("swept %+v of %d expired histories of 2 messages", swept, n)
	}
	slices.Sort(written)
	for i := range n {
		id := fmt.Sprint("h", i)
		switch {
		case i%4 < 2:
			if msgs := retrieve(t, st, id, chatstore.All); len(msgs) != 1 || texts(msgs)[0] != "new zebrafish" {
				t.Errorf("%s: %v after a write raced with sweeps; want the write alone", id, texts(msgs))
			}
		default:
			if h, ok := info(t, st, id); !ok || h.Count != 0 || h.Expiry.TTL != 3*time.Hour {
				t.Errorf("%s: %+v (exists %v) after SetExpiry raced with sweeps; want a new empty history with its TTL", id, h, ok)
			}
		}
	}
	if len(written) != n {
		t.Errorf("%d changes acknowledged, want %d", len(written), n)
	}
}
