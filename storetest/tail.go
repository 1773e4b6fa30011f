package storetest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/driver"
	"github.com/chatstore/chatstore/search"
)

// testBareTail: a bare tail read (driver.Span.Bare) gives the positions,
// ids, kinds and bodies that the full one gives, for every kind and for
// ids that are the position's, a caller's, empty, a number and not ASCII;
// its costs and times are the full read's or zero (a driver may leave
// them out, or ignore the hint). Both answer "compacted" alone for a
// history with compaction records, and nothing for one whose messages
// were all truncated away. The full read's costs and times are checked
// where the driver keeps them (driver.Coster, driver.Editor). The drivers'
// own tests check that they do read less.
func (s suite) testBareTail(t *testing.T) {
	d := s.newDriver(t)
	ct, ok := d.(driver.CompactionTailer)
	if !ok {
		t.Skip("the driver is not a driver.CompactionTailer")
	}
	_, costs := d.(driver.Coster)
	_, times := d.(driver.Editor)
	var recs []driver.Record
	for i, id := range []string{"", "-", "x", "", "42", "ünï code", "", "2abc"} {
		// A user's message joins a round, an assistant's closes it, a
		// system message is a round of its own, as the store plans them.
		m := []chat.Message{chat.User(fmt.Sprint("question ", i)), chat.Assistant(fmt.Sprint("answer ", i)), chat.System(fmt.Sprint("rule ", i))}[i%3]
		body, _ := m.MarshalJSON()
		rec := driver.Record{JSON: body, Kind: []driver.Kind{driver.Joins, driver.Closes, driver.Alone}[i%3], CreatedAt: int64(i + 1),
			Role: string(m.Role), Doc: search.Document(m), Cost: driver.Cost{Text: int64(i), Flat: 1}}
		switch id {
		case "":
		case "-":
			rec.ID, rec.HasID = "", true // an empty id of the caller's
		default:
			rec.ID, rec.HasID = id, true
		}
		recs = append(recs, rec)
	}
	for _, h := range []string{"h", "c", "e"} {
		if _, err := d.Write(ctx(t), h, recs); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct{ rounds, want int }{{100, len(recs)}, {1, 2}} {
		full, compacted, err := ct.TailUncompacted(ctx(t), "h", driver.Span{Rounds: c.rounds}, 0)
		if err != nil || compacted || len(full) != c.want {
			t.Fatalf("%d rounds, full: %d messages, %v, %v", c.rounds, len(full), compacted, err)
		}
		bare, compacted, err := ct.TailUncompacted(ctx(t), "h", driver.Span{Rounds: c.rounds, Bare: true}, 0)
		if err != nil || compacted || len(bare) != len(full) {
			t.Fatalf("%d rounds, bare: %d messages, %v, %v", c.rounds, len(bare), compacted, err)
		}
		for i, f := range full {
			b := bare[i]
			if b.Pos != f.Pos || b.ID != f.ID || b.Kind != f.Kind || string(b.JSON) != string(f.JSON) {
				t.Errorf("%d rounds, message %d: bare %+v, full %+v", c.rounds, i, b, f)
			}
			if costs && f.Cost == (driver.Cost{}) || times && f.CreatedAt == 0 {
				t.Errorf("%d rounds, message %d: the full read has no cost or time: %+v", c.rounds, i, f)
			}
			if (b.Cost != driver.Cost{} || b.CreatedAt != 0) && (b.Cost != f.Cost || b.CreatedAt != f.CreatedAt) {
				t.Errorf("%d rounds, message %d: bare %+v, full %+v: not the cost and time, nor none", c.rounds, i, b, f)
			}
		}
		if c.rounds == 100 {
			got := []string{bare[0].ID, bare[1].ID, bare[4].ID, bare[5].ID, bare[7].ID}
			if want := []string{"0", "", "42", "ünï code", "2abc"}; !slices.Equal(got, want) {
				t.Errorf("ids %q, want %q", got, want)
			}
		}
	}
	if cp, ok := d.(driver.Compactor); ok {
		summary, _ := chat.User("summary").MarshalJSON()
		if err := cp.Compact(ctx(t), "c", driver.Compaction{Through: "x", ThroughPos: 2, JSON: summary, CreatedAt: 9}, 3); err != nil {
			t.Fatal(err)
		}
		for _, bare := range []bool{false, true} {
			if msgs, compacted, err := ct.TailUncompacted(ctx(t), "c", driver.Span{Rounds: 1, Bare: bare}, 0); err != nil || !compacted || len(msgs) != 0 {
				t.Errorf("a compacted history (bare %v): %+v, compacted %v, %v", bare, msgs, compacted, err)
			}
		}
	}
	if e, ok := d.(driver.Editor); ok {
		if n, err := e.Truncate(ctx(t), "e", "0", 100); err != nil || n != len(recs) {
			t.Fatalf("truncating e: %d, %v", n, err)
		}
		for _, bare := range []bool{false, true} {
			if msgs, compacted, err := ct.TailUncompacted(ctx(t), "e", driver.Span{Rounds: 1, Bare: bare}, 0); err != nil || compacted || len(msgs) != 0 {
				t.Errorf("a history truncated to nothing (bare %v): %+v, compacted %v, %v", bare, msgs, compacted, err)
			}
		}
	}
}
