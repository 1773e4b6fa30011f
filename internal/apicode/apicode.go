// Package apicode is the one list of the HTTP API's error codes that stand
// for chatstore's errors, and the one mapping from errors to answers
// (Classify): the HTTP server answers with them, its MCP tools say them, and
// the client turns them back into the same errors.
package apicode

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
)

// Error is an error whose answer is already decided: its HTTP status, its
// code and its message. The server makes them for what only it can refuse
// (a request's shape, its token, the load it is under).
type Error struct {
	Status int
	Code   string
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

// Classify is the one mapping from errors to answers, of the HTTP API and of
// the MCP tools alike: the status, the code and a message that says no more
// than the client may know. Only errors it does not recognise are 500s,
// internal, and those are bugs: their message says only that, and the
// caller logs the error itself.
func Classify(err error) (status int, code, msg string) {
	var (
		ae *Error
		ce *chat.Error
	)
	switch {
	case errors.As(err, &ae):
		return ae.Status, ae.Code, ae.Msg
	case errors.As(err, &ce):
		code := "invalid_message"
		if errors.Is(ce, chat.ErrInvalidJSON) {
			code = InvalidJSON
		}
		return http.StatusBadRequest, code, strings.TrimPrefix(err.Error(), "chat: ")
	}
	for _, c := range Invalid {
		if errors.Is(err, c.Err) {
			return http.StatusBadRequest, c.Code, strings.TrimPrefix(err.Error(), "chatstore: ")
		}
	}
	switch {
	case errors.Is(err, chatstore.ErrIdempotencyKeyReused):
		return http.StatusUnprocessableEntity, IdempotencyKeyReused, strings.TrimPrefix(err.Error(), "chatstore: ")
	case errors.Is(err, chatstore.ErrNotFound):
		return http.StatusNotFound, MessageNotFound, strings.TrimPrefix(err.Error(), "chatstore: ")
	case errors.Is(err, chatstore.ErrExists):
		return http.StatusConflict, HistoryExists, strings.TrimPrefix(err.Error(), "chatstore: ")
	case errors.Is(err, chatstore.ErrNotSupported):
		return http.StatusNotImplemented, NotSupported, strings.TrimPrefix(err.Error(), "chatstore: ")
	case errors.Is(err, chatstore.ErrOutcomeUnknown):
		return http.StatusServiceUnavailable, OutcomeUnknown,
			"the store failed while the write was under way: it may or may not have been stored; retry with the same Idempotency-Key to store it exactly once"
	case errors.Is(err, chatstore.ErrUnavailable), errors.Is(err, chatstore.ErrClosed):
		return http.StatusServiceUnavailable, StoreUnavailable, "the store is unavailable; nothing was changed; retry later"
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, StoreTimeout, "the store did not answer in time; nothing was changed; retry later"
	}
	return http.StatusInternalServerError, Internal, "internal error; the server log has the details"
}

// Internal is the code of an error Classify does not recognise: a bug.
const Internal = "internal"

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
	{"invalid_expiry", chatstore.ErrInvalidExpiry},
	{"invalid_message_id", chatstore.ErrInvalidMessageID},
	{"invalid_query", chatstore.ErrInvalidQuery},
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
