package driver

import (
	"context"
	"math"
	"strconv"
)

// Pending is the round number of messages in the open round. It sorts after
// every real round number, so "round >= n" selects the last rounds and the
// open one with a single index range.
const Pending int64 = math.MaxInt64

// State is what a driver keeps per history for Plan and Tail.
type State struct {
	Count  int64 // messages stored, which is also the next position
	Rounds int64 // rounds closed so far, which is also the next round number
	Open   int64 // messages of the open round, stored with round Pending
}

// TailFrom is the smallest round number among the last `rounds` rounds: Tail
// returns the messages whose round is ≥ TailFrom (Pending included). Rounds
// are numbered in the order they close, which is the order Haystack's
// _get_last_k_messages lists them; the open round, if any, comes last.
func (s State) TailFrom(rounds int) int64 {
	k := int64(rounds)
	if s.Open > 0 {
		k-- // the open round is the newest
	}
	if k >= s.Rounds {
		return 0
	}
	return s.Rounds - k
}

// Planned is a record that will be written.
type Planned struct {
	Index int    // of the record in the records planned
	ID    string // the record's id, given or generated
	Pos   int64  // position in the history, from 0
	Round int64  // round number, or Pending
}

// Plan is the outcome of planning a write.
type Plan struct {
	Messages []Planned
	// CloseOpen, when ≥ 0, is the round number that messages already stored
	// with round Pending must be given: a record of this write closed their
	// round. It is -1 otherwise.
	CloseOpen int64
	// State is the history's state after the write.
	State State
}

// Held reports which of ids the history already holds. It may return nil
// for none.
type Held func(ctx context.Context, ids []string) (map[string]bool, error)

// MakePlan decides which records are written, with which ids, positions and
// rounds, for a history in state st. held is called once with every id the
// write supplies and the ids it is about to generate, and again only if a
// generated id collides.
//
// Ids follow Haystack: a record without an id gets the decimal string of a
// counter that starts at the history's message count and advances by one per
// record without an id ("0", "1", ...). Two deliberate fixes: a generated id
// skips any value the history already holds or the write supplies, so no
// message is dropped because a caller used numeric ids; and of records
// supplying the same id only the first is written.
//
// Rounds follow Haystack's _get_last_k_messages: an Own record is a round of
// its own, numbered at once; other records join the open round, which a Closes
// record closes and numbers.
func MakePlan(ctx context.Context, st State, recs []Record, held Held) (Plan, error) {
	// The ids to ask about: those supplied, then the candidates for
	// generated ids, st.Count, st.Count+1, ...
	var supplied map[string]bool // nil unless some record has an id
	query := make([]string, 0, len(recs))
	for _, r := range recs {
		if r.HasID && !supplied[r.ID] {
			if supplied == nil {
				supplied = make(map[string]bool)
			}
			supplied[r.ID] = true
			query = append(query, r.ID)
		}
	}
	nSupplied := len(query)
	for i := range len(recs) - nSupplied {
		query = append(query, strconv.FormatInt(st.Count+int64(i), 10))
	}
	candidates := query[nSupplied:] // candidates[i] is the id for counter st.Count+i
	known, err := held(ctx, query)
	if err != nil {
		return Plan{}, err
	}

	plan := Plan{Messages: make([]Planned, 0, len(recs)), CloseOpen: -1}
	var taken map[string]bool // supplied ids this write has used
	counter := st.Count
	checkedTo := st.Count + int64(len(candidates)) // held was asked about ids below this
	for i, r := range recs {
		if r.HasID {
			if known[r.ID] || taken[r.ID] {
				continue
			}
			if taken == nil {
				taken = make(map[string]bool)
			}
			taken[r.ID] = true
		} else {
			for {
				var id string
				if i := counter - st.Count; i < int64(len(candidates)) {
					id = candidates[i]
				} else {
					id = strconv.FormatInt(counter, 10)
					if counter >= checkedTo {
						if known, err = checkMore(ctx, counter, held, known); err != nil {
							return Plan{}, err
						}
						checkedTo = counter + checkBatch
					}
				}
				counter++
				if !known[id] && !supplied[id] {
					r.ID = id
					break
				}
			}
		}
		plan.Messages = append(plan.Messages, Planned{Index: i, ID: r.ID})
	}

	// Positions and rounds.
	var pending []int // indexes in plan.Messages of this write's open-round records
	for i := range plan.Messages {
		p := &plan.Messages[i]
		p.Pos = st.Count
		st.Count++
		switch recs[p.Index].Kind {
		case Own:
			p.Round = st.Rounds
			st.Rounds++
		case Closes:
			p.Round = st.Rounds
			for _, j := range pending {
				plan.Messages[j].Round = st.Rounds
			}
			pending = pending[:0]
			if st.Open > 0 {
				// Only records written earlier can still be open, and only
				// until the first close of this write.
				plan.CloseOpen = st.Rounds
				st.Open = 0
			}
			st.Rounds++
		default:
			p.Round = Pending
			pending = append(pending, i)
		}
	}
	st.Open += int64(len(pending))
	plan.State = st
	return plan, nil
}

const checkBatch = 64

// checkMore asks held about the candidate ids from counter on, once the
// candidates asked about first are used up because some collided. It returns
// known with the answers added.
func checkMore(ctx context.Context, counter int64, held Held, known map[string]bool) (map[string]bool, error) {
	ids := make([]string, checkBatch)
	for i := range ids {
		ids[i] = strconv.FormatInt(counter+int64(i), 10)
	}
	more, err := held(ctx, ids)
	if err != nil {
		return nil, err
	}
	if known == nil {
		known = make(map[string]bool, len(more))
	}
	for id := range more {
		known[id] = true
	}
	return known, nil
}

// GeneratedOnly answers Held without a query for a history that has never
// stored a caller-supplied id. Its ids were all generated without a
// collision to skip, so they are exactly "0" to count-1. Drivers that track
// whether a history holds caller ids use it to spare a lookup per write.
func GeneratedOnly(count int64) Held {
	return func(_ context.Context, ids []string) (map[string]bool, error) {
		var found map[string]bool
		for _, id := range ids {
			if n, ok := Position(id); ok && n < count {
				if found == nil {
					found = map[string]bool{}
				}
				found[id] = true
			}
		}
		return found, nil
	}
}

// Position returns the position an id names when it is one a store
// generates: the decimal string of a position, as strconv.FormatInt writes
// it (no sign, no leading zero). Ids of 19 digits or more name none, as no
// history is that long.
func Position(id string) (int64, bool) {
	if id == "" || len(id) > 18 || (id[0] == '0' && len(id) > 1) {
		return 0, false
	}
	var n int64
	for i := 0; i < len(id); i++ {
		if id[i] < '0' || id[i] > '9' {
			return 0, false
		}
		n = n*10 + int64(id[i]-'0')
	}
	return n, true
}

// EndsTail reports, for a backend reading a history backwards from its
// newest message, whether a message ends the walk for a tail from round
// from (TailFrom): every message of the last rounds comes after the newest
// message that is not a round of its own and belongs to an older round. A
// message written after that one either belongs to its round or a newer one,
// or is a round of its own whose number is smaller only if the round open
// when it was written is older still. Between the end of the history and
// that message, the messages of round ≥ from are the tail.
func EndsTail(round int64, ownRound bool, from int64) bool {
	return !ownRound && round < from
}

// OpenStart returns the position of the first message of the open round
// after the write, for backends that keep it to close the round later with a
// range read: where it was (start) if the round open before the write stays
// open, otherwise at the first message the write leaves open (0 when none
// is).
func (p Plan) OpenStart(before State, start int64) int64 {
	if before.Open > 0 && p.CloseOpen < 0 {
		return start
	}
	for _, m := range p.Messages {
		if m.Round == Pending {
			return m.Pos
		}
	}
	return 0
}

// TailWalker gives backends a way to read the last rounds without storing
// round numbers, or updating rows when a round closes: from the history's
// state and the kind of each message, read newest first, it works out each
// message's round. Rounds are numbered in the order they close, and only
// Own and Closes messages close one, each at the time it is written, so
// walking backwards they take the numbers Rounds-1, Rounds-2, ... in turn; a
// Joins message belongs to the round the next Closes message after it
// closed, or to the open round if none has.
type TailWalker struct {
	next    int64 // the number the next Own or Closes message takes, plus one
	closing int64 // the round of Joins messages seen now
	from    int64
}

// Walk starts a walk for the last `rounds` rounds of a history in state s.
func (s State) Walk(rounds int) *TailWalker {
	return &TailWalker{next: s.Rounds, closing: Pending, from: s.TailFrom(rounds)}
}

// Step takes the kind of the next message, going backwards, and reports
// whether it belongs to the tail and whether the walk is over (EndsTail):
// then neither it nor any older message belongs.
func (w *TailWalker) Step(kind Kind) (keep, done bool) {
	var round int64
	switch kind {
	case Own:
		w.next--
		round = w.next
	case Closes:
		w.next--
		round = w.next
		w.closing = round
	default:
		round = w.closing
	}
	if EndsTail(round, kind == Own, w.from) {
		return false, true
	}
	return round >= w.from, false
}

// All reports whether the walk wants every message, so that a backend can
// read the history forwards instead.
func (w *TailWalker) All() bool { return w.from == 0 }
