package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/search"
)

// The conformance cases of driver.Searcher: the query language, what is
// searchable, the filters, paging, and an index that forgets every message
// that is removed, checked against search.MatchDoc. A driver without
// Searcher must answer Search with ErrNotSupported.

// searchStore returns a store over a fresh driver with a test clock, or
// reports false (having checked it refuses Search) when the driver does not
// search.
func (s suite) searchStore(t *testing.T, c *clock) (*chatstore.Store, bool) {
	t.Helper()
	st := s.store(t, &chatstore.Options{KeepSystemMessages: true, Clock: c})
	if _, err := st.Search(ctx(t), chatstore.SearchOptions{Query: "x"}); errors.Is(err, chatstore.ErrNotSupported) {
		return st, false
	} else if err != nil {
		t.Fatalf("Search: %v", err)
	}
	return st, true
}

// found runs a search and returns its hits as "history/message" ids, in
// the order found, reading every page.
func found(t *testing.T, st *chatstore.Store, o chatstore.SearchOptions) []string {
	t.Helper()
	var out []string
	for range 1000 {
		page, err := st.Search(ctx(t), o)
		if err != nil {
			t.Fatalf("Search(%+v): %v", o, err)
		}
		for _, h := range page.Hits {
			out = append(out, h.HistoryID+"/"+h.MessageID)
		}
		if page.NextCursor == "" {
			return out
		}
		o.Cursor = page.NextCursor
	}
	t.Fatal("Search pages without end")
	return nil
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func withID(m chat.Message, id string) chat.Message { return m.WithMeta(chatstore.MessageIDKey, id) }

func (s suite) testSearch(t *testing.T) {
	c := newClock()
	st, ok := s.searchStore(t, c)
	if !ok {
		return
	}
	call := chat.ToolCall{ToolName: "lookup_order", Arguments: map[string]any{"order": "A-4217", "note": "Zürich"}, ID: chat.Ptr("c1")}
	reasoned := chat.Assistant("Your refund is on its way.")
	reasoned.Content = append(reasoned.Content, chat.Reasoning{ReasoningText: "the customer was double charged"})
	img := chat.User("see the screenshot")
	img.Content = append(img.Content, chat.Image{Base64Image: "aGVsbG8gd29ybGQ=", MimeType: "image/png"})
	write(t, st, "support/alice",
		withID(chat.System("You are a helpful support agent."), "s"),
		withID(chat.User("My REFUND failed and the card was declined!"), "u1"),
		withID(chat.Assistant("", call), "a1"),
		withID(chat.Tool("order A-4217: refund pending, café crème", call, false), "t1"),
		withID(reasoned, "a2"),
		withID(img, "u2"),
	)
	c.tick()
	write(t, st, "support/bob",
		withID(chat.User("Where is my parcel? 私は東京に住んでいます。我的退款还没有到账。"), "u1"),
		withID(chat.Assistant("The refund failed once, then succeeded."), "a1"),
	)
	if _, err := st.SetMetadata(ctx(t), "support/bob", map[string]*string{"user_id": ptr("bob")}); err != nil && !errors.Is(err, chatstore.ErrNotSupported) {
		t.Fatal(err)
	}
	c.tick()
	write(t, st, "sales/carol", withID(chat.User("refund policy for the Zurich office?"), "u1"))

	for _, c := range []struct {
		q    string
		o    chatstore.SearchOptions
		want []string
	}{
		{q: "refund", want: []string{"sales/carol/u1", "support/alice/a2", "support/alice/t1", "support/alice/u1", "support/bob/a1"}},
		{q: "refund failed", want: []string{"support/alice/u1", "support/bob/a1"}},
		{q: `"refund failed"`, want: []string{"support/alice/u1", "support/bob/a1"}},
		{q: `"failed refund"`, want: nil},
		{q: "refund -declined", want: []string{"sales/carol/u1", "support/alice/a2", "support/alice/t1", "support/bob/a1"}},
		{q: `refund -"card was declined"`, want: []string{"sales/carol/u1", "support/alice/a2", "support/alice/t1", "support/bob/a1"}},
		{q: "decl*", want: []string{"support/alice/u1"}},
		{q: "REFUND DECLINED", want: []string{"support/alice/u1"}},
		{q: "creme cafe", want: []string{"support/alice/t1"}},
		{q: "Crème", want: []string{"support/alice/t1"}},
		{q: "zurich", want: []string{"sales/carol/u1", "support/alice/a1"}},
		{q: "lookup_order", want: []string{"support/alice/a1"}},
		{q: "a 4217", want: []string{"support/alice/a1", "support/alice/t1"}},
		{q: "東京", want: []string{"support/bob/u1"}},
		{q: "京東", want: nil},
		{q: "住んで", want: []string{"support/bob/u1"}},
		{q: "退款 到账", want: []string{"support/bob/u1"}},
		{q: "退到", want: nil},
		{q: "charged", want: nil},
		{q: "charged", o: chatstore.SearchOptions{Reasoning: true}, want: []string{"support/alice/a2"}},
		{q: "double refund", o: chatstore.SearchOptions{Reasoning: true}, want: nil}, // text and reasoning are matched apart
		{q: "screenshot", want: []string{"support/alice/u2"}},
		{q: "agvsbg8gd29ybgq", want: nil}, // image bytes are not text
		{q: "helpful agent", want: []string{"support/alice/s"}},
		{q: "refund", o: chatstore.SearchOptions{Prefix: "support/"}, want: []string{"support/alice/a2", "support/alice/t1", "support/alice/u1", "support/bob/a1"}},
		{q: "refund", o: chatstore.SearchOptions{Roles: []chat.Role{chat.RoleUser}}, want: []string{"sales/carol/u1", "support/alice/u1"}},
		{q: "refund", o: chatstore.SearchOptions{Roles: []chat.Role{chat.RoleTool, chat.RoleAssistant}}, want: []string{"support/alice/a2", "support/alice/t1", "support/bob/a1"}},
		{q: "refund", o: chatstore.SearchOptions{Since: c.Now().Add(-time.Second)}, want: []string{"sales/carol/u1", "support/bob/a1"}},
		{q: "refund", o: chatstore.SearchOptions{Until: c.Now()}, want: []string{"support/alice/a2", "support/alice/t1", "support/alice/u1", "support/bob/a1"}},
		{q: "refund", o: chatstore.SearchOptions{Since: c.Now().Add(-time.Second), Until: c.Now()}, want: []string{"support/bob/a1"}},
		{q: "refund", o: chatstore.SearchOptions{Limit: 1}, want: []string{"sales/carol/u1", "support/alice/a2", "support/alice/t1", "support/alice/u1", "support/bob/a1"}},
		{q: "refund", o: chatstore.SearchOptions{Limit: 2}, want: []string{"sales/carol/u1", "support/alice/a2", "support/alice/t1", "support/alice/u1", "support/bob/a1"}},
	} {
		o := c.o
		o.Query = c.q
		if got := found(t, st, o); !slices.Equal(sorted(got), c.want) {
			t.Errorf("%q %+v:\n got %v\nwant %v", c.q, c.o, sorted(got), c.want)
		}
	}
	if got := found(t, st, chatstore.SearchOptions{Query: "refund", Metadata: map[string]string{"user_id": "bob"}}); !slices.Equal(got, []string{"support/bob/a1"}) {
		if _, _, err := st.Info(ctx(t), "support/bob"); !errors.Is(err, chatstore.ErrNotSupported) {
			t.Errorf("by metadata: %v", got)
		}
	}

	// A hit's fields, its snippet marked, as HTML.
	page, err := st.Search(ctx(t), chatstore.SearchOptions{Query: "declined card", Limit: 5})
	if err != nil || len(page.Hits) != 1 || page.NextCursor != "" {
		t.Fatalf("one hit: %+v %v", page, err)
	}
	h := page.Hits[0]
	if h.HistoryID != "support/alice" || h.MessageID != "u1" || h.Role != chat.RoleUser || h.CreatedAt.IsZero() ||
		h.Snippet != "My REFUND failed and the <mark>card</mark> was <mark>declined</mark>!" {
		t.Errorf("hit %+v", h)
	}
	// Ranked: score never rises down the pages; every page is ordered.
	var scores []float64
	o := chatstore.SearchOptions{Query: "refund", Limit: 2}
	for {
		page, err := st.Search(ctx(t), o)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range page.Hits {
			scores = append(scores, h.Score)
		}
		if o.Cursor = page.NextCursor; o.Cursor == "" {
			break
		}
	}
	if len(scores) != 5 || !slices.IsSortedFunc(scores, func(a, b float64) int { return -cmpFloat(a, b) }) {
		t.Errorf("scores down the pages: %v", scores)
	}

	// What is refused.
	for _, o := range []chatstore.SearchOptions{
		{Query: ""}, {Query: "-refund"}, {Query: "r*"}, {Query: "..."}, {Query: strings.Repeat("w ", 40)},
		{Query: "refund", Limit: -1}, {Query: "refund", Limit: chatstore.MaxSearchLimit + 1},
		{Query: "refund", Roles: []chat.Role{"robot"}},
		{Query: "refund", Since: c.Now(), Until: c.Now()},
		{Query: "refund", Metadata: map[string]string{"": "x"}},
	} {
		if _, err := st.Search(ctx(t), o); !errors.Is(err, chatstore.ErrInvalidQuery) && !errors.Is(err, chatstore.ErrInvalidMetadata) {
			t.Errorf("Search(%+v): %v, want ErrInvalidQuery", o, err)
		}
	}
	for _, cur := range []string{"x", "s1.", "s1.!!", "h1.YWJj"} {
		if _, err := st.Search(ctx(t), chatstore.SearchOptions{Query: "refund", Cursor: cur}); !errors.Is(err, chatstore.ErrInvalidCursor) {
			t.Errorf("cursor %q: %v, want ErrInvalidCursor", cur, err)
		}
	}
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// testSearchLongWords: a word of search.MaxTokenBytes or more (a run of
// one letter, a blob in a tool call's arguments) is not indexed, on every
// backend, as PostgreSQL's to_tsvector drops it: the words around it are
// neighbours, and the message is found by its other words.
func (s suite) testSearchLongWords(t *testing.T) {
	st, ok := s.searchStore(t, newClock())
	if !ok {
		return
	}
	long := strings.Repeat("q", search.MaxTokenBytes+953)
	wide := strings.Repeat("ж", search.MaxTokenBytes/2+1) // 2 bytes a letter
	call := chat.ToolCall{ToolName: "upload_file", Arguments: map[string]any{"blob": strings.Repeat("QUJD", 1000)}, ID: chat.Ptr("c1")}
	write(t, st, "long/a",
		withID(chat.User("alpha "+long+" omega"), "u1"),
		withID(chat.User("alpha beta omega"), "u2"),
		withID(chat.Assistant("gamma "+wide+" delta", call), "a1"),
		withID(chat.Tool("uploaded", call, false), "t1"),
	)
	for q, want := range map[string][]string{
		`"alpha omega"`:                   {"long/a/u1"},
		"alpha":                           {"long/a/u1", "long/a/u2"},
		`"gamma delta"`:                   {"long/a/a1"},
		"upload_file":                     {"long/a/a1"},
		"uploaded":                        {"long/a/t1"},
		long[:1000] + "*":                 nil, // the dropped word would have it as a prefix
		strings.Repeat("qujd", 200) + "*": nil, // the blob in the tool call's arguments
		wide[:1000] + "*":                 nil,
	} {
		if got := found(t, st, chatstore.SearchOptions{Query: q}); !slices.Equal(sorted(got), want) {
			t.Errorf("%.30q: got %v, want %v", q, sorted(got), want)
		}
	}
}

// testSearchTenants: a view (a tenant) finds only its own histories, with
// the same words in another, and cannot page with another's cursor.
func (s suite) testSearchTenants(t *testing.T) {
	st, ok := s.searchStore(t, newClock())
	if !ok {
		return
	}
	a, b := chatstore.Prefixed(st, "tenant-a\x1f"), chatstore.Prefixed(st, "tenant-b\x1f")
	for i := range 3 {
		write(t, a, fmt.Sprint("h", i), chat.User("the secret password is swordfish"))
		write(t, b, fmt.Sprint("h", i), chat.User("the secret password is swordfish"))
	}
	write(t, b, "only-b", chat.User("swordfish again"))
	if got := found(t, a, chatstore.SearchOptions{Query: "swordfish", Limit: 1}); !slices.Equal(sorted(got), []string{"h0/0", "h1/0", "h2/0"}) {
		t.Errorf("tenant a finds %v", got)
	}
	if got := found(t, b, chatstore.SearchOptions{Query: "swordfish"}); len(got) != 4 {
		t.Errorf("tenant b finds %v", got)
	}
	if got := found(t, a, chatstore.SearchOptions{Query: "swordfish", Prefix: "only"}); len(got) != 0 {
		t.Errorf("tenant a, prefix only: %v", got)
	}
	pb, err := b.Search(ctx(t), chatstore.SearchOptions{Query: "swordfish", Limit: 1})
	if err != nil || pb.NextCursor == "" {
		t.Fatalf("%+v %v", pb, err)
	}
	if _, err := a.Search(ctx(t), chatstore.SearchOptions{Query: "swordfish", Cursor: pb.NextCursor}); !errors.Is(err, chatstore.ErrInvalidCursor) {
		t.Errorf("tenant b's cursor in tenant a: %v", err)
	}
	if got := found(t, st, chatstore.SearchOptions{Query: "swordfish"}); len(got) != 7 {
		t.Errorf("the whole store finds %d", len(got))
	}
}

// searchWords is the vocabulary of the random conversations: few words, so
// that queries match often, with accents and case to fold.
var searchWords = []string{"refund", "Refund", "card", "declined", "déclined", "order", "parcel", "late", "café", "CAFE", "東京", "都", "ship", "shipped", "shipping", "zürich"}

func randomText(r *rand.Rand) string {
	n := 1 + r.IntN(8)
	w := make([]string, n)
	for i := range w {
		w[i] = searchWords[r.IntN(len(searchWords))]
	}
	return strings.Join(w, " ")
}

func randomQuery(r *rand.Rand) string {
	var terms []string
	for range 1 + r.IntN(3) {
		w := searchWords[r.IntN(len(searchWords))]
		switch r.IntN(6) {
		case 0:
			w = `"` + w + " " + searchWords[r.IntN(len(searchWords))] + `"`
		case 1:
			if len([]rune(w)) > 3 {
				w = string([]rune(w)[:3]) + "*"
			}
		}
		terms = append(terms, w)
	}
	if r.IntN(3) == 0 {
		terms = append(terms, "-"+searchWords[r.IntN(len(searchWords))])
	}
	return strings.Join(terms, " ")
}

// testSearchModel writes random conversations, removes messages in every
// way a store can, and checks random queries against search.MatchDoc over
// what the histories hold: a removed message is never found again, and
// every one that matches is.
func (s suite) testSearchModel(t *testing.T) {
	st, ok := s.searchStore(t, newClock())
	if !ok {
		return
	}
	seed := uint64(time.Now().UnixNano())
	r := rand.New(rand.NewPCG(seed, 7))
	t.Logf("seed %d", seed)
	ids := []string{"m/a", "m/b", "m/c", "n/d", "n/e", "o"}
	message := func() chat.Message {
		switch r.IntN(4) {
		case 0:
			return chat.User(randomText(r))
		case 1:
			m := chat.Assistant(randomText(r))
			m.Content = append(m.Content, chat.Reasoning{ReasoningText: randomText(r)})
			return m
		case 2:
			return chat.Assistant("", chat.ToolCall{ToolName: "lookup", Arguments: map[string]any{"q": randomText(r)}, ID: chat.Ptr("c")})
		}
		return chat.Tool(randomText(r), chat.ToolCall{ToolName: "lookup"}, false)
	}
	check := func(step string) {
		t.Helper()
		for range 8 {
			qs := randomQuery(r)
			q, err := search.Parse(qs)
			if err != nil {
				continue
			}
			reasoning := r.IntN(2) == 0
			var want []string
			for _, id := range ids {
				for _, m := range retrieve(t, st, id, chatstore.All) {
					if search.MatchDoc(search.Document(m), q, reasoning) {
						want = append(want, id+"/"+m.Meta[chatstore.MessageIDKey].(string))
					}
				}
			}
			got := found(t, st, chatstore.SearchOptions{Query: qs, Reasoning: reasoning, Limit: 1 + r.IntN(7)})
			if !slices.Equal(sorted(got), sorted(want)) {
				t.Fatalf("after %s, %q (reasoning %v):\n got %v\nwant %v", step, qs, reasoning, sorted(got), sorted(want))
			}
		}
	}
	for round := range 6 {
		for _, id := range ids {
			msgs := make([]chat.Message, 1+r.IntN(4))
			for i := range msgs {
				msgs[i] = message()
			}
			write(t, st, id, msgs...)
		}
		check(fmt.Sprint("writes of round ", round))
		victim := ids[r.IntN(len(ids))]
		held := retrieve(t, st, victim, chatstore.All)
		if len(held) == 0 {
			continue
		}
		mid := held[r.IntN(len(held))].Meta[chatstore.MessageIDKey].(string)
		var step string
		switch round % 6 {
		case 0:
			step = "DeleteMessage"
			if err := st.DeleteMessage(ctx(t), victim, mid); err != nil {
				t.Fatal(err)
			}
		case 1:
			step = "Truncate"
			if _, err := st.Truncate(ctx(t), victim, mid); err != nil {
				t.Fatal(err)
			}
		case 2:
			step = "Delete"
			if err := st.Delete(ctx(t), victim); err != nil {
				t.Fatal(err)
			}
		case 3:
			step = "Fork, then DeleteMessage in the original"
			if _, err := st.Fork(ctx(t), victim, "fork", mid); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, "fork")
			if err := st.DeleteMessage(ctx(t), victim, mid); err != nil {
				t.Fatal(err)
			}
		case 4:
			step = "DeletePrefix"
			if err := chatstore.Prefixed(st, "m/").DeleteAll(ctx(t)); err != nil {
				t.Fatal(err)
			}
		case 5:
			step = "a deleted id written again"
			if err := st.DeleteMessage(ctx(t), victim, mid); err != nil {
				t.Fatal(err)
			}
			write(t, st, victim, withID(chat.User(randomText(r)), mid))
		}
		check(step)
	}
	if err := st.DeleteAll(ctx(t)); err != nil {
		t.Fatal(err)
	}
	for _, w := range searchWords {
		if got := found(t, st, chatstore.SearchOptions{Query: w, Reasoning: true}); len(got) != 0 {
			t.Fatalf("after DeleteAll, %q finds %v", w, got)
		}
	}
}
