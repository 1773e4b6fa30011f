package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/mcpserver"
	"github.com/chatstore/chatstore/server"
)

const mcpUsage = `usage: chatstore mcp [--store URL] [--read-only]

Serves a store to one MCP client, such as a desktop agent, over stdin and
stdout (docs/MCP.md): the tools list_histories, read_history, get_message
and append_messages (not with --read-only), and each history as a
resource, chatstore://histories/{id}. It runs until the client closes
stdin, or SIGINT or SIGTERM. Stdout carries the protocol alone; logs go to
stderr. The limits are the server's defaults: 16 MiB of messages per
answer, 1000 messages per write, 8 MiB per request.

Every history of the store is the client's: there are no tokens or
tenants on stdio. "chatstore serve" serves the same at /mcp over HTTP,
with them.

examples:
  chatstore mcp --store sqlite:///home/me/chatstore.db
  chatstore mcp --store 'postgres://app@db/chat?schema=chatstore' --read-only

In a client's configuration (Claude Desktop's mcpServers):
  {"chatstore": {"command": "chatstore", "args": ["mcp", "--store", "sqlite:///home/me/chatstore.db"]}}

flags:
`

func runMCP(ctx context.Context, env *Env, args []string) error {
	f := newFlags(env, "mcp", mcpUsage)
	storeURL := f.String("store", DefaultStore, "store URL: sqlite:FILE, memory://, postgres://…, redis://…; a relative file is relative to the directory the client starts the command in, so give an absolute one")
	readOnly := f.Bool("read-only", false, "serve only the tools that read: no append_messages")
	logLevel := f.String("log-level", "info", "debug, info, warn or error")
	logFormat := f.String("log-format", "auto", "text, json, or auto: text on a terminal, JSON otherwise")
	f.fromEnv("store", "read-only", "log-level", "log-format")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return f.usageErr("takes no arguments, got %q", pos)
	}
	log, err := newLogger(env, *logLevel, *logFormat)
	if err != nil {
		return err
	}
	routeGoRedisLog(log)
	// The server's limits, which the store's write limit is too, as for
	// "chatstore serve".
	store, err := chatstore.Open(ctx, *storeURL, &chatstore.Options{MaxWriteMessages: server.DefaultMaxWriteMessages})
	if err != nil {
		return err
	}
	defer store.Close()
	srv, err := mcpserver.New(store, &mcpserver.Options{
		ReadOnly:         *readOnly,
		MaxResponseBytes: server.DefaultMaxResponseBytes,
		MaxWriteMessages: server.DefaultMaxWriteMessages,
		Version:          Version(),
		Logger:           log,
	})
	if err != nil {
		return err
	}
	stdin, ok := env.Stdin.(io.ReadCloser)
	if !ok {
		stdin = io.NopCloser(env.Stdin)
	}
	session, err := srv.Connect(ctx, &mcp.IOTransport{
		Reader:        stdin,
		Writer:        nopCloser{env.Stdout},
		MaxLineLength: server.DefaultMaxBodyBytes, // a request's limit
	}, nil)
	if err != nil {
		return fmt.Errorf("mcp: %w", err)
	}
	log.Info("serving MCP on stdin and stdout", "store", redact(*storeURL), "read_only", *readOnly, "version", Version())
	ended := make(chan error, 1)
	go func() { ended <- session.Wait() }()
	by := "end of input" // the client closed stdin, as clients end a session
	select {
	case err = <-ended: // nil at the end of input; otherwise the stream broke
	case <-ctx.Done(): // a signal: a normal end too
		session.Close()
		<-ended
		err, by = nil, "signal"
	}
	if err != nil {
		return fmt.Errorf("mcp: %w", err)
	}
	if err := store.Close(); err != nil {
		return fmt.Errorf("closing the store: %w", err)
	}
	log.Info("stopped", "by", by)
	return nil
}

// nopCloser is stdout, which the command does not close.
type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
