package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/chatstore/chatstore/driver"
)

// The fast tail read. The tail script (scripts.go) is one round trip, but
// everything it returns passes through Lua: each value of its LRANGEs
// becomes a Lua string and then a reply again, and that, not the walk,
// is most of a read's cost in Redis (about 520,000 instructions for the
// last 10 rounds, 28 messages, against 35,000 for an LRANGE of them,
// counted under callgrind). So a tail is first read with plain commands
// in one MULTI/EXEC, which Redis runs as one atomic step, as it runs a
// script: the state, the newest kinds, and the newest messages with their
// times, costs and ids, as many as the last tails needed. The walk is
// driver.LastRounds itself, over the kinds. Only if the tail reaches past
// the messages read (a longer tail than the guess) does the read fall back
// to the tail script, which reads exactly the tail.

// tailKinds is how many kinds, at least, the fast read fetches: one byte
// each, so a long walk (old system messages stepped over) costs little.
const tailKinds = 256

// maxTailGuess bounds the messages the fast read fetches.
const maxTailGuess = 4096

// tailGuess is how many messages the fast read fetches for rounds rounds:
// as many as the longest of the last tails held (Store.tailSize), at least
// two a round, and a few more for messages written since.
func (s *Store) tailGuess(rounds int) int64 {
	return min(max(s.tailSize.Load(), int64(2*rounds))+4, maxTailGuess)
}

// errLongTail ends a fast read whose tail reaches past what it fetched.
var errLongTail = errors.New("the tail is longer than the messages read")

// fastTail reads the last rounds of a history with plain commands in one
// MULTI/EXEC (see above), with the tail script's checks: a history of an
// earlier layout or of another counter, or (but for a bare read) whose
// costs are missing, is refused with an upgradeNeeded error. ok is false
// when the tail is longer than the messages read (or the reply is not what
// it should be): the caller then runs the tail script. A bare read
// (driver.Span.Bare) reads no times or costs: three commands fewer, and no
// times to parse.
func (s *Store) fastTail(ctx context.Context, historyID string, rounds int, uncompacted, bare bool) (msgs []driver.Message, compacted, ok bool, err error) {
	k := s.keys(historyID)
	g := s.tailGuess(rounds)
	var (
		st                 *redis.SliceCmd
		nkinds, ncosts     *redis.IntCmd
		kinds, costs       *redis.StringCmd
		bodies, times, ids *redis.StringSliceCmd
		hasRecords         *redis.IntCmd
	)
	_, err = s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		st = p.HMGet(ctx, k[kS], "c", "xp", "r", "v", "tk")
		nkinds = p.StrLen(ctx, k[kT])
		kinds = p.GetRange(ctx, k[kT], -max(g, tailKinds), -1)
		bodies = p.LRange(ctx, k[kM], -g, -1)
		ids = p.LRange(ctx, k[kD], -g, -1)
		if !bare {
			ncosts = p.StrLen(ctx, k[kW])
			times = p.LRange(ctx, k[kC], -g, -1)
			costs = p.GetRange(ctx, k[kW], -costSize*g, -1)
		}
		if uncompacted {
			hasRecords = p.Exists(ctx, k[kZ])
		}
		return nil
	})
	if err != nil {
		return nil, false, false, err
	}
	// The checks of readStateSrc and emit, in their order (a bare read
	// skips the costs').
	v := st.Val()
	count, tk := v[0], v[4]
	if v[2] != nil || (count != nil && v[3] == nil) {
		return nil, false, false, refusal{"history stored by an earlier chatstore"}
	}
	if count != nil && tk != s.counter {
		return nil, false, false, refusal{"history measured with another counter"}
	}
	if uncompacted && hasRecords.Val() == 1 {
		return nil, true, true, nil
	}
	if c, _ := count.(string); c == "" || c == "0" {
		return nil, false, true, nil
	}
	L := nkinds.Val()
	// A bare read uses no costs, so a history whose costs are missing
	// (measured by the next read that uses them) is read all the same.
	if !bare && ncosts.Val() != costSize*L {
		return nil, false, false, refusal{"costs missing"}
	}
	xp := L
	if x, ok := v[1].(string); ok {
		if xp, err = strconv.ParseInt(x, 10, 64); err != nil || xp < 0 {
			return nil, false, false, nil
		}
	}
	kw, bw, iw := kinds.Val(), bodies.Val(), ids.Val()
	n := int64(len(bw)) // the messages read: positions L-n to L-1
	var tw []string
	var cw string
	if !bare {
		tw, cw = times.Val(), costs.Val()
		if int64(len(tw)) != n || int64(len(cw)) != costSize*n {
			return nil, false, false, nil
		}
	}
	// The bodies are the last n of L (the costs' lengths said so before
	// bare reads, which read none).
	if n != min(g, L) || int64(len(kw)) > L || int64(len(kw)) < n || int64(len(iw)) > n || (xp < L && int64(len(iw)) != min(n, L-xp)) {
		return nil, false, false, nil
	}
	// The walk, over the kinds: next steps back from the newest, over
	// tombstones, and gives only positions and kinds.
	kbase := L - int64(len(kw))
	p := L
	next := func() (driver.Message, bool, error) {
		for {
			p--
			if p < kbase {
				if kbase > 0 {
					return driver.Message{}, false, errLongTail
				}
				return driver.Message{}, false, nil
			}
			if c := kw[p-kbase]; c != tombstone {
				return driver.Message{Pos: p, Kind: driver.Kind(c - '0')}, true, nil
			}
		}
	}
	tail, err := driver.LastRounds(rounds, 0, next)
	if errors.Is(err, errLongTail) {
		return nil, false, false, nil
	}
	if err != nil {
		return nil, false, false, err
	}
	if len(tail) == 0 {
		return nil, false, true, nil
	}
	need := L - tail[0].Pos
	if need > n {
		s.tailSize.Store(min(need, maxTailGuess))
		return nil, false, false, nil
	}
	s.tailSize.Store(need)
	base := L - n
	for i := range tail {
		m := &tail[i]
		j := m.Pos - base
		if m.Kind > driver.Alone {
			return nil, false, false, nil
		}
		if m.Pos < xp {
			m.ID = strconv.FormatInt(m.Pos, 10)
		} else {
			m.ID = iw[m.Pos-L+int64(len(iw))]
		}
		m.JSON = []byte(bw[j])
		if bare {
			continue
		}
		at, err := strconv.ParseInt(tw[j], 10, 64)
		if err != nil {
			return nil, false, false, nil
		}
		m.CreatedAt, m.Cost = at, costAt(cw, int(j))
	}
	return tail, false, true, nil
}

// refusal is the fast read's refusal of a history that the scripts would
// refuse too: a redis.Error starting upgradeNeeded, which upgraded
// recognises as it does theirs.
type refusal struct{ why string }

func (e refusal) Error() string { return upgradeNeeded + " " + e.why }
func (refusal) RedisError()     {}

// tail reads the last rounds of a history: the fast read, or the tail
// script when the tail is longer than it read. bare is fastTail's.
func (s *Store) tail(ctx context.Context, historyID string, rounds int, uncompacted, bare bool) ([]driver.Message, bool, error) {
	var (
		msgs      []driver.Message
		compacted bool
		ok        bool
	)
	err := s.upgraded(ctx, historyID, func() (err error) {
		msgs, compacted, ok, err = s.fastTail(ctx, historyID, rounds, uncompacted, bare)
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("redisstore: retrieve %q: %w", historyID, translate(err))
	}
	if ok {
		return msgs, compacted, nil
	}
	u := "0"
	if uncompacted {
		u = "1"
	}
	return s.readMessages(ctx, "retrieve", historyID, tailScript, rounds, u)
}
