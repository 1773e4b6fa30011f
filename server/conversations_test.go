package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/driver"
	"github.com/chatstore/chatstore/internal/testenv"
	"github.com/chatstore/chatstore/memstore"
	_ "github.com/chatstore/chatstore/pgstore"
	_ "github.com/chatstore/chatstore/redisstore"
	_ "github.com/chatstore/chatstore/sqlitestore"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/conversations"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	"github.com/openai/openai-go/v3/shared"
)

const (
	acmeToken  = "0123456789abcdef0123"
	acme2Token = "fedcba9876543210fedc"
)

// oaiClient is OpenAI's Go SDK pointed at a test server.
func oaiClient(t *testing.T, storeURL, token string) (openai.Client, *httptest.Server) {
	t.Helper()
	tokens, err := ParseTokens(strings.NewReader("acme " + acmeToken + "\nacme2 " + acme2Token + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := newTestServer(t, storeURL, &Options{Tokens: tokens})
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return sdk(hs.URL, token), hs
}

func sdk(url, token string) openai.Client {
	return openai.NewClient(option.WithBaseURL(url+"/openai/v1/"), option.WithAPIKey(token), option.WithMaxRetries(0))
}

func oaiErr(t *testing.T, err error, status int, msg string) {
	t.Helper()
	var e *openai.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v, want *openai.Error %d", err, status)
	}
	if e.StatusCode != status || !strings.Contains(e.Message, msg) {
		t.Errorf("error %d %q (code %s, param %s), want %d …%s…", e.StatusCode, e.Message, e.Code, e.Param, status, msg)
	}
}

func userItem(text string) responses.ResponseInputItemUnionParam {
	return responses.ResponseInputItemParamOfMessage(text, responses.EasyInputMessageRoleUser)
}

func itemIDs(items []conversations.ConversationItemUnion) []string {
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.ID
	}
	return ids
}

// TestConversationsSDK drives every Conversations route with OpenAI's Go
// SDK: create with items and metadata, retrieve, update, items created,
// listed in both orders with after, retrieved, deleted, and the errors.
//
// It runs on every backend: the mapping sits above the store, and what it
// needs of one (messages by id, metadata, times) each backend provides.
func TestConversationsSDK(t *testing.T) {
	for name, storeURL := range testBackends(t) {
		t.Run(name, func(t *testing.T) { conversationsSDK(t, storeURL+"skip_system_messages=false") })
	}
}

// testBackends gives a store URL, ready for one more query parameter, for
// each backend: memory and SQLite always, PostgreSQL and Redis when the
// tests' variables name them (a schema or key prefix of the test's own,
// removed afterwards).
func testBackends(t *testing.T) map[string]string {
	out := map[string]string{
		"memory": "memory://?",
		"sqlite": "sqlite://" + filepath.ToSlash(filepath.Join(t.TempDir(), "conv.db")) + "?",
	}
	if base := os.Getenv("CHATSTORE_TEST_POSTGRES_URL"); base != "" || os.Getenv("CI") == "true" {
		out["postgres"] = testenv.PostgresSchema(t, testenv.Get(t, "CHATSTORE_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")) + "&"
	} else {
		t.Log("PostgreSQL left out: set CHATSTORE_TEST_POSTGRES_URL to run on it too")
	}
	if base := os.Getenv("CHATSTORE_TEST_REDIS_URL"); base != "" || os.Getenv("CI") == "true" {
		b := make([]byte, 6)
		rand.Read(b)
		u := testenv.Get(t, "CHATSTORE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0") + "?key_prefix=chatstore_test_" + hex.EncodeToString(b) + ":"
		t.Cleanup(func() {
			st, err := chatstore.Open(context.Background(), u, nil)
			if err != nil {
				t.Errorf("cleaning up Redis: %v", err)
				return
			}
			defer st.Close()
			if err := st.DeleteAll(context.Background()); err != nil {
				t.Errorf("cleaning up Redis: %v", err)
			}
		})
		out["redis"] = u + "&"
	} else {
		t.Log("Redis left out: set CHATSTORE_TEST_REDIS_URL to run on it too")
	}
	return out
}

func conversationsSDK(t *testing.T, storeURL string) {
	ctx := context.Background()
	c, _ := oaiClient(t, storeURL, acmeToken)
	conv, err := c.Conversations.New(ctx, conversations.ConversationNewParams{
		Items:    []responses.ResponseInputItemUnionParam{userItem("hi"), responses.ResponseInputItemParamOfMessage("be brief", responses.EasyInputMessageRoleDeveloper)},
		Metadata: shared.Metadata{"topic": "weather"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(conv.ID, "conv_") || mdOf(conv.Metadata)["topic"] != "weather" || conv.CreatedAt == 0 {
		t.Fatalf("created %+v", conv)
	}
	got, err := c.Conversations.Get(ctx, conv.ID)
	if err != nil || got.ID != conv.ID || mdOf(got.Metadata)["topic"] != "weather" {
		t.Fatalf("get %+v %v", got, err)
	}
	up, err := c.Conversations.Update(ctx, conv.ID, conversations.ConversationUpdateParams{Metadata: shared.Metadata{"user": "ann"}})
	if err != nil || mdOf(up.Metadata)["user"] != "ann" || mdOf(up.Metadata)["topic"] != nil {
		t.Fatalf("update %+v %v", up, err)
	}

	out := responses.ResponseInputItemParamOfFunctionCallOutput("sunny")
	out.OfFunctionCallOutput.CallID = openai.String("call_1")
	created, err := c.Conversations.Items.New(ctx, conv.ID, conversations.ItemNewParams{Items: []responses.ResponseInputItemUnionParam{
		responses.ResponseInputItemParamOfFunctionCall(`{"city":"Paris"}`, "call_1", "weather"),
		out,
		responses.ResponseInputItemParamOfMessage("It is sunny.", responses.EasyInputMessageRoleAssistant),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(created.Data) != 3 || created.Data[0].Type != "function_call" || created.Data[0].CallID != "call_1" ||
		created.Data[0].Arguments.OfString != `{"city":"Paris"}` || created.Data[1].Output.OfString != "sunny" || created.Data[2].Role != "assistant" {
		t.Fatalf("created items %+v", created.Data)
	}
	for i, p := range []string{"fc_", "fco_", "msg_"} {
		if !strings.HasPrefix(created.Data[i].ID, p) {
			t.Errorf("item %d: id %s", i, created.Data[i].ID)
		}
	}

	// Every item, both orders, a page at a time.
	asc, err := c.Conversations.Items.List(ctx, conv.ID, conversations.ItemListParams{Order: conversations.ItemListParamsOrderAsc, Limit: openai.Int(100)})
	if err != nil {
		t.Fatal(err)
	}
	all := itemIDs(asc.Data)
	if len(all) != 5 || asc.HasMore || all[2] != created.Data[0].ID || all[4] != created.Data[2].ID {
		t.Fatalf("asc %v", all)
	}
	if asc.Data[1].Role != "developer" || asc.Data[0].Content.OfMessageContentArray[0].Text != "hi" {
		t.Errorf("first items %+v", asc.Data[:2])
	}
	for _, order := range []conversations.ItemListParamsOrder{conversations.ItemListParamsOrderAsc, conversations.ItemListParamsOrderDesc} {
		want := slices.Clone(all)
		if order == conversations.ItemListParamsOrderDesc {
			slices.Reverse(want)
		}
		var paged []string
		p := conversations.ItemListParams{Order: order, Limit: openai.Int(2)}
		for range 5 {
			page, err := c.Conversations.Items.List(ctx, conv.ID, p)
			if err != nil {
				t.Fatal(err)
			}
			paged = append(paged, itemIDs(page.Data)...)
			if !page.HasMore {
				break
			}
			if page.LastID != page.Data[len(page.Data)-1].ID {
				t.Errorf("last_id %s", page.LastID)
			}
			p.After = openai.String(page.LastID)
		}
		if !slices.Equal(paged, want) {
			t.Errorf("%s pages: %v, want %v", order, paged, want)
		}
		var auto []string
		iter := c.Conversations.Items.ListAutoPaging(ctx, conv.ID, conversations.ItemListParams{Order: order, Limit: openai.Int(2)})
		for iter.Next() {
			auto = append(auto, iter.Current().ID)
		}
		if err := iter.Err(); err != nil || !slices.Equal(auto, want) {
			t.Errorf("%s auto-paging: %v %v, want %v", order, auto, err, want)
		}
	}
	// The default order is desc.
	def, err := c.Conversations.Items.List(ctx, conv.ID, conversations.ItemListParams{})
	if err != nil || def.Data[0].ID != all[4] {
		t.Errorf("default order: %v %v", itemIDs(def.Data), err)
	}

	it, err := c.Conversations.Items.Get(ctx, conv.ID, all[2], conversations.ItemGetParams{})
	if err != nil || it.Name != "weather" || it.Type != "function_call" {
		t.Fatalf("get item %+v %v", it, err)
	}
	if _, err := c.Conversations.Items.Delete(ctx, conv.ID, all[0]); err != nil {
		t.Fatal(err)
	}
	_, err = c.Conversations.Items.Get(ctx, conv.ID, all[0], conversations.ItemGetParams{})
	oaiErr(t, err, 404, "no item")

	// Errors.
	_, err = c.Conversations.Get(ctx, "conv_nope")
	oaiErr(t, err, 404, `no conversation "conv_nope"`)
	_, err = c.Conversations.Items.Get(ctx, conv.ID, "msg_nope", conversations.ItemGetParams{})
	oaiErr(t, err, 404, `no item "msg_nope"`)
	_, err = c.Conversations.Items.List(ctx, "conv_nope", conversations.ItemListParams{})
	oaiErr(t, err, 404, "no conversation")
	_, err = c.Conversations.Items.List(ctx, conv.ID, conversations.ItemListParams{After: openai.String("msg_nope")})
	oaiErr(t, err, 404, "no item")
	_, err = c.Conversations.Items.New(ctx, conv.ID, conversations.ItemNewParams{Items: []responses.ResponseInputItemUnionParam{
		responses.ResponseInputItemParamOfMessage(responses.ResponseInputMessageContentListParam{
			responses.ResponseInputContentParamOfInputImage(responses.ResponseInputImageDetailAuto)}, responses.EasyInputMessageRoleUser),
	}})
	oaiErr(t, err, 400, "items[0].content[0]")
	_, err = c.Conversations.Items.New(ctx, conv.ID, conversations.ItemNewParams{Items: []responses.ResponseInputItemUnionParam{
		{OfItemReference: &responses.ResponseInputItemItemReferenceParam{ID: "msg_1"}},
	}})
	oaiErr(t, err, 400, `items of type "item_reference" cannot be stored`)
	many := make([]responses.ResponseInputItemUnionParam, 21)
	for i := range many {
		many[i] = userItem("x")
	}
	_, err = c.Conversations.Items.New(ctx, conv.ID, conversations.ItemNewParams{Items: many})
	oaiErr(t, err, 400, "21 items in one request; the limit is 20")
	md := shared.Metadata{}
	for i := range 17 {
		md[string(rune('a'+i))] = "v"
	}
	_, err = c.Conversations.New(ctx, conversations.ConversationNewParams{Metadata: md})
	oaiErr(t, err, 400, "metadata has 17 pairs")

	del, err := c.Conversations.Delete(ctx, conv.ID)
	if err != nil || !del.Deleted || del.ID != conv.ID {
		t.Fatalf("delete %+v %v", del, err)
	}
	_, err = c.Conversations.Get(ctx, conv.ID)
	oaiErr(t, err, 404, "no conversation")
}

// TestConversationsTenants: a tenant's conversations are its own; a
// request without a valid token is refused in OpenAI's envelope; a store
// that skips system messages refuses developer items rather than drop them.
func TestConversationsTenants(t *testing.T) {
	ctx := context.Background()
	acme, hs := oaiClient(t, "memory://", acmeToken)
	acme2 := sdk(hs.URL, acme2Token)
	conv, err := acme.Conversations.New(ctx, conversations.ConversationNewParams{Items: []responses.ResponseInputItemUnionParam{userItem("hi")}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = acme2.Conversations.Get(ctx, conv.ID)
	oaiErr(t, err, 404, "no conversation")
	_, err = acme2.Conversations.Delete(ctx, conv.ID)
	oaiErr(t, err, 404, "no conversation")
	wrong := sdk(hs.URL, "wrong-token-0000000000")
	_, err = wrong.Conversations.Get(ctx, conv.ID)
	oaiErr(t, err, 401, "bearer token")
	_, err = acme.Conversations.Items.New(ctx, conv.ID, conversations.ItemNewParams{Items: []responses.ResponseInputItemUnionParam{
		responses.ResponseInputItemParamOfMessage("be brief", responses.EasyInputMessageRoleDeveloper)}})
	oaiErr(t, err, 400, "skips system messages")
	page, err := acme.Conversations.Items.List(ctx, conv.ID, conversations.ItemListParams{})
	if err != nil || len(page.Data) != 1 {
		t.Fatalf("items %v %v", page, err)
	}
	resp, err := http.Get(hs.URL + "/openai/v1/conversations/" + conv.ID)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("no token: %d", resp.StatusCode)
	}
}

func mdOf(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// TestConversationsCrossFormat: items written through the Conversations
// routes read back through /v1 in Haystack's format and OpenAI's Chat
// Completions format, and messages written through /v1 list as items, a
// message with text and two tool calls as three, whose items cannot be
// deleted one by one.
func TestConversationsCrossFormat(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "memory://", nil)
	hs := httptest.NewServer(f.srv)
	t.Cleanup(hs.Close)
	c := sdk(hs.URL, "")
	out := responses.ResponseInputItemParamOfFunctionCallOutput("sunny")
	out.OfFunctionCallOutput.CallID = openai.String("call_1")
	conv, err := c.Conversations.New(ctx, conversations.ConversationNewParams{Items: []responses.ResponseInputItemUnionParam{
		userItem("weather?"),
		responses.ResponseInputItemParamOfFunctionCall(`{"city":"Paris"}`, "call_1", "weather"),
		out,
		responses.ResponseInputItemParamOfMessage("It is sunny.", responses.EasyInputMessageRoleAssistant),
	}, Metadata: shared.Metadata{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	var list struct{ Messages json.RawMessage }
	r := f.do("GET", messagesPath(conv.ID)+"?last_k=all", "")
	if err := json.Unmarshal(r.body, &list); err != nil {
		t.Fatalf("%d %s", r.code, r.body)
	}
	msgs, err := chat.UnmarshalList(list.Messages)
	if err != nil || len(msgs) != 4 {
		t.Fatalf("%v %s", err, list.Messages)
	}
	call, _ := findCall(msgs[1], "call_1")
	res, _ := msgs[2].Content[0].(chat.ToolCallResult)
	if t0, _ := msgs[0].Text(); t0 != "weather?" || call.ToolName != "weather" || call.Arguments["city"] != "Paris" ||
		res.Result != "sunny" || res.Origin.ToolName != "weather" || msgs[3].Role != chat.RoleAssistant {
		t.Errorf("read through /v1: %s", list.Messages)
	}
	for _, m := range msgs {
		if len(m.Meta) != 1 { // chat_message_id only: nothing OpenAI-specific to keep
			t.Errorf("meta %v", m.Meta)
		}
	}
	r = f.do("GET", messagesPath(conv.ID)+"?last_k=all&format=openai", "")
	if r.code != 200 || !strings.Contains(string(r.body), `"tool_call_id":"call_1"`) || !strings.Contains(string(r.body), `"name":"weather"`) {
		t.Errorf("format=openai: %s", r.body)
	}
	if r := f.do("GET", "/v1/histories/"+conv.ID, ""); !strings.Contains(string(r.body), `"k":"v"`) {
		t.Errorf("metadata through /v1: %s", r.body)
	}

	// Written through /v1, read as items.
	a := chat.Assistant("let me look",
		chat.ToolCall{ToolName: "a", Arguments: map[string]any{"x": "1"}, ID: chat.Ptr("c1")},
		chat.ToolCall{ToolName: "b", ID: chat.Ptr("c2")})
	a.Meta = map[string]any{"chat_message_id": "7"}
	tool := chat.Tool("42", chat.ToolCall{ToolName: "a", ID: chat.Ptr("c1")}, false)
	tool.Meta = map[string]any{"chat_message_id": "8"}
	if r := f.do("POST", messagesPath("h"), body(chat.User("hi"), a, tool)); r.code != 200 {
		t.Fatalf("%d %s", r.code, r.body)
	}
	page, err := c.Conversations.Items.List(ctx, "h", conversations.ItemListParams{Order: conversations.ItemListParamsOrderAsc})
	if err != nil {
		t.Fatal(err)
	}
	ids := itemIDs(page.Data)
	if len(ids) != 5 || !slices.Equal(ids[1:], []string{"msg_7_0", "fc_7_1", "fc_7_2", "fco_8"}) {
		t.Fatalf("items %v", ids)
	}
	if page.Data[2].Arguments.OfString != `{"x":"1"}` || page.Data[4].CallID != "c1" || page.Data[4].Output.OfString != "42" {
		t.Errorf("items %+v", page.Data)
	}
	// Paged oldest first from inside a message of several items, and
	// across messages: every item once, in order.
	var paged []string
	for after := "msg_7_0"; ; {
		p, err := c.Conversations.Items.List(ctx, "h", conversations.ItemListParams{Order: conversations.ItemListParamsOrderAsc, After: openai.String(after), Limit: openai.Int(1)})
		if err != nil {
			t.Fatal(err)
		}
		paged = append(paged, itemIDs(p.Data)...)
		if !p.HasMore {
			break
		}
		after = p.LastID
	}
	if !slices.Equal(paged, []string{"fc_7_1", "fc_7_2", "fco_8"}) {
		t.Errorf("paged after msg_7_0: %v", paged)
	}
	_, err = c.Conversations.Items.Delete(ctx, "h", "fc_7_1")
	oaiErr(t, err, 400, `one of the 3 items (msg_7_0, fc_7_1, fc_7_2) of the chatstore message "7"`)
	if _, err := c.Conversations.Items.Delete(ctx, "h", "fco_8"); err != nil {
		t.Fatal(err)
	}
	if r := f.do("GET", messagesPath("h")+"/8", ""); r.code != 404 {
		t.Errorf("message 8 after its item was deleted: %d", r.code)
	}
}

// TestConversationsLongConversation: a conversation far over the response
// limit still lists in both orders, a page at a time, and a
// function_call_output finds its call hundreds of messages back. A read
// of the whole conversation is refused, so the pages prove that listing
// reads only what it answers.
func TestConversationsLongConversation(t *testing.T) {
	for name, storeURL := range testBackends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, storeURL, &Options{MaxResponseBytes: 8 << 10})
			hs := httptest.NewServer(f.srv)
			t.Cleanup(hs.Close)
			c := sdk(hs.URL, "")
			// Message 0 calls a tool; then 300 messages, every tenth
			// of them an assistant message of two items.
			first := chat.Assistant("", chat.ToolCall{ToolName: "lookup", Arguments: map[string]any{"q": "x"}, ID: chat.Ptr("call_old")})
			msgs := []chat.Message{first}
			var want []string // item ids, oldest first
			want = append(want, "fc_0")
			for i := 1; i <= 300; i++ {
				text := fmt.Sprintf("message %d %s", i, strings.Repeat("·", 40))
				if i%10 == 0 {
					msgs = append(msgs, chat.Assistant(text, chat.ToolCall{ToolName: "t", ID: chat.Ptr(fmt.Sprint("c", i))}))
					want = append(want, fmt.Sprintf("msg_%d_0", i), fmt.Sprintf("fc_%d_1", i))
				} else {
					msgs = append(msgs, chat.User(text))
					want = append(want, fmt.Sprintf("msg_%d", i))
				}
			}
			if r := f.do("POST", messagesPath("long"), body(msgs...)); r.code != 200 {
				t.Fatalf("%d %s", r.code, r.body)
			}
			if r := f.do("GET", messagesPath("long")+"?last_k=all", ""); r.code != 400 || !strings.Contains(string(r.body), "response_too_large") {
				t.Fatalf("the whole conversation is not over the response limit: %d %.200s", r.code, r.body)
			}
			for _, order := range []conversations.ItemListParamsOrder{conversations.ItemListParamsOrderAsc, conversations.ItemListParamsOrderDesc} {
				w := slices.Clone(want)
				if order == conversations.ItemListParamsOrderDesc {
					slices.Reverse(w)
				}
				var got []string
				iter := c.Conversations.Items.ListAutoPaging(ctx, "long", conversations.ItemListParams{Order: order, Limit: openai.Int(7)})
				for iter.Next() {
					got = append(got, iter.Current().ID)
				}
				if err := iter.Err(); err != nil || !slices.Equal(got, w) {
					t.Errorf("%s: %v (%d items), want %d items", order, err, len(got), len(w))
				}
			}
			// From inside a message of two items, newest first: its
			// first item, then the messages before it.
			page, err := c.Conversations.Items.List(ctx, "long", conversations.ItemListParams{After: openai.String("fc_20_1"), Limit: openai.Int(3)})
			if err != nil || !slices.Equal(itemIDs(page.Data), []string{"msg_20_0", "msg_19", "msg_18"}) || !page.HasMore {
				t.Errorf("newest first after fc_20_1: %v %v %v", itemIDs(page.Data), page.HasMore, err)
			}
			page, err = c.Conversations.Items.List(ctx, "long", conversations.ItemListParams{After: openai.String("msg_1"), Limit: openai.Int(3)})
			if err != nil || !slices.Equal(itemIDs(page.Data), []string{"fc_0"}) || page.HasMore {
				t.Errorf("newest first after msg_1: %v %v %v", itemIDs(page.Data), page.HasMore, err)
			}
			// The origin of a result whose call is 300 messages back.
			out := responses.ResponseInputItemParamOfFunctionCallOutput("found")
			out.OfFunctionCallOutput.CallID = openai.String("call_old")
			created, err := c.Conversations.Items.New(ctx, "long", conversations.ItemNewParams{Items: []responses.ResponseInputItemUnionParam{out}})
			if err != nil {
				var e *openai.Error
				errors.As(err, &e)
				t.Fatalf("%v: %s", err, e.RawJSON())
			}
			r := f.do("GET", messagesPath("long")+"/"+strings.TrimPrefix(created.Data[0].ID, "fco_"), "")
			if r.code != 200 || !strings.Contains(string(r.body), `"origin":{"tool_name":"lookup","arguments":{"q":"x"},"id":"call_old",`) {
				t.Errorf("the result's origin: %d %s", r.code, r.body)
			}
		})
	}
}

// failingWrites fails the first writes with err; when stored is set, the
// write is stored first (the outcome a client cannot know).
type failingWrites struct {
	*memstore.Store
	err    error
	stored bool
	fails  atomic.Int32 // writes left to fail
	calls  atomic.Int32
}

func (f *failingWrites) Write(ctx context.Context, id string, recs []driver.Record) (int, error) {
	f.calls.Add(1)
	if f.fails.Add(-1) < 0 {
		return f.Store.Write(ctx, id, recs)
	}
	if f.stored {
		if _, err := f.Store.Write(ctx, id, recs); err != nil {
			return 0, err
		}
	}
	return 0, f.err
}

// TestConversationsSDKRetries: OpenAI's SDK, with its retries on, repeats a
// write the server says changed nothing (503 store_unavailable, with
// Retry-After), and gets the items stored once; it does not repeat one
// whose outcome is unknown (X-Should-Retry: false), which would store the
// items a second time under new ids.
func TestConversationsSDKRetries(t *testing.T) {
	for _, c := range []struct {
		name    string
		err     error
		stored  bool
		wantErr string
		calls   int32
	}{
		{"unavailable", fmt.Errorf("x: %w", chatstore.ErrUnavailable), false, "", 2},
		{"outcome unknown", fmt.Errorf("x: %w: %w", chatstore.ErrOutcomeUnknown, chatstore.ErrUnavailable), true, "outcome_unknown", 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			drv := &failingWrites{Store: memstore.New(), err: c.err, stored: c.stored}
			st, err := chatstore.New(drv, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			srv, err := New(st, &Options{Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			hs := httptest.NewServer(srv)
			defer hs.Close()
			cl := openai.NewClient(option.WithBaseURL(hs.URL+"/openai/v1/"), option.WithAPIKey("k"), option.WithMaxRetries(2))
			conv, err := cl.Conversations.New(ctx, conversations.ConversationNewParams{})
			if err != nil {
				t.Fatal(err)
			}
			drv.fails.Store(1)
			drv.calls.Store(0)
			_, err = cl.Conversations.Items.New(ctx, conv.ID, conversations.ItemNewParams{Items: []responses.ResponseInputItemUnionParam{userItem("once")}})
			if c.wantErr == "" && err != nil {
				t.Fatalf("the SDK's retry: %v", err)
			}
			if c.wantErr != "" {
				var e *openai.Error
				if !errors.As(err, &e) || e.StatusCode != 503 || e.Code != c.wantErr {
					t.Fatalf("error %v, want a 503 %s", err, c.wantErr)
				}
			}
			if n := drv.calls.Load(); n != c.calls {
				t.Errorf("the store saw %d writes, want %d", n, c.calls)
			}
			if n, err := st.Count(ctx, conv.ID); err != nil || n != 1 {
				t.Errorf("the conversation holds %d messages (%v), want 1", n, err)
			}
		})
	}
}
