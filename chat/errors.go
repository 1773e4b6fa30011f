package chat

import (
	"errors"
	"fmt"

	"github.com/chatstore/chatstore/internal/jsonx"
)

// Sentinel errors, for errors.Is. Every error this package returns for bad
// input is an *Error that wraps one of them.
var (
	// ErrInvalidJSON means the input is not well-formed JSON.
	ErrInvalidJSON = errors.New("invalid JSON")
	// ErrInvalidMessage means the input is JSON but not a valid message.
	ErrInvalidMessage = errors.New("invalid message")
)

// Error describes what is wrong with a message and where.
type Error struct {
	// Path locates the problem inside the message, for example
	// "content[1].tool_call.arguments"; it is empty for the message itself.
	Path string
	// Offset is the byte offset in the JSON input, or -1 when the error does
	// not come from decoding.
	Offset int
	// Msg says what is wrong and what would be valid.
	Msg string
	// Kind is ErrInvalidJSON or ErrInvalidMessage.
	Kind error
}

func (e *Error) Error() string {
	return "chat: " + e.Kind.Error() + ": " + e.Detail()
}

// Detail is the error without the package and kind in front: where and
// what, "content[1].text: must be a string". Code that wraps an *Error
// under a kind of its own (chatstore.ErrInvalidMessage) writes it with
// Detail, so that "invalid message" is said once.
func (e *Error) Detail() string {
	s := e.Msg
	if e.Path != "" {
		s = e.Path + ": " + s
	}
	if e.Offset >= 0 && e.Kind == ErrInvalidJSON {
		s += fmt.Sprintf(" (at byte %d)", e.Offset)
	}
	return s
}

// Within puts the path of what holds the message in front of e.Path, with
// the dot where one belongs: Within("messages[3]") turns
// "content[0].tool_call.id" into "messages[3].content[0].tool_call.id" and
// "[2].role" into "messages[2].role". It returns e.
func (e *Error) Within(parent string) *Error {
	e.Path = joinPath(parent, e.Path)
	return e
}

func (e *Error) Unwrap() error { return e.Kind }

func invalidf(path, format string, args ...any) *Error {
	return &Error{Path: path, Offset: -1, Msg: fmt.Sprintf(format, args...), Kind: ErrInvalidMessage}
}

// decodeErr turns an error from the JSON reader into an *Error at path.
func decodeErr(path string, err error) error {
	if err == nil {
		return nil
	}
	var (
		se *jsonx.SyntaxError
		te *jsonx.TypeError
		ce *Error
	)
	switch {
	case errors.As(err, &ce):
		return err
	case errors.As(err, &te):
		return &Error{Path: path, Offset: te.Offset, Msg: te.Error(), Kind: ErrInvalidMessage}
	case errors.As(err, &se):
		return &Error{Path: path, Offset: se.Offset, Msg: se.Msg, Kind: ErrInvalidJSON}
	}
	return &Error{Path: path, Offset: -1, Msg: err.Error(), Kind: ErrInvalidMessage}
}

func joinPath(parent, child string) string {
	switch {
	case parent == "":
		return child
	case child == "":
		return parent
	case child[0] == '[':
		return parent + child
	}
	return parent + "." + child
}
