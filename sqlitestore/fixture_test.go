package sqlitestore_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
)

func messageIDs(msgs []chat.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i], _ = m.Meta[chatstore.MessageIDKey].(string)
	}
	return out
}

// found returns the hits of a search as "history/message" ids, in rank
// order.
func found(t *testing.T, st *chatstore.Store, query string) []string {
	t.Helper()
	page, err := st.Search(t.Context(), chatstore.SearchOptions{Query: query, Limit: chatstore.MaxSearchLimit})
	if err != nil {
		t.Fatalf("Search(%q): %v", query, err)
	}
	var out []string
	for _, h := range page.Hits {
		out = append(out, h.HistoryID+"/"+h.MessageID)
	}
	return out
}

// TestFixtureFromVersion4 opens a file that the previous release wrote
// (testdata/README.md): its histories read as they did, ids and rounds
// included, the operations of the new schema work on them, its messages
// are found by Search, which the index built on opening answers, and cost
// what the counter measures.
func TestFixtureFromVersion4(t *testing.T) {
	data, err := os.ReadFile("testdata/v4.db")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "v4.db")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	st, err := chatstore.Open(ctx, "sqlite://"+filepath.ToSlash(path)+"?skip_system_messages=false", nil)
	if err != nil {
		t.Fatalf("opening a version 4 file: %v", err)
	}
	defer st.Close()

	for q, want := range map[string][]string{
		"shipped":         {"support/alice/3", "support/alice/4"},
		"order":           {"support/alice/1", "support/alice/2"}, // the tool call's arguments are text too
		"lookup":          {"support/alice/2"},
		`"support agent"`: {"support/alice/0"},
		"thanks":          {"support/alice/q-2"},
		"hel*":            {"bob/1"},
		"yesterday -it":   nil,
	} {
		if got := found(t, st, q); !slices.Equal(sorted(got), want) {
			t.Errorf("Search(%q) = %v, want %v", q, got, want)
		}
	}

	ids := func(id string, k int) []string {
		t.Helper()
		msgs, err := st.RetrieveLast(ctx, id, k)
		if err != nil {
			t.Fatal(err)
		}
		return messageIDs(msgs)
	}
	// A caller's id (q-2) took position 5, so the next generated one was
	// "5" at position 6, as the old code gave it.
	for k, want := range map[int][]string{
		1: {"q-2", "5"},
		2: {"1", "2", "3", "4", "q-2", "5"},
		3: {"0", "1", "2", "3", "4", "q-2", "5"},
	} {
		if got := ids("support/alice", k); !slices.Equal(got, want) {
			t.Errorf("last_k %d: %v, want %v", k, got, want)
		}
	}
	info, ok, err := st.Info(ctx, "support/alice")
	if err != nil || !ok || info.Count != 7 || info.Metadata == nil {
		t.Fatalf("Info: %+v %v %v", info, ok, err)
	}
	page, err := st.List(ctx, chatstore.ListOptions{})
	if err != nil || len(page.Histories) != 2 || page.Histories[0].ID != "bob" || page.Histories[1].Count != 7 {
		t.Errorf("List: %+v %v", page, err)
	}
	// New writes continue the old numbering, never reusing an id.
	if _, err := st.Write(ctx, "support/alice", []chat.Message{chat.Assistant("You're welcome.")}); err != nil {
		t.Fatal(err)
	}
	if got := ids("support/alice", 1); !slices.Equal(got, []string{"q-2", "5", "7"}) {
		t.Errorf("after a write: %v", got)
	}
	// Every new operation on an old history.
	if m, err := st.Message(ctx, "support/alice", "q-2"); err != nil || func() string { s, _ := m.Message.Text(); return s }() != "Thanks!" {
		t.Errorf("Message(q-2): %+v %v", m, err)
	}
	if err := st.DeleteMessage(ctx, "support/alice", "4"); err != nil {
		t.Fatal(err)
	}
	if got := ids("support/alice", 1); !slices.Equal(got, []string{"1", "2", "3", "q-2", "5", "7"}) {
		t.Errorf("after deleting the answer that closed a round: %v", got)
	}
	if f, err := st.Fork(ctx, "support/alice", "copy", "q-2"); err != nil || f.Count != 5 {
		t.Errorf("Fork: %+v %v", f, err)
	}
	if n, err := st.Truncate(ctx, "support/alice", "q-2"); err != nil || n != 3 {
		t.Errorf("Truncate: %d %v", n, err)
	}
	v := "u-1"
	if _, err := st.SetMetadata(ctx, "bob", map[string]*string{"user_id": &v}); err != nil {
		t.Fatal(err)
	}
	page, err = st.List(ctx, chatstore.ListOptions{Metadata: map[string]string{"user_id": "u-1"}})
	if err != nil || len(page.Histories) != 1 || page.Histories[0].ID != "bob" {
		t.Errorf("List by metadata: %+v %v", page, err)
	}
	// The index followed: "4" was deleted, the fork holds 0 to q-2, the
	// original was truncated from q-2, and "7" was written.
	for q, want := range map[string][]string{
		"shipped": {"copy/3", "support/alice/3"},
		"thanks":  {"copy/q-2"},
		"welcome": nil,
		"lookup":  {"copy/2", "support/alice/2"},
	} {
		if got := found(t, st, q); !slices.Equal(sorted(got), want) {
			t.Errorf("after the changes, Search(%q) = %v, want %v", q, got, want)
		}
	}
	if _, err := st.Write(ctx, "bob", []chat.Message{chat.User("Where is the welcome pack?")}); err != nil {
		t.Fatal(err)
	}
	if got := found(t, st, "welcome"); !slices.Equal(got, []string{"bob/2"}) {
		t.Errorf("a new message: %v", got)
	}
	// Its messages were measured on opening, and the histories' sums
	// followed every change since.
	if n := checkCosts(t, openDriver(t, path, nil), meterOf(t, chatstore.TokenizerApprox)); n != 12 {
		t.Errorf("%d messages", n)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
