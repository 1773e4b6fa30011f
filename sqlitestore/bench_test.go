package sqlitestore_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/storetest"
)

func openBench(b *testing.B, dir, query string) *chatstore.Store {
	b.Helper()
	st, err := chatstore.Open(context.Background(), "sqlite://"+filepath.ToSlash(filepath.Join(dir, "bench.db"))+query, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

// BenchmarkRetrieveLast10 reads the last 10 rounds (20 messages) of
// histories of 100, 100,000 and 1,000,000 messages in one file.
func BenchmarkRetrieveLast10(b *testing.B) {
	dir := b.TempDir()
	st := openBench(b, dir, "")
	ctx := context.Background()
	batch := storetest.Conversation(1000)
	for _, n := range []int{100, 100_000, 1_000_000} {
		id := fmt.Sprint("h", n)
		for written := 0; written < n; written += len(batch) {
			if _, err := st.Write(ctx, id, batch[:min(len(batch), n-written)]); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(fmt.Sprint("history=", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				msgs, err := st.RetrieveLast(ctx, id, 10)
				if err != nil || len(msgs) != 20 {
					b.Fatalf("%d messages, %v", len(msgs), err)
				}
			}
		})
	}
}

// BenchmarkWriteBatch100 writes batches of 100 messages from one goroutine.
func BenchmarkWriteBatch100(b *testing.B) {
	st := openBench(b, b.TempDir(), "")
	msgs := storetest.Conversation(100)
	ctx := context.Background()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if _, err := st.Write(ctx, fmt.Sprint("h", i%100), msgs); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N*len(msgs))/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkWriteOne writes single messages from one goroutine, each write a
// transaction of its own.
func BenchmarkWriteOne(b *testing.B) {
	st := openBench(b, b.TempDir(), "")
	msgs := storetest.Conversation(2)
	ctx := context.Background()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if _, err := st.Write(ctx, "h", msgs[i%2:i%2+1]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkWriteOneParallel64 writes single messages from 64 goroutines, each
// on its own history: group commit lets one transaction serve many writes.
func BenchmarkWriteOneParallel64(b *testing.B) {
	for _, sync := range []string{"normal", "full"} {
		b.Run("synchronous="+sync, func(b *testing.B) {
			st := openBench(b, b.TempDir(), "?synchronous="+sync)
			msgs := storetest.Conversation(2)
			ctx := context.Background()
			var next atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(32) // 2 CPUs × 32 = 64 goroutines
			b.RunParallel(func(pb *testing.PB) {
				id := fmt.Sprint("h", next.Add(1))
				i := 0
				for pb.Next() {
					if _, err := st.Write(ctx, id, msgs[i%2:i%2+1]); err != nil {
						b.Error(err)
						return
					}
					i++
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// The baseline the issue states its targets against: plain modernc.org/sqlite
// through database/sql (WAL, synchronous=NORMAL), one (history, seq) key, no
// ids, rounds or validation. Measured in the same run, it shows what
// chatstore's bookkeeping costs on the machine at hand.

func openRaw(b *testing.B) *sql.DB {
	b.Helper()
	db, err := sql.Open("sqlite", filepath.Join(b.TempDir(), "raw.db")+"?_journal_mode=WAL&_synchronous=NORMAL&_busy_timeout=5000&_txlock=immediate")
	if err != nil {
		b.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec("CREATE TABLE m (history TEXT NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (history, seq)) WITHOUT ROWID"); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

func rawBodies(n int) []string {
	out := make([]string, n)
	for i, m := range storetest.Conversation(n) {
		j, _ := m.MarshalJSON()
		out[i] = string(j)
	}
	return out
}

func BenchmarkBaselineWriteOne(b *testing.B) {
	db := openRaw(b)
	ins, _ := db.Prepare("INSERT INTO m VALUES ('h', ?, ?)")
	bodies := rawBodies(2)
	i := 0
	for b.Loop() {
		tx, err := db.Begin()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := tx.Stmt(ins).Exec(i, bodies[i%2]); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

func BenchmarkBaselineWriteBatch100(b *testing.B) {
	db := openRaw(b)
	ins, _ := db.Prepare("INSERT INTO m VALUES (?, ?, ?)" + strings.Repeat(",(?, ?, ?)", 99))
	bodies := rawBodies(100)
	seq := map[int]int{}
	i := 0
	for b.Loop() {
		h := i % 100
		args := make([]any, 0, 300)
		for j, body := range bodies {
			args = append(args, fmt.Sprint("h", h), seq[h]+j, body)
		}
		seq[h] += 100
		tx, _ := db.Begin()
		if _, err := tx.Stmt(ins).Exec(args...); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "msgs/s")
}

func BenchmarkBaselineReadLast10(b *testing.B) {
	db := openRaw(b)
	bodies := rawBodies(1000)
	tx, _ := db.Begin()
	ins, _ := tx.Prepare("INSERT INTO m VALUES ('h', ?, ?)")
	for i := range 100_000 {
		if _, err := ins.Exec(i, bodies[i%1000]); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	q, _ := db.Prepare("SELECT body FROM m WHERE history = 'h' ORDER BY seq DESC LIMIT 20")
	for b.Loop() {
		rows, err := q.Query()
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for rows.Next() {
			var body []byte
			rows.Scan(&body)
			if _, err := chat.Unmarshal(body); err != nil { // as a store would
				b.Fatal(err)
			}
			n++
		}
		rows.Close()
		if n != 20 {
			b.Fatalf("%d rows", n)
		}
	}
}
