package chatstore

import (
	"errors"

	"github.com/chatstore/chatstore/search"
)

// Sentinel errors. Every error a Store returns for one of these conditions
// wraps the sentinel, so callers test with errors.Is; backend errors are kept
// in the chain too, for errors.As.
var (
	// ErrInvalidHistoryID: empty, longer than MaxHistoryIDLen bytes, not
	// valid UTF-8, or containing a NUL byte.
	ErrInvalidHistoryID = errors.New("invalid chat history id")
	// ErrInvalidLastK: a negative last_k.
	ErrInvalidLastK = errors.New("invalid last_k")
	// ErrInvalidMessage: a message that cannot be stored; the error also
	// wraps chat.ErrInvalidMessage and says which message and why.
	ErrInvalidMessage = errors.New("invalid message")
	// ErrTooManyMessages: a write of more than Options.MaxWriteMessages.
	ErrTooManyMessages = errors.New("too many messages in one write")
	// ErrInvalidCursor: a List or Search cursor this store did not
	// produce.
	ErrInvalidCursor = errors.New("invalid cursor")
	// ErrInvalidQuery: a search query that cannot be run (search.Parse),
	// or search options out of range; the message says which.
	ErrInvalidQuery = search.ErrInvalidQuery
	// ErrInvalidRange: a Range with a negative offset or a limit out of
	// 1..MaxRangeLimit.
	ErrInvalidRange = errors.New("invalid range")
	// ErrInvalidOptions: options or URL parameters that make no sense, of
	// a store or of what is built on one (the HTTP server's).
	ErrInvalidOptions = errors.New("invalid options")
	// ErrUnknownScheme: Open was given a URL scheme no backend registered.
	ErrUnknownScheme = errors.New("unknown store URL scheme")
	// ErrClosed: the store was used after Close.
	ErrClosed = errors.New("store is closed")
	// ErrDeserialization: a Haystack store or component dictionary that
	// cannot be loaded (Haystack's DeserializationError).
	ErrDeserialization = errors.New("cannot deserialize")
	// ErrIncompatibleSchema: a database written by a newer chatstore, or not
	// by chatstore at all. Nothing is changed in it.
	ErrIncompatibleSchema = errors.New("incompatible database schema")
	// ErrUnavailable: the backend could not be reached or failed; the
	// backend's own error is in the chain. Retrying later may succeed.
	ErrUnavailable = errors.New("store unavailable")
	// ErrOutcomeUnknown: a write failed after it may have reached the
	// backend (the connection broke, or time ran out, between sending it and
	// hearing back), so it may or may not have been stored. It is always
	// found with ErrUnavailable too. A write that fails with ErrUnavailable
	// but not ErrOutcomeUnknown stored nothing. Retry with the same
	// idempotency key (Store.WriteIdempotent) to store it exactly once.
	ErrOutcomeUnknown = errors.New("write outcome unknown")
	// ErrInvalidIdempotencyKey: an idempotency key that is empty, longer
	// than MaxIdempotencyKeyLen, or not printable ASCII.
	ErrInvalidIdempotencyKey = errors.New("invalid idempotency key")
	// ErrIdempotencyKeyReused: an idempotency key that the history holds
	// from a write of other messages. Nothing was written.
	ErrIdempotencyKeyReused = errors.New("idempotency key reused for other messages")
	// ErrTooLarge: a read whose messages are over ReadOptions.MaxBytes.
	ErrTooLarge = errors.New("read too large")
	// ErrNotFound: a message id that the history does not hold, given to
	// an operation that addresses one message (Message, DeleteMessage,
	// Truncate, Fork's through, a read's After).
	ErrNotFound = errors.New("no such message")
	// ErrExists: Fork's new history exists already.
	ErrExists = errors.New("history exists")
	// ErrInvalidMetadata: history metadata over its limits (MaxMetadataPairs,
	// MaxMetadataKeyLen, MaxMetadataValueLen) or not valid UTF-8.
	ErrInvalidMetadata = errors.New("invalid metadata")
	// ErrInvalidMessageID: a message id given to address a message that no
	// message can have (empty, too long, not UTF-8, with a NUL byte).
	ErrInvalidMessageID = errors.New("invalid message id")
	// ErrNotSupported: the backend lacks an optional capability the call
	// needs.
	ErrNotSupported = errors.New("not supported by this store")
)
