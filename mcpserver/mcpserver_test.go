package mcpserver_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/driver"
	"github.com/chatstore/chatstore/internal/apicode"
	"github.com/chatstore/chatstore/internal/mcptest"
	"github.com/chatstore/chatstore/mcpserver"
	_ "github.com/chatstore/chatstore/memstore"
)

// limits are the HTTP server's defaults, which "chatstore mcp" uses.
var limits = mcpserver.Options{MaxResponseBytes: 16 << 20, MaxWriteMessages: 1000}

func openStore(t *testing.T, url string) *chatstore.Store {
	t.Helper()
	st, err := chatstore.Open(t.Context(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// connect serves st with opts in memory and connects the SDK's client.
func connect(t *testing.T, st *chatstore.Store, opts mcpserver.Options) *mcp.ClientSession {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	srv, err := mcpserver.New(st, &opts)
	if err != nil {
		t.Fatal(err)
	}
	ct, stt := mcp.NewInMemoryTransports()
	ss, err := srv.Connect(t.Context(), stt, nil)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := mcptest.NewClient().Connect(t.Context(), ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cs.Close()
		ss.Close()
	})
	return cs
}

func TestTools(t *testing.T) {
	mcptest.Run(t, connect(t, openStore(t, "memory://"), limits))
}

func TestReadOnly(t *testing.T) {
	st := openStore(t, "memory://")
	if _, err := st.Write(t.Context(), "h", []chat.Message{chat.User("hi")}); err != nil {
		t.Fatal(err)
	}
	ro := limits
	ro.ReadOnly = true
	mcptest.ReadOnly(t, connect(t, st, ro), map[string]int{"h": 1})
	if n, _ := st.Count(t.Context(), "h"); n != 1 {
		t.Errorf("a read-only caller wrote: %d messages", n)
	}
}

// TestNew: the limits are the caller's, and required.
func TestNew(t *testing.T) {
	st := openStore(t, "memory://")
	for _, o := range []*mcpserver.Options{nil, {MaxResponseBytes: 1}, {MaxWriteMessages: 1}, {MaxResponseBytes: -1, MaxWriteMessages: 1}} {
		if _, err := mcpserver.New(st, o); !errors.Is(err, chatstore.ErrInvalidOptions) {
			t.Errorf("%+v: %v, want ErrInvalidOptions", o, err)
		}
	}
}

// TestDefaultLastK: read_history without last_k reads the store's default,
// and its description says which.
func TestDefaultLastK(t *testing.T) {
	st := openStore(t, "memory://?last_k=1")
	if _, err := st.Write(t.Context(), "h", []chat.Message{chat.User("a"), chat.Assistant("b"), chat.User("c"), chat.Assistant("d")}); err != nil {
		t.Fatal(err)
	}
	cs := connect(t, st, limits)
	s, _ := mcptest.Tools(t, cs)
	var m mcptest.Messages
	s.OK(t, "read_history", map[string]any{"chat_history_id": "h"}, &m)
	if len(m.Messages) != 2 || m.Messages[0].Text() != "c" {
		t.Errorf("the default read: %+v", m.Messages)
	}
	for tool, err := range cs.Tools(t.Context(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		if tool.Name == "read_history" && !strings.Contains(fmt.Sprint(tool.InputSchema), "the store's default, 1 round.") {
			t.Errorf("read_history does not say the default: %v", tool.InputSchema)
		}
	}
}

// TestLimits: an answer over MaxResponseBytes is a tool error that says how
// to page, and paging works; a write over MaxWriteMessages is refused and
// its schema says the limit.
func TestLimits(t *testing.T) {
	st := openStore(t, "memory://")
	big := strings.Repeat("x", 1500)
	if _, err := st.Write(t.Context(), "h", []chat.Message{chat.User(big), chat.Assistant(big), chat.User("small")}); err != nil {
		t.Fatal(err)
	}
	cs := connect(t, st, mcpserver.Options{MaxResponseBytes: 2000, MaxWriteMessages: 2})
	s, _ := mcptest.Tools(t, cs)
	for _, args := range []map[string]any{
		{"chat_history_id": "h", "last_k": "all"},
		{"chat_history_id": "h", "offset": 0, "limit": 2},
		{"chat_history_id": "h", "offset": 0, "limit": 2, "format": "openai"},
	} {
		s.Fails(t, "read_history", args, "response_too_large", "2000 bytes", "offset 0 and limit 100")
	}
	for offset, want := range []string{big, big, "small"} {
		var m mcptest.Messages
		s.OK(t, "read_history", map[string]any{"chat_history_id": "h", "offset": offset, "limit": 1}, &m)
		if len(m.Messages) != 1 || m.Messages[0].Text() != want {
			t.Errorf("page at %d: %+v", offset, m.Messages)
		}
	}
	// OpenAI's format can be larger than what is stored: the answer is
	// bounded, not the read alone.
	if _, err := st.Write(t.Context(), "tools", []chat.Message{chat.Assistant("", chat.ToolCall{ID: chat.Ptr("c"), ToolName: "t", Arguments: map[string]any{"s": strings.Repeat("\"", 600)}})}); err != nil {
		t.Fatal(err)
	}
	s.OK(t, "read_history", map[string]any{"chat_history_id": "tools"}, nil)
	s.Fails(t, "read_history", map[string]any{"chat_history_id": "tools", "format": "openai"}, "response_too_large")

	if _, err := st.Write(t.Context(), "one", []chat.Message{{Role: chat.RoleUser, Content: []chat.Part{chat.Text{Text: strings.Repeat("y", 2100)}}, Meta: map[string]any{chatstore.MessageIDKey: "m"}}}); err != nil {
		t.Fatal(err)
	}
	s.Fails(t, "get_message", map[string]any{"chat_history_id": "one", "message_id": "m"}, "response_too_large")
	_, err := cs.ReadResource(t.Context(), &mcp.ReadResourceParams{URI: mcpserver.URI("h")})
	var we *jsonrpc.Error
	if !errors.As(err, &we) || we.Code != jsonrpc.CodeInvalidParams || !strings.Contains(we.Message, "read_history") {
		t.Errorf("a resource over the limit: %v, want an error that says to page with read_history", err)
	}

	msgs := `[{"role":"user","content":[{"text":"a"}]},{"role":"user","content":[{"text":"b"}]},{"role":"user","content":[{"text":"c"}]}]`
	s.Fails(t, "append_messages", map[string]any{"chat_history_id": "w", "messages": jsonRaw(msgs)}, "too_many_messages", "3 messages", "limit is 2")
	if n, _ := st.Count(t.Context(), "w"); n != 0 {
		t.Errorf("a refused write wrote %d", n)
	}
	for tool, err := range cs.Tools(t.Context(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		if tool.Name == "append_messages" && !strings.Contains(fmt.Sprint(tool.InputSchema), "maxItems:2") {
			t.Errorf("append_messages's schema does not say the limit: %v", tool.InputSchema)
		}
	}
}

func jsonRaw(s string) any { return rawJSON(s) }

type rawJSON string

func (r rawJSON) MarshalJSON() ([]byte, error) { return []byte(r), nil }

// TestHooks: the caller's rules reach every tool and resource: the
// scope's history id check, read budget and answer budget, and the
// server's store call wrapper (with the operation) and count of messages.
func TestHooks(t *testing.T) {
	st := openStore(t, "memory://")
	var (
		mu                    sync.Mutex
		ops                   []string
		reads, held           int
		written, read         int
		refuseRead, refuseAll bool
	)
	opts := limits
	scope := &mcpserver.Scope{Store: st}
	opts.Scope = func(context.Context) *mcpserver.Scope { return scope }
	scope.CheckHistoryID = func(id string) error {
		if strings.HasPrefix(id, "reserved") {
			return &apicode.Error{Status: http.StatusBadRequest, Code: "invalid_history_id", Msg: "ids starting with reserved are the server's"}
		}
		return chatstore.CheckHistoryID(id)
	}
	opts.Call = func(ctx context.Context, op string, f func(context.Context) error) error {
		mu.Lock()
		ops = append(ops, op)
		mu.Unlock()
		return f(ctx)
	}
	scope.Read = func(read func(int) error) error {
		mu.Lock()
		reads++
		mu.Unlock()
		if refuseRead {
			return &apicode.Error{Status: http.StatusServiceUnavailable, Code: apicode.Overloaded, Msg: "busy; retry later"}
		}
		return read(100) // a small budget: a larger read is refused as over the limit
	}
	scope.Hold = func(n int) error {
		mu.Lock()
		defer mu.Unlock()
		held += n
		if refuseAll {
			return &apicode.Error{Status: http.StatusServiceUnavailable, Code: apicode.Overloaded, Msg: "busy; retry later"}
		}
		return nil
	}
	opts.Tally = func(w, r int) {
		mu.Lock()
		written += w
		read += r
		mu.Unlock()
	}
	cs := connect(t, st, opts)
	s, _ := mcptest.Tools(t, cs)
	s.OK(t, "append_messages", map[string]any{"chat_history_id": "h", "messages": jsonRaw(`[{"role":"user","content":[{"text":"hi"}]}]`)}, nil)
	s.OK(t, "read_history", map[string]any{"chat_history_id": "h"}, nil)
	s.OK(t, "get_message", map[string]any{"chat_history_id": "h", "message_id": "0"}, nil)
	s.OK(t, "list_histories", nil, nil)
	if _, err := cs.ReadResource(t.Context(), &mcp.ReadResourceParams{URI: mcpserver.URI("h")}); err != nil {
		t.Fatal(err)
	}
	for range cs.Resources(t.Context(), nil) {
	}
	if want := []string{"write", "retrieve", "retrieve", "list", "retrieve", "list"}; !slices.Equal(ops, want) {
		t.Errorf("store calls %q, want %q", ops, want)
	}
	if reads != 3 || written != 1 || read != 3 || held == 0 {
		t.Errorf("%d budgeted reads (want 3), %d written (1), %d read (3), %d bytes held", reads, written, read, held)
	}
	if _, err := st.Write(t.Context(), "big", []chat.Message{chat.User(strings.Repeat("z", 200))}); err != nil {
		t.Fatal(err)
	}
	s.Fails(t, "read_history", map[string]any{"chat_history_id": "big"}, "response_too_large")
	s.Fails(t, "read_history", map[string]any{"chat_history_id": "reserved-1"}, "invalid_history_id", "the server's")
	s.Fails(t, "append_messages", map[string]any{"chat_history_id": "reserved-1", "messages": jsonRaw(`[]`)}, "invalid_history_id")
	s.Fails(t, "list_histories", map[string]any{"prefix": "reserved"}, "invalid_request", "the server's")
	if _, err := cs.ReadResource(t.Context(), &mcp.ReadResourceParams{URI: mcpserver.URI("reserved-1")}); err == nil || !strings.Contains(err.Error(), "the server's") {
		t.Errorf("a reserved resource: %v", err)
	}
	refuseRead = true
	s.Fails(t, "read_history", map[string]any{"chat_history_id": "h"}, "overloaded", "retry later")
	refuseRead, refuseAll = false, true
	s.Fails(t, "list_histories", nil, "overloaded")
	if _, err := cs.ReadResource(t.Context(), &mcp.ReadResourceParams{URI: mcpserver.URI("h")}); err == nil || !strings.Contains(err.Error(), "retry later") {
		t.Errorf("a resource over the answer budget: %v", err)
	}
}

// broken is a driver whose calls fail as a bug would, or as an
// unreachable backend does.
type broken struct {
	driver.Store
	err error
}

func (b broken) Count(context.Context, string) (int64, error)                { return 0, b.err }
func (b broken) Write(context.Context, string, []driver.Record) (int, error) { return 0, b.err }
func (b broken) Range(context.Context, string, int, int) ([]driver.Message, error) {
	return nil, b.err
}
func (b broken) List(context.Context, string, int) ([]driver.History, error) { return nil, b.err }
func (b broken) Close() error                                                { return nil }

// TestStoreErrors: a store that cannot be reached is a tool error saying
// to retry; one that fails in a way nobody expected says only "internal",
// as the HTTP API does, and the error goes to the log.
func TestStoreErrors(t *testing.T) {
	for _, c := range []struct {
		err       error
		code, msg string
		logged    bool
	}{
		{fmt.Errorf("down: %w: dial tcp 10.0.0.7:5432: connection refused", chatstore.ErrUnavailable), "store_unavailable", "retry later", false},
		{errors.New("secret table chat_xyz is corrupt"), "internal", "internal error", true},
	} {
		st, err := chatstore.New(broken{err: c.err}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var logs bytes.Buffer
		opts := limits
		opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		cs := connect(t, st, opts)
		s, _ := mcptest.Tools(t, cs)
		for _, call := range []struct {
			tool string
			args map[string]any
		}{
			{"list_histories", nil},
			{"read_history", map[string]any{"chat_history_id": "h", "offset": 0}},
			{"append_messages", map[string]any{"chat_history_id": "h", "messages": jsonRaw(`[{"role":"user","content":[{"text":"hi"}]}]`)}},
		} {
			r := s.Call(t, call.tool, call.args)
			if !r.IsError || !strings.HasSuffix(r.Text, " ("+c.code+")") || !strings.Contains(r.Text, c.msg) || strings.Contains(r.Text, "10.0.0.7") || strings.Contains(r.Text, "secret") {
				t.Errorf("%s with %v: %q, want %s without the details", call.tool, c.err, r.Text, c.code)
			}
		}
		// A store that cannot address messages (no driver.Editor) says so.
		s.Fails(t, "get_message", map[string]any{"chat_history_id": "h", "message_id": "0"}, "not_supported")
		_, err = cs.ReadResource(t.Context(), &mcp.ReadResourceParams{URI: mcpserver.URI("h")})
		var we *jsonrpc.Error
		if !errors.As(err, &we) || we.Code != jsonrpc.CodeInternalError || strings.Contains(we.Message, "secret") || !strings.Contains(string(we.Data), c.code) {
			t.Errorf("a resource with %v: %v", c.err, err)
		}
		if got := strings.Contains(logs.String(), "secret table"); got != c.logged {
			t.Errorf("%v logged: %v, want %v\n%s", c.err, got, c.logged, logs.String())
		}
	}
}

// TestURI: a history's URI escapes all but unreserved characters, so that
// it matches the template, and leads back to the id.
func TestURI(t *testing.T) {
	st := openStore(t, "memory://")
	ids := []string{"a", "session/1", "a:b@c", "x y%z", ".", "..", "é", "a.b~c_d-e", "?#[]"}
	for _, id := range ids {
		if _, err := st.Write(t.Context(), id, []chat.Message{chat.User(id)}); err != nil {
			t.Fatal(err)
		}
	}
	if got := mcpserver.URI("session/1"); got != "chatstore://histories/session%2F1" {
		t.Errorf("URI(session/1) = %s", got)
	}
	if got := mcpserver.URI(".."); got != "chatstore://histories/%2E%2E" {
		t.Errorf("URI(..) = %s", got)
	}
	cs := connect(t, st, limits)
	for _, id := range ids {
		r, err := cs.ReadResource(t.Context(), &mcp.ReadResourceParams{URI: mcpserver.URI(id)})
		if err != nil || !strings.Contains(r.Contents[0].Text, "  "+id+"\n") {
			t.Errorf("%q at %s: %v %+v", id, mcpserver.URI(id), err, r)
		}
	}
}

// TestScope: with Options.Scope, each request works on its scope's store,
// a view; a request without a scope is refused, and never served from the
// whole store.
func TestScope(t *testing.T) {
	st := openStore(t, "memory://")
	for _, id := range []string{"a:h", "b:h"} {
		if _, err := st.Write(t.Context(), id, []chat.Message{chat.User(id)}); err != nil {
			t.Fatal(err)
		}
	}
	opts := limits
	var prefix atomic.Value // what the next request's scope is; "" for none
	opts.Scope = func(ctx context.Context) *mcpserver.Scope {
		p, _ := prefix.Load().(string)
		if p == "" {
			return nil
		}
		return &mcpserver.Scope{Store: chatstore.Prefixed(st, p)}
	}
	var logs bytes.Buffer
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	cs := connect(t, st, opts)
	s, _ := mcptest.Tools(t, cs)
	for _, p := range []string{"a:", "b:"} {
		prefix.Store(p)
		var m mcptest.Messages
		s.OK(t, "read_history", map[string]any{"chat_history_id": "h"}, &m)
		if len(m.Messages) != 1 || m.Messages[0].Text() != p+"h" {
			t.Errorf("scope %s reads %+v", p, m.Messages)
		}
		mcptest.Resources(t, cs, map[string]int{"h": 1})
	}
	prefix.Store("")
	for _, c := range []struct {
		tool string
		args map[string]any
	}{
		{"list_histories", nil},
		{"read_history", map[string]any{"chat_history_id": "a:h"}},
		{"get_message", map[string]any{"chat_history_id": "a:h", "message_id": "0"}},
		{"append_messages", map[string]any{"chat_history_id": "x", "messages": jsonRaw(`[{"role":"user","content":[{"text":"hi"}]}]`)}},
	} {
		s.Fails(t, c.tool, c.args, "internal")
	}
	if _, err := cs.ReadResource(t.Context(), &mcp.ReadResourceParams{URI: mcpserver.URI("a:h")}); err == nil {
		t.Error("a resource read without a scope")
	}
	if _, err := cs.ListResources(t.Context(), nil); err == nil {
		t.Error("resources listed without a scope")
	}
	if n, _ := st.Count(t.Context(), "x"); n != 0 || !strings.Contains(logs.String(), "no scope") {
		t.Errorf("a write without a scope: %d messages; log:\n%s", n, logs.String())
	}
}

// TestResourcePages: resources/list pages through the histories with the
// store's cursors, a page of chatstore.DefaultListLimit at a time.
func TestResourcePages(t *testing.T) {
	st := openStore(t, "memory://")
	want := map[string]int{}
	for i := range chatstore.DefaultListLimit + 20 {
		id := fmt.Sprintf("h%03d", i)
		want[id] = 1
		if _, err := st.Write(t.Context(), id, []chat.Message{chat.User(id)}); err != nil {
			t.Fatal(err)
		}
	}
	cs := connect(t, st, limits)
	first, err := cs.ListResources(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Resources) != chatstore.DefaultListLimit || first.NextCursor == "" {
		t.Errorf("the first page: %d resources, cursor %q", len(first.Resources), first.NextCursor)
	}
	if _, err := cs.ListResources(t.Context(), &mcp.ListResourcesParams{Cursor: "not-a-cursor"}); err == nil || !strings.Contains(err.Error(), "invalid cursor") {
		t.Errorf("a cursor the store did not make: %v", err)
	}
	mcptest.Resources(t, cs, want)
}

// TestSearchMessages: the search tool finds what the store finds, with its
// filters and pages, and says what is wrong with a query.
func TestSearchMessages(t *testing.T) {
	st := openStore(t, "memory://")
	ctx := t.Context()
	for _, id := range []string{"support/a", "support/b", "sales/c"} {
		if _, err := st.Write(ctx, id, []chat.Message{chat.User("my refund failed"), chat.Assistant("refund sent")}); err != nil {
			t.Fatal(err)
		}
	}
	cs := connect(t, st, limits)
	s, _ := mcptest.Tools(t, cs)
	type page struct {
		Hits []struct {
			HistoryID string `json:"chat_history_id"`
			MessageID string `json:"chat_message_id"`
			Role      string `json:"role"`
			Snippet   string `json:"snippet"`
		} `json:"hits"`
		NextCursor *string `json:"next_cursor"`
	}
	var p page
	s.OK(t, "search_messages", map[string]any{"q": "refund failed"}, &p)
	if len(p.Hits) != 3 || p.NextCursor != nil || p.Hits[0].Role != "user" || p.Hits[0].Snippet != "my <mark>refund</mark> <mark>failed</mark>" {
		t.Errorf("refund failed: %+v", p)
	}
	s.OK(t, "search_messages", map[string]any{"q": "refund", "prefix": "support/", "role": "assistant", "limit": 1}, &p)
	if len(p.Hits) != 1 || p.NextCursor == nil || p.Hits[0].MessageID != "1" || !strings.HasPrefix(p.Hits[0].HistoryID, "support/") {
		t.Fatalf("a filtered page: %+v", p)
	}
	s.OK(t, "search_messages", map[string]any{"q": "refund", "prefix": "support/", "role": "assistant", "limit": 1, "cursor": *p.NextCursor, "reasoning": false}, &p)
	if len(p.Hits) != 1 || p.NextCursor != nil {
		t.Errorf("the next page: %+v", p)
	}
	s.Fails(t, "search_messages", map[string]any{"q": "-refund"}, "invalid_query", "no word to find")
	s.Fails(t, "search_messages", map[string]any{}, "invalid_request", "q is required")
	s.Fails(t, "search_messages", map[string]any{"q": "refund", "reasoning": "yes"}, "invalid_request", "true or false")
	s.Fails(t, "search_messages", map[string]any{"q": "refund", "since": "monday"}, "invalid_query", "RFC 3339")
}
