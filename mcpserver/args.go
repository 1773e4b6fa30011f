package mcpserver

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/chatstore/chatstore/internal/apicode"
	"github.com/chatstore/chatstore/internal/jsonx"
)

// A tool's arguments are read as the HTTP server reads a request body,
// with jsonx rather than the SDK's decoding into Go values: numbers keep
// their exact value (an id of 2^70 in a message's meta survives), a member
// given twice or not in the schema is an error (a misspelt last_k must not
// silently mean the default), and a message's errors have the paths the
// HTTP API gives them (messages[3].content[0].text).

// args is a tool call's arguments, split into their members.
type args map[string]jsonx.Member

// splitArgs splits the arguments, a JSON object, into its members, each of
// which must be among names; absent arguments are an empty object.
func splitArgs(raw []byte, names ...string) (args, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return args{}, nil
	}
	ms, err := jsonx.Members(raw, names...)
	var (
		ue *jsonx.UnknownMemberError
		te *jsonx.TypeError
	)
	switch {
	case errors.As(err, &ue):
		return nil, invalid("invalid_request", "the arguments have an "+ue.Error())
	case errors.As(err, &te):
		return nil, invalid("invalid_request", "the arguments "+te.Error())
	case err != nil: // a key given twice, which the SDK's JSON reader lets by
		return nil, invalid("invalid_request", "the arguments: "+err.Error())
	}
	return ms, nil
}

// invalid is an argument error, with the HTTP API's code for it.
func invalid(code, msg string) error {
	return &apicode.Error{Status: http.StatusBadRequest, Code: code, Msg: msg}
}

// given reports whether the argument is there and not null: null is as if
// it were left out, as JSON Schema's optional members are often sent.
func (a args) given(name string) (jsonx.Member, bool) {
	m, ok := a[name]
	if !ok || string(m.Raw) == "null" {
		return jsonx.Member{}, false
	}
	return m, true
}

// str reads a string argument; "" when it is not given.
func (a args) str(name string, required bool) (string, error) {
	m, ok := a.given(name)
	if !ok {
		if required {
			return "", invalid("invalid_request", name+" is required")
		}
		return "", nil
	}
	s, err := jsonx.NewDecoder(m.Raw).String()
	if err != nil {
		return "", argErr(name, err)
	}
	return s, nil
}

// integer reads a whole-number argument, which may be negative: the store
// says what range it takes.
func (a args) integer(name, code string) (int, bool, error) {
	m, ok := a.given(name)
	if !ok {
		return 0, false, nil
	}
	n, err := jsonx.NewDecoder(m.Raw).Number()
	if err != nil {
		return 0, false, argErr(name, err)
	}
	v, err := strconv.Atoi(string(n))
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, false, invalid(code, fmt.Sprintf("%s is %.30s, too large", name, n))
		}
		return 0, false, invalid(code, fmt.Sprintf("%s must be a whole number, got %.30s", name, n))
	}
	return v, true, nil
}

// boolean reads a true or false argument.
func (a args) boolean(name string) (v, ok bool, err error) {
	m, ok := a.given(name)
	if !ok {
		return false, false, nil
	}
	switch string(m.Raw) {
	case "true":
		return true, true, nil
	case "false":
		return false, true, nil
	}
	return false, false, invalid("invalid_request", fmt.Sprintf("%s must be true or false, got %.30s", name, m.Raw))
}

// format reads the format argument: false for Haystack's (the default),
// true for OpenAI's.
func (a args) format() (openai bool, err error) {
	f, err := a.str("format", false)
	if err != nil {
		return false, err
	}
	switch f {
	case "", "haystack":
		return false, nil
	case "openai":
		return true, nil
	}
	return false, invalid("invalid_format", fmt.Sprintf("format must be \"haystack\" or \"openai\", got %.100q", f))
}

func argErr(name string, err error) error {
	var te *jsonx.TypeError
	if errors.As(err, &te) {
		return invalid("invalid_request", name+" "+te.Error())
	}
	return invalid("invalid_request", name+": "+err.Error())
}

// strings reads an object of strings (a metadata filter); nil when it is
// not given.
func (a args) strings(name string) (map[string]string, error) {
	m, ok := a.given(name)
	if !ok {
		return nil, nil
	}
	d := jsonx.NewDecoder(m.Raw)
	if err := d.OpenObject(); err != nil {
		return nil, argErr(name, err)
	}
	out := map[string]string{}
	for n := 0; ; n++ {
		key, more, err := d.NextKey(n)
		if err != nil {
			return nil, argErr(name, err)
		}
		if !more {
			return out, nil
		}
		v, err := d.String()
		if err != nil {
			return nil, argErr(name+"."+key, err)
		}
		out[key] = v
	}
}
