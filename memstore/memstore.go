// Package memstore is an in-memory chatstore backend, registered as
// "memory://".
//
// Unlike Haystack's InMemoryChatMessageStore, whose messages live in one
// process-wide dictionary, each store is private: "memory://" opens a new
// empty store every time. "memory://NAME" opens the process-wide store of
// that name instead, shared by everything in the process that opens the same
// name, which is how Haystack's in-memory stores behave (component loading
// uses it for that reason).
//
// Writing a message costs O(1) and retrieving the last k rounds reads back
// only as far as they go (driver.LastRounds), whatever the length of the
// history.
package memstore

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/driver"
)

// HaystackType is the type name of Haystack's in-memory store: this
// backend's stores are written as one in pipeline files, and package
// component loads one as the shared store HaystackShared.
const HaystackType = "haystack_experimental.chat_message_stores.in_memory.InMemoryChatMessageStore"

// HaystackShared is the name of the shared store that in-memory stores loaded
// from Haystack dictionaries use: in Haystack they all share one process-wide
// storage, so a writer and a retriever loaded from one pipeline file see the
// same messages.
const HaystackShared = "haystack"

func init() {
	chatstore.Register("memory", open)
}

// HaystackType implements driver.HaystackTyper.
func (s *Store) HaystackType() (string, map[string]any) {
	return HaystackType, nil
}

func open(ctx context.Context, u *url.URL, co *chatstore.Options) (driver.Store, error) {
	if len(u.Query()) > 0 {
		return nil, fmt.Errorf("memstore: %w: unknown URL parameters %q (memory:// takes only skip_system_messages, last_k and search)", chatstore.ErrInvalidOptions, u.RawQuery)
	}
	if u.User != nil || u.Port() != "" || (u.Path != "" && u.Path != "/") || u.Opaque != "" {
		return nil, fmt.Errorf("memstore: %w: a memory URL is memory:// or memory://NAME, got %s", chatstore.ErrInvalidOptions, u.Redacted())
	}
	var s *Store
	if u.Host == "" {
		s = New()
	} else {
		s = Shared(u.Host)
	}
	if co != nil {
		if err := s.SetTokenizer(co.Tokenizer); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// SetTokenizer makes the store measure messages for token budgets with the
// tokenizer named as chatstore.Options.Tokenizer names it, measuring again
// every message it holds if they were measured with another. A Store made
// with New counts with the default one (chatstore.TokenizerApprox).
func (s *Store) SetTokenizer(name string) error {
	m, err := chatstore.NewMeter(name)
	if err != nil {
		return err
	}
	if err := s.count(m.Name(), m.Measure); err != nil {
		return fmt.Errorf("memstore: measure the messages with tokenizer %s: %w", m.Name(), err)
	}
	return nil
}

// Store is an in-memory driver.
type Store struct {
	shared bool

	mu        sync.RWMutex
	histories map[string]*history
	closed    bool
	counter   string // the tokenizer of the messages' costs (driver.Coster)

	// byMeta indexes histories by metadata pair ("key\x00value"), for
	// Query. idxMu is taken alone or under a history's lock.
	idxMu  sync.Mutex
	byMeta map[string]map[string]struct{}

	// ix is the full-text index, taken after a history's lock.
	ix *index

	policy driver.Policy // driver.Expirer
}

var (
	_ driver.Store         = (*Store)(nil)
	_ driver.Tailer        = (*Store)(nil)
	_ driver.PrefixDeleter = (*Store)(nil)
	_ driver.KeyedWriter   = (*Store)(nil)
	_ driver.HaystackTyper = (*Store)(nil)
	_ driver.Coster        = (*Store)(nil)
	_ driver.Compactor     = (*Store)(nil)

	_ driver.CompactionTailer = (*Store)(nil)
	_ driver.Expirer          = (*Store)(nil)
)

// New returns an empty private store, which measures messages for token
// budgets with the default tokenizer (chatstore.TokenizerApprox).
func New() *Store {
	return &Store{histories: map[string]*history{}, ix: newIndex(), counter: chatstore.TokenizerApprox}
}

var (
	sharedMu sync.Mutex
	shared   = map[string]*Store{}
)

// Shared returns the process-wide store called name, creating it on first
// use. Closing it does nothing: others may still use it.
func Shared(name string) *Store {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	s, ok := shared[name]
	if !ok {
		s = New()
		s.shared = true
		shared[name] = s
	}
	return s
}

// entry is one stored message. Its id and JSON live in its chunk's arena,
// so that entries hold no pointers: a store of millions of messages is a
// few large byte slices to the garbage collector, not millions of objects
// to mark on every cycle (which, under write load, cost the server more
// than storing did).
type entry struct {
	kind       driver.Kind
	deleted    bool // removed by DeleteMessage: skipped by every read
	off, idLen int  // the id at arena[off:off+idLen], then the JSON up to end
	end        int
	createdAt  int64
	cost       driver.Cost
	doc        uint32 // its number in the search index; 0 if none
}

// chunk holds up to 1<<chunkBits entries and their bytes.
type chunk struct {
	entries []entry
	arena   []byte
}

// entries is a list stored in fixed-size chunks, so that appending to a
// history of millions never copies what it already holds. It only grows,
// but for truncate; a deleted message stays as a tombstone.
type entries struct {
	chunks []chunk
	n      int
}

const chunkBits = 10 // 1024 entries a chunk

func (es *entries) len() int { return es.n }

// message returns entry i as the driver returns it. The JSON is a slice of
// the arena, whose bytes are never written twice (append only; truncate
// makes the next append start a new array), so it stays valid.
func (es *entries) message(i int) driver.Message {
	c := &es.chunks[i>>chunkBits]
	e := &c.entries[i&(1<<chunkBits-1)]
	return driver.Message{ID: string(c.arena[e.off : e.off+e.idLen]), JSON: c.arena[e.off+e.idLen : e.end : e.end], Pos: int64(i), Kind: e.kind, CreatedAt: e.createdAt, Cost: e.cost}
}

func (es *entries) at(i int) *entry {
	return &es.chunks[i>>chunkBits].entries[i&(1<<chunkBits-1)]
}

func (es *entries) append(kind driver.Kind, id string, json []byte, createdAt int64, cost driver.Cost) {
	if es.n>>chunkBits == len(es.chunks) {
		// A history's first chunk grows as it fills: most histories are
		// short, and a store holds many. The later ones are whole.
		size := 1 << chunkBits
		if len(es.chunks) == 0 {
			size = 8
		}
		es.chunks = append(es.chunks, chunk{entries: make([]entry, 0, size)})
	}
	c := &es.chunks[len(es.chunks)-1]
	off := len(c.arena)
	c.arena = append(append(c.arena, id...), json...)
	c.entries = append(c.entries, entry{kind: kind, off: off, idLen: len(id), end: len(c.arena), createdAt: createdAt, cost: cost})
	es.n++
}

// truncate drops the entries from i on. The arena keeps its bytes (a
// reader may hold slices of them); the next append copies it first.
func (es *entries) truncate(i int) {
	if i >= es.n {
		return
	}
	ci := i >> chunkBits
	es.chunks = es.chunks[:ci+1]
	c := &es.chunks[ci]
	k := i & (1<<chunkBits - 1)
	if k < len(c.entries) {
		off := c.entries[k].off
		c.arena = c.arena[:off:off]
		c.entries = c.entries[:k]
	}
	es.n = i
}

type history struct {
	mu      sync.Mutex
	deleted bool // set once the history left the map; writers then retry
	msgs    entries
	ids     idSet
	// count is the messages it holds (entries less tombstones); next the
	// counter generated ids start from, which never goes back.
	count, next int64
	// cost is the sum of the costs of the messages it holds.
	cost driver.Cost
	// compactions are its compaction records, oldest first.
	compactions []driver.Compaction
	// created is 0 until the history exists (driver.Editor): a message
	// written, or metadata set.
	created, updated int64
	meta             map[string]string
	// keys are the idempotency keys of keyed writes, and keyOrder the
	// same keys oldest first: every key is kept for the same TTL, so
	// the expired ones are always at its front.
	keys     map[string]keyed
	keyOrder []string
	// own is its own expiry, and expires when it expires
	// (driver.ExpiresAt, 0 never), set at each change; atomic, for the
	// search index reads it without the lock.
	own     driver.Expiry
	expires atomic.Int64
}

// gone reports whether h is deleted or, at now, expired; h.mu is held.
func (h *history) gone(now int64) bool {
	return h.deleted || driver.Expired(h.expires.Load(), now)
}

// keyed is what a keyed write recorded.
type keyed struct {
	out     driver.Outcome
	expires time.Time
}

func (s *Store) check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return nil
}

// lookup returns the history, or nil.
func (s *Store) lookup(id string) (*history, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, errClosed
	}
	return s.histories[id], nil
}

// Count implements driver.Store.
func (s *Store) Count(ctx context.Context, historyID string) (int64, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	h, err := s.lookup(historyID)
	if h == nil || err != nil {
		return 0, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.gone(s.policy.Now()) {
		return 0, nil
	}
	return h.count, nil
}

// Write implements driver.Store.
func (s *Store) Write(ctx context.Context, historyID string, recs []driver.Record) (int, error) {
	var n int
	err := s.locked(ctx, historyID, func(h *history) (err error) {
		n, err = s.write(ctx, historyID, h, recs)
		return err
	})
	return n, err
}

// WriteKeyed implements driver.KeyedWriter.
func (s *Store) WriteKeyed(ctx context.Context, historyID string, key driver.Key, recs []driver.Record) (driver.Outcome, error) {
	var out driver.Outcome
	err := s.locked(ctx, historyID, func(h *history) error {
		now := time.Now()
		for len(h.keyOrder) > 0 {
			k := h.keyOrder[0]
			if e, ok := h.keys[k]; ok && e.expires.After(now) {
				break
			}
			delete(h.keys, k)
			h.keyOrder = h.keyOrder[1:]
		}
		if e, ok := h.keys[key.Key]; ok {
			out = e.out
			out.Replayed = true
			return nil
		}
		n, err := s.write(ctx, historyID, h, recs)
		if err != nil {
			return err
		}
		out = driver.Outcome{Written: n, Fingerprint: key.Fingerprint}
		if h.keys == nil {
			h.keys = map[string]keyed{}
		}
		h.keys[key.Key] = keyed{out: out, expires: now.Add(key.TTL)}
		h.keyOrder = append(h.keyOrder, key.Key)
		return nil
	})
	return out, err
}

// locked runs fn on the history, created if need be, under its lock.
func (s *Store) locked(ctx context.Context, historyID string, fn func(h *history) error) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	for {
		h, err := s.lookup(historyID)
		if err != nil {
			return err
		}
		if h == nil {
			if h, err = s.create(historyID); err != nil {
				return err
			}
		}
		h.mu.Lock()
		if h.deleted {
			// Deleted between lookup and lock: write to its successor.
			h.mu.Unlock()
			continue
		}
		if driver.Expired(h.expires.Load(), s.policy.Now()) {
			// Expired: removed, as Delete would, and written to anew.
			h.mu.Unlock()
			if err := s.detach(ctx, expiredOne(historyID, h, s.policy.Now), nil); err != nil {
				return err
			}
			continue
		}
		err = fn(h)
		h.mu.Unlock()
		return err
	}
}

func (s *Store) create(id string) (*history, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errClosed
	}
	h, ok := s.histories[id]
	if !ok {
		h = &history{}
		s.histories[id] = h
	}
	return h, nil
}

func (h *history) held(_ context.Context, ids []string) (map[string]bool, error) {
	var found map[string]bool
	for _, id := range ids {
		if h.ids.has(id) {
			if found == nil {
				found = map[string]bool{}
			}
			found[id] = true
		}
	}
	return found, nil
}

// write writes recs to history h, whose id is id, under its lock, and
// indexes them.
func (s *Store) write(ctx context.Context, id string, h *history, recs []driver.Record) (int, error) {
	plan, err := driver.MakePlan(ctx, h.next, recs, h.held)
	if err != nil {
		return 0, err
	}
	for _, p := range plan.Messages {
		r := &recs[p.Index]
		i := h.msgs.len()
		h.ids.add(p.ID, i)
		h.msgs.append(r.Kind, p.ID, r.JSON, r.CreatedAt, r.Cost)
		h.cost = h.cost.Add(r.Cost)
		if !r.Doc.Empty() {
			h.msgs.at(i).doc = s.ix.add(id, &h.expires, h.msgs.message(i), r.Role, r.Doc)
		}
	}
	if n := len(plan.Messages); n > 0 {
		h.next, h.count = plan.Next, h.count+int64(n)
		s.touch(id, h, recs[0].CreatedAt)
	}
	return len(plan.Messages), nil
}

// Tail implements driver.Tailer, under the history's lock.
func (s *Store) Tail(ctx context.Context, historyID string, rounds int) ([]driver.Message, error) {
	var err error
	msgs, rerr := s.read(ctx, historyID, func(h *history) []driver.Message {
		var out []driver.Message
		out, err = h.tail(rounds)
		return out
	})
	if rerr != nil {
		return nil, rerr
	}
	return msgs, err
}

// TailUncompacted implements driver.CompactionTailer. A memstore holds its
// messages in memory: maxBytes bounds nothing that is not held already.
func (s *Store) TailUncompacted(ctx context.Context, historyID string, span driver.Span, _ int) ([]driver.Message, bool, error) {
	var (
		err       error
		compacted bool
	)
	msgs, rerr := s.read(ctx, historyID, func(h *history) []driver.Message {
		if compacted = len(h.compactions) > 0; compacted {
			return nil
		}
		var out []driver.Message
		out, err = h.tail(span.Rounds)
		return out
	})
	if rerr != nil {
		return nil, false, rerr
	}
	return msgs, compacted, err
}

// tail reads the last rounds of h; h.mu is held.
func (h *history) tail(rounds int) ([]driver.Message, error) {
	// The walk needs only positions and kinds (no byte bound), so the ids
	// and JSON are filled in for the messages it keeps, not for every
	// message it steps over.
	i := h.msgs.len()
	out, err := driver.LastRounds(rounds, 0, func() (driver.Message, bool, error) {
		for i > 0 {
			i--
			if e := h.msgs.at(i); !e.deleted {
				return driver.Message{Pos: int64(i), Kind: e.kind}, true, nil
			}
		}
		return driver.Message{}, false, nil
	})
	for j := range out {
		out[j] = h.msgs.message(int(out[j].Pos))
	}
	return out, err
}

// Range implements driver.Store.
func (s *Store) Range(ctx context.Context, historyID string, from, to int) ([]driver.Message, error) {
	return s.read(ctx, historyID, func(h *history) []driver.Message {
		to = min(to, h.msgs.len())
		out := make([]driver.Message, 0, max(0, to-from))
		for i := from; i < to; i++ {
			if !h.msgs.at(i).deleted {
				out = append(out, h.msgs.message(i))
			}
		}
		return out
	})
}

// read runs fn on a history under its lock; an unknown or deleted history
// reads as empty.
func (s *Store) read(ctx context.Context, historyID string, fn func(h *history) []driver.Message) ([]driver.Message, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	h, err := s.lookup(historyID)
	if h == nil || err != nil {
		return []driver.Message{}, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.gone(s.policy.Now()) {
		return []driver.Message{}, nil
	}
	return fn(h), nil
}

// Delete implements driver.Store.
func (s *Store) Delete(ctx context.Context, historyID string) error {
	return s.detach(ctx, func(m map[string]*history) map[string]*history {
		h, ok := m[historyID]
		if !ok {
			return nil
		}
		delete(m, historyID)
		return map[string]*history{historyID: h}
	}, nil)
}

// DeletePrefix implements driver.PrefixDeleter: under the store's lock, so
// at once.
func (s *Store) DeletePrefix(ctx context.Context, prefix string) error {
	return s.detach(ctx, func(m map[string]*history) map[string]*history {
		removed := map[string]*history{}
		for id, h := range m {
			if strings.HasPrefix(id, prefix) {
				removed[id] = h
				delete(m, id)
			}
		}
		return removed
	}, nil)
}

// DeleteAll implements driver.Store.
func (s *Store) DeleteAll(ctx context.Context) error {
	return s.detach(ctx, func(m map[string]*history) map[string]*history {
		s.histories = map[string]*history{}
		return m
	}, nil)
}

// detach removes histories from the store: take, called under the store's
// lock with its map, removes them and returns them. Each is then marked
// deleted: a writer that looked one up before must not write to it, and
// retries with the store's current history instead. each, if not nil, is
// called with each history removed, under its lock.
func (s *Store) detach(ctx context.Context, take func(map[string]*history) map[string]*history, each func(*history)) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errClosed
	}
	defer s.mu.Unlock()
	removed := take(s.histories)
	// Under the store's lock, as Fork fills a history: a search sees the
	// histories and their messages in the index together, never a
	// removed history's messages still there.
	for id, h := range removed {
		h.mu.Lock()
		h.deleted = true
		if each != nil {
			each(h)
		}
		s.index(id, h.meta, nil)
		s.ix.remove(h.docs(0)...)
		h.mu.Unlock()
	}
	return nil
}

// docs returns the search documents of h's messages from position p on.
func (h *history) docs(p int) []uint32 {
	var out []uint32
	for i := p; i < h.msgs.len(); i++ {
		if e := h.msgs.at(i); e.doc != 0 {
			out = append(out, e.doc)
		}
	}
	return out
}

// List implements driver.Store. It sorts the history ids on every call,
// which is fine for the sizes an in-memory store holds.
func (s *Store) List(ctx context.Context, after string, limit int) ([]driver.History, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, errClosed
	}
	ids := make([]string, 0, len(s.histories))
	hs := make(map[string]*history, len(s.histories))
	for id, h := range s.histories {
		if id > after {
			ids = append(ids, id)
			hs[id] = h
		}
	}
	s.mu.RUnlock()
	slices.Sort(ids)
	now := s.policy.Now()
	out := make([]driver.History, 0, min(limit, len(ids)))
	for _, id := range ids {
		if len(out) == limit {
			break
		}
		h := hs[id]
		h.mu.Lock()
		n, gone := h.count, h.gone(now)
		h.mu.Unlock()
		if n > 0 && !gone {
			out = append(out, driver.History{ID: id, Count: n})
		}
	}
	return out, nil
}

// Close implements driver.Store. It drops the private store's messages; the
// shared stores stay open.
func (s *Store) Close() error {
	if s.shared {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.histories = nil
	return nil
}

var errClosed = fmt.Errorf("memstore: %w", chatstore.ErrClosed)
