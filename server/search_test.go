package server

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/driver"
	"github.com/chatstore/chatstore/memstore"
)

type searchReply struct {
	Hits []struct {
		HistoryID string  `json:"chat_history_id"`
		MessageID string  `json:"chat_message_id"`
		Role      string  `json:"role"`
		CreatedAt string  `json:"created_at"`
		Snippet   string  `json:"snippet"`
		Score     float64 `json:"score"`
	} `json:"hits"`
	NextCursor *string `json:"next_cursor"`
}

func searchOf(t *testing.T, r reply) searchReply {
	t.Helper()
	var out searchReply
	if r.code != 200 {
		t.Fatalf("search: %d %s", r.code, r.body)
	}
	if err := json.Unmarshal(r.body, &out); err != nil {
		t.Fatalf("%v: %s", err, r.body)
	}
	return out
}

// TestSearchRoute: GET /v1/search over a store that searches, its hits,
// filters and pages, and what it refuses.
func TestSearchRoute(t *testing.T) {
	f := newFixture(t, "memory://", nil)
	if r := f.do("POST", messagesPath("support/alice"), body(chat.User("My refund failed"), chat.Assistant("Sorry, the refund is on its way"))); r.code != 200 {
		t.Fatalf("%d %s", r.code, r.body)
	}
	if r := f.do("POST", messagesPath("sales/bob"), body(chat.User("What is your refund policy?"))); r.code != 200 {
		t.Fatalf("%d %s", r.code, r.body)
	}
	if r := f.do("PATCH", "/v1/histories/sales%2Fbob", `{"metadata":{"user_id":"bob"}}`); r.code != 200 {
		t.Fatalf("%d %s", r.code, r.body)
	}
	got := searchOf(t, f.do("GET", "/v1/search?q=refund+failed", ""))
	if len(got.Hits) != 1 || got.NextCursor != nil {
		t.Fatalf("%+v", got)
	}
	h := got.Hits[0]
	if h.HistoryID != "support/alice" || h.MessageID != "0" || h.Role != "user" || h.Snippet != "My <mark>refund</mark> <mark>failed</mark>" || h.Score <= 0 || !strings.HasSuffix(h.CreatedAt, "Z") {
		t.Errorf("hit %+v", h)
	}
	// Paging: every hit once.
	var all []string
	target := "/v1/search?q=refund&limit=1"
	for range 10 {
		p := searchOf(t, f.do("GET", target, ""))
		for _, h := range p.Hits {
			all = append(all, h.HistoryID+"/"+h.MessageID)
		}
		if p.NextCursor == nil {
			break
		}
		target = "/v1/search?q=refund&limit=1&cursor=" + url.QueryEscape(*p.NextCursor)
	}
	slices.Sort(all)
	if !slices.Equal(all, []string{"sales/bob/0", "support/alice/0", "support/alice/1"}) {
		t.Errorf("pages: %v", all)
	}
	for q, want := range map[string]int{
		"q=refund&prefix=support%2F":          2,
		"q=refund&role=assistant":             1,
		"q=refund&role=user,assistant":        3,
		"q=refund&metadata%5Buser_id%5D=bob":  1,
		"q=refund&since=2000-01-01T00:00:00Z": 3,
		"q=refund&until=2000-01-01T00:00:00Z": 0,
		"q=refund+-policy&reasoning=true":     2,
		"q=%22refund+policy%22":               1,
	} {
		if got := searchOf(t, f.do("GET", "/v1/search?"+q, "")); len(got.Hits) != want {
			t.Errorf("%s: %d hits, want %d", q, len(got.Hits), want)
		}
	}
	m := f.do("GET", "/metrics", "")
	if !strings.Contains(string(m.body), `chatstore_store_operation_duration_seconds_count{op="search",outcome="ok"}`) ||
		!strings.Contains(string(m.body), `chatstore_http_request_duration_seconds_count{route="GET /v1/search"}`) {
		t.Errorf("/metrics has no search latency")
	}
	for q, code := range map[string]string{
		"":                          "invalid_query",
		"q=":                        "invalid_query",
		"q=-refund":                 "invalid_query",
		"q=r*":                      "invalid_query",
		"q=refund&limit=0":          "invalid_query",
		"q=refund&limit=101":        "invalid_query",
		"q=refund&role=robot":       "invalid_query",
		"q=refund&since=yesterday":  "invalid_query",
		"q=refund&reasoning=yes":    "invalid_query",
		"q=refund&cursor=nope":      "invalid_cursor",
		"q=refund&lang=en":          "invalid_query",
		"q=refund&q=again":          "invalid_query",
		"q=refund&prefix=%00":       "invalid_query",
		"q=refund&metadata%5B%5D=x": "invalid_query",
	} {
		if r := f.do("GET", "/v1/search?"+q, ""); r.code != 400 || r.errorCode(t) != code {
			t.Errorf("%q: %d %s, want 400 %s", q, r.code, r.body, code)
		}
	}
}

// TestSearchTenants: the same words in two tenants; each finds only its own.
func TestSearchTenants(t *testing.T) {
	tokens, err := ParseTokens(strings.NewReader("acme 0123456789abcdef0123\nacme2 fedcba9876543210fedc\n"))
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, "memory://", &Options{Tokens: tokens})
	for _, tok := range []string{"0123456789abcdef0123", "fedcba9876543210fedc"} {
		for _, id := range []string{"a", "b"} {
			if r := f.do("POST", messagesPath(id), body(chat.User("the password is swordfish")), "Authorization", "Bearer "+tok); r.code != 200 {
				t.Fatalf("%d %s", r.code, r.body)
			}
		}
	}
	for _, tok := range []string{"0123456789abcdef0123", "fedcba9876543210fedc"} {
		got := searchOf(t, f.do("GET", "/v1/search?q=swordfish", "", "Authorization", "Bearer "+tok))
		if len(got.Hits) != 2 || got.Hits[0].HistoryID == got.Hits[1].HistoryID || strings.Contains(got.Hits[0].HistoryID, "acme") {
			t.Errorf("tenant %s: %+v", tok[:4], got)
		}
	}
	if r := f.do("GET", "/v1/search?q=swordfish", ""); r.code != 401 {
		t.Errorf("without a token: %d", r.code)
	}
}

// plainDriver is a driver with no optional capability: it does not search,
// keep times, token counts or compactions.
type plainDriver struct{ driver.Store }

// newPlainFixture is a server over an in-memory store without its
// optional capabilities (plainDriver).
func newPlainFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := chatstore.New(plainDriver{memstore.New()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv, err := New(st, &Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, store: st, srv: srv}
}

// TestSearchNotSupported: a store that does not search answers 501 and
// says which do.
func TestSearchNotSupported(t *testing.T) {
	f := newPlainFixture(t)
	r := f.do("GET", "/v1/search?q=refund", "")
	if r.code != 501 || r.errorCode(t) != "not_supported" || !strings.Contains(string(r.body), "SQLite and PostgreSQL") {
		t.Errorf("%d %s", r.code, r.body)
	}
}
