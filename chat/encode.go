package chat

import (
	"github.com/chatstore/chatstore/internal/jsonx"
)

// MarshalJSON encodes m in the shape of Haystack's ChatMessage.to_dict().
func (m Message) MarshalJSON() ([]byte, error) {
	return m.AppendJSON(make([]byte, 0, 256))
}

// AppendJSON appends the JSON of m, in the shape of Haystack's current
// ChatMessage.to_dict():
//
//	{"role":"assistant","meta":{},"name":null,"content":[{"text":"Hi"}]}
//
// Meta keys are written in sorted order. It fails on an unknown role or part
// type, strings that are not valid UTF-8, and values that have no JSON form
// (NaN, channels); on failure dst is returned unchanged.
func (m Message) AppendJSON(dst []byte) ([]byte, error) {
	out, err := m.appendJSON(dst)
	if err != nil {
		return dst, err
	}
	return out, nil
}

func (m Message) appendJSON(dst []byte) ([]byte, error) {
	if !m.Role.Valid() {
		return dst, invalidf("role", "unknown role %q; valid roles are \"user\", \"system\", \"assistant\" and \"tool\"", string(m.Role))
	}
	dst = append(dst, `{"role":"`...)
	dst = append(dst, m.Role...)
	dst = append(dst, `","meta":`...)
	dst, err := appendObject(dst, m.Meta)
	if err != nil {
		return dst, at("meta", err)
	}
	dst = append(dst, `,"name":`...)
	if m.Name == nil {
		dst = append(dst, "null"...)
	} else if dst, err = appendString(dst, *m.Name); err != nil {
		return dst, at("name", err)
	}
	dst = append(dst, `,"content":`...)
	if dst, err = appendParts(dst, m.Content, false); err != nil {
		return dst, at("content", err)
	}
	return append(dst, '}'), nil
}

func appendParts(dst []byte, parts []Part, inResult bool) ([]byte, error) {
	dst = append(dst, '[')
	for i, p := range parts {
		if i > 0 {
			dst = append(dst, ',')
		}
		var err error
		if dst, err = appendPart(dst, p, inResult); err != nil {
			return dst, atIndex(i, err)
		}
	}
	return append(dst, ']'), nil
}

func appendPart(dst []byte, p Part, inResult bool) ([]byte, error) {
	var err error
	switch p := p.(type) {
	case Text:
		dst = append(dst, `{"text":`...)
		if dst, err = appendString(dst, p.Text); err != nil {
			return dst, at("text", err)
		}
		return append(dst, '}'), nil
	case Image:
		dst = append(dst, `{"image":`...)
		if dst, err = p.appendJSON(dst); err != nil {
			return dst, at("image", err)
		}
		return append(dst, '}'), nil
	case File:
		dst = append(dst, `{"file":`...)
		if dst, err = p.appendJSON(dst); err != nil {
			return dst, at("file", err)
		}
		return append(dst, '}'), nil
	}
	if inResult {
		return dst, invalidf("", "a tool call result list can only hold text, image and file parts, got %s", partName(p))
	}
	switch p := p.(type) {
	case ToolCall:
		dst = append(dst, `{"tool_call":`...)
		if dst, err = p.appendJSON(dst); err != nil {
			return dst, at("tool_call", err)
		}
	case ToolCallResult:
		dst = append(dst, `{"tool_call_result":`...)
		if dst, err = p.appendJSON(dst); err != nil {
			return dst, at("tool_call_result", err)
		}
	case Reasoning:
		dst = append(dst, `{"reasoning":{"reasoning_text":`...)
		if dst, err = appendString(dst, p.ReasoningText); err != nil {
			return dst, at("reasoning.reasoning_text", err)
		}
		dst = append(dst, `,"extra":`...)
		if dst, err = appendObject(dst, p.Extra); err != nil {
			return dst, at("reasoning.extra", err)
		}
		dst = append(dst, '}')
	default:
		return dst, invalidf("", "%s is not a content part; valid parts are text, tool_call, tool_call_result, reasoning, image and file", partName(p))
	}
	return append(dst, '}'), nil
}

func (r ToolCallResult) appendJSON(dst []byte) ([]byte, error) {
	var err error
	dst = append(dst, `{"result":`...)
	if r.Parts != nil {
		dst, err = appendParts(dst, r.Parts, true)
	} else {
		dst, err = appendString(dst, r.Result)
	}
	if err != nil {
		return dst, at("result", err)
	}
	dst = append(dst, `,"origin":`...)
	if dst, err = r.Origin.appendJSON(dst); err != nil {
		return dst, at("origin", err)
	}
	dst = append(dst, `,"error":`...)
	dst = appendBool(dst, r.Error)
	return append(dst, '}'), nil
}

func (c ToolCall) appendJSON(dst []byte) ([]byte, error) {
	dst = append(dst, `{"tool_name":`...)
	dst, err := appendString(dst, c.ToolName)
	if err != nil {
		return dst, at("tool_name", err)
	}
	dst = append(dst, `,"arguments":`...)
	if dst, err = appendObject(dst, c.Arguments); err != nil {
		return dst, at("arguments", err)
	}
	dst = append(dst, `,"id":`...)
	if c.ID == nil {
		dst = append(dst, "null"...)
	} else if dst, err = appendString(dst, *c.ID); err != nil {
		return dst, at("id", err)
	}
	dst = append(dst, `,"extra":`...)
	if c.Extra == nil {
		dst = append(dst, "null"...)
	} else if dst, err = appendObject(dst, c.Extra); err != nil {
		return dst, at("extra", err)
	}
	return append(dst, '}'), nil
}

func (img Image) appendJSON(dst []byte) ([]byte, error) {
	switch img.Detail {
	case "", "auto", "high", "low":
	default:
		return dst, invalidf("detail", "unknown detail %q; valid values are \"auto\", \"high\", \"low\" and null", img.Detail)
	}
	dst = append(dst, `{"base64_image":`...)
	dst, err := appendString(dst, img.Base64Image)
	if err != nil {
		return dst, at("base64_image", err)
	}
	dst = append(dst, `,"mime_type":`...)
	if dst, err = appendOptString(dst, img.MimeType); err != nil {
		return dst, at("mime_type", err)
	}
	dst = append(dst, `,"detail":`...)
	dst, _ = appendOptString(dst, img.Detail)
	dst = append(dst, `,"meta":`...)
	if dst, err = appendObject(dst, img.Meta); err != nil {
		return dst, at("meta", err)
	}
	dst = append(dst, `,"validation":`...)
	dst = appendBool(dst, !img.SkipValidation)
	return append(dst, '}'), nil
}

func (f File) appendJSON(dst []byte) ([]byte, error) {
	dst = append(dst, `{"base64_data":`...)
	dst, err := appendString(dst, f.Base64Data)
	if err != nil {
		return dst, at("base64_data", err)
	}
	dst = append(dst, `,"mime_type":`...)
	if dst, err = appendOptString(dst, f.MimeType); err != nil {
		return dst, at("mime_type", err)
	}
	dst = append(dst, `,"filename":`...)
	if dst, err = appendOptString(dst, f.Filename); err != nil {
		return dst, at("filename", err)
	}
	dst = append(dst, `,"extra":`...)
	if dst, err = appendObject(dst, f.Extra); err != nil {
		return dst, at("extra", err)
	}
	dst = append(dst, `,"validation":`...)
	dst = appendBool(dst, !f.SkipValidation)
	return append(dst, '}'), nil
}

func appendBool(dst []byte, b bool) []byte {
	if b {
		return append(dst, "true"...)
	}
	return append(dst, "false"...)
}

func appendString(dst []byte, s string) ([]byte, error) {
	out, err := jsonx.AppendString(dst, s, jsonx.Compact)
	if err != nil {
		return dst, invalidf("", "%v", err)
	}
	return out, nil
}

// appendOptString writes "" as null: Haystack treats a missing and an empty
// MIME type, filename or detail alike.
func appendOptString(dst []byte, s string) ([]byte, error) {
	if s == "" {
		return append(dst, "null"...), nil
	}
	return appendString(dst, s)
}

// appendObject writes a JSON object; nil is written as {}.
func appendObject(dst []byte, m map[string]any) ([]byte, error) {
	if len(m) == 0 {
		return append(dst, '{', '}'), nil
	}
	out, err := jsonx.AppendValue(dst, m, jsonx.Compact)
	if err != nil {
		return dst, invalidf("", "%v", err)
	}
	return out, nil
}
