package bench_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/bench"
	"github.com/chatstore/chatstore/internal/testenv"
	_ "github.com/chatstore/chatstore/pgstore"
	_ "github.com/chatstore/chatstore/redisstore"
)

// compare runs the store and the raw baseline on storeURL at a tiny scale,
// as chatstore bench --compare does (settling the database between runs),
// checks the reports and the ratios, and closes the baseline.
func compare(t *testing.T, storeURL string) {
	t.Helper()
	ctx := t.Context()
	st, err := chatstore.Open(ctx, storeURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	raw, err := bench.OpenRaw(ctx, storeURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg := bench.Config{Scale: 0.01, Clients: 4, Duration: 200 * time.Millisecond, Reads: 20}
	c, err := bench.RunCompare(ctx, st, "store", raw, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := raw.Close(ctx); err != nil {
		t.Fatal(err)
	}
	storeRep, rawRep := c.Store, c.Raw
	if !rawRep.Raw || storeRep.Raw || !strings.HasPrefix(rawRep.Target, "raw ") || storeRep.Target != "store" {
		t.Errorf("reports: store raw=%v %q, raw raw=%v %q", storeRep.Raw, storeRep.Target, rawRep.Raw, rawRep.Target)
	}
	if storeRep.Started.IsZero() || rawRep.Started.IsZero() || rawRep.Machine.CPUs == 0 {
		t.Errorf("reports without their start or machine: %+v, %+v", storeRep, rawRep)
	}
	want := []string{"W1", "W2", "W3", "W3", "W3", "W4"}
	for _, rep := range []*bench.Report{storeRep, rawRep} {
		if len(rep.Results) != len(want) {
			t.Fatalf("%s: %d results, want %d", rep.Target, len(rep.Results), len(want))
		}
		for i, r := range rep.Results {
			if r.Workload != want[i] || r.Ops <= 0 || r.Rate <= 0 || r.P50 <= 0 || r.P99 < r.P50 || r.Max < r.P99 {
				t.Errorf("%s: result %d: %+v", rep.Target, i, r)
			}
		}
	}
	// W3: the raw baseline reads what the store's last 10 rounds hold.
	for i := 2; i <= 4; i++ {
		if s, r := storeRep.Results[i], rawRep.Results[i]; s.Messages != r.Messages || s.Messages == 0 {
			t.Errorf("W3 %d: the store read %d messages, the raw baseline %d", i, s.Messages, r.Messages)
		}
	}
	if len(c.Ratios) != len(want) {
		t.Fatalf("%d ratios, want %d", len(c.Ratios), len(want))
	}
	for i, r := range c.Ratios {
		if r.Workload != want[i] || r.Time <= 0 || r.P50 <= 0 || r.P99 <= 0 {
			t.Errorf("ratio %d: %+v", i, r)
		}
	}
	var table, md strings.Builder
	if err := c.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{table.String(), md.String()} {
		if !strings.Contains(s, "store / raw") && !strings.Contains(s, "Store / raw") || strings.Count(s, "×") < 3*len(want) {
			t.Errorf("comparison without its ratios:\n%s", s)
		}
	}
}

func TestRawSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bench.db")
	compare(t, "sqlite:"+filepath.ToSlash(path))
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name LIKE 'chatstore_raw_bench%'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d raw tables left (%v)", n, err)
	}
}

func TestRawPostgres(t *testing.T) {
	url := testenv.PostgresSchema(t, testenv.Get(t, "CHATSTORE_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"))
	compare(t, url)
	base := strings.Split(url, "schema=")[1]
	conn, err := pgx.Connect(t.Context(), strings.Replace(url, "schema="+base, "sslmode=disable", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename LIKE 'chatstore_raw_bench%'`, base).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d raw tables left in %s (%v)", n, base, err)
	}
}

// TestRawPostgresOwnSchema: on a schema that does not exist, the raw
// baseline makes it and drops it again.
func TestRawPostgresOwnSchema(t *testing.T) {
	url := testenv.PostgresSchema(t, testenv.Get(t, "CHATSTORE_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"))
	raw, err := bench.OpenRaw(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bench.RunRaw(t.Context(), raw, bench.Config{Workloads: []string{"W1"}, Scale: 0.001}); err != nil {
		t.Fatal(err)
	}
	if err := raw.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	schema := strings.Split(url, "schema=")[1]
	conn, err := pgx.Connect(t.Context(), strings.Replace(url, "schema="+schema, "sslmode=disable", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var exists bool
	if err := conn.QueryRow(t.Context(), `SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&exists); err != nil || exists {
		t.Errorf("schema %s left behind (%v)", schema, err)
	}
}

func prefix() string {
	var b [4]byte
	rand.Read(b[:])
	return "chatstore-rawtest-" + hex.EncodeToString(b[:]) + ":"
}

// keysLeft counts the keys starting with p on every master (which
// ForEachMaster visits at once, each in a goroutine of its own).
func keysLeft(t *testing.T, c redis.UniversalClient, p string) int {
	var n atomic.Int64
	scan := func(ctx context.Context, c *redis.Client) error {
		keys, err := c.Keys(ctx, p+"*").Result()
		for _, k := range keys {
			switch {
			case k == p+"}tokenizer":
				// The store's own setting, which outlives the
				// histories a run deletes, as a database schema would.
			case strings.HasSuffix(k, "}:u"):
				// On a cluster, a deleted history's mark for a write
				// that would create it again, which expires (and the
				// test removes).
				if d, err := c.PTTL(ctx, k).Result(); err != nil || d <= 0 || d > time.Minute {
					t.Errorf("the mark %s expires in %v (%v), want within a minute", k, d, err)
				}
				if err := c.Del(ctx, k).Err(); err != nil {
					return err
				}
			default:
				n.Add(1)
			}
		}
		return err
	}
	var err error
	if cc, ok := c.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(t.Context(), scan)
	} else {
		err = scan(t.Context(), c.(*redis.Client))
	}
	if err != nil {
		t.Fatal(err)
	}
	return int(n.Load())
}

func TestRawRedis(t *testing.T) {
	base := testenv.Get(t, "CHATSTORE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
	opts, err := redis.ParseURL(base)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	p := prefix()
	t.Cleanup(func() { c.Del(context.Background(), p+"}tokenizer") })
	compare(t, base+"?key_prefix="+p)
	if n := keysLeft(t, c, p); n != 0 {
		t.Errorf("%d keys left under %s", n, p)
	}
}

func TestRawRedisCluster(t *testing.T) {
	addrs := testenv.Get(t, "CHATSTORE_TEST_REDIS_CLUSTER_ADDRS", "127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002")
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: strings.Split(addrs, ",")})
	t.Cleanup(func() { c.Close() })
	p := prefix()
	t.Cleanup(func() { c.Del(context.Background(), p+"}tokenizer") })
	compare(t, "redis+cluster://"+addrs+"?key_prefix="+p)
	if n := keysLeft(t, c, p); n != 0 {
		t.Errorf("%d keys left under %s", n, p)
	}
}

func TestRawMemoryRefused(t *testing.T) {
	_, err := bench.OpenRaw(t.Context(), "memory://")
	if !errors.Is(err, bench.ErrNoRaw) || !strings.Contains(err.Error(), "memory://") {
		t.Errorf("error %v, want ErrNoRaw naming memory://", err)
	}
}
