package tokens

import (
	"errors"
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/chatstore/chatstore/chat"
)

var (
	png    = chat.Image{Base64Image: "iVBORw0KGgo=", MimeType: "image/png"}
	report = chat.File{Base64Data: "JVBERi0xLjQ=", MimeType: "application/pdf", Filename: "report.pdf"}
	search = Tool{
		Name:        "search",
		Description: "Search the web for a query and return the top results.",
		Parameters: map[string]any{
			"type":       "object",
			"properties": map[string]any{"query": map[string]any{"type": "string", "description": "the search query"}},
			"required":   []any{"query"},
		},
	}
)

func msg(role chat.Role, parts ...chat.Part) chat.Message {
	return chat.Message{Role: role, Content: parts}
}

func call(name string, args map[string]any) chat.ToolCall {
	return chat.ToolCall{ToolName: name, Arguments: args, ID: chat.Ptr("c1")}
}

// result is Haystack's ChatMessage.from_tool.
func result(text, tool string, isError bool) chat.Message {
	return chat.Tool(text, call(tool, nil), isError)
}

func decode(t testing.TB, js string) chat.Message {
	t.Helper()
	m, err := chat.Unmarshal([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

type example struct {
	name  string
	msgs  []chat.Message
	tools []Tool
	text  string // rendered, verbatim
	chars int    // code points
	// approx is with Haystack's defaults; o200k and cl100k are the
	// Tiktoken counts, flat charges included.
	approx, o200k, cl100k int
}

// examples are the worked examples of the specification (Haystack's
// test_utils expectations among them). Counts that it leaves open, marked
// "ports" below, are those both Go ports of tiktoken give.
func examples(t testing.TB) []example {
	allKinds := []chat.Message{
		chat.System("rules"),
		chat.User("what is haystack?"),
		chat.Assistant("let me look", call("search", map[string]any{"b": 2, "a": 1})),
		result("found it", "search", false),
		result("boom", "search", true),
		msg(chat.RoleUser, chat.Text{Text: "look:"}, png, report),
		msg(chat.RoleAssistant), // from_assistant(): no content at all
	}
	fresh := []chat.Message{
		chat.System("rules"),
		chat.User("start"),
		msg(chat.RoleAssistant, call("search", nil)),
		result(strings.Repeat("first result ", 12), "search", false),
		msg(chat.RoleAssistant, call("search", nil)),
		result(strings.Repeat("second result ", 12), "search", false),
	}
	const searchJSON = `[{"description": "Search the web for a query and return the top results.", "name": "search", ` +
		`"parameters": {"properties": {"query": {"description": "the search query", "type": "string"}}, "required": ["query"], "type": "object"}}]`
	return []example{
		{"empty", nil, nil, "", 0, 0, 0, 0},
		{"user hi", []chat.Message{chat.User("hi")}, nil, "[user] hi", 9, 2, 3, 3},
		{"user x*400", []chat.Message{chat.User(strings.Repeat("x", 400))}, nil, "[user] " + strings.Repeat("x", 400), 407, 101, 54, 54},
		{"hello how", []chat.Message{chat.User("Hello, how are you?"), chat.Assistant("I'm good, thank you! How can I assist you today?")}, nil,
			"[user] Hello, how are you?\n[assistant] I'm good, thank you! How can I assist you today?", 87, 21, 24, 25},
		{"user a assistant b", []chat.Message{chat.User("a"), chat.Assistant("b")}, nil, "[user] a\n[assistant] b", 22, 5, 8, 8},
		{"image", []chat.Message{msg(chat.RoleUser, png)}, nil, "[user] <image>", 14, 3 + 85, 5 + 85, 5 + 85},
		{"file", []chat.Message{msg(chat.RoleUser, report)}, nil, "[user] <file: report.pdf>", 25, 6 + 1000, 8 + 1000, 8 + 1000},
		// ports
		{"image image file", []chat.Message{msg(chat.RoleUser, png, png, report)}, nil,
			"[user] <image>\n[user] <image>\n[user] <file: report.pdf>", 55, 13 + 1170, 18 + 1170, 18 + 1170},
		{"tool result with image", []chat.Message{msg(chat.RoleTool, chat.ToolCallResult{Parts: []chat.Part{chat.Text{Text: "shot:"}, png}, Origin: call("shot", nil)})}, nil,
			"[tool:shot] shot:<image>", 24, 6 + 85, 9 + 85, 9 + 85},
		// ports
		{"reasoning only", []chat.Message{msg(chat.RoleAssistant).WithReasoning("thinking hard")}, nil, "[assistant] <no content>", 24, 6, 7, 7},
		// ports
		{"empty text", []chat.Message{chat.Assistant("")}, nil, "[assistant] ", 12, 3, 4, 4},
		// ports
		{"two texts", []chat.Message{msg(chat.RoleUser, chat.Text{Text: "one"}, chat.Text{Text: "two"})}, nil, "[user] one\ntwo", 14, 3, 5, 5},
		{"unicode arguments", []chat.Message{decode(t, `{"role":"assistant","content":[{"tool_call":{"tool_name":"weather",`+
			`"arguments":{"city":"東京","emoji":"👋","n":1.0,"ok":true,"none":null},"id":null}}]}`)}, nil,
			`[assistant -> tool_call] weather({"city": "\u6771\u4eac", "emoji": "\ud83d\udc4b", "n": 1.0, "none": null, "ok": true})`, 119, 29, 50, 50},
		// ports
		{"nested arguments", []chat.Message{msg(chat.RoleAssistant, call("f", map[string]any{"z": map[string]any{"b": []any{1, 2}, "a": "x"}, "a": []any{}}))}, nil,
			`[assistant -> tool_call] f({"a": [], "z": {"a": "x", "b": [1, 2]}})`, 67, 16, 31, 31},
		// ports
		{"two results in one message", []chat.Message{msg(chat.RoleTool,
			chat.ToolCallResult{Result: "r1", Origin: call("a", nil)}, chat.ToolCallResult{Result: "r2", Origin: call("b", nil), Error: true})}, nil,
			"[tool:a] r1\n[tool:b (error)] r2", 31, 7, 15, 15},
		{"user hi and a tool", []chat.Message{chat.User("hi")}, []Tool{search}, "[user] hi" + searchJSON, 239, 59, 63, 63},
		{"a tool alone", nil, []Tool{search}, searchJSON, 230, 57, 60, 60},
		{"japanese", []chat.Message{chat.User("東京都に行きます")}, nil, "[user] 東京都に行きます", 15, 3, 8, 10},
		{"emoji", []chat.Message{chat.User("👋🌍 Hello 🎉🎉 👨‍👩‍👧‍👦")}, nil, "[user] 👋🌍 Hello 🎉🎉 👨‍👩‍👧‍👦", 26, 6, 22, 31},
		{"blank line", []chat.Message{chat.User("line one\n  \nline two")}, nil, "[user] line one\n  \nline two", 27, 6, 7, 7},
		{"all kinds", allKinds, nil, "[system] rules\n" +
			"[user] what is haystack?\n" +
			"[assistant] let me look\n" +
			`[assistant -> tool_call] search({"a": 1, "b": 2})` + "\n" +
			"[tool:search] found it\n" +
			"[tool:search (error)] boom\n" +
			"[user] look:\n" +
			"[user] <image>\n" +
			"[user] <file: report.pdf>\n" +
			"[assistant] <no content>", 242, 60 + 1085, 79 + 1085, 78 + 1085},
		{"compaction fixture", fresh, nil, "[system] rules\n[user] start\n[assistant -> tool_call] search({})\n" +
			"[tool:search] " + strings.Repeat("first result ", 12) + "\n[assistant -> tool_call] search({})\n" +
			"[tool:search] " + strings.Repeat("second result ", 12), 453, 113, 85, 85},
		// The messages the compaction hooks write.
		// ports
		{"sliding window note", []chat.Message{chat.User("[2 earlier messages were removed from this conversation to free up context and cannot be recovered.]")}, nil,
			"[user] [2 earlier messages were removed from this conversation to free up context and cannot be recovered.]", 107, 26, 20, 20},
		// ports
		{"pruned result", []chat.Message{result("[Tool result removed to free up context. Call `search` again if you need it.]", "search", false)}, nil,
			"[tool:search] [Tool result removed to free up context. Call `search` again if you need it.]", 91, 22, 24, 24},
		// ports
		{"budget message", []chat.Message{chat.Assistant("The Agent stopped because the token budget was exceeded.")}, nil,
			"[assistant] The Agent stopped because the token budget was exceeded.", 68, 17, 13, 13},
		// ports
		{"summary", []chat.Message{chat.User("<conversation_summary>\nsummary\n</conversation_summary>")}, nil,
			"[user] <conversation_summary>\nsummary\n</conversation_summary>", 61, 15, 12, 12},
		// ports
		{"tool error JSON", []chat.Message{result(`{"error": "not found", "code": 404}`, "lookup", true)}, nil,
			`[tool:lookup (error)] {"error": "not found", "code": 404}`, 57, 14, 20, 20},
	}
}

func TestExamples(t *testing.T) {
	approx, err := NewApproximate(nil)
	if err != nil {
		t.Fatal(err)
	}
	o200k, err := NewTiktoken(nil)
	if err != nil {
		t.Fatal(err)
	}
	cl100k, err := NewTiktoken(&Options{Encoding: Cl100kBase})
	if err != nil {
		t.Fatal(err)
	}
	for _, ex := range examples(t) {
		t.Run(ex.name, func(t *testing.T) {
			text := Render(ex.msgs, ex.tools)
			if text != ex.text {
				t.Errorf("Render:\n%s\nwant\n%s", text, ex.text)
			}
			if n := utf8.RuneCountInString(text); n != ex.chars {
				t.Errorf("%d code points, want %d", n, ex.chars)
			}
			if n := approx.Count(ex.msgs, ex.tools); n != ex.approx {
				t.Errorf("Approximate: %d, want %d", n, ex.approx)
			}
			if n := o200k.Count(ex.msgs, ex.tools); n != ex.o200k {
				t.Errorf("Tiktoken o200k_base: %d, want %d", n, ex.o200k)
			}
			if n := cl100k.Count(ex.msgs, ex.tools); n != ex.cl100k {
				t.Errorf("Tiktoken cl100k_base: %d, want %d", n, ex.cl100k)
			}
		})
	}
}

// TestRenderOrder: the lines of a message come texts first (under one
// prefix), then tool calls, images and files, whatever the order of the
// parts; reasoning is left out.
func TestRenderOrder(t *testing.T) {
	m := msg(chat.RoleAssistant, report, png, call("f", nil), chat.Reasoning{ReasoningText: "hmm"}, chat.Text{Text: "a"}, png, chat.Text{Text: "b"})
	want := "[assistant] a\nb\n[assistant -> tool_call] f({})\n[assistant] <image>\n[assistant] <image>\n[assistant] <file: report.pdf>"
	if got := Render([]chat.Message{m}, nil); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// TestRenderResults: a message with a tool result renders only its
// results, and a list result joins its parts without a separator.
func TestRenderResults(t *testing.T) {
	unnamed := chat.File{Base64Data: "JVBERi0xLjQ="}
	for _, c := range []struct {
		m    chat.Message
		want string
	}{
		{msg(chat.RoleTool, chat.ToolCallResult{Result: "ok", Origin: call("x", nil)}, chat.Text{Text: "ignored"}, png), "[tool:x] ok"},
		{msg(chat.RoleTool, chat.ToolCallResult{Parts: []chat.Part{chat.Text{Text: "a"}, chat.Text{Text: "b"}}, Origin: call("x", nil)}), "[tool:x] ab"},
		{msg(chat.RoleTool, chat.ToolCallResult{Parts: []chat.Part{chat.Text{Text: "see "}, png}, Origin: call("x", nil)}), "[tool:x] see <image>"},
		{msg(chat.RoleTool, chat.ToolCallResult{Parts: []chat.Part{unnamed, report}, Origin: call("x", nil), Error: true}), "[tool:x (error)] <file: unnamed><file: report.pdf>"},
		{msg(chat.RoleTool, chat.ToolCallResult{Parts: []chat.Part{}, Origin: call("x", nil)}), "[tool:x] "},
		{msg(chat.RoleTool, chat.ToolCallResult{Parts: []chat.Part{chat.Reasoning{}}, Origin: call("x", nil)}), "[tool:x] <ReasoningContent>"},
		{msg(chat.RoleUser, unnamed), "[user] <file: unnamed>"},
		{msg(chat.RoleSystem), "[system] <no content>"},
	} {
		if got := Render([]chat.Message{c.m}, nil); got != c.want {
			t.Errorf("got %q, want %q", got, c.want)
		}
	}
}

// TestFlat: images and files are charged where they are parts of a
// message, rendered or not, and inside a tool result given as a list.
func TestFlat(t *testing.T) {
	msgs := []chat.Message{
		msg(chat.RoleTool, chat.ToolCallResult{Parts: []chat.Part{chat.Text{Text: "x"}, png, report, png}, Origin: call("shot", nil)}),
		msg(chat.RoleTool, chat.ToolCallResult{Result: "ok", Origin: call("shot", nil)}, png), // not rendered, charged
		msg(chat.RoleUser, png, report, report),
	}
	if i, f := attachments(msgs); i != 4 || f != 3 {
		t.Fatalf("attachments: %d images, %d files, want 4 and 3", i, f)
	}
	text := Render(msgs, nil)
	for _, c := range []struct {
		opts *Options
		flat int
	}{
		{nil, 4*85 + 3*1000},
		{&Options{TokensPerImage: 500, TokensPerFile: 7}, 4*500 + 3*7},
		{&Options{TokensPerImage: NoCharge, TokensPerFile: NoCharge}, 0},
	} {
		a, err := NewApproximate(c.opts)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := a.Count(msgs, nil), utf8.RuneCountInString(text)/4+c.flat; got != want {
			t.Errorf("Approximate %+v: %d, want %d", c.opts, got, want)
		}
		tk, err := NewTiktoken(c.opts)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := tk.Count(msgs, nil), tk.enc.count(text)+c.flat; got != want {
			t.Errorf("Tiktoken %+v: %d, want %d", c.opts, got, want)
		}
	}
	// Haystack's test: 500 and 10 per image differ by exactly 490 on one
	// image.
	one := []chat.Message{msg(chat.RoleUser, png)}
	a500, _ := NewApproximate(&Options{TokensPerImage: 500})
	a10, _ := NewApproximate(&Options{TokensPerImage: 10})
	if d := a500.Count(one, nil) - a10.Count(one, nil); d != 490 {
		t.Errorf("500 and 10 per image differ by %d", d)
	}
}

func TestCharsPerToken(t *testing.T) {
	x400 := []chat.Message{chat.User(strings.Repeat("x", 400))}
	for _, c := range []struct {
		cpt  float64
		want int
	}{{0, 101}, {4, 101}, {2, 203}, {3.5, 116}, {1, 407}, {1000, 0}, {math.Inf(1), 0}, {1e-300, math.MaxInt32}} {
		a, err := NewApproximate(&Options{CharsPerToken: c.cpt})
		if err != nil {
			t.Fatal(err)
		}
		if got := a.Count(x400, nil); got != c.want {
			t.Errorf("%v chars per token: %d, want %d", c.cpt, got, c.want)
		}
	}
}

func TestOptionErrors(t *testing.T) {
	for _, o := range []Options{
		{CharsPerToken: -1},
		{CharsPerToken: math.NaN()},
		{TokensPerImage: -2},
		{TokensPerFile: -1000},
	} {
		if _, err := NewApproximate(&o); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("NewApproximate(%+v): %v", o, err)
		}
		if _, err := NewTiktoken(&o); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("NewTiktoken(%+v): %v", o, err)
		}
	}
	for _, name := range []string{"p50k_base", "gpt-4o", "O200K_BASE"} {
		if _, err := NewTiktoken(&Options{Encoding: name}); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("encoding %q: %v", name, err)
		}
	}
	tk, err := NewTiktoken(nil)
	if err != nil || tk.Encoding() != O200kBase {
		t.Errorf("default encoding: %v, %v", tk, err)
	}
}

// TestNothing: no messages and no tools count 0, before any rendering;
// one empty message does not.
func TestNothing(t *testing.T) {
	a, _ := NewApproximate(nil)
	tk, _ := NewTiktoken(nil)
	for _, c := range []Counter{a, tk} {
		if n := c.Count(nil, nil); n != 0 {
			t.Errorf("%T: %d for nothing", c, n)
		}
		if n := c.Count([]chat.Message{}, []Tool{}); n != 0 {
			t.Errorf("%T: %d for empty lists", c, n)
		}
		if n := c.Count(nil, []Tool{search}); n <= 0 {
			t.Errorf("%T: %d for a tool", c, n)
		}
		if n := c.Count([]chat.Message{msg(chat.RoleUser)}, nil); n <= 0 {
			t.Errorf("%T: %d for an empty message", c, n)
		}
	}
}
