package storetest

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/driver"
	"github.com/chatstore/chatstore/tokens"
)

// haystackCount is Haystack's ApproximateTokenCounter with its defaults,
// counting msgs rendered together: the independent measure every token
// number of the store is checked against (the store measures messages one
// at a time when they are written and adds their costs up).
func haystackCount(t *testing.T, msgs []chat.Message) int64 {
	t.Helper()
	c, err := tokens.NewApproximate(nil)
	if err != nil {
		t.Fatal(err)
	}
	return int64(c.Count(msgs, nil))
}

// costStore returns a store whose driver keeps costs and compactions, or
// skips.
func (s suite) costStore(t *testing.T, c *clock) *chatstore.Store {
	t.Helper()
	st, ok := s.editStore(t, c)
	if !ok {
		t.Skip("the driver has no driver.Editor")
	}
	return st
}

// randomTalk is a conversation of every kind of message, with texts of
// random lengths (some long enough to be pruned) and images and files.
func randomTalk(r *rand.Rand, n int, prefix string) []chat.Message {
	text := func() string {
		words := []string{"hello", "world", "ünïcödé", "数据", "the", "budget", "tool", "🙂", "\n"}
		var b strings.Builder
		for range 1 + r.IntN(40)*(1+r.IntN(8)) {
			b.WriteString(words[r.IntN(len(words))])
			b.WriteByte(' ')
		}
		return b.String()
	}
	msgs := make([]chat.Message, 0, n)
	for i := range n {
		tag := prefix + strconv.Itoa(i)
		call := chat.ToolCall{ToolName: "search", ID: chat.Ptr("c" + tag), Arguments: map[string]any{"q": text()}}
		var m chat.Message
		switch r.IntN(8) {
		case 0, 1:
			m = chat.User(text())
		case 2:
			m = chat.Assistant("", call)
		case 3:
			m = chat.Tool(text(), call, r.IntN(4) == 0)
		case 4:
			m = chat.Assistant(text())
		case 5:
			m = chat.System(text())
		case 6:
			m, _ = chat.UserParts(chat.Text{Text: text()}, chat.Image{Base64Image: "iVBORw0KGgo=", MimeType: "image/png"})
		default:
			m = chat.Assistant(text()).WithReasoning(text())
		}
		msgs = append(msgs, m.WithMeta("tag", tag).WithMeta(chatstore.MessageIDKey, tag))
	}
	return msgs
}

// fullRead reads every message of a history, uncompacted.
func fullRead(t *testing.T, st *chatstore.Store, id string) []chat.Message {
	t.Helper()
	msgs, err := st.Read(ctx(t), id, chatstore.ReadOptions{LastK: chatstore.All, Uncompacted: true})
	if err != nil {
		t.Fatalf("read %s: %v", id, err)
	}
	return msgs
}

// checkTokens checks that a history's tokens, from Info and from listings,
// are Haystack's count of what a full read returns.
func checkTokens(t *testing.T, st *chatstore.Store, id string) {
	t.Helper()
	want := haystackCount(t, fullRead(t, st, id))
	info, _, err := st.Info(ctx(t), id)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.Driver().(driver.Coster); !ok {
		want = -1
	}
	if info.Tokens != want {
		t.Errorf("history %s: Info says %d tokens, Haystack counts %d", id, info.Tokens, want)
	}
	for _, order := range []chatstore.ListOrder{chatstore.ByID, chatstore.ByUpdated} {
		page, err := st.List(ctx(t), chatstore.ListOptions{Prefix: id, Order: order, Limit: chatstore.MaxListLimit})
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range page.Histories {
			if h.ID == id && h.Tokens != want {
				t.Errorf("history %s: listed (order %d) with %d tokens, Haystack counts %d", id, order, h.Tokens, want)
			}
		}
	}
}

// testTokens: a history's tokens follow every change of it.
func (s suite) testTokens(t *testing.T) {
	st := s.costStore(t, newClock())
	r := rand.New(rand.NewPCG(7, 7))
	msgs := randomTalk(r, 60, "m")
	for i := 0; i < len(msgs); i += 7 {
		write(t, st, "h", msgs[i:min(i+7, len(msgs))]...)
	}
	checkTokens(t, st, "h")
	if err := st.DeleteMessage(ctx(t), "h", "m13"); err != nil {
		t.Fatal(err)
	}
	checkTokens(t, st, "h")
	if _, err := st.Fork(ctx(t), "h", "h-fork", "m40"); err != nil {
		t.Fatal(err)
	}
	checkTokens(t, st, "h-fork")
	if _, err := st.Truncate(ctx(t), "h", "m30"); err != nil {
		t.Fatal(err)
	}
	checkTokens(t, st, "h")
	checkTokens(t, st, "h-fork")
	write(t, st, "h", randomTalk(r, 5, "n")...)
	checkTokens(t, st, "h")
	if err := st.Delete(ctx(t), "h"); err != nil {
		t.Fatal(err)
	}
	if info, _, err := st.Info(ctx(t), "h"); err != nil || info.Tokens > 0 {
		t.Errorf("a deleted history: %d tokens, %v", info.Tokens, err)
	}
	// Metadata alone creates a history of no tokens.
	v := "v"
	info, err := st.SetMetadata(ctx(t), "empty", map[string]*string{"k": &v})
	if err != nil || info.Tokens != 0 {
		t.Errorf("a history of metadata only: %d tokens, %v", info.Tokens, err)
	}
}

// modelRound is a round of the model: indices into the view, oldest first.
type modelRound []int

// modelRounds groups a view's messages into rounds as Haystack's last_k
// does, written forwards from the definition (a reply or a system message
// ends a round; a system message is a round by itself; messages that join
// belong to the next reply's round; those after the last reply form the
// open round), newest round first: the open round, then the rounds of the
// replies and system messages by the position of the message that ends
// them.
func modelRounds(view []chat.Message) []modelRound {
	var (
		closed []modelRound // by position of their closer, oldest first
		open   modelRound
	)
	for i, m := range view {
		switch chatstore.Classify(m) {
		case driver.Alone:
			closed = append(closed, modelRound{i})
		case driver.Closes:
			closed = append(closed, append(open, i))
			open = nil
		default:
			open = append(open, i)
		}
	}
	var out []modelRound
	if len(open) > 0 {
		out = append(out, open)
	}
	for i := len(closed) - 1; i >= 0; i-- {
		out = append(out, closed[i])
	}
	return out
}

// modelWindow is the window rule of package chatstore written again: the
// newest whole rounds of view, at most k, whose messages Haystack counts
// within budget (0: no budget); if the newest does not fit, its latest
// user task and the newest agent steps that fit with it, at least one.
// It returns indices into view, oldest first, and whether it overran.
func modelWindow(t *testing.T, view []chat.Message, k int, budget int64) ([]int, bool) {
	rounds := modelRounds(view)
	var taken []int
	pick := func(idx []int) []chat.Message {
		sorted := slices.Sorted(slices.Values(idx))
		out := make([]chat.Message, len(sorted))
		for i, j := range sorted {
			out[i] = view[j]
		}
		return out
	}
	for n, r := range rounds {
		if n == k {
			break
		}
		try := append(slices.Clone(taken), r...)
		if budget > 0 && haystackCount(t, pick(try)) > budget {
			if n == 0 {
				return overrunModel(t, view, r, budget), true
			}
			break
		}
		taken = try
	}
	slices.Sort(taken)
	return taken, false
}

func overrunModel(t *testing.T, view []chat.Message, r modelRound, budget int64) []int {
	if len(r) == 1 && view[r[0]].Role == chat.RoleSystem {
		return r
	}
	task := -1
	for i := len(r) - 1; i >= 0; i-- {
		if m := view[r[i]]; m.Role == chat.RoleUser {
			if _, made := m.Meta[chatstore.CompactionMetaKey]; !made {
				task = i
				break
			}
		}
	}
	var steps [][]int
	for i := task + 1; i < len(r); i++ {
		if view[r[i]].Role != chat.RoleAssistant {
			continue
		}
		step := []int{r[i]}
		for i+1 < len(r) && len(view[r[i+1]].ToolCallResults()) > 0 {
			i++
			step = append(step, r[i])
		}
		steps = append(steps, step)
	}
	var keep []int
	if task >= 0 {
		keep = append(keep, r[task])
	}
	for n := len(steps) - 1; n >= 0; n-- {
		try := append(slices.Clone(keep), steps[n]...)
		slices.Sort(try)
		msgs := make([]chat.Message, len(try))
		for i, j := range try {
			msgs[i] = view[j]
		}
		if n < len(steps)-1 && haystackCount(t, msgs) > budget {
			break
		}
		keep = try
	}
	slices.Sort(keep)
	return keep
}

// testBudgetModel: budgeted windows of random conversations, compared with
// modelWindow, for many budgets and round limits, with and without a
// compaction.
func (s suite) testBudgetModel(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 17))
	for iter := range 12 {
		st := s.costStore(t, newClock())
		msgs := randomTalk(r, 10+r.IntN(60), "m")
		for i := 0; i < len(msgs); {
			j := min(len(msgs), i+1+r.IntN(6))
			write(t, st, "h", msgs[i:j]...)
			i = j
		}
		view := fullRead(t, st, "h")
		total := haystackCount(t, view)
		var comp *chatstore.Compaction
		if iter%3 == 2 && len(view) > 4 {
			through := view[r.IntN(len(view)-2)]
			id, _ := through.Meta[chatstore.MessageIDKey].(string)
			c, err := st.Compact(ctx(t), "h", id, chat.User("<conversation_summary>\nearlier talk\n</conversation_summary>"))
			if err != nil {
				t.Fatal(err)
			}
			comp = &c
			// The view: the summary where its message stood, then what
			// came after.
			at := slices.IndexFunc(view, func(m chat.Message) bool { return m.Meta[chatstore.MessageIDKey] == id })
			view = append([]chat.Message{c.Summary}, view[at+1:]...)
		}
		for _, k := range []int{1, 2, 3, 5, 8, chatstore.All} {
			for _, budget := range []int64{0, 1, 10, 40, 100, 250, total / 3, total / 2, total, total * 2} {
				var win chatstore.Window
				got, err := st.Read(ctx(t), "h", chatstore.ReadOptions{LastK: k, MaxTokens: budget, Window: &win})
				if err != nil {
					t.Fatalf("iteration %d, last_k %d, max_tokens %d: %v", iter, k, budget, err)
				}
				wantIdx, overran := modelWindow(t, view, k, budget)
				want := make([]string, len(wantIdx))
				for i, j := range wantIdx {
					want[i], _ = view[j].Meta["tag"].(string)
				}
				what := fmt.Sprintf("iteration %d (%d messages, %d tokens, compaction %v), last_k %d, max_tokens %d", iter, len(view), total, comp != nil, k, budget)
				if g := tags(got); !slices.Equal(g, want) {
					var kinds []string
					for _, m := range view {
						kinds = append(kinds, fmt.Sprintf("%v:%s/%d", m.Meta["tag"], m.Role, chatstore.Classify(m)))
					}
					t.Fatalf("%s:\n got  %v\n want %v\n view %v", what, g, want, kinds)
				}
				if n := haystackCount(t, got); win.Tokens != n {
					t.Errorf("%s: the window says %d tokens, Haystack counts %d", what, win.Tokens, n)
				}
				if win.Exceeded != overran || (!overran && budget > 0 && win.Tokens > budget) {
					t.Errorf("%s: exceeded %v (model %v), %d tokens", what, win.Exceeded, overran, win.Tokens)
				}
				if more := len(got) < len(view); win.More != more {
					t.Errorf("%s: more %v, want %v", what, win.More, more)
				}
				if comp != nil && (win.Compaction == nil || win.Summarized != (len(got) > 0 && got[0].Meta["tag"] == nil)) {
					t.Errorf("%s: compaction %+v, summarized %v", what, win.Compaction, win.Summarized)
				}
			}
		}
	}
}

// summaryOf is a summary message of a test.
func summaryOf(text string) chat.Message {
	return chat.User("<conversation_summary>\n" + text + "\n</conversation_summary>")
}

// numbered writes n user/assistant pairs u0 a0 u1 a1 … to a history.
func numbered(t *testing.T, st *chatstore.Store, id string, from, n int) {
	t.Helper()
	var msgs []chat.Message
	for i := from; i < from+n; i++ {
		u, a := "u"+strconv.Itoa(i), "a"+strconv.Itoa(i)
		msgs = append(msgs,
			chat.User(u).WithMeta(chatstore.MessageIDKey, u).WithMeta("tag", u),
			chat.Assistant(a).WithMeta(chatstore.MessageIDKey, a).WithMeta("tag", a))
	}
	write(t, st, id, msgs...)
}

// windowTags reads a history's default window and names its messages by
// tag, the summary as "S:" and its text.
func windowTags(t *testing.T, st *chatstore.Store, id string, o chatstore.ReadOptions) []string {
	t.Helper()
	if o.LastK == 0 {
		o.LastK = chatstore.All
	}
	msgs, err := st.Read(ctx(t), id, o)
	if err != nil {
		t.Fatalf("read %s: %v", id, err)
	}
	out := make([]string, len(msgs))
	for i, m := range msgs {
		if tag, ok := m.Meta["tag"].(string); ok {
			out[i] = tag
			continue
		}
		text, _ := m.Text()
		out[i] = "S:" + strings.TrimSuffix(strings.TrimPrefix(text, "<conversation_summary>\n"), "\n</conversation_summary>")
	}
	return out
}

func compact(t *testing.T, st *chatstore.Store, id, through, text string) chatstore.Compaction {
	t.Helper()
	c, err := st.Compact(ctx(t), id, through, summaryOf(text))
	if err != nil {
		t.Fatalf("compact %s through %s: %v", id, through, err)
	}
	return c
}

// testCompactions: which compaction reads use, and what becomes of it when
// the messages it covers change.
func (s suite) testCompactions(t *testing.T) {
	st := s.costStore(t, newClock())
	numbered(t, st, "h", 0, 4) // u0 a0 … u3 a3
	c := compact(t, st, "h", "a1", "one")
	if c.Through != "a1" || c.Summary.Meta[chatstore.MessageIDKey] != "a1" || c.Tokens != haystackCount(t, []chat.Message{summaryOf("one")}) {
		t.Errorf("the compaction recorded: %+v", c)
	}
	if mark, ok := c.Summary.Meta[chatstore.CompactionMetaKey].(map[string]any); !ok || mark["strategy"] != "summarization" {
		t.Errorf("the summary is not marked as Haystack marks one: %v", c.Summary.Meta)
	}
	want := []string{"S:one", "u2", "a2", "u3", "a3"}
	if got := windowTags(t, st, "h", chatstore.ReadOptions{}); !slices.Equal(got, want) {
		t.Errorf("compacted: %v, want %v", got, want)
	}
	// The summary, a user message, joins the round after it.
	if got := windowTags(t, st, "h", chatstore.ReadOptions{LastK: 2}); !slices.Equal(got, want) {
		t.Errorf("last 2 rounds: %v, want %v", got, want)
	}
	if got := windowTags(t, st, "h", chatstore.ReadOptions{LastK: 1}); !slices.Equal(got, []string{"u3", "a3"}) {
		t.Errorf("last round: %v", got)
	}
	all := []string{"u0", "a0", "u1", "a1", "u2", "a2", "u3", "a3"}
	if got := windowTags(t, st, "h", chatstore.ReadOptions{Uncompacted: true}); !slices.Equal(got, all) {
		t.Errorf("uncompacted: %v", got)
	}
	if got := tags(readPage(t, st, "h", chatstore.ReadOptions{Limit: 100})); !slices.Equal(got, all) {
		t.Errorf("a page shows the originals: %v", got)
	}
	// Writing back what was read writes nothing: the summary has the id
	// of a message the history holds.
	back, err := st.Read(ctx(t), "h", chatstore.ReadOptions{LastK: chatstore.All})
	if err != nil {
		t.Fatal(err)
	}
	if n := write(t, st, "h", back...); n != 0 {
		t.Errorf("writing back a compacted read wrote %d messages", n)
	}

	// A later compaction covering more wins; one covering less, recorded
	// after it, does not.
	compact(t, st, "h", "a2", "two")
	compact(t, st, "h", "a0", "zero")
	if got := windowTags(t, st, "h", chatstore.ReadOptions{}); !slices.Equal(got, []string{"S:two", "u3", "a3"}) {
		t.Errorf("two compactions: %v", got)
	}
	list, err := st.Compactions(ctx(t), "h")
	if err != nil || len(list) != 3 || list[0].Through != "a0" || list[1].Through != "a2" || !list[1].InEffect || list[0].InEffect || list[2].InEffect {
		t.Errorf("Compactions: %+v, %v", list, err)
	}
	// Deleting the message a compaction runs through ends it: the next
	// one takes over. Writing the id again does not bring it back.
	if err := st.DeleteMessage(ctx(t), "h", "a2"); err != nil {
		t.Fatal(err)
	}
	if got := windowTags(t, st, "h", chatstore.ReadOptions{}); !slices.Equal(got, []string{"S:one", "u2", "u3", "a3"}) {
		t.Errorf("through message deleted: %v", got)
	}
	write(t, st, "h", chat.Assistant("again").WithMeta(chatstore.MessageIDKey, "a2").WithMeta("tag", "a2'"))
	if got := windowTags(t, st, "h", chatstore.ReadOptions{}); !slices.Equal(got, []string{"S:one", "u2", "u3", "a3", "a2'"}) {
		t.Errorf("through id written again: %v", got)
	}
	// Deleting a covered message changes nothing.
	if err := st.DeleteMessage(ctx(t), "h", "u1"); err != nil {
		t.Fatal(err)
	}
	if got := windowTags(t, st, "h", chatstore.ReadOptions{LastK: 2}); !slices.Equal(got, []string{"S:one", "u2", "u3", "a3", "a2'"}) {
		t.Errorf("covered message deleted: %v", got)
	}
	// Truncating through the compactions' messages ends them all.
	if _, err := st.Truncate(ctx(t), "h", "u0"); err != nil {
		t.Fatal(err)
	}
	numbered(t, st, "h", 5, 1)
	if got := windowTags(t, st, "h", chatstore.ReadOptions{}); !slices.Equal(got, []string{"u5", "a5"}) {
		t.Errorf("after truncating: %v", got)
	}

	// Errors.
	if _, err := st.Compact(ctx(t), "h", "nope", summaryOf("x")); !errors.Is(err, chatstore.ErrNotFound) {
		t.Errorf("through an unknown message: %v", err)
	}
	if _, err := st.Compact(ctx(t), "unknown", "u0", summaryOf("x")); !errors.Is(err, chatstore.ErrNotFound) {
		t.Errorf("in an unknown history: %v", err)
	}
	if _, err := st.Compact(ctx(t), "h", "u5", summaryOf(strings.Repeat("x", chatstore.MaxSummaryBytes))); !errors.Is(err, chatstore.ErrInvalidMessage) {
		t.Errorf("a summary over MaxSummaryBytes: %v", err)
	}
	bad := chat.Message{Role: "robot", Content: []chat.Part{chat.Text{Text: "x"}}}
	if _, err := st.Compact(ctx(t), "h", "u5", bad); !errors.Is(err, chatstore.ErrInvalidMessage) {
		t.Errorf("an invalid summary: %v", err)
	}
	if _, err := st.Compact(ctx(t), "h", "", summaryOf("x")); err == nil {
		t.Error("an empty through id is accepted")
	}
	if list, err := st.Compactions(ctx(t), "unknown"); err != nil || len(list) != 0 {
		t.Errorf("compactions of an unknown history: %v, %v", list, err)
	}
}

func readPage(t *testing.T, st *chatstore.Store, id string, o chatstore.ReadOptions) []chat.Message {
	t.Helper()
	msgs, err := st.Read(ctx(t), id, o)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

// testCompactionLifecycle: compaction records go with their history, are
// copied by a fork that copies their message, are bounded, and stay
// within a view.
func (s suite) testCompactionLifecycle(t *testing.T) {
	st := s.costStore(t, newClock())
	numbered(t, st, "h", 0, 3)
	if err := st.DeleteMessage(ctx(t), "h", "u0"); err != nil {
		t.Fatal(err) // so that positions and fork positions differ
	}
	compact(t, st, "h", "a1", "one")
	if _, err := st.Fork(ctx(t), "h", "f", "u2"); err != nil {
		t.Fatal(err)
	}
	if got := windowTags(t, st, "f", chatstore.ReadOptions{}); !slices.Equal(got, []string{"S:one", "u2"}) {
		t.Errorf("fork past the compaction: %v", got)
	}
	if _, err := st.Fork(ctx(t), "h", "g", "u1"); err != nil {
		t.Fatal(err)
	}
	if got := windowTags(t, st, "g", chatstore.ReadOptions{}); !slices.Equal(got, []string{"a0", "u1"}) {
		t.Errorf("fork before the compaction's message: %v", got)
	}
	if list, err := st.Compactions(ctx(t), "g"); err != nil || len(list) != 0 {
		t.Errorf("fork before the compaction's message holds %d records, %v", len(list), err)
	}
	if err := st.Delete(ctx(t), "h"); err != nil {
		t.Fatal(err)
	}
	numbered(t, st, "h", 0, 3)
	if got := windowTags(t, st, "h", chatstore.ReadOptions{}); !slices.Equal(got, []string{"u0", "a0", "u1", "a1", "u2", "a2"}) {
		t.Errorf("a history deleted and written again: %v", got)
	}
	if list, err := st.Compactions(ctx(t), "h"); err != nil || len(list) != 0 {
		t.Errorf("a history deleted and written again holds %d records, %v", len(list), err)
	}
	// Truncating through a compaction's message and writing its id again,
	// as an edit-and-regenerate does, does not bring the summary back,
	// wherever the driver puts the new message.
	numbered(t, st, "r", 0, 2)
	compact(t, st, "r", "a0", "old")
	if _, err := st.Truncate(ctx(t), "r", "a0"); err != nil {
		t.Fatal(err)
	}
	write(t, st, "r", chat.Assistant("new").WithMeta(chatstore.MessageIDKey, "a0").WithMeta("tag", "a0'"))
	numbered(t, st, "r", 3, 1)
	if got := windowTags(t, st, "r", chatstore.ReadOptions{}); !slices.Equal(got, []string{"u0", "a0'", "u3", "a3"}) {
		t.Errorf("after truncating the compaction's message and writing its id again: %v", got)
	}

	// At most MaxCompactions, the newest.
	for i := range chatstore.MaxCompactions + 3 {
		compact(t, st, "h", "a0", strconv.Itoa(i))
	}
	list, err := st.Compactions(ctx(t), "h")
	if err != nil || len(list) != chatstore.MaxCompactions {
		t.Fatalf("%d records kept, %v", len(list), err)
	}
	if text, _ := list[0].Summary.Text(); !strings.Contains(text, strconv.Itoa(chatstore.MaxCompactions+2)) || !list[0].InEffect {
		t.Errorf("the newest record: %q, in effect %v", text, list[0].InEffect)
	}
	// Views keep theirs apart; deleting a view's histories deletes them.
	a, b := chatstore.Prefixed(st, "a/"), chatstore.Prefixed(st, "b/")
	numbered(t, a, "x", 0, 2)
	numbered(t, b, "x", 0, 2)
	compact(t, a, "x", "a0", "view a")
	if got := windowTags(t, b, "x", chatstore.ReadOptions{}); !slices.Equal(got, []string{"u0", "a0", "u1", "a1"}) {
		t.Errorf("another view's compaction shows: %v", got)
	}
	if err := a.DeleteAll(ctx(t)); err != nil {
		t.Fatal(err)
	}
	numbered(t, a, "x", 0, 2)
	if list, err := a.Compactions(ctx(t), "x"); err != nil || len(list) != 0 {
		t.Errorf("after DeleteAll of the view: %d records, %v", len(list), err)
	}
}

// testCompactionConcurrent: compactions recorded while writers append keep
// every read whole: the summary, then every message after its through
// message, in order.
func (s suite) testCompactionConcurrent(t *testing.T) {
	st := s.costStore(t, newClock())
	numbered(t, st, "h", 0, 1)
	const writers, each = 4, 15
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				numbered(t, st, "h", 100*(w+1)+i, 1)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 10 {
			msgs := fullRead(t, st, "h")
			last, _ := msgs[len(msgs)-1].Meta[chatstore.MessageIDKey].(string)
			compact(t, st, "h", last, strconv.Itoa(i))
		}
	}()
	wg.Wait()
	all := fullRead(t, st, "h")
	got := windowTags(t, st, "h", chatstore.ReadOptions{})
	list, err := st.Compactions(ctx(t), "h")
	if err != nil {
		t.Fatal(err)
	}
	var cur *chatstore.Compaction
	for i := range list {
		if list[i].InEffect {
			cur = &list[i]
		}
	}
	if cur == nil {
		t.Fatalf("no compaction in effect of %d", len(list))
	}
	at := slices.IndexFunc(all, func(m chat.Message) bool { return m.Meta[chatstore.MessageIDKey] == cur.Through })
	want := []string{"S:" + strings.TrimSuffix(strings.TrimPrefix(mustText(cur.Summary), "<conversation_summary>\n"), "\n</conversation_summary>")}
	want = append(want, tags(all[at+1:])...)
	if !slices.Equal(got, want) {
		t.Errorf("after concurrent writes and compactions:\n got  %v\n want %v", got, want)
	}
}

func mustText(m chat.Message) string {
	text, _ := m.Text()
	return text
}

// testPruning: older large tool results give way to Haystack's
// placeholder; the newest step's results and small ones stay.
func (s suite) testPruning(t *testing.T) {
	st := s.costStore(t, newClock())
	call := func(id string) chat.ToolCall {
		return chat.ToolCall{ToolName: "search", ID: chat.Ptr(id), Arguments: map[string]any{}}
	}
	big := strings.Repeat("result ", 200) // 1400 characters: 350 tokens alone
	msgs := []chat.Message{
		chat.User("task").WithMeta("tag", "u"),
		chat.Assistant("", call("c1")).WithMeta("tag", "c1"),
		chat.Tool(big, call("c1"), true).WithMeta("tag", "r1").WithMeta("custom", "kept"),
		chat.Assistant("", call("c2")).WithMeta("tag", "c2"),
		chat.Tool("small", call("c2"), false).WithMeta("tag", "r2"),
		chat.Assistant("", call("c3")).WithMeta("tag", "c3"),
		chat.Tool(big, call("c3"), false).WithMeta("tag", "r3"),
	}
	write(t, st, "h", msgs...)
	var win chatstore.Window
	got, err := st.Read(ctx(t), "h", chatstore.ReadOptions{LastK: chatstore.All, PruneToolResults: true, Window: &win})
	if err != nil {
		t.Fatal(err)
	}
	if g := tags(got); !slices.Equal(g, []string{"u", "c1", "r1", "c2", "r2", "c3", "r3"}) || win.Pruned != 1 {
		t.Fatalf("pruned read: %v, %d pruned", g, win.Pruned)
	}
	r1, _ := got[2].ToolCallResult()
	wantText := "[Tool result removed to free up context. Call `search` again if you need it.]"
	mark, _ := got[2].Meta[chatstore.CompactionMetaKey].(map[string]any)
	if r1.Result != wantText || !r1.Error || r1.Origin.ToolName != "search" || got[2].Meta["custom"] != "kept" || mark["strategy"] != "tool_result_pruning" {
		t.Errorf("the pruned result: %+v, meta %v", r1, got[2].Meta)
	}
	if n := fmt.Sprint(mark["original_tokens"]); n != strconv.FormatInt(haystackCount(t, msgs[2:3]), 10) {
		t.Errorf("original_tokens %s, want %d", n, haystackCount(t, msgs[2:3]))
	}
	if r3, _ := got[6].ToolCallResult(); r3.Result != big {
		t.Error("the newest step's result was pruned")
	}
	if n := haystackCount(t, got); win.Tokens != n {
		t.Errorf("the pruned window says %d tokens, Haystack counts %d", win.Tokens, n)
	}
	// Pruning makes room: a budget the whole conversation does not fit.
	full := haystackCount(t, msgs)
	got, err = st.Read(ctx(t), "h", chatstore.ReadOptions{LastK: chatstore.All, PruneToolResults: true, MaxTokens: full - 200})
	if err != nil || len(got) != len(msgs) {
		t.Errorf("pruned to fit %d tokens: %d messages, %v", full-200, len(got), err)
	}
}

// haystackCounts are the counts Haystack's own ApproximateTokenCounter gave
// for lists of messages (testdata/haystack_counts.json; package tokens
// checks its counters against all of its numbers).
//
//go:embed testdata/haystack_counts.json
var haystackCounts []byte

// testHaystackTokens: a history holding each list of messages of the
// fixtures has the tokens Haystack counted for it, and a budget of exactly
// that many reads it whole.
func (s suite) testHaystackTokens(t *testing.T) {
	st := s.costStore(t, newClock())
	var f struct {
		Cases []struct {
			Name     string            `json:"name"`
			Messages []json.RawMessage `json:"messages"`
			Tools    []any             `json:"tools"`
			Approx   int64             `json:"approximate"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(haystackCounts, &f); err != nil {
		t.Fatal(err)
	}
	checked := 0
	for i, c := range f.Cases {
		if len(c.Tools) > 0 || len(c.Messages) == 0 {
			continue // a store holds messages, not tools
		}
		msgs := make([]chat.Message, len(c.Messages))
		for j, raw := range c.Messages {
			var err error
			if msgs[j], err = chat.Unmarshal(raw); err != nil {
				t.Fatalf("case %d (%s): message %d: %v", i, c.Name, j, err)
			}
			delete(msgs[j].Meta, chatstore.MessageIDKey)
		}
		id := "haystack-" + strconv.Itoa(i)
		if _, err := st.Write(ctx(t), id, msgs); err != nil {
			if errors.Is(err, chatstore.ErrInvalidMessage) {
				continue // a shape Haystack builds but a store refuses
			}
			t.Fatalf("case %d (%s): %v", i, c.Name, err)
		}
		if n := len(fullRead(t, st, id)); n != len(msgs) {
			t.Fatalf("case %d (%s): %d of %d messages stored", i, c.Name, n, len(msgs))
		}
		info, _, err := st.Info(ctx(t), id)
		if err != nil {
			t.Fatal(err)
		}
		if info.Tokens != c.Approx {
			t.Errorf("case %d (%s): the history has %d tokens, Haystack counted %d", i, c.Name, info.Tokens, c.Approx)
		}
		var win chatstore.Window
		got, err := st.Read(ctx(t), id, chatstore.ReadOptions{LastK: chatstore.All, MaxTokens: max(c.Approx, 1), Window: &win})
		if err != nil || win.Tokens != c.Approx || (len(got) != len(msgs) && !win.Exceeded) {
			t.Errorf("case %d (%s): a budget of %d tokens reads %d of %d messages, %d tokens, %v", i, c.Name, c.Approx, len(got), len(msgs), win.Tokens, err)
		}
		checked++
	}
	if checked < 100 {
		t.Errorf("only %d of the %d cases could be checked", checked, len(f.Cases))
	}
}
