package sqlitestore

import (
	"context"
	"fmt"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/driver"
)

// driver.Expirer, with the columns of schema version 8: each history row's
// own expiry (ttl, fixed_at) and the time it expires (expires_at), which
// every change works out again (txn.touch) and txn.save writes with the
// rest of the history's bookkeeping. Reads hide an expired history in the
// statement that looks it up (unexpired); changes find it with live or
// claim; Sweep deletes expired histories through the commit loop.

var _ driver.Expirer = (*Store)(nil)

// Policy implements driver.Expirer.
func (s *Store) Policy() *driver.Policy { return &s.policy }

// live is row for a history that has not expired: an expired one is
// reported missing, as every read reports it. It is for the changes that
// fail on a missing history (DeleteMessage, Truncate, Compact, a Fork's
// source), which then change nothing.
func (t *txn) live(name string) (histRow, bool, error) {
	r, ok, err := t.row(name)
	if err != nil || !ok || !driver.Expired(r.expiresAt, t.s.policy.Now()) {
		return r, ok, err
	}
	return histRow{}, false, nil
}

// claim is row for a change that creates a history it does not find (a
// write, SetMetadata, SetExpiry, a Fork's new history): an expired history
// is deleted first, in the transaction of the change, with everything it
// held (by ON DELETE CASCADE, and the trigger search_unindex), so that the
// change starts a new one, which is reported missing.
func (t *txn) claim(name string) (histRow, bool, error) {
	r, ok, err := t.row(name)
	if err != nil || !ok || !driver.Expired(r.expiresAt, t.s.policy.Now()) {
		return r, ok, err
	}
	if _, err := t.stmt(t.s.stmts.purge).ExecContext(t.ctx, r.hid); err != nil {
		return histRow{}, false, err
	}
	t.forget(name)
	return histRow{}, false, nil
}

// claimMetadata is claim, with the history's metadata (none for a history
// it does not find).
func (t *txn) claimMetadata(name string) (r histRow, meta map[string]string, ok bool, err error) {
	if r, ok, err = t.claim(name); err != nil {
		return r, nil, false, err
	}
	meta = map[string]string{}
	if ok {
		meta, err = t.metadata(r.hid)
	}
	return r, meta, ok, err
}

// keep records a change at now to history name (touch) in this
// transaction, creating its row if it did not exist (existed false).
func (t *txn) keep(name string, r *histRow, existed bool, now int64) error {
	t.touch(name, r, now)
	if !existed {
		r.created = now
		if err := t.create(name, r); err != nil {
			return err
		}
	}
	t.pending[name] = *r
	return nil
}

// SetExpiry implements driver.Expirer.
func (s *Store) SetExpiry(ctx context.Context, historyID string, x driver.Expiry, now int64) (driver.Info, error) {
	var info driver.Info
	err := s.submit(ctx, &request{ctx: ctx, fn: func(t *txn) error {
		info = driver.Info{}
		r, meta, ok, err := t.claimMetadata(historyID)
		if err != nil {
			return err
		}
		r.own = x
		if err := t.keep(historyID, &r, ok, now); err != nil {
			return err
		}
		info = r.info(historyID, meta)
		return nil
	}})
	if err != nil {
		return driver.Info{}, s.wrap("set expiry", historyID, err)
	}
	return info, nil
}

// sweepSQL deletes up to ?2 histories that have expired at ?1, soonest
// expired first, found by the partial index histories_by_expiry, and
// returns their names and message counts. The condition mirrors
// driver.Expired; it is tested by the statement that deletes, under the
// write lock, so a history that a write (of any process) renewed before it
// is not deleted. Their messages, metadata, compaction records and
// idempotency keys go by ON DELETE CASCADE, and the messages' rows of the
// search index by the trigger search_unindex.
const sweepSQL = `DELETE FROM histories WHERE hid IN (SELECT hid FROM histories
WHERE expires_at > 0 AND expires_at <= ?1 ORDER BY expires_at LIMIT ?2) RETURNING name, count`

// Sweep implements driver.Expirer: one statement (sweepSQL), in a
// transaction of the commit loop. Several processes sweeping one file take
// the write lock in turn, and each deletes only what is still there and
// still expired, so none counts a history another removed.
func (s *Store) Sweep(ctx context.Context, now int64, limit int) (driver.Swept, error) {
	var out driver.Swept
	err := s.submit(ctx, &request{ctx: ctx, fn: func(t *txn) error {
		var err error
		out, err = t.sweep(now, limit)
		return err
	}})
	if err != nil {
		return driver.Swept{}, s.wrap("sweep", "", err)
	}
	return out, nil
}

// sweep is Sweep's work in the transaction t.
func (t *txn) sweep(now int64, limit int) (driver.Swept, error) {
	// The changes earlier in this transaction reach their rows only when
	// it ends (txn.save): one that renewed a history must reach it before
	// the statement tests it.
	if err := t.save(); err != nil {
		return driver.Swept{}, err
	}
	rows, err := t.stmt(t.s.stmts.sweep).QueryContext(t.ctx, now, limit)
	if err != nil {
		return driver.Swept{}, err
	}
	defer rows.Close()
	var out driver.Swept
	for rows.Next() {
		var (
			name  string
			count int64
		)
		if err := rows.Scan(&name, &count); err != nil {
			return driver.Swept{}, err
		}
		t.forget(name)
		out.Histories++
		out.Messages += count
	}
	return out, rows.Err()
}

var _ driver.Scrubber = (*Store)(nil)

// Scrub implements driver.Scrubber: the search index is rewritten whole
// (FTS5's 'optimize', which merges its segments and so drops the words of
// deleted messages, which a contentless_delete table only marks deleted;
// FTS5's own secure-delete option does not apply to it) in a transaction
// of the commit loop, on the writer connection, whose secure_delete
// zeroes the pages it frees; then the write-ahead log is checkpointed into
// the file and truncated, so that no old page survives in it. It costs a
// rewrite of the index, O(all the messages' words). A reader still on an
// old snapshot keeps the checkpoint from finishing: Scrub then fails with
// ErrUnavailable, and running it again finishes the job.
func (s *Store) Scrub(ctx context.Context) error {
	// A store opened with search=false dropped its index (syncIndex),
	// and with it the words: there is nothing to optimize.
	if s.indexing {
		err := s.submit(ctx, &request{ctx: ctx, fn: func(t *txn) error {
			_, err := t.tx.ExecContext(t.ctx, "INSERT INTO search_index (search_index) VALUES ('optimize')")
			return err
		}})
		if err != nil {
			return s.wrap("scrub", "", err)
		}
	}
	s.txMu.Lock()
	defer s.txMu.Unlock()
	var busy, logged, done int
	if err := s.writer.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logged, &done); err != nil {
		return s.wrap("scrub", "", err)
	}
	if busy != 0 {
		return fmt.Errorf("sqlitestore: scrub: %w: a reader kept the write-ahead log from being checkpointed (%d of %d pages done); run it again", chatstore.ErrUnavailable, done, logged)
	}
	return nil
}
