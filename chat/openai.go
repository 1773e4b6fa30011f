package chat

import (
	"strconv"
	"strings"

	"github.com/chatstore/chatstore/internal/jsonx"
)

// OpenAIOptions controls conversion to OpenAI Chat Completions messages.
type OpenAIOptions struct {
	// RequireToolCallIDs makes a tool call, or a tool result whose origin,
	// has no id an error, as OpenAI itself requires. Haystack's
	// to_openai_dict_format defaults to true; the zero value here is false,
	// which suits OpenAI-compatible servers that do not use ids.
	RequireToolCallIDs bool
}

// MarshalOpenAI encodes m as an OpenAI Chat Completions message with
// Haystack's rules (to_openai_dict_format).
func (m Message) MarshalOpenAI(opts OpenAIOptions) ([]byte, error) {
	return m.AppendOpenAI(make([]byte, 0, 256), opts)
}

// AppendOpenAI appends m as an OpenAI Chat Completions message, with
// Haystack's rules:
//
//   - a user message with a single text part has a string "content";
//     otherwise "content" is a list of "text", "image_url" (a data URL) and
//     "file" parts;
//   - a tool message carries its origin's id as "tool_call_id" and must hold
//     nothing but one result, a string or a list of text parts;
//   - system and assistant messages carry their first text as "content"
//     and tool calls as "tool_calls", with arguments JSON-encoded as
//     Python's json.dumps(ensure_ascii=False) writes them;
//   - reasoning and meta are dropped: OpenAI has no place for them.
//
// On failure dst is returned unchanged.
func (m Message) AppendOpenAI(dst []byte, opts OpenAIOptions) ([]byte, error) {
	out, err := m.appendOpenAI(dst, opts)
	if err != nil {
		return dst, err
	}
	return out, nil
}

func (m Message) appendOpenAI(dst []byte, opts OpenAIOptions) ([]byte, error) {
	if !m.Role.Valid() {
		return dst, invalidf("role", "unknown role %q; valid roles are %s", string(m.Role), roleList)
	}
	var nText, nCall, nResult, nMedia int
	for _, p := range m.Content {
		switch p.(type) {
		case Text:
			nText++
		case ToolCall:
			nCall++
		case ToolCallResult:
			nResult++
		case Image, File:
			nMedia++
		}
	}
	if nText+nCall+nResult+nMedia == 0 {
		return dst, invalidf("content", "a message sent to OpenAI must hold at least one text, tool call, tool call result, image or file")
	}
	if nResult > 0 && len(m.Content) > 1 {
		return dst, invalidf("content", "for OpenAI, a message with a tool call result cannot hold any other content")
	}
	dst = append(dst, `{"role":"`...)
	dst = append(dst, m.Role...)
	dst = append(dst, '"')
	var err error
	if m.Name != nil {
		dst = append(dst, `,"name":`...)
		if dst, err = appendStringAt(dst, *m.Name, "name"); err != nil {
			return dst, err
		}
	}
	switch {
	case m.Role == RoleUser:
		dst, err = m.appendOpenAIUser(dst)
	case nResult > 0:
		dst, err = m.appendOpenAIToolResult(dst, opts)
	default:
		dst, err = m.appendOpenAIText(dst, opts)
	}
	if err != nil {
		return dst, err
	}
	return append(dst, '}'), nil
}

func (m Message) appendOpenAIUser(dst []byte) ([]byte, error) {
	var err error
	dst = append(dst, `,"content":`...)
	if len(m.Content) == 1 {
		if t, ok := m.Content[0].(Text); ok {
			return appendStringAt(dst, t.Text, "content[0].text")
		}
	}
	dst = append(dst, '[')
	n := 0
	for i, p := range m.Content {
		path := "content[" + strconv.Itoa(i) + "]"
		switch p := p.(type) {
		case Text:
			dst = appendSep(dst, &n)
			dst = append(dst, `{"type":"text","text":`...)
			if dst, err = appendStringAt(dst, p.Text, path+".text"); err != nil {
				return dst, err
			}
			dst = append(dst, '}')
		case Image:
			dst = appendSep(dst, &n)
			// OpenAI tolerates a wrong MIME type, so Haystack defaults
			// a missing one to JPEG.
			dst = append(dst, `{"type":"image_url","image_url":{"url":`...)
			if dst, err = appendDataURL(dst, p.MimeType, "image/jpeg", p.Base64Image, path+".image"); err != nil {
				return dst, err
			}
			if p.Detail != "" {
				dst = append(dst, `,"detail":`...)
				if dst, err = appendStringAt(dst, p.Detail, path+".image.detail"); err != nil {
					return dst, err
				}
			}
			dst = append(dst, "}}"...)
		case File:
			dst = appendSep(dst, &n)
			dst = append(dst, `{"type":"file","file":{"file_data":`...)
			if dst, err = appendDataURL(dst, p.MimeType, "application/pdf", p.Base64Data, path+".file"); err != nil {
				return dst, err
			}
			// Without a filename OpenAI expects the id of an uploaded
			// file, so Haystack sends a placeholder name.
			name := p.Filename
			if name == "" {
				name = "filename"
			}
			dst = append(dst, `,"filename":`...)
			if dst, err = appendStringAt(dst, name, path+".file.filename"); err != nil {
				return dst, err
			}
			dst = append(dst, "}}"...)
		}
	}
	return append(dst, ']'), nil
}

func appendSep(dst []byte, n *int) []byte {
	if *n > 0 {
		dst = append(dst, ',')
	}
	*n++
	return dst
}

func appendDataURL(dst []byte, mime, fallback, data, path string) ([]byte, error) {
	if mime == "" {
		mime = fallback
	}
	return appendStringAt(dst, "data:"+mime+";base64,"+data, path)
}

func (m Message) appendOpenAIToolResult(dst []byte, opts OpenAIOptions) ([]byte, error) {
	r := m.Content[0].(ToolCallResult)
	var err error
	dst = append(dst, `,"content":`...)
	if r.Parts == nil {
		if dst, err = appendStringAt(dst, r.Result, "content[0].tool_call_result.result"); err != nil {
			return dst, err
		}
	} else {
		dst = append(dst, '[')
		for i, p := range r.Parts {
			t, ok := p.(Text)
			if !ok {
				return dst, invalidf("content[0].tool_call_result.result["+strconv.Itoa(i)+"]", "OpenAI Chat Completions tool results can only hold text, got %s; use the OpenAI Responses API for images in tool results", partName(p))
			}
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"type":"text","text":`...)
			if dst, err = appendStringAt(dst, t.Text, "content[0].tool_call_result.result["+strconv.Itoa(i)+"].text"); err != nil {
				return dst, err
			}
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	switch {
	case r.Origin.ID != nil:
		dst = append(dst, `,"tool_call_id":`...)
		return appendStringAt(dst, *r.Origin.ID, "content[0].tool_call_result.origin.id")
	case opts.RequireToolCallIDs:
		return dst, invalidf("content[0].tool_call_result.origin.id", "the tool call has no id, which OpenAI requires (tool call ids are required by this conversion)")
	}
	// OpenAI has no way to flag a failed tool call, so Error is dropped.
	return dst, nil
}

func (m Message) appendOpenAIText(dst []byte, opts OpenAIOptions) ([]byte, error) {
	var err error
	if text, ok := m.Text(); ok {
		dst = append(dst, `,"content":`...)
		if dst, err = appendStringAt(dst, text, "content"); err != nil {
			return dst, err
		}
	}
	n := 0
	for i, p := range m.Content {
		c, ok := p.(ToolCall)
		if !ok {
			continue
		}
		path := "content[" + strconv.Itoa(i) + "].tool_call"
		if n == 0 {
			dst = append(dst, `,"tool_calls":[`...)
		} else {
			dst = append(dst, ',')
		}
		n++
		dst = append(dst, `{"type":"function","function":{"name":`...)
		if dst, err = appendStringAt(dst, c.ToolName, path+".tool_name"); err != nil {
			return dst, err
		}
		dst = append(dst, `,"arguments":`...)
		if dst, err = appendArguments(dst, c.Arguments, path+".arguments"); err != nil {
			return dst, err
		}
		dst = append(dst, '}')
		switch {
		case c.ID != nil:
			dst = append(dst, `,"id":`...)
			if dst, err = appendStringAt(dst, *c.ID, path+".id"); err != nil {
				return dst, err
			}
		case opts.RequireToolCallIDs:
			return dst, invalidf(path+".id", "the tool call has no id, which OpenAI requires (tool call ids are required by this conversion)")
		}
		dst = append(dst, '}')
	}
	if n > 0 {
		dst = append(dst, ']')
	}
	return dst, nil
}

// appendArguments writes the arguments as a JSON string holding JSON, spelled
// as Python's json.dumps(arguments, ensure_ascii=False) spells it.
func appendArguments(dst []byte, args map[string]any, path string) ([]byte, error) {
	var buf [256]byte
	raw := buf[:0]
	if len(args) == 0 {
		raw = append(raw, '{', '}')
	} else {
		var err error
		if raw, err = jsonx.AppendValue(raw, args, jsonx.Python); err != nil {
			return dst, invalidf(path, "%v", err)
		}
	}
	out, err := jsonx.AppendString(dst, string(raw), jsonx.Compact)
	if err != nil {
		return dst, invalidf(path, "%v", err)
	}
	return out, nil
}

// UnmarshalOpenAI decodes an OpenAI Chat Completions message with Haystack's
// rules (from_openai_dict_format): "developer" becomes a system message; a
// tool message becomes a tool call result whose origin has only the
// "tool_call_id"; tool call arguments that are "", null or missing mean no
// arguments. Beyond Haystack, a list "content" is converted part by part
// ("text", "image_url" with a data URL, "file" with file_data) instead of
// being taken as text. Unknown members are ignored.
func UnmarshalOpenAI(data []byte) (Message, error) {
	d := jsonx.NewDecoder(data)
	m, err := decodeOpenAI(d, "")
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

// UnmarshalOpenAIList decodes a JSON array of OpenAI messages.
func UnmarshalOpenAIList(data []byte) ([]Message, error) {
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
		m, err := decodeOpenAI(d, "["+strconv.Itoa(n)+"]")
		if err != nil {
			return nil, err
		}
		if err := recheck(d, start); err != nil {
			return nil, atIndex(n, err)
		}
		msgs = append(msgs, m)
	}
	if err := d.Finish(); err != nil {
		return nil, decodeErr("", err)
	}
	return msgs, nil
}

type openAIMessage struct {
	role, name, toolCallID  string
	hasRole, hasName, hasID bool
	text                    *string // content as a string
	parts                   []Part  // content as a list
	toolCalls               []ToolCall
}

var openAIRoles = `"assistant", "user", "system", "developer" and "tool"`

func decodeOpenAI(d *jsonx.Decoder, path string) (Message, error) {
	var o openAIMessage
	err := fieldsLoose(d, path, func(key string) error {
		var err error
		switch key {
		case "role":
			o.hasRole = true
			if d.Peek() != jsonx.String {
				return decodeErr(joinPath(path, "role"), d.Expect("a string, one of "+openAIRoles))
			}
			o.role, err = d.String()
		case "name":
			o.name, o.hasName, err = d.StringOrNull()
		case "tool_call_id":
			o.toolCallID, o.hasID, err = d.StringOrNull()
		case "content":
			return o.decodeContent(d, joinPath(path, "content"))
		case "tool_calls":
			return o.decodeToolCalls(d, joinPath(path, "tool_calls"))
		default:
			err = d.Discard()
		}
		if err != nil {
			return decodeErr(joinPath(path, key), err)
		}
		return nil
	})
	if err != nil {
		return Message{}, err
	}
	if !o.hasRole {
		return Message{}, invalidf(path, "missing \"role\"; an OpenAI message needs a role, one of %s", openAIRoles)
	}
	var name *string
	if o.hasName {
		name = &o.name
	}
	empty := (o.text == nil || *o.text == "") && len(o.parts) == 0
	switch o.role {
	case "assistant":
		if empty && len(o.toolCalls) == 0 {
			return Message{}, invalidf(path, "an assistant message needs \"content\" or \"tool_calls\"")
		}
		m := Message{Role: RoleAssistant, Name: name}
		if o.text != nil {
			m.Content = append(m.Content, Text{Text: *o.text})
		}
		if err := onlyText(o.parts, joinPath(path, "content"), "an assistant message"); err != nil {
			return Message{}, err
		}
		m.Content = append(m.Content, o.parts...)
		for _, c := range o.toolCalls {
			m.Content = append(m.Content, c)
		}
		if m.Content == nil {
			m.Content = []Part{}
		}
		return m, nil
	case "user", "system", "developer", "tool":
	default:
		return Message{}, invalidf(joinPath(path, "role"), "unsupported role %q; valid roles are %s", o.role, openAIRoles)
	}
	if empty {
		return Message{}, invalidf(joinPath(path, "content"), "the %q role needs non-empty \"content\"", o.role)
	}
	switch o.role {
	case "user":
		m := Message{Role: RoleUser, Name: name}
		if o.text != nil {
			m.Content = []Part{Text{Text: *o.text}}
		} else {
			m.Content = o.parts
		}
		return m, nil
	case "system", "developer":
		m := Message{Role: RoleSystem, Name: name}
		if o.text != nil {
			m.Content = []Part{Text{Text: *o.text}}
		} else {
			if err := onlyText(o.parts, joinPath(path, "content"), "a "+o.role+" message"); err != nil {
				return Message{}, err
			}
			m.Content = o.parts
		}
		return m, nil
	}
	// A tool message; OpenAI gives only the id of the call it answers.
	origin := ToolCall{}
	if o.hasID {
		origin.ID = &o.toolCallID
	}
	r := ToolCallResult{Origin: origin}
	if o.text != nil {
		r.Result = *o.text
	} else {
		if err := onlyText(o.parts, joinPath(path, "content"), "a tool result sent through OpenAI"); err != nil {
			return Message{}, err
		}
		r.Parts = o.parts
	}
	return Message{Role: RoleTool, Content: []Part{r}}, nil
}

func onlyText(parts []Part, path, what string) error {
	for i, p := range parts {
		if _, ok := p.(Text); !ok {
			return invalidf(path+"["+strconv.Itoa(i)+"]", "%s can only hold text parts, got %s", what, partName(p))
		}
	}
	return nil
}

// fieldsLoose walks an object, rejecting duplicate keys among those fn is
// called for and leaving unknown ones to fn.
func fieldsLoose(d *jsonx.Decoder, path string, fn func(key string) error) error {
	if err := d.OpenObject(); err != nil {
		return decodeErr(path, err)
	}
	var seen []string
	for n := 0; ; n++ {
		key, ok, err := d.NextKey(n)
		if err != nil {
			return decodeErr(path, err)
		}
		if !ok {
			return nil
		}
		for _, s := range seen {
			if s == key {
				return decodeErr(path, d.DuplicateKey(key))
			}
		}
		seen = append(seen, key)
		if err := fn(key); err != nil {
			return err
		}
	}
}

func (o *openAIMessage) decodeContent(d *jsonx.Decoder, path string) error {
	switch d.Peek() {
	case jsonx.Null:
		_, err := d.Null()
		return decodeErrOrNil(path, err)
	case jsonx.String:
		s, err := d.String()
		if err != nil {
			return decodeErr(path, err)
		}
		o.text = &s
		return nil
	case jsonx.Array:
	default:
		return decodeErr(path, d.Expect("a string, a list of content parts or null"))
	}
	if err := d.OpenArray(); err != nil {
		return decodeErr(path, err)
	}
	o.parts = []Part{}
	for n := 0; ; n++ {
		ok, err := d.NextElem(n)
		if err != nil {
			return decodeErr(path, err)
		}
		if !ok {
			return nil
		}
		p, err := decodeOpenAIPart(d, path+"["+strconv.Itoa(n)+"]")
		if err != nil {
			return err
		}
		o.parts = append(o.parts, p)
	}
}

func decodeErrOrNil(path string, err error) error {
	if err != nil {
		return decodeErr(path, err)
	}
	return nil
}

// decodeOpenAIPart reads one element of a list "content": {"type": "text",
// "text"}, {"type": "image_url", "image_url": {"url", "detail"}} or
// {"type": "file", "file": {"file_data", "filename"}}. A part with a "text"
// and no type is taken as text, as Haystack does for tool results.
func decodeOpenAIPart(d *jsonx.Decoder, path string) (Part, error) {
	var (
		typ, text, url, detail, fileData, filename string
		hasText, hasImage, hasFile                 bool
	)
	err := fieldsLoose(d, path, func(key string) error {
		var err error
		switch key {
		case "type":
			typ, err = d.String()
		case "text":
			hasText = true
			text, err = d.String()
		case "image_url":
			hasImage = true
			err = fieldsLoose(d, joinPath(path, key), func(k string) error {
				var err error
				switch k {
				case "url":
					url, err = d.String()
				case "detail":
					detail, _, err = d.StringOrNull()
				default:
					err = d.Discard()
				}
				return decodeErrOrNil(joinPath(path, key+"."+k), err)
			})
			return err
		case "file":
			hasFile = true
			err = fieldsLoose(d, joinPath(path, key), func(k string) error {
				var err error
				switch k {
				case "file_data":
					fileData, err = d.String()
				case "filename":
					filename, _, err = d.StringOrNull()
				default:
					err = d.Discard()
				}
				return decodeErrOrNil(joinPath(path, key+"."+k), err)
			})
			return err
		default:
			err = d.Discard()
		}
		return decodeErrOrNil(joinPath(path, key), err)
	})
	if err != nil {
		return nil, err
	}
	switch {
	case (typ == "text" || typ == "") && hasText:
		return Text{Text: text}, nil
	case typ == "image_url" && hasImage:
		mime, data, ok := ParseDataURL(url)
		if !ok {
			return nil, invalidf(joinPath(path, "image_url.url"), "must be a base64 data URL (data:image/png;base64,...); images are stored inline, not fetched")
		}
		img := Image{Base64Image: data, MimeType: mime, Detail: detail}
		if err := img.check(joinPath(path, "image_url")); err != nil {
			return nil, err
		}
		return img, nil
	case typ == "file" && hasFile:
		mime, data, ok := ParseDataURL(fileData)
		if !ok {
			return nil, invalidf(joinPath(path, "file.file_data"), "must be a base64 data URL (data:application/pdf;base64,...); uploaded file ids are not supported")
		}
		f := File{Base64Data: data, MimeType: mime, Filename: filename}
		if err := f.check(joinPath(path, "file")); err != nil {
			return nil, err
		}
		return f, nil
	}
	return nil, invalidf(path, "unsupported content part; valid parts are {\"type\": \"text\", \"text\": ...}, {\"type\": \"image_url\", \"image_url\": {\"url\": \"data:...\"}} and {\"type\": \"file\", \"file\": {\"file_data\": \"data:...\"}}")
}

// ParseDataURL splits a data URL, "data:<mime>;base64,<data>", as OpenAI's
// messages carry images and files; ok is false for any other shape. The
// data is not decoded.
func ParseDataURL(s string) (mime, data string, ok bool) {
	rest, ok := strings.CutPrefix(s, "data:")
	if !ok {
		return "", "", false
	}
	head, data, ok := strings.Cut(rest, ",")
	if !ok {
		return "", "", false
	}
	mime, ok = strings.CutSuffix(head, ";base64")
	return mime, data, ok
}

func (o *openAIMessage) decodeToolCalls(d *jsonx.Decoder, path string) error {
	if null, err := d.Null(); null || err != nil {
		return decodeErrOrNil(path, err)
	}
	if err := d.OpenArray(); err != nil {
		return decodeErr(path, err)
	}
	for n := 0; ; n++ {
		ok, err := d.NextElem(n)
		if err != nil {
			return decodeErr(path, err)
		}
		if !ok {
			return nil
		}
		c, err := decodeOpenAIToolCall(d, path+"["+strconv.Itoa(n)+"]")
		if err != nil {
			return err
		}
		o.toolCalls = append(o.toolCalls, c)
	}
}

func decodeOpenAIToolCall(d *jsonx.Decoder, path string) (ToolCall, error) {
	var (
		c                    ToolCall
		hasFunction, hasName bool
		args                 string
	)
	err := fieldsLoose(d, path, func(key string) error {
		var err error
		switch key {
		case "id":
			var id string
			var ok bool
			if id, ok, err = d.StringOrNull(); ok {
				c.ID = &id
			}
		case "function":
			hasFunction = true
			fpath := joinPath(path, "function")
			return fieldsLoose(d, fpath, func(k string) error {
				var err error
				switch k {
				case "name":
					hasName = true
					c.ToolName, err = d.String()
				case "arguments":
					args, _, err = d.StringOrNull()
				default:
					err = d.Discard()
				}
				return decodeErrOrNil(joinPath(fpath, k), err)
			})
		default:
			err = d.Discard()
		}
		return decodeErrOrNil(joinPath(path, key), err)
	})
	if err != nil {
		return ToolCall{}, err
	}
	if !hasFunction {
		return ToolCall{}, invalidf(path, "a tool call needs a \"function\" with \"name\" and \"arguments\"")
	}
	if !hasName {
		return ToolCall{}, invalidf(joinPath(path, "function"), "missing \"name\"; a tool call's function needs the tool name")
	}
	// Zero-argument calls from OpenAI-compatible servers come as "", null
	// or no arguments at all; all mean {}.
	if args == "" {
		return c, nil
	}
	ad := jsonx.NewDecoder([]byte(args))
	m, err := ad.Map()
	if err == nil {
		err = ad.Finish()
	}
	if err != nil {
		return ToolCall{}, invalidf(joinPath(path, "function.arguments"), "must be a string holding a JSON object: %v", err)
	}
	c.Arguments = nilIfEmpty(m)
	return c, nil
}

// appendStringAt is appendString with the error placed at path.
func appendStringAt(dst []byte, s, path string) ([]byte, error) {
	out, err := appendString(dst, s)
	return out, at(path, err)
}
