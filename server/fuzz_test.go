package server

// Fuzz targets for the server's request decoding: bodies, query strings and
// history ids go through the real handler, in process, over a memory store.
// Each target builds its server once (the fuzzer calls the function it
// passes to f.Fuzz many times in one process), so every check holds
// whatever earlier inputs left in the store.
//
//	go test ./server -run '^$' -fuzz '^FuzzWriteMessages$' -fuzztime 90s -parallel 2

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
)

// send serves one request. The query is set as it is, without parsing, so
// that any string reaches the handler; a non-nil body is sent as JSON.
func send(h http.Handler, method, path, rawQuery string, body []byte) reply {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	req.Host = "127.0.0.1" // httptest says example.com, which a server without tokens refuses
	req.URL.RawQuery = rawQuery
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return reply{rec.Code, rec.Header(), rec.Body.Bytes()}
}

// checkAnswer checks what every answer of the API must satisfy, whatever
// the request: no 5xx; a body, when there is one, that is valid UTF-8 JSON
// sent as application/json; and on every answer that is not 2xx exactly
// {"error":{"code":…,"message":…}} with a non-empty code and message. It
// reports whether the answer is a 2xx.
func checkAnswer(t *testing.T, what string, r reply) bool {
	t.Helper()
	if r.code >= 500 {
		t.Fatalf("%s: status %d (a server error): %q", what, r.code, r.body)
	}
	ok := r.code >= 200 && r.code < 300
	if r.code == http.StatusNoContent {
		if len(r.body) != 0 {
			t.Fatalf("%s: 204 with a body: %q", what, r.body)
		}
		return true
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s: status %d with Content-Type %q, want application/json; Location %q; body %q",
			what, r.code, ct, r.header.Get("Location"), r.body)
	}
	if !utf8.Valid(r.body) || !json.Valid(r.body) {
		t.Fatalf("%s: status %d, the body is not valid UTF-8 JSON: %q", what, r.code, r.body)
	}
	if ok {
		return true
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &top); err != nil || len(top) != 1 || top["error"] == nil {
		t.Fatalf("%s: status %d, the body is not {\"error\":{…}}: %q", what, r.code, r.body)
	}
	var e map[string]any
	if err := json.Unmarshal(top["error"], &e); err != nil || len(e) != 2 {
		t.Fatalf("%s: status %d, the error is not {\"code\",\"message\"}: %q", what, r.code, r.body)
	}
	code, _ := e["code"].(string)
	msg, _ := e["message"].(string)
	if code == "" || msg == "" {
		t.Fatalf("%s: status %d, the error lacks a code or a message: %q", what, r.code, r.body)
	}
	return false
}

// messagesOf returns the "messages" array of a 200 answer, which must be
// the answer's only member but, when windowed (a read of the last rounds,
// a context request), "window" (checkWindow).
func messagesOf(t *testing.T, what string, r reply, windowed bool) json.RawMessage {
	t.Helper()
	var top map[string]json.RawMessage
	if windowed {
		if err := json.Unmarshal(r.body, &top); err != nil || len(top) != 2 || top["window"] == nil {
			t.Fatalf("%s: the answer is not {\"messages\":[…],\"window\":{…}}: %q", what, r.body)
		}
		checkWindow(t, what, top["window"])
	} else if err := json.Unmarshal(r.body, &top); err != nil || len(top) != 1 {
		t.Fatalf("%s: the answer is not {\"messages\":[…]}: %q", what, r.body)
	}
	raw := top["messages"]
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil || list == nil {
		t.Fatalf("%s: \"messages\" is not an array: %q", what, r.body)
	}
	return raw
}

// storedMessages decodes a Haystack-format "messages" array the server
// wrote: every message decodes, re-encodes to valid JSON and carries a
// string id, and no two carry the same id.
func storedMessages(t *testing.T, what string, raw json.RawMessage) []chat.Message {
	t.Helper()
	msgs, err := chat.UnmarshalList(raw)
	if err != nil {
		t.Fatalf("%s: the server's messages do not decode: %v: %q", what, err, raw)
	}
	seen := make(map[string]int, len(msgs))
	for i, m := range msgs {
		b, err := m.AppendJSON(nil)
		if err != nil || !utf8.Valid(b) || !json.Valid(b) {
			t.Fatalf("%s: message %d does not re-encode to valid JSON: %v: %q", what, i, err, b)
		}
		id, ok := m.Meta[chatstore.MessageIDKey].(string)
		if !ok || id == "" {
			t.Fatalf("%s: message %d has no %s: %q", what, i, chatstore.MessageIDKey, b)
		}
		if j, dup := seen[id]; dup {
			t.Fatalf("%s: messages %d and %d have the same id %q", what, j, i, id)
		}
		seen[id] = i
	}
	return msgs
}

func storeCount(t *testing.T, st *chatstore.Store, id string) int {
	t.Helper()
	n, err := st.Count(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Seeds.

// chatSeeds returns the inputs of one of package chat's fixture files
// (Haystack's own decoding cases, valid and invalid), compacted.
func chatSeeds(f *testing.F, file string) []string {
	f.Helper()
	b, err := os.ReadFile("../chat/testdata/" + file)
	if err != nil {
		f.Fatal(err)
	}
	var cases []struct{ Input json.RawMessage }
	if err := json.Unmarshal(b, &cases); err != nil {
		f.Fatal(err)
	}
	out := make([]string, 0, len(cases))
	for _, c := range cases {
		var buf bytes.Buffer
		if err := json.Compact(&buf, c.Input); err != nil {
			f.Fatal(err)
		}
		out = append(out, buf.String())
	}
	return out
}

const (
	pngB64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"
	pdfB64 = "JVBERi0xLjQKMSAwIG9iajw8L1R5cGUvQ2F0YWxvZy9QYWdlcyAyIDAgUj4+ZW5kb2JqCjIgMCBvYmo8PC9UeXBlL1BhZ2VzL0tpZHNbXS9Db3VudCAwPj5lbmRvYmoKdHJhaWxlcjw8L1Jvb3QgMSAwIFI+PgolJUVPRgo="
)

// haystackMessages are whole conversations in Haystack's format, with every
// part type, names, meta and ids.
func haystackMessages() []string {
	everyPart, err := chat.UserParts(chat.Text{Text: "What is in these?"},
		chat.Image{Base64Image: pngB64, MimeType: "image/png", Detail: "low"},
		chat.File{Base64Data: pdfB64, MimeType: "application/pdf", Filename: "a.pdf"})
	if err != nil {
		panic(err)
	}
	listResult, err := chat.ToolParts([]chat.Part{chat.Text{Text: "22 °C"}, chat.Image{Base64Image: pngB64}}, call, false)
	if err != nil {
		panic(err)
	}
	convs := [][]chat.Message{
		conversation(),
		{chat.System("Be brief."), chat.User("Hi").WithName("ann"), chat.Assistant("Hello.").WithMeta("model", "gpt-4o")},
		{everyPart, chat.Assistant("A pixel and a PDF.").WithReasoning("Looked at both.")},
		{chat.Assistant("", call), listResult, chat.Tool("boom", call, true), chat.Assistant("Done.")},
		{chat.User("with id").WithMeta(chatstore.MessageIDKey, "m-1"), chat.User("same id").WithMeta(chatstore.MessageIDKey, "m-1")},
		{chat.User("null id").WithMeta(chatstore.MessageIDKey, nil)},
	}
	out := make([]string, 0, len(convs))
	for _, c := range convs {
		b, err := json.Marshal(c)
		if err != nil {
			panic(err)
		}
		out = append(out, string(b))
	}
	return out
}

// openAIMessages are conversations in OpenAI's format.
var openAIMessages = []string{
	`[{"role":"developer","content":"Be brief."},{"role":"user","content":"Weather?"},` +
		`{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"w","arguments":"{\"city\": \"Paris\"}"}}]},` +
		`{"role":"tool","tool_call_id":"c1","content":"sunny"},{"role":"assistant","content":"Sunny."}]`,
	`[{"role":"user","name":"ann","content":[{"type":"text","text":"What is this?"},` +
		`{"type":"image_url","image_url":{"url":"data:image/png;base64,` + pngB64 + `","detail":"low"}},` +
		`{"type":"file","file":{"file_data":"data:application/pdf;base64,` + pdfB64 + `","filename":"a.pdf"}}]}]`,
	`[{"role":"assistant","content":"","tool_calls":[{"type":"function","function":{"name":"t","arguments":""}}]},` +
		`{"role":"tool","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}]`,
	`[{"role":"system","content":"x"}]`,
}

// Targets.

// Limits small enough for the fuzzer to reach: 413 and too_many_messages.
const (
	fuzzMaxBody  = 64 << 10
	fuzzMaxWrite = 16
)

// FuzzWriteMessages posts any body with any query string to a write. A 200
// adds exactly the messages it reports, which read back as valid messages;
// any other answer is a well-formed error and writes nothing.
func FuzzWriteMessages(f *testing.F) {
	srv, st := newTestServer(f, "memory://", &Options{MaxBodyBytes: fuzzMaxBody, MaxWriteMessages: fuzzMaxWrite})
	for _, m := range chatSeeds(f, "haystack_decode.json") {
		f.Add([]byte(`{"messages":[`+m+`]}`), "")
	}
	for _, m := range chatSeeds(f, "openai_from.json") {
		f.Add([]byte(`{"messages":[`+m+`]}`), "format=openai")
	}
	for _, ms := range haystackMessages() {
		f.Add([]byte(`{"messages":`+ms+`}`), "")
		f.Add([]byte(`{"messages":`+ms+`}`), "format=haystack")
	}
	for _, ms := range openAIMessages {
		f.Add([]byte(`{"messages":`+ms+`}`), "format=openai")
		f.Add([]byte(`{"messages":`+ms+`}`), "") // OpenAI messages read as Haystack's
	}
	user := `{"role":"user","content":[{"text":"hi"}]}`
	for _, s := range []struct{ body, query string }{
		{`{"messages":[]}`, ""},
		{`{"messages":[` + strings.Repeat(user+",", fuzzMaxWrite) + user + `]}`, ""}, // one over the limit
		{`{"messages":[` + user + `]}`, "format=xml"},
		{`{"messages":[` + user + `]}`, "format=openai&format=openai"},
		{`{"messages":[` + user + `]}`, "last_k=1"},
		{`{"messages":[` + user + `]}`, "%zz"},
		{`{"messages":[` + user + `],"extra":1}`, ""},
		{`{"messages":[` + user + `],"messages":[]}`, ""},
		{`{"messages":null}`, ""},
		{`{"messages":{}}`, ""},
		{`{"messages":[` + user + `,{"role":"robot","content":[]}]}`, ""},
		{`{"messages":[{"role":"user","content":"hi","meta":{"chat_message_id":7}}]}`, ""},
		{"{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"\xff\"}]}]}", ""},
		{`{"messages":[`, ""},
		{`[]`, ""},
		{``, ""},
	} {
		f.Add([]byte(s.body), s.query)
	}
	const path = "/v1/histories/h/messages"
	f.Fuzz(func(t *testing.T, body []byte, query string) {
		ctx := context.Background()
		if storeCount(t, st, "h") > 64 { // keep the history, and reading it back, small
			if err := st.Delete(ctx, "h"); err != nil {
				t.Fatal(err)
			}
		}
		before := storeCount(t, st, "h")
		r := send(srv, "POST", path, query, body)
		what := fmt.Sprintf("POST %s?%s with %q", path, query, body)
		after := storeCount(t, st, "h")
		if !checkAnswer(t, what, r) {
			if after != before {
				t.Fatalf("%s: answered %d but the count went from %d to %d: %s", what, r.code, before, after, r.body)
			}
			return
		}
		var n int
		if _, err := fmt.Sscanf(string(r.body), `{"messages_written":%d}`, &n); err != nil || r.code != 200 ||
			string(r.body) != `{"messages_written":`+strconv.Itoa(n)+"}\n" {
			t.Fatalf("%s: answered %d %q, want 200 {\"messages_written\":N}", what, r.code, r.body)
		}
		if n < 0 || n > fuzzMaxWrite || after != before+n {
			t.Fatalf("%s: wrote %d messages but the count went from %d to %d", what, n, before, after)
		}
		// Read the whole history back (it includes the last n messages):
		// every message decodes and re-encodes to valid JSON.
		rr := send(srv, "GET", path, "last_k=all", nil)
		if !checkAnswer(t, "reading back after "+what, rr) {
			t.Fatalf("reading back after %s: %d %s", what, rr.code, rr.body)
		}
		msgs := storedMessages(t, "reading back after "+what, messagesOf(t, "reading back", rr, true))
		if len(msgs) != after {
			t.Fatalf("%s: the history counts %d messages but reads back %d", what, after, len(msgs))
		}
	})
}

// FuzzContext posts any body to the context route, in both formats. It never
// writes, and a 200 is a list of messages.
func FuzzContext(f *testing.F) {
	srv, st := newTestServer(f, "memory://", &Options{MaxBodyBytes: fuzzMaxBody, MaxWriteMessages: fuzzMaxWrite})
	if _, err := st.Write(context.Background(), "h", conversation()); err != nil {
		f.Fatal(err)
	}
	for _, m := range chatSeeds(f, "haystack_decode.json") {
		f.Add([]byte(`{"current_messages":[` + m + `]}`))
	}
	for _, m := range chatSeeds(f, "openai_from.json") {
		f.Add([]byte(`{"current_messages":[` + m + `],"last_k":1}`))
	}
	for _, ms := range append(haystackMessages(), openAIMessages...) {
		f.Add([]byte(`{"current_messages":` + ms + `}`))
		f.Add([]byte(`{"current_messages":` + ms + `,"last_k":"all"}`))
	}
	for _, lastK := range []string{"0", "1", "2", "100", `"all"`, `"none"`, `"null"`, `"3"`, "null",
		"-1", "1.5", "1e3", "true", `"many"`, "[]", "99999999999999999999", "-0"} {
		f.Add([]byte(`{"last_k":` + lastK + `}`))
		f.Add([]byte(`{"current_messages":[{"role":"user","content":[{"text":"And tomorrow?"}]}],"last_k":` + lastK + `}`))
	}
	for _, b := range []string{`{}`, `{"current_messages":null}`, `{"current_messages":[]}`, `{"current_messages":{}}`,
		`{"current_messages":[],"current_messages":[]}`, `{"messages":[]}`, `{"last_k":1,"x":2}`, `[]`, `null`, `{`, ``} {
		f.Add([]byte(b))
	}
	const path = "/v1/histories/h/context"
	f.Fuzz(func(t *testing.T, body []byte) {
		before := storeCount(t, st, "h")
		for _, query := range []string{"", "format=openai"} {
			r := send(srv, "POST", path, query, body)
			what := fmt.Sprintf("POST %s?%s with %q", path, query, body)
			if after := storeCount(t, st, "h"); after != before {
				t.Fatalf("%s: answered %d and the count went from %d to %d", what, r.code, before, after)
			}
			if !checkAnswer(t, what, r) {
				continue
			}
			if r.code != 200 {
				t.Fatalf("%s: status %d, want 200", what, r.code)
			}
			raw := messagesOf(t, what, r, true)
			if query == "" {
				if _, err := chat.UnmarshalList(raw); err != nil {
					t.Fatalf("%s: the answer's messages do not decode: %v: %s", what, err, r.body)
				}
			}
		}
	})
}

// FuzzReadQuery sends any query string to the two read routes that take
// one.
func FuzzReadQuery(f *testing.F) {
	srv, st := newTestServer(f, "memory://", nil)
	ctx := context.Background()
	noID := chat.ToolCall{ToolName: "w"} // not convertible when ids are required
	for id, msgs := range map[string][]chat.Message{
		"h":   append(conversation(), chat.User("again"), chat.Assistant("", noID), chat.Tool("x", noID, false), chat.Assistant("ok")),
		"a":   {chat.User("a")},
		"b/c": {chat.User("b"), chat.Assistant("c")},
		"z ü": {chat.User("z")},
	} {
		if _, err := st.Write(ctx, id, msgs); err != nil {
			f.Fatal(err)
		}
	}
	total, err := st.Count(ctx, "h")
	if err != nil {
		f.Fatal(err)
	}
	page, err := st.List(ctx, chatstore.ListOptions{Limit: 2})
	if err != nil || page.NextCursor == "" {
		f.Fatalf("listing: %v %+v", err, page)
	}
	for _, q := range []string{"", "last_k=0", "last_k=1", "last_k=2", "last_k=all", "last_k=none", "last_k=null",
		"last_k=1000000", "last_k=-1", "last_k=+1", "last_k=01", "last_k=1.0", "last_k=99999999999999999999", "last_k=",
		"format=haystack", "format=openai", "last_k=all&format=openai", "format=openai&require_tool_call_ids=true",
		"format=openai&require_tool_call_ids=false", "format=openai&require_tool_call_ids=maybe", "require_tool_call_ids=true",
		"format=xml", "last_k=2&last_k=3", "last-k=2", "%zz", "a;b", "&&", "=",
		"limit=1", "limit=2", "limit=1000", "limit=0", "limit=1001", "limit=x", "cursor=",
		"limit=2&cursor=" + url.QueryEscape(page.NextCursor), "cursor=" + url.QueryEscape(page.NextCursor),
		"cursor=h1.", "cursor=h1.!!", "cursor=nope", "limit=1&limit=2",
		"max_tokens=1", "max_tokens=20", "max_tokens=100000", "max_tokens=0", "max_tokens=-1", "max_tokens=x", "max_tokens=",
		"max_tokens=99999999999999999999", "last_k=1&max_tokens=30", "max_tokens=30&format=openai", "max_tokens=30&offset=0",
		"compacted=false", "compacted=no", "prune_tool_results=true", "prune_tool_results=true&max_tokens=5", "newest=true&limit=2&compacted=true"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, query string) {
		const messages = "/v1/histories/h/messages"
		what := fmt.Sprintf("GET %s?%s", messages, query)
		if r := send(srv, "GET", messages, query, nil); checkAnswer(t, what, r) {
			if r.code != 200 {
				t.Fatalf("%s: status %d, want 200", what, r.code)
			}
			q, _ := url.ParseQuery(query)
			paged := q.Has("offset") || q.Has("limit") || q.Has("after") || q.Has("before") || q.Has("newest")
			raw := messagesOf(t, what, r, !paged)
			var list []json.RawMessage
			json.Unmarshal(raw, &list)
			if len(list) > total {
				t.Fatalf("%s: %d messages from a history of %d", what, len(list), total)
			}
			if q.Get("format") != "openai" {
				storedMessages(t, what, raw)
			}
		}
		const list = "/v1/histories"
		what = fmt.Sprintf("GET %s?%s", list, query)
		if r := send(srv, "GET", list, query, nil); checkAnswer(t, what, r) {
			var page struct {
				Histories []struct {
					ID        *string           `json:"chat_history_id"`
					Count     int               `json:"count"`
					Tokens    *int64            `json:"tokens"`
					CreatedAt any               `json:"created_at"`
					UpdatedAt any               `json:"updated_at"`
					ExpiresAt any               `json:"expires_at"`
					TTL       any               `json:"ttl_seconds"`
					Metadata  map[string]string `json:"metadata"`
				} `json:"histories"`
				NextCursor *string `json:"next_cursor"`
			}
			dec := json.NewDecoder(bytes.NewReader(r.body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&page); err != nil || r.code != 200 || page.Histories == nil {
				t.Fatalf("%s: answered %d %q, want 200 {\"histories\":[…],\"next_cursor\":…}: %v", what, r.code, r.body, err)
			}
			prev := ""
			for i, h := range page.Histories {
				if h.ID == nil || h.Count <= 0 || h.Tokens == nil || *h.Tokens <= 0 || (i > 0 && *h.ID <= prev) {
					t.Fatalf("%s: history %d is out of order or empty: %s", what, i, r.body)
				}
				prev = *h.ID
			}
			if page.NextCursor != nil && *page.NextCursor == "" {
				t.Fatalf("%s: an empty next_cursor: %s", what, r.body)
			}
		}
	})
}

// FuzzHistoryPath puts any history id, percent-encoded, into every route
// that takes one. An id the store accepts (and within the server's length
// limit) works on every route, and what is written under it reads back the
// same; any other id is refused as invalid_history_id (the empty id, which
// leaves no path segment, as not_found).
func FuzzHistoryPath(f *testing.F) {
	srv, st := newTestServer(f, "memory://", nil)
	for _, id := range []string{"h", "session-42", "s/1", "a b", "ü", "😀", "?x=1", "#frag", "%41", "a%2Fb", "..x", "x.",
		"...", " ", "%", "\u2028", "a\tb", "a;b", "a\x00b", "\xff", strings.Repeat("x", DefaultMaxHistoryIDLen),
		strings.Repeat("x", DefaultMaxHistoryIDLen+1), strings.Repeat("é", 129)} {
		f.Add(id)
	}
	written := conversation()
	writeBody := []byte(body(written...))
	contextBody := []byte(`{"current_messages":[{"role":"user","content":[{"text":"And tomorrow?"}]}],"last_k":1}`)
	f.Fuzz(func(t *testing.T, id string) {
		defer st.Delete(context.Background(), id) // keep the store small; an invalid id fails harmlessly
		p := "/v1/histories/" + url.PathEscape(id)
		valid := len(id) <= DefaultMaxHistoryIDLen && chatstore.CheckHistoryID(id) == nil
		// expect checks an answer against the id's validity: 2xx for a valid
		// id, 400 invalid_history_id for another, the empty one included
		// (…/histories//messages).
		expect := func(method, target string, body []byte) reply {
			t.Helper()
			r := send(srv, method, target, "", body)
			what := fmt.Sprintf("%s %s (id %q)", method, target, id)
			ok := checkAnswer(t, what, r)
			switch {
			case valid && !ok:
				t.Fatalf("%s: a valid id is refused: %d %s", what, r.code, r.body)
			case !valid && (ok || r.code != 400 || !bytes.Contains(r.body, []byte(`"invalid_history_id"`))):
				t.Fatalf("%s: an invalid id is answered %d %s, want 400 invalid_history_id", what, r.code, r.body)
			}
			return r
		}

		expect("DELETE", p, nil)
		if r := expect("GET", p, nil); valid {
			checkHistory(t, "GET "+p+" after DELETE", r, id, 0)
		}
		r := expect("POST", p+"/messages", writeBody)
		if valid && string(r.body) != `{"messages_written":6}`+"\n" {
			t.Fatalf("POST %s/messages to an empty history: %s", p, r.body)
		}
		r = expect("GET", p+"/messages?last_k=all", nil)
		if valid {
			got := storedMessages(t, "GET "+p+"/messages", messagesOf(t, "GET "+p+"/messages", r, true))
			if len(got) != len(written) {
				t.Fatalf("GET %s/messages: %d messages, wrote %d", p, len(got), len(written))
			}
			for i, m := range got {
				delete(m.Meta, chatstore.MessageIDKey)
				a, _ := m.AppendJSON(nil)
				b, _ := written[i].AppendJSON(nil)
				if !bytes.Equal(a, b) {
					t.Fatalf("GET %s/messages: message %d reads back as\n%s\nwrote\n%s", p, i, a, b)
				}
			}
			if n := storeCount(t, st, id); n != len(written) {
				t.Fatalf("id %q: the store counts %d messages, wrote %d", id, n, len(written))
			}
		}
		if r := expect("GET", p, nil); valid {
			checkHistory(t, "GET "+p, r, id, len(written))
		}
		expect("GET", p+"/messages", nil)
		r = expect("POST", p+"/context", contextBody)
		if valid {
			if got, err := chat.UnmarshalList(messagesOf(t, "POST "+p+"/context", r, true)); err != nil || len(got) != 5 {
				t.Fatalf("POST %s/context: %v: %s, want the last round and the current message", p, err, r.body)
			}
		}
		expect("DELETE", p, nil)
		if valid {
			if n := storeCount(t, st, id); n != 0 {
				t.Fatalf("id %q: %d messages left after DELETE", id, n)
			}
		}
	})
}

// checkHistory checks a 200 answer of GET /v1/histories/{id}.
func checkHistory(t *testing.T, what string, r reply, id string, count int) {
	t.Helper()
	var h struct {
		ID        *string           `json:"chat_history_id"`
		Count     *int              `json:"count"`
		Tokens    *int64            `json:"tokens"`
		CreatedAt any               `json:"created_at"`
		UpdatedAt any               `json:"updated_at"`
		ExpiresAt any               `json:"expires_at"`
		TTL       any               `json:"ttl_seconds"`
		Metadata  map[string]string `json:"metadata"`
	}
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil || h.ID == nil || h.Count == nil || *h.ID != id || *h.Count != count ||
		h.Tokens == nil || (*h.Tokens == 0) != (count == 0) {
		t.Fatalf("%s: %s, want {\"chat_history_id\":%q,\"count\":%d,\"tokens\":…}, tokens 0 only for no messages", what, r.body, id, count)
	}
}
