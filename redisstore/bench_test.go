package redisstore_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/internal/storebench"
)

func benchStore(b *testing.B, c redis.UniversalClient) *chatstore.Store {
	b.Helper()
	st, err := chatstore.New(freshStore(b, c, 0), nil)
	if err != nil {
		b.Fatal(err)
	}
	return st
}

func BenchmarkRetrieveLast10(b *testing.B) {
	storebench.RetrieveLast10(b, benchStore(b, singleClient(b)), 100, 10_000, 100_000)
}

func BenchmarkWriteBatch100(b *testing.B) {
	storebench.WriteBatch100(b, benchStore(b, singleClient(b)))
}

func BenchmarkWriteOne(b *testing.B) { storebench.WriteOne(b, benchStore(b, singleClient(b)), "h") }

// BenchmarkLoop64: 64 clients, each appending one message to its own
// history and reading its last 10 rounds, over and over.
func BenchmarkLoop64(b *testing.B) { storebench.Clients64(b, benchStore(b, singleClient(b)), true) }

func BenchmarkClusterRetrieveLast10(b *testing.B) {
	storebench.RetrieveLast10(b, benchStore(b, clusterClient(b)), 100, 100_000)
}

func BenchmarkClusterWriteBatch100(b *testing.B) {
	storebench.WriteBatch100(b, benchStore(b, clusterClient(b)))
}

func BenchmarkClusterLoop64(b *testing.B) {
	storebench.Clients64(b, benchStore(b, clusterClient(b)), true)
}

// The reference: plain go-redis, RPUSH of JSON and LRANGE -10 -1,
// no ids, rounds, validation or encoding, measured in the same run.

func baselinePrefix(b *testing.B) (redis.UniversalClient, string) {
	c := singleClient(b)
	prefix := fmt.Sprintf("chatstore_test_baseline_%d:", b.N)
	b.Cleanup(func() {
		iter := c.Scan(context.Background(), 0, prefix+"*", 1000).Iterator()
		for iter.Next(context.Background()) {
			c.Unlink(context.Background(), iter.Val())
		}
	})
	return c, prefix
}

func BenchmarkBaselineWriteBatch100(b *testing.B) {
	c, prefix := baselinePrefix(b)
	bodies := storebench.Bodies(100)
	args := make([]any, len(bodies))
	for i, s := range bodies {
		args[i] = s
	}
	ctx := context.Background()
	i := 0
	for b.Loop() {
		if err := c.RPush(ctx, fmt.Sprint(prefix, i%100), args...).Err(); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "msgs/s")
}

func BenchmarkBaselineRetrieveLast10(b *testing.B) {
	c, prefix := baselinePrefix(b)
	ctx := context.Background()
	bodies := storebench.Bodies(1000)
	args := make([]any, len(bodies))
	for i, s := range bodies {
		args[i] = s
	}
	for range 100 {
		c.RPush(ctx, prefix+"big", args...)
	}
	for b.Loop() {
		vals, err := c.LRange(ctx, prefix+"big", -10, -1).Result()
		if err != nil || len(vals) != 10 {
			b.Fatal(err)
		}
		for _, v := range vals {
			if _, err := chat.Unmarshal([]byte(v)); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkBaselineLoop64(b *testing.B) {
	c, prefix := baselinePrefix(b)
	bodies := storebench.Bodies(2)
	storebench.Loop64(b, "loops/s", func(ctx context.Context, history string, i int) error {
		key := prefix + history
		if err := c.RPush(ctx, key, bodies[i%2]).Err(); err != nil {
			return err
		}
		vals, err := c.LRange(ctx, key, -10, -1).Result()
		if err != nil {
			return err
		}
		for _, v := range vals {
			if _, err := chat.Unmarshal([]byte(v)); err != nil {
				return err
			}
		}
		return nil
	})
}
