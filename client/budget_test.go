package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/client"
	"github.com/chatstore/chatstore/component"
	"github.com/chatstore/chatstore/driver"
	"github.com/chatstore/chatstore/internal/chattest"
	"github.com/chatstore/chatstore/memstore"
)

// asJSON is messages as the API writes them, to compare.
func asJSON(t *testing.T, msgs []chat.Message) string {
	t.Helper()
	b := []byte{'['}
	for i, m := range msgs {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = m.AppendJSON(b); err != nil {
			t.Fatal(err)
		}
	}
	return string(append(b, ']'))
}

func compactionJSON(t *testing.T, c chatstore.Compaction) string {
	t.Helper()
	b, err := c.AppendJSON(nil)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestClientBudgetShapes checks what the client sends for budgeted reads,
// contexts and compactions, and that it reads back what chatstore's own
// encoders write (Window.AppendJSON, Compaction.AppendJSON), against a
// stand-in server that answers as the API describes.
func TestClientBudgetShapes(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 12, 1, 9, 30, 0, 123e6, time.UTC)
	summary := chat.User("The user asked about Paris.").WithMeta(chatstore.MessageIDKey, "3").
		WithMeta(chatstore.CompactionMetaKey, map[string]any{"strategy": "summarization", "through": "3"})
	comp := chatstore.Compaction{Through: "3", Summary: summary, Tokens: 9, CreatedAt: at, InEffect: true}
	win := chatstore.Window{Tokens: 40, MaxTokens: 100, Rounds: 2, More: false, Pruned: 1, Compaction: &comp, Summarized: true, Omitted: 4, OmittedTokens: 900}
	later := chat.User("And Rome?").WithMeta(chatstore.MessageIDKey, "4")

	type request struct{ method, uri, body string }
	var got []request
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, request{r.Method, r.URL.RequestURI(), string(b)})
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == "GET" && r.URL.Path == "/v1/histories/h/messages" && r.URL.Query().Has("limit"):
			io.WriteString(w, `{"messages":`+asJSON(t, []chat.Message{later})+`}`)
		case r.URL.Path == "/v1/histories/h/messages", r.URL.Path == "/v1/histories/h/context":
			msgs := []chat.Message{summary, later}
			if r.URL.Query().Has("include") {
				io.WriteString(w, `{"messages":[`)
				b, _ := summary.AppendJSON(nil)
				w.Write(append(b[:len(b)-1], `,"created_at":null},`...))
				b, _ = later.AppendJSON(nil)
				w.Write(append(b[:len(b)-1], `,"created_at":"2026-12-01T09:31:00.000Z"}],`...))
			} else {
				io.WriteString(w, `{"messages":`+asJSON(t, msgs)+`,`)
			}
			io.WriteString(w, `"window":`+string(win.AppendJSON(nil))+`}`)
		case r.Method == "POST" && r.URL.Path == "/v1/histories/h/compactions":
			c := comp
			c.InEffect = false
			w.WriteHeader(201)
			io.WriteString(w, compactionJSON(t, c))
		case r.URL.Path == "/v1/histories/h/compactions":
			io.WriteString(w, `{"compactions":[`+compactionJSON(t, comp)+`]}`)
		case r.URL.Path == "/v1/histories/h":
			io.WriteString(w, `{"chat_history_id":"h","count":5,"tokens":null,"created_at":null,"updated_at":null,"metadata":{}}`)
		case r.URL.Path == "/v1/histories/g":
			io.WriteString(w, `{"chat_history_id":"g","count":5,"tokens":42,"created_at":null,"updated_at":null,"metadata":{}}`)
		default:
			w.WriteHeader(404)
			io.WriteString(w, `{"error":{"code":"not_found","message":"no such route"}}`)
		}
	}))
	defer ts.Close()
	c, _ := client.New(ts.URL, nil)
	last := func() request {
		t.Helper()
		if len(got) == 0 {
			t.Fatal("no request")
		}
		return got[len(got)-1]
	}

	// A budgeted last_k read: the options in the query, the window back.
	var w chatstore.Window
	msgs, err := c.Read(ctx, "h", chatstore.ReadOptions{LastK: 2, MaxTokens: 100, Uncompacted: true, PruneToolResults: true, Window: &w})
	if err != nil {
		t.Fatal(err)
	}
	if r := last(); r.uri != "/v1/histories/h/messages?compacted=false&last_k=2&max_tokens=100&prune_tool_results=true" {
		t.Errorf("read sent %s", r.uri)
	}
	if g, want := string(w.AppendJSON(nil)), string(win.AppendJSON(nil)); g != want {
		t.Errorf("window\n%s\nwant\n%s", g, want)
	}
	if w.Compaction == nil || asJSON(t, []chat.Message{w.Compaction.Summary}) != asJSON(t, []chat.Message{summary}) || !w.Compaction.InEffect {
		t.Errorf("the window's compaction %+v, want its summary from the messages", w.Compaction)
	}
	if asJSON(t, msgs) != asJSON(t, []chat.Message{summary, later}) {
		t.Errorf("messages %s", asJSON(t, msgs))
	}
	// The server's default last_k, compacted, not pruned: only the budget.
	if _, err := c.Read(ctx, "h", chatstore.ReadOptions{LastK: client.StoreDefault, MaxTokens: 7}); err != nil || last().uri != "/v1/histories/h/messages?max_tokens=7" {
		t.Errorf("read with the default last_k sent %s: %v", last().uri, err)
	}
	// ReadStored: the same window, with the times.
	w = chatstore.Window{}
	stored, err := c.ReadStored(ctx, "h", chatstore.ReadOptions{LastK: chatstore.All, MaxTokens: 100, Window: &w})
	if err != nil || len(stored) != 2 || !stored[0].CreatedAt.IsZero() || stored[1].CreatedAt.IsZero() {
		t.Fatalf("ReadStored: %+v %v", stored, err)
	}
	if r := last(); r.uri != "/v1/histories/h/messages?include=created_at&last_k=all&max_tokens=100" {
		t.Errorf("ReadStored sent %s", r.uri)
	}
	if g, want := string(w.AppendJSON(nil)), string(win.AppendJSON(nil)); g != want || w.Compaction.Summary.Role != chat.RoleUser {
		t.Errorf("ReadStored's window\n%s\nwant\n%s", g, want)
	}
	// A paged read sends none of them, as the store ignores them.
	if _, err := c.Read(ctx, "h", chatstore.ReadOptions{After: "3", Limit: 5, MaxTokens: 100, Uncompacted: true, PruneToolResults: true}); err != nil || last().uri != "/v1/histories/h/messages?after=3&limit=5" {
		t.Errorf("paged read sent %s: %v", last().uri, err)
	}
	// A negative budget is the store's error, and sends nothing.
	n := len(got)
	if _, err := c.Read(ctx, "h", chatstore.ReadOptions{LastK: 1, MaxTokens: -1}); !errors.Is(err, chatstore.ErrInvalidRange) || len(got) != n {
		t.Errorf("negative max_tokens: %v, %d requests", err, len(got)-n)
	}

	// A context: every option a member of the body.
	k := 3
	w = chatstore.Window{}
	msgs, err = c.Context(ctx, "h", component.RunOptions{
		LastK: &k, CurrentMessages: []chat.Message{chat.User("next?")},
		MaxTokens: 500, ToolTokens: 50, PruneToolResults: true, Uncompacted: true, Window: &w,
	})
	if err != nil || len(msgs) != 2 {
		t.Fatalf("Context: %d messages, %v", len(msgs), err)
	}
	r := last()
	wantBody := `{"current_messages":[{"role":"user","meta":{},"name":null,"content":[{"text":"next?"}]}],"last_k":3,"max_tokens":500,"tool_tokens":50,"prune_tool_results":true,"compacted":false}`
	if r.method != "POST" || r.uri != "/v1/histories/h/context" || r.body != wantBody {
		t.Errorf("context sent %s %s %s\nwant body %s", r.method, r.uri, r.body, wantBody)
	}
	if g, want := string(w.AppendJSON(nil)), string(win.AppendJSON(nil)); g != want {
		t.Errorf("context's window\n%s\nwant\n%s", g, want)
	}
	all := chatstore.All
	if _, err := c.Context(ctx, "h", component.RunOptions{LastK: &all}); err != nil || last().body != `{"current_messages":[],"last_k":"all"}` {
		t.Errorf("context of every round sent %s: %v", last().body, err)
	}
	if _, err := c.Context(ctx, "h", component.RunOptions{ToolTokens: -1}); !errors.Is(err, chatstore.ErrInvalidRange) {
		t.Errorf("negative tool_tokens: %v", err)
	}

	// Compactions: recorded and listed.
	got = nil
	cp, err := c.Compact(ctx, "h", "3", chat.User("The user asked about Paris."))
	if err != nil {
		t.Fatal(err)
	}
	r = last()
	if r.method != "POST" || r.uri != "/v1/histories/h/compactions" || r.body != `{"through":"3","summary":{"role":"user","meta":{},"name":null,"content":[{"text":"The user asked about Paris."}]}}` {
		t.Errorf("compact sent %+v", r)
	}
	want := comp
	want.InEffect = false
	if compactionJSON(t, cp) != compactionJSON(t, want) || !cp.CreatedAt.Equal(at) {
		t.Errorf("Compact: %s\nwant %s", compactionJSON(t, cp), compactionJSON(t, want))
	}
	list, err := c.Compactions(ctx, "h")
	if err != nil || len(list) != 1 || compactionJSON(t, list[0]) != compactionJSON(t, comp) {
		t.Errorf("Compactions: %+v %v", list, err)
	}
	if _, err := c.Compact(ctx, "h", "", chat.User("s")); !errors.Is(err, chatstore.ErrInvalidMessageID) || len(got) != 2 {
		t.Errorf("compact through no id: %v, sent %d requests", err, len(got))
	}
	if _, err := c.Compact(ctx, "h", "3", chat.Message{Role: "nobody"}); !errors.Is(err, chatstore.ErrInvalidMessage) || len(got) != 2 {
		t.Errorf("compact with an invalid summary: %v, sent %d requests", err, len(got))
	}

	// A history's tokens: null is -1, not known.
	if info, _, err := c.Info(ctx, "h"); err != nil || info.Tokens != -1 {
		t.Errorf("Info with tokens null: %d %v", info.Tokens, err)
	}
	if info, _, err := c.Info(ctx, "g"); err != nil || info.Tokens != 42 {
		t.Errorf("Info with tokens 42: %d %v", info.Tokens, err)
	}
}

// sameWindow checks that got, through the client, returns the messages and
// the window that want, from the store, returns, and returns those.
func sameWindow(t *testing.T, what string, want, got func(*chatstore.Window) ([]chat.Message, error)) ([]chat.Message, chatstore.Window) {
	t.Helper()
	var gotW, wantW chatstore.Window
	wantMsgs, err := want(&wantW)
	if err != nil {
		t.Fatalf("%s from the store: %v", what, err)
	}
	msgs, err := got(&gotW)
	if err != nil {
		t.Errorf("%s: %v", what, err)
		return wantMsgs, wantW
	}
	if g, w := asJSON(t, msgs), asJSON(t, wantMsgs); g != w {
		t.Errorf("%s: messages\n%s\nwant\n%s", what, g, w)
	}
	if g, w := string(gotW.AppendJSON(nil)), string(wantW.AppendJSON(nil)); g != w {
		t.Errorf("%s: window\n%s\nwant\n%s", what, g, w)
	}
	if wantW.Summarized && (gotW.Compaction == nil || asJSON(t, []chat.Message{gotW.Compaction.Summary}) != asJSON(t, []chat.Message{wantW.Compaction.Summary})) {
		t.Errorf("%s: the window's compaction %+v, want the summary %+v", what, gotW.Compaction, wantW.Compaction.Summary)
	}
	return wantMsgs, wantW
}

// TestClientBudgetAgainstServer reads budgeted, pruned and compacted
// windows and contexts through a server over the in-memory store, and
// checks each against what the store itself returns.
func TestClientBudgetAgainstServer(t *testing.T) {
	ctx := context.Background()
	st, c := newServed(t)
	const id = "agent/1"
	if _, err := c.Write(ctx, id, chattest.AgentTurns()); err != nil {
		t.Fatal(err)
	}
	info, _, err := c.Info(ctx, id)
	want, _, _ := st.Info(ctx, id)
	if err != nil || info.Tokens != want.Tokens || info.Tokens <= 0 {
		t.Errorf("Info: tokens %d %v, the store says %d", info.Tokens, err, want.Tokens)
	}

	// The first turn, summarized.
	cp, err := c.Compact(ctx, id, "5", chat.User("The user asked about the weather in Paris: sunny."))
	if err != nil {
		t.Fatal(err)
	}
	if cp.Through != "5" || cp.Tokens <= 0 || time.Since(cp.CreatedAt) > time.Minute || cp.Summary.Meta[chatstore.CompactionMetaKey] == nil {
		t.Errorf("Compact: %+v", cp)
	}
	list, err := c.Compactions(ctx, id)
	wantList, _ := st.Compactions(ctx, id)
	if err != nil || len(list) != 1 || len(wantList) != 1 || compactionJSON(t, list[0]) != compactionJSON(t, wantList[0]) || !list[0].InEffect {
		t.Errorf("Compactions: %+v %v, the store says %+v", list, err, wantList)
	}

	for _, o := range []chatstore.ReadOptions{
		{LastK: chatstore.All},
		{LastK: 1},
		{LastK: chatstore.All, MaxTokens: 60},
		{LastK: chatstore.All, MaxTokens: 5},
		{LastK: chatstore.All, Uncompacted: true},
		{LastK: chatstore.All, Uncompacted: true, PruneToolResults: true},
		{LastK: chatstore.All, Uncompacted: true, PruneToolResults: true, MaxTokens: 400},
		{LastK: 0, MaxTokens: 100},
	} {
		what := fmt.Sprintf("read %+v", o)
		wantMsgs, wantW := sameWindow(t, what, func(w *chatstore.Window) ([]chat.Message, error) {
			o.Window = w
			return st.Read(ctx, id, o)
		}, func(w *chatstore.Window) ([]chat.Message, error) {
			o.Window = w
			return c.Read(ctx, id, o)
		})
		var gotW chatstore.Window
		o.Window = &gotW
		stored, err := c.ReadStored(ctx, id, o)
		if err != nil || len(stored) != len(wantMsgs) || string(gotW.AppendJSON(nil)) != string(wantW.AppendJSON(nil)) {
			t.Errorf("%s: ReadStored: %d messages, window %s, %v", what, len(stored), gotW.AppendJSON(nil), err)
		}
	}

	// Contexts: what the retriever returns over the store.
	one := 1
	retriever := component.Retriever{Store: st, LastK: component.StoreDefault}
	for _, o := range []component.RunOptions{
		{CurrentMessages: []chat.Message{chat.System("Be brief."), chat.User("And Berlin?")}},
		{CurrentMessages: []chat.Message{chat.User("And Berlin?")}, MaxTokens: 120, ToolTokens: 20},
		{CurrentMessages: []chat.Message{chat.User("And Berlin?")}, MaxTokens: 3},
		{LastK: &one, Uncompacted: true, PruneToolResults: true},
		{Uncompacted: true, PruneToolResults: true, MaxTokens: 500},
	} {
		sameWindow(t, fmt.Sprintf("context %+v", o), func(w *chatstore.Window) ([]chat.Message, error) {
			o.Window = w
			return retriever.Run(ctx, id, o)
		}, func(w *chatstore.Window) ([]chat.Message, error) {
			o.Window = w
			return c.Context(ctx, id, o)
		})
	}

	// The store's errors.
	if _, err := c.Compact(ctx, id, "99", chat.User("s")); !errors.Is(err, chatstore.ErrNotFound) {
		t.Errorf("compact through a message the history does not hold: %v", err)
	}
	if _, err := c.Read(ctx, id, chatstore.ReadOptions{LastK: 1, MaxTokens: -1}); !errors.Is(err, chatstore.ErrInvalidRange) {
		t.Errorf("negative max_tokens: %v", err)
	}
	// A store without compaction records: 501, chatstore.ErrNotSupported.
	plain, err := chatstore.New(struct{ driver.Store }{memstore.New()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	pc := serve(t, plain)
	if _, err := pc.Write(ctx, id, chattest.AgentTurns()); err != nil {
		t.Fatal(err)
	}
	if _, err := pc.Compact(ctx, id, "5", chat.User("s")); !errors.Is(err, chatstore.ErrNotSupported) {
		t.Errorf("compact on a store without compactions: %v", err)
	}
	if _, err := pc.Compactions(ctx, id); !errors.Is(err, chatstore.ErrNotSupported) {
		t.Errorf("compactions on a store without them: %v", err)
	}
	if info, _, err := pc.Info(ctx, id); err != nil || info.Tokens != -1 {
		t.Errorf("Info on a store that cannot count: tokens %d %v, want -1", info.Tokens, err)
	}
}
