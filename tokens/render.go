package tokens

import (
	"github.com/chatstore/chatstore/chat"
)

// Tool is the schema of a tool offered to the model: Haystack's
// Tool.tool_spec, which holds exactly these three fields.
type Tool struct {
	Name        string
	Description string
	// Parameters is the JSON schema of the tool's arguments; nil is
	// written as {}.
	Parameters map[string]any
}

// Render returns the text that Haystack's local token counters measure
// for msgs and tools: each message rendered on its own lines, the messages
// joined with "\n", and the JSON of the tool schemas glued on after them
// with no separator. The package comment gives the rules.
func Render(msgs []chat.Message, tools []Tool) string {
	return string(appendRender(nil, msgs, tools))
}

func appendRender(dst []byte, msgs []chat.Message, tools []Tool) []byte {
	for i, m := range msgs {
		if i > 0 {
			dst = append(dst, '\n')
		}
		dst = appendMessage(dst, m)
	}
	return appendTools(dst, tools)
}

// appendMessage renders one message as Haystack's render_message does for
// its counters (no tool call ids, the default placeholders).
func appendMessage(dst []byte, m chat.Message) []byte {
	// A message with tool results is its results: one line each, and any
	// other part of it is not rendered.
	first := true
	for _, p := range m.Content {
		r, ok := p.(chat.ToolCallResult)
		if !ok {
			continue
		}
		if !first {
			dst = append(dst, '\n')
		}
		first = false
		dst = append(dst, "[tool:"...)
		dst = append(dst, r.Origin.ToolName...)
		if r.Error {
			dst = append(dst, " (error)"...)
		}
		dst = append(dst, "] "...)
		if r.Parts == nil {
			dst = append(dst, r.Result...)
			continue
		}
		for _, q := range r.Parts {
			if t, ok := q.(chat.Text); ok {
				dst = append(dst, t.Text...)
			} else {
				dst = appendPlaceholder(dst, q)
			}
		}
	}
	if !first {
		return dst
	}

	// Otherwise the lines come in a fixed order, whatever the order of the
	// parts: all texts under one prefix, then each tool call, then each
	// image, then each file. Reasoning is not rendered.
	start := len(dst)
	role := string(m.Role)
	line := func() {
		if len(dst) > start {
			dst = append(dst, '\n')
		}
	}
	texts := 0
	for _, p := range m.Content {
		if t, ok := p.(chat.Text); ok {
			if texts == 0 {
				dst = appendPrefix(dst, role)
			} else {
				dst = append(dst, '\n')
			}
			dst = append(dst, t.Text...)
			texts++
		}
	}
	for _, p := range m.Content {
		if c, ok := p.(chat.ToolCall); ok {
			line()
			dst = append(dst, '[')
			dst = append(dst, role...)
			dst = append(dst, " -> tool_call] "...)
			dst = append(dst, c.ToolName...)
			dst = append(dst, '(')
			if c.Arguments == nil {
				dst = append(dst, "{}"...)
			} else {
				dst = appendPyJSON(dst, c.Arguments)
			}
			dst = append(dst, ')')
		}
	}
	for _, p := range m.Content {
		if _, ok := p.(chat.Image); ok {
			line()
			dst = appendPrefix(dst, role)
			dst = appendPlaceholder(dst, p)
		}
	}
	for _, p := range m.Content {
		if _, ok := p.(chat.File); ok {
			line()
			dst = appendPrefix(dst, role)
			dst = appendPlaceholder(dst, p)
		}
	}
	// One empty text is a line, "[role] "; only a message with no line
	// at all (reasoning alone, or nothing) is "<no content>".
	if len(dst) == start {
		dst = appendPrefix(dst, role)
		dst = append(dst, "<no content>"...)
	}
	return dst
}

func appendPrefix(dst []byte, role string) []byte {
	dst = append(dst, '[')
	dst = append(dst, role...)
	return append(dst, "] "...)
}

// appendPlaceholder writes what the counters put in place of a part that is
// not text. Haystack writes "<ClassName>" for a part it has no placeholder
// for; only an image or a file can stand in a tool result, and a message
// never reaches here with other kinds, but they are named as Haystack would.
func appendPlaceholder(dst []byte, p chat.Part) []byte {
	switch p := p.(type) {
	case chat.Image:
		return append(dst, "<image>"...)
	case chat.File:
		name := p.Filename
		if name == "" {
			name = "unnamed"
		}
		dst = append(dst, "<file: "...)
		dst = append(dst, name...)
		return append(dst, '>')
	case chat.Reasoning:
		return append(dst, "<ReasoningContent>"...)
	case chat.ToolCall:
		return append(dst, "<ToolCall>"...)
	case chat.ToolCallResult:
		return append(dst, "<ToolCallResult>"...)
	case chat.Text:
		return append(dst, "<TextContent>"...)
	}
	return append(dst, "<NoneType>"...)
}

// appendTools writes json.dumps of the tool schemas, sort_keys=True: so the
// members of each come as description, name, parameters.
func appendTools(dst []byte, tools []Tool) []byte {
	if len(tools) == 0 {
		return dst
	}
	dst = append(dst, '[')
	for i, t := range tools {
		if i > 0 {
			dst = append(dst, ", "...)
		}
		dst = append(dst, `{"description": `...)
		dst = appendPyString(dst, t.Description)
		dst = append(dst, `, "name": `...)
		dst = appendPyString(dst, t.Name)
		dst = append(dst, `, "parameters": `...)
		if t.Parameters == nil {
			dst = append(dst, "{}"...)
		} else {
			dst = appendPyJSON(dst, t.Parameters)
		}
		dst = append(dst, '}')
	}
	return append(dst, ']')
}

// attachments counts the images and files that Haystack charges a flat
// amount for: those among a message's parts and those inside a tool result
// given as a list of parts.
func attachments(msgs []chat.Message) (images, files int) {
	for _, m := range msgs {
		for _, p := range m.Content {
			switch p := p.(type) {
			case chat.Image:
				images++
			case chat.File:
				files++
			case chat.ToolCallResult:
				for _, q := range p.Parts {
					switch q.(type) {
					case chat.Image:
						images++
					case chat.File:
						files++
					}
				}
			}
		}
	}
	return images, files
}
