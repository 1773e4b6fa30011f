package chat_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/chatstore/chatstore/chat"
)

// TestErrorWithin: the path of what holds a message goes in front of an
// error's path with a dot before a name and none before an index, and
// Detail is the error without "chat: invalid message: ".
func TestErrorWithin(t *testing.T) {
	for _, c := range []struct{ parent, path, want string }{
		{"messages[1]", "content[0].tool_call.id", "messages[1].content[0].tool_call.id"},
		{"messages", "[2].role", "messages[2].role"},
		{"messages[0]", "", "messages[0]"},
		{"", "role", "role"},
	} {
		e := &chat.Error{Path: c.path, Offset: -1, Msg: "m", Kind: chat.ErrInvalidMessage}
		if got := e.Within(c.parent).Path; got != c.want {
			t.Errorf("Within(%q) of %q: %q, want %q", c.parent, c.path, got, c.want)
		}
	}
	_, err := chat.UnmarshalList([]byte(`[{"role":"user","content":[{"text":"a"}]},{"role":"user","content":[{"text":7}]}]`))
	var ce *chat.Error
	if !errors.As(err, &ce) {
		t.Fatalf("%v: not a *chat.Error", err)
	}
	ce.Within("messages")
	if got := ce.Error(); got != "chat: invalid message: "+ce.Detail() || !strings.HasPrefix(ce.Detail(), "messages[1].content[0].text: ") {
		t.Errorf("Error %q, Detail %q", got, ce.Detail())
	}
}

// TestBase64LengthError: the count in the error agrees with its noun.
func TestBase64LengthError(t *testing.T) {
	_, err := chat.Unmarshal([]byte(`{"role":"user","content":[{"image":{"base64_image":"A"}}]}`))
	if want := "content[0].image.base64_image: not valid base64: 1 data character cannot be"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("%v, want %q", err, want)
	}
}
