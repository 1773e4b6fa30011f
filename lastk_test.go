package chatstore_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/chatstore/chatstore"
)

// TestLastKValue: the grammar of a last_k in a decoded dictionary is a
// whole number ≥ 0 of any type JSON, YAML or Go code gives, or null, which
// is what the caller says; nothing else, not even the text grammar's "all".
func TestLastKValue(t *testing.T) {
	for _, c := range []struct {
		v          any
		null, want int
	}{
		{nil, chatstore.All, chatstore.All},
		{nil, -1, -1},
		{0, chatstore.All, 0},
		{3, -1, 3},
		{int64(4), -1, 4},
		{uint64(5), -1, 5},
		{float64(6), -1, 6},
		{json.Number("7"), -1, 7},
	} {
		if got, err := chatstore.LastKValue(c.v, c.null); err != nil || got != c.want {
			t.Errorf("LastKValue(%#v, %d) = %d, %v; want %d", c.v, c.null, got, err, c.want)
		}
	}
	for _, bad := range []any{-1, json.Number("-2"), 1.5, "all", "3", true, []any{1}, map[string]any{}} {
		if _, err := chatstore.LastKValue(bad, chatstore.All); !errors.Is(err, chatstore.ErrInvalidLastK) {
			t.Errorf("LastKValue(%#v): err = %v, want ErrInvalidLastK", bad, err)
		}
	}
}

// TestLastKJSON: a last_k in a request's JSON is a number with ParseLastK's
// digits, the string "all" in any case, or null, which is not given;
// anything else is ErrInvalidLastK, and a quoted number says to drop the
// quotes.
func TestLastKJSON(t *testing.T) {
	for _, c := range []struct {
		raw   string
		want  int
		given bool
	}{
		{`null`, 0, false},
		{`0`, 0, true},
		{`3`, 3, true},
		{`"all"`, chatstore.All, true},
		{`"ALL"`, chatstore.All, true},
		{`99999999999999999999999`, chatstore.All, true},
	} {
		if got, given, err := chatstore.LastKJSON([]byte(c.raw)); err != nil || got != c.want || given != c.given {
			t.Errorf("LastKJSON(%s) = %d, %v, %v; want %d, %v", c.raw, got, given, err, c.want, c.given)
		}
	}
	for _, bad := range []string{`-1`, `1.5`, `1e3`, `"3"`, `"none"`, `true`, `[1]`, `{}`} {
		if _, given, err := chatstore.LastKJSON([]byte(bad)); !errors.Is(err, chatstore.ErrInvalidLastK) || given {
			t.Errorf("LastKJSON(%s): given %v, err = %v, want ErrInvalidLastK", bad, given, err)
		}
	}
	if _, _, err := chatstore.LastKJSON([]byte(`"3"`)); err == nil || !strings.Contains(err.Error(), "without quotes") {
		t.Errorf("a quoted number: %v", err)
	}
}
