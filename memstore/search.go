package memstore

import (
	"container/heap"
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/driver"
	"github.com/chatstore/chatstore/search"
)

// The full-text index (driver.Searcher): an inverted index from each token
// to the documents (messages) that hold it, one for text and one for
// reasoning, ranked with BM25. Postings hold document numbers in the order
// the messages were written, each once per document (no positions and no
// counts: a phrase is checked against the message itself, and BM25 counts
// a word once). A removed message is marked in the document table and
// skipped; postings are compacted once removals are half of them.

var _ driver.Searcher = (*Store)(nil)

type index struct {
	mu      sync.RWMutex
	docs    docTable
	text    map[string][]uint32
	reason  map[string][]uint32
	live    int
	removed int // since the last compaction
}

// doc is one indexed message; its JSON is a slice of its history's arena,
// which is never written twice.
type doc struct {
	hist      string
	id        string
	json      []byte
	pos       int64
	createdAt int64
	textLen   int32
	role      string
	gone      bool
	// expires is its history's ExpiresAt, read without the history's
	// lock, which a search may not take under the index's.
	expires *atomic.Int64
}

func newIndex() *index {
	ix := &index{text: map[string][]uint32{}, reason: map[string][]uint32{}}
	ix.docs.add(doc{gone: true}) // number 0 is none
	return ix
}

// docTable holds the documents by number, in chunks, so that adding one
// never copies those before it.
type docTable struct {
	chunks [][]doc
	n      int
}

const docChunk = 1 << 12

func (t *docTable) len() int         { return t.n }
func (t *docTable) at(n uint32) *doc { return &t.chunks[n/docChunk][n%docChunk] }

func (t *docTable) add(d doc) {
	if t.n%docChunk == 0 {
		t.chunks = append(t.chunks, make([]doc, 0, docChunk))
	}
	c := &t.chunks[len(t.chunks)-1]
	*c = append(*c, d)
	t.n++
}

// Indexing implements driver.Searcher.
func (s *Store) Indexing() bool { return true }

// add indexes message m of history hist, which gives d to the index with
// the role role; it returns its document number.
func (ix *index) add(hist string, expires *atomic.Int64, m driver.Message, role string, d search.Doc) uint32 {
	// Tokens as one string, split under the lock: a token becomes a
	// string of its own only when it is new to the index.
	text := search.IndexText(d.Text)
	reason := search.IndexText(d.Reasoning)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	n := uint32(ix.docs.len())
	count := post(ix.text, text, n)
	post(ix.reason, reason, n)
	ix.docs.add(doc{hist: hist, expires: expires, id: m.ID, json: m.JSON, pos: m.Pos, createdAt: m.CreatedAt, textLen: int32(count), role: role})
	ix.live++
	return n
}

// post adds document n to the postings of the tokens of text (IndexText),
// once each, and returns how many tokens it has.
func post(m map[string][]uint32, text string, n uint32) int {
	count := 0
	for len(text) > 0 {
		tok, rest, _ := strings.Cut(text, " ")
		text = rest
		count++
		p, ok := m[tok]
		if ok && p[len(p)-1] == n {
			continue
		}
		if !ok {
			tok = strings.Clone(tok) // not a slice of text, which it would keep
		}
		m[tok] = append(p, n)
	}
	return count
}

// remove drops documents from the index.
func (ix *index) remove(ns ...uint32) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for _, n := range ns {
		d := ix.docs.at(n)
		if n == 0 || d.gone {
			continue
		}
		*d = doc{gone: true}
		ix.live--
		ix.removed++
	}
	if ix.removed > 4096 && ix.removed > ix.live {
		for _, m := range []map[string][]uint32{ix.text, ix.reason} {
			for t, p := range m {
				q := p[:0]
				for _, n := range p {
					if !ix.docs.at(n).gone {
						q = append(q, n)
					}
				}
				if len(q) == 0 {
					delete(m, t)
				} else {
					m[t] = q
				}
			}
		}
		ix.removed = 0
	}
}

// Search implements driver.Searcher.
func (s *Store) Search(ctx context.Context, q driver.SearchQuery) ([]driver.Hit, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	var hists map[string]struct{} // those with the metadata asked for
	if len(q.Metadata) > 0 {
		s.idxMu.Lock()
		for k, v := range q.Metadata {
			set := s.byMeta[k+"\x00"+v]
			if hists == nil {
				hists = make(map[string]struct{}, len(set))
				for h := range set {
					hists[h] = struct{}{}
				}
				continue
			}
			for h := range hists {
				if _, ok := set[h]; !ok {
					delete(hists, h)
				}
			}
		}
		s.idxMu.Unlock()
	}
	s.mu.RLock()
	ix, closed := s.ix, s.closed
	s.mu.RUnlock()
	if closed {
		return nil, errClosed
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	scores := map[uint32]float64{}
	ix.match(ix.text, q.Query, scores)
	if q.Reasoning {
		ix.match(ix.reason, q.Query, scores)
	}
	phrases := false
	for _, t := range q.Query.Terms {
		phrases = phrases || len(t.Tokens) > 1
	}
	top := &hitHeap{}
	now := s.policy.Now()
	i := 0
	for n, score := range scores {
		if i++; i%1024 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		d := ix.docs.at(n)
		switch {
		case d.gone, driver.Expired(d.expires.Load(), now),
			!strings.HasPrefix(d.hist, q.Prefix),
			q.Since != 0 && d.createdAt < q.Since,
			q.Until != 0 && d.createdAt >= q.Until,
			len(q.Roles) > 0 && !contains(q.Roles, d.role):
			continue
		}
		if hists != nil {
			if _, ok := hists[d.hist]; !ok {
				continue
			}
		}
		h := driver.Hit{HistoryID: d.hist, Message: driver.Message{Pos: d.pos}, Score: score}
		if q.After != nil && !q.After.Before(&h) {
			continue
		}
		if top.Len() == q.Limit && !h.Before(&top.hits[0].Hit) {
			continue
		}
		if phrases && !ix.verify(d, q) {
			continue
		}
		heap.Push(top, rankedHit{h, n})
		if top.Len() > q.Limit {
			heap.Pop(top)
		}
	}
	out := make([]driver.Hit, top.Len())
	for i := len(out) - 1; i >= 0; i-- {
		rh := heap.Pop(top).(rankedHit)
		d := ix.docs.at(rh.n)
		rh.Hit.ID, rh.Hit.JSON = d.id, d.json
		rh.Hit.CreatedAt = d.createdAt
		out[i] = rh.Hit
	}
	return out, nil
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// The score is BM25's for a message that holds each word once, against a
// fixed average length, without the store-wide parts: every hit holds every
// required word, so idf would add the same to each, and the store's average
// length would only rescale. A score of the message alone never depends on
// other histories, another tenant's among them (which could otherwise be
// probed through it), and a page's cursor keeps its meaning across writes.
const (
	bm25K1    = 1.2
	bm25B     = 0.75
	bm25AvgLn = 32 // tokens
)

// match scores, in scores, the documents of field m that hold every word of
// q's terms that are not excluded, and none of a one-word term that is
// (phrases are checked later, by verify). A document already in scores
// from another field keeps the higher score.
func (ix *index) match(m map[string][]uint32, q search.Query, scores map[uint32]float64) {
	type list struct{ docs []uint32 }
	var lists []list
	var exclude [][]uint32
	for _, t := range q.Terms {
		for i, tok := range t.Tokens {
			var p []uint32
			if t.Prefix && i == len(t.Tokens)-1 {
				p = prefixed(m, tok)
			} else {
				p = m[tok]
			}
			if t.Exclude {
				if len(t.Tokens) == 1 {
					exclude = append(exclude, p)
				}
				continue
			}
			lists = append(lists, list{p})
		}
	}
	if len(lists) == 0 {
		return
	}
	shortest := 0
	for i, l := range lists {
		if len(l.docs) < len(lists[shortest].docs) {
			shortest = i
		}
	}
next:
	for _, d := range lists[shortest].docs {
		if ix.docs.at(d).gone {
			continue
		}
		for _, l := range lists {
			if !has(l.docs, d) {
				continue next
			}
		}
		for _, e := range exclude {
			if has(e, d) {
				continue next
			}
		}
		norm := bm25K1 * (1 - bm25B + bm25B*float64(ix.docs.at(d).textLen)/bm25AvgLn)
		score := float64(len(lists)) * (bm25K1 + 1) / (1 + norm)
		if old, ok := scores[d]; !ok || score > old {
			scores[d] = score
		}
	}
}

// has reports whether the sorted postings p hold d.
func has(p []uint32, d uint32) bool {
	lo, hi := 0, len(p)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if p[mid] < d {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo < len(p) && p[lo] == d
}

// prefixed is the postings of every token that starts with prefix, merged
// in order.
func prefixed(m map[string][]uint32, prefix string) []uint32 {
	seen := map[uint32]bool{}
	var out []uint32
	for t, p := range m {
		if strings.HasPrefix(t, prefix) {
			for _, d := range p {
				if !seen[d] {
					seen[d] = true
					out = append(out, d)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// verify checks a document against the whole query, phrases and all, by
// reading the message again.
func (ix *index) verify(d *doc, q driver.SearchQuery) bool {
	_, sd, err := document(d.json)
	return err == nil && search.MatchDoc(sd, q.Query, q.Reasoning)
}

type rankedHit struct {
	driver.Hit
	n uint32
}

// hitHeap keeps the best hits, the worst of them on top.
type hitHeap struct{ hits []rankedHit }

func (h *hitHeap) Len() int           { return len(h.hits) }
func (h *hitHeap) Less(i, j int) bool { return h.hits[j].Hit.Before(&h.hits[i].Hit) }
func (h *hitHeap) Swap(i, j int)      { h.hits[i], h.hits[j] = h.hits[j], h.hits[i] }
func (h *hitHeap) Push(x any)         { h.hits = append(h.hits, x.(rankedHit)) }
func (h *hitHeap) Pop() any {
	x := h.hits[len(h.hits)-1]
	h.hits = h.hits[:len(h.hits)-1]
	return x
}

// document reads a stored message again for its role and what it gives to
// the index.
func document(json []byte) (chat.Role, search.Doc, error) {
	m, err := chat.Unmarshal(json)
	return m.Role, search.Document(m), err
}

// indexCopy indexes the messages of dst, a fork not yet visible to
// anyone, reading each again: the index keeps no tokens to copy.
func (s *Store) indexCopy(id string, dst *history) {
	for i := range dst.msgs.len() {
		m := dst.msgs.message(i)
		role, d, err := document(m.JSON)
		if err == nil && !d.Empty() {
			dst.msgs.at(i).doc = s.ix.add(id, &dst.expires, m, string(role), d)
		}
	}
}
