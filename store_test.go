package chatstore_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/driver"
	_ "github.com/chatstore/chatstore/memstore"
)

func TestOpenURL(t *testing.T) {
	tests := []struct {
		url      string
		wantKeep bool
		wantK    int
	}{
		{"memory://", false, chatstore.DefaultLastK},
		{"memory://?skip_system_messages=false&last_k=all", true, chatstore.All},
		{"memory://?last_k=3&skip_system_messages=true", false, 3},
		{"memory://?last_k=ALL", false, chatstore.All},
		{"memory://?last_k=0", false, chatstore.NoHistory},
	}
	for _, tt := range tests {
		st, err := chatstore.Open(t.Context(), tt.url, nil)
		if err != nil {
			t.Fatalf("%s: %v", tt.url, err)
		}
		o := st.Options()
		if o.KeepSystemMessages != tt.wantKeep || o.LastK != tt.wantK {
			t.Errorf("%s: options %+v", tt.url, o)
		}
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	}
	// URL parameters override opts.
	st, err := chatstore.Open(t.Context(), "memory://?last_k=2", &chatstore.Options{LastK: 7, KeepSystemMessages: true})
	if err != nil || st.Options().LastK != 2 || !st.Options().KeepSystemMessages {
		t.Errorf("override: %+v %v", st.Options(), err)
	}
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		url  string
		want error
	}{
		{"nosuch://x", chatstore.ErrUnknownScheme},
		{"memory://?last_k=-1", chatstore.ErrInvalidLastK},
		{"memory://?last_k=none", chatstore.ErrInvalidLastK},
		{"memory://?last_k=%2B5", chatstore.ErrInvalidLastK},
		{"memory://?last_k=many", chatstore.ErrInvalidLastK},
		{"memory://?last_k=1&last_k=2", chatstore.ErrInvalidLastK},
		{"memory://?skip_system_messages=maybe", chatstore.ErrInvalidOptions},
		{"memory://?unknown=1", chatstore.ErrInvalidOptions},
		{"memory://host:1", chatstore.ErrInvalidOptions},
		{"memory:///some/path", chatstore.ErrInvalidOptions},
		{"::not a url", chatstore.ErrInvalidOptions},
	}
	for _, tt := range tests {
		_, err := chatstore.Open(t.Context(), tt.url, nil)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.url, err, tt.want)
		}
	}
	// Credentials never appear in errors.
	for _, u := range []string{"nosuch://user:s3cret@host/db", "memory://user:s3cret@x", "nosuch://user:s3cret@host/%zz", "postgres://user:s3c#ret@host/db", "postgres://user:s3c/ret@host:5432/db", "redis://:s3cret@[::1/0"} {
		_, err := chatstore.Open(t.Context(), u, nil)
		if err == nil || strings.Contains(err.Error(), "s3c") {
			t.Errorf("%s: error %v shows the password", u, err)
		}
	}
}

func TestMemoryURLSharing(t *testing.T) {
	a, _ := chatstore.Open(t.Context(), "memory://shared-"+t.Name(), nil)
	b, _ := chatstore.Open(t.Context(), "memory://shared-"+t.Name(), nil)
	p, _ := chatstore.Open(t.Context(), "memory://", nil)
	q, _ := chatstore.Open(t.Context(), "memory://", nil)
	for _, st := range []*chatstore.Store{a, p} {
		if _, err := st.Write(t.Context(), "h", []chat.Message{chat.User("x")}); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := b.Count(t.Context(), "h"); n != 1 {
		t.Errorf("named memory stores do not share: count %d", n)
	}
	if n, _ := q.Count(t.Context(), "h"); n != 0 {
		t.Errorf("private memory stores share: count %d", n)
	}
	// Closing one user of a shared store leaves it usable for the others.
	_ = a.Close()
	if n, err := b.Count(t.Context(), "h"); n != 1 || err != nil {
		t.Errorf("after closing a: %d %v", n, err)
	}
	_ = b.DeleteAll(t.Context())
}

func TestNewOptions(t *testing.T) {
	st, err := chatstore.New(nopDriver{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	o := st.Options()
	if o.LastK != chatstore.DefaultLastK || o.MaxWriteMessages != chatstore.DefaultMaxWriteMessages || o.IdempotencyWindow != chatstore.DefaultIdempotencyWindow || o.KeepSystemMessages {
		t.Errorf("defaults: %+v", o)
	}
	if _, err := chatstore.New(nopDriver{}, &chatstore.Options{LastK: -1}); !errors.Is(err, chatstore.ErrInvalidLastK) {
		t.Errorf("LastK -1: %v", err)
	}
	if _, err := chatstore.New(nopDriver{}, &chatstore.Options{MaxWriteMessages: -1}); !errors.Is(err, chatstore.ErrInvalidOptions) {
		t.Errorf("MaxWriteMessages -1: %v", err)
	}
	// The caller's Options are not modified.
	in := &chatstore.Options{}
	if _, err := chatstore.New(nopDriver{}, in); err != nil || in.LastK != 0 {
		t.Errorf("New changed the caller's options: %+v", in)
	}
}

// TestLastKZero: a store whose last_k is 0, as Haystack allows, loads from
// a URL, and its default read returns nothing while an explicit last_k
// still reads. (component's TestStoreLastKZero loads one from a Haystack
// dictionary.)
func TestLastKZero(t *testing.T) {
	st, err := chatstore.Open(t.Context(), "memory://?last_k=0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Write(t.Context(), "h", []chat.Message{chat.User("q"), chat.Assistant("a")}); err != nil {
		t.Fatal(err)
	}
	if got, err := st.Retrieve(t.Context(), "h"); err != nil || len(got) != 0 || st.DefaultLastK() != 0 {
		t.Errorf("default read of a last_k=0 store: %d messages, %v", len(got), err)
	}
	if got, err := st.RetrieveLast(t.Context(), "h", 1); err != nil || len(got) != 2 {
		t.Errorf("last_k 1: %d messages, %v", len(got), err)
	}
}

func TestParseLastK(t *testing.T) {
	good := map[string]int{"0": 0, "7": 7, "007": 7, "all": chatstore.All, "ALL": chatstore.All, "99999999999999999999999": chatstore.All}
	for in, want := range good {
		if got, err := chatstore.ParseLastK(in); err != nil || got != want {
			t.Errorf("%q: %d %v", in, got, err)
		}
	}
	for _, in := range []string{"", "-1", "+5", " 5", "5 ", "1.5", "1e3", "ten", "none", "null", "None", "0x10", "５"} {
		if _, err := chatstore.ParseLastK(in); !errors.Is(err, chatstore.ErrInvalidLastK) {
			t.Errorf("%q: err = %v", in, err)
		}
	}
}

func TestClassify(t *testing.T) {
	call := chat.ToolCall{ToolName: "t"}
	tests := []struct {
		m    chat.Message
		want driver.Kind
	}{
		{chat.System("s"), driver.Alone},
		{chat.User("u"), driver.Joins},
		{chat.Tool("r", call, false), driver.Joins},
		{chat.Assistant("text"), driver.Closes},
		{chat.Assistant(""), driver.Joins},
		{chat.Assistant("", call), driver.Joins},
		{chat.Assistant("text", call), driver.Joins},
		{chat.Assistant("text").WithReasoning("r"), driver.Closes},
		{chat.Message{Role: chat.RoleAssistant, Content: []chat.Part{chat.Text{Text: ""}, chat.Text{Text: "second"}}}, driver.Joins},
		{chat.Message{Role: chat.RoleAssistant, Content: []chat.Part{chat.Reasoning{ReasoningText: "only"}}}, driver.Joins},
	}
	for i, tt := range tests {
		if got := chatstore.Classify(tt.m); got != tt.want {
			t.Errorf("case %d: %v, want %v", i, got, tt.want)
		}
	}
}

type nopDriver struct{ driver.Store }

func (nopDriver) Close() error { return nil }

// TestInvalidMessageError: a message a write cannot store is named by its
// place in the write and its path in one, and "invalid message" is said
// once; the error is both sentinels and keeps the *chat.Error.
func TestInvalidMessageError(t *testing.T) {
	st, err := chatstore.Open(t.Context(), "memory://", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, c := range []struct {
		bad  chat.Message
		want string
	}{
		{chat.Message{Role: "robot", Content: []chat.Part{chat.Text{Text: "x"}}}, "chatstore: invalid message: messages[1].role: "},
		{chat.Message{Role: chat.RoleUser, Meta: map[string]any{chatstore.MessageIDKey: 7}, Content: []chat.Part{chat.Text{Text: "x"}}}, "chatstore: invalid message: messages[1].meta.chat_message_id: must be a string or null, got int"},
	} {
		_, err := st.Write(t.Context(), "h", []chat.Message{chat.User("fine"), c.bad})
		var ce *chat.Error
		if !errors.Is(err, chatstore.ErrInvalidMessage) || !errors.Is(err, chat.ErrInvalidMessage) || !errors.As(err, &ce) {
			t.Errorf("%v: not both sentinels and a *chat.Error", err)
		}
		if msg := fmt.Sprint(err); !strings.HasPrefix(msg, c.want) || strings.Count(msg, "invalid message") != 1 {
			t.Errorf("message %q, want it to start with %q and say \"invalid message\" once", msg, c.want)
		}
	}
}

// TestNoSearch: search=false (Options.NoSearch) indexes nothing and
// answers Search with ErrNotSupported; the writes go on as before.
func TestNoSearch(t *testing.T) {
	ctx := t.Context()
	for _, u := range []string{"memory://?search=false", "memory://?search=0"} {
		st, err := chatstore.Open(ctx, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Write(ctx, "h", []chat.Message{chat.User("refund")}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Search(ctx, chatstore.SearchOptions{Query: "refund"}); !errors.Is(err, chatstore.ErrNotSupported) || !strings.Contains(err.Error(), "search=false") {
			t.Errorf("%s: Search: %v", u, err)
		}
		st.Close()
	}
	st, err := chatstore.Open(ctx, "memory://?search=true", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.Write(ctx, "h", []chat.Message{chat.User("refund")})
	if p, err := st.Search(ctx, chatstore.SearchOptions{Query: "refund"}); err != nil || len(p.Hits) != 1 {
		t.Errorf("search=true: %+v %v", p, err)
	}
	if _, err := chatstore.Open(ctx, "memory://?search=maybe", nil); !errors.Is(err, chatstore.ErrInvalidOptions) {
		t.Errorf("search=maybe: %v", err)
	}
}
