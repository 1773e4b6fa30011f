// Package mcpserver serves a chatstore.Store to LLM agents over the Model
// Context Protocol (MCP), with the official Go SDK: tools to list
// histories, read one, fetch one message by its id and append messages,
// and each history as a resource, chatstore://histories/{id}, a plain-text
// transcript. docs/MCP.md describes them.
//
// New makes an MCP server over a store. "chatstore mcp" runs one over
// stdio on the whole store. "chatstore serve" makes two, one with the
// tools of a read-only token and one with all, and serves them at /mcp
// over streamable HTTP; each request brings its Scope in its context: its
// tenant's view of the store (chatstore.Prefixed) and the HTTP server's
// rules for it (its history id check, its in-flight budget). No backend
// and not the root package import this package.
package mcpserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/chatstore/chatstore"
)

// Options configure a server. The limits have no defaults here: they are
// the HTTP server's (server.Options, or its defaults for "chatstore
// mcp"), so that a limit is set in one place whichever door a request
// comes through.
type Options struct {
	// ReadOnly leaves out the tools that change data (append_messages), as
	// the HTTP API refuses a read-only token's writes.
	ReadOnly bool
	// MaxResponseBytes bounds the stored messages one answer carries (a
	// read_history, a get_message, a resource), as the HTTP server's
	// option of that name bounds its answers. Required.
	MaxResponseBytes int
	// MaxWriteMessages bounds the messages of one append_messages.
	// Required.
	MaxWriteMessages int

	// Scope, when set, returns the scope of the request whose context is
	// ctx; a request without one is refused. Nil: every request works on
	// New's store, under no rules but the store's.
	Scope func(ctx context.Context) *Scope
	// Call runs one store operation, f: op is "list", "retrieve" or
	// "write", for metrics; the HTTP server bounds it with its store
	// timeout. Nil calls f(ctx).
	Call func(ctx context.Context, op string, f func(context.Context) error) error
	// Tally is told how many messages each call wrote and read, for
	// metrics.
	Tally func(written, read int)

	// Version is the server's version, for the MCP handshake; "" is
	// "devel".
	Version string
	// Logger receives errors no client may see (bugs); nil means
	// slog.Default().
	Logger *slog.Logger
}

// Scope is what the calls of one request work on, and under which rules:
// the HTTP server gives each request its tenant's view and its own
// budget. Only Store is required.
type Scope struct {
	// Store is the store, or the view of it (chatstore.Prefixed), whose
	// histories the request sees.
	Store *chatstore.Store
	// CheckHistoryID refuses history ids (and list prefixes) beyond what
	// chatstore.CheckHistoryID refuses: the HTTP server's shorter limit,
	// and its ids reserved for tenants when it has none.
	CheckHistoryID func(id string) error
	// Read runs a read under a byte budget: read reads at most maxBytes of
	// stored messages, and fails with chatstore.ErrTooLarge past it. Read
	// may hold the bytes against a budget of its own, call read twice
	// with more, and must leave ErrTooLarge as it is when the messages are
	// over Options.MaxResponseBytes. Nil calls
	// read(Options.MaxResponseBytes).
	Read func(read func(maxBytes int) error) error
	// Hold holds n bytes of an answer until the request ends, or fails
	// (with the HTTP server's 503 overloaded) when its budget has not that
	// much left. Nil holds nothing.
	Hold func(n int) error
}

// Name is the server's name in the MCP handshake.
const Name = "chatstore"

// instructions tell the model what the server is for and how its tools go
// together; clients put them in the model's context.
const instructions = `chatstore keeps the chat histories of LLM applications. A history is a list of messages under a chat history id, oldest first, in Haystack's ChatMessage format (or OpenAI's Chat Completions format with format "openai"); each message has an id, meta.chat_message_id.
Use list_histories to find history ids, read_history to read the last rounds of a history (a round ends with an assistant reply that calls no tool) or to page through it with offset and limit, get_message to fetch one message by its chat_message_id, and append_messages, when it is offered, to add messages to a history. Each history is also a resource, chatstore://histories/{id}, as a plain-text transcript.`

// New returns an MCP server over store, with the tools and resources of
// docs/MCP.md; its schemas state store's default last_k. With
// Options.Scope, each request works on the store its scope names instead,
// a view of this one. The caller keeps the store and closes it. The server
// may serve many sessions at once.
func New(store *chatstore.Store, opts *Options) (*mcp.Server, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.MaxResponseBytes <= 0 || o.MaxWriteMessages <= 0 {
		return nil, fmt.Errorf("mcpserver: %w: MaxResponseBytes and MaxWriteMessages must be set, got %d and %d", chatstore.ErrInvalidOptions, o.MaxResponseBytes, o.MaxWriteMessages)
	}
	if o.Version == "" {
		o.Version = "devel"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &server{root: store, o: o, log: o.Logger}
	srv := mcp.NewServer(&mcp.Implementation{Name: Name, Title: "chatstore", Version: o.Version}, &mcp.ServerOptions{
		Instructions: instructions,
		Logger:       slog.New(warnings{o.Logger.Handler()}),
		// Tools and resources only: no logging capability (the SDK's
		// default), and no list-changed notifications, which are never
		// sent: the tools do not change, and the histories change too
		// often to say so.
		Capabilities: &mcp.ServerCapabilities{Tools: &mcp.ToolCapabilities{}, Resources: &mcp.ResourceCapabilities{}},
		// What a caller is shown depends on who it is: its tenant's
		// histories, its token's tools.
		SetCacheable: func(_ context.Context, _ mcp.Request, c *mcp.Cacheable) { c.CacheScope = "private" },
	})
	for _, t := range s.tools() {
		srv.AddTool(t.tool, s.handle(t))
	}
	srv.AddResourceTemplate(&mcp.ResourceTemplate{
		URITemplate: URITemplate,
		Name:        "history",
		Title:       "Chat history",
		Description: "A chat history as a plain-text transcript: each message's role and chat_message_id, then its text, tool calls and tool results, one per line. The id in the URI is percent-encoded.",
		MIMEType:    textPlain,
	}, s.readResource)
	srv.AddReceivingMiddleware(s.listResources)
	return srv, nil
}

// server is what the handlers of one MCP server share.
type server struct {
	root *chatstore.Store // New's; each scope's store is a view of it
	o    Options
	log  *slog.Logger
}

// errNoScope refuses a request that Options.Scope has no scope for: a bug
// of the program serving, which must never become a request on the
// whole store.
var errNoScope = errors.New("mcpserver: the request has no scope")

// call is one request's call: the server, and the request's scope.
type call struct {
	*server
	*Scope
}

// begin starts a call of the request whose context is ctx.
func (s *server) begin(ctx context.Context) (call, error) {
	if s.o.Scope == nil {
		return call{s, &Scope{Store: s.root}}, nil
	}
	sc := s.o.Scope(ctx)
	if sc == nil || sc.Store == nil {
		return call{}, errNoScope
	}
	return call{s, sc}, nil
}

// do runs one store operation through Options.Call.
func (s *server) do(ctx context.Context, op string, f func(context.Context) error) error {
	if s.o.Call != nil {
		return s.o.Call(ctx, op, f)
	}
	return f(ctx)
}

// read runs a store read through Scope.Read and Options.Call.
func (c call) read(ctx context.Context, read func(ctx context.Context, maxBytes int) error) error {
	bounded := func(maxBytes int) error {
		return c.do(ctx, "retrieve", func(ctx context.Context) error { return read(ctx, maxBytes) })
	}
	if c.Read != nil {
		return c.Read(bounded)
	}
	return bounded(c.o.MaxResponseBytes)
}

// answerCopies is how many times its size an answer of n bytes weighs
// while it is sent, besides the read it was made of (which Scope.Read
// holds, and which is no larger, but for OpenAI's format): the text
// content made of it, and the JSON-RPC response holding both. The
// structured content is the bytes themselves.
const answerCopies = 2

// hold holds an answer of n bytes through Scope.Hold.
func (c call) hold(n int) error {
	if c.Hold != nil {
		return c.Hold(answerCopies * n)
	}
	return nil
}

func (s *server) tally(written, read int) {
	if s.o.Tally != nil {
		s.o.Tally(written, read)
	}
}

// checkID checks a history id (or a list prefix) by the scope's rules, or
// else chatstore's.
func (c call) checkID(id string) error {
	if c.CheckHistoryID != nil {
		return c.CheckHistoryID(id)
	}
	return chatstore.CheckHistoryID(id)
}

// warnings passes on the records of Warn and above: the SDK logs every
// session's start and end at Info, and over HTTP each request is a session
// of its own.
type warnings struct{ slog.Handler }

func (w warnings) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && w.Handler.Enabled(ctx, l)
}

func (w warnings) WithAttrs(as []slog.Attr) slog.Handler { return warnings{w.Handler.WithAttrs(as)} }
func (w warnings) WithGroup(name string) slog.Handler    { return warnings{w.Handler.WithGroup(name)} }
