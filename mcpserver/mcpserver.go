// Package mcpserver serves a chatstore.Store to LLM agents over the Model
// Context Protocol (MCP), with the official Go SDK: tools to list
// histories, read one, fetch one message by its id and append messages,
// and each history as a resource, chatstore://histories/{id}, a plain-text
// transcript. docs/MCP.md describes them.
//
// New makes an MCP server over one store, which may be a view
// (chatstore.Prefixed). "chatstore serve" mounts one at /mcp over
// streamable HTTP, made for each request from the caller's token: its
// tenant's view, its tools (a read-only token gets only those that read),
// and the HTTP server's own limits and in-flight budget through Options;
// "chatstore mcp" runs one over stdio on the whole store. No backend and
// not the root package import this package.
package mcpserver

import (
	"context"
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

	// What follows lets the HTTP server hand its own rules to the tools
	// of one request. All are optional.

	// CheckHistoryID refuses history ids (and list prefixes) beyond what
	// chatstore.CheckHistoryID refuses: the HTTP server's shorter limit,
	// and its ids reserved for tenants when it has none.
	CheckHistoryID func(id string) error
	// Call runs one store operation, f: op is "list", "retrieve" or
	// "write", for metrics; the HTTP server bounds it with its store
	// timeout. Nil calls f(ctx).
	Call func(ctx context.Context, op string, f func(context.Context) error) error
	// Read runs a read under a byte budget: read reads at most maxBytes of
	// stored messages, and fails with chatstore.ErrTooLarge past it. Read
	// may hold the bytes against a budget of its own, call read twice
	// with more, and must leave ErrTooLarge as it is when the messages are
	// over MaxResponseBytes. Nil calls read(MaxResponseBytes).
	Read func(read func(maxBytes int) error) error
	// Hold holds n bytes of an answer until the request ends, or fails
	// (with the HTTP server's 503 overloaded) when its budget has not that
	// much left. Nil holds nothing.
	Hold func(n int) error
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

// Name is the server's name in the MCP handshake.
const Name = "chatstore"

// instructions tell the model what the server is for and how its tools go
// together; clients put them in the model's context.
const instructions = `chatstore keeps the chat histories of LLM applications. A history is a list of messages under a chat history id, oldest first, in Haystack's ChatMessage format (or OpenAI's Chat Completions format with format "openai"); each message has an id, meta.chat_message_id.
Use list_histories to find history ids, read_history to read the last rounds of a history (a round ends with an assistant reply that calls no tool) or to page through it with offset and limit, get_message to fetch one message by its chat_message_id, and append_messages, when it is offered, to add messages to a history. Each history is also a resource, chatstore://histories/{id}, as a plain-text transcript.`

// New returns an MCP server over store, with the tools and resources of
// docs/MCP.md. The caller keeps the store and closes it.
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
	s := &server{store: store, o: o, log: o.Logger}
	srv := mcp.NewServer(&mcp.Implementation{Name: Name, Title: "chatstore", Version: o.Version}, &mcp.ServerOptions{
		Instructions: instructions,
		Logger:       slog.New(warnings{o.Logger.Handler()}),
		// Tools and resources only: no logging capability (the SDK's
		// default), and no list-changed notifications, which a server
		// made for one request never sends.
		Capabilities: &mcp.ServerCapabilities{Tools: &mcp.ToolCapabilities{}, Resources: &mcp.ResourceCapabilities{}},
		// What a caller is shown depends on its token: its tenant's
		// histories, its tools.
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
	store *chatstore.Store
	o     Options
	log   *slog.Logger
}

// call runs one store operation through Options.Call.
func (s *server) call(ctx context.Context, op string, f func(context.Context) error) error {
	if s.o.Call != nil {
		return s.o.Call(ctx, op, f)
	}
	return f(ctx)
}

// read runs a store read through Options.Read and Options.Call.
func (s *server) read(ctx context.Context, read func(ctx context.Context, maxBytes int) error) error {
	bounded := func(maxBytes int) error {
		return s.call(ctx, "retrieve", func(ctx context.Context) error { return read(ctx, maxBytes) })
	}
	if s.o.Read != nil {
		return s.o.Read(bounded)
	}
	return bounded(s.o.MaxResponseBytes)
}

// answerCopies is how many times its size an answer of n bytes weighs
// while it is sent, besides the read it was made of (which Options.Read
// holds, and which is no larger, but for OpenAI's format): the text
// content made of it, and the JSON-RPC response holding both. The
// structured content is the bytes themselves.
const answerCopies = 2

// hold holds an answer of n bytes through Options.Hold.
func (s *server) hold(n int) error {
	if s.o.Hold != nil {
		return s.o.Hold(answerCopies * n)
	}
	return nil
}

func (s *server) tally(written, read int) {
	if s.o.Tally != nil {
		s.o.Tally(written, read)
	}
}

// checkID checks a history id (or a list prefix) by the caller's rules, or
// else chatstore's.
func (s *server) checkID(id string) error {
	if s.o.CheckHistoryID != nil {
		return s.o.CheckHistoryID(id)
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
