package main

// TestCrossOriginBrowser runs the probe's browser attacks on the real
// binary in a real headless Chromium (CHATSTORE_TEST_CHROMIUM): a page of
// another loopback origin that writes and deletes with simple requests,
// and a DNS-rebound name that resolves to the server. The probe found a
// page's no-cors POST of a Blob (no Content-Type) stored, and a foreign
// Host served.

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/chatstore/chatstore/internal/testenv"
)

// attackPage is served by the attacker's server. Every attempt reports
// whether the browser sent it and got an answer (opaque to the page, in
// no-cors mode) or refused to send it.
const attackPage = `<!doctype html>
<title>attacker</title>
<script>
const target = %q;
const body = JSON.stringify({messages: [{role: "user", content: [{text: "pwned"}]}]});
async function attempt(name, url, init) {
	try {
		const r = await fetch(url, init);
		return name + ": answered (" + r.type + ")";
	} catch (e) {
		return name + ": not sent (" + e.name + ")";
	}
}
window.attack = (async () => {
	const write = target + "/v1/histories/victim/messages";
	const results = [
		await attempt("blob", write, {method: "POST", mode: "no-cors", body: new Blob([body])}),
		await attempt("text/plain", write, {method: "POST", mode: "no-cors", body: new Blob([body], {type: "text/plain"})}),
		await attempt("json type in no-cors", write, {method: "POST", mode: "no-cors", headers: {"Content-Type": "application/json"}, body: body}),
		await attempt("delete no-cors", target + "/v1/histories", {method: "DELETE", mode: "no-cors"}),
		await attempt("delete cors", target + "/v1/histories", {method: "DELETE"}),
		await attempt("json cors", write, {method: "POST", headers: {"Content-Type": "application/json"}, body: body}),
	];
	document.title = "done";
	return results;
})();
</script>
`

// wantAttack is what the page reports: the three simple POSTs reach the
// server; the browser itself refuses DELETE in no-cors mode and, after a
// preflight the server does not approve, the two CORS requests.
var wantAttack = []string{
	"blob: answered (opaque)",
	"text/plain: answered (opaque)",
	"json type in no-cors: answered (opaque)",
	"delete no-cors: not sent (TypeError)",
	"delete cors: not sent (TypeError)",
	"json cors: not sent (TypeError)",
}

// netRecord is what DevTools saw of one request.
type netRecord struct {
	method, url string
	headers     network.Headers // as sent on the wire
	status      int64           // 0: no answer
	failed      string
}

// netLog collects DevTools network events by request.
type netLog struct {
	mu   sync.Mutex
	reqs map[network.RequestID]*netRecord
}

func (l *netLog) record(ev any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	get := func(id network.RequestID) *netRecord {
		r, ok := l.reqs[id]
		if !ok {
			r = &netRecord{}
			l.reqs[id] = r
		}
		return r
	}
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		r := get(ev.RequestID)
		r.method, r.url = ev.Request.Method, ev.Request.URL
	case *network.EventRequestWillBeSentExtraInfo:
		get(ev.RequestID).headers = ev.Headers
	case *network.EventResponseReceivedExtraInfo:
		get(ev.RequestID).status = ev.StatusCode
	case *network.EventResponseReceived:
		if r := get(ev.RequestID); r.status == 0 {
			r.status = ev.Response.Status
		}
	case *network.EventLoadingFailed:
		get(ev.RequestID).failed = ev.ErrorText
	}
}

// answered returns the requests with method to a URL starting with prefix
// that got an answer, by request id.
func (l *netLog) answered(method, prefix string) map[network.RequestID]netRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[network.RequestID]netRecord{}
	for id, r := range l.reqs {
		if r.method == method && strings.HasPrefix(r.url, prefix) && r.status != 0 {
			out[id] = *r
		}
	}
	return out
}

func TestCrossOriginBrowser(t *testing.T) {
	bin := testenv.Get(t, "CHATSTORE_TEST_CHROMIUM", "/usr/bin/chromium")
	p := serve(t, "--store", "sqlite:"+filepath.Join(t.TempDir(), "chat.db"))
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(p.base, "http://"))

	// A history to attack and one more, and what the API says of them.
	for _, s := range []struct{ path, body string }{
		{"/v1/histories/victim/messages", `{"messages":[` + msg("user", "mine") + `,` + msg("assistant", "yours") + `]}`},
		{"/v1/histories/bystander/messages", `{"messages":[` + msg("user", "keep me") + `]}`},
	} {
		if a := p.call("POST", s.path, s.body); a.status != 200 {
			t.Fatalf("seeding %s: %d %s", s.path, a.status, a.body)
		}
	}
	snapshot := func() []string {
		var out []string
		for _, path := range []string{"/v1/histories", "/v1/histories/victim/messages?last_k=all", "/v1/histories/bystander/messages?last_k=all"} {
			a := p.call("GET", path, "")
			if a.status != 200 {
				t.Fatalf("GET %s: %d %s", path, a.status, a.body)
			}
			out = append(out, a.body)
		}
		return out
	}
	before := snapshot()
	// unchanged checks that nothing was written or deleted.
	unchanged := func(when string) {
		t.Helper()
		after := snapshot()
		for i := range before {
			if after[i] != before[i] {
				t.Errorf("%s, the histories changed:\nbefore: %s\nafter:  %s", when, clip(before[i], 1000), clip(after[i], 1000))
			}
		}
	}
	if !strings.Contains(before[0], `"chat_history_id":"victim","count":2`) || !strings.Contains(before[0], `"chat_history_id":"bystander","count":1`) {
		t.Fatalf("the seed is not what the test expects: %s", before[0])
	}

	// The attacker's server, on another loopback port.
	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, attackPage, p.base)
	}))
	t.Cleanup(attacker.Close)
	_, attackerPort, _ := net.SplitHostPort(strings.TrimPrefix(attacker.URL, "http://"))

	// Chromium resolves rebound.example to loopback, as DNS rebinding
	// makes a victim's browser do.
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.NoSandbox, // root in CI
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("host-resolver-rules", "MAP rebound.example 127.0.0.1"),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	log := &netLog{reqs: map[network.RequestID]*netRecord{}}
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithListener(log.record))
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}

	// The attack page from two origins: 127.0.0.1 on another port (the
	// same site, another origin) and localhost (another site).
	for _, origin := range []string{"http://127.0.0.1:" + attackerPort, "http://localhost:" + attackerPort} {
		if err := chromedp.Do(ctx, chromedp.Navigate(origin+"/attack.html")); err != nil {
			t.Fatalf("opening the attack page on %s: %v", origin, err)
		}
		got, err := chromedp.Run(ctx, chromedp.Evaluate[[]string]("window.attack", chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("the attack page on %s: %v", origin, err)
		}
		if !slices.Equal(got, wantAttack) {
			t.Errorf("the attack page on %s reports\n%q\nwant\n%q", origin, got, wantAttack)
		}
		t.Logf("attack page on %s: %q", origin, got)
	}

	// Every write the browser sent reached the server and was refused,
	// whatever its Content-Type. (DevTools keeps no body of an opaque
	// answer; without tokens only the cross-origin and Host checks answer
	// 403, and the Host here is the server's own.)
	writes := log.answered("POST", p.base+"/v1/histories/victim/messages")
	if len(writes) != 6 {
		t.Errorf("DevTools saw %d answered POSTs to the victim, want 6 (3 from each origin)", len(writes))
	}
	for _, r := range writes {
		site := headerValue(r.headers, "Sec-Fetch-Site")
		ctype := headerValue(r.headers, "Content-Type")
		if r.status != 403 {
			t.Errorf("POST from a page (Sec-Fetch-Site %q, Content-Type %q): %d, want 403", site, ctype, r.status)
		}
		if site != "same-site" && site != "cross-site" {
			t.Errorf("POST from another origin went with Sec-Fetch-Site %q", site)
		}
		t.Logf("POST from a page, Sec-Fetch-Site %s, Content-Type %q: %d", site, ctype, r.status)
	}
	if n := len(log.answered("DELETE", p.base)); n != 0 {
		t.Errorf("DevTools saw %d DELETEs to the server answered", n)
	}

	// DNS rebinding: rebound.example now resolves to the server, so a page
	// of that name is same-origin with it and may send JSON. The server
	// serves no such Host.
	rebound := "http://rebound.example:" + port
	resp, err := chromedp.RunResponse(ctx, chromedp.Navigate(rebound+"/"))
	if err != nil {
		t.Fatalf("opening %s: %v", rebound, err)
	}
	if resp.Status != 403 {
		t.Errorf("the web page under a rebound name: %d, want 403", resp.Status)
	}
	type fetched struct {
		Status int
		Body   string
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[fetched](`fetch("/v1/histories/victim/messages", {
		method: "POST", headers: {"Content-Type": "application/json"},
		body: JSON.stringify({messages: [{role: "user", content: [{text: "rebound"}]}]}),
	}).then(async r => ({Status: r.status, Body: await r.text()}))`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("a same-origin write under %s: %v", rebound, err)
	}
	if got.Status != 403 || !strings.Contains(got.Body, `"code":"forbidden_host"`) {
		t.Errorf("a same-origin JSON write under %s: %d %s, want 403 forbidden_host", rebound, got.Status, got.Body)
	}
	t.Logf("under %s: the page %d, a same-origin JSON write %d %.60s…", rebound, resp.Status, got.Status, got.Body)
	got, err = chromedp.Run(ctx, chromedp.Evaluate[fetched](`fetch("/v1/histories/victim/messages?last_k=all").then(async r => ({Status: r.status, Body: await r.text()}))`, chromedp.EvalAwaitPromise))
	if err != nil || got.Status != 403 || strings.Contains(got.Body, "mine") {
		t.Errorf("a same-origin read under %s: %d %.200s %v, want 403 and not the history", rebound, got.Status, got.Body, err)
	}

	unchanged("after the browser's attempts")

	// And without a browser: any request for a foreign Host is refused,
	// a valid write included.
	addr := strings.TrimPrefix(p.base, "http://")
	write := `{"messages":[` + msg("user", "rebound") + `]}`
	for _, raw := range []string{
		"GET /v1/histories HTTP/1.1\r\nHost: rebound.example\r\nConnection: close\r\n\r\n",
		"GET /v1/histories/victim/messages HTTP/1.1\r\nHost: rebound.example:" + port + "\r\nConnection: close\r\n\r\n",
		fmt.Sprintf("POST /v1/histories/victim/messages HTTP/1.1\r\nHost: rebound.example\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(write), write),
		"DELETE /v1/histories HTTP/1.1\r\nHost: rebound.example\r\nConnection: close\r\n\r\n",
	} {
		a, err := exchange(addr, hostile{raw: raw})
		if err != nil {
			t.Errorf("%q: %v", clip(raw, 80), err)
			continue
		}
		if a.status != 403 || !strings.Contains(a.body, `"code":"forbidden_host"`) {
			t.Errorf("%q: %d %s, want 403 forbidden_host", clip(raw, 80), a.status, a.body)
		}
	}

	unchanged("after the requests for a foreign Host")
}

// headerValue finds a header in DevTools' headers, whose names may come in
// any case.
func headerValue(h network.Headers, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			s, _ := v.(string)
			return s
		}
	}
	return ""
}
