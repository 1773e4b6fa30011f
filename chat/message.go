// Package chat is Haystack's chat message model in Go: a Message has a role,
// an ordered list of content parts (text, tool calls, tool call results,
// reasoning, images, files), an optional name and free-form meta.
//
// Messages encode to exactly the JSON of Haystack's ChatMessage.to_dict() and
// decode everything ChatMessage.from_dict() accepts, so a Go program and a
// Python Haystack pipeline can share one conversation. They also convert to
// and from OpenAI Chat Completions messages with Haystack's rules.
//
// Values in Meta, ToolCall.Arguments and the various Extra maps are JSON
// values. Decoding produces map[string]any, []any, string, bool, nil and
// json.Number; numbers are kept as their literal text so that 2^70 and 1.0
// survive a round trip unchanged.
package chat

import (
	"fmt"
	"slices"
)

// Role says who sent a message.
type Role string

// The roles Haystack knows.
const (
	RoleUser      Role = "user"
	RoleSystem    Role = "system"
	RoleAssistant Role = "assistant"
	RoleTool      Role = "tool"
)

// Valid reports whether r is one of the four roles.
func (r Role) Valid() bool {
	switch r {
	case RoleUser, RoleSystem, RoleAssistant, RoleTool:
		return true
	}
	return false
}

// Message is one message of a conversation.
//
// A Message is a plain value, but its slices and maps are shared when it is
// copied with =. Use Clone to get a copy that shares nothing.
type Message struct {
	Role    Role
	Content []Part
	// Name is the optional participant name; nil means unset, which is
	// distinct from an empty name (Haystack's None versus "").
	Name *string
	// Meta is free-form metadata. A nil map is written as {}.
	Meta map[string]any
}

// Part is one content part of a message: Text, ToolCall, ToolCallResult,
// Reasoning, Image or File. Use a type switch to tell them apart.
type Part interface {
	isPart()
}

// Text is a text content part.
type Text struct {
	Text string
}

// ToolCall is a tool invocation prepared by the model, usually in an
// assistant message.
type ToolCall struct {
	ToolName  string
	Arguments map[string]any // nil is written as {}
	// ID is the provider's id for the call; nil means none.
	ID *string
	// Extra holds provider-specific data; nil is written as null, an empty
	// map as {} (Haystack distinguishes the two).
	Extra map[string]any
}

// ToolCallResult is the result of a tool invocation, in a tool message.
type ToolCallResult struct {
	// Result is the result text. It is used when Parts is nil.
	Result string
	// Parts, when non-nil, is the result as a list of Text, Image and File
	// parts instead of a string. An empty non-nil slice is an empty list.
	Parts  []Part
	Origin ToolCall
	Error  bool
}

// Reasoning is the model's reasoning, usually in an assistant message.
type Reasoning struct {
	ReasoningText string
	Extra         map[string]any // nil is written as {}
}

// Image is an image content part.
type Image struct {
	Base64Image string
	// MimeType is the image's MIME type; "" means unknown and is written
	// as null.
	MimeType string
	// Detail is "auto", "high", "low", or "" for none (written as null).
	Detail string
	Meta   map[string]any // nil is written as {}
	// SkipValidation mirrors Haystack's validation=False: the base64 data
	// and MIME type are taken as they are. It is written as
	// "validation": false.
	SkipValidation bool
}

// File is a file content part.
type File struct {
	Base64Data string
	// MimeType is the file's MIME type; "" means unknown and is written as
	// null.
	MimeType string
	// Filename is the file's name; "" means none and is written as null.
	Filename string
	Extra    map[string]any // nil is written as {}
	// SkipValidation mirrors Haystack's validation=False.
	SkipValidation bool
}

func (Text) isPart()           {}
func (ToolCall) isPart()       {}
func (ToolCallResult) isPart() {}
func (Reasoning) isPart()      {}
func (Image) isPart()          {}
func (File) isPart()           {}

// User returns a user message holding text (Haystack's from_user(text=...)).
func User(text string) Message {
	return Message{Role: RoleUser, Content: []Part{Text{Text: text}}}
}

// UserParts returns a user message made of Text, Image and File parts
// (Haystack's from_user(content_parts=...)). It fails when parts is empty or
// holds another kind of part.
func UserParts(parts ...Part) (Message, error) {
	if len(parts) == 0 {
		return Message{}, invalidf("", "a user message must contain at least one content part (text, image or file)")
	}
	for i, p := range parts {
		switch p.(type) {
		case Text, Image, File:
		default:
			return Message{}, invalidf(fmt.Sprintf("content[%d]", i), "a user message can only hold text, image and file parts, got %s", partName(p))
		}
	}
	return Message{Role: RoleUser, Content: slices.Clone(parts)}, nil
}

// System returns a system message holding text.
func System(text string) Message {
	return Message{Role: RoleSystem, Content: []Part{Text{Text: text}}}
}

// Assistant returns an assistant message holding text and then the given
// tool calls, as Haystack's from_assistant(text, tool_calls=...). When text
// is "" and there are tool calls, no text part is added, which is what
// from_assistant(tool_calls=...) produces; build the Message directly for the
// rare message that needs both an empty text part and tool calls.
func Assistant(text string, calls ...ToolCall) Message {
	content := make([]Part, 0, 1+len(calls))
	if text != "" || len(calls) == 0 {
		content = append(content, Text{Text: text})
	}
	for _, c := range calls {
		content = append(content, c)
	}
	return Message{Role: RoleAssistant, Content: content}
}

// Tool returns a tool message holding the string result of the call origin
// (Haystack's from_tool).
func Tool(result string, origin ToolCall, isError bool) Message {
	return Message{Role: RoleTool, Content: []Part{ToolCallResult{Result: result, Origin: origin, Error: isError}}}
}

// ToolParts returns a tool message whose result is a list of Text, Image and
// File parts.
func ToolParts(parts []Part, origin ToolCall, isError bool) (Message, error) {
	r := ToolCallResult{Parts: slices.Clone(parts), Origin: origin, Error: isError}
	if r.Parts == nil {
		r.Parts = []Part{}
	}
	if err := r.validate(); err != nil {
		return Message{}, at("content[0].tool_call_result", err)
	}
	return Message{Role: RoleTool, Content: []Part{r}}, nil
}

// WithName returns a copy of m with the given name.
func (m Message) WithName(name string) Message {
	m.Name = &name
	return m
}

// WithMeta returns a copy of m whose meta is m's meta with key set to value.
// m's own meta map is not modified.
func (m Message) WithMeta(key string, value any) Message {
	meta := make(map[string]any, len(m.Meta)+1)
	for k, v := range m.Meta {
		meta[k] = v
	}
	meta[key] = value
	m.Meta = meta
	return m
}

// WithReasoning returns a copy of m with a reasoning part in front of its
// content, where Haystack's from_assistant puts it.
func (m Message) WithReasoning(text string) Message {
	content := make([]Part, 0, len(m.Content)+1)
	content = append(content, Reasoning{ReasoningText: text})
	m.Content = append(content, m.Content...)
	return m
}

// Is reports whether m is from role.
func (m Message) Is(role Role) bool { return m.Role == role }

// Texts returns the text of every Text part, in order.
func (m Message) Texts() []string {
	var out []string
	for _, p := range m.Content {
		if t, ok := p.(Text); ok {
			out = append(out, t.Text)
		}
	}
	return out
}

// Text returns the first text of the message and whether it has one.
func (m Message) Text() (string, bool) {
	for _, p := range m.Content {
		if t, ok := p.(Text); ok {
			return t.Text, true
		}
	}
	return "", false
}

// ToolCalls returns every tool call of the message, in order.
func (m Message) ToolCalls() []ToolCall { return partsOf[ToolCall](m.Content) }

// ToolCall returns the first tool call and whether there is one.
func (m Message) ToolCall() (ToolCall, bool) { return firstOf[ToolCall](m.Content) }

// ToolCallResults returns every tool call result of the message, in order.
func (m Message) ToolCallResults() []ToolCallResult { return partsOf[ToolCallResult](m.Content) }

// ToolCallResult returns the first tool call result and whether there is one.
func (m Message) ToolCallResult() (ToolCallResult, bool) { return firstOf[ToolCallResult](m.Content) }

// Reasonings returns every reasoning part of the message, in order.
func (m Message) Reasonings() []Reasoning { return partsOf[Reasoning](m.Content) }

// Reasoning returns the first reasoning part and whether there is one.
func (m Message) Reasoning() (Reasoning, bool) { return firstOf[Reasoning](m.Content) }

// Images returns every image of the message, in order.
func (m Message) Images() []Image { return partsOf[Image](m.Content) }

// Image returns the first image and whether there is one.
func (m Message) Image() (Image, bool) { return firstOf[Image](m.Content) }

// Files returns every file of the message, in order.
func (m Message) Files() []File { return partsOf[File](m.Content) }

// File returns the first file and whether there is one.
func (m Message) File() (File, bool) { return firstOf[File](m.Content) }

func partsOf[T Part](content []Part) []T {
	var out []T
	for _, p := range content {
		if v, ok := p.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

func firstOf[T Part](content []Part) (T, bool) {
	for _, p := range content {
		if v, ok := p.(T); ok {
			return v, true
		}
	}
	var zero T
	return zero, false
}

// Ptr returns a pointer to v, for optional fields such as ToolCall.ID and
// Message.Name.
func Ptr[T any](v T) *T { return &v }

func partName(p Part) string {
	switch p.(type) {
	case Text:
		return "a text part"
	case ToolCall:
		return "a tool_call part"
	case ToolCallResult:
		return "a tool_call_result part"
	case Reasoning:
		return "a reasoning part"
	case Image:
		return "an image part"
	case File:
		return "a file part"
	case nil:
		return "a nil part"
	}
	return fmt.Sprintf("an unknown part type %T", p)
}
