package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/internal/apicode"
	"github.com/chatstore/chatstore/internal/jsonx"
)

// apiError is an error with its HTTP status and error code already decided.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func httpError(status int, code, msg string) error {
	return &apiError{status: status, code: code, msg: msg}
}

func badRequest(code, msg string) error { return httpError(http.StatusBadRequest, code, msg) }

// classify is the server's one mapping from errors to HTTP answers. Only
// errors it does not recognise are 500s, and those are bugs.
func classify(err error) (status int, code, msg string) {
	var (
		ae *apiError
		me *http.MaxBytesError
		ce *chat.Error
	)
	switch {
	case errors.As(err, &ae):
		return ae.status, ae.code, ae.msg
	case errors.As(err, &me):
		return http.StatusRequestEntityTooLarge, "body_too_large", "the request body is over the limit of " + byteSize(me.Limit)
	case errors.As(err, &ce):
		code := "invalid_message"
		if errors.Is(ce, chat.ErrInvalidJSON) {
			code = apicode.InvalidJSON
		}
		return http.StatusBadRequest, code, strings.TrimPrefix(err.Error(), "chat: ")
	}
	for _, c := range apicode.Invalid {
		if errors.Is(err, c.Err) {
			return http.StatusBadRequest, c.Code, strings.TrimPrefix(err.Error(), "chatstore: ")
		}
	}
	switch {
	case errors.Is(err, chatstore.ErrIdempotencyKeyReused):
		return http.StatusUnprocessableEntity, apicode.IdempotencyKeyReused, strings.TrimPrefix(err.Error(), "chatstore: ")
	case errors.Is(err, chatstore.ErrNotFound):
		return http.StatusNotFound, apicode.MessageNotFound, strings.TrimPrefix(err.Error(), "chatstore: ")
	case errors.Is(err, chatstore.ErrExists):
		return http.StatusConflict, apicode.HistoryExists, strings.TrimPrefix(err.Error(), "chatstore: ")
	case errors.Is(err, chatstore.ErrNotSupported):
		return http.StatusNotImplemented, apicode.NotSupported, strings.TrimPrefix(err.Error(), "chatstore: ")
	case errors.Is(err, chatstore.ErrOutcomeUnknown):
		return http.StatusServiceUnavailable, apicode.OutcomeUnknown,
			"the store failed while the write was under way: it may or may not have been stored; retry with the same Idempotency-Key to store it exactly once"
	case errors.Is(err, chatstore.ErrUnavailable), errors.Is(err, chatstore.ErrClosed):
		return http.StatusServiceUnavailable, apicode.StoreUnavailable, "the store is unavailable; nothing was changed; retry later"
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, apicode.StoreTimeout, "the store did not answer in time; nothing was changed; retry later"
	}
	return http.StatusInternalServerError, "internal", "internal error; the server log has the details"
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

func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}
