package tokens

// TestHaystackFixtures compares the counters with numbers that Haystack's
// own code gave, kept in storetest/testdata/haystack_counts.json (its header names the
// Haystack commit, the js-tiktoken version and the date). How they were made,
// to make them again:
//
//   - Haystack's source: `git archive HEAD haystack | tar -x -C /tmp/hs` of
//     deepset-ai/haystack (Haystack 3.2, haystack/token_counters).
//   - Its package dependencies were not installable (no PyPI), so a Python
//     3.11 script outside this repository imported Haystack from that tree
//     with: haystack/__init__.py not run (it imports Pipeline & co.); a small
//     shim of lazy-imports' LazyImporter and try_import, which Haystack's
//     package __init__ files use; inert stub modules for httpx, posthog,
//     numpy and docstring_parser, which that import chain only imports; and
//     a stub of filetype, which ImageContent and FileContent call only to
//     guess a MIME type that is not given (every case gives one). jsonschema,
//     used by Tool to check its parameters, was the real package.
//   - Messages were built with ChatMessage.from_user, from_assistant,
//     from_system and from_tool, and from_dict for shapes only it makes
//     (several results in one message, no content, parts out of order),
//     with tool calls, tool results as strings and as lists of parts,
//     errors, reasoning, images and files with and without filenames,
//     unicode of many kinds and whitespace runs (122 cases); then 60 cases
//     from a seeded random generator (seed 20260821). Tools are Haystack
//     Tools (Toolsets too, recorded flattened); the file keeps their
//     tool_spec dicts.
//   - Each case was counted with ApproximateTokenCounter() and
//     ApproximateTokenCounter(chars_per_token=3.0, tokens_per_image=10,
//     tokens_per_file=0), and with TiktokenCounter() and
//     TiktokenCounter(encoding="cl100k_base"). Python's tiktoken being
//     unavailable too, the tiktoken module was a stand-in whose
//     get_encoding(name).encode(text) counted text with the npm package
//     js-tiktoken: its o200k_base and cl100k_base vocabularies and BPE, and
//     encode's defaults, so that text spelling a special token raises as in
//     tiktoken. js-tiktoken's own split patterns are not tiktoken's: its \s
//     is JavaScript's, without U+0085 and with U+FEFF (it splits " \u00850",
//     one of tiktoken's test vectors, unlike tiktoken), and its cl100k_base
//     pattern is the older one. So it was given tiktoken 0.14's patterns
//     (tiktoken_ext/openai_public.py) written for JavaScript's RegExp: \s
//     as \p{White_Space}, (?i:...) spelled out with Rust's case folding,
//     possessive quantifiers as (?=(X))\1; the file's header keeps them.
//     That stand-in gives tiktoken's test vectors and agrees with all of
//     testdata/corpus.json; js-tiktoken's shipped patterns would change 3
//     of these counts (cases unicode_control and bom_after_space). TiktokenCounter itself ran, its
//     flat image and file charges included, and the script checked that the
//     text encoded was exactly Haystack's _rendered_conversation(messages)
//     + _rendered_tools(tools).
//   - Every case was counted again after ChatMessage.to_dict, JSON and
//     ChatMessage.from_dict, and with tools rebuilt from their JSON specs,
//     with the same numbers; the file keeps to_dict's JSON (chatstore's wire
//     format), the rendered text and the four counts. A null tiktoken count
//     means Haystack raised; tiktoken_error says why.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"unicode/utf8"

	"github.com/chatstore/chatstore/chat"
)

type haystackFixtures struct {
	Header map[string]any `json:"header"`
	Cases  []haystackCase `json:"cases"`
}

type haystackCase struct {
	Name     string            `json:"name"`
	Messages []json.RawMessage `json:"messages"`
	Tools    []struct {
		Name        string         `json:"name"`
		Description string         `json:"description"`
		Parameters  map[string]any `json:"parameters"`
	} `json:"tools"`
	Rendered      string `json:"rendered"`
	Approximate   int    `json:"approximate"`
	ApproxCustom  int    `json:"approximate_cpt3_img10_file0"`
	O200k         *int   `json:"tiktoken_o200k_base"`
	Cl100k        *int   `json:"tiktoken_cl100k_base"`
	TiktokenError string `json:"tiktoken_error"`
}

func loadHaystackFixtures(t *testing.T) haystackFixtures {
	t.Helper()
	data, err := os.ReadFile("../storetest/testdata/haystack_counts.json")
	if err != nil {
		t.Fatal(err)
	}
	// Numbers stay json.Number, so that tool schemas render as Python
	// read them (1 an int, 1.0 a float).
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var f haystackFixtures
	if err := d.Decode(&f); err != nil {
		t.Fatal(err)
	}
	if len(f.Cases) < 150 {
		t.Fatalf("%d cases in storetest/testdata/haystack_counts.json, want at least 150", len(f.Cases))
	}
	return f
}

func TestHaystackFixtures(t *testing.T) {
	f := loadHaystackFixtures(t)
	t.Logf("%d cases from Haystack %v (commit %v), js-tiktoken %v", len(f.Cases),
		f.Header["haystack_version"], f.Header["haystack_commit"], f.Header["js_tiktoken_version"])

	mustCounter := func(c Counter, err error) Counter {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	counters := []struct {
		name string
		c    Counter
		want func(c *haystackCase) *int
	}{
		{"ApproximateTokenCounter()", mustCounter(NewApproximate(nil)),
			func(c *haystackCase) *int { return &c.Approximate }},
		// Haystack's tokens_per_file=0 is NoCharge here: 0 means the default.
		{"ApproximateTokenCounter(chars_per_token=3.0, tokens_per_image=10, tokens_per_file=0)",
			mustCounter(NewApproximate(&Options{CharsPerToken: 3, TokensPerImage: 10, TokensPerFile: NoCharge})),
			func(c *haystackCase) *int { return &c.ApproxCustom }},
		{"TiktokenCounter()", mustCounter(NewTiktoken(nil)),
			func(c *haystackCase) *int { return c.O200k }},
		{"TiktokenCounter(encoding='cl100k_base')", mustCounter(NewTiktoken(&Options{Encoding: Cl100kBase})),
			func(c *haystackCase) *int { return c.Cl100k }},
	}

	for i := range f.Cases {
		c := &f.Cases[i]
		msgs := make([]chat.Message, 0, len(c.Messages))
		ok := true
		for j, raw := range c.Messages {
			m, err := chat.Unmarshal(raw)
			if err != nil {
				t.Errorf("case %d (%s): chat.Unmarshal of message %d: %v\n%s", i, c.Name, j, err, raw)
				ok = false
				continue
			}
			msgs = append(msgs, m)
		}
		if !ok {
			continue
		}
		var tools []Tool
		for _, tl := range c.Tools {
			tools = append(tools, Tool{Name: tl.Name, Description: tl.Description, Parameters: tl.Parameters})
		}

		rendered := Render(msgs, tools)
		if rendered != c.Rendered {
			t.Errorf("case %d (%s): Render differs from Haystack's rendering %s\ngot  %q\nwant %q",
				i, c.Name, firstDiff(rendered, c.Rendered), rendered, c.Rendered)
		}
		for _, k := range counters {
			want := k.want(c)
			if want == nil {
				// Haystack raised: tiktoken refuses text that spells a
				// special token, which is counted here as ordinary text.
				t.Logf("case %d (%s): %s raised in Haystack (%s); not compared", i, c.Name, k.name, c.TiktokenError)
				continue
			}
			if got := k.c.Count(msgs, tools); got != *want {
				t.Errorf("case %d (%s): %s = %d, Haystack %d; rendered %q", i, c.Name, k.name, got, *want, rendered)
			}
		}
	}
}

// firstDiff says where a and b first differ, in code points.
func firstDiff(a, b string) string {
	n := 0
	for a != "" && b != "" {
		ra, sa := utf8.DecodeRuneInString(a)
		rb, sb := utf8.DecodeRuneInString(b)
		if ra != rb {
			break
		}
		a, b, n = a[sa:], b[sb:], n+1
	}
	return fmt.Sprintf("at code point %d: %.40q vs %.40q", n, a, b)
}
