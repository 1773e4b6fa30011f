// Package driver defines the interface a chatstore backend implements.
//
// The portable type chatstore.Store owns every rule of the store: it
// validates history ids and last_k, skips system messages, reads and checks
// caller-supplied message ids, classifies each message for rounds (Kind) and
// encodes it to JSON. A driver only does what must happen atomically in its
// backend: allocate positions and ids, skip ids the history already holds,
// persist, and read. The id arithmetic is MakePlan and the round rule
// LastRounds, so Go drivers share one implementation of each.
//
// Application code does not use this package; backend authors do.
package driver

import (
	"context"
	"errors"
	"time"

	"github.com/chatstore/chatstore/search"
)

// Record is one message to write.
type Record struct {
	// ID is the caller's chat_message_id; it is only meaningful when
	// HasID is true. A record whose ID the history already holds, or that
	// an earlier record of the same write supplies, is skipped.
	ID    string
	HasID bool
	Kind  Kind
	// JSON is the message in Haystack's format without chat_message_id in
	// its meta; the id is stored beside it and put back on reading.
	JSON []byte
	// CreatedAt is when the Store was given the message, in Unix
	// milliseconds. Drivers that implement Editor store it.
	CreatedAt int64
	// Role and Doc are the message's role and what it gives to the
	// search index, for a Searcher that is Indexing; empty otherwise.
	Role string
	Doc  search.Doc
	// Cost is what the message counts toward a token budget, for a
	// driver that implements Coster; it may be zero for others.
	Cost Cost
}

// Message is one stored message, as read back.
type Message struct {
	ID   string
	JSON []byte
	Pos  int64 // its position in the history, from 0
	Kind Kind
	// CreatedAt is Record.CreatedAt, for drivers that implement Editor;
	// 0 otherwise.
	CreatedAt int64
	// Cost is Record.Cost, for drivers that implement Coster; zero
	// otherwise.
	Cost Cost
}

// History is one entry of a listing.
type History struct {
	ID    string
	Count int64
}

// Store is what a backend implements. All methods must be safe for
// concurrent use. Arguments have been validated by chatstore.Store:
// history ids are non-empty, records non-empty, rounds ≥ 1, limit ≥ 1.
type Store interface {
	// Count returns the number of messages of a history (0 if unknown).
	Count(ctx context.Context, historyID string) (int64, error)

	// Write appends the records to the history as one atomic step, giving
	// ids and positions as MakePlan does and storing each record's Kind,
	// and returns how many were written.
	// Concurrent writes to one history must not interleave. A write that
	// fails after it may have reached the backend (the connection broke or
	// time ran out while waiting for the answer, a COMMIT whose outcome is
	// not known) must wrap chatstore.ErrOutcomeUnknown as well as
	// chatstore.ErrUnavailable; one that certainly stored nothing must not.
	Write(ctx context.Context, historyID string, records []Record) (int, error)

	// Range returns the messages at positions from ≤ p < to of a history,
	// in order; positions are 0 for the first message written, and to may
	// exceed the count. The caller has checked 0 ≤ from < to.
	Range(ctx context.Context, historyID string, from, to int) ([]Message, error)

	// Delete removes a history. Deleting an unknown history is not an error.
	Delete(ctx context.Context, historyID string) error

	// DeleteAll removes every history of this store (and nothing else).
	DeleteAll(ctx context.Context) error

	// List returns up to limit histories whose ids sort after `after`
	// (byte order), in that order, with their message counts.
	List(ctx context.Context, after string, limit int) ([]History, error)

	// Close releases what the driver owns.
	Close() error
}

// Tailer is implemented by drivers that can read the last rounds of a
// history in one step of their own (one statement, one script, one lock),
// which sees one state of the history. Drivers without it are read
// backwards a page at a time with Range, through LastRounds; a write
// between two pages is then not seen, as pages end where the first began.
type Tailer interface {
	// Tail returns what LastRounds returns for the history's messages:
	// those of its last `rounds` rounds, in the order they were written.
	// rounds may exceed the number of rounds; then it returns every
	// message.
	Tail(ctx context.Context, historyID string, rounds int) ([]Message, error)
}

// Span is the part of a history a read wants: the last Rounds rounds when
// Rounds > 0 (as LastRounds); else, when Before > 0, the last Limit
// messages at positions < Before (paging backwards); else up to Limit
// messages at positions ≥ From, after skipping the first Skip of them
// (Range is From, Limit; an Editor's Page is any but Rounds). Messages
// come oldest first whichever way the read goes.
type Span struct {
	Rounds int
	From   int64
	Skip   int
	Limit  int
	Before int64
	// Bare says that the caller uses only the messages' positions, ids,
	// kinds and bodies: a driver may leave Cost and CreatedAt zero, and
	// read less for it (sqlitestore's tail reads three cells a message
	// instead of five, redisstore's three commands fewer, pgstore's first
	// page five columns instead of eight). A driver may also ignore it.
	Bare bool
}

// Backward reports whether the span is read from its end (Before).
func (s Span) Backward() bool { return s.Rounds == 0 && s.Before > 0 }

// ErrTooLarge is returned by ReadBounded for a read over its limit.
var ErrTooLarge = errors.New("driver: read over its byte limit")

// BoundedReader is implemented by drivers that can give up on a read part
// way, once the JSON of the messages read is over a number of bytes, so that
// a read too large to answer holds no more than that in memory. Drivers
// without it read the whole span; the store checks its size afterwards.
type BoundedReader interface {
	// ReadBounded reads span as Tail, Range or an Editor's Page would, or fails with
	// ErrTooLarge as soon as the JSON of the messages read adds up to more
	// than maxBytes (> 0).
	ReadBounded(ctx context.Context, historyID string, span Span, maxBytes int) ([]Message, error)
}

// Size is the number of bytes of the messages' JSON.
func Size(msgs []Message) int {
	n := 0
	for _, m := range msgs {
		n += len(m.JSON)
	}
	return n
}

// PrefixDeleter is implemented by drivers that can delete every history
// whose id starts with a prefix in one atomic step (a tenant's histories).
// Drivers without it have them deleted one by one.
type PrefixDeleter interface {
	// DeletePrefix removes every history whose id starts with prefix,
	// which is not empty.
	DeletePrefix(ctx context.Context, prefix string) error
}

// Pinger is implemented by drivers that can check their backend is
// reachable, for health checks. Drivers without it are assumed healthy.
type Pinger interface {
	Ping(ctx context.Context) error
}

// HaystackTyper is implemented by drivers that can be written as a Haystack
// chat message store dictionary (package component writes it): HaystackType
// returns the Haystack type name and the backend's own init_parameters,
// without the store-wide skip_system_messages and last_k. Stores on drivers
// without it cannot be serialized for a pipeline file.
type HaystackTyper interface {
	HaystackType() (typeName string, params map[string]any)
}

// Key is an idempotency key recorded with a write (KeyedWriter).
type Key struct {
	// Key is the client's key, valid as chatstore.CheckIdempotencyKey says.
	Key string
	// Fingerprint identifies what the write carried, so that a key reused
	// for another write can be told from a retry.
	Fingerprint string
	// TTL is how long the key is kept after the write; > 0.
	TTL time.Duration
}

// Outcome is what a keyed write did, or, on a replay, what the first write
// with the key did.
type Outcome struct {
	// Written is the number of messages the write stored.
	Written int
	// Fingerprint is the one recorded with the key.
	Fingerprint string
	// Replayed says the history held the key already: nothing was written
	// now, and Written and Fingerprint are the first write's.
	Replayed bool
}

// KeyedWriter is implemented by drivers that can record an idempotency key
// with a write in the same atomic step, so that a client that did not learn
// whether its write was stored can retry it without storing it twice.
// Keyed writes to drivers without it fail with chatstore.ErrNotSupported.
type KeyedWriter interface {
	// WriteKeyed is Write for a key: if the history holds key.Key, recorded
	// less than its TTL ago, it writes nothing and returns the recorded
	// Outcome with Replayed set; otherwise it writes the records and keeps
	// the key with the Outcome for key.TTL, in one atomic step. Deleting a
	// history deletes its keys. records is not empty.
	WriteKeyed(ctx context.Context, historyID string, key Key, records []Record) (Outcome, error)
}
