package chatstore

import (
	"fmt"
	"math"
	"strings"

	"github.com/chatstore/chatstore/internal/dict"
	"github.com/chatstore/chatstore/internal/jsonx"
	"github.com/chatstore/chatstore/internal/num"
)

// A last_k is the number of rounds a read returns (see RetrieveLast). It is
// written in store URLs, HTTP queries and bodies, on the command line and
// in Haystack's dictionaries, and read only by ParseLastK (text), LastKJSON
// (a JSON value of a request) and LastKValue (decoded JSON and YAML), so
// that it means one thing wherever it is written:
//
//   - a whole number k ≥ 0 is the last k rounds; 0 is none;
//   - "all" in text (ParseLastK), and null in a Haystack store's
//     init_parameters (Haystack's last_k=None), is every message: All;
//   - null anywhere else means "not given", so the next level's default: a
//     retriever's null is its store's default, a context request's null is
//     the retriever's (LastKValue leaves the meaning of null to its caller);
//   - a negative number is an error, ErrInvalidLastK.
//
// In Go a last_k is an int. All means every message wherever a last_k is
// taken; DefaultLastK is Haystack's default, a store's and a retriever's;
// two more special values have one meaning each, in one place each:
// NoHistory only as Options.LastK, and component.StoreDefault (-1) only as
// a component.Retriever's LastK, for the store's default (Haystack's
// last_k=None on a retriever).
const (
	// DefaultLastK is Haystack's default last_k, what an Options.LastK of
	// 0 stands for: the zero Options is Haystack's default store.
	DefaultLastK = 10
	// All is every message of a history, as a last_k anywhere (Haystack's
	// last_k=None on a store).
	All = math.MaxInt
	// NoHistory, only as Options.LastK, makes a store whose default reads
	// (Retrieve, the server's reads without last_k) return nothing, as a
	// Haystack store with last_k=0 does: Options.LastK 0 already means
	// DefaultLastK. A store's last_k of 0, in a URL or a Haystack
	// dictionary, becomes NoHistory.
	NoHistory = math.MinInt
)

// ParseLastK reads a last_k as written in URLs, HTTP queries and the
// command line, the one grammar for all of them: a whole number of rounds
// in decimal digits (no sign, no spaces), or "all" for All. A number too
// large for an int is All too: no history has that many rounds.
func ParseLastK(s string) (int, error) {
	if strings.EqualFold(s, "all") {
		return All, nil
	}
	k, big, ok := num.Parse(s)
	switch {
	case !ok:
		return 0, fmt.Errorf("chatstore: %w: %.50q is not a whole number of rounds ≥ 0 or \"all\"", ErrInvalidLastK, s)
	case big:
		return All, nil
	}
	return k, nil
}

// LastKJSON reads a last_k given as a JSON value in a request (the HTTP
// API's context requests, the MCP tools' arguments): a whole number of
// rounds, its digits read by ParseLastK; the string "all"; or null, which is
// not given (given is false: the caller's default).
func LastKJSON(raw []byte) (k int, given bool, err error) {
	d := jsonx.NewDecoder(raw)
	var text string
	switch kind := d.Peek(); kind {
	case jsonx.Null:
		return 0, false, nil
	case jsonx.Number:
		n, err := d.Number()
		if err != nil {
			return 0, false, fmt.Errorf("chatstore: %w: %w", ErrInvalidLastK, err)
		}
		text = string(n)
	case jsonx.String:
		str, err := d.String()
		if err != nil {
			return 0, false, fmt.Errorf("chatstore: %w: %w", ErrInvalidLastK, err)
		}
		if !strings.EqualFold(str, "all") {
			return 0, false, fmt.Errorf("chatstore: %w: last_k must be a whole number of rounds ≥ 0, \"all\" or null, got the string %.50q; write numbers without quotes", ErrInvalidLastK, str)
		}
		text = str
	default:
		return 0, false, fmt.Errorf("chatstore: %w: last_k must be a whole number of rounds ≥ 0, \"all\" or null, got %s", ErrInvalidLastK, kind)
	}
	k, err = ParseLastK(text)
	return k, err == nil, err
}

// LastKValue reads a last_k from a decoded JSON or YAML value, as Haystack's
// dictionaries hold it: a whole number ≥ 0, or nil (null), for which it
// returns null, the caller's meaning of "not given": All for a store,
// component.StoreDefault for a retriever.
func LastKValue(v any, null int) (int, error) {
	if v == nil {
		return null, nil
	}
	k, ok := dict.Int(v)
	switch {
	case !ok:
		return 0, fmt.Errorf("%w: last_k must be a whole number or null, got %v", ErrInvalidLastK, v)
	case k < 0:
		return 0, fmt.Errorf("%w: last_k must be 0 or greater, got %d", ErrInvalidLastK, k)
	}
	return k, nil
}

// StoreLastK is the Options.LastK of a store whose last_k, as a URL or a
// Haystack dictionary writes it, is k ≥ 0: k, but NoHistory for 0.
func StoreLastK(k int) int {
	if k == 0 {
		return NoHistory
	}
	return k
}
