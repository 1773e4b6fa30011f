package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/chatstore/chatstore/internal/apicode"
	"github.com/chatstore/chatstore/internal/jsonx"
	"github.com/chatstore/chatstore/internal/plural"
)

func httpError(status int, code, msg string) error {
	return &apicode.Error{Status: status, Code: code, Msg: msg}
}

func badRequest(code, msg string) error { return httpError(http.StatusBadRequest, code, msg) }

// classify maps an error to its answer: apicode.Classify, the mapping the
// MCP tools share, and the one error only HTTP has, a body over the limit.
func classify(err error) (status int, code, msg string) {
	var me *http.MaxBytesError
	if errors.As(err, &me) {
		return http.StatusRequestEntityTooLarge, "body_too_large", "the request body is over the limit of " + plural.Bytes(me.Limit)
	}
	return apicode.Classify(err)
}

// fail writes err as {"error": {"code": …, "message": …}}. It always
// answers: even when the client has gone, an answer nobody reads costs
// little, and no path through here may end without one.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, code, msg := classify(err)
	switch {
	case status == http.StatusServiceUnavailable:
		if code != apicode.Overloaded {
			s.unavailable.log(r.Context(), s.log, "store unavailable", err)
		}
		// The store is usually back within seconds (a database restart, a
		// failover); say when to try again rather than let clients spin.
		w.Header().Set("Retry-After", "1")
	case status >= 500 && status != http.StatusNotImplemented:
		s.log.LogAttrs(r.Context(), slog.LevelError, "request failed", slog.String("method", r.Method),
			slog.String("path", truncate(escapedPath(r), 200)), slog.Any("error", err))
	}
	if strings.HasPrefix(r.URL.Path, openaiPrefix) {
		if code == apicode.OutcomeUnknown {
			// OpenAI's SDKs repeat a request after a 5xx unless told
			// not to; repeating a change that may have been stored
			// could store it twice (items without ids get new ones).
			w.Header().Set("X-Should-Retry", "false")
		}
		var pe *paramError
		param := ""
		if errors.As(err, &pe) {
			param = pe.param
		}
		writeOpenAIError(w, status, code, msg, param)
		return
	}
	writeError(w, status, code, msg)
}

// logLimiter logs the first of a run of like failures at once, and the
// rest as one record per interval that counts them: a store outage under
// load fails thousands of requests a second, and the log needs to say that
// once, not thousands of times.
type logLimiter struct {
	every time.Duration
	mu    sync.Mutex
	next  time.Time // when the next record may be written
	quiet int       // failures not logged since the last record
}

func newLogLimiter(every time.Duration) *logLimiter { return &logLimiter{every: every} }

func (l *logLimiter) log(ctx context.Context, log *slog.Logger, msg string, err error) {
	now := time.Now()
	l.mu.Lock()
	if now.Before(l.next) {
		l.quiet++
		l.mu.Unlock()
		return
	}
	quiet := l.quiet
	l.quiet, l.next = 0, now.Add(l.every)
	l.mu.Unlock()
	attrs := []slog.Attr{slog.Any("error", err)}
	if quiet > 0 {
		attrs = append(attrs, slog.Int("more_failures_not_logged", quiet), slog.Duration("in", l.every))
	}
	log.LogAttrs(ctx, slog.LevelWarn, msg, attrs...)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	b := appendError(append(make([]byte, 0, 64+len(msg)), '{'), code, msg)
	writeJSON(w, status, append(b, "}\n"...))
}

// appendError appends the member "error":{"code":…,"message":…}.
func appendError(b []byte, code, msg string) []byte {
	b = append(b, `"error":{"code":`...)
	b, _ = jsonx.AppendString(b, code, jsonx.Compact)
	b = append(b, `,"message":`...)
	b, _ = jsonx.AppendString(b, strings.ToValidUTF8(truncate(msg, 2000), "\uFFFD"), jsonx.Compact)
	return append(b, '}')
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["X-Content-Type-Options"] = nosniff
	w.WriteHeader(status)
	w.Write(body)
}

var (
	jsonContentType = []string{"application/json"}
	nosniff         = []string{"nosniff"}
)

// truncate shortens s to at most n bytes (on a rune boundary), so that a
// 100,000-byte id does not come back in full inside an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && cut < len(s) && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}
