package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/client"
	_ "github.com/chatstore/chatstore/memstore"
	"github.com/chatstore/chatstore/server"
)

func TestClientAgainstServer(t *testing.T) {
	ctx := context.Background()
	st, err := chatstore.Open(ctx, "memory://?last_k=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, _ := server.New(st, &server.Options{Logger: slog.New(slog.DiscardHandler), MaxWriteMessages: 5})
	ts := httptest.NewServer(srv)
	defer ts.Close()
	c, err := client.New(ts.URL+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	msgs := []chat.Message{chat.User("a"), chat.Assistant("b"), chat.User("c"), chat.Assistant("d")}
	if n, err := c.Write(ctx, "id/with slash", msgs); err != nil || n != 4 {
		t.Fatalf("Write: %d %v", n, err)
	}
	if got, err := c.Retrieve(ctx, "id/with slash"); err != nil || len(got) != 2 {
		t.Errorf("Retrieve (store default last_k=1): %d messages, %v", len(got), err)
	}
	if got, err := c.RetrieveLast(ctx, "id/with slash", chatstore.All); err != nil || len(got) != 4 || got[3].Meta[chatstore.MessageIDKey] != "3" {
		t.Errorf("RetrieveLast(All): %v %v", got, err)
	}
	if got, err := c.Range(ctx, "id/with slash", 1, 2); err != nil || len(got) != 2 || got[0].Meta[chatstore.MessageIDKey] != "1" {
		t.Errorf("Range(1, 2): %v %v", got, err)
	}
	if _, err := c.Range(ctx, "id/with slash", -1, 2); !errors.Is(err, chatstore.ErrInvalidRange) {
		t.Errorf("Range(-1, 2): %v", err)
	}
	if n, err := c.Count(ctx, "id/with slash"); err != nil || n != 4 {
		t.Errorf("Count: %d %v", n, err)
	}
	page, err := c.List(ctx, chatstore.ListOptions{Limit: 1})
	if err != nil || len(page.Histories) != 1 || page.Histories[0].ID != "id/with slash" || page.NextCursor != "" {
		t.Errorf("List: %+v %v", page, err)
	}
	// Server errors come back as the store's sentinels.
	if _, err := c.RetrieveLast(ctx, "x", -1); !errors.Is(err, chatstore.ErrInvalidLastK) {
		t.Errorf("negative last_k: %v", err)
	}
	if _, err := c.Write(ctx, "x", make([]chat.Message, 6)); !errors.Is(err, chatstore.ErrInvalidMessage) && !errors.Is(err, chatstore.ErrTooManyMessages) {
		t.Errorf("bad write: %v", err)
	}
	if _, err := c.Write(ctx, "x", []chat.Message{chat.User("1"), chat.User("2"), chat.User("3"), chat.User("4"), chat.User("5"), chat.User("6")}); !errors.Is(err, chatstore.ErrTooManyMessages) {
		t.Errorf("6 messages over a limit of 5: %v", err)
	}
	var ce *client.Error
	if _, err := c.Count(ctx, string(make([]byte, 300))); !errors.As(err, &ce) || ce.Status != 400 || !errors.Is(err, chatstore.ErrInvalidHistoryID) {
		t.Errorf("long id: %v", err)
	}
	if err := c.Delete(ctx, "id/with slash"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteAll(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
	ts.Close()
	if _, err := c.Count(ctx, "x"); !errors.Is(err, chatstore.ErrUnavailable) {
		t.Errorf("server gone: %v", err)
	}
	if _, err := client.New("ftp://x", nil); err == nil {
		t.Error("ftp URL accepted")
	}
}

// serve serves st over HTTP for the test and returns a client of it.
func serve(t *testing.T, st *chatstore.Store) *client.Client {
	t.Helper()
	srv, err := server.New(st, &server.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	c, err := client.New(ts.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newServed opens an in-memory store for the test and serves it.
func newServed(t *testing.T) (*chatstore.Store, *client.Client) {
	t.Helper()
	st, err := chatstore.Open(context.Background(), "memory://", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, serve(t, st)
}

// TestOddIDs reaches histories whose ids are path syntax. They once made
// the server redirect, and DELETE of "." then deleted every history.
func TestOddIDs(t *testing.T) {
	ctx := context.Background()
	st, c := newServed(t)
	ids := []string{".", "..", "/", "//", "a/../b", "./a", "%2E", "?x=1", "#", " "}
	for i, id := range ids {
		if _, err := c.Write(ctx, id, []chat.Message{chat.User(id)}); err != nil {
			t.Fatalf("Write(%q): %v", id, err)
		}
		if n, err := st.Count(ctx, id); err != nil || n != 1 {
			t.Errorf("Write(%q) reached another history: the store has %d for it", id, n)
		}
		for _, other := range ids[i+1:] {
			if _, err := st.Write(ctx, other, []chat.Message{chat.User("keep")}); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Delete(ctx, id); err != nil {
			t.Fatalf("Delete(%q): %v", id, err)
		}
		page, err := st.List(ctx, chatstore.ListOptions{Limit: 100})
		if err != nil || len(page.Histories) != len(ids)-i-1 {
			t.Fatalf("after Delete(%q): %d histories left, want %d (%v)", id, len(page.Histories), len(ids)-i-1, err)
		}
		if err := st.DeleteAll(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// TestUnreachableServer: a server that cannot be reached is reported as
// such, with its address (password redacted), not as "store unavailable";
// the error is still chatstore.ErrUnavailable and keeps net/http's error.
func TestUnreachableServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	c, err := client.New("http://user:secret@"+addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Count(t.Context(), "x")
	var ue *url.Error
	if !errors.Is(err, chatstore.ErrUnavailable) || !errors.As(err, &ue) {
		t.Errorf("err = %v, want ErrUnavailable wrapping a *url.Error", err)
	}
	msg := fmt.Sprint(err)
	want := "client: GET /v1/histories/x: the server at http://user:xxxxx@" + addr + " could not be reached: "
	if !strings.HasPrefix(msg, want) || strings.Contains(msg, "store unavailable") || strings.Contains(msg, "secret") {
		t.Errorf("message %q, want it to start with %q", msg, want)
	}
}

// TestWriteIdempotent: a keyed write retried after its answer was lost is
// stored once, and the lost answer is reported as an unknown outcome, not
// as "nothing happened".
func TestWriteIdempotent(t *testing.T) {
	ctx := context.Background()
	st, err := chatstore.Open(ctx, "memory://", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, _ := server.New(st, &server.Options{Logger: slog.New(slog.DiscardHandler)})
	// The first keyed write is served, but its connection is cut before
	// the answer leaves, as when the server's host drops off the network.
	var cut atomic.Bool
	cut.Store(true)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if cut.CompareAndSwap(true, false) {
			r.Body = io.NopCloser(bytes.NewReader(b))
			srv.ServeHTTP(httptest.NewRecorder(), r) // stored,
			panic(http.ErrAbortHandler)              // but no answer
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
		srv.ServeHTTP(w, r)
	}))
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	defer ts.Close()
	c, _ := client.New(ts.URL, nil)
	msgs := []chat.Message{chat.User("q"), chat.Assistant("a")}
	_, _, err = c.WriteIdempotent(ctx, "h", "key-1", msgs)
	if !errors.Is(err, chatstore.ErrOutcomeUnknown) || !errors.Is(err, chatstore.ErrUnavailable) {
		t.Fatalf("a write whose answer was lost: %v, want ErrOutcomeUnknown", err)
	}
	n, replayed, err := c.WriteIdempotent(ctx, "h", "key-1", msgs)
	if err != nil || n != 2 || !replayed {
		t.Errorf("retry: %d %v %v, want 2 replayed", n, replayed, err)
	}
	if got, _ := st.Count(ctx, "h"); got != 2 {
		t.Errorf("the history holds %d messages, want 2", got)
	}
	if _, _, err := c.WriteIdempotent(ctx, "h", "key-1", []chat.Message{chat.User("other")}); !errors.Is(err, chatstore.ErrIdempotencyKeyReused) {
		t.Errorf("key reused: %v", err)
	}
	if _, _, err := c.WriteIdempotent(ctx, "h", "bad key", msgs); !errors.Is(err, chatstore.ErrInvalidIdempotencyKey) {
		t.Errorf("bad key: %v", err)
	}
	// A write that could not be sent at all stored nothing, and says so.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	down, _ := client.New("http://"+addr, nil)
	_, err = down.Write(ctx, "h", msgs)
	if !errors.Is(err, chatstore.ErrUnavailable) || errors.Is(err, chatstore.ErrOutcomeUnknown) {
		t.Errorf("a write to no server: %v, want ErrUnavailable alone", err)
	}
}
