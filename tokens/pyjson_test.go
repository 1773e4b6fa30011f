package tokens

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

type stringer struct{ C chan int }

func (stringer) String() string { return "custom" }

// TestPyJSON holds what Python's json.dumps(v, default=str, sort_keys=True)
// writes for each value, v being what json.loads makes of chatstore's JSON
// of the Go value.
func TestPyJSON(t *testing.T) {
	five, tenth := 5, 0.1
	var nilPtr *int
	for _, c := range []struct {
		v    any
		want string
	}{
		// Structure: sorted keys at every level, ", " and ": ".
		{map[string]any{"b": 2, "a": 1}, `{"a": 1, "b": 2}`},
		{map[string]any{}, `{}`},
		{map[string]any(nil), `{}`},
		{map[string]any{"z": map[string]any{"b": []any{1, 2}, "a": "x"}, "a": []any{}}, `{"a": [], "z": {"a": "x", "b": [1, 2]}}`},
		{map[string]any{"é": 1, "z": 2, "Z": 3, "東": 4, "😀": 5, "\uffff": 6}, `{"Z": 3, "z": 2, "\u00e9": 1, "\u6771": 4, "\uffff": 6, "\ud83d\ude00": 5}`},
		{[]any{1, "a", nil, true, false}, `[1, "a", null, true, false]`},
		{[]any(nil), `[]`},
		{nil, `null`},
		// Strings, ensure_ascii.
		{"東京", `"\u6771\u4eac"`},
		{"👋", `"\ud83d\udc4b"`},
		{"😀", `"\ud83d\ude00"`},
		{"\U0010ffff", `"\udbff\udfff"`},
		{"\U00010000", `"\ud800\udc00"`},
		{"é\u00a0\u2028\ufeff", `"\u00e9\u00a0\u2028\ufeff"`},
		{"\n\r\t\b\f", `"\n\r\t\b\f"`},
		{"\x00\x01\x1f\x7f\u0080\u0085", `"\u0000\u0001\u001f\u007f\u0080\u0085"`},
		{`"\`, `"\"\\"`},
		{"</script>&'", `"</script>&'"`},
		{" ~", `" ~"`},
		{"a\xffb", `"a\ufffdb"`},
		// Numbers read from JSON: ints keep their digits, floats are
		// respelled by repr.
		{json.Number("0"), `0`},
		{json.Number("-0"), `0`},
		{json.Number("-5"), `-5`},
		{json.Number("123456789012345678901234567890"), `123456789012345678901234567890`},
		{json.Number("1.0"), `1.0`},
		{json.Number("1.50"), `1.5`},
		{json.Number("-0.0"), `-0.0`},
		{json.Number("0.0"), `0.0`},
		{json.Number("1e2"), `100.0`},
		{json.Number("1E2"), `100.0`},
		{json.Number("1e+2"), `100.0`},
		{json.Number("2.5E-3"), `0.0025`},
		{json.Number("0.1"), `0.1`},
		{json.Number("0.0001"), `0.0001`},
		{json.Number("0.00001"), `1e-05`},
		{json.Number("1e-5"), `1e-05`},
		{json.Number("1e15"), `1000000000000000.0`},
		{json.Number("1e16"), `1e+16`},
		{json.Number("9999999999999998.0"), `9999999999999998.0`},
		{json.Number("12345678901234567890.0"), `1.2345678901234567e+19`},
		{json.Number("1.5e300"), `1.5e+300`},
		{json.Number("1e-400"), `0.0`},
		{json.Number("1e400"), `Infinity`},
		{json.Number("-1e400"), `-Infinity`},
		{json.Number("007"), `"007"`}, // not JSON: default=str
		{json.Number("abc"), `"abc"`},
		// Floats and ints built in Go.
		{1.0, `1.0`},
		{100.0, `100.0`},
		{-2.5, `-2.5`},
		{tenth + 2*tenth, `0.30000000000000004`},
		{1e16, `1e+16`},
		{1e-7, `1e-07`},
		{123456789.0, `123456789.0`},
		{math.Copysign(0, -1), `-0.0`},
		{math.SmallestNonzeroFloat64, `5e-324`},
		{math.MaxFloat64, `1.7976931348623157e+308`},
		{math.NaN(), `NaN`},
		{math.Inf(1), `Infinity`},
		{math.Inf(-1), `-Infinity`},
		{float32(0.1), `0.1`},
		{float32(16777216), `16777216.0`},
		{float32(1e20), `1e+20`},
		{float32(math.Inf(-1)), `-Infinity`},
		{-3, `-3`},
		{int64(math.MaxInt64), `9223372036854775807`},
		{int8(-128), `-128`},
		{uint64(math.MaxUint64), `18446744073709551615`},
		{uint8(255), `255`},
		// Other Go types, as chatstore stores them.
		{map[string]int{"b": 1, "a": 2}, `{"a": 2, "b": 1}`},
		{[]string{"x", "é"}, `["x", "\u00e9"]`},
		// encoding/json writes 1.0 as 1, which Python reads as an int.
		{struct {
			A float64 `json:"a"`
			B string  `json:"b"`
		}{1, "<"}, `{"a": 1, "b": "<"}`},
		{json.RawMessage(`{"b":1.50,"a":[1e2]}`), `{"a": [100.0], "b": 1.5}`},
		{&five, `5`},
		{nilPtr, `null`},
		{stringer{}, `"custom"`}, // no JSON form: default=str
	} {
		if got := string(appendPyJSON(nil, c.v)); got != c.want {
			t.Errorf("%#v: %s, want %s", c.v, got, c.want)
		}
	}
}

// TestPyJSONCycle: a value that refers to itself ends at the depth
// chatstore refuses to store.
func TestPyJSONCycle(t *testing.T) {
	a := []any{nil}
	a[0] = a
	got := string(appendPyJSON(nil, a))
	if !strings.Contains(got, "[null]") || len(got) > 2100 {
		t.Errorf("got %.40s…, %d bytes", got, len(got))
	}
}
