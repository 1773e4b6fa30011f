package driver

import (
	"context"
	"errors"
	"time"
)

// Info describes a history: what Editor.Info returns and what an
// Editor's listing (Editor.Query) gives for each history.
type Info struct {
	ID    string
	Count int64 // messages it holds now
	// CreatedAt is when its first write or metadata change created it,
	// and UpdatedAt when it last changed (messages written, deleted or
	// truncated, metadata set), both in Unix milliseconds of the Store's
	// clock (Record.CreatedAt, the now arguments below).
	CreatedAt, UpdatedAt int64
	// Metadata is never nil for a history that exists.
	Metadata map[string]string
	// Cost is the sum of the Costs of the messages it holds, for drivers
	// that implement Coster; zero otherwise.
	Cost Cost
	// Expiry is the history's own expiry, and ExpiresAt when it expires
	// (ExpiresAt, 0 for never), for drivers that implement Expirer; zero
	// otherwise.
	Expiry    Expiry
	ExpiresAt int64
	// ListedAt is, in a page of a listing by recency (Query), the time by
	// which the driver placed the history when that is not UpdatedAt: its
	// index may lag behind the history's last change (see RecencyShift).
	// 0 means UpdatedAt. The next page's cursor is of this time, so that
	// paging goes on from where the history stood in the listing, and
	// never repeats or skips a history for the lag.
	ListedAt int64
}

// Listed is the time by which a listing by recency placed the history:
// ListedAt, or UpdatedAt where that is 0.
func (i Info) Listed() int64 {
	if i.ListedAt != 0 {
		return i.ListedAt
	}
	return i.UpdatedAt
}

// RecencyShift sets the steps, of 1 << RecencyShift = 1,024 ms, in which a
// driver's index of histories by recency may hold them: a history's
// UpdatedAt >> RecencyShift. Such an index changes only when a history's
// change falls in a later step, not at every write (sqlitestore's schema
// keys its index so, and redisstore on a cluster moves a history in its
// index only then), and a listing by recency reads each step whole and
// orders its histories by their own UpdatedAt, so that its order is exact.
const RecencyShift = 10

// RecencyStep is the length of a step of RecencyShift.
const RecencyStep = (1 << RecencyShift) * time.Millisecond

// ErrNotFound is returned by Editor methods for a message (or, for Fork,
// a through message) the history does not hold.
var ErrNotFound = errors.New("driver: no such message")

// ErrExists is returned by Fork when the new history exists already.
var ErrExists = errors.New("driver: history exists")

// ErrTooManyPairs is returned by SetMetadata when the metadata would hold
// more pairs than allowed.
var ErrTooManyPairs = errors.New("driver: too many metadata pairs")

// Order is the order of an Editor's listing.
type Order uint8

const (
	ByID      Order = iota // byte order of the ids, as Store.List
	ByUpdated              // newest UpdatedAt first, then byte order of the ids
)

// Query selects a page of an Editor's listing: histories whose ids start
// with Prefix and that hold every pair of Metadata, in Order, after the
// cursor (AfterID, and for ByUpdated AfterUpdated: the last history of the
// previous page), at most Limit (≥ 1) of them. The cursor is empty ("", 0)
// for the first page.
type Query struct {
	Order        Order
	Prefix       string
	Metadata     map[string]string
	AfterID      string
	AfterUpdated int64
	Limit        int
}

// Editor is implemented by drivers whose histories can be addressed and
// changed after they are written: described (Info, Metadata), read and
// deleted one message at a time, truncated, forked, and listed by recency
// or metadata. chatstore.Store answers ErrNotSupported for these calls on
// drivers without it. A driver that implements Editor also keeps, for
// every history:
//
//   - its Info: a history exists from the write that first stores a message
//     in it, or its first metadata change, until it is deleted, whatever
//     its count; Record.CreatedAt is the write's time, for the messages and
//     the history's UpdatedAt;
//   - each message's CreatedAt, returned in Message.CreatedAt by every read
//     but a Span.Bare one, which may leave it 0;
//   - a counter of positions that never goes back: MakePlan is given it
//     (not the count), so a position, and so a generated id, is never used
//     twice in a history, even after messages are deleted or truncated;
//     and a history that has lost messages is looked up with its real ids,
//     never with PositionalLookup, so that a deleted id can be written again.
//
// Rounds need nothing: LastRounds works them out from what is left.
type Editor interface {
	// Info describes a history; ok is false if it does not exist.
	Info(ctx context.Context, historyID string) (info Info, ok bool, err error)

	// SetMetadata changes a history's metadata, creating the history (with
	// no messages) if it does not exist: each key of changes is set to its
	// value, or removed if the value is nil, in one atomic step that fails
	// with ErrTooManyPairs, changing nothing, if the result would hold
	// more than maxPairs pairs. The caller has checked keys and values. It
	// returns the history's Info after.
	SetMetadata(ctx context.Context, historyID string, changes map[string]*string, maxPairs int, now int64) (Info, error)

	// Message returns the message whose id is messageID, or ErrNotFound.
	Message(ctx context.Context, historyID, messageID string) (Message, error)

	// DeleteMessage removes the message whose id is messageID, or fails
	// with ErrNotFound. Its id may be written again.
	DeleteMessage(ctx context.Context, historyID, messageID string, now int64) error

	// Truncate removes the message whose id is fromID and every message
	// written after it, and returns how many it removed, or fails with
	// ErrNotFound.
	Truncate(ctx context.Context, historyID, fromID string, now int64) (int, error)

	// Fork creates history newID holding copies of the messages of
	// historyID up to and including the one whose id is *through (all of
	// them if through is nil), with their ids, kinds and times, and its
	// metadata, in one atomic step. It fails with ErrExists if newID
	// exists, with ErrNotFound if through names no message. Forking a
	// history that does not exist creates an empty one. It returns the new
	// history's Info.
	Fork(ctx context.Context, historyID, newID string, through *string, now int64) (Info, error)

	// Page returns the messages of span (Rounds is 0), oldest first:
	// paging by cursor, forwards (From, the position after the last
	// message of the previous page) or backwards (Before, the position of
	// the first), costs O(Limit), by offset (From 0, Skip n) what skipping
	// n costs the backend.
	Page(ctx context.Context, historyID string, span Span) ([]Message, error)

	// Query lists histories, with their Info (Metadata nil allowed if
	// empty).
	Query(ctx context.Context, q Query) ([]Info, error)
}
