package memstore

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"strings"

	"github.com/chatstore/chatstore/driver"
)

var _ driver.Editor = (*Store)(nil)

// touch records a change at now to history h, whose id is id, under its
// lock: the history exists from its first, and expires as its expiry
// says from its last.
func (s *Store) touch(id string, h *history, now int64) {
	if h.created == 0 {
		h.created = now
	}
	h.updated = max(h.updated, now)
	h.expires.Store(s.policy.ExpiresAt(id, h.own, h.updated))
}

// info is the history's driver.Info; h.mu is held.
func (h *history) info(id string) driver.Info {
	return driver.Info{ID: id, Count: h.count, CreatedAt: h.created, UpdatedAt: h.updated, Metadata: maps.Clone(h.meta), Cost: h.cost,
		Expiry: h.own, ExpiresAt: h.expires.Load()}
}

// Info implements driver.Editor.
func (s *Store) Info(ctx context.Context, historyID string) (driver.Info, bool, error) {
	var (
		info driver.Info
		ok   bool
	)
	_, err := s.read(ctx, historyID, func(h *history) []driver.Message {
		info, ok = h.info(historyID), h.created != 0
		return nil
	})
	if !ok {
		info = driver.Info{ID: historyID}
	}
	return info, ok, err
}

// SetMetadata implements driver.Editor.
func (s *Store) SetMetadata(ctx context.Context, historyID string, changes map[string]*string, maxPairs int, now int64) (driver.Info, error) {
	var info driver.Info
	err := s.locked(ctx, historyID, func(h *history) error {
		meta := maps.Clone(h.meta)
		if meta == nil {
			meta = map[string]string{}
		}
		for k, v := range changes {
			if v == nil {
				delete(meta, k)
			} else {
				meta[k] = *v
			}
		}
		if len(meta) > maxPairs {
			return driver.ErrTooManyPairs
		}
		s.index(historyID, h.meta, meta)
		h.meta = meta
		s.touch(historyID, h, now)
		info = h.info(historyID)
		return nil
	})
	return info, err
}

// Message implements driver.Editor.
func (s *Store) Message(ctx context.Context, historyID, messageID string) (driver.Message, error) {
	var (
		m  driver.Message
		ok bool
	)
	_, err := s.read(ctx, historyID, func(h *history) []driver.Message {
		var p int
		if p, ok = h.ids.pos(messageID); ok {
			m = h.msgs.message(p)
		}
		return nil
	})
	if err == nil && !ok {
		err = driver.ErrNotFound
	}
	return m, err
}

// DeleteMessage implements driver.Editor: the entry stays as a tombstone,
// so that positions do not move.
func (s *Store) DeleteMessage(ctx context.Context, historyID, messageID string, now int64) error {
	return s.edit(ctx, historyID, func(h *history) error {
		p, ok := h.ids.pos(messageID)
		if !ok {
			return driver.ErrNotFound
		}
		e := h.msgs.at(p)
		e.deleted = true
		h.cost = h.cost.Sub(e.cost)
		s.ix.remove(e.doc)
		e.doc = 0
		h.ids.remove(messageID)
		h.count--
		s.touch(historyID, h, now)
		return nil
	})
}

// Truncate implements driver.Editor.
func (s *Store) Truncate(ctx context.Context, historyID, fromID string, now int64) (int, error) {
	n := 0
	err := s.edit(ctx, historyID, func(h *history) error {
		p, ok := h.ids.pos(fromID)
		if !ok {
			return driver.ErrNotFound
		}
		for i := p; i < h.msgs.len(); i++ {
			if e := h.msgs.at(i); !e.deleted {
				h.ids.remove(h.msgs.message(i).ID)
				h.cost = h.cost.Sub(e.cost)
				n++
			}
		}
		s.ix.remove(h.docs(p)...)
		h.msgs.truncate(p)
		// The positions freed are used again: the compaction records
		// through them go, lest a message written there later take
		// their summary.
		h.compactions = slices.DeleteFunc(h.compactions, func(c driver.Compaction) bool { return c.ThroughPos >= int64(p) })
		h.count -= int64(n)
		s.touch(historyID, h, now)
		return nil
	})
	return n, err
}

// edit runs fn on an existing history under its lock; ErrNotFound when
// the history does not exist.
func (s *Store) edit(ctx context.Context, historyID string, fn func(h *history) error) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	h, err := s.lookup(historyID)
	if err != nil {
		return err
	}
	if h == nil {
		return driver.ErrNotFound
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.gone(s.policy.Now()) {
		return driver.ErrNotFound
	}
	return fn(h)
}

// Fork implements driver.Editor, under the store's lock, which no other
// call holds while it waits for a history's: the new history is created
// and filled before anyone can see it.
func (s *Store) Fork(ctx context.Context, historyID, newID string, through *string, now int64) (driver.Info, error) {
	if err := s.check(ctx); err != nil {
		return driver.Info{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return driver.Info{}, errClosed
	}
	now0 := s.policy.Now()
	if h, ok := s.histories[newID]; ok {
		h.mu.Lock()
		exists := h.created != 0 && !h.gone(now0)
		if !exists {
			// A writer may have created it and not written yet: it
			// finds it deleted and writes to the fork instead. An
			// expired one leaves the indexes too.
			h.deleted = true
			s.index(newID, h.meta, nil)
			s.ix.remove(h.docs(0)...)
		}
		h.mu.Unlock()
		if exists {
			return driver.Info{}, driver.ErrExists
		}
	}
	dst := &history{}
	if src, ok := s.histories[historyID]; ok {
		src.mu.Lock()
		err := src.copyTo(dst, through, now0)
		if err == nil {
			s.indexCopy(newID, dst)
		}
		src.mu.Unlock()
		if err != nil {
			return driver.Info{}, err
		}
	} else if through != nil {
		return driver.Info{}, driver.ErrNotFound
	}
	dst.created = now
	s.touch(newID, dst, now)
	s.histories[newID] = dst
	s.index(newID, nil, dst.meta)
	return dst.info(newID), nil
}

// copyTo copies h's messages through the one with id *through (all if
// nil), and its metadata, into the empty history dst. h.mu is held.
func (h *history) copyTo(dst *history, through *string, now int64) error {
	end := h.msgs.len()
	gone := h.gone(now)
	if through != nil {
		p, ok := h.ids.pos(*through)
		if !ok || gone {
			return driver.ErrNotFound
		}
		end = p + 1
	}
	if !gone {
		dst.own = h.own
		for i := range end {
			if e := h.msgs.at(i); !e.deleted {
				m := h.msgs.message(i)
				dst.ids.add(m.ID, dst.msgs.len())
				dst.msgs.append(m.Kind, m.ID, m.JSON, m.CreatedAt, m.Cost)
				dst.count++
				dst.cost = dst.cost.Add(m.Cost)
			}
		}
		dst.meta = maps.Clone(h.meta)
		// The records of messages copied, pointing at the copies.
		for _, c := range h.compactions {
			p, ok := h.ids.pos(c.Through)
			if q, copied := dst.ids.pos(c.Through); ok && int64(p) == c.ThroughPos && copied {
				c.ThroughPos = int64(q)
				dst.compactions = append(dst.compactions, c)
			}
		}
	}
	// Generated ids of the copy continue after the original's, so that
	// none equals one it holds.
	dst.next = h.next
	return nil
}

// Page implements driver.Editor.
func (s *Store) Page(ctx context.Context, historyID string, span driver.Span) ([]driver.Message, error) {
	return s.read(ctx, historyID, func(h *history) []driver.Message {
		out := make([]driver.Message, 0, min(span.Limit, 256))
		if span.Backward() {
			for i := int(min(span.Before, int64(h.msgs.len()))) - 1; i >= 0 && len(out) < span.Limit; i-- {
				if !h.msgs.at(i).deleted {
					out = append(out, h.msgs.message(i))
				}
			}
			slices.Reverse(out)
			return out
		}
		skip := span.Skip
		for i := int(min(span.From, int64(h.msgs.len()))); i < h.msgs.len() && len(out) < span.Limit; i++ {
			if h.msgs.at(i).deleted {
				continue
			}
			if skip > 0 {
				skip--
				continue
			}
			out = append(out, h.msgs.message(i))
		}
		return out
	})
}

// index moves history id in the metadata index from the pairs of before
// to those of after.
func (s *Store) index(id string, before, after map[string]string) {
	s.idxMu.Lock()
	defer s.idxMu.Unlock()
	for k, v := range before {
		if after[k] != v || after == nil {
			if set := s.byMeta[k+"\x00"+v]; set != nil {
				delete(set, id)
				if len(set) == 0 {
					delete(s.byMeta, k+"\x00"+v)
				}
			}
		}
	}
	for k, v := range after {
		if w, ok := before[k]; ok && w == v {
			continue
		}
		if s.byMeta == nil {
			s.byMeta = map[string]map[string]struct{}{}
		}
		set := s.byMeta[k+"\x00"+v]
		if set == nil {
			set = map[string]struct{}{}
			s.byMeta[k+"\x00"+v] = set
		}
		set[id] = struct{}{}
	}
}

// Query implements driver.Editor. With metadata, it looks only at the
// histories of the pair held by the fewest (an index of pairs); without,
// at every history. It sorts what it finds on every call, which is fine
// for the sizes an in-memory store holds.
func (s *Store) Query(ctx context.Context, q driver.Query) ([]driver.Info, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	var ids []string
	if len(q.Metadata) > 0 {
		s.idxMu.Lock()
		var best map[string]struct{}
		first := true
		for k, v := range q.Metadata {
			set := s.byMeta[k+"\x00"+v]
			if first || len(set) < len(best) {
				best, first = set, false
			}
		}
		for id := range best {
			ids = append(ids, id)
		}
		s.idxMu.Unlock()
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, errClosed
	}
	hs := make(map[string]*history)
	if len(q.Metadata) > 0 {
		for _, id := range ids {
			if h, ok := s.histories[id]; ok && strings.HasPrefix(id, q.Prefix) {
				hs[id] = h
			}
		}
	} else {
		for id, h := range s.histories {
			if strings.HasPrefix(id, q.Prefix) {
				hs[id] = h
			}
		}
	}
	s.mu.RUnlock()
	now := s.policy.Now()
	infos := make([]driver.Info, 0, len(hs))
	for id, h := range hs {
		h.mu.Lock()
		ok := h.created != 0 && !h.gone(now)
		for k, v := range q.Metadata {
			if w, has := h.meta[k]; !has || w != v {
				ok = false
			}
		}
		var info driver.Info
		if ok {
			info = h.info(id)
		}
		h.mu.Unlock()
		if ok && after(q, info) {
			infos = append(infos, info)
		}
	}
	slices.SortFunc(infos, func(a, b driver.Info) int {
		if q.Order == driver.ByUpdated {
			if c := cmp.Compare(b.UpdatedAt, a.UpdatedAt); c != 0 {
				return c
			}
		}
		return strings.Compare(a.ID, b.ID)
	})
	return infos[:min(len(infos), q.Limit)], nil
}

// after reports whether info comes after q's cursor in q's order.
func after(q driver.Query, info driver.Info) bool {
	if q.Order == driver.ByUpdated && q.AfterID != "" {
		return info.UpdatedAt < q.AfterUpdated || (info.UpdatedAt == q.AfterUpdated && info.ID > q.AfterID)
	}
	return info.ID > q.AfterID
}

// Policy implements driver.Expirer.
func (s *Store) Policy() *driver.Policy { return &s.policy }

// SetExpiry implements driver.Expirer.
func (s *Store) SetExpiry(ctx context.Context, historyID string, x driver.Expiry, now int64) (driver.Info, error) {
	var info driver.Info
	err := s.locked(ctx, historyID, func(h *history) error {
		h.own = x
		s.touch(historyID, h, now)
		info = h.info(historyID)
		return nil
	})
	return info, err
}

// expiredOne is a take for detach: history id if it is still h and has
// expired at now(), which detach calls under the store's lock.
func expiredOne(id string, h *history, now func() int64) func(map[string]*history) map[string]*history {
	return func(m map[string]*history) map[string]*history {
		if m[id] != h || !h.expired(now()) {
			return nil
		}
		delete(m, id)
		return map[string]*history{id: h}
	}
}

// Sweep implements driver.Expirer: under the store's lock, it looks at
// every history (a memory store is one process's, and small enough) and
// removes up to limit of those expired at now, as Delete does.
func (s *Store) Sweep(ctx context.Context, now int64, limit int) (driver.Swept, error) {
	var out driver.Swept
	err := s.detach(ctx, func(m map[string]*history) map[string]*history {
		removed := map[string]*history{}
		for id, h := range m {
			if len(removed) == limit {
				break
			}
			if h.expired(now) {
				removed[id] = h
				delete(m, id)
			}
		}
		return removed
	}, func(h *history) {
		out.Histories++
		out.Messages += h.count
	})
	return out, err
}

// expired reports whether h has expired at now, under its lock, so that a
// change in flight that renews it is seen, and if so marks it deleted in
// the same hold of the lock, so that no change lands on it between this
// and its removal (detach), whatever a clock that goes back would say.
// The caller holds the store's lock and removes it from the map.
func (h *history) expired(now int64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !driver.Expired(h.expires.Load(), now) {
		return false
	}
	h.deleted = true
	return true
}
