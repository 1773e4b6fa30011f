package memstore

import (
	"context"
	"slices"

	"github.com/chatstore/chatstore/driver"
)

// Counter implements driver.Coster.
func (s *Store) Counter() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.counter
}

// count makes the store's costs those of the counter named name, measuring
// again every message it holds if they are of another: a shared store
// opened with another tokenizer than the one before.
func (s *Store) count(name string, measure driver.Measure) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.counter == name {
		return nil
	}
	for _, h := range s.histories {
		h.mu.Lock()
		err := h.measure(measure)
		h.mu.Unlock()
		if err != nil {
			return err
		}
	}
	s.counter = name
	return nil
}

// measure measures again h's messages and compaction records; h.mu is held.
func (h *history) measure(measure driver.Measure) error {
	var sum driver.Cost
	for i := range h.msgs.len() {
		e := h.msgs.at(i)
		if e.deleted {
			continue
		}
		c, err := measure(h.msgs.message(i).JSON)
		if err != nil {
			return err
		}
		e.cost, sum = c, sum.Add(c)
	}
	for i := range h.compactions {
		c, err := measure(h.compactions[i].JSON)
		if err != nil {
			return err
		}
		h.compactions[i].Cost = c
	}
	h.cost = sum
	return nil
}

// Compact implements driver.Compactor.
func (s *Store) Compact(ctx context.Context, historyID string, c driver.Compaction, max int) error {
	return s.edit(ctx, historyID, func(h *history) error {
		if p, ok := h.ids.pos(c.Through); !ok || int64(p) != c.ThroughPos {
			return driver.ErrNotFound
		}
		c.JSON = slices.Clone(c.JSON)
		h.compactions = append(h.compactions, c)
		if n := len(h.compactions); n > max {
			h.compactions = slices.Clone(h.compactions[n-max:])
		}
		s.touch(historyID, h, c.CreatedAt)
		return nil
	})
}

// Compactions implements driver.Compactor.
func (s *Store) Compactions(ctx context.Context, historyID string) ([]driver.Compaction, error) {
	var out []driver.Compaction
	_, err := s.read(ctx, historyID, func(h *history) []driver.Message {
		out = slices.Clone(h.compactions)
		slices.Reverse(out)
		return nil
	})
	return out, err
}
