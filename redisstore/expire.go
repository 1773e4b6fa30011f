package redisstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/driver"
)

// Expiry (driver.NativeExpirer). Redis removes an expired history itself:
// every script that changes a history works out when it expires
// (driver.ExpiresAt, mirrored in Lua: expirySrc in scripts.go) and gives
// every key of the history that expiry, in the same script, so that they
// all go at once, on Redis's clock, whatever reads them meanwhile. What
// outlives them, outside the history's slot, is its entries in the
// listing, recency and metadata indexes: listings step over them, and
// Sweep takes them out.

// Policy implements driver.Expirer.
func (s *Store) Policy() *driver.Policy { return &s.policy }

// NativeExpiry marks the store as a driver.NativeExpirer.
func (s *Store) NativeExpiry() {}

// defaultTTL is the default TTL of a history, in ms, from the policy,
// whose store default Options.TTL sets (and chatstore.Options.TTL, when
// set, overrides).
func (s *Store) defaultTTL(historyID string) int64 { return s.policy.TTL(historyID) }

// metaHead is the number of values that start the answers of
// setMetadataScript and setExpiryScript: created, cr, up, count, tt, tf,
// wiped, ex, xt, xa.
const metaHead = 10

// metaInfo reads the answer of setMetadataScript or setExpiryScript, whose
// metadata after the change follows metaHead and skip more values.
func metaInfo(historyID string, res []any, skip int) (info driver.Info, created, wiped bool) {
	num := func(i int) int64 {
		n, _ := res[i].(int64)
		return n
	}
	info = driver.Info{ID: historyID, CreatedAt: num(1), UpdatedAt: num(2), Count: num(3),
		Cost:   driver.Cost{Text: num(4), Flat: num(5)},
		Expiry: driver.Expiry{TTL: num(8), At: num(9)}, ExpiresAt: num(7), Metadata: map[string]string{}}
	after := res[metaHead+skip:]
	for i := 0; i+1 < len(after); i += 2 {
		k, _ := after[i].(string)
		v, _ := after[i+1].(string)
		info.Metadata[k] = v
	}
	return info, num(0) == 1, num(6) == 1
}

// SetExpiry implements driver.Expirer: one script (setExpiryScript) sets
// the history's own expiry and gives all of its keys the expiry that
// follows, or removes the history if that is due already; then the
// indexes follow, as after SetMetadata.
func (s *Store) SetExpiry(ctx context.Context, historyID string, x driver.Expiry, now int64) (driver.Info, error) {
	fail := func(err error) (driver.Info, error) {
		return driver.Info{}, fmt.Errorf("redisstore: set expiry %q: %w", historyID, err)
	}
	var res []any
	err := s.upgraded(ctx, historyID, func() (err error) {
		res, err = setExpiryScript.Run(ctx, s.c, s.keys(historyID)[:nHistoryKeys], now, s.defaultTTL(historyID), s.counter, x.TTL, x.At).Slice()
		return err
	})
	if err != nil {
		return fail(translate(err))
	}
	if len(res) < metaHead {
		return fail(fmt.Errorf("%w: the script's answer is malformed", chatstore.ErrIncompatibleSchema))
	}
	info, created, wiped := metaInfo(historyID, res, 0)
	switch {
	case driver.Expired(info.ExpiresAt, now):
		// Removed at once: out of the indexes, with the pairs it had.
		_, err = s.unlist(ctx, []string{historyID}, info.Metadata)
		info = driver.Info{ID: historyID, Metadata: map[string]string{}, Expiry: x, ExpiresAt: info.ExpiresAt}
	case wiped:
		_, err = s.unlist(ctx, []string{historyID}, nil)
	default:
		_, err = s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			if created {
				p.ZAdd(ctx, s.index, redis.Z{Member: historyID})
			}
			p.ZAddLT(ctx, s.updated, redis.Z{Score: float64(-info.UpdatedAt), Member: historyID})
			return nil
		})
	}
	if err != nil {
		return fail(fmt.Errorf("the expiry is set, but indexing the history failed: %w", translate(err)))
	}
	return info, nil
}

// Sweep pages and bounds.
const (
	// sweepPage is how many listed ids one step of Sweep checks at most.
	sweepPage = 200
	// sweepPages bounds the steps of one Sweep.
	sweepPages = 10
)

// Sweep implements driver.Expirer for a backend that removes expired
// histories itself: it takes out of the indexes (listing, recency,
// metadata pairs) the entries of histories whose keys are gone, up to
// limit of them, and reports them as Histories (their messages are not
// known: Messages 0). It walks the listing index from where the last
// Sweep of any process stopped (PREFIX}sweep), a page of ids at a time:
// an EXISTS of each one's KEY:s, in one pipeline (which go-redis splits by
// node on a cluster), then unlist for the gone ones; at most sweepPages
// pages a call, so a call costs O(sweepPages·sweepPage) commands whatever
// the store holds. Past the end of the listing it starts again from the
// start. Sweeps racing each other, or writes, are harmless: a history
// that exists again is listed again (unlist), and each entry is counted
// by the sweep whose ZREM took it out.
func (s *Store) Sweep(ctx context.Context, _ int64, limit int) (driver.Swept, error) {
	var swept driver.Swept
	cursorKey := s.prefix + "}sweep"
	from, err := s.c.Get(ctx, cursorKey).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return swept, fmt.Errorf("redisstore: sweep: %w", translate(err))
	}
	start, wrapped := from, from == ""
	for range sweepPages {
		if swept.Histories >= int64(limit) {
			break
		}
		lo := "-"
		if start != "" {
			lo = "(" + start
		}
		ids, err := s.c.ZRangeArgs(ctx, redis.ZRangeArgs{Key: s.index, Start: lo, Stop: "+", ByLex: true, Count: sweepPage}).Result()
		if err != nil {
			return swept, fmt.Errorf("redisstore: sweep: %w", translate(err))
		}
		if wrapped && from != "" {
			// The second lap stops where the first began.
			for i, id := range ids {
				if id > from {
					ids = ids[:i]
					break
				}
			}
		}
		n, last, err := s.sweepPage(ctx, ids, limit-int(swept.Histories))
		swept.Histories += n
		if err != nil {
			return swept, fmt.Errorf("redisstore: sweep: %w", translate(err))
		}
		start = last
		if len(ids) == 0 || len(ids) < sweepPage && last == ids[len(ids)-1] {
			// The end of the listing, or of the lap.
			if wrapped {
				start = ""
				break
			}
			start, wrapped = "", true
		}
	}
	if err := s.c.Set(ctx, cursorKey, start, 0).Err(); err != nil {
		return swept, fmt.Errorf("redisstore: sweep: %w", translate(err))
	}
	return swept, nil
}

// sweepPage unlists, of ids, those whose history is gone, up to limit of
// them, and answers how many, and the last id it checked.
func (s *Store) sweepPage(ctx context.Context, ids []string, limit int) (int64, string, error) {
	if len(ids) == 0 {
		return 0, "", nil
	}
	exists := make([]*redis.IntCmd, len(ids))
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			exists[i] = p.Exists(ctx, s.keys(id)[kS])
		}
		return nil
	})
	if err != nil {
		return 0, "", err
	}
	var gone []string
	last := ids[len(ids)-1]
	for i, id := range ids {
		if exists[i].Val() == 0 {
			gone = append(gone, id)
			if len(gone) == limit {
				last = id
				break
			}
		}
	}
	if len(gone) == 0 {
		return 0, last, nil
	}
	n, err := s.unlist(ctx, gone, nil)
	return n, last, err
}
