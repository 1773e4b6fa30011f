// Package jsonx is the strict, allocation-light JSON reader and writer behind
// chatstore's wire formats.
//
// encoding/json is not used on the hot paths for three reasons: it is several
// times slower for the small, many-keyed objects chat messages are made of; it
// silently accepts duplicate keys and invalid UTF-8 (replacing bytes with
// U+FFFD), both of which would let a request mean one thing to us and another
// to the Python side; and its errors do not say where in a message the problem
// is. The reader here is a pull parser: callers walk objects and arrays
// themselves, so decoding a known shape allocates only the values it keeps.
//
// go-json-experiment/json's jsontext (encoding/json/v2's) has the strictness
// but not the speed: a codec for chat messages on it decoded 1.6× and encoded
// 1.9× slower than this one (docs/BENCHMARKS.md, "JSON codec: jsonx vs
// jsontext").
package jsonx

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// MaxDepth bounds the nesting of arrays and objects. Python's json module,
// which Haystack uses, fails near 1,000 levels (its recursion limit), so no
// document Haystack can write is refused, while hostile input cannot exhaust
// the stack.
const MaxDepth = 1000

// SyntaxError reports malformed JSON and the byte offset where it was found.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("%s (at byte %d)", e.Msg, e.Offset)
}

// Decoder reads one JSON document.
//
// It works on a string: strings and object keys without escapes come back as
// substrings of the input rather than fresh copies, which halves the
// allocations of a typical decode. The flip side is that anything decoded
// keeps the whole input alive, so callers decoding many independent values
// from one large buffer should give each its own copy (see chat.UnmarshalList).
type Decoder struct {
	data    string
	pos     int
	depth   int
	scratch []byte
	ignored bool // a value was passed over unread: see Ignore
}

// Ignore records that the caller passed over a value without reading it
// (Discard does so itself), so that the caller knows to check the document
// once more for what only a reader of that value would have seen: a
// duplicate key (TakeIgnored).
func (d *Decoder) Ignore() { d.ignored = true }

// TakeIgnored reports whether a value was ignored since the last call.
func (d *Decoder) TakeIgnored() bool {
	was := d.ignored
	d.ignored = false
	return was
}

// NewDecoder returns a decoder over a copy of data.
func NewDecoder(data []byte) *Decoder {
	return &Decoder{data: string(data)}
}

// NewDecoderString returns a decoder over s.
func NewDecoderString(s string) *Decoder {
	return &Decoder{data: s}
}

// NewDecoderBytes returns a decoder over data itself, not a copy, for
// reading a little of a large buffer without first copying all of it (a
// message's meta, in front of its content). data must not change while the
// decoder, or anything it returned, is in use.
func NewDecoderBytes(data []byte) *Decoder {
	return &Decoder{data: unsafe.String(unsafe.SliceData(data), len(data))}
}

// Offset is the position of the next unread byte.
func (d *Decoder) Offset() int { return d.pos }

// Seek moves the decoder to an offset previously returned by Offset, at the
// same nesting depth.
func (d *Decoder) Seek(off int) { d.pos = off }

// Depth is the current nesting depth.
func (d *Decoder) Depth() int { return d.depth }

// SetDepth restores a depth recorded together with an offset for Seek.
func (d *Decoder) SetDepth(n int) { d.depth = n }

func (d *Decoder) errorf(format string, args ...any) error {
	return &SyntaxError{Offset: d.pos, Msg: fmt.Sprintf(format, args...)}
}

func (d *Decoder) skipSpace() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// Kind names the JSON type of the next value.
type Kind byte

const (
	Invalid Kind = iota
	Null
	Bool
	Number
	String
	Array
	Object
	End // no more input
)

func (k Kind) String() string {
	switch k {
	case Null:
		return "null"
	case Bool:
		return "a boolean"
	case Number:
		return "a number"
	case String:
		return "a string"
	case Array:
		return "an array"
	case Object:
		return "an object"
	case End:
		return "the end of input"
	}
	return "an invalid value"
}

// Peek reports the kind of the next value without consuming it.
func (d *Decoder) Peek() Kind {
	d.skipSpace()
	if d.pos >= len(d.data) {
		return End
	}
	switch c := d.data[d.pos]; {
	case c == '{':
		return Object
	case c == '[':
		return Array
	case c == '"':
		return String
	case c == 't' || c == 'f':
		return Bool
	case c == 'n':
		return Null
	case c == '-' || (c >= '0' && c <= '9'):
		return Number
	}
	return Invalid
}

// TypeError is returned when a value is well-formed JSON of the wrong type.
type TypeError struct {
	Offset int
	Want   string
	Got    Kind
}

func (e *TypeError) Error() string {
	return fmt.Sprintf("must be %s, got %s", e.Want, e.Got)
}

// Expect returns an error describing the next value as not being want. If the
// next value is not even valid JSON, the syntax error is returned instead.
func (d *Decoder) Expect(want string) error {
	k := d.Peek()
	if k == Invalid {
		return d.errorf("invalid character %s looking for a value", quoteByte(d.data[d.pos]))
	}
	if k == End {
		return d.errorf("unexpected end of input")
	}
	return &TypeError{Offset: d.pos, Want: want, Got: k}
}

func quoteByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return strconv.QuoteRune(rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

// OpenObject consumes '{'. Walk the members with NextKey.
func (d *Decoder) OpenObject() error {
	if d.Peek() != Object {
		return d.Expect("an object")
	}
	return d.open()
}

// OpenArray consumes '['. Walk the elements with NextElem.
func (d *Decoder) OpenArray() error {
	if d.Peek() != Array {
		return d.Expect("an array")
	}
	return d.open()
}

func (d *Decoder) open() error {
	if d.depth >= MaxDepth {
		return d.errorf("nesting deeper than %d levels", MaxDepth)
	}
	d.depth++
	d.pos++
	return nil
}

// NextKey reads the next member name of an object opened by OpenObject, and
// the colon after it; the caller must then consume the value. n is the number
// of members read so far. ok is false at the closing brace, which is consumed.
func (d *Decoder) NextKey(n int) (key string, ok bool, err error) {
	d.skipSpace()
	if d.pos >= len(d.data) {
		return "", false, d.errorf("unexpected end of input in object")
	}
	if d.data[d.pos] == '}' {
		d.pos++
		d.depth--
		return "", false, nil
	}
	if n > 0 {
		if d.data[d.pos] != ',' {
			return "", false, d.errorf("invalid character %s after object member, want ',' or '}'", quoteByte(d.data[d.pos]))
		}
		d.pos++
		d.skipSpace()
	}
	if d.pos >= len(d.data) || d.data[d.pos] != '"' {
		if d.pos >= len(d.data) {
			return "", false, d.errorf("unexpected end of input in object")
		}
		return "", false, d.errorf("invalid character %s looking for an object key", quoteByte(d.data[d.pos]))
	}
	key, err = d.str()
	if err != nil {
		return "", false, err
	}
	d.skipSpace()
	if d.pos >= len(d.data) || d.data[d.pos] != ':' {
		return "", false, d.errorf("missing ':' after object key")
	}
	d.pos++
	return key, true, nil
}

// NextElem positions the decoder at the next element of an array opened by
// OpenArray. n is the number of elements read so far. ok is false at the
// closing bracket, which is consumed.
func (d *Decoder) NextElem(n int) (ok bool, err error) {
	d.skipSpace()
	if d.pos >= len(d.data) {
		return false, d.errorf("unexpected end of input in array")
	}
	if d.data[d.pos] == ']' {
		d.pos++
		d.depth--
		return false, nil
	}
	if n > 0 {
		if d.data[d.pos] != ',' {
			return false, d.errorf("invalid character %s after array element, want ',' or ']'", quoteByte(d.data[d.pos]))
		}
		d.pos++
	}
	return true, nil
}

// Null consumes a null if one is next and reports whether it did.
func (d *Decoder) Null() (bool, error) {
	if d.Peek() != Null {
		return false, nil
	}
	if err := d.literal("null"); err != nil {
		return false, err
	}
	return true, nil
}

func (d *Decoder) literal(lit string) error {
	if len(d.data)-d.pos < len(lit) || d.data[d.pos:d.pos+len(lit)] != lit {
		return d.errorf("invalid literal, want %s", lit)
	}
	d.pos += len(lit)
	return nil
}

// Bool reads a boolean.
func (d *Decoder) Bool() (bool, error) {
	if d.Peek() != Bool {
		return false, d.Expect("a boolean")
	}
	if d.data[d.pos] == 't' {
		return true, d.literal("true")
	}
	return false, d.literal("false")
}

// String reads a string value.
func (d *Decoder) String() (string, error) {
	if d.Peek() != String {
		return "", d.Expect("a string")
	}
	return d.str()
}

// StringOrNull reads a string, or a null as ok=false.
func (d *Decoder) StringOrNull() (s string, ok bool, err error) {
	switch d.Peek() {
	case Null:
		_, err = d.Null()
		return "", false, err
	case String:
		s, err = d.String()
		return s, err == nil, err
	}
	return "", false, d.Expect("a string or null")
}

// str reads a quoted string at d.pos. Without escapes the result is a
// substring of the input.
func (d *Decoder) str() (string, error) {
	start := d.pos + 1
	i := start
	for i < len(d.data) {
		// Most bytes of most strings need no attention; skip them in a
		// tight loop.
		for i < len(d.data) && plain[d.data[i]] {
			i++
		}
		if i >= len(d.data) {
			break
		}
		c := d.data[i]
		switch {
		case c == '"':
			d.pos = i + 1
			return d.data[start:i], nil
		case c == '\\':
			return d.escapedString(start, i)
		case c < 0x20:
			d.pos = i
			return "", d.errorf("invalid control character %s in string", quoteByte(c))
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRuneInString(d.data[i:])
			if r == utf8.RuneError && size == 1 {
				d.pos = i
				return "", d.errorf("invalid UTF-8 in string")
			}
			i += size
		}
	}
	d.pos = len(d.data)
	return "", d.errorf("unexpected end of input in string")
}

func (d *Decoder) escapedString(start, i int) (string, error) {
	buf := append(d.scratch[:0], d.data[start:i]...)
	for i < len(d.data) {
		c := d.data[i]
		switch {
		case c == '"':
			d.pos = i + 1
			d.scratch = buf
			return string(buf), nil
		case c == '\\':
			if i+1 >= len(d.data) {
				d.pos = i
				return "", d.errorf("unexpected end of input in string escape")
			}
			switch e := d.data[i+1]; e {
			case '"', '\\', '/':
				buf = append(buf, e)
				i += 2
			case 'b':
				buf = append(buf, '\b')
				i += 2
			case 'f':
				buf = append(buf, '\f')
				i += 2
			case 'n':
				buf = append(buf, '\n')
				i += 2
			case 'r':
				buf = append(buf, '\r')
				i += 2
			case 't':
				buf = append(buf, '\t')
				i += 2
			case 'u':
				r, n, err := d.unicodeEscape(i)
				if err != nil {
					return "", err
				}
				buf = utf8.AppendRune(buf, r)
				i += n
			default:
				d.pos = i
				return "", d.errorf("invalid escape %s in string", quoteByte(e))
			}
		case c < 0x20:
			d.pos = i
			return "", d.errorf("invalid control character %s in string", quoteByte(c))
		case c < utf8.RuneSelf:
			buf = append(buf, c)
			i++
		default:
			r, size := utf8.DecodeRuneInString(d.data[i:])
			if r == utf8.RuneError && size == 1 {
				d.pos = i
				return "", d.errorf("invalid UTF-8 in string")
			}
			buf = append(buf, d.data[i:i+size]...)
			i += size
		}
	}
	d.pos = len(d.data)
	return "", d.errorf("unexpected end of input in string")
}

// plain marks the bytes a string can hold as they are: printable ASCII
// other than '"' and '\\'.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// unicodeEscape decodes \uXXXX (and a following low surrogate) at i. A lone
// surrogate is refused: Go strings cannot hold one, and replacing it would
// change the text.
func (d *Decoder) unicodeEscape(i int) (rune, int, error) {
	r, ok := hex4(d.data, i+2)
	if !ok {
		d.pos = i
		return 0, 0, d.errorf("invalid \\u escape in string")
	}
	if !utf16.IsSurrogate(r) {
		return r, 6, nil
	}
	if r < 0xdc00 && i+12 <= len(d.data) && d.data[i+6] == '\\' && d.data[i+7] == 'u' {
		if r2, ok := hex4(d.data, i+8); ok && r2 >= 0xdc00 && r2 <= 0xdfff {
			return utf16.DecodeRune(r, r2), 12, nil
		}
	}
	d.pos = i
	return 0, 0, d.errorf("lone UTF-16 surrogate \\u%04x in string", r)
}

func hex4(b string, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(b[i : i+4]) {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// Number reads a number and returns its literal text, which keeps its exact
// value and spelling (2^70 and 1.0 survive unchanged).
func (d *Decoder) Number() (json.Number, error) {
	if d.Peek() != Number {
		return "", d.Expect("a number")
	}
	start := d.pos
	end, ok := scanNumber(d.data, start)
	if !ok {
		d.pos = end
		return "", d.errorf("invalid number")
	}
	d.pos = end
	lit := d.data[start:end]
	if !isInteger(lit) {
		// Python's json reads a number with a fraction or an exponent as a
		// float: 1e400 would be infinity there, and json.dumps would write
		// it back as Infinity, which is not JSON.
		if f, err := strconv.ParseFloat(lit, 64); err != nil && math.IsInf(f, 0) {
			d.pos = start
			return "", d.errorf("number %s is out of range: it is beyond a 64-bit float, and Python would read it as infinity", truncateLit(lit))
		}
	} else if digits := len(strings.TrimPrefix(lit, "-")); digits > MaxIntegerDigits {
		// Python's integers are exact at any size, but since 3.11 its
		// json (so Haystack) refuses to read one of more digits than
		// this, and with it the whole history.
		d.pos = start
		return "", d.errorf("integer %s has %d digits; Python reads at most %d (sys.int_info.default_max_str_digits)", truncateLit(lit), digits, MaxIntegerDigits)
	}
	return json.Number(lit), nil
}

// MaxIntegerDigits is the most digits an integer may have: Python's
// default limit on converting a string to an int.
const MaxIntegerDigits = 4300

func isInteger(lit string) bool {
	for i := range len(lit) {
		if c := lit[i]; c == '.' || c == 'e' || c == 'E' {
			return false
		}
	}
	return true
}

func truncateLit(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// scanNumber returns the end of the RFC 8259 number at i.
func scanNumber(b string, i int) (int, bool) {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return i, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		s := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == s {
			return i, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		s := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == s {
			return i, false
		}
	}
	return i, true
}

// ValidNumber reports whether s is a JSON number literal.
func ValidNumber(s string) bool {
	end, ok := scanNumber(s, 0)
	return ok && end == len(s)
}

// Skip consumes the next value whatever it is, checking its syntax only:
// for finding where a value ends when it is read again later (duplicate
// keys are then found by the reader, which can say where). A value that is
// dropped for good is consumed with Discard.
func (d *Decoder) Skip() error { return d.skip(false) }

// Discard consumes a value that nobody will read (a member the format
// ignores), checking it as a reader would: valid, and no key twice in any
// object. Input that any reader would refuse is refused even where it is
// ignored.
func (d *Decoder) Discard() error {
	d.ignored = true
	return d.skip(true)
}

func (d *Decoder) skip(dupes bool) error {
	switch d.Peek() {
	case Object:
		if err := d.open(); err != nil {
			return err
		}
		// Most objects have a few keys: look through them rather than
		// build a set, which would allocate for every object discarded.
		var small [8]string
		keys := small[:0]
		var many map[string]bool
		for n := 0; ; n++ {
			key, ok, err := d.NextKey(n)
			if err != nil {
				return err
			}
			if !ok {
				return nil
			}
			switch {
			case !dupes:
			case many != nil:
				if many[key] {
					return d.DuplicateKey(key)
				}
				many[key] = true
			case slices.Contains(keys, key):
				return d.DuplicateKey(key)
			case len(keys) < 16:
				keys = append(keys, key)
			default:
				many = make(map[string]bool, 2*len(keys))
				for _, k := range keys {
					many[k] = true
				}
				many[key] = true
			}
			if err := d.skip(dupes); err != nil {
				return err
			}
		}
	case Array:
		if err := d.open(); err != nil {
			return err
		}
		for n := 0; ; n++ {
			ok, err := d.NextElem(n)
			if err != nil {
				return err
			}
			if !ok {
				return nil
			}
			if err := d.skip(dupes); err != nil {
				return err
			}
		}
	case String:
		_, err := d.str()
		return err
	case Number:
		_, err := d.Number()
		return err
	case Bool:
		_, err := d.Bool()
		return err
	case Null:
		_, err := d.Null()
		return err
	}
	return d.Expect("a value")
}

// Value reads any value as Go data: map[string]any, []any, string,
// json.Number, bool or nil. Duplicate object keys are an error.
func (d *Decoder) Value() (any, error) {
	switch d.Peek() {
	case Object:
		return d.Map()
	case Array:
		if err := d.open(); err != nil {
			return nil, err
		}
		arr := []any{}
		for n := 0; ; n++ {
			ok, err := d.NextElem(n)
			if err != nil {
				return nil, err
			}
			if !ok {
				return arr, nil
			}
			v, err := d.Value()
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
	case String:
		return d.String()
	case Number:
		n, err := d.Number()
		if err == nil && len(n) <= 3 {
			if v := smallInt(n); v != nil {
				return v, nil
			}
		}
		return n, err
	case Bool:
		return d.Bool()
	case Null:
		_, err := d.Null()
		return nil, err
	}
	return nil, d.Expect("a value")
}

// smallInts holds json.Number("0") to json.Number("999") already boxed in an
// interface. Putting a string into an interface allocates, and small integers
// (indexes, token counts, flags) are most of the numbers in LLM metadata.
var smallInts = func() (t [1000]any) {
	for i := range t {
		t[i] = json.Number(strconv.Itoa(i))
	}
	return t
}()

// smallInt returns the interned value for a canonical integer literal below
// 1000 ("7", not "07" or "7.0"), or nil.
func smallInt(n json.Number) any {
	v := 0
	for i := 0; i < len(n); i++ {
		c := n[i]
		if c < '0' || c > '9' || (i == 0 && c == '0' && len(n) > 1) {
			return nil
		}
		v = v*10 + int(c-'0')
	}
	return smallInts[v]
}

// Map reads an object as a map. Duplicate keys are an error: parsers disagree
// on which one wins, so accepting them would let one document mean two things.
func (d *Decoder) Map() (map[string]any, error) {
	if err := d.OpenObject(); err != nil {
		return nil, err
	}
	m := map[string]any{}
	for n := 0; ; n++ {
		keyStart := d.pos
		key, ok, err := d.NextKey(n)
		if err != nil {
			return nil, err
		}
		if !ok {
			return m, nil
		}
		v, err := d.Value()
		if err != nil {
			return nil, err
		}
		// A key seen before leaves the length unchanged; checking that
		// costs one hash operation per key instead of two.
		before := len(m)
		if m[key] = v; len(m) == before {
			return nil, &SyntaxError{Offset: keyStart, Msg: fmt.Sprintf("duplicate key %q in object", key)}
		}
	}
}

// MapOrNull reads an object, or null as a nil map.
func (d *Decoder) MapOrNull() (map[string]any, error) {
	if null, err := d.Null(); null || err != nil {
		return nil, err
	}
	if d.Peek() != Object {
		return nil, d.Expect("an object or null")
	}
	return d.Map()
}

// Finish checks that only whitespace follows the document.
func (d *Decoder) Finish() error {
	d.skipSpace()
	if d.pos < len(d.data) {
		return d.errorf("invalid character %s after top-level value", quoteByte(d.data[d.pos]))
	}
	return nil
}

// DuplicateKey returns the error for a member name seen twice in an object
// whose keys the caller tracks itself.
func (d *Decoder) DuplicateKey(key string) error {
	return d.errorf("duplicate key %q in object", key)
}
