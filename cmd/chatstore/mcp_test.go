package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/internal/mcptest"
)

// TestMCPStdio runs the MCP tests against the binary, as a desktop agent
// starts it (the SDK's command transport), on a SQLite file; the client
// closing its end stops it, with exit status 0, and what it wrote is in
// the file.
func TestMCPStdio(t *testing.T) {
	db := filepath.Join(t.TempDir(), "chat.db")
	cmd := exec.Command(binary, "mcp", "--store", "sqlite://"+db, "--log-format", "json")
	cmd.Env = cleanEnv()
	stderr := lockedWriter{new(sync.Mutex), new(bytes.Buffer)}
	cmd.Stderr = stderr
	// Time enough to end on its own: a SIGTERM would end it with status 0
	// too, but the log would say so.
	cs, err := mcptest.NewClient().Connect(t.Context(), &mcp.CommandTransport{Command: cmd, TerminateDuration: time.Minute}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mcptest.Run(t, cs)
	if err := cs.Close(); err != nil {
		t.Errorf("closing: %v", err)
	}
	if cmd.ProcessState == nil || !cmd.ProcessState.Success() {
		t.Errorf("the command did not exit 0: %v\n%s", cmd.ProcessState, stderr.buf)
	}
	if logs := stderr.buf.String(); !strings.Contains(logs, "serving MCP on stdin and stdout") || !strings.Contains(logs, `"msg":"stopped","by":"end of input"`) {
		t.Errorf("stderr:\n%s", logs)
	}
	st, err := chatstore.Open(t.Context(), "sqlite://"+db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if n, err := st.Count(t.Context(), "session/1 é"); n != 6 || err != nil {
		t.Errorf("the file holds %d messages of the history written over MCP: %v", n, err)
	}
}
