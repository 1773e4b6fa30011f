package search

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/internal/jsonx"
)

// Doc is what a message gives to the index: its text, and apart from it
// its reasoning, which a query searches only when asked to.
type Doc struct {
	Text      string
	Reasoning string
}

// addValue adds the keys and values of a tool call's arguments, each as
// text of its own, keys sorted: not their JSON, whose escapes would glue
// words together ("a\nb" is "a", "\", "nb") or make up some ("<" is
// "u003c").
func addValue(b *strings.Builder, v any, add func(*strings.Builder, string)) {
	switch v := v.(type) {
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(v)) {
			add(b, k)
			addValue(b, v[k], add)
		}
	case []any:
		for _, e := range v {
			addValue(b, e, add)
		}
	case string:
		add(b, v)
	case nil:
	case json.Number: // as a read decodes a number
		add(b, string(v))
	case bool:
		add(b, strconv.FormatBool(v))
	default:
		// A Go value (a float64, a typed map, slice or struct) is
		// taken as the store keeps it, JSON, decoded as a read decodes
		// it: a message and the same message read back then give the
		// same words (1e6 is "1000000.0" either way, not "1e+06" here
		// and "1000000.0" there), which a backend indexing from what it
		// stored (sqlitestore) relies on.
		j, err := jsonx.AppendValue(nil, v, jsonx.Compact)
		if err != nil { // not storable either: the write fails
			add(b, fmt.Sprint(v))
			return
		}
		if d, err := jsonx.NewDecoder(j).Value(); err == nil {
			addValue(b, d, add)
		}
	}
}

// Empty reports whether d has nothing to index.
func (d Doc) Empty() bool { return d.Text == "" && d.Reasoning == "" }

// Document is what m gives to the index: its text parts, its tool calls'
// names and arguments, its tool results (text, or the text parts of a
// result made of parts); apart, its reasoning. Images and files give
// nothing. Pieces are separated by newlines.
func Document(m chat.Message) Doc {
	var text, reasoning strings.Builder
	add := func(b *strings.Builder, s string) {
		if s == "" {
			return
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(s)
	}
	for _, p := range m.Content {
		switch p := p.(type) {
		case chat.Text:
			add(&text, p.Text)
		case chat.ToolCall:
			add(&text, p.ToolName)
			addValue(&text, p.Arguments, add)
		case chat.ToolCallResult:
			if p.Parts == nil {
				add(&text, p.Result)
			}
			for _, q := range p.Parts {
				if t, ok := q.(chat.Text); ok {
					add(&text, t.Text)
				}
			}
		case chat.Reasoning:
			add(&reasoning, p.ReasoningText)
		}
	}
	return Doc{Text: text.String(), Reasoning: reasoning.String()}
}
