package pgstore_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/pgstore"
	"github.com/chatstore/chatstore/storetest"
)

func benchStore(b *testing.B) *chatstore.Store {
	b.Helper()
	pool := testPool(b)
	s, err := pgstore.New(context.Background(), pool, &pgstore.Options{Schema: freshSchema(b, pool)})
	if err != nil {
		b.Fatal(err)
	}
	st, _ := chatstore.New(s, nil)
	return st
}

func BenchmarkRetrieveLast10(b *testing.B) {
	st := benchStore(b)
	ctx := context.Background()
	batch := storetest.Conversation(1000)
	for _, n := range []int{100, 100_000} {
		id := fmt.Sprint("h", n)
		for written := 0; written < n; written += len(batch) {
			if _, err := st.Write(ctx, id, batch[:min(len(batch), n-written)]); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(fmt.Sprint("history=", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if msgs, err := st.RetrieveLast(ctx, id, 10); err != nil || len(msgs) != 20 {
					b.Fatalf("%d messages, %v", len(msgs), err)
				}
			}
		})
	}
}

func BenchmarkWriteBatch100(b *testing.B) {
	st := benchStore(b)
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

func BenchmarkWriteOne(b *testing.B) {
	st := benchStore(b)
	msgs := storetest.Conversation(2)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		if _, err := st.Write(ctx, "h", msgs[i%2:i%2+1]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkLoop64: 64 clients, each appending one message to its own
// history and reading its last 10 rounds, over and over.
func BenchmarkLoop64(b *testing.B) {
	st := benchStore(b)
	msgs := storetest.Conversation(2)
	ctx := context.Background()
	var next atomic.Int64
	b.SetParallelism(32) // × 2 CPUs
	b.RunParallel(func(pb *testing.PB) {
		id := fmt.Sprint("h", next.Add(1))
		i := 0
		for pb.Next() {
			if _, err := st.Write(ctx, id, msgs[i%2:i%2+1]); err != nil {
				b.Error(err)
				return
			}
			if _, err := st.RetrieveLast(ctx, id, 10); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "loops/s")
}

// The reference: plain pgx, JSONB rows, primary key (history, seq),
// no ids, rounds, validation or encoding, in the same run.

func baselineTable(b *testing.B) (string, func() *pgxpool.Pool) {
	b.Helper()
	pool := testPool(b)
	schema := pgx.Identifier{freshSchema(b, pool)}.Sanitize()
	if _, err := pool.Exec(context.Background(), "CREATE SCHEMA "+schema+"; CREATE TABLE "+schema+".m (history text NOT NULL, seq bigint NOT NULL, body jsonb NOT NULL, PRIMARY KEY (history, seq))"); err != nil {
		b.Fatal(err)
	}
	return schema + ".m", func() *pgxpool.Pool { return pool }
}

func bodies(n int) []string {
	out := make([]string, n)
	for i, m := range storetest.Conversation(n) {
		j, _ := m.MarshalJSON()
		out[i] = string(j)
	}
	return out
}

func BenchmarkBaselineWriteBatch100(b *testing.B) {
	table, pool := baselineTable(b)
	bs := bodies(100)
	ctx := context.Background()
	seq := map[int]int64{}
	i := 0
	for b.Loop() {
		h := i % 100
		seqs := make([]int64, 100)
		for j := range seqs {
			seqs[j] = seq[h] + int64(j)
		}
		seq[h] += 100
		if _, err := pool().Exec(ctx, "INSERT INTO "+table+" SELECT $1, s, b::jsonb FROM unnest($2::bigint[], $3::text[]) AS t (s, b)", fmt.Sprint("h", h), seqs, bs); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "msgs/s")
}

func BenchmarkBaselineLoop64(b *testing.B) {
	table, pool := baselineTable(b)
	bs := bodies(2)
	ctx := context.Background()
	var next atomic.Int64
	b.SetParallelism(32)
	b.RunParallel(func(pb *testing.PB) {
		h := fmt.Sprint("h", next.Add(1))
		var i int64
		for pb.Next() {
			if _, err := pool().Exec(ctx, "INSERT INTO "+table+" VALUES ($1, $2, $3)", h, i, bs[i%2]); err != nil {
				b.Error(err)
				return
			}
			rows, err := pool().Query(ctx, "SELECT body FROM "+table+" WHERE history = $1 ORDER BY seq DESC LIMIT 20", h)
			if err != nil {
				b.Error(err)
				return
			}
			for rows.Next() {
				var body []byte
				rows.Scan(&body)
				if _, err := chat.Unmarshal(body); err != nil {
					b.Error(err)
				}
			}
			rows.Close()
			i++
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "loops/s")
}
