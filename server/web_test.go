package server

// End-to-end tests of the web page in a real headless Chromium, driven over
// the DevTools protocol with chromedp. The browser comes from
// CHATSTORE_TEST_CHROMIUM (.ci/run installs Debian's chromium and sets it);
// without it the tests skip, and fail under CI=true. Screenshots of the
// views go to CHATSTORE_TEST_ARTIFACTS when it is set.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/internal/testenv"
)

// testPNG is a 160×100 PNG, a sky-to-roof gradient, in base64.
func testPNG() string {
	img := image.NewRGBA(image.Rect(0, 0, 160, 100))
	for y := range 100 {
		for x := range 160 {
			img.Set(x, y, color.RGBA{uint8(90 + y), uint8(140 + y/2), uint8(230 - y), 255})
		}
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	return base64.StdEncoding.EncodeToString(b.Bytes())
}

// browser starts a headless Chromium for the test and returns a tab.
func browser(t *testing.T) context.Context {
	t.Helper()
	bin := testenv.Get(t, "CHATSTORE_TEST_CHROMIUM", "/usr/bin/chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.NoSandbox, // root in CI
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1100, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	return ctx
}

// enter types value into the input with the id and presses Enter, as a
// person would; it fires the form's submit event, which chromedp.Submit
// (form.submit()) would not.
func enter(id, value string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		return chromedp.Do(ctx, chromedp.SetValue(chromedp.ID(id), value), chromedp.Focus(chromedp.ID(id)), chromedp.KeyEvent("\r"))
	})
}

func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// eval runs a JavaScript expression in the page and decodes its value.
func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}

// waitFor polls a JavaScript condition until it holds.
func waitFor(t *testing.T, ctx context.Context, what, js string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !eval[bool](t, ctx, js) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s (%s)", what, js)
		}
		do(t, ctx, chromedp.Sleep(50*time.Millisecond))
	}
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("CHATSTORE_TEST_ARTIFACTS")
	if dir == "" {
		return
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG; less is JPEG
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", filepath.Join(dir, name))
}

// seedConversation is an agent's conversation with everything the page
// shows: a system prompt, names and meta, an image and a file, reasoning,
// two tool calls (one failing) answered by id, and a final answer.
func seedConversation() []chat.Message {
	weather := chat.ToolCall{ToolName: "get_weather", Arguments: map[string]any{"city": "Paris", "unit": "celsius"}, ID: chat.Ptr("call_1")}
	flights := chat.ToolCall{ToolName: "search_flights", Arguments: map[string]any{"from": "BER", "to": "CDG"}, ID: chat.Ptr("call_2")}
	img, _ := chat.NewImage(testPNG(), "image/png", "")
	user, _ := chat.UserParts(chat.Text{Text: "Here is a photo of my balcony and my itinerary. Will it rain in Paris?"}, img,
		chat.File{Base64Data: "aGVsbG8gd29ybGQK", MimeType: "text/plain", Filename: "itinerary.txt"})
	user.Name = chat.Ptr("alice")
	return []chat.Message{
		chat.System("You are a travel assistant."),
		user,
		chat.Assistant("", weather, flights).WithReasoning("The user asks about rain; check the weather, and flights since they travel."),
		chat.Tool("light rain, 14 °C", weather, false),
		chat.Tool("flight search service timed out", flights, true),
		chat.Assistant("Light rain is expected in Paris (14 °C). I could not search flights right now.").
			WithMeta("model", "gpt-4o").WithMeta("usage", map[string]any{"total_tokens": json.Number("182")}),
	}
}

// webServer serves the page and API over a memory store seeded with the
// conversation, two more histories and one long history.
func webServer(t *testing.T, opts *Options) (string, *chatstore.Store) {
	srv, st := newTestServer(t, "memory://?skip_system_messages=false", opts)
	ctx := context.Background()
	write := func(id string, msgs ...chat.Message) {
		if _, err := st.Write(ctx, id, msgs); err != nil {
			t.Fatal(err)
		}
	}
	write("support/alice", seedConversation()...)
	write("support/bob", chat.User("Where is my order?"), chat.Assistant("It ships tomorrow."))
	write("sales/acme", chat.User("Can I get a quote?"))
	// Two turns whose calls have the same id, as some providers number them.
	today := chat.ToolCall{ToolName: "get_weather", Arguments: map[string]any{"day": "today"}, ID: chat.Ptr("call_1")}
	tomorrow := chat.ToolCall{ToolName: "get_weather", Arguments: map[string]any{"day": "tomorrow"}, ID: chat.Ptr("call_1")}
	write("reused-ids", chat.User("Weather today?"), chat.Assistant("", today), chat.Tool("rain", today, false), chat.Assistant("Rain."),
		chat.User("And tomorrow?"), chat.Assistant("", tomorrow), chat.Tool("sun", tomorrow, false), chat.Assistant("Sun."))
	var long []chat.Message
	for i := range 60 {
		long = append(long, chat.User(fmt.Sprint("question ", i)), chat.Assistant(fmt.Sprint("answer ", i)))
	}
	write("long", long...)
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return hs.URL, st
}

// TestWebPage drives the page through what a person debugging an agent
// does: open the list, search it, open a conversation, read its tool calls,
// results, image and file, move the last_k window, page back through a long
// history, and delete a history.
func TestWebPage(t *testing.T) {
	base, st := webServer(t, nil)
	ctx := browser(t)

	// The list, with counts.
	do(t, ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#histories li")))
	type row struct{ ID, Count string }
	rows := eval[[]row](t, ctx, `[...document.querySelectorAll("#histories li")].map(li => ({ID: li.querySelector("a").textContent, Count: li.querySelector(".count").textContent}))`)
	want := []row{{"long", "120 messages"}, {"reused-ids", "8 messages"}, {"sales/acme", "1 message"}, {"support/alice", "6 messages"}, {"support/bob", "2 messages"}}
	if !slices.Equal(rows, want) {
		t.Errorf("list: %v, want %v", rows, want)
	}
	screenshot(t, ctx, "web-list.png")

	// Search by id prefix.
	do(t, ctx, enter("search", "support/"))
	waitFor(t, ctx, "the search", `document.querySelectorAll("#histories li").length === 2`)

	// Open the conversation with the keyboard: focus the first link, Enter.
	do(t, ctx, chromedp.Focus(chromedp.CSS(`#histories a`)), chromedp.KeyEvent("\r"))
	waitFor(t, ctx, "the conversation", `document.querySelectorAll("#messages li").length === 6`)
	if got := eval[string](t, ctx, `location.hash`); got != "#/h/support%2Falice" {
		t.Errorf("hash %q", got)
	}
	roles := eval[[]string](t, ctx, `[...document.querySelectorAll("#messages li")].map(li => li.className.split(" ")[1])`)
	if !slices.Equal(roles, []string{"role-system", "role-user", "role-assistant", "role-tool", "role-tool", "role-assistant"}) {
		t.Errorf("roles %v", roles)
	}
	ids := eval[[]string](t, ctx, `[...document.querySelectorAll("#messages .msg-id")].map(e => e.textContent)`)
	if !slices.Equal(ids, []string{"#0", "#1", "#2", "#3", "#4", "#5"}) {
		t.Errorf("message ids %v", ids)
	}
	// Tool calls with pretty-printed arguments, each result next to its
	// call, the failed one marked.
	type call struct {
		Summary, Args, Result string
		Error, Open           bool
	}
	calls := eval[[]call](t, ctx, `[...document.querySelectorAll(".tool-call")].map(c => ({
		Summary: c.querySelector("summary").textContent, Args: c.querySelector(".arguments").textContent,
		Result: (c.querySelector(".tool-result .result") || {}).textContent || "",
		Error: !!c.querySelector(".tool-result.error"), Open: c.querySelector("details").open}))`)
	wantCalls := []call{
		{"Tool call: get_weather (call_1)", "{\n  \"city\": \"Paris\",\n  \"unit\": \"celsius\"\n}", "light rain, 14 °C", false, true},
		{"Tool call: search_flights (call_2)", "{\n  \"from\": \"BER\",\n  \"to\": \"CDG\"\n}", "flight search service timed out", true, true},
	}
	if !slices.Equal(calls, wantCalls) {
		t.Errorf("tool calls:\n%+v\nwant\n%+v", calls, wantCalls)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll(".tool-result.error .result-label").length`); n != 1 {
		t.Errorf("%d results marked as errors, want 1", n)
	}
	// Reasoning collapsed, the image shown, the file a download link.
	if open := eval[[]bool](t, ctx, `[...document.querySelectorAll("details.reasoning")].map(d => d.open)`); !slices.Equal(open, []bool{false}) {
		t.Errorf("reasoning open: %v, want one, collapsed", open)
	}
	waitFor(t, ctx, "the image, decoded", `(() => { const i = document.querySelector(".image img"); return i.complete && i.naturalWidth === 160 && i.src.startsWith("data:image/png;base64,") })()`)
	type link struct{ Download, Href, Text string }
	if f := eval[link](t, ctx, `(() => { const a = document.querySelector("a.file"); return {Download: a.download, Href: a.href, Text: a.textContent} })()`); f.Download != "itinerary.txt" || f.Href != "data:text/plain;base64,aGVsbG8gd29ybGQK" || f.Text != "File: itinerary.txt (text/plain)" {
		t.Errorf("file link %+v", f)
	}
	// Name and meta on demand.
	metas := eval[[]string](t, ctx, `[...document.querySelectorAll("details.meta")].map(d => d.open + " " + d.querySelector("pre").textContent.replace(/\s+/g, " "))`)
	if len(metas) != 2 || !strings.HasPrefix(metas[0], `false { "name": "alice"`) || !strings.Contains(metas[1], `"total_tokens": 182`) {
		t.Errorf("name and meta: %q", metas)
	}

	// The last_k window: the messages in it are what RetrieveLast returns.
	for _, k := range []int{1, 2, 0, 10} {
		do(t, ctx, enter("lastk", fmt.Sprint(k)))
		msgs, err := st.RetrieveLast(context.Background(), "support/alice", k)
		if err != nil {
			t.Fatal(err)
		}
		var wantIDs []string
		for _, m := range msgs {
			wantIDs = append(wantIDs, "#"+m.Meta[chatstore.MessageIDKey].(string))
		}
		js := fmt.Sprintf(`document.querySelector("#window-summary").textContent.startsWith("last_k=%d ")`, k)
		waitFor(t, ctx, fmt.Sprintf("the window of last_k=%d", k), js)
		got := eval[[]string](t, ctx, `[...document.querySelectorAll("#messages li.in-window .msg-id")].map(e => e.textContent)`)
		if !slices.Equal(got, wantIDs) && !(len(got) == 0 && len(wantIDs) == 0) {
			t.Errorf("last_k=%d puts %v in the window, want %v", k, got, wantIDs)
		}
	}
	do(t, ctx, enter("lastk", "1"))
	waitFor(t, ctx, "the window", `document.querySelector("#window-summary").textContent.startsWith("last_k=1 ")`)
	screenshot(t, ctx, "web-conversation.png")

	// A reused call id: each result goes with the latest call before it.
	do(t, ctx, chromedp.Navigate(base+"/#/h/reused-ids"))
	waitFor(t, ctx, "the history with reused ids", `document.querySelectorAll("#messages li").length === 8`)
	pairs := eval[[]string](t, ctx, `[...document.querySelectorAll(".tool-call")].map(c => JSON.parse(c.querySelector(".arguments").textContent).day + "=" + c.querySelector(".tool-result .result").textContent)`)
	if !slices.Equal(pairs, []string{"today=rain", "tomorrow=sun"}) {
		t.Errorf("calls and results with a reused id paired as %v", pairs)
	}

	// A long history loads page by page, the newest first.
	do(t, ctx, chromedp.Navigate(base+"/#/h/long"))
	waitFor(t, ctx, "the long history", `document.querySelectorAll("#messages li").length === 100`)
	if first := eval[string](t, ctx, `document.querySelector("#messages li .text").textContent`); first != "question 10" {
		t.Errorf("first message shown %q, want question 10 (the last 100 messages)", first)
	}
	if got := eval[string](t, ctx, `document.querySelector("#conversation-count").textContent`); got != "120 messages, the last 100 shown" {
		t.Errorf("count %q", got)
	}
	do(t, ctx, chromedp.Click(chromedp.ID("load-earlier"), chromedp.NodeVisible))
	waitFor(t, ctx, "the whole history", `document.querySelectorAll("#messages li").length === 120 && document.querySelector("#load-earlier").hidden`)
	ids = eval[[]string](t, ctx, `[...document.querySelectorAll("#messages .msg-id")].map(e => e.textContent)`)
	for i, id := range ids {
		if id != fmt.Sprintf("#%d", i) {
			t.Fatalf("after loading earlier, message %d is %s: pages out of order", i, id)
		}
	}

	// Deleting asks first; dismissing keeps the history, accepting deletes it.
	for _, accept := range []bool{false, true} {
		do(t, ctx, chromedp.Navigate(base+"/#/h/support%2Fbob"))
		waitFor(t, ctx, "bob's history", `document.querySelectorAll("#messages li").length === 2`)
		dialog := handleDialog(t, ctx, accept)
		do(t, ctx, chromedp.Click(chromedp.ID("delete-history"), chromedp.NodeVisible))
		if msg := <-dialog; !strings.Contains(msg, `Delete the history "support/bob" and its 2 messages?`) {
			t.Errorf("confirmation %q", msg)
		}
		if accept {
			waitFor(t, ctx, "the list after deleting", `!document.querySelector("#list-view").hidden && [...document.querySelectorAll("#histories a")].map(a => a.textContent).join() === "support/alice"`)
		} else {
			do(t, ctx, chromedp.Sleep(200*time.Millisecond)) // a delete would have been sent by now
		}
		n, err := st.Count(context.Background(), "support/bob")
		if err != nil {
			t.Fatal(err)
		}
		if (n == 0) != accept {
			t.Errorf("confirm answered %v: support/bob has %d messages", accept, n)
		}
	}
}

// handleDialog answers the next JavaScript dialog and sends its message;
// a prompt is answered with promptText, if given.
func handleDialog(t *testing.T, ctx context.Context, accept bool, promptText ...string) <-chan string {
	out := make(chan string, 1)
	dctx, cancel := context.WithCancel(ctx)
	opening := chromedp.Events(dctx, page.JavascriptDialogOpening)
	go func() {
		defer cancel()
		for ev, err := range opening {
			if err != nil {
				out <- "error: " + err.Error()
				return
			}
			err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				params := page.HandleJavaScriptDialogParams{Accept: accept}
				if len(promptText) > 0 {
					params.PromptText = promptText[0]
				}
				_, err := cdp.Call(ctx, tg, page.HandleJavaScriptDialog, params)
				return err
			}))
			if err != nil {
				out <- "error: " + err.Error()
				return
			}
			out <- ev.Message
			return
		}
	}()
	return out
}

// TestWebPageTokenPhoneDark checks the page with authentication, at phone
// width, in dark mode: the token is asked once and kept for the session,
// nothing overflows sideways, and the colours follow the system.
func TestWebPageTokenPhoneDark(t *testing.T) {
	tokens, err := ParseTokens(strings.NewReader("acme acme-token-0123456789\n"))
	if err != nil {
		t.Fatal(err)
	}
	base, st := webServer(t, &Options{Tokens: tokens})
	if _, err := st.Write(context.Background(), Tenant{Name: "acme"}.prefix()+"chat-1", seedConversation()); err != nil {
		t.Fatal(err)
	}
	ctx := browser(t)
	do(t, ctx,
		chromedp.EmulateViewport(375, 740, chromedp.EmulateMobile),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}},
			})
			return err
		}),
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.ID("token")),
	)
	do(t, ctx, enter("token", "acme-token-0123456789"))
	waitFor(t, ctx, "the tenant's list", `!document.querySelector("#list-view").hidden`)
	// The tenant sees its own histories only, without its prefix.
	waitFor(t, ctx, "the tenant's histories", `document.querySelectorAll("#histories li").length > 0`)
	if rows := eval[[]string](t, ctx, `[...document.querySelectorAll("#histories a")].map(a => a.textContent)`); !slices.Equal(rows, []string{"chat-1"}) {
		t.Errorf("tenant acme sees %q, want [chat-1]", rows)
	}
	// The token is kept for the session: a reload asks no more.
	do(t, ctx, chromedp.Reload())
	waitFor(t, ctx, "the list after a reload", `!document.querySelector("#list-view").hidden && document.querySelector("#login").hidden`)
	if got := eval[string](t, ctx, `sessionStorage.getItem("chatstore-token")`); got != "acme-token-0123456789" {
		t.Errorf("session token %q", got)
	}
	if overflow := eval[bool](t, ctx, `document.documentElement.scrollWidth > document.documentElement.clientWidth`); overflow {
		t.Error("the list is wider than a phone screen")
	}
	do(t, ctx, chromedp.Click(chromedp.CSS("#histories a"), chromedp.NodeVisible))
	waitFor(t, ctx, "the conversation at phone width", `document.querySelectorAll("#messages li").length === 6`)
	if overflow := eval[bool](t, ctx, `document.documentElement.scrollWidth > document.documentElement.clientWidth`); overflow {
		t.Error("the conversation is wider than a phone screen")
	}
	screenshot(t, ctx, "web-conversation-phone-dark.png")
	bg := eval[string](t, ctx, `getComputedStyle(document.body).backgroundColor`)
	if bg != "rgb(17, 20, 24)" {
		t.Errorf("dark mode background %s, want rgb(17, 20, 24)", bg)
	}
	// Forgetting the token asks again; a wrong one is refused and asked
	// again.
	do(t, ctx, chromedp.Click(chromedp.ID("forget-token"), chromedp.NodeVisible))
	waitFor(t, ctx, "the token form", `!document.querySelector("#login").hidden`)
	do(t, ctx, enter("token", "wrong-token-0000000000"))
	waitFor(t, ctx, "the token form again", `!document.querySelector("#login").hidden && sessionStorage.getItem("chatstore-token") === "wrong-token-0000000000"`)
}

// TestWebAssets checks how the page's files are served: the right types, a
// Content-Security-Policy that keeps the page to this server, and nothing
// fetched from elsewhere.
func TestWebAssets(t *testing.T) {
	f := newFixture(t, "memory://", nil)
	for path, ct := range map[string]string{"/": "text/html; charset=utf-8", "/assets/app.js": "text/javascript; charset=utf-8", "/assets/style.css": "text/css; charset=utf-8"} {
		r := f.do("GET", path, "")
		if r.code != 200 || r.header.Get("Content-Type") != ct || !strings.Contains(r.header.Get("Content-Security-Policy"), "default-src 'none'") {
			t.Errorf("GET %s: %d, Content-Type %q, CSP %q", path, r.code, r.header.Get("Content-Type"), r.header.Get("Content-Security-Policy"))
		}
		if strings.Contains(string(r.body), "http://") || strings.Contains(string(r.body), "https://") {
			t.Errorf("%s refers to another site", path)
		}
	}
	if r := f.do("GET", "/assets/index.html", ""); r.code != 404 {
		t.Errorf("index.html as an asset: %d", r.code)
	}
}

// writeOpenAITools writes the history "openai-tools": an agent's turn
// written in OpenAI's format, where the first try of a call timed out and
// was answered again with the same id.
func writeOpenAITools(t *testing.T, st *chatstore.Store) {
	t.Helper()
	msgs, err := chat.UnmarshalOpenAIList([]byte(`[
		{"role": "user", "content": "Weather in Paris?"},
		{"role": "assistant", "tool_calls": [{"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
		{"role": "tool", "content": "timeout", "tool_call_id": "call_a"},
		{"role": "tool", "content": "18 °C", "tool_call_id": "call_a"},
		{"role": "assistant", "content": "18 °C in Paris."}]`))
	if err != nil {
		t.Fatal(err)
	}
	if r := msgs[2].Content[0].(chat.ToolCallResult); r.Origin.ToolName != "" {
		t.Fatalf("an OpenAI tool message names its tool %q; this test is for one that does not", r.Origin.ToolName)
	}
	msgs[2] = msgs[2].WithMeta("latency_ms", json.Number("5000"))
	if _, err := st.Write(context.Background(), "openai-tools", msgs); err != nil {
		t.Fatal(err)
	}
}

// TestWebPageToolResults checks that each tool result is shown once, with
// the call it answers, and named after that call's tool when it was written
// in OpenAI's format, which names only the call's id.
func TestWebPageToolResults(t *testing.T) {
	base, st := webServer(t, nil)
	writeOpenAITools(t, st)
	ctx := browser(t)

	// The conversation with two tool results: each shown once, in its call;
	// the tool messages are not shown again on their own.
	do(t, ctx, chromedp.Navigate(base+"/#/h/support%2Falice"))
	waitFor(t, ctx, "the conversation", `document.querySelectorAll("#messages li").length === 6`)
	visible := `[...document.querySelectorAll("#messages li")].filter(li => !li.hidden)`
	if roles := eval[[]string](t, ctx, visible+`.map(li => li.className.split(" ")[1])`); !slices.Equal(roles, []string{"role-system", "role-user", "role-assistant", "role-assistant"}) {
		t.Errorf("messages shown: %v, want the tool messages inside their calls only", roles)
	}
	type result struct{ Label, Text string }
	results := eval[[]result](t, ctx, visible+`.flatMap(li => [...li.querySelectorAll(".tool-result, .answered")]).map(r => ({Label: (r.querySelector(".result-label") || r).textContent, Text: (r.querySelector(".result") || {}).textContent || ""}))`)
	if want := []result{{"Tool result #3", "light rain, 14 °C"}, {"Tool error #4", "flight search service timed out"}}; !slices.Equal(results, want) {
		t.Errorf("tool results shown:\n%+v\nwant each once, with its call:\n%+v", results, want)
	}
	if text := eval[string](t, ctx, `document.querySelector("#messages").innerText`); strings.Contains(text, "shown with the call") {
		t.Errorf("a placeholder for a result shown elsewhere: %q", text)
	}

	// Written in OpenAI's format, the results name only the call's id: the
	// first is shown in the call, with its message's meta; the retry, a
	// second answer to the same call, on its own, named after the call's
	// tool.
	do(t, ctx, chromedp.Navigate(base+"/#/h/openai-tools"))
	waitFor(t, ctx, "the OpenAI history", `document.querySelectorAll("#messages li").length === 5`)
	type call struct{ Summary, Label, Result, Meta string }
	calls := eval[[]call](t, ctx, `[...document.querySelectorAll(".tool-call")].map(c => ({Summary: c.querySelector("summary").textContent,
		Label: c.querySelector(".result-label").textContent, Result: c.querySelector(".result").textContent,
		Meta: ((c.querySelector(".tool-result details.meta pre") || {}).textContent || "").replace(/\s+/g, " ")}))`)
	if len(calls) != 1 || calls[0].Summary != "Tool call: get_weather (call_a)" || calls[0].Label != "Tool result #2" || calls[0].Result != "timeout" || !strings.Contains(calls[0].Meta, `"latency_ms": 5000`) {
		t.Errorf("the call and its first result: %+v", calls)
	}
	alone := eval[[]result](t, ctx, visible+`.filter(li => li.classList.contains("role-tool")).map(li => ({Label: (li.querySelector(".result-label") || li).textContent, Text: (li.querySelector(".result") || {}).textContent || ""}))`)
	if want := []result{{"Tool result: get_weather (call_a)", "18 °C"}}; !slices.Equal(alone, want) {
		t.Errorf("the second result: %+v, want %+v", alone, want)
	}
	screenshot(t, ctx, "web-openai-tools.png")
}

// TestWebPageLastKWindow checks that the last_k window is marked once,
// where it starts, and not at all when it is the whole history, which the
// summary says instead.
func TestWebPageLastKWindow(t *testing.T) {
	base, st := webServer(t, nil)
	writeOpenAITools(t, st)
	ctx := browser(t)

	// A history of five messages: the window of last_k=10 is all of it,
	// which the summary says; no message is marked.
	noMarks := func(what string) {
		t.Helper()
		type mark struct {
			ID, Border, After string
			Starts            bool
		}
		marks := eval[[]mark](t, ctx, `[...document.querySelectorAll("#messages li")].map(li => ({ID: li.dataset.id,
			Border: getComputedStyle(li).borderTopColor, After: getComputedStyle(li.querySelector(".msg-head"), "::after").content,
			Starts: !!li.querySelector(".window-start")}))`)
		var marked []mark
		for _, m := range marks {
			if m.Border != "rgba(0, 0, 0, 0)" || m.After != "none" || m.Starts {
				marked = append(marked, m)
			}
		}
		if len(marked) > 0 {
			t.Errorf("%s: %d messages marked, want none; the first: %+v", what, len(marked), marked[0])
		}
	}
	summary := func(k string) string {
		t.Helper()
		waitFor(t, ctx, "the window of last_k="+k, `document.querySelector("#window-summary").textContent.startsWith("last_k=`+k+` ")`)
		return eval[string](t, ctx, `document.querySelector("#window-summary").textContent`)
	}
	do(t, ctx, chromedp.Navigate(base+"/#/h/openai-tools"))
	waitFor(t, ctx, "the OpenAI history", `document.querySelectorAll("#messages li").length === 5`)
	if got := summary("10"); got != "last_k=10 returns all 5 messages, the whole history" {
		t.Errorf("summary %q", got)
	}
	noMarks("the whole history")

	// A window smaller than the history, the last of two rounds, is marked
	// once, where it starts.
	do(t, ctx, chromedp.Navigate(base+"/#/h/reused-ids"))
	waitFor(t, ctx, "the history of two rounds", `document.querySelectorAll("#messages li").length === 8`)
	do(t, ctx, enter("lastk", "1"))
	if got := summary("1"); got != "last_k=1 returns the last 4 messages, from #4" {
		t.Errorf("summary %q", got)
	}
	starts := eval[[]string](t, ctx, `[...document.querySelectorAll(".window-start")].map(e => e.closest("li").dataset.id + " " + e.textContent)`)
	if !slices.Equal(starts, []string{"4 last_k=1 starts here"}) {
		t.Errorf("window marks %q, want one, on #4", starts)
	}
	screenshot(t, ctx, "web-window.png")
	do(t, ctx, enter("lastk", "0"))
	if got := summary("0"); got != "last_k=0 returns no messages" {
		t.Errorf("summary %q", got)
	}
	noMarks("last_k=0")

	// In a long history, a window that starts before the messages loaded
	// is not marked until they are.
	do(t, ctx, chromedp.Navigate(base+"/#/h/long"))
	waitFor(t, ctx, "the long history", `document.querySelectorAll("#messages li").length === 100`)
	do(t, ctx, enter("lastk", "55"))
	if got := summary("55"); got != "last_k=55 returns the last 110 messages, from #10; 10 not loaded" {
		t.Errorf("summary %q", got)
	}
	noMarks("a window starting before the loaded messages")
	do(t, ctx, chromedp.Click(chromedp.ID("load-earlier"), chromedp.NodeVisible))
	waitFor(t, ctx, "the whole long history, marked", `document.querySelectorAll("#messages li").length === 120 && document.querySelectorAll(".window-start").length === 1`)
	if got := eval[string](t, ctx, `document.querySelector(".window-start").closest("li").dataset.id`); got != "10" {
		t.Errorf("the window of last_k=55 marked at #%s, want #10", got)
	}
	if got := summary("55"); got != "last_k=55 returns the last 110 messages, from #10" {
		t.Errorf("summary %q", got)
	}
}

// TestWebPageAddressing: a conversation shows its times and metadata and
// each message's time; one message is deleted, a conversation truncated
// from a message and forked through one, each only once the dialog is
// accepted.
func TestWebPageAddressing(t *testing.T) {
	base, st := webServer(t, nil)
	bg := context.Background()
	u := "u-42"
	if _, err := st.SetMetadata(bg, "support/bob", map[string]*string{"user_id": &u}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Write(bg, "support/bob", []chat.Message{chat.User("Thanks!"), chat.Assistant("You're welcome.")}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SetExpiry(bg, "support/bob", chatstore.Expiry{TTL: 30 * 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	ctx := browser(t)
	open := func(n int) {
		t.Helper()
		do(t, ctx, chromedp.Navigate(base+"/#/h/support%2Fbob"), chromedp.Reload())
		waitFor(t, ctx, fmt.Sprint(n, " messages"), fmt.Sprintf(`document.querySelectorAll("#messages li:not([hidden])").length === %d`, n))
	}
	open(4)
	info := eval[string](t, ctx, `document.getElementById("conversation-info").textContent`)
	if !strings.Contains(info, "created 20") || !strings.Contains(info, "updated 20") || !strings.Contains(info, "metadata: user_id=u-42") ||
		!strings.Contains(info, ", expires 20") || !strings.Contains(info, "(30d after its last change)") {
		t.Errorf("conversation info %q", info)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll("#messages li time.msg-time").length`); n != 4 {
		t.Errorf("%d messages show their time, want 4", n)
	}
	click := func(action, id string) {
		t.Helper()
		do(t, ctx, chromedp.Click(chromedp.CSS(fmt.Sprintf(`button.msg-action[data-action=%q][data-id=%q]`, action, id)), chromedp.NodeVisible))
	}
	count := func() int {
		t.Helper()
		n, err := st.Count(bg, "support/bob")
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	// Delete one message: dismissed (message 0), nothing; accepted
	// (message 1), it goes, and only it.
	dialog := handleDialog(t, ctx, false)
	click("delete", "0")
	if msg := <-dialog; !strings.Contains(msg, `Delete message #0 of "support/bob"?`) {
		t.Errorf("confirmation %q", msg)
	}
	dialog = handleDialog(t, ctx, true)
	click("delete", "1")
	<-dialog
	waitFor(t, ctx, "3 messages", `document.querySelectorAll("#messages li:not([hidden])").length === 3`)
	left, err := st.RetrieveLast(bg, "support/bob", chatstore.All)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range left {
		ids = append(ids, m.Meta[chatstore.MessageIDKey].(string))
	}
	if !slices.Equal(ids, []string{"0", "2", "3"}) {
		t.Errorf("after a dismissed delete of 0 and an accepted one of 1: %v", ids)
	}

	// Fork through message 2 into a history named in the prompt.
	dialog = handleDialog(t, ctx, true, "bob-copy")
	click("fork", "2")
	if msg := <-dialog; !strings.Contains(msg, `Fork "support/bob" through message #2`) {
		t.Errorf("fork prompt %q", msg)
	}
	waitFor(t, ctx, "the fork", `location.hash === "#/h/bob-copy" && document.querySelectorAll("#messages li:not([hidden])").length === 2`)
	if n, _ := st.Count(bg, "bob-copy"); n != 2 {
		t.Errorf("fork holds %d messages, want 2", n)
	}

	// Truncate from message 2: it and everything after it go.
	open(3)
	dialog = handleDialog(t, ctx, true)
	click("truncate", "2")
	if msg := <-dialog; !strings.Contains(msg, "Delete message #2 and every message after it?") {
		t.Errorf("truncate confirmation %q", msg)
	}
	waitFor(t, ctx, "1 message", `document.querySelectorAll("#messages li:not([hidden])").length === 1`)
	if n := count(); n != 1 {
		t.Errorf("after truncating: %d messages", n)
	}
}

// TestWebPageSearch: the search box finds messages across histories, shows
// each hit's snippet with its words marked (and stored text as text, never
// HTML), pages, and opens a hit's conversation around the message,
// marked and scrolled to, with earlier and later messages on demand.
func TestWebPageSearch(t *testing.T) {
	base, st := webServer(t, nil)
	bg := context.Background()
	var msgs []chat.Message
	for i := range 300 {
		text := fmt.Sprint("filler message ", i)
		if i == 40 {
			text = "the zeppelin refund <img src=x onerror=alert(1)> failed"
		}
		msgs = append(msgs, chat.User(text))
	}
	if _, err := st.Write(bg, "deep", msgs); err != nil {
		t.Fatal(err)
	}
	for i := range 25 {
		if _, err := st.Write(bg, fmt.Sprint("many/", i), []chat.Message{chat.User("a zeppelin sighting")}); err != nil {
			t.Fatal(err)
		}
	}
	ctx := browser(t)
	do(t, ctx, chromedp.Navigate(base+"/"))
	waitFor(t, ctx, "the list", `!document.getElementById("list-view").hidden`)
	do(t, ctx, enter("message-search", "zeppelin refund"))
	waitFor(t, ctx, "one hit", `document.querySelectorAll("#hits li").length === 1`)
	if got := eval[string](t, ctx, `document.querySelector("#hits li .snippet").textContent`); got != "the zeppelin refund <img src=x onerror=alert(1)> failed" {
		t.Errorf("snippet text %q", got)
	}
	if marks := eval[[]string](t, ctx, `[...document.querySelectorAll("#hits li .snippet mark")].map((m) => m.textContent)`); !slices.Equal(marks, []string{"zeppelin", "refund"}) {
		t.Errorf("marked %v", marks)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll("#hits img").length`); n != 0 {
		t.Errorf("stored text became HTML: %d img elements", n)
	}
	screenshot(t, ctx, "search.png")

	// Pages of hits.
	do(t, ctx, enter("message-search", "zeppelin"))
	waitFor(t, ctx, "a first page", `document.querySelectorAll("#hits li").length === 20 && !document.getElementById("more-hits").hidden`)
	do(t, ctx, chromedp.Click(chromedp.ID("more-hits"), chromedp.NodeVisible))
	waitFor(t, ctx, "every hit", `document.querySelectorAll("#hits li").length === 26 && document.getElementById("more-hits").hidden`)

	// A query that cannot run is said, with the list still shown.
	do(t, ctx, enter("message-search", "-zeppelin"))
	waitFor(t, ctx, "the refusal", `!document.getElementById("no-hits").hidden && document.getElementById("no-hits").textContent.includes("no word to find")`)

	// A hit opens its conversation around the message.
	do(t, ctx, enter("message-search", "zeppelin refund"))
	waitFor(t, ctx, "one hit", `document.querySelectorAll("#hits li").length === 1`)
	do(t, ctx, chromedp.Click(chromedp.CSS("#hits li a"), chromedp.NodeVisible))
	waitFor(t, ctx, "the message", `location.hash === "#/h/deep/m/40" && document.querySelector("#messages li.hit") !== null`)
	if id := eval[string](t, ctx, `document.querySelector("#messages li.hit").dataset.id`); id != "40" {
		t.Errorf("marked message %s", id)
	}
	if !eval[bool](t, ctx, `(() => { const r = document.querySelector("#messages li.hit").getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight; })()`) {
		t.Error("the message found is not scrolled into view")
	}
	first := eval[string](t, ctx, `document.querySelector("#messages li").dataset.id`)
	n := eval[int](t, ctx, `document.querySelectorAll("#messages li").length`)
	if first != "0" || n != 140 || !eval[bool](t, ctx, `document.getElementById("load-earlier").hidden && !document.getElementById("load-later").hidden`) {
		t.Errorf("around message 40: from %s, %d messages, earlier/later buttons wrong", first, n)
	}
	do(t, ctx, chromedp.Click(chromedp.ID("load-later"), chromedp.NodeVisible))
	waitFor(t, ctx, "later messages", `document.querySelectorAll("#messages li").length === 240`)
	do(t, ctx, chromedp.Click(chromedp.ID("load-later"), chromedp.NodeVisible))
	waitFor(t, ctx, "the rest", `document.querySelectorAll("#messages li").length === 300 && document.getElementById("load-later").hidden`)
	screenshot(t, ctx, "search-hit.png")
}
