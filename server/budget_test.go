package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
)

// The tests of issue 17 over HTTP: windowed reads (max_tokens, compacted,
// prune_tool_results), the context request's budget and compaction
// records. What a window holds is the store's rule (window.go), tested
// there against a model of it; these check that the API passes the
// parameters on, answers the window as the store describes it, and
// refuses what it cannot mean.

// window is a window as the API answers it.
type window struct {
	Tokens     int64             `json:"tokens"`
	MaxTokens  *int64            `json:"max_tokens"`
	Rounds     int               `json:"rounds"`
	More       bool              `json:"more"`
	Exceeded   bool              `json:"exceeded"`
	Pruned     int               `json:"pruned"`
	Compaction *windowCompaction `json:"compaction"`
	Omitted    *int64            `json:"omitted"`
	OmittedTok *int64            `json:"omitted_tokens"`
}

type windowCompaction struct {
	Through    string `json:"through"`
	CreatedAt  string `json:"created_at"`
	Tokens     int64  `json:"tokens"`
	Summarized bool   `json:"summarized"`
}

// checkWindow decodes a window: every member there, no other, and what
// holds of any window: counts not negative, a budget of at least 1 that
// the tokens keep to unless exceeded, the omitted counts both known or
// both not.
func checkWindow(t *testing.T, what string, raw json.RawMessage) window {
	t.Helper()
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil {
		t.Fatalf("%s: the window is not an object: %s", what, raw)
	}
	for _, name := range []string{"tokens", "max_tokens", "rounds", "more", "exceeded", "pruned", "compaction", "omitted", "omitted_tokens"} {
		if _, ok := members[name]; !ok {
			t.Fatalf("%s: the window has no %q: %s", what, name, raw)
		}
	}
	var w window
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		t.Fatalf("%s: the window: %v: %s", what, err, raw)
	}
	switch {
	case w.Tokens < 0 || w.Rounds < 0 || w.Pruned < 0:
		t.Fatalf("%s: a negative count in the window %s", what, raw)
	case w.MaxTokens != nil && *w.MaxTokens < 1:
		t.Fatalf("%s: a budget below 1 in the window %s", what, raw)
	case w.MaxTokens != nil && !w.Exceeded && w.Tokens > *w.MaxTokens:
		t.Fatalf("%s: over its budget without saying so: %s", what, raw)
	case (w.Omitted == nil) != (w.OmittedTok == nil) || w.Omitted != nil && (*w.Omitted < 0 || *w.OmittedTok < 0):
		t.Fatalf("%s: the omitted counts of the window %s", what, raw)
	case w.Compaction != nil && (w.Compaction.Through == "" || w.Compaction.Tokens <= 0):
		t.Fatalf("%s: the window's compaction: %s", what, raw)
	}
	if c := w.Compaction; c != nil {
		if _, err := time.Parse(time.RFC3339, c.CreatedAt); err != nil {
			t.Fatalf("%s: the compaction's created_at: %v", what, err)
		}
	}
	return w
}

// windowed reads a 200 answer of messages with a window: the messages in
// Haystack's format and the window.
func windowed(t *testing.T, what string, r reply) ([]chat.Message, window) {
	t.Helper()
	if r.code != 200 {
		t.Fatalf("%s: %d %s", what, r.code, r.body)
	}
	msgs, err := chat.UnmarshalList(messagesOf(t, what, r, true))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	var top struct{ Window json.RawMessage }
	json.Unmarshal(r.body, &top)
	return msgs, checkWindow(t, what, top.Window)
}

// errorMessage is the message of an error answer.
func (r reply) errorMessage(t *testing.T) string {
	t.Helper()
	msg, _ := r.json(t)["error"].(map[string]any)["message"].(string)
	return msg
}

func ids(msgs []chat.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i], _ = m.Meta[chatstore.MessageIDKey].(string)
	}
	return out
}

func isSuffix(s, of []string) bool { return len(s) <= len(of) && slices.Equal(s, of[len(of)-len(s):]) }

// budgetConversation is twelve rounds of growing length; every third
// calls a tool whose result (over 200 tokens) pruning may replace. The
// newest round calls none.
func budgetConversation() []chat.Message {
	var msgs []chat.Message
	for i := range 12 {
		msgs = append(msgs, chat.User(fmt.Sprintf("Question %d: %s", i, strings.Repeat("word ", 5+3*i))))
		if i%3 == 1 {
			c := chat.ToolCall{ID: chat.Ptr(fmt.Sprint("call_", i)), ToolName: "search", Arguments: map[string]any{"q": i}}
			msgs = append(msgs, chat.Assistant("", c), chat.Tool(strings.Repeat("result ", 150), c, false))
		}
		msgs = append(msgs, chat.Assistant(fmt.Sprintf("Answer %d.", i)))
	}
	return msgs
}

// TestWindowedReads reads a history with budgets from all of it down to a
// single token: each window keeps to its budget, or says it could not;
// counts what it returns as the store's counter does; is the end of the
// history, and of every larger budget's window; with last_k, is the
// smaller of the two windows; in OpenAI's format, the same.
func TestWindowedReads(t *testing.T) {
	f := newFixture(t, "memory://", nil)
	if r := f.do("POST", messagesPath("b"), body(budgetConversation()...)); r.code != 200 {
		t.Fatalf("write: %d %s", r.code, r.body)
	}
	meter := f.store.Meter()
	read := func(query string) ([]chat.Message, window) {
		t.Helper()
		return windowed(t, query, f.do("GET", messagesPath("b")+"?"+query, ""))
	}
	all, wAll := read("last_k=all")
	allIDs := ids(all)
	if len(all) != 32 || wAll.MaxTokens != nil || wAll.More || wAll.Exceeded || wAll.Rounds != 12 || wAll.Tokens != meter.Count(all, nil) {
		t.Fatalf("without a budget: %d messages, window %+v; the messages count %d", len(all), wAll, meter.Count(all, nil))
	}
	if _, w := read(""); w.Rounds != chatstore.DefaultLastK || !w.More {
		t.Errorf("the store's default last_k: %+v, want %d rounds and more", w, chatstore.DefaultLastK)
	}
	// Budgets from the whole history's tokens down.
	prev, prevRounds := allIDs, wAll.Rounds
	for _, b := range []int64{wAll.Tokens + 100, wAll.Tokens, wAll.Tokens - 1, 600, 300, 150, 80, 40, 20, 5, 1} {
		q := fmt.Sprintf("last_k=all&max_tokens=%d", b)
		got, w := read(q)
		gotIDs := ids(got)
		if w.MaxTokens == nil || *w.MaxTokens != b {
			t.Errorf("%s: max_tokens %v in the window", q, w.MaxTokens)
		}
		if !isSuffix(gotIDs, allIDs) || !isSuffix(gotIDs, prev) {
			t.Errorf("%s: %v is not the end of the history, or of the larger budget's %v", q, gotIDs, prev)
		}
		if w.Tokens != meter.Count(got, nil) || w.Rounds > prevRounds || w.More != (len(got) < len(all)) {
			t.Errorf("%s: window %+v for %d messages counting %d", q, w, len(got), meter.Count(got, nil))
		}
		if w.Omitted == nil || *w.Omitted != int64(len(all)-len(got)) {
			t.Errorf("%s: omitted %v, want %d", q, w.Omitted, len(all)-len(got))
		}
		switch {
		case b >= wAll.Tokens:
			if len(got) != len(all) || w.Exceeded {
				t.Errorf("%s: a budget the whole history fits: %d messages, %+v", q, len(got), w)
			}
		case b == wAll.Tokens-1 && len(got) == len(all):
			t.Errorf("%s: the whole history, one token over the budget", q)
		case w.Exceeded:
			// Not even the newest round fits: its question and its reply.
			if len(got) == 0 || text(got[len(got)-1]) != "Answer 11." || !strings.HasPrefix(text(got[0]), "Question 11:") || w.Tokens <= b {
				t.Errorf("%s: exceeded with %q, %+v", q, gotIDs, w)
			}
		}
		prev, prevRounds = gotIDs, w.Rounds
	}
	if _, w := read("last_k=all&max_tokens=1"); !w.Exceeded {
		t.Errorf("one token: %+v, want exceeded", w)
	}

	// last_k and max_tokens together: the smaller window of the two.
	for _, b := range []int64{wAll.Tokens, 400, 120} {
		_, byBudget := read(fmt.Sprintf("last_k=all&max_tokens=%d", b))
		for _, k := range []int{1, 2, 4, 12} {
			q := fmt.Sprintf("last_k=%d&max_tokens=%d", k, b)
			got, w := read(q)
			want, _ := read(fmt.Sprintf("last_k=%d", k))
			if k > byBudget.Rounds {
				want, _ = read(fmt.Sprintf("last_k=all&max_tokens=%d", b))
			}
			if !slices.Equal(ids(got), ids(want)) || w.Rounds != min(k, byBudget.Rounds) {
				t.Errorf("%s: %v (%d rounds), want %v", q, ids(got), w.Rounds, ids(want))
			}
		}
	}
	if got, w := read("last_k=2"); len(got) != 6 || w.Rounds != 2 || !w.More || w.MaxTokens != nil {
		t.Errorf("last_k=2: %d messages, %+v", len(got), w)
	}

	// OpenAI's format: the same window.
	for _, q := range []string{"last_k=all&max_tokens=300", "last_k=3"} {
		h := f.do("GET", messagesPath("b")+"?"+q, "")
		o := f.do("GET", messagesPath("b")+"?"+q+"&format=openai", "")
		var hw, ow struct {
			Messages []json.RawMessage
			Window   json.RawMessage
		}
		json.Unmarshal(h.body, &hw)
		json.Unmarshal(o.body, &ow)
		if o.code != 200 || !bytes.Equal(hw.Window, ow.Window) || len(hw.Messages) != len(ow.Messages) {
			t.Errorf("%s in OpenAI's format: %d %s, want the window %s", q, o.code, o.body, hw.Window)
		}
	}

	// Pruning: the results of every tool call but the newest, over 200
	// tokens each, become a placeholder that names the tool.
	pruned, w := read("last_k=all&prune_tool_results=true")
	n := 0
	for _, m := range pruned {
		if res, ok := m.ToolCallResult(); ok && strings.Contains(res.Result, "Call `search` again") {
			n++
			if meta, _ := m.Meta[chatstore.CompactionMetaKey].(map[string]any); meta["strategy"] != "tool_result_pruning" {
				t.Errorf("a pruned result's meta: %v", m.Meta)
			}
		}
	}
	if n != 3 || w.Pruned != 3 || w.Tokens >= wAll.Tokens || w.Tokens != meter.Count(pruned, nil) || !slices.Equal(ids(pruned), allIDs) {
		t.Errorf("prune_tool_results: %d placeholders, window %+v", n, w)
	}
	_, small := read("last_k=all&max_tokens=400")
	if _, smallPruned := read("last_k=all&max_tokens=400&prune_tool_results=true"); smallPruned.Rounds < small.Rounds {
		t.Errorf("pruned, the same budget holds %d rounds, unpruned %d", smallPruned.Rounds, small.Rounds)
	}
	// No compaction: compacted=false reads the same.
	if got, w := read("last_k=all&compacted=false"); !slices.Equal(ids(got), allIDs) || w != wAll {
		t.Errorf("compacted=false without a compaction: %v %+v", ids(got), w)
	}
	// A page has no window.
	if r := f.do("GET", messagesPath("b")+"?offset=0&limit=2", ""); len(messagesOf(t, "a page", r, false)) == 0 {
		t.Errorf("a page: %s", r.body)
	}
}

// TestWindowedReadErrors: a budget that is not a whole number ≥ 1, and the
// parameters of a windowed read with a page, are refused, naming the
// parameter and what was given.
func TestWindowedReadErrors(t *testing.T) {
	f := newFixture(t, "memory://", nil)
	f.do("POST", messagesPath("h"), body(conversation()...))
	for _, c := range []struct {
		query   string
		mention []string
	}{
		{"max_tokens=0", []string{"max_tokens", `"0"`}},
		{"max_tokens=-1", []string{"max_tokens", `"-1"`}},
		{"max_tokens=abc", []string{"max_tokens", `"abc"`}},
		{"max_tokens=", []string{"max_tokens", `""`}},
		{"max_tokens=1.5", []string{"max_tokens", `"1.5"`}},
		{"max_tokens=%2B5", []string{"max_tokens", `"+5"`}},
		{"max_tokens=99999999999999999999", []string{"max_tokens"}},
		{"last_k=2&max_tokens=0", []string{"max_tokens"}},
		{"max_tokens=5&max_tokens=6", []string{"max_tokens", "2 times"}},
		{"max_tokens=50&offset=0", []string{"max_tokens", "offset", "last_k"}},
		{"max_tokens=50&offset=0&limit=2", []string{"max_tokens", "offset, limit"}},
		{"compacted=false&after=0&limit=1", []string{"compacted", "after"}},
		{"prune_tool_results=true&newest=true&limit=2", []string{"prune_tool_results", "newest"}},
		{"max_tokens=5&compacted=true&before=3", []string{"max_tokens, compacted", "before"}},
		{"compacted=maybe", []string{"compacted", `"maybe"`}},
		{"prune_tool_results=2", []string{"prune_tool_results", `"2"`}},
		{"max-tokens=5", []string{"max-tokens"}},
	} {
		r := f.do("GET", messagesPath("h")+"?"+c.query, "")
		if r.code != 400 || r.errorCode(t) != "invalid_query" {
			t.Errorf("%s: %d %s, want 400 invalid_query", c.query, r.code, r.body)
			continue
		}
		msg := r.errorMessage(t)
		for _, m := range c.mention {
			if !strings.Contains(msg, m) {
				t.Errorf("%s: %q does not say %s", c.query, msg, m)
			}
		}
	}
}

// summary is a compaction's summary in Haystack's format.
const summary = `{"role":"user","content":[{"text":"Summary: they greeted each other."}]}`

// TestCompactions records compactions and reads through them: the record
// as answered and listed, the one in effect marked; a windowed read that
// starts with the summary, under the id of the last message it stands
// for; compacted=false and pages that read the messages themselves; and
// what is refused.
func TestCompactions(t *testing.T) {
	f := newFixture(t, "memory://", nil)
	f.do("POST", messagesPath("c"), body(conversation()...)) // ids 0 to 5; round one is 0 and 1
	cp := "/v1/histories/c/compactions"
	if r := f.do("GET", cp, ""); r.code != 200 || string(r.body) != `{"compactions":[]}`+"\n" {
		t.Errorf("no compactions: %d %s", r.code, r.body)
	}
	r := f.do("POST", cp, `{"through":"1","summary":`+summary+`}`)
	if r.code != 201 {
		t.Fatalf("compact: %d %s", r.code, r.body)
	}
	var rec struct {
		Through   string          `json:"through"`
		Summary   json.RawMessage `json:"summary"`
		Tokens    int64           `json:"tokens"`
		CreatedAt time.Time       `json:"created_at"`
		InEffect  *bool           `json:"in_effect"`
	}
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rec); err != nil {
		t.Fatalf("compact: %v: %s", err, r.body)
	}
	sum, err := chat.Unmarshal(rec.Summary)
	if err != nil || rec.Through != "1" || sum.Meta[chatstore.MessageIDKey] != "1" || sum.Meta[chatstore.CompactionMetaKey] == nil ||
		text(sum) != "Summary: they greeted each other." || rec.Tokens != f.store.Meter().Count([]chat.Message{sum}, nil) ||
		time.Since(rec.CreatedAt) > time.Minute || rec.InEffect == nil || !*rec.InEffect {
		t.Errorf("compact: %v %s", err, r.body)
	}

	listed := func() (throughs []string, inEffect []bool) {
		t.Helper()
		r := f.do("GET", cp, "")
		var list struct {
			Compactions []struct {
				Through  string `json:"through"`
				InEffect bool   `json:"in_effect"`
			} `json:"compactions"`
		}
		if err := json.Unmarshal(r.body, &list); err != nil || r.code != 200 {
			t.Fatalf("GET compactions: %d %s", r.code, r.body)
		}
		for _, c := range list.Compactions {
			throughs, inEffect = append(throughs, c.Through), append(inEffect, c.InEffect)
		}
		return throughs, inEffect
	}
	if th, in := listed(); !slices.Equal(th, []string{"1"}) || !slices.Equal(in, []bool{true}) {
		t.Errorf("listed: %v %v", th, in)
	}

	// A windowed read starts with the summary, under through's id.
	read := func(query string) ([]chat.Message, window) {
		t.Helper()
		return windowed(t, query, f.do("GET", messagesPath("c")+"?"+query, ""))
	}
	got, w := read("last_k=all")
	if !slices.Equal(ids(got), []string{"1", "2", "3", "4", "5"}) || text(got[0]) != "Summary: they greeted each other." || got[0].Role != chat.RoleUser ||
		w.Compaction == nil || w.Compaction.Through != "1" || !w.Compaction.Summarized || w.More {
		t.Errorf("a windowed read after the compaction: %v %q, %+v", ids(got), text(got[0]), w)
	}
	if got, w := read("last_k=all&compacted=false"); !slices.Equal(ids(got), []string{"0", "1", "2", "3", "4", "5"}) || text(got[1]) != "Hello!" || w.Compaction != nil {
		t.Errorf("compacted=false: %v, %+v", ids(got), w)
	}
	if got := replyMessages(t, f.do("GET", messagesPath("c")+"?offset=0&limit=10", "")); len(got) != 6 || text(got[0]) != "Hi" {
		t.Errorf("a page after the compaction: %v", ids(got))
	}
	o := f.do("GET", messagesPath("c")+"?last_k=all&format=openai", "")
	if o.code != 200 || !strings.HasPrefix(string(o.body), `{"messages":[{"role":"user","content":"Summary: they greeted each other."}`) {
		t.Errorf("in OpenAI's format: %d %s", o.code, o.body)
	}
	// With a budget, the summary joins the round of the reply after it.
	// Omitted are the messages it does not return, 1 too.
	if got, w := read("last_k=all&max_tokens=1000"); len(got) != 5 || w.Rounds != 1 || !w.Compaction.Summarized || w.Omitted == nil || *w.Omitted != 2 {
		t.Errorf("budgeted after the compaction: %v %+v", ids(got), w)
	}

	// One further on, in OpenAI's format, takes over; deleting its through
	// message gives the first back.
	if r := f.do("POST", cp+"?format=openai", `{"through":"4","summary":{"role":"user","content":"Summary: Paris, 22 °C."}}`); r.code != 201 || !strings.Contains(string(r.body), `"summary":{"role":"user","meta":{"chat_message_id":"4","context_compaction":`) {
		t.Errorf("compact in OpenAI's format: %d %s", r.code, r.body)
	}
	if th, in := listed(); !slices.Equal(th, []string{"4", "1"}) || !slices.Equal(in, []bool{true, false}) {
		t.Errorf("two listed: %v %v", th, in)
	}
	if got, _ := read("last_k=all"); !slices.Equal(ids(got), []string{"4", "5"}) || text(got[0]) != "Summary: Paris, 22 °C." {
		t.Errorf("after the second: %v", ids(got))
	}
	f.do("DELETE", messagesPath("c")+"/4", "")
	if th, in := listed(); !slices.Equal(th, []string{"4", "1"}) || !slices.Equal(in, []bool{false, true}) {
		t.Errorf("after deleting 4: %v %v", th, in)
	}

	for _, c := range []struct {
		query, body string
		status      int
		code        string
		mention     string
	}{
		{"", `{"through":"9","summary":` + summary + `}`, 404, "message_not_found", `"9"`},
		{"", `{"through":"4","summary":` + summary + `}`, 404, "message_not_found", `"4"`}, // deleted
		{"", `{"through":"1","summary":{"role":"user","content":[{"text":1}]}}`, 400, "invalid_message", "summary.content[0].text"},
		{"", `{"through":"1","summary":{"role":"bot","content":[{"text":"x"}]}}`, 400, "invalid_message", "summary.role"},
		{"format=openai", `{"through":"1","summary":{"role":"user","content":5}}`, 400, "invalid_message", "summary.content"},
		{"", `{"summary":` + summary + `}`, 400, "invalid_request", "through"},
		{"", `{"through":1,"summary":` + summary + `}`, 400, "invalid_request", "through must be"},
		{"", `{"through":"","summary":` + summary + `}`, 400, "invalid_message_id", ""},
		{"", `{"through":"1"}`, 400, "invalid_request", "summary"},
		{"", `{"through":"1","summary":null}`, 400, "invalid_request", "summary"},
		{"", `{"through":"1","summary":[]}`, 400, "invalid_message", "summary"},
		{"", `{"through":"1","summary":` + summary + `,"extra":1}`, 400, "invalid_request", `"extra"`},
		{"last_k=1", `{"through":"1","summary":` + summary + `}`, 400, "invalid_query", "last_k"},
		{"format=xml", `{"through":"1","summary":` + summary + `}`, 400, "invalid_format", ""},
	} {
		r := f.do("POST", cp+"?"+c.query, c.body)
		if r.code != c.status || r.errorCode(t) != c.code || !strings.Contains(r.errorMessage(t), c.mention) {
			t.Errorf("POST ?%s %s: %d %s, want %d %s naming %s", c.query, c.body, r.code, r.body, c.status, c.code, c.mention)
		}
	}
	if r := f.do("POST", "/v1/histories/none/compactions", `{"through":"0","summary":`+summary+`}`); r.code != 404 || r.errorCode(t) != "message_not_found" {
		t.Errorf("an unknown history: %d %s", r.code, r.body)
	}
	if r := f.do("GET", cp+"?format=openai", ""); r.code != 400 || r.errorCode(t) != "invalid_query" {
		t.Errorf("GET with a parameter: %d %s", r.code, r.body)
	}
	if r := f.do("GET", "/v1/histories/none/compactions", ""); r.code != 200 || string(r.body) != `{"compactions":[]}`+"\n" {
		t.Errorf("an unknown history's: %d %s", r.code, r.body)
	}
}

// TestCompactionsNotSupported: a store without compactions (nor times,
// nor token counts) answers 501 to both routes, reads with a budget all
// the same, and has no tokens for a history.
func TestCompactionsNotSupported(t *testing.T) {
	f := newPlainFixture(t)
	f.do("POST", messagesPath("h"), body(conversation()...))
	for _, c := range [][2]string{{"POST", `{"through":"1","summary":` + summary + `}`}, {"GET", ""}} {
		if r := f.do(c[0], "/v1/histories/h/compactions", c[1]); r.code != 501 || r.errorCode(t) != "not_supported" {
			t.Errorf("%s compactions: %d %s", c[0], r.code, r.body)
		}
	}
	got, w := windowed(t, "budgeted", f.do("GET", messagesPath("h")+"?max_tokens=1000", ""))
	if len(got) != 6 || w.Tokens != f.store.Meter().Count(got, nil) || w.Omitted != nil {
		t.Errorf("budgeted without token counts: %d messages, %+v", len(got), w)
	}
	if r := f.do("GET", "/v1/histories/h", ""); r.code != 200 || !strings.Contains(string(r.body), `"count":6,"tokens":null,`) {
		t.Errorf("a history without token counts: %d %s", r.code, r.body)
	}
}

// TestContextBudget: a context request's budget holds the current
// messages and the tools' allowance with the history: the window counts
// them all and keeps to the budget; the more the allowance, the less
// history, and always its end.
func TestContextBudget(t *testing.T) {
	f := newFixture(t, "memory://", nil)
	f.do("POST", messagesPath("b"), body(budgetConversation()...))
	all := replyMessages(t, f.do("GET", messagesPath("b")+"?last_k=all", ""))
	current := []chat.Message{chat.System("Be brief."), chat.User("And now?")}
	cur, _ := json.Marshal(current)
	count := f.store.Meter().Count(current, nil)
	ask := func(members string) ([]chat.Message, window) {
		t.Helper()
		return windowed(t, members, f.do("POST", "/v1/histories/b/context", `{"current_messages":`+string(cur)+`,"last_k":"all"`+members+`}`))
	}
	got, w := ask("")
	if len(got) != len(all)+2 || w.MaxTokens != nil || w.Tokens <= count {
		t.Errorf("without a budget: %d messages, %+v", len(got), w)
	}
	prev := ids(all)
	for _, tools := range []int64{0, 100, 300, 600} {
		got, w := ask(fmt.Sprintf(`,"max_tokens":800,"tool_tokens":%d`, tools))
		if len(got) < 2 || text(got[0]) != "Be brief." || text(got[len(got)-1]) != "And now?" {
			t.Fatalf("tool_tokens %d: %v", tools, ids(got))
		}
		history := got[1 : len(got)-1]
		if w.MaxTokens == nil || *w.MaxTokens != 800 || (!w.Exceeded && w.Tokens > 800) || w.Tokens < count+tools ||
			!isSuffix(ids(history), ids(all)) || !isSuffix(ids(history), prev) {
			t.Errorf("tool_tokens %d: history %v after %v, %+v", tools, ids(history), prev, w)
		}
		prev = ids(history)
	}
	// A budget the current messages and tools use up: no history, and said.
	if got, w := ask(`,"max_tokens":5,"tool_tokens":null`); len(got) != 2 || !w.Exceeded || w.Omitted != nil || w.Tokens < count {
		t.Errorf("a budget the current messages use up: %v %+v", ids(got), w)
	}
	// prune_tool_results and compacted reach the history read.
	f.do("POST", "/v1/histories/b/compactions", `{"through":"30","summary":`+summary+`}`)
	if got, w := ask(`,"prune_tool_results":true`); len(got) != 4 || text(got[1]) != "Summary: they greeted each other." || w.Compaction == nil {
		t.Errorf("after a compaction: %v %+v", ids(got), w)
	}
	if got, w := ask(`,"compacted":false,"prune_tool_results":true`); len(got) != len(all)+2 || w.Compaction != nil || w.Pruned != 3 {
		t.Errorf("compacted false, pruned: %d messages, %+v", len(got), w)
	}
	for _, c := range []struct{ members, mention string }{
		{`,"max_tokens":0`, "max_tokens"},
		{`,"max_tokens":-5`, "max_tokens"},
		{`,"max_tokens":1.5`, "max_tokens"},
		{`,"max_tokens":"100"`, "max_tokens"},
		{`,"tool_tokens":-1`, "tool_tokens"},
		{`,"tool_tokens":true`, "tool_tokens"},
		{`,"prune_tool_results":"yes"`, "prune_tool_results"},
		{`,"compacted":1`, "compacted"},
		{`,"max_token":100`, `"max_token"`},
	} {
		r := f.do("POST", "/v1/histories/b/context", `{"current_messages":`+string(cur)+c.members+`}`)
		if r.code != 400 || r.errorCode(t) != "invalid_request" || !strings.Contains(r.errorMessage(t), c.mention) {
			t.Errorf("%s: %d %s, want 400 invalid_request naming %s", c.members, r.code, r.body, c.mention)
		}
	}
}

// TestCompactionsTenants: a tenant's compactions are its own; a read-only
// token lists them but may not record one.
func TestCompactionsTenants(t *testing.T) {
	f, acme, globex, ro := newTenantsFixture(t)
	f.do("POST", messagesPath("h"), body(conversation()...), acme...)
	f.do("POST", messagesPath("h"), body(chat.User("globex's")), globex...)
	if r := f.do("POST", "/v1/histories/h/compactions", `{"through":"1","summary":`+summary+`}`, acme...); r.code != 201 {
		t.Fatalf("acme compacts: %d %s", r.code, r.body)
	}
	if r := f.do("GET", "/v1/histories/h/compactions", "", globex...); r.code != 200 || string(r.body) != `{"compactions":[]}`+"\n" {
		t.Errorf("globex sees acme's compactions: %s", r.body)
	}
	if got, w := windowed(t, "globex reads", f.do("GET", messagesPath("h"), "", globex...)); len(got) != 1 || w.Compaction != nil {
		t.Errorf("globex reads %v, %+v", ids(got), w)
	}
	if r := f.do("POST", "/v1/histories/h/compactions", `{"through":"1","summary":`+summary+`}`, globex...); r.code != 404 || r.errorCode(t) != "message_not_found" {
		t.Errorf("globex compacts through acme's message: %d %s", r.code, r.body)
	}
	if r := f.do("GET", "/v1/histories/h/compactions", "", ro...); r.code != 200 || !strings.Contains(string(r.body), `"in_effect":true`) {
		t.Errorf("acme's read-only token lists: %d %s", r.code, r.body)
	}
	if r := f.do("POST", "/v1/histories/h/compactions", `{"through":"2","summary":`+summary+`}`, ro...); r.code != 403 || r.errorCode(t) != "forbidden" {
		t.Errorf("acme's read-only token compacts: %d %s", r.code, r.body)
	}
	for tenant, want := range map[string]int{"acme": 1, "globex": 0} {
		if recs, err := chatstore.Prefixed(f.store, "tenant:"+tenant+":").Compactions(t.Context(), "h"); err != nil || len(recs) != want {
			t.Errorf("%s's records in the store: %v %d, want %d", tenant, err, len(recs), want)
		}
	}
}

// TestOpenAPIBudgets checks the requests and answers of issue 17 against
// openapi.json: windowed reads and their errors, a context request with a
// budget, the compaction routes and theirs, on a store with compactions
// and on one without.
func TestOpenAPIBudgets(t *testing.T) {
	a := loadAPISchemas(t)
	f := newFixture(t, "memory://", nil)
	plain := newPlainFixture(t)
	write := body(budgetConversation()...)
	for _, c := range []struct {
		f                           *fixture
		method, route, target, body string
		status                      int
	}{
		{f, "POST", messagesRoute, messagesPath("h"), write, 200},
		{f, "GET", historyRoute, "/v1/histories/h", "", 200},
		{f, "GET", "/v1/histories", "/v1/histories", "", 200},
		{f, "GET", messagesRoute, messagesPath("h") + "?max_tokens=300", "", 200},
		{f, "GET", messagesRoute, messagesPath("h") + "?max_tokens=1", "", 200},
		{f, "GET", messagesRoute, messagesPath("h") + "?last_k=2&max_tokens=300&format=openai&prune_tool_results=true", "", 200},
		{f, "GET", messagesRoute, messagesPath("h") + "?max_tokens=0", "", 400},
		{f, "GET", messagesRoute, messagesPath("h") + "?max_tokens=10&offset=0", "", 400},
		{f, "GET", compactionsRoute, "/v1/histories/h/compactions", "", 200},
		{f, "POST", compactionsRoute, "/v1/histories/h/compactions", `{"through":"5","summary":` + summary + `}`, 201},
		{f, "POST", compactionsRoute, "/v1/histories/h/compactions?format=openai", `{"through":"9","summary":{"role":"user","content":"Summary."}}`, 201},
		{f, "POST", compactionsRoute, "/v1/histories/h/compactions", `{"through":"99","summary":` + summary + `}`, 404},
		{f, "POST", compactionsRoute, "/v1/histories/h/compactions", `{"through":"5","summary":{"role":"user","content":[{"text":1}]}}`, 400},
		{f, "POST", compactionsRoute, "/v1/histories/h/compactions", `{"through":"5"}`, 400},
		{f, "GET", compactionsRoute, "/v1/histories/h/compactions", "", 200},
		{f, "GET", messagesRoute, messagesPath("h") + "?max_tokens=300", "", 200},
		{f, "GET", messagesRoute, messagesPath("h") + "?compacted=false", "", 200},
		{f, "POST", contextRoute, "/v1/histories/h/context", `{"current_messages":[{"role":"user","content":[{"text":"And now?"}]}],"max_tokens":500,"tool_tokens":100,"prune_tool_results":true,"compacted":false}`, 200},
		{f, "POST", contextRoute, "/v1/histories/h/context", `{"max_tokens":null,"tool_tokens":null,"prune_tool_results":null,"compacted":null}`, 200},
		{f, "POST", contextRoute, "/v1/histories/h/context", `{"max_tokens":0}`, 400},
		{f, "POST", contextRoute, "/v1/histories/h/context", `{"tool_tokens":-1}`, 400},
		{plain, "POST", messagesRoute, messagesPath("h"), write, 200},
		{plain, "GET", historyRoute, "/v1/histories/h", "", 200},
		{plain, "GET", messagesRoute, messagesPath("h") + "?max_tokens=300", "", 200},
		{plain, "GET", compactionsRoute, "/v1/histories/h/compactions", "", 501},
		{plain, "POST", compactionsRoute, "/v1/histories/h/compactions", `{"through":"5","summary":` + summary + `}`, 501},
	} {
		if c.body != "" {
			_, ptr, ok := a.lookup("paths", c.route, strings.ToLower(c.method), "requestBody", "content", "application/json", "schema")
			if !ok {
				t.Fatalf("%s %s has no request body", c.method, c.route)
			}
			// The schema refuses what the server refuses as malformed.
			if err := valid(a.schema(t, ptr), []byte(c.body)); (err == nil) != (c.status != 400) {
				t.Errorf("%s %s: the request validates %v, but the server answers %d: %v", c.method, c.route, err == nil, c.status, err)
			}
		}
		a.send(t, c.f, c.method, c.route, c.target, c.body, c.status)
	}
}
