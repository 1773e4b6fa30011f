package server

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"math"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/component"
	"github.com/chatstore/chatstore/internal/jsonx"
)

func (s *Server) healthz(w http.ResponseWriter, r *http.Request, _ Tenant) error {
	if err := s.timed(r.Context(), "ping", func(ctx context.Context) error { return s.store.Ping(ctx) }); err != nil {
		_, code, msg := classify(err)
		if code == "internal" {
			code, msg = "store_unavailable", "the store did not answer the health check"
		}
		s.log.Warn("health check failed", "error", err)
		b := appendError([]byte(`{"status":"unavailable",`), code, msg)
		writeJSON(w, http.StatusServiceUnavailable, append(b, "}\n"...))
		return nil
	}
	writeJSON(w, http.StatusOK, []byte(`{"status":"ok"}`+"\n"))
	return nil
}

func (s *Server) serveMetrics(w http.ResponseWriter, _ *http.Request, _ Tenant) error {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	return s.metrics.write(w)
}

//go:embed openapi.json
var openAPIDoc []byte

func (s *Server) openAPI(w http.ResponseWriter, _ *http.Request, _ Tenant) error {
	writeJSON(w, http.StatusOK, openAPIDoc)
	return nil
}

// timed runs one store operation under the store-operation metrics.
func (s *Server) timed(ctx context.Context, op string, f func(context.Context) error) error {
	start := time.Now()
	err := f(ctx)
	s.metrics.storeOp(op, err, time.Since(start))
	return err
}

// historyID returns the path's history id as stored: the tenant's prefix
// and the id.
func (s *Server) historyID(r *http.Request, t Tenant) (string, error) {
	sp, _ := r.Context().Value(pathKey{}).(sentPath) // set by ServeHTTP for every history route
	id := sp.id
	if len(id) > s.opts.MaxHistoryIDLen {
		return "", badRequest("invalid_history_id", fmt.Sprintf("the history id is %d bytes; the limit is %d", len(id), s.opts.MaxHistoryIDLen))
	}
	if err := chatstore.CheckHistoryID(id); err != nil {
		return "", err
	}
	return t.prefix() + id, nil
}

// query parses the query string, refusing parameters the route does not
// take (a misspelt last_k must not silently mean the default) and
// parameters given twice.
func query(r *http.Request, allowed ...string) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, badRequest("invalid_query", "the query string is malformed: "+err.Error())
	}
	for k, v := range q {
		switch {
		case !slices.Contains(allowed, k):
			if len(allowed) == 0 {
				return nil, badRequest("invalid_query", fmt.Sprintf("unknown query parameter %q; this route takes none", truncate(k, 100)))
			}
			return nil, badRequest("invalid_query", fmt.Sprintf("unknown query parameter %q; this route takes %s", truncate(k, 100), strings.Join(allowed, ", ")))
		case len(v) > 1:
			return nil, badRequest("invalid_query", fmt.Sprintf("query parameter %q is given %d times", k, len(v)))
		}
	}
	return q, nil
}

// format reads ?format=: false for Haystack's format (the default), true for
// OpenAI's.
func format(q url.Values) (openai bool, err error) {
	switch f := q.Get("format"); f {
	case "", "haystack":
		return false, nil
	case "openai":
		return true, nil
	default:
		return false, badRequest("invalid_format", fmt.Sprintf("format must be \"haystack\" or \"openai\", got %q", truncate(f, 100)))
	}
}

// body reads a JSON request body within the size limit.
func (s *Server) body(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	// A missing Content-Type is taken as JSON (curl --data-binary sends
	// none when told nothing); anything else that is not JSON is refused,
	// since a form or a text body is a client bug.
	if cts := r.Header.Values("Content-Type"); len(cts) > 1 {
		return nil, httpError(http.StatusUnsupportedMediaType, "unsupported_media_type",
			fmt.Sprintf("the request has %d Content-Type headers; send one, application/json", len(cts)))
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return nil, httpError(http.StatusUnsupportedMediaType, "unsupported_media_type",
				fmt.Sprintf("the body must be JSON (Content-Type: application/json), got %q", truncate(ct, 100)))
		}
	}
	if r.ContentLength > s.opts.MaxBodyBytes {
		return nil, &http.MaxBytesError{Limit: s.opts.MaxBodyBytes}
	}
	var buf bytes.Buffer
	if n := r.ContentLength; n > 0 {
		// Within the limit, checked above. ReadFrom wants MinRead bytes
		// free before each read, the one that sees EOF too; without them it
		// would copy the whole body once more.
		buf.Grow(int(n) + bytes.MinRead)
	}
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)); err != nil {
		if _, ok := err.(*http.MaxBytesError); ok {
			return nil, err
		}
		return nil, badRequest("invalid_body", "the request body could not be read: "+err.Error())
	}
	if buf.Len() == 0 {
		return nil, badRequest("invalid_json", "the request body is empty; a JSON object is required")
	}
	return buf.Bytes(), nil
}

// members splits a JSON request body into its members (jsonx.Members),
// with the server's errors.
func members(body []byte, names ...string) (map[string]jsonx.Member, error) {
	ms, err := jsonx.Members(body, names...)
	if err != nil {
		return nil, bodyErr("", err)
	}
	return ms, nil
}

// bodyErr describes a JSON error of the request body outside the messages.
func bodyErr(where string, err error) error {
	var (
		se *jsonx.SyntaxError
		te *jsonx.TypeError
	)
	prefix := "the request body "
	if where != "" {
		prefix = where + ": "
	}
	var ue *jsonx.UnknownMemberError
	switch {
	case errors.As(err, &ue):
		return badRequest("invalid_request", "the request body has an "+ue.Error())
	case errors.As(err, &se):
		return badRequest("invalid_json", fmt.Sprintf("the request body is not valid JSON: %s (at byte %d)", se.Msg, se.Offset))
	case errors.As(err, &te):
		return badRequest("invalid_request", prefix+te.Error())
	}
	return badRequest("invalid_json", prefix+err.Error())
}

// decodeMessages reads a JSON array of messages in the chosen format. Error
// paths are made relative to the body: "messages[3].content[0].text".
func decodeMessages(m jsonx.Member, name string, openai bool) ([]chat.Message, error) {
	var (
		msgs []chat.Message
		err  error
	)
	if openai {
		msgs, err = chat.UnmarshalOpenAIList(m.Raw)
	} else {
		msgs, err = chat.UnmarshalList(m.Raw)
	}
	if err != nil {
		var ce *chat.Error
		if errors.As(err, &ce) {
			ce.Path = name + ce.Path
			if ce.Offset >= 0 {
				ce.Offset += m.Offset
			}
		}
		return nil, err
	}
	return msgs, nil
}

func (s *Server) writeMessages(w http.ResponseWriter, r *http.Request, t Tenant) error {
	id, err := s.historyID(r, t)
	if err != nil {
		return err
	}
	q, err := query(r, "format")
	if err != nil {
		return err
	}
	openai, err := format(q)
	if err != nil {
		return err
	}
	body, err := s.body(w, r)
	if err != nil {
		return err
	}
	ms, err := members(body, "messages")
	if err != nil {
		return err
	}
	raw, ok := ms["messages"]
	if !ok {
		return badRequest("invalid_request", `the request body needs a "messages" array`)
	}
	msgs, err := decodeMessages(raw, "messages", openai)
	if err != nil {
		return err
	}
	if len(msgs) > s.opts.MaxWriteMessages {
		return badRequest("too_many_messages", fmt.Sprintf("%d messages in one write; the limit is %d", len(msgs), s.opts.MaxWriteMessages))
	}
	var n int
	err = s.timed(r.Context(), "write", func(ctx context.Context) (err error) {
		n, err = s.store.Write(ctx, id, msgs)
		return err
	})
	if err != nil {
		return err
	}
	s.metrics.written.Add(uint64(n))
	b := append(make([]byte, 0, 32), `{"messages_written":`...)
	b = strconv.AppendInt(b, int64(n), 10)
	writeJSON(w, http.StatusOK, append(b, "}\n"...))
	return nil
}

func (s *Server) readMessages(w http.ResponseWriter, r *http.Request, t Tenant) error {
	id, err := s.historyID(r, t)
	if err != nil {
		return err
	}
	q, err := query(r, "last_k", "offset", "limit", "format", "require_tool_call_ids")
	if err != nil {
		return err
	}
	out, err := outputFormat(q)
	if err != nil {
		return err
	}
	// Either the last rounds (last_k, Haystack's retrieve) or a range of
	// positions (offset and limit, for paging); each read two ways.
	var (
		appendJSON func(ctx context.Context, dst []byte) ([]byte, int, error)
		decoded    func(ctx context.Context) ([]chat.Message, error)
	)
	_, hasOffset := q["offset"]
	_, hasLimit := q["limit"]
	if hasOffset || hasLimit {
		if _, ok := q["last_k"]; ok {
			return badRequest("invalid_query", `give either "last_k" (the last rounds) or "offset" and "limit" (a range of positions), not both`)
		}
		offset, limit, err := rangeParams(q)
		if err != nil {
			return err
		}
		appendJSON = func(ctx context.Context, dst []byte) ([]byte, int, error) {
			return s.store.AppendRangeJSON(ctx, dst, id, offset, limit)
		}
		decoded = func(ctx context.Context) ([]chat.Message, error) { return s.store.Range(ctx, id, offset, limit) }
	} else {
		k := s.store.Options().LastK
		if v, ok := q["last_k"]; ok {
			if k, err = chatstore.ParseLastK(v[0]); err != nil {
				return err
			}
		}
		appendJSON = func(ctx context.Context, dst []byte) ([]byte, int, error) {
			return s.store.AppendLastJSON(ctx, dst, id, k)
		}
		decoded = func(ctx context.Context) ([]chat.Message, error) { return s.store.RetrieveLast(ctx, id, k) }
	}
	if !out.openai {
		// Haystack's format is what the store keeps: no need to decode.
		return s.writeStoredList(w, r, appendJSON)
	}
	var msgs []chat.Message
	err = s.timed(r.Context(), "retrieve", func(ctx context.Context) (err error) {
		msgs, err = decoded(ctx)
		return err
	})
	if err != nil {
		return err
	}
	return s.writeMessageList(w, msgs, out)
}

// DefaultRangeLimit is the limit of a range read that gives none.
const DefaultRangeLimit = 100

// rangeParams reads offset (default 0) and limit (default
// DefaultRangeLimit, at most chatstore.MaxRangeLimit).
func rangeParams(q url.Values) (offset, limit int, err error) {
	limit = DefaultRangeLimit
	for _, p := range []struct {
		name, want string
		dst        *int
		min, max   int
	}{
		{"offset", "a whole number ≥ 0", &offset, 0, math.MaxInt},
		{"limit", fmt.Sprintf("a whole number from 1 to %d", chatstore.MaxRangeLimit), &limit, 1, chatstore.MaxRangeLimit},
	} {
		v, ok := q[p.name]
		if !ok {
			continue
		}
		// Digits only: Atoi also takes "+5", which no client means.
		n, err := strconv.Atoi(v[0])
		if err != nil || strings.HasPrefix(v[0], "+") || n < p.min || n > p.max {
			return 0, 0, badRequest("invalid_range", fmt.Sprintf("%s must be %s, got %q", p.name, p.want, truncate(v[0], 50)))
		}
		*p.dst = n
	}
	return offset, limit, nil
}

// writeStoredList answers {"messages":[…]} in Haystack's format, straight
// from the store's encoding (Store.AppendLastJSON, AppendRangeJSON).
func (s *Server) writeStoredList(w http.ResponseWriter, r *http.Request, appendJSON func(ctx context.Context, dst []byte) ([]byte, int, error)) error {
	bp := getBuf()
	defer putBuf(bp)
	b := append((*bp)[:0], `{"messages":`...)
	var n int
	err := s.timed(r.Context(), "retrieve", func(ctx context.Context) (err error) {
		b, n, err = appendJSON(ctx, b)
		return err
	})
	if err != nil {
		return err
	}
	b = append(b, "}\n"...)
	*bp = b
	s.metrics.read.Add(uint64(n))
	writeJSON(w, http.StatusOK, b)
	return nil
}

// outFormat is how messages are written in a response.
type outFormat struct {
	openai bool
	opts   chat.OpenAIOptions
}

func outputFormat(q url.Values) (outFormat, error) {
	openai, err := format(q)
	if err != nil {
		return outFormat{}, err
	}
	f := outFormat{openai: openai}
	if v, ok := q["require_tool_call_ids"]; ok {
		if !openai {
			return f, badRequest("invalid_query", "require_tool_call_ids applies only with format=openai")
		}
		b, err := strconv.ParseBool(v[0])
		if err != nil {
			return f, badRequest("invalid_query", fmt.Sprintf("require_tool_call_ids must be true or false, got %q", truncate(v[0], 100)))
		}
		f.opts.RequireToolCallIDs = b
	}
	return f, nil
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(bp *[]byte) {
	if cap(*bp) <= 1<<20 { // do not pin huge buffers
		bufPool.Put(bp)
	}
}

func (s *Server) writeMessageList(w http.ResponseWriter, msgs []chat.Message, f outFormat) error {
	bp := getBuf()
	defer putBuf(bp)
	b := append((*bp)[:0], `{"messages":[`...)
	var err error
	for i, m := range msgs {
		if i > 0 {
			b = append(b, ',')
		}
		if f.openai {
			b, err = m.AppendOpenAI(b, f.opts)
		} else {
			b, err = m.AppendJSON(b)
		}
		if err != nil {
			var ce *chat.Error
			if errors.As(err, &ce) {
				ce.Path = "messages[" + strconv.Itoa(i) + "]" + ce.Path
				return badRequest("not_convertible", strings.TrimPrefix(ce.Error(), "chat: "))
			}
			return err
		}
	}
	b = append(b, "]}\n"...)
	*bp = b
	s.metrics.read.Add(uint64(len(msgs)))
	writeJSON(w, http.StatusOK, b)
	return nil
}

func (s *Server) context(w http.ResponseWriter, r *http.Request, t Tenant) error {
	id, err := s.historyID(r, t)
	if err != nil {
		return err
	}
	q, err := query(r, "format", "require_tool_call_ids")
	if err != nil {
		return err
	}
	out, err := outputFormat(q)
	if err != nil {
		return err
	}
	body, err := s.body(w, r)
	if err != nil {
		return err
	}
	ms, err := members(body, "current_messages", "last_k")
	if err != nil {
		return err
	}
	var opts component.RunOptions
	if raw, ok := ms["current_messages"]; ok && !bytes.Equal(raw.Raw, []byte("null")) {
		if opts.CurrentMessages, err = decodeMessages(raw, "current_messages", out.openai); err != nil {
			return err
		}
		if len(opts.CurrentMessages) > s.opts.MaxWriteMessages {
			return badRequest("too_many_messages", fmt.Sprintf("%d current messages; the limit is %d", len(opts.CurrentMessages), s.opts.MaxWriteMessages))
		}
	}
	if raw, ok := ms["last_k"]; ok {
		if opts.LastK, err = bodyLastK(raw.Raw); err != nil {
			return err
		}
	}
	retriever := component.Retriever{Store: s.store, LastK: component.StoreDefault}
	var msgs []chat.Message
	err = s.timed(r.Context(), "retrieve", func(ctx context.Context) (err error) {
		msgs, err = retriever.Run(ctx, id, opts)
		return err
	})
	if err != nil {
		return err
	}
	return s.writeMessageList(w, msgs, out)
}

// bodyLastK reads "last_k" of a context request: a number of rounds ≥ 0,
// "all", or null for the store's default.
func bodyLastK(raw []byte) (*int, error) {
	d := jsonx.NewDecoder(raw)
	var k int
	switch d.Peek() {
	case jsonx.Null:
		return nil, nil
	case jsonx.Number:
		n, err := d.Number()
		if err != nil {
			return nil, bodyErr("last_k", err)
		}
		v, err := strconv.Atoi(string(n))
		if err != nil || v < 0 {
			return nil, badRequest("invalid_last_k", fmt.Sprintf("last_k must be a whole number of rounds ≥ 0, \"all\" or null, got %s", truncate(string(n), 50)))
		}
		k = v
	case jsonx.String:
		str, err := d.String()
		if err != nil {
			return nil, bodyErr("last_k", err)
		}
		if k, err = chatstore.ParseLastK(str); err != nil {
			return nil, err
		}
	default:
		return nil, badRequest("invalid_last_k", "last_k must be a whole number of rounds ≥ 0, \"all\" or null, got "+d.Peek().String())
	}
	return &k, nil
}

func (s *Server) getHistory(w http.ResponseWriter, r *http.Request, t Tenant) error {
	id, err := s.historyID(r, t)
	if err != nil {
		return err
	}
	if _, err := query(r); err != nil {
		return err
	}
	var n int
	err = s.timed(r.Context(), "count", func(ctx context.Context) (err error) {
		n, err = s.store.Count(ctx, id)
		return err
	})
	if err != nil {
		return err
	}
	b := []byte(`{"chat_history_id":`)
	b, _ = jsonx.AppendString(b, id[len(t.prefix()):], jsonx.Compact)
	b = append(b, `,"count":`...)
	b = strconv.AppendInt(b, int64(n), 10)
	writeJSON(w, http.StatusOK, append(b, "}\n"...))
	return nil
}

func (s *Server) deleteHistory(w http.ResponseWriter, r *http.Request, t Tenant) error {
	id, err := s.historyID(r, t)
	if err != nil {
		return err
	}
	if _, err := query(r); err != nil {
		return err
	}
	if err := s.timed(r.Context(), "delete", func(ctx context.Context) error { return s.store.Delete(ctx, id) }); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// deleteAll deletes every history the caller may see: the whole store
// without tenants, the tenant's histories with them. A tenant's delete walks
// its histories one by one, so it is not atomic: a history written
// meanwhile may survive, and a failure part way leaves the rest.
func (s *Server) deleteAll(w http.ResponseWriter, r *http.Request, t Tenant) error {
	if _, err := query(r); err != nil {
		return err
	}
	if t.Name == "" {
		if err := s.timed(r.Context(), "delete_all", s.store.DeleteAll); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	err := s.timed(r.Context(), "delete_all", func(ctx context.Context) error {
		return s.store.DeletePrefix(ctx, t.prefix())
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listHistories(w http.ResponseWriter, r *http.Request, t Tenant) error {
	q, err := query(r, "limit", "cursor", "prefix")
	if err != nil {
		return err
	}
	if p := q.Get("prefix"); p != "" && (len(p) > s.opts.MaxHistoryIDLen || chatstore.CheckHistoryID(p) != nil) {
		return badRequest("invalid_query", fmt.Sprintf("prefix must be the start of a valid history id (UTF-8, no NUL, at most %d bytes)", s.opts.MaxHistoryIDLen))
	}
	opts := chatstore.ListOptions{Cursor: q.Get("cursor"), Prefix: t.prefix() + q.Get("prefix")}
	tenantLen := len(t.prefix()) // stripped from the ids listed
	if v, ok := q["limit"]; ok {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 1 || n > chatstore.MaxListLimit {
			return badRequest("invalid_limit", fmt.Sprintf("limit must be a number from 1 to %d, got %q", chatstore.MaxListLimit, truncate(v[0], 50)))
		}
		opts.Limit = n
	}
	var page chatstore.Page
	err = s.timed(r.Context(), "list", func(ctx context.Context) (err error) {
		page, err = s.store.List(ctx, opts)
		return err
	})
	if err != nil {
		return err
	}
	b := []byte(`{"histories":[`)
	for i, h := range page.Histories {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"chat_history_id":`...)
		b, _ = jsonx.AppendString(b, h.ID[tenantLen:], jsonx.Compact)
		b = append(b, `,"count":`...)
		b = strconv.AppendInt(b, int64(h.Count), 10)
		b = append(b, '}')
	}
	b = append(b, `],"next_cursor":`...)
	if page.NextCursor == "" {
		b = append(b, "null"...)
	} else {
		b, _ = jsonx.AppendString(b, page.NextCursor, jsonx.Compact)
	}
	writeJSON(w, http.StatusOK, append(b, "}\n"...))
	return nil
}
