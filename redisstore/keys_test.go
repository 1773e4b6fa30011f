package redisstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/redisstore"
)

// testPrefix is a key prefix no other test or run uses, free of glob
// characters, so that prefix+"*" finds exactly the keys under it.
func testPrefix() string {
	b := make([]byte, 6)
	rand.Read(b)
	return "chatstore_test_" + hex.EncodeToString(b) + ":"
}

// prefixedStore is a store under prefix, whose keys are deleted when the
// test ends.
func prefixedStore(t *testing.T, c redis.UniversalClient, prefix string, ttl time.Duration, opts *chatstore.Options) *chatstore.Store {
	t.Helper()
	drv, err := redisstore.New(c, &redisstore.Options{KeyPrefix: prefix, TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := drv.DeleteAll(context.Background()); err != nil {
			t.Errorf("cleaning up: %v", err)
		}
	})
	st, err := chatstore.New(drv, opts)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// leftAfterDelete returns the keys matching a SCAN pattern but a removal's
// marks (KEY:u, on a cluster), each of which must expire within a minute.
func leftAfterDelete(t *testing.T, c redis.UniversalClient, pattern string) []string {
	t.Helper()
	var left []string
	for _, k := range keysMatching(t, c, pattern) {
		if !strings.HasSuffix(k, "}:u") {
			left = append(left, k)
			continue
		}
		if d, err := c.PTTL(t.Context(), k).Result(); err != nil || d <= 0 || d > time.Minute {
			t.Errorf("the mark %s expires in %v (%v), want within a minute", k, d, err)
		}
	}
	return left
}

// keysMatching returns the keys matching a SCAN pattern, on every master of
// a cluster.
func keysMatching(t *testing.T, c redis.UniversalClient, pattern string) []string {
	t.Helper()
	ctx := t.Context()
	var keys []string
	scan := func(ctx context.Context, c redis.Cmdable) ([]string, error) {
		var out []string
		iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
		for iter.Next(ctx) {
			out = append(out, iter.Val())
		}
		return out, iter.Err()
	}
	if cc, ok := c.(*redis.ClusterClient); ok {
		var mu sync.Mutex
		err := cc.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
			ks, err := scan(ctx, n)
			mu.Lock()
			defer mu.Unlock()
			keys = append(keys, ks...)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	} else {
		var err error
		if keys, err = scan(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(keys)
	return keys
}

// bothClients runs f on the single Redis and on the cluster.
func bothClients(t *testing.T, f func(t *testing.T, c redis.UniversalClient)) {
	t.Run("single", func(t *testing.T) { f(t, singleClient(t)) })
	t.Run("cluster", func(t *testing.T) { f(t, clusterClient(t)) })
}

// TestNestedPrefixes checks that stores whose prefixes start one with the
// other, or hold glob characters, never see or delete each other's
// histories: each store's DeleteAll, DeletePrefix and List keep to its own.
func TestNestedPrefixes(t *testing.T) {
	pairs := [][2]string{
		{"a:", "a:x:"},
		{"a", "a:"},
		{"a", "ahistories"},   // the first one's listing key is the second's prefix
		{"*", "x"},            // SCAN *{* would match x{…}
		{"?", "x"},            // ?{* would match x{…}
		{"[xy]", "x"},         // [xy]{* would match x{…}
		{"p\\", "p"},          // p\{* would match p{…}
		{"[", "[x"},           // an unclosed bracket
		{"a-", "a-b^"},        // characters special only inside brackets
		{"\xff", "\xff\xfe:"}, // bytes that are not UTF-8
	}
	bothClients(t, func(t *testing.T, c redis.UniversalClient) {
		for _, pair := range pairs {
			for _, order := range [][2]string{{pair[0], pair[1]}, {pair[1], pair[0]}} {
				t.Run(fmt.Sprintf("%q_deletes_beside_%q", order[0], order[1]), func(t *testing.T) {
					base := testPrefix()
					deleter := prefixedStore(t, c, base+order[0], 0, nil)
					other := prefixedStore(t, c, base+order[1], 0, nil)
					want := fill(t, other, "other")
					fill(t, deleter, "deleter")

					checkStore(t, deleter, "deleter", want)
					checkStore(t, other, "other", want)
					ctx := t.Context()
					if err := chatstore.Prefixed(deleter, "t:").DeleteAll(ctx); err != nil {
						t.Fatal(err)
					}
					checkStore(t, deleter, "deleter", map[string]int{"h": 2})
					checkStore(t, other, "other", want)
					if err := deleter.DeleteAll(ctx); err != nil {
						t.Fatal(err)
					}
					checkStore(t, deleter, "deleter", map[string]int{})
					checkStore(t, other, "other", want)
					// The other store's idempotency keys survive too.
					if n, replayed, err := other.WriteIdempotent(ctx, "t:1", "key", []chat.Message{chat.User("other t:1 keyed")}); err != nil || n != 1 || !replayed {
						t.Errorf("the other store's key after DeleteAll: n=%d replayed=%v err=%v, want 1 true nil", n, replayed, err)
					}
					// Every key of the deleter is gone, the other's are not.
					if err := other.DeleteAll(ctx); err != nil {
						t.Fatal(err)
					}
					if keys := keysMatching(t, c, base+"*"); len(keys) != 0 {
						t.Errorf("keys left after both stores' DeleteAll: %q", keys)
					}
				})
			}
		}
	})
}

// fill writes three histories, one with an idempotency key, whose texts
// start with tag.
func fill(t *testing.T, st *chatstore.Store, tag string) map[string]int {
	t.Helper()
	ctx := t.Context()
	for _, id := range []string{"h", "t:1", "t:2"} {
		if _, err := st.Write(ctx, id, []chat.Message{chat.User(tag + " " + id), chat.Assistant(tag + " " + id)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := st.WriteIdempotent(ctx, "t:1", "key", []chat.Message{chat.User(tag + " t:1 keyed")}); err != nil {
		t.Fatal(err)
	}
	return map[string]int{"h": 2, "t:1": 3, "t:2": 2}
}

// checkStore checks that st lists exactly the histories of want, with
// those counts, and that their messages are the ones written with tag.
func checkStore(t *testing.T, st *chatstore.Store, tag string, want map[string]int) {
	t.Helper()
	ctx := t.Context()
	page, err := st.List(ctx, chatstore.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, h := range page.Histories {
		got[h.ID] = h.Count
	}
	if !maps.Equal(got, want) {
		t.Errorf("%s store lists %v, want %v", tag, got, want)
	}
	for id, n := range want {
		msgs, err := st.RetrieveLast(ctx, id, chatstore.All)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != n {
			t.Errorf("%s store: history %q has %d messages, want %d", tag, id, len(msgs), n)
		}
		for _, m := range msgs {
			if text, _ := m.Text(); !strings.HasPrefix(text, tag+" ") {
				t.Errorf("%s store: history %q holds %q", tag, id, text)
			}
		}
	}
}

// TestIdempotencyKeysDeleted checks the keys of keyed writes: each is a key
// of its history's slot, Delete deletes them with the history, and a
// history with a TTL never keeps one longer than itself.
func TestIdempotencyKeysDeleted(t *testing.T) {
	bothClients(t, func(t *testing.T, c redis.UniversalClient) {
		ctx := t.Context()
		prefix := testPrefix()
		st := prefixedStore(t, c, prefix, 0, nil)
		for _, key := range []string{"k1", "k2", "{k3}*"} {
			if _, _, err := st.WriteIdempotent(ctx, "h", key, []chat.Message{chat.User(key)}); err != nil {
				t.Fatal(err)
			}
		}
		// On a cluster, keys of one script in two slots would fail with
		// CROSSSLOT; the names say where the keys are.
		want := []string{prefix + "{h}:k", prefix + "{h}:k:k1", prefix + "{h}:k:k2", prefix + "{h}:k:{k3}*"}
		if got := keysMatching(t, c, prefix+"{h}:k*"); !slices.Equal(got, want) {
			t.Errorf("idempotency keys %q, want %q", got, want)
		}
		if err := st.Delete(ctx, "h"); err != nil {
			t.Fatal(err)
		}
		if got := leftAfterDelete(t, c, prefix+"*"); len(got) != 0 {
			t.Errorf("keys left after Delete: %q", got)
		}

		// With a TTL shorter than the window, the keys expire with the
		// history; with a window shorter than the TTL, with the window.
		const ttl = 2 * time.Second
		for _, window := range []time.Duration{24 * time.Hour, 500 * time.Millisecond} {
			prefix := testPrefix()
			st := prefixedStore(t, c, prefix, ttl, &chatstore.Options{IdempotencyWindow: window})
			if _, _, err := st.WriteIdempotent(ctx, "h", "k", []chat.Message{chat.User("x")}); err != nil {
				t.Fatal(err)
			}
			limit := min(ttl, window)
			for _, k := range []string{prefix + "{h}:k", prefix + "{h}:k:k"} {
				if d, err := c.PTTL(ctx, k).Result(); err != nil || d <= 0 || d > limit {
					t.Errorf("window %v: %s expires in %v (%v), want within %v", window, k, d, err, limit)
				}
			}
			if d, err := c.PTTL(ctx, prefix+"{h}:s").Result(); err != nil || d <= ttl-time.Second || d > ttl {
				t.Errorf("window %v: the history expires in %v (%v), want about %v", window, d, err, ttl)
			}
		}
	})
}
