// Package apicode is the one list of the HTTP API's error codes that stand
// for chatstore's errors: the server answers with them, and the client turns
// them back into the same errors.
package apicode

import "github.com/chatstore/chatstore"

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
}

// The codes of a 503: the store cannot be reached, or did not answer in
// time. Both are chatstore.ErrUnavailable to a client.
const (
	StoreUnavailable = "store_unavailable"
	StoreTimeout     = "store_timeout"
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
	case StoreUnavailable, StoreTimeout:
		return chatstore.ErrUnavailable
	}
	return nil
}
