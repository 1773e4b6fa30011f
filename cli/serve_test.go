package cli

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chatstore/chatstore"
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
