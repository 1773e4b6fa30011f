package redisstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/driver"
)

// Counter implements driver.Coster: the tokenizer of Options.Tokenizer.
// Every script is given it and refuses a history whose costs are of
// another (scripts.go), which is then measured again: no call sees costs of
// two counters.
func (s *Store) Counter() string { return s.counter }

// costSize is the bytes of a cost in KEY:w.
const costSize = 16

// appendCost appends a cost as KEY:w holds it: Text and Flat as big-endian
// int64s.
func appendCost(b []byte, c driver.Cost) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(c.Text))
	return binary.BigEndian.AppendUint64(b, uint64(c.Flat))
}

// costAt reads the i-th cost of w, a part of KEY:w.
func costAt(w string, i int) driver.Cost {
	b := w[i*costSize : (i+1)*costSize]
	return driver.Cost{Text: int64(binary.BigEndian.Uint64([]byte(b[:8]))), Flat: int64(binary.BigEndian.Uint64([]byte(b[8:])))}
}

// encodeCompaction is c as a KEY:z entry: "CREATED THROUGHPOS TEXT FLAT
// IDLEN\n", the Through id, then the JSON.
func encodeCompaction(c driver.Compaction) string {
	b := make([]byte, 0, 64+len(c.Through)+len(c.JSON))
	for _, n := range []int64{c.CreatedAt, c.ThroughPos, c.Cost.Text, c.Cost.Flat} {
		b = strconv.AppendInt(b, n, 10)
		b = append(b, ' ')
	}
	b = strconv.AppendInt(b, int64(len(c.Through)), 10)
	b = append(b, '\n')
	b = append(b, c.Through...)
	return string(append(b, c.JSON...))
}

// decodeCompaction reads a KEY:z entry.
func decodeCompaction(e string) (driver.Compaction, bool) {
	head, rest, ok := strings.Cut(e, "\n")
	f := strings.Fields(head)
	if !ok || len(f) != 5 {
		return driver.Compaction{}, false
	}
	var n [5]int64
	for i := range n {
		v, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return driver.Compaction{}, false
		}
		n[i] = v
	}
	if n[4] < 0 || n[4] > int64(len(rest)) {
		return driver.Compaction{}, false
	}
	return driver.Compaction{CreatedAt: n[0], ThroughPos: n[1], Cost: driver.Cost{Text: n[2], Flat: n[3]},
		Through: rest[:n[4]], JSON: []byte(rest[n[4]:])}, true
}

// Compact implements driver.Compactor: one script checks that the history
// holds c.Through at c.ThroughPos, puts the record first in KEY:z and trims
// it to max, and sets the updated time (compactSrc); then the recency index
// follows, as for the other edits.
func (s *Store) Compact(ctx context.Context, historyID string, c driver.Compaction, max int) error {
	_, err := s.edit(ctx, "compact", historyID, c.Through, c.CreatedAt, compactScript, compactSrc, c.ThroughPos, max, encodeCompaction(c))
	return err
}

// Compactions implements driver.Compactor: one script (compactionsScript).
func (s *Store) Compactions(ctx context.Context, historyID string) ([]driver.Compaction, error) {
	var res []string
	k := s.keys(historyID)
	err := s.upgraded(ctx, historyID, func() (err error) {
		res, err = compactionsScript.Run(ctx, s.c, []string{k[kS], k[kZ]}, s.counter).StringSlice()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("redisstore: compactions %q: %w", historyID, translate(err))
	}
	out := make([]driver.Compaction, 0, len(res))
	for _, e := range res {
		c, ok := decodeCompaction(e)
		if !ok {
			return nil, fmt.Errorf("redisstore: compactions %q: %w: a record is malformed", historyID, chatstore.ErrIncompatibleSchema)
		}
		out = append(out, c)
	}
	return out, nil
}

// measurePage is how many messages measureHistory reads at a time.
const measurePage = 1000

// errChanging is measureHistory's error for a history that changed every
// time it was measured.
var errChanging = fmt.Errorf("%w: the history changed while its messages were measured, again and again", chatstore.ErrUnavailable)

// measureHistory measures the messages and compaction records of a
// history of the current layout with the store's counter, unless their
// costs are of it already, and stores the costs and sums with the counter's
// name (measuredScript), unless the history changed meanwhile: then it
// measures it again, a few times. It reads the history a page at a time,
// and holds its costs, not its messages.
func (s *Store) measureHistory(ctx context.Context, historyID string) error {
	for range 5 {
		done, err := s.measureOnce(ctx, historyID)
		if done || err != nil {
			return err
		}
	}
	return errChanging
}

func (s *Store) measureOnce(ctx context.Context, historyID string) (bool, error) {
	k := s.keys(historyID)
	var (
		st    *redis.SliceCmd
		kinds *redis.StringCmd
		ncost *redis.IntCmd
		recs  *redis.StringSliceCmd
	)
	_, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		st = p.HMGet(ctx, k[kS], "c", "n", "cr", "up", "tk")
		kinds = p.Get(ctx, k[kT])
		ncost = p.StrLen(ctx, k[kW])
		recs = p.LRange(ctx, k[kZ], 0, -1)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return false, translate(err)
	}
	for _, err := range []error{st.Err(), ncost.Err(), recs.Err()} {
		if err != nil {
			return false, translate(err)
		}
	}
	if err := kinds.Err(); err != nil && !errors.Is(err, redis.Nil) {
		return false, translate(err)
	}
	if len(st.Val()) != 5 {
		return false, fmt.Errorf("%w: HMGET answered %d values", chatstore.ErrIncompatibleSchema, len(st.Val()))
	}
	state := make([]any, 4)
	for i, v := range st.Val()[:4] {
		state[i], _ = v.(string)
	}
	if state[0] == "" {
		return true, nil // no such history (any more)
	}
	tk, _ := st.Val()[4].(string)
	L := len(kinds.Val())
	if tk == s.counter && ncost.Val() == int64(costSize*L) {
		return true, nil
	}
	newest := ""
	if len(recs.Val()) > 0 {
		newest = recs.Val()[0]
	}
	args := make([]any, 0, 12+len(recs.Val()))
	args = append(args, state...)
	args = append(args, L, len(recs.Val()), newest, s.counter)
	var sum driver.Cost
	costs := make([]byte, 0, costSize*L)
	for from := 0; from < L; from += measurePage {
		to := min(from+measurePage, L)
		page, err := s.c.LRange(ctx, k[kM], int64(from), int64(to-1)).Result()
		if err != nil {
			return false, translate(err)
		}
		if len(page) != to-from {
			return false, nil // truncated meanwhile
		}
		for i, body := range page {
			p := from + i
			if kinds.Val()[p] == tombstone {
				costs = appendCost(costs, driver.Cost{})
				continue
			}
			c, err := s.measure([]byte(body))
			if err != nil {
				return false, fmt.Errorf("%w: stored message at position %d cannot be read to measure it: %w", chatstore.ErrIncompatibleSchema, p, err)
			}
			sum = sum.Add(c)
			costs = appendCost(costs, c)
		}
	}
	args = append(args, sum.Text, sum.Flat, len(recs.Val()))
	for i, e := range recs.Val() {
		c, ok := decodeCompaction(e)
		if !ok {
			return false, fmt.Errorf("%w: compaction record %d is malformed", chatstore.ErrIncompatibleSchema, i)
		}
		if c.Cost, err = s.measure(c.JSON); err != nil {
			return false, fmt.Errorf("%w: compaction record %d cannot be read to measure it: %w", chatstore.ErrIncompatibleSchema, i, err)
		}
		args = append(args, encodeCompaction(c))
	}
	args = append(args, costs)
	stored, err := measuredScript.Run(ctx, s.c, []string{k[kS], k[kT], k[kW], k[kZ]}, args...).Int64()
	if err != nil {
		return false, translate(err)
	}
	return stored == 1, nil
}

// Prepare makes every cost the store holds one of its counter
// (Options.Tokenizer), if PREFIX}tokenizer names another or none (a store
// written before costs were kept, or by a store of another tokenizer):
// it SCANs for the histories' state keys (on every master of a cluster),
// upgrades each history of an earlier layout and measures each whose costs
// are of another counter (measureHistory, one history at a time, atomic
// for each), then records the counter's name. The name is recorded last,
// so a Prepare that stops part way is done again by the next, which skips
// the histories measured already. Two stores may prepare at once: a
// history is measured only if it did not change since it was read.
//
// Open calls it. It costs a SCAN of the whole Redis database (every key, not
// only the store's), a read of every history's state, and a read and a
// measuring of every message of a history to measure; with the name
// recorded, one GET. A store made with New measures each history when a
// call first uses it instead, which is correct too; then the name is
// recorded by the first Prepare.
func (s *Store) Prepare(ctx context.Context) error {
	got, err := s.c.Get(ctx, s.tokenizer).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("redisstore: read the tokenizer: %w", translate(err))
	}
	if got == s.counter {
		return nil
	}
	start := time.Now()
	log := s.log.With(slog.String("key_prefix", s.prefix), slog.String("tokenizer", s.counter))
	log.LogAttrs(ctx, slog.LevelInfo, "redisstore: measuring the messages for token budgets", slog.String("was", got))
	var (
		seen, measured atomic.Int64
		mu             sync.Mutex
		last           = time.Now()
		skipped        []string
	)
	progress := func() {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(last) >= 5*time.Second {
			last = time.Now()
			log.LogAttrs(ctx, slog.LevelInfo, "redisstore: measuring the messages for token budgets",
				slog.Int64("histories_seen", seen.Load()), slog.Int64("histories_measured", measured.Load()))
		}
	}
	pattern := globEscape(s.prefix) + "{*}:s"
	err = s.forEachNode(ctx, func(ctx context.Context, c redis.Cmdable) error {
		return scan(ctx, c, pattern, func(keys []string) error {
			ids := make([]string, 0, len(keys))
			for _, k := range keys {
				if id, ok := s.historyOf(k); ok {
					ids = append(ids, id)
				}
			}
			todo, err := s.unmeasured(ctx, ids)
			if err != nil {
				return err
			}
			for _, id := range todo {
				err := s.upgrade(ctx, id)
				switch {
				case err == nil:
					measured.Add(1)
				case errors.Is(err, chatstore.ErrIncompatibleSchema), errors.Is(err, errChanging):
					// Left for the calls that use it, which will fail
					// or measure it then; the name is not recorded.
					log.LogAttrs(ctx, slog.LevelWarn, "redisstore: a history could not be measured", slog.String("history", id), slog.Any("error", err))
					mu.Lock()
					skipped = append(skipped, id)
					mu.Unlock()
				default:
					return err
				}
			}
			seen.Add(int64(len(ids)))
			progress()
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("redisstore: measure the messages with tokenizer %s: %w", s.counter, translate(err))
	}
	attrs := []slog.Attr{slog.Int64("histories", seen.Load()), slog.Int64("measured", measured.Load()),
		slog.Duration("took", time.Since(start).Round(time.Millisecond))}
	if len(skipped) > 0 {
		log.LogAttrs(ctx, slog.LevelWarn, "redisstore: measured the messages for token budgets but some histories, which will be measured when used",
			append(attrs, slog.Int("left", len(skipped)))...)
		return nil
	}
	if err := s.c.Set(ctx, s.tokenizer, s.counter, 0).Err(); err != nil {
		return fmt.Errorf("redisstore: record the tokenizer: %w", translate(err))
	}
	log.LogAttrs(ctx, slog.LevelInfo, "redisstore: measured the messages for token budgets", attrs...)
	return nil
}

// unmeasured returns the histories of ids that need upgrade: of an
// earlier layout (r, or no v), or with costs of another counter or missing.
// One pipeline.
func (s *Store) unmeasured(ctx context.Context, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	states := make([]*redis.SliceCmd, len(ids))
	kinds := make([]*redis.IntCmd, len(ids))
	costs := make([]*redis.IntCmd, len(ids))
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			k := s.keys(id)
			states[i] = p.HMGet(ctx, k[kS], "c", "r", "v", "tk")
			kinds[i] = p.StrLen(ctx, k[kT])
			costs[i] = p.StrLen(ctx, k[kW])
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []string
	for i, id := range ids {
		st := states[i].Val()
		if len(st) != 4 || st[0] == nil {
			continue // gone
		}
		tk, _ := st[3].(string)
		if st[1] != nil || st[2] == nil || tk != s.counter || costSize*kinds[i].Val() != costs[i].Val() {
			out = append(out, id)
		}
	}
	return out, nil
}

// historyOf returns the id of the history whose KEY:s is key, if key is
// one: PREFIX{ID}:s with no brace in ID (an idempotency key's name may end
// in "}:s" too), ID unescaped (escapeID).
func (s *Store) historyOf(key string) (string, bool) {
	tag, ok := strings.CutPrefix(key, s.prefix+"{")
	if !ok {
		return "", false
	}
	tag, ok = strings.CutSuffix(tag, "}:s")
	if !ok || strings.ContainsAny(tag, "{}") {
		return "", false
	}
	if !strings.Contains(tag, "%") {
		return tag, true
	}
	return unescaper.Replace(tag), true
}

var unescaper = strings.NewReplacer("%25", "%", "%7B", "{", "%7D", "}")
