package server

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/driver"
	"github.com/chatstore/chatstore/memstore"
)

// gatedWrites is a memory driver whose writes wait for release, then
// fail if their context is done by then, as a database driver does.
type gatedWrites struct {
	*memstore.Store
	release chan struct{}
}

func (g gatedWrites) Write(ctx context.Context, id string, recs []driver.Record) (int, error) {
	<-g.release
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return g.Store.Write(ctx, id, recs)
}

// TestHalfClosedClient: a client that half-closes its connection after
// sending a write (nc -N, shutdown(SHUT_WR), some proxies) still gets an
// answer, and a 200 means the write is stored. net/http cancels such a
// request's context as soon as it reads EOF; the write must go on anyway.
func TestHalfClosedClient(t *testing.T) {
	g := gatedWrites{Store: memstore.New(), release: make(chan struct{})}
	st, err := chatstore.New(g, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, err := New(st, &Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	// Note each request's own context, to see when net/http cancels it.
	reqCtx := make(chan context.Context, 1)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqCtx <- r.Context()
		srv.ServeHTTP(w, r)
	}))
	defer ts.Close()

	c, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b := body(chat.User("half-closed"))
	fmt.Fprintf(c, "POST /v1/histories/h/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(b), b)
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	// net/http sees the EOF and cancels the request; only then may the
	// store call go on.
	<-(<-reqCtx).Done()
	close(g.release)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to a half-closed client: %v", err)
	}
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !bytes.Contains(got, []byte(`"messages_written":1`)) {
		t.Errorf("half-closed write: %d %q, want 200 with messages_written 1", resp.StatusCode, got)
	}
	if n, _ := st.Count(t.Context(), "h"); n != 1 {
		t.Errorf("the history holds %d messages after a 200, want 1", n)
	}

	// /healthz answers such a client too.
	c2, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	io.WriteString(c2, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	c2.(*net.TCPConn).CloseWrite()
	<-reqCtx
	resp, err = http.ReadResponse(bufio.NewReader(c2), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("half-closed health check: %v %v", resp, err)
	}
}

func TestIdempotencyKey(t *testing.T) {
	f := newFixture(t, "memory://", nil)
	b := body(chat.User("q"), chat.Assistant("a"))
	first := f.do("POST", messagesPath("h"), b, "Idempotency-Key", "3f2c-retry-1")
	if first.code != 200 || first.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("first keyed write: %d %s %v", first.code, first.body, first.header)
	}
	again := f.do("POST", messagesPath("h"), b, "Idempotency-Key", "3f2c-retry-1")
	if again.code != 200 || string(again.body) != string(first.body) || again.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("retry: %d %s %v, want the first answer %s replayed", again.code, again.body, again.header, first.body)
	}
	if n, _ := f.store.Count(t.Context(), "h"); n != 2 {
		t.Errorf("the history holds %d messages after a retry, want 2", n)
	}
	if r := f.do("POST", messagesPath("h"), body(chat.User("other")), "Idempotency-Key", "3f2c-retry-1"); r.code != 422 || r.errorCode(t) != "idempotency_key_reused" {
		t.Errorf("key reused for other messages: %d %s", r.code, r.body)
	}
	for _, key := range []string{"", "has space", strings.Repeat("k", 256), "é"} {
		if r := f.do("POST", messagesPath("h"), b, "Idempotency-Key", key); r.code != 400 || r.errorCode(t) != "invalid_idempotency_key" {
			t.Errorf("key %q: %d %s", key, r.code, r.body)
		}
	}
	req := httptest.NewRequest("POST", messagesPath("h"), strings.NewReader(b))
	req.Host = "127.0.0.1"
	req.Header.Set("Content-Type", "application/json")
	req.Header.Add("Idempotency-Key", "a")
	req.Header.Add("Idempotency-Key", "b")
	rec := httptest.NewRecorder()
	f.srv.ServeHTTP(rec, req)
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), "invalid_idempotency_key") {
		t.Errorf("two keys: %d %s", rec.Code, rec.Body)
	}
	if n, _ := f.store.Count(t.Context(), "h"); n != 2 {
		t.Errorf("refused keyed writes changed the history: %d messages", n)
	}
}

// failingWith is a memory driver whose writes fail with err.
type failingWith struct {
	*memstore.Store
	err error
}

func (f failingWith) Write(context.Context, string, []driver.Record) (int, error) { return 0, f.err }

func TestOutcomeUnknown(t *testing.T) {
	for _, c := range []struct {
		err  error
		code string
	}{
		{fmt.Errorf("x: %w: %w: %w", chatstore.ErrOutcomeUnknown, chatstore.ErrUnavailable, io.ErrUnexpectedEOF), "outcome_unknown"},
		{fmt.Errorf("x: %w: %w", chatstore.ErrUnavailable, io.ErrUnexpectedEOF), "store_unavailable"},
	} {
		st, err := chatstore.New(failingWith{memstore.New(), c.err}, nil)
		if err != nil {
			t.Fatal(err)
		}
		srv, _ := New(st, &Options{Logger: quiet})
		f := &fixture{t: t, store: st, srv: srv}
		r := f.do("POST", messagesPath("h"), body(chat.User("x")))
		if r.code != 503 || r.errorCode(t) != c.code || r.header.Get("Retry-After") != "1" {
			t.Errorf("%v: %d %s Retry-After %q, want 503 %s", c.err, r.code, r.body, r.header.Get("Retry-After"), c.code)
		}
	}
}

// pipeRequest starts a write whose body is a pipe, served in the
// background; it returns the pipe's writer and the recorder, done when the
// answer is complete.
func pipeRequest(srv *Server, contentLength int64) (*io.PipeWriter, *httptest.ResponseRecorder, <-chan struct{}) {
	pr, pw := io.Pipe()
	req := httptest.NewRequest("POST", messagesPath("big"), pr)
	req.Host = "127.0.0.1"
	req.ContentLength = contentLength
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.ServeHTTP(rec, req)
	}()
	return pw, rec, done
}

// waitFor polls cond, which another goroutine makes true, for up to 10 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestBodiesGrowAsTheyArrive: a client that announces a large body and
// sends little holds little, whatever it announced; the probe's 128 such
// clients at 8 MiB took the server to 1 GiB.
func TestBodiesGrowAsTheyArrive(t *testing.T) {
	f := newFixture(t, "memory://", nil)
	const clients = 128
	var pipes []*io.PipeWriter
	var dones []<-chan struct{}
	for range clients {
		pw, _, done := pipeRequest(f.srv, DefaultMaxBodyBytes)
		pipes, dones = append(pipes, pw), append(dones, done)
		if _, err := pw.Write([]byte(`{"messages":[`)); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "every request to be reading its body", func() bool { return f.srv.metrics.inFlight.Load() == clients })
	if held := f.srv.held.Load(); held > clients*bodyStartSize {
		t.Errorf("%d clients that sent 13 bytes each hold %d bytes; want at most %d", clients, held, clients*bodyStartSize)
	}
	for i, pw := range pipes {
		pw.CloseWithError(io.ErrUnexpectedEOF)
		<-dones[i]
	}
	if held := f.srv.held.Load(); held != 0 {
		t.Errorf("%d bytes still held after every request ended", held)
	}
}

// TestInFlightBudget: past the in-flight budget a request is refused with
// 503 overloaded and Retry-After, having changed nothing, and goes through
// once the budget is free again.
func TestInFlightBudget(t *testing.T) {
	// The smallest budget allowed: one body at the limit and what it
	// decodes to.
	const limit = 700 << 10
	f := newFixture(t, "memory://", &Options{MaxBodyBytes: limit, MaxInFlightBytes: (1 + decodeFactor) * limit})
	msg := body(chat.User(strings.Repeat("x", 600<<10)))
	// One request holds about 700 KiB of the budget, waiting for the rest
	// of its body; another then needs more than is left.
	pw, rec, done := pipeRequest(f.srv, int64(len(msg)))
	if _, err := pw.Write([]byte(msg[:len(msg)-10])); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the first body to be held", func() bool { return f.srv.held.Load() >= 512<<10 })
	r := f.do("POST", messagesPath("h"), body(chat.User(strings.Repeat("y", 600<<10))))
	if r.code != 503 || r.errorCode(t) != "overloaded" || r.header.Get("Retry-After") == "" {
		t.Errorf("a body past the budget: %d %.200s, want 503 overloaded with Retry-After", r.code, r.body)
	}
	if n, _ := f.store.Count(t.Context(), "h"); n != 0 {
		t.Errorf("an overloaded write stored %d messages", n)
	}
	pw.Write([]byte(msg[len(msg)-10:]))
	pw.Close()
	<-done
	if rec.Code != 200 {
		t.Errorf("the held request: %d %s", rec.Code, rec.Body)
	}
	if r := f.do("POST", messagesPath("h"), body(chat.User(strings.Repeat("y", 600<<10)))); r.code != 200 {
		t.Errorf("after the budget is free: %d %.200s", r.code, r.body)
	}
	if held := f.srv.held.Load(); held != 0 {
		t.Errorf("%d bytes still held", held)
	}
}

// TestResponseTooLarge: a read that selects more than the response limit
// (one open round can be any length) is refused with a message that says
// how to page, in either format, and on the context route.
func TestResponseTooLarge(t *testing.T) {
	f := newFixture(t, "memory://", &Options{MaxResponseBytes: 64 << 10})
	var msgs []chat.Message
	for range 20 {
		msgs = append(msgs, chat.User(strings.Repeat("z", 10_000))) // one open round
	}
	if r := f.do("POST", messagesPath("h"), body(msgs...)); r.code != 200 {
		t.Fatalf("write: %d %s", r.code, r.body)
	}
	for _, target := range []string{messagesPath("h") + "?last_k=1", messagesPath("h"), messagesPath("h") + "?last_k=1&format=openai", messagesPath("h") + "?offset=0&limit=20"} {
		r := f.do("GET", target, "")
		if r.code != 400 || r.errorCode(t) != "response_too_large" || !strings.Contains(string(r.body), "offset=0&limit=") {
			t.Errorf("GET %s: %d %.300s", target, r.code, r.body)
		}
	}
	r := f.do("POST", "/v1/histories/h/context", `{"last_k":1}`)
	if r.code != 400 || r.errorCode(t) != "response_too_large" {
		t.Errorf("context: %d %.300s", r.code, r.body)
	}
	if r := f.do("GET", messagesPath("h")+"?offset=0&limit=5", ""); r.code != 200 {
		t.Errorf("a page within the limit: %d %.300s", r.code, r.body)
	}
}

func TestLoopbackHostsOnly(t *testing.T) {
	f := newFixture(t, "memory://", nil)
	get := func(srv *Server, host string) int {
		req := httptest.NewRequest("GET", "/v1/histories", nil)
		req.Host = host
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		return rec.Code
	}
	for host, want := range map[string]int{
		"127.0.0.1:8080": 200, "localhost": 200, "LOCALHOST.:8080": 200, "[::1]:8080": 200, "127.1.2.3": 200, "app.localhost": 200,
		"evil.example": 403, "evil.example:8080": 403, "10.0.0.1:8080": 403, "localhost.evil.example": 403, "127.0.0.1.evil.example": 403,
	} {
		if got := get(f.srv, host); got != want {
			t.Errorf("Host %q: %d, want %d", host, got, want)
		}
	}
	req := httptest.NewRequest("DELETE", "/v1/histories", nil)
	req.Host = "rebound.example"
	rec := httptest.NewRecorder()
	f.srv.ServeHTTP(rec, req)
	if rec.Code != 403 || !strings.Contains(rec.Body.String(), "forbidden_host") {
		t.Errorf("DNS-rebinding DELETE: %d %s", rec.Code, rec.Body)
	}
	allowed := newFixture(t, "memory://", &Options{AllowedHosts: []string{"chat.internal"}})
	if got := get(allowed.srv, "chat.internal:80"); got != 200 {
		t.Errorf("an allowed host: %d", got)
	}
	any := newFixture(t, "memory://", &Options{AllowedHosts: []string{"*"}})
	if got := get(any.srv, "whatever.example"); got != 200 {
		t.Errorf("any host: %d", got)
	}
	tokens, _ := ParseTokens(strings.NewReader("acme 0123456789abcdef0123\n"))
	withTokens := newFixture(t, "memory://", &Options{Tokens: tokens})
	req = httptest.NewRequest("GET", "/v1/histories", nil)
	req.Host = "chat.example.com"
	req.Header.Set("Authorization", "Bearer 0123456789abcdef0123")
	rec = httptest.NewRecorder()
	withTokens.srv.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Errorf("a server with tokens serves any Host: %d %s", rec.Code, rec.Body)
	}
}

// TestCrossSiteWrites: a page of another site cannot write, with fetch's
// headers (Sec-Fetch-Site, Origin) or with a simple request whose body has
// no JSON Content-Type; nothing is stored either way.
func TestCrossSiteWrites(t *testing.T) {
	f := newFixture(t, "memory://", nil)
	b := body(chat.User("from another site"))
	for _, c := range []struct {
		name    string
		headers map[string]string
		code    int
		errCode string
	}{
		{"Sec-Fetch-Site cross-site", map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}, 403, "cross_origin"},
		{"Sec-Fetch-Site same-site", map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "same-site"}, 403, "cross_origin"},
		{"foreign Origin", map[string]string{"Content-Type": "application/json", "Origin": "http://127.0.0.1:9999"}, 403, "cross_origin"},
		{"no Content-Type (a Blob)", map[string]string{}, 415, "unsupported_media_type"},
		{"text/plain", map[string]string{"Content-Type": "text/plain"}, 415, "unsupported_media_type"},
		{"form", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"},
	} {
		for _, target := range []string{messagesPath("h"), "/v1/histories"} {
			method := "POST"
			if target == "/v1/histories" {
				if c.code == 415 {
					continue // a DELETE has no body to check
				}
				method = "DELETE"
			}
			req := httptest.NewRequest(method, target, strings.NewReader(b))
			req.Host = "127.0.0.1:8080"
			for k, v := range c.headers {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			f.srv.ServeHTTP(rec, req)
			if rec.Code != c.code || !strings.Contains(rec.Body.String(), `"`+c.errCode+`"`) {
				t.Errorf("%s %s: %d %s, want %d %s", c.name, method, rec.Code, rec.Body, c.code, c.errCode)
			}
		}
	}
	if n, _ := f.store.Count(t.Context(), "h"); n != 0 {
		t.Errorf("cross-site requests stored %d messages", n)
	}
	// The server's own page (same origin) writes and deletes.
	req := httptest.NewRequest("POST", messagesPath("h"), strings.NewReader(b))
	req.Host = "127.0.0.1:8080"
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Origin", "http://127.0.0.1:8080")
	rec := httptest.NewRecorder()
	f.srv.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Errorf("same-origin write: %d %s", rec.Code, rec.Body)
	}
}

func TestTenantNamespace(t *testing.T) {
	st, err := chatstore.Open(t.Context(), "memory://", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	open, _ := New(st, &Options{Logger: quiet})
	tokens, _ := ParseTokens(strings.NewReader("acme 0123456789abcdef0123\n"))
	closed, _ := New(st, &Options{Logger: quiet, Tokens: tokens})
	fo := &fixture{t: t, store: st, srv: open}
	fc := &fixture{t: t, store: st, srv: closed}
	auth := []string{"Authorization", "Bearer 0123456789abcdef0123"}

	// Without tokens, an id that looks like a tenant's is just an id, and
	// one in the tenants' namespace is refused.
	if r := fo.do("POST", messagesPath("acme:x"), body(chat.User("untokened"))); r.code != 200 {
		t.Fatalf("untokened write: %d %s", r.code, r.body)
	}
	if r := fo.do("POST", messagesPath("tenant:acme:x"), body(chat.User("smuggled"))); r.code != 400 || r.errorCode(t) != "invalid_history_id" {
		t.Errorf("untokened write into the tenants' namespace: %d %s", r.code, r.body)
	}
	// With tokens, acme sees none of it.
	r := fc.do("GET", "/v1/histories", "", auth...)
	if r.code != 200 || strings.Contains(string(r.body), `"x"`) {
		t.Errorf("acme lists: %d %s", r.code, r.body)
	}
	if r := fc.do("GET", "/v1/histories/x", "", auth...); r.code != 200 || !strings.Contains(string(r.body), `"count":0`) {
		t.Errorf("acme's x: %d %s", r.code, r.body)
	}
	if r := fc.do("POST", messagesPath("x"), body(chat.User("mine")), auth...); r.code != 200 {
		t.Fatalf("tokened write: %d %s", r.code, r.body)
	}
	if n, _ := st.Count(t.Context(), "tenant:acme:x"); n != 1 {
		t.Errorf("acme's history is not stored under tenant:acme:x (%d messages there)", n)
	}
	if n, _ := st.Count(t.Context(), "acme:x"); n != 1 {
		t.Errorf("the untokened history changed: %d messages", n)
	}
}

func TestMetricsNeedToken(t *testing.T) {
	tokens, _ := ParseTokens(strings.NewReader("acme 0123456789abcdef0123\nviewer fedcba9876543210fedc read-only\n"))
	f := newFixture(t, "memory://", &Options{Tokens: tokens})
	if r := f.do("GET", "/metrics", ""); r.code != 401 {
		t.Errorf("/metrics without a token: %d", r.code)
	}
	for _, tok := range []string{"0123456789abcdef0123", "fedcba9876543210fedc"} {
		if r := f.do("GET", "/metrics", "", "Authorization", "Bearer "+tok); r.code != 200 || !strings.Contains(string(r.body), "chatstore_http_requests_total") {
			t.Errorf("/metrics with a token: %d %.100s", r.code, r.body)
		}
	}
	if r := f.do("GET", "/healthz", ""); r.code != 200 {
		t.Errorf("/healthz stays open: %d", r.code)
	}
	open := newFixture(t, "memory://", nil)
	if r := open.do("GET", "/metrics", ""); r.code != 200 {
		t.Errorf("/metrics without tokens configured: %d", r.code)
	}
}

func TestContextWithoutBody(t *testing.T) {
	f := newFixture(t, "memory://?last_k=1", nil)
	f.do("POST", messagesPath("h"), body(chat.User("q1"), chat.Assistant("a1"), chat.User("q2"), chat.Assistant("a2")))
	req := httptest.NewRequest("POST", "/v1/histories/h/context", nil)
	req.Host = "127.0.0.1"
	rec := httptest.NewRecorder()
	f.srv.ServeHTTP(rec, req)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "q2") || strings.Contains(rec.Body.String(), "q1") {
		t.Errorf("context without a body: %d %s, want the store's default last_k (1 round)", rec.Code, rec.Body)
	}
}

// TestInvalidCallsAreNotStoreErrors: a 400 is the caller's error, and the
// store-operation metrics do not count it as the store's.
func TestInvalidCallsAreNotStoreErrors(t *testing.T) {
	f := newFixture(t, "memory://", nil)
	if r := f.do("GET", "/v1/histories?cursor=bogus", ""); r.code != 400 {
		t.Fatalf("bad cursor: %d", r.code)
	}
	m := string(f.do("GET", "/metrics", "").body)
	if strings.Contains(m, `op="list",outcome="error"`) || !strings.Contains(m, `op="list",outcome="invalid"`) {
		t.Errorf("a bad cursor in the metrics:\n%s", grepLines(m, `op="list"`))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// countingHandler counts the records logged at WARN and above.
type countingHandler struct{ n *atomic.Int64 }

func (h countingHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (h countingHandler) Handle(context.Context, slog.Record) error    { h.n.Add(1); return nil }
func (h countingHandler) WithAttrs([]slog.Attr) slog.Handler           { return h }
func (h countingHandler) WithGroup(string) slog.Handler                { return h }

// TestOutageLogsLittle: an outage under load logs a record, not one per
// failed request, and every 503, /healthz's included, says when to retry.
func TestOutageLogsLittle(t *testing.T) {
	st, err := chatstore.New(failing{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	srv, _ := New(st, &Options{Logger: slog.New(countingHandler{&n})})
	f := &fixture{t: t, store: st, srv: srv}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				f.do("GET", messagesPath("h"), "")
				f.do("GET", "/healthz", "")
			}
		}()
	}
	wg.Wait()
	if got := n.Load(); got > 4 {
		t.Errorf("800 failed requests logged %d records", got)
	}
	if r := f.do("GET", "/healthz", ""); r.code != 503 || r.header.Get("Retry-After") != "1" {
		t.Errorf("healthz during an outage: %d Retry-After %q", r.code, r.header.Get("Retry-After"))
	}
}

// brokenTail is a memory driver whose reads return a large good message,
// then one whose stored JSON cannot be read.
type brokenTail struct{ *memstore.Store }

func (b brokenTail) Tail(context.Context, string, int) ([]driver.Message, error) {
	good := chat.User(strings.Repeat("g", 100<<10))
	j, _ := good.MarshalJSON()
	return []driver.Message{{ID: "0", JSON: j}, {ID: "1", JSON: []byte(`{"content":[{"nope":1}],"role":"user"}`)}}, nil
}

// TailUncompacted is Tail too: the store reads a last_k through it when
// the driver has it (memstore does).
func (b brokenTail) TailUncompacted(ctx context.Context, historyID string, span driver.Span, _ int) ([]driver.Message, bool, error) {
	msgs, err := b.Tail(ctx, historyID, span.Rounds)
	return msgs, false, err
}

// TestBrokenAnswerIsNotA200: an answer streamed as it is made, that fails
// part way, breaks the connection: the client sees an unfinished answer,
// not a 200 it could take for the whole history.
func TestBrokenAnswerIsNotA200(t *testing.T) {
	st, err := chatstore.New(brokenTail{memstore.New()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, _ := New(st, &Options{Logger: quiet})
	ts := httptest.NewServer(srv)
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	defer ts.Close()
	resp, err := http.Get(ts.URL + messagesPath("h") + "?last_k=all")
	if err != nil {
		return // refused before the status line: not a 2xx either
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode < 300 {
		t.Errorf("a read that failed part way was answered whole: %d, %d bytes ending %q", resp.StatusCode, len(b), b[max(0, len(b)-40):])
	}
	if err == nil {
		t.Logf("answered %d", resp.StatusCode)
	}
}
