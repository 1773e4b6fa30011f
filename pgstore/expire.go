package pgstore

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/chatstore/chatstore/driver"
)

// Expiry (driver.Expirer): each history's row holds its own expiry and
// when it expires (migration 6 → 7), which every statement that changes
// the history works out again, with the default TTL that s.policy gives
// its id at that moment; every read checks it against s.policy's clock in
// the statement it runs anyway (live); and a change to an expired history
// first purges it, under its row's lock (claim).

// Policy implements driver.Expirer.
func (s *Store) Policy() *driver.Policy { return &s.policy }

// SetExpiry implements driver.Expirer: one transaction that creates the
// history's row if need be (anew if it has expired: claim) and locks it,
// then sets its own expiry and the time it expires.
func (s *Store) SetExpiry(ctx context.Context, historyID string, x driver.Expiry, now int64) (driver.Info, error) {
	info := driver.Info{ID: historyID}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		hid, err := s.claimed(ctx, tx, historyID, now)
		if err != nil {
			return err
		}
		return tx.QueryRow(ctx, s.q.setExpiry, hid, x.TTL, x.At, now, s.policy.TTL(historyID)).Scan(infoDest(&info)...)
	})
	if err != nil {
		return driver.Info{ID: historyID}, wrap("set expiry", historyID, err)
	}
	return info, nil
}

// Sweep implements driver.Expirer: one transaction of two round trips.
// The first locks up to limit expired histories, the oldest first, along
// histories_by_expiry, skipping those another transaction holds (another
// sweeper's, a writer's) rather than waiting (queries.lockSweep); the
// second deletes those that are still expired, with everything they
// hold, as Delete does, and commits. A history is removed whole or not at
// all, and a write that renews it first keeps it.
func (s *Store) Sweep(ctx context.Context, now int64, limit int) (driver.Swept, error) {
	sw, err := s.deleteLocked(ctx, s.q.lockSweep, []any{now, limit}, s.q.sweep, now)
	return sw, wrap("sweep", "", err)
}
