package redisstore_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/redisstore"
)

// historyKeys are the keys of a history that exist: the nine of
// nHistoryKeys, KEY:k and the idempotency records it names. Found by name,
// not by KEYS, which a cluster answers per node.
func historyKeys(t *testing.T, c redis.UniversalClient, prefix, id string) (main, idem []string) {
	t.Helper()
	ctx := context.Background()
	base := prefix + "{" + id + "}:"
	for _, n := range "smtcdigwz" {
		if c.Exists(ctx, base+string(n)).Val() == 1 {
			main = append(main, base+string(n))
		}
	}
	if c.Exists(ctx, base+"k").Val() == 1 {
		idem = append(idem, base+"k")
	}
	names, err := c.ZRange(ctx, base+"k", 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range names {
		if c.Exists(ctx, k).Val() == 1 {
			idem = append(idem, k)
		}
	}
	return main, idem
}

// checkPTTL checks that every key expires in lo to hi (-1: never).
func checkPTTL(t *testing.T, c redis.UniversalClient, what string, keys []string, lo, hi time.Duration) {
	t.Helper()
	for _, k := range keys {
		d, err := c.PTTL(context.Background(), k).Result()
		if err != nil || d < lo || d > hi {
			t.Errorf("%s: %s expires in %v, want %v to %v (%v)", what, k, d, lo, hi, err)
		}
	}
}

// TestExpiryEveryKey: every kind of change gives every key of the history
// the history's expiry, those it created included (a compaction's :z, the
// costs' :w, the ids' :d and :i, the metadata's :g), and idempotency
// records never outlive it.
func TestExpiryEveryKey(t *testing.T) {
	bothClients(t, func(t *testing.T, c redis.UniversalClient) {
		ctx := t.Context()
		prefix := testPrefix()
		const ttl = 20 * time.Second
		st := prefixedStore(t, c, prefix, 0, &chatstore.Options{TTL: ttl})
		var msgs []chat.Message
		for i := range 8 {
			msgs = append(msgs, chat.User("m"+strconv.Itoa(i)))
		}
		if _, _, err := st.WriteIdempotent(ctx, "h", "key1", msgs); err != nil {
			t.Fatal(err)
		}
		own := chat.User("with an id")
		own.Meta = map[string]any{chatstore.MessageIDKey: "mine"}
		changes := []struct {
			name string
			do   func() error
		}{
			{"truncate", func() error { _, err := st.Truncate(ctx, "h", "6"); return err }},
			{"write", func() error { _, err := st.Write(ctx, "h", []chat.Message{own}); return err }},
			{"keyed write", func() error {
				_, _, err := st.WriteIdempotent(ctx, "h", "key2", []chat.Message{chat.User("again")})
				return err
			}},
			{"metadata", func() error {
				_, err := st.SetMetadata(ctx, "h", map[string]*string{"team": chat.Ptr("x")})
				return err
			}},
			{"compact", func() error { _, err := st.Compact(ctx, "h", "1", chat.User("a summary")); return err }},
			{"delete message", func() error { return st.DeleteMessage(ctx, "h", "3") }},
			{"set expiry", func() error {
				_, err := st.SetExpiry(ctx, "h", chatstore.Expiry{TTL: ttl})
				return err
			}},
		}
		for _, ch := range changes {
			// Bring every key's expiry near, as time would: the change
			// must push all of them back, not only those it writes.
			main, idem := historyKeys(t, c, prefix, "h")
			for _, k := range append(main, idem...) {
				c.PExpire(ctx, k, 5*time.Second)
			}
			if err := ch.do(); err != nil {
				t.Fatalf("%s: %v", ch.name, err)
			}
			main, idem = historyKeys(t, c, prefix, "h")
			checkPTTL(t, c, ch.name, main, ttl-3*time.Second, ttl)
			checkPTTL(t, c, ch.name+" (idempotency)", idem, time.Millisecond, ttl)
		}
		main, _ := historyKeys(t, c, prefix, "h")
		for _, n := range "smtcdigwz" {
			if !slices.Contains(main, prefix+"{h}:"+string(n)) {
				t.Errorf("the history has no key :%c, which the test means to check", n)
			}
		}
		// A fork's keys expire with its own TTL too.
		if _, err := st.Fork(ctx, "h", "f", ""); err != nil {
			t.Fatal(err)
		}
		fmain, _ := historyKeys(t, c, prefix, "f")
		checkPTTL(t, c, "fork", fmain, ttl-3*time.Second, ttl)
		if len(fmain) != 9 {
			t.Errorf("the fork has keys %q", fmain)
		}
	})
}

// TestExpiryFixedAndCleared: a fixed time is what every key expires at,
// writes do not move it and idempotency records are cut to it; clearing
// the expiry makes every key persistent again; a fixed time in the past
// removes the history at once, with its index entries.
func TestExpiryFixedAndCleared(t *testing.T) {
	bothClients(t, func(t *testing.T, c redis.UniversalClient) {
		ctx := t.Context()
		prefix := testPrefix()
		st := prefixedStore(t, c, prefix, 0, nil)
		if _, err := st.Write(ctx, "h", []chat.Message{chat.User("q")}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.SetMetadata(ctx, "h", map[string]*string{"team": chat.Ptr("x")}); err != nil {
			t.Fatal(err)
		}
		at := time.Now().Add(8 * time.Second).Truncate(time.Millisecond)
		info, err := st.SetExpiry(ctx, "h", chatstore.Expiry{At: at})
		if err != nil || !info.ExpiresAt.Equal(at) || !info.Expiry.At.Equal(at) {
			t.Fatalf("set expiry: %+v %v", info, err)
		}
		main, _ := historyKeys(t, c, prefix, "h")
		checkPTTL(t, c, "fixed", main, 6*time.Second, 8*time.Second)
		if _, _, err := st.WriteIdempotent(ctx, "h", "k", []chat.Message{chat.User("a")}); err != nil {
			t.Fatal(err)
		}
		main, idem := historyKeys(t, c, prefix, "h")
		checkPTTL(t, c, "fixed, after a write", append(main, idem...), 5*time.Second, 8*time.Second)
		if info, ok, err := st.Info(ctx, "h"); !ok || err != nil || !info.ExpiresAt.Equal(at) || !info.Expiry.At.Equal(at) {
			t.Errorf("info: %+v %v %v", info, ok, err)
		}

		info, err = st.SetExpiry(ctx, "h", chatstore.Expiry{})
		if err != nil || !info.ExpiresAt.IsZero() || info.Expiry != (chatstore.Expiry{}) {
			t.Fatalf("clear expiry: %+v %v", info, err)
		}
		main, idem = historyKeys(t, c, prefix, "h")
		checkPTTL(t, c, "cleared", main, -1, -1)
		checkPTTL(t, c, "cleared (idempotency)", idem, time.Millisecond, 8*time.Second)

		if _, err := st.SetExpiry(ctx, "h", chatstore.Expiry{At: time.Now().Add(-time.Second)}); err != nil {
			t.Fatal(err)
		}
		if main, idem := historyKeys(t, c, prefix, "h"); len(main)+len(idem) > 0 {
			t.Errorf("keys left by an expiry in the past: %q %q", main, idem)
		}
		if n, err := st.Count(ctx, "h"); n != 0 || err != nil {
			t.Errorf("count: %d %v", n, err)
		}
		checkUnindexed(t, c, prefix, "h", "team", "x")
	})
}

// waitExpired polls until Redis has expired the state key of history id,
// for up to 10s.
func waitExpired(t *testing.T, c redis.UniversalClient, prefix, id string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for c.Exists(context.Background(), prefix+"{"+id+"}:s").Val() == 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%s has not expired", id)
		}
		time.Sleep(20 * time.Millisecond) // polling Redis, not waiting out a race
	}
}

// checkUnindexed checks that no index holds id: the listing, recency, the
// set of its metadata pair k=v, and its set of pairs.
func checkUnindexed(t *testing.T, c redis.UniversalClient, prefix, id, k, v string) {
	t.Helper()
	ctx := context.Background()
	if err := c.ZScore(ctx, prefix+"histories", id).Err(); err != redis.Nil {
		t.Errorf("%s is still listed (%v)", id, err)
	}
	if err := c.ZScore(ctx, prefix+"}updated", id).Err(); err != redis.Nil {
		t.Errorf("%s is still in the recency index (%v)", id, err)
	}
	if c.SIsMember(ctx, fmt.Sprintf("%s}m:%d:%s=%s", prefix, len(k), k, v), id).Val() {
		t.Errorf("%s is still in the set of %s=%s", id, k, v)
	}
	if c.Exists(ctx, prefix+"}p:"+id).Val() != 0 {
		t.Errorf("%s's set of pairs is left", id)
	}
}

// TestExpiryDefaultByPrefix: a default TTL for a prefix of ids applies to
// those histories only; they vanish whole when it passes; Sweep then
// takes them out of the listing and the metadata sets; and a write to one
// starts a new history.
func TestExpiryDefaultByPrefix(t *testing.T) {
	bothClients(t, func(t *testing.T, c redis.UniversalClient) {
		ctx := t.Context()
		prefix := testPrefix()
		drv, err := redisstore.New(c, &redisstore.Options{KeyPrefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { drv.DeleteAll(context.Background()) })
		st, err := chatstore.New(drv, nil)
		if err != nil {
			t.Fatal(err)
		}
		const ttl = 700 * time.Millisecond
		drv.Policy().SetTTL("tenant:a:", ttl.Milliseconds())
		ids := []string{"tenant:a:1", "tenant:a:2", "tenant:b:1"}
		for _, id := range ids {
			if _, err := st.Write(ctx, id, []chat.Message{chat.User("q"), chat.Assistant("a")}); err != nil {
				t.Fatal(err)
			}
			if _, err := st.SetMetadata(ctx, id, map[string]*string{"team": chat.Ptr("x")}); err != nil {
				t.Fatal(err)
			}
		}
		for _, id := range ids[:2] {
			main, _ := historyKeys(t, c, prefix, id)
			checkPTTL(t, c, id, main, time.Millisecond, ttl)
		}
		main, _ := historyKeys(t, c, prefix, ids[2])
		checkPTTL(t, c, ids[2], main, -1, -1)

		for _, id := range ids[:2] {
			waitExpired(t, c, prefix, id)
			if main, idem := historyKeys(t, c, prefix, id); len(main)+len(idem) > 0 {
				t.Errorf("%s: keys left after its state expired: %q %q", id, main, idem)
			}
		}
		// Nothing has read the listing yet: the entries are there for
		// Sweep to take out.
		if c.ZScore(ctx, prefix+"histories", ids[0]).Err() != nil {
			t.Fatalf("%s's listing entry is gone before any sweep or listing", ids[0])
		}
		swept, err := st.Sweep(ctx, 0)
		if err != nil || swept.Histories != 2 {
			t.Fatalf("sweep: %+v %v, want 2 histories", swept, err)
		}
		for _, id := range ids[:2] {
			checkUnindexed(t, c, prefix, id, "team", "x")
		}
		if swept, err := st.Sweep(ctx, 0); err != nil || swept.Histories != 0 {
			t.Errorf("second sweep: %+v %v", swept, err)
		}
		for _, o := range []chatstore.ListOptions{{}, {Metadata: map[string]string{"team": "x"}}, {Order: chatstore.ByUpdated}} {
			page, err := st.List(ctx, o)
			if err != nil || len(page.Histories) != 1 || page.Histories[0].ID != ids[2] {
				t.Errorf("list %+v: %+v %v", o, page, err)
			}
		}

		// Written again: a new history, from id 0, with no metadata.
		if _, err := st.Write(ctx, ids[0], []chat.Message{chat.User("new")}); err != nil {
			t.Fatal(err)
		}
		msgs, err := st.RetrieveLast(ctx, ids[0], chatstore.All)
		if err != nil || len(msgs) != 1 || msgs[0].Meta[chatstore.MessageIDKey] != "0" {
			t.Errorf("after expiry: %v %v", msgs, err)
		}
		info, ok, err := st.Info(ctx, ids[0])
		if !ok || err != nil || info.Count != 1 || len(info.Metadata) != 0 || info.ExpiresAt.IsZero() {
			t.Errorf("info after expiry: %+v %v %v", info, ok, err)
		}
	})
}

// TestSweepBounded: Sweep takes out at most limit entries a call, goes on
// where the last call stopped, and leaves the histories that exist.
func TestSweepBounded(t *testing.T) {
	bothClients(t, func(t *testing.T, c redis.UniversalClient) {
		ctx := t.Context()
		prefix := testPrefix()
		st := prefixedStore(t, c, prefix, 0, nil)
		var live []string
		for i := range 30 {
			id := fmt.Sprintf("h%02d", i)
			if _, err := st.Write(ctx, id, []chat.Message{chat.User("q")}); err != nil {
				t.Fatal(err)
			}
			if i%3 == 0 {
				live = append(live, id)
				continue
			}
			// Gone as an expiry would leave it: every key, not the
			// index entries.
			main, idem := historyKeys(t, c, prefix, id)
			for _, k := range append(main, idem...) {
				c.Del(ctx, k)
			}
		}
		var got []int64
		for range 6 {
			swept, err := st.Sweep(ctx, 7)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, swept.Histories)
		}
		if !slices.Equal(got, []int64{7, 7, 6, 0, 0, 0}) {
			t.Errorf("swept %v, want 7 7 6 then none", got)
		}
		page, err := st.List(ctx, chatstore.ListOptions{Limit: 100})
		if err != nil || len(page.Histories) != len(live) {
			t.Errorf("list: %+v %v, want %q", page, err, live)
		}
	})
}

// TestExpiredLeaveListings: a listing by metadata that meets a history
// Redis has expired leaves it out and takes it out of every index, the
// set of its metadata pair included, with no Sweep.
func TestExpiredLeaveListings(t *testing.T) {
	bothClients(t, func(t *testing.T, c redis.UniversalClient) {
		ctx := t.Context()
		prefix := testPrefix()
		st := prefixedStore(t, c, prefix, 0, nil)
		if _, err := st.Write(ctx, "h", []chat.Message{chat.User("q")}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.SetMetadata(ctx, "h", map[string]*string{"team": chat.Ptr("x")}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.SetExpiry(ctx, "h", chatstore.Expiry{TTL: 300 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		waitExpired(t, c, prefix, "h")
		page, err := st.List(ctx, chatstore.ListOptions{Metadata: map[string]string{"team": "x"}})
		if err != nil || len(page.Histories) != 0 {
			t.Errorf("list by metadata after expiry: %+v %v", page, err)
		}
		checkUnindexed(t, c, prefix, "h", "team", "x")
	})
}

// TestExpiryOfAnOlderRelease: keys that an older release gave a TTL (its
// ttl option) carry no recorded expiry; a change by a store without a
// default TTL makes them persistent, as Info then says the history never
// expires. Found by review: they kept the old TTL and vanished.
func TestExpiryOfAnOlderRelease(t *testing.T) {
	bothClients(t, func(t *testing.T, c redis.UniversalClient) {
		ctx := t.Context()
		prefix := testPrefix()
		st := prefixedStore(t, c, prefix, 0, nil)
		if _, err := st.Write(ctx, "h", []chat.Message{chat.User("q")}); err != nil {
			t.Fatal(err)
		}
		main, _ := historyKeys(t, c, prefix, "h")
		for _, k := range main {
			if err := c.PExpire(ctx, k, time.Hour).Err(); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := st.Write(ctx, "h", []chat.Message{chat.Assistant("a")}); err != nil {
			t.Fatal(err)
		}
		main, _ = historyKeys(t, c, prefix, "h")
		checkPTTL(t, c, "after a write without a TTL", main, -1, -1)
		if info, ok, err := st.Info(ctx, "h"); !ok || err != nil || !info.ExpiresAt.IsZero() {
			t.Errorf("info: %+v %v %v", info, ok, err)
		}
	})
}
