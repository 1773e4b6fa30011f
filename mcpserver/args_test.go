package mcpserver

import (
	"strings"
	"testing"

	"github.com/chatstore/chatstore/internal/apicode"
)

// TestSplitArgs: what a client may send as arguments that the SDK passes
// on as they are: nothing, an object, or JSON that is not one, or has a
// member twice, or one the tool does not take.
func TestSplitArgs(t *testing.T) {
	for _, c := range []struct {
		raw, want string // want: "" for success, else what the message says
	}{
		{``, ""},
		{`null`, ""},
		{`{}`, ""},
		{`{"a":1,"b":null}`, ""},
		{`[1]`, "the arguments must be an object, got an array"},
		{`"a"`, "the arguments must be an object, got a string"},
		{`{"a":1,"a":2}`, `duplicate key "a"`},
		{`{"c":1}`, `unknown member "c"; expected a, b`},
	} {
		a, err := splitArgs([]byte(c.raw), "a", "b")
		if c.want == "" {
			if err != nil {
				t.Errorf("%s: %v", c.raw, err)
			}
			continue
		}
		_, code, msg := apicode.Classify(err)
		if a != nil || code != "invalid_request" || !strings.Contains(msg, c.want) {
			t.Errorf("%s: %v (%s), want invalid_request saying %q", c.raw, err, code, c.want)
		}
	}
	a, _ := splitArgs([]byte(`{"a":"x","b":null}`), "a", "b")
	if _, ok := a.given("b"); ok {
		t.Error("a null argument is given")
	}
	if s, err := a.str("a", true); s != "x" || err != nil {
		t.Errorf("a: %q %v", s, err)
	}
	if _, err := a.str("b", true); err == nil {
		t.Error("a required argument given as null")
	}
	for raw, want := range map[string]string{`{"n":1.5}`: "whole number", `{"n":1e400}`: "out of range", `{"n":99999999999999999999}`: "too large", `{"n":"3"}`: "must be a number"} {
		a, err := splitArgs([]byte(raw), "n")
		if err == nil {
			_, _, err = a.integer("n", "invalid_range")
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", raw, err, want)
		}
	}
}
