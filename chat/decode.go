package chat

import (
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/chatstore/chatstore/internal/jsonx"
)

// Unmarshal decodes one message from JSON in any format Haystack's
// ChatMessage.from_dict accepts:
//
//   - the current format: {"role", "meta", "name", "content": [parts]};
//   - the format of Haystack 2.9 to 2.11: {"_role", "_content", "_name", "_meta"};
//   - the format before 2.9, where "content" is a plain string;
//
// and content parts either wrapped ({"tool_call": {...}}) or flat, as
// pydantic's model_dump writes them ({"tool_name": ..., "arguments": ...}).
//
// Unlike Haystack it rejects values of the wrong type (meta that is not an
// object, a name that is not a string, arguments that are not an object),
// duplicate keys, and strings that are not valid UTF-8. Every error is an
// *Error wrapping ErrInvalidJSON or ErrInvalidMessage.
func Unmarshal(data []byte) (Message, error) {
	d := jsonx.NewDecoder(data)
	m, err := decodeMessage(d)
	if err != nil {
		return Message{}, err
	}
	if err := d.Finish(); err != nil {
		return Message{}, decodeErr("", err)
	}
	if err := recheck(d, 0); err != nil {
		return Message{}, err
	}
	return m, nil
}

// recheck reads the value at from again with jsonx.Decoder.Discard when
// decoding ignored part of it: a member the format does not know, or one a
// sibling overrides, is passed over, and a duplicate key inside one, or one
// repeated, would go unseen. Haystack's Python would read such a document,
// but two JSON parsers can disagree on which of two keys wins, so it is
// refused everywhere. Messages with nothing ignored, nearly all, are read
// once.
func recheck(d *jsonx.Decoder, from int) error {
	if !d.TakeIgnored() {
		return nil
	}
	end, depth := d.Offset(), d.Depth()
	d.Seek(from)
	err := d.Discard()
	d.TakeIgnored()
	d.Seek(end)
	d.SetDepth(depth)
	return decodeErr("", err)
}

// UnmarshalJSON implements json.Unmarshaler with Unmarshal's rules.
func (m *Message) UnmarshalJSON(data []byte) error {
	msg, err := Unmarshal(data)
	if err != nil {
		return err
	}
	*m = msg
	return nil
}

// UnmarshalList decodes a JSON array of messages. Error paths start with the
// index of the bad message, as in "[3].content[0].text".
func UnmarshalList(data []byte) ([]Message, error) {
	// Each message is decoded from its own copy of its JSON: the strings of
	// a decoded message point into the input it was read from, and a stored
	// message must not keep a whole request body alive.
	d := jsonx.NewDecoder(data)
	if err := d.OpenArray(); err != nil {
		return nil, decodeErr("", err)
	}
	msgs := []Message{}
	for n := 0; ; n++ {
		ok, err := d.NextElem(n)
		if err != nil {
			return nil, decodeErr("", err)
		}
		if !ok {
			break
		}
		start := d.Offset()
		if err := d.Skip(); err != nil {
			return nil, decodeErr("", err)
		}
		md := jsonx.NewDecoder(data[start:d.Offset()])
		m, err := decodeMessage(md)
		if err == nil {
			err = recheck(md, 0)
		}
		if err != nil {
			return nil, atIndex(n, shiftOffset(err, start))
		}
		msgs = append(msgs, m)
	}
	if err := d.Finish(); err != nil {
		return nil, decodeErr("", err)
	}
	return msgs, nil
}

// shiftOffset makes the byte offset of an error in one element relative to
// the whole input.
func shiftOffset(err error, by int) error {
	if e, ok := err.(*Error); ok && e.Offset >= 0 {
		e.Offset += by
	}
	return err
}

// Errors are built without a path and gain one segment per level as they
// return (at, atIndex), so decoding valid input spends nothing on paths.

// at prefixes the path of err with seg, turning reader errors into *Error.
func at(seg string, err error) error {
	if err == nil {
		return nil
	}
	e, ok := err.(*Error)
	if !ok {
		return decodeErr(seg, err)
	}
	e.Path = joinPath(seg, e.Path)
	return e
}

func atIndex(i int, err error) error {
	return at("["+strconv.Itoa(i)+"]", err)
}

// span records where a member's value starts, so it can be decoded after the
// whole object has been seen: which format a message or part is in depends on
// which keys are present, not on their order.
type span struct {
	off, depth int
	set        bool
}

func (s *span) mark(d *jsonx.Decoder, key string) error {
	if s.set {
		return d.DuplicateKey(key)
	}
	*s = span{off: d.Offset(), depth: d.Depth(), set: true}
	return d.Skip()
}

func (s span) seek(d *jsonx.Decoder) {
	d.Seek(s.off)
	d.SetDepth(s.depth)
}

var roleList = `"user", "system", "assistant" and "tool"`

// header holds the role, name and meta of one of the two formats that can
// appear in a message ("role"... or the legacy "_role"...). Both are read as
// they come, in one pass; an error in a field of the format that turns out
// not to be used is dropped, as Haystack never looks at those fields.
type header struct {
	role      Role
	name      *string
	meta      map[string]any
	hasRole   bool
	err       error
	roleKey   string
	nameKey   string
	metaKey   string
	seenField [3]bool
}

// field reads the value of one header member. A value of the wrong type is
// skipped and its error kept; malformed JSON is returned at once.
func (h *header) field(d *jsonx.Decoder, which int) error {
	key := [...]string{h.roleKey, h.nameKey, h.metaKey}[which]
	if h.seenField[which] {
		return decodeErr("", d.DuplicateKey(key))
	}
	h.seenField[which] = true
	var err error
	switch which {
	case 0:
		h.hasRole = true
		if d.Peek() != jsonx.String {
			err = d.Expect("a string, one of " + roleList)
			break
		}
		var v string
		if v, err = d.String(); err != nil {
			return decodeErr("", err)
		}
		if h.role = Role(v); !h.role.Valid() {
			h.keep(invalidf(key, "unknown role %q; valid roles are %s", v, roleList))
		}
		return nil
	case 1:
		var v string
		var ok bool
		if v, ok, err = d.StringOrNull(); ok {
			h.name = &v
		}
	case 2:
		if k := d.Peek(); k != jsonx.Object && k != jsonx.Null {
			err = d.Expect("an object or null")
			break
		}
		var m map[string]any
		if m, err = d.MapOrNull(); err != nil {
			return decodeErr(key, err)
		}
		h.meta = nilIfEmpty(m)
		return nil
	}
	var te *jsonx.TypeError
	if errors.As(err, &te) {
		h.keep(decodeErr(key, err))
		return decodeErr("", d.Skip())
	}
	return decodeErr(key, err)
}

func (h *header) keep(err error) {
	if h.err == nil {
		h.err = err
	}
}

func decodeMessage(d *jsonx.Decoder) (Message, error) {
	if err := d.OpenObject(); err != nil {
		return Message{}, decodeErr("", err)
	}
	var (
		cur        = header{roleKey: "role", nameKey: "name", metaKey: "meta"}
		legacy     = header{roleKey: "_role", nameKey: "_name", metaKey: "_meta"}
		lContent   span
		content    []Part
		hasContent bool
		keysBuf    [8]string // the first keys, for error messages only
		keys       = keysBuf[:0]
	)
	for n := 0; ; n++ {
		k, ok, err := d.NextKey(n)
		if err != nil {
			return Message{}, decodeErr("", err)
		}
		if !ok {
			break
		}
		if len(keys) < len(keysBuf) {
			keys = append(keys, k)
		}
		switch k {
		case "role":
			err = cur.field(d, 0)
		case "name":
			err = cur.field(d, 1)
		case "meta":
			err = cur.field(d, 2)
		case "_role":
			err = legacy.field(d, 0)
		case "_name":
			err = legacy.field(d, 1)
		case "_meta":
			err = legacy.field(d, 2)
		case "_content":
			// Only read when there is no "content", so found now and
			// decoded later.
			err = decodeErr("", lContent.mark(d, k))
		case "content":
			if hasContent {
				return Message{}, decodeErr("", d.DuplicateKey(k))
			}
			hasContent = true
			if content, err = decodeContent(d, true); err != nil {
				return Message{}, at("content", err)
			}
		default:
			// Haystack ignores members it does not know; so do we, which
			// also lets newer Haystack versions add fields.
			err = decodeErr("", d.Discard())
		}
		if err != nil {
			return Message{}, err
		}
	}

	if !cur.hasRole && !legacy.hasRole {
		return Message{}, invalidf("", "missing \"role\"; a message needs a role, one of %s (got keys %s)", roleList, keyList(keys))
	}
	var h header
	switch {
	case hasContent:
		if lContent.set {
			d.Ignore() // "_content" gives way to "content"
		}
		if !cur.hasRole {
			return Message{}, invalidf("", "missing \"role\"; a message with \"content\" needs \"role\", one of %s (\"_role\" belongs to the legacy format with \"_content\")", roleList)
		}
		h = cur
	case lContent.set:
		if !legacy.hasRole {
			return Message{}, invalidf("", "missing \"_role\"; a message in the legacy format with \"_content\" needs \"_role\", one of %s", roleList)
		}
		end, endDepth := d.Offset(), d.Depth()
		lContent.seek(d)
		if d.Peek() != jsonx.Array {
			return Message{}, decodeErr("_content", d.Expect("a list of content parts"))
		}
		var err error
		if content, err = decodeContent(d, false); err != nil {
			return Message{}, at("_content", err)
		}
		d.Seek(end)
		d.SetDepth(endDepth)
		h = legacy
	default:
		return Message{}, invalidf("", "missing \"content\"; a message needs \"content\", a list of content parts such as [{\"text\": \"Hello\"}] (got keys %s)", keyList(keys))
	}
	if h.err != nil {
		return Message{}, h.err
	}
	return Message{Role: h.role, Content: content, Name: h.name, Meta: h.meta}, nil
}

func keyList(keys []string) string {
	if len(keys) == 0 {
		return "none"
	}
	return strings.Join(keys, ", ")
}

// nilIfEmpty maps {} to nil for the maps that are written as {} when nil
// (meta, arguments, most extras), so that a message built in Go with no meta
// and the same message read back from JSON are equal.
func nilIfEmpty(m map[string]any) map[string]any {
	if len(m) == 0 {
		return nil
	}
	return m
}

// decodeContent reads a list of parts, or with allowString the plain string
// of the format before Haystack 2.9.
func decodeContent(d *jsonx.Decoder, allowString bool) ([]Part, error) {
	switch d.Peek() {
	case jsonx.String:
		if allowString {
			s, err := d.String()
			if err != nil {
				return nil, decodeErr("", err)
			}
			return []Part{Text{Text: s}}, nil
		}
	case jsonx.Array:
		return decodePartList(d, false)
	}
	return nil, decodeErr("", d.Expect("a list of content parts or a string"))
}

func decodePartList(d *jsonx.Decoder, inResult bool) ([]Part, error) {
	if err := d.OpenArray(); err != nil {
		return nil, decodeErr("", err)
	}
	parts := make([]Part, 0, 2)
	for n := 0; ; n++ {
		ok, err := d.NextElem(n)
		if err != nil {
			return nil, decodeErr("", err)
		}
		if !ok {
			return parts, nil
		}
		p, err := decodePart(d, inResult)
		if err != nil {
			return nil, atIndex(n, err)
		}
		parts = append(parts, p)
	}
}

// The keys that identify a content part, wrapped and flat.
const (
	kText = iota
	kToolCall
	kToolCallResult
	kImage
	kReasoning
	kFile
	kToolName
	kArguments
	kResult
	kOrigin
	kReasoningText
	kBase64Image
	kBase64Data
	nPartKeys
)

var partKeys = [nPartKeys]string{
	kText: "text", kToolCall: "tool_call", kToolCallResult: "tool_call_result",
	kImage: "image", kReasoning: "reasoning", kFile: "file",
	kToolName: "tool_name", kArguments: "arguments", kResult: "result",
	kOrigin: "origin", kReasoningText: "reasoning_text",
	kBase64Image: "base64_image", kBase64Data: "base64_data",
}

func partKey(k string) int {
	for i, name := range partKeys {
		if k == name {
			return i
		}
	}
	return -1
}

// wrapperKeys are the keys of the wrapped format, in the order Haystack
// tries them.
var wrapperKeys = [...]int{kToolCall, kToolCallResult, kImage, kReasoning, kFile}

const partFormats = `valid parts are {"text": "Hello"}, {"tool_call": {"tool_name": "search", "arguments": {}, "id": "call_1"}}, ` +
	`{"tool_call_result": {"result": "...", "origin": {...}, "error": false}}, {"reasoning": {"reasoning_text": "..."}}, ` +
	`{"image": {"base64_image": "..."}}, {"file": {"base64_data": "..."}}, or the same objects unwrapped`

func decodePart(d *jsonx.Decoder, inResult bool) (Part, error) {
	start, depth := d.Offset(), d.Depth()
	if err := d.OpenObject(); err != nil {
		return nil, decodeErr("", err)
	}
	var (
		spans     [nPartKeys]span
		others    int
		eagerKind = -1
		eager     Part
		eagerErr  error
	)
	for n := 0; ; n++ {
		k, ok, err := d.NextKey(n)
		if err != nil {
			return nil, decodeErr("", err)
		}
		if !ok {
			break
		}
		i := partKey(k)
		switch {
		case i < 0:
			others++
			err = d.Discard()
		case n == 0 && i <= kFile:
			// Nearly every part is {"text": ...} or {"tool_call": {...}}:
			// decode the value now, and only go back if another key turns
			// out to decide the part.
			spans[i] = span{off: d.Offset(), depth: d.Depth(), set: true}
			eagerKind = i
			if eager, eagerErr = decodeKind(d, i); eagerErr != nil {
				spans[i].seek(d)
				err = d.Skip()
			}
		default:
			err = spans[i].mark(d, k)
		}
		if err != nil {
			return nil, decodeErr("", err)
		}
	}
	end, endDepth := d.Offset(), d.Depth()

	kind, flat, err := choosePart(&spans, others)
	if err != nil {
		return nil, err
	}
	if !flat {
		for i := range spans {
			if i != kind && spans[i].set {
				d.Ignore() // a sibling the chosen kind overrides
				break
			}
		}
	}
	var p Part
	switch {
	case flat:
		d.Seek(start)
		d.SetDepth(depth)
		p, err = decodeTyped(d, kind)
	case kind == eagerKind:
		p, err = eager, at(partKeys[kind], eagerErr)
	default:
		spans[kind].seek(d)
		p, err = decodeKind(d, kind)
		err = at(partKeys[kind], err)
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
	d.Seek(end)
	d.SetDepth(endDepth)
	return p, nil
}

// choosePart applies Haystack's rules for which kind of part an object is,
// from the keys it has: "text" first (and then nothing else), then the
// wrapper keys in order, then the flat forms.
func choosePart(spans *[nPartKeys]span, others int) (kind int, flat bool, err error) {
	if spans[kText].set {
		// Haystack builds TextContent(**part), so any other key is an error.
		for i := range spans {
			if i != kText && spans[i].set {
				return 0, false, invalidf("", "a text part holds only \"text\", but this one also has %q", partKeys[i])
			}
		}
		if others > 0 {
			return 0, false, invalidf("", "a text part holds only \"text\", but this one has other keys")
		}
		return kText, false, nil
	}
	// The first wrapper key present wins; other members are ignored.
	for _, i := range wrapperKeys {
		if spans[i].set {
			return i, false, nil
		}
	}
	switch {
	case spans[kToolName].set && spans[kArguments].set:
		return kToolCall, true, nil
	case spans[kResult].set && spans[kOrigin].set:
		return kToolCallResult, true, nil
	case spans[kReasoningText].set:
		return kReasoning, true, nil
	case spans[kBase64Image].set:
		return kImage, true, nil
	case spans[kBase64Data].set:
		return kFile, true, nil
	}
	return 0, false, invalidf("", "unknown content part; %s", partFormats)
}

// decodeKind decodes the value under a wrapper key, or the string under
// "text".
func decodeKind(d *jsonx.Decoder, kind int) (Part, error) {
	if kind == kText {
		s, err := d.String()
		if err != nil {
			return nil, decodeErr("", err)
		}
		return Text{Text: s}, nil
	}
	return decodeTyped(d, kind)
}

func decodeTyped(d *jsonx.Decoder, kind int) (Part, error) {
	switch kind {
	case kToolCall:
		return decodeToolCall(d)
	case kToolCallResult:
		return decodeToolCallResult(d)
	case kImage:
		return decodeImage(d)
	case kReasoning:
		return decodeReasoning(d)
	}
	return decodeFile(d)
}

// object walks the members of an object whose keys the caller knows.
type object struct {
	d     *jsonx.Decoder
	names []string
	seen  uint32
}

func (o *object) has(i int) bool { return o.seen&(1<<i) != 0 }

// fields reads an object whose member names are names, calling field with
// the index of each, with the decoder at its value. A member not in names is
// an error naming what (valid keys included) or, with skipUnknown, ignored.
// A name seen twice is an error. field's errors get the member's name as
// their path.
func fields(d *jsonx.Decoder, names []string, what string, skipUnknown bool, field func(i int) error) (object, error) {
	o := object{d: d, names: names}
	if err := d.OpenObject(); err != nil {
		return o, decodeErr("", err)
	}
	for n := 0; ; n++ {
		k, ok, err := d.NextKey(n)
		if err != nil || !ok {
			return o, decodeErr("", err)
		}
		i := slices.Index(names, k)
		switch {
		case i < 0 && skipUnknown:
			err = decodeErr("", d.Discard())
		case i < 0:
			return o, invalidf(k, "unknown key %q in %s", k, what)
		case o.has(i):
			return o, decodeErr("", d.DuplicateKey(k))
		default:
			o.seen |= 1 << i
			err = at(k, field(i))
		}
		if err != nil {
			return o, err
		}
	}
}

var toolCallKeys = []string{"tool_name", "arguments", "id", "extra"}

func decodeToolCall(d *jsonx.Decoder) (ToolCall, error) {
	var c ToolCall
	o, err := fields(d, toolCallKeys, `a tool call (valid keys: "tool_name", "arguments", "id", "extra")`, false, func(i int) error {
		var err error
		switch i {
		case 0:
			c.ToolName, err = d.String()
		case 1:
			c.Arguments, err = d.Map()
		case 2:
			var id string
			var ok bool
			if id, ok, err = d.StringOrNull(); ok {
				c.ID = &id
			}
		case 3:
			c.Extra, err = d.MapOrNull()
		}
		return err
	})
	if err != nil {
		return ToolCall{}, err
	}
	if !o.has(0) || !o.has(1) {
		missing := "tool_name"
		if o.has(0) {
			missing = "arguments"
		}
		return ToolCall{}, invalidf("", "missing %q; a tool call needs \"tool_name\" and \"arguments\"", missing)
	}
	c.Arguments = nilIfEmpty(c.Arguments)
	return c, nil
}

var toolCallResultKeys = []string{"result", "origin", "error"}

func decodeToolCallResult(d *jsonx.Decoder) (ToolCallResult, error) {
	var r ToolCallResult
	// Haystack reads only the three fields and ignores the rest.
	o, err := fields(d, toolCallResultKeys, "a tool call result", true, func(i int) error {
		var err error
		switch i {
		case 0:
			switch d.Peek() {
			case jsonx.String:
				r.Result, err = d.String()
			case jsonx.Array:
				r.Parts, err = decodePartList(d, true)
			default:
				err = d.Expect("a string or a list of text, image and file parts")
			}
		case 1:
			r.Origin, err = decodeToolCall(d)
		case 2:
			r.Error, err = d.Bool()
		}
		return err
	})
	if err != nil {
		return ToolCallResult{}, err
	}
	if !o.has(0) || !o.has(1) || !o.has(2) {
		var missing []string
		for i, name := range toolCallResultKeys {
			if !o.has(i) {
				missing = append(missing, strconv.Quote(name))
			}
		}
		return ToolCallResult{}, invalidf("", "missing %s; a tool call result needs \"result\", \"origin\" and \"error\"", strings.Join(missing, ", "))
	}
	return r, nil
}

var reasoningKeys = []string{"reasoning_text", "extra"}

func decodeReasoning(d *jsonx.Decoder) (Reasoning, error) {
	var r Reasoning
	o, err := fields(d, reasoningKeys, `a reasoning part (valid keys: "reasoning_text", "extra")`, false, func(i int) error {
		var err error
		if i == 0 {
			r.ReasoningText, err = d.String()
		} else {
			r.Extra, err = d.Map()
		}
		return err
	})
	if err != nil {
		return Reasoning{}, err
	}
	if !o.has(0) {
		return Reasoning{}, invalidf("", "missing \"reasoning_text\"; a reasoning part needs it")
	}
	r.Extra = nilIfEmpty(r.Extra)
	return r, nil
}

var imageKeys = []string{"base64_image", "mime_type", "detail", "meta", "validation"}

func decodeImage(d *jsonx.Decoder) (Image, error) {
	var img Image
	o, err := fields(d, imageKeys, `an image (valid keys: "base64_image", "mime_type", "detail", "meta", "validation")`, false, func(i int) error {
		var err error
		switch i {
		case 0:
			img.Base64Image, err = d.String()
		case 1:
			img.MimeType, _, err = d.StringOrNull()
		case 2:
			img.Detail, _, err = d.StringOrNull()
		case 3:
			img.Meta, err = d.Map()
		case 4:
			var v bool
			v, err = d.Bool()
			img.SkipValidation = !v
		}
		return err
	})
	if err != nil {
		return Image{}, err
	}
	if !o.has(0) {
		return Image{}, invalidf("", "missing \"base64_image\"; an image needs its data as a base64 string")
	}
	img.Meta = nilIfEmpty(img.Meta)
	if err := img.check(""); err != nil {
		return Image{}, err
	}
	return img, nil
}

var fileKeys = []string{"base64_data", "mime_type", "filename", "extra", "validation"}

func decodeFile(d *jsonx.Decoder) (File, error) {
	var f File
	o, err := fields(d, fileKeys, `a file (valid keys: "base64_data", "mime_type", "filename", "extra", "validation")`, false, func(i int) error {
		var err error
		switch i {
		case 0:
			f.Base64Data, err = d.String()
		case 1:
			f.MimeType, _, err = d.StringOrNull()
		case 2:
			f.Filename, _, err = d.StringOrNull()
		case 3:
			f.Extra, err = d.Map()
		case 4:
			var v bool
			v, err = d.Bool()
			f.SkipValidation = !v
		}
		return err
	})
	if err != nil {
		return File{}, err
	}
	if !o.has(0) {
		return File{}, invalidf("", "missing \"base64_data\"; a file needs its data as a base64 string")
	}
	f.Extra = nilIfEmpty(f.Extra)
	if err := f.check(""); err != nil {
		return File{}, err
	}
	return f, nil
}
