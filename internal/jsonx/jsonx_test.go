package jsonx

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestValueRoundTrip(t *testing.T) {
	tests := []struct{ in, want string }{
		{`null`, `null`},
		{` true `, `true`},
		{`"a\"b\\c\/d\u00e9\n"`, `"a\"b\\c/dé\n"`},
		{`1180591620717411303424`, `1180591620717411303424`},
		{`1.0`, `1.0`},
		{`-0`, `-0`},
		{`[1,[2,{}],[]]`, `[1,[2,{}],[]]`},
		{`{"b":1,"a":{"d":[true,false,null],"c":""}}`, `{"a":{"c":"","d":[true,false,null]},"b":1}`},
		{`"\ud83d\ude00 \u2028"`, `"😀 \u2028"`},
		{`"<&>"`, `"<&>"`},
	}
	for _, tt := range tests {
		d := NewDecoder([]byte(tt.in))
		v, err := d.Value()
		if err == nil {
			err = d.Finish()
		}
		if err != nil {
			t.Errorf("%s: %v", tt.in, err)
			continue
		}
		out, err := AppendValue(nil, v, Compact)
		if err != nil || string(out) != tt.want {
			t.Errorf("%s: got %s, %v; want %s", tt.in, out, err, tt.want)
		}
		if !json.Valid(out) {
			t.Errorf("%s: output %s is not valid JSON", tt.in, out)
		}
	}
}

func TestSyntaxErrors(t *testing.T) {
	tests := []struct{ in, msg string }{
		{``, "unexpected end of input"},
		{`{`, "unexpected end of input in object"},
		{`[1 2]`, "after array element"},
		{`{"a" 1}`, "missing ':'"},
		{`{"a":1,}`, "looking for an object key"},
		{`[1,]`, "looking for a value"},
		{`{1:2}`, "looking for an object key"},
		{`"abc`, "unexpected end of input in string"},
		{"\"a\x00\"", "invalid control character"},
		{"\"\xc3\x28\"", "invalid UTF-8"},
		{`"\u12"`, "invalid \\u escape"},
		{`"\udc00"`, "lone UTF-16 surrogate"},
		{`"\ud800\u0041"`, "lone UTF-16 surrogate"},
		{`"\q"`, "invalid escape"},
		{`tru`, "invalid literal"},
		{`nul`, "invalid literal"},
		{`01`, "after top-level value"},
		{`1.`, "invalid number"},
		{`-`, "invalid number"},
		{`1e`, "invalid number"},
		{`+1`, "looking for a value"},
		{`.5`, "looking for a value"},
		{`{"a":1,"a":2}`, `duplicate key "a"`},
		{`1 2`, "after top-level value"},
		{strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1), "nesting deeper than"},
	}
	for _, tt := range tests {
		d := NewDecoder([]byte(tt.in))
		_, err := d.Value()
		if err == nil {
			err = d.Finish()
		}
		var se *SyntaxError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%q: err = %v, want SyntaxError containing %q", tt.in, err, tt.msg)
		}
	}
	// Exactly MaxDepth levels are fine.
	deep := strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth)
	if _, err := NewDecoder([]byte(deep)).Value(); err != nil {
		t.Errorf("depth %d: %v", MaxDepth, err)
	}
}

func TestTypeErrors(t *testing.T) {
	d := NewDecoder([]byte(`"x"`))
	_, err := d.Map()
	var te *TypeError
	if !errors.As(err, &te) || te.Got != String || err.Error() != "must be an object, got a string" {
		t.Fatalf("err = %v", err)
	}
	if _, err := NewDecoder([]byte(`5`)).Bool(); err == nil || err.Error() != "must be a boolean, got a number" {
		t.Fatalf("Bool: %v", err)
	}
	if _, _, err := NewDecoder([]byte(`[]`)).StringOrNull(); err == nil || err.Error() != "must be a string or null, got an array" {
		t.Fatalf("StringOrNull: %v", err)
	}
	if m, err := NewDecoder([]byte(`null`)).MapOrNull(); m != nil || err != nil {
		t.Fatalf("MapOrNull(null) = %v, %v", m, err)
	}
}

func TestSkipMatchesValue(t *testing.T) {
	for _, in := range []string{`{"a":[1,{"b":"\u00e9"}],"c":null}`, `[true,false]`, `"x"`, `-1.5e3`} {
		d := NewDecoder([]byte(in + " "))
		if err := d.Skip(); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if d.Offset() != len(in) {
			t.Errorf("%s: skipped to %d, want %d", in, d.Offset(), len(in))
		}
	}
}

// TestDiscardRefusesDuplicates checks that a discarded value is held to
// the same rules as a decoded one: no key twice in any object, at any
// depth, in small objects and in large ones.
func TestDiscardRefusesDuplicates(t *testing.T) {
	var large strings.Builder
	large.WriteString(`{`)
	for i := range 40 {
		fmt.Fprintf(&large, `"k%d":%d,`, i, i)
	}
	large.WriteString(`"k39":0}`)
	for _, in := range []string{`{"a":1,"a":2}`, `[{"x":{"k":1,"k":2}}]`, `{"a":{},"b":[],"a":null}`, large.String()} {
		err := NewDecoder([]byte(in)).Discard()
		if err == nil || !strings.Contains(err.Error(), "duplicate key") {
			t.Errorf("%.60s: %v, want a duplicate key error", in, err)
		}
		if err := NewDecoder([]byte(in)).Skip(); err != nil {
			t.Errorf("Skip %.60s: %v; it checks syntax only", in, err)
		}
	}
	if err := NewDecoder([]byte(strings.Replace(large.String(), `"k39":0}`, `"k40":0}`, 1))).Discard(); err != nil {
		t.Errorf("40 distinct keys: %v", err)
	}
}

// TestNumberRange refuses floats Python would read as infinity and
// integers of more digits than Python's json reads, and keeps the rest.
func TestNumberRange(t *testing.T) {
	for _, in := range []string{strings.Repeat("9", MaxIntegerDigits+1), "-" + strings.Repeat("1", MaxIntegerDigits+1), "1" + strings.Repeat("0", 100_000)} {
		if _, err := NewDecoder([]byte(in)).Number(); err == nil || !strings.Contains(err.Error(), "digits") {
			t.Errorf("%.20s… (%d bytes): %v, want too many digits", in, len(in), err)
		}
		if err := NewDecoder([]byte(`{"a":[` + in + `]}`)).Skip(); err == nil {
			t.Errorf("Skip %.20s…: accepted", in)
		}
	}
	for _, in := range []string{strings.Repeat("9", MaxIntegerDigits), "-" + strings.Repeat("9", MaxIntegerDigits)} {
		if _, err := NewDecoder([]byte(in)).Number(); err != nil {
			t.Errorf("%.20s… (%d bytes): %v", in, len(in), err)
		}
	}
	for _, in := range []string{"1e400", "-1.5e309", "1" + strings.Repeat("0", 400) + ".0"} {
		if _, err := NewDecoder([]byte(in)).Number(); err == nil || !strings.Contains(err.Error(), "out of range") {
			t.Errorf("%.20s: %v, want out of range", in, err)
		}
		if err := NewDecoder([]byte("[" + in + "]")).Skip(); err == nil {
			t.Errorf("Skip %.20s: accepted", in)
		}
	}
	for _, in := range []string{"1" + strings.Repeat("0", 400), "1e-400", "1.7976931348623157e308", "-0.0"} {
		if n, err := NewDecoder([]byte(in)).Number(); err != nil || string(n) != in {
			t.Errorf("%.20s: %q %v", in, n, err)
		}
	}
}

func TestAppendPythonStyle(t *testing.T) {
	v := map[string]any{"b": []any{1.0, json.Number("2"), nil}, "a": "é\u2028<\x1f\"", "c": map[string]any{}}
	out, err := AppendValue(nil, v, Python)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"a": "é` + "\u2028" + `<\u001f\"", "b": [1.0, 2, null], "c": {}}`
	if string(out) != want {
		t.Errorf("got  %s\nwant %s", out, want)
	}
}

func TestAppendFloat(t *testing.T) {
	tests := map[float64]string{
		1: "1.0", 0.1: "0.1", -2.5: "-2.5", 1e16: "1e+16", 1.5e16: "1.5e+16", 123456789012345.0: "123456789012345.0",
		1e-4: "0.0001", 1e-5: "1e-05", 1e300: "1e+300", 0: "0.0", math.Copysign(0, -1): "-0.0",
	}
	for f, want := range tests {
		got, err := AppendFloat(nil, f, 64)
		if err != nil || string(got) != want {
			t.Errorf("%v: got %s %v, want %s", f, got, err, want)
		}
	}
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if _, err := AppendFloat(nil, f, 64); err == nil {
			t.Errorf("%v: want an error", f)
		}
	}
}

func TestAppendErrors(t *testing.T) {
	for _, v := range []any{"\xff", map[string]any{"\xfe": 1}, json.Number("1x"), json.RawMessage(`{`), make(chan int), []any{math.NaN()}} {
		if _, err := AppendValue(nil, v, Compact); err == nil {
			t.Errorf("%#v: want an error", v)
		}
	}
	type s struct {
		A []int  `json:"a"`
		B string `json:"b"`
	}
	out, err := AppendValue(nil, []any{s{A: []int{1}, B: "<"}, map[string]int{"z": 1, "a": 2}, (*s)(nil), json.RawMessage(` {"x" : 1} `)}, Compact)
	if err != nil || string(out) != `[{"a":[1],"b":"<"},{"a":2,"z":1},null,{"x":1}]` {
		t.Errorf("foreign values: %s %v", out, err)
	}
}

func TestValueTypes(t *testing.T) {
	v, err := NewDecoder([]byte(`{"a":[1,"s",true,null,{}]}`)).Value()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"a": []any{json.Number("1"), "s", true, nil, map[string]any{}}}
	if !reflect.DeepEqual(v, want) {
		t.Errorf("got %#v", v)
	}
}

func FuzzValue(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5e3,"x\u00e9"],"b":null}`, `[[[]]]`, `"\ud83d\ude00"`, `-0.0`, `{"a":1,"a":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d := NewDecoder(data)
		v, err := d.Value()
		if err == nil {
			err = d.Finish()
		}
		if err != nil {
			return
		}
		if !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		out, err := AppendValue(nil, v, Compact)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		v2, err := NewDecoder(out).Value()
		if err != nil || !reflect.DeepEqual(v, v2) {
			t.Fatalf("round trip: %q -> %q (%v)", data, out, err)
		}
	})
}
