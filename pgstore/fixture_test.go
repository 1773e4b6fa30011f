package pgstore_test

import (
	"bytes"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/pgstore"
	"github.com/chatstore/chatstore/tokens"
)

// loadFixture loads testdata/VERSION.sql into a fresh schema, and
// returns its name.
func loadFixture(t *testing.T, pool *pgxpool.Pool, version string) string {
	t.Helper()
	schema := freshSchema(t, pool)
	dump, err := os.ReadFile("testdata/" + version + ".sql")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(t.Context(), strings.ReplaceAll(string(dump), "fixture_"+version, schema)); err != nil {
		t.Fatalf("loading the fixture: %v", err)
	}
	return schema
}

// TestFixtureFromVersion3 loads a schema that the previous release wrote
// (testdata/README.md): its histories read as they did, ids and rounds
// included, and the operations of the new schema work on them.
func TestFixtureFromVersion3(t *testing.T) {
	pool := testPool(t)
	schema := loadFixture(t, pool, "v3")
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
	// Opening measured the old messages for token budgets.
	drv := st.Driver().(*pgstore.Store)
	if n := checkCosts(t, pool, schema, drv, chatstore.TokenizerApprox); n != 9 {
		t.Errorf("%d messages measured, want 9", n)
	}
	// Opening indexed the old messages for search: texts, tool calls'
	// names and arguments, tool results, by role. They have no time.
	for _, c := range []struct {
		o    chatstore.SearchOptions
		want []string
	}{
		{chatstore.SearchOptions{Query: "shipped"}, []string{"support/alice/3", "support/alice/4"}},
		{chatstore.SearchOptions{Query: "order"}, []string{"support/alice/1", "support/alice/2"}},
		{chatstore.SearchOptions{Query: "lookup 42"}, []string{"support/alice/2"}},
		{chatstore.SearchOptions{Query: "order", Roles: []chat.Role{chat.RoleUser}}, []string{"support/alice/1"}},
		{chatstore.SearchOptions{Query: `"one more"`}, []string{"support/alice/5"}},
		{chatstore.SearchOptions{Query: "ship* -yesterday"}, []string{"support/alice/3"}},
		{chatstore.SearchOptions{Query: "support agent"}, []string{"support/alice/0"}},
		{chatstore.SearchOptions{Query: "hello", Until: time.Now()}, []string{"bob/1"}},
		{chatstore.SearchOptions{Query: "hello", Since: time.UnixMilli(1)}, nil},
	} {
		if got := hits(t, st, c.o); !slices.Equal(got, c.want) {
			t.Errorf("search %+v: %v, want %v", c.o, got, c.want)
		}
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
	// The fork's copies are found, the truncated messages are not.
	if got := hits(t, st, chatstore.SearchOptions{Query: "shipped"}); !slices.Equal(got, []string{"copy/3", "support/alice/3"}) {
		t.Errorf("shipped, after fork and truncate: %v", got)
	}
	if got := hits(t, st, chatstore.SearchOptions{Query: "thanks"}); !slices.Equal(got, []string{"copy/q-2"}) {
		t.Errorf("thanks, after fork and truncate: %v", got)
	}
	v := "u-1"
	if _, err := st.SetMetadata(ctx, "bob", map[string]*string{"user_id": &v}); err != nil {
		t.Fatal(err)
	}
	page, err := st.List(ctx, chatstore.ListOptions{Order: chatstore.ByUpdated, Metadata: map[string]string{"user_id": "u-1"}})
	if err != nil || len(page.Histories) != 1 || page.Histories[0].ID != "bob" || page.Histories[0].Count != 2 {
		t.Errorf("List by metadata: %+v %v", page, err)
	}
	checkCosts(t, pool, schema, drv, chatstore.TokenizerApprox)
}

// TestFixtureFromVersion5 loads a schema of the release before costs
// (testdata/README.md): opening it measures every message, once, saying
// so in the log, so that each costs what the tokenizer measures and each
// history's sum is that of its messages; the operations that change
// messages keep the sums, and compaction records can be made.
func TestFixtureFromVersion5(t *testing.T) {
	pool := testPool(t)
	schema := loadFixture(t, pool, "v5")
	ctx := t.Context()
	var logged bytes.Buffer
	s := newStore(t, pool, schema, "", &logged)
	if n := checkCosts(t, pool, schema, s, chatstore.TokenizerApprox); n != 18 {
		t.Errorf("%d messages, want 18", n)
	}
	if !strings.Contains(logged.String(), "measured messages for token budgets") || !strings.Contains(logged.String(), "messages=18") {
		t.Errorf("the log says:\n%s", logged.String())
	}
	// The picture is charged for.
	if info, _, err := s.Info(ctx, "carol"); err != nil || info.Cost.Flat != tokens.DefaultTokensPerImage+tokens.DefaultTokensPerFile || info.Count != 3 {
		t.Errorf("carol: %+v %v", info, err)
	}
	st, err := chatstore.New(s, &chatstore.Options{KeepSystemMessages: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Write(ctx, "carol", []chat.Message{chat.Assistant("A PDF of one empty page.")}); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteMessage(ctx, "support/alice", "2"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Compact(ctx, "support/alice", "q-2", chat.User("The order shipped.")); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Fork(ctx, "support/alice", "alice-2", "5"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Truncate(ctx, "alice-fork", "3"); err != nil {
		t.Fatal(err)
	}
	if recs, err := s.Compactions(ctx, "alice-2"); err != nil || len(recs) != 1 || recs[0].Through != "q-2" || recs[0].ThroughPos != 5 {
		t.Errorf("the fork's compactions: %+v %v", recs, err)
	}
	checkCosts(t, pool, schema, s, chatstore.TokenizerApprox)
	// And with another tokenizer.
	checkCosts(t, pool, schema, newStore(t, pool, schema, chatstore.TokenizerO200k, nil), chatstore.TokenizerO200k)
}
