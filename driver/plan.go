package driver

import (
	"context"
	"strconv"
)

// Planned is a record that will be written.
type Planned struct {
	Index int    // of the record in the records planned
	ID    string // the record's id, given or generated
	Pos   int64  // position in the history, from 0
}

// Plan is the outcome of planning a write.
type Plan struct {
	Messages []Planned
	// Next is the position after the write's last message: the history's
	// next position, which is its count for a history that never lost a
	// message.
	Next int64
}

// Closers is the number of planned messages that close a round (Closes or
// Alone), which is the number of rounds the write closes.
func (p Plan) Closers(recs []Record) int64 {
	var n int64
	for _, m := range p.Messages {
		if recs[m.Index].Kind != Joins {
			n++
		}
	}
	return n
}

// Lookup reports which of ids a history holds. It may return nil for none.
type Lookup func(ctx context.Context, ids []string) (map[string]bool, error)

// MakePlan decides which records are written, with which ids and
// positions, for a history whose next position is next: its message count,
// or, for a history that has lost messages (Editor), the counter of
// positions it has used. lookup is called once with
// every id the write supplies and the ids it is about to generate, and again
// only if a generated id collides.
//
// Ids follow Haystack: a record without an id gets the decimal string of a
// counter that starts at the history's next position and advances by one per
// record without an id ("0", "1", ...). Two deliberate fixes: a generated id
// skips any value the history already holds or the write supplies, so no
// message is dropped because a caller used numeric ids; and of records
// supplying the same id only the first is written.
//
// Rounds need no planning: a message stores its Kind, and LastRounds works
// the rounds out from the kinds when it reads.
func MakePlan(ctx context.Context, next int64, recs []Record, lookup Lookup) (Plan, error) {
	// The ids to ask about: those supplied, then the candidates for
	// generated ids, next, next+1, ...
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
		query = append(query, strconv.FormatInt(next+int64(i), 10))
	}
	candidates := query[nSupplied:] // candidates[i] is the id for counter next+i
	known, err := lookup(ctx, query)
	if err != nil {
		return Plan{}, err
	}

	plan := Plan{Messages: make([]Planned, 0, len(recs))}
	var taken map[string]bool // supplied ids this write has used
	counter := next
	checkedTo := next + int64(len(candidates)) // lookup was asked about ids below this
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
				if i := counter - next; i < int64(len(candidates)) {
					id = candidates[i]
				} else {
					id = strconv.FormatInt(counter, 10)
					if counter >= checkedTo {
						if known, err = checkMore(ctx, counter, lookup, known); err != nil {
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
		plan.Messages = append(plan.Messages, Planned{Index: i, ID: r.ID, Pos: next + int64(len(plan.Messages))})
	}
	plan.Next = next + int64(len(plan.Messages))
	return plan, nil
}

const checkBatch = 64

// checkMore asks lookup about the candidate ids from counter on, once the
// candidates asked about first are used up because some collided. It returns
// known with the answers added.
func checkMore(ctx context.Context, counter int64, lookup Lookup, known map[string]bool) (map[string]bool, error) {
	ids := make([]string, checkBatch)
	for i := range ids {
		ids[i] = strconv.FormatInt(counter+int64(i), 10)
	}
	more, err := lookup(ctx, ids)
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

// PositionalLookup is the Lookup of a history that has never stored a
// caller-supplied id, answered without a query: its ids were all generated
// without a collision to skip, so they are exactly "0" to count-1. Drivers
// that track whether a history holds caller ids use it to spare a lookup
// per write.
func PositionalLookup(count int64) Lookup {
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
