package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/driver"
	"github.com/chatstore/chatstore/memstore"
)

// testClock is a store clock that tests move by hand.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// takeLog returns what was logged since the last take. The tests call
// the server and the sweeper from their own goroutine, so the log is a
// plain buffer.
func takeLog(b *bytes.Buffer) string {
	out := b.String()
	b.Reset()
	return out
}

// expiryFixture is a server over drv (a memory store when nil) whose store
// runs on a clock the test moves, with default TTL ttl, logging to log.
func expiryFixture(t *testing.T, drv driver.Store, ttl time.Duration, opts *Options) (*fixture, *testClock, *bytes.Buffer) {
	t.Helper()
	if drv == nil {
		drv = memstore.New()
	}
	clk := &testClock{now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	st, err := chatstore.New(drv, &chatstore.Options{Clock: clk, TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	o := Options{}
	if opts != nil {
		o = *opts
	}
	log := &bytes.Buffer{}
	o.Logger = slog.New(slog.NewTextHandler(log, nil))
	return &fixture{t: t, store: st, srv: newServerOn(t, st, &o)}, clk, log
}

// errorMessage is the message of an error answer, "" for another.
func errorMessage(r reply) string {
	var v struct{ Error struct{ Message string } }
	json.Unmarshal(r.body, &v)
	return v.Error.Message
}

// stamp is t as the API writes times.
func stamp(t time.Time) string { return t.UTC().Format(chatstore.TimeFormat) }

// expiryOf is a history's "expires_at" and "ttl_seconds" as GET shows them.
func (f *fixture) expiryOf(path string, header ...string) (expiresAt, ttl any) {
	f.t.Helper()
	r := f.do("GET", path, "", header...)
	if r.code != 200 {
		f.t.Fatalf("GET %s: %d %s", path, r.code, r.body)
	}
	v := r.json(f.t)
	return v["expires_at"], v["ttl_seconds"]
}

// TestPatchExpiry: PATCH sets a sliding TTL or a fixed time, null removes
// either, metadata and expiry go in one request, and GET, the listing and
// the PATCH answer show expires_at and ttl_seconds; a write renews a
// sliding expiry, a read does not; past its time a history is gone.
func TestPatchExpiry(t *testing.T) {
	f, clk, _ := expiryFixture(t, nil, 0, nil)
	hp := "/v1/histories/h"
	f.do("POST", messagesPath("h"), body(chat.User("a"), chat.Assistant("b")))
	start := clk.Now()
	if at, ttl := f.expiryOf(hp); at != nil || ttl != nil {
		t.Errorf("no expiry: expires_at %v, ttl_seconds %v", at, ttl)
	}

	r := f.do("PATCH", hp, `{"ttl_seconds":3600}`)
	if r.code != 200 || !strings.Contains(string(r.body), `"expires_at":"`+stamp(start.Add(time.Hour))+`","ttl_seconds":3600,"metadata":{}`) {
		t.Fatalf("PATCH ttl_seconds: %d %s", r.code, r.body)
	}
	if r := f.do("GET", "/v1/histories", ""); !strings.Contains(string(r.body), `"expires_at":"`+stamp(start.Add(time.Hour))+`","ttl_seconds":3600`) {
		t.Errorf("listing: %s", r.body)
	}
	// A write pushes a sliding expiry back; a read does not.
	clk.add(30 * time.Minute)
	f.do("GET", messagesPath("h"), "")
	if at, _ := f.expiryOf(hp); at != stamp(start.Add(time.Hour)) {
		t.Errorf("after a read: expires_at %v", at)
	}
	f.do("POST", messagesPath("h"), body(chat.User("c")))
	if at, _ := f.expiryOf(hp); at != stamp(start.Add(90*time.Minute)) {
		t.Errorf("after a write: expires_at %v, want %s", at, stamp(start.Add(90*time.Minute)))
	}

	// A fixed time, with metadata in the same request.
	fixed := start.Add(48 * time.Hour)
	r = f.do("PATCH", hp, `{"metadata":{"user_id":"u-42"},"expires_at":"`+fixed.Format(time.RFC3339)+`"}`)
	if r.code != 200 || !strings.Contains(string(r.body), `"expires_at":"`+stamp(fixed)+`","ttl_seconds":null,"metadata":{"user_id":"u-42"}`) {
		t.Fatalf("PATCH metadata and expires_at: %d %s", r.code, r.body)
	}
	f.do("POST", messagesPath("h"), body(chat.User("d")))
	if at, _ := f.expiryOf(hp); at != stamp(fixed) {
		t.Errorf("a write moved a fixed expiry: %v", at)
	}
	// null removes the history's own, in either member.
	for _, b := range []string{`{"expires_at":null}`, `{"ttl_seconds":null}`, `{"ttl_seconds":null,"expires_at":null}`} {
		f.do("PATCH", hp, `{"ttl_seconds":60}`)
		if r := f.do("PATCH", hp, b); r.code != 200 || !strings.Contains(string(r.body), `"expires_at":null,"ttl_seconds":null`) {
			t.Errorf("PATCH %s: %d %s", b, r.code, r.body)
		}
	}
	// One member null and the other set: the one set.
	if r := f.do("PATCH", hp, `{"ttl_seconds":null,"expires_at":"`+fixed.Format(time.RFC3339)+`"}`); r.code != 200 || !strings.Contains(string(r.body), `"expires_at":"`+stamp(fixed)+`"`) {
		t.Errorf("null ttl_seconds with expires_at: %d %s", r.code, r.body)
	}

	// A PATCH of an unknown history creates it, with its expiry.
	if r := f.do("PATCH", "/v1/histories/new", `{"ttl_seconds":1}`); r.code != 200 || !strings.Contains(string(r.body), `"count":0`) || !strings.Contains(string(r.body), `"ttl_seconds":1,`) {
		t.Errorf("PATCH of a new history: %d %s", r.code, r.body)
	}
	// Past its time a history is gone for every read.
	clk.add(2 * time.Second)
	if r := f.do("GET", "/v1/histories/new", ""); r.code != 200 || !strings.Contains(string(r.body), `"created_at":null`) {
		t.Errorf("an expired history: %d %s", r.code, r.body)
	}
	if r := f.do("GET", "/v1/histories", ""); strings.Contains(string(r.body), `"new"`) {
		t.Errorf("an expired history is listed: %s", r.body)
	}
	// An expires_at in the past expires the history at once.
	if r := f.do("PATCH", hp, `{"expires_at":"2000-01-01T00:00:00Z"}`); r.code != 200 {
		t.Errorf("PATCH expires_at in the past: %d %s", r.code, r.body)
	}
	if r := f.do("GET", messagesPath("h")+"?last_k=all", ""); r.code != 200 || !strings.HasPrefix(string(r.body), `{"messages":[],`) {
		t.Errorf("messages of a history expired by PATCH: %d %s", r.code, r.body)
	}
}

// TestPatchExpiryRefused: every malformed expiry is a 400 invalid_expiry
// (or invalid_request for the body's shape) that names the member and
// says what it takes, and changes nothing, the metadata of the same
// request included.
func TestPatchExpiryRefused(t *testing.T) {
	f, _, _ := expiryFixture(t, nil, 0, nil)
	hp := "/v1/histories/h"
	f.do("POST", messagesPath("h"), body(chat.User("a")))
	f.do("PATCH", hp, `{"ttl_seconds":600,"metadata":{"k":"v"}}`)
	before := string(f.do("GET", hp, "").body)
	for _, c := range []struct{ body, code, want string }{
		{`{"ttl_seconds":0}`, "invalid_expiry", "ttl_seconds must be a whole number of seconds from 1 to 3153600000"},
		{`{"ttl_seconds":-5}`, "invalid_expiry", "ttl_seconds must be"},
		{`{"ttl_seconds":1.5}`, "invalid_expiry", "got 1.5"},
		{`{"ttl_seconds":1e3}`, "invalid_expiry", "ttl_seconds must be"},
		{`{"ttl_seconds":"60"}`, "invalid_expiry", `got "60"`},
		{`{"ttl_seconds":true}`, "invalid_expiry", "ttl_seconds must be"},
		{`{"ttl_seconds":[60]}`, "invalid_expiry", "ttl_seconds must be"},
		{`{"ttl_seconds":3153600001}`, "invalid_expiry", "ttl_seconds must be"},
		{`{"ttl_seconds":99999999999999999999999999}`, "invalid_expiry", "ttl_seconds must be"},
		{`{"expires_at":"tomorrow"}`, "invalid_expiry", "expires_at must be an RFC 3339 time"},
		{`{"expires_at":"2030-01-31"}`, "invalid_expiry", "expires_at must be an RFC 3339 time"},
		{`{"expires_at":1893456000}`, "invalid_expiry", "expires_at must be an RFC 3339 time"},
		{`{"expires_at":"2030-01-31T00:00:00Z\u0000"}`, "invalid_expiry", "expires_at must be an RFC 3339 time"},
		{`{"expires_at":"1969-12-31T23:59:59Z"}`, "invalid_expiry", "expires_at must be after 1970"},
		{`{"expires_at":"2200-01-01T00:00:00Z"}`, "invalid_expiry", "at most 100 years from now"},
		{`{"expires_at":"` + strings.Repeat("9", 5000) + `"}`, "invalid_expiry", "expires_at must be"},
		{`{"ttl_seconds":60,"expires_at":"2030-01-31T00:00:00Z"}`, "invalid_expiry", "not both"},
		{`{"ttl_seconds":60,"metadata":{"k":1}}`, "invalid_metadata", "metadata.k"},
		{`{"ttl_seconds":0,"metadata":{"k":"changed"}}`, "invalid_expiry", "ttl_seconds"},
		{`{}`, "invalid_request", `needs "metadata" (an object), "ttl_seconds" or "expires_at"`},
		{`{"ttl":60}`, "invalid_request", `"ttl"`},
		{`{"ttl_seconds":60,"ttl_seconds":60}`, "", "ttl_seconds"},
		{`[]`, "", ""},
	} {
		r := f.do("PATCH", hp, c.body)
		if r.code != 400 || c.code != "" && r.errorCode(t) != c.code || !strings.Contains(errorMessage(r), c.want) {
			t.Errorf("PATCH %.80s: %d %s, want 400 %s saying %q", c.body, r.code, r.body, c.code, c.want)
		}
		if after := string(f.do("GET", hp, "").body); after != before {
			t.Errorf("PATCH %.80s changed the history: %s, was %s", c.body, after, before)
		}
	}
}

// TestPatchExpiryNotSupported: over a driver that keeps no expiry, a PATCH
// with an expiry is a 501 that changes nothing, its metadata included; the
// server serves no sweeper.
func TestPatchExpiryNotSupported(t *testing.T) {
	f, _, _ := expiryFixture(t, noExpiry{memstore.New()}, 0, nil)
	if r := f.do("PATCH", "/v1/histories/h", `{"metadata":{"k":"v"},"ttl_seconds":60}`); r.code != 501 || r.errorCode(t) != "not_supported" {
		t.Errorf("PATCH with an expiry: %d %s", r.code, r.body)
	}
	if r := f.do("GET", "/v1/histories/h", ""); !strings.Contains(string(r.body), `"metadata":{}`) {
		t.Errorf("a refused PATCH set the metadata: %s", r.body)
	}
	if r := f.do("PATCH", "/v1/histories/h", `{"metadata":{"k":"v"}}`); r.code != 200 || !strings.Contains(string(r.body), `"expires_at":null,"ttl_seconds":null`) {
		t.Errorf("PATCH of metadata alone: %d %s", r.code, r.body)
	}
	if f.srv.Sweeper(time.Minute, 0) != nil {
		t.Error("a sweeper for a store that keeps no expiry")
	}
	tokens, _ := ParseTokens(strings.NewReader("acme 0123456789abcdef0123 ttl=1d\n"))
	st, _ := chatstore.New(noExpiry{memstore.New()}, nil)
	defer st.Close()
	if _, err := New(st, &Options{Tokens: tokens, Logger: quiet}); !errors.Is(err, chatstore.ErrNotSupported) || !strings.Contains(err.Error(), `tenant "acme" ttl=1d`) {
		t.Errorf("a tenant ttl over a store without expiry: %v", err)
	}
}

// noExpiry is a memory driver without driver.Expirer: the Editor of
// memstore, no more.
type noExpiry struct{ *memstore.Store }

func (noExpiry) Policy()    {} // hides the memstore's, so that noExpiry is no driver.Expirer
func (noExpiry) SetExpiry() {}
func (noExpiry) Sweep()     {}

// TestTenantTTL: a tenant's ttl= in the tokens file is the default TTL of
// its histories only, over the store's; a reload that changes or removes
// it applies from each history's next change; another tenant keeps the
// store's default.
func TestTenantTTL(t *testing.T) {
	const acmeToken, betaToken = "0123456789abcdef0123", "fedcba9876543210fedc"
	tokens, err := ParseTokens(strings.NewReader("acme " + acmeToken + " ttl=1h\nacme aaaaaaaaaaaaaaaaaaaa read-only\nbeta " + betaToken + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	f, clk, _ := expiryFixture(t, nil, 24*time.Hour, &Options{Tokens: tokens})
	acme := []string{"Authorization", "Bearer " + acmeToken}
	beta := []string{"Authorization", "Bearer " + betaToken}
	write := func(auth []string) {
		t.Helper()
		if r := f.do("POST", messagesPath("h"), body(chat.User("x")), auth...); r.code != 200 {
			t.Fatalf("write: %d %s", r.code, r.body)
		}
	}
	write(acme)
	write(beta)
	now := clk.Now()
	if at, ttl := f.expiryOf("/v1/histories/h", acme...); at != stamp(now.Add(time.Hour)) || ttl != nil {
		t.Errorf("acme: expires_at %v, ttl_seconds %v; want the tenant's 1h", at, ttl)
	}
	if at, _ := f.expiryOf("/v1/histories/h", beta...); at != stamp(now.Add(24*time.Hour)) {
		t.Errorf("beta: expires_at %v; want the store's 24h", at)
	}
	// A history's own expiry wins over its tenant's.
	f.do("PATCH", "/v1/histories/own", `{"ttl_seconds":60}`, acme...)
	if at, _ := f.expiryOf("/v1/histories/own", acme...); at != stamp(now.Add(time.Minute)) {
		t.Errorf("acme's own: expires_at %v", at)
	}

	// Reload: acme loses its ttl, beta gains one.
	next, err := ParseTokens(strings.NewReader("acme " + acmeToken + "\nbeta " + betaToken + " ttl=2h\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.srv.SetTokens(next); err != nil {
		t.Fatal(err)
	}
	clk.add(time.Minute)
	write(acme)
	write(beta)
	now = clk.Now()
	if at, _ := f.expiryOf("/v1/histories/h", acme...); at != stamp(now.Add(24*time.Hour)) {
		t.Errorf("acme after the reload: expires_at %v; want the store's 24h", at)
	}
	if at, _ := f.expiryOf("/v1/histories/h", beta...); at != stamp(now.Add(2*time.Hour)) {
		t.Errorf("beta after the reload: expires_at %v; want the tenant's 2h", at)
	}
	// The tenant's TTL expires its histories, not the other's.
	clk.add(3 * time.Hour)
	if r := f.do("GET", "/v1/histories/h", "", beta...); !strings.Contains(string(r.body), `"count":0`) {
		t.Errorf("beta's history after its tenant's TTL: %s", r.body)
	}
	if r := f.do("GET", "/v1/histories/h", "", acme...); !strings.Contains(string(r.body), `"count":2`) {
		t.Errorf("acme's history before the store's TTL: %s", r.body)
	}
}

// TestParseTokensTTL: the ttl= field, its spellings and its errors, each
// naming the line and the field.
func TestParseTokensTTL(t *testing.T) {
	tokens, err := ParseTokens(strings.NewReader(strings.Join([]string{
		"a 0123456789abcdef0001 ttl=30d",
		"a 0123456789abcdef0002 read-only ttl=30d",
		"a 0123456789abcdef0003",
		"b 0123456789abcdef0004 ttl=90m read-only",
		"c 0123456789abcdef0005 ttl=none",
	}, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]time.Duration{"a": 30 * 24 * time.Hour, "b": 90 * time.Minute, "c": 0, "d": 0} {
		if got := tokens.TTL(name); got != want {
			t.Errorf("TTL(%q) = %v, want %v", name, got, want)
		}
	}
	if tn, _ := tokens.Lookup("0123456789abcdef0004"); !tn.ReadOnly {
		t.Error("read-only after ttl= is lost")
	}
	for in, want := range map[string]string{
		"a 0123456789abcdef0001 ttl=soon\n":                                    `line 1: field 3: invalid expiry: ttl "soon": want a duration from 1ms to 36500d`,
		"a 0123456789abcdef0001 ttl=0s\n":                                      `line 1: field 3: invalid expiry: ttl "0s"`,
		"a 0123456789abcdef0001 ttl=\n":                                        `line 1: field 3: invalid expiry: ttl ""`,
		"a 0123456789abcdef0001 ttl=36501d\n":                                  `ttl "36501d"`,
		"a 0123456789abcdef0001 ttl=1d ttl=1d\n":                               `line 1: field 4: "ttl=" is given twice`,
		"a 0123456789abcdef0001 read-only read-only\n":                         `line 1: field 4: "read-only" is given twice`,
		"a 0123456789abcdef0001 readonly\n":                                    `line 1: field 3 must be "read-only" or "ttl=DURATION" (such as ttl=30d), got "readonly"`,
		"a 0123456789abcdef0001 TTL=1d\n":                                      `field 3 must be`,
		"a 0123456789abcdef0001 read-only ttl=1d x\n":                          `got 5 fields`,
		"a 0123456789abcdef0001 ttl=1d\na 0123456789abcdef0002 ttl=2d\n":       `line 2: tenant "a" has ttl=2d here and ttl=1d on line 1`,
		"a 0123456789abcdef0001 ttl=1d\na 0123456789abcdef0002 ttl=none\n":     `line 2: tenant "a" has ttl=none here and ttl=1d on line 1`,
		"a 0123456789abcdef0001 ttl=24h\nb x\na 0123456789abcdef0002 ttl=1d\n": `line 2: token of tenant "b"`,
	} {
		_, err := ParseTokens(strings.NewReader(in))
		if err == nil || !errors.Is(err, ErrTokens) || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
	// The same TTL spelled two ways is one TTL.
	if _, err := ParseTokens(strings.NewReader("a 0123456789abcdef0001 ttl=24h\na 0123456789abcdef0002 ttl=1d\n")); err != nil {
		t.Errorf("24h and 1d: %v", err)
	}
}

// sweepMetrics reads the sweep's series from /metrics: the histories and
// messages expired, the ticks timed and the errors.
func (f *fixture) sweepMetrics() (histories, messages float64, ticks uint64, errs float64) {
	mfs := f.scrape()
	for _, m := range mfs["chatstore_expired_total"].GetMetric() {
		switch m.GetLabel()[0].GetValue() {
		case "histories":
			histories = m.GetCounter().GetValue()
		case "messages":
			messages = m.GetCounter().GetValue()
		}
	}
	if h := mfs["chatstore_sweep_duration_seconds"].GetMetric(); len(h) == 1 {
		ticks = h[0].GetHistogram().GetSampleCount()
	}
	if e := mfs["chatstore_sweep_errors_total"].GetMetric(); len(e) == 1 {
		errs = e[0].GetCounter().GetValue()
	}
	return
}

// TestSweeper: a tick removes expired histories in batches up to its cap
// and leaves the rest to the next; each tick that removed something logs
// one "sweep" line with the counts, an idle tick logs nothing; /metrics
// counts what was removed, the ticks and the failures; a failure is
// logged and counted and the next tick goes on; Run stops with its
// context.
func TestSweeper(t *testing.T) {
	drv := &flakySweep{Store: memstore.New()}
	f, clk, log := expiryFixture(t, drv, time.Hour, nil)
	const n = 250
	for i := range n {
		if _, err := f.store.Write(t.Context(), fmt.Sprint("h", i), []chat.Message{chat.User("q"), chat.Assistant("a")}); err != nil {
			t.Fatal(err)
		}
	}
	f.do("PATCH", "/v1/histories/kept", `{"ttl_seconds":86400}`)
	if f.srv.Sweeper(0, 10) != nil {
		t.Error("a sweeper with interval 0")
	}
	sw := f.srv.Sweeper(time.Minute, 120)

	// Nothing has expired yet: an idle tick, not logged.
	if got, err := sw.sweepOnce(t.Context()); err != nil || got.Histories != 0 {
		t.Fatalf("idle tick: %+v %v", got, err)
	}
	if l := takeLog(log); l != "" {
		t.Errorf("an idle tick logged %q", l)
	}
	clk.add(2 * time.Hour)
	// 250 expired, 120 a tick: 100 + 20, twice, then 10, then none.
	for i, want := range []int64{120, 120, 10, 0} {
		got, err := sw.sweepOnce(t.Context())
		if err != nil || got.Histories != want || got.Messages != 2*want {
			t.Errorf("tick %d: %+v %v, want %d histories", i, got, err, want)
		}
		l := takeLog(log)
		if want > 0 && (strings.Count(l, "\n") != 1 || !strings.Contains(l, fmt.Sprintf("msg=sweep histories=%d messages=%d duration=", want, 2*want))) {
			t.Errorf("tick %d logged %q", i, l)
		}
		if want == 0 && l != "" {
			t.Errorf("tick %d, idle, logged %q", i, l)
		}
	}
	if drv.calls != 1+2+2+1+1 {
		t.Errorf("%d Sweep calls, want 7 (one per tick of 10 or less, two per tick of 120)", drv.calls)
	}
	if h, m, ticks, errs := f.sweepMetrics(); h != n || m != 2*n || ticks != 5 || errs != 0 {
		t.Errorf("metrics: %v histories, %v messages, %d ticks, %v errors", h, m, ticks, errs)
	}
	if r := f.do("GET", "/v1/histories/kept", ""); !strings.Contains(string(r.body), `"ttl_seconds":86400`) {
		t.Errorf("a history that has not expired: %s", r.body)
	}

	// A failing tick is logged as a warning and counted; the next goes on.
	drv.fail = true
	if _, err := sw.sweepOnce(t.Context()); !errors.Is(err, chatstore.ErrUnavailable) {
		t.Errorf("failing tick: %v", err)
	}
	if l := takeLog(log); !strings.Contains(l, "level=WARN msg=sweep histories=0 messages=0") || !strings.Contains(l, "connection refused") {
		t.Errorf("a failing tick logged %q", l)
	}
	drv.fail = false
	if _, err := sw.sweepOnce(t.Context()); err != nil {
		t.Errorf("the tick after a failure: %v", err)
	}
	if _, _, ticks, errs := f.sweepMetrics(); ticks != 7 || errs != 1 {
		t.Errorf("after a failure: %d ticks, %v errors", ticks, errs)
	}

	// Run returns when its context is done.
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		f.srv.Sweeper(time.Hour, 0).Run(ctx)
		close(done)
	}()
	cancel()
	<-done
}

// flakySweep is a memory driver that counts its sweeps and fails them
// when told to.
type flakySweep struct {
	*memstore.Store
	calls int
	fail  bool
}

func (d *flakySweep) Sweep(ctx context.Context, now int64, limit int) (driver.Swept, error) {
	d.calls++
	if d.fail {
		return driver.Swept{}, errDown
	}
	return d.Store.Sweep(ctx, now, limit)
}

// FuzzPatchHistory sends any body to PATCH /v1/histories/{id}: the answer
// is a 200 with the history, expires_at and ttl_seconds as the API
// describes them, or an error of the API's shape, never a 5xx; a refused
// PATCH changes nothing.
func FuzzPatchHistory(f *testing.F) {
	srv, st := newTestServer(f, "memory://", &Options{MaxBodyBytes: fuzzMaxBody})
	ctx := context.Background()
	for _, b := range []string{
		`{"ttl_seconds":60}`, `{"ttl_seconds":null}`, `{"expires_at":"2100-01-01T00:00:00Z"}`, `{"expires_at":null}`,
		`{"expires_at":"2000-01-01T00:00:00.123456789+05:30"}`, `{"ttl_seconds":3153600000}`, `{"ttl_seconds":3153600001}`,
		`{"ttl_seconds":1,"expires_at":null}`, `{"ttl_seconds":1,"expires_at":"2100-01-01T00:00:00Z"}`,
		`{"metadata":{"k":"v"},"ttl_seconds":5}`, `{"metadata":{"k":1},"ttl_seconds":5}`, `{"ttl_seconds":-1}`,
		`{"ttl_seconds":0.5}`, `{"ttl_seconds":"5"}`, `{"expires_at":5}`, `{"expires_at":"9999-12-31T23:59:59Z"}`,
		`{"expires_at":"0001-01-01T00:00:00Z"}`, `{"expires_at":"1970-01-01T00:00:00.001Z"}`, `{}`, `[]`, `null`, `{`, ``,
	} {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		// A history with a fixed expiry far ahead, so that nothing the fuzzer
		// sets makes the next one refuse less.
		if _, err := st.SetExpiry(ctx, "h", chatstore.Expiry{At: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)}); err != nil {
			t.Fatal(err)
		}
		before, _, _ := st.Info(ctx, "h")
		r := send(srv, "PATCH", "/v1/histories/h", "", body)
		what := fmt.Sprintf("PATCH with %q", body)
		if !checkAnswer(t, what, r) {
			if after, _, _ := st.Info(ctx, "h"); !after.ExpiresAt.Equal(before.ExpiresAt) || !after.UpdatedAt.Equal(before.UpdatedAt) {
				t.Fatalf("%s: answered %d and the history changed: %+v, was %+v", what, r.code, after, before)
			}
			return
		}
		var h struct {
			ExpiresAt *string  `json:"expires_at"`
			TTL       *float64 `json:"ttl_seconds"`
		}
		if err := json.Unmarshal(r.body, &h); err != nil || r.code != 200 {
			t.Fatalf("%s: %d %s", what, r.code, r.body)
		}
		if h.ExpiresAt != nil {
			if at, err := time.Parse(time.RFC3339, *h.ExpiresAt); err != nil || *h.ExpiresAt != stamp(at) {
				t.Fatalf("%s: expires_at %q is not in the API's format", what, *h.ExpiresAt)
			}
		}
		if h.TTL != nil && (*h.TTL < 1 || *h.TTL != float64(int64(*h.TTL))) {
			t.Fatalf("%s: ttl_seconds %v", what, *h.TTL)
		}
	})
}
