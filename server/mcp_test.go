package server

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/driver"
	"github.com/chatstore/chatstore/internal/mcptest"
	"github.com/chatstore/chatstore/memstore"
)

// bearer sends a token with every request.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

// serveHTTP serves srv on a loopback port of its own.
func serveHTTP(t *testing.T, srv *Server) string {
	t.Helper()
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return hs.URL
}

// connectMCP connects the SDK's streamable HTTP client to base's /mcp,
// with token unless it is "", speaking the protocol version given ("" for
// the SDK's latest).
func connectMCP(t *testing.T, base, token, version string) *mcp.ClientSession {
	t.Helper()
	cs, err := dialMCP(t, base, token, version)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func dialMCP(t *testing.T, base, token, version string) (*mcp.ClientSession, error) {
	client := &http.Client{Transport: http.DefaultTransport}
	if token != "" {
		client.Transport = bearer{token, http.DefaultTransport}
	}
	cs, err := mcptest.NewClient().Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: base + "/mcp", HTTPClient: client, MaxRetries: -1}, &mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { cs.Close() })
	return cs, nil
}

// TestMCP runs the MCP tests over streamable HTTP, in the SDK's latest
// protocol and in the one desktop clients speak today, on a server
// without tokens (the whole store).
func TestMCP(t *testing.T) {
	for _, version := range []string{"", "2025-06-18"} {
		t.Run("protocol "+version, func(t *testing.T) {
			srv, st := newTestServer(t, "memory://", nil)
			mcptest.Run(t, connectMCP(t, serveHTTP(t, srv), "", version))
			if n, _ := st.Count(t.Context(), "session/1 é"); n != 6 {
				t.Errorf("the store holds %d messages of the history written over MCP", n)
			}
		})
	}
}

// TestMCPTenants: over MCP as over /v1, a token sees its tenant's
// histories only, under the ids it gave them; a read-only token gets the
// tools that read; a token removed, or none, is a 401 from the next
// request on.
func TestMCPTenants(t *testing.T) {
	tokens, err := ParseTokens(strings.NewReader("acme acme-token-0123456789\nacme acme-reader-012345678 read-only\nglobex globex-token-0123456789\n"))
	if err != nil {
		t.Fatal(err)
	}
	srv, st := newTestServer(t, "memory://", &Options{Tokens: tokens})
	base := serveHTTP(t, srv)
	acme, _ := mcptest.Tools(t, connectMCP(t, base, "acme-token-0123456789", ""))
	globex, _ := mcptest.Tools(t, connectMCP(t, base, "globex-token-0123456789", "2025-06-18"))
	write := func(s *mcptest.Session, id, text string) {
		t.Helper()
		s.OK(t, "append_messages", map[string]any{"chat_history_id": id, "format": "openai",
			"messages": []map[string]any{{"role": "user", "content": text}}}, nil)
	}
	write(acme, "chat", "acme's")
	write(acme, "acme-only", "secret")
	write(globex, "chat", "globex's")

	var page mcptest.Page
	acme.OK(t, "list_histories", nil, &page)
	if want := []mcptest.History{{ID: "acme-only", Count: 1}, {ID: "chat", Count: 1}}; !slices.Equal(page.Histories, want) {
		t.Errorf("acme lists %+v, want %+v", page.Histories, want)
	}
	globex.OK(t, "list_histories", nil, &page)
	if want := []mcptest.History{{ID: "chat", Count: 1}}; !slices.Equal(page.Histories, want) {
		t.Errorf("globex lists %+v, want %+v", page.Histories, want)
	}
	var m mcptest.Messages
	globex.OK(t, "read_history", map[string]any{"chat_history_id": "chat"}, &m)
	if len(m.Messages) != 1 || m.Messages[0].Text() != "globex's" {
		t.Errorf("globex reads %+v", m.Messages)
	}
	globex.OK(t, "read_history", map[string]any{"chat_history_id": "acme-only"}, &m)
	if len(m.Messages) != 0 {
		t.Errorf("globex reads acme's history: %+v", m.Messages)
	}
	globex.Fails(t, "get_message", map[string]any{"chat_history_id": "acme-only", "message_id": "0"}, "message_not_found")
	for _, id := range []string{"tenant:acme:chat", "../acme/chat"} {
		globex.OK(t, "read_history", map[string]any{"chat_history_id": id}, &m)
		if len(m.Messages) != 0 {
			t.Errorf("globex reads %q: %+v", id, m.Messages)
		}
	}
	mcptest.Resources(t, globex.ClientSession, map[string]int{"chat": 1})
	if _, err := globex.ReadResource(t.Context(), &mcp.ReadResourceParams{URI: "chatstore://histories/acme-only"}); err == nil {
		t.Error("globex reads acme's resource")
	}

	// The store keeps them under the tenants' prefixes, where /v1 finds
	// them too.
	for id, want := range map[string]int{"tenant:acme:chat": 1, "tenant:acme:acme-only": 1, "tenant:globex:chat": 1, "chat": 0} {
		if n, _ := st.Count(t.Context(), id); n != want {
			t.Errorf("the store holds %d messages under %q, want %d", n, id, want)
		}
	}
	req, _ := http.NewRequest("GET", base+"/v1/histories/acme-only/messages", nil)
	req.Header.Set("Authorization", "Bearer acme-token-0123456789")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Errorf("/v1 reads the history written over MCP: %v %v", resp, err)
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), "secret") {
			t.Errorf("/v1 reads %s", b)
		}
	}

	mcptest.ReadOnly(t, connectMCP(t, base, "acme-reader-012345678", ""), map[string]int{"chat": 1, "acme-only": 1})

	for _, token := range []string{"", "not-a-token-0123456789"} {
		if _, err := dialMCP(t, base, token, ""); err == nil {
			t.Errorf("token %q: connected", token)
		}
		r := postMCP(t, base, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, "Authorization", "Bearer "+token)
		if r.code != 401 || r.errorCode(t) != "unauthorized" || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("token %q: %d %s", token, r.code, r.body)
		}
	}
	// Each request is a session of its own, so a token removed is
	// refused at once, on a session that was connected with it.
	less, _ := ParseTokens(strings.NewReader("acme acme-token-0123456789\n"))
	if err := srv.SetTokens(less); err != nil {
		t.Fatal(err)
	}
	if _, err := globex.CallTool(t.Context(), &mcp.CallToolParams{Name: "list_histories", Arguments: map[string]any{}}); err == nil {
		t.Error("globex's token, removed, still lists")
	}
	acme.OK(t, "list_histories", nil, nil)
}

// TestMCPWithoutTokens: a server without tokens serves MCP to loopback
// Host names only, keeps the tenants' ids out of reach, and refuses
// a page of another site, as it does /v1.
func TestMCPWithoutTokens(t *testing.T) {
	srv, st := newTestServer(t, "memory://", nil)
	if _, err := st.Write(t.Context(), "tenant:acme:chat", []chat.Message{chat.User("acme's")}); err != nil {
		t.Fatal(err)
	}
	base := serveHTTP(t, srv)
	s, _ := mcptest.Tools(t, connectMCP(t, base, "", ""))
	s.Fails(t, "read_history", map[string]any{"chat_history_id": "tenant:acme:chat"}, "invalid_history_id", "reserved")
	s.Fails(t, "append_messages", map[string]any{"chat_history_id": "tenant:x", "messages": []any{}}, "invalid_history_id", "reserved")
	s.Fails(t, "read_history", map[string]any{"chat_history_id": strings.Repeat("x", DefaultMaxHistoryIDLen+1)}, "invalid_history_id", "limit is 256")

	body := `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`
	for _, c := range []struct {
		header []string
		status int
		code   string
	}{
		{[]string{"Host", "chat.example.com"}, 403, "forbidden_host"},
		{[]string{"Sec-Fetch-Site", "cross-site"}, 403, "cross_origin"},
		{[]string{"Content-Type", "text/plain"}, 415, "unsupported_media_type"},
	} {
		r := postMCP(t, base, body, c.header...)
		if r.code != c.status || r.errorCode(t) != c.code {
			t.Errorf("%v: %d %s, want %d %s", c.header, r.code, r.body, c.status, c.code)
		}
	}
	if r := postMCP(t, base, body); r.code != 200 || !strings.Contains(string(r.body), "read_history") {
		t.Errorf("tools/list without a session: %d %s", r.code, r.body)
	}
	r, err := http.Get(base + "/mcp")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 405 || r.Header.Get("Allow") != "POST" {
		t.Errorf("GET /mcp: %d, Allow %q; want 405 with POST: the server keeps no stream", r.StatusCode, r.Header.Get("Allow"))
	}
}

// TestMCPLimits: /mcp answers within the server's limits: a body over
// its limit (an eighth of the in-flight budget, when that is less than
// the body limit) is a 413, an answer over the response limit a tool error
// that says how to page, and a write of more messages than the limit a
// tool error.
func TestMCPLimits(t *testing.T) {
	srv, st := newTestServer(t, "memory://", &Options{MaxBodyBytes: 4096, MaxInFlightBytes: 16384, MaxResponseBytes: 3000, MaxWriteMessages: 2})
	base := serveHTTP(t, srv)
	a := loadAPISchemas(t)
	call := func(args string) string {
		return `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"append_messages","arguments":` + args + `}}`
	}
	small := call(`{"chat_history_id":"h","messages":[{"role":"user","content":[{"text":"` + strings.Repeat("x", 1500) + `"}]}]}`)
	if r := postMCP(t, base, small); r.code != 200 || !strings.Contains(string(r.body), `\"messages_written\":1`) {
		t.Errorf("a body of %d bytes: %d %s", len(small), r.code, r.body)
	} else {
		a.answer(t, "POST", "/mcp", "/mcp", r)
	}
	big := call(`{"chat_history_id":"h","messages":[{"role":"user","content":[{"text":"` + strings.Repeat("x", 2500) + `"}]}]}`)
	if r := postMCP(t, base, big); r.code != 413 || r.errorCode(t) != "body_too_large" || !strings.Contains(string(r.body), "2 KiB") {
		t.Errorf("a body of %d bytes: %d %s, want 413 at 2 KiB", len(big), r.code, r.body)
	} else {
		a.answer(t, "POST", "/mcp", "/mcp", r)
	}
	if n, _ := st.Count(t.Context(), "h"); n != 1 {
		t.Errorf("%d messages written, want the small one", n)
	}
	s, _ := mcptest.Tools(t, connectMCP(t, base, "", ""))
	s.OK(t, "append_messages", map[string]any{"chat_history_id": "h", "messages": []chat.Message{chat.User(strings.Repeat("y", 1500))}}, nil)
	s.Fails(t, "read_history", map[string]any{"chat_history_id": "h"}, "response_too_large", "3000 bytes", "offset")
	var m mcptest.Messages
	s.OK(t, "read_history", map[string]any{"chat_history_id": "h", "offset": 1, "limit": 1}, &m)
	if len(m.Messages) != 1 {
		t.Errorf("a page: %+v", m)
	}
	s.Fails(t, "append_messages", map[string]any{"chat_history_id": "h", "messages": []chat.Message{chat.User("a"), chat.User("b"), chat.User("c")}}, "too_many_messages", "limit is 2")
	if r := postMCP(t, base, ""); r.code != 400 || r.errorCode(t) != "invalid_json" {
		t.Errorf("an empty body: %d %s", r.code, r.body)
	}

	// The metrics count MCP's requests and store calls as the API's.
	metrics := string(func() reply {
		req := httptest.NewRequest("GET", "/metrics", nil)
		req.Host = "127.0.0.1"
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		return reply{rec.Code, rec.Header(), rec.Body.Bytes()}
	}().body)
	for _, want := range []string{`chatstore_http_requests_total{code="413",route="POST /mcp"} 1`, `chatstore_messages_written_total 2`, `chatstore_store_operation_duration_seconds_count{op="write",outcome="ok"} 2`, `op="retrieve",outcome="invalid"`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// postMCP posts body to base's /mcp as an MCP client does, with header
// (name, value, …; a Host header sets the request's Host).
func postMCP(t *testing.T, base, body string, header ...string) reply {
	t.Helper()
	req, err := http.NewRequest("POST", base+"/mcp", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1]
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, b}
}

// TestMCPDocumented: /openapi.json's description of /mcp names every tool
// that /mcp lists, with its arguments, and the resource template, so that
// the two say the same.
func TestMCPDocumented(t *testing.T) {
	a := loadAPISchemas(t)
	v, _, ok := a.lookup("paths", "/mcp", "post", "description")
	desc, _ := v.(string)
	if !ok || desc == "" {
		t.Fatal("openapi.json does not describe POST /mcp")
	}
	srv, _ := newTestServer(t, "memory://", nil)
	cs := connectMCP(t, serveHTTP(t, srv), "", "")
	n := 0
	for tool, err := range cs.Tools(t.Context(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		props, _ := tool.InputSchema.(map[string]any)["properties"].(map[string]any)
		args := make([]string, 0, len(props))
		for name := range props {
			args = append(args, name)
		}
		slices.Sort(args)
		i := strings.Index(desc, tool.Name+" (")
		if i < 0 {
			t.Errorf("openapi.json does not name the tool %s with its arguments", tool.Name)
			continue
		}
		named, _, _ := strings.Cut(desc[i+len(tool.Name)+2:], ")")
		for _, arg := range args {
			if !strings.Contains(named, arg) {
				t.Errorf("openapi.json does not name %s's argument %s: %q", tool.Name, arg, named)
			}
		}
	}
	for rt, err := range cs.ResourceTemplates(t.Context(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(desc, rt.URITemplate) {
			t.Errorf("openapi.json does not name the resources %s", rt.URITemplate)
		}
	}
	if n != len(mcptest.AllTools) {
		t.Errorf("%d tools listed", n)
	}
}

// stalled is a store whose reads and listings never answer: they end
// when their context does.
type stalled struct{ driver.Store }

func (stalled) Range(ctx context.Context, _ string, _, _ int) ([]driver.Message, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func (stalled) List(ctx context.Context, _ string, _ int) ([]driver.History, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestMCPStoreTimeout: a store call that runs out of time is a tool error,
// store_timeout, as a 503 on /v1; the answer is not cut off by the time
// the request started with.
func TestMCPStoreTimeout(t *testing.T) {
	st, err := chatstore.New(stalled{memstore.New()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(st, &Options{StoreTimeout: 50 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := mcptest.Tools(t, connectMCP(t, serveHTTP(t, srv), "", ""))
	s.Fails(t, "read_history", map[string]any{"chat_history_id": "h", "offset": 0}, "store_timeout", "retry later")
	s.Fails(t, "list_histories", nil, "store_timeout")
}
