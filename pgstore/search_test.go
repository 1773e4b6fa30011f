package pgstore_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/driver"
	"github.com/chatstore/chatstore/pgstore"
	"github.com/chatstore/chatstore/search"
)

// What only PostgreSQL's search has: the URL's options, messages written
// without the index indexed when a store with search opens, the parser
// of the simple configuration agreeing with search.Tokens, texts beyond
// a tsvector's size, and the plans. The matching rule itself is the
// conformance suite's (storetest, TestConformance).

// hits returns a search's hits as "history/message", all pages read.
func hits(t *testing.T, st *chatstore.Store, o chatstore.SearchOptions) []string {
	t.Helper()
	var out []string
	for {
		page, err := st.Search(t.Context(), o)
		if err != nil {
			t.Fatalf("Search(%+v): %v", o, err)
		}
		for _, h := range page.Hits {
			out = append(out, h.HistoryID+"/"+h.MessageID)
		}
		if o.Cursor = page.NextCursor; o.Cursor == "" {
			slices.Sort(out)
			return out
		}
	}
}

// TestSearchOff: with search=false nothing is indexed and Search is not
// supported; a store that opens later with search indexes what was
// written, in batches, saying so in its log, and then finds it.
func TestSearchOff(t *testing.T) {
	pool := testPool(t)
	schema := freshSchema(t, pool)
	off, err := chatstore.Open(t.Context(), storeURL(t, schema)+"&search=false", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer off.Close()
	if sr := off.Driver().(driver.Searcher); sr.Indexing() {
		t.Error("search=false: Indexing() is true")
	}
	if _, err := off.Search(t.Context(), chatstore.SearchOptions{Query: "refund"}); !errors.Is(err, chatstore.ErrNotSupported) {
		t.Errorf("search=false: Search: %v, want ErrNotSupported", err)
	}
	if _, err := off.Driver().(driver.Searcher).Search(t.Context(), driver.SearchQuery{Limit: 1}); !errors.Is(err, chatstore.ErrNotSupported) {
		t.Errorf("search=false: the driver's Search: %v, want ErrNotSupported", err)
	}
	// Every path of a write: the first (locked), then the guarded one,
	// of one message and of several, keyed or not.
	write := func(id string, msgs ...chat.Message) {
		t.Helper()
		if _, err := off.Write(t.Context(), id, msgs); err != nil {
			t.Fatal(err)
		}
	}
	write("a", chat.User("my refund failed"), chat.Assistant("the refund is on its way"))
	write("a", chat.User("thanks for the refund"))
	write("a", chat.User("one more"), chat.Assistant("another refund"))
	if _, _, err := off.WriteIdempotent(t.Context(), "b", "k1", []chat.Message{chat.User("refund please")}); err != nil {
		t.Fatal(err)
	}
	// Enough for several batches of indexing.
	bulk := make([]chat.Message, pgstore.IndexBatch*2+7)
	for i := range bulk {
		bulk[i] = chat.User(fmt.Sprintf("bulk message %d", i))
	}
	write("c", bulk...)
	s := pgx.Identifier{schema}.Sanitize()
	if n := queryInt(t, pool, "SELECT count(*) FROM "+s+".messages WHERE role IS NOT NULL OR text_tsv IS NOT NULL OR reasoning_tsv IS NOT NULL"); n != 0 {
		t.Errorf("search=false indexed %d messages", n)
	}

	var logged bytes.Buffer
	on, err := pgstore.New(t.Context(), pool, &pgstore.Options{Schema: schema, Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if !on.Indexing() {
		t.Fatal("Indexing() is false by default")
	}
	if !strings.Contains(logged.String(), "indexed messages for search") || !strings.Contains(logged.String(), fmt.Sprintf("messages=%d", 6+len(bulk))) {
		t.Errorf("the log says:\n%s", logged.String())
	}
	if n := queryInt(t, pool, "SELECT count(*) FROM "+s+".messages WHERE role IS NULL"); n != 0 {
		t.Errorf("%d messages left unindexed", n)
	}
	st, err := chatstore.New(on, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := hits(t, st, chatstore.SearchOptions{Query: "refund"}), []string{"a/0", "a/1", "a/2", "a/4", "b/0"}; !slices.Equal(got, want) {
		t.Errorf("refund: %v, want %v", got, want)
	}
	if got := hits(t, st, chatstore.SearchOptions{Query: "refund", Roles: []chat.Role{chat.RoleAssistant}}); !slices.Equal(got, []string{"a/1", "a/4"}) {
		t.Errorf("refund by the assistant: %v", got)
	}
	if got := hits(t, st, chatstore.SearchOptions{Query: fmt.Sprint(len(bulk) - 1)}); !slices.Equal(got, []string{fmt.Sprint("c/", len(bulk)-1)}) {
		t.Errorf("the last of the bulk: %v", got)
	}
	// Opening again finds nothing to index, and says nothing.
	logged.Reset()
	if _, err := pgstore.New(t.Context(), pool, &pgstore.Options{Schema: schema, Logger: slog.New(slog.NewTextHandler(&logged, nil))}); err != nil || logged.Len() != 0 {
		t.Errorf("reopening: %v, log %q", err, logged.String())
	}
}

// TestSearchOptions: search and search_config are checked at open, and
// a configuration other than simple stems.
func TestSearchOptions(t *testing.T) {
	pool := testPool(t)
	schema := freshSchema(t, pool)
	for _, p := range []string{"search=maybe", "search_config=no_such_config", "search_config=a%3Bb", "search_config=pg_catalog.nope"} {
		if st, err := chatstore.Open(t.Context(), storeURL(t, schema)+"&"+p, nil); !errors.Is(err, chatstore.ErrInvalidOptions) {
			t.Errorf("%s: %v, want ErrInvalidOptions", p, err)
			if err == nil {
				st.Close()
			}
		}
	}
	if _, err := pgstore.New(t.Context(), pool, &pgstore.Options{Schema: schema, SearchConfig: "nope"}); !errors.Is(err, chatstore.ErrInvalidOptions) {
		t.Errorf("Options.SearchConfig nope: %v, want ErrInvalidOptions", err)
	}
	// Open reads them too, over Options, and keeps them from pgx, which
	// would send them to the server as settings.
	s, err := pgstore.Open(t.Context(), storeURL(t, schema)+"&search=false&search_config=english", &pgstore.Options{SearchConfig: "nope"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Indexing() {
		t.Error("Open with search=false: Indexing() is true")
	}
	for _, k := range []string{"search", "search_config"} {
		if v, ok := pgstore.RuntimeParams(s)[k]; ok {
			t.Errorf("%s=%q is sent to the server as a run-time setting", k, v)
		}
	}
	for _, c := range []struct {
		config          string
		want, stopWords []string
	}{
		{"simple", []string{"h/1"}, []string{"h/2"}},
		{"pg_catalog.simple", []string{"h/1"}, []string{"h/2"}},
		{"english", []string{"h/0", "h/1"}, nil},
	} {
		schema := freshSchema(t, pool)
		st, err := chatstore.Open(t.Context(), storeURL(t, schema)+"&search=true&search_config="+c.config, nil)
		if err != nil {
			t.Fatalf("%s: %v", c.config, err)
		}
		defer st.Close()
		if _, err := st.Write(t.Context(), "h", []chat.Message{chat.User("Both refunds were declined"), chat.Assistant("The refund is declined"), chat.User("the end")}); err != nil {
			t.Fatal(err)
		}
		if got := hits(t, st, chatstore.SearchOptions{Query: "refund"}); !slices.Equal(got, c.want) {
			t.Errorf("%s: refund finds %v, want %v", c.config, got, c.want)
		}
		// A stop word dropped leaves no word to find, not "anything
		// but declined".
		if got := hits(t, st, chatstore.SearchOptions{Query: "the -declined"}); !slices.Equal(got, c.stopWords) {
			t.Errorf("%s: the -declined finds %v, want %v", c.config, got, c.stopWords)
		}
	}
}

// TestSearchTokensAgree: the simple configuration's parser splits
// search.IndexText's output into search.Tokens' tokens, each at its own
// position, in the scripts people write (the query goes through the same
// parser, so a phrase is a phrase of the same tokens).
func TestSearchTokensAgree(t *testing.T) {
	pool := testPool(t)
	texts := []string{
		"My REFUND failed, and the card was declined!",
		"order A-4217: refund pending, café crème; Zürich naïve Ærø Øresund straße ﬁne Ｆｕｌｌ",
		`{"order":"A-4217","note":"Zürich"} lookup_order e-mail bob@example.com https://example.com/a/b?c=d /usr/local/bin v2.0.1 3.14 1e5 -12 +7 007 0x1F abc123def 123abc`,
		"Καλημέρα κόσμε, Ελλάδα. Привет, мир! Ёжик и ёлка. Բարեւ. გამარჯობა",
		"مرحبا بالعالم، كَتَبَ. שָׁלוֹם עולם. سلام دنیا",
		"नमस्ते दुनिया, हिंदी। வணக்கம் உலகம். ನಮಸ್ಕಾರ. ਸਤਿ ਸ੍ਰੀ ਅਕਾਲ. নমস্কার",
		"私は東京に住んでいます。中华人民共和国 한국어 안녕하세요 세계 สวัสดีชาวโลก ສະບາຍດີ ជំរាបសួរ မင်္ဂလာပါ",
		"Tiếng Việt có dấu: người, Đà Nẵng. Türkçe İstanbul ılık. Polski: źdźbło, łódź",
		"emoji 🎉 and symbols ™ © ½ ² mixed東京text 12東京34",
	}
	for _, text := range texts {
		toks := search.Tokens(nil, text)
		rows, err := pool.Query(t.Context(), "SELECT lexeme, positions FROM unnest(to_tsvector('simple', $1))", search.IndexText(text))
		if err != nil {
			t.Fatal(err)
		}
		got := make([]string, len(toks))
		for rows.Next() {
			var (
				lexeme string
				pos    []int16
			)
			if err := rows.Scan(&lexeme, &pos); err != nil {
				t.Fatal(err)
			}
			for _, p := range pos {
				if int(p) > len(got) {
					t.Errorf("%q: %q at position %d, after the last token", text, lexeme, p)
					continue
				}
				got[p-1] = lexeme
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, toks) {
			t.Errorf("%q:\n tsvector %q\n   tokens %q", text, got, toks)
		}
	}
}

// TestSearchQueryQuoting: whatever a token holds, the tsquery is its
// words, not operators, and a query of the language becomes the tsquery
// it says.
func TestSearchQueryQuoting(t *testing.T) {
	pool := testPool(t)
	q, err := search.Parse(`refund "card declined" -"not this" decl* -gone`)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		q    search.Query
		want string
	}{
		{q, `'refund' & 'card' <-> 'declined' & !( 'not' <-> 'this' ) & 'decl':* & !'gone'`},
		{search.Query{Terms: []search.Term{{Tokens: []string{`it's`, `a\b`, `x & !y | z:*`}}}}, `'it' <-> 's' <-> ( 'a' <-> 'b' ) <-> ( 'x' <-> 'y' <-> 'z' )`},
	} {
		var got string
		if err := pool.QueryRow(t.Context(), "SELECT to_tsquery('simple', $1)::text", pgstore.TSQuery(c.q)).Scan(&got); err != nil || got != c.want {
			t.Errorf("%q: %q %v, want %q", pgstore.TSQuery(c.q), got, err, c.want)
		}
	}
}

// TestSearchLargeText: a text whose tsvector would be over PostgreSQL's
// limit (1 MB of words and positions) is stored, and found by its first
// words; cutIndexText keeps to the limit.
func TestSearchLargeText(t *testing.T) {
	pool := testPool(t)
	schema := freshSchema(t, pool)
	st, err := chatstore.Open(t.Context(), storeURL(t, schema), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var b strings.Builder
	for i := 0; b.Len() < 3<<20; i++ {
		fmt.Fprintf(&b, "word%d ", i)
	}
	if _, err := st.Write(t.Context(), "big", []chat.Message{chat.Tool(b.String(), chat.ToolCall{ToolName: "dump"}, false)}); err != nil {
		t.Fatalf("writing a 3 MB text: %v", err)
	}
	if got := hits(t, st, chatstore.SearchOptions{Query: "word0 word1000"}); !slices.Equal(got, []string{"big/0"}) {
		t.Errorf("the first words: %v", got)
	}
	// Short words, all different, cost the most for their bytes: the
	// whole text is too much for a tsvector; cut, it fits.
	words := make([]string, 1<<18)
	for i := range words {
		words[i] = strconv.FormatInt(int64(i), 36)
	}
	text := strings.Join(words, " ")
	var pgErr *pgconn.PgError
	if _, err := pool.Exec(t.Context(), "SELECT to_tsvector('simple', $1)", text); !errors.As(err, &pgErr) || pgErr.Code != "54000" {
		t.Fatalf("a tsvector of %d bytes of words: %v, want program_limit_exceeded", len(text), err)
	}
	cut := pgstore.CutIndexText(text, 1<<20-1)
	if len(cut) < len(text)/3 || !strings.HasPrefix(text, cut+" ") {
		t.Fatalf("cut to %d bytes of %d", len(cut), len(text))
	}
	if _, err := pool.Exec(t.Context(), "SELECT to_tsvector('simple', $1)", cut); err != nil {
		t.Errorf("the cut text: %v", err)
	}
}

// TestSearchPlan: a selective query is an index scan of the GIN index of
// texts (and of reasonings, with them), not a scan of every message.
func TestSearchPlan(t *testing.T) {
	pool := testPool(t)
	schema := freshSchema(t, pool)
	s, err := pgstore.New(t.Context(), pool, &pgstore.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	st, err := chatstore.New(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	msgs := make([]chat.Message, 100)
	for h := range 100 {
		for i := range msgs {
			msgs[i] = chat.User(fmt.Sprintf("an ordinary message about shipping and orders, number %d", i))
		}
		if h == 3 {
			msgs[7] = chat.User("where is my platypus?")
		}
		if _, err := st.Write(t.Context(), fmt.Sprint("h", h), msgs); err != nil {
			t.Fatal(err)
		}
	}
	// As autovacuum would: statistics, and the GIN indexes' pending lists
	// (where fastupdate puts new entries) merged into their trees; until
	// then the planner counts on reading the pending list whole.
	for _, table := range []string{"messages", "histories"} {
		if _, err := pool.Exec(t.Context(), "VACUUM ANALYZE "+pgx.Identifier{schema, table}.Sanitize()); err != nil {
			t.Fatal(err)
		}
	}
	q, err := search.Parse("platypus")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		q    driver.SearchQuery
		want []string
	}{
		{driver.SearchQuery{Query: q, Limit: 21}, []string{"messages_text_search"}},
		{driver.SearchQuery{Query: q, Limit: 21, Reasoning: true}, []string{"messages_text_search", "messages_reasoning_search"}},
		{driver.SearchQuery{Query: q, Limit: 21, Prefix: "h3", Roles: []string{"user"}, After: &driver.Hit{HistoryID: "h3", Score: 0.1}}, []string{"messages_text_search"}},
	} {
		sql, args := pgstore.SearchSQL(s, c.q)
		rows, err := pool.Query(t.Context(), "EXPLAIN "+sql, args...)
		if err != nil {
			t.Fatal(err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		plan := strings.Join(lines, "\n")
		for _, index := range c.want {
			if !strings.Contains(plan, "Bitmap Index Scan on "+index) {
				t.Errorf("%+v: no scan of %s:\n%s", c.q, index, plan)
			}
		}
		if strings.Contains(plan, "Seq Scan on messages") {
			t.Errorf("%+v: reads every message:\n%s", c.q, plan)
		}
	}
	if got := hits(t, st, chatstore.SearchOptions{Query: "platypus"}); !slices.Equal(got, []string{"h3/7"}) {
		t.Errorf("platypus: %v", got)
	}
}
