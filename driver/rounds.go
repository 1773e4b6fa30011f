package driver

import (
	"math"
	"slices"
)

// Kind says how a message takes part in the rounds behind last_k. A round is
// what Haystack's _get_last_k_messages calls one: the messages up to and
// including an assistant reply, so that a tool call is never separated from
// its results; a system message is a round by itself.
//
// A message's kind is all that is stored of its round: the rounds are worked
// out from the kinds when a history is read (LastRounds), so they stay right
// when messages are removed, and writing never updates a stored message. The
// values are stable (0, 1, 2): backends persist them.
type Kind uint8

const (
	// Joins: the message joins the open round (user messages, tool
	// results, assistant messages with tool calls or without text).
	Joins Kind = iota
	// Closes: the message joins the open round and closes it (an assistant
	// message with non-empty text and no tool calls).
	Closes
	// Alone: the message is a round by itself (a system message). It
	// closes no other round: messages of a round open when it is written
	// join the next Closes message's round.
	Alone
)

// The rule, as a history is read newest first. Every Closes or Alone message
// (a closer) ends exactly one round, so the rounds, newest first, are: the
// open round, if Joins messages follow the newest Closes; then one round per
// closer, newest first. The last k rounds are therefore the open round and
// the newest k' closers (k' = k, less one for the open round), and their
// messages are:
//
//   - every Joins or Closes message after c, the newest Closes message older
//     than b, the oldest of those k' closers (a Joins message belongs to the
//     round of the first Closes after it);
//   - the Alone messages from b on.
//
// So a reader walks back from the newest message to c and stops; it needs
// nothing stored but the kinds, and reads only the tail and the Alone
// messages interleaved with it. Whether a round is open is known at the
// newest message that is not Alone; until then, at most one Alone message's
// fate is undecided (see walk.step).

// verdict is what a walk knows of a message when it steps on it.
type verdict uint8

const (
	keep  verdict = iota // in the tail
	drop                 // not in the tail; older messages may be
	maybe                // in the tail if no round is open (walk.keeps decides)
	stop                 // neither it nor any older message is in the tail
)

// walk decides, newest first, which messages belong to the last rounds.
type walk struct {
	rounds int
	want   int     // closers in the tail; -1 until known whether a round is open
	lead   []int64 // positions of the Alone messages newer than every other, newest first, up to rounds of them
	nlead  int     // how many such Alone messages there are
	seen   int     // closers stepped on, once want is known
	found  bool    // whether b is known
	b      int64   // position of the oldest closer in the tail
}

func newWalk(rounds int) walk { return walk{rounds: rounds, want: -1} }

// resolve learns whether a round is open.
func (w *walk) resolve(open bool) {
	w.want = w.rounds
	if open {
		w.want--
	}
	w.seen = w.nlead
	switch {
	case w.want == 0:
		w.found, w.b = true, math.MaxInt64 // no closer is in the tail
	case w.nlead >= w.want:
		w.found, w.b = true, w.lead[w.want-1]
	}
}

func (w *walk) step(pos int64, kind Kind) verdict {
	if w.want < 0 {
		if kind == Alone {
			// The n-th of these is the n-th newest round, or the
			// (n+1)-th if a round is open: in the tail either way while
			// n < rounds, undecided at n == rounds.
			w.nlead++
			if len(w.lead) < w.rounds {
				w.lead = append(w.lead, pos)
			}
			switch {
			case w.nlead < w.rounds:
				return keep
			case w.nlead == w.rounds:
				return maybe
			}
			return drop
		}
		w.resolve(kind == Joins)
	}
	switch {
	case kind == Joins:
		return keep
	case w.found && pos < w.b:
		if kind == Closes {
			return stop // c
		}
		return drop
	}
	// A closer among the newest want.
	if w.seen++; w.seen == w.want {
		w.found, w.b = true, pos
	}
	return keep
}

// keeps decides a message that step found undecided, once the walk is over.
func (w *walk) keeps(pos int64) bool {
	if w.want < 0 {
		w.resolve(false) // the history holds only Alone messages, or the walk saw only those
	}
	return !w.found || pos >= w.b
}

// Next reads a history for LastRounds, newest message first: each call
// returns the next older message (with its Pos and Kind), or ok false once
// the oldest was returned. A pull function rather than an iter.Seq2, so
// that LastRounds's state is not captured by a loop body passed to the
// reader, which would put it on the heap on every read.
type Next func() (m Message, ok bool, err error)

// LastRounds returns the messages of the last `rounds` rounds (≥ 1) of a
// history, oldest first, as next returned them, reading it with next. The
// walk looks only at each message's Pos and Kind, and at its JSON's length
// when maxBytes > 0. It stops reading as soon as
// no older message can belong, so next should read lazily. With maxBytes > 0
// it fails with ErrTooLarge once the JSON of the messages it keeps is over
// maxBytes. An error from next ends the read and is returned.
//
// This is the one implementation of the round rule for Go backends; the
// Redis backend's tail script is the same walk in Lua, and the conformance
// suite checks it against this function on random conversations.
func LastRounds(rounds, maxBytes int, next Next) ([]Message, error) {
	w := newWalk(rounds)
	var (
		// Newest first until the end, then turned around in place. Two
		// messages a round is the common shape (a question, an answer).
		rev   = make([]Message, 0, min(rounds, 32)*2)
		size  int
		undec = -1 // index in rev of the undecided message, if any
	)
	for {
		m, ok, err := next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		v := w.step(m.Pos, m.Kind)
		if v == stop {
			break
		}
		switch v {
		case drop:
			continue
		case maybe:
			undec = len(rev)
		case keep:
			if size += len(m.JSON); maxBytes > 0 && size > maxBytes {
				return nil, ErrTooLarge
			}
		}
		rev = append(rev, m)
	}
	if undec >= 0 {
		if !w.keeps(rev[undec].Pos) {
			rev = slices.Delete(rev, undec, undec+1)
		} else if size += len(rev[undec].JSON); maxBytes > 0 && size > maxBytes {
			return nil, ErrTooLarge
		}
	}
	slices.Reverse(rev)
	return rev, nil
}

// Backwards reads msgs, which are in the order they were written, newest
// first: LastRounds over messages already in memory.
func Backwards(msgs []Message) Next {
	i := len(msgs)
	return func() (Message, bool, error) {
		if i == 0 {
			return Message{}, false, nil
		}
		i--
		return msgs[i], true, nil
	}
}
