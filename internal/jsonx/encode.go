package jsonx

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Style selects how values are written.
type Style uint8

const (
	// Compact is chatstore's wire style: no spaces, every non-ASCII character
	// written as UTF-8 except U+2028 and U+2029, which are escaped so the
	// output can be embedded in JavaScript.
	Compact Style = iota
	// Python reproduces Python's json.dumps(v, ensure_ascii=False) byte for
	// byte: ", " and ": " separators and only '"', '\\' and control characters
	// escaped. Haystack uses it for OpenAI tool call arguments, which are a
	// string on the wire, so any other spelling would change the message.
	Python
)

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string. It fails on invalid UTF-8 rather
// than replace bytes, which would silently change the caller's data.
func AppendString(dst []byte, s string, style Style) ([]byte, error) {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		for i < len(s) && plain[s[i]] {
			i++
		}
		if i >= len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return dst, fmt.Errorf("string is not valid UTF-8 (byte 0x%02x at offset %d)", c, i)
		}
		if style == Compact && (r == '\u2028' || r == '\u2029') {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"'), nil
}

// AppendFloat appends f spelled as Python's repr does (1.0, 0.1, 1e+16), so
// that a float written from Go reads back as a float in Python rather than an
// int. NaN and infinities have no JSON spelling and are an error.
func AppendFloat(dst []byte, f float64, bits int) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return dst, fmt.Errorf("%v cannot be written as JSON", f)
	}
	if f == 0 {
		if math.Signbit(f) {
			return append(dst, "-0.0"...), nil
		}
		return append(dst, "0.0"...), nil
	}
	// Python switches to exponent notation outside [1e-4, 1e16).
	abs := math.Abs(f)
	if abs >= 1e-4 && abs < 1e16 {
		start := len(dst)
		dst = strconv.AppendFloat(dst, f, 'f', -1, bits)
		if bytes.IndexByte(dst[start:], '.') < 0 {
			dst = append(dst, '.', '0')
		}
		return dst, nil
	}
	return strconv.AppendFloat(dst, f, 'e', -1, bits), nil
}

// AppendValue appends v, which is typically what Decoder.Value returned or
// what a Go caller put in a message's meta. Maps are written with sorted keys
// so the output is deterministic. Types other than the JSON-shaped ones go
// through encoding/json.
func AppendValue(dst []byte, v any, style Style) ([]byte, error) {
	return appendValue(dst, v, style, 0)
}

func appendValue(dst []byte, v any, style Style, depth int) ([]byte, error) {
	if depth > MaxDepth {
		return dst, fmt.Errorf("value nested deeper than %d levels", MaxDepth)
	}
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case string:
		return AppendString(dst, v, style)
	case bool:
		return strconv.AppendBool(dst, v), nil
	case json.Number:
		if !ValidNumber(string(v)) {
			return dst, fmt.Errorf("json.Number %q is not a valid JSON number", string(v))
		}
		return append(dst, v...), nil
	case float64:
		return AppendFloat(dst, v, 64)
	case float32:
		return AppendFloat(dst, float64(v), 32)
	case int:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(dst, v, 10), nil
	case int32:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case int16:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case int8:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case uint:
		return strconv.AppendUint(dst, uint64(v), 10), nil
	case uint64:
		return strconv.AppendUint(dst, v, 10), nil
	case uint32:
		return strconv.AppendUint(dst, uint64(v), 10), nil
	case uint16:
		return strconv.AppendUint(dst, uint64(v), 10), nil
	case uint8:
		return strconv.AppendUint(dst, uint64(v), 10), nil
	case map[string]any:
		return appendMap(dst, v, style, depth)
	case []any:
		dst = append(dst, '[')
		for i, e := range v {
			if i > 0 {
				dst = appendComma(dst, style)
			}
			var err error
			if dst, err = appendValue(dst, e, style, depth+1); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	case json.RawMessage:
		if !json.Valid(v) {
			return dst, fmt.Errorf("json.RawMessage is not valid JSON")
		}
		return appendForeign(dst, v, style, depth)
	}
	return appendOther(dst, v, style, depth)
}

func appendComma(dst []byte, style Style) []byte {
	if style == Python {
		return append(dst, ',', ' ')
	}
	return append(dst, ',')
}

func appendMap(dst []byte, m map[string]any, style Style, depth int) ([]byte, error) {
	if len(m) == 0 {
		return append(dst, '{', '}'), nil
	}
	var keysBuf [16]string
	keys := keysBuf[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = appendComma(dst, style)
		}
		var err error
		if dst, err = AppendString(dst, k, style); err != nil {
			return dst, fmt.Errorf("key: %w", err)
		}
		dst = append(dst, ':')
		if style == Python {
			dst = append(dst, ' ')
		}
		if dst, err = appendValue(dst, m[k], style, depth+1); err != nil {
			return dst, fmt.Errorf("%q: %w", k, err)
		}
	}
	return append(dst, '}'), nil
}

// appendOther handles values of Go types a caller put into meta, arguments or
// extra: typed maps and slices, structs, json.Marshalers. They are written
// through encoding/json and then re-read, so the output obeys the same rules
// (style, no HTML escaping, exact numbers) as everything else.
func appendOther(dst []byte, v any, style Style, depth int) ([]byte, error) {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer && rv.IsNil() {
		return append(dst, "null"...), nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return dst, fmt.Errorf("value of type %T: %w", v, err)
	}
	return appendForeign(dst, bytes.TrimRight(buf.Bytes(), "\n"), style, depth)
}

func appendForeign(dst []byte, raw []byte, style Style, depth int) ([]byte, error) {
	d := NewDecoder(raw)
	d.depth = depth
	val, err := d.Value()
	if err != nil {
		return dst, err
	}
	return appendValue(dst, val, style, depth)
}
