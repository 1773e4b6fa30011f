package main

// TestHostileInput throws several hundred malformed and hostile requests,
// generated from tables, at the real binary and checks that every one is
// refused with a 4xx in the API's JSON error shape, that the server stays
// healthy and within a memory bound while it happens, and that nothing it
// held beforehand changes.

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// hostile is one request and what its answer must be.
type hostile struct {
	cat    string
	method string
	target string   // the request-target, sent byte for byte
	header []string // extra header fields, as name, value pairs
	body   []byte   // nil: no body
	// stream, when set, is a body too large to build in memory: sent
	// with Content-Length streamLen, or chunked when streamLen is 0.
	stream    func() io.Reader
	streamLen int64
	raw       string // when set, the whole request as it goes on the wire
	// closeWrite half-closes the connection once the request is sent, so
	// a body shorter than announced ends.
	closeWrite bool

	codes []string               // the error codes allowed; nil: any
	has   []string               // substrings the error message must contain
	check func(msg string) error // a further check of the message
}

// Status of each error code this test expects; any other code is a 400.
var codeStatus = map[string]int{
	"body_too_large":         413,
	"unsupported_media_type": 415,
	"headers_too_large":      431,
}

const (
	writeRoute   = "/v1/histories/target/messages"
	contextRoute = "/v1/histories/target/context"
	deep         = 100_000 // nesting levels; the decoder's limit is 1,000
)

// A 1×1 PNG and a small text file, valid for ImageContent and FileContent.
const (
	pngB64  = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
	fileB64 = "aGVsbG8gd29ybGQK"
)

// Ordered JSON, so that the valid messages can be rewritten member by member
// and written back exactly.
type (
	jobj    []jmember
	jmember struct {
		key string
		val any
	}
	jarr []any
	jraw string // a JSON literal written as it is
)

func jsonOf(v any) string {
	var b strings.Builder
	appendJSON(&b, v)
	return b.String()
}

func appendJSON(b *strings.Builder, v any) {
	switch v := v.(type) {
	case jobj:
		b.WriteByte('{')
		for i, m := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			appendJSON(b, m.key)
			b.WriteByte(':')
			appendJSON(b, m.val)
		}
		b.WriteByte('}')
	case jarr:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			appendJSON(b, e)
		}
		b.WriteByte(']')
	case string:
		q, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		b.Write(q)
	case jraw:
		b.WriteString(string(v))
	default:
		panic(fmt.Sprintf("appendJSON: %T", v))
	}
}

// step is one step of a path into a JSON value: a key, or an index when
// key is "".
type step struct {
	key string
	idx int
}

// replaceAt returns v with the value at path replaced by nv; v is not
// changed.
func replaceAt(v any, path []step, nv any) any {
	if len(path) == 0 {
		return nv
	}
	switch v := v.(type) {
	case jobj:
		out := slices.Clone(v)
		for i := range out {
			if out[i].key == path[0].key {
				out[i].val = replaceAt(out[i].val, path[1:], nv)
				return out
			}
		}
	case jarr:
		out := slices.Clone(v)
		out[path[0].idx] = replaceAt(out[path[0].idx], path[1:], nv)
		return out
	}
	panic(fmt.Sprintf("replaceAt: no %v in %s", path[0], jsonOf(v)))
}

func toolCall(id any, extra any) jobj {
	return jobj{{"tool_name", "weather"}, {"arguments", jobj{{"city", "Zürich"}, {"days", jraw("3")}}}, {"id", id}, {"extra", extra}}
}

// validMessages hold every part type, with name and meta, in Haystack's
// to_dict() format; the seed writes exactly these, so they are known valid.
func validMessages() jarr {
	return jarr{
		jobj{{"role", "user"}, {"meta", jobj{{"source", "web"}, {"score", jraw("0.5")}, {"tags", jarr{"a", jraw("1"), jraw("true"), jraw("null")}}}}, {"name", "alice"}, {"content", jarr{
			jobj{{"text", "What is the weather in Zürich? See the picture and the notes."}},
			jobj{{"image", jobj{{"base64_image", pngB64}, {"mime_type", "image/png"}, {"detail", "low"}, {"meta", jobj{{"page", jraw("1")}}}, {"validation", jraw("true")}}}},
			jobj{{"file", jobj{{"base64_data", fileB64}, {"mime_type", "text/plain"}, {"filename", "notes.txt"}, {"extra", jobj{{"k", "v"}}}, {"validation", jraw("true")}}}},
		}}},
		jobj{{"role", "assistant"}, {"meta", jobj{}}, {"name", jraw("null")}, {"content", jarr{
			jobj{{"reasoning", jobj{{"reasoning_text", "The user wants the weather."}, {"extra", jobj{{"effort", "low"}}}}}},
			jobj{{"text", "Let me check."}},
			jobj{{"tool_call", toolCall("call_1", jobj{{"k", "v"}})}},
		}}},
		jobj{{"role", "tool"}, {"meta", jobj{}}, {"name", jraw("null")}, {"content", jarr{
			jobj{{"tool_call_result", jobj{{"result", "sunny, 21 °C"}, {"origin", toolCall("call_1", jraw("null"))}, {"error", jraw("false")}}}},
		}}},
		jobj{{"role", "tool"}, {"meta", jobj{{"attempt", jraw("2")}}}, {"name", jraw("null")}, {"content", jarr{
			jobj{{"tool_call_result", jobj{{"result", jarr{jobj{{"text", "part one"}}}}, {"origin", toolCall(jraw("null"), jobj{})}, {"error", jraw("true")}}}},
		}}},
		jobj{{"role", "assistant"}, {"meta", jobj{{"model", "m-1"}}}, {"name", "bot"}, {"content", jarr{
			jobj{{"text", "It is sunny, 21 °C."}},
		}}},
	}
}

// fieldTypes is every member of a message and the JSON types it may hold,
// from docs/MESSAGES.md and chat/decode.go. "[]" stands for any index. A
// free member (meta, arguments, extra) holds any JSON inside and is not
// walked into.
var fieldTypes = map[string]struct {
	types string
	free  bool
}{
	"role":                                        {"string", false},
	"name":                                        {"string null", false},
	"meta":                                        {"object null", true},
	"content":                                     {"array string", false},
	"content[]":                                   {"object", false},
	"content[].text":                              {"string", false},
	"content[].image":                             {"object", false},
	"content[].image.base64_image":                {"string", false},
	"content[].image.mime_type":                   {"string null", false},
	"content[].image.detail":                      {"string null", false},
	"content[].image.meta":                        {"object", true},
	"content[].image.validation":                  {"bool", false},
	"content[].file":                              {"object", false},
	"content[].file.base64_data":                  {"string", false},
	"content[].file.mime_type":                    {"string null", false},
	"content[].file.filename":                     {"string null", false},
	"content[].file.extra":                        {"object", true},
	"content[].file.validation":                   {"bool", false},
	"content[].reasoning":                         {"object", false},
	"content[].reasoning.reasoning_text":          {"string", false},
	"content[].reasoning.extra":                   {"object", true},
	"content[].tool_call":                         {"object", false},
	"content[].tool_call.tool_name":               {"string", false},
	"content[].tool_call.arguments":               {"object", true},
	"content[].tool_call.id":                      {"string null", false},
	"content[].tool_call.extra":                   {"object null", true},
	"content[].tool_call_result":                  {"object", false},
	"content[].tool_call_result.result":           {"string array", false},
	"content[].tool_call_result.result[]":         {"object", false},
	"content[].tool_call_result.result[].text":    {"string", false},
	"content[].tool_call_result.origin":           {"object", false},
	"content[].tool_call_result.origin.tool_name": {"string", false},
	"content[].tool_call_result.origin.arguments": {"object", true},
	"content[].tool_call_result.origin.id":        {"string null", false},
	"content[].tool_call_result.origin.extra":     {"object null", true},
	"content[].tool_call_result.error":            {"bool", false},
}

// A value of each JSON type, to put where another type belongs.
var typeSamples = []struct {
	typ string
	val jraw
}{
	{"number", "42"}, {"string", `"x"`}, {"bool", "true"}, {"null", "null"}, {"array", `["x"]`}, {"object", `{"k":"v"}`},
}

// field is one member found in a valid message.
type field struct {
	path   []step
	name   string // content[1].image.detail
	schema string // content[].image.detail
}

// messageFields lists the members of message m, failing on one that
// fieldTypes does not describe.
func messageFields(t *testing.T, m any) []field {
	var out []field
	var walk func(v any, path []step, name, schema string)
	walk = func(v any, path []step, name, schema string) {
		if schema != "" {
			ft, ok := fieldTypes[schema]
			if !ok {
				t.Fatalf("no JSON types known for message member %s", schema)
			}
			out = append(out, field{slices.Clone(path), name, schema})
			if ft.free {
				return
			}
		}
		switch v := v.(type) {
		case jobj:
			for _, mb := range v {
				n, s := mb.key, mb.key
				if name != "" {
					n, s = name+"."+mb.key, schema+"."+mb.key
				}
				walk(mb.val, append(path, step{key: mb.key}), n, s)
			}
		case jarr:
			for i, e := range v {
				walk(e, append(path, step{idx: i}), fmt.Sprintf("%s[%d]", name, i), schema+"[]")
			}
		}
	}
	walk(m, nil, "", "")
	return out
}

// wrongTypes returns a sample of each JSON type not among allowed.
func wrongTypes(allowed string) []jraw {
	var out []jraw
	for _, s := range typeSamples {
		if !slices.Contains(strings.Fields(allowed), s.typ) {
			out = append(out, s.val)
		}
	}
	return out
}

// cycle repeats unit forever.
type cycle struct {
	unit []byte
	off  int
}

func (c *cycle) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		k := copy(p[n:], c.unit[c.off:])
		n += k
		c.off = (c.off + k) % len(c.unit)
	}
	return n, nil
}

// fiftyMB is a 50 MB request body: the start of a write and then messages
// without end.
func fiftyMB(envelope string) func() io.Reader {
	const size = 50 << 20
	return func() io.Reader {
		unit := `{"role":"user","meta":{},"name":null,"content":[{"text":"` + strings.Repeat("x", 200) + `"}]},`
		return io.MultiReader(strings.NewReader(envelope), io.LimitReader(&cycle{unit: []byte(unit)}, size-int64(len(envelope))))
	}
}

// hostileRequests generates every hostile request of the test.
func hostileRequests(t *testing.T) []hostile {
	var rs []hostile
	add := func(h hostile) { rs = append(rs, h) }
	post := func(cat, target string, body []byte, codes []string, has ...string) hostile {
		return hostile{cat: cat, method: "POST", target: target, body: body, codes: codes, has: has}
	}
	get := func(cat, target string, codes []string, has ...string) hostile {
		return hostile{cat: cat, method: "GET", target: target, codes: codes, has: has}
	}
	codes := func(c ...string) []string { return c }
	msgs := validMessages()
	writeBody := func(ms any) []byte { return []byte(jsonOf(jobj{{"messages", ms}})) }
	contextBody := func(ms any) []byte { return []byte(jsonOf(jobj{{"current_messages", ms}, {"last_k", "all"}})) }
	envelopes := []struct {
		route, member string
		body          func(any) []byte
		memberTypes   string
	}{
		{writeRoute, "messages", writeBody, "array"},
		{contextRoute, "current_messages", contextBody, "array null"},
	}
	hello := `{"role":"user","meta":{},"name":null,"content":[{"text":"hello"}]}`
	inWrite := func(ms ...string) []byte { return []byte(`{"messages":[` + strings.Join(ms, ",") + `]}`) }
	inContext := func(ms ...string) []byte {
		return []byte(`{"current_messages":[` + strings.Join(ms, ",") + `],"last_k":1}`)
	}

	// Truncated JSON: the valid bodies cut at many prefixes.
	offsetRe := regexp.MustCompile(`^the request body is not valid JSON: .+ \(at byte (\d+)\)$`)
	for _, env := range envelopes {
		full := env.body(msgs)
		cuts := []int{1, 2, len(full) - 1, len(full) - 2, bytes.Index(full, []byte("ü")) + 1}
		for i := range 50 {
			cuts = append(cuts, i*len(full)/50)
		}
		slices.Sort(cuts)
		for _, cut := range slices.Compact(cuts) {
			if cut == 0 && env.route == contextRoute {
				continue // no body at all is a valid context request
			}
			h := post("truncated JSON", env.route, full[:cut], codes("invalid_json"))
			h.check = func(msg string) error {
				if cut == 0 {
					if !strings.Contains(msg, "empty") {
						return errors.New(`an empty body's error does not say "empty"`)
					}
					return nil
				}
				m := offsetRe.FindStringSubmatch(msg)
				if m == nil {
					return errors.New("the message does not say where the JSON is invalid")
				}
				if off, _ := strconv.Atoi(m[1]); off > cut {
					return fmt.Errorf("the error is at byte %d, after the end of the %d-byte body", off, cut)
				}
				return nil
			}
			add(h)
		}
	}

	// A wrong type at every member of every message.
	covered := map[string]bool{}
	for _, env := range envelopes {
		for _, v := range wrongTypes(env.memberTypes) {
			add(post("wrong type", env.route, []byte(jsonOf(jobj{{env.member, v}})), codes("invalid_message"), env.member+": must be"))
		}
		for i, m := range msgs {
			name := fmt.Sprintf("%s[%d]", env.member, i)
			for _, v := range wrongTypes("object") {
				add(post("wrong type", env.route, env.body(replaceAt(msgs, []step{{idx: i}}, v)), codes("invalid_message"), name+": must be"))
			}
			for _, f := range messageFields(t, m) {
				covered[f.schema] = true
				for _, v := range wrongTypes(fieldTypes[f.schema].types) {
					mutated := replaceAt(msgs, append([]step{{idx: i}}, f.path...), v)
					add(post("wrong type", env.route, env.body(mutated), codes("invalid_message"), name+"."+f.name+": must be"))
				}
			}
		}
	}

	for schema := range fieldTypes {
		if !covered[schema] {
			t.Fatalf("the valid messages have no %s: its wrong types would go untested", schema)
		}
	}

	// Unknown roles, in the current and the legacy format and in OpenAI's.
	roles := []string{"bot", "User", "USER", " user", "user ", "", "developer", "function", "tool_call", "assistant\n",
		"user\x00", "ユーザー", "system\u200b", "Tool", strings.Repeat("r", 10_000)}
	for _, role := range roles {
		q, _ := json.Marshal(role)
		cur := `{"role":` + string(q) + `,"meta":{},"name":null,"content":[{"text":"hi"}]}`
		legacy := `{"_role":` + string(q) + `,"_meta":{},"_name":null,"_content":[{"text":"hi"}]}`
		add(post("unknown role", writeRoute, inWrite(hello, cur), codes("invalid_message"), "messages[1].role: unknown role"))
		add(post("unknown role", contextRoute, inContext(hello, cur), codes("invalid_message"), "current_messages[1].role: unknown role"))
		add(post("unknown role", writeRoute, inWrite(hello, legacy), codes("invalid_message"), "messages[1]._role: unknown role"))
		if role != "developer" {
			oa := `{"role":` + string(q) + `,"content":"hi"}`
			add(post("unknown role", writeRoute+"?format=openai", inWrite(`{"role":"user","content":"hello"}`, oa), codes("invalid_message"), "messages[1].role: unsupported role"))
		}
	}

	// Unknown part kinds, and unknown keys inside known ones.
	origin := `{"tool_name":"weather","arguments":{},"id":"c1","extra":null}`
	parts := []struct{ part, has string }{
		{`{"texts":"x"}`, "unknown content part"},
		{`{"Text":"x"}`, "unknown content part"},
		{`{"TEXT":"x"}`, "unknown content part"},
		{`{"text\u0000":"x"}`, "unknown content part"},
		{`{"":"x"}`, "unknown content part"},
		{`{}`, "unknown content part"},
		{`{"type":"text"}`, "unknown content part"},
		{`{"image_url":{"url":"data:image/png;base64,` + pngB64 + `"}}`, "unknown content part"},
		{`{"type":"image_url","image_url":{"url":"https://example.com/a.png"}}`, "unknown content part"},
		{`{"audio":{"data":"AAAA","format":"wav"}}`, "unknown content part"},
		{`{"video":{"base64_video":"AAAA"}}`, "unknown content part"},
		{`{"document":{"base64_data":"AAAA"}}`, "unknown content part"},
		{`{"tool_calls":[{"tool_name":"weather","arguments":{}}]}`, "unknown content part"},
		{`{"tool_name":"weather"}`, "unknown content part"},
		{`{"arguments":{}}`, "unknown content part"},
		{`{"result":"x"}`, "unknown content part"},
		{`{"origin":` + origin + `}`, "unknown content part"},
		{`{"tool_call_result ":{"result":"x"}}`, "unknown content part"},
		{`{"type":"text","text":"x"}`, "a text part holds only"},
		{`{"text":"x","image":{"base64_image":"` + pngB64 + `"}}`, "a text part holds only"},
		{`{"tool_call":{"tool_name":"weather","arguments":{},"bogus":1}}`, `unknown key "bogus"`},
		{`{"tool_call":{"name":"weather","arguments":{}}}`, `unknown key "name"`},
		{`{"reasoning":{"reasoning_text":"x","signature":"s"}}`, `unknown key "signature"`},
		{`{"image":{"base64_image":"` + pngB64 + `","url":"https://example.com"}}`, `unknown key "url"`},
		{`{"file":{"base64_data":"` + fileB64 + `","path":"/etc/passwd"}}`, `unknown key "path"`},
		{`{"tool_call_result":{"result":[{"tool_call":` + origin + `}],"origin":` + origin + `,"error":false}}`, "can only hold text, image and file parts"},
		{`{"tool_call_result":{"result":[{"reasoning":{"reasoning_text":"x"}}],"origin":` + origin + `,"error":false}}`, "can only hold text, image and file parts"},
		{`{"tool_call_result":{"result":[{"bogus":1}],"origin":` + origin + `,"error":false}}`, "unknown content part"},
	}
	for _, p := range parts {
		m := `{"role":"user","meta":{},"name":null,"content":[{"text":"hi"},` + p.part + `]}`
		add(post("unknown part kind", writeRoute, inWrite(hello, m), codes("invalid_message"), "messages[1].content[1]", p.has))
		add(post("unknown part kind", contextRoute, inContext(m), codes("invalid_message"), "current_messages[0].content[1]", p.has))
	}
	for _, p := range []string{`{"type":"audio","input_audio":{"data":"AAAA","format":"wav"}}`, `{"type":"image_url","image_url":{"url":"https://example.com/a.png"}}`, `{"type":"bogus"}`, `{}`, `"hi"`} {
		add(post("unknown part kind", writeRoute+"?format=openai", inWrite(`{"role":"user","content":[{"type":"text","text":"hi"},`+p+`]}`), codes("invalid_message"), "messages[0].content[1]"))
	}

	// Nesting 100,000 levels deep.
	arrays := strings.Repeat("[", deep) + strings.Repeat("]", deep)
	objects := strings.Repeat(`{"a":`, deep) + "1" + strings.Repeat("}", deep)
	for _, n := range []struct{ route, body string }{
		{writeRoute, `{"messages":[{"role":"user","meta":{"deep":` + arrays + `},"content":"x"}]}`},
		{writeRoute, `{"messages":[{"role":"user","meta":{"deep":` + objects + `},"content":"x"}]}`},
		{writeRoute, `{"messages":[{"role":"user","meta":` + objects + `,"content":"x"}]}`},
		{writeRoute, `{"messages":[{"role":"assistant","content":[{"tool_call":{"tool_name":"t","arguments":{"q":` + arrays + `},"id":"c"}}]}]}`},
		{writeRoute, `{"messages":[{"role":"assistant","content":[{"tool_call":{"tool_name":"t","arguments":` + objects + `,"id":"c"}}]}]}`},
		{writeRoute, `{"messages":` + arrays + `}`},
		{writeRoute, `{"messages":` + strings.Repeat("[", deep)},
		{writeRoute, `{"messages":[` + strings.Repeat(`{"content":`, deep)},
		{writeRoute + "?format=openai", `{"messages":[{"role":"user","content":` + arrays + `}]}`},
		{contextRoute, `{"current_messages":[{"role":"user","meta":{"deep":` + arrays + `},"content":"x"}]}`},
		{contextRoute, `{"current_messages":[{"role":"assistant","content":[{"tool_call":{"tool_name":"t","arguments":` + objects + `}}]}]}`},
		{contextRoute, `{"current_messages":` + arrays + `}`},
		{contextRoute, `{"last_k":` + arrays + `}`},
		{contextRoute, `{"last_k":` + objects + `}`},
	} {
		add(post("deep nesting", n.route, []byte(n.body), codes("invalid_json"), "nesting deeper than 1000 levels"))
	}
	for _, route := range []string{writeRoute, contextRoute} {
		add(post("deep nesting", route, []byte(arrays), codes("invalid_request"), "must be an object, got an array"))
	}

	// 50 MB bodies: chunked, and announced by Content-Length.
	for _, b := range []struct {
		route, envelope string
		length          int64
	}{
		{writeRoute, `{"messages":[`, 0},
		{writeRoute, `{"messages":[`, 50 << 20},
		{contextRoute, `{"current_messages":[`, 0},
		{contextRoute, `{"current_messages":[`, 50 << 20},
	} {
		add(hostile{cat: "50 MB body", method: "POST", target: b.route, stream: fiftyMB(b.envelope), streamLen: b.length,
			codes: codes("body_too_large"), has: []string{"8 MiB"}})
	}

	// Broken body framing: chunk sizes, bodies shorter than announced,
	// Content-Length values net/http refuses. The body is a valid write,
	// so only the framing is wrong. (invalid_body is not among the codes
	// docs/SERVER.md lists.)
	valid := string(writeBody(msgs))
	head := "POST " + writeRoute + " HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nConnection: close\r\n"
	chunked := head + "Transfer-Encoding: chunked\r\n\r\n"
	for _, f := range []struct {
		raw        string
		closeWrite bool
		code, has  string
	}{
		{chunked + "zz\r\n" + valid + "\r\n0\r\n\r\n", false, "invalid_body", "could not be read"},
		{chunked + "-5\r\n" + valid + "\r\n0\r\n\r\n", false, "invalid_body", "could not be read"},
		{chunked + "ffffffffffffffffffff\r\n" + valid + "\r\n0\r\n\r\n", false, "invalid_body", "could not be read"},
		{chunked + fmt.Sprintf("%x\r\n", len(valid)+10) + valid, true, "invalid_body", "could not be read"},
		{chunked + fmt.Sprintf("%x\r\n", len(valid)) + valid + "\r\n", true, "invalid_body", "could not be read"},
		{chunked + fmt.Sprintf("%x\r\n", len(valid)) + valid + "XX0\r\n\r\n", false, "invalid_body", "could not be read"},
		{head + fmt.Sprintf("Content-Length: %d\r\n\r\n", len(valid)+1000) + valid, true, "invalid_body", "could not be read"},
		{head + "Content-Length: -1\r\n\r\n" + valid, false, "bad_request", "not valid HTTP"},
		{head + "Content-Length: abc\r\n\r\n" + valid, false, "bad_request", "not valid HTTP"},
		{head + "Content-Length: 1e3\r\n\r\n" + valid, false, "bad_request", "not valid HTTP"},
		{head + fmt.Sprintf("Content-Length: +%d\r\n\r\n", len(valid)) + valid, false, "bad_request", "not valid HTTP"},
		{head + "Content-Length: 99999999999999999999999\r\n\r\n" + valid, false, "bad_request", "not valid HTTP"},
		{head + fmt.Sprintf("Content-Length: %d\r\nContent-Length: 5\r\n\r\n", len(valid)) + valid, false, "bad_request", "not valid HTTP"},
		{head + fmt.Sprintf("Content-Length: %d, 5\r\n\r\n", len(valid)) + valid, false, "bad_request", "not valid HTTP"},
	} {
		add(hostile{cat: "body framing", raw: f.raw, closeWrite: f.closeWrite, codes: codes(f.code), has: []string{f.has}})
	}

	// Invalid UTF-8 and lone surrogates, in strings and in keys.
	badUTF8 := []string{"\xff", "\xfe", "\x80", "\xc3", "\xc3(", "\xe2\x82", "\xed\xa0\x80", "\xc0\xaf", "\xf4\x90\x80\x80", "\xf8\x88\x80\x80\x80"}
	utf8Places := []struct{ route, tmpl string }{
		{writeRoute, `{"messages":[{"role":"user","content":[{"text":"a@@b"}]}]}`},
		{writeRoute, `{"messages":[{"role":"user","name":"a@@b","content":[{"text":"x"}]}]}`},
		{writeRoute, `{"messages":[{"role":"us@@er","content":[{"text":"x"}]}]}`},
		{writeRoute, `{"messages":[{"role":"user","meta":{"k@@":1},"content":[{"text":"x"}]}]}`},
		{writeRoute, `{"messages":[{"role":"user","meta":{"k":"v@@"},"content":[{"text":"x"}]}]}`},
		{writeRoute, `{"messages":[{"role":"assistant","content":[{"tool_call":{"tool_name":"t","arguments":{"ci@@ty":"x"},"id":null}}]}]}`},
		{writeRoute, `{"messages":[{"role":"user","content":[{"te@@xt":"x"}]}]}`},
		{writeRoute, `{"messa@@ges":[]}`},
		{writeRoute + "?format=openai", `{"messages":[{"role":"user","content":"a@@b"}]}`},
		{contextRoute, `{"current_messages":[{"role":"user","content":"a@@b"}]}`},
		{contextRoute, `{"last_k":"a@@"}`},
	}
	for _, pl := range utf8Places {
		for _, bad := range badUTF8 {
			add(post("invalid UTF-8", pl.route, []byte(strings.ReplaceAll(pl.tmpl, "@@", bad)), codes("invalid_json"), "invalid UTF-8 in string"))
		}
		for _, sur := range []string{`\ud800`, `\uDBFF\u0041`, `\udc00`, `\ud800\ud800`, `\udfff\ud800`} {
			add(post("invalid UTF-8", pl.route, []byte(strings.ReplaceAll(pl.tmpl, "@@", sur)), codes("invalid_json"), "lone UTF-16 surrogate"))
		}
	}
	for _, id := range []string{"a%FFb", "%C3", "%ED%A0%80", "%C0%AF"} {
		for _, h := range idRoutes("invalid UTF-8", id) {
			h.codes, h.has = codes("invalid_history_id"), []string{"not valid UTF-8"}
			add(h)
		}
	}
	add(hostile{cat: "invalid UTF-8", raw: "GET /v1/histories/a\xffb/messages HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", codes: codes("invalid_history_id")})
	for _, q := range []struct{ method, target, code, has string }{
		{"POST", writeRoute + "?format=open%FFai", "invalid_format", "format"},
		{"GET", "/v1/histories/target/messages?last_k=%FF", "invalid_last_k", "last_k"},
		{"GET", "/v1/histories/target/messages?format=%C3", "invalid_format", "format"},
		{"GET", "/v1/histories?cursor=%FF", "invalid_cursor", "cursor"},
		{"GET", "/v1/histories?limit=%FF", "invalid_limit", "limit"},
		{"GET", "/v1/histories?%FF=1", "invalid_query", "unknown query parameter"},
	} {
		add(hostile{cat: "invalid UTF-8", method: q.method, target: q.target, body: bodyFor(q.method, msgs), codes: codes(q.code), has: []string{q.has}})
	}

	// NUL and other control characters: in ids (percent-encoded and raw),
	// in queries and in JSON (raw and escaped).
	for _, id := range []string{"%00", "a%00", "%00a", "tar%00get", "target%00", "%00%00%00"} {
		for _, h := range idRoutes("control characters", id) {
			h.codes, h.has = codes("invalid_history_id"), []string{"NUL"}
			add(h)
		}
	}
	controls := []byte{0x7f}
	for c := range byte(0x20) {
		controls = append(controls, c)
	}
	for _, c := range controls {
		// Any id without NUL is valid, so the body carries the same
		// control character raw, which JSON forbids (DEL it allows).
		inJSON := c
		if c == 0x7f {
			inJSON = 0x01
		}
		body := `{"messages":[{"role":"user","content":[{"text":"a` + string(inJSON) + `b"}]}]}`
		h := post("control characters", fmt.Sprintf("/v1/histories/a%%%02Xb/messages", c), []byte(body), codes("invalid_json"), "invalid control character")
		if c == 0 { // the id is checked first
			h.codes, h.has = codes("invalid_history_id"), []string{"NUL"}
		}
		add(h)
		// Raw in the request line: net/http refuses it.
		add(hostile{cat: "control characters", raw: "GET /v1/histories/a" + string(c) + "b/messages HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", codes: codes("bad_request", "invalid_history_id")})
	}
	for c := range byte(0x20) {
		add(post("control characters", writeRoute, []byte(`{"messages":[{"role":"user","content":[{"text":"a`+string(c)+`b"}]}]}`), codes("invalid_json"), "invalid control character"))
		add(post("control characters", writeRoute, []byte(`{"messages":[{"role":"user","meta":{"k`+string(c)+`":1},"content":"x"}]}`), codes("invalid_json"), "invalid control character"))
		if c != '\t' && c != '\n' && c != '\r' {
			add(post("control characters", writeRoute, []byte(`{"messages":`+string(c)+`[]}`), codes("invalid_json"), "invalid character"))
		}
	}
	for _, e := range []struct {
		route, body, code, has string
	}{
		{writeRoute, `{"messages":[{"role":"user\u0000","content":"x"}]}`, "invalid_message", "messages[0].role: unknown role"},
		{writeRoute, `{"messages":[{"role":"\u0000","content":"x"}]}`, "invalid_message", "messages[0].role: unknown role"},
		{writeRoute, `{"messages":[{"_role":"user\u0001","_content":[{"text":"x"}]}]}`, "invalid_message", "messages[0]._role: unknown role"},
		{writeRoute, `{"messages":[{"role":"user","meta":{"chat_message_id":"a\u0000b"},"content":"x"}]}`, "invalid_message", "meta.chat_message_id"},
		{writeRoute, `{"messages":[{"role":"user","meta":{"chat_message_id":"\u0000"},"content":"x"}]}`, "invalid_message", "meta.chat_message_id"},
		{writeRoute, `{"messages\u0000":[]}`, "invalid_request", "unknown member"},
		{writeRoute, `{"\u0000":[]}`, "invalid_request", "unknown member"},
		{writeRoute, `{"messages":[{"role":"user","content":[{"text\u0000":"x"}]}]}`, "invalid_message", "unknown content part"},
		{writeRoute, `{"messages":[{"role":"assistant","content":[{"tool_call":{"tool_name":"t","arguments":{},"id\u0000":"c"}}]}]}`, "invalid_message", "unknown key"},
		{writeRoute, `{"messages":[{"role":"user","content":[{"image":{"base64_image":"` + pngB64 + `","detail":"low\u0000"}}]}]}`, "invalid_message", "detail"},
		{contextRoute, `{"current_messages":null,"last_k":"all\u0000"}`, "invalid_last_k", "last_k"},
		{contextRoute, `{"current_messages\u0000":[]}`, "invalid_request", "unknown member"},
	} {
		add(post("control characters", e.route, []byte(e.body), codes(e.code), e.has))
	}
	for _, q := range []struct{ method, target, code, has string }{
		{"POST", writeRoute + "?format=openai%00", "invalid_format", "format"},
		{"GET", "/v1/histories/target/messages?last_k=1%00", "invalid_last_k", "last_k"},
		{"GET", "/v1/histories/target/messages?format=openai&require_tool_call_ids=true%00", "invalid_query", "require_tool_call_ids"},
		{"GET", "/v1/histories?limit=1%00", "invalid_limit", "limit"},
		{"GET", "/v1/histories?cursor=%00", "invalid_cursor", "cursor"},
		{"GET", "/v1/histories?%00=1", "invalid_query", "unknown query parameter"},
	} {
		add(hostile{cat: "control characters", method: q.method, target: q.target, body: bodyFor(q.method, msgs), codes: codes(q.code), has: []string{q.has}})
	}
	for _, c := range []byte{0x00, 0x01, '\t', 0x1b, 0x7f} {
		add(hostile{cat: "control characters", raw: "GET /v1/histories?limit=1" + string(c) + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", codes: codes("bad_request", "invalid_limit")})
	}

	// Long history ids: up to 100,000 characters, plain, percent-encoded,
	// and two-byte characters.
	for _, n := range []int{257, 4096, 100_000} {
		for _, unit := range []string{"a", "%61", "%C3%A9"} {
			for _, h := range idRoutes("long history id", strings.Repeat(unit, n)) {
				h.codes = codes("invalid_history_id", "headers_too_large")
				h.check = func(msg string) error {
					if !strings.Contains(msg, "the limit is 256") && !strings.Contains(msg, "over the limit of 64 KiB") {
						return errors.New("the message does not state the limit")
					}
					return nil
				}
				add(h)
			}
		}
	}
	add(hostile{cat: "long history id", method: "GET", target: "/v1/histories?cursor=" + strings.Repeat("h", 100_000), codes: codes("invalid_cursor", "headers_too_large")})

	// Huge and odd numbers: in queries, in last_k, and inside messages.
	for _, k := range []string{"1e30", "-99999999999999999999", "1.5", "-1", "1e3", "0x10", "1_000",
		"%201", "1%20", "Infinity", "NaN", "", "1,2", "0.0", "-0", "%2B1", "None", "null"} {
		add(get("huge numbers", "/v1/histories/target/messages?last_k="+k, codes("invalid_last_k"), "last_k"))
	}
	for _, n := range []string{"0", "-1", "1001", "1e30", "99999999999999999999", "9223372036854775808", "1.5", "-0", "", "abc", "1e3", "0x10", "%2B0"} {
		add(get("huge numbers", "/v1/histories?limit="+n, codes("invalid_limit"), "limit"))
	}
	for _, k := range []string{"1e30", "-99999999999999999999", "1.5", "-1",
		"1E2", "0.0", "-0.0", "true", "[]", "{}", `"1.5"`, `"x"`, `"-1"`, `""`, `"5"`, `"-0"`, `"+1"`, "-0"} {
		add(post("huge numbers", contextRoute, []byte(`{"current_messages":[`+hello+`],"last_k":`+k+`}`), codes("invalid_last_k"), "last_k"))
	}
	for _, n := range []struct{ body, has string }{
		{`{"role":"user","name":1e30,"content":"x"}`, "messages[0].name: must be"},
		{`{"role":1e30,"content":"x"}`, "messages[0].role: must be"},
		{`{"role":"user","content":[{"text":-1e30}]}`, "messages[0].content[0].text: must be"},
		{`{"role":"assistant","content":[{"tool_call":{"tool_name":"t","arguments":1e30,"id":"c"}}]}`, "messages[0].content[0].tool_call.arguments: must be"},
		{`{"role":"assistant","content":[{"tool_call":{"tool_name":"t","arguments":{},"id":99999999999999999999}}]}`, "messages[0].content[0].tool_call.id: must be"},
		{`{"role":"tool","content":[{"tool_call_result":{"result":"x","origin":` + origin + `,"error":1e30}}]}`, "messages[0].content[0].tool_call_result.error: must be"},
		{`{"role":"tool","content":[{"tool_call_result":{"result":1e30,"origin":` + origin + `,"error":false}}]}`, "messages[0].content[0].tool_call_result.result: must be"},
		{`{"role":"user","content":[{"image":{"base64_image":"` + pngB64 + `","validation":-0}}]}`, "messages[0].content[0].image.validation: must be"},
		{`{"role":"user","meta":{"chat_message_id":1e30},"content":"x"}`, "meta.chat_message_id"},
		{`{"role":"user","meta":{"chat_message_id":99999999999999999999},"content":"x"}`, "meta.chat_message_id"},
	} {
		add(post("huge numbers", writeRoute, inWrite(n.body), codes("invalid_message"), n.has))
	}
	// Floats beyond 64 bits are refused wherever they are: Python would
	// read them as infinity and write back Infinity, which is not JSON.
	for _, body := range []string{
		`{"role":"user","meta":{"n":1e400},"content":"x"}`,
		`{"role":"user","name":-1e400,"content":"x"}`,
		`{"role":"assistant","content":[{"tool_call":{"tool_name":"t","arguments":{"x":[1.5e309]},"id":"c"}}]}`,
		`{"role":"user","content":"x","ignored":1e400}`,
	} {
		add(post("huge numbers", writeRoute, inWrite(body), codes("invalid_json"), "out of range"))
	}
	add(post("huge numbers", contextRoute, []byte(`{"current_messages":[`+hello+`],"last_k":1e400}`), codes("invalid_json"), "out of range"))
	// Integers of more digits than Python's json reads (4,300), which
	// would make the whole history unreadable to Haystack.
	long := strings.Repeat("7", 4301)
	for _, body := range []string{
		`{"role":"user","meta":{"n":` + long + `},"content":"x"}`,
		`{"role":"user","meta":{"n":-` + long + `},"content":"x"}`,
		`{"role":"assistant","content":[{"tool_call":{"tool_name":"t","arguments":{"x":[` + long + `]},"id":"c"}}]}`,
		`{"role":"user","content":"x","ignored":` + long + `}`,
	} {
		add(post("huge numbers", writeRoute, inWrite(body), codes("invalid_json"), "4300"))
	}
	for _, lit := range []string{"01", "-01", "1.", ".5", "-", "+1", "1e", "1e+", "1.e5", "NaN", "Infinity", "-Infinity", "0x10", "1_000", "1.5.2", "--1", "1e400e1"} {
		add(post("huge numbers", writeRoute, inWrite(`{"role":"user","meta":{"n":`+lit+`},"content":"x"}`), codes("invalid_json"), "not valid JSON"))
	}

	// Duplicate keys: in the body, in a message, in a part, in free maps,
	// and in members the decoder otherwise ignores.
	tc := func(inner string) string {
		return `{"role":"assistant","content":[{"tool_call":{` + inner + `}}]}`
	}
	tcr := func(inner string) string {
		return `{"role":"tool","content":[{"tool_call_result":{` + inner + `}}]}`
	}
	img := func(inner string) string { return `{"role":"user","content":[{"image":{` + inner + `}}]}` }
	file := func(inner string) string { return `{"role":"user","content":[{"file":{` + inner + `}}]}` }
	imgData, fileData := `"base64_image":"`+pngB64+`"`, `"base64_data":"`+fileB64+`"`
	dupMessages := []string{
		`{"role":"user","role":"user","content":"x"}`,
		`{"role":"user","r\u006fle":"assistant","content":"x"}`,
		`{"role":"user","name":"a","name":"b","content":"x"}`,
		`{"role":"user","meta":{},"meta":{},"content":"x"}`,
		`{"role":"user","content":"x","content":"y"}`,
		`{"_role":"user","_role":"user","_content":[{"text":"x"}]}`,
		`{"_role":"user","_content":[{"text":"x"}],"_content":[{"text":"y"}]}`,
		`{"role":"user","content":[{"text":"a","text":"b"}]}`,
		`{"role":"user","content":[{"text":"a","te\u0078t":"b"}]}`,
		`{"role":"assistant","content":[{"tool_call":{"tool_name":"t","arguments":{}},"tool_call":{"tool_name":"t","arguments":{}}}]}`,
		tc(`"tool_name":"a","tool_name":"b","arguments":{}`),
		tc(`"tool_name":"a","arguments":{},"arguments":{}`),
		tc(`"tool_name":"a","arguments":{},"id":"x","id":"y"`),
		tc(`"tool_name":"a","arguments":{},"extra":null,"extra":{}`),
		tc(`"tool_name":"a","arguments":{"city":"x","city":"y"}`),
		tc(`"tool_name":"a","arguments":{"q":{"k":1,"k":2}}`),
		tc(`"tool_name":"a","arguments":{},"extra":{"k":1,"k":2}`),
		tcr(`"result":"a","result":"b","origin":` + origin + `,"error":false`),
		tcr(`"result":"a","origin":` + origin + `,"origin":` + origin + `,"error":false`),
		tcr(`"result":"a","origin":` + origin + `,"error":false,"error":true`),
		tcr(`"result":"a","origin":{"tool_name":"t","tool_name":"u","arguments":{}},"error":false`),
		`{"role":"assistant","content":[{"reasoning":{"reasoning_text":"a","reasoning_text":"b"}}]}`,
		`{"role":"assistant","content":[{"reasoning":{"reasoning_text":"a","extra":{},"extra":{}}}]}`,
		img(imgData + `,` + imgData),
		img(imgData + `,"mime_type":"image/png","mime_type":"image/png"`),
		img(imgData + `,"detail":"low","detail":"high"`),
		img(imgData + `,"meta":{},"meta":{}`),
		img(imgData + `,"validation":true,"validation":false`),
		file(fileData + `,` + fileData),
		file(fileData + `,"mime_type":"text/plain","mime_type":"text/html"`),
		file(fileData + `,"filename":"a","filename":"b"`),
		file(fileData + `,"extra":{},"extra":{}`),
		file(fileData + `,"validation":true,"validation":false`),
		`{"role":"user","meta":{"k":1,"k":2},"content":"x"}`,
		`{"role":"user","meta":{"k":1,"\u006b":2},"content":"x"}`,
		`{"role":"user","meta":{"x":{"k":1,"k":2}},"content":"x"}`,
		`{"role":"user","meta":{"x":[{"k":1,"k":2}]},"content":"x"}`,
		`{"role":"user","meta":{"chat_message_id":"a","chat_message_id":"b"},"content":"x"}`,
		// Members Haystack ignores are still JSON: a duplicate in them, or
		// inside them, makes the document ambiguous all the same.
		`{"role":"user","content":"x","other":1,"other":2}`,
		`{"role":"user","content":"x","other":{"k":1,"k":2}}`,
		`{"role":"user","content":"x","_content":[{"text":"a","text":"b"}]}`,
		`{"role":"user","content":"x","_meta":{"k":1,"k":2}}`,
		tcr(`"result":"a","origin":` + origin + `,"error":false,"other":1,"other":2`),
		tcr(`"result":"a","origin":` + origin + `,"error":false,"other":{"k":1,"k":2}`),
		`{"role":"assistant","content":[{"tool_call":{"tool_name":"t","arguments":{}},"other":1,"other":2}]}`,
		`{"role":"assistant","content":[{"tool_call":{"tool_name":"t","arguments":{}},"reasoning":{"reasoning_text":"a","reasoning_text":"b"}}]}`,
	}
	for _, m := range dupMessages {
		add(post("duplicate keys", writeRoute, inWrite(m), codes("invalid_json"), "duplicate key"))
	}
	for _, m := range dupMessages[:12] {
		add(post("duplicate keys", contextRoute, inContext(m), codes("invalid_json"), "duplicate key"))
	}
	for _, d := range []struct{ route, body string }{
		{writeRoute, `{"messages":[],"messages":[]}`},
		{writeRoute, `{"messages":[` + hello + `],"messages":[` + hello + `]}`},
		{writeRoute, `{"messages":[` + hello + `],"m\u0065ssages":[]}`},
		{writeRoute + "?format=openai", `{"messages":[{"role":"user","role":"assistant","content":"x"}]}`},
		{writeRoute + "?format=openai", `{"messages":[{"role":"user","content":"x","content":"y"}]}`},
		{writeRoute + "?format=openai", `{"messages":[{"role":"user","content":"x","other":{"k":1,"k":2}}]}`},
		{writeRoute + "?format=openai", `{"messages":[{"role":"user","content":[{"type":"text","type":"text","text":"x"}]}]}`},
		{contextRoute, `{"last_k":1,"last_k":2}`},
		{contextRoute, `{"current_messages":[],"current_messages":null}`},
		{contextRoute, `{"current_messages":null,"last_k":"all","l\u0061st_k":1}`},
	} {
		add(post("duplicate keys", d.route, []byte(d.body), codes("invalid_json"), "duplicate key"))
	}

	// Wrong content types.
	ctypes := []string{"text/plain", "text/plain; charset=utf-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=xyz",
		"application/xml", "text/json", "text/html", "application/octet-stream", "application/jsonx", "application/json5", "image/png",
		"json", "application/", ";", "application/json;;", "application/json; charset", "application/json+xml", "*/*"}
	for _, ct := range ctypes {
		add(hostile{cat: "content type", method: "POST", target: writeRoute, header: []string{"Content-Type", ct}, body: writeBody(msgs),
			codes: codes("unsupported_media_type"), has: []string{"Content-Type"}})
		add(hostile{cat: "content type", method: "POST", target: contextRoute, header: []string{"Content-Type", ct}, body: contextBody(msgs),
			codes: codes("unsupported_media_type"), has: []string{"Content-Type"}})
	}
	add(hostile{cat: "content type", method: "POST", target: writeRoute, header: []string{"Content-Type", "application/x-www-form-urlencoded"},
		body: []byte("messages=" + url.QueryEscape(string(writeBody(msgs)))), codes: codes("unsupported_media_type")})
	add(hostile{cat: "content type", method: "POST", target: writeRoute, header: []string{"Content-Type", "multipart/form-data; boundary=xyz"},
		body: []byte("--xyz\r\nContent-Disposition: form-data; name=\"messages\"\r\n\r\n" + string(writeBody(msgs)) + "\r\n--xyz--\r\n"), codes: codes("unsupported_media_type")})

	// Query parameters: unknown, repeated, malformed; bad formats and
	// cursors.
	for _, q := range []struct{ method, path, query, code, has string }{
		{"GET", "/v1/histories/target/messages", "last-k=1", "invalid_query", `"last-k"`},
		{"GET", "/v1/histories/target/messages", "lastk=1", "invalid_query", `"lastk"`},
		{"GET", "/v1/histories/target/messages", "LAST_K=1", "invalid_query", `"LAST_K"`},
		{"GET", "/v1/histories/target/messages", "last_k=1&limit=1", "invalid_query", `"limit"`},
		{"GET", "/v1/histories/target/messages", "last_k=1&last_k=1", "invalid_query", `"last_k" is given 2 times`},
		{"GET", "/v1/histories/target/messages", "last_k=1&last_k=2&last_k=3", "invalid_query", `"last_k" is given 3 times`},
		{"GET", "/v1/histories/target/messages", "format=openai&format=openai", "invalid_query", `"format" is given 2 times`},
		{"GET", "/v1/histories/target/messages", "format=openai&require_tool_call_ids=true&require_tool_call_ids=false", "invalid_query", `"require_tool_call_ids" is given 2 times`},
		{"GET", "/v1/histories/target/messages", "require_tool_call_ids=true", "invalid_query", "require_tool_call_ids"},
		{"GET", "/v1/histories/target/messages", "format=openai&require_tool_call_ids=maybe", "invalid_query", "require_tool_call_ids"},
		{"GET", "/v1/histories/target/messages", "format=openai&require_tool_call_ids=", "invalid_query", "require_tool_call_ids"},
		{"GET", "/v1/histories/target/messages", "%zz=1", "invalid_query", "malformed"},
		{"GET", "/v1/histories/target/messages", "last_k=%", "invalid_query", "malformed"},
		{"GET", "/v1/histories/target/messages", "last_k=1;format=openai", "invalid_query", "malformed"},
		{"GET", "/v1/histories/target/messages", "last_k", "invalid_last_k", "last_k"},
		{"POST", "/v1/histories/target/messages", "last_k=1", "invalid_query", `"last_k"`},
		{"POST", "/v1/histories/target/messages", "formt=openai", "invalid_query", `"formt"`},
		{"POST", "/v1/histories/target/messages", "format=openai&format=haystack", "invalid_query", `"format" is given 2 times`},
		{"POST", "/v1/histories/target/messages", "format=haystack&format=haystack", "invalid_query", `"format" is given 2 times`},
		{"POST", "/v1/histories/target/messages", "format=haystack&require_tool_call_ids=true", "invalid_query", `"require_tool_call_ids"`},
		{"POST", "/v1/histories/target/messages", "dry_run=true", "invalid_query", `"dry_run"`},
		{"POST", "/v1/histories/target/messages", "%", "invalid_query", "malformed"},
		{"POST", "/v1/histories/target/context", "last_k=1", "invalid_query", `"last_k"`},
		{"POST", "/v1/histories/target/context", "format=openai&format=openai", "invalid_query", `"format" is given 2 times`},
		{"POST", "/v1/histories/target/context", "require_tool_call_ids=true", "invalid_query", "require_tool_call_ids"},
		{"GET", "/v1/histories/target", "last_k=1", "invalid_query", "takes none"},
		{"GET", "/v1/histories/target", "x", "invalid_query", "takes none"},
		{"DELETE", "/v1/histories/target", "confirm=yes", "invalid_query", "takes none"},
		{"DELETE", "/v1/histories/target", "%zz", "invalid_query", "malformed"},
		{"DELETE", "/v1/histories", "confirm=yes", "invalid_query", `unknown query parameter "confirm"; this route takes metadata[KEY]`},
		{"DELETE", "/v1/histories", "prefix=t", "invalid_query", `unknown query parameter "prefix"`},
		{"DELETE", "/v1/histories", "metadata[]=x", "invalid_query", "metadata[KEY]=VALUE"},
		{"DELETE", "/v1/histories", "metadata[user_id]=a&metadata[user_id]=b", "invalid_query", "2 times"},
		{"DELETE", "/v1/histories", "metadata%5Buser_id=a", "invalid_query", "metadata[KEY]=VALUE"},
		{"GET", "/v1/histories", "offset=10", "invalid_query", `"offset"`},
		{"GET", "/v1/histories", "limit=1&limit=2", "invalid_query", `"limit" is given 2 times`},
		{"GET", "/v1/histories", "cursor=a&cursor=b", "invalid_query", `"cursor" is given 2 times`},
		{"GET", "/v1/histories", "limit=10&Limit=10", "invalid_query", `"Limit"`},
		{"GET", "/v1/histories", "limit=%zz", "invalid_query", "malformed"},
	} {
		add(hostile{cat: "query parameters", method: q.method, target: q.path + "?" + q.query, body: bodyFor(q.method, msgs), codes: codes(q.code), has: []string{q.has}})
	}
	for _, f := range []string{"json", "OpenAI", "OPENAI", "Haystack", "openai%20", "%20openai", "open_ai", "xml", "yaml", "text", "haystack,openai", "openai%0A", strings.Repeat("f", 1000)} {
		for _, route := range []struct{ method, path string }{{"GET", "/v1/histories/target/messages"}, {"POST", writeRoute}, {"POST", contextRoute}} {
			var body []byte
			switch {
			case route.path == writeRoute:
				body = writeBody(msgs)
			case route.method == "POST":
				body = contextBody(msgs)
			}
			add(hostile{cat: "query parameters", method: route.method, target: route.path + "?format=" + f, body: body, codes: codes("invalid_format"), has: []string{"format must be"}})
		}
	}
	for _, c := range []string{"x", "h1.", "h1.!!!", "h1.YQ==", "h2.YQ", "H1.YQ", "%20h1.YQ", "h1.YQ%20", "h1..YQ", "h1.Y",
		"h1." + base64.RawURLEncoding.EncodeToString([]byte("a\x00b")),
		"h1." + base64.RawURLEncoding.EncodeToString([]byte("\xff\xfe")),
		"h1." + base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat("a", 600))),
		"h1." + base64.StdEncoding.EncodeToString([]byte("a?>")),
		"null", "undefined", "-1", "0"} {
		add(get("query parameters", "/v1/histories?cursor="+c, codes("invalid_cursor"), "cursor"))
		add(get("query parameters", "/v1/histories?limit=1&cursor="+c, codes("invalid_cursor"), "cursor"))
	}
	return rs
}

// bodyFor returns a valid write body for a POST, so that only the query can
// be what is wrong, and nil otherwise.
func bodyFor(method string, msgs jarr) []byte {
	if method != "POST" {
		return nil
	}
	return []byte(jsonOf(jobj{{"messages", msgs}}))
}

// idRoutes returns a request to each route that takes a history id; the
// write routes carry a valid body, so only the id can be what is wrong.
func idRoutes(cat, id string) []hostile {
	msgs := validMessages()
	base := "/v1/histories/" + id
	return []hostile{
		{cat: cat, method: "GET", target: base + "/messages?last_k=all"},
		{cat: cat, method: "POST", target: base + "/messages", body: []byte(jsonOf(jobj{{"messages", msgs}}))},
		{cat: cat, method: "POST", target: base + "/context", body: []byte(jsonOf(jobj{{"current_messages", msgs}}))},
		{cat: cat, method: "GET", target: base},
		{cat: cat, method: "DELETE", target: base},
	}
}

// writeRequest sends r on w.
func writeRequest(w io.Writer, r hostile) error {
	if r.raw != "" {
		_, err := io.WriteString(w, r.raw)
		return err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n", r.method, r.target)
	hasType := false
	for i := 0; i+1 < len(r.header); i += 2 {
		hasType = hasType || strings.EqualFold(r.header[i], "Content-Type")
		fmt.Fprintf(&b, "%s: %s\r\n", r.header[i], r.header[i+1])
	}
	if (r.body != nil || r.stream != nil) && !hasType {
		b.WriteString("Content-Type: application/json\r\n")
	}
	switch {
	case r.stream != nil && r.streamLen > 0:
		fmt.Fprintf(&b, "Content-Length: %d\r\n", r.streamLen)
	case r.stream != nil:
		b.WriteString("Transfer-Encoding: chunked\r\n")
	case r.body != nil:
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(r.body))
	}
	b.WriteString("\r\n")
	b.Write(r.body)
	if _, err := w.Write(b.Bytes()); err != nil || r.stream == nil {
		return err
	}
	if r.streamLen > 0 {
		_, err := io.Copy(w, r.stream())
		return err
	}
	cw := httputil.NewChunkedWriter(w)
	if _, err := io.Copy(cw, r.stream()); err != nil {
		return err
	}
	if err := cw.Close(); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\r\n")
	return err
}

// exchange sends r on a connection of its own and reads the answer. The
// request is written by a goroutine while the answer is read, so a server
// that answers early and closes (a 413 to a 50 MB body, a 431) is heard.
// dialTimeout bounds a connect to the server under test: generous, since on
// a loaded machine (the race detector, other packages' tests beside) a
// loopback connect can wait seconds for its turn.
const dialTimeout = 30 * time.Second

func exchange(addr string, r hostile) (answer, error) {
	c, err := net.DialTimeout("tcp", addr, dialTimeout)
	if err != nil {
		return answer{}, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	sent := make(chan error, 1)
	go func() {
		err := writeRequest(c, r)
		if err == nil && r.closeWrite {
			err = c.(*net.TCPConn).CloseWrite()
		}
		sent <- err
	}()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		c.Close()
		return answer{}, fmt.Errorf("no answer: %v (sending: %v)", err, <-sent)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	c.Close() // stops a sender still writing a body the server did not read
	<-sent
	if err != nil {
		return answer{}, fmt.Errorf("reading the answer: %v", err)
	}
	return answer{resp.StatusCode, resp.Header, string(body)}, nil
}

// problems lists what is wrong with answer a to r; none means it is right.
func (r hostile) problems(a answer) []string {
	var ps []string
	if a.status < 400 || a.status > 499 {
		ps = append(ps, fmt.Sprintf("status %d, want a 4xx", a.status))
	}
	if ct := a.header.Get("Content-Type"); ct != "application/json" {
		ps = append(ps, fmt.Sprintf("Content-Type %q, want application/json", ct))
	}
	var e struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	dec := json.NewDecoder(strings.NewReader(a.body))
	dec.DisallowUnknownFields()
	err := dec.Decode(&e)
	if err == nil {
		if _, end := dec.Token(); end != io.EOF {
			err = errors.New("data after the object")
		}
	}
	switch {
	case err != nil || !utf8.ValidString(a.body):
		return append(ps, fmt.Sprintf(`the body is not {"error":{"code","message"}} (%v)`, err))
	case e.Error == nil || e.Error.Code == "" || e.Error.Message == "":
		return append(ps, "the error has no code or no message")
	}
	code, msg := e.Error.Code, e.Error.Message
	if r.codes != nil && !slices.Contains(r.codes, code) {
		ps = append(ps, fmt.Sprintf("code %q, want one of %q", code, r.codes))
	}
	want, ok := codeStatus[code]
	if !ok {
		want = 400
	}
	if a.status != want && a.status >= 400 && a.status < 500 {
		ps = append(ps, fmt.Sprintf("status %d with code %q, want %d", a.status, code, want))
	}
	for _, s := range r.has {
		if !strings.Contains(msg, s) {
			ps = append(ps, fmt.Sprintf("the message does not mention %q", s))
		}
	}
	if r.check != nil {
		if err := r.check(msg); err != nil {
			ps = append(ps, err.Error())
		}
	}
	return ps
}

// describe is a request for a failure report, shortened.
func (r hostile) describe() string {
	if r.raw != "" {
		return fmt.Sprintf("raw %q", clip(r.raw, 200))
	}
	s := fmt.Sprintf("%s %q", r.method, clip(r.target, 200))
	for i := 0; i+1 < len(r.header); i += 2 {
		s += fmt.Sprintf(" [%s: %s]", r.header[i], r.header[i+1])
	}
	switch {
	case r.stream != nil:
		s += fmt.Sprintf(" with a streamed 50 MB body (Content-Length %d)", r.streamLen)
	case r.body != nil:
		s += fmt.Sprintf(" body %q", clip(string(r.body), 400))
	}
	return s
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + fmt.Sprintf("…(%d bytes)", len(s))
}

// rssSampler reads the server's resident set size every 50 ms.
type rssSampler struct {
	pid     int
	stop    chan struct{}
	done    chan struct{}
	maxKB   int64
	samples int
	err     error
}

func procStatusKB(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(v)
			if len(f) == 2 && f[1] == "kB" {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

func sampleRSS(pid int) *rssSampler {
	s := &rssSampler{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			kb, err := procStatusKB(pid, "VmRSS")
			if err != nil {
				s.err = err
				return
			}
			s.maxKB = max(s.maxKB, kb)
			s.samples++
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

func (s *rssSampler) finish() {
	close(s.stop)
	<-s.done
}

// slowClient is a connection that sends its request header one byte a
// second, and what became of it.
type slowClient struct {
	name, now, dribble string
	elapsed            time.Duration
	sent               int
	answer             []byte
	err                error
}

// run dribbles c.dribble one byte a second after sending c.now, until the
// server closes the connection (or 15 s pass).
func (c *slowClient) run(addr string) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		c.err = err
		return
	}
	defer conn.Close()
	start := time.Now()
	if _, err := io.WriteString(conn, c.now); err != nil {
		c.err = err
		return
	}
	c.sent = len(c.now)
	done := make(chan struct{})
	sent := make(chan int, 1)
	go func() {
		n := 0
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for i := 0; i < len(c.dribble); i++ {
			select {
			case <-done:
				sent <- n
				return
			case <-tick.C:
			}
			if _, err := conn.Write([]byte{c.dribble[i]}); err != nil {
				break
			}
			n++
		}
		sent <- n
	}()
	conn.SetReadDeadline(start.Add(15 * time.Second))
	c.answer, c.err = io.ReadAll(conn)
	c.elapsed = time.Since(start)
	close(done)
	c.sent += <-sent
	var ne net.Error
	if c.err != nil && !(errors.As(c.err, &ne) && ne.Timeout()) {
		c.err = nil // reset by the server: closed all the same
	}
}

func TestHostileInput(t *testing.T) {
	const headerTimeout = 2 * time.Second
	p := serve(t, "--store", "sqlite:"+filepath.Join(t.TempDir(), "chat.db"), "--read-header-timeout", headerTimeout.String())
	addr := strings.TrimPrefix(p.base, "http://")
	pid := p.cmd.Process.Pid
	rss := sampleRSS(pid)

	// Seed three histories, then snapshot everything a hostile request
	// could change.
	msgs := validMessages()
	seeds := []struct{ path, body, want string }{
		{writeRoute, jsonOf(jobj{{"messages", msgs}}), `{"messages_written":5}`},
		{"/v1/histories/other%2F2/messages?format=openai", `{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\": 1}"}}]},{"role":"tool","tool_call_id":"c1","content":"ok"}]}`, `{"messages_written":3}`},
		{"/v1/histories/third/messages", `{"messages":[{"role":"user","meta":{"chat_message_id":"m1"},"content":"one"},{"role":"assistant","meta":{"chat_message_id":"m2","n":1180591620717411303424},"content":"two"}]}`, `{"messages_written":2}`},
	}
	for _, s := range seeds {
		if a := p.call("POST", s.path, s.body); a.status != 200 || strings.TrimSpace(a.body) != s.want {
			t.Fatalf("seeding %s: %d %s", s.path, a.status, a.body)
		}
	}
	// The valid context body the truncated and mutated ones come from.
	if a := p.call("POST", contextRoute, jsonOf(jobj{{"current_messages", msgs}, {"last_k", "all"}})); a.status != 200 {
		t.Fatalf("the valid context request: %d %s", a.status, a.body)
	}
	snapshotPaths := []string{
		"/v1/histories/target/messages?last_k=all", "/v1/histories/other%2F2/messages?last_k=all",
		"/v1/histories/third/messages?last_k=all", "/v1/histories", "/v1/histories?limit=1", "/v1/histories/target",
	}
	snapshot := func() []string {
		var out []string
		for _, path := range snapshotPaths {
			a := p.call("GET", path, "")
			if a.status != 200 {
				t.Fatalf("GET %s: %d %s", path, a.status, a.body)
			}
			out = append(out, a.body)
		}
		return out
	}
	before := snapshot()
	if kb, err := procStatusKB(pid, "VmRSS"); err == nil {
		t.Logf("server memory after seeding: VmRSS %.1f MiB", float64(kb)/1024)
	}
	if !strings.Contains(before[3], `"count":5`) || !strings.Contains(before[0], `"tool_call_result"`) {
		t.Fatalf("the seed is not what the test expects: %s\n%s", before[3], before[0])
	}

	var (
		healthMu sync.Mutex
		healthOK []time.Time
	)
	healthy := func(when string) {
		t.Helper()
		a, err := exchange(addr, hostile{method: "GET", target: "/healthz"})
		if err != nil || a.status != 200 || a.body != `{"status":"ok"}`+"\n" {
			t.Fatalf("GET /healthz %s: %d %q %v\n%s", when, a.status, a.body, err, p.log())
		}
		healthMu.Lock()
		healthOK = append(healthOK, time.Now())
		healthMu.Unlock()
	}
	alive := func() {
		t.Helper()
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("the server exited: %v\n%s", err, p.log())
		default:
		}
	}

	// Slow clients, concurrently with everything else.
	slow := []*slowClient{
		{name: "silent", dribble: ""},
		{name: "request line", dribble: "GET /v1/histories/target/messages?last_k=all HTTP/1.1\r\nHost: localhost\r\n\r\n"},
		{name: "header", now: "GET /healthz HTTP/1.1\r\nHost: localhost\r\n", dribble: "X-Slow: " + strings.Repeat("a", 40) + "\r\n\r\n"},
		{name: "POST header", now: "POST " + writeRoute + " HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n", dribble: "Content-Length: 2\r\n\r\n{}"},
	}
	slowStart := time.Now()
	var slowWG sync.WaitGroup
	for _, c := range slow {
		slowWG.Add(1)
		go func() {
			defer slowWG.Done()
			c.run(addr)
		}()
	}
	slowDone := make(chan struct{})
	go func() {
		slowWG.Wait()
		close(slowDone)
	}()

	reqs := hostileRequests(t)
	counts := map[string]int{}
	failures := map[string]int{}
	example := map[string]string{} // the first answer of each category, for the log
	start := time.Now()
	for i, r := range reqs {
		if i%25 == 0 {
			healthy(fmt.Sprintf("before hostile request %d", i))
		}
		counts[r.cat]++
		a, err := exchange(addr, r)
		var ps []string
		if err != nil {
			ps = []string{err.Error()}
		} else {
			ps = r.problems(a)
		}
		if _, ok := example[r.cat]; !ok && err == nil {
			example[r.cat] = fmt.Sprintf("%d %s", a.status, strings.TrimSpace(clip(a.body, 300)))
		}
		if len(ps) > 0 {
			failures[r.cat]++
			if failures[r.cat] <= 10 {
				t.Errorf("[%s] %s\nanswer: %d %q\n%s", r.cat, r.describe(), a.status, clip(a.body, 600), strings.Join(ps, "\n"))
			}
		}
	}
	hostileTime := time.Since(start)

	// Spellings that are not clearly invalid: either refused like the
	// hostile requests or answered exactly as the plain spelling. A
	// number of rounds beyond any history is every round.
	for _, l := range []struct{ method, variant, plain, vbody, pbody string }{
		{"GET", "/v1/histories/target/messages?last_k=99999999999999999999", "/v1/histories/target/messages?last_k=all", "", ""},
		{"GET", "/v1/histories/target/messages?last_k=9223372036854775808", "/v1/histories/target/messages?last_k=all", "", ""},
		{"GET", "/v1/histories/target/messages?last_k=ALL", "/v1/histories/target/messages?last_k=all", "", ""},
		{"GET", "/v1/histories?limit=%2B1", "/v1/histories?limit=1", "", ""},
		{"POST", contextRoute, contextRoute, `{"last_k":99999999999999999999}`, `{"last_k":"all"}`},
		{"POST", contextRoute, contextRoute, `{"last_k":9223372036854775808}`, `{"last_k":"all"}`},
		{"POST", contextRoute, contextRoute, ``, `{}`},
	} {
		var vb, pb []byte
		if l.method == "POST" {
			vb, pb = []byte(l.vbody), []byte(l.pbody)
		}
		v, err1 := exchange(addr, hostile{method: l.method, target: l.variant, body: vb})
		w, err2 := exchange(addr, hostile{method: l.method, target: l.plain, body: pb})
		what := strings.TrimSpace(l.method + " " + l.variant + " " + l.vbody)
		switch {
		case err1 != nil || err2 != nil:
			t.Errorf("%s: %v %v", what, err1, err2)
		case v.status >= 400:
			if ps := (hostile{}).problems(v); len(ps) > 0 {
				t.Errorf("%s: %d %q\n%s", what, v.status, v.body, strings.Join(ps, "\n"))
			}
			t.Logf("lenient spelling %s: refused, %d %s", what, v.status, strings.TrimSpace(v.body))
		case v.status != w.status || v.body != w.body:
			t.Errorf("%s: %d %q, but its plain spelling: %d %q", what, v.status, clip(v.body, 300), w.status, clip(w.body, 300))
		default:
			t.Logf("lenient spelling %s: answered as %s", what, strings.TrimSpace(l.plain+" "+l.pbody))
		}
	}
	// Other requests are served while the slow clients hang on.
	for open := true; open; {
		select {
		case <-slowDone:
			open = false
		case <-time.After(100 * time.Millisecond):
			healthy("while slow clients are connected")
		}
	}
	for _, c := range slow {
		counts["slow header"]++
		switch {
		case c.err != nil:
			t.Errorf("slow client %q: the server did not close the connection: %v (after %v)", c.name, c.err, c.elapsed)
		case c.elapsed < headerTimeout-100*time.Millisecond || c.elapsed > headerTimeout+5*time.Second:
			t.Errorf("slow client %q: closed after %v, want about %v", c.name, c.elapsed, headerTimeout)
		case c.sent >= len(c.now)+len(c.dribble) && c.dribble != "":
			t.Errorf("slow client %q: the whole request was sent before the server closed", c.name)
		}
		if len(c.answer) > 0 {
			resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(c.answer)), nil)
			if err != nil || resp.StatusCode >= 500 || resp.Header.Get("Content-Type") != "application/json" {
				t.Errorf("slow client %q was answered %q", c.name, clip(string(c.answer), 300))
			}
		}
		t.Logf("slow client %q: %d bytes sent, closed after %v", c.name, c.sent, c.elapsed.Round(time.Millisecond))
	}
	slowEnd := time.Now()
	for _, c := range slow {
		if end := slowStart.Add(c.elapsed); end.Before(slowEnd) {
			slowEnd = end
		}
	}
	served := 0
	healthMu.Lock()
	for _, at := range healthOK {
		if at.After(slowStart.Add(time.Second)) && at.Before(slowEnd) {
			served++
		}
	}
	checks := len(healthOK)
	healthMu.Unlock()
	if served == 0 {
		t.Errorf("no health check was answered while the slow clients were connected")
	}

	healthy("after the hostile requests")
	alive()
	after := snapshot()
	for i, path := range snapshotPaths {
		if after[i] != before[i] {
			t.Errorf("GET %s changed:\nbefore: %s\nafter:  %s", path, clip(before[i], 2000), clip(after[i], 2000))
		}
	}

	rss.finish()
	hwm, hwmErr := procStatusKB(pid, "VmHWM")
	if rss.err != nil || hwmErr != nil {
		t.Errorf("reading the server's memory: %v %v", rss.err, hwmErr)
	}
	// The server idles at about 16 MiB. The most it should hold of one
	// body is --max-body-bytes (8 MiB); read chunked, the bytes.Buffer
	// doubles its way there, about 32 MiB of short-lived allocation, and
	// the sequential 8 MiB cases here peak near 80 MiB. Buffering a whole
	// 50 MB body takes a 64 MiB buffer on top of the 32 MiB one it grew
	// from (a server run with --max-body-bytes 100000000 reached 147 MiB on
	// that one request), so 128 MiB separates the two with room each way.
	const boundKB = 128 << 10
	peak := max(rss.maxKB, hwm)
	t.Logf("server memory: max VmRSS %.1f MiB over %d samples, VmHWM %.1f MiB (bound %d MiB)",
		float64(rss.maxKB)/1024, rss.samples, float64(hwm)/1024, boundKB>>10)
	if peak > boundKB {
		t.Errorf("the server's resident memory reached %.1f MiB, over the bound of %d MiB", float64(peak)/1024, boundKB>>10)
	}

	total := 0
	cats := make([]string, 0, len(counts))
	for c, n := range counts {
		cats = append(cats, c)
		total += n
	}
	sort.Strings(cats)
	for _, c := range cats {
		t.Logf("%-20s %4d requests, %d wrong answers; e.g. %s", c, counts[c], failures[c], example[c])
	}
	t.Logf("%d hostile requests in %v, %d health checks (%d while slow clients were connected)", total, hostileTime.Round(time.Millisecond), checks, served)
	if total < 300 {
		t.Errorf("only %d hostile requests were sent, want at least 300", total)
	}
	if log := p.log(); strings.Contains(log, "panic") || strings.Contains(log, `"level":"ERROR"`) {
		t.Errorf("the server logged a panic or an error:\n%s", clip(log, 5000))
	}
}
