package chat_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/chatstore/chatstore/chat"
)

func TestToOpenAI(t *testing.T) {
	call := chat.ToolCall{ToolName: "weather", Arguments: map[string]any{"city": "Zürich 🌤", "days": json.Number("2"), "opts": map[string]any{"unit": "C", "x": []any{1.5, nil}}}, ID: chat.Ptr("call_1")}
	noID := chat.ToolCall{ToolName: "now"}
	img := chat.Image{Base64Image: pngB64, MimeType: "image/png", Detail: "high"}
	tests := []struct {
		name    string
		msg     chat.Message
		require bool
		want    string
		errPath string // non-empty: want an error at this path
	}{
		{"user text is a string", chat.User("Hi").WithName("bob"), false, `{"role":"user","name":"bob","content":"Hi"}`, ""},
		{"user parts", chat.Message{Role: chat.RoleUser, Content: []chat.Part{chat.Text{Text: "look"}, img, chat.Image{Base64Image: pngB64}, chat.File{Base64Data: "JVBERi0=", MimeType: "application/pdf", Filename: "a.pdf"}, chat.File{Base64Data: "AA=="}}}, false,
			`{"role":"user","content":[{"type":"text","text":"look"},{"type":"image_url","image_url":{"url":"data:image/png;base64,` + pngB64 + `","detail":"high"}},{"type":"image_url","image_url":{"url":"data:image/jpeg;base64,` + pngB64 + `"}},{"type":"file","file":{"file_data":"data:application/pdf;base64,JVBERi0=","filename":"a.pdf"}},{"type":"file","file":{"file_data":"data:application/pdf;base64,AA==","filename":"filename"}}]}`, ""},
		{"user two texts", chat.Message{Role: chat.RoleUser, Content: []chat.Part{chat.Text{Text: "a"}, chat.Text{Text: "b"}}}, false,
			`{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}`, ""},
		{"system", chat.System("Be brief."), true, `{"role":"system","content":"Be brief."}`, ""},
		{"assistant calls, python-style arguments", chat.Assistant("", call).WithReasoning("dropped"), true,
			`{"role":"assistant","tool_calls":[{"type":"function","function":{"name":"weather","arguments":"{\"city\": \"Zürich 🌤\", \"days\": 2, \"opts\": {\"unit\": \"C\", \"x\": [1.5, null]}}"},"id":"call_1"}]}`, ""},
		{"assistant text first only", chat.Message{Role: chat.RoleAssistant, Content: []chat.Part{chat.Text{Text: "a"}, chat.Text{Text: "b"}, noID}}, false,
			`{"role":"assistant","content":"a","tool_calls":[{"type":"function","function":{"name":"now","arguments":"{}"}}]}`, ""},
		{"assistant call without id, required", chat.Assistant("", noID), true, "", "content[0].tool_call.id"},
		{"assistant image only", chat.Message{Role: chat.RoleAssistant, Content: []chat.Part{img}}, false, `{"role":"assistant"}`, ""},
		{"tool string", chat.Tool("22C", call, true), true, `{"role":"tool","content":"22C","tool_call_id":"call_1"}`, ""},
		{"tool text list", chat.Message{Role: chat.RoleTool, Content: []chat.Part{chat.ToolCallResult{Parts: []chat.Part{chat.Text{Text: "a"}, chat.Text{Text: "b"}}, Origin: call}}}, true,
			`{"role":"tool","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}],"tool_call_id":"call_1"}`, ""},
		{"tool image list", chat.Message{Role: chat.RoleTool, Content: []chat.Part{chat.ToolCallResult{Parts: []chat.Part{img}, Origin: call}}}, false, "", "content[0].tool_call_result.result[0]"},
		{"tool no id allowed", chat.Tool("x", noID, false), false, `{"role":"tool","content":"x"}`, ""},
		{"tool no id required", chat.Tool("x", noID, false), true, "", "content[0].tool_call_result.origin.id"},
		{"reasoning only", chat.Message{Role: chat.RoleAssistant, Content: []chat.Part{chat.Reasoning{ReasoningText: "r"}}}, false, "", "content"},
		{"empty", chat.Message{Role: chat.RoleUser}, false, "", "content"},
		{"result plus text", chat.Message{Role: chat.RoleTool, Content: []chat.Part{chat.ToolCallResult{Result: "x", Origin: call}, chat.Text{Text: "y"}}}, false, "", "content"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.msg.MarshalOpenAI(chat.OpenAIOptions{RequireToolCallIDs: tt.require})
			if tt.errPath != "" {
				var ce *chat.Error
				if !errors.As(err, &ce) || !errors.Is(err, chat.ErrInvalidMessage) {
					t.Fatalf("err = %v, want *chat.Error", err)
				}
				if ce.Path != tt.errPath {
					t.Errorf("path = %q, want %q (%v)", ce.Path, tt.errPath, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestFromOpenAI(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want chat.Message
	}{
		{"user", `{"role":"user","content":"Hi","name":"bob"}`, chat.User("Hi").WithName("bob")},
		{"developer is system", `{"role":"developer","content":"rules"}`, chat.System("rules")},
		{"system", `{"role":"system","content":"rules","name":null}`, chat.System("rules")},
		{"assistant text", `{"role":"assistant","content":"ok","refusal":null}`, chat.Assistant("ok")},
		{"assistant calls", `{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\": 1}"}},{"type":"function","function":{"name":"g","arguments":""}},{"function":{"name":"h","arguments":null}},{"function":{"name":"i"}}]}`,
			chat.Assistant("", chat.ToolCall{ID: chat.Ptr("c1"), ToolName: "f", Arguments: map[string]any{"a": json.Number("1")}}, chat.ToolCall{ToolName: "g"}, chat.ToolCall{ToolName: "h"}, chat.ToolCall{ToolName: "i"})},
		{"assistant empty text and call", `{"role":"assistant","content":"","tool_calls":[{"function":{"name":"f","arguments":"{}"}}]}`,
			chat.Message{Role: chat.RoleAssistant, Content: []chat.Part{chat.Text{Text: ""}, chat.ToolCall{ToolName: "f"}}}},
		{"tool", `{"role":"tool","content":"22C","tool_call_id":"c1"}`, chat.Tool("22C", chat.ToolCall{ID: chat.Ptr("c1")}, false)},
		{"tool without id", `{"role":"tool","content":"22C"}`, chat.Tool("22C", chat.ToolCall{}, false)},
		{"tool text list", `{"role":"tool","content":[{"type":"text","text":"a"},{"text":"b"}],"tool_call_id":"c1"}`,
			chat.Message{Role: chat.RoleTool, Content: []chat.Part{chat.ToolCallResult{Parts: []chat.Part{chat.Text{Text: "a"}, chat.Text{Text: "b"}}, Origin: chat.ToolCall{ID: chat.Ptr("c1")}}}}},
		{"user parts", `{"role":"user","content":[{"type":"text","text":"see"},{"type":"image_url","image_url":{"url":"data:image/png;base64,` + pngB64 + `","detail":"low"}},{"type":"file","file":{"file_data":"data:application/pdf;base64,JVBERi0=","filename":"a.pdf"}}]}`,
			chat.Message{Role: chat.RoleUser, Content: []chat.Part{chat.Text{Text: "see"}, chat.Image{Base64Image: pngB64, MimeType: "image/png", Detail: "low"}, chat.File{Base64Data: "JVBERi0=", MimeType: "application/pdf", Filename: "a.pdf"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := chat.UnmarshalOpenAI([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestFromOpenAIErrors(t *testing.T) {
	tests := []struct{ name, in, path, msg string }{
		{"missing role", `{"content":"x"}`, "", `missing "role"`},
		{"unknown role", `{"role":"bot","content":"x"}`, "role", `unsupported role "bot"`},
		{"role number", `{"role":1,"content":"x"}`, "role", "must be a string"},
		{"user no content", `{"role":"user"}`, "content", "needs non-empty"},
		{"user empty content", `{"role":"user","content":""}`, "content", "needs non-empty"},
		{"system empty list", `{"role":"system","content":[]}`, "content", "needs non-empty"},
		{"assistant nothing", `{"role":"assistant","content":null,"tool_calls":[]}`, "", `needs "content" or "tool_calls"`},
		{"call without function", `{"role":"assistant","tool_calls":[{"id":"x"}]}`, "tool_calls[0]", `needs a "function"`},
		{"function without name", `{"role":"assistant","tool_calls":[{"function":{"arguments":"{}"}}]}`, "tool_calls[0].function", `missing "name"`},
		{"arguments not json", `{"role":"assistant","tool_calls":[{"function":{"name":"f","arguments":"{oops"}}]}`, "tool_calls[0].function.arguments", "must be a string holding a JSON object"},
		{"arguments a list", `{"role":"assistant","tool_calls":[{"function":{"name":"f","arguments":"[1]"}}]}`, "tool_calls[0].function.arguments", "must be a string holding a JSON object"},
		{"arguments an object", `{"role":"assistant","tool_calls":[{"function":{"name":"f","arguments":{}}}]}`, "tool_calls[0].function.arguments", "must be a string or null"},
		{"tool image list", `{"role":"tool","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,` + pngB64 + `"}}]}`, "content[0]", "can only hold text parts"},
		{"image url not data", `{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}`, "content[0].image_url.url", "data URL"},
		{"image bad base64", `{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,@@"}}]}`, "content[0].image_url.base64_image", "not valid base64"},
		{"unknown part type", `{"role":"user","content":[{"type":"input_audio","input_audio":{}}]}`, "content[0]", "unsupported content part"},
		{"content number", `{"role":"user","content":3}`, "content", "must be a string, a list of content parts or null"},
		{"duplicate role", `{"role":"user","role":"system","content":"x"}`, "", `duplicate key "role"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := chat.UnmarshalOpenAI([]byte(tt.in))
			var ce *chat.Error
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want *chat.Error", err)
			}
			if ce.Path != tt.path || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err = %v (path %q), want path %q containing %q", err, ce.Path, tt.path, tt.msg)
			}
		})
	}
}

// Converting to OpenAI and back keeps everything OpenAI can carry.
func TestOpenAIRoundTrip(t *testing.T) {
	call := chat.ToolCall{ToolName: "f", Arguments: map[string]any{"a": json.Number("1"), "b": "x"}, ID: chat.Ptr("c1")}
	msgs := []chat.Message{
		chat.System("s"),
		chat.User("u").WithName("n"),
		chat.Assistant("", call),
		chat.Assistant("both", call),
		chat.Tool("r", chat.ToolCall{ID: chat.Ptr("c1")}, false),
		{Role: chat.RoleUser, Content: []chat.Part{chat.Text{Text: "t"}, chat.Image{Base64Image: pngB64, MimeType: "image/png", Detail: "auto"}, chat.File{Base64Data: "JVBERi0=", MimeType: "application/pdf", Filename: "f.pdf"}}},
	}
	for _, m := range msgs {
		b, err := m.MarshalOpenAI(chat.OpenAIOptions{RequireToolCallIDs: true})
		if err != nil {
			t.Fatal(err)
		}
		back, err := chat.UnmarshalOpenAI(b)
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if !reflect.DeepEqual(back, m) {
			t.Errorf("%s:\ngot  %#v\nwant %#v", b, back, m)
		}
	}
	list, err := chat.UnmarshalOpenAIList([]byte(`[{"role":"user","content":"a"},{"role":"assistant","content":"b"}]`))
	if err != nil || len(list) != 2 {
		t.Fatalf("list: %v %v", list, err)
	}
	_, err = chat.UnmarshalOpenAIList([]byte(`[{"role":"user","content":"a"},{"role":"user"}]`))
	var ce *chat.Error
	if !errors.As(err, &ce) || ce.Path != "[1].content" {
		t.Fatalf("list error = %v", err)
	}
}
