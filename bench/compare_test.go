package bench

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
)

// trace records, in order, which side RunCompare worked on.
type trace struct {
	mu     sync.Mutex
	events []string
}

func (t *trace) add(e string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if n := len(t.events); n == 0 || t.events[n-1] != e {
		t.events = append(t.events, e)
	}
}

// traceStore is a Target that only records that it was called.
type traceStore struct{ t *trace }

func (s traceStore) Write(_ context.Context, _ string, msgs []chat.Message) (int, error) {
	s.t.add("store")
	return len(msgs), nil
}
func (s traceStore) RetrieveLast(context.Context, string, int) ([]chat.Message, error) {
	s.t.add("store")
	return nil, nil
}
func (s traceStore) Delete(context.Context, string) error { s.t.add("store"); return nil }
func (s traceStore) Search(context.Context, chatstore.SearchOptions) (chatstore.SearchPage, error) {
	s.t.add("store")
	return chatstore.SearchPage{}, nil
}

// traceRaw is a rawDB that only records that it was called.
type traceRaw struct{ t *trace }

func (r traceRaw) append(context.Context, string, [][]byte) error { r.t.add("raw"); return nil }
func (r traceRaw) last(context.Context, string, int) ([][]byte, error) {
	r.t.add("raw")
	return nil, nil
}
func (r traceRaw) delete(context.Context, string) error { r.t.add("raw"); return nil }
func (r traceRaw) settle(context.Context) error         { r.t.add("settle"); return nil }
func (r traceRaw) close(context.Context) error          { return nil }

// compareInOrder runs RunCompare on traces, and checks that it worked on
// the store and the baseline in the order want.
func compareInOrder(t *testing.T, cfg Config, want ...string) *Comparison {
	t.Helper()
	tr := &trace{}
	c, err := RunCompare(t.Context(), traceStore{tr}, "store", &Raw{name: "raw test", db: traceRaw{tr}}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tr.events, want) {
		t.Errorf("runs in the order\n%s\nwant\n%s", strings.Join(tr.events, " "), strings.Join(want, " "))
	}
	return c
}

// TestRunCompareTakesTurns: the store and the baseline take turns workload
// by workload, the store first in W1 and W3 and the baseline in W2 and
// W4, with the database settled before every run; S1 runs on the store
// alone; and each workload's figures are paired with their own.
func TestRunCompareTakesTurns(t *testing.T) {
	c := compareInOrder(t, Config{Workloads: []string{"W1", "W2", "W3", "W4", "S1"}, Scale: 0.001, Clients: 2, Duration: 20 * time.Millisecond, Reads: 2},
		"settle", "store", "settle", "raw", // W1
		"settle", "raw", "settle", "store", // W2
		"settle", "store", "settle", "raw", // W3
		"settle", "raw", "settle", "store", // W4
		"settle", "store", // S1
	)
	var got []string
	for _, r := range c.Ratios {
		got = append(got, r.Workload)
	}
	if w := "W1 W2 W3 W3 W3 W4"; strings.Join(got, " ") != w {
		t.Errorf("ratios of %v, want %s", got, w)
	}
	// One pass (S1's comes after the others') is not a median of any.
	for _, r := range append(c.Store.Results, c.Raw.Results...) {
		if r.Runs != 0 {
			t.Errorf("result %+v of one pass counts passes", r)
		}
	}
	for _, r := range c.Ratios {
		if r.Runs != 0 || r.TimeLow != 0 || r.TimeHigh != 0 {
			t.Errorf("ratio %+v of one pass has a range", r)
		}
	}
	// S1's two results (the fill and the searches) follow the store's
	// others; the baseline has none.
	if n := len(c.Store.Results); n != 8 || c.Store.Results[6].Workload != "S1" || c.Store.Results[7].Workload != "S1" || len(c.Raw.Results) != 6 {
		t.Errorf("results: the store's %+v, the baseline's %+v", c.Store.Results, c.Raw.Results)
	}
}

// TestRunCompareInPasses: with Count, the workloads run that many passes,
// each workload's first side alternating from pass to pass as well as
// from workload to workload, S1's passes after all of the others'; every
// figure and ratio is of all the passes, each of W3's three with its own.
func TestRunCompareInPasses(t *testing.T) {
	c := compareInOrder(t, Config{Workloads: []string{"W1", "W2", "W3", "S1"}, Count: 2, Scale: 0.001, Reads: 2},
		"settle", "store", "settle", "raw", // W1
		"settle", "raw", "settle", "store", // W2
		"settle", "store", "settle", "raw", // W3
		"settle", "raw", "settle", "store", // W1
		"settle", "store", "settle", "raw", // W2
		"settle", "raw", "settle", "store", // W3
		"settle", "store", "settle", "store", // S1, S1
	)
	var got []string
	for _, r := range c.Ratios {
		got = append(got, r.Workload+" "+r.Name)
		if r.Runs != 2 || r.TimeLow > r.Time || r.Time > r.TimeHigh || r.TimeLow <= 0 {
			t.Errorf("ratio %+v: want one of 2 passes, within its range", r)
		}
	}
	if len(got) != 5 || !strings.HasPrefix(got[2], "W3 read the last 10 rounds of 1 message") || !strings.HasSuffix(got[4], "of 100 messages") {
		t.Errorf("ratios of %q, want W1, W2 and W3's three", got)
	}
	for _, rep := range []*Report{c.Store, c.Raw} {
		for _, r := range rep.Results {
			if r.Runs != 2 {
				t.Errorf("%s: %+v, want the medians of 2 passes", rep.Target, r)
			}
		}
	}
	if len(c.Store.Results) != 7 || len(c.Raw.Results) != 5 {
		t.Errorf("results: the store's %+v, the baseline's %+v", c.Store.Results, c.Raw.Results)
	}
	var md strings.Builder
	if err := c.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	ratioTable := md.String()[strings.Index(md.String(), "Store / raw"):]
	var cells []int
	for l := range strings.Lines(ratioTable) {
		if strings.HasPrefix(l, "|") {
			cells = append(cells, strings.Count(l, "|"))
		}
	}
	if len(cells) != 7 || slices.Min(cells) != 6 || slices.Max(cells) != 6 {
		t.Errorf("the ratios' Markdown table has rows of %v cell borders, want 7 rows of 6:\n%s", cells, ratioTable)
	}
}

// failingRaw is a traceRaw whose appends fail from the n-th on.
type failingRaw struct {
	traceRaw
	n *int
}

func (r failingRaw) append(ctx context.Context, id string, b [][]byte) error {
	if *r.n--; *r.n <= 0 {
		return errors.New("the database went away")
	}
	return r.traceRaw.append(ctx, id, b)
}

// TestRunCompareStopsInAPass: a pass that fails ends the run with its
// error, and the figures are those of the passes before it; one that
// stored none does not count as a pass.
func TestRunCompareStopsInAPass(t *testing.T) {
	tr := &trace{}
	n := 11 // W1 appends 10 messages; the baseline goes first in pass 2
	raw := &Raw{name: "raw test", db: failingRaw{traceRaw{tr}, &n}}
	c, err := RunCompare(t.Context(), traceStore{tr}, "store", raw, Config{Workloads: []string{"W1"}, Count: 3, Scale: 0.001})
	if err == nil || !strings.Contains(err.Error(), "the database went away") {
		t.Fatalf("err %v, want the baseline's", err)
	}
	if len(c.Ratios) != 1 || c.Ratios[0].Runs != 0 || c.Ratios[0].TimeLow != 0 || len(c.Store.Results) != 1 || c.Store.Results[0].Runs != 0 {
		t.Errorf("ratios %+v, the store's %+v: want pass 1's alone, as one pass", c.Ratios, c.Store.Results)
	}
}

// TestMedians: passes are summed up figure by figure, by workload and
// place in it, in the order the figures first ran: the middle value of an
// odd count, the mean of the middle two of an even one, the largest max;
// the figures of a pass that stopped part way count too, and a figure of
// one pass stays as it was.
func TestMedians(t *testing.T) {
	res := func(w, name string, rate, p50, maxUS float64) Result {
		return Result{Workload: w, Name: name, Unit: "msgs/s", Ops: int(rate), Rate: rate, P50: p50, P90: p50 * 2, P99: p50 * 3, Max: maxUS, Seconds: 1}
	}
	passes := [][]Result{
		{res("W1", "a", 100, 10, 50), res("W3", "x", 7, 1, 2), res("W3", "y", 5, 1, 2)},
		{res("W1", "a", 300, 30, 900), res("W3", "x", 9, 3, 4), res("W3", "y", 1, 3, 4)},
		{res("W1", "a", 200, 20, 70), res("W3", "x", 8, 2, 3)}, // stopped before y
		{res("S1", "s", 9, 9, 9)}, // S1's pass, after the others'
	}
	got := medians(passes)
	want := []Result{
		{Workload: "W1", Name: "a", Unit: "msgs/s", Ops: 200, Rate: 200, P50: 20, P90: 40, P99: 60, Max: 900, Seconds: 1, Runs: 3},
		{Workload: "W3", Name: "x", Unit: "msgs/s", Ops: 8, Rate: 8, P50: 2, P90: 4, P99: 6, Max: 4, Seconds: 1, Runs: 3},
		{Workload: "W3", Name: "y", Unit: "msgs/s", Ops: 3, Rate: 3, P50: 2, P90: 4, P99: 6, Max: 4, Seconds: 1, Runs: 2},
		res("S1", "s", 9, 9, 9), // of one pass: as it was
	}
	if !slices.Equal(got, want) {
		t.Errorf("medians:\n%+v\nwant\n%+v", got, want)
	}
	if one := passes[:1]; !slices.Equal(medians(one), one[0]) {
		t.Errorf("one pass: %+v, want it as it is", medians(one))
	}

	ratios := [][]Ratio{
		{{Workload: "W1", Name: "a", Time: 1.5, P50: 2, P99: 1}, {Workload: "W2", Name: "b", Time: 3, P50: 1, P99: 1}},
		{{Workload: "W1", Name: "a", Time: 1.1, P50: 4, P99: 3}, {Workload: "W2", Name: "b", Time: 1, P50: 1, P99: 1}},
		{{Workload: "W1", Name: "a", Time: 1.2, P50: 3, P99: 2}},
	}
	gotR := pairedRatios(ratios)
	wantR := []Ratio{
		{Workload: "W1", Name: "a", Time: 1.2, P50: 3, P99: 2, Runs: 3, TimeLow: 1.1, TimeHigh: 1.5},
		{Workload: "W2", Name: "b", Time: 2, P50: 1, P99: 1, Runs: 2, TimeLow: 1, TimeHigh: 3},
	}
	if !slices.Equal(gotR, wantR) {
		t.Errorf("ratios:\n%+v\nwant\n%+v", gotR, wantR)
	}
}
