package chatstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/driver"
)

// Bounds of compaction records. A windowed read of a history with records
// reads them all to find the one in effect, so together they are held to
// MaxCompactions × MaxSummaryBytes, 1 MiB. A summary is meant to be short:
// Haystack's SummarizationCompactor aims at about 1,024 tokens.
const (
	// MaxCompactions is how many records a history keeps: recording one
	// more drops the oldest.
	MaxCompactions = 16
	// MaxSummaryBytes bounds a summary's JSON.
	MaxSummaryBytes = 64 << 10
)

// Compaction is a summary that stands, in windowed reads, for the messages
// of a history up to and including the one whose id is Through (Compact).
type Compaction struct {
	Through string
	// Summary is the summary message, its chat_message_id Through: read
	// back and written again (a Haystack writer given what it retrieved),
	// it is skipped as a message the history holds.
	Summary   chat.Message
	Tokens    int64 // the summary's, by the store's counter
	CreatedAt time.Time
	// InEffect says windowed reads use it: the one, of those whose Through
	// message the history still holds where it was, that covers the most,
	// the newest of equals.
	InEffect bool
}

// compaction is a driver's record in use by a read.
type compaction struct {
	rec   driver.Compaction
	kind  driver.Kind
	meter *Meter
}

// message is the summary as a message of the view, standing at its
// Through message's place.
func (c *compaction) message() driver.Message {
	r := c.rec
	return driver.Message{ID: r.Through, JSON: r.JSON, Pos: r.ThroughPos, Kind: c.kind, CreatedAt: r.CreatedAt, Cost: r.Cost}
}

func (c *compaction) public() Compaction {
	out := Compaction{Through: c.rec.Through, Tokens: c.meter.Tokens(c.rec.Cost, 1), CreatedAt: time.UnixMilli(c.rec.CreatedAt).UTC(), InEffect: true}
	// The JSON was checked when it was recorded.
	out.Summary, _ = decodeStored("", c.message())
	return out
}

// inEffect returns the compaction windowed reads of a history use, or nil:
// of its records whose Through message is still at ThroughPos, the one
// furthest on, the newest of equals. Deleting or truncating away a
// record's Through message so ends it, and an older record takes over.
func (s *Store) inEffect(ctx context.Context, c driver.Compactor, historyID string) (*compaction, error) {
	recs, err := c.Compactions(ctx, historyID)
	if err != nil {
		return nil, err
	}
	i, err := s.pick(ctx, historyID, recs)
	if err != nil || i < 0 {
		return nil, err
	}
	r := recs[i]
	summary, err := chat.Unmarshal(r.JSON)
	if err != nil {
		return nil, fmt.Errorf("chatstore: history %q: compaction through %q: %w", s.unkey(historyID), r.Through, err)
	}
	return &compaction{rec: r, kind: Classify(summary), meter: s.meter}, nil
}

// pick returns the index of the record in effect among recs (newest
// first), or -1.
func (s *Store) pick(ctx context.Context, historyID string, recs []driver.Compaction) (int, error) {
	e, ok := s.drv.(driver.Editor)
	if !ok || len(recs) == 0 {
		return -1, nil
	}
	// By place, furthest first; a stable sort keeps the newest of equals
	// first.
	order := make([]int, len(recs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(recs[b].ThroughPos, recs[a].ThroughPos) })
	for _, i := range order {
		r := recs[i]
		m, err := e.Message(ctx, historyID, r.Through)
		switch {
		case isNotFound(err):
			continue
		case err != nil:
			return -1, err
		case m.Pos != r.ThroughPos:
			continue
		}
		return i, nil
	}
	return -1, nil
}

// Compact records that summary stands, from now on, for the messages of a
// history up to and including the one whose chat_message_id is through:
// windowed reads (RetrieveLast, ReadOptions with LastK, MaxTokens) return
// the summary in their place, followed by the messages written after
// through, until a newer compaction covering as much or more is recorded,
// or the through message is deleted or truncated away. The messages
// themselves stay: pages, single reads, exports and reads with
// ReadOptions.Uncompacted show them.
//
// The summary is any valid message; a user message is what Haystack's
// SummarizationCompactor makes. Unless its meta has one, it gets
// meta.context_compaction {"strategy": "summarization", "through": ID},
// the mark by which Haystack's compactors know it. Its own
// chat_message_id is not kept: read back, it is through's. ErrNotFound if
// the history does not hold through; ErrNotSupported on drivers without
// driver.Compactor.
func (s *Store) Compact(ctx context.Context, historyID, through string, summary chat.Message) (Compaction, error) {
	var out Compaction
	err := s.edit(ctx, "compact", historyID, func(e driver.Editor, key string) error {
		c, ok := s.drv.(driver.Compactor)
		if !ok {
			return fmt.Errorf("chatstore: compact: %w", ErrNotSupported)
		}
		if err := CheckMessageID(through); err != nil {
			return err
		}
		summary.Meta = maps.Clone(summary.Meta)
		delete(summary.Meta, MessageIDKey)
		if !compacted(summary) {
			if summary.Meta == nil {
				summary.Meta = map[string]any{}
			}
			summary.Meta[CompactionMetaKey] = map[string]any{"strategy": "summarization", "through": through}
		}
		rec, js, err := toRecord(summary, nil)
		if err != nil {
			return fmt.Errorf("chatstore: %w: summary: %w", ErrInvalidMessage, err)
		}
		if len(js) > MaxSummaryBytes {
			return fmt.Errorf("chatstore: %w: summary: its JSON is %d bytes; the limit is %d", ErrInvalidMessage, len(js), MaxSummaryBytes)
		}
		m, err := e.Message(ctx, key, through)
		if err != nil {
			return notFound(historyID, through, err)
		}
		r := driver.Compaction{Through: through, ThroughPos: m.Pos, JSON: js, Cost: s.meter.Cost(summary), CreatedAt: s.now()}
		if err := c.Compact(ctx, key, r, MaxCompactions); err != nil {
			return notFound(historyID, through, err)
		}
		cp := &compaction{rec: r, kind: rec.Kind, meter: s.meter}
		out = cp.public()
		// In effect unless another covers more: read them all.
		recs, err := c.Compactions(ctx, key)
		if err != nil {
			return err
		}
		i, err := s.pick(ctx, key, recs)
		out.InEffect = i == 0 && recs[0].Through == r.Through && recs[0].CreatedAt == r.CreatedAt
		return err
	})
	return out, err
}

// Compactions returns a history's compaction records, newest first, the
// one in effect marked. ErrNotSupported on drivers without
// driver.Compactor.
func (s *Store) Compactions(ctx context.Context, historyID string) ([]Compaction, error) {
	var out []Compaction
	err := s.edit(ctx, "compactions", historyID, func(e driver.Editor, key string) error {
		c, ok := s.drv.(driver.Compactor)
		if !ok {
			return fmt.Errorf("chatstore: compactions: %w", ErrNotSupported)
		}
		recs, err := c.Compactions(ctx, key)
		if err != nil {
			return err
		}
		cur, err := s.pick(ctx, key, recs)
		if err != nil {
			return err
		}
		for i, r := range recs {
			cp := compaction{rec: r, meter: s.meter}
			pc := cp.public()
			pc.InEffect = i == cur
			out = append(out, pc)
		}
		return nil
	})
	return out, err
}

// isNotFound reports a driver's ErrNotFound.
func isNotFound(err error) bool { return errors.Is(err, driver.ErrNotFound) }
