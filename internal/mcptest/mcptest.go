// Package mcptest is the one set of tests of chatstore's MCP server
// (package mcpserver) that every transport runs through the SDK's own
// client: in memory, streamable HTTP behind "chatstore serve", and stdio
// ("chatstore mcp", in-process and as the built binary). Run exercises every
// tool's answers and errors and the history resources; ReadOnly what a
// read-only caller sees.
package mcptest

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/chatstore/chatstore"
)

// NewClient is the client the tests connect with.
func NewClient() *mcp.Client {
	return mcp.NewClient(&mcp.Implementation{Name: "chatstore-test", Version: "0"}, nil)
}

// ReadTools and AllTools are the tools a read-only and a read-write caller
// are given.
var (
	ReadTools = []string{"get_message", "list_histories", "read_history", "search_messages"}
	AllTools  = []string{"append_messages", "get_message", "list_histories", "read_history", "search_messages"}
)

// Result is a tool's answer: its structured content as JSON, and its text.
type Result struct {
	IsError    bool
	Text       string
	Structured json.RawMessage
}

// Session is a client session with the tools' output schemas, to check
// every answer against its tool's.
type Session struct {
	*mcp.ClientSession
	schemas map[string]*jsonschema.Resolved
}

// Tools lists the tools (every page), checks that each is fit for a model
// to use (a description, an object input schema that compiles, an output
// schema), and returns a Session that checks answers against them.
func Tools(t *testing.T, cs *mcp.ClientSession) (*Session, []string) {
	t.Helper()
	s := &Session{ClientSession: cs, schemas: map[string]*jsonschema.Resolved{}}
	var names []string
	for tool, err := range cs.Tools(t.Context(), nil) {
		if err != nil {
			t.Fatalf("listing tools: %v", err)
		}
		names = append(names, tool.Name)
		if len(tool.Description) < 40 {
			t.Errorf("tool %s: description %q is too short to tell a model what it does", tool.Name, tool.Description)
		}
		in := resolve(t, tool.Name+" input", tool.InputSchema)
		if in.Schema().Type != "object" || len(in.Schema().Properties) == 0 {
			t.Errorf("tool %s: the input schema is not an object with properties", tool.Name)
		}
		for name, p := range in.Schema().Properties {
			if p.Description == "" {
				t.Errorf("tool %s: argument %s has no description", tool.Name, name)
			}
		}
		if tool.OutputSchema == nil {
			t.Errorf("tool %s has no output schema", tool.Name)
			continue
		}
		s.schemas[tool.Name] = resolve(t, tool.Name+" output", tool.OutputSchema)
	}
	slices.Sort(names)
	return s, names
}

func resolve(t *testing.T, what string, schema any) *jsonschema.Resolved {
	t.Helper()
	b, err := json.Marshal(schema)
	if err != nil {
		t.Fatalf("%s schema: %v", what, err)
	}
	var js jsonschema.Schema
	if err := json.Unmarshal(b, &js); err != nil {
		t.Fatalf("%s schema: %v\n%s", what, err, b)
	}
	r, err := js.Resolve(nil)
	if err != nil {
		t.Fatalf("%s schema does not compile: %v\n%s", what, err, b)
	}
	return r
}

// Call calls a tool. A protocol error fails the test: every tool error
// must be a tool result the model can read. A successful answer must match
// the tool's output schema, and its text must be the same JSON as its
// structured content.
func (s *Session) Call(t *testing.T, name string, args any) Result {
	t.Helper()
	res, err := s.CallTool(t.Context(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s(%v): a protocol error, not a tool error: %v", name, args, err)
	}
	var r Result
	r.IsError = res.IsError
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			r.Text += tc.Text
		}
	}
	if res.IsError {
		if res.StructuredContent != nil || r.Text == "" {
			t.Errorf("%s: an error with structured content or without text: %+v", name, res)
		}
		return r
	}
	if r.Structured, err = json.Marshal(res.StructuredContent); err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal([]byte(r.Text), &v); err != nil {
		t.Errorf("%s: the text content is not JSON: %v\n%s", name, err, r.Text)
	} else if text, _ := json.Marshal(v); string(text) != string(r.Structured) {
		t.Errorf("%s: the text content is not the structured content:\n%s\n%s", name, r.Text, r.Structured)
	}
	if schema := s.schemas[name]; schema != nil {
		var out any
		json.Unmarshal(r.Structured, &out)
		if err := schema.Validate(out); err != nil {
			t.Errorf("%s: the answer does not match the output schema: %v\n%s", name, err, r.Structured)
		}
	}
	return r
}

// OK calls a tool that must succeed, and decodes its answer into out.
func (s *Session) OK(t *testing.T, name string, args, out any) {
	t.Helper()
	r := s.Call(t, name, args)
	if r.IsError {
		t.Fatalf("%s(%v): %s", name, args, r.Text)
	}
	if out != nil {
		if err := json.Unmarshal(r.Structured, out); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, r.Structured)
		}
	}
}

// Fails calls a tool that must fail with a tool error whose text ends
// with the HTTP API's code in parentheses and holds each of mention.
func (s *Session) Fails(t *testing.T, name string, args any, code string, mention ...string) {
	t.Helper()
	r := s.Call(t, name, args)
	if !r.IsError {
		t.Errorf("%s(%v) succeeded, want %s: %s", name, args, code, r.Text)
		return
	}
	if !strings.HasSuffix(r.Text, " ("+code+")") {
		t.Errorf("%s(%v): %q, want code %s", name, args, r.Text, code)
	}
	for _, m := range mention {
		if !strings.Contains(r.Text, m) {
			t.Errorf("%s(%v): %q does not say %q", name, args, r.Text, m)
		}
	}
}

// Message, Messages and History are answers of the tools.
type (
	Message  map[string]any
	Messages struct {
		ID       string    `json:"chat_history_id"`
		Format   string    `json:"format"`
		Messages []Message `json:"messages"`
		Window   *Window   `json:"window"` // of a read of the last rounds
	}
	Window struct {
		Tokens    int64  `json:"tokens"`
		MaxTokens *int64 `json:"max_tokens"`
		Rounds    int    `json:"rounds"`
		More      bool   `json:"more"`
		Exceeded  bool   `json:"exceeded"`
	}
	History struct {
		ID    string `json:"chat_history_id"`
		Count int    `json:"count"`
	}
	Page struct {
		Histories  []History `json:"histories"`
		NextCursor *string   `json:"next_cursor"`
	}
	Written struct {
		N        int  `json:"messages_written"`
		Replayed bool `json:"replayed"`
	}
)

// ID is the message's chat_message_id in Haystack's format.
func (m Message) ID() string {
	meta, _ := m["meta"].(map[string]any)
	id, _ := meta[chatstore.MessageIDKey].(string)
	return id
}

// Text is the first text of a message in Haystack's format.
func (m Message) Text() string {
	parts, _ := m["content"].([]any)
	for _, p := range parts {
		if text, ok := p.(map[string]any)["text"].(string); ok {
			return text
		}
	}
	return ""
}

func texts(ms []Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Text())
	}
	return out
}

// A conversation of two rounds in Haystack's format, the second with a
// tool call and its result; a meta number beyond a float64's precision.
const (
	hi      = `{"role":"user","content":[{"text":"Hi"}],"meta":{"big":1180591620717411303425}}`
	hello   = `{"role":"assistant","content":[{"text":"Hello!"}]}`
	weather = `{"role":"user","content":[{"text":"Weather in Paris?"}]}`
	call    = `{"role":"assistant","content":[{"tool_call":{"tool_name":"get_weather","arguments":{"city":"Paris"},"id":"call_1"}}]}`
	result  = `{"role":"tool","content":[{"tool_call_result":{"result":"22 °C","origin":{"tool_name":"get_weather","arguments":{"city":"Paris"},"id":"call_1"},"error":false}}]}`
	sunny   = `{"role":"assistant","content":[{"text":"22 °C and sunny."}]}`
)

func rawList(ms ...string) json.RawMessage { return json.RawMessage("[" + strings.Join(ms, ",") + "]") }

// Run exercises every tool and the resources through cs, a session on a
// read-write server over an empty store (or an empty view of one) whose
// default last_k is chatstore.DefaultLastK and that can address messages
// (driver.Editor): the answers, their schemas, and the errors, each a tool
// error with the HTTP API's code.
func Run(t *testing.T, cs *mcp.ClientSession) {
	s, names := Tools(t, cs)
	if !slices.Equal(names, AllTools) {
		t.Fatalf("tools %q, want %q", names, AllTools)
	}
	const id = "session/1 é" // a slash and a space, percent-encoded in URIs

	t.Run("append_messages", func(t *testing.T) {
		var w Written
		s.OK(t, "append_messages", map[string]any{"chat_history_id": id, "messages": rawList(hi, hello, weather, call, result, sunny)}, &w)
		if w.N != 6 || w.Replayed {
			t.Errorf("wrote %+v, want 6", w)
		}
		// Written again with their ids, the messages are skipped.
		var again Messages
		s.OK(t, "read_history", map[string]any{"chat_history_id": id, "last_k": "all"}, &again)
		raw, _ := json.Marshal(again.Messages)
		s.OK(t, "append_messages", map[string]any{"chat_history_id": id, "messages": json.RawMessage(raw)}, &w)
		if w.N != 0 {
			t.Errorf("writing the read messages again wrote %d", w.N)
		}
		s.OK(t, "append_messages", map[string]any{"chat_history_id": "openai", "format": "openai",
			"messages": json.RawMessage(`[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello!"}]`)}, &w)
		if w.N != 2 {
			t.Errorf("OpenAI messages: wrote %d, want 2", w.N)
		}
		key := map[string]any{"chat_history_id": "keyed", "messages": rawList(hi), "idempotency_key": "5f0c2a8e-3d1b-4c7a-9e62-1b8f4d0a7c35"}
		s.OK(t, "append_messages", key, &w)
		if w.N != 1 || w.Replayed {
			t.Errorf("a keyed write: %+v", w)
		}
		s.OK(t, "append_messages", key, &w)
		if w.N != 1 || !w.Replayed {
			t.Errorf("the keyed write again: %+v, want replayed", w)
		}
		key["messages"] = rawList(hello)
		s.Fails(t, "append_messages", key, "idempotency_key_reused")
		s.Fails(t, "append_messages", map[string]any{"chat_history_id": "keyed", "messages": rawList(hi), "idempotency_key": "two words"}, "invalid_idempotency_key")
		s.Fails(t, "append_messages", map[string]any{"chat_history_id": "bad", "messages": rawList(hi, `{"role":"bot","content":[{"text":"x"}]}`)}, "invalid_message", "messages[1].role")
		s.Fails(t, "append_messages", map[string]any{"chat_history_id": "bad", "format": "openai", "messages": rawList(`{"role":"user","content":5}`)}, "invalid_message", "messages[0].content")
		s.Fails(t, "append_messages", map[string]any{"chat_history_id": "bad", "messages": rawList(`{"role":"user","meta":{"chat_message_id":7},"content":[{"text":"a"}]}`)}, "invalid_message", "messages[0].meta.chat_message_id")
		s.Fails(t, "append_messages", map[string]any{"chat_history_id": "bad"}, "invalid_request", "messages")
		s.Fails(t, "append_messages", map[string]any{"chat_history_id": "bad", "messages": map[string]any{"role": "user"}}, "invalid_message")
		s.Fails(t, "append_messages", map[string]any{"messages": rawList(hi)}, "invalid_request", "chat_history_id is required")
		s.Fails(t, "append_messages", map[string]any{"chat_history_id": "", "messages": rawList(hi)}, "invalid_history_id")
		s.Fails(t, "append_messages", map[string]any{"chat_history_id": 7, "messages": rawList(hi)}, "invalid_request", "chat_history_id must be a string")
		s.Fails(t, "append_messages", map[string]any{"chat_history_id": "bad", "messages": rawList(hi), "format": "xml"}, "invalid_format")
		s.Fails(t, "append_messages", map[string]any{"chat_history_id": "bad", "messages": rawList(hi), "extra": 1}, "invalid_request", `"extra"`)
	})

	t.Run("read_history", func(t *testing.T) {
		var all, last, page Messages
		s.OK(t, "read_history", map[string]any{"chat_history_id": id}, &all) // the store's default: every round of two
		if all.ID != id || all.Format != "haystack" || len(all.Messages) != 6 || all.Messages[5].Text() != "22 °C and sunny." {
			t.Fatalf("read %+v", all)
		}
		r := s.Call(t, "read_history", map[string]any{"chat_history_id": id})
		if !strings.Contains(r.Text, "1180591620717411303425") {
			t.Errorf("a number in a meta lost its value: %s", r.Text)
		}
		s.OK(t, "read_history", map[string]any{"chat_history_id": id, "last_k": 1}, &last)
		if got := texts(last.Messages); !slices.Equal(got, []string{"Weather in Paris?", "", "", "22 °C and sunny."}) {
			t.Errorf("last_k 1: %q", got)
		}
		s.OK(t, "read_history", map[string]any{"chat_history_id": id, "offset": 1, "limit": 2}, &page)
		if got := texts(page.Messages); !slices.Equal(got, []string{"Hello!", "Weather in Paris?"}) || page.Messages[0].ID() != all.Messages[1].ID() {
			t.Errorf("offset 1, limit 2: %q", got)
		}
		s.OK(t, "read_history", map[string]any{"chat_history_id": id, "offset": 5}, &page)
		if len(page.Messages) != 1 {
			t.Errorf("offset 5: %d messages", len(page.Messages))
		}
		var none Messages
		s.OK(t, "read_history", map[string]any{"chat_history_id": "unknown"}, &none)
		if none.Messages == nil || len(none.Messages) != 0 {
			t.Errorf("an unknown history: %+v", none)
		}
		var openai Messages
		s.OK(t, "read_history", map[string]any{"chat_history_id": id, "last_k": "all", "format": "openai"}, &openai)
		if openai.Format != "openai" || len(openai.Messages) != 6 || openai.Messages[4]["role"] != "tool" || openai.Messages[4]["tool_call_id"] != "call_1" || openai.Messages[0]["content"] != "Hi" {
			t.Errorf("OpenAI's format: %+v", openai)
		}
		s.Fails(t, "read_history", map[string]any{}, "invalid_request", "chat_history_id is required")
		s.Fails(t, "read_history", map[string]any{"chat_history_id": ""}, "invalid_history_id")
		s.Fails(t, "read_history", map[string]any{"chat_history_id": "a\x00b"}, "invalid_history_id")
		s.Fails(t, "read_history", map[string]any{"chat_history_id": id, "last_k": -1}, "invalid_last_k")
		s.Fails(t, "read_history", map[string]any{"chat_history_id": id, "last_k": "3"}, "invalid_last_k", "without quotes")
		s.Fails(t, "read_history", map[string]any{"chat_history_id": id, "last_k": 1, "offset": 0}, "invalid_request", "not both")
		s.Fails(t, "read_history", map[string]any{"chat_history_id": id, "limit": 0}, "invalid_range")
		s.Fails(t, "read_history", map[string]any{"chat_history_id": id, "limit": chatstore.MaxRangeLimit + 1}, "invalid_range")
		s.Fails(t, "read_history", map[string]any{"chat_history_id": id, "offset": -1}, "invalid_range")
		s.Fails(t, "read_history", map[string]any{"chat_history_id": id, "offset": 1.5}, "invalid_range", "whole number")
		s.Fails(t, "read_history", map[string]any{"chat_history_id": id, "last-k": 2}, "invalid_request", `"last-k"`)
		s.Fails(t, "read_history", map[string]any{"chat_history_id": id, "format": "xml"}, "invalid_format")
	})

	t.Run("read_history with max_tokens", func(t *testing.T) {
		var all, got Messages
		s.OK(t, "read_history", map[string]any{"chat_history_id": id, "last_k": "all"}, &all)
		if w := all.Window; w == nil || w.MaxTokens != nil || w.Rounds != 2 || w.More || w.Tokens <= 0 {
			t.Fatalf("a read of the last rounds: window %+v", w)
		}
		whole := all.Window.Tokens
		s.OK(t, "read_history", map[string]any{"chat_history_id": id, "max_tokens": whole}, &got)
		if len(got.Messages) != 6 || got.Window == nil || got.Window.MaxTokens == nil || *got.Window.MaxTokens != whole || got.Window.Tokens != whole {
			t.Errorf("a budget the history fits: %d messages, %+v", len(got.Messages), got.Window)
		}
		// One token less: the last round only, its question first.
		s.OK(t, "read_history", map[string]any{"chat_history_id": id, "max_tokens": whole - 1, "compacted": true, "prune_tool_results": false}, &got)
		if w := got.Window; !slices.Equal(texts(got.Messages), texts(all.Messages[2:])) || w.Rounds != 1 || !w.More || w.Exceeded || w.Tokens > whole-1 {
			t.Errorf("one token less: %q, %+v", texts(got.Messages), w)
		}
		s.OK(t, "read_history", map[string]any{"chat_history_id": id, "max_tokens": 1, "format": "openai"}, &got)
		if w := got.Window; w == nil || !w.Exceeded || w.Tokens <= 1 || len(got.Messages) == 0 {
			t.Errorf("one token: %d messages, %+v", len(got.Messages), w)
		}
		s.OK(t, "read_history", map[string]any{"chat_history_id": id, "last_k": 1, "compacted": false}, &got)
		if len(got.Messages) != 4 || got.Window == nil || got.Window.Rounds != 1 {
			t.Errorf("last_k 1, compacted false: %d messages, %+v", len(got.Messages), got.Window)
		}
		var page Messages
		s.OK(t, "read_history", map[string]any{"chat_history_id": id, "offset": 0}, &page)
		if len(page.Messages) != 6 || page.Window != nil {
			t.Errorf("a range: %d messages, window %+v", len(page.Messages), page.Window)
		}
		s.Fails(t, "read_history", map[string]any{"chat_history_id": id, "max_tokens": 0}, "invalid_request", "max_tokens")
		s.Fails(t, "read_history", map[string]any{"chat_history_id": id, "max_tokens": 1.5}, "invalid_request", "max_tokens", "whole number")
		s.Fails(t, "read_history", map[string]any{"chat_history_id": id, "max_tokens": "100"}, "invalid_request", "max_tokens")
		s.Fails(t, "read_history", map[string]any{"chat_history_id": id, "max_tokens": 100, "offset": 0}, "invalid_request", "max_tokens", "offset")
		s.Fails(t, "read_history", map[string]any{"chat_history_id": id, "compacted": "no", "limit": 5}, "invalid_request", "compacted")
		s.Fails(t, "read_history", map[string]any{"chat_history_id": id, "prune_tool_results": "yes"}, "invalid_request", "prune_tool_results")
	})

	t.Run("get_message", func(t *testing.T) {
		var all Messages
		s.OK(t, "read_history", map[string]any{"chat_history_id": id, "last_k": "all"}, &all)
		var got struct {
			ID      string  `json:"chat_history_id"`
			Format  string  `json:"format"`
			Message Message `json:"message"`
		}
		s.OK(t, "get_message", map[string]any{"chat_history_id": id, "message_id": all.Messages[2].ID()}, &got)
		if got.ID != id || got.Message.Text() != "Weather in Paris?" || got.Message.ID() != all.Messages[2].ID() {
			t.Errorf("get_message: %+v", got)
		}
		s.OK(t, "get_message", map[string]any{"chat_history_id": id, "message_id": all.Messages[0].ID(), "format": "openai"}, &got)
		if got.Format != "openai" || got.Message["content"] != "Hi" {
			t.Errorf("get_message in OpenAI's format: %+v", got)
		}
		s.Fails(t, "get_message", map[string]any{"chat_history_id": id, "message_id": "nope"}, "message_not_found", `"nope"`)
		s.Fails(t, "get_message", map[string]any{"chat_history_id": "unknown", "message_id": "0"}, "message_not_found")
		s.Fails(t, "get_message", map[string]any{"chat_history_id": id, "message_id": ""}, "invalid_message_id")
		s.Fails(t, "get_message", map[string]any{"chat_history_id": id}, "invalid_request", "message_id is required")
		s.Fails(t, "get_message", map[string]any{"chat_history_id": id, "message_id": 0}, "invalid_request", "message_id must be a string")
	})

	t.Run("list_histories", func(t *testing.T) {
		var p Page
		s.OK(t, "list_histories", nil, &p)
		want := []History{{"keyed", 1}, {"openai", 2}, {id, 6}}
		if !slices.Equal(p.Histories, want) || p.NextCursor != nil {
			t.Errorf("list: %+v, want %+v and no cursor", p, want)
		}
		var paged []History
		var cursor any
		for range 5 {
			s.OK(t, "list_histories", map[string]any{"limit": 1, "cursor": cursor}, &p)
			paged = append(paged, p.Histories...)
			if p.NextCursor == nil {
				break
			}
			cursor = *p.NextCursor
		}
		if !slices.Equal(paged, want) {
			t.Errorf("listed a page at a time: %+v", paged)
		}
		s.OK(t, "list_histories", map[string]any{"prefix": "se"}, &p)
		if !slices.Equal(p.Histories, want[2:]) {
			t.Errorf("prefix se: %+v", p.Histories)
		}
		s.Fails(t, "list_histories", map[string]any{"limit": 0}, "invalid_limit")
		s.Fails(t, "list_histories", map[string]any{"limit": chatstore.MaxListLimit + 1}, "invalid_limit")
		s.Fails(t, "list_histories", map[string]any{"limit": "10"}, "invalid_request", "limit must be a number")
		s.Fails(t, "list_histories", map[string]any{"cursor": "not-a-cursor"}, "invalid_cursor")
		s.Fails(t, "list_histories", map[string]any{"prefix": "a\x00"}, "invalid_request", "prefix")

		// By recency, with each history's times and metadata.
		var recent struct {
			Histories []struct {
				ID        string            `json:"chat_history_id"`
				UpdatedAt *time.Time        `json:"updated_at"`
				Metadata  map[string]string `json:"metadata"`
			} `json:"histories"`
		}
		s.OK(t, "list_histories", map[string]any{"order": "updated_at"}, &recent)
		var ids []string
		for i, h := range recent.Histories {
			ids = append(ids, h.ID)
			if h.UpdatedAt == nil || h.Metadata == nil {
				t.Errorf("by recency: %s without its time or metadata", h.ID)
			} else if i > 0 && recent.Histories[i-1].UpdatedAt != nil && h.UpdatedAt.After(*recent.Histories[i-1].UpdatedAt) {
				t.Errorf("by recency: %s changed after the one before it", h.ID)
			}
		}
		if slices.Sort(ids); !slices.Equal(ids, []string{"keyed", "openai", id}) {
			t.Errorf("by recency: %v", ids)
		}
		s.OK(t, "list_histories", map[string]any{"metadata": map[string]any{"user_id": "nobody"}}, &p)
		if len(p.Histories) != 0 {
			t.Errorf("nobody's histories: %+v", p.Histories)
		}
		s.Fails(t, "list_histories", map[string]any{"order": "size"}, "invalid_request", "order")
		s.Fails(t, "list_histories", map[string]any{"metadata": map[string]any{"user_id": 42}}, "invalid_request", "metadata.user_id")
	})

	t.Run("unknown tool", func(t *testing.T) {
		_, err := s.CallTool(t.Context(), &mcp.CallToolParams{Name: "delete_history", Arguments: map[string]any{}})
		var we *jsonrpc.Error
		if !errors.As(err, &we) || !strings.Contains(we.Message, "delete_history") {
			t.Errorf("an unknown tool: %v, want a protocol error naming it", err)
		}
	})

	t.Run("resources", func(t *testing.T) {
		Resources(t, cs, map[string]int{"keyed": 1, "openai": 2, id: 6})
		r, err := cs.ReadResource(t.Context(), &mcp.ReadResourceParams{URI: "chatstore://histories/session%2F1%20%C3%A9"})
		if err != nil {
			t.Fatal(err)
		}
		text := r.Contents[0].Text
		for _, want := range []string{"user #0\n  Hi\n", "assistant #1\n  Hello!\n", "→ get_weather({\"city\":\"Paris\"})", "← get_weather: 22 °C", "22 °C and sunny."} {
			if !strings.Contains(text, want) {
				t.Errorf("the transcript lacks %q:\n%s", want, text)
			}
		}
		if r.Contents[0].MIMEType != "text/plain" || r.Contents[0].URI != "chatstore://histories/session%2F1%20%C3%A9" {
			t.Errorf("contents: %+v", r.Contents[0])
		}
		for _, uri := range []string{"chatstore://histories/unknown", "chatstore://histories/", "chatstore://histories/a/b", "chatstore://other/keyed"} {
			if _, err := cs.ReadResource(t.Context(), &mcp.ReadResourceParams{URI: uri}); err == nil {
				t.Errorf("%s: read", uri)
			}
		}
		_, err = cs.ReadResource(t.Context(), &mcp.ReadResourceParams{URI: "chatstore://histories/a%00b"})
		var we *jsonrpc.Error
		if !errors.As(err, &we) || we.Code != jsonrpc.CodeInvalidParams || !strings.Contains(string(we.Data), "invalid_history_id") {
			t.Errorf("an id with NUL: %v, want invalid params with the code", err)
		}
		var templates []string
		for rt, err := range cs.ResourceTemplates(t.Context(), nil) {
			if err != nil {
				t.Fatal(err)
			}
			templates = append(templates, rt.URITemplate)
		}
		if !slices.Equal(templates, []string{"chatstore://histories/{id}"}) {
			t.Errorf("templates %q", templates)
		}
	})
}

// Resources checks that resources/list gives each history of want (id →
// message count), and no other, with its URI, and that each reads as a
// transcript of that many messages.
func Resources(t *testing.T, cs *mcp.ClientSession, want map[string]int) {
	t.Helper()
	got := map[string]string{}
	for r, err := range cs.Resources(t.Context(), nil) {
		if err != nil {
			t.Fatalf("listing resources: %v", err)
		}
		got[r.Name] = r.URI
		if r.MIMEType != "text/plain" || !strings.HasPrefix(r.Description, "chat history of ") {
			t.Errorf("resource %+v", r)
		}
	}
	if len(got) != len(want) {
		t.Errorf("resources %q, want the histories %v", got, want)
	}
	for id, n := range want {
		uri, ok := got[id]
		if !ok {
			t.Errorf("history %q is not a resource", id)
			continue
		}
		r, err := cs.ReadResource(t.Context(), &mcp.ReadResourceParams{URI: uri})
		if err != nil {
			t.Errorf("reading %s: %v", uri, err)
			continue
		}
		if len(r.Contents) != 1 || strings.Count(r.Contents[0].Text, " #") != n {
			t.Errorf("%s: %d contents, want one transcript of %d messages: %+v", uri, len(r.Contents), n, r.Contents)
		}
	}
}

// ReadOnly checks what a read-only caller is given over cs: the tools
// that read, not append_messages, which is unknown to it, and the
// resources of want.
func ReadOnly(t *testing.T, cs *mcp.ClientSession, want map[string]int) {
	t.Helper()
	s, names := Tools(t, cs)
	if !slices.Equal(names, ReadTools) {
		t.Errorf("a read-only caller's tools: %q, want %q", names, ReadTools)
	}
	_, err := s.CallTool(t.Context(), &mcp.CallToolParams{Name: "append_messages",
		Arguments: map[string]any{"chat_history_id": "h", "messages": rawList(hi)}})
	if err == nil || !strings.Contains(err.Error(), "append_messages") {
		t.Errorf("append_messages by a read-only caller: %v, want unknown tool", err)
	}
	var p Page
	s.OK(t, "list_histories", nil, &p)
	if len(p.Histories) != len(want) {
		t.Errorf("a read-only caller lists %+v, want %v", p.Histories, want)
	}
	Resources(t, cs, want)
}
