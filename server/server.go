// Package server is chatstore's HTTP API: an http.Handler over a
// chatstore.Store that any language can call. Messages travel in Haystack's
// ChatMessage.to_dict() format, or as OpenAI Chat Completions messages with
// ?format=openai. docs/SERVER.md describes every route, the error shape,
// authentication and the limits; GET /openapi.json serves the same as an
// OpenAPI 3 document.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/internal/apicode"
)

// Limits and defaults.
const (
	// DefaultMaxBodyBytes bounds a request body: 8 MiB leaves room for a few
	// base64 images in one write.
	DefaultMaxBodyBytes = 8 << 20
	// DefaultMaxWriteMessages bounds the messages of one request: a
	// write's, and a context request's current messages. It is a tenth of
	// the store's default, chatstore.DefaultMaxWriteMessages, which bounds
	// every write through any door: a request's messages are decoded whole
	// in memory, many requests at once, and a client with more writes them
	// in several requests.
	DefaultMaxWriteMessages = 1000
	// DefaultMaxHistoryIDLen bounds a history id, in bytes. Together with
	// a tenant's prefix ("tenant:", the name, ':') it stays within
	// chatstore.MaxHistoryIDLen.
	DefaultMaxHistoryIDLen = 256
	// MaxHistoryIDLen is the largest MaxHistoryIDLen option allowed.
	MaxHistoryIDLen = chatstore.MaxHistoryIDLen - len(tenantNamespace) - MaxTenantLen - 1
	// DefaultStoreTimeout bounds each store call of a request.
	DefaultStoreTimeout = 10 * time.Second
	// DefaultMaxResponseBytes bounds the messages of one answer: far more
	// than any model's context window, far less than a server's memory.
	DefaultMaxResponseBytes = 16 << 20
)

// DefaultMaxInFlightBytes is the default bound on the bytes of request
// bodies and answers held at once: room for one body at the body limit with
// what it decodes to (four times its size) beside many small requests, and
// for three answers at the response limit.
func DefaultMaxInFlightBytes(maxBodyBytes int64, maxResponseBytes int) int64 {
	return max(6*maxBodyBytes, 3*int64(maxResponseBytes))
}

// Options configure a Server. A nil *Options means the defaults.
type Options struct {
	// Tokens, when set, makes every /v1 request authenticate with
	// "Authorization: Bearer TOKEN" and confines it to its tenant's
	// histories. Nil means no authentication and no tenants. The tenants'
	// ttl= fields are their histories' default time to live (SetTokens);
	// New fails if the store keeps no expiry.
	Tokens *Tokens
	// MaxBodyBytes limits request bodies; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxWriteMessages limits the messages of one request (a write, a
	// context request's current messages); 0 means DefaultMaxWriteMessages.
	// It is never more than the store's own limit
	// (chatstore.Options.MaxWriteMessages), which every write obeys
	// anyway, so that the limit a client is told is the one that holds.
	MaxWriteMessages int
	// MaxHistoryIDLen limits history ids, in bytes; 0 means
	// DefaultMaxHistoryIDLen, at most MaxHistoryIDLen.
	MaxHistoryIDLen int
	// StoreTimeout bounds each store call; 0 means DefaultStoreTimeout.
	// A call that runs out of time answers 503.
	StoreTimeout time.Duration
	// MaxResponseBytes bounds the messages of one answer; 0 means
	// DefaultMaxResponseBytes. A read that selects more is refused with a
	// 400 response_too_large that says how to page.
	MaxResponseBytes int
	// MaxInFlightBytes bounds the bytes of request bodies and answers the
	// server holds at once, over all requests; 0 means
	// DefaultMaxInFlightBytes. A request that would go past it is answered
	// 503 overloaded, with Retry-After, having changed nothing.
	MaxInFlightBytes int64
	// AllowedHosts are the Host names served, besides loopback names and
	// addresses, when there are no Tokens: without tokens a server is only
	// safe on loopback, and a foreign Host there is a DNS-rebinding attack.
	// "*" serves every Host. Ignored with Tokens.
	AllowedHosts []string
	// Logger receives request and error records; nil means slog.Default().
	Logger *slog.Logger
	// Version is the program's version, which the MCP endpoint tells its
	// clients; "" is "devel".
	Version string
}

// Server serves the chatstore HTTP API. It is an http.Handler and can be
// mounted inside another program's mux; it does not own the store.
type Server struct {
	store   *chatstore.Store
	opts    Options
	log     *slog.Logger
	mux     *http.ServeMux
	paths   *http.ServeMux      // the same paths without methods, to tell 405 from 404
	allowed map[string][]string // path pattern → methods, for Allow headers
	metrics *metrics
	tokens  atomic.Pointer[Tokens] // Options.Tokens, replaced by SetTokens
	ttlMu   sync.Mutex             // held by SetTokens, so that tenants' TTLs follow the tokens in order
	// held is the bytes of request bodies and answers held now, bounded by
	// Options.MaxInFlightBytes.
	held        atomic.Int64
	crossOrigin *http.CrossOriginProtection
	unavailable *logLimiter // of 503 records, so an outage logs lines, not thousands
	mcp         *mcpServers
}

// ErrNoAuth is returned by SetTokens on a server started without tokens.
var ErrNoAuth = errors.New("server: authentication is off: the server was started without tokens")

// SetTokens replaces the tokens of a server started with Options.Tokens,
// for requests that start from now on; "chatstore serve" calls it when the
// tokens file changes and SIGHUP arrives. Turning authentication on or off
// needs a new Server, since that changes what every route allows.
//
// The tenants' default times to live (the ttl= fields) are set on the
// store with the tokens, and a tenant whose line lost its ttl gets the
// store's default again. A file with a ttl over a store that keeps no
// expiry is refused, and the old tokens stay.
func (s *Server) SetTokens(t *Tokens) error {
	if t == nil || s.tokens.Load() == nil {
		return ErrNoAuth
	}
	s.ttlMu.Lock()
	defer s.ttlMu.Unlock()
	if err := s.setTenantTTLs(s.tokens.Load(), t); err != nil {
		return err
	}
	s.tokens.Store(t)
	return nil
}

// setTenantTTLs sets the default time to live of each tenant of next
// (chatstore.Store.SetDefaultTTL on the tenant's view), and removes it
// from the tenants of prev that next gives none.
func (s *Server) setTenantTTLs(prev, next *Tokens) error {
	if !s.store.Expires() {
		for name, ttl := range next.ttls {
			if ttl > 0 {
				return fmt.Errorf("server: %w: the tokens file gives tenant %q ttl=%s, and this store keeps no expiry", chatstore.ErrNotSupported, name, chatstore.FormatTTL(ttl))
			}
		}
		return nil
	}
	set := func(name string, ttl time.Duration) error {
		return chatstore.Prefixed(s.store, Tenant{Name: name}.prefix()).SetDefaultTTL(ttl)
	}
	if prev != nil {
		for name := range prev.ttls {
			if _, ok := next.ttls[name]; !ok {
				if err := set(name, 0); err != nil {
					return err
				}
			}
		}
	}
	for name, ttl := range next.ttls {
		if err := set(name, ttl); err != nil {
			return err
		}
	}
	return nil
}

// route is one entry of the API. The table is the single list of what the
// server serves: New registers it and the OpenAPI test checks it.
type route struct {
	method, path string
	handle       func(s *Server, w http.ResponseWriter, r *http.Request, t Tenant) error
	auth         bool // /v1, /metrics, /mcp: needs a token when tokens are configured
	write        bool // changes data: refused to read-only tenants
}

var routes = []route{
	{"GET", "/healthz", (*Server).healthz, false, false},
	{"GET", "/metrics", (*Server).serveMetrics, true, false},
	{"GET", "/openapi.json", (*Server).openAPI, false, false},
	{"GET", "/{$}", (*Server).webPage, false, false},
	{"GET", "/assets/{name}", (*Server).webAsset, false, false},
	{"GET", "/v1/histories", (*Server).listHistories, true, false},
	{"DELETE", "/v1/histories", (*Server).deleteAll, true, true},
	{"GET", "/v1/search", (*Server).search, true, false},
	{"GET", "/v1/histories/{history_id}", (*Server).getHistory, true, false},
	{"PATCH", "/v1/histories/{history_id}", (*Server).patchHistory, true, true},
	{"DELETE", "/v1/histories/{history_id}", (*Server).deleteHistory, true, true},
	{"GET", "/v1/histories/{history_id}/messages", (*Server).readMessages, true, false},
	{"POST", "/v1/histories/{history_id}/messages", (*Server).writeMessages, true, true},
	{"DELETE", "/v1/histories/{history_id}/messages", (*Server).truncate, true, true},
	{"GET", "/v1/histories/{history_id}/messages/{message_id}", (*Server).getMessage, true, false},
	{"DELETE", "/v1/histories/{history_id}/messages/{message_id}", (*Server).deleteMessage, true, true},
	{"POST", "/v1/histories/{history_id}/context", (*Server).context, true, false},
	{"POST", "/v1/histories/{history_id}/fork", (*Server).fork, true, true},
	{"GET", "/v1/histories/{history_id}/compactions", (*Server).compactions, true, false},
	{"POST", "/v1/histories/{history_id}/compactions", (*Server).compact, true, true},
	// OpenAI's Conversations API (conversations.go), for OpenAI's SDKs
	// with the base URL …/openai/v1.
	{"POST", "/openai/v1/conversations", (*Server).createConversation, true, true},
	{"GET", "/openai/v1/conversations/{conversation_id}", (*Server).getConversation, true, false},
	{"POST", "/openai/v1/conversations/{conversation_id}", (*Server).updateConversation, true, true},
	{"DELETE", "/openai/v1/conversations/{conversation_id}", (*Server).deleteConversation, true, true},
	{"GET", "/openai/v1/conversations/{conversation_id}/items", (*Server).listItems, true, false},
	{"POST", "/openai/v1/conversations/{conversation_id}/items", (*Server).createItems, true, true},
	{"GET", "/openai/v1/conversations/{conversation_id}/items/{item_id}", (*Server).getItem, true, false},
	{"DELETE", "/openai/v1/conversations/{conversation_id}/items/{item_id}", (*Server).deleteItem, true, true},
	// MCP: a read-only token's requests get only the tools that read.
	{"POST", "/mcp", (*Server).serveMCP, true, false},
}

// New returns a Server over store. The caller keeps ownership of the store
// and closes it after the server has shut down.
func New(store *chatstore.Store, opts *Options) (*Server, error) {
	o := Options{}
	if opts != nil {
		o = *opts
	}
	switch {
	case o.MaxBodyBytes < 0, o.MaxWriteMessages < 0, o.MaxHistoryIDLen < 0, o.StoreTimeout < 0, o.MaxResponseBytes < 0, o.MaxInFlightBytes < 0:
		return nil, fmt.Errorf("server: %w: limits must not be negative", chatstore.ErrInvalidOptions)
	case o.MaxHistoryIDLen > MaxHistoryIDLen:
		return nil, fmt.Errorf("server: %w: history id limit %d is above the largest allowed, %d", chatstore.ErrInvalidOptions, o.MaxHistoryIDLen, MaxHistoryIDLen)
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.MaxWriteMessages == 0 {
		o.MaxWriteMessages = DefaultMaxWriteMessages
	}
	o.MaxWriteMessages = min(o.MaxWriteMessages, store.Options().MaxWriteMessages)
	if o.MaxHistoryIDLen == 0 {
		o.MaxHistoryIDLen = DefaultMaxHistoryIDLen
	}
	if o.StoreTimeout == 0 {
		o.StoreTimeout = DefaultStoreTimeout
	}
	if o.MaxResponseBytes == 0 {
		o.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if o.MaxInFlightBytes == 0 {
		o.MaxInFlightBytes = DefaultMaxInFlightBytes(o.MaxBodyBytes, o.MaxResponseBytes)
	}
	if o.MaxInFlightBytes < (1+decodeFactor)*o.MaxBodyBytes {
		return nil, fmt.Errorf("server: %w: the in-flight limit (%d bytes) is below %d times the body limit (%d bytes), so a body at the limit could never be served", chatstore.ErrInvalidOptions, o.MaxInFlightBytes, 1+decodeFactor, o.MaxBodyBytes)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &Server{
		store:   store,
		opts:    o,
		log:     o.Logger,
		mux:     http.NewServeMux(),
		paths:   http.NewServeMux(),
		allowed: map[string][]string{},
		metrics: newMetrics(o.Logger),
		// Browsers send Sec-Fetch-Site (or Origin) with every request a
		// page makes; a page of another site must not write here, with or
		// without tokens (a simple request needs no CORS preflight).
		crossOrigin: http.NewCrossOriginProtection(),
		unavailable: newLogLimiter(10 * time.Second),
	}
	if o.Tokens != nil {
		if err := s.setTenantTTLs(nil, o.Tokens); err != nil {
			return nil, err
		}
	}
	s.tokens.Store(o.Tokens)
	var err error
	if s.mcp, err = s.newMCP(); err != nil {
		return nil, err
	}
	for _, rt := range routes {
		s.mux.Handle(rt.method+" "+rt.path, s.wrap(rt))
		if _, ok := s.allowed[rt.path]; !ok {
			s.paths.Handle(rt.path, http.NotFoundHandler())
		}
		s.allowed[rt.path] = append(s.allowed[rt.path], rt.method)
	}
	s.mux.Handle("/", s.wrap(route{path: "unmatched", handle: (*Server).noRoute}))
	return s, nil
}

// ServeHTTP implements http.Handler.
//
// The history id is taken from the path as it was sent, before
// http.ServeMux sees it: the mux cleans paths and redirects non-canonical
// ones, so the ids ".", ".." and "/" (…/histories/%2E, …/%2F) could not be
// addressed, and a client following the redirect of DELETE
// /v1/histories/. would land on DELETE /v1/histories and delete every
// history. The mux is given the path with a placeholder for the id, and the
// server never redirects: a path that is not canonical is a 404.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.tokens.Load() == nil && !s.hostAllowed(r.Host) {
		writeError(w, http.StatusForbidden, "forbidden_host", fmt.Sprintf(
			"this server has no tokens, so it serves only loopback Host names (localhost, 127.0.0.1, [::1]), not %q; start it with --allowed-hosts or a tokens file to serve others", truncate(r.Host, 100)))
		return
	}
	if err := s.crossOrigin.Check(r); err != nil {
		writeError(w, http.StatusForbidden, "cross_origin", "a page of another site may not change data here: "+err.Error())
		return
	}
	sent := r.URL.EscapedPath()
	if rest, ok := strings.CutPrefix(sent, historiesPrefix); ok {
		escaped, suffix, hasSuffix := strings.Cut(rest, "/")
		id, err := url.PathUnescape(escaped)
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid_history_id", "the history id is not validly percent-encoded in the path")
			return
		}
		sp := sentPath{id: id, path: sent}
		// A message id in the path is taken as sent too, for the same
		// reasons: ids such as "a/b", "." or ".." must reach the handler.
		if rest, ok := strings.CutPrefix(suffix, messagesSegment); ok && hasSuffix && rest != "" {
			escaped, tail, hasTail := strings.Cut(rest, "/")
			if sp.messageID, err = url.PathUnescape(escaped); err != nil {
				writeError(w, http.StatusBadRequest, "invalid_message_id", "the message id is not validly percent-encoded in the path")
				return
			}
			suffix = messagesSegment + idPlaceholder
			if hasTail {
				suffix += "/" + tail
			}
		}
		r = r.WithContext(context.WithValue(r.Context(), pathKey{}, sp))
		u := *r.URL
		u.Path, u.RawPath = historiesPrefix+idPlaceholder, ""
		if hasSuffix {
			u.Path += "/" + suffix
		}
		r.URL = &u
	}
	if p := r.URL.Path; p == "" || p[0] != '/' || path.Clean(p) != p {
		writeError(w, http.StatusNotFound, "not_found", noRouteMsg(r.Method, sent))
		return
	}
	s.mux.ServeHTTP(w, r)
}

func noRouteMsg(method, path string) string {
	return fmt.Sprintf("no route for %s %s; the API is described at /openapi.json", method, truncate(path, 200))
}

// sentPath is what ServeHTTP took from a history route's path as it was
// sent: the history id, the message id (on routes of one message), and the
// path itself for messages.
type sentPath struct{ id, messageID, path string }

// pathKey is the context key of a sentPath.
type pathKey struct{}

// escapedPath is the path of r as the client sent it.
func escapedPath(r *http.Request) string {
	if sp, ok := r.Context().Value(pathKey{}).(sentPath); ok {
		return sp.path
	}
	return r.URL.EscapedPath()
}

const (
	historiesPrefix = "/v1/histories/"
	messagesSegment = "messages/"
	idPlaceholder   = "id" // any canonical path segment
)

// statusWriter remembers the status for metrics and logs.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// wrap adds what every route shares: metrics, authentication, the store
// timeout, the error mapping and the request log.
func (s *Server) wrap(rt route) http.Handler {
	label := rt.method + " " + rt.path
	if rt.method == "" {
		label = rt.path
	}
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		start := time.Now()
		s.metrics.inFlight.Add(1)
		hold := &holding{}
		r = r.WithContext(context.WithValue(r.Context(), holdingKey{}, hold))
		w := &statusWriter{ResponseWriter: rw}
		defer func() {
			s.held.Add(-hold.bytes.Load())
			d := time.Since(start)
			s.metrics.inFlight.Add(-1)
			s.metrics.request(label, w.status, d)
			if s.log.Enabled(r.Context(), slog.LevelDebug) {
				s.log.LogAttrs(r.Context(), slog.LevelDebug, "request", slog.String("method", r.Method),
					slog.String("route", label), slog.Int("status", w.status), slog.Duration("duration", d))
			}
		}()
		if err := s.serve(rt, w, r); err != nil {
			s.fail(w, r, err)
		}
		if w.status == 0 {
			// Nothing was written, and net/http would send an empty 200:
			// a bug, but never one that tells a client its write was
			// stored. Break the connection instead.
			w.status = statusNoAnswer
			s.log.LogAttrs(r.Context(), slog.LevelError, "request ended without an answer; connection aborted",
				slog.String("method", r.Method), slog.String("route", label))
			panic(http.ErrAbortHandler)
		}
	})
}

// statusNoAnswer is recorded (never sent) for a request whose handler
// wrote nothing, whose connection is then aborted.
const statusNoAnswer = 599

// holding is what one request holds of the in-flight budget, given back
// when it ends. It is atomic: the MCP tool calls of one request (a JSON-RPC
// batch) run at once.
type holding struct{ bytes atomic.Int64 }

type holdingKey struct{}

// hold takes n more bytes of the in-flight budget for r, or fails with a
// 503 overloaded when the budget has not that much left.
func (s *Server) hold(r *http.Request, n int64) error {
	if s.held.Add(n) > s.opts.MaxInFlightBytes {
		s.held.Add(-n)
		return overloaded
	}
	s.holding(r, n)
	return nil
}

// holdUpTo takes as much of the in-flight budget as is left, up to n, and
// returns how much it took.
func (s *Server) holdUpTo(r *http.Request, n int64) int64 {
	for {
		held := s.held.Load()
		take := max(min(n, s.opts.MaxInFlightBytes-held), 0)
		if s.held.CompareAndSwap(held, held+take) {
			s.holding(r, take)
			return take
		}
	}
}

// holding notes n more bytes held for r, given back when it ends.
func (s *Server) holding(r *http.Request, n int64) {
	if h, ok := r.Context().Value(holdingKey{}).(*holding); ok {
		h.bytes.Add(n)
	}
}

var overloaded = httpError(http.StatusServiceUnavailable, apicode.Overloaded, "the server holds as many request and answer bytes as it may; retry later")

func (s *Server) serve(rt route, w http.ResponseWriter, r *http.Request) error {
	var t Tenant
	if tokens := s.tokens.Load(); rt.auth && tokens != nil {
		var err error
		if t, err = authenticate(tokens, w, r); err != nil {
			return err
		}
		if rt.write && t.ReadOnly {
			return httpError(http.StatusForbidden, "forbidden", fmt.Sprintf("the token of tenant %q is read-only; %s changes data", t.Name, rt.method))
		}
	}
	if rt.auth || rt.path == "/healthz" {
		// The store call is not canceled when the client goes away: a
		// client that half-closes its side after sending a request (as
		// some proxies and "nc -N" do) still reads the answer, and a write
		// whose body has arrived is carried out either way, as a database
		// does, since the client cannot tell whether it was.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), s.opts.StoreTimeout)
		defer cancel()
		r = r.WithContext(ctx)
	}
	return rt.handle(s, w, r, t)
}

// hostAllowed says whether a server without tokens serves a request for
// host: loopback names and addresses, and Options.AllowedHosts.
func (s *Server) hostAllowed(host string) bool {
	if host == "" {
		return true // HTTP/1.0 without Host: no browser sends that
	}
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	}
	name = strings.TrimSuffix(strings.ToLower(strings.Trim(name, "[]")), ".")
	if name == "localhost" || strings.HasSuffix(name, ".localhost") {
		return true
	}
	if ip, err := netip.ParseAddr(name); err == nil && ip.IsLoopback() {
		return true
	}
	for _, a := range s.opts.AllowedHosts {
		if a == "*" || strings.EqualFold(strings.TrimSuffix(a, "."), name) {
			return true
		}
	}
	return false
}

func authenticate(tokens *Tokens, w http.ResponseWriter, r *http.Request) (Tenant, error) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if h == "" || !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="chatstore"`)
		return Tenant{}, httpError(http.StatusUnauthorized, "unauthorized", `this server needs "Authorization: Bearer TOKEN" on every /v1 request`)
	}
	t, ok := tokens.Lookup(strings.TrimSpace(token))
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="chatstore", error="invalid_token"`)
		return Tenant{}, httpError(http.StatusUnauthorized, "unauthorized", "the bearer token is not known to this server")
	}
	return t, nil
}

// noRoute answers requests no route matched: 405 with Allow when the path
// exists for other methods, 404 otherwise.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request, _ Tenant) error {
	if _, pattern := s.paths.Handler(r); pattern != "" {
		allow := slices.Clone(s.allowed[pattern])
		if slices.Contains(allow, "GET") {
			allow = append(allow, "HEAD")
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		return httpError(http.StatusMethodNotAllowed, "method_not_allowed",
			fmt.Sprintf("%s is not allowed on %s; allowed: %s", r.Method, pattern, strings.Join(allow, ", ")))
	}
	return httpError(http.StatusNotFound, "not_found", noRouteMsg(r.Method, escapedPath(r)))
}
