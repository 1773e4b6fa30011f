// Package chatstore stores chat histories: Haystack's ChatMessageStore in Go.
//
// A Store keeps messages (package chat) in histories keyed by a chat history
// id. It follows haystack-experimental's InMemoryChatMessageStore: messages
// get a chat_message_id, writing a message whose id the history holds is a
// no-op, system messages are skipped unless asked for, and Retrieve returns the
// last k rounds of a conversation, never separating a tool call from its
// results. docs/STORE.md describes the contract and every deliberate
// difference from Haystack.
//
// The Store type is portable; backends (memstore, sqlitestore, pgstore,
// redisstore) plug in through package driver and are opened by URL:
//
//	s, err := chatstore.Open(ctx, "memory://", nil)
//	s, err := chatstore.Open(ctx, "sqlite:///var/lib/chatstore/chat.db?last_k=all", nil)
package chatstore

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/driver"
	"github.com/chatstore/chatstore/search"
)

// Limits and defaults.
const (
	// MaxHistoryIDLen is the longest history id, in bytes. Message ids
	// (meta.chat_message_id) have the same limit.
	MaxHistoryIDLen = 512
	// DefaultMaxWriteMessages is the default limit on messages per Write.
	DefaultMaxWriteMessages = 10_000
	// DefaultListLimit and MaxListLimit bound one page of List.
	DefaultListLimit = 100
	MaxListLimit     = 1000
	// MaxRangeLimit bounds the messages of one Range; DefaultRangeLimit
	// is the HTTP API's and the MCP tools' limit of a range read that
	// gives none.
	MaxRangeLimit     = 1000
	DefaultRangeLimit = 100
)

// MessageIDKey is the meta key holding a message's id.
const MessageIDKey = "chat_message_id"

// Options configure a Store. A nil *Options means the defaults.
type Options struct {
	// KeepSystemMessages stores system messages. Haystack's
	// skip_system_messages defaults to true, so the zero value skips them;
	// the URL parameter is skip_system_messages=false.
	KeepSystemMessages bool
	// LastK is the number of rounds Retrieve returns: 0 means
	// DefaultLastK, All means every message, NoHistory none (Haystack's
	// last_k=0). Other negative numbers are an error. lastk.go lists what
	// every special value of a last_k means, and where.
	LastK int
	// MaxWriteMessages limits the messages of one Write; 0 means
	// DefaultMaxWriteMessages.
	MaxWriteMessages int
	// IdempotencyWindow is how long WriteIdempotent remembers a key; 0
	// means DefaultIdempotencyWindow.
	IdempotencyWindow time.Duration
	// Clock is the store's clock, for the times it records (a message's
	// and a history's created_at, a history's updated_at); nil means the
	// system's. Tests set it to order histories by time.
	Clock Clock
	// NoSearch writes nothing to the backend's full-text index, for a
	// store that does not want its cost: Search then answers
	// ErrNotSupported. The URL parameter is search=false. Messages
	// written so are not indexed later when search is turned back on.
	NoSearch bool
	// Tokenizer names the counter that measures each message for token
	// budgets when it is written: TokenizerApprox (the default, for "")
	// or a tiktoken encoding, TokenizerO200k or TokenizerCl100k. The URL
	// parameter is tokenizer=. A backend that stores costs (driver.Coster)
	// measures again, when opened, what it holds under another counter.
	Tokenizer string
	// TTL, when > 0, is the time to live of the histories that have none
	// of their own (SetExpiry): a sliding expiry, which each change to a
	// history pushes back. The URL parameter is ttl= (ParseTTL: 30d, 24h).
	// 0 leaves the driver's default, which is none unless the driver was
	// given one of its own. Needs a driver that implements driver.Expirer.
	TTL time.Duration
}

// Clock tells the time (Options.Clock).
type Clock interface {
	Now() time.Time
}

// withDefaults returns a copy of o with defaults filled in.
func (o *Options) withDefaults() (Options, error) {
	var out Options
	if o != nil {
		out = *o
	}
	switch {
	case out.LastK < 0 && out.LastK != NoHistory:
		return out, fmt.Errorf("chatstore: %w: last_k must be 0 or greater (or All), got %d", ErrInvalidLastK, out.LastK)
	case out.LastK == 0:
		out.LastK = DefaultLastK
	}
	switch {
	case out.MaxWriteMessages < 0:
		return out, fmt.Errorf("chatstore: %w: MaxWriteMessages must not be negative, got %d", ErrInvalidOptions, out.MaxWriteMessages)
	case out.MaxWriteMessages == 0:
		out.MaxWriteMessages = DefaultMaxWriteMessages
	}
	switch {
	case out.IdempotencyWindow < 0:
		return out, fmt.Errorf("chatstore: %w: IdempotencyWindow must not be negative, got %v", ErrInvalidOptions, out.IdempotencyWindow)
	case out.IdempotencyWindow == 0:
		out.IdempotencyWindow = DefaultIdempotencyWindow
	}
	if out.TTL < 0 || out.TTL > MaxTTL {
		return out, fmt.Errorf("chatstore: %w: TTL is 0 (none) to %v, got %v", ErrInvalidOptions, MaxTTL, out.TTL)
	}
	m, err := NewMeter(out.Tokenizer)
	if err != nil {
		return out, err
	}
	out.Tokenizer = m.Name()
	return out, nil
}

// Store is a chat message store over a backend driver. It is safe for
// concurrent use.
type Store struct {
	drv   driver.Store
	opts  Options
	meter *Meter
	// prefix starts the ids the driver keeps this store's histories under:
	// "" but for a view made by Prefixed.
	prefix string
	view   bool // made by Prefixed: Close leaves the driver open
	*lifetime
}

// lifetime is whether a store's driver is closed, shared by the store and
// its views, so that closing the store closes them too.
type lifetime struct {
	mu     sync.RWMutex // guards closed against in-flight calls
	closed bool
}

// New returns a Store over drv. The Store owns drv: Close closes it.
func New(drv driver.Store, opts *Options) (*Store, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	return newStore(drv, o)
}

func newStore(drv driver.Store, o Options) (*Store, error) {
	m, err := NewMeter(o.Tokenizer)
	if err != nil {
		return nil, err
	}
	if c, ok := drv.(driver.Coster); ok && c.Counter() != m.Name() {
		return nil, fmt.Errorf("chatstore: %w: the driver holds token counts of tokenizer %s, not %s: open it with the tokenizer the store asks for", ErrInvalidOptions, c.Counter(), m.Name())
	}
	if _, ok := drv.(driver.Expirer); !ok && o.TTL > 0 {
		return nil, fmt.Errorf("chatstore: %w: a ttl needs a backend whose histories can expire", ErrInvalidOptions)
	}
	s := &Store{drv: drv, opts: o, meter: m, lifetime: new(lifetime)}
	s.setUpExpiry()
	return s, nil
}

// Meter returns the store's token meter (Options.Tokenizer).
func (s *Store) Meter() *Meter { return s.meter }

// indexing reports whether the store indexes messages for Search.
func (s *Store) indexing() bool {
	sr, ok := s.drv.(driver.Searcher)
	return ok && sr.Indexing() && !s.opts.NoSearch
}

// Options returns the store's options with defaults filled in.
func (s *Store) Options() Options { return s.opts }

// Driver returns the backend driver, for backend-specific operations. A
// view's (Prefixed) is its store's, which knows nothing of the prefix.
func (s *Store) Driver() driver.Store { return s.drv }

// Prefix is what the ids of a view made by Prefixed start with in its
// store; "" for a store of its own.
func (s *Store) Prefix() string { return s.prefix }

// Close closes the store and the driver it owns. Calls after Close fail with
// ErrClosed; Close waits for calls in flight to finish. A view made by
// Prefixed owns nothing, so its Close does nothing: close the store it was
// made from.
func (s *Store) Close() error {
	if s.view {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.drv.Close()
}

// begin checks the store is open and the context live, and holds the store
// open (a read lock against Close) until the caller calls s.mu.RUnlock.
func (s *Store) begin(ctx context.Context, op string) error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return fmt.Errorf("chatstore: %s: %w", op, ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		s.mu.RUnlock()
		return fmt.Errorf("chatstore: %s: %w", op, err)
	}
	return nil
}

// CheckHistoryID reports whether id is a valid chat history id: non-empty,
// at most MaxHistoryIDLen bytes of valid UTF-8, without NUL (which
// PostgreSQL cannot store).
func CheckHistoryID(id string) error {
	if err := checkID(id, false); err != nil {
		return fmt.Errorf("chatstore: %w: %v", ErrInvalidHistoryID, err)
	}
	return nil
}

func checkID(id string, allowEmpty bool) error {
	switch {
	case id == "" && !allowEmpty:
		return fmt.Errorf("must not be empty")
	case len(id) > MaxHistoryIDLen:
		return fmt.Errorf("is %d bytes long; the limit is %d", len(id), MaxHistoryIDLen)
	case !utf8.ValidString(id):
		return fmt.Errorf("is not valid UTF-8")
	case strings.IndexByte(id, 0) >= 0:
		return fmt.Errorf("contains a NUL byte")
	}
	return nil
}

// Count returns the number of messages in a history; an unknown history has
// none.
func (s *Store) Count(ctx context.Context, historyID string) (int, error) {
	if err := s.begin(ctx, "count"); err != nil {
		return 0, err
	}
	defer s.mu.RUnlock()
	key, err := s.key(historyID)
	if err != nil {
		return 0, err
	}
	n, err := s.drv.Count(ctx, key)
	return int(n), err
}

// Write appends messages to a history and returns how many were written.
//
// As in Haystack, system messages are skipped unless KeepSystemMessages is
// set; a message without meta.chat_message_id gets one (the decimal string of
// a counter starting at the history's message count); and a message whose id
// the history already holds is skipped, so writing retrieved messages again
// writes nothing. Unlike Haystack, a generated id never equals an id already
// held or supplied by the same write, only the first of messages supplying the
// same id is written, a null id counts as absent, and a non-string id is an
// error.
//
// The write is atomic: all of its messages are stored, contiguously and in
// order, or none is. The messages are encoded before Write returns, so the
// caller may change them afterwards without affecting the store.
func (s *Store) Write(ctx context.Context, historyID string, messages []chat.Message) (int, error) {
	return s.write(ctx, historyID, messages, nil)
}

// WriteStored is Write for messages that keep the time they were first
// stored (StoredMessage.CreatedAt; a zero time is now): what restoring an
// export does. The history's own times are the store's, as for any write.
func (s *Store) WriteStored(ctx context.Context, historyID string, stored []StoredMessage) (int, error) {
	messages := make([]chat.Message, len(stored))
	times := make([]int64, len(stored))
	for i, sm := range stored {
		messages[i] = sm.Message
		if !sm.CreatedAt.IsZero() {
			times[i] = sm.CreatedAt.UnixMilli()
		}
	}
	return s.write(ctx, historyID, messages, times)
}

// write is Write with the messages' times (records).
func (s *Store) write(ctx context.Context, historyID string, messages []chat.Message, times []int64) (int, error) {
	if err := s.begin(ctx, "write"); err != nil {
		return 0, err
	}
	defer s.mu.RUnlock()
	key, err := s.key(historyID)
	if err != nil {
		return 0, err
	}
	if len(messages) > s.opts.MaxWriteMessages {
		return 0, fmt.Errorf("chatstore: %w: %d messages; the limit is %d", ErrTooManyMessages, len(messages), s.opts.MaxWriteMessages)
	}
	recs, err := s.records(messages, times)
	if err != nil || len(recs) == 0 {
		return 0, err
	}
	return s.drv.Write(ctx, key, recs)
}

// records validates, classifies and encodes the messages to write, each
// stamped with the store's time or, where times has one (not 0), that.
func (s *Store) records(messages []chat.Message, times []int64) ([]driver.Record, error) {
	recs := make([]driver.Record, 0, len(messages))
	var endsBuf [8]int
	ends := endsBuf[:0]
	// The stored bodies are slices of this buffer, so size it close to what
	// they need rather than let a store keep a mostly empty one.
	size := 0
	for _, m := range messages {
		size += sizeHint(m)
	}
	buf := make([]byte, 0, size)
	now := s.now()
	indexing := s.indexing()
	_, costs := s.drv.(driver.Coster)
	for i, m := range messages {
		if m.Role == chat.RoleSystem && !s.opts.KeepSystemMessages {
			continue
		}
		rec, body, err := toRecord(m, buf)
		if err != nil {
			return nil, MessageError(i, err)
		}
		rec.CreatedAt = now
		if times != nil && times[i] != 0 {
			rec.CreatedAt = times[i]
		}
		if indexing {
			rec.Role, rec.Doc = string(m.Role), search.Document(m)
		}
		if costs {
			rec.Cost = s.meter.Cost(m)
		}
		buf = body
		recs = append(recs, rec)
		ends = append(ends, len(buf))
	}
	// All bodies share one buffer, sliced only now that it no longer grows.
	start := 0
	for i := range recs {
		recs[i].JSON = buf[start:ends[i]:ends[i]]
		start = ends[i]
	}
	return recs, nil
}

// MessageError is the error of messages[index] of a write, which cannot be
// stored for err: it is ErrInvalidMessage, says where, and keeps err.
func MessageError(index int, err error) error {
	if ce, ok := err.(*chat.Error); ok && ce.Kind == chat.ErrInvalidMessage {
		return &messageError{ce.Within(fmt.Sprintf("messages[%d]", index))}
	}
	return fmt.Errorf("chatstore: %w: messages[%d]: %w", ErrInvalidMessage, index, err)
}

// messageError is a message of a write that cannot be stored: "chatstore:
// invalid message: messages[2].content[0].text: …", saying "invalid
// message" once although it is both ErrInvalidMessage and, through the
// *chat.Error it keeps for errors.As, chat.ErrInvalidMessage.
type messageError struct{ err *chat.Error }

func (e *messageError) Error() string {
	return "chatstore: " + ErrInvalidMessage.Error() + ": " + e.err.Detail()
}

func (e *messageError) Unwrap() []error { return []error{ErrInvalidMessage, e.err} }

// sizeHint estimates the length of a message's JSON, generously for text,
// which is most of most messages.
func sizeHint(m chat.Message) int {
	n := 64 + 16*len(m.Meta)
	for _, p := range m.Content {
		switch p := p.(type) {
		case chat.Text:
			n += 12 + len(p.Text) + len(p.Text)/16
		default:
			n += 128
		}
	}
	return n
}

// toRecord appends m's JSON, without its chat_message_id, to buf.
func toRecord(m chat.Message, buf []byte) (driver.Record, []byte, error) {
	var rec driver.Record
	if v, ok := m.Meta[MessageIDKey]; ok {
		switch id := v.(type) {
		case nil:
		case string:
			if err := checkID(id, true); err != nil {
				return rec, buf, &chat.Error{Path: "meta." + MessageIDKey, Offset: -1, Msg: err.Error(), Kind: chat.ErrInvalidMessage}
			}
			rec.ID, rec.HasID = id, true
		default:
			return rec, buf, &chat.Error{Path: "meta." + MessageIDKey, Offset: -1, Msg: fmt.Sprintf("must be a string or null, got %T", v), Kind: chat.ErrInvalidMessage}
		}
		// The id is stored beside the message, not inside it.
		meta := make(map[string]any, len(m.Meta)-1)
		for k, v := range m.Meta {
			if k != MessageIDKey {
				meta[k] = v
			}
		}
		m.Meta = meta
	}
	if err := m.Validate(); err != nil {
		return rec, buf, err
	}
	out, err := m.AppendJSON(buf)
	if err != nil {
		return rec, buf, err
	}
	rec.Kind = Classify(m)
	return rec, out, nil
}

// Classify says how a message takes part in rounds, as Haystack's
// _get_last_k_messages does: a system message is a round of its own; an
// assistant message whose first text is non-empty and that calls no tool
// closes the open round; every other message joins it.
func Classify(m chat.Message) driver.Kind {
	switch m.Role {
	case chat.RoleSystem:
		return driver.Alone
	case chat.RoleAssistant:
		text, _ := m.Text()
		if text == "" {
			return driver.Joins
		}
		for _, p := range m.Content {
			if _, ok := p.(chat.ToolCall); ok {
				return driver.Joins
			}
		}
		return driver.Closes
	}
	return driver.Joins
}

// Retrieve returns the last Options.LastK rounds of a history (see
// RetrieveLast).
func (s *Store) Retrieve(ctx context.Context, historyID string) ([]chat.Message, error) {
	return s.RetrieveLast(ctx, historyID, s.DefaultLastK())
}

// DefaultLastK is the number of rounds Retrieve returns: Options.LastK,
// with NoHistory as 0.
func (s *Store) DefaultLastK() int {
	if s.opts.LastK == NoHistory {
		return 0
	}
	return s.opts.LastK
}

// RetrieveLast returns the messages of the last lastK rounds of a history, in
// the order they were written, each with its meta.chat_message_id. A round
// ends with an assistant reply that has text and calls no tool; a system
// message is a round of its own; so a tool call is never returned without its
// results. lastK 0 returns nothing, All (or any number larger than the
// history) everything, and a negative lastK is ErrInvalidLastK. An unknown
// history has no messages. The messages are the caller's to change.
func (s *Store) RetrieveLast(ctx context.Context, historyID string, lastK int) ([]chat.Message, error) {
	return s.Read(ctx, historyID, ReadOptions{LastK: lastK})
}

// Range returns up to limit messages of a history from position offset on,
// oldest first, each with its meta.chat_message_id: offset 0 is the oldest
// message the history holds. It pages through a history in order, where
// RetrieveLast reads the last rounds. A message keeps its offset while
// only messages after it are written, deleted or truncated; removing an
// earlier one moves it up by one, so paging through a history that changes
// is better done by cursor (ReadOptions.After). An offset at or past the
// end gives none. limit must be 1 to MaxRangeLimit and offset ≥ 0
// (ErrInvalidRange).
func (s *Store) Range(ctx context.Context, historyID string, offset, limit int) ([]chat.Message, error) {
	if limit == 0 { // to Read, no range at all
		return nil, rangeError(offset, limit)
	}
	return s.Read(ctx, historyID, ReadOptions{Offset: offset, Limit: limit})
}

// ReadOptions choose the messages a read returns, and bound its size.
type ReadOptions struct {
	// LastK is the number of last rounds to read, as RetrieveLast takes
	// it, when Limit is 0 and MessageID is "".
	LastK int
	// Offset and Limit, when Limit is not 0, read up to Limit messages:
	// from position Offset (the Offset-th message, from 0), as Range does,
	// or, when After is set, those written after the message whose
	// chat_message_id is After (paging by cursor, which costs O(Limit)
	// however long the history; needs driver.Editor; ErrNotFound if the
	// history no longer holds After).
	Offset, Limit int
	After         string
	// Newest, with Limit, reads the last Limit messages of the history
	// instead of the first. Before, with Limit, reads the Limit messages
	// written just before the message whose chat_message_id is Before
	// (paging backwards by cursor, O(Limit) like After; needs
	// driver.Editor; ErrNotFound if the history no longer holds Before).
	// Both give them oldest first, and need Offset 0.
	Newest bool
	Before string
	// MessageID, when set, reads the one message whose chat_message_id it
	// is, or fails with ErrNotFound. Needs driver.Editor.
	MessageID string
	// CreatedAt adds each message's time to what AppendJSON and WriteJSON
	// write, as a "created_at" member beside its other members (an RFC
	// 3339 string in UTC, or null from a driver without driver.Editor).
	// Haystack's own readers do not know the member: ask only for it.
	CreatedAt bool
	// MaxTokens, when > 0, makes a last_k read a budgeted one: the
	// newest whole rounds that fit it, by the store's counter, and LastK
	// (window.go states the rule). Negative is ErrInvalidRange.
	MaxTokens int64
	// Uncompacted makes a last_k read return the history's messages where
	// a compaction's summary stands for them (Compact).
	Uncompacted bool
	// PruneToolResults makes a last_k read replace older large tool
	// results with Haystack's placeholder (window.go).
	PruneToolResults bool
	// Window, when not nil, is set to what a last_k read returned.
	Window *Window
	// MaxBytes, when > 0, bounds the stored JSON of the messages read:
	// a read that selects more fails with ErrTooLarge, and, on drivers
	// that can stop part way (driver.BoundedReader), holds no more than
	// about MaxBytes of them in memory while it finds out.
	MaxBytes int
}

// Read returns the messages that o selects (see RetrieveLast and Range),
// each with its meta.chat_message_id.
func (s *Store) Read(ctx context.Context, historyID string, o ReadOptions) ([]chat.Message, error) {
	key, err := s.key(historyID)
	if err != nil {
		return nil, err
	}
	stored, err := s.read(ctx, key, o, false)
	if err != nil {
		return nil, err
	}
	return decodeAll(historyID, stored)
}

// decodeAll decodes stored messages (decodeStored).
func decodeAll(historyID string, stored []driver.Message) ([]chat.Message, error) {
	msgs := make([]chat.Message, len(stored))
	for i, sm := range stored {
		var err error
		if msgs[i], err = decodeStored(historyID, sm); err != nil {
			return nil, err
		}
	}
	return msgs, nil
}

// read checks a read's arguments and reads the stored messages; times says
// the caller gives the messages' times (CreatedAt, StoredMessage's).
func (s *Store) read(ctx context.Context, historyID string, o ReadOptions, times bool) ([]driver.Message, error) {
	if err := s.begin(ctx, "read"); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	if err := CheckHistoryID(historyID); err != nil {
		return nil, err
	}
	e, isEditor := s.drv.(driver.Editor)
	var span driver.Span
	switch {
	case o.MessageID != "":
		if err := CheckMessageID(o.MessageID); err != nil {
			return nil, err
		}
		if !isEditor {
			return nil, fmt.Errorf("chatstore: read one message: %w", ErrNotSupported)
		}
		m, err := e.Message(ctx, historyID, o.MessageID)
		if err != nil {
			return nil, notFound(s.unkey(historyID), o.MessageID, err)
		}
		if o.MaxBytes > 0 && len(m.JSON) > o.MaxBytes {
			return nil, tooLarge(historyID, o.MaxBytes)
		}
		return []driver.Message{m}, nil
	case o.After != "" || o.Before != "" || o.Newest:
		if o.Limit < 1 || o.Limit > MaxRangeLimit || o.Offset != 0 {
			return nil, rangeError(o.Offset, o.Limit)
		}
		if o.After != "" && (o.Before != "" || o.Newest) {
			return nil, fmt.Errorf("chatstore: %w: read after a message or the newest messages, not both", ErrInvalidRange)
		}
		span.Limit, span.Before = o.Limit, math.MaxInt64
		cursor := o.After + o.Before
		if cursor == "" {
			break
		}
		if err := CheckMessageID(cursor); err != nil {
			return nil, err
		}
		if !isEditor {
			return nil, fmt.Errorf("chatstore: read from a message: %w", ErrNotSupported)
		}
		m, err := e.Message(ctx, historyID, cursor)
		if err != nil {
			return nil, notFound(s.unkey(historyID), cursor, err)
		}
		if o.After != "" {
			span.From, span.Before = m.Pos+1, 0
		} else if span.Before = m.Pos; m.Pos == 0 {
			return nil, nil // nothing is before the first position
		}
	case o.Limit != 0:
		if o.Offset < 0 || o.Limit < 1 || o.Limit > MaxRangeLimit {
			return nil, rangeError(o.Offset, o.Limit)
		}
		if isEditor {
			// Positions have gaps where messages were deleted: the
			// Offset-th message is found by skipping.
			span.Skip, span.Limit = o.Offset, o.Limit
		} else {
			span.From, span.Limit = int64(o.Offset), o.Limit
		}
	default:
		if o.LastK < 0 {
			return nil, fmt.Errorf("chatstore: %w: last_k must be 0 or greater, got %d", ErrInvalidLastK, o.LastK)
		}
		if o.MaxTokens < 0 {
			return nil, fmt.Errorf("chatstore: %w: max_tokens must be 1 or greater, got %d", ErrInvalidRange, o.MaxTokens)
		}
		if o.LastK == 0 {
			if o.Window != nil {
				*o.Window = Window{MaxTokens: o.MaxTokens, Omitted: -1, OmittedTokens: -1}
			}
			return nil, nil
		}
		// A read that gives no times, and no Window (which counts the
		// costs), uses only the messages' positions, ids, kinds and
		// bodies: the driver may read less (driver.Span.Bare).
		stored, ok, err := s.windowRead(ctx, historyID, o, o.Window == nil && !times)
		if errors.Is(err, driver.ErrTooLarge) {
			return nil, tooLarge(historyID, o.MaxBytes)
		}
		if ok || err != nil {
			return stored, err
		}
		span.Rounds = o.LastK
	}
	var (
		stored []driver.Message
		err    error
	)
	b, bounded := s.drv.(driver.BoundedReader)
	switch {
	case bounded && o.MaxBytes > 0:
		stored, err = b.ReadBounded(ctx, historyID, span, o.MaxBytes)
	case span.Rounds == 0 && isEditor:
		stored, err = e.Page(ctx, historyID, span)
	case span.Backward():
		// Without an Editor positions have no gaps: the newest are the
		// last positions.
		var n int64
		if n, err = s.drv.Count(ctx, historyID); err == nil {
			stored, err = s.drv.Range(ctx, historyID, int(max(0, n-int64(span.Limit))), int(n))
		}
	case span.Rounds == 0:
		stored, err = s.drv.Range(ctx, historyID, int(span.From), int(span.From)+min(span.Limit, math.MaxInt-int(span.From)))
	default:
		if t, ok := s.drv.(driver.Tailer); ok {
			stored, err = t.Tail(ctx, historyID, span.Rounds)
		} else {
			stored, err = s.tailByRange(ctx, historyID, span.Rounds, o.MaxBytes)
		}
	}
	if errors.Is(err, driver.ErrTooLarge) || (err == nil && o.MaxBytes > 0 && driver.Size(stored) > o.MaxBytes) {
		return nil, tooLarge(historyID, o.MaxBytes)
	}
	if err == nil && span.Rounds > 0 && o.Window != nil {
		err = s.tailWindow(ctx, historyID, stored, o.Window)
	}
	return stored, err
}

// unkey is the history id a caller gave for a driver's key: without the
// store's prefix.
func (s *Store) unkey(key string) string { return key[min(len(s.prefix), len(key)):] }

// tailByRange reads the last rounds of a history for a driver without
// driver.Tailer: backwards, a page at a time, each twice the last, through
// driver.LastRounds, which stops the reading once the tail is whole. Pages
// end where the first began, so a write between two is not seen.
func (s *Store) tailByRange(ctx context.Context, historyID string, rounds, maxBytes int) ([]driver.Message, error) {
	n, err := s.drv.Count(ctx, historyID)
	if err != nil || n == 0 {
		return nil, err
	}
	page := int64(min(rounds, 1<<10))*4 + 16
	to := n
	var msgs []driver.Message // the page being read, newest last
	return driver.LastRounds(rounds, maxBytes, func() (driver.Message, bool, error) {
		for len(msgs) == 0 {
			if to == 0 {
				return driver.Message{}, false, nil
			}
			from := max(0, to-page)
			var err error
			if msgs, err = s.drv.Range(ctx, historyID, int(from), int(to)); err != nil {
				return driver.Message{}, false, err
			}
			to, page = from, min(2*page, MaxRangeLimit*16)
		}
		m := msgs[len(msgs)-1]
		msgs = msgs[:len(msgs)-1]
		return m, true, nil
	})
}

func rangeError(offset, limit int) error {
	return fmt.Errorf("chatstore: %w: offset must be 0 or greater and limit 1 to %d, got offset %d and limit %d", ErrInvalidRange, MaxRangeLimit, offset, limit)
}

func tooLarge(historyID string, maxBytes int) error {
	return fmt.Errorf("chatstore: %w: history %q: the messages selected are over %d bytes", ErrTooLarge, historyID, maxBytes)
}

// decodeStored turns a stored message back into the message the caller
// wrote, its chat_message_id in its meta.
func decodeStored(historyID string, sm driver.Message) (chat.Message, error) {
	m, err := chat.Unmarshal(sm.JSON)
	if err != nil {
		return m, fmt.Errorf("chatstore: history %q: stored message %q cannot be read: %w", historyID, sm.ID, err)
	}
	if m.Meta == nil {
		m.Meta = make(map[string]any, 1)
	}
	m.Meta[MessageIDKey] = sm.ID
	return m, nil
}

// Delete removes a history and its messages. Deleting an unknown history is
// not an error.
func (s *Store) Delete(ctx context.Context, historyID string) error {
	if err := s.begin(ctx, "delete"); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	key, err := s.key(historyID)
	if err != nil {
		return err
	}
	return s.drv.Delete(ctx, key)
}

// DeleteAll removes every history of this store; of a view made by
// Prefixed, every history under its prefix (see deleteUnder).
func (s *Store) DeleteAll(ctx context.Context) error {
	if s.prefix != "" {
		return s.deleteUnder(ctx)
	}
	if err := s.begin(ctx, "delete all"); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	return s.drv.DeleteAll(ctx)
}

// Ping checks that the backend answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.begin(ctx, "ping"); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	if p, ok := s.drv.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

// ListOptions select a page of List.
type ListOptions struct {
	// Limit is the page size: 0 means DefaultListLimit; at most
	// MaxListLimit.
	Limit int
	// Cursor is the NextCursor of the previous page, or "" for the first.
	Cursor string
	// Prefix, when set, lists only histories whose ids start with it,
	// reading only their range of ids.
	Prefix string
	// Order is ByID (the default: byte order of the ids) or ByUpdated
	// (the most recently changed first). Metadata, when set, lists only
	// the histories that hold every one of its pairs. Both need
	// driver.Editor.
	Order    ListOrder
	Metadata map[string]string
}

// ListOrder is the order of List.
type ListOrder uint8

const (
	ByID      ListOrder = iota // byte order of the ids
	ByUpdated                  // most recently changed first (then by id)
)

// HistoryInfo describes one history. Stores whose driver has
// driver.Editor fill in every field (Info, List); others only ID and Count.
type HistoryInfo struct {
	ID    string
	Count int
	// CreatedAt is when the history's first write or metadata change
	// created it, UpdatedAt when it last changed (messages written,
	// deleted, truncated; metadata set), in UTC to the millisecond.
	CreatedAt, UpdatedAt time.Time
	// Metadata is the history's metadata (SetMetadata); not nil for a
	// history that exists.
	Metadata map[string]string
	// Tokens is the token count, by the store's counter, of the messages
	// the history holds, counted together (Meter.Tokens), whatever
	// compactions stand for some of them in windowed reads; -1 from a
	// driver without driver.Coster.
	Tokens int64
	// ExpiresAt is when the history expires (zero for never): by its own
	// Expiry if it has one, else its default TTL after UpdatedAt. Expiry
	// is its own (SetExpiry), zero for none.
	ExpiresAt time.Time
	Expiry    Expiry
}

// Page is one page of List.
type Page struct {
	Histories []HistoryInfo
	// NextCursor continues the listing; it is "" on the last page.
	NextCursor string
}

// List returns histories with their message counts, in byte order of their
// ids, one page at a time. Histories written or deleted during a listing may
// or may not appear; none appears twice.
func (s *Store) List(ctx context.Context, opts ListOptions) (Page, error) {
	if err := s.begin(ctx, "list"); err != nil {
		return Page{}, err
	}
	defer s.mu.RUnlock()
	limit := opts.Limit
	switch {
	case limit < 0 || limit > MaxListLimit:
		return Page{}, fmt.Errorf("chatstore: %w: list limit must be between 1 and %d, got %d", ErrInvalidOptions, MaxListLimit, limit)
	case limit == 0:
		limit = DefaultListLimit
	}
	if e, ok := s.drv.(driver.Editor); ok {
		return s.query(ctx, e, opts, limit)
	}
	if opts.Order != ByID || len(opts.Metadata) > 0 {
		return Page{}, fmt.Errorf("chatstore: list by recency or metadata: %w", ErrNotSupported)
	}
	after, err := decodeCursor(opts.Cursor)
	if err != nil {
		return Page{}, err
	}
	// Ids with a prefix are a contiguous range in byte order, starting with
	// the prefix itself. Drivers list ids strictly after a bound, so the
	// prefix as an id of its own is looked up apart; but not a view's own
	// prefix, which would be the view's empty id.
	var hs []driver.History
	prefix := s.prefix + opts.Prefix
	if p := prefix; p != "" && after < p {
		if opts.Prefix != "" && checkID(p, false) == nil {
			n, err := s.drv.Count(ctx, p)
			if err != nil {
				return Page{}, err
			}
			if n > 0 {
				hs = append(hs, driver.History{ID: p, Count: n})
			}
		}
		after = p
	}
	more, err := s.drv.List(ctx, after, limit+1-len(hs))
	if err != nil {
		return Page{}, err
	}
	hs = append(hs, more...)
	if prefix != "" {
		for i, h := range hs {
			if !strings.HasPrefix(h.ID, prefix) {
				hs = hs[:i]
				break
			}
		}
	}
	page := Page{Histories: make([]HistoryInfo, 0, min(len(hs), limit))}
	for i, h := range hs {
		if i == limit {
			// The id as the driver has it, prefix and all: a view's
			// cursors are the store's, as they were before views.
			page.NextCursor = encodeCursor(hs[i-1].ID)
			break
		}
		page.Histories = append(page.Histories, HistoryInfo{ID: h.ID[len(s.prefix):], Count: int(h.Count), Tokens: -1})
	}
	return page, nil
}

// query is List for a driver with driver.Editor: every order and filter,
// and each history's Info.
func (s *Store) query(ctx context.Context, e driver.Editor, opts ListOptions, limit int) (Page, error) {
	if err := checkMetadataFilter(opts.Metadata); err != nil {
		return Page{}, err
	}
	q := driver.Query{Prefix: s.prefix + opts.Prefix, Metadata: opts.Metadata, Limit: limit + 2}
	var err error
	switch opts.Order {
	case ByID:
		q.Order = driver.ByID
		q.AfterID, err = decodeCursor(opts.Cursor)
	case ByUpdated:
		q.Order = driver.ByUpdated
		q.AfterUpdated, q.AfterID, err = decodeUpdatedCursor(opts.Cursor)
	default:
		err = fmt.Errorf("chatstore: %w: unknown list order %d", ErrInvalidOptions, opts.Order)
	}
	if err != nil {
		return Page{}, err
	}
	infos, err := e.Query(ctx, q)
	if err != nil {
		return Page{}, err
	}
	page := Page{Histories: make([]HistoryInfo, 0, min(len(infos), limit))}
	for i, di := range infos {
		if s.prefix != "" && di.ID == s.prefix {
			continue // a view's own prefix would be its empty id
		}
		if len(page.Histories) == limit {
			last := infos[i-1]
			if opts.Order == ByUpdated {
				page.NextCursor = encodeUpdatedCursor(last.Listed(), last.ID)
			} else {
				page.NextCursor = encodeCursor(last.ID)
			}
			break
		}
		page.Histories = append(page.Histories, s.info(di))
	}
	return page, nil
}

// Cursors of lists by recency: "u1." and the time and id of the last
// history listed.
const updatedCursorPrefix = "u1."

func encodeUpdatedCursor(updated int64, id string) string {
	b := binary.BigEndian.AppendUint64(nil, uint64(updated))
	return updatedCursorPrefix + base64.RawURLEncoding.EncodeToString(append(b, id...))
}

func decodeUpdatedCursor(c string) (int64, string, error) {
	if c == "" {
		return 0, "", nil
	}
	if rest, ok := strings.CutPrefix(c, updatedCursorPrefix); ok {
		if b, err := base64.RawURLEncoding.DecodeString(rest); err == nil && len(b) > 8 && checkID(string(b[8:]), false) == nil {
			return int64(binary.BigEndian.Uint64(b)), string(b[8:]), nil
		}
	}
	return 0, "", fmt.Errorf("chatstore: %w: %q was not returned by List in this order", ErrInvalidCursor, c)
}

// Cursors are opaque to callers; inside, "h1." and the last id listed.
const cursorPrefix = "h1."

func encodeCursor(lastID string) string {
	return cursorPrefix + base64.RawURLEncoding.EncodeToString([]byte(lastID))
}

func decodeCursor(c string) (string, error) {
	if c == "" {
		return "", nil
	}
	rest, ok := strings.CutPrefix(c, cursorPrefix)
	if ok {
		if id, err := base64.RawURLEncoding.DecodeString(rest); err == nil && checkID(string(id), false) == nil {
			return string(id), nil
		}
	}
	return "", fmt.Errorf("chatstore: %w: %q was not returned by List", ErrInvalidCursor, c)
}
