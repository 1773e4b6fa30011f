package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/driver"
	_ "github.com/chatstore/chatstore/memstore"
)

var quiet = slog.New(slog.DiscardHandler)

type fixture struct {
	t     *testing.T
	store *chatstore.Store
	srv   *Server
}

func newFixture(t *testing.T, storeURL string, opts *Options) *fixture {
	t.Helper()
	srv, st := newTestServer(t, storeURL, opts)
	return &fixture{t: t, store: st, srv: srv}
}

// newTestServer opens a store and a quiet Server over it; the store is
// closed when the test (or fuzz target) ends.
func newTestServer(tb testing.TB, storeURL string, opts *Options) (*Server, *chatstore.Store) {
	tb.Helper()
	st, err := chatstore.Open(context.Background(), storeURL, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return newServerOn(tb, st, opts), st
}

// newServerOn is a Server over st with opts, quiet unless opts has a
// Logger.
func newServerOn(tb testing.TB, st *chatstore.Store, opts *Options) *Server {
	tb.Helper()
	o := Options{}
	if opts != nil {
		o = *opts
	}
	if o.Logger == nil {
		o.Logger = quiet
	}
	srv, err := New(st, &o)
	if err != nil {
		tb.Fatal(err)
	}
	return srv
}

type reply struct {
	code   int
	header http.Header
	body   []byte
}

func (r reply) json(t *testing.T) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("response is not a JSON object: %v: %q", err, r.body)
	}
	return v
}

// errorCode checks the error shape and returns the code.
func (r reply) errorCode(t *testing.T) string {
	t.Helper()
	v := r.json(t)
	e, ok := v["error"].(map[string]any)
	if !ok {
		t.Fatalf("no error object in %s", r.body)
	}
	code, _ := e["code"].(string)
	msg, _ := e["message"].(string)
	if code == "" || msg == "" {
		t.Fatalf("error without code or message: %s", r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type %q", ct)
	}
	return code
}

func (f *fixture) do(method, target, body string, header ...string) reply {
	f.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	req.Host = "127.0.0.1" // httptest says example.com, which a server without tokens refuses
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	f.srv.ServeHTTP(rec, req)
	return reply{rec.Code, rec.Header(), rec.Body.Bytes()}
}

func messagesPath(id string) string { return "/v1/histories/" + url.PathEscape(id) + "/messages" }

func body(msgs ...chat.Message) string {
	b, err := json.Marshal(map[string]any{"messages": msgs})
	if err != nil {
		panic(err)
	}
	return string(b)
}

func replyMessages(t *testing.T, r reply) []chat.Message {
	t.Helper()
	if r.code != 200 {
		t.Fatalf("status %d: %s", r.code, r.body)
	}
	var v struct {
		Messages json.RawMessage `json:"messages"`
	}
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatal(err)
	}
	msgs, err := chat.UnmarshalList(v.Messages)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

func text(m chat.Message) string { s, _ := m.Text(); return s }

var call = chat.ToolCall{ID: chat.Ptr("call_1"), ToolName: "get_weather", Arguments: map[string]any{"city": "Paris"}}

func conversation() []chat.Message {
	return []chat.Message{
		chat.User("Hi"),
		chat.Assistant("Hello!"),
		chat.User("Weather in Paris?"),
		chat.Assistant("", call),
		chat.Tool("22 °C", call, false),
		chat.Assistant("22 °C and sunny."),
	}
}

func TestWriteReadCountDelete(t *testing.T) {
	f := newFixture(t, "memory://", nil)
	r := f.do("POST", messagesPath("s/1"), body(conversation()...))
	if r.code != 200 || string(r.body) != `{"messages_written":6}`+"\n" {
		t.Fatalf("write: %d %s", r.code, r.body)
	}
	// A retry writes nothing: the messages now have ids.
	got := replyMessages(t, f.do("GET", messagesPath("s/1")+"?last_k=all", ""))
	if len(got) != 6 {
		t.Fatalf("read %d messages", len(got))
	}
	if r := f.do("POST", messagesPath("s/1"), body(got...)); string(r.body) != `{"messages_written":0}`+"\n" {
		t.Errorf("rewrite: %s", r.body)
	}
	// last_k counts rounds: the last round is the tool call, its result and
	// the answer.
	last := replyMessages(t, f.do("GET", messagesPath("s/1")+"?last_k=1", ""))
	if len(last) != 4 || text(last[0]) != "Weather in Paris?" {
		t.Errorf("last_k=1: %v", last)
	}
	if n := len(replyMessages(t, f.do("GET", messagesPath("s/1")+"?last_k=0", ""))); n != 0 {
		t.Errorf("last_k=0 returned %d", n)
	}
	if n := len(replyMessages(t, f.do("GET", messagesPath("unknown"), ""))); n != 0 {
		t.Errorf("unknown history returned %d", n)
	}
	r = f.do("GET", "/v1/histories/s%2F1", "")
	// The tokens of the messages rendered together, by the store's counter.
	head := fmt.Sprintf(`{"chat_history_id":"s/1","count":6,"tokens":%d,"created_at":"`, f.store.Meter().Count(conversation(), nil))
	if r.code != 200 || !strings.HasPrefix(string(r.body), head) || !strings.HasSuffix(string(r.body), `"metadata":{}}`+"\n") {
		t.Errorf("count: %d %s", r.code, r.body)
	}
	if r := f.do("DELETE", "/v1/histories/s%2F1", ""); r.code != 204 || len(r.body) != 0 {
		t.Errorf("delete: %d %s", r.code, r.body)
	}
	if n, _ := f.store.Count(context.Background(), "s/1"); n != 0 {
		t.Errorf("count after delete: %d", n)
	}
}

func TestStoreDefaultLastK(t *testing.T) {
	f := newFixture(t, "memory://?last_k=1&skip_system_messages=false", nil)
	f.do("POST", messagesPath("h"), body(append([]chat.Message{chat.System("sys")}, conversation()...)...))
	if n := len(replyMessages(t, f.do("GET", messagesPath("h"), ""))); n != 4 {
		t.Errorf("store default last_k=1 returned %d messages, want 4", n)
	}
	if n := len(replyMessages(t, f.do("GET", messagesPath("h")+"?last_k=all", ""))); n != 7 {
		t.Errorf("last_k=all returned %d messages, want 7 (system kept)", n)
	}
}

func TestOpenAIFormat(t *testing.T) {
	f := newFixture(t, "memory://", nil)
	in := `{"messages":[
		{"role":"developer","content":"Be brief."},
		{"role":"user","content":"Weather?"},
		{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"w","arguments":"{\"city\": \"Paris\"}"}}]},
		{"role":"tool","tool_call_id":"c1","content":"sunny"},
		{"role":"assistant","content":"Sunny."}]}`
	r := f.do("POST", messagesPath("o")+"?format=openai", in)
	if string(r.body) != `{"messages_written":4}`+"\n" { // developer → system, skipped
		t.Fatalf("write openai: %d %s", r.code, r.body)
	}
	msgs := replyMessages(t, f.do("GET", messagesPath("o")+"?last_k=all", ""))
	if msgs[1].Role != chat.RoleAssistant || len(msgs[1].ToolCalls()) != 1 || msgs[1].ToolCalls()[0].Arguments["city"] != "Paris" {
		t.Errorf("tool call not converted: %+v", msgs[1])
	}
	r = f.do("GET", messagesPath("o")+"?last_k=all&format=openai", "")
	var out struct{ Messages []map[string]any }
	if err := json.Unmarshal(r.body, &out); err != nil || len(out.Messages) != 4 {
		t.Fatalf("read openai: %v %s", err, r.body)
	}
	if out.Messages[2]["role"] != "tool" || out.Messages[2]["tool_call_id"] != "c1" || out.Messages[2]["content"] != "sunny" {
		t.Errorf("tool message in OpenAI format: %v", out.Messages[2])
	}
	// A tool call without an id converts unless ids are required.
	noID := chat.ToolCall{ToolName: "w"}
	f.do("POST", messagesPath("noid"), body(chat.Assistant("", noID)))
	if r := f.do("GET", messagesPath("noid")+"?format=openai", ""); r.code != 200 {
		t.Errorf("no id, ids not required: %d %s", r.code, r.body)
	}
	r = f.do("GET", messagesPath("noid")+"?format=openai&require_tool_call_ids=true", "")
	if r.code != 400 || r.errorCode(t) != "not_convertible" || !strings.Contains(string(r.body), "messages[0]") {
		t.Errorf("no id, ids required: %d %s", r.code, r.body)
	}
}

func TestContext(t *testing.T) {
	f := newFixture(t, "memory://", nil)
	f.do("POST", messagesPath("c"), body(conversation()...))
	cur := `[{"role":"system","meta":{},"name":null,"content":[{"text":"Be brief."}]},{"role":"user","meta":{},"name":null,"content":[{"text":"And tomorrow?"}]}]`
	got := replyMessages(t, f.do("POST", "/v1/histories/c/context", `{"current_messages":`+cur+`,"last_k":1}`))
	var texts []string
	for _, m := range got {
		texts = append(texts, string(m.Role)+":"+text(m))
	}
	want := []string{"system:Be brief.", "user:Weather in Paris?", "assistant:", "tool:", "assistant:22 °C and sunny.", "user:And tomorrow?"}
	if !slices.Equal(texts, want) {
		t.Errorf("context:\n got %q\nwant %q", texts, want)
	}
	if n := len(replyMessages(t, f.do("POST", "/v1/histories/c/context", `{}`))); n != 6 {
		t.Errorf("empty context request returned %d, want the whole (default last_k) history", n)
	}
	if n := len(replyMessages(t, f.do("POST", "/v1/histories/c/context", `{"last_k": "all", "current_messages": null}`))); n != 6 {
		t.Errorf("last_k all returned %d", n)
	}
	if n := len(replyMessages(t, f.do("POST", "/v1/histories/c/context", `{"last_k":0}`))); n != 0 {
		t.Errorf("last_k 0 returned %d", n)
	}
	if c, _ := f.store.Count(context.Background(), "c"); c != 6 {
		t.Errorf("context wrote to the store: count %d", c)
	}
}

func TestListHistories(t *testing.T) {
	f := newFixture(t, "memory://", nil)
	for i := range 5 {
		f.do("POST", messagesPath(fmt.Sprintf("h%d", i)), body(conversation()[:i+1]...))
	}
	var ids []string
	cursor := ""
	for pages := 0; ; pages++ {
		target := "/v1/histories?limit=2"
		if cursor != "" {
			target += "&cursor=" + url.QueryEscape(cursor)
		}
		r := f.do("GET", target, "")
		var page struct {
			Histories []struct {
				ID    string `json:"chat_history_id"`
				Count int    `json:"count"`
			}
			NextCursor *string `json:"next_cursor"`
		}
		if err := json.Unmarshal(r.body, &page); err != nil || r.code != 200 {
			t.Fatalf("%d %s", r.code, r.body)
		}
		for _, h := range page.Histories {
			ids = append(ids, fmt.Sprintf("%s=%d", h.ID, h.Count))
		}
		if page.NextCursor == nil {
			break
		}
		cursor = *page.NextCursor
		if pages > 5 {
			t.Fatal("listing does not end")
		}
	}
	if want := []string{"h0=1", "h1=2", "h2=3", "h3=4", "h4=5"}; !slices.Equal(ids, want) {
		t.Errorf("listing %q, want %q", ids, want)
	}
	if r := f.do("DELETE", "/v1/histories", ""); r.code != 204 {
		t.Errorf("delete all: %d", r.code)
	}
	if r := f.do("GET", "/v1/histories", ""); string(r.body) != `{"histories":[],"next_cursor":null}`+"\n" {
		t.Errorf("after delete all: %s", r.body)
	}
}

// TestListPrefix lists the histories whose ids start with a prefix, page
// by page, as the web page's search does, and refuses prefixes no id has.
func TestListPrefix(t *testing.T) {
	f := newFixture(t, "memory://", nil)
	for _, id := range []string{"a", "support/1", "support/2", "support/3", "supports", "z"} {
		f.do("POST", messagesPath(id), body(chat.User("hi")))
	}
	var got []string
	cursor := ""
	for range 10 {
		target := "/v1/histories?limit=2&prefix=support%2F"
		if cursor != "" {
			target += "&cursor=" + url.QueryEscape(cursor)
		}
		var page struct {
			Histories []struct {
				ID string `json:"chat_history_id"`
			}
			NextCursor *string `json:"next_cursor"`
		}
		r := f.do("GET", target, "")
		if err := json.Unmarshal(r.body, &page); err != nil || r.code != 200 {
			t.Fatalf("%d %s", r.code, r.body)
		}
		for _, h := range page.Histories {
			got = append(got, h.ID)
		}
		if page.NextCursor == nil {
			break
		}
		cursor = *page.NextCursor
	}
	if !slices.Equal(got, []string{"support/1", "support/2", "support/3"}) {
		t.Errorf("prefix support/: %v", got)
	}
	for _, bad := range []string{"a%00", "%FF", strings.Repeat("x", 300)} {
		if r := f.do("GET", "/v1/histories?prefix="+bad, ""); r.code != 400 || r.errorCode(t) != "invalid_query" {
			t.Errorf("prefix %.20q: %d %s", bad, r.code, r.body)
		}
	}
}

// TestErrors sends a request for every error the API documents.
func TestErrors(t *testing.T) {
	f := newFixture(t, "memory://", &Options{MaxBodyBytes: 1 << 10, MaxWriteMessages: 3, MaxHistoryIDLen: 10})
	user := `{"role":"user","meta":{},"name":null,"content":[{"text":"hi"}]}`
	cases := []struct {
		name, method, target, body, ctype string
		status                            int
		code, mention                     string
	}{
		{"bad JSON", "POST", "/v1/histories/h/messages", `{"messages":[`, "", 400, "invalid_json", "at byte"},
		{"empty body", "POST", "/v1/histories/h/messages", ``, "", 400, "invalid_json", "empty"},
		{"not an object", "POST", "/v1/histories/h/messages", `[]`, "", 400, "invalid_request", "body must be an object"},
		{"no messages", "POST", "/v1/histories/h/messages", `{}`, "", 400, "invalid_request", `"messages"`},
		{"unknown member", "POST", "/v1/histories/h/messages", `{"messages":[],"extra":1}`, "", 400, "invalid_request", `"extra"`},
		{"duplicate member", "POST", "/v1/histories/h/messages", `{"messages":[],"messages":[]}`, "", 400, "invalid_json", "messages"},
		{"messages not a list", "POST", "/v1/histories/h/messages", `{"messages":{}}`, "", 400, "invalid_message", "messages: must be an array"},
		{"bad role", "POST", "/v1/histories/h/messages", `{"messages":[` + user + `,{"role":"robot","content":[]}]}`, "", 400, "invalid_message", "messages[1]"},
		{"bad part", "POST", "/v1/histories/h/messages", `{"messages":[{"role":"user","content":[{"text":5}]}]}`, "", 400, "invalid_message", "messages[0].content[0].text"},
		{"invalid UTF-8", "POST", "/v1/histories/h/messages", "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"\xff\"}]}]}", "", 400, "invalid_json", "UTF-8"},
		{"too many", "POST", "/v1/histories/h/messages", `{"messages":[` + strings.Repeat(user+",", 3) + user + `]}`, "", 400, "too_many_messages", "limit is 3"},
		{"too large", "POST", "/v1/histories/h/messages", `{"messages":[` + strings.Repeat(" ", 2000) + `]}`, "", 413, "body_too_large", "1 KiB"},
		{"not JSON", "POST", "/v1/histories/h/messages", `{"messages":[]}`, "text/plain", 415, "unsupported_media_type", "text/plain"},
		{"form", "POST", "/v1/histories/h/context", `a=b`, "application/x-www-form-urlencoded", 415, "unsupported_media_type", ""},
		{"bad last_k", "GET", "/v1/histories/h/messages?last_k=-1", "", "", 400, "invalid_last_k", "-1"},
		{"last_k word", "GET", "/v1/histories/h/messages?last_k=many", "", "", 400, "invalid_last_k", "many"},
		{"context last_k", "POST", "/v1/histories/h/context", `{"last_k":-2}`, "", 400, "invalid_last_k", ""},
		{"context last_k float", "POST", "/v1/histories/h/context", `{"last_k":1.5}`, "", 400, "invalid_last_k", ""},
		{"context last_k bool", "POST", "/v1/histories/h/context", `{"last_k":true}`, "", 400, "invalid_last_k", ""},
		{"context bad current", "POST", "/v1/histories/h/context", `{"current_messages":[{"role":1}]}`, "", 400, "invalid_message", "current_messages[0]"},
		{"unknown param", "GET", "/v1/histories/h/messages?last-k=2", "", "", 400, "invalid_query", `"last-k"`},
		{"repeated param", "GET", "/v1/histories/h/messages?last_k=2&last_k=3", "", "", 400, "invalid_query", "2 times"},
		{"bad format", "GET", "/v1/histories/h/messages?format=xml", "", "", 400, "invalid_format", "xml"},
		{"ids flag without openai", "GET", "/v1/histories/h/messages?require_tool_call_ids=true", "", "", 400, "invalid_query", "format=openai"},
		{"long id", "GET", "/v1/histories/" + strings.Repeat("x", 11), "", "", 400, "invalid_history_id", "limit is 10"},
		{"NUL in id", "GET", "/v1/histories/a%00b", "", "", 400, "invalid_history_id", ""},
		{"bad UTF-8 id", "GET", "/v1/histories/a%FFb", "", "", 400, "invalid_history_id", ""},
		{"bad limit", "GET", "/v1/histories?limit=0", "", "", 400, "invalid_limit", ""},
		{"bad cursor", "GET", "/v1/histories?cursor=nope", "", "", 400, "invalid_cursor", ""},
		{"query on delete", "DELETE", "/v1/histories?force=1", "", "", 400, "invalid_query", `unknown query parameter "force"`},
		{"unknown route", "GET", "/v2/histories", "", "", 404, "not_found", "/v2/histories"},
		{"unknown top-level path", "GET", "/index.php", "", "", 404, "not_found", ""},
		{"unknown route under a history", "GET", "/v1/histories/session%2F7/summary", "", "", 404, "not_found", "GET /v1/histories/session%2F7/summary"},
		{"non-canonical path", "GET", "/v1//histories", "", "", 404, "not_found", "/v1//histories"},
		{"dot segment after the id", "GET", "/v1/histories/a/../b", "", "", 404, "not_found", "/v1/histories/a/../b"},
		{"trailing slash", "GET", "/v1/histories/a/", "", "", 404, "not_found", ""},
		{"unknown asset", "GET", "/assets/nothing.js", "", "", 404, "not_found", ""},
		{"the page is only GET", "POST", "/", "", "", 405, "method_not_allowed", ""},
		{"method", "PUT", "/v1/histories/h/messages", "", "", 405, "method_not_allowed", "GET, POST"},
		{"method on list", "POST", "/v1/histories", "{}", "", 405, "method_not_allowed", "GET, DELETE"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var rd io.Reader = strings.NewReader(c.body)
			req := httptest.NewRequest(c.method, c.target, rd)
			req.Host = "127.0.0.1" // httptest says example.com, which a server without tokens refuses
			ct := c.ctype
			if ct == "" {
				ct = "application/json"
			}
			req.Header.Set("Content-Type", ct)
			rec := httptest.NewRecorder()
			f.srv.ServeHTTP(rec, req)
			r := reply{rec.Code, rec.Header(), rec.Body.Bytes()}
			if r.code != c.status {
				t.Fatalf("status %d, want %d: %s", r.code, c.status, r.body)
			}
			if code := r.errorCode(t); code != c.code {
				t.Errorf("code %q, want %q: %s", code, c.code, r.body)
			}
			if msg := r.json(t)["error"].(map[string]any)["message"].(string); !strings.Contains(msg, c.mention) {
				t.Errorf("message does not mention %q: %s", c.mention, r.body)
			}
			if c.status == 405 && r.header.Get("Allow") == "" {
				t.Error("405 without Allow")
			}
		})
	}
	if n, _ := f.store.Count(context.Background(), "h"); n != 0 {
		t.Errorf("a refused request wrote %d messages", n)
	}
}

// failing is a driver whose every call fails as an unreachable backend does.
type failing struct{ driver.Store }

var errDown = fmt.Errorf("failing: %w: connection refused", chatstore.ErrUnavailable)

func (failing) Count(context.Context, string) (int64, error)                { return 0, errDown }
func (failing) Write(context.Context, string, []driver.Record) (int, error) { return 0, errDown }
func (failing) Tail(context.Context, string, int) ([]driver.Message, error) { return nil, errDown }
func (failing) List(context.Context, string, int) ([]driver.History, error) { return nil, errDown }
func (failing) Delete(context.Context, string) error                        { return errDown }
func (failing) DeleteAll(context.Context) error                             { return errDown }
func (failing) Ping(context.Context) error                                  { return errDown }
func (failing) Close() error                                                { return nil }

func TestStoreUnavailable(t *testing.T) {
	st, err := chatstore.New(failing{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := New(st, &Options{Logger: quiet})
	f := &fixture{t: t, store: st, srv: srv}
	for _, rq := range [][2]string{{"GET", messagesPath("h")}, {"POST", messagesPath("h")}, {"GET", "/v1/histories/h"}, {"DELETE", "/v1/histories"}, {"GET", "/v1/histories"}} {
		b := ""
		if rq[0] == "POST" {
			b = body(chat.User("hi"))
		}
		r := f.do(rq[0], rq[1], b)
		if r.code != 503 || r.errorCode(t) != "store_unavailable" || r.header.Get("Retry-After") != "1" {
			t.Errorf("%s %s: %d %s, Retry-After %q", rq[0], rq[1], r.code, r.body, r.header.Get("Retry-After"))
		}
	}
	r := f.do("GET", "/healthz", "")
	if r.code != 503 || r.json(t)["status"] != "unavailable" {
		t.Errorf("healthz: %d %s", r.code, r.body)
	}
	st.Close()
	if r := f.do("GET", messagesPath("h"), ""); r.code != 503 {
		t.Errorf("closed store: %d %s", r.code, r.body)
	}
}

func TestHealthzAndMetrics(t *testing.T) {
	f := newFixture(t, "memory://", nil)
	if r := f.do("GET", "/healthz", ""); r.code != 200 || string(r.body) != `{"status":"ok"}`+"\n" {
		t.Errorf("healthz: %d %s", r.code, r.body)
	}
	f.do("POST", messagesPath("m"), body(conversation()...))
	f.do("GET", messagesPath("m"), "")
	f.do("GET", "/nope", "")
	r := f.do("GET", "/metrics", "")
	text := string(r.body)
	for _, want := range []string{
		// The client library writes labels sorted by name.
		`chatstore_http_requests_total{code="200",route="POST /v1/histories/{history_id}/messages"} 1`,
		`chatstore_http_requests_total{code="404",route="unmatched"} 1`,
		`chatstore_messages_written_total 6`,
		`chatstore_messages_read_total 6`,
		`chatstore_store_operation_duration_seconds_count{op="write",outcome="ok"} 1`,
		`chatstore_http_request_duration_seconds_bucket{route="GET /v1/histories/{history_id}/messages",le="+Inf"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s\n%s", want, text)
		}
	}
}

func TestAuthAndTenants(t *testing.T) {
	tokens, err := ParseTokens(strings.NewReader(`
# tenant token
alpha  alpha-token-0123456789
alpha  alpha-second-token-0123   # rotation: two tokens, one tenant
beta   beta-token-0123456789
viewer viewer-token-0123456789 read-only
`))
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, "memory://", &Options{Tokens: tokens})
	as := func(token string) []string { return []string{"Authorization", "Bearer " + token} }
	alpha, alpha2, beta, viewer := as("alpha-token-0123456789"), as("alpha-second-token-0123"), as("beta-token-0123456789"), as("viewer-token-0123456789")

	for _, h := range [][]string{nil, as("wrong-token-0123456789"), {"Authorization", "Basic YWxwaGE6eA=="}, {"Authorization", "Bearer "}} {
		r := f.do("GET", messagesPath("same"), "", h...)
		if r.code != 401 || r.errorCode(t) != "unauthorized" || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%v: %d %s", h, r.code, r.body)
		}
	}
	// Health, metrics and the API description need no token.
	if r := f.do("GET", "/healthz", ""); r.code != 200 {
		t.Errorf("healthz with tokens: %d", r.code)
	}

	// Two tenants, one history id: two histories.
	f.do("POST", messagesPath("same"), body(chat.User("from alpha")), alpha...)
	f.do("POST", messagesPath("same"), body(chat.User("from beta"), chat.Assistant("ok")), beta...)
	if got := replyMessages(t, f.do("GET", messagesPath("same"), "", alpha2...)); len(got) != 1 || text(got[0]) != "from alpha" {
		t.Errorf("alpha sees %v", got)
	}
	if got := replyMessages(t, f.do("GET", messagesPath("same"), "", beta...)); len(got) != 2 || text(got[0]) != "from beta" {
		t.Errorf("beta sees %v", got)
	}
	r := f.do("GET", "/v1/histories", "", beta...)
	if !strings.HasPrefix(string(r.body), `{"histories":[{"chat_history_id":"same","count":2,`) || strings.Count(string(r.body), "chat_history_id") != 1 {
		t.Errorf("beta's listing: %s", r.body)
	}
	if r := f.do("GET", "/v1/histories/same", "", alpha...); !strings.HasPrefix(string(r.body), `{"chat_history_id":"same","count":1,`) {
		t.Errorf("alpha's count: %s", r.body)
	}
	// A read-only token reads but cannot change anything.
	if r := f.do("GET", "/v1/histories", "", viewer...); r.code != 200 {
		t.Errorf("viewer list: %d", r.code)
	}
	for _, rq := range [][2]string{{"POST", messagesPath("v")}, {"DELETE", "/v1/histories/v"}, {"DELETE", "/v1/histories"}} {
		if r := f.do(rq[0], rq[1], body(chat.User("x")), viewer...); r.code != 403 || r.errorCode(t) != "forbidden" {
			t.Errorf("viewer %s %s: %d %s", rq[0], rq[1], r.code, r.body)
		}
	}
	// Deleting everything deletes only the caller's histories.
	f.do("POST", messagesPath("other"), body(chat.User("x")), alpha...)
	if r := f.do("DELETE", "/v1/histories", "", alpha...); r.code != 204 {
		t.Fatalf("alpha delete all: %d %s", r.code, r.body)
	}
	if n := len(replyMessages(t, f.do("GET", messagesPath("same"), "", beta...))); n != 2 {
		t.Errorf("alpha's delete-all removed beta's history (%d left)", n)
	}
	if r := f.do("GET", "/v1/histories", "", alpha...); string(r.body) != `{"histories":[],"next_cursor":null}`+"\n" {
		t.Errorf("alpha after delete all: %s", r.body)
	}
}

func TestParseTokensErrors(t *testing.T) {
	for _, c := range []struct{ in, mention string }{
		{"", "no tokens"},
		{"# only a comment\n", "no tokens"},
		{"alpha\n", "line 1"},
		{"alpha short\n", "at least 16"},
		{"al:pha token-0123456789abcdef\n", "letters"},
		{"a token-0123456789abcdef\nb token-0123456789abcdef\n", "line 2: the token of line 1"},
		{"a token-0123456789abcdef admin\n", "read-only"},
	} {
		_, err := ParseTokens(strings.NewReader(c.in))
		if !errors.Is(err, ErrTokens) || !strings.Contains(err.Error(), c.mention) {
			t.Errorf("%q: %v, want mention of %q", c.in, err, c.mention)
		}
		if err != nil && strings.Contains(err.Error(), "token-0123456789abcdef") {
			t.Errorf("error quotes the token: %v", err)
		}
	}
}

func TestOptions(t *testing.T) {
	st, _ := chatstore.Open(context.Background(), "memory://", nil)
	defer st.Close()
	for _, o := range []Options{{MaxBodyBytes: -1}, {MaxHistoryIDLen: MaxHistoryIDLen + 1}} {
		if _, err := New(st, &o); !errors.Is(err, chatstore.ErrInvalidOptions) {
			t.Errorf("%+v: %v", o, err)
		}
	}
}

// TestOpenAPI checks the document against the route table both ways and
// sends every example request in it to the server.
func TestOpenAPI(t *testing.T) {
	f := newFixture(t, "memory://", nil)
	r := f.do("GET", "/openapi.json", "")
	var doc struct {
		Paths map[string]map[string]json.RawMessage
	}
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			if method != "parameters" {
				documented[strings.ToUpper(method)+" "+path] = true
			}
		}
	}
	for _, rt := range routes {
		p := strings.TrimSuffix(rt.path, "{$}") // the mux's "exactly /" is OpenAPI's "/"
		if !documented[rt.method+" "+p] {
			t.Errorf("route %s %s is not in openapi.json", rt.method, p)
		}
		delete(documented, rt.method+" "+p)
	}
	for op := range documented {
		t.Errorf("openapi.json documents %s, which the server does not serve", op)
	}

	type example struct{ Value json.RawMessage }
	var full struct {
		Paths map[string]map[string]struct {
			RequestBody struct {
				Content map[string]struct {
					Examples map[string]example
				}
			}
		}
	}
	json.Unmarshal(r.body, &full)
	sent := 0
	for path, ops := range full.Paths {
		for method, op := range ops {
			for name, ex := range op.RequestBody.Content["application/json"].Examples {
				target := strings.ReplaceAll(path, "{history_id}", "session-42")
				if name == "openai" {
					target += "?format=openai"
				}
				// Accept is what an MCP client sends; the other routes
				// ignore it.
				r := f.do(strings.ToUpper(method), target, string(ex.Value), "Accept", "application/json, text/event-stream")
				if r.code != 200 {
					t.Errorf("example %q of %s %s: %d %s", name, method, path, r.code, r.body)
				}
				sent++
			}
		}
	}
	if sent < 3 {
		t.Errorf("only %d examples sent", sent)
	}
	if !bytes.Contains(r.body, []byte(`"openapi": "3.`)) {
		t.Error("not an OpenAPI 3 document")
	}
}

// TestSetTokens replaces the tokens of a running server; a server started
// without tokens refuses, since that would turn authentication on.
func TestSetTokens(t *testing.T) {
	first, _ := ParseTokens(strings.NewReader("acme first-token-0123456789\n"))
	second, _ := ParseTokens(strings.NewReader("acme second-token-012345678\n"))
	f := newFixture(t, "memory://", &Options{Tokens: first})
	get := func(token string) int {
		req := httptest.NewRequest("GET", "/v1/histories", nil)
		req.Host = "127.0.0.1" // httptest says example.com, which a server without tokens refuses
		req.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		f.srv.ServeHTTP(w, req)
		return w.Code
	}
	if get("first-token-0123456789") != 200 || get("second-token-012345678") != 401 {
		t.Fatal("tokens at start")
	}
	if err := f.srv.SetTokens(second); err != nil {
		t.Fatal(err)
	}
	if get("first-token-0123456789") != 401 || get("second-token-012345678") != 200 {
		t.Error("SetTokens did not replace the tokens")
	}
	if err := f.srv.SetTokens(nil); !errors.Is(err, ErrNoAuth) {
		t.Errorf("SetTokens(nil): %v", err)
	}
	open := newFixture(t, "memory://", nil)
	if err := open.srv.SetTokens(second); !errors.Is(err, ErrNoAuth) {
		t.Errorf("SetTokens on a server without tokens: %v", err)
	}
}

// TestReadRange pages through a history with offset and limit, in both
// formats, and refuses ranges that make no sense.
func TestReadRange(t *testing.T) {
	f := newFixture(t, "memory://", nil)
	var msgs []chat.Message
	for i := range 25 {
		msgs = append(msgs, chat.User(fmt.Sprint("q", i)), chat.Assistant(fmt.Sprint("a", i)))
	}
	f.do("POST", messagesPath("h"), body(msgs...))
	all := f.do("GET", messagesPath("h")+"?last_k=all", "")
	var whole struct{ Messages []json.RawMessage }
	json.Unmarshal(all.body, &whole)
	var paged []json.RawMessage
	for offset := 0; offset < 60; offset += 20 {
		r := f.do("GET", fmt.Sprintf("%s?offset=%d&limit=20", messagesPath("h"), offset), "")
		var page struct{ Messages []json.RawMessage }
		if err := json.Unmarshal(r.body, &page); err != nil || r.code != 200 {
			t.Fatalf("offset %d: %d %s", offset, r.code, r.body)
		}
		paged = append(paged, page.Messages...)
	}
	if len(paged) != 50 || len(whole.Messages) != 50 {
		t.Fatalf("%d messages paged, %d in all", len(paged), len(whole.Messages))
	}
	for i := range paged {
		if string(paged[i]) != string(whole.Messages[i]) {
			t.Fatalf("message %d differs:\n%s\n%s", i, paged[i], whole.Messages[i])
		}
	}
	if r := f.do("GET", messagesPath("h")+"?offset=48&format=openai", ""); r.code != 200 || string(r.body) != `{"messages":[{"role":"user","content":"q24"},{"role":"assistant","content":"a24"}]}`+"\n" {
		t.Errorf("openai range: %d %s", r.code, r.body)
	}
	if r := f.do("GET", messagesPath("h")+"?limit=3", ""); r.code != 200 || !bytes.Contains(r.body, []byte(`"q0"`)) || bytes.Contains(r.body, []byte(`"q2"`)) {
		t.Errorf("limit alone starts at 0: %d %s", r.code, r.body)
	}
	for _, c := range []struct{ query, code string }{
		{"offset=-1", "invalid_range"}, {"limit=0", "invalid_range"}, {"limit=1001", "invalid_range"},
		{"offset=%2B1", "invalid_range"}, {"offset=x", "invalid_range"}, {"offset=", "invalid_range"},
		{"offset=99999999999999999999", "invalid_range"}, {"offset=0&last_k=2", "invalid_query"},
	} {
		if r := f.do("GET", messagesPath("h")+"?"+c.query, ""); r.code != 400 || r.errorCode(t) != c.code {
			t.Errorf("%s: %d %s, want 400 %s", c.query, r.code, r.body, c.code)
		}
	}
}
