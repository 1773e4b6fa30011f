package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/chatstore/chatstore/chat"
)

// TestOpenAPIServers fetches the document from a server on a port of its
// own and checks that the server URL it gives leads back to that server,
// as a client generated from it resolves it.
func TestOpenAPIServers(t *testing.T) {
	srv, _ := newTestServer(t, "memory://", nil)
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	docURL := hs.URL + "/openapi.json"
	resp, err := http.Get(docURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Servers []struct{ URL string }
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Servers) != 1 {
		t.Fatalf("servers: %+v, want one", doc.Servers)
	}
	base, _ := url.Parse(docURL)
	rel, err := url.Parse(doc.Servers[0].URL)
	if err != nil {
		t.Fatal(err)
	}
	// OpenAPI appends each path to the server URL without its trailing
	// slash.
	got := base.ResolveReference(rel).String()
	if want := hs.URL + "/"; got != want {
		t.Errorf("the server URL %q, fetched from %s, resolves to %s, want %s", doc.Servers[0].URL, docURL, got, want)
	}
	r, err := http.Get(got + "healthz")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 200 {
		t.Errorf("GET %shealthz: %d", got, r.StatusCode)
	}
}

// The schemas of openapi.json, compiled with a JSON Schema validator, to
// check real requests and answers against them. OpenAPI 3.0 schemas are
// JSON Schema (of the draft 4 family) with one addition, "nullable", which
// is rewritten into a "null" type before compiling; the other additions
// (discriminator, example) are annotations that validation ignores.
type apiSchemas struct {
	doc   any
	c     *jsonschema.Compiler
	cache map[string]*jsonschema.Schema
}

func loadAPISchemas(t *testing.T) *apiSchemas {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(openAPIDoc))
	if err != nil {
		t.Fatal(err)
	}
	nullable(doc)
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft4)
	if err := c.AddResource("openapi.json", doc); err != nil {
		t.Fatal(err)
	}
	return &apiSchemas{doc: doc, c: c, cache: map[string]*jsonschema.Schema{}}
}

// nullable turns OpenAPI 3.0's {"type": T, "nullable": true} into JSON
// Schema's {"type": [T, "null"]}, everywhere in v.
func nullable(v any) {
	switch v := v.(type) {
	case map[string]any:
		if n, _ := v["nullable"].(bool); n {
			if typ, ok := v["type"].(string); ok {
				v["type"] = []any{typ, "null"}
			}
		}
		delete(v, "nullable")
		for _, e := range v {
			nullable(e)
		}
	case []any:
		for _, e := range v {
			nullable(e)
		}
	}
}

// pointer is the JSON pointer of a path of keys in the document.
func pointer(keys ...string) string {
	var b strings.Builder
	for _, k := range keys {
		b.WriteByte('/')
		b.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(k))
	}
	return b.String()
}

// schema compiles the schema at ptr.
func (a *apiSchemas) schema(t *testing.T, ptr string) *jsonschema.Schema {
	t.Helper()
	if s, ok := a.cache[ptr]; ok {
		return s
	}
	s, err := a.c.Compile("openapi.json#" + (&url.URL{Fragment: ptr}).EscapedFragment())
	if err != nil {
		t.Fatalf("compiling the schema at %s: %v", ptr, err)
	}
	a.cache[ptr] = s
	return s
}

// lookup returns the value at a path of keys (indexes for arrays) and its
// JSON pointer, following $refs on the way.
func (a *apiSchemas) lookup(keys ...string) (any, string, bool) {
	v, ptr := a.doc, ""
	for _, k := range keys {
		v, ptr = a.deref(v, ptr)
		switch e := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = e[k]; !ok {
				return nil, "", false
			}
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(e) {
				return nil, "", false
			}
			v = e[i]
		default:
			return nil, "", false
		}
		ptr += pointer(k)
	}
	v, ptr = a.deref(v, ptr)
	return v, ptr, true
}

// deref follows v while it is a {"$ref": "#/..."}.
func (a *apiSchemas) deref(v any, ptr string) (any, string) {
	for {
		m, _ := v.(map[string]any)
		ref, ok := m["$ref"].(string)
		if !ok {
			return v, ptr
		}
		ptr = strings.TrimPrefix(ref, "#")
		v = a.doc
		for _, tok := range strings.Split(ptr, "/")[1:] {
			m, _ := v.(map[string]any)
			v = m[strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)]
		}
	}
}

// valid checks a JSON text against a schema.
func valid(s *jsonschema.Schema, body []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return err
	}
	return s.Validate(v)
}

// exchange checks a request body against the document's schema for the
// route (it must validate when wantValid, and must not otherwise), sends
// it, and checks the answer against what the document says for its status.
func (a *apiSchemas) exchange(t *testing.T, f *fixture, method, route, id, query, body string, wantValid bool) reply {
	t.Helper()
	op := []string{"paths", route, strings.ToLower(method)}
	if body != "" {
		_, ptr, ok := a.lookup(append(op, "requestBody", "content", "application/json", "schema")...)
		if !ok {
			t.Fatalf("%s %s has no JSON request body", method, route)
		}
		err := valid(a.schema(t, ptr), []byte(body))
		switch {
		case wantValid && err != nil:
			t.Errorf("%s %s: the request does not validate: %v\n%s", method, route, err, body)
		case !wantValid && err == nil:
			t.Errorf("%s %s: a wrong request validates:\n%s", method, route, body)
		}
	}
	target := strings.ReplaceAll(route, "{history_id}", url.PathEscape(id))
	if query != "" {
		target += "?" + query
	}
	r := f.do(method, target, body)
	a.answer(t, method, route, target, r)
	return r
}

// answer checks an answer against what the document says for its status,
// and returns that description ("" if the status is not documented).
func (a *apiSchemas) answer(t *testing.T, method, route, target string, r reply) string {
	t.Helper()
	op := []string{"paths", route, strings.ToLower(method), "responses", strconv.Itoa(r.code)}
	resp, _, ok := a.lookup(op...)
	if !ok {
		t.Errorf("%s %s answered %d, which the document does not list: %s", method, target, r.code, r.body)
		return ""
	}
	if _, ptr, ok := a.lookup(append(op, "content", "application/json", "schema")...); ok {
		if err := valid(a.schema(t, ptr), r.body); err != nil {
			t.Errorf("%s %s: the %d answer does not validate: %v\n%s", method, target, r.code, err, r.body)
		}
	} else if resp.(map[string]any)["content"] != nil {
		t.Errorf("%s %s: the %d answer is documented without JSON", method, target, r.code)
	}
	for name := range r.header {
		if name == "Retry-After" || name == "Idempotent-Replayed" {
			if _, _, ok := a.lookup(append(op, "headers", name)...); !ok {
				t.Errorf("%s %s: the %d answer has %s, which the document does not list", method, target, r.code, name)
			}
		}
	}
	desc, _ := resp.(map[string]any)["description"].(string)
	return desc
}

// chatFixture is a case of chat/testdata: an input and what Haystack
// itself made of it (chat/fixtures_test.go).
type chatFixture struct {
	Name               string          `json:"name"`
	Input              json.RawMessage `json:"input"`
	Message            json.RawMessage `json:"message"`
	Want               json.RawMessage `json:"want"`
	Error              string          `json:"error"`
	RequireToolCallIDs bool            `json:"require_tool_call_ids"`
}

func loadChatFixtures(t *testing.T, name string) []chatFixture {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "chat", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var fs []chatFixture
	if err := json.Unmarshal(b, &fs); err != nil {
		t.Fatal(err)
	}
	if len(fs) == 0 {
		t.Fatalf("%s holds no cases", name)
	}
	return fs
}

const (
	historyRoute     = "/v1/histories/{history_id}"
	messagesRoute    = historyRoute + "/messages"
	contextRoute     = historyRoute + "/context"
	compactionsRoute = historyRoute + "/compactions"
)

// readBack reads a history in both formats; each answer, a 200 or a 400
// not_convertible, must match the document.
func (a *apiSchemas) readBack(t *testing.T, f *fixture, id string, requireIDs bool) (haystack, openai reply) {
	t.Helper()
	haystack = a.exchange(t, f, "GET", messagesRoute, id, "last_k=all", "", true)
	q := "last_k=all&format=openai"
	if requireIDs {
		q += "&require_tool_call_ids=true"
	}
	openai = a.exchange(t, f, "GET", messagesRoute, id, q, "", true)
	if haystack.code != 200 || (openai.code != 200 && openai.code != 400) {
		t.Errorf("reading %s back: %d %s; %d %s", id, haystack.code, haystack.body, openai.code, openai.body)
	}
	return haystack, openai
}

// haystackBeyondSchema are messages the server refuses that the
// HaystackMessage schema cannot tell from valid ones: what is wrong is
// inside a base64 string or a MIME type.
var haystackBeyondSchema = map[string]bool{
	"image_zip_guess_rejected": true, "image_wav_guess_rejected": true, "image_heic_guess_rejected": true,
	"image_avif_guess_rejected": true, "image_mime_uppercase_rejected": true, "image_mime_text_rejected": true,
	"image_invalid_base64": true, "image_base64_missing_padding": true, "image_base64_whitespace": true,
	"image_base64_urlsafe": true, "image_base64_data_url": true, "image_base64_excess_after_padding": true,
	"file_invalid_base64": true,
}

// TestOpenAPIHaystackMessages sends every message of Haystack's format in
// chat/testdata (as Haystack's to_dict() wrote it) through the server and
// checks each request and answer against openapi.json; every message the
// server refuses, the schema refuses too, but for what only decoding
// base64 can tell.
func TestOpenAPIHaystackMessages(t *testing.T) {
	a := loadAPISchemas(t)
	schema := a.schema(t, "/components/schemas/HaystackMessage")
	f := newFixture(t, "memory://?skip_system_messages=false", nil)
	beyond := 0
	var written []json.RawMessage
	for i, c := range loadChatFixtures(t, "haystack_decode.json") {
		if _, err := chat.Unmarshal(c.Input); err != nil {
			if err := valid(schema, c.Input); err == nil {
				if !haystackBeyondSchema[c.Name] {
					t.Errorf("%s: the server refuses %s, the schema accepts it", c.Name, c.Input)
				}
				beyond++
			}
			continue
		}
		id := fmt.Sprint("h", i)
		body := `{"messages":[` + string(c.Want) + `]}`
		if r := a.exchange(t, f, "POST", messagesRoute, id, "", body, true); r.code != 200 {
			t.Errorf("%s: %d %s", c.Name, r.code, r.body)
			continue
		}
		written = append(written, c.Want)
		a.readBack(t, f, id, false)
	}
	if beyond != len(haystackBeyondSchema) {
		t.Errorf("%d of the %d cases in haystackBeyondSchema are still valid for the schema and refused by the server", beyond, len(haystackBeyondSchema))
	}
	for _, m := range loadChatFixtures(t, "openai_to.json") {
		if _, err := chat.Unmarshal(m.Message); err == nil {
			written = append(written, m.Message)
		}
	}
	if len(written) < 150 {
		t.Fatalf("only %d messages written", len(written))
	}
	// All of them at once, and as the current messages of a context
	// request.
	all, _ := json.Marshal(map[string]any{"messages": written})
	a.exchange(t, f, "POST", messagesRoute, "all", "", string(all), true)
	a.readBack(t, f, "all", false)
	ctx, _ := json.Marshal(map[string]any{"current_messages": written[:20], "last_k": 2})
	if r := a.exchange(t, f, "POST", contextRoute, "all", "", string(ctx), true); r.code != 200 {
		t.Errorf("context: %d %s", r.code, r.body)
	}
}

// openAIBeyondSchema are OpenAI messages the server refuses that the
// OpenAIMessage schema accepts: empty or missing content, and tool call arguments
// that are not a JSON object, which the schema cannot see inside a string.
var openAIBeyondSchema = map[string]bool{
	"error_user_empty_content": true, "error_system_empty_content": true, "error_tool_empty_list": true,
	"error_user_empty_list": true, "error_developer_missing_content": true,
	"error_assistant_no_content_no_tool_calls": true, "error_assistant_empty_content_no_tool_calls": true,
	"error_assistant_empty_tool_calls": true, "error_tool_call_arguments_invalid_json": true,
	"lax_arguments_json_list": true, "lax_arguments_json_string": true, "lax_arguments_json_null": true,
	"lax_arguments_json_number": true,
}

// TestOpenAPIOpenAIMessages does the same with OpenAI messages: every one
// in chat/testdata written with ?format=openai and read back, every one
// Haystack converted to OpenAI's format read with format=openai.
func TestOpenAPIOpenAIMessages(t *testing.T) {
	a := loadAPISchemas(t)
	schema := a.schema(t, "/components/schemas/OpenAIMessage")
	f := newFixture(t, "memory://?skip_system_messages=false", nil)
	beyond, accepted := 0, 0
	var written []json.RawMessage
	for i, c := range loadChatFixtures(t, "openai_from.json") {
		if _, err := chat.UnmarshalOpenAI(c.Input); err != nil {
			if err := valid(schema, c.Input); err == nil {
				if !openAIBeyondSchema[c.Name] {
					t.Errorf("%s: the server refuses %s, the schema accepts it", c.Name, c.Input)
				}
				beyond++
			}
			continue
		}
		accepted++
		id := fmt.Sprint("o", i)
		body := `{"messages":[` + string(c.Input) + `]}`
		if r := a.exchange(t, f, "POST", messagesRoute, id, "format=openai", body, true); r.code != 200 {
			t.Errorf("%s: %d %s", c.Name, r.code, r.body)
			continue
		}
		written = append(written, c.Input)
		if _, r := a.readBack(t, f, id, false); r.code != 200 {
			t.Errorf("%s: read back as OpenAI: %d %s", c.Name, r.code, r.body)
		}
	}
	if beyond != len(openAIBeyondSchema) || accepted < 20 {
		t.Errorf("%d of the %d cases in openAIBeyondSchema are still valid for the schema and refused by the server; %d accepted", beyond, len(openAIBeyondSchema), accepted)
	}
	// What Haystack's to_openai_dict_format makes of stored messages, and
	// what the server answers for them (a 400 for those OpenAI's format
	// cannot carry).
	converted := 0
	for i, c := range loadChatFixtures(t, "openai_to.json") {
		if _, err := chat.Unmarshal(c.Message); err != nil {
			continue
		}
		if c.Error == "" && c.Want != nil {
			if err := valid(schema, c.Want); err != nil {
				t.Errorf("%s: Haystack's OpenAI message does not validate: %v\n%s", c.Name, err, c.Want)
			}
		}
		id := fmt.Sprint("t", i)
		a.exchange(t, f, "POST", messagesRoute, id, "", `{"messages":[`+string(c.Message)+`]}`, true)
		if _, r := a.readBack(t, f, id, c.RequireToolCallIDs); r.code == 200 {
			converted++
		}
	}
	if converted < 40 {
		t.Errorf("only %d stored messages read back in OpenAI's format", converted)
	}
	all, _ := json.Marshal(map[string]any{"messages": written})
	a.exchange(t, f, "POST", messagesRoute, "all", "format=openai", string(all), true)
	a.readBack(t, f, "all", false)
	ctx, _ := json.Marshal(map[string]any{"current_messages": written[:10], "last_k": "all"})
	if r := a.exchange(t, f, "POST", contextRoute, "all", "format=openai", string(ctx), true); r.code != 200 {
		t.Errorf("context: %d %s", r.code, r.body)
	}
	if r := a.exchange(t, f, "POST", contextRoute, "all", "format=openai", `{"current_messages":null,"last_k":null}`, true); r.code != 200 {
		t.Errorf("context with nulls: %d %s", r.code, r.body)
	}
}

// TestOpenAPIWrongRequests sends requests that are wrong in either format:
// the document's schema refuses each, and so does the server, with an
// error the document describes.
func TestOpenAPIWrongRequests(t *testing.T) {
	a := loadAPISchemas(t)
	f := newFixture(t, "memory://", nil)
	for _, c := range []struct{ route, query, body string }{
		{messagesRoute, "", `{"messages":[{"role":"user","content":[{"text":1}]}]}`},
		{messagesRoute, "", `{"messages":[{"role":"bot","content":[{"text":"hi"}]}]}`},
		{messagesRoute, "format=openai", `{"messages":[{"role":"bot","content":"hi"}]}`},
		{messagesRoute, "", `{"messages":[{"role":"assistant","content":[{"tool_call":{"arguments":{}}}]}]}`},
		{messagesRoute, "format=openai", `{"messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":{"city":"Paris"}}}]}]}`},
		{messagesRoute, "format=openai", `{"messages":[{"role":"user","content":5}]}`},
		{messagesRoute, "", `{"messages":{"role":"user","content":[{"text":"hi"}]}}`},
		{messagesRoute, "", `{"message":[]}`},
		{contextRoute, "", `{"current_messages":[{"role":"user","content":[{"text":"hi"}]}],"last_k":-1}`},
		{contextRoute, "format=openai", `{"current_messages":[{"role":"tool","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,"}}]}]}`},
	} {
		if r := a.exchange(t, f, "POST", c.route, "h", c.query, c.body, false); r.code != 400 {
			t.Errorf("%s?%s %s: %d %s, want 400", c.route, c.query, c.body, r.code, r.body)
		}
	}
}

// TestOpenAPIExamples checks every example in the document against its
// schema.
func TestOpenAPIExamples(t *testing.T) {
	a := loadAPISchemas(t)
	n := 0
	var walk func(v any, ptr string)
	walk = func(v any, ptr string) {
		switch v := v.(type) {
		case map[string]any:
			schemaPtr := ptr // a schema's own example
			if _, ok := v["schema"]; ok {
				schemaPtr = ptr + "/schema" // a media type's or a parameter's
			}
			var examples []any
			if e, ok := v["example"]; ok {
				examples = append(examples, e)
			}
			if es, ok := v["examples"].(map[string]any); ok {
				for _, e := range es {
					examples = append(examples, e.(map[string]any)["value"])
				}
			}
			for _, e := range examples {
				b, _ := json.Marshal(e)
				if err := valid(a.schema(t, schemaPtr), b); err != nil {
					t.Errorf("the example at %s does not validate: %v\n%s", ptr, err, b)
				}
				n++
			}
			for k, e := range v {
				if k != "example" && k != "examples" {
					walk(e, ptr+pointer(k))
				}
			}
		case []any:
			for i, e := range v {
				walk(e, ptr+"/"+strconv.Itoa(i))
			}
		}
	}
	walk(a.doc, "")
	if n < 10 {
		t.Errorf("only %d examples checked", n)
	}
}

// TestOpenAPIErrorDocs checks that the document describes the error codes
// and headers of docs/SERVER.md where each can happen: the idempotent
// write's header, codes and replay header, the 403s of every route (a
// foreign Host on all, a page of another site on those that are not GET, a
// read-only token on those that change data), 401 on /metrics, 415 on the
// routes with a body, and Retry-After on every 503.
func TestOpenAPIErrorDocs(t *testing.T) {
	a := loadAPISchemas(t)
	documents := func(method, route string, status int, codes ...string) {
		t.Helper()
		v, _, ok := a.lookup("paths", route, strings.ToLower(method), "responses", strconv.Itoa(status))
		if !ok {
			t.Errorf("%s %s: no %d answer", method, route, status)
			return
		}
		desc, _ := v.(map[string]any)["description"].(string)
		for _, c := range codes {
			if !strings.Contains(desc, c) {
				t.Errorf("%s %s: the %d answer does not name %s: %q", method, route, status, c, desc)
			}
		}
	}
	for _, rt := range routes {
		p := strings.TrimSuffix(rt.path, "{$}")
		documents(rt.method, p, 403, "forbidden_host")
		if rt.method != "GET" {
			documents(rt.method, p, 403, "cross_origin")
		}
		if rt.auth {
			documents(rt.method, p, 401, "unauthorized")
		}
		if strings.HasPrefix(p, "/v1/") {
			documents(rt.method, p, 503, "store_unavailable", "store_timeout")
		}
		if strings.HasPrefix(p, "/openai/") {
			// OpenAI's routes: every error in OpenAI's envelope, and
			// the 503s an SDK retries by itself, or (a change that may
			// have been stored) is told not to.
			documents(rt.method, p, 503, "store_unavailable", "store_timeout", "overloaded")
			if rt.write {
				documents(rt.method, p, 503, "outcome_unknown", "X-Should-Retry")
				if _, _, ok := a.lookup("paths", p, strings.ToLower(rt.method), "responses", "503", "headers", "X-Should-Retry"); !ok {
					t.Errorf("%s %s: the 503 answer does not document X-Should-Retry", rt.method, p)
				}
			}
			resps, _, _ := a.lookup("paths", p, strings.ToLower(rt.method), "responses")
			for status := range resps.(map[string]any) {
				if status[0] == '2' {
					continue
				}
				if _, ptr, ok := a.lookup("paths", p, strings.ToLower(rt.method), "responses", status, "content", "application/json", "schema"); !ok || ptr != "/components/schemas/OpenAIError" {
					t.Errorf("%s %s: the %s answer's schema is %q, want OpenAI's envelope", rt.method, p, status, ptr)
				}
			}
		}
		if rt.write {
			documents(rt.method, p, 403, "forbidden:")
		}
	}
	documents("GET", "/metrics", 401, "unauthorized")
	documents("POST", messagesRoute, 400, "invalid_idempotency_key", "invalid_message", "too_many_messages")
	documents("POST", messagesRoute, 422, "idempotency_key_reused")
	documents("POST", messagesRoute, 501, "not_supported")
	documents("POST", messagesRoute, 503, "outcome_unknown", "overloaded")
	documents("POST", contextRoute, 503, "overloaded")
	for _, route := range []string{messagesRoute, contextRoute} {
		documents("POST", route, 413, "body_too_large")
		documents("POST", route, 415, "unsupported_media_type")
	}
	documents("GET", messagesRoute, 400, "response_too_large", "invalid_range")
	documents("POST", contextRoute, 400, "response_too_large")

	// Every 503 says when to retry.
	paths, _ := a.doc.(map[string]any)["paths"].(map[string]any)
	n := 0
	for route, ops := range paths {
		for method := range ops.(map[string]any) {
			if v, _, ok := a.lookup("paths", route, method, "responses", "503"); ok {
				n++
				if h, _ := v.(map[string]any)["headers"].(map[string]any); h["Retry-After"] == nil {
					t.Errorf("%s %s: a 503 without Retry-After", method, route)
				}
			}
		}
	}
	if n < 8 {
		t.Errorf("only %d routes document a 503", n)
	}

	// The write's Idempotency-Key header, what it takes, and the replay
	// header of its answer.
	params, _, _ := a.lookup("paths", messagesRoute, "post", "parameters")
	var key map[string]any
	for i := range params.([]any) {
		p, _, _ := a.lookup("paths", messagesRoute, "post", "parameters", strconv.Itoa(i))
		if m := p.(map[string]any); m["name"] == "Idempotency-Key" && m["in"] == "header" && m["required"] == false {
			key = m
		}
	}
	if key == nil {
		t.Fatal("POST messages has no optional Idempotency-Key header")
	}
	keySchema := a.schema(t, "/components/parameters/Idempotency-Key/schema")
	for _, c := range []struct {
		key   string
		valid bool
	}{
		{"5f0c2a8e-3d1b-4c7a-9e62-1b8f4d0a7c35", true}, {"x", true}, {strings.Repeat("k", 255), true},
		{"!~", true}, {"", false}, {strings.Repeat("k", 256), false}, {"two words", false},
		{"tab\there", false}, {"clé", false},
	} {
		b, _ := json.Marshal(c.key)
		if err := valid(keySchema, b); (err == nil) != c.valid {
			t.Errorf("Idempotency-Key %q: valid %v, want %v", c.key, err == nil, c.valid)
		}
	}
	if _, _, ok := a.lookup("paths", messagesRoute, "post", "responses", "200", "headers", "Idempotent-Replayed"); !ok {
		t.Error("the write's 200 answer does not document Idempotent-Replayed")
	}
}

// TestOpenAPIErrorAnswers provokes the server's newer answers (an
// idempotent write and its replay, a reused or malformed key, a body
// without a type, a foreign Host, a page of another site, /metrics without
// a token, an answer over the response limit) and checks each against the
// document: its status is listed for the route, with the error's code, its
// body matches the schema, and its headers are documented.
func TestOpenAPIErrorAnswers(t *testing.T) {
	a := loadAPISchemas(t)
	tokens, err := ParseTokens(strings.NewReader("acme acme-token-0123456789\n"))
	if err != nil {
		t.Fatal(err)
	}
	open, _ := newTestServer(t, "memory://", &Options{MaxResponseBytes: 2000})
	closed, _ := newTestServer(t, "memory://", &Options{Tokens: tokens})
	write := `{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`
	for _, c := range []struct {
		srv                  *Server
		method, route, query string
		body                 string
		header               []string // name, value, ...; a value of "-" deletes
		host                 string
		status               int
		code                 string // the error's, or "replayed"
	}{
		{open, "POST", messagesRoute, "", write, []string{"Idempotency-Key", "k-1"}, "", 200, ""},
		{open, "POST", messagesRoute, "", write, []string{"Idempotency-Key", "k-1"}, "", 200, "replayed"},
		{open, "POST", messagesRoute, "", `{"messages":[{"role":"user","content":[{"text":"other"}]}]}`, []string{"Idempotency-Key", "k-1"}, "", 422, "idempotency_key_reused"},
		{open, "POST", messagesRoute, "", write, []string{"Idempotency-Key", "two words"}, "", 400, "invalid_idempotency_key"},
		{open, "POST", messagesRoute, "", write, []string{"Content-Type", "-"}, "", 415, "unsupported_media_type"},
		{open, "POST", contextRoute, "", `{}`, []string{"Content-Type", "-"}, "", 415, "unsupported_media_type"},
		{open, "GET", "/v1/histories", "", "", nil, "chat.example.com", 403, "forbidden_host"},
		{open, "GET", "/healthz", "", "", nil, "chat.example.com", 403, "forbidden_host"},
		{open, "POST", messagesRoute, "", write, []string{"Sec-Fetch-Site", "cross-site"}, "", 403, "cross_origin"},
		{open, "DELETE", "/v1/histories", "", "", []string{"Origin", "https://evil.example"}, "", 403, "cross_origin"},
		{closed, "GET", "/metrics", "", "", nil, "", 401, "unauthorized"},
		{open, "POST", messagesRoute, "", `{"messages":[{"role":"user","content":[{"text":"` + strings.Repeat("x", 3000) + `"}]}]}`, nil, "", 200, ""},
		{open, "GET", messagesRoute, "last_k=all", "", nil, "", 400, "response_too_large"},
		{open, "GET", messagesRoute, "last_k=all&format=openai", "", nil, "", 400, "response_too_large"},
		{open, "GET", "/v1/search", "q=hi", "", nil, "", 200, ""},
		{open, "GET", "/v1/search", "q=%22x+y%22+-hi&limit=1&role=user&since=2000-01-01T00:00:00Z", "", nil, "", 200, ""},
		{open, "GET", "/v1/search", "q=-hi", "", nil, "", 400, "invalid_query"},
		{open, "GET", "/v1/search", "q=hi&cursor=x", "", nil, "", 400, "invalid_cursor"},
	} {
		target := strings.ReplaceAll(c.route, "{history_id}", "h")
		if c.query != "" {
			target += "?" + c.query
		}
		var body io.Reader
		if c.body != "" {
			body = strings.NewReader(c.body)
		}
		req := httptest.NewRequest(c.method, target, body)
		req.Host = "127.0.0.1:8080"
		if c.host != "" {
			req.Host = c.host
		}
		if c.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		for i := 0; i+1 < len(c.header); i += 2 {
			if c.header[i+1] == "-" {
				req.Header.Del(c.header[i])
			} else {
				req.Header.Set(c.header[i], c.header[i+1])
			}
		}
		rec := httptest.NewRecorder()
		c.srv.ServeHTTP(rec, req)
		r := reply{rec.Code, rec.Header(), rec.Body.Bytes()}
		if r.code != c.status {
			t.Errorf("%s %s %v: %d %s, want %d %s", c.method, target, c.header, r.code, r.body, c.status, c.code)
			continue
		}
		desc := a.answer(t, c.method, c.route, target, r)
		if c.code == "replayed" {
			if r.header.Get("Idempotent-Replayed") != "true" {
				t.Errorf("a write replayed without Idempotent-Replayed: true: %v", r.header)
			}
			continue
		}
		if c.code != "" && (r.errorCode(t) != c.code || !strings.Contains(desc, c.code)) {
			t.Errorf("%s %s: code %s; the document's %d answer says %q", c.method, target, r.errorCode(t), r.code, desc)
		}
	}
}
