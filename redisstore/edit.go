package redisstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/driver"
)

var _ driver.Editor = (*Store)(nil)

// pairKey is the set of the ids of the histories whose metadata holds k=v:
// PREFIX}m:LEN:KEY=VALUE, the key's length first so that no two pairs
// share a set.
func (s *Store) pairKey(k, v string) string {
	return s.prefix + "}m:" + strconv.Itoa(len(k)) + ":" + k + "=" + v
}

// pairMap reads an HGETALL answer.
func pairMap(pairs []string) map[string]string {
	m := make(map[string]string, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		m[pairs[i]] = pairs[i+1]
	}
	return m
}

// infoFields are the fields of KEY:s that infoOf reads.
var infoFields = []string{"c", "cr", "up", "tt", "tf", "tk", "xt", "xa", "ex"}

// infos returns the Info of each history of ids that exists, in order: one
// pipeline of an HMGET and an HGETALL per history. If prune is set, ids of
// histories that do not exist are taken out of the indexes, together
// (unlist; listings call it so). A history whose costs are not of the
// store's counter is measured first (upgrade) and read again; one that
// cannot be measured (a stored message that does not decode) is listed
// with no cost, rather than failing the listing.
func (s *Store) infos(ctx context.Context, ids []string, prune bool) ([]driver.Info, error) {
	states := make([]*redis.SliceCmd, len(ids))
	metas := make([]*redis.MapStringStringCmd, len(ids))
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			k := s.keys(id)
			states[i] = p.HMGet(ctx, k[kS], infoFields...)
			metas[i] = p.HGetAll(ctx, k[kG])
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]driver.Info, 0, len(ids))
	var gone []string
	for i, id := range ids {
		info, ok, measured := s.infoOf(id, states[i].Val(), metas[i].Val())
		if ok && !measured {
			var again driver.Info
			again, ok, err = s.info(ctx, id)
			switch {
			case errors.Is(err, chatstore.ErrIncompatibleSchema):
				info.Cost, ok = driver.Cost{}, true
			case err != nil:
				return nil, err
			default:
				info = again
			}
		}
		if ok {
			out = append(out, info)
		} else if prune {
			gone = append(gone, id)
		}
	}
	if len(gone) > 0 {
		// Listed ids whose history expired or was deleted: they leave
		// the indexes as listings meet them.
		if _, err := s.unlist(ctx, gone, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// infoOf builds a history's Info from the HMGET of infoFields and its
// metadata. A history exists once cr is set; one of layout 2, not yet
// upgraded, once it has messages. measured is false for one whose costs
// are not of the store's counter.
func (s *Store) infoOf(id string, st []any, meta map[string]string) (info driver.Info, ok, measured bool) {
	num := func(v any) int64 {
		s, _ := v.(string)
		n, _ := strconv.ParseInt(s, 10, 64)
		return n
	}
	if len(st) != len(infoFields) {
		return driver.Info{ID: id}, false, false
	}
	info = driver.Info{ID: id, Count: num(st[0]), CreatedAt: num(st[1]), UpdatedAt: num(st[2]), Metadata: meta,
		Cost:   driver.Cost{Text: num(st[3]), Flat: num(st[4])},
		Expiry: driver.Expiry{TTL: num(st[6]), At: num(st[7])}, ExpiresAt: num(st[8])}
	if st[1] == nil && info.Count == 0 {
		return driver.Info{ID: id}, false, false
	}
	if info.Metadata == nil {
		info.Metadata = map[string]string{}
	}
	tk, _ := st[5].(string)
	return info, true, tk == s.counter
}

// Info implements driver.Editor: one MULTI of an HMGET and an HGETALL
// (and, for a history whose costs are not of the store's counter, its
// measuring first).
func (s *Store) Info(ctx context.Context, historyID string) (driver.Info, bool, error) {
	info, ok, err := s.info(ctx, historyID)
	if err != nil {
		return driver.Info{}, false, fmt.Errorf("redisstore: info %q: %w", historyID, translate(err))
	}
	return info, ok, nil
}

func (s *Store) info(ctx context.Context, historyID string) (driver.Info, bool, error) {
	k := s.keys(historyID)
	for try := 0; ; try++ {
		var (
			st   *redis.SliceCmd
			meta *redis.MapStringStringCmd
		)
		_, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
			st = p.HMGet(ctx, k[kS], infoFields...)
			meta = p.HGetAll(ctx, k[kG])
			return nil
		})
		if err != nil {
			return driver.Info{}, false, err
		}
		info, ok, measured := s.infoOf(historyID, st.Val(), meta.Val())
		if !ok || measured {
			return info, ok, nil
		}
		if try == 2 {
			return driver.Info{}, false, fmt.Errorf("%w: the history is being measured with another tokenizer meanwhile", chatstore.ErrUnavailable)
		}
		if err := s.upgrade(ctx, historyID); err != nil {
			return driver.Info{}, false, err
		}
	}
}

// SetMetadata implements driver.Editor: one script changes the metadata
// (setMetadataScript); then the indexes of the pairs (and, for a history it
// created, the listing) are updated, in other slots on a cluster. A pair's
// set gains the id after the script, and loses it after the script that
// removed the pair, then gets it back if the pair was set again meanwhile,
// so a set may list a history that no longer holds its pair for a moment
// (Query checks) but never misses one that does.
func (s *Store) SetMetadata(ctx context.Context, historyID string, changes map[string]*string, maxPairs int, now int64) (driver.Info, error) {
	keys := make([]string, 0, len(changes))
	for k := range changes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	args := make([]any, 0, 4+2*len(keys))
	args = append(args, maxPairs, now, s.defaultTTL(historyID), s.counter)
	for _, k := range keys {
		if v := changes[k]; v != nil {
			args = append(args, k, "="+*v)
		} else {
			args = append(args, k, "-")
		}
	}
	var res []any
	err := s.upgraded(ctx, historyID, func() (err error) {
		res, err = setMetadataScript.Run(ctx, s.c, s.keys(historyID)[:nHistoryKeys], args...).Slice()
		return err
	})
	fail := func(err error) (driver.Info, error) {
		return driver.Info{}, fmt.Errorf("redisstore: set metadata %q: %w", historyID, err)
	}
	if err != nil {
		return fail(translate(err))
	}
	if len(res) == 1 && res[0] == int64(-1) {
		return fail(driver.ErrTooManyPairs)
	}
	if len(res) < metaHead+len(keys) {
		return fail(fmt.Errorf("%w: the script's answer is malformed", chatstore.ErrIncompatibleSchema))
	}
	info, created, wiped := metaInfo(historyID, res, len(keys))
	head := metaHead
	var removed []string // keys whose old pair left its set
	_, err = s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		if created {
			p.ZAdd(ctx, s.index, redis.Z{Member: historyID})
		}
		p.ZAddLT(ctx, s.updated, redis.Z{Score: float64(-info.UpdatedAt), Member: historyID})
		for i, k := range keys {
			old, had := res[head+i].(string)
			v := changes[k]
			if had && (v == nil || *v != old) {
				s.removePair(ctx, p, historyID, s.pairKey(k, old))
				removed = append(removed, k)
			}
			if v != nil && (!had || *v != old) {
				s.addPair(ctx, p, historyID, s.pairKey(k, *v))
			}
		}
		return nil
	})
	switch {
	case err == nil && wiped:
		// The expired history's pairs leave their sets.
		_, err = s.unlist(ctx, []string{historyID}, nil)
	case err == nil && len(removed) > 0:
		err = s.relist(ctx, historyID)
	}
	if err != nil {
		return fail(fmt.Errorf("the metadata is set, but indexing it failed: %w", translate(err)))
	}
	return info, nil
}

// Message implements driver.Editor: one script (messageScript).
func (s *Store) Message(ctx context.Context, historyID, messageID string) (driver.Message, error) {
	msgs, _, err := s.readMessages(ctx, "read message", historyID, messageScript, messageID)
	if err != nil {
		return driver.Message{}, err
	}
	if len(msgs) == 0 {
		return driver.Message{}, fmt.Errorf("redisstore: read message %q of %q: %w", messageID, historyID, driver.ErrNotFound)
	}
	return msgs[0], nil
}

// Page implements driver.Editor: one script (pageScript).
func (s *Store) Page(ctx context.Context, historyID string, span driver.Span) ([]driver.Message, error) {
	before := span.Before
	if !span.Backward() {
		before = 0
	}
	msgs, _, err := s.readMessages(ctx, "page", historyID, pageScript, span.From, span.Skip, span.Limit, before)
	return msgs, err
}

// edit runs a script of editHead's kind, with its own arguments after the
// common ones, then moves the history in the recency index. A script given
// with its source (compactSrc) runs as a write, never sent twice
// (runWrite).
func (s *Store) edit(ctx context.Context, op, historyID, messageID string, now int64, script *redis.Script, src string, more ...any) (int64, error) {
	var res []int64
	keys := s.keys(historyID)[:nHistoryKeys]
	args := append([]any{messageID, now, s.defaultTTL(historyID), s.counter}, more...)
	err := s.upgraded(ctx, historyID, func() (err error) {
		if src != "" {
			res, err = s.runWrite(ctx, script, src, keys, args).Int64Slice()
		} else {
			res, err = script.Run(ctx, s.c, keys, args...).Int64Slice()
		}
		return err
	})
	if err != nil {
		if src != "" {
			err = translateWrite(err)
		} else {
			err = translate(err)
		}
		return 0, fmt.Errorf("redisstore: %s %q: %w", op, historyID, err)
	}
	if len(res) == 1 && res[0] == -1 {
		return 0, fmt.Errorf("redisstore: %s %q: %w", op, historyID, driver.ErrNotFound)
	}
	if len(res) != 2 {
		return 0, fmt.Errorf("redisstore: %s %q: %w: the script's answer is malformed", op, historyID, chatstore.ErrIncompatibleSchema)
	}
	if err := s.c.ZAddLT(ctx, s.updated, redis.Z{Score: float64(-res[1]), Member: historyID}).Err(); err != nil {
		return 0, fmt.Errorf("redisstore: %s %q: done, but updating the listing failed: %w", op, historyID, translate(err))
	}
	return res[0], nil
}

// DeleteMessage implements driver.Editor: the entry stays as a tombstone,
// so that positions do not move (deleteMessageScript).
func (s *Store) DeleteMessage(ctx context.Context, historyID, messageID string, now int64) error {
	_, err := s.edit(ctx, "delete message", historyID, messageID, now, deleteMessageScript, "")
	return err
}

// Truncate implements driver.Editor (truncateScript).
func (s *Store) Truncate(ctx context.Context, historyID, fromID string, now int64) (int, error) {
	n, err := s.edit(ctx, "truncate", historyID, fromID, now, truncateScript, "")
	return int(n), err
}

// Fork implements driver.Editor. On a single node it is one script
// (forkScript). On a cluster the two histories are in different slots, so
// no script can see both: one script reads the source (forkReadScript,
// one state of it), and a second creates the new history whole, or not at
// all if it exists (forkCreateScript), from arguments that carry every
// message: the copy passes through this process and is bounded by Redis's
// client-query-buffer-limit (1 GB by default). Then the new history is
// listed.
func (s *Store) Fork(ctx context.Context, historyID, newID string, through *string, now int64) (driver.Info, error) {
	flag, tid := "0", ""
	if through != nil {
		flag, tid = "1", *through
	}
	src, dst := s.keys(historyID)[:nHistoryKeys], s.keys(newID)[:nHistoryKeys]
	fail := func(err error) (driver.Info, error) {
		return driver.Info{}, fmt.Errorf("redisstore: fork %q to %q: %w", historyID, newID, err)
	}
	var res []int64
	ttl := s.defaultTTL(newID)
	err := s.upgraded(ctx, historyID, func() error {
		if s.single {
			var err error
			res, err = forkScript.Run(ctx, s.c, append(slices.Clip(src), dst...), flag, tid, now, ttl, s.counter).Int64Slice()
			return err
		}
		d, err := forkReadScript.Run(ctx, s.c, src, flag, tid, s.counter, now).Slice()
		if err != nil {
			return err
		}
		if len(d) == 1 {
			res = []int64{-1}
			return nil
		}
		res, err = s.runWrite(ctx, forkCreateScript, forkCreateMain, dst, append([]any{now, ttl, s.counter}, d...)).Int64Slice()
		return err
	})
	switch {
	case err != nil:
		return fail(translate(err))
	case len(res) == 1 && res[0] == -1:
		return fail(driver.ErrNotFound)
	case len(res) == 1 && res[0] == 0:
		return fail(driver.ErrExists)
	case len(res) != 6:
		return fail(fmt.Errorf("%w: the script's answer is malformed", chatstore.ErrIncompatibleSchema))
	}
	var err2 error
	if res[4] == 1 {
		// An expired history of the new id was wiped: its pairs leave
		// their sets, and the fork is listed.
		_, err2 = s.unlist(ctx, []string{newID}, nil)
	} else {
		err2 = s.relist(ctx, newID)
	}
	if err2 != nil {
		return fail(fmt.Errorf("forked, but listing the fork failed: %w", translate(err2)))
	}
	info, ok, err := s.Info(ctx, newID)
	if err != nil || !ok {
		// Deleted or expired already: what the fork made.
		info = driver.Info{ID: newID, Count: res[1], CreatedAt: now, UpdatedAt: now, Metadata: map[string]string{},
			Cost: driver.Cost{Text: res[2], Flat: res[3]}, ExpiresAt: res[5]}
	}
	return info, nil
}

// Query implements driver.Editor. With metadata it reads the sets of the
// pairs and intersects them, and orders what is left: O(the histories that
// hold the pairs). Without, it reads the lex index (ByID) or the recency
// index (ByUpdated) from the cursor on, a page at a time; a prefix is a
// range of the lex index, but the recency index is read past the histories
// of other prefixes.
func (s *Store) Query(ctx context.Context, q driver.Query) ([]driver.Info, error) {
	var (
		out []driver.Info
		err error
	)
	switch {
	case len(q.Metadata) > 0:
		out, err = s.queryMeta(ctx, q)
	case q.Order == driver.ByUpdated:
		out, err = s.queryUpdated(ctx, q)
	default:
		out, err = s.queryID(ctx, q)
	}
	if err != nil {
		return nil, fmt.Errorf("redisstore: list: %w", translate(err))
	}
	return out, nil
}

func (s *Store) queryID(ctx context.Context, q driver.Query) ([]driver.Info, error) {
	out := make([]driver.Info, 0, q.Limit)
	start := "-"
	if q.AfterID != "" {
		start = "(" + q.AfterID
	}
	if q.Prefix != "" && q.AfterID < q.Prefix {
		start = "[" + q.Prefix
	}
	for len(out) < q.Limit {
		want := q.Limit - len(out)
		ids, err := s.c.ZRangeArgs(ctx, redis.ZRangeArgs{Key: s.index, Start: start, Stop: "+", ByLex: true, Count: int64(want)}).Result()
		if err != nil || len(ids) == 0 {
			return out, err
		}
		n := len(ids)
		for i, id := range ids {
			if !strings.HasPrefix(id, q.Prefix) {
				ids = ids[:i]
				break
			}
		}
		infos, err := s.infos(ctx, ids, true)
		if err != nil {
			return nil, err
		}
		out = append(out, infos...)
		if len(ids) < want || n < want {
			break
		}
		start = "(" + ids[len(ids)-1]
	}
	return out, nil
}

// queryUpdated reads the recency index a batch at a time from the
// cursor's step on, each step whole (a batch that ends inside one reads
// the rest of it), and orders each step's histories exactly (rank).
func (s *Store) queryUpdated(ctx context.Context, q driver.Query) ([]driver.Info, error) {
	out := make([]driver.Info, 0, q.Limit)
	lo := "-inf"
	if q.AfterID != "" {
		lo = strconv.FormatInt(-stepLast(stepOf(q.AfterUpdated)), 10)
	}
	batch := max(q.Limit, 64)
	for len(out) < q.Limit {
		zs, err := s.c.ZRangeArgsWithScores(ctx, redis.ZRangeArgs{Key: s.updated, Start: lo, Stop: "+inf", ByScore: true, Count: int64(batch)}).Result()
		if err != nil {
			return nil, err
		}
		more := len(zs) == batch
		if more {
			last := scoreStep(zs[len(zs)-1].Score)
			zs = slices.DeleteFunc(zs, func(z redis.Z) bool { return scoreStep(z.Score) == last })
			whole, err := s.c.ZRangeArgsWithScores(ctx, redis.ZRangeArgs{Key: s.updated,
				Start: strconv.FormatInt(-stepLast(last), 10), Stop: strconv.FormatInt(-stepFirst(last), 10), ByScore: true}).Result()
			if err != nil {
				return nil, err
			}
			zs = append(zs, whole...)
			lo = "(" + strconv.FormatInt(-stepFirst(last), 10)
		}
		cands := make([]ranked, 0, len(zs))
		for _, z := range zs {
			if id, _ := z.Member.(string); strings.HasPrefix(id, q.Prefix) {
				cands = append(cands, ranked{id, scoreStep(z.Score)})
			}
		}
		if out, err = s.rank(ctx, cands, q, out); err != nil {
			return nil, err
		}
		if !more {
			break
		}
	}
	return out, nil
}

// ranked is a history of a listing by recency and the step of the time
// the recency index holds for it.
type ranked struct {
	id   string
	step int64
}

// stepOf is the step of the recency index (driver.RecencyShift) that a
// time t (Unix ms) falls in; stepFirst and stepLast are the first and last
// millisecond of step n, and scoreStep is the step of a score of the index
// (-UpdatedAt).
func stepOf(t int64) int64 { return t >> driver.RecencyShift }

func stepFirst(n int64) int64 { return n << driver.RecencyShift }

func stepLast(n int64) int64 { return stepFirst(n+1) - 1 }

func scoreStep(score float64) int64 { return stepOf(int64(-score)) }

// rank appends to out, up to q.Limit, the histories of cands (whole steps
// of the recency index, newest first) that exist, hold q.Metadata and come
// after q's cursor, in the order of a listing by recency. Within a step
// that is their own UpdatedAt, then their ids: on a cluster a write leaves
// the index alone once a write has listed its history in its step
// (listWritten), so the time the index holds may be another of the step. A history whose
// index entry lags behind in an older step (a listing that failed, or has
// yet to run) is placed by the last time of that step, and its ListedAt
// says so, for the cursor. Listings leave such an entry as it is: moving
// it forward would take it past the cursor of the pages still to come
// (and the driver's page is not the caller's: chatstore asks for more).
// Its history's next write in a later step moves it, or its next write
// from the process whose listing failed (listWritten).
func (s *Store) rank(ctx context.Context, cands []ranked, q driver.Query, out []driver.Info) ([]driver.Info, error) {
	if len(cands) == 0 {
		return out, nil
	}
	ids := make([]string, len(cands))
	steps := make(map[string]int64, len(cands))
	for i, c := range cands {
		ids[i] = c.id
		steps[c.id] = c.step
	}
	infos, err := s.infos(ctx, ids, true)
	if err != nil {
		return nil, err
	}
	page := make([]driver.Info, 0, len(infos))
	for _, info := range infos {
		n := steps[info.ID]
		at := min(max(info.UpdatedAt, stepFirst(n)), stepLast(n))
		if at != info.UpdatedAt {
			info.ListedAt = at
		}
		if q.AfterID != "" && at >= q.AfterUpdated && (at != q.AfterUpdated || info.ID <= q.AfterID) {
			continue
		}
		if holds(info.Metadata, q.Metadata) {
			page = append(page, info)
		}
	}
	slices.SortFunc(page, func(a, b driver.Info) int {
		return cmp.Or(cmp.Compare(b.Listed(), a.Listed()), strings.Compare(a.ID, b.ID))
	})
	return append(out, page[:min(len(page), q.Limit-len(out))]...), nil
}

func (s *Store) queryMeta(ctx context.Context, q driver.Query) ([]driver.Info, error) {
	cmds := make([]*redis.StringSliceCmd, 0, len(q.Metadata))
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for k, v := range q.Metadata {
			cmds = append(cmds, p.SMembers(ctx, s.pairKey(k, v)))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(cmds, func(a, b *redis.StringSliceCmd) int { return len(a.Val()) - len(b.Val()) })
	ids := intersect(cmds, q.Prefix)
	if q.Order == driver.ByUpdated {
		return s.queryMetaUpdated(ctx, q, ids)
	}
	slices.Sort(ids)
	ids = slices.DeleteFunc(ids, func(id string) bool { return id <= q.AfterID })
	out := make([]driver.Info, 0, q.Limit)
	for len(out) < q.Limit && len(ids) > 0 {
		n := min(len(ids), q.Limit-len(out)+8)
		infos, err := s.infos(ctx, ids[:n], true)
		if err != nil {
			return nil, err
		}
		ids = ids[n:]
		for _, info := range infos {
			if len(out) < q.Limit && holds(info.Metadata, q.Metadata) {
				out = append(out, info)
			}
		}
	}
	return out, nil
}

// queryMetaUpdated orders the histories of ids by the steps the recency
// index holds for them, newest first (one that is missing from it last,
// in step 0), and ranks them a few whole steps at a time.
func (s *Store) queryMetaUpdated(ctx context.Context, q driver.Query, ids []string) ([]driver.Info, error) {
	out := make([]driver.Info, 0, q.Limit)
	if len(ids) == 0 {
		return out, nil
	}
	scores, err := s.c.ZMScore(ctx, s.updated, ids...).Result()
	if err != nil {
		return nil, err
	}
	cands := make([]ranked, 0, len(ids))
	for i, id := range ids {
		c := ranked{id, scoreStep(scores[i])}
		if q.AfterID == "" || c.step <= stepOf(q.AfterUpdated) {
			cands = append(cands, c)
		}
	}
	slices.SortFunc(cands, func(a, b ranked) int { return cmp.Or(cmp.Compare(b.step, a.step), strings.Compare(a.id, b.id)) })
	for len(out) < q.Limit && len(cands) > 0 {
		n := min(len(cands), q.Limit-len(out)+8)
		for n < len(cands) && cands[n].step == cands[n-1].step {
			n++
		}
		if out, err = s.rank(ctx, cands[:n], q, out); err != nil {
			return nil, err
		}
		cands = cands[n:]
	}
	return out, nil
}

// intersect returns the ids with the prefix that every set holds.
func intersect(sets []*redis.StringSliceCmd, prefix string) []string {
	in := make(map[string]int, len(sets[0].Val()))
	for _, id := range sets[0].Val() {
		if strings.HasPrefix(id, prefix) {
			in[id] = 1
		}
	}
	for i, c := range sets[1:] {
		for _, id := range c.Val() {
			if in[id] == i+1 {
				in[id]++
			}
		}
	}
	var ids []string
	for id, n := range in {
		if n == len(sets) {
			ids = append(ids, id)
		}
	}
	return ids
}

// holds reports whether meta holds every pair of want.
func holds(meta, want map[string]string) bool {
	for k, v := range want {
		if w, ok := meta[k]; !ok || w != v {
			return false
		}
	}
	return true
}
