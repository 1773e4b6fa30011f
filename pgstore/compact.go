package pgstore

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/chatstore/chatstore/driver"
)

// Counter implements driver.Coster: the tokenizer the store was opened
// with (Options.Tokenizer), of which every cost it holds is, since opening
// measured again those of another (measureExisting).
func (s *Store) Counter() string { return s.counter }

// Compact implements driver.Compactor: one round trip, as DeleteMessage's
// (edit), whose statement checks that the history holds c.Through at
// c.ThroughPos, inserts the record, deletes those beyond the newest keep,
// and moves the history's updated_at. The history's state as a write
// plans from it does not change, so the process keeps it.
func (s *Store) Compact(ctx context.Context, historyID string, c driver.Compaction, keep int) error {
	var found int
	err := s.edit(ctx, "compact", historyID, false, func(r pgx.Row) error { return r.Scan(&found) },
		s.q.compact, historyID, c.Through, c.ThroughPos, string(c.JSON), c.Cost.Text, c.Cost.Flat, c.CreatedAt, int64(max(keep, 1)),
		s.policy.Now(), s.policy.TTL(historyID))
	if err == nil && found == 0 {
		return driver.ErrNotFound
	}
	return err
}

// Compactions implements driver.Compactor: one statement, a range of the
// records' primary key.
func (s *Store) Compactions(ctx context.Context, historyID string) ([]driver.Compaction, error) {
	rows, err := s.pool.Query(ctx, s.q.compactions, historyID, s.policy.Now())
	if err != nil {
		return nil, wrap("compactions", historyID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (driver.Compaction, error) {
		var c driver.Compaction
		err := r.Scan(&c.Through, &c.ThroughPos, &c.JSON, &c.Cost.Text, &c.Cost.Flat, &c.CreatedAt)
		return c, err
	})
	return out, wrap("compactions", historyID, err)
}
