package redisstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/driver"
	"github.com/chatstore/chatstore/internal/testenv"
	"github.com/chatstore/chatstore/redisstore"
	"github.com/chatstore/chatstore/storetest"
)

const (
	urlEnv, urlExample         = "CHATSTORE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"
	clusterEnv, clusterExample = "CHATSTORE_TEST_REDIS_CLUSTER_ADDRS", "127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002"
)

// singleClient is a client of the test Redis, closed when the test ends.
func singleClient(t testing.TB) redis.UniversalClient {
	t.Helper()
	opts, err := redis.ParseURL(testenv.Get(t, urlEnv, urlExample))
	if err != nil {
		t.Fatalf("%s: %v", urlEnv, err)
	}
	opts.PoolSize = 80
	return checked(t, redis.NewClient(opts), urlEnv)
}

// clusterClient is a client of the test cluster, closed when the test ends.
func clusterClient(t testing.TB) redis.UniversalClient {
	t.Helper()
	addrs := strings.Split(testenv.Get(t, clusterEnv, clusterExample), ",")
	return checked(t, redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, PoolSize: 80}), clusterEnv)
}

// modes are the two ways to run Redis, for tests that run on both.
var modes = []struct {
	name   string
	client func(testing.TB) redis.UniversalClient
}{{"single", singleClient}, {"cluster", clusterClient}}

func checked(t testing.TB, c redis.UniversalClient, env string) redis.UniversalClient {
	t.Helper()
	t.Cleanup(func() { c.Close() })
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("%s is set but Redis does not answer: %v", env, err)
	}
	return c
}

// freshStore is a store under a key prefix of its own, whose keys are all
// deleted when the test ends.
func freshStore(t testing.TB, c redis.UniversalClient, ttl time.Duration) *redisstore.Store {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	s, err := redisstore.New(c, &redisstore.Options{KeyPrefix: "chatstore_test_" + hex.EncodeToString(b) + ":", TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.DeleteAll(context.Background()); err != nil {
			t.Errorf("cleaning up: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	c := singleClient(t)
	storetest.Run(t, func(t *testing.T) driver.Store { return freshStore(t, c, 0) })
}

func TestConformanceCluster(t *testing.T) {
	c := clusterClient(t)
	storetest.Run(t, func(t *testing.T) driver.Store { return freshStore(t, c, 0) })
}

// TestHashTags checks that ids with braces keep a history's keys in one
// slot: on a cluster a write touching two slots fails with CROSSSLOT.
func TestHashTags(t *testing.T) {
	c := clusterClient(t)
	st, _ := chatstore.New(freshStore(t, c, 0), nil)
	ctx := context.Background()
	for _, id := range []string{"}", "{", "{}", "a{b}c", "}{", "%7B", "x%"} {
		if _, err := st.Write(ctx, id, []chat.Message{chat.User("hi"), chat.Assistant("ok")}); err != nil {
			t.Errorf("write %q: %v", id, err)
		}
		if msgs, err := st.RetrieveLast(ctx, id, 1); err != nil || len(msgs) != 2 {
			t.Errorf("retrieve %q: %d %v", id, len(msgs), err)
		}
	}
	page, err := st.List(ctx, chatstore.ListOptions{})
	if err != nil || len(page.Histories) != 7 {
		t.Errorf("list: %+v %v", page, err)
	}
}

// TestTTL checks that a history expires as a whole, and that a write renews
// the expiry of all of it.
func TestTTL(t *testing.T) {
	c := singleClient(t)
	const ttl = 2 * time.Second
	prefix := testPrefix()
	st := prefixedStore(t, c, prefix, ttl, nil)
	ctx := context.Background()
	call := chat.ToolCall{ID: chat.Ptr("c1"), ToolName: "t"}
	if _, err := st.Write(ctx, "h", []chat.Message{chat.User("q"), chat.Assistant("", call)}); err != nil {
		t.Fatal(err)
	}
	// A compaction record's key is the history's too.
	if _, err := st.Compact(ctx, "h", "0", chat.User("a summary")); err != nil {
		t.Fatal(err)
	}
	// KEYS in a test only, to inspect; only this test's own keys, which
	// it expires below.
	ours, err := c.Keys(ctx, prefix+"{h}*").Result()
	if err != nil || !slices.Contains(ours, prefix+"{h}:z") || !slices.Contains(ours, prefix+"{h}:w") {
		t.Fatalf("the history's keys: %q %v", ours, err)
	}
	// Make the first keys' expiry nearly due, then write: every key of the
	// history must be renewed to the full TTL, not only the ones written.
	for _, k := range ours {
		c.PExpire(ctx, k, 50*time.Millisecond)
	}
	if _, err := st.Write(ctx, "h", []chat.Message{chat.Tool("r", call, false)}); err != nil {
		t.Fatal(err)
	}
	for _, k := range ours {
		d, err := c.PTTL(ctx, k).Result()
		if err != nil || d < ttl-time.Second || d > ttl {
			t.Errorf("%s: TTL %v after a write, want about %v (%v)", k, d, ttl, err)
		}
	}
	// Expire the history now, as the passing of its TTL would: all of it
	// goes at once, and the store sees no history.
	for _, k := range ours {
		c.PExpire(ctx, k, time.Millisecond)
	}
	for _, k := range ours {
		for c.Exists(ctx, k).Val() == 1 {
			// Expiry is exact to the millisecond once the key is read.
			c.Get(ctx, k)
		}
	}
	if n, err := st.Count(ctx, "h"); n != 0 || err != nil {
		t.Errorf("count after expiry: %d %v", n, err)
	}
	page, err := st.List(ctx, chatstore.ListOptions{})
	if err != nil || len(page.Histories) != 0 {
		t.Errorf("list after expiry: %+v %v", page, err)
	}
	// A new write starts a new history from id 0.
	if _, err := st.Write(ctx, "h", []chat.Message{chat.User("again")}); err != nil {
		t.Fatal(err)
	}
	msgs, _ := st.RetrieveLast(ctx, "h", chatstore.All)
	if len(msgs) != 1 || msgs[0].Meta[chatstore.MessageIDKey] != "0" {
		t.Errorf("after expiry: %v", msgs)
	}
}

func TestOpenURL(t *testing.T) {
	raw := testenv.Get(t, urlEnv, urlExample)
	ctx := context.Background()
	st, err := chatstore.Open(ctx, raw+"?key_prefix=chatstore_test_open:&ttl=1h&last_k=all", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	defer st.DeleteAll(ctx)
	if _, err := st.Write(ctx, "x", []chat.Message{chat.User("a")}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"?ttl=soon", "?ttl=-1s", "?key_prefix=a{b", "?nonsense=1"} {
		if _, err := chatstore.Open(ctx, raw+bad, nil); !errors.Is(err, chatstore.ErrInvalidOptions) {
			t.Errorf("%s: %v", bad, err)
		}
	}
	if _, err := chatstore.Open(ctx, "redis://:s3cret@127.0.0.1:1/0?dial_timeout=200ms", nil); !errors.Is(err, chatstore.ErrUnavailable) || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("unreachable: %v", err)
	}
}

func TestOpenClusterURL(t *testing.T) {
	addrs := testenv.Get(t, clusterEnv, clusterExample)
	ctx := context.Background()
	st, err := chatstore.Open(ctx, "redis+cluster://"+addrs+"?key_prefix=chatstore_test_cluster_open:", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	defer st.DeleteAll(ctx)
	for i := range 50 { // enough histories to land on every master
		if _, err := st.Write(ctx, string(rune('a'+i%26))+strings.Repeat("x", i), []chat.Message{chat.User("a")}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.DeleteAll(ctx); err != nil {
		t.Fatal(err)
	}
	page, err := st.List(ctx, chatstore.ListOptions{})
	if err != nil || len(page.Histories) != 0 {
		t.Errorf("after DeleteAll: %+v %v", page, err)
	}
}

// TestOpen: Open reads the URL forms chatstore.Open does, to the same
// effect (key_prefix and ttl override opts), and closes the client it made.
func TestOpen(t *testing.T) {
	raw := testenv.Get(t, urlEnv, urlExample)
	c := singleClient(t)
	ctx := t.Context()
	prefix := testPrefix()
	prefixedStore(t, c, prefix, 0, nil) // its cleanup deletes the keys written below
	s, err := redisstore.Open(ctx, raw+"?key_prefix="+prefix+"&ttl=1h", &redisstore.Options{KeyPrefix: "chatstore_test_not_this:", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	st, err := chatstore.New(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Write(ctx, "x", []chat.Message{chat.User("a")}); err != nil {
		t.Fatal(err)
	}
	// KEYS in a test only, on this test's own prefix.
	keys, err := c.Keys(ctx, prefix+"{x}*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("no keys under key_prefix %s: %q %v", prefix, keys, err)
	}
	if d, err := c.PTTL(ctx, keys[0]).Result(); err != nil || d < 59*time.Minute || d > time.Hour {
		t.Errorf("%s: TTL %v, want the URL's 1h (%v)", keys[0], d, err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err == nil {
		t.Error("the store's client still answers after Close: Open's client is the store's to close")
	}
	for _, bad := range []string{"?ttl=soon", "?ttl=-1s", "?key_prefix=a{b", "?nonsense=1", "?last_k=3"} {
		if _, err := redisstore.Open(ctx, raw+bad, nil); !errors.Is(err, chatstore.ErrInvalidOptions) {
			t.Errorf("%s: %v", bad, err)
		}
	}
	if _, err := redisstore.Open(ctx, "redis://:s3cret@127.0.0.1:1/0?dial_timeout=200ms", nil); !errors.Is(err, chatstore.ErrUnavailable) || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("unreachable: %v", err)
	}
}

// TestOpenCluster: Open reads redis+cluster:// URLs as chatstore.Open does.
func TestOpenCluster(t *testing.T) {
	addrs := testenv.Get(t, clusterEnv, clusterExample)
	ctx := t.Context()
	s, err := redisstore.Open(ctx, "redis+cluster://"+addrs+"?key_prefix="+testPrefix(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	defer s.DeleteAll(ctx)
	st, err := chatstore.New(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 { // enough histories to land on every master
		if _, err := st.Write(ctx, string(rune('a'+i%26))+strings.Repeat("x", i), []chat.Message{chat.User("a")}); err != nil {
			t.Fatal(err)
		}
	}
	page, err := st.List(ctx, chatstore.ListOptions{Limit: 100})
	if err != nil || len(page.Histories) != 50 {
		t.Errorf("list: %d histories, %v", len(page.Histories), err)
	}
}

// TestLeavesGoRedisLoggerAlone: go-redis has one logger per process, and
// opening a store, by chatstore.Open or by Open, does not take it over:
// go-redis's records (here, failed dials, which name the address) go where
// the program sent them. SlogLogger sends them to a slog.Logger, with
// component=go-redis.
func TestLeavesGoRedisLoggerAlone(t *testing.T) {
	t.Cleanup(func() { redis.SetLogger(redisstore.SlogLogger(slog.Default())) })
	for _, open := range []struct {
		name string
		addr string
		open func(ctx context.Context, url string) error
	}{
		{"chatstore.Open", "127.0.0.1:1", func(ctx context.Context, url string) error {
			_, err := chatstore.Open(ctx, url, nil)
			return err
		}},
		{"redisstore.Open", "127.0.0.1:2", func(ctx context.Context, url string) error {
			_, err := redisstore.Open(ctx, url, nil)
			return err
		}},
	} {
		var program syncBuffer
		redis.SetLogger(redisstore.SlogLogger(slog.New(slog.NewJSONHandler(&program, nil))))
		if err := open.open(context.Background(), "redis://"+open.addr+"/0?dial_timeout=100ms"); !errors.Is(err, chatstore.ErrUnavailable) {
			t.Fatalf("%s of an unreachable Redis: %v", open.name, err)
		}
		if got := program.String(); !strings.Contains(got, `"level":"WARN"`) || !strings.Contains(got, `"component":"go-redis"`) || !strings.Contains(got, "dial") || !strings.Contains(got, open.addr) {
			t.Errorf("%s: no go-redis record of dialing %s in the program's log: %q", open.name, open.addr, got)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
