// Package transcript writes chat messages as text for people (and models)
// to read: "chatstore show --format text" and the MCP server's history
// resources.
package transcript

import (
	"fmt"
	"io"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/internal/jsonx"
	"github.com/chatstore/chatstore/internal/plural"
)

// Write prints messages for people: role, id, then each part, one per line. A
// tool result names its tool; one written in OpenAI's format names only the
// call's id, and takes the tool's name from the latest call before it with
// that id (providers reuse ids such as "call_1" from turn to turn). stamps,
// unless nil, has a word for each message, written after its id: the
// command line's times.
func Write(w io.Writer, msgs []chat.Message, stamps []string) {
	tools := map[string]string{} // call id → tool name of the latest such call
	for i, m := range msgs {
		id, _ := m.Meta[chatstore.MessageIDKey].(string)
		head := string(m.Role)
		if m.Name != nil {
			head += " (" + *m.Name + ")"
		}
		if id != "" {
			head += " #" + id
		}
		if stamps != nil {
			head += " " + stamps[i]
		}
		fmt.Fprintln(w, head)
		for _, p := range m.Content {
			switch p := p.(type) {
			case chat.Text:
				fmt.Fprintf(w, "  %s\n", p.Text)
			case chat.ToolCall:
				if p.ID != nil {
					tools[*p.ID] = p.ToolName
				}
				args, _ := jsonx.AppendValue(nil, p.Arguments, jsonx.Compact)
				fmt.Fprintf(w, "  → %s(%s)\n", p.ToolName, args)
			case chat.ToolCallResult:
				mark := "←"
				if p.Error {
					mark = "← error:"
				}
				tool := p.Origin.ToolName
				if tool == "" && p.Origin.ID != nil {
					tool = tools[*p.Origin.ID]
				}
				if tool == "" {
					tool = "unknown tool"
					if p.Origin.ID != nil {
						tool += " (" + *p.Origin.ID + ")"
					}
				}
				result := p.Result
				if p.Parts != nil {
					result = "[" + plural.Count(len(p.Parts), "part", "parts") + "]"
				}
				fmt.Fprintf(w, "  %s %s: %s\n", mark, tool, result)
			case chat.Reasoning:
				fmt.Fprintf(w, "  (reasoning) %s\n", p.ReasoningText)
			case chat.Image:
				fmt.Fprintf(w, "  [image %s, %d base64 bytes]\n", p.MimeType, len(p.Base64Image))
			case chat.File:
				fmt.Fprintf(w, "  [file %s %s, %d base64 bytes]\n", p.Filename, p.MimeType, len(p.Base64Data))
			}
		}
	}
}
