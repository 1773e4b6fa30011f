package server

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
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
	"github.com/chatstore/chatstore/internal/apicode"
	"github.com/chatstore/chatstore/internal/jsonx"
	"github.com/chatstore/chatstore/internal/num"
	"github.com/chatstore/chatstore/internal/plural"
)

func (s *Server) healthz(w http.ResponseWriter, r *http.Request, _ Tenant) error {
	if err := s.timed(r.Context(), "ping", func(ctx context.Context) error { return s.store.Ping(ctx) }); err != nil {
		_, code, msg := classify(err)
		if code == apicode.Internal {
			code, msg = "store_unavailable", "the store did not answer the health check"
		}
		s.unavailable.log(r.Context(), s.log, "health check failed", err)
		w.Header().Set("Retry-After", "1")
		b := appendError([]byte(`{"status":"unavailable",`), code, msg)
		writeJSON(w, http.StatusServiceUnavailable, append(b, "}\n"...))
		return nil
	}
	writeJSON(w, http.StatusOK, []byte(`{"status":"ok"}`+"\n"))
	return nil
}

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request, _ Tenant) error {
	s.metrics.handler.ServeHTTP(w, r)
	return nil
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

// historyCall is what every route of one history starts from.
type historyCall struct {
	store *chatstore.Store // the tenant's (storeOf)
	id    string           // the history id, as the client named it
	query url.Values
	out   outFormat // the message format, on routes that take ?format=
}

// history does what every route of one history does first, in this order:
// it takes the history id from the path, the query (which may hold only
// params) and the message format from the query, and picks the tenant's
// store.
func (s *Server) history(r *http.Request, t Tenant, params ...string) (historyCall, error) {
	id, err := s.historyID(r, t)
	if err != nil {
		return historyCall{}, err
	}
	q, err := query(r, params...)
	if err != nil {
		return historyCall{}, err
	}
	out, err := outputFormat(q) // Haystack's without ?format=, which query refuses where it does not belong
	if err != nil {
		return historyCall{}, err
	}
	return historyCall{store: s.storeOf(t), id: id, query: q, out: out}, nil
}

// storeOf is the store as tenant t sees it: a view of its own histories
// (chatstore.Prefixed), whose ids come and go without the tenant's prefix;
// without tenants, the whole store.
func (s *Server) storeOf(t Tenant) *chatstore.Store {
	if t.Name == "" {
		return s.store
	}
	return chatstore.Prefixed(s.store, t.prefix())
}

// historyID returns the path's history id, if checkHistoryID takes it.
func (s *Server) historyID(r *http.Request, t Tenant) (string, error) {
	sp, _ := r.Context().Value(pathKey{}).(sentPath) // set by ServeHTTP for every history route
	if err := s.checkHistoryID(sp.id, t); err != nil {
		return "", err
	}
	return sp.id, nil
}

// checkHistoryID checks a history id of a request (the path's, a fork's
// new one, an MCP tool's argument): within the server's limit, and outside
// the tenants' namespace when there are no tenants.
func (s *Server) checkHistoryID(id string, t Tenant) error {
	if len(id) > s.opts.MaxHistoryIDLen {
		return badRequest("invalid_history_id", fmt.Sprintf("the history id is %d bytes; the limit is %d", len(id), s.opts.MaxHistoryIDLen))
	}
	if err := chatstore.CheckHistoryID(id); err != nil {
		return err
	}
	if t.Name == "" && strings.HasPrefix(id, tenantNamespace) {
		return badRequest("invalid_history_id", fmt.Sprintf("history ids starting with %q are reserved for the histories of tenants (a server with a tokens file keeps them there); choose another id", tenantNamespace))
	}
	return nil
}

// listQuery is query for GET /v1/histories, which takes besides its
// parameters any number of metadata[KEY]=VALUE filters.
func listQuery(r *http.Request, params ...string) (url.Values, map[string]string, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, nil, badRequest("invalid_query", "the query string is malformed: "+err.Error())
	}
	var filter map[string]string
	for k, v := range q {
		name, ok := strings.CutPrefix(k, "metadata[")
		if !ok {
			continue
		}
		name, ok = strings.CutSuffix(name, "]")
		switch {
		case !ok || name == "":
			return nil, nil, badRequest("invalid_query", fmt.Sprintf("a metadata filter is metadata[KEY]=VALUE, got %q", truncate(k, 100)))
		case len(v) > 1:
			return nil, nil, badRequest("invalid_query", fmt.Sprintf("query parameter %q is given %d times", truncate(k, 100), len(v)))
		case len(name) > chatstore.MaxMetadataKeyLen || len(v[0]) > chatstore.MaxMetadataValueLen:
			return nil, nil, badRequest("invalid_metadata", fmt.Sprintf("%s: metadata keys are 1 to %d bytes and values at most %d", truncate(k, 100), chatstore.MaxMetadataKeyLen, chatstore.MaxMetadataValueLen))
		}
		if filter == nil {
			filter = map[string]string{}
		}
		filter[name] = v[0]
		delete(q, k)
	}
	if len(filter) > chatstore.MaxMetadataPairs {
		return nil, nil, badRequest("invalid_metadata", fmt.Sprintf("%d metadata filters; a history has at most %d pairs", len(filter), chatstore.MaxMetadataPairs))
	}
	if err := checkQuery(q, append(params, "metadata[KEY]")...); err != nil {
		return nil, nil, err
	}
	return q, filter, nil
}

// query parses the query string, refusing parameters the route does not
// take (a misspelt last_k must not silently mean the default) and
// parameters given twice.
func query(r *http.Request, allowed ...string) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, badRequest("invalid_query", "the query string is malformed: "+err.Error())
	}
	return q, checkQuery(q, allowed...)
}

// checkQuery refuses parameters not allowed and parameters given twice.
func checkQuery(q url.Values, allowed ...string) error {
	for k, v := range q {
		switch {
		case !slices.Contains(allowed, k):
			if len(allowed) == 0 {
				return badRequest("invalid_query", fmt.Sprintf("unknown query parameter %q; this route takes none", truncate(k, 100)))
			}
			return badRequest("invalid_query", fmt.Sprintf("unknown query parameter %q; this route takes %s", truncate(k, 100), strings.Join(allowed, ", ")))
		case len(v) > 1:
			return badRequest("invalid_query", fmt.Sprintf("query parameter %q is given %d times", k, len(v)))
		}
	}
	return nil
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

// body reads a JSON request body within the size limit. Its buffer grows
// as the bytes arrive, not to the Content-Length announced, and every byte
// of it is held against the in-flight budget until the request ends: a
// client that announces 8 MiB and sends 20 bytes holds 20 bytes' worth.
func (s *Server) body(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	return s.bodyWithin(w, r, s.opts.MaxBodyBytes)
}

// bodyWithin is body with a limit of its own (MCP's, mcpMaxBody).
func (s *Server) bodyWithin(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	// Content-Type: application/json is required: a browser page of any
	// site may send a "simple" cross-origin request (a form, or text/plain,
	// or no type at all) without asking first, but never one with this type.
	cts := r.Header.Values("Content-Type")
	switch {
	case len(cts) > 1:
		return nil, httpError(http.StatusUnsupportedMediaType, "unsupported_media_type",
			fmt.Sprintf("the request has %d Content-Type headers; send one, application/json", len(cts)))
	case len(cts) == 0:
		return nil, httpError(http.StatusUnsupportedMediaType, "unsupported_media_type",
			"the request body needs the header Content-Type: application/json")
	}
	if mt, _, err := mime.ParseMediaType(cts[0]); err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return nil, httpError(http.StatusUnsupportedMediaType, "unsupported_media_type",
			fmt.Sprintf("the body must be JSON (Content-Type: application/json), got %q", truncate(cts[0], 100)))
	}
	if r.ContentLength > limit {
		return nil, &http.MaxBytesError{Limit: limit}
	}
	// A body of known length fits in one buffer with a byte to spare for
	// seeing EOF; one of unknown length starts small and doubles.
	size := min(int64(bodyStartSize), limit+1)
	if n := r.ContentLength; n >= 0 && n < size {
		size = n + 1
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	if err := s.hold(r, size); err != nil {
		return nil, drained(body, err)
	}
	buf := make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			grow := min(int64(cap(buf)), limit+1-int64(cap(buf)))
			if err := s.hold(r, grow); err != nil {
				return nil, drained(body, err)
			}
			// make, not append: append may round the capacity up past
			// what was held.
			buf = append(make([]byte, 0, int64(cap(buf))+grow), buf...)
		}
		n, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			if _, ok := err.(*http.MaxBytesError); ok {
				return nil, err
			}
			return nil, badRequest("invalid_body", "the request body could not be read: "+err.Error())
		}
	}
	if len(buf) == 0 {
		return nil, badRequest("invalid_json", "the request body is empty; a JSON object is required")
	}
	// What the body becomes while the request runs (decoded messages,
	// their stored encoding, the driver's copy) weighs some times the
	// body itself, and is held too.
	if err := s.hold(r, decodeFactor*int64(len(buf))); err != nil {
		return nil, err
	}
	return buf, nil
}

// drained reads the rest of a body the server will not take, into no
// buffer, before it answers err: net/http closes a connection with more
// than 256 KiB left unread, and the client, still sending, may then lose
// the answer to a reset and not learn that nothing was stored.
func drained(body io.Reader, err error) error {
	_, _ = io.Copy(io.Discard, body)
	return err
}

// decodeFactor is how many times its size a body's decoded and encoded
// forms weigh besides it, measured on 8 MiB writes (about 45 MiB each).
const decodeFactor = 3

// bodyStartSize is the first buffer of a body whose length is not known,
// or is larger than it: small, since a client that announces a large body
// and stalls holds it.
const bodyStartSize = 16 << 10

// members reads the request body (Server.body), a JSON object, and splits
// it into its members (jsonx.Members), with the server's errors.
func (s *Server) members(w http.ResponseWriter, r *http.Request, names ...string) (map[string]jsonx.Member, error) {
	body, err := s.body(w, r)
	if err != nil {
		return nil, err
	}
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
	decode := chat.UnmarshalList
	if openai {
		decode = chat.UnmarshalOpenAIList
	}
	msgs, err := decode(m.Raw)
	return msgs, inBody(err, m, name)
}

// decodeMessage reads one message in the chosen format, as decodeMessages
// reads a list: "summary.content[0].text".
func decodeMessage(m jsonx.Member, name string, openai bool) (chat.Message, error) {
	decode := chat.Unmarshal
	if openai {
		decode = chat.UnmarshalOpenAI
	}
	msg, err := decode(m.Raw)
	return msg, inBody(err, m, name)
}

// inBody places a message's error in the request body: its path under
// the member's name, its offset from the body's start.
func inBody(err error, m jsonx.Member, name string) error {
	var ce *chat.Error
	if errors.As(err, &ce) {
		ce.Within(name)
		if ce.Offset >= 0 {
			ce.Offset += m.Offset
		}
	}
	return err
}

// idempotencyKeyHeader names the key of a write that may be retried
// (IETF draft-ietf-httpapi-idempotency-key-header).
const idempotencyKeyHeader = "Idempotency-Key"

func (s *Server) writeMessages(w http.ResponseWriter, r *http.Request, t Tenant) error {
	c, err := s.history(r, t, "format")
	if err != nil {
		return err
	}
	ms, err := s.members(w, r, "messages", "metadata")
	if err != nil {
		return err
	}
	var changes map[string]*string
	if raw, ok := ms["metadata"]; ok {
		if changes, err = metadataChanges(raw.Raw); err != nil {
			return err
		}
	}
	raw, ok := ms["messages"]
	if !ok {
		return badRequest("invalid_request", `the request body needs a "messages" array`)
	}
	msgs, err := decodeMessages(raw, "messages", c.out.openai)
	if err != nil {
		return err
	}
	if len(msgs) > s.opts.MaxWriteMessages {
		return badRequest("too_many_messages", fmt.Sprintf("%d messages in one write; the limit is %d", len(msgs), s.opts.MaxWriteMessages))
	}
	var (
		n        int
		replayed bool
	)
	key, keyed := r.Header[idempotencyKeyHeader]
	if len(key) > 1 {
		return badRequest("invalid_idempotency_key", fmt.Sprintf("the request has %d %s headers; send one", len(key), idempotencyKeyHeader))
	}
	if keyed {
		if err := chatstore.CheckIdempotencyKey(key[0]); err != nil {
			return err
		}
	}
	if len(changes) > 0 {
		// Metadata first, merged as PATCH merges it: a history is created
		// with it. If the write then fails, the metadata stays set.
		err = s.timed(r.Context(), "set_metadata", func(ctx context.Context) error {
			_, err := c.store.SetMetadata(ctx, c.id, changes)
			return err
		})
		if err != nil {
			return err
		}
	}
	if keyed {
		err = s.timed(r.Context(), "write", func(ctx context.Context) (err error) {
			n, replayed, err = c.store.WriteIdempotent(ctx, c.id, key[0], msgs)
			return err
		})
	} else {
		err = s.timed(r.Context(), "write", func(ctx context.Context) (err error) {
			n, err = c.store.Write(ctx, c.id, msgs)
			return err
		})
	}
	if err != nil {
		return err
	}
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	} else {
		s.metrics.written.Add(float64(n))
	}
	b := append(make([]byte, 0, 32), `{"messages_written":`...)
	b = strconv.AppendInt(b, int64(n), 10)
	writeJSON(w, http.StatusOK, append(b, "}\n"...))
	return nil
}

func (s *Server) readMessages(w http.ResponseWriter, r *http.Request, t Tenant) error {
	c, err := s.history(r, t, "last_k", "offset", "limit", "after", "before", "newest", "format", "require_tool_call_ids", "include",
		"max_tokens", "compacted", "prune_tool_results")
	if err != nil {
		return err
	}
	q := c.query
	// Either the last rounds (last_k, Haystack's retrieve, within a
	// budget of tokens and with compactions: a windowed read) or a range
	// of positions (offset and limit, for paging), or the messages after
	// or before one (after or before, and limit: paging by cursor), or
	// the newest (newest=true and limit).
	sel := chatstore.ReadOptions{LastK: c.store.DefaultLastK()}
	if sel.CreatedAt, err = includeParam(c); err != nil {
		return err
	}
	var page []string // the page parameters given
	for _, p := range []string{"offset", "after", "before", "newest", "limit"} {
		if _, ok := q[p]; ok {
			page = append(page, p)
		}
	}
	if len(page) > 0 {
		if _, ok := q["last_k"]; ok {
			return badRequest("invalid_query", `give either "last_k" (the last rounds) or "offset", "after", "before" or "newest" with "limit" (a page), not both`)
		}
		if len(page) > 2 || len(page) == 2 && page[1] != "limit" {
			return badRequest("invalid_query", fmt.Sprintf(`give one of "offset" (a position), "after" or "before" (a message id) and "newest=true", with "limit"; got %s`, strings.Join(page, ", ")))
		}
		var window []string
		for _, p := range []string{"max_tokens", "compacted", "prune_tool_results"} {
			if _, ok := q[p]; ok {
				window = append(window, p)
			}
		}
		if len(window) > 0 {
			return badRequest("invalid_query", fmt.Sprintf(`%s apply only to a read of the last rounds (last_k), not to a page (%s): a page returns the messages as they are stored`, strings.Join(window, ", "), strings.Join(page, ", ")))
		}
		if sel.Offset, sel.Limit, err = rangeParams(q); err != nil {
			return err
		}
		for _, p := range []struct {
			name string
			dst  *string
		}{{"after", &sel.After}, {"before", &sel.Before}} {
			if v, ok := q[p.name]; ok {
				if err := chatstore.CheckMessageID(v[0]); err != nil {
					return err
				}
				*p.dst = v[0]
			}
		}
		if v, ok := q["newest"]; ok {
			if v[0] != "true" {
				return badRequest("invalid_query", fmt.Sprintf(`newest must be "true", got %q`, truncate(v[0], 50)))
			}
			sel.Newest = true
		}
	} else {
		if v, ok := q["last_k"]; ok {
			if sel.LastK, err = chatstore.ParseLastK(v[0]); err != nil {
				return err
			}
		}
		if err := windowParams(q, &sel); err != nil {
			return err
		}
		sel.Window = new(chatstore.Window)
	}
	if !c.out.openai {
		// Haystack's format is what the store keeps: no need to decode.
		return s.writeStoredList(w, r, c, sel)
	}
	var msgs []chat.Message
	err = s.boundedRead(r, func(maxBytes int) error {
		sel.MaxBytes = maxBytes
		return s.timed(r.Context(), "retrieve", func(ctx context.Context) (err error) {
			msgs, err = c.store.Read(ctx, c.id, sel)
			return err
		})
	})
	if err != nil {
		return err
	}
	return s.writeMessageList(w, r, msgs, c.out, sel.Window)
}

// windowParams reads the parameters of a windowed read: max_tokens (a
// whole number ≥ 1), compacted (true, the default, or false) and
// prune_tool_results (false, the default, or true). What they do is the
// store's (chatstore.ReadOptions).
func windowParams(q url.Values, sel *chatstore.ReadOptions) error {
	if v, ok := q["max_tokens"]; ok {
		n, big, ok := num.Parse(v[0])
		if !ok || big || n < 1 {
			return badRequest("invalid_query", fmt.Sprintf("max_tokens must be a whole number ≥ 1, the most tokens the messages may count, got %q", truncate(v[0], 50)))
		}
		sel.MaxTokens = int64(n)
	}
	compacted, given, err := boolParam(q, "compacted")
	if err != nil {
		return err
	}
	sel.Uncompacted = given && !compacted
	sel.PruneToolResults, _, err = boolParam(q, "prune_tool_results")
	return err
}

// boolParam reads a query parameter that is true or false.
func boolParam(q url.Values, name string) (v, given bool, err error) {
	s, ok := q[name]
	if !ok {
		return false, false, nil
	}
	if v, err = strconv.ParseBool(s[0]); err != nil {
		return false, false, badRequest("invalid_query", fmt.Sprintf("%s must be true or false, got %q", name, truncate(s[0], 100)))
	}
	return v, true, nil
}

// readFailed adds to a read's ErrTooLarge how to read the history instead.
func (s *Server) readFailed(err error) error {
	if errors.Is(err, chatstore.ErrTooLarge) {
		return badRequest("response_too_large", fmt.Sprintf(
			"the messages selected are over the response limit of %s (one round can be that long); read the history in pages with ?offset=0&limit=%d, then the next offsets, and a smaller limit if a page is still too large (one message always fits)",
			plural.Bytes(int64(s.opts.MaxResponseBytes)), DefaultRangeLimit))
	}
	return err
}

// readAllowance is what a read holds of the in-flight budget before it
// knows its size: more than nearly every read needs.
const readAllowance = 64 << 10

// boundedRead runs a store read, which read gives a byte limit, under the
// in-flight budget: first holding a small allowance and limited to it, as
// most reads are small; if the messages selected are larger, holding more
// and reading again. The stores that can (driver.BoundedReader) stop
// reading at the limit, so what a read holds is what the budget counts.
//
// The second read holds what the budget has left, up to the response
// limit; if that is less and the messages are more, whether they are over
// the response limit is not known, and the answer is 503 overloaded.
func (s *Server) boundedRead(r *http.Request, read func(maxBytes int) error) error {
	return s.readFailed(s.heldRead(r, read))
}

// heldRead is boundedRead but for its answer to a read over the response
// limit, which it leaves chatstore.ErrTooLarge: the MCP tools say how to
// page in their own terms.
func (s *Server) heldRead(r *http.Request, read func(maxBytes int) error) error {
	limit := min(readAllowance, s.opts.MaxResponseBytes)
	if err := s.hold(r, int64(limit)); err != nil {
		return err
	}
	err := read(limit)
	if !errors.Is(err, chatstore.ErrTooLarge) || limit == s.opts.MaxResponseBytes {
		return err
	}
	limit += int(s.holdUpTo(r, int64(s.opts.MaxResponseBytes-limit)))
	err = read(limit)
	if errors.Is(err, chatstore.ErrTooLarge) && limit < s.opts.MaxResponseBytes {
		return overloaded
	}
	return err
}

// DefaultRangeLimit is the limit of a range read that gives none.
const DefaultRangeLimit = chatstore.DefaultRangeLimit

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
		n, big, ok := num.Parse(v[0])
		if !ok || big || n < p.min || n > p.max {
			return 0, 0, badRequest("invalid_range", fmt.Sprintf("%s must be %s, got %q", p.name, p.want, truncate(v[0], 50)))
		}
		*p.dst = n
	}
	return offset, limit, nil
}

// writeStoredList answers {"messages":[…]} in Haystack's format, with
// "window" after them for a windowed read (sel.Window), straight
// from the store's encoding (Store.WriteJSON), sent as it is made: a large
// answer is never whole in memory. The status and headers go with the first
// piece, so an error before it is answered as usual; one after it (a write
// to the client that fails, a stored message that cannot be read) breaks
// the connection, so that the client sees an unfinished answer, never a
// complete-looking one.
func (s *Server) writeStoredList(w http.ResponseWriter, r *http.Request, c historyCall, sel chatstore.ReadOptions) error {
	bp := getBuf()
	defer putBuf(bp)
	out := &answerWriter{w: w, prefix: `{"messages":`}
	var n int
	err := s.boundedRead(r, func(maxBytes int) error {
		sel.MaxBytes = maxBytes
		return s.timed(r.Context(), "retrieve", func(ctx context.Context) (err error) {
			n, err = c.store.WriteJSON(ctx, out, *bp, c.id, sel)
			return err
		})
	})
	if err == nil {
		_, err = out.Write(appendWindow(make([]byte, 0, 256), sel.Window))
	}
	if err != nil && out.started {
		s.log.LogAttrs(r.Context(), slog.LevelWarn, "answer broken off", slog.String("path", truncate(escapedPath(r), 200)), slog.Any("error", err))
		panic(http.ErrAbortHandler)
	}
	if err != nil {
		return err
	}
	s.metrics.read.Add(float64(n))
	return nil
}

// answerWriter writes a 200 JSON answer that starts with prefix, the
// status and headers with its first bytes.
type answerWriter struct {
	w       http.ResponseWriter
	prefix  string
	started bool
}

func (a *answerWriter) Write(p []byte) (int, error) {
	if !a.started {
		a.started = true
		h := a.w.Header()
		h["Content-Type"] = jsonContentType
		h["X-Content-Type-Options"] = nosniff
		a.w.WriteHeader(http.StatusOK)
		if _, err := io.WriteString(a.w, a.prefix); err != nil {
			return 0, err
		}
	}
	return a.w.Write(p)
}

// smallAnswer is the size below which an answer is not held.
const smallAnswer = 64 << 10

// holdAnswer holds the bytes of an answer built whole (in OpenAI's format)
// against the in-flight budget while it is sent: a slow reader of a large
// answer keeps it in memory. Small answers, which most are, are not
// counted.
func (s *Server) holdAnswer(r *http.Request, n int) error {
	if n < smallAnswer {
		return nil
	}
	return s.hold(r, int64(n))
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
	require, given, err := boolParam(q, "require_tool_call_ids")
	if given && !openai {
		return f, badRequest("invalid_query", "require_tool_call_ids applies only with format=openai")
	}
	f.opts.RequireToolCallIDs = require
	return f, err
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(bp *[]byte) {
	if cap(*bp) <= 1<<20 { // do not pin huge buffers
		bufPool.Put(bp)
	}
}

// appendWindow ends an answer of messages: with `,"window":{…}` when win
// is not nil (a windowed read's), then the closing brace.
func appendWindow(b []byte, win *chatstore.Window) []byte {
	if win != nil {
		b = win.AppendJSON(append(b, `,"window":`...))
	}
	return append(b, "}\n"...)
}

// writeMessageList answers {"messages":[…]} in the format asked, with
// "window" after them when win is not nil.
func (s *Server) writeMessageList(w http.ResponseWriter, r *http.Request, msgs []chat.Message, f outFormat, win *chatstore.Window) error {
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
				ce.Within("messages[" + strconv.Itoa(i) + "]")
				return badRequest("not_convertible", strings.TrimPrefix(ce.Error(), "chat: "))
			}
			return err
		}
		if len(b) > s.opts.MaxResponseBytes {
			return s.readFailed(chatstore.ErrTooLarge)
		}
	}
	b = appendWindow(append(b, ']'), win)
	*bp = b
	if err := s.holdAnswer(r, len(b)); err != nil {
		return err
	}
	s.metrics.read.Add(float64(len(msgs)))
	writeJSON(w, http.StatusOK, b)
	return nil
}

func (s *Server) context(w http.ResponseWriter, r *http.Request, t Tenant) error {
	c, err := s.history(r, t, "format", "require_tool_call_ids")
	if err != nil {
		return err
	}
	// Every member is optional, and so is the body: none reads the
	// store's default last_k.
	ms := map[string]jsonx.Member{}
	if r.ContentLength != 0 {
		if ms, err = s.members(w, r, "current_messages", "last_k", "max_tokens", "tool_tokens", "prune_tool_results", "compacted"); err != nil {
			return err
		}
	}
	var win chatstore.Window
	opts := component.RunOptions{Window: &win}
	if raw, ok := ms["current_messages"]; ok && !bytes.Equal(raw.Raw, []byte("null")) {
		if opts.CurrentMessages, err = decodeMessages(raw, "current_messages", c.out.openai); err != nil {
			return err
		}
		if len(opts.CurrentMessages) > s.opts.MaxWriteMessages {
			return badRequest("too_many_messages", fmt.Sprintf("%d current messages; the limit is %d", len(opts.CurrentMessages), s.opts.MaxWriteMessages))
		}
	}
	if raw, ok := ms["last_k"]; ok {
		// null is not given: the retriever's, so the store's, default.
		k, given, err := chatstore.LastKJSON(raw.Raw)
		if err != nil {
			return err
		}
		if given {
			opts.LastK = &k
		}
	}
	if opts.MaxTokens, err = countMember(ms, "max_tokens", 1); err != nil {
		return err
	}
	if opts.ToolTokens, err = countMember(ms, "tool_tokens", 0); err != nil {
		return err
	}
	if opts.PruneToolResults, _, err = boolMember(ms, "prune_tool_results"); err != nil {
		return err
	}
	compacted, given, err := boolMember(ms, "compacted")
	if err != nil {
		return err
	}
	opts.Uncompacted = given && !compacted
	retriever := component.Retriever{Store: c.store, LastK: component.StoreDefault}
	var msgs []chat.Message
	err = s.boundedRead(r, func(maxBytes int) error {
		retriever.MaxBytes = maxBytes
		return s.timed(r.Context(), "retrieve", func(ctx context.Context) (err error) {
			msgs, err = retriever.Run(ctx, c.id, opts)
			return err
		})
	})
	if err != nil {
		return err
	}
	return s.writeMessageList(w, r, msgs, c.out, &win)
}

// countMember reads a member of a body that is a whole number of tokens,
// least or more, or null; absent or null is 0.
func countMember(ms map[string]jsonx.Member, name string, least int) (int64, error) {
	m, ok := ms[name]
	if !ok || string(m.Raw) == "null" {
		return 0, nil
	}
	n, big, ok := num.Parse(string(m.Raw)) // digits only: no sign, fraction or exponent
	if !ok || big || n < least {
		return 0, badRequest("invalid_request", fmt.Sprintf("%s must be a whole number of tokens ≥ %d, or null, got %.40s", name, least, m.Raw))
	}
	return int64(n), nil
}

// boolMember reads a member of a body that is true, false or null (not
// given).
func boolMember(ms map[string]jsonx.Member, name string) (v, given bool, err error) {
	m, ok := ms[name]
	if !ok || string(m.Raw) == "null" {
		return false, false, nil
	}
	if v, err = jsonx.NewDecoder(m.Raw).Bool(); err != nil {
		return false, false, badRequest("invalid_request", fmt.Sprintf("%s must be true, false or null, got %.40s", name, m.Raw))
	}
	return v, true, nil
}

func (s *Server) deleteHistory(w http.ResponseWriter, r *http.Request, t Tenant) error {
	c, err := s.history(r, t)
	if err != nil {
		return err
	}
	if err := s.timed(r.Context(), "delete", func(ctx context.Context) error { return c.store.Delete(ctx, c.id) }); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// deleteAll deletes every history the caller may see: the whole store
// without tenants, the tenant's histories with them (Store.DeleteAll of its
// view): in one atomic step on drivers with driver.PrefixDeleter; on
// others one at a time, so a failure part way leaves the rest.
//
// With metadata[KEY]=VALUE filters it erases instead: only the histories
// whose metadata holds every pair (Store.Erase), answering how many
// histories and messages it removed, and recording the erasure (the pairs
// matched, the counts, the tenant, never the content) in the log and in
// /metrics. A failure part way has removed some; the same request again
// finishes the job.
func (s *Server) deleteAll(w http.ResponseWriter, r *http.Request, t Tenant) error {
	_, filter, err := listQuery(r)
	if err != nil {
		return err
	}
	if len(filter) == 0 {
		if err := s.timed(r.Context(), "delete_all", s.storeOf(t).DeleteAll); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	var erased chatstore.Erasure
	err = s.timed(r.Context(), "erase", func(ctx context.Context) (err error) {
		erased, err = s.storeOf(t).Erase(ctx, filter)
		return err
	})
	s.metrics.erased.WithLabelValues("histories").Add(float64(erased.Histories))
	s.metrics.erased.WithLabelValues("messages").Add(float64(erased.Messages))
	level, outcome := slog.LevelInfo, "done"
	if err != nil {
		level, outcome = slog.LevelWarn, "stopped part way: the same request again finishes it"
	} else {
		s.metrics.erased.WithLabelValues("erasures").Inc()
	}
	s.log.LogAttrs(r.Context(), level, "erasure", slog.String("tenant", t.Name), slog.Any("matched", filter),
		slog.Int64("histories", erased.Histories), slog.Int64("messages", erased.Messages), slog.String("outcome", outcome))
	if err != nil {
		return err
	}
	body := fmt.Appendf(nil, `{"erased":{"histories":%d,"messages":%d}}`+"\n", erased.Histories, erased.Messages)
	writeJSON(w, http.StatusOK, body)
	return nil
}

// checkPrefix checks a prefix of history ids given to a listing or search.
func (s *Server) checkPrefix(p string) error {
	if p != "" && (len(p) > s.opts.MaxHistoryIDLen || chatstore.CheckHistoryID(p) != nil) {
		return badRequest("invalid_query", fmt.Sprintf("prefix must be the start of a valid history id (UTF-8, no NUL, at most %d bytes)", s.opts.MaxHistoryIDLen))
	}
	return nil
}

func (s *Server) listHistories(w http.ResponseWriter, r *http.Request, t Tenant) error {
	q, filter, err := listQuery(r, "limit", "cursor", "prefix", "order")
	if err != nil {
		return err
	}
	if err := s.checkPrefix(q.Get("prefix")); err != nil {
		return err
	}
	opts := chatstore.ListOptions{Cursor: q.Get("cursor"), Prefix: q.Get("prefix"), Metadata: filter}
	switch o := q.Get("order"); o {
	case "", "id":
	case "updated_at":
		opts.Order = chatstore.ByUpdated
	default:
		return badRequest("invalid_query", fmt.Sprintf(`order must be "id" (the default) or "updated_at" (the most recently changed first), got %q`, truncate(o, 100)))
	}
	if v, ok := q["limit"]; ok {
		n, big, ok := num.Parse(v[0])
		if !ok || big || n < 1 || n > chatstore.MaxListLimit {
			return badRequest("invalid_limit", fmt.Sprintf("limit must be a number from 1 to %d, got %q", chatstore.MaxListLimit, truncate(v[0], 50)))
		}
		opts.Limit = n
	}
	var page chatstore.Page
	err = s.timed(r.Context(), "list", func(ctx context.Context) (err error) {
		page, err = s.storeOf(t).List(ctx, opts)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, append(page.AppendJSON(nil), '\n'))
	return nil
}
