package pgstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/chatstore/chatstore/driver"
)

// position is the second parameter of a lookup by id (see byID): the
// position a decimal id names, or -1, which no message has.
func position(id string) int64 {
	if n, ok := driver.Position(id); ok {
		return n
	}
	return -1
}

// infoDest are the scan targets of infoCols.
func infoDest(i *driver.Info) []any {
	return []any{&i.Count, &i.CreatedAt, &i.UpdatedAt, &i.Metadata, &i.Cost.Text, &i.Cost.Flat, &i.Expiry.TTL, &i.Expiry.At, &i.ExpiresAt}
}

// Info implements driver.Editor: one statement.
func (s *Store) Info(ctx context.Context, historyID string) (driver.Info, bool, error) {
	info := driver.Info{ID: historyID}
	err := s.pool.QueryRow(ctx, s.q.info, historyID, s.policy.Now()).Scan(infoDest(&info)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return driver.Info{ID: historyID}, false, nil
	}
	if err != nil {
		return driver.Info{ID: historyID}, false, wrap("info", historyID, err)
	}
	return info, true, nil
}

// SetMetadata implements driver.Editor: one transaction that creates the
// history's row if need be (anew if it has expired: claim) and locks it,
// changes the pairs, counts them, and rolls back if there are too many.
func (s *Store) SetMetadata(ctx context.Context, historyID string, changes map[string]*string, maxPairs int, now int64) (driver.Info, error) {
	var removed, keys, values []string
	for k, v := range changes {
		if v == nil {
			removed = append(removed, k)
		} else {
			keys, values = append(keys, k), append(values, *v)
		}
	}
	info := driver.Info{ID: historyID}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		hid, err := s.claimed(ctx, tx, historyID, now)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, s.q.setMetadata, hid, removed, keys, values); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, s.q.pairs, hid).Scan(&n); err != nil {
			return err
		}
		if n > maxPairs {
			return driver.ErrTooManyPairs
		}
		return tx.QueryRow(ctx, s.q.touch, hid, now, s.policy.TTL(historyID)).Scan(infoDest(&info)...)
	})
	if errors.Is(err, driver.ErrTooManyPairs) {
		return driver.Info{}, err
	}
	return info, wrap("set metadata", historyID, err)
}

// claimed is claim in transaction tx, in one round trip: the id of
// history historyID's row, there and locked, a new one if the history
// had expired at now.
func (s *Store) claimed(ctx context.Context, tx pgx.Tx, historyID string, now int64) (int64, error) {
	var hid int64
	for range 2 {
		var b pgx.Batch
		s.claim(&b, historyID, now)
		b.Queue(s.q.lockHistory, historyID).QueryRow(func(r pgx.Row) error {
			err := r.Scan(&hid, nil, nil, nil, nil)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			return err
		})
		if err := tx.SendBatch(ctx, &b).Close(); err != nil {
			return 0, err
		}
		if hid != 0 {
			return hid, nil
		}
		// Between creating and locking it, a Delete removed the row;
		// create it again.
	}
	return 0, errors.New("the history was deleted twice while it was being changed")
}

// Message implements driver.Editor: one statement, an index lookup.
func (s *Store) Message(ctx context.Context, historyID, messageID string) (driver.Message, error) {
	rows, err := s.pool.Query(ctx, s.q.message, historyID, messageID, position(messageID), s.policy.Now())
	if err != nil {
		return driver.Message{}, wrap("read message", historyID, err)
	}
	msgs, err := collect(rows, 0)
	if err != nil {
		return driver.Message{}, wrap("read message", historyID, err)
	}
	if len(msgs) == 0 {
		return driver.Message{}, driver.ErrNotFound
	}
	return msgs[0], nil
}

// edit runs an edit: one round trip of BEGIN, the history's row locked,
// the edit's statement (q with args, whose answer scan reads) and COMMIT.
// The edit's statement finds nothing if the history does not exist. With
// forget, the process forgets the history's state, which the edit changes:
// its next write reads it again (the guard of a guarded write would refuse
// the remembered state anyway).
func (s *Store) edit(ctx context.Context, op, historyID string, forget bool, scan func(pgx.Row) error, q string, args ...any) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return wrap(op, historyID, err)
	}
	defer conn.Release()
	if forget {
		defer s.forget(historyID)
	}
	var b pgx.Batch
	b.Queue("BEGIN")
	b.Queue(s.q.lockEdit, historyID)
	b.Queue(q, args...).QueryRow(scan)
	b.Queue("COMMIT")
	err = conn.SendBatch(ctx, &b).Close()
	if err != nil {
		if pc := conn.Conn().PgConn(); !pc.IsClosed() && pc.TxStatus() != 'I' {
			_, _ = conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}
	return wrap(op, historyID, invalidContent(err))
}

// DeleteMessage implements driver.Editor.
func (s *Store) DeleteMessage(ctx context.Context, historyID, messageID string, now int64) error {
	var n int
	err := s.edit(ctx, "delete message", historyID, true, func(r pgx.Row) error { return r.Scan(&n) },
		s.q.deleteMessage, historyID, messageID, position(messageID), now, s.policy.TTL(historyID))
	if err == nil && n == 0 {
		return driver.ErrNotFound
	}
	return err
}

// Truncate implements driver.Editor: a range of the primary key deleted.
func (s *Store) Truncate(ctx context.Context, historyID, fromID string, now int64) (int, error) {
	var found, n int
	err := s.edit(ctx, "truncate", historyID, true, func(r pgx.Row) error { return r.Scan(&found, &n) },
		s.q.truncate, historyID, fromID, position(fromID), now, s.policy.TTL(historyID))
	if err == nil && found == 0 {
		return 0, driver.ErrNotFound
	}
	return n, err
}

// errThroughNotFound rolls a fork back.
var errThroughNotFound = fmt.Errorf("through: %w", driver.ErrNotFound)

// Fork implements driver.Editor: one transaction of two steps. The first,
// one batch, purges a history at newID that has expired (under its row's
// lock, as claim does), then creates the fork's row, or finds that the
// history exists; the second copies the original's messages and metadata
// in one INSERT ... SELECT each, from one snapshot of it, with its own
// expiry.
func (s *Store) Fork(ctx context.Context, historyID, newID string, through *string, now int64) (driver.Info, error) {
	info := driver.Info{ID: newID}
	var thr any // NULL: every message
	pos := int64(-1)
	if through != nil {
		thr, pos = *through, position(*through)
	}
	defer s.forget(newID)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var (
			hid int64
			b   pgx.Batch
		)
		b.Queue(s.q.lockHistory, newID)
		b.Queue(s.q.purge, newID, now)
		b.Queue(s.q.forkRow, newID, now).QueryRow(func(r pgx.Row) error { return r.Scan(&hid) })
		err := tx.SendBatch(ctx, &b).Close()
		if errors.Is(err, pgx.ErrNoRows) {
			return driver.ErrExists
		}
		if err != nil {
			return err
		}
		var found int
		if err := tx.QueryRow(ctx, s.q.forkCopy, hid, historyID, thr, pos, now, s.policy.TTL(newID)).Scan(append([]any{&found}, infoDest(&info)...)...); err != nil {
			return err
		}
		if through != nil && found == 0 {
			return errThroughNotFound
		}
		return nil
	})
	switch {
	case errors.Is(err, driver.ErrExists), errors.Is(err, driver.ErrNotFound):
		return driver.Info{}, err
	case err != nil:
		return driver.Info{}, wrap("fork", historyID, err)
	}
	return info, nil
}

// Page implements driver.Editor: a range of the primary key, from
// position from on, skip rows skipped.
func (s *Store) Page(ctx context.Context, historyID string, span driver.Span) ([]driver.Message, error) {
	return s.ReadBounded(ctx, historyID, span, 0)
}

// Query implements driver.Editor: one statement. With metadata, each pair
// is a range of metadata_by_pair (the histories holding it); the planner
// starts from the pair that selects fewest, by its statistics, and sorts
// what it finds. Without, a walk of the name's index (ByID) or of
// histories_by_updated (ByUpdated) from the cursor, stopping at the limit.
// Each history's metadata is read for the page's rows only. Expired
// histories are left out as the walk meets them.
func (s *Store) Query(ctx context.Context, q driver.Query) ([]driver.Info, error) {
	var (
		where = []string{"h.name >= $1", "starts_with(h.name, $1)", live("h", 2)}
		args  = []any{q.Prefix, s.policy.Now()}
		order string
	)
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if q.Order == driver.ByUpdated {
		where = append(where, "h.updated_at IS NOT NULL")
		if q.AfterID != "" {
			u := arg(q.AfterUpdated)
			where = append(where, "(h.updated_at < "+u+" OR (h.updated_at = "+u+" AND h.name > "+arg(q.AfterID)+"))")
		}
		order = "h.updated_at DESC, h.name"
	} else {
		where = append(where, "h.created_at IS NOT NULL", "h.name > "+arg(q.AfterID))
		order = "h.name"
	}
	// In key order, so that the statement's text, and so its prepared
	// plan, is the same for the same keys.
	for _, k := range slices.Sorted(maps.Keys(q.Metadata)) {
		where = append(where, "h.hid IN (SELECT hid FROM S.metadata WHERE key = "+arg(k)+" AND value = "+arg(q.Metadata[k])+")")
	}
	sql := "SELECT h.name, " + infoCols + " FROM (" +
		"SELECT h.hid, h.name, h.count, h.created_at, h.updated_at, h.cost_text, h.cost_flat, h.ttl, h.fixed_at, h.expires_at FROM S.histories h WHERE " + strings.Join(where, " AND ") +
		" ORDER BY " + order + " LIMIT " + arg(q.Limit) + ") h ORDER BY " + order
	rows, err := s.pool.Query(ctx, strings.ReplaceAll(sql, "S.", s.schema+"."), args...)
	if err != nil {
		return nil, wrap("query", "", err)
	}
	infos, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (driver.Info, error) {
		var i driver.Info
		err := r.Scan(append([]any{&i.ID}, infoDest(&i)...)...)
		return i, err
	})
	return infos, wrap("query", "", err)
}
