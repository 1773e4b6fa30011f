package sqlitestore_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/driver"
	"github.com/chatstore/chatstore/search"
	"github.com/chatstore/chatstore/sqlitestore"
)

// Tests of the costs of messages (driver.Coster) beyond the suite's: files
// written before costs were kept, and files opened with another tokenizer.

func meterOf(t testing.TB, name string) *chatstore.Meter {
	t.Helper()
	m, err := chatstore.NewMeter(name)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// measure is what a message stored as js should cost by m: nothing when it
// does not decode.
func measure(m *chatstore.Meter, js []byte) driver.Cost {
	c, err := m.Measure(js)
	if err != nil {
		return driver.Cost{}
	}
	return c
}

// checkCosts checks every message and compaction record of the file against
// m (what measure gives), and each history's Info.Cost against the sum of
// its messages'; it returns the number of messages.
func checkCosts(t testing.TB, s *sqlitestore.Store, m *chatstore.Meter) int {
	t.Helper()
	ctx := context.Background()
	if s.Counter() != m.Name() {
		t.Errorf("Counter() = %s, want %s", s.Counter(), m.Name())
	}
	n := 0
	q := driver.Query{Limit: 100}
	for {
		infos, err := s.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, info := range infos {
			msgs, err := s.Range(ctx, info.ID, 0, 1<<30)
			if err != nil {
				t.Fatal(err)
			}
			var sum driver.Cost
			for _, msg := range msgs {
				if want := measure(m, msg.JSON); msg.Cost != want {
					t.Fatalf("%s/%s costs %+v, want %+v by %s", info.ID, msg.ID, msg.Cost, want, m.Name())
				}
				sum = sum.Add(msg.Cost)
			}
			if info.Cost != sum || info.Count != int64(len(msgs)) {
				t.Fatalf("%s: %d messages costing %+v listed as %d costing %+v", info.ID, len(msgs), sum, info.Count, info.Cost)
			}
			if one, ok, err := s.Info(ctx, info.ID); err != nil || !ok || one.Cost != sum {
				t.Fatalf("Info(%s).Cost = %+v (%v %v), want %+v", info.ID, one.Cost, ok, err, sum)
			}
			cs, err := s.Compactions(ctx, info.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range cs {
				if want := measure(m, c.JSON); c.Cost != want {
					t.Fatalf("%s: compaction through %s costs %+v, want %+v", info.ID, c.Through, c.Cost, want)
				}
			}
			n += len(msgs)
		}
		if len(infos) < q.Limit {
			return n
		}
		q.AfterID = infos[len(infos)-1].ID
	}
}

var lookup = chat.ToolCall{ToolName: "lookup", Arguments: map[string]any{"river": "Danube"}, ID: chat.Ptr("c1")}

// oldMessage is message i of writeOldFile's histories: text in several
// scripts, tool calls and results, images and files (flat charges),
// reasoning.
func oldMessage(i int) chat.Message {
	switch i % 6 {
	case 0:
		return chat.User(fmt.Sprintf("question %d: how long is the Danube? ¿Y el Ebro? 東京の川", i))
	case 1:
		return chat.Assistant("", lookup)
	case 2:
		return chat.Tool(fmt.Sprintf("%d km", 2850+i), lookup, false)
	case 3:
		m, _ := chat.UserParts(chat.Text{Text: "what is this?"}, chat.Image{Base64Image: "aGVsbG8=", MimeType: "image/png"})
		return m
	case 4:
		m, _ := chat.UserParts(chat.Text{Text: "read this"}, chat.File{Base64Data: "aGVsbG8=", MimeType: "application/pdf", Filename: "a.pdf"})
		return m
	default:
		return chat.Assistant(strings.Repeat("The Danube is long. ", i%20+1)).WithReasoning("thinking about rivers")
	}
}

// badBody is a stored body that does not decode.
const badBody = `{"role": "user", "content": 42}`

// writeOldFile creates a file at schema version 6, the last without costs,
// holding histories h1 … hN of perHistory messages each, as version 6 wrote
// them; message 6 of h2 is badBody.
func writeOldFile(t testing.TB, path string, histories, perHistory int) {
	t.Helper()
	ctx := context.Background()
	if err := sqlitestore.MigrateTo(ctx, path, 6); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	for h := 1; h <= histories; h++ {
		if _, err := tx.Exec(`INSERT INTO histories (hid, name, count, next_seq, created_at, updated_at) VALUES (?, ?, ?, ?, 1, 1)`,
			h, fmt.Sprint("h", h), perHistory, perHistory); err != nil {
			t.Fatal(err)
		}
		for i := range perHistory {
			b, err := oldMessage(i).MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			if h == 2 && i == 6 {
				b = []byte(badBody)
			}
			if _, err := tx.Exec(`INSERT INTO messages (hid, seq, kind, body, created_at) VALUES (?, ?, 0, ?, 1)`, h, i, string(b)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func openDriver(t testing.TB, path string, o *sqlitestore.Options) *sqlitestore.Store {
	t.Helper()
	s, err := sqlitestore.Open(context.Background(), path, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func fileInt(t testing.TB, path, query string) int64 {
	t.Helper()
	var v int64
	if err := sqlitestore.RawDB(t, path).QueryRow(query).Scan(&v); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return v
}

// fileCounter is the tokenizer the file records; "" for none.
func fileCounter(t testing.TB, path string) string {
	t.Helper()
	var v string
	if err := sqlitestore.RawDB(t, path).QueryRow(`SELECT value FROM settings WHERE key = 'counter'`).Scan(&v); err != nil {
		return "" // none, or no such table
	}
	return v
}

// TestMigrateToVersion7 opens a version 6 file of more messages than one
// batch, across histories: every message gets what the counter measures,
// every history the sum, with progress in the log; then the file is opened
// with other tokenizers, which measure everything again (compaction records
// too), and with the same one again, which measures nothing.
func TestMigrateToVersion7(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v6.db")
	const histories, perHistory = 3, 1200 // batches end inside histories
	writeOldFile(t, path, histories, perHistory)
	defer sqlitestore.SetProgressEvery(sqlitestore.SetProgressEvery(1000))
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))

	s := openDriver(t, path, &sqlitestore.Options{Logger: logger})
	approx := meterOf(t, chatstore.TokenizerApprox)
	if n := checkCosts(t, s, approx); n != histories*perHistory {
		t.Fatalf("%d messages", n)
	}
	if info, _, _ := s.Info(t.Context(), "h1"); info.Cost.Flat == 0 || info.Cost.Text == 0 {
		t.Errorf("h1 costs %+v: its images and files charge nothing?", info.Cost)
	}
	for _, want := range []string{"measuring messages for token budgets", "tokenizer=approx before=none messages=3600",
		"done=1000 of=3600", "done=3000 of=3600", "measured messages for token budgets", "do not decode cost nothing"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log does not say %q:\n%s", want, logs.String())
		}
	}
	if v := fileInt(t, path, "PRAGMA user_version"); v != int64(sqlitestore.SchemaVersion) {
		t.Errorf("user_version %d", v)
	}
	if c := fileCounter(t, path); c != "approx" {
		t.Errorf("recorded counter %q", c)
	}
	// Writes, removals, forks and compactions on the old histories keep
	// the sums.
	st, err := chatstore.New(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := st.Write(ctx, "h1", []chat.Message{chat.User("a new question"), chat.Assistant("a new answer")}); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteMessage(ctx, "h2", "3"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Truncate(ctx, "h3", "1000"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Fork(ctx, "h2", "h2-fork", "100"); err != nil {
		t.Fatal(err)
	}
	summary, _ := chat.Assistant("A summary of the first ten messages: rivers.").MarshalJSON()
	if err := s.Compact(ctx, "h1", driver.Compaction{Through: "9", ThroughPos: 9, JSON: summary, Cost: measure(approx, summary), CreatedAt: 5}, 3); err != nil {
		t.Fatal(err)
	}
	checkCosts(t, s, approx)
	s.Close()

	// Another tokenizer: everything measured again.
	logs.Reset()
	o200k := meterOf(t, chatstore.TokenizerO200k)
	s = openDriver(t, path, &sqlitestore.Options{Logger: logger, Tokenizer: chatstore.TokenizerO200k})
	checkCosts(t, s, o200k)
	if !strings.Contains(logs.String(), "tokenizer=o200k_base before=approx messages=3501") {
		t.Errorf("the log:\n%s", logs.String())
	}
	if c := fileCounter(t, path); c != chatstore.TokenizerO200k {
		t.Errorf("recorded counter %q", c)
	}
	if info, _, _ := s.Info(ctx, "h1"); info.Cost == (driver.Cost{}) || info.Cost == measureAll(t, s, "h1", approx) {
		t.Errorf("h1 costs %+v by o200k_base, as by approx", info.Cost)
	}
	s.Close()

	// The same again: nothing to do.
	logs.Reset()
	s = openDriver(t, path, &sqlitestore.Options{Logger: logger, Tokenizer: chatstore.TokenizerO200k})
	if strings.Contains(logs.String(), "measuring") {
		t.Errorf("reopening with the same tokenizer measured again:\n%s", logs.String())
	}
	s.Close()

	// Through a URL, as chatstore.Open passes tokenizer= to the driver.
	cl, err := chatstore.Open(ctx, "sqlite://"+filepath.ToSlash(path)+"?tokenizer=cl100k_base", nil)
	if err != nil {
		t.Fatal(err)
	}
	cl.Close()
	checkCosts(t, openDriver(t, path, &sqlitestore.Options{Tokenizer: chatstore.TokenizerCl100k}), meterOf(t, chatstore.TokenizerCl100k))
	// chatstore.New refuses a driver of another counter than its own.
	if _, err := chatstore.New(openDriver(t, path, nil), &chatstore.Options{Tokenizer: chatstore.TokenizerO200k}); !errors.Is(err, chatstore.ErrInvalidOptions) {
		t.Errorf("a store of o200k_base over a driver of approx: %v", err)
	}
	if _, err := sqlitestore.Open(ctx, path, &sqlitestore.Options{Tokenizer: "gpt2"}); !errors.Is(err, chatstore.ErrInvalidOptions) {
		t.Errorf("tokenizer gpt2: %v", err)
	}
}

// measureAll is what h's messages cost by m.
func measureAll(t testing.TB, s *sqlitestore.Store, h string, m *chatstore.Meter) driver.Cost {
	t.Helper()
	msgs, err := s.Range(context.Background(), h, 0, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	var sum driver.Cost
	for _, msg := range msgs {
		sum = sum.Add(measure(m, msg.JSON))
	}
	return sum
}

// cancelOn is a log destination that cancels when a line says word.
type cancelOn struct {
	word   string
	cancel context.CancelFunc
}

func (c cancelOn) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(c.word)) {
		c.cancel()
	}
	return len(p), nil
}

// TestMeasureInterrupted: an Open that stops part way through measuring
// leaves the file as it was (the counter, the costs, the schema version),
// and the next Open measures it all.
func TestMeasureInterrupted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v6.db")
	writeOldFile(t, path, 2, 1500)
	defer sqlitestore.SetProgressEvery(sqlitestore.SetProgressEvery(1000))
	interrupted := func(tokenizer string) {
		t.Helper()
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		log := slog.New(slog.NewTextHandler(cancelOn{"done=", cancel}, nil))
		if s, err := sqlitestore.Open(ctx, path, &sqlitestore.Options{Logger: log, Tokenizer: tokenizer}); !errors.Is(err, context.Canceled) {
			if err == nil {
				s.Close()
			}
			t.Fatalf("an Open canceled while measuring: %v", err)
		}
	}
	interrupted(chatstore.TokenizerApprox)
	if v := fileInt(t, path, "PRAGMA user_version"); v != 6 {
		t.Errorf("user_version %d after an interrupted migration", v)
	}
	s := openDriver(t, path, nil)
	checkCosts(t, s, meterOf(t, chatstore.TokenizerApprox))
	s.Close()

	interrupted(chatstore.TokenizerO200k)
	if c := fileCounter(t, path); c != chatstore.TokenizerApprox {
		t.Errorf("counter %q after an interrupted change", c)
	}
	s = openDriver(t, path, nil)
	checkCosts(t, s, meterOf(t, chatstore.TokenizerApprox))
	s.Close()
	checkCosts(t, openDriver(t, path, &sqlitestore.Options{Tokenizer: chatstore.TokenizerO200k}), meterOf(t, chatstore.TokenizerO200k))
}

// TestTokenizerChangedByAnotherStore: a store whose file another opened
// with another tokenizer since refuses to write (its costs would be of the
// wrong counter) until it is reopened, as with the search setting.
func TestTokenizerChangedByAnotherStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chat.db")
	ctx := t.Context()
	write := func(s *sqlitestore.Store, tokenizer string) error {
		st, err := chatstore.New(s, &chatstore.Options{Tokenizer: tokenizer})
		if err != nil {
			t.Fatal(err)
		}
		_, err = st.Write(ctx, "h", []chat.Message{chat.User("hello, Danube")})
		return err
	}
	a := openDriver(t, path, nil)
	if err := write(a, ""); err != nil {
		t.Fatal(err)
	}
	b := openDriver(t, path, &sqlitestore.Options{Tokenizer: chatstore.TokenizerO200k})
	if err := write(a, ""); !errors.Is(err, chatstore.ErrIncompatibleSchema) || !strings.Contains(err.Error(), "tokenizer o200k_base") {
		t.Errorf("a write counted by approx after another opened the file with o200k_base: %v", err)
	}
	if err := write(b, chatstore.TokenizerO200k); err != nil {
		t.Fatal(err)
	}
	if n := checkCosts(t, b, meterOf(t, chatstore.TokenizerO200k)); n != 2 {
		t.Errorf("%d messages", n)
	}
}

// checkSums is checkCosts for a history that the test changes through the
// driver: its messages cost what they were given (costOf), its Info the sum.
func checkSums(t *testing.T, s *sqlitestore.Store, h string, costOf func(id string) driver.Cost) {
	t.Helper()
	ctx := t.Context()
	msgs, err := s.Range(ctx, h, 0, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	var sum driver.Cost
	for _, m := range msgs {
		if m.Cost != costOf(m.ID) {
			t.Errorf("%s/%s costs %+v, want %+v", h, m.ID, m.Cost, costOf(m.ID))
		}
		sum = sum.Add(m.Cost)
	}
	info, ok, err := s.Info(ctx, h)
	if err != nil || !ok || info.Cost != sum {
		t.Errorf("%s: Info.Cost %+v (%v %v), the messages cost %+v", h, info.Cost, ok, err, sum)
	}
}

// TestCostsEveryPath: the costs of every read, and the sums through every
// change, through the commit loop's cache and from the file (reopened), and
// with writes grouped in one transaction.
func TestCostsEveryPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chat.db")
	ctx := t.Context()
	s := openDriver(t, path, nil)
	costOf := func(id string) driver.Cost {
		var n int64
		fmt.Sscan(strings.TrimPrefix(id, "k"), &n)
		return driver.Cost{Text: 10 + n, Flat: n % 3}
	}
	recs := func(ids ...string) []driver.Record {
		var out []driver.Record
		for _, id := range ids {
			m := chat.User("message " + id)
			js, _ := m.MarshalJSON()
			out = append(out, driver.Record{ID: id, HasID: true, Kind: driver.Closes, JSON: js, CreatedAt: 100, Cost: costOf(id),
				Role: "user", Doc: search.Document(m)})
		}
		return out
	}
	if _, err := s.Write(ctx, "h", recs("k0", "k1", "k2", "k3", "k4", "k5")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteKeyed(ctx, "h", driver.Key{Key: "key", Fingerprint: "f", TTL: 1e12}, recs("k6", "k7")); err != nil {
		t.Fatal(err)
	}
	checkSums(t, s, "h", costOf)
	want := costOf("k7").Add(costOf("k6"))
	for name, read := range map[string]func() ([]driver.Message, error){
		"Tail": func() ([]driver.Message, error) { return s.Tail(ctx, "h", 2) },
		"Page": func() ([]driver.Message, error) { return s.Page(ctx, "h", driver.Span{Before: 8, Limit: 2}) },
		"ReadBounded": func() ([]driver.Message, error) {
			return s.ReadBounded(ctx, "h", driver.Span{From: 6, Limit: 5}, 1<<20)
		},
	} {
		msgs, err := read()
		if err != nil || len(msgs) != 2 || msgs[0].Cost.Add(msgs[1].Cost) != want {
			t.Errorf("%s: %+v %v", name, msgs, err)
		}
	}
	if m, err := s.Message(ctx, "h", "k5"); err != nil || m.Cost != costOf("k5") {
		t.Errorf("Message: %+v %v", m, err)
	}
	q, err := search.Parse("k4")
	if err != nil {
		t.Fatal(err)
	}
	hits, err := s.Search(ctx, driver.SearchQuery{Query: q, Limit: 10})
	if err != nil || len(hits) != 1 || hits[0].Message.Cost != costOf("k4") {
		t.Errorf("Search: %+v %v", hits, err)
	}
	v := "x"
	info, err := s.SetMetadata(ctx, "h", map[string]*string{"k": &v}, 16, 200)
	if err != nil || info.Cost == (driver.Cost{}) {
		t.Errorf("SetMetadata: %+v %v", info, err)
	}
	if list, err := s.Query(ctx, driver.Query{Limit: 10, Order: driver.ByUpdated, Metadata: map[string]string{"k": "x"}}); err != nil || len(list) != 1 || list[0].Cost != info.Cost {
		t.Errorf("Query: %+v %v, Info %+v", list, err, info)
	}
	if err := s.DeleteMessage(ctx, "h", "k2", 300); err != nil {
		t.Fatal(err)
	}
	checkSums(t, s, "h", costOf)
	if n, err := s.Truncate(ctx, "h", "k6", 300); err != nil || n != 2 {
		t.Fatalf("Truncate: %d %v", n, err)
	}
	checkSums(t, s, "h", costOf)
	through := "k3"
	f, err := s.Fork(ctx, "h", "f", &through, 400)
	if err != nil || f.Cost != costOf("k0").Add(costOf("k1")).Add(costOf("k3")) {
		t.Errorf("Fork: %+v %v", f, err)
	}
	checkSums(t, s, "f", costOf)
	if f, err := s.Fork(ctx, "h", "g", nil, 400); err != nil || f.Count != 5 {
		t.Errorf("Fork: %+v %v", f, err)
	}
	checkSums(t, s, "g", costOf)
	// Grouped writes, each history's sum kept once per transaction.
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				if _, err := s.Write(ctx, fmt.Sprint("p", g%3), recs(fmt.Sprintf("k%d", 100*g+i+10))); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	for h := range 3 {
		checkSums(t, s, fmt.Sprint("p", h), costOf)
	}
	s.Close()
	// From the file, not the cache.
	s = openDriver(t, path, nil)
	for _, h := range []string{"h", "f", "g", "p0", "p1", "p2"} {
		checkSums(t, s, h, costOf)
	}
}

// TestCompactions: what driver.Compactor asks, on SQLite's tables.
func TestCompactions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chat.db")
	ctx := t.Context()
	s := openDriver(t, path, nil)
	st, err := chatstore.New(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"h", "t/1", "t/2"} {
		if _, err := st.Write(ctx, h, []chat.Message{oldMessage(0), oldMessage(1), oldMessage(2), oldMessage(3), oldMessage(4)}); err != nil {
			t.Fatal(err)
		}
	}
	summary := func(n int) driver.Compaction {
		js, _ := chat.Assistant(fmt.Sprint("summary ", n)).MarshalJSON()
		return driver.Compaction{Through: fmt.Sprint(n), ThroughPos: int64(n), JSON: js, Cost: driver.Cost{Text: int64(n), Flat: 1}, CreatedAt: int64(1e13 + n)}
	}
	for _, c := range []struct {
		h    string
		c    driver.Compaction
		want error
	}{
		{"h", driver.Compaction{Through: "2", ThroughPos: 3}, driver.ErrNotFound},
		{"h", driver.Compaction{Through: "9", ThroughPos: 9}, driver.ErrNotFound},
		{"nobody", summary(1), driver.ErrNotFound},
		{"h", summary(1), nil},
		{"h", summary(3), nil},
		{"h", summary(2), nil}, // newest by when it was recorded, not by position
		{"h", summary(4), nil},
	} {
		if err := s.Compact(ctx, c.h, c.c, 3); !errors.Is(err, c.want) {
			t.Errorf("Compact(%s, %+v) = %v, want %v", c.h, c.c, err, c.want)
		}
	}
	through := func(h string) string {
		t.Helper()
		cs, err := s.Compactions(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, c := range cs {
			if want := summary(int(c.ThroughPos)); c.Through != want.Through || string(c.JSON) != string(want.JSON) || c.Cost != want.Cost || c.CreatedAt != want.CreatedAt {
				t.Errorf("%s: %+v, want %+v", h, c, want)
			}
			out = append(out, c.Through)
		}
		return strings.Join(out, ",")
	}
	if got := through("h"); got != "4,2,3" {
		t.Errorf("records %s, want the newest three, newest first: 4,2,3", got)
	}
	// A tail read in one statement with the check for records.
	if msgs, compacted, err := s.TailUncompacted(ctx, "h", driver.Span{Rounds: 1}, 0); err != nil || !compacted || msgs != nil {
		t.Errorf("TailUncompacted of a history with records: %v %v %v", msgs, compacted, err)
	}
	for _, h := range []string{"t/1", "nobody"} {
		want, err := s.Tail(ctx, h, 2)
		if err != nil {
			t.Fatal(err)
		}
		msgs, compacted, err := s.TailUncompacted(ctx, h, driver.Span{Rounds: 2}, 1<<20)
		if err != nil || compacted || len(msgs) != len(want) || len(msgs) > 0 && (msgs[0].ID != want[0].ID || msgs[0].Cost != want[0].Cost) {
			t.Errorf("TailUncompacted(%s): %+v %v %v, want %+v", h, msgs, compacted, err, want)
		}
	}
	if _, _, err := s.TailUncompacted(ctx, "t/1", driver.Span{Rounds: 2}, 10); !errors.Is(err, driver.ErrTooLarge) {
		t.Errorf("TailUncompacted over its bound: %v", err)
	}
	if got := through("nobody"); got != "" {
		t.Errorf("records of a history that does not exist: %s", got)
	}
	if info, _, _ := s.Info(ctx, "h"); info.UpdatedAt != summary(4).CreatedAt {
		t.Errorf("UpdatedAt %d, want the newest record's time", info.UpdatedAt)
	}
	if list, err := s.Query(ctx, driver.Query{Order: driver.ByUpdated, Limit: 1}); err != nil || len(list) != 1 || list[0].ID != "h" {
		t.Errorf("the newest history: %+v %v", list, err)
	}
	// Records stay when their message goes; forks copy those in effect.
	if err := s.DeleteMessage(ctx, "h", "3", 1); err != nil {
		t.Fatal(err)
	}
	if got := through("h"); got != "4,2,3" {
		t.Errorf("after deleting message 3: %s", got)
	}
	if _, err := st.Write(ctx, "h", []chat.Message{chat.User("again")}); err != nil {
		t.Fatal(err)
	}
	id4 := "4"
	if _, err := s.Fork(ctx, "h", "f", &id4, 1); err != nil {
		t.Fatal(err)
	}
	if got := through("f"); got != "4,2" {
		t.Errorf("fork through 4: %s, want 4,2 (3 is deleted)", got)
	}
	end := "2"
	if _, err := s.Fork(ctx, "h", "f2", &end, 1); err != nil {
		t.Fatal(err)
	}
	if got := through("f2"); got != "2" {
		t.Errorf("fork through 2: %s", got)
	}
	// The fork's own records: it records after them.
	if err := s.Compact(ctx, "f", summary(1), 2); err != nil {
		t.Fatal(err)
	}
	if got := through("f"); got != "1,4" {
		t.Errorf("fork after a record: %s", got)
	}
	// Each way of deleting a history takes its records.
	for _, h := range []string{"t/1", "t/2", "h"} {
		if err := s.Compact(ctx, h, summary(0), 3); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Delete(ctx, "h"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeletePrefix(ctx, "t/"); err != nil {
		t.Fatal(err)
	}
	if n := fileInt(t, path, "SELECT count(*) FROM compactions"); n != 3 {
		t.Errorf("%d records left, want the forks' 3", n)
	}
	if err := s.DeleteAll(ctx); err != nil {
		t.Fatal(err)
	}
	if n := fileInt(t, path, "SELECT count(*) FROM compactions"); n != 0 {
		t.Errorf("%d records left after DeleteAll", n)
	}
}
