package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/chatstore/chatstore/chat"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/conversations"
	"github.com/openai/openai-go/v3/responses"
)

// rtConversations is how many random conversations each direction of
// TestConversationsRoundTripRandom writes on each backend.
const rtConversations = 30

// TestConversationsRoundTripRandom writes random conversations in one
// format and reads them back through the other, on every backend, with
// OpenAI's Go SDK as the client of the Conversations routes:
//
//   - /v1 → items → items → /v1: a random Haystack conversation (system,
//     user text, images and files, assistant text with tool calls and
//     reasoning, tool results answering earlier calls, names and meta the
//     items have no place for) is written through /v1 into history A. A's
//     messages read back through /v1 must be the ones written; its items are
//     listed in pages of random sizes, oldest and newest first (the two must
//     be the same items reversed), and checked against what
//     docs/MESSAGES.md says each message lists as. Then the items are posted
//     back, as the SDK turns a listed item into an input item
//     (ResponseInputItemUnion.ToParam), in batches of up to 20 into a new
//     conversation B; the items each batch answers, and B's items listed,
//     must be A's: same ids, types, roles, contents, call ids, arguments,
//     outputs, statuses. Nothing is left out of the comparison: items have
//     no created_at, and the status a /v1 message lists with ("completed")
//     is written back as it was.
//   - items → /v1 → /v1 → items: random input items (messages of the four
//     roles in the SDK's three message shapes, with text, refusal, image and
//     file parts, annotations and logprobs; function calls with arguments
//     that are or are not canonical JSON objects; outputs answering earlier
//     calls, or none, as a string or a list of parts; reasoning with any
//     number of summary and content parts and encrypted content; statuses;
//     with and without ids) create conversation C. C's items (as each batch
//     answers them, and listed) must be the items written, as the docs
//     promise ("an item written and read back is the same item"), with what
//     the server fills in: the type "message" of a message without one, an
//     id, status "completed", a string content as a list of one part, a
//     reasoning item's missing summary as [], and encrypted_content only
//     with include=reasoning.encrypted_content. C's messages read through
//     /v1 in Haystack's format must be what the items say (roles; an
//     output's origin is its call), and written as they are into history D
//     must read back the same; D's items must be C's.
//
// The generator is seeded and the seed logged: CHATSTORE_TEST_SEED=<seed>
// replays a run.
func TestConversationsRoundTripRandom(t *testing.T) {
	seed := rand.Uint64()
	if s := os.Getenv("CHATSTORE_TEST_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("CHATSTORE_TEST_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("seed %d (CHATSTORE_TEST_SEED=%d replays this run)", seed, seed)
	for name, storeURL := range testBackends(t) {
		t.Run(name, func(t *testing.T) {
			// skip_system_messages=false: system and developer items are
			// kept, not refused.
			f := newFixture(t, storeURL+"skip_system_messages=false", nil)
			hs := httptest.NewServer(f.srv)
			t.Cleanup(hs.Close)
			rt := &roundTrip{t: t, f: f, c: sdk(hs.URL, ""), ctx: context.Background(), seed: seed,
				g: &rtGen{r: rand.New(rand.NewPCG(seed, 0x5eed))}}
			for i := range rtConversations {
				rt.conv = i
				rt.haystackFirst()
				rt.itemsFirst()
			}
		})
	}
}

type roundTrip struct {
	t    *testing.T
	f    *fixture
	c    openai.Client
	ctx  context.Context
	g    *rtGen
	seed uint64
	conv int    // the conversation's number, for messages
	dir  string // the direction under test, for messages
}

func (rt *roundTrip) fatalf(format string, args ...any) {
	rt.t.Helper()
	for i, a := range args {
		var e *openai.Error
		if err, ok := a.(error); ok && errors.As(err, &e) {
			args[i] = fmt.Sprintf("%d %s (param %s): %s", e.StatusCode, e.Code, e.Param, e.Message)
		}
	}
	rt.t.Fatalf("seed %d, conversation %d, %s: %s", rt.seed, rt.conv, rt.dir, fmt.Sprintf(format, args...))
}

// rtItem is a listed item: its id, type and JSON (numbers as json.Number).
type rtItem struct {
	ID, Type string
	Raw      string
	JSON     map[string]any
}

func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("more than one JSON value")
	}
	return v, nil
}

func jsonString(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("(%v: %v)", err, v)
	}
	return string(b)
}

func (rt *roundTrip) item(raw string) rtItem {
	rt.t.Helper()
	v, err := decodeJSON([]byte(raw))
	m, ok := v.(map[string]any)
	if err != nil || !ok {
		rt.fatalf("item %s: %v", raw, err)
	}
	id, _ := m["id"].(string)
	typ, _ := m["type"].(string)
	return rtItem{ID: id, Type: typ, Raw: raw, JSON: m}
}

// list lists every item of a conversation oldest first and newest first,
// in pages of random sizes from 1 to 7 following after and has_more, and
// returns them oldest first after checking that both orders give the same
// items and every page is as long as it should be.
func (rt *roundTrip) list(conv string, include bool) []rtItem {
	rt.t.Helper()
	var orders [2][]rtItem
	for k, order := range []conversations.ItemListParamsOrder{conversations.ItemListParamsOrderAsc, conversations.ItemListParamsOrderDesc} {
		p := conversations.ItemListParams{Order: order}
		if include {
			p.Include = []responses.ResponseIncludable{responses.ResponseIncludableReasoningEncryptedContent}
		}
		for pages := 0; ; pages++ {
			if pages > 1000 {
				rt.fatalf("listing %s %s: no end after %d pages", conv, order, pages)
			}
			limit := 1 + rt.g.r.IntN(7)
			p.Limit = openai.Int(int64(limit))
			page, err := rt.c.Conversations.Items.List(rt.ctx, conv, p)
			if err != nil {
				rt.fatalf("listing %s %s after %v: %v", conv, order, p.After, err)
			}
			if len(page.Data) > limit || page.HasMore && len(page.Data) != limit || pages > 0 && len(page.Data) == 0 {
				rt.fatalf("listing %s %s after %v, limit %d: %d items, has_more %v", conv, order, p.After, limit, len(page.Data), page.HasMore)
			}
			for _, it := range page.Data {
				orders[k] = append(orders[k], rt.item(it.RawJSON()))
			}
			if !page.HasMore {
				break
			}
			if last := page.Data[len(page.Data)-1].ID; page.LastID != last {
				rt.fatalf("listing %s %s: last_id %q, last item %q", conv, order, page.LastID, last)
			}
			p.After = openai.String(page.LastID)
		}
	}
	asc, desc := orders[0], slices.Clone(orders[1])
	slices.Reverse(desc)
	rt.sameItems("newest first, reversed", desc, asc)
	seen := map[string]bool{}
	for _, it := range asc {
		if seen[it.ID] {
			rt.fatalf("listing %s: item id %q twice", conv, it.ID)
		}
		seen[it.ID] = true
	}
	return asc
}

// sameItems checks that got and want are the same items, member for member.
func (rt *roundTrip) sameItems(what string, got, want []rtItem) {
	rt.t.Helper()
	for i := range max(len(got), len(want)) {
		switch {
		case i >= len(got):
			rt.fatalf("%s: item %d missing, want %s", what, i, want[i].Raw)
		case i >= len(want):
			rt.fatalf("%s: item %d is %s, want no more (%d)", what, i, got[i].Raw, len(want))
		case !reflect.DeepEqual(got[i].JSON, want[i].JSON):
			rt.fatalf("%s: item %d\n got %s\nwant %s", what, i, jsonString(got[i].JSON), jsonString(want[i].JSON))
		}
	}
}

// ---- /v1 → items → items → /v1

func (rt *roundTrip) haystackFirst() {
	rt.t.Helper()
	rt.dir = "/v1 first"
	msgs := rt.g.haystack()
	a := fmt.Sprintf("rt-a-%d", rt.conv)
	if r := rt.f.do("POST", messagesPath(a), body(msgs...)); r.code != 200 || string(r.body) != fmt.Sprintf("{\"messages_written\":%d}\n", len(msgs)) {
		rt.fatalf("writing %s: %d %s", body(msgs...), r.code, r.body)
	}
	stored := replyMessages(rt.t, rt.f.do("GET", messagesPath(a)+"?last_k=all", ""))
	if len(stored) != len(msgs) {
		rt.fatalf("%d messages read back, %d written", len(stored), len(msgs))
	}
	for i, m := range msgs {
		// What /v1 reads back is what was written, with its id.
		m = m.WithMeta("chat_message_id", stored[i].Meta["chat_message_id"])
		if w, g := jsonString(m), jsonString(stored[i]); w != g {
			rt.fatalf("message %d through /v1:\n got %s\nwant %s", i, g, w)
		}
	}
	items := rt.list(a, rt.g.chance(0.3))
	rt.sameItems("A's items, against the documented mapping", normalizeArgs(items), normalizeArgs(rt.wantItems(stored)))

	// Posted back as the SDK turns a listed item into an input item:
	// ResponseInputItemUnion.ToParam sends the item's JSON as it came.
	params := make([]responses.ResponseInputItemUnionParam, len(items))
	for i, it := range items {
		var u responses.ResponseInputItemUnion
		if err := json.Unmarshal([]byte(it.Raw), &u); err != nil {
			rt.fatalf("item %s as an input item: %v", it.Raw, err)
		}
		params[i] = u.ToParam()
	}
	b := rt.create(params, func(i int, got rtItem) {
		rt.sameItems(fmt.Sprintf("item %d as created in B", i), []rtItem{got}, items[i:i+1])
	})
	rt.sameItems("B's items against A's", rt.list(b, rt.g.chance(0.3)), items)
}

// create creates a conversation with the items, in batches of 1 to 20:
// the first with the conversation or after it, the others through
// Items.New, whose answer is checked item by item.
func (rt *roundTrip) create(items []responses.ResponseInputItemUnionParam, check func(i int, got rtItem)) string {
	rt.t.Helper()
	var first []responses.ResponseInputItemUnionParam
	if rt.g.chance(0.5) {
		first = items[:min(len(items), 1+rt.g.r.IntN(maxItemsPerCreate))]
	}
	conv, err := rt.c.Conversations.New(rt.ctx, conversations.ConversationNewParams{Items: first})
	if err != nil {
		rt.fatalf("creating a conversation with %s: %v", jsonString(first), err)
	}
	for i := len(first); i < len(items); {
		batch := items[i:min(len(items), i+1+rt.g.r.IntN(maxItemsPerCreate))]
		created, err := rt.c.Conversations.Items.New(rt.ctx, conv.ID, conversations.ItemNewParams{Items: batch})
		if err != nil {
			rt.fatalf("adding items %s: %v", jsonString(batch), err)
		}
		if len(created.Data) != len(batch) {
			rt.fatalf("adding %d items: %d in the answer: %s", len(batch), len(created.Data), created.RawJSON())
		}
		for j, it := range created.Data {
			check(i+j, rt.item(it.RawJSON()))
		}
		i += len(batch)
	}
	return conv.ID
}

// wantItems returns the items docs/MESSAGES.md says messages written
// through /v1 list as: a message's reasoning parts (each a reasoning item),
// then its text, images and files (one message item), then its tool calls
// and results (an item each); ids are the type's prefix and the message's
// id, with "_" and the item's index when the message has several items.
func (rt *roundTrip) wantItems(msgs []chat.Message) []rtItem {
	var out []rtItem
	for _, m := range msgs {
		mid, _ := m.Meta["chat_message_id"].(string)
		var items []map[string]any
		var content []any
		for _, p := range m.Content {
			switch p := p.(type) {
			case chat.Reasoning:
				summary := []any{}
				if p.ReasoningText != "" {
					summary = append(summary, map[string]any{"type": "summary_text", "text": p.ReasoningText})
				}
				items = append(items, map[string]any{"type": "reasoning", "summary": summary})
			case chat.Text, chat.Image, chat.File:
				content = append(content, wantPart(p, m.Role))
			}
		}
		if content != nil {
			items = append(items, map[string]any{"type": "message", "role": string(m.Role), "content": content})
		}
		for _, p := range m.Content {
			switch p := p.(type) {
			case chat.ToolCall:
				args := p.Arguments
				if args == nil {
					args = map[string]any{}
				}
				items = append(items, map[string]any{"type": "function_call", "call_id": derefOr(p.ID), "name": p.ToolName, "arguments": jsonString(args)})
			case chat.ToolCallResult:
				var output any = p.Result
				if p.Parts != nil {
					parts := []any{}
					for _, q := range p.Parts {
						parts = append(parts, wantPart(q, chat.RoleUser))
					}
					output = parts
				}
				items = append(items, map[string]any{"type": "function_call_output", "call_id": derefOr(p.Origin.ID), "output": output})
			}
		}
		for i, it := range items {
			id := map[string]string{"message": "msg_", "reasoning": "rs_", "function_call": "fc_", "function_call_output": "fco_"}[it["type"].(string)] + mid
			if len(items) > 1 {
				id += "_" + strconv.Itoa(i)
			}
			it["id"], it["status"] = id, "completed"
			out = append(out, rt.item(jsonString(it)))
		}
	}
	return out
}

func wantPart(p chat.Part, role chat.Role) map[string]any {
	switch p := p.(type) {
	case chat.Text:
		if role == chat.RoleAssistant {
			return map[string]any{"type": "output_text", "text": p.Text, "annotations": []any{}}
		}
		return map[string]any{"type": "input_text", "text": p.Text}
	case chat.Image:
		detail := p.Detail
		if detail == "" {
			detail = "auto"
		}
		return map[string]any{"type": "input_image", "image_url": "data:" + orOctets(p.MimeType) + ";base64," + p.Base64Image, "detail": detail}
	case chat.File:
		j := map[string]any{"type": "input_file", "file_data": "data:" + orOctets(p.MimeType) + ";base64," + p.Base64Data}
		if p.Filename != "" {
			j["filename"] = p.Filename
		}
		return j
	}
	panic(fmt.Sprintf("part %T", p))
}

func orOctets(mime string) string {
	if mime == "" {
		return "application/octet-stream"
	}
	return mime
}

func derefOr(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// normalizeArgs returns items whose function_call arguments, a string of
// JSON, are the JSON value it holds, so that items compare by the
// arguments' value rather than by their spelling (the expectation is
// written with encoding/json, which spells some strings differently).
func normalizeArgs(items []rtItem) []rtItem {
	out := make([]rtItem, len(items))
	for i, it := range items {
		out[i] = it
		if s, ok := it.JSON["arguments"].(string); ok && it.Type == "function_call" {
			if v, err := decodeJSON([]byte(s)); err == nil {
				j := make(map[string]any, len(it.JSON))
				for k, x := range it.JSON {
					j[k] = x
				}
				j["arguments"] = v
				out[i].JSON = j
			}
		}
	}
	return out
}

// ---- items → /v1 → /v1 → items

func (rt *roundTrip) itemsFirst() {
	rt.t.Helper()
	rt.dir = "items first"
	params := rt.g.items()
	sent := make([]map[string]any, len(params))
	for i, p := range params {
		b, err := json.Marshal(p)
		if err != nil {
			rt.fatalf("item %d: %v", i, err)
		}
		v, _ := decodeJSON(b)
		sent[i], _ = v.(map[string]any)
		if sent[i] == nil {
			rt.fatalf("item %d is %s", i, b)
		}
	}
	c := rt.create(params, func(i int, got rtItem) {
		rt.sameItems(fmt.Sprintf("item %d as created", i), []rtItem{got}, []rtItem{rt.wantSent(sent[i], got, false)})
	})
	include := rt.g.chance(0.5)
	itemsC := rt.list(c, include)
	if len(itemsC) != len(sent) {
		rt.fatalf("%d items listed, %d written: %s", len(itemsC), len(sent), jsonString(sent))
	}
	want := make([]rtItem, len(sent))
	for i := range sent {
		want[i] = rt.wantSent(sent[i], itemsC[i], include)
	}
	rt.sameItems("C's items against the items written", itemsC, want)

	// C through /v1 in Haystack's format, written as it is into D.
	r := rt.f.do("GET", messagesPath(c)+"?last_k=all", "")
	var read struct{ Messages json.RawMessage }
	if err := json.Unmarshal(r.body, &read); r.code != 200 || err != nil {
		rt.fatalf("reading C: %d %s", r.code, r.body)
	}
	msgsC, err := chat.UnmarshalList(read.Messages)
	if err != nil {
		rt.fatalf("C's messages: %v: %s", err, read.Messages)
	}
	if len(msgsC) != len(itemsC) {
		rt.fatalf("%d messages through /v1 for %d items", len(msgsC), len(itemsC))
	}
	rt.checkMessages(itemsC, msgsC)

	d := fmt.Sprintf("rt-d-%d", rt.conv)
	if r := rt.f.do("POST", messagesPath(d), `{"messages":`+string(read.Messages)+`}`); r.code != 200 || string(r.body) != fmt.Sprintf("{\"messages_written\":%d}\n", len(msgsC)) {
		rt.fatalf("writing C's messages into D: %d %s: %s", r.code, r.body, read.Messages)
	}
	msgsD := replyMessages(rt.t, rt.f.do("GET", messagesPath(d)+"?last_k=all", ""))
	if g, w := jsonString(msgsD), jsonString(msgsC); g != w {
		rt.fatalf("D's messages through /v1:\n got %s\nwant %s", g, w)
	}
	rt.sameItems("D's items against C's", rt.list(d, include), itemsC)
}

// checkMessages checks the Haystack messages items were stored as, one
// each, on what the items do not show: a message item's role (developer
// is system), and a function_call_output's origin, which is the
// function_call of its call_id (name and arguments included) or, when no
// call has it, just the id.
func (rt *roundTrip) checkMessages(items []rtItem, msgs []chat.Message) {
	rt.t.Helper()
	calls := map[string]chat.ToolCall{}
	for i, m := range msgs {
		it := items[i]
		if id, _ := m.Meta["chat_message_id"].(string); id != strings.TrimPrefix(it.ID, map[string]string{
			"message": "msg_", "reasoning": "rs_", "function_call": "fc_", "function_call_output": "fco_"}[it.Type]) {
			rt.fatalf("item %s is message %q", it.ID, id)
		}
		if len(m.Content) == 0 {
			rt.fatalf("item %s is stored as %s", it.Raw, jsonString(m))
		}
		callID, _ := it.JSON["call_id"].(string)
		ok := true
		switch it.Type {
		case "message":
			role := it.JSON["role"]
			if role == "developer" {
				role = "system"
			}
			ok = ok && string(m.Role) == role
		case "function_call":
			c, _ := m.Content[0].(chat.ToolCall)
			ok = ok && m.Role == chat.RoleAssistant && len(m.Content) == 1 && c.ID != nil && *c.ID == callID && c.ToolName == it.JSON["name"]
			calls[callID] = c
		case "function_call_output":
			r, _ := m.Content[0].(chat.ToolCallResult)
			want, found := calls[callID]
			if !found {
				want = chat.ToolCall{ID: &callID}
			}
			ok = ok && m.Role == chat.RoleTool && len(m.Content) == 1 && reflect.DeepEqual(r.Origin, want)
		case "reasoning":
			_, isReasoning := m.Content[0].(chat.Reasoning)
			ok = ok && m.Role == chat.RoleAssistant && len(m.Content) == 1 && isReasoning
		}
		if !ok {
			rt.fatalf("item %s is stored as %s", it.Raw, jsonString(m))
		}
	}
}

var hex32 = regexp.MustCompile(`^[0-9a-f]{32}$`)

// wantSent returns the item a written item lists as: itself, with the
// type ("message" when it had none), the id (one of 32 hex digits after
// the type's prefix when it had none, which got must have) and the status
// ("completed" when it had none) the server fills in, a message's string
// content as one text part of the role's type, a reasoning item's summary
// as a list, and its encrypted_content only when include asks for it.
func (rt *roundTrip) wantSent(sent map[string]any, got rtItem, include bool) rtItem {
	rt.t.Helper()
	w := make(map[string]any, len(sent)+3)
	for k, v := range sent {
		w[k] = v
	}
	if w["type"] == nil {
		w["type"] = "message"
	}
	typ := w["type"].(string)
	prefix := map[string]string{"message": "msg_", "reasoning": "rs_", "function_call": "fc_", "function_call_output": "fco_"}[typ]
	if id, _ := w["id"].(string); id == "" {
		rest, ok := strings.CutPrefix(got.ID, prefix)
		if !ok || !hex32.MatchString(rest) {
			rt.fatalf("item written without an id has id %q: %s", got.ID, got.Raw)
		}
		w["id"] = got.ID
	}
	if w["status"] == nil {
		w["status"] = "completed"
	}
	switch typ {
	case "message":
		if s, ok := w["content"].(string); ok {
			part := map[string]any{"type": "input_text", "text": s}
			if w["role"] == "assistant" {
				part["type"], part["annotations"] = "output_text", []any{}
			}
			w["content"] = []any{part}
		}
	case "reasoning":
		if w["summary"] == nil {
			w["summary"] = []any{}
		}
		if !include {
			delete(w, "encrypted_content")
		}
	}
	return rt.item(jsonString(w))
}

// ---- the generator

type rtGen struct {
	r *rand.Rand
	n int // a counter for unique ids
}

func (g *rtGen) chance(p float64) bool { return g.r.Float64() < p }

func pick[T any](g *rtGen, xs ...T) T { return xs[g.r.IntN(len(xs))] }

// rtPieces are strings that JSON, SQL, Redis or a careless escaper could
// get wrong.
var rtPieces = []string{
	"", " ", "hello", `"quoted"`, `'single'`, `back\slash`, `\"`, `\u0041 (an escape, as text)`,
	"line\nbreak", "\r\n", "\t", "tab\tand\vvertical\fform", "\x01\x1f\x7f", "\u0085\u00a0",
	"emoji 😀🎉", "👩‍👩‍👧‍👦", "🏳️‍🌈", "e\u0301", "\ufeffBOM", "\u200b\u200d", "\u2028\u2029",
	"中文字符", "עברית", "العربية", "Ωμέγα", "<b>&amp;</b>", "</script>", "{\"json\": [1, 2]}", "[]", "null",
	"%s %d %%", "$1 ${x}", "'; DROP TABLE messages; --", "\U0010FFFF\uFFFE\uFFFF", "\U0001D11E",
	"msg_1", "fc_2_3", "\n\n", "   ",
}

// rtRanges are code point ranges text is drawn from. U+0000 is left out:
// PostgreSQL's JSONB cannot hold it in a string, and that backend refuses
// it (docs/STORE.md); the other backends are tested with it elsewhere.
var rtRanges = [][2]rune{
	{0x20, 0x7e}, {0x20, 0x7e}, {0x01, 0x1f}, {0x7f, 0x9f}, {0xa0, 0x24f}, {0x300, 0x36f},
	{0x370, 0x3ff}, {0x590, 0x6ff}, {0x2000, 0x206f}, {0x4e00, 0x9fff}, {0xd7f0, 0xd7ff},
	{0xe000, 0xe0ff}, {0xfe00, 0xffff}, {0x1f300, 0x1faff}, {0x10000, 0x10ffff},
}

func (g *rtGen) text() string {
	switch g.r.IntN(10) {
	case 0:
		return ""
	case 1:
		return pick(g, rtPieces...)
	}
	var b strings.Builder
	for range 1 + g.r.IntN(8) {
		if g.r.IntN(3) == 0 {
			b.WriteString(pick(g, rtPieces...))
			continue
		}
		rg := pick(g, rtRanges...)
		for range 1 + g.r.IntN(4) {
			b.WriteRune(rg[0] + rune(g.r.IntN(int(rg[1]-rg[0]+1))))
		}
	}
	return b.String()
}

// id returns a string unique in the run, of odd characters but no "_": a
// /v1 message id with "_" and a number could be the id of another
// message's item ("7_1" and message 7's second item), which the scheme of
// item ids cannot tell apart (docs/MESSAGES.md, "Ids"), so none is made.
func (g *rtGen) id() string {
	g.n++
	var b strings.Builder
	for range g.r.IntN(6) {
		b.WriteString(pick(g, "a", "Z", "9", "-", ".", ":", "é", "😀", " ", "/", "?", "#", "%", "+", "="))
	}
	return b.String() + "~" + strconv.Itoa(g.n)
}

// number returns a JSON number as PostgreSQL's JSONB keeps it: JSONB
// stores numbers as numeric and writes them back in its own spelling
// (1e2 as 100, 1e+16 as 10000000000000000, -0 as 0), which would change the
// arguments of a call on that backend whatever the mapping does.
func (g *rtGen) number() json.Number {
	switch g.r.IntN(4) {
	case 0:
		return json.Number(strconv.Itoa(g.r.IntN(2001) - 1000))
	case 1:
		return json.Number(fmt.Sprintf("%d.%d", g.r.IntN(200)-100, g.r.IntN(1000)))
	}
	return json.Number(pick(g, "0", "1.0", "0.1", "100.50", "-7.25", "1180591620717411303424", "-9007199254740993", "3.141592653589793238462643383279"))
}

func (g *rtGen) value(depth int) any {
	k := g.r.IntN(9)
	if depth > 2 {
		k %= 6
	}
	switch k {
	case 0, 1:
		return g.text()
	case 2:
		return g.number()
	case 3:
		return pick[any](g, 2.5, -0.125, 1.0, 42.0, int64(7), -3)
	case 4:
		return g.chance(0.5)
	case 5:
		return nil
	case 6, 7:
		return g.object(depth + 1)
	}
	list := []any{}
	for range g.r.IntN(4) {
		list = append(list, g.value(depth+1))
	}
	return list
}

func (g *rtGen) object(depth int) map[string]any {
	m := map[string]any{}
	for range g.r.IntN(5) {
		m[g.text()] = g.value(depth)
	}
	return m
}

// ---- Haystack messages, as its constructors make them

// haystack returns a conversation of the messages Haystack's constructors
// make (from_system, from_user, from_assistant, from_tool), with a tool
// result for some of the calls made before it. Shapes only from_dict makes
// are left out: a tool message holding text, or a message with no content,
// lists as a message item of role "tool", which OpenAI has not and no
// request accepts.
func (g *rtGen) haystack() []chat.Message {
	n := 1 + g.r.IntN(10)
	var unanswered []chat.ToolCall
	msgs := make([]chat.Message, 0, n)
	for len(msgs) < n {
		var m chat.Message
		switch k := g.r.IntN(10); {
		case k == 0:
			m = chat.System(g.text())
			if g.chance(0.2) {
				m.Content = append(m.Content, chat.Text{Text: g.text()})
			}
		case k < 4:
			m = g.user()
		case k < 7 || len(unanswered) == 0:
			m = g.assistant()
			unanswered = append(unanswered, m.ToolCalls()...)
		default:
			i := g.r.IntN(len(unanswered))
			m = g.toolResult(unanswered[i])
			unanswered = slices.Delete(unanswered, i, i+1)
		}
		// Name and meta, which items have no place for, and sometimes an
		// id of the message's own.
		if g.chance(0.2) {
			m = m.WithName(g.text())
		}
		if g.chance(0.2) {
			m = m.WithMeta("k"+g.text(), g.value(1))
		}
		if g.chance(0.3) {
			m = m.WithMeta("chat_message_id", g.id())
		}
		msgs = append(msgs, m)
	}
	return msgs
}

func (g *rtGen) user() chat.Message {
	if g.chance(0.6) {
		return chat.User(g.text())
	}
	parts := make([]chat.Part, 1+g.r.IntN(3))
	for i := range parts {
		parts[i] = g.part()
	}
	m, err := chat.UserParts(parts...)
	if err != nil {
		panic(err)
	}
	return m
}

// part returns a text, image or file part.
func (g *rtGen) part() chat.Part {
	switch g.r.IntN(4) {
	case 0:
		return g.image()
	case 1:
		return g.file()
	}
	return chat.Text{Text: g.text()}
}

// bytes returns magic and random bytes in base64, sometimes with a stray
// "=" that Python's b64decode(validate=True), and so Haystack and package
// chat, accept and Go's decoder does not.
func (g *rtGen) bytes(magic string) string {
	b := []byte(magic)
	for range g.r.IntN(24) {
		b = append(b, byte(g.r.IntN(256)))
	}
	s := base64.StdEncoding.EncodeToString(b)
	if len(b)%3 == 0 && g.chance(0.2) {
		s += "="
	}
	return s
}

func (g *rtGen) image() chat.Image {
	data := g.bytes(pick(g, "\x89PNG\r\n\x1a\n", "\xff\xd8\xff", "GIF89a"))
	mime := pick(g, "", "", "image/png", "image/jpeg", "image/webp", "image/gif")
	if g.chance(0.1) {
		// Bytes of no type Haystack's guess knows: an image without a
		// MIME type, which Haystack accepts.
		data, mime = g.bytes("not an image "), ""
	}
	img, err := chat.NewImage(data, mime, pick(g, "", "auto", "low", "high"))
	if err != nil {
		panic(err)
	}
	return img
}

func (g *rtGen) file() chat.File {
	data := g.bytes(pick(g, "%PDF-1.4\n", "plain text ", ""))
	f, err := chat.NewFile(data, pick(g, "", "application/pdf", "text/plain", "application/json"), pick(g, "", "", "report.pdf", g.text()))
	if err != nil {
		panic(err)
	}
	return f
}

func (g *rtGen) assistant() chat.Message {
	calls := make([]chat.ToolCall, g.r.IntN(4))
	for i := range calls {
		calls[i] = g.toolCall()
	}
	text := ""
	if len(calls) == 0 || g.chance(0.5) {
		text = g.text()
	}
	m := chat.Assistant(text, calls...)
	if text == "" && len(calls) > 0 && g.chance(0.15) {
		// The rare message with an empty text part and tool calls.
		m.Content = append([]chat.Part{chat.Text{}}, m.Content...)
	}
	if g.chance(0.2) {
		m.Content = append(m.Content, chat.Text{Text: g.text()})
	}
	if g.chance(0.35) {
		m = m.WithReasoning(g.text())
		if g.chance(0.3) {
			r := m.Content[0].(chat.Reasoning)
			r.Extra = g.object(1)
			m.Content[0] = r
		}
	}
	return m
}

func (g *rtGen) toolCall() chat.ToolCall {
	c := chat.ToolCall{ToolName: pick(g, "weather", "search", g.text())}
	if g.chance(0.95) {
		g.n++
		c.ID = chat.Ptr("call_" + strconv.Itoa(g.n) + g.text())
	}
	switch g.r.IntN(6) {
	case 0:
	case 1:
		c.Arguments = map[string]any{}
	default:
		c.Arguments = g.object(0)
	}
	if g.chance(0.2) {
		c.Extra = g.object(1)
	}
	return c
}

func (g *rtGen) toolResult(call chat.ToolCall) chat.Message {
	if g.chance(0.75) {
		return chat.Tool(g.text(), call, g.chance(0.2))
	}
	parts := make([]chat.Part, g.r.IntN(4))
	for i := range parts {
		parts[i] = g.part()
	}
	m, err := chat.ToolParts(parts, call, g.chance(0.2))
	if err != nil {
		panic(err)
	}
	return m
}

// ---- OpenAI input items, as the SDK's types make them
//
// Not generated, because chatstore refuses them by design
// (docs/MESSAGES.md): images by link or file_id, files by file_url or
// file_id, item types other than the four, members chatstore does not store
// (a message's phase, a call's namespace, caller or async), and image detail
// "original", which Haystack's ImageContent does not have. A data URL
// without a MIME type is not generated either: the type is guessed from the
// bytes, as Haystack does, and written back.

func (g *rtGen) items() []responses.ResponseInputItemUnionParam {
	n := 1 + g.r.IntN(12)
	var calls []string
	items := make([]responses.ResponseInputItemUnionParam, 0, n)
	for len(items) < n {
		switch k := g.r.IntN(10); {
		case k < 4:
			items = append(items, g.messageItem())
		case k < 6:
			it, callID := g.callItem()
			items = append(items, it)
			calls = append(calls, callID)
		case k < 8:
			callID := "call_orphan" + strconv.Itoa(g.r.IntN(1000)) // answers no call: its origin is just the id
			if len(calls) > 0 && g.chance(0.9) {
				i := g.r.IntN(len(calls))
				callID = calls[i]
				calls = slices.Delete(calls, i, i+1)
			}
			items = append(items, g.outputItem(callID))
		default:
			items = append(items, g.reasoningItem())
		}
	}
	return items
}

// itemID returns an id of the prefix, unique in the run, or "" for none.
func (g *rtGen) itemID(prefix string) string {
	if g.chance(0.4) {
		return ""
	}
	g.n++
	return prefix + pick(g, "", "x", "a_b", "é😀", "1_2") + strconv.Itoa(g.n)
}

func (g *rtGen) status() string {
	return pick(g, "", "", "completed", "in_progress", "incomplete")
}

func (g *rtGen) messageItem() responses.ResponseInputItemUnionParam {
	switch g.r.IntN(3) {
	case 0:
		m := &responses.EasyInputMessageParam{Role: pick(g, responses.EasyInputMessageRoleUser, responses.EasyInputMessageRoleAssistant,
			responses.EasyInputMessageRoleSystem, responses.EasyInputMessageRoleDeveloper)}
		if g.chance(0.5) {
			m.Content.OfString = openai.String(g.text())
		} else {
			m.Content.OfInputItemContentList = g.inputContent()
		}
		if g.chance(0.5) {
			m.Type = responses.EasyInputMessageTypeMessage
		}
		if id := g.itemID("msg_"); id != "" {
			m.SetExtraFields(map[string]any{"id": id})
		}
		return responses.ResponseInputItemUnionParam{OfMessage: m}
	case 1:
		m := &responses.ResponseInputItemMessageParam{Role: pick(g, "user", "system", "developer"), Content: g.inputContent(), Status: g.status()}
		if g.chance(0.5) {
			m.Type = "message"
		}
		return responses.ResponseInputItemUnionParam{OfInputMessage: m}
	}
	m := &responses.ResponseOutputMessageParam{ID: g.itemID("msg_"), Status: pick(g, responses.ResponseOutputMessageStatusCompleted,
		responses.ResponseOutputMessageStatusInProgress, responses.ResponseOutputMessageStatusIncomplete)}
	for range 1 + g.r.IntN(3) {
		if g.chance(0.2) {
			m.Content = append(m.Content, responses.ResponseOutputMessageContentUnionParam{OfRefusal: &responses.ResponseOutputRefusalParam{Refusal: g.text()}})
			continue
		}
		t := &responses.ResponseOutputTextParam{Text: g.text(), Annotations: []responses.ResponseOutputTextAnnotationUnionParam{}}
		if g.chance(0.3) {
			t.Annotations = append(t.Annotations, responses.ResponseOutputTextAnnotationUnionParam{OfURLCitation: &responses.ResponseOutputTextAnnotationURLCitationParam{
				URL: "https://example.com/" + strconv.Itoa(g.r.IntN(100)), Title: g.text(), StartIndex: int64(g.r.IntN(10)), EndIndex: int64(10 + g.r.IntN(10))}})
		}
		if g.chance(0.15) {
			t.Annotations = nil // a part without annotations
		}
		if g.chance(0.2) {
			t.Logprobs = []responses.ResponseOutputTextLogprobParam{{Token: g.text(), Bytes: []int64{104, 105}, Logprob: -0.25,
				TopLogprobs: []responses.ResponseOutputTextLogprobTopLogprobParam{{Token: "x", Bytes: []int64{120}, Logprob: -1.5}}}}
		}
		m.Content = append(m.Content, responses.ResponseOutputMessageContentUnionParam{OfOutputText: t})
	}
	return responses.ResponseInputItemUnionParam{OfOutputMessage: m}
}

func (g *rtGen) imageURL() string {
	return "data:" + pick(g, "image/png", "image/jpeg", "image/gif", "image/webp") + ";base64," + g.bytes(pick(g, "\x89PNG\r\n\x1a\n", "\xff\xd8\xff", ""))
}

// fileData is a data URL or plain base64.
func (g *rtGen) fileData() string {
	data := g.bytes(pick(g, "%PDF-1.4\n", "plain text ", ""))
	if g.chance(0.3) {
		return data
	}
	return "data:" + pick(g, "application/pdf", "text/plain", "text/plain;charset=utf-8", "application/octet-stream") + ";base64," + data
}

func (g *rtGen) inputContent() responses.ResponseInputMessageContentListParam {
	var list responses.ResponseInputMessageContentListParam
	for range 1 + g.r.IntN(3) {
		switch g.r.IntN(5) {
		case 0:
			img := &responses.ResponseInputImageParam{ImageURL: openai.String(g.imageURL()),
				Detail: pick(g, "", responses.ResponseInputImageDetailAuto, responses.ResponseInputImageDetailLow, responses.ResponseInputImageDetailHigh)}
			list = append(list, responses.ResponseInputContentUnionParam{OfInputImage: img})
		case 1:
			f := &responses.ResponseInputFileParam{FileData: openai.String(g.fileData())}
			if g.chance(0.6) {
				f.Filename = openai.String(pick(g, "", "a.pdf", g.text()))
			}
			if g.chance(0.2) {
				f.Detail = responses.ResponseInputFileDetailHigh
			}
			list = append(list, responses.ResponseInputContentUnionParam{OfInputFile: f})
		default:
			list = append(list, responses.ResponseInputContentUnionParam{OfInputText: &responses.ResponseInputTextParam{Text: g.text()}})
		}
	}
	return list
}

// arguments returns a function call's arguments string: mostly a JSON
// object as the server writes it back (compact, keys sorted), else one
// spelled otherwise, or not an object, or not JSON.
func (g *rtGen) arguments() string {
	switch g.r.IntN(8) {
	case 0, 1, 2, 3:
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(g.object(0)); err != nil {
			panic(err)
		}
		return strings.TrimSuffix(b.String(), "\n")
	case 4:
		b, err := json.MarshalIndent(g.object(0), "", "  ")
		if err != nil {
			panic(err)
		}
		return string(b)
	case 5:
		b, _ := json.Marshal(g.text())
		return `{"b": 1, "a": ` + string(b) + `, "n": 1e2}`
	}
	return pick(g, "", "{}", "[1, 2]", `"a string"`, "null", "42", "not json", `{"a":1} `, `{"a":1}{"b":2}`, `{"a":1,"a":2}`, `{"esc":"\u00e9\/"}`)
}

func (g *rtGen) callItem() (responses.ResponseInputItemUnionParam, string) {
	g.n++
	callID := "call_" + strconv.Itoa(g.n) + pick(g, "", g.text())
	c := &responses.ResponseFunctionToolCallParam{Arguments: g.arguments(), CallID: callID, Name: pick(g, "weather", "search", g.text()),
		Status: pick(g, "", responses.ResponseFunctionToolCallStatusCompleted, responses.ResponseFunctionToolCallStatusInProgress, responses.ResponseFunctionToolCallStatusIncomplete)}
	if id := g.itemID("fc_"); id != "" {
		c.ID = openai.String(id)
	}
	return responses.ResponseInputItemUnionParam{OfFunctionCall: c}, callID
}

func (g *rtGen) outputItem(callID string) responses.ResponseInputItemUnionParam {
	o := &responses.ResponseInputItemFunctionCallOutputParam{CallID: openai.String(callID), Status: g.status()}
	if g.chance(0.6) {
		o.Output.OfString = openai.String(g.text())
	} else {
		for range 1 + g.r.IntN(3) {
			var p responses.ResponseFunctionCallOutputItemUnionParam
			switch g.r.IntN(4) {
			case 0:
				p.OfInputImage = &responses.ResponseInputImageContentParam{ImageURL: openai.String(g.imageURL()),
					Detail: pick(g, "", responses.ResponseInputImageContentDetailAuto, responses.ResponseInputImageContentDetailLow)}
			case 1:
				p.OfInputFile = &responses.ResponseInputFileContentParam{FileData: openai.String(g.fileData())}
				if g.chance(0.5) {
					p.OfInputFile.Filename = openai.String(g.text())
				}
			default:
				p.OfInputText = &responses.ResponseInputTextContentParam{Text: g.text()}
			}
			o.Output.OfResponseFunctionCallOutputItemArray = append(o.Output.OfResponseFunctionCallOutputItemArray, p)
		}
	}
	if id := g.itemID("fco_"); id != "" {
		o.ID = openai.String(id)
	}
	return responses.ResponseInputItemUnionParam{OfFunctionCallOutput: o}
}

func (g *rtGen) reasoningItem() responses.ResponseInputItemUnionParam {
	r := &responses.ResponseReasoningItemParam{ID: g.itemID("rs_"),
		Status: pick(g, "", responses.ResponseReasoningItemStatusCompleted, responses.ResponseReasoningItemStatusInProgress)}
	for range g.r.IntN(4) {
		r.Summary = append(r.Summary, responses.ResponseReasoningItemSummaryParam{Text: g.text()})
	}
	for range g.r.IntN(3) {
		r.Content = append(r.Content, responses.ResponseReasoningItemContentParam{Text: g.text()})
	}
	if g.chance(0.4) {
		r.EncryptedContent = openai.String(base64.StdEncoding.EncodeToString([]byte(g.text())))
	}
	return responses.ResponseInputItemUnionParam{OfReasoning: r}
}
