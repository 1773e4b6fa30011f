package server

import (
	"bytes"
	"runtime"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape fetches /metrics and parses it as Prometheus' text format.
func (f *fixture) scrape() map[string]*dto.MetricFamily {
	f.t.Helper()
	r := f.do("GET", "/metrics", "")
	if r.code != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		f.t.Fatalf("/metrics: %d %q", r.code, r.header.Get("Content-Type"))
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(r.body))
	if err != nil {
		f.t.Fatalf("/metrics is not the text format: %v\n%s", err, r.body)
	}
	return mfs
}

// requestCount is chatstore_http_requests_total for route and code: 0 when
// the series does not exist yet.
func requestCount(mfs map[string]*dto.MetricFamily, route, code string) float64 {
	for _, m := range mfs["chatstore_http_requests_total"].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if len(labels) == 2 && labels["route"] == route && labels["code"] == code {
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func TestMetricsFromTheClientLibrary(t *testing.T) {
	f := newFixture(t, "memory://", nil)
	// A second server in the same process: with a shared registry, its New
	// would panic registering the same names, or both would count together.
	other := newFixture(t, "memory://", nil)

	before := f.scrape()
	if g := before["go_goroutines"].GetMetric(); len(g) != 1 || g[0].GetGauge().GetValue() < 1 {
		t.Errorf("go_goroutines: %v", g)
	}
	if runtime.GOOS == "linux" {
		if p := before["process_start_time_seconds"].GetMetric(); len(p) != 1 || p[0].GetGauge().GetValue() <= 0 {
			t.Errorf("process_start_time_seconds: %v", p)
		}
	}
	if n := requestCount(before, "GET /healthz", "200"); n != 0 {
		t.Errorf("healthz counted %v times before any request to it", n)
	}

	f.do("GET", "/healthz", "")
	after := f.scrape()
	if n := requestCount(after, "GET /healthz", "200"); n != 1 {
		t.Errorf("healthz counted %v times after one request", n)
	}
	// The first scrape is counted once it has been answered.
	if n := requestCount(after, "GET /metrics", "200"); n != 1 {
		t.Errorf("/metrics counted %v times after one earlier scrape", n)
	}
	if n := requestCount(other.scrape(), "GET /healthz", "200"); n != 0 {
		t.Errorf("another server counts this one's requests: %v", n)
	}
}
