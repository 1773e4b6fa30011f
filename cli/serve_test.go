package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/client"
)

// TestServeWriteLimit: --max-write-messages is the one limit on a write,
// the store's as well as the server's, so that it can be raised above the
// store's default.
func TestServeWriteLimit(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := newEnv(nil)
	addr := make(chan string, 1)
	e.Ready = func(a string) { addr <- a }
	done := make(chan error, 1)
	limit := chatstore.DefaultMaxWriteMessages + 1
	go func() {
		done <- Run(ctx, e.Env, []string{"serve", "--addr", "127.0.0.1:0", "--store", "memory://", "--max-write-messages", fmt.Sprint(limit)})
	}()
	var a string
	select {
	case a = <-addr:
	case err := <-done:
		t.Fatalf("serve ended: %v\n%s", err, e.err.String())
	}
	write := func(n int) (int, string) {
		t.Helper()
		body := `{"messages":[` + strings.Repeat(`{"role":"user","content":[{"text":"x"}]},`, n-1) + `{"role":"user","content":[{"text":"x"}]}]}`
		resp, err := http.Post("http://"+a+"/v1/histories/h/messages", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Status
	}
	if code, status := write(limit); code != 200 {
		t.Errorf("a write of %d messages with --max-write-messages %d: %s", limit, limit, status)
	}
	if code, status := write(limit + 1); code != 400 {
		t.Errorf("a write of %d messages with --max-write-messages %d: %s", limit+1, limit, status)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve after cancel: %v", err)
	}
}

// TestServeTenantTTLReload: a tenant's ttl= in the tokens file gives its
// histories their expiry, over the store's --ttl, and SIGHUP after the
// file lost it gives the next change the store's; a tokens file with a
// bad ttl= does not start.
func TestServeTenantTTLReload(t *testing.T) {
	const token = "0123456789abcdef0123"
	file := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(file, []byte("acme "+token+" ttl=1h\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad")
	os.WriteFile(bad, []byte("acme "+token+" ttl=soon\n"), 0o600)
	if err := Run(context.Background(), newEnv(nil).Env, []string{"serve", "--store", "memory://", "--tokens-file", bad}); err == nil || !strings.Contains(err.Error(), `line 1: field 3: invalid expiry: ttl "soon"`) {
		t.Errorf("serve with ttl=soon: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &lockedBuffer{}
	env := &Env{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: logs, Getenv: func(string) string { return "" }}
	addr := make(chan string, 1)
	env.Ready = func(a string) { addr <- a }
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, env, []string{"serve", "--addr", "127.0.0.1:0", "--store", "memory://", "--tokens-file", file, "--log-format", "json", "--ttl", "1d"})
	}()
	var a string
	select {
	case a = <-addr:
	case err := <-done:
		t.Fatalf("serve ended: %v\n%s", err, logs.String())
	}
	c, err := client.New("http://"+a, &client.Options{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	write := func() chatstore.HistoryInfo {
		t.Helper()
		if _, err := c.Write(ctx, "h", []chat.Message{chat.User("x")}); err != nil {
			t.Fatal(err)
		}
		info, _, err := c.Info(ctx, "h")
		if err != nil {
			t.Fatal(err)
		}
		return info
	}
	if info := write(); info.ExpiresAt.IsZero() || info.ExpiresAt.Sub(info.UpdatedAt) != time.Hour {
		t.Errorf("with ttl=1h: %+v", info)
	}
	if err := os.WriteFile(file, []byte("acme "+token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	// The reload's log record is the only sign that it is done.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), `"msg":"tokens reloaded"`); {
		select {
		case err := <-done:
			t.Fatalf("serve ended: %v\n%s", err, logs.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no reload after SIGHUP:\n%s", logs.String())
		}
	}
	if info := write(); info.ExpiresAt.Sub(info.UpdatedAt) != 24*time.Hour {
		t.Errorf("after the reload without ttl=, want the store's --ttl 1d: %+v", info)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve after cancel: %v", err)
	}
}
