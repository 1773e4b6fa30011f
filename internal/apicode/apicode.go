// Package apicode is the one list of the HTTP API's error codes that stand
// for chatstore's errors: the server answers with them, and the client turns
// them back into the same errors.
package apicode

import (
	"fmt"

	"github.com/chatstore/chatstore"
)

// outcomeUnknown is both errors an unknown outcome is.
var outcomeUnknown = fmt.Errorf("%w: %w", chatstore.ErrOutcomeUnknown, chatstore.ErrUnavailable)

// Store errors, in the order the server tests them: a 400 with the code.
var Invalid = []struct {
	Code string
	Err  error
}{
	{"invalid_message", chatstore.ErrInvalidMessage},
	{"invalid_history_id", chatstore.ErrInvalidHistoryID},
	{"invalid_last_k", chatstore.ErrInvalidLastK},
	{"too_many_messages", chatstore.ErrTooManyMessages},
	{"invalid_cursor", chatstore.ErrInvalidCursor},
	{"invalid_range", chatstore.ErrInvalidRange},
	{"invalid_idempotency_key", chatstore.ErrInvalidIdempotencyKey},
	{"response_too_large", chatstore.ErrTooLarge},
	{"invalid_metadata", chatstore.ErrInvalidMetadata},
	{"invalid_message_id", chatstore.ErrInvalidMessageID},
}

// The codes of a 503. store_unavailable and store_timeout say that nothing
// was stored; outcome_unknown that a write may have been stored (retry it
// with the same Idempotency-Key); overloaded that the server refused the
// request before doing anything. All are chatstore.ErrUnavailable to a
// client, outcome_unknown chatstore.ErrOutcomeUnknown as well.
const (
	StoreUnavailable = "store_unavailable"
	StoreTimeout     = "store_timeout"
	OutcomeUnknown   = "outcome_unknown"
	Overloaded       = "overloaded"
)

// IdempotencyKeyReused is the code of a 422: the key was used for a write
// of other messages.
const IdempotencyKeyReused = "idempotency_key_reused"

// MessageNotFound is the code of a 404 for a message id the history does
// not hold (chatstore.ErrNotFound); HistoryExists of a 409 for a fork onto
// a history that exists (chatstore.ErrExists); NotSupported of a 501 for
// an operation the store's backend lacks (chatstore.ErrNotSupported).
const (
	MessageNotFound = "message_not_found"
	HistoryExists   = "history_exists"
	NotSupported    = "not_supported"
)

// Other codes a client maps to a store error: a body that is not JSON and
// a stored message the OpenAI format cannot carry are invalid messages too.
const (
	InvalidJSON    = "invalid_json"
	NotConvertible = "not_convertible"
)

// Err returns the chatstore error a code stands for, or nil.
func Err(code string) error {
	for _, c := range Invalid {
		if c.Code == code {
			return c.Err
		}
	}
	switch code {
	case InvalidJSON, NotConvertible:
		return chatstore.ErrInvalidMessage
	case StoreUnavailable, StoreTimeout, Overloaded:
		return chatstore.ErrUnavailable
	case OutcomeUnknown:
		return outcomeUnknown
	case IdempotencyKeyReused:
		return chatstore.ErrIdempotencyKeyReused
	case MessageNotFound:
		return chatstore.ErrNotFound
	case HistoryExists:
		return chatstore.ErrExists
	case NotSupported:
		return chatstore.ErrNotSupported
	}
	return nil
}
