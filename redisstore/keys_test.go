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
					if err := deleter.DeletePrefix(ctx, "t:"); err != nil {
						t.Fatal(err)
					}
					checkStore(t, deleter, "deleter", map[string]int{"h": 2})
					checkStore(t, other, "other", want)
					if err := deleter.DeleteAll(ctx); err != nil {
						t.Fatal(err)
					}
					checkStore(t, deleter, "deleter", map[string]int{})
					checkStore(t, other, "other", want)
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

// fill writes three histories whose texts start with tag.
func fill(t *testing.T, st *chatstore.Store, tag string) map[string]int {
	t.Helper()
	ctx := t.Context()
	for _, id := range []string{"h", "t:1", "t:2"} {
		if _, err := st.Write(ctx, id, []chat.Message{chat.User(tag + " " + id), chat.Assistant(tag + " " + id)}); err != nil {
			t.Fatal(err)
		}
	}
	return map[string]int{"h": 2, "t:1": 2, "t:2": 2}
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
