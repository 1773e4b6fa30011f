package driver

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Expiry is a history's own time to live (Expirer.SetExpiry): at most one
// of its fields is set.
type Expiry struct {
	// TTL, when > 0, is a sliding time to live in milliseconds: the history
	// expires TTL after its last change (its Info.UpdatedAt), so every
	// change (a write, a metadata change, a deletion, a truncation, a
	// compaction, SetExpiry itself) pushes it back.
	TTL int64
	// At, when > 0, is a fixed time of expiry in Unix milliseconds, which
	// no change moves.
	At int64
}

// ExpiresAt is the rule of expiry, in one place: when a history whose own
// expiry is own and that last changed at updated expires, given the
// default TTL (Policy.TTL) of its id, in Unix milliseconds; 0 for never.
// A fixed time wins, then the history's own TTL, then the default.
func ExpiresAt(own Expiry, updated, defaultTTL int64) int64 {
	switch {
	case own.At > 0:
		return own.At
	case own.TTL > 0:
		return updated + own.TTL
	case defaultTTL > 0:
		return updated + defaultTTL
	}
	return 0
}

// Expired reports whether a history that expires at expiresAt (as
// ExpiresAt gives it; 0 for never) has expired at now.
func Expired(expiresAt, now int64) bool { return expiresAt > 0 && expiresAt <= now }

// Swept is what one Expirer.Sweep removed.
type Swept struct {
	// Histories and Messages are the expired histories removed and the
	// messages they held.
	Histories, Messages int64
}

// Expirer is implemented by drivers whose histories can expire. Such a
// driver keeps, beside each history's Info, its own Expiry and the time it
// expires (Info.Expiry, Info.ExpiresAt), computed with ExpiresAt from the
// default TTL its Policy gives for the history's id at each change, and:
//
//   - hides a history for every read once Expired(ExpiresAt, Policy.Now()):
//     Count answers 0, reads answer no messages, Info ok=false, Message,
//     DeleteMessage, Truncate and a Fork through a message ErrNotFound, a
//     Fork of it an empty history, listings (List, Query) and Search leave
//     it out; Delete of it succeeds;
//   - treats a write, metadata change, SetExpiry or Fork to an expired
//     history as one to a history that does not exist: in the same atomic
//     step it removes what the expired history held (messages, metadata,
//     compactions, idempotency keys, search entries) and starts a new one,
//     with new created_at and positions from 0;
//   - removes expired histories with Sweep, or, for a NativeExpirer, lets
//     the backend remove them.
//
// A Fork copies the source's own Expiry to the new history.
type Expirer interface {
	// Policy returns the driver's policy, which the Store sets up before
	// any other call and changes (its default TTLs) at any time.
	Policy() *Policy

	// SetExpiry sets a history's own expiry (a zero Expiry: none of its
	// own, so the default applies), creating the history with no messages
	// if it does not exist, as SetMetadata does, in one atomic step that
	// counts as a change (UpdatedAt becomes max(UpdatedAt, now)). It
	// returns the history's Info after.
	SetExpiry(ctx context.Context, historyID string, x Expiry, now int64) (Info, error)

	// Sweep removes up to limit (≥ 1) histories that have expired at now,
	// as Delete removes a history, and says how many histories and
	// messages it removed. Several processes may sweep one backend at
	// once, and writes may race with a sweep: a history is removed only
	// if it has expired in the state the removal sees, atomically, so a
	// history renewed by a write is never removed and never left in part.
	// A NativeExpirer's Sweep tidies what its backend's expiry leaves
	// (index entries of histories that are gone), up to limit of them, and
	// reports those histories.
	Sweep(ctx context.Context, now int64, limit int) (Swept, error)
}

// NativeExpirer is implemented by Expirers whose backend removes an
// expired history itself, all of its keys at once, on the backend's own
// clock (Redis): a history is hidden when the backend has removed it,
// which is when Policy.Now passes its ExpiresAt as far as the two clocks
// agree. The conformance suite tests such drivers with short real TTLs
// instead of the Store's clock.
type NativeExpirer interface {
	Expirer
	NativeExpiry()
}

// Policy is what an Expirer takes from the Store: the clock by which
// histories expire, and default TTLs, for the whole store and for the
// histories under some id prefixes (the tenants of a server). It is safe
// for concurrent use; the zero Policy tells the system's time and has no
// default TTL.
type Policy struct {
	now  atomic.Pointer[func() int64]
	mu   sync.Mutex // serializes changes of ttls
	ttls atomic.Pointer[ttlTable]
}

// ttlTable is an immutable table of default TTLs, replaced whole.
type ttlTable struct {
	byPrefix map[string]int64
	lens     []int // the lengths of byPrefix's keys, longest first
}

// SetClock makes now, which tells Unix milliseconds, the policy's clock.
func (p *Policy) SetClock(now func() int64) { p.now.Store(&now) }

// Now is the time by the policy's clock, in Unix milliseconds.
func (p *Policy) Now() int64 {
	if f := p.now.Load(); f != nil {
		return (*f)()
	}
	return time.Now().UnixMilli()
}

// SetTTL sets the default TTL, in milliseconds, of the histories whose ids
// start with prefix and with no longer prefix of their own: the whole
// store's for "". ttl ≤ 0 removes the prefix's own default, so that a
// shorter prefix's applies.
func (p *Policy) SetTTL(prefix string, ttl int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	next := map[string]int64{}
	if t := p.ttls.Load(); t != nil {
		for k, v := range t.byPrefix {
			next[k] = v
		}
	}
	if ttl > 0 {
		next[prefix] = ttl
	} else {
		delete(next, prefix)
	}
	var lens []int
	for k := range next {
		if !slices.Contains(lens, len(k)) {
			lens = append(lens, len(k))
		}
	}
	slices.Sort(lens)
	slices.Reverse(lens)
	p.ttls.Store(&ttlTable{byPrefix: next, lens: lens})
}

// TTL is the default TTL of a history, in milliseconds: that of the
// longest prefix of its id that has one; 0 for none. It costs a map
// lookup per distinct prefix length.
func (p *Policy) TTL(historyID string) int64 {
	t := p.ttls.Load()
	if t == nil {
		return 0
	}
	for _, n := range t.lens {
		if n <= len(historyID) {
			if ttl, ok := t.byPrefix[historyID[:n]]; ok {
				return ttl
			}
		}
	}
	return 0
}

// ExpiresAt is ExpiresAt with the default TTL of historyID.
func (p *Policy) ExpiresAt(historyID string, own Expiry, updated int64) int64 {
	return ExpiresAt(own, updated, p.TTL(historyID))
}

// Scrubber is implemented by drivers whose backend keeps traces of deleted
// data that its normal operation leaves until some later maintenance, and
// that can remove them on demand: SQLite's search index keeps the words of
// deleted messages until its segments merge, and its write-ahead log the
// pages until a checkpoint. Scrub costs a pass over that storage (O(its
// size)); an operator runs it after an erasure.
type Scrubber interface {
	Scrub(ctx context.Context) error
}
