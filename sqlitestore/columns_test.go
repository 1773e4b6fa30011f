package sqlitestore

import (
	"path/filepath"
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
