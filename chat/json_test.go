package chat_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/chatstore/chatstore/chat"
)

// A 1x1 transparent PNG.
const pngB64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="

func mustJSON(t *testing.T, m chat.Message) string {
	t.Helper()
	b, err := m.MarshalJSON()
	if err != nil {
		t.Fatalf("MarshalJSON: %v", err)
	}
	return string(b)
}

func TestEncodeShape(t *testing.T) {
	call := chat.ToolCall{ToolName: "weather", Arguments: map[string]any{"city": "Paris"}, ID: chat.Ptr("call_1")}
	tests := []struct {
		name string
		msg  chat.Message
		want string
	}{
		{"user", chat.User("Hi"), `{"role":"user","meta":{},"name":null,"content":[{"text":"Hi"}]}`},
		{"system with name", chat.System("Be brief.").WithName("ops"), `{"role":"system","meta":{},"name":"ops","content":[{"text":"Be brief."}]}`},
		{"empty name is not null", chat.User("x").WithName(""), `{"role":"user","meta":{},"name":"","content":[{"text":"x"}]}`},
		{"assistant tool call", chat.Assistant("", call),
			`{"role":"assistant","meta":{},"name":null,"content":[{"tool_call":{"tool_name":"weather","arguments":{"city":"Paris"},"id":"call_1","extra":null}}]}`},
		{"assistant text and call", chat.Assistant("Checking.", chat.ToolCall{ToolName: "f", Extra: map[string]any{}}),
			`{"role":"assistant","meta":{},"name":null,"content":[{"text":"Checking."},{"tool_call":{"tool_name":"f","arguments":{},"id":null,"extra":{}}}]}`},
		{"reasoning first", chat.Assistant("42").WithReasoning("think"),
			`{"role":"assistant","meta":{},"name":null,"content":[{"reasoning":{"reasoning_text":"think","extra":{}}},{"text":"42"}]}`},
		{"tool result", chat.Tool("22C", call, true),
			`{"role":"tool","meta":{},"name":null,"content":[{"tool_call_result":{"result":"22C","origin":{"tool_name":"weather","arguments":{"city":"Paris"},"id":"call_1","extra":null},"error":true}}]}`},
		{"tool result list", chat.Message{Role: chat.RoleTool, Content: []chat.Part{chat.ToolCallResult{Parts: []chat.Part{chat.Text{Text: "a"}}, Origin: chat.ToolCall{ToolName: "t"}}}},
			`{"role":"tool","meta":{},"name":null,"content":[{"tool_call_result":{"result":[{"text":"a"}],"origin":{"tool_name":"t","arguments":{},"id":null,"extra":null},"error":false}}]}`},
		{"tool result empty list", chat.Message{Role: chat.RoleTool, Content: []chat.Part{chat.ToolCallResult{Parts: []chat.Part{}, Origin: chat.ToolCall{ToolName: "t"}}}},
			`{"role":"tool","meta":{},"name":null,"content":[{"tool_call_result":{"result":[],"origin":{"tool_name":"t","arguments":{},"id":null,"extra":null},"error":false}}]}`},
		{"image", chat.Message{Role: chat.RoleUser, Content: []chat.Part{chat.Image{Base64Image: pngB64, MimeType: "image/png", Detail: "low", Meta: map[string]any{"page": 1}}}},
			`{"role":"user","meta":{},"name":null,"content":[{"image":{"base64_image":"` + pngB64 + `","mime_type":"image/png","detail":"low","meta":{"page":1},"validation":true}}]}`},
		{"file", chat.Message{Role: chat.RoleUser, Content: []chat.Part{chat.File{Base64Data: "JVBERi0=", SkipValidation: true}}},
			`{"role":"user","meta":{},"name":null,"content":[{"file":{"base64_data":"JVBERi0=","mime_type":null,"filename":null,"extra":{},"validation":false}}]}`},
		{"meta sorted and exact", chat.User("x").WithMeta("z", json.Number("1180591620717411303424")).WithMeta("a", 1.0).WithMeta("m", json.Number("1.0")),
			`{"role":"user","meta":{"a":1.0,"m":1.0,"z":1180591620717411303424},"name":null,"content":[{"text":"x"}]}`},
		{"strings unescaped where JSON allows", chat.User("<a&b> \"q\" \\ \n\t\x01 é \u2028"),
			`{"role":"user","meta":{},"name":null,"content":[{"text":"<a&b> \"q\" \\ \n\t\u0001 é \u2028"}]}`},
		{"empty content", chat.Message{Role: chat.RoleAssistant}, `{"role":"assistant","meta":{},"name":null,"content":[]}`},
		{"go values in meta", chat.User("x").WithMeta("v", map[string]any{"f": float32(0.5), "i": int8(-3), "u": uint64(1 << 63), "l": []any{nil, true, "s"}, "big": 1e16, "small": 1e-5}),
			`{"role":"user","meta":{"v":{"big":1e+16,"f":0.5,"i":-3,"l":[null,true,"s"],"small":1e-05,"u":9223372036854775808}},"name":null,"content":[{"text":"x"}]}`},
		{"struct in meta via encoding/json", chat.User("x").WithMeta("s", struct {
			A string `json:"a"`
			B []int  `json:"b"`
		}{"<x>", []int{1, 2}}),
			`{"role":"user","meta":{"s":{"a":"<x>","b":[1,2]}},"name":null,"content":[{"text":"x"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustJSON(t, tt.msg)
			if got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			if !json.Valid([]byte(got)) {
				t.Errorf("output is not valid JSON")
			}
			// What we write, we read back to an equal message.
			back, err := chat.Unmarshal([]byte(got))
			if err != nil {
				t.Fatalf("Unmarshal(own output): %v", err)
			}
			if again := mustJSON(t, back); again != got {
				t.Errorf("re-encoded differs:\n%s\n%s", again, got)
			}
		})
	}
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		name, path string
		msg        chat.Message
	}{
		{"unknown role", "role", chat.Message{Role: "bot"}},
		{"nil part", "content[0]", chat.Message{Role: chat.RoleUser, Content: []chat.Part{nil}}},
		{"invalid utf8", "content[0].text", chat.User("a\xffb")},
		{"invalid utf8 name", "name", chat.User("a").WithName("\xc3")},
		{"NaN in meta", "meta", chat.User("a").WithMeta("x", nanValue())},
		{"bad json.Number", "meta", chat.User("a").WithMeta("x", json.Number("1.2.3"))},
		{"channel in args", "content[0].tool_call.arguments", chat.Assistant("", chat.ToolCall{ToolName: "t", Arguments: map[string]any{"c": make(chan int)}})},
		{"reasoning in result list", "content[0].tool_call_result.result[0]", chat.Message{Role: chat.RoleTool, Content: []chat.Part{chat.ToolCallResult{Parts: []chat.Part{chat.Reasoning{}}}}}},
		{"bad detail", "content[0].image.detail", chat.Message{Role: chat.RoleUser, Content: []chat.Part{chat.Image{Base64Image: pngB64, Detail: "ultra"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := []byte("prefix")
			out, err := tt.msg.AppendJSON(dst)
			if !errors.Is(err, chat.ErrInvalidMessage) {
				t.Fatalf("err = %v, want ErrInvalidMessage", err)
			}
			var ce *chat.Error
			if !errors.As(err, &ce) || ce.Path != tt.path {
				t.Errorf("path = %q, want %q (err %v)", ce.Path, tt.path, err)
			}
			if string(out) != "prefix" {
				t.Errorf("dst changed on error: %q", out)
			}
		})
	}
}

func nanValue() float64 {
	zero := 0.0
	return zero / zero
}

func TestDecodeFormats(t *testing.T) {
	call := chat.ToolCall{ToolName: "search", Arguments: map[string]any{"q": "go"}, ID: chat.Ptr("c1")}
	tests := []struct {
		name string
		in   string
		want chat.Message
	}{
		{"current", `{"role":"user","meta":{"k":"v"},"name":"bob","content":[{"text":"hi"}]}`,
			chat.Message{Role: chat.RoleUser, Name: chat.Ptr("bob"), Meta: map[string]any{"k": "v"}, Content: []chat.Part{chat.Text{Text: "hi"}}}},
		{"minimal current", `{"role":"assistant","content":[],"meta":{}}`, chat.Message{Role: chat.RoleAssistant, Content: []chat.Part{}}},
		{"null meta and name", `{"role":"user","content":[],"meta":null,"name":null}`, chat.Message{Role: chat.RoleUser, Content: []chat.Part{}}},
		{"pre 2.9 string content", `{"role":"system","content":"be nice","name":null,"meta":{}}`,
			chat.Message{Role: chat.RoleSystem, Content: []chat.Part{chat.Text{Text: "be nice"}}}},
		{"2.9 to 2.11 underscore", `{"_role":"assistant","_content":[{"text":"ok"}],"_name":"x","_meta":{"a":[1,2]}}`,
			chat.Message{Role: chat.RoleAssistant, Name: chat.Ptr("x"), Meta: map[string]any{"a": []any{json.Number("1"), json.Number("2")}}, Content: []chat.Part{chat.Text{Text: "ok"}}}},
		{"content wins over _content", `{"role":"user","content":[{"text":"new"}],"_role":"assistant","_content":[{"text":"old"}],"_name":"ignored"}`,
			chat.Message{Role: chat.RoleUser, Content: []chat.Part{chat.Text{Text: "new"}}}},
		{"unknown top-level keys ignored", `{"role":"user","content":[{"text":"x"}],"id":7,"extra":{"a":1}}`,
			chat.Message{Role: chat.RoleUser, Content: []chat.Part{chat.Text{Text: "x"}}}},
		{"key order free", `{"content":[{"text":"x"}],"name":"n","role":"user"}`,
			chat.Message{Role: chat.RoleUser, Name: chat.Ptr("n"), Content: []chat.Part{chat.Text{Text: "x"}}}},
		{"wrapped tool call", `{"role":"assistant","content":[{"tool_call":{"tool_name":"search","arguments":{"q":"go"},"id":"c1","extra":null}}]}`,
			chat.Message{Role: chat.RoleAssistant, Content: []chat.Part{call}}},
		{"tool call minimal", `{"role":"assistant","content":[{"tool_call":{"tool_name":"search","arguments":{}}}]}`,
			chat.Message{Role: chat.RoleAssistant, Content: []chat.Part{chat.ToolCall{ToolName: "search"}}}},
		{"flat tool call", `{"role":"assistant","content":[{"tool_name":"search","arguments":{"q":"go"},"id":"c1"}]}`,
			chat.Message{Role: chat.RoleAssistant, Content: []chat.Part{call}}},
		{"flat tool call result", `{"role":"tool","content":[{"result":"r","origin":{"tool_name":"search","arguments":{"q":"go"},"id":"c1"},"error":false,"junk":1}]}`,
			chat.Message{Role: chat.RoleTool, Content: []chat.Part{chat.ToolCallResult{Result: "r", Origin: call}}}},
		{"tool result list", `{"role":"tool","content":[{"tool_call_result":{"result":[{"text":"a"},{"image":{"base64_image":"` + pngB64 + `"}}],"origin":{"tool_name":"search","arguments":{"q":"go"},"id":"c1"},"error":true}}]}`,
			chat.Message{Role: chat.RoleTool, Content: []chat.Part{chat.ToolCallResult{Parts: []chat.Part{chat.Text{Text: "a"}, chat.Image{Base64Image: pngB64, MimeType: "image/png"}}, Origin: call, Error: true}}}},
		{"reasoning", `{"role":"assistant","content":[{"reasoning":{"reasoning_text":"hmm","extra":{"sig":"x"}}}]}`,
			chat.Message{Role: chat.RoleAssistant, Content: []chat.Part{chat.Reasoning{ReasoningText: "hmm", Extra: map[string]any{"sig": "x"}}}}},
		{"flat reasoning", `{"role":"assistant","content":[{"reasoning_text":"hmm"}]}`,
			chat.Message{Role: chat.RoleAssistant, Content: []chat.Part{chat.Reasoning{ReasoningText: "hmm"}}}},
		{"image guessed mime", `{"role":"user","content":[{"image":{"base64_image":"` + pngB64 + `","detail":"auto"}}]}`,
			chat.Message{Role: chat.RoleUser, Content: []chat.Part{chat.Image{Base64Image: pngB64, MimeType: "image/png", Detail: "auto"}}}},
		{"flat image", `{"role":"user","content":[{"base64_image":"` + pngB64 + `","mime_type":"image/png","meta":{"a":1},"validation":true}]}`,
			chat.Message{Role: chat.RoleUser, Content: []chat.Part{chat.Image{Base64Image: pngB64, MimeType: "image/png", Meta: map[string]any{"a": json.Number("1")}}}}},
		{"image validation off keeps bad data", `{"role":"user","content":[{"image":{"base64_image":"not base64!","mime_type":"text/plain","validation":false}}]}`,
			chat.Message{Role: chat.RoleUser, Content: []chat.Part{chat.Image{Base64Image: "not base64!", MimeType: "text/plain", SkipValidation: true}}}},
		{"file", `{"role":"user","content":[{"file":{"base64_data":"JVBERi0xLjQK","filename":"a.pdf","extra":{"x":true}}}]}`,
			chat.Message{Role: chat.RoleUser, Content: []chat.Part{chat.File{Base64Data: "JVBERi0xLjQK", MimeType: "application/pdf", Filename: "a.pdf", Extra: map[string]any{"x": true}}}}},
		{"flat file unknown type", `{"role":"user","content":[{"base64_data":"aGVsbG8="}]}`,
			chat.Message{Role: chat.RoleUser, Content: []chat.Part{chat.File{Base64Data: "aGVsbG8="}}}},
		{"first wrapper wins, as in Haystack", `{"role":"assistant","content":[{"reasoning":{"reasoning_text":"r"},"tool_call":{"tool_name":"t","arguments":{}}}]}`,
			chat.Message{Role: chat.RoleAssistant, Content: []chat.Part{chat.ToolCall{ToolName: "t"}}}},
		{"wrapped part ignores unknown sibling", `{"role":"assistant","content":[{"reasoning":{"reasoning_text":"r"},"note":1}]}`,
			chat.Message{Role: chat.RoleAssistant, Content: []chat.Part{chat.Reasoning{ReasoningText: "r"}}}},
		{"escapes and unicode", `{"role":"user","content":[{"text":"\u003c\u0026\u2028\ud83d\ude00\u0000\/"}]}`,
			chat.Message{Role: chat.RoleUser, Content: []chat.Part{chat.Text{Text: "<&\u2028😀\x00/"}}}},
		{"exact numbers", `{"role":"user","content":[],"meta":{"big":1180591620717411303424,"f":1.0,"e":1E300,"neg":-0}}`,
			chat.Message{Role: chat.RoleUser, Content: []chat.Part{}, Meta: map[string]any{"big": json.Number("1180591620717411303424"), "f": json.Number("1.0"), "e": json.Number("1E300"), "neg": json.Number("-0")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := chat.Unmarshal([]byte(tt.in))
			if err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %#v\nwant %#v", got, tt.want)
			}
			// decode(encode(m)) == m
			back, err := chat.Unmarshal([]byte(mustJSON(t, got)))
			if err != nil {
				t.Fatalf("Unmarshal(encoded): %v", err)
			}
			if !reflect.DeepEqual(back, normalize(got)) {
				t.Errorf("round trip changed the message:\n%#v\n%#v", back, got)
			}
		})
	}
}

// normalize is what a message looks like after a JSON round trip: absent
// maps come back as they were written ({} is read as an empty map, except
// meta-like maps which keep their nil-ness only through encode/decode).
func normalize(m chat.Message) chat.Message {
	b, _ := m.MarshalJSON()
	out, _ := chat.Unmarshal(b)
	return out
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		kind error
		path string
		msg  string // substring of the message
	}{
		{"not json", `{"role":`, chat.ErrInvalidJSON, "role", "unexpected end of input"},
		{"trailing garbage", `{"role":"user","content":[]} x`, chat.ErrInvalidJSON, "", "after top-level value"},
		{"not an object", `[1]`, chat.ErrInvalidMessage, "", "must be an object, got an array"},
		{"missing role", `{"content":[]}`, chat.ErrInvalidMessage, "", `missing "role"`},
		{"unknown role", `{"role":"bot","content":[]}`, chat.ErrInvalidMessage, "role", `unknown role "bot"; valid roles are "user", "system", "assistant" and "tool"`},
		{"role not string", `{"role":1,"content":[]}`, chat.ErrInvalidMessage, "role", "must be a string"},
		{"missing content", `{"role":"user"}`, chat.ErrInvalidMessage, "", `missing "content"`},
		{"content number", `{"role":"user","content":5}`, chat.ErrInvalidMessage, "content", "must be a list of content parts or a string, got a number"},
		{"content object", `{"role":"user","content":{"text":"x"}}`, chat.ErrInvalidMessage, "content", "got an object"},
		{"legacy content string", `{"_role":"user","_content":"x"}`, chat.ErrInvalidMessage, "_content", "must be a list of content parts"},
		{"legacy missing _role", `{"role":"user","_content":[]}`, chat.ErrInvalidMessage, "", `missing "_role"`},
		{"current needs role not _role", `{"_role":"user","content":[]}`, chat.ErrInvalidMessage, "", `missing "role"`},
		{"meta list", `{"role":"user","content":[],"meta":[]}`, chat.ErrInvalidMessage, "meta", "must be an object or null, got an array"},
		{"name number", `{"role":"user","content":[],"name":3}`, chat.ErrInvalidMessage, "name", "must be a string or null, got a number"},
		{"part string", `{"role":"user","content":["hi"]}`, chat.ErrInvalidMessage, "content[0]", "must be an object, got a string"},
		{"unknown part", `{"role":"user","content":[{"audio":{}}]}`, chat.ErrInvalidMessage, "content[0]", "unknown content part"},
		{"empty part", `{"role":"user","content":[{}]}`, chat.ErrInvalidMessage, "content[0]", "unknown content part"},
		{"text not string", `{"role":"user","content":[{"text":1}]}`, chat.ErrInvalidMessage, "content[0].text", "must be a string"},
		{"text with extra key", `{"role":"user","content":[{"text":"a","id":1}]}`, chat.ErrInvalidMessage, "content[0]", `holds only "text"`},
		{"extra null", `{"role":"assistant","content":[{"reasoning":{"reasoning_text":"a","extra":null}}]}`, chat.ErrInvalidMessage, "content[0].reasoning.extra", "must be an object, got null"},
		{"arguments string", `{"role":"assistant","content":[{"tool_call":{"tool_name":"a","arguments":"{}"}}]}`, chat.ErrInvalidMessage, "content[0].tool_call.arguments", "must be an object, got a string"},
		{"arguments missing", `{"role":"assistant","content":[{"tool_call":{"tool_name":"a"}}]}`, chat.ErrInvalidMessage, "content[0].tool_call", `missing "arguments"`},
		{"tool call unknown key", `{"role":"assistant","content":[{"tool_call":{"tool_name":"a","arguments":{},"type":"function"}}]}`, chat.ErrInvalidMessage, "content[0].tool_call.type", `unknown key "type"`},
		{"tool call id number", `{"role":"assistant","content":[{"tool_call":{"tool_name":"a","arguments":{},"id":5}}]}`, chat.ErrInvalidMessage, "content[0].tool_call.id", "must be a string or null"},
		{"result missing fields", `{"role":"tool","content":[{"tool_call_result":{"result":"x"}}]}`, chat.ErrInvalidMessage, "content[0].tool_call_result", `missing "origin", "error"`},
		{"result error not bool", `{"role":"tool","content":[{"tool_call_result":{"result":"x","origin":{"tool_name":"a","arguments":{}},"error":"no"}}]}`, chat.ErrInvalidMessage, "content[0].tool_call_result.error", "must be a boolean"},
		{"result number", `{"role":"tool","content":[{"tool_call_result":{"result":1,"origin":{"tool_name":"a","arguments":{}},"error":false}}]}`, chat.ErrInvalidMessage, "content[0].tool_call_result.result", "must be a string or a list"},
		{"result list with call", `{"role":"tool","content":[{"tool_call_result":{"result":[{"tool_call":{"tool_name":"a","arguments":{}}}],"origin":{"tool_name":"a","arguments":{}},"error":false}}]}`, chat.ErrInvalidMessage, "content[0].tool_call_result.result[0]", "can only hold text, image and file parts"},
		{"reasoning missing text", `{"role":"assistant","content":[{"reasoning":{"extra":{}}}]}`, chat.ErrInvalidMessage, "content[0].reasoning", `missing "reasoning_text"`},
		{"image bad base64", `{"role":"user","content":[{"image":{"base64_image":"@@@@"}}]}`, chat.ErrInvalidMessage, "content[0].image.base64_image", "not in the standard base64 alphabet"},
		{"image bad padding", `{"role":"user","content":[{"image":{"base64_image":"YQ"}}]}`, chat.ErrInvalidMessage, "content[0].image.base64_image", "incorrect padding"},
		{"image newline", `{"role":"user","content":[{"image":{"base64_image":"YWJj\nZGVm"}}]}`, chat.ErrInvalidMessage, "content[0].image.base64_image", "not in the standard base64 alphabet"},
		{"image not image mime", `{"role":"user","content":[{"image":{"base64_image":"` + pngB64 + `","mime_type":"text/plain"}}]}`, chat.ErrInvalidMessage, "content[0].image.mime_type", `"text/plain" is not a valid image MIME type`},
		{"image guessed non image", `{"role":"user","content":[{"image":{"base64_image":"UEsDBBQAAAAIAA=="}}]}`, chat.ErrInvalidMessage, "content[0].image.mime_type", "is not a valid image MIME type"},
		{"image detail", `{"role":"user","content":[{"image":{"base64_image":"` + pngB64 + `","detail":"max"}}]}`, chat.ErrInvalidMessage, "content[0].image.detail", `unknown detail "max"`},
		{"image missing data", `{"role":"user","content":[{"image":{"mime_type":"image/png"}}]}`, chat.ErrInvalidMessage, "content[0].image", `missing "base64_image"`},
		{"file bad base64", `{"role":"user","content":[{"file":{"base64_data":"a"}}]}`, chat.ErrInvalidMessage, "content[0].file.base64_data", "cannot be 1 more than a multiple of 4"},
		{"validation not bool", `{"role":"user","content":[{"file":{"base64_data":"","validation":"no"}}]}`, chat.ErrInvalidMessage, "content[0].file.validation", "must be a boolean"},
		{"duplicate role", `{"role":"user","role":"assistant","content":[]}`, chat.ErrInvalidJSON, "", `duplicate key "role"`},
		{"duplicate content", `{"role":"user","content":[],"content":[]}`, chat.ErrInvalidJSON, "", `duplicate key "content"`},
		{"duplicate meta key", `{"role":"user","content":[],"meta":{"a":1,"a":2}}`, chat.ErrInvalidJSON, "meta", `duplicate key "a"`},
		{"float beyond 64 bits", `{"role":"user","content":[],"meta":{"e":1E400}}`, chat.ErrInvalidJSON, "meta", `out of range`},
		{"duplicate in an ignored member", `{"role":"user","content":[],"note":{"a":1,"a":2}}`, chat.ErrInvalidJSON, "", `duplicate key "a"`},
		{"duplicate in tool call", `{"role":"assistant","content":[{"tool_call":{"tool_name":"a","tool_name":"b","arguments":{}}}]}`, chat.ErrInvalidJSON, "content[0].tool_call", `duplicate key "tool_name"`},
		{"invalid utf8", "{\"role\":\"user\",\"content\":[{\"text\":\"\xff\"}]}", chat.ErrInvalidJSON, "content[0]", "invalid UTF-8"},
		{"raw control char", "{\"role\":\"user\",\"content\":[{\"text\":\"a\x01\"}]}", chat.ErrInvalidJSON, "content[0]", "invalid control character"},
		{"lone surrogate", `{"role":"user","content":[{"text":"\ud800"}]}`, chat.ErrInvalidJSON, "content[0]", "lone UTF-16 surrogate"},
		{"bad escape", `{"role":"user","content":[{"text":"\x"}]}`, chat.ErrInvalidJSON, "content[0]", "invalid escape"},
		{"bad number", `{"role":"user","content":[],"meta":{"a":01}}`, chat.ErrInvalidJSON, "meta", ""},
		{"trailing comma", `{"role":"user","content":[],}`, chat.ErrInvalidJSON, "", "looking for an object key"},
		{"deep nesting", `{"role":"user","content":[],"meta":{"a":` + strings.Repeat("[", 100000) + `}}`, chat.ErrInvalidJSON, "meta", "nesting deeper than"},
		{"empty input", ``, chat.ErrInvalidJSON, "", "unexpected end of input"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := chat.Unmarshal([]byte(tt.in))
			if !errors.Is(err, tt.kind) {
				t.Fatalf("err = %v, want %v", err, tt.kind)
			}
			var ce *chat.Error
			if !errors.As(err, &ce) {
				t.Fatalf("err is %T, want *chat.Error", err)
			}
			if ce.Path != tt.path {
				t.Errorf("path = %q, want %q (%v)", ce.Path, tt.path, err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not contain %q", err, tt.msg)
			}
			if !strings.HasPrefix(err.Error(), "chat: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestUnmarshalList(t *testing.T) {
	msgs, err := chat.UnmarshalList([]byte(` [ {"role":"user","content":"a"}, {"role":"assistant","content":[{"text":"b"}]} ] `))
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || msgs[1].Role != chat.RoleAssistant {
		t.Fatalf("got %+v", msgs)
	}
	empty, err := chat.UnmarshalList([]byte(`[]`))
	if err != nil || empty == nil || len(empty) != 0 {
		t.Fatalf("empty list: %v %v", empty, err)
	}
	_, err = chat.UnmarshalList([]byte(`[{"role":"user","content":"a"},{"role":"user","content":[{"text":2}]}]`))
	var ce *chat.Error
	if !errors.As(err, &ce) || ce.Path != "[1].content[0].text" {
		t.Fatalf("err = %v, want path [1].content[0].text", err)
	}
}

func TestJSONInterop(t *testing.T) {
	type envelope struct {
		Msgs []chat.Message `json:"msgs"`
	}
	in := envelope{Msgs: []chat.Message{chat.User("hi <there>"), chat.Assistant("yo")}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out envelope
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out.Msgs, in.Msgs) {
		t.Fatalf("got %#v", out.Msgs)
	}
	if err := json.Unmarshal([]byte(`{"msgs":[{"role":"x","content":[]}]}`), &out); !errors.Is(err, chat.ErrInvalidMessage) {
		t.Fatalf("err = %v", err)
	}
}
