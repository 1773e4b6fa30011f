// Package bench runs chatstore's standard workloads against a store or a
// server and reports throughput and latency. It is what "chatstore bench"
// runs; docs/BENCHMARKS.md has its figures for every backend.
//
// The workloads:
//
//	W1  append 10,000 messages one at a time to one history
//	W2  append 100,000 messages in batches of 100 over 1,000 histories
//	W3  read the last 10 rounds of histories of 100, 10,000 and 100,000 messages
//	W4  64 clients, each looping append-one then read-last-10 on its own history
//	S1  search: fill 1,000,000 messages over 10,000 histories (text whose words
//	    follow Zipf's law), then find the first page of two-word queries; not
//	    run unless asked for, and not on a raw baseline
//
// Every history a run writes has the run's own id prefix, and the run deletes
// them all at the end, also when it fails or is interrupted.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/driver"
	"github.com/chatstore/chatstore/internal/plural"
)

// Target is what the workloads run against: a *chatstore.Store, or a
// *client.Client talking to a server.
type Target interface {
	Write(ctx context.Context, historyID string, msgs []chat.Message) (int, error)
	RetrieveLast(ctx context.Context, historyID string, lastK int) ([]chat.Message, error)
	Delete(ctx context.Context, historyID string) error
	Search(ctx context.Context, o chatstore.SearchOptions) (chatstore.SearchPage, error)
}

// Workloads are the names Config.Workloads takes, in the order they run.
var Workloads = []string{"W1", "W2", "W3", "W4", "S1"}

// DefaultWorkloads are those a Config without Workloads runs.
var DefaultWorkloads = Workloads[:4]

// Config sets what a run does. The zero value runs every workload at the
// sizes above.
type Config struct {
	// Workloads to run, from Workloads; empty means DefaultWorkloads.
	Workloads []string
	// Scale multiplies the sizes of W1, W2 and W3 (the message counts and
	// W2's histories), for quick runs; 0 means 1. W3's history sizes are
	// scaled too, but W3 always reads the last 10 rounds.
	Scale float64
	// Clients is W4's number of clients; 0 means 64.
	Clients int
	// Duration is how long W4 runs; 0 means 10s.
	Duration time.Duration
	// Reads is how many reads W3 makes of each history, and queries S1
	// makes; 0 means 1,000.
	Reads int
	// Prefix starts every history id the run writes; "" means
	// "chatstore-bench-" and 8 random hex digits, so runs never meet.
	Prefix string
	// Count is how many times each workload runs (0 means 1; at most
	// MaxCount). A run's figures are then the medians of its passes
	// (Result.Runs), and RunCompare's ratios the medians of the ratios of
	// each pass's pair, with the range of the time ratio. Each pass
	// deletes what it wrote, and writes histories of its own.
	Count int
	// Progress, when set, receives a one-line progress report a few times
	// a second, each ending in '\r' (for a terminal).
	Progress io.Writer

	label string // starts the progress line's stage: the pass, of several
}

// MaxCount bounds Config.Count.
const MaxCount = 100

// Result is one workload's figures. Latencies are per operation: one write
// in W1 and W2, one read in W3, one append-and-read loop in W4.
type Result struct {
	Workload string  `json:"workload"`
	Name     string  `json:"name"`
	Ops      int     `json:"ops"`
	Messages int     `json:"messages"` // messages written (W1, W2, W4) or read (W3)
	Seconds  float64 `json:"seconds"`
	Rate     float64 `json:"rate"`
	Unit     string  `json:"unit"` // of Rate: msgs/s, reads/s or loops/s
	P50      float64 `json:"p50_us"`
	P90      float64 `json:"p90_us"`
	P99      float64 `json:"p99_us"`
	Max      float64 `json:"max_us"`
	// Runs is how many passes the figures are the medians of (Config.Count),
	// when more than one: Max is then the largest of the passes', and each
	// other figure, Ops, Messages and Seconds too, the median of theirs.
	Runs int `json:"runs,omitempty"`
}

// Report is a whole run.
type Report struct {
	Target string `json:"target"`
	// Raw is true for a run of the raw baseline (RunRaw).
	Raw     bool      `json:"raw,omitempty"`
	Started time.Time `json:"started"`
	Machine Machine   `json:"machine"`
	Results []Result  `json:"results"`
}

// Machine says where a run ran, so that figures travel with it.
type Machine struct {
	GOOS      string `json:"goos"`
	GOARCH    string `json:"goarch"`
	CPUs      int    `json:"cpus"`
	CPU       string `json:"cpu,omitempty"`
	GoVersion string `json:"go_version"`
}

func thisMachine() Machine {
	return Machine{GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, CPUs: runtime.NumCPU(), CPU: cpuModel(), GoVersion: runtime.Version()}
}

// cpuModel reads the processor's name on Linux; elsewhere it is "".
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// ErrConfig is wrapped by Run's errors for a Config out of range.
var ErrConfig = errors.New("invalid bench configuration")

// Run runs the configured workloads against t and deletes what it wrote.
// targetName goes into the report. On an error (or when ctx ends) it
// returns the results of the workloads that finished along with the error.
func Run(ctx context.Context, t Target, targetName string, cfg Config) (*Report, error) {
	return run(ctx, storeTarget{t}, targetName, cfg)
}

// target is what the workloads call: a Target (storeTarget) or a raw
// baseline (rawTarget).
type target interface {
	write(ctx context.Context, historyID string, msgs []chat.Message) error
	// search runs a query for its first page of 20 hits and returns how
	// many it found; a raw baseline cannot.
	search(ctx context.Context, prefix, q string) (int, error)
	// readLast reads the tail of a history: a store its last rounds
	// rounds, a raw baseline its last msgs messages, which are what those
	// rounds hold. It returns how many messages it read.
	readLast(ctx context.Context, historyID string, rounds, msgs int) (int, error)
	delete(ctx context.Context, historyID string) error
	// raw is true for a raw baseline.
	raw() bool
}

type storeTarget struct{ t Target }

func (s storeTarget) write(ctx context.Context, id string, msgs []chat.Message) error {
	_, err := s.t.Write(ctx, id, msgs)
	return err
}

func (s storeTarget) readLast(ctx context.Context, id string, rounds, _ int) (int, error) {
	msgs, err := s.t.RetrieveLast(ctx, id, rounds)
	return len(msgs), err
}

func (s storeTarget) search(ctx context.Context, prefix, q string) (int, error) {
	page, err := s.t.Search(ctx, chatstore.SearchOptions{Query: q, Prefix: prefix, Limit: 20})
	return len(page.Hits), err
}

func (s storeTarget) delete(ctx context.Context, id string) error { return s.t.Delete(ctx, id) }
func (storeTarget) raw() bool                                     { return false }

func run(ctx context.Context, t target, targetName string, cfg Config) (*Report, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	rep := &Report{Target: targetName, Raw: t.raw(), Started: time.Now().UTC(), Machine: thisMachine()}
	var passes [][]Result
	err := inPasses(cfg, func(_ int, c Config) error {
		res, err := pass(ctx, t, c)
		if len(res) > 0 {
			passes = append(passes, res)
		}
		return err
	})
	rep.Results = medians(passes)
	return rep, err
}

// pass runs the workloads of c once, and deletes what they wrote.
func pass(ctx context.Context, t target, c Config) ([]Result, error) {
	r := &runner{t: t, cfg: c, written: map[string]bool{}}
	defer r.clearProgress()
	res, err := r.runAll(ctx)
	// Clean up even when ctx is over: the run's histories must not stay.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	if cerr := r.cleanup(cctx); cerr != nil {
		err = errors.Join(err, cerr)
	}
	return res, err
}

// inPasses calls pass with the configuration of each pass of cfg (a filled
// one) in turn, until one fails: Count passes of W1–W4, then Count of S1.
// S1's passes come last because each writes a million messages and deletes
// them, which leaves the store, and not a raw baseline, dead rows and
// index pages that the next pass would step over. Each pass of several
// has its own history ids (its prefix) and says which it is in the
// progress line.
func inPasses(cfg Config, pass func(k int, c Config) error) error {
	var phases [][]string
	if ws := slices.DeleteFunc(slices.Clone(cfg.Workloads), func(w string) bool { return w == "S1" }); len(ws) > 0 {
		phases = append(phases, ws)
	}
	if slices.Contains(cfg.Workloads, "S1") {
		phases = append(phases, []string{"S1"})
	}
	for _, ws := range phases {
		for k := range cfg.Count {
			c := cfg
			c.Workloads, c.Count = ws, 1
			if cfg.Count > 1 {
				c.Prefix += strconv.Itoa(k+1) + "-"
				c.label = fmt.Sprintf("pass %d/%d: ", k+1, cfg.Count)
			}
			if err := pass(k, c); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *Config) fill() error {
	if len(c.Workloads) == 0 {
		c.Workloads = DefaultWorkloads
	}
	for _, w := range c.Workloads {
		if !slices.Contains(Workloads, w) {
			return fmt.Errorf("bench: %w: unknown workload %q; the workloads are %s", ErrConfig, w, strings.Join(Workloads, ", "))
		}
	}
	switch {
	case c.Scale < 0, c.Clients < 0, c.Duration < 0, c.Reads < 0, c.Count < 0:
		return fmt.Errorf("bench: %w: scale, clients, duration, reads and count must not be negative", ErrConfig)
	case c.Scale > 10:
		return fmt.Errorf("bench: %w: scale %g is above 10", ErrConfig, c.Scale)
	case c.Count > MaxCount:
		return fmt.Errorf("bench: %w: count %d is above %d", ErrConfig, c.Count, MaxCount)
	}
	if c.Count == 0 {
		c.Count = 1
	}
	if c.Scale == 0 {
		c.Scale = 1
	}
	if c.Clients == 0 {
		c.Clients = 64
	}
	if c.Duration == 0 {
		c.Duration = 10 * time.Second
	}
	if c.Reads == 0 {
		c.Reads = 1000
	}
	if c.Prefix == "" {
		var b [4]byte
		rand.Read(b[:])
		c.Prefix = "chatstore-bench-" + hex.EncodeToString(b[:]) + "-"
	}
	return nil
}

type runner struct {
	t   target
	cfg Config

	mu      sync.Mutex
	written map[string]bool // histories to delete at the end

	// progress of the running workload
	stage      atomic.Pointer[string]
	done, goal atomic.Int64
}

func (r *runner) scaled(n int) int { return max(1, int(float64(n)*r.cfg.Scale+0.5)) }

func (r *runner) history(name string) string {
	id := r.cfg.Prefix + name
	r.mu.Lock()
	r.written[id] = true
	r.mu.Unlock()
	return id
}

func (r *runner) cleanup(ctx context.Context) error {
	ids := make([]string, 0, len(r.written))
	for id := range r.written {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	r.setStage("cleaning up", int64(len(ids)))
	var errs []error
	for _, id := range ids {
		if err := r.t.delete(ctx, id); err != nil {
			errs = append(errs, fmt.Errorf("deleting %s: %w", id, err))
			if len(errs) == 3 {
				break // the store is gone; say so once, not a thousand times
			}
		}
		r.done.Add(1)
	}
	if len(errs) > 0 {
		return fmt.Errorf("bench: cleanup: the histories starting with %q may remain: %w", r.cfg.Prefix, errors.Join(errs...))
	}
	return nil
}

func (r *runner) runAll(ctx context.Context) ([]Result, error) {
	stop := r.startProgress()
	defer stop()
	var all []Result
	for _, w := range Workloads {
		if !slices.Contains(r.cfg.Workloads, w) {
			continue
		}
		var (
			res []Result
			err error
		)
		switch w {
		case "W1":
			res, err = r.w1(ctx)
		case "W2":
			res, err = r.w2(ctx)
		case "W3":
			res, err = r.w3(ctx)
		case "W4":
			res, err = r.w4(ctx)
		case "S1":
			res, err = r.s1(ctx)
		}
		all = append(all, res...)
		if err != nil {
			return all, fmt.Errorf("bench: %s: %w", w, err)
		}
	}
	return all, nil
}

// w1 appends messages one at a time to one history.
func (r *runner) w1(ctx context.Context) ([]Result, error) {
	n := r.scaled(10000)
	id := r.history("w1")
	msgs := Messages(1, n)
	r.setStage("W1 append one at a time", int64(n))
	lat := make([]time.Duration, 0, n)
	start := time.Now()
	for i := range msgs {
		t0 := time.Now()
		if err := r.t.write(ctx, id, msgs[i:i+1]); err != nil {
			return nil, err
		}
		lat = append(lat, time.Since(t0))
		r.done.Add(1)
	}
	return []Result{result("W1", fmt.Sprintf("append 1 message × %d, one history", n), n, n, time.Since(start), n, "msgs/s", lat)}, nil
}

// w2 appends batches of 100 over many histories, each history's batches in
// order, one writer.
func (r *runner) w2(ctx context.Context) ([]Result, error) {
	total, histories := r.scaled(100000), r.scaled(1000)
	r.setStage("W2 batches of 100", int64(total))
	res, err := r.batches(ctx, "W2", "w2-", total, histories, func(h int) *generator { return newGenerator(uint64(1000 + h)) })
	if err != nil {
		return nil, err
	}
	return []Result{res}, nil
}

// batches writes total messages in batches of 100 over histories histories
// (named prefix and their number), each history's batches in order, one
// writer, each history's messages from gen; it times the writes, not the
// making of the messages.
func (r *runner) batches(ctx context.Context, workload, prefix string, total, histories int, gen func(h int) *generator) (Result, error) {
	const batch = 100
	batches := (total + batch - 1) / batch
	ids := make([]string, histories)
	gens := make([]*generator, histories)
	for h := range ids {
		ids[h] = r.history(fmt.Sprint(prefix, h))
		gens[h] = gen(h)
	}
	lat := make([]time.Duration, 0, batches)
	var elapsed time.Duration
	written := 0
	for b := range batches {
		h := b % histories
		msgs := gens[h].next(min(batch, total-written))
		t0 := time.Now()
		if err := r.t.write(ctx, ids[h], msgs); err != nil {
			return Result{}, err
		}
		d := time.Since(t0)
		elapsed += d
		lat = append(lat, d)
		written += len(msgs)
		r.done.Add(int64(len(msgs)))
	}
	name := fmt.Sprintf("append %s in batches of %d over %s", plural.Count(total, "message", "messages"), batch, plural.Count(histories, "history", "histories"))
	return result(workload, name, batches, written, elapsed, written, "msgs/s", lat), nil
}

// w3 fills histories of three sizes and reads the last 10 rounds of each.
func (r *runner) w3(ctx context.Context) ([]Result, error) {
	var out []Result
	for _, size := range []int{100, 10000, 100000} {
		n := r.scaled(size)
		id := r.history(fmt.Sprint("w3-", size))
		r.setStage(fmt.Sprintf("W3 filling a history of %d", n), int64(n))
		g := newGenerator(uint64(size))
		var tail tail
		for done := 0; done < n; {
			msgs := g.next(min(1000, n-done))
			if err := r.t.write(ctx, id, msgs); err != nil {
				return out, err
			}
			tail.add(msgs...)
			done += len(msgs)
			r.done.Add(int64(len(msgs)))
		}
		want := tail.last(10)
		r.setStage(fmt.Sprintf("W3 reading the last 10 rounds of %d", n), int64(r.cfg.Reads))
		lat := make([]time.Duration, 0, r.cfg.Reads)
		read := 0
		start := time.Now()
		for range r.cfg.Reads {
			t0 := time.Now()
			got, err := r.t.readLast(ctx, id, 10, want)
			if err != nil {
				return out, err
			}
			lat = append(lat, time.Since(t0))
			read += got
			r.done.Add(1)
		}
		name := "read the last 10 rounds of " + plural.Count(n, "message", "messages")
		if r.t.raw() {
			name = fmt.Sprintf("read the last %s (10 rounds) of %d", plural.Count(want, "message", "messages"), n)
		}
		out = append(out, result("W3", name, r.cfg.Reads, read, time.Since(start), r.cfg.Reads, "reads/s", lat))
	}
	return out, nil
}

// w4 runs the clients for the configured time; each appends one message and
// reads the last 10 rounds of its own history, over and over.
func (r *runner) w4(ctx context.Context) ([]Result, error) {
	clients := r.cfg.Clients
	r.setStage(fmt.Sprintf("W4 %s for %s", plural.Count(clients, "client", "clients"), r.cfg.Duration), 0)
	ids := make([]string, clients)
	for c := range ids {
		ids[c] = r.history(fmt.Sprintf("w4-%d", c))
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		lat      []time.Duration
		firstErr error
	)
	start := time.Now()
	deadline := start.Add(r.cfg.Duration)
	for c := range clients {
		wg.Go(func() {
			g := newGenerator(uint64(5000 + c))
			var tail tail
			mine := make([]time.Duration, 0, 1024)
			defer func() {
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			}()
			for time.Now().Before(deadline) {
				msg := g.next(1)
				tail.add(msg...)
				want := tail.last(10)
				t0 := time.Now()
				err := r.t.write(wctx, ids[c], msg)
				if err == nil {
					_, err = r.t.readLast(wctx, ids[c], 10, want)
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil && wctx.Err() == nil {
						firstErr = fmt.Errorf("client %d: %w", c, err)
					}
					mu.Unlock()
					cancel()
					return
				}
				mine = append(mine, time.Since(t0))
				r.done.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		return nil, firstErr
	}
	name := fmt.Sprintf("%s: append 1, read last 10 rounds, for %s", plural.Count(clients, "client", "clients"), r.cfg.Duration)
	return []Result{result("W4", name, len(lat), len(lat), elapsed, len(lat), "loops/s", lat)}, nil
}

// s1 fills the search corpus, then runs two-word queries one after the
// other, each for its first page of 20 hits, within the run's histories.
func (r *runner) s1(ctx context.Context) ([]Result, error) {
	if r.t.raw() {
		return nil, fmt.Errorf("%w: S1 has no raw baseline", ErrConfig)
	}
	total, histories := r.scaled(1000000), r.scaled(10000)
	r.setStage("S1 filling the search corpus", int64(total))
	fill, err := r.batches(ctx, "S1", "s1-", total, histories, func(h int) *generator { return newCorpusGenerator(uint64(20000 + h)) })
	if err != nil {
		return nil, err
	}
	fill.Name = "fill: " + fill.Name
	queries := searchQueries(r.cfg.Reads)
	r.setStage("S1 searching", int64(len(queries)))
	lat := make([]time.Duration, 0, len(queries))
	hits := 0
	start := time.Now()
	for _, q := range queries {
		t0 := time.Now()
		n, err := r.t.search(ctx, r.cfg.Prefix+"s1-", q)
		if err != nil {
			return []Result{fill}, err
		}
		lat = append(lat, time.Since(t0))
		hits += n
		r.done.Add(1)
	}
	name := fmt.Sprintf("search: first page of 20 for two-word queries over %s", plural.Count(total, "message", "messages"))
	return []Result{fill, result("S1", name, len(queries), hits, time.Since(start), len(queries), "queries/s", lat)}, nil
}

// result summarizes a workload: counted of what unit counts (messages,
// reads, loops) happened in d.
func result(w, name string, ops, msgs int, d time.Duration, counted int, unit string, lat []time.Duration) Result {
	slices.Sort(lat)
	us := func(q float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		i := min(len(lat)-1, int(q*float64(len(lat))))
		return float64(lat[i]) / float64(time.Microsecond)
	}
	rate := 0.0
	if d > 0 {
		rate = float64(counted) / d.Seconds()
	}
	return Result{
		Workload: w, Name: name, Ops: ops, Messages: msgs, Seconds: d.Seconds(), Rate: rate, Unit: unit,
		P50: us(0.50), P90: us(0.90), P99: us(0.99), Max: us(1),
	}
}

// tail follows a history as a workload writes it, to say how many messages
// its last rounds hold: what a raw baseline reads where the store reads
// those rounds, so both read the same messages. The rounds are the store's
// (chatstore.Classify, driver.LastRounds), not a rule of the bench's own.
type tail struct{ msgs []driver.Message }

func (t *tail) add(msgs ...chat.Message) {
	for _, m := range msgs {
		t.msgs = append(t.msgs, driver.Message{Pos: int64(len(t.msgs)), Kind: chatstore.Classify(m)})
	}
}

// last returns how many messages the last rounds rounds hold.
func (t *tail) last(rounds int) int {
	msgs, _ := driver.LastRounds(rounds, 0, driver.Backwards(t.msgs)) // no error without maxBytes and with an in-memory reader
	return len(msgs)
}
