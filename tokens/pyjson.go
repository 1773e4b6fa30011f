package tokens

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/chatstore/chatstore/internal/jsonx"
)

// appendPyJSON appends v as Python's json.dumps(v, default=str,
// sort_keys=True) spells it, which is how Haystack renders tool call
// arguments and tool schemas for counting. Those are json.dumps's defaults
// besides sort_keys: ", " and ": " separators, ensure_ascii, NaN and
// Infinity allowed.
//
// A value counts as what Python holds after reading chatstore's JSON of it:
// json.Number literals with a fraction or an exponent are floats and are
// respelled (1.50 is 1.5, 1e2 is 100.0), a float32 is the float its shortest
// spelling reads as, and Go types that are not JSON-shaped (typed maps,
// structs) go through chatstore's JSON encoding first. It never fails: what
// has no JSON form is written as the string of its fmt.Sprint text, as
// default=str writes str(obj).
func appendPyJSON(dst []byte, v any) []byte {
	return appendPy(dst, v, 0)
}

func appendPy(dst []byte, v any, depth int) []byte {
	if depth > jsonx.MaxDepth {
		// Cannot be stored (chatstore refuses deeper values) and would make
		// Python's json.dumps raise RecursionError; a cycle of []any built in
		// Go would otherwise never end.
		return append(dst, "null"...)
	}
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...)
	case string:
		return appendPyString(dst, v)
	case bool:
		if v {
			return append(dst, "true"...)
		}
		return append(dst, "false"...)
	case json.Number:
		return appendPyNumber(dst, v)
	case float64:
		return appendPyFloat(dst, v)
	case float32:
		f := float64(v)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return appendPyFloat(dst, f)
		}
		// Stored as its shortest 32-bit spelling, which Python reads as
		// the nearest 64-bit float: float32(0.1) is 0.1, not
		// 0.10000000149011612.
		return appendPyNumber(dst, json.Number(strconv.FormatFloat(f, 'e', -1, 32)))
	case int:
		return strconv.AppendInt(dst, int64(v), 10)
	case int64:
		return strconv.AppendInt(dst, v, 10)
	case int32:
		return strconv.AppendInt(dst, int64(v), 10)
	case int16:
		return strconv.AppendInt(dst, int64(v), 10)
	case int8:
		return strconv.AppendInt(dst, int64(v), 10)
	case uint:
		return strconv.AppendUint(dst, uint64(v), 10)
	case uint64:
		return strconv.AppendUint(dst, v, 10)
	case uint32:
		return strconv.AppendUint(dst, uint64(v), 10)
	case uint16:
		return strconv.AppendUint(dst, uint64(v), 10)
	case uint8:
		return strconv.AppendUint(dst, uint64(v), 10)
	case map[string]any:
		return appendPyObject(dst, v, depth)
	case []any:
		dst = append(dst, '[')
		for i, e := range v {
			if i > 0 {
				dst = append(dst, ", "...)
			}
			dst = appendPy(dst, e, depth+1)
		}
		return append(dst, ']')
	}
	return appendPyOther(dst, v, depth)
}

// appendPyObject writes m with its keys in code point order, which is
// Python's sort order for str and, for valid UTF-8, Go's byte order.
func appendPyObject(dst []byte, m map[string]any, depth int) []byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ", "...)
		}
		dst = appendPyString(dst, k)
		dst = append(dst, ": "...)
		dst = appendPy(dst, m[k], depth+1)
	}
	return append(dst, '}')
}

// appendPyOther writes a Go value of a type that is not JSON-shaped as
// chatstore stores it: encoded by jsonx and read back.
func appendPyOther(dst []byte, v any, depth int) []byte {
	raw, err := jsonx.AppendValue(nil, v, jsonx.Compact)
	if err == nil {
		d := jsonx.NewDecoder(raw)
		var val any
		if val, err = d.Value(); err == nil {
			return appendPy(dst, val, depth)
		}
	}
	return appendPyString(dst, fmt.Sprint(v))
}

const hexDigits = "0123456789abcdef"

// appendPyString writes s with ensure_ascii: everything outside printable
// ASCII is escaped, as \uXXXX in lowercase hex, and a character beyond the
// BMP as its UTF-16 surrogate pair. Unlike Go's encoding/json it leaves
// <, > and & alone and escapes DEL. A byte that is not UTF-8 (which a Python
// str cannot hold) is written as U+FFFD.
func appendPyString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			dst = append(dst, '\\', byte(r))
		case r >= 0x20 && r < 0x7f:
			dst = append(dst, byte(r))
		case r == '\n':
			dst = append(dst, '\\', 'n')
		case r == '\r':
			dst = append(dst, '\\', 'r')
		case r == '\t':
			dst = append(dst, '\\', 't')
		case r == '\b':
			dst = append(dst, '\\', 'b')
		case r == '\f':
			dst = append(dst, '\\', 'f')
		case r >= 0x10000:
			r -= 0x10000
			dst = appendU(dst, 0xd800+(r>>10))
			dst = appendU(dst, 0xdc00+(r&0x3ff))
		default:
			dst = appendU(dst, r)
		}
	}
	return append(dst, '"')
}

func appendU(dst []byte, r rune) []byte {
	return append(dst, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
}

// appendPyNumber writes a number literal as Python's json.loads and then
// json.dumps would: with a '.', 'e' or 'E' it is a float, respelled by
// repr; otherwise an int, whose digits are kept ("-0" is 0). A literal that
// is not JSON is written as a string.
func appendPyNumber(dst []byte, n json.Number) []byte {
	s := string(n)
	if !jsonx.ValidNumber(s) {
		return appendPyString(dst, s)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '.' || c == 'e' || c == 'E' {
			// A valid literal fails to parse only by being out of range,
			// and then f is ±Inf, which Python reads too.
			f, _ := strconv.ParseFloat(s, 64)
			return appendPyFloat(dst, f)
		}
	}
	if s == "-0" {
		return append(dst, '0')
	}
	return append(dst, s...)
}

// appendPyFloat writes f as Python's float repr: the shortest digits that
// read back as f, in fixed notation with at least one decimal when the
// decimal exponent is in -4..15 and as d.ddde±XX otherwise; json.dumps
// writes NaN and the infinities as NaN, Infinity and -Infinity.
func appendPyFloat(dst []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, "NaN"...)
	case math.IsInf(f, 1):
		return append(dst, "Infinity"...)
	case math.IsInf(f, -1):
		return append(dst, "-Infinity"...)
	}
	out, _ := jsonx.AppendFloat(dst, f, 64) // fails only on NaN and infinities
	return out
}
