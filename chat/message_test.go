package chat_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/chatstore/chatstore/chat"
)

func TestConstructors(t *testing.T) {
	call := chat.ToolCall{ToolName: "t", ID: chat.Ptr("1")}
	tests := []struct {
		name string
		got  chat.Message
		want chat.Message
	}{
		{"user", chat.User("hi"), chat.Message{Role: chat.RoleUser, Content: []chat.Part{chat.Text{Text: "hi"}}}},
		{"system", chat.System("s"), chat.Message{Role: chat.RoleSystem, Content: []chat.Part{chat.Text{Text: "s"}}}},
		{"assistant text", chat.Assistant("a"), chat.Message{Role: chat.RoleAssistant, Content: []chat.Part{chat.Text{Text: "a"}}}},
		{"assistant empty text", chat.Assistant(""), chat.Message{Role: chat.RoleAssistant, Content: []chat.Part{chat.Text{Text: ""}}}},
		{"assistant calls only", chat.Assistant("", call), chat.Message{Role: chat.RoleAssistant, Content: []chat.Part{call}}},
		{"assistant text and calls", chat.Assistant("x", call, call), chat.Message{Role: chat.RoleAssistant, Content: []chat.Part{chat.Text{Text: "x"}, call, call}}},
		{"reasoning first", chat.Assistant("x").WithReasoning("r"), chat.Message{Role: chat.RoleAssistant, Content: []chat.Part{chat.Reasoning{ReasoningText: "r"}, chat.Text{Text: "x"}}}},
		{"tool", chat.Tool("r", call, true), chat.Message{Role: chat.RoleTool, Content: []chat.Part{chat.ToolCallResult{Result: "r", Origin: call, Error: true}}}},
		{"name and meta", chat.User("x").WithName("n").WithMeta("a", 1), chat.Message{Role: chat.RoleUser, Name: chat.Ptr("n"), Meta: map[string]any{"a": 1}, Content: []chat.Part{chat.Text{Text: "x"}}}},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s: got %#v, want %#v", tt.name, tt.got, tt.want)
		}
	}

	img, err := chat.NewImage(pngB64, "", "auto")
	if err != nil || img.MimeType != "image/png" {
		t.Fatalf("NewImage guessed %q, %v", img.MimeType, err)
	}
	u, err := chat.UserParts(chat.Text{Text: "see"}, img)
	if err != nil || len(u.Images()) != 1 || u.Texts()[0] != "see" {
		t.Fatalf("UserParts: %+v %v", u, err)
	}
	if _, err := chat.UserParts(); !errors.Is(err, chat.ErrInvalidMessage) {
		t.Errorf("UserParts() err = %v", err)
	}
	if _, err := chat.UserParts(call); !errors.Is(err, chat.ErrInvalidMessage) {
		t.Errorf("UserParts(tool call) err = %v", err)
	}
	tm, err := chat.ToolParts([]chat.Part{chat.Text{Text: "a"}, img}, call, false)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := tm.ToolCallResult(); len(r.Parts) != 2 {
		t.Errorf("ToolParts: %+v", tm)
	}
	if r, _ := mustTool(t, nil).ToolCallResult(); r.Parts == nil {
		t.Errorf("ToolParts(nil) should be an empty list result, not a string result")
	}
	if _, err := chat.ToolParts([]chat.Part{chat.Reasoning{}}, call, false); !errors.Is(err, chat.ErrInvalidMessage) {
		t.Errorf("ToolParts(reasoning) err = %v", err)
	}
	if _, err := chat.NewImage("!!", "", ""); !errors.Is(err, chat.ErrInvalidMessage) {
		t.Errorf("NewImage(bad) err = %v", err)
	}
	if _, err := chat.NewImage(pngB64, "application/zip", ""); !errors.Is(err, chat.ErrInvalidMessage) {
		t.Errorf("NewImage(zip) err = %v", err)
	}
	f, err := chat.NewFile("JVBERi0xLjQK", "", "a.pdf")
	if err != nil || f.MimeType != "application/pdf" {
		t.Errorf("NewFile: %+v %v", f, err)
	}
}

func mustTool(t *testing.T, parts []chat.Part) chat.Message {
	t.Helper()
	m, err := chat.ToolParts(parts, chat.ToolCall{}, false)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestWithDoesNotMutate(t *testing.T) {
	base := chat.User("x").WithMeta("a", 1)
	_ = base.WithMeta("b", 2)
	if len(base.Meta) != 1 {
		t.Fatalf("WithMeta changed the receiver's meta: %v", base.Meta)
	}
	named := base.WithName("n")
	if base.Name != nil || *named.Name != "n" {
		t.Fatalf("WithName: %v %v", base.Name, named.Name)
	}
}

func TestAccessors(t *testing.T) {
	c1 := chat.ToolCall{ToolName: "a", ID: chat.Ptr("1")}
	c2 := chat.ToolCall{ToolName: "b"}
	img := chat.Image{Base64Image: pngB64}
	file := chat.File{Base64Data: "AA=="}
	m := chat.Message{Role: chat.RoleAssistant, Content: []chat.Part{
		chat.Reasoning{ReasoningText: "r1"}, chat.Text{Text: "t1"}, c1, img, chat.Text{Text: "t2"}, c2, file,
		chat.ToolCallResult{Result: "res", Origin: c1}, chat.Reasoning{ReasoningText: "r2"},
	}}
	if !reflect.DeepEqual(m.Texts(), []string{"t1", "t2"}) {
		t.Errorf("Texts = %v", m.Texts())
	}
	if s, ok := m.Text(); !ok || s != "t1" {
		t.Errorf("Text = %q %v", s, ok)
	}
	if got := m.ToolCalls(); len(got) != 2 || got[1].ToolName != "b" {
		t.Errorf("ToolCalls = %v", got)
	}
	if c, ok := m.ToolCall(); !ok || c.ToolName != "a" {
		t.Errorf("ToolCall = %v", c)
	}
	if r, ok := m.ToolCallResult(); !ok || r.Result != "res" || len(m.ToolCallResults()) != 1 {
		t.Errorf("ToolCallResult = %v", r)
	}
	if r, ok := m.Reasoning(); !ok || r.ReasoningText != "r1" || len(m.Reasonings()) != 2 {
		t.Errorf("Reasoning = %v", r)
	}
	if i, ok := m.Image(); !ok || i.Base64Image != pngB64 || len(m.Images()) != 1 {
		t.Errorf("Image = %v", i)
	}
	if f, ok := m.File(); !ok || f.Base64Data != "AA==" || len(m.Files()) != 1 {
		t.Errorf("File = %v", f)
	}
	if !m.Is(chat.RoleAssistant) || m.Is(chat.RoleUser) {
		t.Errorf("Is")
	}
	empty := chat.Message{Role: chat.RoleUser}
	if _, ok := empty.Text(); ok || empty.Texts() != nil {
		t.Errorf("empty Text")
	}
	if _, ok := empty.ToolCall(); ok {
		t.Errorf("empty ToolCall")
	}
	if _, ok := empty.Image(); ok {
		t.Errorf("empty Image")
	}
}

func TestCloneSharesNothing(t *testing.T) {
	orig := chat.Message{
		Role: chat.RoleAssistant,
		Name: chat.Ptr("n"),
		Meta: map[string]any{"nested": map[string]any{"list": []any{"a", map[string]any{"k": "v"}}}},
		Content: []chat.Part{
			chat.ToolCall{ToolName: "t", Arguments: map[string]any{"x": []any{"1"}}, ID: chat.Ptr("id"), Extra: map[string]any{"e": "1"}},
			chat.ToolCallResult{Parts: []chat.Part{chat.Image{Base64Image: pngB64, Meta: map[string]any{"m": "1"}}}, Origin: chat.ToolCall{ToolName: "t", Arguments: map[string]any{"y": "1"}}},
			chat.Reasoning{ReasoningText: "r", Extra: map[string]any{"s": "1"}},
			chat.File{Base64Data: "AA==", Extra: map[string]any{"f": "1"}},
		},
	}
	want := normalize(orig)
	c := orig.Clone()
	if !reflect.DeepEqual(c, orig) {
		t.Fatalf("clone differs")
	}
	// Mutate every reachable reference in the clone.
	*c.Name = "changed"
	c.Meta["new"] = 1
	c.Meta["nested"].(map[string]any)["list"].([]any)[1].(map[string]any)["k"] = "changed"
	tc := c.Content[0].(chat.ToolCall)
	tc.Arguments["x"].([]any)[0] = "changed"
	*tc.ID = "changed"
	tc.Extra["e"] = "changed"
	r := c.Content[1].(chat.ToolCallResult)
	r.Parts[0].(chat.Image).Meta["m"] = "changed"
	r.Parts[0] = chat.Text{Text: "replaced"}
	r.Origin.Arguments["y"] = "changed"
	c.Content[2].(chat.Reasoning).Extra["s"] = "changed"
	c.Content[3].(chat.File).Extra["f"] = "changed"
	c.Content[0] = chat.Text{Text: "replaced"}

	if got := normalize(orig); !reflect.DeepEqual(got, want) {
		t.Fatalf("mutating the clone changed the original:\n%#v\n%#v", got, want)
	}
}

func TestValidate(t *testing.T) {
	good := []chat.Message{
		chat.User("x"),
		chat.Assistant("", chat.ToolCall{ToolName: "t"}),
		{Role: chat.RoleUser, Content: []chat.Part{chat.Image{Base64Image: pngB64}}},
		{Role: chat.RoleUser, Content: []chat.Part{chat.Image{Base64Image: "junk", SkipValidation: true}}},
		{Role: chat.RoleTool, Content: []chat.Part{chat.ToolCallResult{Parts: []chat.Part{chat.Text{}, chat.File{Base64Data: ""}}}}},
	}
	for i, m := range good {
		if err := m.Validate(); err != nil {
			t.Errorf("good[%d]: %v", i, err)
		}
	}
	bad := []struct {
		m    chat.Message
		path string
	}{
		{chat.Message{Role: "robot"}, "role"},
		{chat.Message{Role: chat.RoleUser, Content: []chat.Part{nil}}, "content[0]"},
		{chat.Message{Role: chat.RoleUser, Content: []chat.Part{chat.Image{Base64Image: "a"}}}, "content[0].image.base64_image"},
		{chat.Message{Role: chat.RoleUser, Content: []chat.Part{chat.Image{Base64Image: pngB64, MimeType: "text/html"}}}, "content[0].image.mime_type"},
		{chat.Message{Role: chat.RoleUser, Content: []chat.Part{chat.Image{Base64Image: pngB64, Detail: "x", SkipValidation: true}}}, "content[0].image.detail"},
		{chat.Message{Role: chat.RoleUser, Content: []chat.Part{chat.File{Base64Data: "a==="}}}, "content[0].file.base64_data"},
		{chat.Message{Role: chat.RoleTool, Content: []chat.Part{chat.ToolCallResult{Parts: []chat.Part{chat.ToolCall{}}}}}, "content[0].tool_call_result.result[0]"},
	}
	for _, tt := range bad {
		err := tt.m.Validate()
		var ce *chat.Error
		if !errors.As(err, &ce) || ce.Path != tt.path || !errors.Is(err, chat.ErrInvalidMessage) {
			t.Errorf("Validate(%#v) = %v, want path %q", tt.m, err, tt.path)
		}
	}
	// Validate does not fill in the guessed MIME type.
	m := chat.Message{Role: chat.RoleUser, Content: []chat.Part{chat.Image{Base64Image: pngB64}}}
	_ = m.Validate()
	if m.Content[0].(chat.Image).MimeType != "" {
		t.Errorf("Validate changed the message")
	}
}

// Python's b64decode(validate=True) padding rules, which differ from Go's.
func TestBase64Rules(t *testing.T) {
	cases := map[string]bool{
		"": true, "==": true, "=": true, "YQ==": true, "YWI=": true, "YWI==": true, "YWJj": true, "YWJj=": true, "YWJj==": true,
		"YQ": false, "YQ=": false, "YWI": false, "Y": false, "Y===": false, "YWJj===": false, "YQ==YQ==": false, "YW Jj": false, "YW-j": false, "YWJj\n": false,
	}
	for in, ok := range cases {
		_, err := chat.NewFile(in, "application/octet-stream", "")
		if (err == nil) != ok {
			t.Errorf("base64 %q: err = %v, want ok=%v", in, err, ok)
		}
	}
}
