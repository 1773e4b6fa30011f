package pgstore_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
)

// TestFixtureFromVersion3 loads a schema that the previous release wrote
// (testdata/README.md): its histories read as they did, ids and rounds
// included, and the operations of the new schema work on them.
func TestFixtureFromVersion3(t *testing.T) {
	pool := testPool(t)
	schema := freshSchema(t, pool)
	dump, err := os.ReadFile("testdata/v3.sql")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(t.Context(), strings.ReplaceAll(string(dump), "fixture_v3", schema)); err != nil {
		t.Fatalf("loading the fixture: %v", err)
	}
	ctx := t.Context()
	st, err := chatstore.Open(ctx, storeURL(t, schema)+"&skip_system_messages=false", nil)
	if err != nil {
		t.Fatalf("opening a version 3 schema: %v", err)
	}
	defer st.Close()
	ids := func(id string, k int) []string {
		t.Helper()
		msgs, err := st.RetrieveLast(ctx, id, k)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]string, len(msgs))
		for i, m := range msgs {
			out[i], _ = m.Meta[chatstore.MessageIDKey].(string)
		}
		return out
	}
	for k, want := range map[int][]string{
		1: {"q-2", "5"},
		2: {"1", "2", "3", "4", "q-2", "5"},
		3: {"0", "1", "2", "3", "4", "q-2", "5"},
	} {
		if got := ids("support/alice", k); !slices.Equal(got, want) {
			t.Errorf("last_k %d: %v, want %v", k, got, want)
		}
	}
	if info, ok, err := st.Info(ctx, "support/alice"); err != nil || !ok || info.Count != 7 || info.CreatedAt.IsZero() {
		t.Fatalf("Info: %+v %v %v", info, ok, err)
	}
	if _, err := st.Write(ctx, "support/alice", []chat.Message{chat.Assistant("You're welcome.")}); err != nil {
		t.Fatal(err)
	}
	if got := ids("support/alice", 1); !slices.Equal(got, []string{"q-2", "5", "7"}) {
		t.Errorf("after a write: %v", got)
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
	page, err := st.List(ctx, chatstore.ListOptions{Order: chatstore.ByUpdated, Metadata: map[string]string{"user_id": "u-1"}})
	if err != nil || len(page.Histories) != 1 || page.Histories[0].ID != "bob" || page.Histories[0].Count != 2 {
		t.Errorf("List by metadata: %+v %v", page, err)
	}
}
