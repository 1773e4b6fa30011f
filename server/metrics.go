package server

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The metrics are written in Prometheus' text exposition format by hand:
// a dozen series do not justify the Prometheus client library and its
// dependencies, and the hot path needs only atomic adds.

// latencyBuckets are the upper bounds, in seconds, of the latency
// histograms: from 50 µs (an in-memory read) to 10 s (a store timeout).
var latencyBuckets = []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

type histogram struct {
	counts [18]atomic.Uint64 // one per bucket, then +Inf
	sumNs  atomic.Uint64
}

func (h *histogram) observe(d time.Duration) {
	s := d.Seconds()
	i, _ := slices.BinarySearch(latencyBuckets, s)
	h.counts[i].Add(1)
	h.sumNs.Add(uint64(max(d, 0)))
}

type requestKey struct {
	route string // the route pattern, never the raw path: ids are unbounded
	code  int
}

type metrics struct {
	requests  sync.Map // requestKey → *atomic.Uint64
	latency   sync.Map // route → *histogram
	storeOps  sync.Map // "op outcome" pair → *histogram
	written   atomic.Uint64
	read      atomic.Uint64
	inFlight  atomic.Int64
	startTime time.Time
}

func newMetrics() *metrics { return &metrics{startTime: time.Now()} }

func load[K comparable, V any](m *sync.Map, k K) *V {
	if v, ok := m.Load(k); ok {
		return v.(*V)
	}
	v, _ := m.LoadOrStore(k, new(V))
	return v.(*V)
}

func (m *metrics) request(route string, code int, d time.Duration) {
	load[requestKey, atomic.Uint64](&m.requests, requestKey{route, code}).Add(1)
	load[string, histogram](&m.latency, route).observe(d)
}

type opKey struct{ op, outcome string }

// storeOp records a store operation. A call refused for its arguments
// (a 4xx) is the caller's error, not the store's, and is counted as
// "invalid".
func (m *metrics) storeOp(op string, err error, d time.Duration) {
	outcome := "ok"
	if err != nil {
		outcome = "error"
		if status, _, _ := classify(err); status < 500 {
			outcome = "invalid"
		}
	}
	load[opKey, histogram](&m.storeOps, opKey{op, outcome}).observe(d)
}

// write emits every series, sorted so that the output is stable.
func (m *metrics) write(w io.Writer) error {
	bw := bufio.NewWriter(w)
	header(bw, "chatstore_http_requests_total", "counter", "HTTP requests by route pattern and status code.")
	var reqs []requestKey
	m.requests.Range(func(k, _ any) bool { reqs = append(reqs, k.(requestKey)); return true })
	slices.SortFunc(reqs, func(a, b requestKey) int {
		if a.route != b.route {
			return cmp.Compare(a.route, b.route)
		}
		return a.code - b.code
	})
	for _, k := range reqs {
		n := load[requestKey, atomic.Uint64](&m.requests, k).Load()
		fmt.Fprintf(bw, "chatstore_http_requests_total{route=%s,code=\"%d\"} %d\n", strconv.Quote(k.route), k.code, n)
	}

	header(bw, "chatstore_http_request_duration_seconds", "histogram", "HTTP request latency by route pattern.")
	var routes []string
	m.latency.Range(func(k, _ any) bool { routes = append(routes, k.(string)); return true })
	slices.Sort(routes)
	for _, r := range routes {
		writeHistogram(bw, "chatstore_http_request_duration_seconds", "route="+strconv.Quote(r), load[string, histogram](&m.latency, r))
	}

	header(bw, "chatstore_store_operation_duration_seconds", "histogram", "Store operation latency by operation and outcome.")
	var ops []opKey
	m.storeOps.Range(func(k, _ any) bool { ops = append(ops, k.(opKey)); return true })
	slices.SortFunc(ops, func(a, b opKey) int { return cmp.Compare(a.op+" "+a.outcome, b.op+" "+b.outcome) })
	for _, k := range ops {
		labels := fmt.Sprintf("op=%q,outcome=%q", k.op, k.outcome)
		writeHistogram(bw, "chatstore_store_operation_duration_seconds", labels, load[opKey, histogram](&m.storeOps, k))
	}

	header(bw, "chatstore_messages_written_total", "counter", "Messages stored (skipped ones not counted).")
	fmt.Fprintf(bw, "chatstore_messages_written_total %d\n", m.written.Load())
	header(bw, "chatstore_messages_read_total", "counter", "Messages returned by reads.")
	fmt.Fprintf(bw, "chatstore_messages_read_total %d\n", m.read.Load())
	header(bw, "chatstore_http_requests_in_flight", "gauge", "HTTP requests being served.")
	fmt.Fprintf(bw, "chatstore_http_requests_in_flight %d\n", m.inFlight.Load())
	header(bw, "chatstore_start_time_seconds", "gauge", "When the server started, in Unix seconds.")
	fmt.Fprintf(bw, "chatstore_start_time_seconds %d\n", m.startTime.Unix())
	return bw.Flush()
}

// header writes a metric's HELP and TYPE lines.
func header(w io.Writer, name, typ, help string) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

func writeHistogram(w io.Writer, name, labels string, h *histogram) {
	var cum uint64
	for i := range h.counts {
		cum += h.counts[i].Load()
		le := "+Inf"
		if i < len(latencyBuckets) {
			le = strconv.FormatFloat(latencyBuckets[i], 'g', -1, 64)
		}
		fmt.Fprintf(w, "%s_bucket{%s,le=%q} %d\n", name, labels, le, cum)
	}
	sum := float64(h.sumNs.Load()) / 1e9
	fmt.Fprintf(w, "%s_sum{%s} %s\n", name, labels, strconv.FormatFloat(sum, 'g', -1, 64))
	fmt.Fprintf(w, "%s_count{%s} %d\n", name, labels, cum)
}
