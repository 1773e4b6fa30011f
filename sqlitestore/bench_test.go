package sqlitestore_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/internal/storebench"
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

func BenchmarkRetrieveLast10(b *testing.B) {
	storebench.RetrieveLast10(b, openBench(b, b.TempDir(), ""), 100, 100_000, 1_000_000)
}

func BenchmarkWriteBatch100(b *testing.B) {
	storebench.WriteBatch100(b, openBench(b, b.TempDir(), ""))
}

// BenchmarkWriteOne: each write is a transaction of its own.
func BenchmarkWriteOne(b *testing.B) {
	storebench.WriteOne(b, openBench(b, b.TempDir(), ""), "h")
}

// BenchmarkWriteOneParallel64: 64 writers, each on its own history; group
// commit lets one transaction serve many writes.
func BenchmarkWriteOneParallel64(b *testing.B) {
	for _, sync := range []string{"normal", "full"} {
		b.Run("synchronous="+sync, func(b *testing.B) {
			storebench.Clients64(b, openBench(b, b.TempDir(), "?synchronous="+sync), false)
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

func BenchmarkBaselineWriteOne(b *testing.B) {
	db := openRaw(b)
	ins, _ := db.Prepare("INSERT INTO m VALUES ('h', ?, ?)")
	bodies := storebench.Bodies(2)
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
	bodies := storebench.Bodies(100)
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
	bodies := storebench.Bodies(1000)
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
