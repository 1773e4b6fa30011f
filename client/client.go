// Package client calls a chatstore server over HTTP. Its methods mirror
// those of chatstore.Store, and its errors wrap the same sentinels
// (chatstore.ErrInvalidHistoryID, chatstore.ErrUnavailable, …), so code
// written against a Store works against a server by changing one line.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/internal/apicode"
	"github.com/chatstore/chatstore/internal/jsonx"
)

// Options configure a Client. A nil *Options means the defaults.
type Options struct {
	// Token is sent as "Authorization: Bearer TOKEN" when set.
	Token string
	// HTTPClient makes the requests; nil means a client shared by every
	// Client that keeps up to 256 idle connections per server (net/http's
	// default keeps 2, so more than two goroutines calling at once would
	// open and close a connection per request).
	HTTPClient *http.Client
}

// Client is a chatstore server's API. It is safe for concurrent use.
type Client struct {
	base    string // scheme://host[/prefix], without a trailing slash
	display string // base with its password, if any, redacted, for errors
	token   string
	http    *http.Client
}

// Error is an error answer of the server. It wraps the chatstore sentinel
// matching its code, when there is one.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("client: server answered %d %s: %s", e.Status, e.Code, e.Message)
}

// Unwrap maps the server's error codes back to chatstore's sentinels.
func (e *Error) Unwrap() error { return apicode.Err(e.Code) }

// unreachableError is a request that got no answer: the server could not be
// reached, or the connection failed before it answered. It says so, with
// the server's address, rather than "store unavailable": nothing is known
// about the store. It is still chatstore.ErrUnavailable to errors.Is
// (trying again later may succeed), and keeps net/http's error for
// errors.As.
type unreachableError struct {
	method, path, server string
	err                  error // from http.Client.Do, a *url.Error
	// mayHaveArrived is set for a write whose request may have reached
	// the server before the connection failed: it may have been stored.
	mayHaveArrived bool
}

func (e *unreachableError) Error() string {
	cause := e.err
	var ue *url.Error
	if errors.As(cause, &ue) {
		cause = ue.Err // its text repeats the method and URL
	}
	return fmt.Sprintf("client: %s %s: the server at %s could not be reached: %v", e.method, e.path, e.server, cause)
}

func (e *unreachableError) Unwrap() []error {
	if e.mayHaveArrived {
		return []error{chatstore.ErrOutcomeUnknown, chatstore.ErrUnavailable, e.err}
	}
	return []error{chatstore.ErrUnavailable, e.err}
}

// sentNothing reports a failure to connect: the request did not leave.
func sentNothing(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

var defaultHTTP = func() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 256
	// The API never redirects; following one would send a request
	// somewhere the caller did not ask for.
	return &http.Client{Transport: t, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}()

// New returns a client of the server at baseURL ("http://127.0.0.1:8080").
func New(baseURL string, opts *Options) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: server URL must be http://HOST[:PORT] or https://…, got %q", baseURL)
	}
	c := &Client{base: strings.TrimRight(u.String(), "/"), display: strings.TrimRight(u.Redacted(), "/"), http: defaultHTTP}
	if opts != nil {
		c.token = opts.Token
		if opts.HTTPClient != nil {
			c.http = opts.HTTPClient
		}
	}
	return c, nil
}

// Close does nothing; it exists so that a Client can stand where a Store
// does.
func (c *Client) Close() error { return nil }

func historyPath(id, suffix string) string {
	esc := url.PathEscape(id)
	if id == "." || id == ".." {
		// Dot segments are removed by HTTP clients and proxies on the way.
		esc = strings.ReplaceAll(esc, ".", "%2E")
	}
	return "/v1/histories/" + esc + suffix
}

// do sends one request and decodes a JSON answer into out (if not nil).
func (c *Client) do(ctx context.Context, method, path string, body []byte, out any) error {
	_, err := c.send(ctx, method, path, body, nil, out)
	return err
}

// send is do with extra request headers, returning the answer's headers.
func (c *Client) send(ctx context.Context, method, path string, body []byte, header http.Header, out any) (http.Header, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	// A POST of messages or of a compaction is a write: if it failed after
	// it may have been sent, it may have been stored, and the error says so
	// (chatstore.ErrOutcomeUnknown).
	write := method == http.MethodPost && (strings.HasSuffix(path, "/messages") || strings.HasSuffix(path, "/compactions"))
	resp, err := c.http.Do(req)
	if err != nil {
		unknown := write && !sentNothing(err)
		if ctx.Err() != nil {
			if unknown {
				return nil, fmt.Errorf("client: %s %s: %w: %w: %w", method, path, chatstore.ErrOutcomeUnknown, chatstore.ErrUnavailable, ctx.Err())
			}
			return nil, fmt.Errorf("client: %s %s: %w", method, path, ctx.Err())
		}
		return nil, &unreachableError{method: method, path: path, server: c.display, err: err, mayHaveArrived: unknown}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		if write {
			return nil, fmt.Errorf("client: %s %s: reading the answer: %w: %w: %w", method, path, chatstore.ErrOutcomeUnknown, chatstore.ErrUnavailable, err)
		}
		return nil, fmt.Errorf("client: %s %s: reading the answer: %w: %w", method, path, chatstore.ErrUnavailable, err)
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error struct{ Code, Message string }
		}
		if json.Unmarshal(data, &e) != nil || e.Error.Code == "" {
			e.Error.Code, e.Error.Message = "unknown", strings.TrimSpace(string(data))
		}
		return resp.Header, &Error{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message}
	}
	if raw, ok := out.(*json.RawMessage); ok {
		*raw = data // the caller decodes it; encoding/json would scan it all first
		return resp.Header, nil
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.Header, fmt.Errorf("client: %s %s: the answer is not what the API describes: %w", method, path, err)
		}
	}
	return resp.Header, nil
}

// Write appends messages to a history (POST /v1/histories/{id}/messages).
// An error that is chatstore.ErrOutcomeUnknown says the write may have been
// stored (the connection failed after it was sent): retry it with
// WriteIdempotent to store it once.
func (c *Client) Write(ctx context.Context, historyID string, messages []chat.Message) (int, error) {
	n, _, err := c.write(ctx, historyID, "", messages)
	return n, err
}

// WriteIdempotent is Write with an Idempotency-Key (see
// chatstore.Store.WriteIdempotent): a retry with the same key and messages
// writes nothing and returns the first answer, with replayed true.
func (c *Client) WriteIdempotent(ctx context.Context, historyID, key string, messages []chat.Message) (n int, replayed bool, err error) {
	if err := chatstore.CheckIdempotencyKey(key); err != nil {
		return 0, false, fmt.Errorf("client: %w", err)
	}
	return c.write(ctx, historyID, key, messages)
}

func (c *Client) write(ctx context.Context, historyID, key string, messages []chat.Message) (int, bool, error) {
	b := append(make([]byte, 0, 256*len(messages)), `{"messages":[`...)
	for i, m := range messages {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = m.AppendJSON(b); err != nil {
			return 0, false, chatstore.MessageError(i, err)
		}
	}
	b = append(b, "]}"...)
	var header http.Header
	if key != "" {
		header = http.Header{"Idempotency-Key": {key}}
	}
	var out struct {
		N int `json:"messages_written"`
	}
	h, err := c.send(ctx, "POST", historyPath(historyID, "/messages"), b, header, &out)
	if err != nil {
		return 0, false, err
	}
	return out.N, h.Get("Idempotent-Replayed") == "true", nil
}

// Retrieve returns the last rounds of a history, as many as the server's
// store is configured to return.
func (c *Client) Retrieve(ctx context.Context, historyID string) ([]chat.Message, error) {
	return c.messages(ctx, historyPath(historyID, "/messages"), nil)
}

// RetrieveLast returns the messages of the last lastK rounds of a history;
// chatstore.All means every message.
func (c *Client) RetrieveLast(ctx context.Context, historyID string, lastK int) ([]chat.Message, error) {
	k := strconv.Itoa(lastK)
	if lastK == chatstore.All {
		k = "all"
	}
	return c.messages(ctx, historyPath(historyID, "/messages?last_k="+k), nil)
}

// Range returns up to limit messages of a history from position offset on
// (GET …/messages?offset=&limit=; see chatstore.Store.Range).
func (c *Client) Range(ctx context.Context, historyID string, offset, limit int) ([]chat.Message, error) {
	return c.messages(ctx, historyPath(historyID, "/messages?offset="+strconv.Itoa(offset)+"&limit="+strconv.Itoa(limit)), nil)
}

// messages reads a list of messages (GET path), and its window into win
// when win is not nil and the answer has one.
func (c *Client) messages(ctx context.Context, path string, win *chatstore.Window) ([]chat.Message, error) {
	var raw json.RawMessage
	if err := c.do(ctx, "GET", path, nil, &raw); err != nil {
		return nil, err
	}
	return messageList("GET", path, raw, win)
}

// messageList decodes an answer {"messages": [...], "window": {...}} (the
// window only for last_k reads and contexts), the window into win when it
// is not nil and the answer has one.
func messageList(method, path string, raw []byte, win *chatstore.Window) ([]chat.Message, error) {
	// Split with jsonx rather than encoding/json: the answer is mostly
	// messages, and encoding/json scanning them once more before
	// chat.UnmarshalList reads them took longer than the request itself.
	ms, err := jsonx.Members(raw, "messages", "window")
	if err == nil && ms["messages"].Raw == nil {
		err = errors.New(`no "messages" member`)
	}
	if err != nil {
		return nil, fmt.Errorf("client: %s %s: the answer is not what the API describes: %w", method, path, err)
	}
	msgs, err := chat.UnmarshalList(ms["messages"].Raw)
	if err != nil {
		return nil, fmt.Errorf("client: %s %s: the server sent invalid messages: %w", method, path, err)
	}
	if w, ok := ms["window"]; ok && win != nil {
		if *win, err = decodeWindow(w.Raw, msgs); err != nil {
			return nil, fmt.Errorf("client: %s %s: the answer is not what the API describes: window: %w", method, path, err)
		}
	}
	return msgs, nil
}

// Count returns the number of messages of a history.
func (c *Client) Count(ctx context.Context, historyID string) (int, error) {
	var out struct {
		Count int `json:"count"`
	}
	err := c.do(ctx, "GET", historyPath(historyID, ""), nil, &out)
	return out.Count, err
}

// Delete removes a history.
func (c *Client) Delete(ctx context.Context, historyID string) error {
	return c.do(ctx, "DELETE", historyPath(historyID, ""), nil, nil)
}

// DeleteAll removes every history the client's token may see.
func (c *Client) DeleteAll(ctx context.Context) error {
	return c.do(ctx, "DELETE", "/v1/histories", nil, nil)
}

// Erase deletes every history the client's token may see whose metadata
// holds every pair of metadata (chatstore.Store.Erase), and says how many
// histories and messages it removed. An error part way may have removed
// some; calling it again finishes the job.
func (c *Client) Erase(ctx context.Context, metadata map[string]string) (chatstore.Erasure, error) {
	if len(metadata) == 0 {
		return chatstore.Erasure{}, fmt.Errorf("client: erase: %w: give at least one metadata pair to match", chatstore.ErrInvalidMetadata)
	}
	q := url.Values{}
	for k, v := range metadata {
		q.Set("metadata["+k+"]", v)
	}
	var out struct {
		Erased chatstore.Erasure `json:"erased"`
	}
	err := c.do(ctx, "DELETE", "/v1/histories?"+q.Encode(), nil, &out)
	return out.Erased, err
}

// List returns one page of histories with their counts, times and
// metadata, in opts.Order, only those holding every pair of opts.Metadata.
// opts.Prefix is not supported by the API and must be empty.
func (c *Client) List(ctx context.Context, opts chatstore.ListOptions) (chatstore.Page, error) {
	q := url.Values{}
	if opts.Prefix != "" {
		q.Set("prefix", opts.Prefix)
	}
	if opts.Limit != 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	if opts.Cursor != "" {
		q.Set("cursor", opts.Cursor)
	}
	switch opts.Order {
	case chatstore.ByID:
	case chatstore.ByUpdated:
		q.Set("order", "updated_at")
	default:
		return chatstore.Page{}, fmt.Errorf("client: %w: unknown list order %d", chatstore.ErrInvalidOptions, opts.Order)
	}
	for k, v := range opts.Metadata {
		q.Set("metadata["+k+"]", v)
	}
	path := "/v1/histories"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out struct {
		Histories  []historyJSON `json:"histories"`
		NextCursor *string       `json:"next_cursor"`
	}
	if err := c.do(ctx, "GET", path, nil, &out); err != nil {
		return chatstore.Page{}, err
	}
	page := chatstore.Page{Histories: make([]chatstore.HistoryInfo, len(out.Histories))}
	for i, h := range out.Histories {
		page.Histories[i] = h.info()
	}
	if out.NextCursor != nil {
		page.NextCursor = *out.NextCursor
	}
	return page, nil
}

// Ping checks that the server and its store answer (GET /healthz).
func (c *Client) Ping(ctx context.Context) error {
	return c.do(ctx, "GET", "/healthz", nil, nil)
}

// historyJSON is a history as the API describes it (HistoryInfo).
type historyJSON struct {
	ID        string            `json:"chat_history_id"`
	Count     int               `json:"count"`
	Tokens    *int64            `json:"tokens"`
	CreatedAt *time.Time        `json:"created_at"`
	UpdatedAt *time.Time        `json:"updated_at"`
	ExpiresAt *time.Time        `json:"expires_at"`
	TTL       *float64          `json:"ttl_seconds"`
	Metadata  map[string]string `json:"metadata"`
}

func (h historyJSON) info() chatstore.HistoryInfo {
	out := chatstore.HistoryInfo{ID: h.ID, Count: h.Count, Tokens: orUnknown(h.Tokens), Metadata: h.Metadata}
	if h.CreatedAt != nil {
		out.CreatedAt = h.CreatedAt.UTC()
	}
	if h.UpdatedAt != nil {
		out.UpdatedAt = h.UpdatedAt.UTC()
	}
	if h.ExpiresAt != nil {
		out.ExpiresAt = h.ExpiresAt.UTC()
	}
	if h.TTL != nil {
		out.Expiry.TTL = time.Duration(math.Round(*h.TTL*1000)) * time.Millisecond
	}
	if out.Metadata == nil {
		out.Metadata = map[string]string{}
	}
	return out
}

// Info describes a history (GET /v1/histories/{id}): its count, times and
// metadata. ok is false for a history that does not exist (as far as the
// server can tell: one with no messages and no times).
func (c *Client) Info(ctx context.Context, historyID string) (info chatstore.HistoryInfo, ok bool, err error) {
	var out historyJSON
	if err := c.do(ctx, "GET", historyPath(historyID, ""), nil, &out); err != nil {
		return chatstore.HistoryInfo{ID: historyID}, false, err
	}
	info = out.info()
	return info, out.CreatedAt != nil || out.Count > 0, nil
}

// SetMetadata changes a history's metadata (PATCH /v1/histories/{id}):
// each key of changes is set to its value, or removed if it is nil. See
// chatstore.Store.SetMetadata.
func (c *Client) SetMetadata(ctx context.Context, historyID string, changes map[string]*string) (chatstore.HistoryInfo, error) {
	if changes == nil {
		changes = map[string]*string{}
	}
	b, err := json.Marshal(map[string]any{"metadata": changes})
	if err != nil {
		return chatstore.HistoryInfo{}, fmt.Errorf("client: %w", err)
	}
	var out historyJSON
	if err := c.do(ctx, "PATCH", historyPath(historyID, ""), b, &out); err != nil {
		return chatstore.HistoryInfo{}, err
	}
	return out.info(), nil
}

// SetExpiry sets a history's own expiry (PATCH /v1/histories/{id} with
// ttl_seconds or expires_at), creating the history (empty) if it does not
// exist, and returns its Info after; the zero Expiry removes it, so that
// the default TTL applies again. See chatstore.Store.SetExpiry. The API
// takes a TTL in whole seconds. The answer's ExpiresAt is the history's
// time of expiry whatever set it; its Expiry has the TTL of its own, but
// not a fixed time of its own, which the API does not tell apart from one
// its default TTL gives.
func (c *Client) SetExpiry(ctx context.Context, historyID string, x chatstore.Expiry) (chatstore.HistoryInfo, error) {
	var body string
	switch {
	case x.TTL != 0 && !x.At.IsZero():
		return chatstore.HistoryInfo{}, fmt.Errorf("client: %w: give a time to live or a time of expiry, not both", chatstore.ErrInvalidExpiry)
	case x.TTL < 0 || x.TTL%time.Second != 0:
		return chatstore.HistoryInfo{}, fmt.Errorf("client: %w: the API takes a time to live in whole seconds, got %v", chatstore.ErrInvalidExpiry, x.TTL)
	case x.TTL > 0:
		body = `{"ttl_seconds":` + strconv.FormatInt(int64(x.TTL/time.Second), 10) + `}`
	case !x.At.IsZero():
		body = `{"expires_at":"` + x.At.UTC().Format(chatstore.TimeFormat) + `"}`
	default:
		body = `{"ttl_seconds":null}`
	}
	var out historyJSON
	if err := c.do(ctx, "PATCH", historyPath(historyID, ""), []byte(body), &out); err != nil {
		return chatstore.HistoryInfo{}, err
	}
	return out.info(), nil
}

// messagePath is the path of one message of a history.
func messagePath(historyID, messageID, query string) string {
	esc := url.PathEscape(messageID)
	if messageID == "." || messageID == ".." {
		esc = strings.ReplaceAll(esc, ".", "%2E")
	}
	return historyPath(historyID, "/messages/"+esc+query)
}

// Message returns one message by its chat_message_id, with its time
// (GET …/messages/{message_id}?include=created_at); chatstore.ErrNotFound
// if the history does not hold it.
func (c *Client) Message(ctx context.Context, historyID, messageID string) (chatstore.StoredMessage, error) {
	if err := chatstore.CheckMessageID(messageID); err != nil {
		return chatstore.StoredMessage{}, fmt.Errorf("client: %w", err)
	}
	path := messagePath(historyID, messageID, "?include=created_at")
	var raw json.RawMessage
	if err := c.do(ctx, "GET", path, nil, &raw); err != nil {
		return chatstore.StoredMessage{}, err
	}
	ms, err := jsonx.Members(raw, "message")
	if err == nil && ms["message"].Raw == nil {
		err = errors.New(`no "message" member`)
	}
	if err != nil {
		return chatstore.StoredMessage{}, fmt.Errorf("client: GET %s: the answer is not what the API describes: %w", path, err)
	}
	sm, err := storedMessage(ms["message"].Raw)
	if err != nil {
		return chatstore.StoredMessage{}, fmt.Errorf("client: GET %s: the server sent an invalid message: %w", path, err)
	}
	return sm, nil
}

// storedMessage decodes a message with its created_at member.
func storedMessage(raw []byte) (chatstore.StoredMessage, error) {
	var t struct {
		CreatedAt *time.Time `json:"created_at"`
	}
	if err := json.Unmarshal(raw, &t); err != nil {
		return chatstore.StoredMessage{}, err
	}
	m, err := chat.Unmarshal(raw)
	if err != nil {
		return chatstore.StoredMessage{}, err
	}
	sm := chatstore.StoredMessage{Message: m}
	if t.CreatedAt != nil {
		sm.CreatedAt = t.CreatedAt.UTC()
	}
	return sm, nil
}

// readQuery is the query of a read with o: last_k, with its budget and
// how to read compactions and tool results, or offset, after, before or
// newest with limit, or one message id; MaxBytes is the server's to
// decide.
func readQuery(o chatstore.ReadOptions) string {
	q := url.Values{}
	paged := o.Limit != 0 || o.After != "" || o.Before != "" || o.Newest
	switch {
	case paged:
		if o.Limit != 0 {
			q.Set("limit", strconv.Itoa(o.Limit))
		}
		switch {
		case o.After != "":
			q.Set("after", o.After)
		case o.Before != "":
			q.Set("before", o.Before)
		case o.Newest:
			q.Set("newest", "true")
		default:
			q.Set("offset", strconv.Itoa(o.Offset))
		}
	case o.LastK == chatstore.All:
		q.Set("last_k", "all")
	case o.LastK == StoreDefault:
		// the server's store's default
	default:
		q.Set("last_k", strconv.Itoa(o.LastK))
	}
	if !paged {
		// As the store, a paged read ignores them.
		if o.MaxTokens > 0 {
			q.Set("max_tokens", strconv.FormatInt(o.MaxTokens, 10))
		}
		if o.Uncompacted {
			q.Set("compacted", "false")
		}
		if o.PruneToolResults {
			q.Set("prune_tool_results", "true")
		}
	}
	if o.CreatedAt {
		q.Set("include", "created_at")
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// StoreDefault, as ReadOptions.LastK of Read and ReadStored, reads the
// last rounds as many as the server's store is configured to return (as
// component.StoreDefault does for a retriever).
const StoreDefault = -1

// Read returns the messages o selects (GET …/messages): the last o.LastK
// rounds (StoreDefault: the server's default), or o.Limit messages: from
// position o.Offset, after or before the message whose id is o.After or
// o.Before (chatstore.ErrNotFound if it is not held), or the newest
// (o.Newest). A ReadOptions with MessageID reads that one message.
//
// A last_k read takes o.MaxTokens, o.Uncompacted and o.PruneToolResults
// as chatstore.Store.Read does (the server's store counts the tokens and
// applies the rules of window.go), and sets *o.Window, when not nil, to the
// window the server describes. Its Compaction has the summary message when
// the window holds it (Summarized); otherwise Compactions has it.
func (c *Client) Read(ctx context.Context, historyID string, o chatstore.ReadOptions) ([]chat.Message, error) {
	if o.MessageID != "" {
		sm, err := c.Message(ctx, historyID, o.MessageID)
		if err != nil {
			return nil, err
		}
		return []chat.Message{sm.Message}, nil
	}
	if err := checkBudget(o.MaxTokens); err != nil {
		return nil, err
	}
	o.CreatedAt = false
	return c.messages(ctx, historyPath(historyID, "/messages"+readQuery(o)), o.Window)
}

// ReadStored is Read, with each message's time (?include=created_at), and
// the window of a last_k read in *o.Window as Read sets it.
func (c *Client) ReadStored(ctx context.Context, historyID string, o chatstore.ReadOptions) ([]chatstore.StoredMessage, error) {
	if o.MessageID != "" {
		sm, err := c.Message(ctx, historyID, o.MessageID)
		if err != nil {
			return nil, err
		}
		return []chatstore.StoredMessage{sm}, nil
	}
	if err := checkBudget(o.MaxTokens); err != nil {
		return nil, err
	}
	o.CreatedAt = true
	path := historyPath(historyID, "/messages"+readQuery(o))
	var out struct {
		Messages []json.RawMessage `json:"messages"`
		Window   json.RawMessage   `json:"window"`
	}
	if err := c.do(ctx, "GET", path, nil, &out); err != nil {
		return nil, err
	}
	stored := make([]chatstore.StoredMessage, len(out.Messages))
	msgs := make([]chat.Message, len(out.Messages))
	for i, raw := range out.Messages {
		var err error
		if stored[i], err = storedMessage(raw); err != nil {
			return nil, fmt.Errorf("client: GET %s: the server sent an invalid message: messages[%d]: %w", path, i, err)
		}
		msgs[i] = stored[i].Message
	}
	if o.Window != nil && out.Window != nil {
		var err error
		if *o.Window, err = decodeWindow(out.Window, msgs); err != nil {
			return nil, fmt.Errorf("client: GET %s: the answer is not what the API describes: window: %w", path, err)
		}
	}
	return stored, nil
}

// DeleteMessage removes one message by its chat_message_id (DELETE
// …/messages/{message_id}); chatstore.ErrNotFound if the history does not
// hold it.
func (c *Client) DeleteMessage(ctx context.Context, historyID, messageID string) error {
	if err := chatstore.CheckMessageID(messageID); err != nil {
		return fmt.Errorf("client: %w", err)
	}
	return c.do(ctx, "DELETE", messagePath(historyID, messageID, ""), nil, nil)
}

// Truncate removes the message whose chat_message_id is fromID and every
// one after it (DELETE …/messages?from=), and returns how many it removed.
func (c *Client) Truncate(ctx context.Context, historyID, fromID string) (int, error) {
	if err := chatstore.CheckMessageID(fromID); err != nil {
		return 0, fmt.Errorf("client: %w", err)
	}
	var out struct {
		N int `json:"messages_deleted"`
	}
	err := c.do(ctx, "DELETE", historyPath(historyID, "/messages?from="+url.QueryEscape(fromID)), nil, &out)
	return out.N, err
}

// Fork creates history newID with the messages of historyID up to and
// including through (all if through is ""), and its metadata (POST
// …/fork). chatstore.ErrExists if newID exists, chatstore.ErrNotFound if
// through is not held.
func (c *Client) Fork(ctx context.Context, historyID, newID, through string) (chatstore.HistoryInfo, error) {
	req := map[string]any{"chat_history_id": newID}
	if through != "" {
		req["through"] = through
	}
	b, err := json.Marshal(req)
	if err != nil {
		return chatstore.HistoryInfo{}, fmt.Errorf("client: %w", err)
	}
	var out historyJSON
	if err := c.do(ctx, "POST", historyPath(historyID, "/fork"), b, &out); err != nil {
		return chatstore.HistoryInfo{}, err
	}
	return out.info(), nil
}
