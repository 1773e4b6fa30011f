package driver

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"
)

func heldSet(ids ...string) (Lookup, *int) {
	set := map[string]bool{}
	for _, id := range ids {
		set[id] = true
	}
	calls := 0
	return func(_ context.Context, q []string) (map[string]bool, error) {
		calls++
		out := map[string]bool{}
		for _, id := range q {
			if set[id] {
				out[id] = true
			}
		}
		return out, nil
	}, &calls
}

func recs(spec ...string) []Record {
	var out []Record
	for _, s := range spec {
		r := Record{Kind: Joins}
		if s != "" {
			r.ID, r.HasID = s, true
		}
		out = append(out, r)
	}
	return out
}

func planIDs(p Plan) []string {
	var out []string
	for _, m := range p.Messages {
		out = append(out, m.ID)
	}
	return out
}

func TestPlanIDs(t *testing.T) {
	tests := []struct {
		name  string
		count int64
		held  []string
		recs  []Record
		want  []string
	}{
		{"fresh", 0, nil, recs("", "", ""), []string{"0", "1", "2"}},
		{"counter starts at count", 5, nil, recs("", ""), []string{"5", "6"}},
		{"caller ids kept, counter only for id-less", 0, nil, recs("", "x", ""), []string{"0", "x", "1"}},
		{"held caller id skipped", 2, []string{"x"}, recs("x", ""), []string{"2"}},
		{"generated skips held", 1, []string{"1", "2"}, recs("", ""), []string{"3", "4"}},
		{"generated skips supplied later in write", 0, nil, recs("", "0"), []string{"1", "0"}},
		{"generated skips supplied even if held", 0, []string{"0"}, recs("0", ""), []string{"1"}},
		{"duplicate supplied: first wins", 0, nil, recs("a", "a", ""), []string{"a", "0"}},
	}
	for _, tt := range tests {
		held, _ := heldSet(tt.held...)
		p, err := MakePlan(t.Context(), tt.count, tt.recs, held)
		if err != nil {
			t.Fatal(err)
		}
		if got := planIDs(p); !slices.Equal(got, tt.want) {
			t.Errorf("%s: ids %v, want %v", tt.name, got, tt.want)
		}
		for i, m := range p.Messages {
			if m.Pos != tt.count+int64(i) {
				t.Errorf("%s: message %d at position %d", tt.name, i, m.Pos)
			}
		}
	}
}

// More collisions than the first query covers: lookup is asked again, in
// batches, not once per id.
func TestPlanManyCollisions(t *testing.T) {
	var ids []string
	for i := range 200 {
		ids = append(ids, strconv.Itoa(i))
	}
	held, calls := heldSet(ids...)
	p, err := MakePlan(t.Context(), 0, recs("", ""), held)
	if err != nil {
		t.Fatal(err)
	}
	if got := planIDs(p); !slices.Equal(got, []string{"200", "201"}) {
		t.Errorf("ids %v", got)
	}
	if *calls > 5 {
		t.Errorf("held called %d times", *calls)
	}
}

func TestPlanHeldError(t *testing.T) {
	boom := errors.New("boom")
	_, err := MakePlan(t.Context(), 0, recs(""), func(context.Context, []string) (map[string]bool, error) { return nil, boom })
	if !errors.Is(err, boom) {
		t.Errorf("err = %v", err)
	}
}

func TestPositionalLookup(t *testing.T) {
	held := PositionalLookup(3)
	got, err := held(t.Context(), []string{"0", "2", "3", "01", "-1", "x", "", "1"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"0": true, "2": true, "1": true}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for id := range want {
		if !got[id] {
			t.Errorf("%q not held", id)
		}
	}
	// It agrees with planning against the real set of generated ids.
	p1, _ := MakePlan(t.Context(), 3, recs("", "4", "", "1"), PositionalLookup(3))
	real, _ := heldSet("0", "1", "2")
	p2, _ := MakePlan(t.Context(), 3, recs("", "4", "", "1"), real)
	if !slices.Equal(planIDs(p1), planIDs(p2)) || !slices.Equal(planIDs(p1), []string{"3", "4", "5"}) {
		t.Errorf("plans differ: %v vs %v", planIDs(p1), planIDs(p2))
	}
}
