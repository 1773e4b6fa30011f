package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	_ "github.com/chatstore/chatstore/memstore"
	"github.com/chatstore/chatstore/server"
)

// newServedStore serves an in-memory store, for commands that need
// driver.Editor across several runs (a memory:// URL is a new store each
// time).
func newServedStore(t *testing.T) (*chatstore.Store, string) {
	t.Helper()
	st, err := chatstore.Open(context.Background(), "memory://", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv, err := server.New(st, &server.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return st, ts.URL
}

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	e := newEnv(nil)
	err := Run(context.Background(), e.Env, args)
	return e.out.String(), err
}

// TestAddressingCommands: histories by recency and metadata, show with
// timestamps, delete one message, truncate, fork.
func TestAddressingCommands(t *testing.T) {
	ctx := context.Background()
	st, url := newServedStore(t)
	msgs := []chat.Message{chat.User("a"), chat.Assistant("b"), chat.User("c"), chat.Assistant("d")}
	st.Write(ctx, "h", msgs)
	st.Write(ctx, "g", msgs[:1])
	u := "u-42"
	st.SetMetadata(ctx, "h", map[string]*string{"user_id": &u})

	out, err := run(t, "histories", "--server", url, "--order", "updated", "--metadata", "user_id=u-42")
	if err != nil || !strings.HasPrefix(out, "h\t4\t20") || strings.Count(out, "\n") != 1 {
		t.Errorf("histories --metadata: %q %v", out, err)
	}
	out, err = run(t, "histories", "--server", url, "--json")
	info, _, _ := st.Info(ctx, "h")
	if err != nil || !strings.Contains(out, fmt.Sprintf(`{"chat_history_id":"h","count":4,"tokens":%d,"created_at":"20`, info.Tokens)) || !strings.Contains(out, `"metadata":{"user_id":"u-42"}}`) {
		t.Errorf("histories --json: %q %v", out, err)
	}
	if _, err := run(t, "histories", "--server", url, "--metadata", "novalue"); err == nil {
		t.Error("--metadata without =: no error")
	}
	out, err = run(t, "show", "h", "--server", url, "--last-k", "all", "--timestamps", "--format", "text")
	if err != nil || !strings.HasPrefix(out, "user #0 20") {
		t.Errorf("show --timestamps --format text: %q %v", out, err)
	}
	out, err = run(t, "show", "h", "--server", url, "--timestamps")
	if err != nil || strings.Count(out, `,"created_at":"20`) != 4 {
		t.Errorf("show --timestamps: %q %v", out, err)
	}
	if out, _ := run(t, "show", "h", "--server", url); strings.Contains(out, "created_at") {
		t.Errorf("show without --timestamps: %q", out)
	}
	if _, err := run(t, "delete", "h", "--server", url, "--message", "1"); err != nil {
		t.Errorf("delete --message: %v", err)
	}
	if _, err := run(t, "delete", "h", "--server", url, "--message", "1"); err == nil || !strings.Contains(err.Error(), "message_not_found") {
		t.Errorf("delete --message again: %v", err)
	}
	if out, err := run(t, "truncate", "h", "--server", url, "--from", "3"); err != nil || out != "1\n" {
		t.Errorf("truncate: %q %v", out, err)
	}
	if _, err := run(t, "truncate", "h", "--server", url); err == nil {
		t.Error("truncate without --from: no error")
	}
	if out, err := run(t, "fork", "h", "h2", "--server", url, "--through", "0"); err != nil || out != "h2\t1\n" {
		t.Errorf("fork: %q %v", out, err)
	}
	if _, err := run(t, "fork", "h", "h2", "--server", url); err == nil || !strings.Contains(err.Error(), "history_exists") {
		t.Errorf("fork onto an existing history: %v", err)
	}
	if n, _ := st.Count(ctx, "h"); n != 2 {
		t.Errorf("h has %d messages, want 2", n)
	}
}

// TestExportVersions: export --all writes the versioned format with each
// history's metadata and each message's time; import reads it back,
// metadata included, and still reads exports of version 1.
func TestExportVersions(t *testing.T) {
	ctx := context.Background()
	src, srcURL := newServedStore(t)
	src.Write(ctx, "h", []chat.Message{chat.User("a"), chat.Assistant("b")})
	u := "u-42"
	src.SetMetadata(ctx, "h", map[string]*string{"user_id": &u})
	out, err := run(t, "export", "--all", "--server", srcURL)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	srcInfo, _, _ := src.Info(ctx, "h")
	if err != nil || len(lines) != 4 || lines[0] != `{"chatstore_export":2}` ||
		!strings.HasPrefix(lines[1], fmt.Sprintf(`{"chat_history_id":"h","history":{"count":2,"tokens":%d,"created_at":"20`, srcInfo.Tokens)) || !strings.HasSuffix(lines[1], `"metadata":{"user_id":"u-42"}}}`) ||
		!strings.Contains(lines[2], `},"created_at":"20`) {
		t.Fatalf("export --all: %v\n%s", err, out)
	}
	dst, dstURL := newServedStore(t)
	e := newEnv(nil)
	e.Stdin = strings.NewReader(out)
	if err := Run(ctx, e.Env, []string{"import", "--server", dstURL}); err != nil {
		t.Fatal(err)
	}
	info, _, err := dst.Info(ctx, "h")
	if err != nil || info.Count != 2 || info.Metadata["user_id"] != "u-42" {
		t.Errorf("imported: %+v %v", info, err)
	}
	// Into a store (not a server), messages keep their exported times.
	path := filepath.Join(t.TempDir(), "restored.db")
	e = newEnv(nil)
	e.Stdin = strings.NewReader(out)
	if err := Run(ctx, e.Env, []string{"import", "--store", "sqlite://" + filepath.ToSlash(path)}); err != nil {
		t.Fatal(err)
	}
	restored, err := chatstore.Open(ctx, "sqlite://"+filepath.ToSlash(path), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	got, err := restored.ReadStored(ctx, "h", chatstore.ReadOptions{LastK: chatstore.All})
	want, _ := src.ReadStored(ctx, "h", chatstore.ReadOptions{LastK: chatstore.All})
	if err != nil || len(got) != 2 || len(want) != 2 || !got[0].CreatedAt.Equal(want[0].CreatedAt) || !got[1].CreatedAt.Equal(want[1].CreatedAt) || got[0].CreatedAt.IsZero() {
		t.Errorf("restored times: %+v, want those of %+v (%v)", got, want, err)
	}
	// Version 1: message lines, no header; and a --history import of a
	// versioned file is refused.
	e = newEnv(nil)
	e.Stdin = strings.NewReader(`{"chat_history_id":"old","message":{"role":"user","content":[{"text":"hi"}]}}` + "\n")
	if err := Run(ctx, e.Env, []string{"import", "--server", dstURL}); err != nil {
		t.Errorf("version 1: %v", err)
	}
	if n, _ := dst.Count(ctx, "old"); n != 1 {
		t.Errorf("version 1 imported %d messages", n)
	}
	e = newEnv(nil)
	e.Stdin = strings.NewReader(out)
	if err := Run(ctx, e.Env, []string{"import", "--server", dstURL, "--history", "x"}); err == nil {
		t.Error("a versioned export with --history: no error")
	}
	e = newEnv(nil)
	e.Stdin = strings.NewReader(`{"chatstore_export":3}` + "\n")
	if err := Run(ctx, e.Env, []string{"import", "--server", dstURL}); err == nil || !strings.Contains(err.Error(), "version 3") {
		t.Errorf("version 3: %v", err)
	}
}

// TestErase: chatstore erase deletes the histories whose metadata matches,
// and refuses to run without a pair.
func TestErase(t *testing.T) {
	ctx := t.Context()
	db := "sqlite:" + filepath.ToSlash(filepath.Join(t.TempDir(), "erase.db"))
	st, err := chatstore.Open(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	for h, user := range map[string]string{"a": "u-42", "b": "u-7", "c": "u-42"} {
		if _, err := st.Write(ctx, h, []chat.Message{chat.User("hi"), chat.Assistant("hello")}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.SetMetadata(ctx, h, map[string]*string{"user_id": &user}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	if _, err := run(t, "erase", "--store", db); !errors.Is(err, ErrUsage) {
		t.Errorf("erase without --metadata: %v", err)
	}
	out, err := run(t, "erase", "--store", db, "--metadata", "user_id=u-42")
	if err != nil || out != "erased 2 histories, 4 messages\n" {
		t.Fatalf("erase: %q, %v", out, err)
	}
	if st, err = chatstore.Open(ctx, db, nil); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	page, err := st.List(ctx, chatstore.ListOptions{})
	if err != nil || len(page.Histories) != 1 || page.Histories[0].ID != "b" {
		t.Errorf("after the erasure: %+v, %v", page.Histories, err)
	}
}
