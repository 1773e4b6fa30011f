package bench_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/bench"
	"github.com/chatstore/chatstore/chat"
	_ "github.com/chatstore/chatstore/memstore"
)

func TestMessagesMix(t *testing.T) {
	msgs := bench.Messages(7, 400)
	again := bench.Messages(7, 400)
	other := bench.Messages(8, 400)
	var roles = map[chat.Role]int{}
	chars := map[string][]int{}
	calls := map[string]bool{}
	for i, m := range msgs {
		a, _ := m.MarshalJSON()
		b, _ := again[i].MarshalJSON()
		if string(a) != string(b) {
			t.Fatalf("message %d differs between two runs with one seed", i)
		}
		roles[m.Role]++
		switch p := m.Content[0].(type) {
		case chat.Text:
			chars[string(m.Role)] = append(chars[string(m.Role)], len(p.Text))
		case chat.ToolCall:
			calls[*p.ID] = true
		case chat.ToolCallResult:
			if !calls[*p.Origin.ID] {
				t.Errorf("message %d answers call %s, which was not made before", i, *p.Origin.ID)
			}
			chars["tool"] = append(chars["tool"], len(p.Result))
		}
	}
	a, _ := msgs[0].MarshalJSON()
	b, _ := other[0].MarshalJSON()
	if string(a) == string(b) {
		t.Error("two seeds give the same messages")
	}
	if roles[chat.RoleUser] == 0 || roles[chat.RoleTool] == 0 || len(calls) == 0 || roles[chat.RoleAssistant] <= roles[chat.RoleUser] {
		t.Errorf("the mix lacks a kind of message: %v, %d tool calls", roles, len(calls))
	}
	for role, want := range map[string]int{"user": 200, "assistant": 600, "tool": 300} {
		sum := 0
		for _, n := range chars[role] {
			sum += n
		}
		if avg := sum / len(chars[role]); avg < want || avg > want+20 {
			t.Errorf("%s texts average %d characters, want about %d", role, avg, want)
		}
	}
}

// counting is a store that counts what the workloads do to it, and can be
// made to fail.
type counting struct {
	*chatstore.Store
	writes, reads, deletes atomic.Int64
	failAfter              int64 // fail writes after this many; 0 never
}

var errBroken = errors.New("broken store")

func (c *counting) Write(ctx context.Context, id string, msgs []chat.Message) (int, error) {
	if n := c.writes.Add(1); c.failAfter > 0 && n > c.failAfter {
		return 0, errBroken
	}
	return c.Store.Write(ctx, id, msgs)
}

func (c *counting) RetrieveLast(ctx context.Context, id string, k int) ([]chat.Message, error) {
	c.reads.Add(1)
	return c.Store.RetrieveLast(ctx, id, k)
}

func (c *counting) Delete(ctx context.Context, id string) error {
	c.deletes.Add(1)
	return c.Store.Delete(ctx, id)
}

func open(t *testing.T) *counting {
	st, err := chatstore.Open(t.Context(), "memory://", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &counting{Store: st}
}

func histories(t *testing.T, st *chatstore.Store) int {
	page, err := st.List(t.Context(), chatstore.ListOptions{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return len(page.Histories)
}

func TestRunAllWorkloads(t *testing.T) {
	st := open(t)
	var progress strings.Builder
	cfg := bench.Config{Scale: 0.02, Clients: 4, Duration: 200 * time.Millisecond, Reads: 50, Progress: &syncWriter{b: &progress}}
	rep, err := bench.Run(t.Context(), st, "memory://", cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		workload string
		ops      int
		unit     string
	}{{"W1", 200, "msgs/s"}, {"W2", 20, "msgs/s"}, {"W3", 50, "reads/s"}, {"W3", 50, "reads/s"}, {"W3", 50, "reads/s"}, {"W4", -1, "loops/s"}}
	if len(rep.Results) != len(want) {
		t.Fatalf("%d results, want %d: %+v", len(rep.Results), len(want), rep.Results)
	}
	for i, w := range want {
		r := rep.Results[i]
		if r.Workload != w.workload || r.Unit != w.unit || (w.ops >= 0 && r.Ops != w.ops) || r.Ops == 0 {
			t.Errorf("result %d: %+v, want %s with %d ops in %s", i, r, w.workload, w.ops, w.unit)
		}
		if r.Rate <= 0 || r.P50 <= 0 || r.P50 > r.P99 || r.P99 > r.Max {
			t.Errorf("result %d: implausible figures %+v", i, r)
		}
	}
	if w2 := rep.Results[1]; w2.Messages != 2000 {
		t.Errorf("W2 wrote %d messages, want 2000", w2.Messages)
	}
	// Every W3 read returns the last 10 rounds: more than 10 messages once
	// the history is long enough.
	if w3 := rep.Results[4]; w3.Messages/w3.Ops < 10 {
		t.Errorf("W3 read %d messages per read of a 2000-message history", w3.Messages/w3.Ops)
	}
	if w4 := rep.Results[5]; int64(w4.Ops) > st.reads.Load() {
		t.Errorf("W4 reports %d loops but %d reads were made", w4.Ops, st.reads.Load())
	}
	if n := histories(t, st.Store); n != 0 {
		t.Errorf("%d histories left after the run", n)
	}
	if !strings.Contains(progress.String(), "W2 batches of 100") {
		t.Errorf("no progress reported: %q", progress.String())
	}
	var table strings.Builder
	rep.WriteTable(&table)
	if !strings.Contains(table.String(), "loops/s") || !strings.Contains(table.String(), "memory://") {
		t.Errorf("table:\n%s", table.String())
	}
}

func TestRunCleansUpAfterAFailure(t *testing.T) {
	st := open(t)
	st.failAfter = 30
	rep, err := bench.Run(t.Context(), st, "broken", bench.Config{Workloads: []string{"W2"}, Scale: 0.1})
	if !errors.Is(err, errBroken) {
		t.Fatalf("error %v, want the store's", err)
	}
	if len(rep.Results) != 0 {
		t.Errorf("results of a failed workload: %+v", rep.Results)
	}
	if n := histories(t, st.Store); n != 0 {
		t.Errorf("%d histories left after a failed run", n)
	}
	if st.deletes.Load() != 100 {
		t.Errorf("%d deletes, want one per W2 history (100)", st.deletes.Load())
	}
}

func TestRunStopsWithTheContext(t *testing.T) {
	st := open(t)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := bench.Run(ctx, st, "memory://", bench.Config{Workloads: []string{"W4"}, Clients: 2, Duration: time.Hour})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want the deadline", err)
	}
	if time.Since(start) > 30*time.Second {
		t.Errorf("ran %v past its context", time.Since(start))
	}
	if n := histories(t, st.Store); n != 0 {
		t.Errorf("%d histories left after an interrupted run", n)
	}
}

func TestConfigErrors(t *testing.T) {
	st := open(t)
	for _, cfg := range []bench.Config{
		{Workloads: []string{"W5"}},
		{Scale: -1},
		{Scale: 11},
		{Clients: -3},
	} {
		if _, err := bench.Run(t.Context(), st, "x", cfg); !errors.Is(err, bench.ErrConfig) {
			t.Errorf("%+v: error %v, want ErrConfig", cfg, err)
		}
	}
	if st.writes.Load() != 0 {
		t.Error("a refused configuration wrote")
	}
}

// syncWriter lets the progress goroutine and the test share a builder.
type syncWriter struct {
	mu sync.Mutex
	b  *strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// TestNamesCountWithNouns: at a scale that makes one of everything, the
// workload names say "1 message", "1 history", "1 client".
func TestNamesCountWithNouns(t *testing.T) {
	st, err := chatstore.Open(t.Context(), "memory://", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rep, err := bench.Run(t.Context(), st, "memory://", bench.Config{Workloads: []string{"W2", "W3", "W4"}, Scale: 0.00001, Reads: 1, Clients: 1, Duration: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range rep.Results {
		names = append(names, r.Name)
	}
	want := []string{
		"append 1 message in batches of 100 over 1 history",
		"read the last 10 rounds of 1 message",
		"read the last 10 rounds of 1 message",
		"read the last 10 rounds of 1 message",
		"1 client: append 1, read last 10 rounds, for 1ms",
	}
	if strings.Join(names, "\n") != strings.Join(want, "\n") {
		t.Errorf("names:\n%s\nwant:\n%s", strings.Join(names, "\n"), strings.Join(want, "\n"))
	}
}

// TestMachineOneCPU: "1 CPU", not "1 CPUs".
func TestMachineOneCPU(t *testing.T) {
	m := bench.Machine{GOOS: "linux", GOARCH: "arm64", CPUs: 1, CPU: "Cortex-A72", GoVersion: "go1.26"}
	if got, want := m.String(), "linux/arm64, 1 CPU (Cortex-A72), go1.26"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
}

// TestSearchWorkload: S1 fills its corpus and runs its queries, which find
// messages (the queries are words the corpus holds), and leaves nothing.
func TestSearchWorkload(t *testing.T) {
	st := open(t)
	rep, err := bench.Run(t.Context(), st, "memory://", bench.Config{Workloads: []string{"S1"}, Scale: 0.002, Reads: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 2 {
		t.Fatalf("%+v", rep.Results)
	}
	fill, search := rep.Results[0], rep.Results[1]
	if fill.Messages != 2000 || fill.Unit != "msgs/s" || search.Ops != 100 || search.Unit != "queries/s" || search.P50 <= 0 {
		t.Errorf("results %+v", rep.Results)
	}
	if search.Messages == 0 {
		t.Error("no query found anything")
	}
	if n := histories(t, st.Store); n != 0 {
		t.Errorf("%d histories left after the run", n)
	}
}
