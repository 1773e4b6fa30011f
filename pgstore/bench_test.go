package pgstore_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/internal/storebench"
	"github.com/chatstore/chatstore/pgstore"
)

func benchStore(b *testing.B) *chatstore.Store { return benchStoreWith(b, pgstore.Options{}) }

// benchStoreWith is benchStore with options, the schema a fresh one.
func benchStoreWith(b *testing.B, o pgstore.Options) *chatstore.Store {
	b.Helper()
	pool := testPool(b)
	o.Schema = freshSchema(b, pool)
	s, err := pgstore.New(context.Background(), pool, &o)
	if err != nil {
		b.Fatal(err)
	}
	st, err := chatstore.New(s, &chatstore.Options{Tokenizer: o.Tokenizer})
	if err != nil {
		b.Fatal(err)
	}
	return st
}

// BenchmarkWindow: budgeted reads, which walk the history backwards a page
// at a time and stop at the budget, of a short and a long history.
func BenchmarkWindow(b *testing.B) {
	storebench.Window(b, benchStore(b), 100, 1_000_000)
}

// BenchmarkTokenizers: the write cost of each tokenizer.
func BenchmarkTokenizers(b *testing.B) {
	storebench.Tokenizers(b, func(b *testing.B, name string) *chatstore.Store {
		return benchStoreWith(b, pgstore.Options{Tokenizer: name})
	})
}

func BenchmarkRetrieveLast10(b *testing.B) {
	storebench.RetrieveLast10(b, benchStore(b), 100, 100_000)
}

func BenchmarkWriteBatch100(b *testing.B) { storebench.WriteBatch100(b, benchStore(b)) }

func BenchmarkWriteOne(b *testing.B) { storebench.WriteOne(b, benchStore(b), "h") }

// The same without the full-text index (search=false), for what
// indexing costs a write.

func BenchmarkWriteBatch100NoSearch(b *testing.B) {
	storebench.WriteBatch100(b, benchStoreWith(b, pgstore.Options{NoSearch: true}))
}

func BenchmarkWriteOneNoSearch(b *testing.B) {
	storebench.WriteOne(b, benchStoreWith(b, pgstore.Options{NoSearch: true}), "h")
}

// BenchmarkLoop64: 64 clients, each appending one message to its own
// history and reading its last 10 rounds, over and over.
func BenchmarkLoop64(b *testing.B) { storebench.Clients64(b, benchStore(b), true) }

// The reference: plain pgx, JSONB rows, primary key (history, seq),
// no ids, rounds, validation or encoding, in the same run.

func baselineTable(b *testing.B) (string, *pgxpool.Pool) {
	b.Helper()
	pool := testPool(b)
	schema := pgx.Identifier{freshSchema(b, pool)}.Sanitize()
	if _, err := pool.Exec(context.Background(), "CREATE SCHEMA "+schema+"; CREATE TABLE "+schema+".m (history text NOT NULL, seq bigint NOT NULL, body jsonb NOT NULL, PRIMARY KEY (history, seq))"); err != nil {
		b.Fatal(err)
	}
	return schema + ".m", pool
}

func BenchmarkBaselineWriteBatch100(b *testing.B) {
	table, pool := baselineTable(b)
	bs := storebench.Bodies(100)
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
		if _, err := pool.Exec(ctx, "INSERT INTO "+table+" SELECT $1, s, b::jsonb FROM unnest($2::bigint[], $3::text[]) AS t (s, b)", fmt.Sprint("h", h), seqs, bs); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "msgs/s")
}

func BenchmarkBaselineLoop64(b *testing.B) {
	table, pool := baselineTable(b)
	bs := storebench.Bodies(2)
	storebench.Loop64(b, "loops/s", func(ctx context.Context, history string, i int) error {
		if _, err := pool.Exec(ctx, "INSERT INTO "+table+" VALUES ($1, $2, $3)", history, i, bs[i%2]); err != nil {
			return err
		}
		rows, err := pool.Query(ctx, "SELECT body FROM "+table+" WHERE history = $1 ORDER BY seq DESC LIMIT 20", history)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var body []byte
			if err := rows.Scan(&body); err != nil {
				return err
			}
			if _, err := chat.Unmarshal(body); err != nil {
				return err
			}
		}
		return rows.Err()
	})
}
