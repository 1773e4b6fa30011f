package server

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/internal/chattest"
	"github.com/chatstore/chatstore/internal/plural"
)

// TestWebPageBudget checks the page's token budgets and compactions (issue
// 17): a conversation shows its tokens; a budget shows the window that
// fits, its tokens and rounds and what it leaves out, with the part of a
// round over the budget dimmed; a compaction's summary stands in place of
// the messages it covers, marked, and they expand and collapse; in a long
// history whose covered messages are not loaded, the summary heads the
// list and expanding it loads them.
func TestWebPageBudget(t *testing.T) {
	base, st := webServer(t, nil)
	bg := context.Background()
	if _, err := st.Write(bg, "agent", chattest.AgentTurns()); err != nil {
		t.Fatal(err)
	}
	// One round that no small budget holds: a task, a large step, a small
	// step and the answer.
	c1 := chat.ToolCall{ToolName: "get_weather", Arguments: map[string]any{"city": "Oslo"}, ID: chat.Ptr("call_1")}
	c2 := chat.ToolCall{ToolName: "get_time", Arguments: map[string]any{"city": "Oslo"}, ID: chat.Ptr("call_2")}
	overrun := []chat.Message{chat.User("Plan my day in Oslo."), chat.Assistant("", c1), chat.Tool(strings.Repeat("rain and wind, ", 200), c1, false),
		chat.Assistant("", c2), chat.Tool("9:00", c2, false), chat.Assistant("Take an umbrella.")}
	if _, err := st.Write(bg, "overrun", overrun); err != nil {
		t.Fatal(err)
	}
	ctx := browser(t)

	// What the store returns for a read: the ids and the window.
	storeWindow := func(id string, o chatstore.ReadOptions) ([]string, chatstore.Window) {
		t.Helper()
		var w chatstore.Window
		o.Window = &w
		msgs, err := st.Read(bg, id, o)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range msgs {
			ids = append(ids, m.Meta[chatstore.MessageIDKey].(string))
		}
		return ids, w
	}
	summary := func(prefix string) string {
		t.Helper()
		waitFor(t, ctx, "the window of "+prefix, `document.querySelector("#window-summary").textContent.startsWith(`+fmt.Sprintf("%q", prefix)+`)`)
		return eval[string](t, ctx, `document.querySelector("#window-summary").textContent`)
	}
	text := func(id string) string {
		t.Helper()
		return eval[string](t, ctx, `document.getElementById(`+fmt.Sprintf("%q", id)+`).textContent`)
	}
	// The items of the list: a message's id, or "summary".
	const items = `[...document.querySelectorAll("#messages li")].map(li => li.dataset.summary !== undefined ? "summary" : li.dataset.id)`
	const visible = `[...document.querySelectorAll("#messages li")].filter(li => !li.hidden).map(li => li.dataset.summary !== undefined ? "summary" : li.dataset.id)`
	list := func(js string) []string {
		t.Helper()
		return eval[[]string](t, ctx, js)
	}

	// The history's tokens.
	do(t, ctx, chromedp.Navigate(base+"/#/h/agent"))
	waitFor(t, ctx, "the agent's history", `document.querySelectorAll("#messages li").length === 12`)
	info, _, err := st.Info(bg, "agent")
	if err != nil {
		t.Fatal(err)
	}
	if got := text("conversation-tokens"); got != plural.Count(int(info.Tokens), "token", "tokens") {
		t.Errorf("tokens of the history %q, want %d", got, info.Tokens)
	}

	// A budget: the newest whole rounds that fit, marked where they start.
	do(t, ctx, enter("max-tokens", "60"))
	ids, w := storeWindow("agent", chatstore.ReadOptions{LastK: 10, MaxTokens: 60})
	if want := fmt.Sprintf("last_k=10, max_tokens=60 returns the last %s, from #%s", plural.Count(len(ids), "message", "messages"), ids[0]); summary("last_k=10, max_tokens=60 ") != want {
		t.Errorf("summary %q, want %q", text("window-summary"), want)
	}
	wantDetail := fmt.Sprintf("%d of 60 tokens, %s; older rounds left out (%s, %s not shown)", w.Tokens, plural.Count(w.Rounds, "round", "rounds"),
		plural.Count(int(w.Omitted), "message", "messages"), plural.Count(int(w.OmittedTokens), "token", "tokens"))
	if got := text("window-tokens"); got != wantDetail {
		t.Errorf("window %q, want %q", got, wantDetail)
	}
	if got := list(`[...document.querySelectorAll("#messages li.in-window")].map(li => li.dataset.id)`); !slices.Equal(got, ids) {
		t.Errorf("in the window: %v, want %v", got, ids)
	}
	starts := list(`[...document.querySelectorAll(".window-start")].map(e => e.closest("li").dataset.id + " " + e.textContent)`)
	if want := []string{ids[0] + " last_k=10, max_tokens=60 starts here"}; !slices.Equal(starts, want) {
		t.Errorf("window marks %q, want %q", starts, want)
	}
	screenshot(t, ctx, "web-budget.png")

	// Over the budget: the task and the newest steps that fit; the step
	// left out, shown with its result, dimmed.
	do(t, ctx, chromedp.Navigate(base+"/#/h/overrun"))
	waitFor(t, ctx, "the overrun history", `document.querySelectorAll("#messages li").length === 6`)
	do(t, ctx, enter("max-tokens", "20"))
	ids, w = storeWindow("overrun", chatstore.ReadOptions{LastK: 10, MaxTokens: 20})
	if !w.Exceeded || slices.Contains(ids, "1") {
		t.Fatalf("the store's window of 20 tokens: %v %+v; this test wants one over the budget without the large step", ids, w)
	}
	if want := fmt.Sprintf("last_k=10, max_tokens=20 returns part of the newest round: %s, from #0", plural.Count(len(ids), "message", "messages")); summary("last_k=10, max_tokens=20 ") != want {
		t.Errorf("summary %q, want %q", text("window-summary"), want)
	}
	if got, want := text("window-tokens"), fmt.Sprintf("%d of 20 tokens, 1 round; over the budget", w.Tokens); !strings.HasPrefix(got, want) {
		t.Errorf("window %q, want it to start %q", got, want)
	}
	var wantDropped []string
	for _, id := range list(visible) {
		if !slices.Contains(ids, id) {
			wantDropped = append(wantDropped, id)
		}
	}
	if got := list(`[...document.querySelectorAll("#messages li.dropped:not([hidden])")].map(li => li.dataset.id)`); !slices.Equal(got, wantDropped) || !slices.Contains(got, "1") {
		t.Errorf("dimmed: %v, want %v", got, wantDropped)
	}

	// A compaction: its summary in place of the messages it stands for,
	// which expand and collapse.
	rec, err := st.Compact(bg, "agent", "5", chat.User("Summary: Paris is sunny; the user said thanks."))
	if err != nil {
		t.Fatal(err)
	}
	do(t, ctx, chromedp.Navigate(base+"/#/h/agent"))
	waitFor(t, ctx, "the summary", `document.querySelector("#messages li.summary") !== null`)
	do(t, ctx, enter("max-tokens", ""))
	if got := summary("last_k=10 "); got != "last_k=10 returns the summary of #5 and every message before it, then 6 messages" {
		t.Errorf("summary %q", got)
	}
	want := []string{"summary", "6", "7", "9", "10", "11"} // #8 is shown in its call, #7
	if got := list(visible); !slices.Equal(got, want) {
		t.Errorf("shown: %v, want %v", got, want)
	}
	if got := list(items); !slices.Equal(got, []string{"0", "1", "2", "3", "4", "5", "summary", "6", "7", "8", "9", "10", "11"}) {
		t.Errorf("the list: %v, want the summary after #5", got)
	}
	if got := text("window-tokens"); !strings.Contains(got, fmt.Sprintf("compaction through #5 in effect: its summary (%d tokens) stands for #5 and the messages before it", rec.Tokens)) {
		t.Errorf("window %q", got)
	}
	type head struct{ Label, Text, Button, Start string }
	sumHead := func() head {
		t.Helper()
		return eval[head](t, ctx, `(() => { const li = document.querySelector("#messages li.summary"); return {Label: li.querySelector(".summary-label").textContent,
			Text: li.querySelector(".text").textContent, Button: li.querySelector("button.expand-compacted").textContent,
			Start: (li.querySelector(".window-start") || {}).textContent || ""}; })()`)
	}
	if got, want := sumHead(), (head{"Summary of #5 and every message before it", "Summary: Paris is sunny; the user said thanks.", "Show the 6 messages it stands for", "last_k=10 starts here"}); got != want {
		t.Errorf("the summary: %+v, want %+v", got, want)
	}
	do(t, ctx, chromedp.Click(chromedp.CSS("button.expand-compacted"), chromedp.NodeVisible))
	waitFor(t, ctx, "the messages it stands for", `!document.querySelector("#messages li[data-id='0']").hidden`)
	if got, want := list(visible), []string{"0", "1", "3", "4", "5", "summary", "6", "7", "9", "10", "11"}; !slices.Equal(got, want) {
		t.Errorf("expanded: %v, want %v", got, want)
	}
	if got := list(`[...document.querySelectorAll("#messages li.compacted:not([hidden]) .compacted-tag")].map(e => e.closest("li").dataset.id)`); !slices.Equal(got, []string{"0", "1", "3", "4", "5"}) {
		t.Errorf("marked as in the summary: %v", got)
	}
	if got := sumHead().Button; got != "Hide the messages it stands for" {
		t.Errorf("button %q", got)
	}
	screenshot(t, ctx, "web-compaction.png")
	do(t, ctx, chromedp.Click(chromedp.CSS("button.expand-compacted"), chromedp.NodeVisible))
	waitFor(t, ctx, "them hidden again", `document.querySelector("#messages li[data-id='0']").hidden`)
	if got := list(visible); !slices.Equal(got, want) {
		t.Errorf("collapsed: %v, want %v", got, want)
	}

	// In a long history the summary of messages not loaded heads the list;
	// expanding it loads them, by page.
	if _, err := st.Compact(bg, "long", "5", chat.User("Summary of the first three questions.")); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, chromedp.Navigate(base+"/#/h/long"))
	waitFor(t, ctx, "the long history", `document.querySelectorAll("#messages li").length === 101`)
	if got := list(items)[:2]; !slices.Equal(got, []string{"summary", "20"}) {
		t.Errorf("the list starts %v, want the summary, then #20", got)
	}
	if got := sumHead().Button; got != "Show the messages it stands for" {
		t.Errorf("button %q", got)
	}
	if got := text("window-tokens"); !strings.HasSuffix(got, "compaction through #5 in effect: its summary is older than the window") {
		t.Errorf("window %q", got)
	}
	do(t, ctx, chromedp.Click(chromedp.CSS("button.expand-compacted"), chromedp.NodeVisible))
	waitFor(t, ctx, "the whole long history", `document.querySelectorAll("#messages li").length === 121 && document.querySelector("#load-earlier").hidden`)
	if got := list(visible)[:8]; !slices.Equal(got, []string{"0", "1", "2", "3", "4", "5", "summary", "6"}) {
		t.Errorf("expanded, the list starts %v", got)
	}
}
