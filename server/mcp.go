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
// session of its own with a server made for it (mcpserver.New) over the
// caller's tenant's view, with the tools its token allows, so a token that
// is removed or a tenant that changes takes effect at the next request,
// and nothing is kept between requests. The SDK's handler is shared; the
// request carries its server to it.

// mcpServerKey is the context key of a request's MCP server.
type mcpServerKey struct{}

func newMCPHandler(o Options) *mcp.StreamableHTTPHandler {
	return mcp.NewStreamableHTTPHandler(func(r *http.Request) *mcp.Server {
		srv, _ := r.Context().Value(mcpServerKey{}).(*mcp.Server)
		return srv // nil, a 400, only for a request serveMCP did not pass on
	}, &mcp.StreamableHTTPOptions{
		// No session to keep: what a request may do depends on its token
		// alone, read afresh each time (SetTokens).
		Stateless: true,
		// One JSON answer per request: a server made for one request
		// sends nothing later, so an event stream would add nothing.
		JSONResponse: true,
		Logger:       o.Logger,
		// The server's own Host rule applies (hostAllowed): with tokens
		// it serves any Host, behind a proxy too.
		DisableLocalhostProtection: true,
		MaxRequestBodyBytes:        o.MaxBodyBytes, // read already, within mcpBodyLimit
	})
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
	body, err := s.bodyWithin(w, r, s.mcpMaxBody)
	if err != nil {
		return err
	}
	if err := s.hold(r, mcpBodyCopies*int64(len(body))); err != nil {
		return err
	}
	srv, err := mcpserver.New(s.storeOf(t), s.mcpOptions(r, t))
	if err != nil {
		return err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	// The SDK waits for a tool's answer until the request's context is
	// done, and serve's ends at the store timeout: a tool whose store call
	// started later would then be cut off, with no answer, while it still
	// runs and holds bytes of the budget. The timeout bounds each store
	// call instead (mcpOptions).
	ctx := context.WithValue(context.WithoutCancel(r.Context()), mcpServerKey{}, srv)
	s.mcp.ServeHTTP(w, r.WithContext(ctx))
	return nil
}

// mcpOptions hand the server's rules to the MCP tools of request r by
// tenant t: its limits, its history id check, its store timeout and
// metrics, its in-flight budget for reads and answers.
func (s *Server) mcpOptions(r *http.Request, t Tenant) *mcpserver.Options {
	return &mcpserver.Options{
		ReadOnly:         t.ReadOnly,
		MaxResponseBytes: s.opts.MaxResponseBytes,
		MaxWriteMessages: s.opts.MaxWriteMessages,
		CheckHistoryID:   func(id string) error { return s.checkHistoryID(id, t) },
		Call: func(ctx context.Context, op string, f func(context.Context) error) error {
			// The tools' context has no deadline (serveMCP), so each
			// store call gets the timeout here.
			ctx, cancel := context.WithTimeout(ctx, s.opts.StoreTimeout)
			defer cancel()
			err := s.timed(ctx, op, f)
			if status, code, _ := classify(err); status == http.StatusServiceUnavailable && code != apicode.Overloaded {
				s.unavailable.log(ctx, s.log, "store unavailable", err)
			}
			return err
		},
		Read: func(read func(maxBytes int) error) error { return s.heldRead(r, read) },
		Hold: func(n int) error { return s.holdAnswer(r, n) },
		Tally: func(written, read int) {
			s.metrics.written.Add(float64(written))
			s.metrics.read.Add(float64(read))
		},
		Version: s.opts.Version,
		Logger:  s.log,
	}
}
