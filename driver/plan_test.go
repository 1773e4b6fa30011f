package driver

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"
)

func heldSet(ids ...string) (Held, *int) {
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
		p, err := MakePlan(t.Context(), State{Count: tt.count}, tt.recs, held)
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

// More collisions than the first query covers: held is asked again, in
// batches, not once per id.
func TestPlanManyCollisions(t *testing.T) {
	var ids []string
	for i := range 200 {
		ids = append(ids, strconv.Itoa(i))
	}
	held, calls := heldSet(ids...)
	p, err := MakePlan(t.Context(), State{Count: 0}, recs("", ""), held)
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

func TestPlanRounds(t *testing.T) {
	k := func(kinds ...Kind) []Record {
		out := make([]Record, len(kinds))
		for i, kd := range kinds {
			out[i] = Record{Kind: kd}
		}
		return out
	}
	held, _ := heldSet()
	// user, call, system (mid-round), result, answer, user
	p, err := MakePlan(t.Context(), State{Count: 2, Rounds: 1}, k(Joins, Joins, Own, Joins, Closes, Joins), held)
	if err != nil {
		t.Fatal(err)
	}
	var rounds []int64
	for _, m := range p.Messages {
		rounds = append(rounds, m.Round)
	}
	if want := []int64{2, 2, 1, 2, 2, Pending}; !slices.Equal(rounds, want) {
		t.Errorf("rounds %v, want %v", rounds, want)
	}
	if p.CloseOpen != -1 || p.State != (State{Count: 8, Rounds: 3, Open: 1}) {
		t.Errorf("plan %+v", p)
	}
	// Closing a round opened by an earlier write.
	p, _ = MakePlan(t.Context(), p.State, k(Joins, Closes, Closes), held)
	if p.CloseOpen != 3 || p.Messages[0].Round != 3 || p.Messages[1].Round != 3 || p.Messages[2].Round != 4 || p.State.Open != 0 {
		t.Errorf("closing earlier round: %+v", p)
	}
}

func TestOpenStart(t *testing.T) {
	held, _ := heldSet()
	k := func(kinds ...Kind) []Record {
		out := make([]Record, len(kinds))
		for i, kd := range kinds {
			out[i] = Record{Kind: kd}
		}
		return out
	}
	// The open round continues: its start stays.
	before := State{Count: 10, Rounds: 3, Open: 2}
	p, _ := MakePlan(t.Context(), before, k(Joins), held)
	if got := p.OpenStart(before, 8); got != 8 {
		t.Errorf("continuing: %d, want 8", got)
	}
	// Closed, then a new one opens at the write's third message.
	p, _ = MakePlan(t.Context(), before, k(Joins, Closes, Joins, Joins), held)
	if got := p.OpenStart(before, 8); got != 12 {
		t.Errorf("reopened: %d, want 12", got)
	}
	// Closed, nothing open.
	p, _ = MakePlan(t.Context(), before, k(Closes), held)
	if got := p.OpenStart(before, 8); got != 0 {
		t.Errorf("closed: %d, want 0", got)
	}
}

func TestTailFrom(t *testing.T) {
	tests := []struct {
		st     State
		rounds int
		want   int64
	}{
		{State{Rounds: 5}, 2, 3},
		{State{Rounds: 5, Open: 2}, 2, 4},
		{State{Rounds: 5, Open: 2}, 1, 5},
		{State{Rounds: 5}, 5, 0},
		{State{Rounds: 5}, 1 << 62, 0},
		{State{Rounds: 0, Open: 1}, 1, 0},
	}
	for _, tt := range tests {
		if got := tt.st.TailFrom(tt.rounds); got != tt.want {
			t.Errorf("%+v TailFrom(%d) = %d, want %d", tt.st, tt.rounds, got, tt.want)
		}
	}
}

func TestPlanHeldError(t *testing.T) {
	boom := errors.New("boom")
	_, err := MakePlan(t.Context(), State{}, recs(""), func(context.Context, []string) (map[string]bool, error) { return nil, boom })
	if !errors.Is(err, boom) {
		t.Errorf("err = %v", err)
	}
}

func TestGeneratedOnly(t *testing.T) {
	held := GeneratedOnly(3)
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
	p1, _ := MakePlan(t.Context(), State{Count: 3}, recs("", "4", "", "1"), GeneratedOnly(3))
	real, _ := heldSet("0", "1", "2")
	p2, _ := MakePlan(t.Context(), State{Count: 3}, recs("", "4", "", "1"), real)
	if !slices.Equal(planIDs(p1), planIDs(p2)) || !slices.Equal(planIDs(p1), []string{"3", "4", "5"}) {
		t.Errorf("plans differ: %v vs %v", planIDs(p1), planIDs(p2))
	}
}

// TestTailWalker: the rounds the walker works out backwards are the ones
// MakePlan gave, and it keeps exactly the messages of round ≥ TailFrom.
func TestTailWalker(t *testing.T) {
	held, _ := heldSet()
	rng := [...]Kind{Joins, Closes, Own, Joins, Joins, Closes, Joins, Own}
	for seed := range 40 {
		var st State
		var kinds []Kind
		var rounds []int64
		for w := range 1 + seed%7 {
			var recs []Record
			for i := range 1 + (seed*7+w*3)%5 {
				recs = append(recs, Record{Kind: rng[(seed+w*5+i*3)%len(rng)]})
			}
			p, err := MakePlan(t.Context(), st, recs, held)
			if err != nil {
				t.Fatal(err)
			}
			// Rounds given earlier may change when a round closes.
			for i := range rounds {
				if rounds[i] == Pending && p.CloseOpen >= 0 {
					rounds[i] = p.CloseOpen
				}
			}
			for _, m := range p.Messages {
				kinds = append(kinds, recs[m.Index].Kind)
				rounds = append(rounds, m.Round)
			}
			st = p.State
		}
		for _, k := range []int{1, 2, 3, 5, 100} {
			from := st.TailFrom(k)
			var want []int
			for i, r := range rounds {
				if r >= from {
					want = append(want, i)
				}
			}
			var got []int
			w := st.Walk(k)
			for i := len(kinds) - 1; i >= 0; i-- {
				keep, done := w.Step(kinds[i])
				if done {
					break
				}
				if keep {
					got = append([]int{i}, got...)
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("seed %d, k %d, kinds %v, rounds %v: walker kept %v, want %v", seed, k, kinds, rounds, got, want)
			}
		}
	}
}
