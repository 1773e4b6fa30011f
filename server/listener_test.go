package server

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestListenerProtocolErrors sends requests net/http rejects before any
// handler runs, and checks they are answered in the API's JSON error shape
// with net/http's status, while well-formed requests pass untouched.
func TestListenerProtocolErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: newFixture(t, "memory://", nil).srv, MaxHeaderBytes: 1 << 10}
	go hs.Serve(Listener(ln, hs.MaxHeaderBytes))
	t.Cleanup(func() { hs.Close() })

	cases := []struct {
		name, raw string
		status    int
		code      string
	}{
		{"header block over the limit", "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: " + strings.Repeat("a", 8<<10) + "\r\n\r\n", 431, "headers_too_large"},
		{"NUL in the request line", "GET /v1/histories/a\x00b HTTP/1.1\r\nHost: localhost\r\n\r\n", 400, "bad_request"},
		{"malformed header line", "GET /healthz HTTP/1.1\r\nHost: localhost\r\nno colon here\r\n\r\n", 400, "bad_request"},
		{"not HTTP", "hello\r\n\r\n", 400, "bad_request"},
		{"no Host", "GET /healthz HTTP/1.1\r\n\r\n", 400, "bad_request"},
		{"HTTP version", "GET /healthz HTTP/9.9\r\nHost: localhost\r\n\r\n", 400, "bad_request"},
		{"Expect other than 100-continue", "GET /healthz HTTP/1.1\r\nHost: localhost\r\nExpect: 200-ok\r\n\r\n", 417, "expectation_failed"},
		{"unknown transfer coding", "POST /v1/histories/a/messages HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: zip\r\n\r\n", 400, "bad_request"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := rawRequest(t, ln.Addr().String(), c.raw)
			defer resp.Body.Close()
			var got struct {
				Error struct{ Code, Message string }
			}
			body, _ := io.ReadAll(resp.Body)
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("%d %q: not JSON: %v", resp.StatusCode, body, err)
			}
			if resp.StatusCode != c.status || got.Error.Code != c.code || got.Error.Message == "" ||
				resp.Header.Get("Content-Type") != "application/json" {
				t.Errorf("%d %s %q, want %d %s", resp.StatusCode, resp.Header.Get("Content-Type"), body, c.status, c.code)
			}
		})
	}
	resp := rawRequest(t, ln.Addr().String(), "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
	if body, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 || !strings.Contains(string(body), `"ok"`) {
		t.Errorf("a good request through the listener: %d %s", resp.StatusCode, body)
	}
}

func rawRequest(t *testing.T, addr, raw string) *http.Response {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	return resp
}
