package server

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chatstore/chatstore/chat"
)

// TestAddressing walks the routes of issue 16 over the in-memory store:
// metadata on the first write and with PATCH, the history's times, one
// message by id (with and without its created_at), paging after an id,
// deleting one message, truncating, forking, and listing by recency and by
// metadata; and each route's errors.
func TestAddressing(t *testing.T) {
	f := newFixture(t, "memory://", nil)
	hp := "/v1/histories/s%2F1"
	mp := messagesPath("s/1")
	// Unknown history: today's answer, with null times and no metadata.
	r := f.do("GET", hp, "")
	if r.code != 200 || string(r.body) != `{"chat_history_id":"s/1","count":0,"tokens":0,"created_at":null,"updated_at":null,"expires_at":null,"ttl_seconds":null,"metadata":{}}`+"\n" {
		t.Fatalf("unknown history: %d %s", r.code, r.body)
	}
	msgs := []chat.Message{chat.User("a"), chat.Assistant("b"), chat.User("c"), chat.Assistant("d")}
	b, _ := json.Marshal(map[string]any{"messages": msgs, "metadata": map[string]any{"user_id": "u-42", "drop": nil}})
	if r := f.do("POST", mp, string(b)); r.code != 200 {
		t.Fatalf("write with metadata: %d %s", r.code, r.body)
	}
	info := f.do("GET", hp, "").json(t)
	if info["count"] != 4.0 || info["metadata"].(map[string]any)["user_id"] != "u-42" || len(info["metadata"].(map[string]any)) != 1 {
		t.Errorf("info: %v", info)
	}
	created, err := time.Parse(time.RFC3339, info["created_at"].(string))
	if err != nil || time.Since(created) > time.Minute || !strings.HasSuffix(info["created_at"].(string), "Z") {
		t.Errorf("created_at %v: %v", info["created_at"], err)
	}
	// PATCH merges; null removes.
	r = f.do("PATCH", hp, `{"metadata":{"user_id":null,"topic":"tax"}}`)
	if r.code != 200 || !strings.Contains(string(r.body), `"metadata":{"topic":"tax"}`) {
		t.Errorf("PATCH: %d %s", r.code, r.body)
	}
	for _, c := range []struct{ body, code string }{
		{`{"metadata":{"k":1}}`, "invalid_metadata"},
		{`{"metadata":[]}`, "invalid_metadata"},
		{`{"metadata":{"` + strings.Repeat("k", 65) + `":"v"}}`, "invalid_metadata"},
		{`{"metadata":{"k":"` + strings.Repeat("v", 513) + `"}}`, "invalid_metadata"},
		{`{"meta":{}}`, "invalid_request"},
	} {
		if r := f.do("PATCH", hp, c.body); r.code != 400 || r.errorCode(t) != c.code {
			t.Errorf("PATCH %.60s: %d %s", c.body, r.code, r.body)
		}
	}
	many := map[string]string{}
	for i := range 17 {
		many[strings.Repeat("k", i+1)] = "v"
	}
	b, _ = json.Marshal(map[string]any{"metadata": many})
	if r := f.do("PATCH", hp, string(b)); r.code != 400 || r.errorCode(t) != "invalid_metadata" {
		t.Errorf("17 pairs: %d %s", r.code, r.body)
	}
	// 32 keys may be one change (16 removed, 16 set); 33 never can be.
	var keys []string
	for i := range 33 {
		keys = append(keys, fmt.Sprintf(`"k%d":null`, i))
	}
	if r := f.do("PATCH", hp, `{"metadata":{`+strings.Join(keys[:32], ",")+`}}`); r.code != 200 {
		t.Errorf("32 removals: %d %s", r.code, r.body)
	}
	if r := f.do("PATCH", hp, `{"metadata":{`+strings.Join(keys, ",")+`}}`); r.code != 400 || !strings.Contains(string(r.body), "more than 32 keys") {
		t.Errorf("33 keys: %d %s", r.code, r.body)
	}

	// One message; created_at only when asked.
	r = f.do("GET", mp+"/1", "")
	if r.code != 200 || !strings.HasPrefix(string(r.body), `{"message":{"role":"assistant"`) || strings.Contains(string(r.body), "created_at") {
		t.Errorf("GET message: %d %s", r.code, r.body)
	}
	r = f.do("GET", mp+"/1?include=created_at", "")
	if r.code != 200 || !strings.Contains(string(r.body), `"created_at":"`) {
		t.Errorf("GET message with created_at: %d %s", r.code, r.body)
	}
	if r := f.do("GET", mp+"/1?format=openai", ""); r.code != 200 || !strings.Contains(string(r.body), `"content":"b"`) {
		t.Errorf("GET message as OpenAI: %d %s", r.code, r.body)
	}
	if r := f.do("GET", mp+"/nope", ""); r.code != 404 || r.errorCode(t) != "message_not_found" || !strings.Contains(string(r.body), "nope") {
		t.Errorf("absent message: %d %s", r.code, r.body)
	}
	if r := f.do("GET", mp+"/1?include=created_at&format=openai", ""); r.code != 400 {
		t.Errorf("include with openai: %d %s", r.code, r.body)
	}
	// Reads: created_at beside each message when asked; paging after an id.
	if r := f.do("GET", mp+"?last_k=all", ""); strings.Contains(string(r.body), "created_at") {
		t.Errorf("created_at unasked: %s", r.body)
	}
	if got := replyIDs(t, f.do("GET", mp+"?after=1&limit=2", "")); got != "2,3" {
		t.Errorf("after=1&limit=2: %s", got)
	}
	if r := f.do("GET", mp+"?after=1&limit=1&include=created_at", ""); strings.Count(string(r.body), `"created_at":"`) != 1 {
		t.Errorf("after with created_at: %s", r.body)
	}
	if r := f.do("GET", mp+"?after=9", ""); r.code != 404 || r.errorCode(t) != "message_not_found" {
		t.Errorf("after an absent id: %d %s", r.code, r.body)
	}
	if r := f.do("GET", mp+"?after=1&offset=1", ""); r.code != 400 {
		t.Errorf("after and offset: %d %s", r.code, r.body)
	}
	// Backwards: before an id, and the newest.
	if got := replyIDs(t, f.do("GET", mp+"?before=3&limit=2", "")); got != "1,2" {
		t.Errorf("before=3&limit=2: %s", got)
	}
	if got := replyIDs(t, f.do("GET", mp+"?newest=true&limit=3", "")); got != "1,2,3" {
		t.Errorf("newest=true&limit=3: %s", got)
	}
	if r := f.do("GET", mp+"?before=9&limit=2", ""); r.code != 404 || r.errorCode(t) != "message_not_found" {
		t.Errorf("before an absent id: %d %s", r.code, r.body)
	}
	for _, q := range []string{"before=1&after=2", "newest=true&offset=0", "newest=yes", "before=1&last_k=2", "newest=true&limit=0"} {
		if r := f.do("GET", mp+"?"+q, ""); r.code != 400 || !strings.Contains(string(r.body), "must be") && !strings.Contains(string(r.body), "give") {
			t.Errorf("%s: %d %s", q, r.code, r.body)
		}
	}
	// Fork through a message, onto a new id; again is a 409.
	r = f.do("POST", hp+"/fork", `{"chat_history_id":"s/2","through":"2"}`)
	if r.code != 201 || r.json(t)["count"] != 3.0 || r.json(t)["chat_history_id"] != "s/2" || r.header.Get("Location") != "/v1/histories/s%2F2" {
		t.Errorf("fork: %d %s %v", r.code, r.body, r.header)
	}
	if r := f.do("POST", hp+"/fork", `{"chat_history_id":"s/2"}`); r.code != 409 || r.errorCode(t) != "history_exists" {
		t.Errorf("fork onto an existing history: %d %s", r.code, r.body)
	}
	if r := f.do("POST", hp+"/fork", `{"chat_history_id":"s/3","through":"x"}`); r.code != 404 || r.errorCode(t) != "message_not_found" {
		t.Errorf("fork through an absent id: %d %s", r.code, r.body)
	}
	if r := f.do("POST", hp+"/fork", `{"chat_history_id":"tenant:x"}`); r.code != 400 || r.errorCode(t) != "invalid_history_id" {
		t.Errorf("fork into the tenants' namespace: %d %s", r.code, r.body)
	}
	if r := f.do("POST", hp+"/fork", `{"chat_history_id":"s/4","through":null}`); r.code != 201 || r.json(t)["count"] != 4.0 {
		t.Errorf("fork of all: %d %s", r.code, r.body)
	}
	// Delete one message, then truncate.
	if r := f.do("DELETE", mp+"/1", ""); r.code != 204 {
		t.Errorf("DELETE message: %d %s", r.code, r.body)
	}
	if r := f.do("DELETE", mp+"/1", ""); r.code != 404 || r.errorCode(t) != "message_not_found" {
		t.Errorf("DELETE message again: %d %s", r.code, r.body)
	}
	if got := replyIDs(t, f.do("GET", mp+"?last_k=all", "")); got != "0,2,3" {
		t.Errorf("after deleting 1: %s", got)
	}
	if r := f.do("DELETE", mp+"?from=2", ""); r.code != 200 || string(r.body) != `{"messages_deleted":2}`+"\n" {
		t.Errorf("truncate: %d %s", r.code, r.body)
	}
	if r := f.do("DELETE", mp, ""); r.code != 400 || r.errorCode(t) != "invalid_query" {
		t.Errorf("truncate without from: %d %s", r.code, r.body)
	}
	if got := replyIDs(t, f.do("GET", mp+"?last_k=all", "")); got != "0" {
		t.Errorf("after truncating from 2: %s", got)
	}
	// A message id that is a path of its own, and one with a dot.
	f.do("POST", mp, `{"messages":[{"role":"user","content":[{"text":"x"}],"meta":{"chat_message_id":"a/b"}},{"role":"user","content":[{"text":"y"}],"meta":{"chat_message_id":".."}}]}`)
	for _, id := range []string{"a%2Fb", "%2E%2E"} {
		if r := f.do("GET", mp+"/"+id, ""); r.code != 200 {
			t.Errorf("GET message %s: %d %s", id, r.code, r.body)
		}
	}

	// Listing: by recency, and by metadata.
	time.Sleep(5 * time.Millisecond) // times are to the millisecond
	f.do("PATCH", "/v1/histories/s%2F2", `{"metadata":{"user_id":"u-7"}}`)
	r = f.do("GET", "/v1/histories?order=updated_at&limit=1", "")
	var page struct {
		Histories []map[string]any `json:"histories"`
		Next      *string          `json:"next_cursor"`
	}
	json.Unmarshal(r.body, &page)
	if r.code != 200 || len(page.Histories) != 1 || page.Histories[0]["chat_history_id"] != "s/2" || page.Next == nil || page.Histories[0]["updated_at"] == nil {
		t.Fatalf("order=updated_at: %d %s", r.code, r.body)
	}
	r = f.do("GET", "/v1/histories?order=updated_at&limit=1&cursor="+url.QueryEscape(*page.Next), "")
	if json.Unmarshal(r.body, &page); len(page.Histories) != 1 || page.Histories[0]["chat_history_id"] != "s/1" {
		t.Errorf("order=updated_at, page 2: %s", r.body)
	}
	r = f.do("GET", "/v1/histories?"+url.QueryEscape("metadata[user_id]")+"=u-7&metadata%5Btopic%5D=tax", "")
	if json.Unmarshal(r.body, &page); r.code != 200 || len(page.Histories) != 1 || page.Histories[0]["chat_history_id"] != "s/2" {
		t.Errorf("metadata filter: %d %s", r.code, r.body)
	}
	for _, q := range []string{"order=time", "metadata[]=x", "metadata[a=x", "metadata[a]=1&metadata[a]=2"} {
		if r := f.do("GET", "/v1/histories?"+q, ""); r.code != 400 {
			t.Errorf("?%s: %d %s", q, r.code, r.body)
		}
	}
}

func replyIDs(t *testing.T, r reply) string {
	t.Helper()
	return strings.Join(ids(replyMessages(t, r)), ",")
}

// newTenantsFixture is a server with the tenants acme and globex, and a
// read-only token of acme's; it returns the header of each token.
func newTenantsFixture(t *testing.T) (f *fixture, acme, globex, acmeReadOnly []string) {
	t.Helper()
	tokens, err := ParseTokens(strings.NewReader("acme 0123456789abcdef0123\nglobex fedcba9876543210fedc\nacme ro-0123456789abcdef read-only\n"))
	if err != nil {
		t.Fatal(err)
	}
	return newFixture(t, "memory://", &Options{Tokens: tokens}),
		[]string{"Authorization", "Bearer 0123456789abcdef0123"},
		[]string{"Authorization", "Bearer fedcba9876543210fedc"},
		[]string{"Authorization", "Bearer ro-0123456789abcdef"}
}

// TestAddressingTenants: the new routes stay inside the caller's tenant,
// metadata filters see only its histories, and a read-only token may read
// but not change.
func TestAddressingTenants(t *testing.T) {
	f, acme, globex, ro := newTenantsFixture(t)
	w := `{"messages":[{"role":"user","content":[{"text":"hi"}]}],"metadata":{"user_id":"u-42"}}`
	f.do("POST", messagesPath("h"), w, acme...)
	f.do("POST", messagesPath("h"), w, globex...)
	r := f.do("GET", "/v1/histories?metadata%5Buser_id%5D=u-42", "", acme...)
	if r.code != 200 || strings.Count(string(r.body), "chat_history_id") != 1 || strings.Contains(string(r.body), "tenant:") {
		t.Errorf("acme's filter: %d %s", r.code, r.body)
	}
	if r := f.do("POST", "/v1/histories/h/fork", `{"chat_history_id":"h2"}`, acme...); r.code != 201 {
		t.Errorf("acme forks: %d %s", r.code, r.body)
	}
	if n, _ := f.store.Count(t.Context(), "tenant:acme:h2"); n != 1 {
		t.Errorf("the fork is not acme's: %d", n)
	}
	if r := f.do("GET", "/v1/histories/h2", "", globex...); r.json(t)["count"] != 0.0 {
		t.Errorf("globex sees acme's fork: %s", r.body)
	}
	if r := f.do("GET", messagesPath("h")+"/0", "", ro...); r.code != 200 {
		t.Errorf("read-only GET message: %d %s", r.code, r.body)
	}
	for _, c := range [][3]string{
		{"PATCH", "/v1/histories/h", `{"metadata":{}}`},
		{"DELETE", messagesPath("h") + "/0", ""},
		{"DELETE", messagesPath("h") + "?from=0", ""},
		{"POST", "/v1/histories/h/fork", `{"chat_history_id":"h3"}`},
	} {
		if r := f.do(c[0], c[1], c[2], ro...); r.code != 403 || r.errorCode(t) != "forbidden" {
			t.Errorf("read-only %s %s: %d %s", c[0], c[1], r.code, r.body)
		}
	}
}

// TestOpenAPIAddressing checks the answers of the routes of issue 16, and
// their errors, against openapi.json.
func TestOpenAPIAddressing(t *testing.T) {
	a := loadAPISchemas(t)
	f := newFixture(t, "memory://", nil)
	const (
		message = messagesRoute + "/{message_id}"
		fork    = historyRoute + "/fork"
	)
	write := `{"messages":[{"role":"user","content":[{"text":"a"}]},{"role":"assistant","content":[{"text":"b"}]},{"role":"user","content":[{"text":"c"}]}],"metadata":{"user_id":"u-42"}}`
	for _, c := range []struct {
		method, route, target, body string
		status                      int
	}{
		{"GET", historyRoute, "/v1/histories/none", "", 200},
		{"POST", messagesRoute, messagesPath("h"), write, 200},
		{"POST", messagesRoute, messagesPath("h"), `{"messages":[],"metadata":{"k":5}}`, 400},
		{"GET", historyRoute, "/v1/histories/h", "", 200},
		{"PATCH", historyRoute, "/v1/histories/h", `{"metadata":{"topic":"tax","user_id":null}}`, 200},
		{"PATCH", historyRoute, "/v1/histories/h", `{"metadata":{"":"x"}}`, 400},
		{"GET", "/v1/histories", "/v1/histories?order=updated_at&metadata%5Btopic%5D=tax", "", 200},
		{"GET", "/v1/histories", "/v1/histories?order=name", "", 400},
		{"GET", messagesRoute, messagesPath("h") + "?after=0&limit=1&include=created_at", "", 200},
		{"GET", messagesRoute, messagesPath("h") + "?after=x", "", 404},
		{"GET", message, messagesPath("h") + "/1", "", 200},
		{"GET", message, messagesPath("h") + "/1?include=created_at", "", 200},
		{"GET", message, messagesPath("h") + "/1?format=openai", "", 200},
		{"GET", message, messagesPath("h") + "/9", "", 404},
		{"POST", fork, "/v1/histories/h/fork", `{"chat_history_id":"h2","through":"1"}`, 201},
		{"POST", fork, "/v1/histories/h/fork", `{"chat_history_id":"h2"}`, 409},
		{"POST", fork, "/v1/histories/h/fork", `{"chat_history_id":"h3","through":"9"}`, 404},
		{"POST", fork, "/v1/histories/h/fork", `{"through":"1"}`, 400},
		{"DELETE", message, messagesPath("h") + "/1", "", 204},
		{"DELETE", message, messagesPath("h") + "/1", "", 404},
		{"DELETE", messagesRoute, messagesPath("h") + "?from=2", "", 200},
		{"DELETE", messagesRoute, messagesPath("h") + "?from=2", "", 404},
		{"DELETE", messagesRoute, messagesPath("h"), "", 400},
	} {
		if c.body != "" && c.status < 300 {
			_, ptr, ok := a.lookup("paths", c.route, strings.ToLower(c.method), "requestBody", "content", "application/json", "schema")
			if !ok {
				t.Fatalf("%s %s has no request body", c.method, c.route)
			}
			if err := valid(a.schema(t, ptr), []byte(c.body)); err != nil {
				t.Errorf("%s %s: the request does not validate: %v", c.method, c.route, err)
			}
		}
		a.send(t, f, c.method, c.route, c.target, c.body, c.status)
	}
}

// send sends a request to a route and checks its answer: the status
// wanted, and what the document says for it (apiSchemas.answer), which
// for an error names its code.
func (a *apiSchemas) send(t *testing.T, f *fixture, method, route, target, body string, status int) reply {
	t.Helper()
	r := f.do(method, target, body)
	if r.code != status {
		t.Errorf("%s %s: %d %s, want %d", method, target, r.code, r.body, status)
	}
	desc := a.answer(t, method, route, target, r)
	if r.code >= 400 && !strings.Contains(desc, r.errorCode(t)) {
		t.Errorf("%s %s: the document's %d answer does not name %s: %q", method, target, r.code, r.errorCode(t), desc)
	}
	return r
}
