// Package oaiconv maps OpenAI Conversations items onto chatstore's messages
// (Haystack's ChatMessage model) and back. docs/MESSAGES.md describes the
// mapping; in short:
//
//   - a "message" item is one chat message of its role ("developer" is a
//     system message marked in meta), its content parts text, image and
//     file parts;
//   - a "function_call" item is an assistant message with one tool call;
//   - a "function_call_output" item is a tool message with one result;
//   - a "reasoning" item is an assistant message with one reasoning part.
//
// What Haystack's model cannot hold (content part types, a status, the exact
// arguments string, a reasoning item's summary parts, encrypted content) is
// kept in the message's meta under MetaKey, so that an item written and read
// back is the same item. A message written otherwise (through /v1) may hold
// several items (an assistant's reasoning, text and tool calls); each becomes
// an item of its own, with an id derived from the message's.
//
// Item ids are a type's prefix and the message's chat_message_id: "msg_"
// (message), "fc_" (function_call), "fco_" (function_call_output), "rs_"
// (reasoning); the items of a message that holds several add "_" and the
// item's index in the message: "msg_17_0", "fc_17_1".
package oaiconv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/chatstore/chatstore/chat"
)

// octetStream is the MIME type a data URL gives an image or file of no
// known type.
const octetStream = "application/octet-stream"

// MetaKey is the message meta key that holds what an item has and
// Haystack's model has not.
const MetaKey = "openai"

// The item types stored.
const (
	TypeMessage            = "message"
	TypeFunctionCall       = "function_call"
	TypeFunctionCallOutput = "function_call_output"
	TypeReasoning          = "reasoning"
)

// Types lists the item types stored, for error messages.
const Types = `"message", "function_call", "function_call_output" and "reasoning"`

// Prefix returns the id prefix of an item type.
func Prefix(typ string) string {
	switch typ {
	case TypeMessage:
		return "msg_"
	case TypeFunctionCall:
		return "fc_"
	case TypeFunctionCallOutput:
		return "fco_"
	case TypeReasoning:
		return "rs_"
	}
	return ""
}

// Error is an item that cannot be stored: Param is where (OpenAI's error
// "param", such as "items[2].content[0].image_url"), Msg what is wrong.
type Error struct {
	Param, Msg string
}

func (e *Error) Error() string { return "oaiconv: " + e.Param + ": " + e.Msg }

func errorf(param, format string, args ...any) *Error {
	return &Error{Param: param, Msg: fmt.Sprintf(format, args...)}
}

// Decoded is one input item as a message.
type Decoded struct {
	Message chat.Message
	Type    string
	// ID is the item's "id" when it had one, else "".
	ID string
	// CallID is a function_call_output's call_id: the caller looks up the
	// call (SetOrigin) to fill in the result's origin.
	CallID string
}

// Decode reads one input item. param is its place in the request, for
// errors ("items[3]"). The message has no chat_message_id yet.
func Decode(raw json.RawMessage, param string) (Decoded, error) {
	var item map[string]json.RawMessage
	if err := json.Unmarshal(raw, &item); err != nil || item == nil {
		return Decoded{}, errorf(param, "an item must be a JSON object")
	}
	typ, err := str(item, "type", param, false)
	if err != nil {
		return Decoded{}, err
	}
	if typ == "" {
		_, hasRole := item["role"]
		if _, hasID := item["id"]; hasID && !hasRole {
			typ = "item_reference" // OpenAI's {"id": …} without a type
		} else if !hasRole {
			return Decoded{}, errorf(param+".type", "the item has no type; the types stored are %s", Types)
		} else {
			typ = TypeMessage // an EasyInputMessage: {"role", "content"}
		}
	}
	d := Decoded{Type: typ}
	if d.ID, err = str(item, "id", param, false); err != nil {
		return Decoded{}, err
	}
	meta := map[string]any{}
	if st, err := str(item, "status", param, false); err != nil {
		return Decoded{}, err
	} else if st != "" && st != "completed" {
		meta["status"] = st
	}
	switch typ {
	case TypeMessage:
		d.Message, err = decodeMessage(item, param, meta)
	case TypeFunctionCall:
		d.Message, err = decodeCall(item, param, meta)
	case TypeFunctionCallOutput:
		d.Message, d.CallID, err = decodeOutput(item, param, meta)
	case TypeReasoning:
		d.Message, err = decodeReasoning(item, param, meta)
	default:
		return Decoded{}, errorf(param+".type", "items of type %q cannot be stored in chatstore; the types stored are %s", truncate(typ, 100), Types)
	}
	if err != nil {
		return Decoded{}, err
	}
	if len(meta) > 0 {
		d.Message.Meta = map[string]any{MetaKey: meta}
	}
	return d, nil
}

// SetOrigin sets the origin of a function_call_output's result to call,
// the function_call of the same call_id.
func SetOrigin(m *chat.Message, call chat.ToolCall) {
	if len(m.Content) == 1 {
		if r, ok := m.Content[0].(chat.ToolCallResult); ok {
			r.Origin = call
			m.Content[0] = r
		}
	}
}

var knownMembers = map[string][]string{
	TypeMessage:            {"type", "id", "status", "role", "content"},
	TypeFunctionCall:       {"type", "id", "status", "call_id", "name", "arguments"},
	TypeFunctionCallOutput: {"type", "id", "status", "call_id", "output"},
	TypeReasoning:          {"type", "id", "status", "summary", "content", "encrypted_content"},
}

func checkMembers(item map[string]json.RawMessage, typ, param string) error {
	for k := range item {
		known := false
		for _, n := range knownMembers[typ] {
			known = known || n == k
		}
		if !known {
			return errorf(param+"."+k, "a %s item has no member %q that chatstore stores; the members stored are %s", typ, truncate(k, 100), strings.Join(knownMembers[typ], ", "))
		}
	}
	return nil
}

func decodeMessage(item map[string]json.RawMessage, param string, meta map[string]any) (chat.Message, error) {
	if err := checkMembers(item, TypeMessage, param); err != nil {
		return chat.Message{}, err
	}
	role, err := str(item, "role", param, true)
	if err != nil {
		return chat.Message{}, err
	}
	var m chat.Message
	switch role {
	case "user", "assistant", "system":
		m.Role = chat.Role(role)
	case "developer":
		m.Role = chat.RoleSystem
		meta["role"] = "developer"
	default:
		return chat.Message{}, errorf(param+".role", `unknown role %q; the roles are "user", "assistant", "system" and "developer"`, truncate(role, 100))
	}
	raw, ok := item["content"]
	if !ok {
		return chat.Message{}, errorf(param+".content", "a message item needs content")
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		// A string content is one text part, written back as a list.
		m.Content = []chat.Part{chat.Text{Text: s}}
		return m, nil
	}
	parts, shadows, err := decodeParts(raw, param+".content", false)
	if err != nil {
		return chat.Message{}, err
	}
	m.Content = parts
	if !equalJSON(shadows, defaultShadows(m)) {
		meta["content"] = shadows
	}
	return m, nil
}

// decodeParts reads a list of content parts: text (input_text,
// output_text, refusal), input_image and input_file. It returns the parts
// and, for each, its members but the payload: the shadow from which the
// part is written back.
func decodeParts(raw json.RawMessage, param string, textOnly bool) ([]chat.Part, []any, error) {
	var list []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, nil, errorf(param, "content must be a string or a list of content parts")
	}
	parts := make([]chat.Part, 0, len(list))
	shadows := make([]any, 0, len(list))
	for i, p := range list {
		at := param + "[" + strconv.Itoa(i) + "]"
		typ, err := str(p, "type", at, true)
		if err != nil {
			return nil, nil, err
		}
		var payload string
		switch typ {
		case "input_text", "output_text":
			payload = "text"
		case "refusal":
			payload = "refusal"
		case "input_image":
			payload = "image_url"
		case "input_file":
			payload = "file_data"
		default:
			return nil, nil, errorf(at+".type", `content parts of type %q cannot be stored; chatstore stores "input_text", "output_text", "refusal", "input_image" (as a data URL) and "input_file" (with file_data)`, truncate(typ, 100))
		}
		val, err := str(p, payload, at, true)
		if err != nil {
			return nil, nil, err
		}
		shadow := map[string]any{}
		for k, v := range p {
			if k == payload {
				continue
			}
			var x any
			dec := json.NewDecoder(bytes.NewReader(v))
			dec.UseNumber()
			if err := dec.Decode(&x); err != nil {
				return nil, nil, errorf(at+"."+k, "not valid JSON")
			}
			shadow[k] = x
		}
		switch typ {
		case "input_text", "output_text", "refusal":
			parts = append(parts, chat.Text{Text: val})
		case "input_image":
			if _, ok := p["file_id"]; ok {
				return nil, nil, errorf(at+".file_id", "images by file_id cannot be stored; send the image as a data URL in image_url")
			}
			mime, data, ok := dataURL(val)
			if !ok {
				return nil, nil, errorf(at+".image_url", "chatstore stores images as base64 (Haystack's ImageContent): image_url must be a data URL (data:image/png;base64,…), not a link")
			}
			detail, _ := shadow["detail"].(string)
			img, err := chat.NewImage(data, mime, detail)
			if err != nil && mime == octetStream {
				// An image without a MIME type, which Haystack keeps when
				// its bytes are of no type it knows, is written as
				// application/octet-stream (writeParts), which is no image
				// type: read back such an image as it was written, so that
				// the item round-trips. Other images of that type are
				// still refused.
				if unknown, err2 := chat.NewImage(data, "", detail); err2 == nil && unknown.MimeType == "" {
					img, err = unknown, nil
				}
			}
			if err != nil {
				return nil, nil, errorf(at+".image_url", "%s", strings.TrimPrefix(err.Error(), "chat: "))
			}
			parts = append(parts, img)
		case "input_file":
			for _, k := range []string{"file_id", "file_url"} {
				if _, ok := p[k]; ok {
					return nil, nil, errorf(at+"."+k, "files by %s cannot be stored; send the file's bytes in file_data", k)
				}
			}
			mime, data, ok := dataURL(val)
			if !ok {
				data = val // plain base64
			}
			filename, _ := shadow["filename"].(string)
			f, err := chat.NewFile(data, mime, filename)
			if err != nil {
				return nil, nil, errorf(at+".file_data", "%s", strings.TrimPrefix(err.Error(), "chat: "))
			}
			if !ok {
				shadow["plain"] = true // file_data was base64, not a data URL
			}
			parts = append(parts, f)
		}
		if textOnly && typ != "input_text" && typ != "output_text" {
			return nil, nil, errorf(at+".type", "only text parts may be here")
		}
		shadows = append(shadows, shadow)
	}
	return parts, shadows, nil
}

func decodeCall(item map[string]json.RawMessage, param string, meta map[string]any) (chat.Message, error) {
	if err := checkMembers(item, TypeFunctionCall, param); err != nil {
		return chat.Message{}, err
	}
	callID, err := str(item, "call_id", param, true)
	if err != nil {
		return chat.Message{}, err
	}
	name, err := str(item, "name", param, true)
	if err != nil {
		return chat.Message{}, err
	}
	args, err := str(item, "arguments", param, true)
	if err != nil {
		return chat.Message{}, err
	}
	call := chat.ToolCall{ToolName: name, ID: &callID}
	var parsed map[string]any
	dec := json.NewDecoder(strings.NewReader(args))
	dec.UseNumber()
	if dec.Decode(&parsed) == nil && parsed != nil && !dec.More() {
		call.Arguments = parsed
	}
	if encodeArgs(call.Arguments) != args {
		meta["arguments"] = args // kept exactly: not a JSON object, or not as json.Marshal writes it
	}
	return chat.Message{Role: chat.RoleAssistant, Content: []chat.Part{call}}, nil
}

func decodeOutput(item map[string]json.RawMessage, param string, meta map[string]any) (chat.Message, string, error) {
	if err := checkMembers(item, TypeFunctionCallOutput, param); err != nil {
		return chat.Message{}, "", err
	}
	callID, err := str(item, "call_id", param, true)
	if err != nil {
		return chat.Message{}, "", err
	}
	raw, ok := item["output"]
	if !ok {
		return chat.Message{}, "", errorf(param+".output", "a function_call_output item needs output")
	}
	res := chat.ToolCallResult{Origin: chat.ToolCall{ID: &callID}}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		res.Result = s
	} else {
		parts, shadows, err := decodeParts(raw, param+".output", false)
		if err != nil {
			return chat.Message{}, "", err
		}
		res.Parts = parts
		if !equalJSON(shadows, defaultPartShadows(parts, chat.RoleUser)) {
			meta["output"] = shadows
		}
	}
	return chat.Message{Role: chat.RoleTool, Content: []chat.Part{res}}, callID, nil
}

func decodeReasoning(item map[string]json.RawMessage, param string, meta map[string]any) (chat.Message, error) {
	if err := checkMembers(item, TypeReasoning, param); err != nil {
		return chat.Message{}, err
	}
	var summary []struct{ Type, Text string }
	if raw, ok := item["summary"]; ok {
		if err := json.Unmarshal(raw, &summary); err != nil {
			return chat.Message{}, errorf(param+".summary", `summary must be a list of {"type": "summary_text", "text": …}`)
		}
	}
	texts := make([]string, len(summary))
	for i, p := range summary {
		if p.Type != "summary_text" {
			return chat.Message{}, errorf(fmt.Sprintf("%s.summary[%d].type", param, i), `summary parts are of type "summary_text"`)
		}
		texts[i] = p.Text
	}
	// One part of text is the reasoning text, read back as that part; an
	// empty text reads back as no part (a Haystack reasoning with no text),
	// so one empty part is kept like any other count of parts.
	if len(summary) != 1 || texts[0] == "" {
		list := make([]any, len(summary))
		for i, t := range texts {
			list[i] = t
		}
		meta["summary"] = list
	}
	for _, k := range []string{"content", "encrypted_content"} {
		if raw, ok := item[k]; ok && string(raw) != "null" {
			var x any
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.UseNumber()
			if err := dec.Decode(&x); err != nil {
				return chat.Message{}, errorf(param+"."+k, "not valid JSON")
			}
			meta[k] = x
		}
	}
	r := chat.Reasoning{ReasoningText: strings.Join(texts, "\n\n")}
	return chat.Message{Role: chat.RoleAssistant, Content: []chat.Part{r}}, nil
}

// Item is one item of a stored message, in OpenAI's shape.
type Item struct {
	ID   string
	Type string
	JSON map[string]any
}

// ItemOptions choose optional members of items.
type ItemOptions struct {
	// EncryptedContent adds reasoning items' encrypted_content, as
	// include=reasoning.encrypted_content asks.
	EncryptedContent bool
}

// Items returns the items of a stored message, with their ids.
func Items(m chat.Message, o ItemOptions) []Item {
	mid, _ := m.Meta["chat_message_id"].(string)
	meta, _ := m.Meta[MetaKey].(map[string]any)
	var items []Item
	var content []chat.Part
	for _, p := range m.Content {
		switch p := p.(type) {
		case chat.Reasoning:
			items = append(items, Item{Type: TypeReasoning, JSON: reasoningItem(p)})
		case chat.Text, chat.Image, chat.File:
			content = append(content, p)
		}
	}
	if len(content) > 0 || len(m.Content) == 0 {
		items = append(items, Item{Type: TypeMessage})
	}
	for _, p := range m.Content {
		switch p := p.(type) {
		case chat.ToolCall:
			items = append(items, Item{Type: TypeFunctionCall, JSON: callItem(p)})
		case chat.ToolCallResult:
			items = append(items, Item{Type: TypeFunctionCallOutput, JSON: outputItem(p, nil)})
		}
	}
	single := len(items) == 1
	if !single {
		meta = nil // written through /v1: nothing of OpenAI's kept
	}
	for i := range items {
		it := &items[i]
		it.ID = Prefix(it.Type) + mid
		if !single {
			it.ID += "_" + strconv.Itoa(i)
		}
		switch it.Type {
		case TypeMessage:
			it.JSON = messageItem(m.Role, content, meta)
		case TypeFunctionCall:
			if a, ok := meta["arguments"].(string); ok {
				it.JSON["arguments"] = a
			}
		case TypeFunctionCallOutput:
			if sh, ok := meta["output"].([]any); ok {
				r := m.Content[0].(chat.ToolCallResult)
				it.JSON = outputItem(r, sh)
			}
		case TypeReasoning:
			if s, ok := meta["summary"].([]any); ok {
				list := make([]any, 0, len(s))
				for _, t := range s {
					list = append(list, map[string]any{"type": "summary_text", "text": t})
				}
				it.JSON["summary"] = list
			}
			if c, ok := meta["content"]; ok {
				it.JSON["content"] = c
			}
			if e, ok := meta["encrypted_content"]; ok && o.EncryptedContent {
				it.JSON["encrypted_content"] = e
			}
		}
		it.JSON["id"] = it.ID
		it.JSON["type"] = it.Type
		status := "completed"
		if s, ok := meta["status"].(string); ok {
			status = s
		}
		it.JSON["status"] = status
	}
	return items
}

// Candidates returns the chat_message_ids an item id may come from: its
// id without the type's prefix, and without a trailing "_N" as well.
func Candidates(itemID string) []string {
	for _, t := range []string{TypeFunctionCallOutput, TypeMessage, TypeFunctionCall, TypeReasoning} {
		rest, ok := strings.CutPrefix(itemID, Prefix(t))
		if !ok || rest == "" {
			continue
		}
		c := []string{rest}
		if i := strings.LastIndexByte(rest, '_'); i > 0 {
			if _, err := strconv.Atoi(rest[i+1:]); err == nil {
				c = append(c, rest[:i])
			}
		}
		return c
	}
	return nil
}

func messageItem(role chat.Role, parts []chat.Part, meta map[string]any) map[string]any {
	r := string(role)
	if meta["role"] == "developer" && role == chat.RoleSystem {
		r = "developer"
	}
	shadows, _ := meta["content"].([]any)
	if len(shadows) != len(parts) {
		shadows = defaultPartShadows(parts, role)
	}
	return map[string]any{"role": r, "content": writeParts(parts, shadows)}
}

func writeParts(parts []chat.Part, shadows []any) []any {
	out := make([]any, len(parts))
	for i, p := range parts {
		j := map[string]any{}
		sh, _ := shadows[i].(map[string]any)
		for k, v := range sh {
			j[k] = v
		}
		plain := j["plain"] == true
		delete(j, "plain")
		switch p := p.(type) {
		case chat.Text:
			if j["type"] == "refusal" {
				j["refusal"] = p.Text
			} else {
				j["text"] = p.Text
			}
		case chat.Image:
			j["image_url"] = "data:" + orDefault(p.MimeType, octetStream) + ";base64," + p.Base64Image
		case chat.File:
			if plain {
				j["file_data"] = p.Base64Data
			} else {
				j["file_data"] = "data:" + orDefault(p.MimeType, octetStream) + ";base64," + p.Base64Data
			}
		}
		out[i] = j
	}
	return out
}

func defaultShadows(m chat.Message) []any { return defaultPartShadows(m.Content, m.Role) }

func defaultPartShadows(parts []chat.Part, role chat.Role) []any {
	out := make([]any, len(parts))
	for i, p := range parts {
		switch p := p.(type) {
		case chat.Text:
			if t := defaultTextType(role); t == "output_text" {
				out[i] = map[string]any{"type": t, "annotations": []any{}}
			} else {
				out[i] = map[string]any{"type": t}
			}
		case chat.Image:
			out[i] = map[string]any{"type": "input_image", "detail": orDefault(p.Detail, "auto")}
		case chat.File:
			sh := map[string]any{"type": "input_file"}
			if p.Filename != "" {
				sh["filename"] = p.Filename
			}
			out[i] = sh
		default:
			out[i] = map[string]any{}
		}
	}
	return out
}

func defaultTextType(role chat.Role) string {
	if role == chat.RoleAssistant {
		return "output_text"
	}
	return "input_text"
}

func callItem(c chat.ToolCall) map[string]any {
	return map[string]any{"call_id": deref(c.ID), "name": c.ToolName, "arguments": encodeArgs(c.Arguments)}
}

func outputItem(r chat.ToolCallResult, shadows []any) map[string]any {
	j := map[string]any{"call_id": deref(r.Origin.ID)}
	if r.Parts == nil {
		j["output"] = r.Result
		return j
	}
	if len(shadows) != len(r.Parts) {
		shadows = defaultPartShadows(r.Parts, chat.RoleUser)
	}
	j["output"] = writeParts(r.Parts, shadows)
	return j
}

func reasoningItem(r chat.Reasoning) map[string]any {
	summary := []any{}
	if r.ReasoningText != "" {
		summary = append(summary, map[string]any{"type": "summary_text", "text": r.ReasoningText})
	}
	return map[string]any{"summary": summary}
}

// encodeArgs writes tool call arguments as a function_call's arguments
// string: compact JSON with sorted keys, {} for none.
func encodeArgs(args map[string]any) string {
	if args == nil {
		return "{}"
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(args); err != nil {
		return "{}"
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// dataURL splits "data:MIME;base64,DATA" (chat.ParseDataURL) whose data
// is valid base64.
//
// Valid as package chat reads base64 (Python's b64decode(validate=True),
// which Haystack uses), not as Go's decoder does: Python's padding rules
// are looser ("AAAA=" is valid), and an image or file chatstore holds is
// written back as a data URL of its base64 as it is, which must read back.
// chat.NewFile with a MIME type checks just the base64.
func dataURL(s string) (mime, data string, ok bool) {
	mime, data, ok = chat.ParseDataURL(s)
	if !ok {
		return "", "", false
	}
	if _, err := chat.NewFile(data, octetStream, ""); err != nil {
		return "", "", false
	}
	return mime, data, true
}

func str(item map[string]json.RawMessage, key, param string, required bool) (string, error) {
	raw, ok := item[key]
	if !ok || string(raw) == "null" {
		if required {
			return "", errorf(param+"."+key, "missing %q", key)
		}
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", errorf(param+"."+key, "%q must be a string", key)
	}
	return s, nil
}

func equalJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
