package server

import (
	"bytes"
	"net"
	"net/http"
	"strconv"

	"github.com/chatstore/chatstore/internal/plural"
)

// Requests that net/http cannot parse (a header block over the limit, a
// NUL in the request line, a malformed header) never reach a handler:
// net/http answers them itself, in plain text, straight onto the
// connection. Clients of this API read every error as
// {"error":{"code","message"}}, so Listener rewrites those answers into that
// shape on their way out.

// Listener wraps ln so that the answers net/http writes by itself for
// requests it cannot parse come out in the API's JSON error shape, with the
// same status (except net/http's 501 for an unknown Transfer-Encoding,
// which becomes a 400: no malformed request is answered with a 5xx). maxHeaderBytes is the http.Server's MaxHeaderBytes, quoted in
// the 431 message. Serve the Server's handler on the returned listener.
func Listener(ln net.Listener, maxHeaderBytes int) net.Listener {
	return &listener{Listener: ln, maxHeader: maxHeaderBytes}
}

type listener struct {
	net.Listener
	maxHeader int
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &conn{Conn: c, maxHeader: l.maxHeader}, nil
}

type conn struct {
	net.Conn
	maxHeader int
}

// protocolErrorHeaders is what net/http puts between the status line and
// the text of the answers it writes without a handler (net/http's
// errorHeaders). No handler of this package writes this exact block: its
// answers are JSON, and /metrics has its own Content-Type.
var protocolErrorHeaders = []byte("\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n")

func (c *conn) Write(p []byte) (int, error) {
	status, text, ok := parseProtocolError(p)
	if !ok && bytes.HasPrefix(p, expectationFailed) {
		// net/http answers an Expect other than 100-continue itself, with
		// an empty 417 through the usual response path; no handler of
		// this package answers 417.
		status, ok = http.StatusExpectationFailed, true
	}
	if !ok {
		return c.Conn.Write(p)
	}
	if _, err := c.Conn.Write(c.jsonAnswer(status, text)); err != nil {
		return 0, err
	}
	return len(p), nil // all of p was answered, in another shape
}

var expectationFailed = []byte("HTTP/1.1 417 Expectation Failed\r\n")

// parseProtocolError recognises a whole net/http protocol error answer,
// "HTTP/1.1 NNN Reason" + protocolErrorHeaders + text, written in one call.
func parseProtocolError(p []byte) (status int, text string, ok bool) {
	rest, found := bytes.CutPrefix(p, []byte("HTTP/1.1 "))
	if !found || len(rest) < 4 || rest[3] != ' ' {
		return 0, "", false
	}
	status, err := strconv.Atoi(string(rest[:3]))
	if err != nil || status < 400 || status > 599 {
		return 0, "", false
	}
	_, body, found := bytes.Cut(rest, protocolErrorHeaders)
	if !found {
		return 0, "", false
	}
	return status, string(body), true
}

func (c *conn) jsonAnswer(status int, text string) []byte {
	code, msg := "bad_request", "the request is not valid HTTP/1.1"
	switch status {
	case 431:
		code = "headers_too_large"
		msg = "the request line and headers are over the limit of " + plural.Bytes(int64(c.maxHeader))
	case 417:
		code = "expectation_failed"
		msg = "the request's Expect header is not supported; the only expectation this server meets is \"100-continue\""
	case 505:
		// An HTTP version net/http does not speak (HTTP/9.9): the
		// request is malformed, not the server broken.
		status = http.StatusBadRequest
		msg = "the request's HTTP version is not supported; send HTTP/1.1"
	case 501:
		// net/http answers 501 to a Transfer-Encoding other than one
		// "chunked" (RFC 9112 suggests it). It is a malformed request from
		// this API's point of view, and a 5xx would say the server failed.
		status = http.StatusBadRequest
		msg = "the request's Transfer-Encoding is not supported; send a Content-Length or Transfer-Encoding: chunked"
	default:
		// net/http's text is "400 Bad Request: what was wrong" when it
		// says what was wrong; keep that part.
		if _, detail, ok := bytes.Cut([]byte(text), []byte(": ")); ok {
			msg += ": " + string(detail)
		}
	}
	body := appendError(append(make([]byte, 0, 128), '{'), code, msg)
	body = append(body, "}\n"...)
	b := make([]byte, 0, 160+len(body))
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(status)...)
	b = append(b, "\r\nContent-Type: application/json\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n\r\n"...)
	return append(b, body...)
}
