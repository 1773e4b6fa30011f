package server

import (
	"bytes"
	"context"
	"io"
	"net/http"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/chatstore/chatstore/internal/apicode"
	"github.com/chatstore/chatstore/mcpserver"
)

// POST /mcp serves MCP over streamable HTTP (docs/MCP.md), behind what
// every route has (the Host check, the cross-origin check, the token, the
// body limit and the in-flight budget). It is stateless: each request is a
// session of its own, so a token removed (SetTokens) is refused from the
// next request on, and nothing is kept between requests. Two MCP servers,
// made once, serve every request: one with the tools of a read-only token,
// one with all. A request brings them its tenant and budget in its
// context (mcpRequest), which the SDK passes on to the tools.

// mcpRequest is what an MCP request's tools work with: its tenant's view
// and the server's rules for it (mcpserver.Scope), and which server's
// tools it may call.
type mcpRequest struct {
	scope    *mcpserver.Scope
	readOnly bool
}

// mcpKey is the context key of an *mcpRequest.
type mcpKey struct{}

// mcpServers are the two MCP servers and the SDK's handler that serves
// them.
type mcpServers struct {
	all, readOnly *mcp.Server
	handler       *mcp.StreamableHTTPHandler
	maxBody       int64 // the body limit of /mcp (mcpBodyLimit)
}

func (s *Server) newMCP() (*mcpServers, error) {
	m := &mcpServers{maxBody: mcpBodyLimit(s.opts)}
	for _, readOnly := range []bool{false, true} {
		srv, err := mcpserver.New(s.store, &mcpserver.Options{
			ReadOnly:         readOnly,
			MaxResponseBytes: s.opts.MaxResponseBytes,
			MaxWriteMessages: s.opts.MaxWriteMessages,
			Scope: func(ctx context.Context) *mcpserver.Scope {
				if req, ok := ctx.Value(mcpKey{}).(*mcpRequest); ok {
					return req.scope
				}
				return nil // refused: never the whole store by mistake
			},
			Call: func(ctx context.Context, op string, f func(context.Context) error) error {
				// The tools' context has no deadline (serveMCP), so
				// each store call gets the timeout here.
				ctx, cancel := context.WithTimeout(ctx, s.opts.StoreTimeout)
				defer cancel()
				err := s.timed(ctx, op, f)
				if status, code, _ := classify(err); status == http.StatusServiceUnavailable && code != apicode.Overloaded {
					s.unavailable.log(ctx, s.log, "store unavailable", err)
				}
				return err
			},
			Tally: func(written, read int) {
				s.metrics.written.Add(float64(written))
				s.metrics.read.Add(float64(read))
			},
			Version: s.opts.Version,
			Logger:  s.log,
		})
		if err != nil {
			return nil, err
		}
		if readOnly {
			m.readOnly = srv
		} else {
			m.all = srv
		}
	}
	m.handler = mcp.NewStreamableHTTPHandler(func(r *http.Request) *mcp.Server {
		req, ok := r.Context().Value(mcpKey{}).(*mcpRequest)
		switch {
		case !ok:
			return nil // a 400, only for a request serveMCP did not pass on
		case req.readOnly:
			return m.readOnly
		}
		return m.all
	}, &mcp.StreamableHTTPOptions{
		// No session to keep: what a request may do depends on its token
		// alone, read afresh each time.
		Stateless: true,
		// One JSON answer per request: a stateless server sends nothing
		// later, so an event stream would add nothing.
		JSONResponse: true,
		Logger:       s.log,
		// The server's own Host rule applies (hostAllowed): with tokens
		// it serves any Host, behind a proxy too.
		DisableLocalhostProtection: true,
		MaxRequestBodyBytes:        s.opts.MaxBodyBytes, // read already, within mcpBodyLimit
	})
	return m, nil
}

// mcpBodyCopies is how many more times its size an MCP request's body
// weighs than a write's (Server.body holds those): the SDK reads it
// twice, and keeps the JSON-RPC message's params and the tool call's
// arguments, each a copy, as counted in the SDK's code (v1.8.0), not
// measured.
const mcpBodyCopies = 4

// mcpBodyLimit is the body limit of /mcp: MaxBodyBytes, but no more than
// a body that, with everything it is held for (1+decodeFactor+
// mcpBodyCopies times its size), fits the in-flight budget, so that a body
// within the limit is refused for load only while other requests hold the
// budget, never always: an eighth of it, 6 MiB by default.
func mcpBodyLimit(o Options) int64 {
	return min(o.MaxBodyBytes, o.MaxInFlightBytes/(1+decodeFactor+mcpBodyCopies))
}

func (s *Server) serveMCP(w http.ResponseWriter, r *http.Request, t Tenant) error {
	if _, err := query(r); err != nil {
		return err
	}
	body, err := s.bodyWithin(w, r, s.mcp.maxBody)
	if err != nil {
		return err
	}
	if err := s.hold(r, mcpBodyCopies*int64(len(body))); err != nil {
		return err
	}
	req := &mcpRequest{readOnly: t.ReadOnly, scope: &mcpserver.Scope{
		Store:          s.storeOf(t),
		CheckHistoryID: func(id string) error { return s.checkHistoryID(id, t) },
		Read:           func(read func(maxBytes int) error) error { return s.heldRead(r, read) },
		Hold:           func(n int) error { return s.holdAnswer(r, n) },
	}}
	r.Body = io.NopCloser(bytes.NewReader(body))
	// The SDK waits for a tool's answer until the request's context is
	// done, and serve's ends at the store timeout: a tool whose store call
	// started later would then be cut off, with no answer, while it still
	// runs and holds bytes of the budget. The timeout bounds each store
	// call instead (Call, in newMCP).
	ctx := context.WithValue(context.WithoutCancel(r.Context()), mcpKey{}, req)
	s.mcp.handler.ServeHTTP(w, r.WithContext(ctx))
	return nil
}
