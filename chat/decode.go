package chat

import (
	"fmt"
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
	m, err := decodeMessage(d, "")
	if err != nil {
		return Message{}, err
	}
	if err := d.Finish(); err != nil {
		return Message{}, decodeErr("", err)
	}
	return m, nil
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
	d := jsonx.NewDecoder(data)
	if err := d.OpenArray(); err != nil {
		return nil, decodeErr("", err)
	}
	var msgs []Message
	for n := 0; ; n++ {
		ok, err := d.NextElem(n)
		if err != nil {
			return nil, decodeErr("", err)
		}
		if !ok {
			break
		}
		m, err := decodeMessage(d, "["+strconv.Itoa(n)+"]")
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, m)
	}
	if err := d.Finish(); err != nil {
		return nil, decodeErr("", err)
	}
	if msgs == nil {
		msgs = []Message{}
	}
	return msgs, nil
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

func decodeMessage(d *jsonx.Decoder, path string) (Message, error) {
	if err := d.OpenObject(); err != nil {
		return Message{}, decodeErr(path, err)
	}
	var (
		role, name, meta             span
		lRole, lContent, lName, lMet span
		content                      []Part
		hasContent                   bool
		keys                         []string
	)
	for n := 0; ; n++ {
		k, ok, err := d.NextKey(n)
		if err != nil {
			return Message{}, decodeErr(path, err)
		}
		if !ok {
			break
		}
		key := string(k)
		if len(keys) < 16 {
			keys = append(keys, key)
		}
		switch key {
		case "role":
			err = role.mark(d, key)
		case "name":
			err = name.mark(d, key)
		case "meta":
			err = meta.mark(d, key)
		case "_role":
			err = lRole.mark(d, key)
		case "_content":
			err = lContent.mark(d, key)
		case "_name":
			err = lName.mark(d, key)
		case "_meta":
			err = lMet.mark(d, key)
		case "content":
			if hasContent {
				return Message{}, decodeErr(path, d.DuplicateKey(key))
			}
			hasContent = true
			content, err = decodeContent(d, joinPath(path, "content"), true)
		default:
			// Haystack ignores members it does not know; so do we, which
			// also lets newer Haystack versions add fields.
			err = d.Skip()
		}
		if err != nil {
			return Message{}, decodeErr(path, err)
		}
	}
	end, endDepth := d.Offset(), d.Depth()

	if !role.set && !lRole.set {
		return Message{}, invalidf(path, "missing \"role\"; a message needs a role, one of %s (got keys %s)", roleList, keyList(keys))
	}
	var (
		m   Message
		err error
	)
	switch {
	case hasContent:
		if !role.set {
			return Message{}, invalidf(path, "missing \"role\"; a message with \"content\" needs \"role\", one of %s (\"_role\" belongs to the legacy format with \"_content\")", roleList)
		}
		m.Content = content
		m.Role, err = decodeRole(d, role, joinPath(path, "role"))
		if err == nil {
			m.Name, err = decodeName(d, name, joinPath(path, "name"))
		}
		if err == nil {
			m.Meta, err = decodeMeta(d, meta, joinPath(path, "meta"))
		}
	case lContent.set:
		if !lRole.set {
			return Message{}, invalidf(path, "missing \"_role\"; a message in the legacy format with \"_content\" needs \"_role\", one of %s", roleList)
		}
		lContent.seek(d)
		if d.Peek() != jsonx.Array {
			return Message{}, decodeErr(joinPath(path, "_content"), d.Expect("a list of content parts"))
		}
		m.Content, err = decodeContent(d, joinPath(path, "_content"), false)
		if err == nil {
			m.Role, err = decodeRole(d, lRole, joinPath(path, "_role"))
		}
		if err == nil {
			m.Name, err = decodeName(d, lName, joinPath(path, "_name"))
		}
		if err == nil {
			m.Meta, err = decodeMeta(d, lMet, joinPath(path, "_meta"))
		}
	default:
		return Message{}, invalidf(path, "missing \"content\"; a message needs \"content\", a list of content parts such as [{\"text\": \"Hello\"}] (got keys %s)", keyList(keys))
	}
	if err != nil {
		return Message{}, err
	}
	d.Seek(end)
	d.SetDepth(endDepth)
	return m, nil
}

func keyList(keys []string) string {
	if len(keys) == 0 {
		return "none"
	}
	return strings.Join(keys, ", ")
}

func decodeRole(d *jsonx.Decoder, s span, path string) (Role, error) {
	s.seek(d)
	if d.Peek() != jsonx.String {
		return "", decodeErr(path, d.Expect("a string, one of "+roleList))
	}
	v, err := d.String()
	if err != nil {
		return "", decodeErr(path, err)
	}
	r := Role(v)
	if !r.Valid() {
		return "", invalidf(path, "unknown role %q; valid roles are %s", v, roleList)
	}
	return r, nil
}

func decodeName(d *jsonx.Decoder, s span, path string) (*string, error) {
	if !s.set {
		return nil, nil
	}
	s.seek(d)
	v, ok, err := d.StringOrNull()
	if err != nil {
		return nil, decodeErr(path, err)
	}
	if !ok {
		return nil, nil
	}
	return &v, nil
}

// decodeMeta reads meta; null and absent are an empty meta, as in Haystack.
func decodeMeta(d *jsonx.Decoder, s span, path string) (map[string]any, error) {
	if !s.set {
		return nil, nil
	}
	s.seek(d)
	m, err := d.MapOrNull()
	if err != nil {
		return nil, decodeErr(path, err)
	}
	return nilIfEmpty(m), nil
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
func decodeContent(d *jsonx.Decoder, path string, allowString bool) ([]Part, error) {
	switch d.Peek() {
	case jsonx.String:
		if allowString {
			s, err := d.String()
			if err != nil {
				return nil, decodeErr(path, err)
			}
			return []Part{Text{Text: s}}, nil
		}
	case jsonx.Array:
		return decodePartList(d, path, false)
	}
	return nil, decodeErr(path, d.Expect("a list of content parts or a string"))
}

func decodePartList(d *jsonx.Decoder, path string, inResult bool) ([]Part, error) {
	if err := d.OpenArray(); err != nil {
		return nil, decodeErr(path, err)
	}
	parts := []Part{}
	for n := 0; ; n++ {
		ok, err := d.NextElem(n)
		if err != nil {
			return nil, decodeErr(path, err)
		}
		if !ok {
			return parts, nil
		}
		p, err := decodePart(d, path+"["+strconv.Itoa(n)+"]", inResult)
		if err != nil {
			return nil, err
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

var partKeyIndex = map[string]int{
	"text": kText, "tool_call": kToolCall, "tool_call_result": kToolCallResult,
	"image": kImage, "reasoning": kReasoning, "file": kFile,
	"tool_name": kToolName, "arguments": kArguments, "result": kResult,
	"origin": kOrigin, "reasoning_text": kReasoningText,
	"base64_image": kBase64Image, "base64_data": kBase64Data,
}

// wrapperKeys are the keys of the wrapped format, in the order Haystack
// tries them.
var wrapperKeys = [...]int{kToolCall, kToolCallResult, kImage, kReasoning, kFile}

var wrapperNames = [...]string{kToolCall: "tool_call", kToolCallResult: "tool_call_result", kImage: "image", kReasoning: "reasoning", kFile: "file"}

const partFormats = `valid parts are {"text": "Hello"}, {"tool_call": {"tool_name": "search", "arguments": {}, "id": "call_1"}}, ` +
	`{"tool_call_result": {"result": "...", "origin": {...}, "error": false}}, {"reasoning": {"reasoning_text": "..."}}, ` +
	`{"image": {"base64_image": "..."}}, {"file": {"base64_data": "..."}}, or the same objects unwrapped`

func decodePart(d *jsonx.Decoder, path string, inResult bool) (Part, error) {
	start, depth := d.Offset(), d.Depth()
	if err := d.OpenObject(); err != nil {
		return nil, decodeErr(path, err)
	}
	var (
		spans  [nPartKeys]span
		others int
	)
	for n := 0; ; n++ {
		k, ok, err := d.NextKey(n)
		if err != nil {
			return nil, decodeErr(path, err)
		}
		if !ok {
			break
		}
		if i, known := partKeyIndex[string(k)]; known {
			err = spans[i].mark(d, string(k))
		} else {
			others++
			err = d.Skip()
		}
		if err != nil {
			return nil, decodeErr(path, err)
		}
	}
	end, endDepth := d.Offset(), d.Depth()

	p, err := decodePartAs(d, path, &spans, others, start, depth)
	if err != nil {
		return nil, err
	}
	if inResult {
		switch p.(type) {
		case Text, Image, File:
		default:
			return nil, invalidf(path, "a tool call result list can only hold text, image and file parts, got %s", partName(p))
		}
	}
	d.Seek(end)
	d.SetDepth(endDepth)
	return p, nil
}

func decodePartAs(d *jsonx.Decoder, path string, spans *[nPartKeys]span, others int, start, depth int) (Part, error) {
	if spans[kText].set {
		// Haystack builds TextContent(**part), so any other key is an error.
		for i := range spans {
			if i != kText && spans[i].set {
				return nil, invalidf(path, "a text part holds only \"text\", but this one also has %q", keyName(i))
			}
		}
		if others > 0 {
			return nil, invalidf(path, "a text part holds only \"text\", but this one has other keys")
		}
		spans[kText].seek(d)
		s, err := d.String()
		if err != nil {
			return nil, decodeErr(path+".text", err)
		}
		return Text{Text: s}, nil
	}
	// Haystack tries the wrapper keys in a fixed order and takes the first
	// present; other members are ignored.
	wrapper := -1
	for _, i := range wrapperKeys {
		if spans[i].set {
			wrapper = i
			break
		}
	}
	if wrapper >= 0 {
		spans[wrapper].seek(d)
		return decodeTyped(d, wrapper, joinPath(path, wrapperNames[wrapper]))
	}
	flat := -1
	switch {
	case spans[kToolName].set && spans[kArguments].set:
		flat = kToolCall
	case spans[kResult].set && spans[kOrigin].set:
		flat = kToolCallResult
	case spans[kReasoningText].set:
		flat = kReasoning
	case spans[kBase64Image].set:
		flat = kImage
	case spans[kBase64Data].set:
		flat = kFile
	}
	if flat < 0 {
		return nil, invalidf(path, "unknown content part; %s", partFormats)
	}
	d.Seek(start)
	d.SetDepth(depth)
	return decodeTyped(d, flat, path)
}

func keyName(i int) string {
	for k, v := range partKeyIndex {
		if v == i {
			return k
		}
	}
	return "?"
}

func decodeTyped(d *jsonx.Decoder, kind int, path string) (Part, error) {
	switch kind {
	case kToolCall:
		return decodeToolCall(d, path)
	case kToolCallResult:
		return decodeToolCallResult(d, path)
	case kImage:
		return decodeImage(d, path)
	case kReasoning:
		return decodeReasoning(d, path)
	}
	return decodeFile(d, path)
}

// fields walks an object whose keys the caller knows, calling fn for each
// member. Duplicate keys among those fn accepts are errors; fn returns
// handled=false for a key it does not know.
func fields(d *jsonx.Decoder, path, what string, fn func(key string) (handled bool, err error)) error {
	if err := d.OpenObject(); err != nil {
		return decodeErr(path, err)
	}
	var seen [8]string
	nseen := 0
	for n := 0; ; n++ {
		k, ok, err := d.NextKey(n)
		if err != nil {
			return decodeErr(path, err)
		}
		if !ok {
			return nil
		}
		key := string(k)
		for _, s := range seen[:nseen] {
			if s == key {
				return decodeErr(path, d.DuplicateKey(key))
			}
		}
		handled, err := fn(key)
		if err != nil {
			return err
		}
		if !handled {
			return invalidf(joinPath(path, key), "unknown key %q in %s", key, what)
		}
		if nseen < len(seen) {
			seen[nseen] = key
			nseen++
		}
	}
}

func decodeToolCall(d *jsonx.Decoder, path string) (ToolCall, error) {
	var (
		c                ToolCall
		hasName, hasArgs bool
	)
	err := fields(d, path, `a tool call (valid keys: "tool_name", "arguments", "id", "extra")`, func(key string) (bool, error) {
		var err error
		switch key {
		case "tool_name":
			hasName = true
			c.ToolName, err = d.String()
		case "arguments":
			hasArgs = true
			c.Arguments, err = d.Map()
		case "id":
			var id string
			var ok bool
			if id, ok, err = d.StringOrNull(); ok {
				c.ID = &id
			}
		case "extra":
			c.Extra, err = d.MapOrNull()
		default:
			return false, nil
		}
		if err != nil {
			return true, decodeErr(joinPath(path, key), err)
		}
		return true, nil
	})
	if err != nil {
		return ToolCall{}, err
	}
	if !hasName || !hasArgs {
		missing := "tool_name"
		if hasName {
			missing = "arguments"
		}
		return ToolCall{}, invalidf(path, "missing %q; a tool call needs \"tool_name\" and \"arguments\"", missing)
	}
	c.Arguments = nilIfEmpty(c.Arguments)
	return c, nil
}

func decodeToolCallResult(d *jsonx.Decoder, path string) (ToolCallResult, error) {
	var (
		r                          ToolCallResult
		hasResult, hasOrigin, hasE bool
	)
	err := fields(d, path, "a tool call result", func(key string) (bool, error) {
		var err error
		switch key {
		case "result":
			hasResult = true
			switch d.Peek() {
			case jsonx.String:
				r.Result, err = d.String()
			case jsonx.Array:
				r.Parts, err = decodePartList(d, joinPath(path, "result"), true)
				return true, err
			default:
				err = d.Expect("a string or a list of text, image and file parts")
			}
		case "origin":
			hasOrigin = true
			r.Origin, err = decodeToolCall(d, joinPath(path, "origin"))
			return true, err
		case "error":
			hasE = true
			r.Error, err = d.Bool()
		default:
			// Haystack reads only the three fields and ignores the rest.
			err = d.Skip()
		}
		if err != nil {
			return true, decodeErr(joinPath(path, key), err)
		}
		return true, nil
	})
	if err != nil {
		return ToolCallResult{}, err
	}
	if !hasResult || !hasOrigin || !hasE {
		var missing []string
		for _, f := range []struct {
			name string
			has  bool
		}{{"result", hasResult}, {"origin", hasOrigin}, {"error", hasE}} {
			if !f.has {
				missing = append(missing, fmt.Sprintf("%q", f.name))
			}
		}
		return ToolCallResult{}, invalidf(path, "missing %s; a tool call result needs \"result\", \"origin\" and \"error\"", strings.Join(missing, ", "))
	}
	return r, nil
}

func decodeReasoning(d *jsonx.Decoder, path string) (Reasoning, error) {
	var (
		r       Reasoning
		hasText bool
	)
	err := fields(d, path, `a reasoning part (valid keys: "reasoning_text", "extra")`, func(key string) (bool, error) {
		var err error
		switch key {
		case "reasoning_text":
			hasText = true
			r.ReasoningText, err = d.String()
		case "extra":
			r.Extra, err = d.Map()
		default:
			return false, nil
		}
		if err != nil {
			return true, decodeErr(joinPath(path, key), err)
		}
		return true, nil
	})
	if err != nil {
		return Reasoning{}, err
	}
	r.Extra = nilIfEmpty(r.Extra)
	if !hasText {
		return Reasoning{}, invalidf(path, "missing \"reasoning_text\"; a reasoning part needs it")
	}
	return r, nil
}

func decodeImage(d *jsonx.Decoder, path string) (Image, error) {
	var (
		img     Image
		hasData bool
	)
	err := fields(d, path, `an image (valid keys: "base64_image", "mime_type", "detail", "meta", "validation")`, func(key string) (bool, error) {
		var err error
		switch key {
		case "base64_image":
			hasData = true
			img.Base64Image, err = d.String()
		case "mime_type":
			img.MimeType, _, err = d.StringOrNull()
		case "detail":
			img.Detail, _, err = d.StringOrNull()
		case "meta":
			img.Meta, err = d.Map()
		case "validation":
			var v bool
			v, err = d.Bool()
			img.SkipValidation = !v
		default:
			return false, nil
		}
		if err != nil {
			return true, decodeErr(joinPath(path, key), err)
		}
		return true, nil
	})
	if err != nil {
		return Image{}, err
	}
	img.Meta = nilIfEmpty(img.Meta)
	if !hasData {
		return Image{}, invalidf(path, "missing \"base64_image\"; an image needs its data as a base64 string")
	}
	if err := img.check(path); err != nil {
		return Image{}, err
	}
	return img, nil
}

func decodeFile(d *jsonx.Decoder, path string) (File, error) {
	var (
		f       File
		hasData bool
	)
	err := fields(d, path, `a file (valid keys: "base64_data", "mime_type", "filename", "extra", "validation")`, func(key string) (bool, error) {
		var err error
		switch key {
		case "base64_data":
			hasData = true
			f.Base64Data, err = d.String()
		case "mime_type":
			f.MimeType, _, err = d.StringOrNull()
		case "filename":
			f.Filename, _, err = d.StringOrNull()
		case "extra":
			f.Extra, err = d.Map()
		case "validation":
			var v bool
			v, err = d.Bool()
			f.SkipValidation = !v
		default:
			return false, nil
		}
		if err != nil {
			return true, decodeErr(joinPath(path, key), err)
		}
		return true, nil
	})
	if err != nil {
		return File{}, err
	}
	f.Extra = nilIfEmpty(f.Extra)
	if !hasData {
		return File{}, invalidf(path, "missing \"base64_data\"; a file needs its data as a base64 string")
	}
	if err := f.check(path); err != nil {
		return File{}, err
	}
	return f, nil
}
