package jsonx

import (
	"errors"
	"testing"
)

func TestMembers(t *testing.T) {
	in := []byte(`{ "a" :  [1, 2] , "b":null}`)
	m, err := Members(in, "a", "b", "c")
	if err != nil {
		t.Fatal(err)
	}
	if string(m["a"].Raw) != "[1, 2]" || string(in[m["a"].Offset:m["a"].Offset+6]) != "[1, 2]" || string(m["b"].Raw) != "null" {
		t.Errorf("members: %q at %d, %q", m["a"].Raw, m["a"].Offset, m["b"].Raw)
	}
	if _, ok := m["c"]; ok {
		t.Error("absent member present")
	}
	var ue *UnknownMemberError
	if _, err := Members([]byte(`{"a":1,"x":2}`), "a"); !errors.As(err, &ue) || ue.Key != "x" {
		t.Errorf("unknown member: %v", err)
	}
	var se *SyntaxError
	for _, bad := range []string{`{"a":1,"a":2}`, `{"a":`, `{"a":1} x`} {
		if _, err := Members([]byte(bad), "a"); !errors.As(err, &se) {
			t.Errorf("%s: %v, want a syntax error", bad, err)
		}
	}
	var te *TypeError
	if _, err := Members([]byte(`[]`), "a"); !errors.As(err, &te) {
		t.Errorf("array: %v, want a type error", err)
	}
}
