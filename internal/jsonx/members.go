package jsonx

import (
	"fmt"
	"slices"
	"strings"
)

// Member is the raw value of one member of an object split by Members.
type Member struct {
	Raw    []byte
	Offset int // where Raw starts in the input, for error offsets
}

// UnknownMemberError is returned by Members for a member name it was not
// told to expect.
type UnknownMemberError struct {
	Key  string
	Want []string
}

func (e *UnknownMemberError) Error() string {
	key := e.Key
	if len(key) > 100 {
		key = key[:100] + "…"
	}
	return fmt.Sprintf("unknown member %q; expected %s", key, strings.Join(e.Want, ", "))
}

// Members splits a JSON object (an envelope such as {"messages": [...]})
// into the raw values of its members, leaving each value to a decoder of
// its own. Every member must be among names, and none may appear twice.
// The Raw values point into data.
func Members(data []byte, names ...string) (map[string]Member, error) {
	d := NewDecoder(data)
	if err := d.OpenObject(); err != nil {
		return nil, err
	}
	out := make(map[string]Member, len(names))
	for n := 0; ; n++ {
		key, ok, err := d.NextKey(n)
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		if !slices.Contains(names, key) {
			return nil, &UnknownMemberError{Key: key, Want: names}
		}
		if _, dup := out[key]; dup {
			return nil, d.DuplicateKey(key)
		}
		d.Peek() // past the whitespace, so that Raw is the value alone
		start := d.Offset()
		if err := d.Skip(); err != nil {
			return nil, err
		}
		out[key] = Member{Raw: data[start:d.Offset()], Offset: start}
	}
	if err := d.Finish(); err != nil {
		return nil, err
	}
	return out, nil
}
