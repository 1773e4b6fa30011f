package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/internal/oaiconv"
)

// OpenAI's Conversations API under /openai/v1 (docs/SERVER.md, "OpenAI
// Conversations"): a conversation is a history, its items the history's
// messages as internal/oaiconv maps them.

const (
	openaiPrefix = "/openai/"
	// maxItemsPerCreate is OpenAI's limit on the items of one request.
	maxItemsPerCreate = 20
	convPrefix        = "conv_"
)

// paramError is a 400 with OpenAI's "param".
type paramError struct {
	error
	param string
}

func (e *paramError) Unwrap() error { return e.error }

func itemError(err error) error {
	var e *oaiconv.Error
	if errors.As(err, &e) {
		return &paramError{badRequest("invalid_item", e.Param+": "+e.Msg), e.Param}
	}
	return err
}

// writeOpenAIError writes OpenAI's error envelope.
func writeOpenAIError(w http.ResponseWriter, status int, code, msg, param string) {
	typ := "invalid_request_error"
	switch {
	case status == http.StatusUnauthorized:
		typ = "authentication_error"
	case status == http.StatusForbidden:
		typ = "permission_error"
	case status >= 500:
		typ = "server_error"
	}
	var p any
	if param != "" {
		p = param
	}
	b, _ := json.Marshal(map[string]any{"error": map[string]any{
		"message": truncate(msg, 2000), "type": typ, "param": p, "code": code}})
	writeJSON(w, status, append(b, '\n'))
}

func newID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// bareConversation is conversation for a route that takes no query
// parameters, which are refused first.
func (s *Server) bareConversation(r *http.Request, t Tenant) (*chatstore.Store, chatstore.HistoryInfo, error) {
	if _, err := query(r); err != nil {
		return nil, chatstore.HistoryInfo{}, err
	}
	return s.conversation(r, t)
}

// conversation reads the path's conversation id, checks it, and returns it
// with the tenant's store and the history's info; 404 if it does not exist.
func (s *Server) conversation(r *http.Request, t Tenant) (*chatstore.Store, chatstore.HistoryInfo, error) {
	id := r.PathValue("conversation_id")
	if err := s.checkHistoryID(id, t); err != nil {
		return nil, chatstore.HistoryInfo{}, err
	}
	st := s.storeOf(t)
	var (
		info chatstore.HistoryInfo
		ok   bool
	)
	err := s.timed(r.Context(), "info", func(ctx context.Context) (err error) {
		info, ok, err = st.Info(ctx, id)
		return err
	})
	if err != nil {
		return nil, info, err
	}
	if !ok {
		return nil, info, httpError(http.StatusNotFound, "conversation_not_found", fmt.Sprintf("no conversation %q", truncate(id, 200)))
	}
	return st, info, nil
}

func conversationJSON(info chatstore.HistoryInfo) map[string]any {
	md := info.Metadata
	if md == nil {
		md = map[string]string{}
	}
	return map[string]any{"id": info.ID, "object": "conversation", "created_at": info.CreatedAt.Unix(), "metadata": md}
}

func (s *Server) answerJSON(w http.ResponseWriter, r *http.Request, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := s.holdAnswer(r, len(b)); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, append(b, '\n'))
	return nil
}

// convBody reads a JSON object body of these members.
func (s *Server) convBody(w http.ResponseWriter, r *http.Request, names ...string) (map[string]json.RawMessage, error) {
	body, err := s.body(w, r)
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		return nil, badRequest("invalid_json", "the request body must be a JSON object")
	}
	for k := range m {
		if !slices.Contains(names, k) {
			return nil, &paramError{badRequest("invalid_request", fmt.Sprintf("unknown member %q; this request takes %s", truncate(k, 100), strings.Join(names, ", "))), k}
		}
	}
	return m, nil
}

func metadataParam(raw json.RawMessage) (map[string]string, error) {
	if raw == nil || string(raw) == "null" {
		return nil, nil
	}
	// Read as /v1's metadata is (duplicate keys refused, the count of keys
	// bounded while reading), but a conversation's values are strings:
	// there is no null to remove a key.
	changes, err := metadataChanges(raw)
	if err != nil {
		return nil, &paramError{err, "metadata"}
	}
	md := make(map[string]string, len(changes))
	for k, v := range changes {
		if v == nil {
			return nil, &paramError{badRequest("invalid_metadata", fmt.Sprintf("metadata.%.80s: values must be strings", k)), "metadata"}
		}
		md[k] = *v
	}
	if len(md) > chatstore.MaxMetadataPairs {
		return nil, &paramError{badRequest("invalid_metadata", fmt.Sprintf("metadata has %d pairs; the limit is %d", len(md), chatstore.MaxMetadataPairs)), "metadata"}
	}
	return md, nil
}

// createConversation answers POST /openai/v1/conversations.
func (s *Server) createConversation(w http.ResponseWriter, r *http.Request, t Tenant) error {
	if _, err := query(r); err != nil {
		return err
	}
	var m map[string]json.RawMessage
	if r.ContentLength != 0 {
		var err error
		if m, err = s.convBody(w, r, "items", "metadata"); err != nil {
			return err
		}
	}
	md, err := metadataParam(m["metadata"])
	if err != nil {
		return err
	}
	st := s.storeOf(t)
	id := convPrefix + newID()
	var msgs []chat.Message
	if raw := m["items"]; raw != nil && string(raw) != "null" {
		if msgs, _, err = s.decodeItems(r, st, id, raw, false); err != nil {
			return err
		}
	}
	changes := map[string]*string{}
	for k, v := range md {
		changes[k] = &v
	}
	var info chatstore.HistoryInfo
	err = s.timed(r.Context(), "set_metadata", func(ctx context.Context) (err error) {
		info, err = st.SetMetadata(ctx, id, changes) // creates the history
		return err
	})
	if err != nil {
		return err
	}
	if len(msgs) > 0 {
		if err := s.writeItems(r, st, id, msgs); err != nil {
			return err
		}
	}
	return s.answerJSON(w, r, conversationJSON(info))
}

func (s *Server) getConversation(w http.ResponseWriter, r *http.Request, t Tenant) error {
	_, info, err := s.bareConversation(r, t)
	if err != nil {
		return err
	}
	return s.answerJSON(w, r, conversationJSON(info))
}

// updateConversation answers POST /openai/v1/conversations/{id}: the
// metadata given replaces the conversation's.
func (s *Server) updateConversation(w http.ResponseWriter, r *http.Request, t Tenant) error {
	st, info, err := s.bareConversation(r, t)
	if err != nil {
		return err
	}
	m, err := s.convBody(w, r, "metadata")
	if err != nil {
		return err
	}
	raw, ok := m["metadata"]
	if !ok {
		return &paramError{badRequest("invalid_request", `the request body needs "metadata"`), "metadata"}
	}
	md, err := metadataParam(raw)
	if err != nil {
		return err
	}
	changes := map[string]*string{}
	for k := range info.Metadata {
		changes[k] = nil
	}
	for k, v := range md {
		changes[k] = &v
	}
	err = s.timed(r.Context(), "set_metadata", func(ctx context.Context) (err error) {
		info, err = st.SetMetadata(ctx, info.ID, changes)
		return err
	})
	if err != nil {
		return err
	}
	return s.answerJSON(w, r, conversationJSON(info))
}

func (s *Server) deleteConversation(w http.ResponseWriter, r *http.Request, t Tenant) error {
	st, info, err := s.bareConversation(r, t)
	if err != nil {
		return err
	}
	err = s.timed(r.Context(), "delete", func(ctx context.Context) error { return st.Delete(ctx, info.ID) })
	if err != nil {
		return err
	}
	return s.answerJSON(w, r, map[string]any{"id": info.ID, "object": "conversation.deleted", "deleted": true})
}

// includes reads ?include= (repeated, or include[]=): the values OpenAI
// defines are taken; only reasoning.encrypted_content changes the answer,
// as the others ask for what chatstore always gives or never has.
func includes(q map[string][]string) (oaiconv.ItemOptions, error) {
	var o oaiconv.ItemOptions
	for _, v := range append(q["include"], q["include[]"]...) {
		switch v {
		case "reasoning.encrypted_content":
			o.EncryptedContent = true
		case "message.input_image.image_url", "message.output_text.logprobs", "computer_call_output.output.image_url",
			"file_search_call.results", "web_search_call.results", "web_search_call.action.sources", "code_interpreter_call.outputs":
		default:
			return o, &paramError{badRequest("invalid_query", fmt.Sprintf("unknown include value %q", truncate(v, 100))), "include"}
		}
	}
	return o, nil
}

// readPage reads the messages ro selects, within the response limit.
func (s *Server) readPage(r *http.Request, st *chatstore.Store, id string, ro chatstore.ReadOptions) ([]chatstore.StoredMessage, error) {
	msgs, err := s.readStored(r, st, id, ro)
	return msgs, s.pageTooLarge(err)
}

// pageTooLarge says what to do about a read over the response limit.
func (s *Server) pageTooLarge(err error) error {
	if errors.Is(err, chatstore.ErrTooLarge) {
		return badRequest("response_too_large", fmt.Sprintf(
			"the messages asked for are over the response limit of %d bytes: ask for fewer items (or read the conversation in pages with GET /v1/histories/{id}/messages?after=…&limit=…)", s.opts.MaxResponseBytes))
	}
	return err
}

// readStored reads the messages ro selects, failing with ErrTooLarge
// over the response limit.
func (s *Server) readStored(r *http.Request, st *chatstore.Store, id string, ro chatstore.ReadOptions) ([]chatstore.StoredMessage, error) {
	var msgs []chatstore.StoredMessage
	err := s.heldRead(r, func(maxBytes int) error {
		return s.timed(r.Context(), "retrieve", func(ctx context.Context) (err error) {
			ro.MaxBytes = maxBytes
			msgs, err = st.ReadStored(ctx, id, ro)
			return err
		})
	})
	return msgs, err
}

func itemsOf(msgs []chatstore.StoredMessage, o oaiconv.ItemOptions) []oaiconv.Item {
	var items []oaiconv.Item
	for _, m := range msgs {
		items = append(items, oaiconv.Items(m.Message, o)...)
	}
	return items
}

func listJSON(items []oaiconv.Item, hasMore bool) map[string]any {
	data := make([]any, len(items))
	for i, it := range items {
		data[i] = it.JSON
	}
	l := map[string]any{"object": "list", "data": data, "has_more": hasMore, "first_id": nil, "last_id": nil}
	if len(items) > 0 {
		l["first_id"], l["last_id"] = items[0].ID, items[len(items)-1].ID
	}
	return l
}

// listItems answers GET /openai/v1/conversations/{id}/items.
func (s *Server) listItems(w http.ResponseWriter, r *http.Request, t Tenant) error {
	q, err := query(r, "limit", "order", "after", "include", "include[]")
	if err != nil {
		return err
	}
	o, err := includes(q)
	if err != nil {
		return err
	}
	limit := 20
	if v, ok := q["limit"]; ok {
		if limit, err = strconv.Atoi(v[0]); err != nil || limit < 1 || limit > 100 {
			return &paramError{badRequest("invalid_query", "limit must be a whole number from 1 to 100"), "limit"}
		}
	}
	desc := true
	if v, ok := q["order"]; ok {
		switch v[0] {
		case "asc":
			desc = false
		case "desc":
		default:
			return &paramError{badRequest("invalid_query", `order must be "asc" or "desc"`), "order"}
		}
	}
	st, info, err := s.conversation(r, t)
	if err != nil {
		return err
	}
	// A page of the history's messages from the one after (oldest
	// first) or before (newest first) `after`'s, which costs O(limit)
	// however long the conversation is. A message gives at least one
	// item, so limit+1 of them tell whether there are more.
	var items []oaiconv.Item
	ro := chatstore.ReadOptions{Limit: limit + 1, Newest: desc}
	if v, ok := q["after"]; ok {
		m, its, i, err := s.findItem(r, st, info.ID, v[0], o)
		if err != nil {
			return &paramError{err, "after"}
		}
		mid, _ := m.Message.Meta[chatstore.MessageIDKey].(string)
		if desc {
			items, ro.Before = its[:i], mid
		} else {
			items, ro.After = its[i+1:], mid
		}
	}
	msgs, err := s.readPage(r, st, info.ID, ro)
	if err != nil {
		return err
	}
	if desc {
		// Newest first: the items of the messages read come before
		// those left of after's message, all reversed.
		items = append(itemsOf(msgs, o), items...)
		slices.Reverse(items)
	} else {
		items = append(items, itemsOf(msgs, o)...)
	}
	more := len(items) > limit
	if more {
		items = items[:limit]
	}
	return s.answerJSON(w, r, listJSON(items, more))
}

// findItem finds an item by id: the messages its id may come from
// (oaiconv.Candidates), and the item among theirs.
func (s *Server) findItem(r *http.Request, st *chatstore.Store, convID, itemID string, o oaiconv.ItemOptions) (chatstore.StoredMessage, []oaiconv.Item, int, error) {
	for _, c := range oaiconv.Candidates(itemID) {
		if chatstore.CheckMessageID(c) != nil {
			continue
		}
		var m chatstore.StoredMessage
		err := s.timed(r.Context(), "message", func(ctx context.Context) (err error) {
			m, err = st.Message(ctx, convID, c)
			return err
		})
		if errors.Is(err, chatstore.ErrNotFound) {
			continue
		}
		if err != nil {
			return m, nil, 0, err
		}
		items := oaiconv.Items(m.Message, o)
		if i := slices.IndexFunc(items, func(it oaiconv.Item) bool { return it.ID == itemID }); i >= 0 {
			return m, items, i, nil
		}
	}
	return chatstore.StoredMessage{}, nil, 0, httpError(http.StatusNotFound, "item_not_found", fmt.Sprintf("the conversation has no item %q", truncate(itemID, 200)))
}

func (s *Server) getItem(w http.ResponseWriter, r *http.Request, t Tenant) error {
	q, err := query(r, "include", "include[]")
	if err != nil {
		return err
	}
	o, err := includes(q)
	if err != nil {
		return err
	}
	st, info, err := s.conversation(r, t)
	if err != nil {
		return err
	}
	_, items, i, err := s.findItem(r, st, info.ID, r.PathValue("item_id"), o)
	if err != nil {
		return err
	}
	return s.answerJSON(w, r, items[i].JSON)
}

// deleteItem answers DELETE …/items/{item_id}: it deletes the item's
// message when the message is that one item, and refuses an item of a
// message that holds several (one written through /v1), which is deleted
// whole through /v1. It answers the conversation, as OpenAI does.
func (s *Server) deleteItem(w http.ResponseWriter, r *http.Request, t Tenant) error {
	st, info, err := s.bareConversation(r, t)
	if err != nil {
		return err
	}
	itemID := r.PathValue("item_id")
	m, items, _, err := s.findItem(r, st, info.ID, itemID, oaiconv.ItemOptions{})
	if err != nil {
		return err
	}
	mid, _ := m.Message.Meta[chatstore.MessageIDKey].(string)
	if len(items) > 1 {
		ids := make([]string, len(items))
		for i, it := range items {
			ids[i] = it.ID
		}
		return badRequest("item_in_message", fmt.Sprintf(
			"item %q is one of the %d items (%s) of the chatstore message %q, which cannot be split; delete the whole message with DELETE /v1/histories/{id}/messages/%s",
			truncate(itemID, 200), len(items), strings.Join(ids, ", "), truncate(mid, 200), truncate(mid, 200)))
	}
	err = s.timed(r.Context(), "delete_message", func(ctx context.Context) error { return st.DeleteMessage(ctx, info.ID, mid) })
	if err != nil {
		return err
	}
	err = s.timed(r.Context(), "info", func(ctx context.Context) (err error) {
		info, _, err = st.Info(ctx, info.ID)
		return err
	})
	if err != nil {
		return err
	}
	return s.answerJSON(w, r, conversationJSON(info))
}

// createItems answers POST …/items: it writes the items and answers them
// as a list.
func (s *Server) createItems(w http.ResponseWriter, r *http.Request, t Tenant) error {
	q, err := query(r, "include", "include[]")
	if err != nil {
		return err
	}
	o, err := includes(q)
	if err != nil {
		return err
	}
	st, info, err := s.conversation(r, t)
	if err != nil {
		return err
	}
	m, err := s.convBody(w, r, "items")
	if err != nil {
		return err
	}
	raw, ok := m["items"]
	if !ok {
		return &paramError{badRequest("invalid_request", `the request body needs "items"`), "items"}
	}
	msgs, _, err := s.decodeItems(r, st, info.ID, raw, true)
	if err != nil {
		return err
	}
	if err := s.writeItems(r, st, info.ID, msgs); err != nil {
		return err
	}
	var items []oaiconv.Item
	for _, m := range msgs {
		items = append(items, oaiconv.Items(m, o)...)
	}
	return s.answerJSON(w, r, listJSON(items, false))
}

// decodeItems decodes a request's items into messages with their
// chat_message_ids: an item's id without its type's prefix, or a new one.
// A function_call_output's result takes its origin from the function_call
// of its call_id, among the request's items and then the conversation's.
func (s *Server) decodeItems(r *http.Request, st *chatstore.Store, convID string, raw json.RawMessage, exists bool) ([]chat.Message, []string, error) {
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, nil, &paramError{badRequest("invalid_request", "items must be a list of items"), "items"}
	}
	if len(list) > maxItemsPerCreate {
		return nil, nil, &paramError{badRequest("too_many_items", fmt.Sprintf("%d items in one request; the limit is %d", len(list), maxItemsPerCreate)), "items"}
	}
	keepSystem := st.Options().KeepSystemMessages
	msgs := make([]chat.Message, len(list))
	ids := make([]string, len(list))
	calls := map[string]chat.ToolCall{}
	older := callFinder{s: s, r: r, st: st, convID: convID, calls: map[string]chat.ToolCall{}, done: !exists, page: 100}
	for i, raw := range list {
		param := "items[" + strconv.Itoa(i) + "]"
		d, err := oaiconv.Decode(raw, param)
		if err != nil {
			return nil, nil, itemError(err)
		}
		if d.Message.Role == chat.RoleSystem && !keepSystem {
			return nil, nil, &paramError{badRequest("system_messages_skipped", param+
				": this store skips system messages (skip_system_messages, Haystack's default), so a system or developer item would not be kept; start the server with a store URL that has skip_system_messages=false to keep them"), param + ".role"}
		}
		mid := newID()
		if d.ID != "" {
			rest, ok := strings.CutPrefix(d.ID, oaiconv.Prefix(d.Type))
			if !ok || chatstore.CheckMessageID(rest) != nil {
				return nil, nil, &paramError{badRequest("invalid_item", fmt.Sprintf("%s.id: the id of a %s item starts with %q, then the chatstore message id; got %q",
					param, d.Type, oaiconv.Prefix(d.Type), truncate(d.ID, 200))), param + ".id"}
			}
			mid = rest
		}
		if d.Type == oaiconv.TypeFunctionCallOutput {
			call, ok := calls[d.CallID]
			if !ok {
				if call, ok, err = older.find(d.CallID); err != nil {
					return nil, nil, err
				}
			}
			if ok {
				oaiconv.SetOrigin(&d.Message, call)
			}
		}
		if c, ok := findCall(d.Message, ""); ok && c.ID != nil {
			calls[*c.ID] = c
		}
		if d.Message.Meta == nil {
			d.Message.Meta = map[string]any{}
		}
		d.Message.Meta[chatstore.MessageIDKey] = mid
		msgs[i], ids[i] = d.Message, mid
	}
	return msgs, ids, nil
}

// callFinder finds the function calls of a conversation, newest first, a
// page of messages at a time, remembering what it has read: a call is
// nearly always among the last messages, and a conversation can be too long
// to read whole.
type callFinder struct {
	s      *Server
	r      *http.Request
	st     *chatstore.Store
	convID string
	calls  map[string]chat.ToolCall // the newest call of each id read
	before string                   // the oldest message read
	done   bool                     // read back to the first message
	page   int                      // messages to read at a time
}

func (f *callFinder) find(callID string) (chat.ToolCall, bool, error) {
	for {
		if c, ok := f.calls[callID]; ok || f.done {
			return c, ok, nil
		}
		ro := chatstore.ReadOptions{Newest: true, Before: f.before, Limit: max(f.page, 1)}
		page, err := f.s.readStored(f.r, f.st, f.convID, ro)
		if errors.Is(err, chatstore.ErrTooLarge) && ro.Limit > 1 {
			// Large messages: fewer at a time.
			f.page = ro.Limit / 2
			continue
		}
		if err != nil {
			return chat.ToolCall{}, false, f.s.pageTooLarge(err)
		}
		for j := len(page) - 1; j >= 0; j-- {
			for _, p := range page[j].Message.Content {
				if c, ok := p.(chat.ToolCall); ok && c.ID != nil {
					if _, newer := f.calls[*c.ID]; !newer {
						f.calls[*c.ID] = c
					}
				}
			}
		}
		if f.done = len(page) < ro.Limit; !f.done {
			f.before, _ = page[0].Message.Meta[chatstore.MessageIDKey].(string)
		}
	}
}

// findCall returns m's tool call of id callID, or its first with "".
func findCall(m chat.Message, callID string) (chat.ToolCall, bool) {
	for _, p := range m.Content {
		if c, ok := p.(chat.ToolCall); ok && (callID == "" || c.ID != nil && *c.ID == callID) {
			return c, true
		}
	}
	return chat.ToolCall{}, false
}

func (s *Server) writeItems(r *http.Request, st *chatstore.Store, id string, msgs []chat.Message) error {
	return s.timed(r.Context(), "write", func(ctx context.Context) error {
		n, err := st.Write(ctx, id, msgs)
		if err == nil {
			s.metrics.written.Add(float64(n))
		}
		return err
	})
}
