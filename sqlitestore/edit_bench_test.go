package sqlitestore_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/chatstore/chatstore/driver"
	"github.com/chatstore/chatstore/internal/storebench"
	"github.com/chatstore/chatstore/sqlitestore"
)

// BenchmarkFork100k forks a history of 100,000 messages: one INSERT …
// SELECT inside the database.
func BenchmarkFork100k(b *testing.B) {
	st := openBench(b, b.TempDir(), "")
	storebench.Fill(b, st, "h", 100_000)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		info, err := st.Fork(ctx, "h", fmt.Sprint("f", i), "")
		if err != nil || info.Count != 100_000 {
			b.Fatal(info, err)
		}
		i++
	}
	b.ReportMetric(float64(100_000*b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkListByUser lists one user's 20 most recent histories among
// 1,000 and among 1,000,000, each user holding 20 of them: the cost should
// be that of the user's histories, not of the store's. The files are
// filled once with SQL (histories with metadata and no messages) and kept
// in the system's temporary directory for the next runs.
func BenchmarkListByUser(b *testing.B) {
	for _, n := range []int{1_000, 1_000_000} {
		b.Run(fmt.Sprint("histories=", n), func(b *testing.B) {
			path := listFile(b, n)
			s, err := sqlitestore.Open(context.Background(), path, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			q := driver.Query{Order: driver.ByUpdated, Metadata: map[string]string{"user_id": "u-42"}, Limit: 21}
			for b.Loop() {
				infos, err := s.Query(context.Background(), q)
				if err != nil || len(infos) != 20 || infos[0].Metadata["user_id"] != "u-42" {
					b.Fatal(len(infos), err)
				}
			}
		})
	}
}

func listFile(b *testing.B, n int) string {
	b.Helper()
	dir := filepath.Join(os.TempDir(), "chatstore-sqlitestore-bench")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	// Named by the schema version, which opening it migrates to: an older
	// chatstore refuses a file a newer one migrated.
	path := filepath.Join(dir, fmt.Sprintf("list-v%d-%d.db", sqlitestore.SchemaVersion, n))
	if _, err := os.Stat(path); err == nil {
		return path
	}
	tmp := path + ".tmp"
	os.Remove(tmp)
	s, err := sqlitestore.Open(context.Background(), tmp, nil) // the schema
	if err != nil {
		b.Fatal(err)
	}
	s.Close()
	db, err := sql.Open("sqlite", tmp)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	// Updated times in an order unlike the ids', 20 histories a user.
	const base = 1_700_000_000_000
	if _, err := db.Exec(`BEGIN;
		WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i + 1 < ?1)
		INSERT INTO histories (hid, name, count, next_seq, caller_ids, created_at, updated_at)
			SELECT i + 1, printf('h%08d', i), 0, 0, 0, ?2, ?2 + (i * 7919) % ?1 FROM c;
		INSERT INTO metadata (hid, key, value) SELECT hid, 'user_id', 'u-' || ((hid - 1) % (?1 / 20)) FROM histories;
		COMMIT`, n, base); err != nil {
		b.Fatal(err)
	}
	db.Close()
	os.Remove(tmp + "-wal")
	os.Remove(tmp + "-shm")
	if err := os.Rename(tmp, path); err != nil {
		b.Fatal(err)
	}
	return path
}
