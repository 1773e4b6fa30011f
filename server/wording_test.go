package server

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/chatstore/chatstore/chat"
)

// TestErrorPaths: the paths in error messages are relative to the body and
// read as one path, with a dot after each index
// ("messages[1].content[0].tool_call.id"), and a message the store refuses
// is called an invalid message once. Codes and statuses are as before.
func TestErrorPaths(t *testing.T) {
	f := newFixture(t, "memory://", nil)
	message := func(r reply) string {
		var v struct{ Error struct{ Message string } }
		json.Unmarshal(r.body, &v)
		return v.Error.Message
	}
	f.do("POST", messagesPath("h"), body(chat.User("q"), chat.Assistant("", chat.ToolCall{ToolName: "w"})))
	for _, c := range []struct {
		name, method, path, body string
		status                   int
		code, want               string
	}{
		{"conversion", "GET", messagesPath("h") + "?last_k=all&format=openai&require_tool_call_ids=true", "", 400, "not_convertible", "messages[1].content[0].tool_call.id: "},
		{"decoding", "POST", messagesPath("x"), `{"messages":[{"role":"user","content":[{"text":"a"}]},{"role":"user","content":[{"text":7}]}]}`, 400, "invalid_message", "messages[1].content[0].text: "},
		{"store", "POST", messagesPath("x"), `{"messages":[{"role":"user","content":[{"text":"a"}]},{"role":"user","meta":{"chat_message_id":7},"content":[{"text":"b"}]}]}`, 400, "invalid_message", "invalid message: messages[1].meta.chat_message_id: "},
	} {
		r := f.do(c.method, c.path, c.body)
		msg := message(r)
		if r.code != c.status || r.errorCode(t) != c.code || !strings.Contains(msg, c.want) || strings.Count(msg, "invalid message") > 1 {
			t.Errorf("%s: %d %s, want %d %s with %q", c.name, r.code, r.body, c.status, c.code, c.want)
		}
	}
}

// TestTokensErrorCounts: counts in the tokens file's errors agree with their
// noun ("1 field", not "1 fields").
func TestTokensErrorCounts(t *testing.T) {
	for in, want := range map[string]string{
		"acme\n":   "got 1 field",
		"acme x\n": "is 1 byte;",
	} {
		_, err := ParseTokens(strings.NewReader(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}
