package oaiconv

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/chatstore/chatstore/chat"
)

const png1x1 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="

// stored writes m as the store keeps it (Haystack's JSON) and reads it
// back, with chat_message_id set.
func stored(t *testing.T, m chat.Message, id string) chat.Message {
	t.Helper()
	if m.Meta == nil {
		m.Meta = map[string]any{}
	}
	m.Meta["chat_message_id"] = id
	b, err := m.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	back, err := chat.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return back
}

func canon(t *testing.T, v any) string {
	t.Helper()
	var x any
	b, _ := json.Marshal(v)
	if s, ok := v.(string); ok {
		b = []byte(s)
	}
	if err := json.Unmarshal(b, &x); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	out, _ := json.Marshal(x)
	return string(out)
}

// TestRoundTrip writes each item type as a message and reads it back as
// the same item.
func TestRoundTrip(t *testing.T) {
	for _, c := range []struct {
		name, in, want string // want "" is in with the id and status added
		role           chat.Role
		typ            string
	}{
		{"user text", `{"type":"message","role":"user","content":[{"type":"input_text","text":"hi"}]}`, "", chat.RoleUser, TypeMessage},
		{"easy message", `{"role":"user","content":"hi"}`, `{"type":"message","role":"user","content":[{"type":"input_text","text":"hi"}]}`, chat.RoleUser, TypeMessage},
		{"developer", `{"type":"message","role":"developer","content":[{"type":"input_text","text":"be brief"}]}`, "", chat.RoleSystem, TypeMessage},
		{"system", `{"type":"message","role":"system","content":[{"type":"input_text","text":"be brief"}]}`, "", chat.RoleSystem, TypeMessage},
		{"assistant", `{"type":"message","role":"assistant","content":[{"type":"output_text","text":"hello","annotations":[]}]}`, "", chat.RoleAssistant, TypeMessage},
		{"assistant no annotations", `{"type":"message","role":"assistant","content":[{"type":"output_text","text":"hello"}]}`, "", chat.RoleAssistant, TypeMessage},
		{"refusal", `{"type":"message","role":"assistant","content":[{"type":"refusal","refusal":"no"}]}`, "", chat.RoleAssistant, TypeMessage},
		{"image and file", `{"type":"message","role":"user","content":[{"type":"input_text","text":"look"},{"type":"input_image","image_url":"data:image/png;base64,` + png1x1 + `","detail":"low"},{"type":"input_file","file_data":"data:application/pdf;base64,JVBERi0=","filename":"a.pdf"}]}`, "", chat.RoleUser, TypeMessage},
		{"plain file_data", `{"type":"message","role":"user","content":[{"type":"input_file","file_data":"JVBERi0=","filename":"a.pdf"}]}`, "", chat.RoleUser, TypeMessage},
		{"status", `{"type":"message","role":"user","status":"incomplete","content":[{"type":"input_text","text":"hi"}]}`, "", chat.RoleUser, TypeMessage},
		{"function_call", `{"type":"function_call","call_id":"call_1","name":"weather","arguments":"{\"city\":\"Paris\",\"n\":1.50}"}`, "", chat.RoleAssistant, TypeFunctionCall},
		{"function_call odd arguments", `{"type":"function_call","call_id":"call_1","name":"weather","arguments":"{ \"b\": 1, \"a\": 2 }"}`, "", chat.RoleAssistant, TypeFunctionCall},
		{"function_call not an object", `{"type":"function_call","call_id":"call_1","name":"weather","arguments":"not json"}`, "", chat.RoleAssistant, TypeFunctionCall},
		{"function_call_output", `{"type":"function_call_output","call_id":"call_1","output":"sunny"}`, "", chat.RoleTool, TypeFunctionCallOutput},
		{"function_call_output parts", `{"type":"function_call_output","call_id":"call_1","output":[{"type":"input_text","text":"sunny"}]}`, "", chat.RoleTool, TypeFunctionCallOutput},
		{"reasoning", `{"type":"reasoning","summary":[{"type":"summary_text","text":"think"}]}`, "", chat.RoleAssistant, TypeReasoning},
		{"reasoning two summaries", `{"type":"reasoning","summary":[{"type":"summary_text","text":"a"},{"type":"summary_text","text":"b"}],"content":[{"type":"reasoning_text","text":"x"}]}`, "", chat.RoleAssistant, TypeReasoning},
		{"reasoning empty", `{"type":"reasoning","summary":[]}`, "", chat.RoleAssistant, TypeReasoning},
		{"reasoning one empty summary", `{"type":"reasoning","summary":[{"type":"summary_text","text":""}]}`, "", chat.RoleAssistant, TypeReasoning},
		// How an image without a MIME type (bytes of no known type) is written.
		{"image of no known type", `{"type":"message","role":"user","content":[{"type":"input_image","image_url":"data:application/octet-stream;base64,aGVsbG8=","detail":"auto"}]}`, "", chat.RoleUser, TypeMessage},
		// Base64 with a stray "=", valid for Python and Haystack.
		{"loose base64 padding", `{"type":"message","role":"user","content":[{"type":"input_image","image_url":"data:image/png;base64,AAAA=","detail":"auto"},{"type":"input_file","file_data":"data:application/pdf;base64,JVBERi0x="}]}`, "", chat.RoleUser, TypeMessage},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, err := Decode(json.RawMessage(c.in), "items[0]")
			if err != nil {
				t.Fatal(err)
			}
			if d.Message.Role != c.role || d.Type != c.typ {
				t.Fatalf("role %s type %s, want %s %s", d.Message.Role, d.Type, c.role, c.typ)
			}
			m := stored(t, d.Message, "abc")
			items := Items(m, ItemOptions{})
			if len(items) != 1 {
				t.Fatalf("%d items", len(items))
			}
			want := c.want
			if want == "" {
				want = c.in
			}
			var w map[string]any
			json.Unmarshal([]byte(want), &w)
			w["id"] = Prefix(c.typ) + "abc"
			if w["status"] == nil {
				w["status"] = "completed"
			}
			if got, want := canon(t, items[0].JSON), canon(t, w); got != want {
				t.Errorf("round trip:\n got %s\nwant %s", got, want)
			}
			if items[0].ID != Prefix(c.typ)+"abc" {
				t.Errorf("id %s", items[0].ID)
			}
		})
	}
}

// TestPlainMessagesStayPlain: an item with nothing beyond Haystack's model
// adds no meta, so /v1 readers see an ordinary message.
func TestPlainMessagesStayPlain(t *testing.T) {
	for _, in := range []string{
		`{"type":"message","role":"user","content":[{"type":"input_text","text":"hi"}]}`,
		`{"type":"message","role":"assistant","content":[{"type":"output_text","text":"hi","annotations":[]}]}`,
		`{"type":"function_call","call_id":"c","name":"f","arguments":"{\"a\":1}"}`,
		`{"type":"function_call_output","call_id":"c","output":"r"}`,
		`{"type":"reasoning","summary":[{"type":"summary_text","text":"r"}]}`,
	} {
		d, err := Decode(json.RawMessage(in), "item")
		if err != nil {
			t.Fatal(err)
		}
		if d.Message.Meta != nil {
			t.Errorf("%s: meta %v", in, d.Message.Meta)
		}
	}
}

// TestMessageItems: a message written through /v1 with reasoning, text
// and two tool calls is four items with derived ids; a tool message one.
func TestMessageItems(t *testing.T) {
	m := chat.Assistant("let me look",
		chat.ToolCall{ToolName: "a", Arguments: map[string]any{"x": "1"}, ID: chat.Ptr("c1")},
		chat.ToolCall{ToolName: "b", ID: chat.Ptr("c2")})
	m.Content = append([]chat.Part{chat.Reasoning{ReasoningText: "hmm"}}, m.Content...)
	items := Items(stored(t, m, "17"), ItemOptions{})
	var ids []string
	for _, it := range items {
		ids = append(ids, it.ID)
	}
	if got := strings.Join(ids, " "); got != "rs_17_0 msg_17_1 fc_17_2 fc_17_3" {
		t.Fatalf("ids %s", got)
	}
	if got := canon(t, items[2].JSON); got != `{"arguments":"{\"x\":\"1\"}","call_id":"c1","id":"fc_17_2","name":"a","status":"completed","type":"function_call"}` {
		t.Errorf("call %s", got)
	}
	if got := items[3].JSON["arguments"]; got != "{}" {
		t.Errorf("no arguments: %s", got)
	}
	for _, it := range items {
		c := Candidates(it.ID)
		if c[len(c)-1] != "17" {
			t.Errorf("%s: candidates %v", it.ID, c)
		}
	}
	tool := chat.Tool("42", chat.ToolCall{ToolName: "a", ID: chat.Ptr("c1")}, false)
	items = Items(stored(t, tool, "18"), ItemOptions{})
	if len(items) != 1 || canon(t, items[0].JSON) != `{"call_id":"c1","id":"fco_18","output":"42","status":"completed","type":"function_call_output"}` {
		t.Errorf("tool: %v", items)
	}
}

func TestEncryptedContent(t *testing.T) {
	d, err := Decode(json.RawMessage(`{"type":"reasoning","summary":[],"encrypted_content":"xyz"}`), "item")
	if err != nil {
		t.Fatal(err)
	}
	m := stored(t, d.Message, "1")
	if _, ok := Items(m, ItemOptions{})[0].JSON["encrypted_content"]; ok {
		t.Error("encrypted_content without include")
	}
	if Items(m, ItemOptions{EncryptedContent: true})[0].JSON["encrypted_content"] != "xyz" {
		t.Error("encrypted_content lost")
	}
}

func TestSetOrigin(t *testing.T) {
	d, err := Decode(json.RawMessage(`{"type":"function_call_output","call_id":"c","output":"r"}`), "item")
	if err != nil || d.CallID != "c" {
		t.Fatal(err, d.CallID)
	}
	SetOrigin(&d.Message, chat.ToolCall{ToolName: "f", ID: chat.Ptr("c"), Arguments: map[string]any{"a": "b"}})
	r := d.Message.Content[0].(chat.ToolCallResult)
	if r.Origin.ToolName != "f" || r.Origin.Arguments["a"] != "b" {
		t.Errorf("origin %+v", r.Origin)
	}
}

func TestRefused(t *testing.T) {
	for _, c := range []struct{ in, param, msg string }{
		{`[]`, "items[0]", "JSON object"},
		{`{"content":"x"}`, "items[0].type", "no type"},
		{`{"type":"web_search_call","id":"ws_1"}`, "items[0].type", `"web_search_call" cannot be stored`},
		{`{"type":"item_reference","id":"msg_1"}`, "items[0].type", `"item_reference" cannot be stored`},
		{`{"type":"message","role":"tool","content":"x"}`, "items[0].role", "unknown role"},
		{`{"type":"message","role":"user"}`, "items[0].content", "needs content"},
		{`{"type":"message","role":"user","content":[{"type":"input_audio","input_audio":{}}]}`, "items[0].content[0].type", "input_audio"},
		{`{"type":"message","role":"user","content":[{"type":"input_image","image_url":"https://x/y.png"}]}`, "items[0].content[0].image_url", "data URL"},
		{`{"type":"message","role":"user","content":[{"type":"input_image","file_id":"file_1","image_url":"data:image/png;base64,` + png1x1 + `"}]}`, "items[0].content[0].file_id", "file_id"},
		{`{"type":"message","role":"user","content":[{"type":"input_file","file_url":"https://x","file_data":"JVBERi0="}]}`, "items[0].content[0].file_url", "file_url"},
		{`{"type":"message","role":"user","content":[{"type":"input_image","image_url":"data:image/png;base64,!!"}]}`, "items[0].content[0].image_url", "data URL"},
		{`{"type":"message","role":"user","content":[{"type":"input_image","image_url":"data:application/octet-stream;base64,` + png1x1 + `"}]}`, "items[0].content[0].image_url", "not a valid image MIME type"},
		{`{"type":"message","role":"user","content":"x","extra":1}`, "items[0].extra", "no member"},
		{`{"type":"function_call","name":"f","arguments":"{}"}`, "items[0].call_id", "missing"},
		{`{"type":"function_call","call_id":"c","name":"f","arguments":{}}`, "items[0].arguments", "must be a string"},
		{`{"type":"function_call_output","call_id":"c"}`, "items[0].output", "needs output"},
		{`{"type":"reasoning","summary":[{"type":"x","text":"a"}]}`, "items[0].summary[0].type", "summary_text"},
	} {
		_, err := Decode(json.RawMessage(c.in), "items[0]")
		var e *Error
		if !errors.As(err, &e) || e.Param != c.param || !strings.Contains(e.Msg, c.msg) {
			t.Errorf("%s: %v, want %s: …%s…", c.in, err, c.param, c.msg)
		}
	}
}
