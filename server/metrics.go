package server

import (
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// latencyBuckets are the upper bounds, in seconds, of the latency
// histograms: from 50 µs (an in-memory read) to 10 s (a store timeout).
var latencyBuckets = []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// sweepBuckets are the upper bounds, in seconds, of the sweep's
// histogram: from an idle tick to one that removed thousands of histories.
var sweepBuckets = []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120}

// metrics are the server's Prometheus metrics. They live in a registry of
// the server's own, not in prometheus.DefaultRegisterer: two servers in one
// process (tests, or a program that mounts two) each count their own
// requests, and neither panics registering a name the other holds.
type metrics struct {
	requests *prometheus.CounterVec   // route, code
	latency  *prometheus.HistogramVec // route
	storeOps *prometheus.HistogramVec // op, outcome
	written  prometheus.Counter
	read     prometheus.Counter
	// erased counts erasures and what they removed: "erasures",
	// "histories", "messages".
	erased *prometheus.CounterVec
	// expired counts what the Sweeper removed: "histories", "messages".
	expired       *prometheus.CounterVec
	sweepDuration prometheus.Histogram
	sweepErrors   prometheus.Counter
	// inFlight is read by a GaugeFunc at each scrape rather than kept in a
	// prometheus.Gauge, so that tests can read the number directly.
	inFlight atomic.Int64
	handler  http.Handler
}

func newMetrics(log *slog.Logger) *metrics {
	reg := prometheus.NewRegistry()
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatstore_http_requests_total",
			Help: "HTTP requests by route pattern and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "chatstore_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern.",
			Buckets: latencyBuckets,
		}, []string{"route"}),
		storeOps: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "chatstore_store_operation_duration_seconds",
			Help:    "Store operation latency by operation and outcome.",
			Buckets: latencyBuckets,
		}, []string{"op", "outcome"}),
		written: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chatstore_messages_written_total",
			Help: "Messages stored (skipped ones not counted).",
		}),
		read: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chatstore_messages_read_total",
			Help: "Messages returned by reads.",
		}),
		erased: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatstore_erased_total",
			Help: "Erasures by metadata (DELETE /v1/histories?metadata[KEY]=VALUE), and the histories and messages they removed.",
		}, []string{"what"}),
		expired: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatstore_expired_total",
			Help: "Expired histories, and the messages they held, removed by the background sweep.",
		}, []string{"what"}),
		sweepDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "chatstore_sweep_duration_seconds",
			Help:    "Duration of each tick of the background sweep of expired histories.",
			Buckets: sweepBuckets,
		}),
		sweepErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chatstore_sweep_errors_total",
			Help: "Ticks of the background sweep of expired histories that failed.",
		}),
	}
	inFlight := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "chatstore_http_requests_in_flight",
		Help: "HTTP requests being served.",
	}, func() float64 { return float64(m.inFlight.Load()) })
	start := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "chatstore_start_time_seconds",
		Help: "When the server started, in Unix seconds.",
	})
	start.Set(float64(time.Now().Unix()))
	reg.MustRegister(m.requests, m.latency, m.storeOps, m.written, m.read, m.erased, m.expired, m.sweepDuration, m.sweepErrors, inFlight, start,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelError),
		// A collector that fails (the process collector where /proc is
		// not readable) must not hide the rest: serve what was gathered.
		ErrorHandling: promhttp.ContinueOnError,
		// Counts the handler's own gathering and encoding errors.
		Registry: reg,
		// The hand-written exposition this replaced was never compressed;
		// the answer stays as it was for clients that offer gzip.
		DisableCompression: true,
	})
	return m
}

func (m *metrics) request(route string, code int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}

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
	m.storeOps.WithLabelValues(op, outcome).Observe(d.Seconds())
}
