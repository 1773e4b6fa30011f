package pgstore_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chatstore/chatstore/driver"
	"github.com/chatstore/chatstore/pgstore"
)

// editBench is a driver in a fresh schema, with the schema's quoted name
// for filling it in SQL.
func editBench(b *testing.B) (*pgstore.Store, *pgxpool.Pool, string) {
	b.Helper()
	pool := testPool(b)
	schema := freshSchema(b, pool)
	drv, err := pgstore.New(context.Background(), pool, &pgstore.Options{Schema: schema})
	if err != nil {
		b.Fatal(err)
	}
	return drv, pool, pgx.Identifier{schema}.Sanitize()
}

func mustExec(b *testing.B, pool *pgxpool.Pool, sql string) {
	b.Helper()
	if _, err := pool.Exec(context.Background(), sql); err != nil {
		b.Fatalf("%s: %v", sql, err)
	}
}

// BenchmarkFork100k: forking a history of 100,000 messages (of about 300
// bytes of JSON each), a quarter of them with ids of the caller's, all of
// it.
func BenchmarkFork100k(b *testing.B) {
	drv, pool, s := editBench(b)
	const n = 100_000
	mustExec(b, pool, fmt.Sprintf("INSERT INTO %s.histories (name, count, rounds, caller_ids, next_seq, created_at, updated_at) VALUES ('h', %d, %d, %d, %d, 1, 1)", s, n, n/2, n/4, n))
	mustExec(b, pool, fmt.Sprintf("INSERT INTO %[1]s.messages (hid, seq, kind, message_id, body, created_at) "+
		"SELECT (SELECT hid FROM %[1]s.histories WHERE name = 'h'), i, i %% 2, CASE WHEN i %% 4 = 0 THEN 'm-' || i END, "+
		"jsonb_build_object('role', CASE WHEN i %% 2 = 0 THEN 'user' ELSE 'assistant' END, 'content', jsonb_build_array(jsonb_build_object('text', repeat('lorem ipsum ', 20) || i)), 'meta', '{}'::jsonb), "+
		"1700000000000 + i FROM generate_series(0, %[2]d - 1) i", s, n))
	mustExec(b, pool, fmt.Sprintf("ANALYZE %[1]s.messages; ANALYZE %[1]s.histories", s))
	i := 0
	for b.Loop() {
		info, err := drv.Fork(context.Background(), "h", fmt.Sprint("f", i), nil, 2)
		if err != nil || info.Count != n {
			b.Fatalf("fork: %+v %v", info, err)
		}
		i++
	}
}

// BenchmarkListByUser: one user's 20 newest histories (and whether there
// are more) among 1,000 and among 1,000,000, each user holding 100 of
// them, each history with two pairs of metadata. The two should cost
// about the same: the user's histories are a range of metadata_by_pair,
// sorted.
func BenchmarkListByUser(b *testing.B) {
	for _, n := range []int{1_000, 1_000_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			drv, pool, s := editBench(b)
			mustExec(b, pool, fmt.Sprintf("INSERT INTO %s.histories (name, count, rounds, next_seq, created_at, updated_at) "+
				"SELECT 'h' || i, 1, 1, 1, 1700000000000 + i, 1700000000000 + (i::bigint * 7919) %% %d FROM generate_series(0, %d - 1) i", s, n, n))
			mustExec(b, pool, fmt.Sprintf("INSERT INTO %[1]s.metadata (hid, key, value) "+
				"SELECT hid, 'user_id', 'u-' || (42 + substr(name, 2)::int %% %[2]d) FROM %[1]s.histories UNION ALL "+
				"SELECT hid, 'topic', 't-' || (hid %% 7) FROM %[1]s.histories", s, n/100))
			mustExec(b, pool, "VACUUM ANALYZE "+s+".metadata")
			mustExec(b, pool, "VACUUM ANALYZE "+s+".histories")
			q := driver.Query{Order: driver.ByUpdated, Metadata: map[string]string{"user_id": "u-42"}, Limit: 21}
			for b.Loop() {
				infos, err := drv.Query(context.Background(), q)
				if err != nil || len(infos) != 21 || infos[0].Metadata["user_id"] != "u-42" || infos[0].UpdatedAt < infos[20].UpdatedAt {
					b.Fatalf("%d histories, %v", len(infos), err)
				}
			}
		})
	}
}
