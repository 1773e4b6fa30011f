package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/internal/mcptest"
)

// lockedBuffer is a buffer the command writes while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// mcpCommand is "chatstore mcp" running in-process on pipes, with the
// SDK's client on their other ends.
type mcpCommand struct {
	cs             *mcp.ClientSession
	stdout, stderr *lockedBuffer // what the command wrote
	done           chan error
	cancel         context.CancelFunc
}

func startMCP(t *testing.T, args ...string) *mcpCommand {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	c := &mcpCommand{stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan error, 1)}
	env := &Env{Stdin: inR, Stdout: io.MultiWriter(outW, c.stdout), Stderr: c.stderr, Getenv: func(string) string { return "" }}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go func() {
		err := Run(ctx, env, append([]string{"mcp", "--log-format", "json"}, args...))
		outW.Close()
		c.done <- err
	}()
	cs, err := mcptest.NewClient().Connect(t.Context(), &mcp.IOTransport{Reader: outR, Writer: inW}, nil)
	if err != nil {
		cancel()
		t.Fatalf("connecting: %v\n%s", err, c.stderr)
	}
	c.cs = cs
	t.Cleanup(cancel)
	return c
}

// wait waits for the command to end and returns its error.
func (c *mcpCommand) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-c.done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("the command did not end\n%s", c.stderr)
		return nil
	}
}

// checkStreams checks that stdout held the protocol alone, one JSON-RPC
// message a line, and that the logs went to stderr, saying what ended
// the command.
func (c *mcpCommand) checkStreams(t *testing.T, by string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(c.stdout.String(), "\n"), "\n")
	for _, line := range lines {
		var m struct{ JSONRPC string }
		if err := json.Unmarshal([]byte(line), &m); err != nil || m.JSONRPC != "2.0" {
			t.Errorf("stdout has a line that is not a JSON-RPC message: %.200q", line)
		}
	}
	if len(lines) < 2 {
		t.Errorf("stdout: %q", c.stdout)
	}
	if logs := c.stderr.String(); !strings.Contains(logs, `"msg":"serving MCP on stdin and stdout"`) || !strings.Contains(logs, `"msg":"stopped","by":"`+by+`"`) {
		t.Errorf("stderr lacks the start and end records:\n%s", logs)
	}
}

// TestMCPCommand runs the MCP tests over "chatstore mcp"'s stdio, on a
// store of its own, and ends it by closing stdin, as a client that quits
// does.
func TestMCPCommand(t *testing.T) {
	c := startMCP(t, "--store", "memory://")
	mcptest.Run(t, c.cs)
	c.cs.Close()
	if err := c.wait(t); err != nil {
		t.Errorf("the command ended with %v\n%s", err, c.stderr)
	}
	c.checkStreams(t, "end of input")
}

// TestMCPCommandReadOnly: with --read-only the client gets the tools that
// read, over every history of the store.
func TestMCPCommandReadOnly(t *testing.T) {
	url := "sqlite:" + filepath.Join(t.TempDir(), "chat.db")
	st, err := chatstore.Open(t.Context(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Write(t.Context(), "h", []chat.Message{chat.User("hi"), chat.Assistant("hello")}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	c := startMCP(t, "--store", url, "--read-only")
	mcptest.ReadOnly(t, c.cs, map[string]int{"h": 2})
	// A signal ends it as closing stdin does.
	c.cancel()
	if err := c.wait(t); err != nil {
		t.Errorf("the command ended with %v\n%s", err, c.stderr)
	}
	c.checkStreams(t, "signal")
}

func TestMCPCommandErrors(t *testing.T) {
	for _, c := range []struct {
		args  []string
		usage bool
	}{
		{[]string{"mcp", "extra"}, true},
		{[]string{"mcp", "--log-level", "loud"}, true},
		{[]string{"mcp", "--store", "nope://"}, false},
	} {
		e := newEnv(nil)
		err := Run(context.Background(), e.Env, c.args)
		if err == nil || errors.Is(err, ErrUsage) != c.usage {
			t.Errorf("%q: %v, want an error (a usage error: %v)", c.args, err, c.usage)
		}
		if e.out.Len() != 0 {
			t.Errorf("%q wrote %q to stdout, the protocol's", c.args, e.out)
		}
	}
}
