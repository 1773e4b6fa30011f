package sqlitestore

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/driver"
)

// TestPackedColumns: a message's kind and cost, read in one integer
// (messageColumns), come back as written at the ends of their ranges, and
// a write of a cost beyond them fails and stores nothing.
func TestPackedColumns(t *testing.T) {
	ctx := t.Context()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "chat.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	body, _ := chat.User("packed").MarshalJSON()
	recs := []driver.Record{
		{JSON: body, Kind: driver.Joins, CreatedAt: 1, Cost: driver.Cost{}},
		{JSON: body, Kind: driver.Closes, CreatedAt: 1<<42 - 1, Cost: driver.Cost{Text: 1<<30 - 1, Flat: 1<<31 - 1}},
		{JSON: body, Kind: driver.Alone, CreatedAt: 3, Cost: driver.Cost{Text: 1, Flat: 0}, ID: "", HasID: true},
		{JSON: body, Kind: driver.Joins, CreatedAt: 4, Cost: driver.Cost{Text: 0, Flat: 1<<31 - 1}, ID: "x", HasID: true},
	}
	if _, err := s.Write(ctx, "h", recs); err != nil {
		t.Fatal(err)
	}
	got, err := s.Range(ctx, "h", 0, 10)
	if err != nil || len(got) != len(recs) {
		t.Fatalf("%d messages, %v", len(got), err)
	}
	for i, m := range got {
		wantID := []string{"0", "1", "", "x"}[i]
		if m.Kind != recs[i].Kind || m.Cost != recs[i].Cost || m.CreatedAt != recs[i].CreatedAt || m.ID != wantID || m.Pos != int64(i) {
			t.Errorf("message %d: %+v, want kind %v cost %+v time %d id %q", i, m, recs[i].Kind, recs[i].Cost, recs[i].CreatedAt, wantID)
		}
	}
	for _, c := range []driver.Cost{{Text: 1 << 30}, {Flat: 1 << 31}, {Text: -1}, {Flat: -1}} {
		if _, err := s.Write(ctx, "h", []driver.Record{{JSON: body, Kind: driver.Joins, Cost: c}}); err == nil {
			t.Errorf("a cost of %+v was written", c)
		}
	}
	if n, err := s.Count(ctx, "h"); err != nil || n != int64(len(recs)) {
		t.Errorf("%d messages after the refused writes, %v", n, err)
	}
}

// TestRecencyPlan: a list by recency walks the index histories_by_recency
// (from the cursor's step, when it has one) and sorts only within its
// steps: no scan of histories, and no sort of them all.
func TestRecencyPlan(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "chat.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	body, _ := chat.User("listed").MarshalJSON()
	for i := range 300 {
		if _, err := s.Write(t.Context(), fmt.Sprint("h", i), []driver.Record{{JSON: body, CreatedAt: int64(i) << 12}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []driver.Query{
		{Order: driver.ByUpdated, Limit: 20},
		{Order: driver.ByUpdated, Limit: 20, AfterID: "h", AfterUpdated: 1_800_000_000_000},
	} {
		query, args := querySQL(q, 1)
		plan := queryPlan(t, s, query, args...)
		p := strings.Join(plan, "; ")
		wantIndex := "USING INDEX histories_by_recency"
		if q.AfterID != "" {
			wantIndex = "SEARCH h USING INDEX histories_by_recency"
		}
		if !strings.Contains(p, wantIndex) || !strings.Contains(p, "LAST 2 TERMS OF ORDER BY") || slices.Contains(plan, "SCAN h") {
			t.Errorf("cursor %q: plan %s", q.AfterID, p)
		}
	}
}

// queryPlan is the details of EXPLAIN QUERY PLAN of query, in order.
func queryPlan(t *testing.T, s *Store, query string, args ...any) []string {
	t.Helper()
	rows, err := s.readers.Query("EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan
}

// TestTailPlans: the tail reads walk a history's messages backwards along
// the primary key, with no sort of them, whatever columns they read
// (tailBareSQL's are expressions); the compaction probe's row, at most
// one, is merged in (its "sort" is of that row alone, before RIGHT).
func TestTailPlans(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "chat.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for name, query := range map[string]string{"tailSQL": tailSQL, "tailUncompactedSQL": tailUncompactedSQL, "tailBareSQL": tailBareSQL} {
		p := strings.Join(queryPlan(t, s, query, "h", 0), "; ")
		_, walk, merged := strings.Cut(p, "RIGHT; ")
		if !merged {
			walk = p
		}
		if !strings.Contains(walk, "SEARCH m USING PRIMARY KEY (hid=?)") || strings.Contains(walk, "TEMP B-TREE") || strings.Contains(p, "SCAN m") {
			t.Errorf("%s: plan %s", name, p)
		}
	}
}

// TestRecencyFrames: consecutive writes to a history within one step of
// the recency index change two pages (its message's, its row's), not the
// index's too.
func TestRecencyFrames(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chat.db")
	s, err := Open(t.Context(), path, &Options{NoSearch: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	body, _ := chat.User("frames").MarshalJSON()
	rec := []driver.Record{{JSON: body, Kind: driver.Joins, CreatedAt: 1 << 20}}
	if _, err := s.Write(t.Context(), "h", rec); err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, path)
	var busy, logged, done int
	if err := db.QueryRow("PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logged, &done); err != nil || busy != 0 {
		t.Fatalf("checkpoint: %v, busy %d", err, busy)
	}
	const writes = 50
	for i := range writes {
		rec[0].CreatedAt = 1<<20 + int64(i) // one step of 1,024 ms
		if _, err := s.Write(t.Context(), "h", rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &logged, &done); err != nil {
		t.Fatal(err)
	}
	if logged > 2*writes+writes/5 {
		t.Errorf("%d writes wrote %d pages to the WAL, want about %d", writes, logged, 2*writes)
	}
}

// TestBareTail: a bare tail read (driver.Span.Bare) reads three cells a
// row (tailBareSQL), so its messages have no costs or times, where the
// full read's have them; for a last round too, as a RetrieveLast reads
// it, and for ids that are the position's and a caller's. (What a bare
// read gives is storetest's BareTail, on every backend.)
func TestBareTail(t *testing.T) {
	ctx := t.Context()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "chat.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var recs []driver.Record
	for i := range 6 {
		body, _ := chat.User(fmt.Sprint("message ", i)).MarshalJSON()
		rec := driver.Record{JSON: body, Kind: []driver.Kind{driver.Joins, driver.Closes}[i%2], CreatedAt: int64(i + 1), Cost: driver.Cost{Text: int64(i + 1), Flat: 1}}
		if i == 3 {
			rec.ID, rec.HasID = "caller's", true
		}
		recs = append(recs, rec)
	}
	if _, err := s.Write(ctx, "h", recs); err != nil {
		t.Fatal(err)
	}
	for _, rounds := range []int{100, 1} {
		full, _, err := s.TailUncompacted(ctx, "h", driver.Span{Rounds: rounds}, 0)
		if err != nil || len(full) == 0 {
			t.Fatalf("%d rounds, full: %d messages, %v", rounds, len(full), err)
		}
		bare, _, err := s.TailUncompacted(ctx, "h", driver.Span{Rounds: rounds, Bare: true}, 0)
		if err != nil || len(bare) != len(full) {
			t.Fatalf("%d rounds, bare: %d messages, %v", rounds, len(bare), err)
		}
		for i := range full {
			if full[i].Cost == (driver.Cost{}) || full[i].CreatedAt == 0 || bare[i].Cost != (driver.Cost{}) || bare[i].CreatedAt != 0 || bare[i].ID != full[i].ID {
				t.Errorf("%d rounds, message %d: bare %+v, full %+v", rounds, i, bare[i], full[i])
			}
		}
	}
}
