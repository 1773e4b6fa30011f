package redisstore_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/chatstore/chatstore/driver"
)

// TestFastTail: the fast tail read (plain commands, tail.go) returns what
// the tail script returns, message for message, on histories with
// generated and supplied ids, tombstones and truncations, both when the
// tail fits in what it fetches and when it is longer and the read falls
// back to the script; and so does a bare read (driver.Span.Bare), but for
// the times and costs it leaves out.
func TestFastTail(t *testing.T) {
	bothClients(t, func(t *testing.T, c redis.UniversalClient) {
		ctx := t.Context()
		s := freshStore(t, c, 0)
		rng := rand.New(rand.NewPCG(22, 1))
		fastBare := 0 // messages of bare reads that the fast read served
		for h := range 8 {
			id := fmt.Sprint("h", h)
			at := int64(1_000_000)
			for w := range 40 {
				var recs []driver.Record
				// Now and then a long round: more messages than the
				// fast read fetches.
				n := 1 + rng.IntN(4)
				if w%13 == 12 {
					n = int(s.TailGuess(10)) + 20
				}
				for i := range n {
					r := driver.Record{JSON: fmt.Appendf(nil, `{"m":"%d-%d"}`, w, i), Kind: driver.Kind(rng.IntN(3)), CreatedAt: at, Cost: driver.Cost{Text: int64(rng.IntN(50))}}
					if h%2 == 1 && rng.IntN(3) == 0 {
						r.ID, r.HasID = fmt.Sprint("id-", w, "-", i), true
					}
					recs = append(recs, r)
					at++
				}
				if _, err := s.Write(ctx, id, recs); err != nil {
					t.Fatal(err)
				}
				if h >= 4 && rng.IntN(4) == 0 {
					if err := s.DeleteMessage(ctx, id, fmt.Sprint(rng.IntN(w+1)), at); err != nil && !errors.Is(err, driver.ErrNotFound) {
						t.Fatal(err)
					}
				}
				if h >= 6 && w%10 == 9 {
					if _, err := s.Truncate(ctx, id, fmt.Sprint(w), at); err != nil && !errors.Is(err, driver.ErrNotFound) {
						t.Fatal(err)
					}
				}
				for _, k := range []int{1, 2, 10, 30} {
					got, err := s.Tail(ctx, id, k)
					if err != nil {
						t.Fatal(err)
					}
					want, err := s.ScriptTail(ctx, id, k)
					if err != nil {
						t.Fatal(err)
					}
					if !reflect.DeepEqual(got, want) {
						t.Fatalf("history %s after write %d, last %d rounds:\n fast   %v\n script %v", id, w, k, got, want)
					}
					// A bare read: the same, but for the times and
					// costs, which it may leave out (it does but where
					// it falls back to the script).
					bare, _, err := s.TailUncompacted(ctx, id, driver.Span{Rounds: k, Bare: true}, 0)
					if err != nil {
						t.Fatal(err)
					}
					for i := range want {
						want[i].CreatedAt, want[i].Cost = 0, driver.Cost{}
					}
					for i := range bare {
						if bare[i].CreatedAt == 0 { // the test's times are ≥ 1,000,000
							fastBare++
						}
						bare[i].CreatedAt, bare[i].Cost = 0, driver.Cost{}
					}
					if len(bare) != len(want) || len(want) > 0 && !reflect.DeepEqual(bare, want) {
						t.Fatalf("history %s after write %d, last %d rounds, bare:\n fast   %v\n script %v", id, w, k, bare, want)
					}
				}
			}
		}
		if fastBare == 0 {
			t.Error("no bare read was served by the fast read")
		}
	})
}
