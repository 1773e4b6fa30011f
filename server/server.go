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
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/chatstore/chatstore"
)

// Limits and defaults.
const (
	// DefaultMaxBodyBytes bounds a request body: 8 MiB leaves room for a few
	// base64 images in one write.
	DefaultMaxBodyBytes = 8 << 20
	// DefaultMaxWriteMessages bounds the messages of one write.
	DefaultMaxWriteMessages = 1000
	// DefaultMaxHistoryIDLen bounds a history id, in bytes. Together with
	// the tenant prefix (MaxTenantLen+1) it stays within
	// chatstore.MaxHistoryIDLen.
	DefaultMaxHistoryIDLen = 256
	// MaxHistoryIDLen is the largest MaxHistoryIDLen option allowed.
	MaxHistoryIDLen = chatstore.MaxHistoryIDLen - MaxTenantLen - 1
	// DefaultStoreTimeout bounds each store call of a request.
	DefaultStoreTimeout = 10 * time.Second
)

// Options configure a Server. A nil *Options means the defaults.
type Options struct {
	// Tokens, when set, makes every /v1 request authenticate with
	// "Authorization: Bearer TOKEN" and confines it to its tenant's
	// histories. Nil means no authentication and no tenants.
	Tokens *Tokens
	// MaxBodyBytes limits request bodies; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxWriteMessages limits the messages of one write; 0 means
	// DefaultMaxWriteMessages. The store's own limit applies as well.
	MaxWriteMessages int
	// MaxHistoryIDLen limits history ids, in bytes; 0 means
	// DefaultMaxHistoryIDLen, at most MaxHistoryIDLen.
	MaxHistoryIDLen int
	// StoreTimeout bounds each store call; 0 means DefaultStoreTimeout.
	// A call that runs out of time answers 503.
	StoreTimeout time.Duration
	// Logger receives request and error records; nil means slog.Default().
	Logger *slog.Logger
}

// ErrOptions is wrapped by New's errors for options out of range.
var ErrOptions = errors.New("invalid server options")

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
}

// ErrNoAuth is returned by SetTokens on a server started without tokens.
var ErrNoAuth = errors.New("server: authentication is off: the server was started without tokens")

// SetTokens replaces the tokens of a server started with Options.Tokens,
// for requests that start from now on; "chatstore serve" calls it when the
// tokens file changes and SIGHUP arrives. Turning authentication on or off
// needs a new Server, since that changes what every route allows.
func (s *Server) SetTokens(t *Tokens) error {
	if t == nil || s.tokens.Load() == nil {
		return ErrNoAuth
	}
	s.tokens.Store(t)
	return nil
}

// route is one entry of the API. The table is the single list of what the
// server serves: New registers it and the OpenAPI test checks it.
type route struct {
	method, path string
	handle       func(s *Server, w http.ResponseWriter, r *http.Request, t Tenant) error
	auth         bool // /v1: needs a token when tokens are configured
	write        bool // changes data: refused to read-only tenants
}

var routes = []route{
	{"GET", "/healthz", (*Server).healthz, false, false},
	{"GET", "/metrics", (*Server).serveMetrics, false, false},
	{"GET", "/openapi.json", (*Server).openAPI, false, false},
	{"GET", "/{$}", (*Server).webPage, false, false},
	{"GET", "/assets/{name}", (*Server).webAsset, false, false},
	{"GET", "/v1/histories", (*Server).listHistories, true, false},
	{"DELETE", "/v1/histories", (*Server).deleteAll, true, true},
	{"GET", "/v1/histories/{history_id}", (*Server).getHistory, true, false},
	{"DELETE", "/v1/histories/{history_id}", (*Server).deleteHistory, true, true},
	{"GET", "/v1/histories/{history_id}/messages", (*Server).readMessages, true, false},
	{"POST", "/v1/histories/{history_id}/messages", (*Server).writeMessages, true, true},
	{"POST", "/v1/histories/{history_id}/context", (*Server).context, true, false},
}

// New returns a Server over store. The caller keeps ownership of the store
// and closes it after the server has shut down.
func New(store *chatstore.Store, opts *Options) (*Server, error) {
	o := Options{}
	if opts != nil {
		o = *opts
	}
	switch {
	case o.MaxBodyBytes < 0, o.MaxWriteMessages < 0, o.MaxHistoryIDLen < 0, o.StoreTimeout < 0:
		return nil, fmt.Errorf("server: %w: limits must not be negative", ErrOptions)
	case o.MaxHistoryIDLen > MaxHistoryIDLen:
		return nil, fmt.Errorf("server: %w: history id limit %d is above the largest allowed, %d", ErrOptions, o.MaxHistoryIDLen, MaxHistoryIDLen)
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.MaxWriteMessages == 0 {
		o.MaxWriteMessages = DefaultMaxWriteMessages
	}
	if o.MaxHistoryIDLen == 0 {
		o.MaxHistoryIDLen = DefaultMaxHistoryIDLen
	}
	if o.StoreTimeout == 0 {
		o.StoreTimeout = DefaultStoreTimeout
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
		metrics: newMetrics(),
	}
	s.tokens.Store(o.Tokens)
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
	sent := r.URL.EscapedPath()
	if rest, ok := strings.CutPrefix(sent, historiesPrefix); ok {
		escaped, suffix, hasSuffix := strings.Cut(rest, "/")
		id, err := url.PathUnescape(escaped)
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid_history_id", "the history id is not validly percent-encoded in the path")
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), pathKey{}, sentPath{id: id, path: sent}))
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
// sent: the history id, and the path itself for messages.
type sentPath struct{ id, path string }

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

// statusClientGone is recorded (never sent) when the client went away
// before the answer was ready, as nginx does.
const statusClientGone = 499

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
		w := &statusWriter{ResponseWriter: rw}
		err := s.serve(rt, w, r)
		if err != nil {
			s.fail(w, r, err)
		}
		if r.Context().Err() != nil && w.status == 0 {
			w.status = statusClientGone
		}
		d := time.Since(start)
		s.metrics.inFlight.Add(-1)
		s.metrics.request(label, w.status, d)
		if s.log.Enabled(r.Context(), slog.LevelDebug) {
			s.log.LogAttrs(r.Context(), slog.LevelDebug, "request", slog.String("method", r.Method),
				slog.String("route", label), slog.Int("status", w.status), slog.Duration("duration", d))
		}
	})
}

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
		ctx, cancel := context.WithTimeout(r.Context(), s.opts.StoreTimeout)
		defer cancel()
		r = r.WithContext(ctx)
	}
	return rt.handle(s, w, r, t)
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
