package chat

// A prototype of the Haystack-format codec on github.com/go-json-experiment/json/jsontext
// (the code behind encoding/json/v2), to measure it against internal/jsonx on
// the message of bench_test.go (issue 15, item 8). It covers what that
// message needs, with the same checks as the real codec: the current message
// format, every part kind (wrapped, eagerly as the real decoder reads them;
// other shapes from a second decoder over the part's bytes), JSON values with
// Python's number limits, and the encoder's output byte for byte. The legacy
// "_role"/"_content" format is left out: the benchmark never reaches it.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/chatstore/chatstore/internal/jsonx"
	"github.com/go-json-experiment/json/jsontext"
)

// jtDecoder reads one document with jsontext. s is a copy of the input as
// a string, so that strings without escapes are substrings of it, as
// jsonx's are; data is the input, which jsontext parses in place.
type jtDecoder struct {
	dec  *jsontext.Decoder
	buf  bytes.Buffer
	data []byte
	s    string
	base int // offset of data in the whole input, for error offsets
}

var jtDecoders = sync.Pool{New: func() any {
	d := &jtDecoder{}
	d.dec = jsontext.NewDecoder(&d.buf)
	return d
}}

func newJTDecoder(data []byte, s string, base int) *jtDecoder {
	d := jtDecoders.Get().(*jtDecoder)
	d.buf = *bytes.NewBuffer(data) // which the decoder parses in place
	d.dec.Reset(&d.buf)
	d.data, d.s, d.base = data, s, base
	return d
}

func (d *jtDecoder) release() {
	d.buf, d.data, d.s = bytes.Buffer{}, nil, ""
	d.dec.Reset(&d.buf)
	jtDecoders.Put(d)
}

func jtUnmarshal(data []byte) (Message, error) {
	// One copy of the input, as jsonx.NewDecoder makes.
	d := newJTDecoder(data, string(data), 0)
	defer d.release()
	m, err := d.message()
	if err != nil {
		return Message{}, err
	}
	if _, err := d.dec.ReadToken(); err != io.EOF {
		if err == nil {
			return Message{}, &Error{Offset: int(d.dec.InputOffset()), Msg: "invalid character after top-level value", Kind: ErrInvalidJSON}
		}
		return Message{}, d.err(err)
	}
	return m, nil
}

// err turns a jsontext error into an *Error, with no path yet (at adds it).
func (d *jtDecoder) err(err error) error {
	var se *jsontext.SyntacticError
	if errors.As(err, &se) {
		return &Error{Offset: d.base + int(se.ByteOffset), Msg: se.Err.Error(), Kind: ErrInvalidJSON}
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return &Error{Offset: d.base + int(d.dec.InputOffset()), Msg: err.Error(), Kind: ErrInvalidJSON}
}

var jtKindNames = [256]string{'n': "null", 'f': "a boolean", 't': "a boolean", '"': "a string", '0': "a number", '{': "an object", '[': "an array"}

// expect is the error for a value of the wrong kind, worded as jsonx's, or
// the syntax error if the next value is not valid JSON.
func (d *jtDecoder) expect(want string) error {
	k := d.dec.PeekKind()
	if jtKindNames[k] == "" {
		_, err := d.dec.ReadValue()
		return d.err(err)
	}
	return &Error{Offset: d.base + int(d.dec.InputOffset()), Msg: "must be " + want + ", got " + jtKindNames[k], Kind: ErrInvalidMessage}
}

func (d *jtDecoder) open(k jsontext.Kind, want string) error {
	if d.dec.PeekKind() != k {
		return d.expect(want)
	}
	if d.dec.StackDepth() >= jsonx.MaxDepth {
		return &Error{Offset: d.base + int(d.dec.InputOffset()), Msg: fmt.Sprintf("nesting deeper than %d levels", jsonx.MaxDepth), Kind: ErrInvalidJSON}
	}
	_, err := d.dec.ReadToken()
	return d.errOrNil(err)
}

func (d *jtDecoder) errOrNil(err error) error {
	if err != nil {
		return d.err(err)
	}
	return nil
}

// more reports whether an object or array has another member, consuming
// the closing delimiter when not.
func (d *jtDecoder) more() (bool, error) {
	switch d.dec.PeekKind() {
	case '}', ']':
		_, err := d.dec.ReadToken()
		return false, d.errOrNil(err)
	case 0:
		_, err := d.dec.ReadToken()
		return false, d.err(err)
	}
	return true, nil
}

// rawString reads a string (a value or a member name) whose kind the
// caller has checked, without copying it when it has no escapes.
func (d *jtDecoder) rawString() (string, error) {
	v, err := d.dec.ReadValue()
	if err != nil {
		return "", d.err(err)
	}
	if bytes.IndexByte(v, '\\') < 0 {
		end := int(d.dec.InputOffset())
		return d.s[end-len(v)+1 : end-1], nil
	}
	b, err := jsontext.AppendUnquote(nil, v)
	return string(b), d.errOrNil(err)
}

func (d *jtDecoder) name() (string, error) { return d.rawString() }

func (d *jtDecoder) str() (string, error) {
	if d.dec.PeekKind() != '"' {
		return "", d.expect("a string")
	}
	return d.rawString()
}

func (d *jtDecoder) strOrNull() (string, bool, error) {
	switch d.dec.PeekKind() {
	case 'n':
		_, err := d.dec.ReadToken()
		return "", false, d.errOrNil(err)
	case '"':
		s, err := d.rawString()
		return s, err == nil, err
	}
	return "", false, d.expect("a string or null")
}

func (d *jtDecoder) boolean() (bool, error) {
	switch d.dec.PeekKind() {
	case 't', 'f':
		t, err := d.dec.ReadToken()
		return err == nil && t.Bool(), d.errOrNil(err)
	}
	return false, d.expect("a boolean")
}

var jtSmallInts = func() (t [1000]any) {
	for i := range t {
		t[i] = json.Number(strconv.Itoa(i))
	}
	return t
}()

// number applies jsonx's limits: Python's integer digit limit, and no
// float beyond float64.
func (d *jtDecoder) number() (any, error) {
	v, err := d.dec.ReadValue()
	if err != nil {
		return nil, d.err(err)
	}
	end := int(d.dec.InputOffset())
	lit := d.s[end-len(v) : end]
	if !strings.ContainsAny(lit, ".eE") {
		if digits := len(strings.TrimPrefix(lit, "-")); digits > jsonx.MaxIntegerDigits {
			return nil, &Error{Offset: d.base + end - len(v), Msg: "integer too long", Kind: ErrInvalidJSON}
		}
		if len(lit) <= 3 && (len(lit) == 1 || lit[0] != '0') && lit[0] != '-' {
			n, _ := strconv.Atoi(lit)
			return jtSmallInts[n], nil
		}
	} else if f, err := strconv.ParseFloat(lit, 64); err != nil && math.IsInf(f, 0) {
		return nil, &Error{Offset: d.base + end - len(v), Msg: "number out of range", Kind: ErrInvalidJSON}
	}
	return json.Number(lit), nil
}

func (d *jtDecoder) value() (any, error) {
	switch d.dec.PeekKind() {
	case '{':
		return d.mapv()
	case '[':
		if err := d.open('[', "an array"); err != nil {
			return nil, err
		}
		arr := []any{}
		for {
			ok, err := d.more()
			if err != nil {
				return nil, err
			}
			if !ok {
				return arr, nil
			}
			v, err := d.value()
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
	case '"':
		return d.rawString()
	case '0':
		return d.number()
	case 't', 'f':
		return d.boolean()
	case 'n':
		_, err := d.dec.ReadToken()
		return nil, d.errOrNil(err)
	}
	return nil, d.expect("a value")
}

// mapv reads an object; jsontext itself refuses a name seen twice.
func (d *jtDecoder) mapv() (map[string]any, error) {
	if err := d.open('{', "an object"); err != nil {
		return nil, err
	}
	m := map[string]any{}
	for {
		ok, err := d.more()
		if err != nil || !ok {
			return m, err
		}
		k, err := d.name()
		if err != nil {
			return nil, err
		}
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		m[k] = v
	}
}

func (d *jtDecoder) mapOrNull() (map[string]any, error) {
	switch d.dec.PeekKind() {
	case 'n':
		_, err := d.dec.ReadToken()
		return nil, d.errOrNil(err)
	case '{':
		return d.mapv()
	}
	return nil, d.expect("an object or null")
}

func (d *jtDecoder) skip() error { return d.errOrNil(d.dec.SkipValue()) }

func (d *jtDecoder) message() (Message, error) {
	if err := d.open('{', "an object"); err != nil {
		return Message{}, err
	}
	var (
		m          Message
		hasRole    bool
		hasContent bool
	)
	for {
		ok, err := d.more()
		if err != nil {
			return Message{}, err
		}
		if !ok {
			break
		}
		k, err := d.name()
		if err != nil {
			return Message{}, err
		}
		switch k {
		case "role":
			hasRole = true
			if d.dec.PeekKind() != '"' {
				return Message{}, at(k, d.expect("a string, one of "+roleList))
			}
			var v string
			if v, err = d.rawString(); err == nil {
				if m.Role = Role(v); !m.Role.Valid() {
					err = invalidf("", "unknown role %q; valid roles are %s", v, roleList)
				}
			}
		case "name":
			var v string
			var ok bool
			if v, ok, err = d.strOrNull(); ok {
				m.Name = &v
			}
		case "meta":
			m.Meta, err = d.mapOrNull()
			m.Meta = nilIfEmpty(m.Meta)
		case "content":
			hasContent = true
			switch d.dec.PeekKind() {
			case '"':
				var s string
				s, err = d.rawString()
				m.Content = []Part{Text{Text: s}}
			case '[':
				m.Content, err = d.partList(false)
			default:
				err = d.expect("a list of content parts or a string")
			}
		case "_role", "_name", "_meta", "_content":
			return Message{}, invalidf(k, "the legacy format is not in the prototype")
		default:
			err = d.skip()
		}
		if err != nil {
			return Message{}, at(k, err)
		}
	}
	switch {
	case !hasRole:
		return Message{}, invalidf("", "missing \"role\"")
	case !hasContent:
		return Message{}, invalidf("", "missing \"content\"")
	}
	return m, nil
}

func (d *jtDecoder) partList(inResult bool) ([]Part, error) {
	if err := d.open('[', "an array"); err != nil {
		return nil, err
	}
	parts := make([]Part, 0, 2)
	for n := 0; ; n++ {
		ok, err := d.more()
		if err != nil {
			return nil, err
		}
		if !ok {
			return parts, nil
		}
		p, err := d.part(inResult)
		if err != nil {
			return nil, atIndex(n, err)
		}
		parts = append(parts, p)
	}
}

// part follows decodePart: the value under a first wrapper key is decoded
// at once; any other shape is decoded again from the part's own bytes.
func (d *jtDecoder) part(inResult bool) (Part, error) {
	if d.dec.PeekKind() != '{' {
		return nil, d.expect("an object")
	}
	start := int(d.dec.InputOffset())
	if err := d.open('{', "an object"); err != nil {
		return nil, err
	}
	var (
		spans     [nPartKeys]span
		others    int
		eagerKind = -1
		eager     Part
		eagerErr  error
	)
	for n := 0; ; n++ {
		ok, err := d.more()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		k, err := d.name()
		if err != nil {
			return nil, err
		}
		i := partKey(k)
		switch {
		case i < 0:
			others++
			err = d.skip()
		case n == 0 && i <= kFile:
			spans[i].set = true
			eagerKind = i
			depth, from := d.dec.StackDepth(), d.dec.InputOffset()
			if eager, eagerErr = d.kind(i); eagerErr != nil {
				var ce *Error
				if errors.As(eagerErr, &ce) && ce.Kind == ErrInvalidJSON {
					return nil, eagerErr
				}
				// A wrong type is only an error if this key decides the
				// part: pass over the rest of the value, as the real
				// decoder skips it.
				err = d.finishValue(depth, from)
			}
		default:
			spans[i].set = true
			err = d.skip()
		}
		if err != nil {
			return nil, err
		}
	}
	end := int(d.dec.InputOffset())
	kind, flat, err := choosePart(&spans, others)
	if err != nil {
		return nil, err
	}
	var p Part
	switch {
	case flat:
		sub := newJTDecoder(d.data[start:end], d.s[start:end], d.base+start)
		p, err = sub.typed(kind)
		sub.release()
	case kind == eagerKind:
		p, err = eager, at(partKeys[kind], eagerErr)
	default:
		p, err = d.reread(start, end, kind)
	}
	if err != nil {
		return nil, err
	}
	if inResult {
		switch p.(type) {
		case Text, Image, File:
		default:
			return nil, invalidf("", "a tool call result list can only hold text, image and file parts, got %s", partName(p))
		}
	}
	return p, nil
}

// finishValue consumes the rest of a value that began at offset from and
// stack depth depth, and whose reading stopped at an error.
func (d *jtDecoder) finishValue(depth int, from int64) error {
	if d.dec.InputOffset() == from {
		return d.skip()
	}
	for d.dec.StackDepth() > depth {
		if _, err := d.dec.ReadToken(); err != nil {
			return d.err(err)
		}
	}
	return nil
}

// reread decodes the value under the wrapper key kind of the part object
// at [start, end).
func (d *jtDecoder) reread(start, end, kind int) (Part, error) {
	sub := newJTDecoder(d.data[start:end], d.s[start:end], d.base+start)
	defer sub.release()
	if err := sub.open('{', "an object"); err != nil {
		return nil, err
	}
	for {
		ok, err := sub.more()
		if err != nil || !ok {
			return nil, err
		}
		k, err := sub.name()
		if err != nil {
			return nil, err
		}
		if k == partKeys[kind] {
			p, err := sub.kind(kind)
			return p, at(k, err)
		}
		if err := sub.skip(); err != nil {
			return nil, err
		}
	}
}

func (d *jtDecoder) kind(kind int) (Part, error) {
	if kind == kText {
		s, err := d.str()
		if err != nil {
			return nil, err
		}
		return Text{Text: s}, nil
	}
	return d.typed(kind)
}

func (d *jtDecoder) typed(kind int) (Part, error) {
	switch kind {
	case kToolCall:
		return d.toolCall()
	case kToolCallResult:
		return d.toolCallResult()
	case kImage:
		return d.image()
	case kReasoning:
		return d.reasoning()
	}
	return d.file()
}

// fields follows chat's fields: known names, each once.
func (d *jtDecoder) fields(names []string, what string, skipUnknown bool, field func(i int) error) (object, error) {
	o := object{names: names}
	if err := d.open('{', "an object"); err != nil {
		return o, err
	}
	for {
		ok, err := d.more()
		if err != nil || !ok {
			return o, err
		}
		k, err := d.name()
		if err != nil {
			return o, err
		}
		i := slices.Index(names, k)
		switch {
		case i < 0 && skipUnknown:
			err = d.skip()
		case i < 0:
			return o, invalidf(k, "unknown key %q in %s", k, what)
		default:
			o.seen |= 1 << i
			err = at(k, field(i))
		}
		if err != nil {
			return o, err
		}
	}
}

func (d *jtDecoder) toolCall() (ToolCall, error) {
	var c ToolCall
	o, err := d.fields(toolCallKeys, "a tool call", false, func(i int) error {
		var err error
		switch i {
		case 0:
			c.ToolName, err = d.str()
		case 1:
			if d.dec.PeekKind() != '{' {
				return d.expect("an object")
			}
			c.Arguments, err = d.mapv()
		case 2:
			var id string
			var ok bool
			if id, ok, err = d.strOrNull(); ok {
				c.ID = &id
			}
		case 3:
			c.Extra, err = d.mapOrNull()
		}
		return err
	})
	if err != nil {
		return ToolCall{}, err
	}
	if !o.has(0) || !o.has(1) {
		return ToolCall{}, invalidf("", "a tool call needs \"tool_name\" and \"arguments\"")
	}
	c.Arguments = nilIfEmpty(c.Arguments)
	return c, nil
}

func (d *jtDecoder) toolCallResult() (ToolCallResult, error) {
	var r ToolCallResult
	o, err := d.fields(toolCallResultKeys, "a tool call result", true, func(i int) error {
		var err error
		switch i {
		case 0:
			switch d.dec.PeekKind() {
			case '"':
				r.Result, err = d.rawString()
			case '[':
				r.Parts, err = d.partList(true)
			default:
				err = d.expect("a string or a list of text, image and file parts")
			}
		case 1:
			r.Origin, err = d.toolCall()
		case 2:
			r.Error, err = d.boolean()
		}
		return err
	})
	if err != nil {
		return ToolCallResult{}, err
	}
	if !o.has(0) || !o.has(1) || !o.has(2) {
		return ToolCallResult{}, invalidf("", "a tool call result needs \"result\", \"origin\" and \"error\"")
	}
	return r, nil
}

func (d *jtDecoder) reasoning() (Reasoning, error) {
	var r Reasoning
	o, err := d.fields(reasoningKeys, "a reasoning part", false, func(i int) error {
		var err error
		if i == 0 {
			r.ReasoningText, err = d.str()
		} else {
			r.Extra, err = d.mapv()
		}
		return err
	})
	if err != nil {
		return Reasoning{}, err
	}
	if !o.has(0) {
		return Reasoning{}, invalidf("", "missing \"reasoning_text\"")
	}
	r.Extra = nilIfEmpty(r.Extra)
	return r, nil
}

func (d *jtDecoder) image() (Image, error) {
	var img Image
	o, err := d.fields(imageKeys, "an image", false, func(i int) error {
		var err error
		switch i {
		case 0:
			img.Base64Image, err = d.str()
		case 1:
			img.MimeType, _, err = d.strOrNull()
		case 2:
			img.Detail, _, err = d.strOrNull()
		case 3:
			img.Meta, err = d.mapv()
		case 4:
			var v bool
			v, err = d.boolean()
			img.SkipValidation = !v
		}
		return err
	})
	if err != nil {
		return Image{}, err
	}
	if !o.has(0) {
		return Image{}, invalidf("", "missing \"base64_image\"")
	}
	img.Meta = nilIfEmpty(img.Meta)
	return img, img.check("")
}

func (d *jtDecoder) file() (File, error) {
	var f File
	o, err := d.fields(fileKeys, "a file", false, func(i int) error {
		var err error
		switch i {
		case 0:
			f.Base64Data, err = d.str()
		case 1:
			f.MimeType, _, err = d.strOrNull()
		case 2:
			f.Filename, _, err = d.strOrNull()
		case 3:
			f.Extra, err = d.mapv()
		case 4:
			var v bool
			v, err = d.boolean()
			f.SkipValidation = !v
		}
		return err
	})
	if err != nil {
		return File{}, err
	}
	if !o.has(0) {
		return File{}, invalidf("", "missing \"base64_data\"")
	}
	f.Extra = nilIfEmpty(f.Extra)
	return f, f.check("")
}

// The encoder: jsontext.Encoder appending to the caller's slice through a
// bytes.Buffer, escaping U+2028 and U+2029 as jsonx.Compact does. Names are
// not tracked for duplicates: the codec writes each once, and map keys are
// unique.
type jtEncoder struct {
	enc *jsontext.Encoder
	buf bytes.Buffer
}

var (
	jtEncoders = sync.Pool{New: func() any {
		e := &jtEncoder{}
		e.enc = jsontext.NewEncoder(&e.buf)
		return e
	}}
	jtEncOpts = []jsontext.Options{jsontext.EscapeForJS(true), jsontext.AllowDuplicateNames(true)}
)

func jtAppendJSON(dst []byte, m Message) ([]byte, error) {
	e := jtEncoders.Get().(*jtEncoder)
	e.buf = *bytes.NewBuffer(dst)
	e.enc.Reset(&e.buf, jtEncOpts...)
	err := e.message(m)
	// The encoder ends a top-level value with a newline, for streams.
	out := bytes.TrimSuffix(e.buf.Bytes(), []byte("\n"))
	e.buf = bytes.Buffer{}
	e.enc.Reset(&e.buf)
	jtEncoders.Put(e)
	if err != nil {
		return dst, err
	}
	return out, nil
}

func (e *jtEncoder) tok(t jsontext.Token) error { return e.enc.WriteToken(t) }

func (e *jtEncoder) str(s string) error {
	if err := e.enc.WriteToken(jsontext.String(s)); err != nil {
		return invalidf("", "%v", err)
	}
	return nil
}

func (e *jtEncoder) optStr(s string) error {
	if s == "" {
		return e.tok(jsontext.Null)
	}
	return e.str(s)
}

func (e *jtEncoder) object(m map[string]any) error {
	if len(m) == 0 {
		e.tok(jsontext.BeginObject)
		return e.tok(jsontext.EndObject)
	}
	return e.value(m, 0)
}

func (e *jtEncoder) value(v any, depth int) error {
	if depth > jsonx.MaxDepth {
		return invalidf("", "value nested deeper than %d levels", jsonx.MaxDepth)
	}
	switch v := v.(type) {
	case nil:
		return e.tok(jsontext.Null)
	case string:
		return e.str(v)
	case bool:
		return e.tok(jsontext.Bool(v))
	case json.Number:
		// AvailableBuffer spares the []byte conversion's allocation.
		if err := e.enc.WriteValue(append(e.enc.AvailableBuffer(), v...)); err != nil {
			return invalidf("", "json.Number %q is not a valid JSON number", string(v))
		}
		return nil
	case float64:
		b, err := jsonx.AppendFloat(e.enc.AvailableBuffer(), v, 64)
		if err != nil {
			return invalidf("", "%v", err)
		}
		return e.enc.WriteValue(b)
	case int:
		return e.tok(jsontext.Int(int64(v)))
	case int64:
		return e.tok(jsontext.Int(v))
	case map[string]any:
		var keysBuf [16]string
		keys := keysBuf[:0]
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		e.tok(jsontext.BeginObject)
		for _, k := range keys {
			if err := e.str(k); err != nil {
				return err
			}
			if err := e.value(v[k], depth+1); err != nil {
				return at(strconv.Quote(k), err)
			}
		}
		return e.tok(jsontext.EndObject)
	case []any:
		e.tok(jsontext.BeginArray)
		for _, x := range v {
			if err := e.value(x, depth+1); err != nil {
				return err
			}
		}
		return e.tok(jsontext.EndArray)
	}
	return invalidf("", "values of type %T are not in the prototype", v)
}

func (e *jtEncoder) message(m Message) error {
	if !m.Role.Valid() {
		return invalidf("role", "unknown role %q", string(m.Role))
	}
	e.tok(jsontext.BeginObject)
	e.tok(jsontext.String("role"))
	e.tok(jsontext.String(string(m.Role)))
	e.tok(jsontext.String("meta"))
	if err := e.object(m.Meta); err != nil {
		return at("meta", err)
	}
	e.tok(jsontext.String("name"))
	if m.Name == nil {
		e.tok(jsontext.Null)
	} else if err := e.str(*m.Name); err != nil {
		return at("name", err)
	}
	e.tok(jsontext.String("content"))
	if err := e.parts(m.Content, false); err != nil {
		return at("content", err)
	}
	return e.tok(jsontext.EndObject)
}

func (e *jtEncoder) parts(parts []Part, inResult bool) error {
	e.tok(jsontext.BeginArray)
	for i, p := range parts {
		if err := e.part(p, inResult); err != nil {
			return atIndex(i, err)
		}
	}
	return e.tok(jsontext.EndArray)
}

func (e *jtEncoder) part(p Part, inResult bool) error {
	e.tok(jsontext.BeginObject)
	var err error
	switch p := p.(type) {
	case Text:
		e.tok(jsontext.String("text"))
		err = at("text", e.str(p.Text))
	case Image:
		e.tok(jsontext.String("image"))
		err = at("image", e.image(p))
	case File:
		e.tok(jsontext.String("file"))
		err = at("file", e.file(p))
	default:
		if inResult {
			return invalidf("", "a tool call result list can only hold text, image and file parts, got %s", partName(p))
		}
		switch p := p.(type) {
		case ToolCall:
			e.tok(jsontext.String("tool_call"))
			err = at("tool_call", e.toolCall(p))
		case ToolCallResult:
			e.tok(jsontext.String("tool_call_result"))
			err = at("tool_call_result", e.toolCallResult(p))
		case Reasoning:
			e.tok(jsontext.String("reasoning"))
			e.tok(jsontext.BeginObject)
			e.tok(jsontext.String("reasoning_text"))
			if err = e.str(p.ReasoningText); err != nil {
				return at("reasoning.reasoning_text", err)
			}
			e.tok(jsontext.String("extra"))
			if err = e.object(p.Extra); err != nil {
				return at("reasoning.extra", err)
			}
			err = e.tok(jsontext.EndObject)
		default:
			return invalidf("", "%s is not a content part", partName(p))
		}
	}
	if err != nil {
		return err
	}
	return e.tok(jsontext.EndObject)
}

func (e *jtEncoder) toolCall(c ToolCall) error {
	e.tok(jsontext.BeginObject)
	e.tok(jsontext.String("tool_name"))
	if err := e.str(c.ToolName); err != nil {
		return at("tool_name", err)
	}
	e.tok(jsontext.String("arguments"))
	if err := e.object(c.Arguments); err != nil {
		return at("arguments", err)
	}
	e.tok(jsontext.String("id"))
	if c.ID == nil {
		e.tok(jsontext.Null)
	} else if err := e.str(*c.ID); err != nil {
		return at("id", err)
	}
	e.tok(jsontext.String("extra"))
	if c.Extra == nil {
		e.tok(jsontext.Null)
	} else if err := e.object(c.Extra); err != nil {
		return at("extra", err)
	}
	return e.tok(jsontext.EndObject)
}

func (e *jtEncoder) toolCallResult(r ToolCallResult) error {
	e.tok(jsontext.BeginObject)
	e.tok(jsontext.String("result"))
	var err error
	if r.Parts != nil {
		err = e.parts(r.Parts, true)
	} else {
		err = e.str(r.Result)
	}
	if err != nil {
		return at("result", err)
	}
	e.tok(jsontext.String("origin"))
	if err := e.toolCall(r.Origin); err != nil {
		return at("origin", err)
	}
	e.tok(jsontext.String("error"))
	e.tok(jsontext.Bool(r.Error))
	return e.tok(jsontext.EndObject)
}

func (e *jtEncoder) image(img Image) error {
	switch img.Detail {
	case "", "auto", "high", "low":
	default:
		return invalidf("detail", "unknown detail %q", img.Detail)
	}
	e.tok(jsontext.BeginObject)
	e.tok(jsontext.String("base64_image"))
	if err := e.str(img.Base64Image); err != nil {
		return at("base64_image", err)
	}
	e.tok(jsontext.String("mime_type"))
	if err := e.optStr(img.MimeType); err != nil {
		return at("mime_type", err)
	}
	e.tok(jsontext.String("detail"))
	e.optStr(img.Detail)
	e.tok(jsontext.String("meta"))
	if err := e.object(img.Meta); err != nil {
		return at("meta", err)
	}
	e.tok(jsontext.String("validation"))
	e.tok(jsontext.Bool(!img.SkipValidation))
	return e.tok(jsontext.EndObject)
}

func (e *jtEncoder) file(f File) error {
	e.tok(jsontext.BeginObject)
	e.tok(jsontext.String("base64_data"))
	if err := e.str(f.Base64Data); err != nil {
		return at("base64_data", err)
	}
	e.tok(jsontext.String("mime_type"))
	if err := e.optStr(f.MimeType); err != nil {
		return at("mime_type", err)
	}
	e.tok(jsontext.String("filename"))
	if err := e.optStr(f.Filename); err != nil {
		return at("filename", err)
	}
	e.tok(jsontext.String("extra"))
	if err := e.object(f.Extra); err != nil {
		return at("extra", err)
	}
	e.tok(jsontext.String("validation"))
	e.tok(jsontext.Bool(!f.SkipValidation))
	return e.tok(jsontext.EndObject)
}

// jtBenchMessage is bench_test.go's benchMessage (that file is package
// chat_test, out of reach here).
func jtBenchMessage() Message {
	return Message{
		Role: RoleAssistant,
		Meta: map[string]any{
			"model":         "gpt-4o-mini-2024-07-18",
			"index":         json.Number("0"),
			"finish_reason": "tool_calls",
			"usage":         map[string]any{"prompt_tokens": json.Number("412"), "completion_tokens": json.Number("37"), "total_tokens": json.Number("449")},
		},
		Content: []Part{
			Text{Text: "Let me look up the current weather in Berlin for you, and I will also check tomorrow's forecast."},
			ToolCall{
				ToolName:  "get_weather",
				Arguments: map[string]any{"location": "Berlin, DE", "unit": "celsius", "days": json.Number("2")},
				ID:        Ptr("call_Qx7mZk2vB9sT4wLpR8nYc3Ad"),
			},
		},
	}
}

// TestJSONTextPrototype: the prototype does the real codec's work on the
// benchmark's message and on the fixtures both can read, and is as strict.
func TestJSONTextPrototype(t *testing.T) {
	msgs := []Message{jtBenchMessage(),
		{Role: RoleTool, Content: []Part{ToolCallResult{Result: "ok \u2028", Origin: ToolCall{ToolName: "f", Extra: map[string]any{"x": []any{1.5, "\x01<&>"}}}}}},
		{Role: RoleUser, Content: []Part{Reasoning{ReasoningText: "r"}, File{Base64Data: "aGk=", MimeType: "text/plain"}}},
	}
	for _, m := range msgs {
		want, err := m.AppendJSON(nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := jtAppendJSON(nil, m)
		if err != nil || string(got) != string(want) {
			t.Errorf("encode:\n got %s %v\nwant %s", got, err, want)
		}
		wantM, err := Unmarshal(want)
		if err != nil {
			t.Fatal(err)
		}
		gotM, err := jtUnmarshal(want)
		if err != nil || !reflect.DeepEqual(gotM, wantM) {
			t.Errorf("decode %s:\n got %#v %v\nwant %#v", want, gotM, err, wantM)
		}
	}
	for _, in := range []string{
		`{"role":"user","content":"a","role":"user"}`,
		`{"role":"user","content":"a","x":{"k":1,"k":2}}`,
		"{\"role\":\"user\",\"content\":\"\xff\"}",
		`{"role":"user","content":[{"tool_name":"f","arguments":{},"id":null,"extra":null}]}`,
		`{"role":"user","content":[{"text":"a","b":1}]}`,
		`{"role":"user","content":[{"text":1}]}`,
		`{"role":"user","content":[{"text":"a"}]} x`,
		`{"role":"user","content":[{"text":"a"}]`,
		`{"role":"user","meta":{"n":1e400},"content":[]}`,
	} {
		_, wantErr := Unmarshal([]byte(in))
		m, gotErr := jtUnmarshal([]byte(in))
		if (wantErr == nil) != (gotErr == nil) || !errors.Is(gotErr, errKind(wantErr)) {
			t.Errorf("%s: prototype %v %v, real codec %v", in, m, gotErr, wantErr)
		}
	}
}

func errKind(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return err
}

// BenchmarkJSONCodec runs the real codec (impl=jsonx) and the prototype
// (impl=jsontext) side by side; compare with benchstat -col /impl.
func BenchmarkJSONCodec(b *testing.B) {
	m := jtBenchMessage()
	data, err := m.MarshalJSON()
	if err != nil {
		b.Fatal(err)
	}
	decoders := []struct {
		name string
		f    func([]byte) (Message, error)
	}{{"jsonx", Unmarshal}, {"jsontext", jtUnmarshal}}
	encoders := []struct {
		name string
		f    func([]byte, Message) ([]byte, error)
	}{{"jsonx", func(dst []byte, m Message) ([]byte, error) { return m.AppendJSON(dst) }}, {"jsontext", jtAppendJSON}}
	for _, d := range decoders {
		b.Run("op=decode/impl="+d.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := d.f(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	for _, e := range encoders {
		b.Run("op=encode/impl="+e.name, func(b *testing.B) {
			buf := make([]byte, 0, 2*len(data))
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if buf, err = e.f(buf[:0], m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
