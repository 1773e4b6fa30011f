package redisstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/driver"
	"github.com/chatstore/chatstore/internal/storebench"
	"github.com/chatstore/chatstore/internal/testenv"
	"github.com/chatstore/chatstore/redisstore"
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

// BenchmarkWindow: budgeted reads, which walk the history backwards a page
// at a time and stop at the budget, of a short and a long history.
func BenchmarkWindow(b *testing.B) {
	storebench.Window(b, benchStore(b, singleClient(b)), 100, 1_000_000)
}

// BenchmarkTokenizers: the write cost of each tokenizer.
func BenchmarkTokenizers(b *testing.B) {
	c := singleClient(b)
	storebench.Tokenizers(b, func(b *testing.B, name string) *chatstore.Store {
		return storeOn(b, driverOn(b, c, testPrefix(), name, 0))
	})
}

// BenchmarkLoop64: 64 clients, each appending one message to its own
// history and reading its last 10 rounds, over and over.
func BenchmarkLoop64(b *testing.B) { storebench.Clients64(b, benchStore(b, singleClient(b)), true) }

func BenchmarkClusterRetrieveLast10(b *testing.B) {
	storebench.RetrieveLast10(b, benchStore(b, clusterClient(b)), 100, 100_000)
}

// BenchmarkClusterWriteOneEachStep: one message at a time to one history,
// the store's clock a step of the recency index (driver.RecencyShift) on at
// each write, as a conversation's writes come when they are seconds apart:
// every write lists its history. BenchmarkClusterWriteOne is the same
// with the clock standing still.
func BenchmarkClusterWriteOneEachStep(b *testing.B) {
	clk := testenv.NewClock(time.Now().UnixMilli())
	st, err := chatstore.New(freshStore(b, clusterClient(b), 0), &chatstore.Options{Clock: clk})
	if err != nil {
		b.Fatal(err)
	}
	msgs := []chat.Message{chat.User("hello")}
	for b.Loop() {
		clk.Add(driver.RecencyStep)
		if _, err := st.Write(b.Context(), "h", msgs); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkClusterWriteOne(b *testing.B) {
	clk := testenv.NewClock(time.Now().UnixMilli())
	st, err := chatstore.New(freshStore(b, clusterClient(b), 0), &chatstore.Options{Clock: clk})
	if err != nil {
		b.Fatal(err)
	}
	storebench.WriteOne(b, st, "h")
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

// BenchmarkFork100k: forking a history of 100,000 messages, on a single
// node (one script) and on a cluster (a read script, then a create script
// given every message).
func BenchmarkFork100k(b *testing.B) {
	for _, tc := range modes {
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			st := benchStore(b, tc.client(b))
			batch := make([]chat.Message, 1000)
			for i := range batch {
				batch[i] = chat.User(fmt.Sprint("message ", i, " of a long conversation"))
			}
			for range 100 {
				if _, err := st.Write(ctx, "h", batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for i := range b.N {
				if _, err := st.Fork(ctx, "h", fmt.Sprint("f", i), ""); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := st.Delete(ctx, fmt.Sprint("f", i)); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}

// BenchmarkListByUser: one user's 20 newest histories, in a store of 1,000
// and of 100,000 histories, every user holding 50 of them: the cost is the
// user's histories, not the store's.
func BenchmarkListByUser(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			ctx := context.Background()
			c := singleClient(b)
			drv := freshStore(b, c, 0)
			st, err := chatstore.New(drv, nil)
			if err != nil {
				b.Fatal(err)
			}
			fillUsers(b, c, drv, n)
			b.ResetTimer()
			for range b.N {
				page, err := st.List(ctx, chatstore.ListOptions{Order: chatstore.ByUpdated, Limit: 20, Metadata: map[string]string{"user_id": "u-7"}})
				if err != nil || len(page.Histories) != 20 {
					b.Fatal(len(page.Histories), err)
				}
			}
		})
	}
}

// fillUsers creates n histories with metadata through the driver, 64 at a
// time in parallel.
func fillUsers(b *testing.B, c redis.UniversalClient, drv *redisstore.Store, n int) {
	ctx := context.Background()
	var wg sync.WaitGroup
	work := make(chan int)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				u := fmt.Sprint("u-", i%(n/50))
				if _, err := drv.SetMetadata(ctx, fmt.Sprint("h", i), map[string]*string{"user_id": &u}, 16, int64(1_000_000+i)); err != nil {
					b.Error(err)
				}
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
}
