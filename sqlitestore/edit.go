package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/chatstore/chatstore/driver"
)

// driver.Editor. Reads are one statement each on the reader pool; every
// change goes through the commit loop, ordered with the writes, and keeps
// the history's row (histRow) in the transaction's bookkeeping, which
// reaches the database once per transaction (txn.save).
//
// An operation that finds nothing to do (no such message, the fork's
// history exists, too many pairs) changes nothing and returns nil to the
// commit loop, which would otherwise roll back the whole group; its
// outcome goes back through the request's closure.

// idSeq is the seq an id names when stored as NULL (the decimal string of
// a position), or -1.
func idSeq(id string) int64 {
	if n, ok := driver.Position(id); ok {
		return n
	}
	return -1
}

// find returns the seq of the message whose id is id in history hid.
func (t *txn) find(hid int64, id string) (seq int64, ok bool, err error) {
	err = t.stmt(t.s.stmts.findMessage).QueryRowContext(t.ctx, hid, nil, idSeq(id), id).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	return seq, err == nil, err
}

// metadata returns a history's metadata pairs.
func (t *txn) metadata(hid int64) (map[string]string, error) {
	rows, err := t.stmt(t.s.stmts.metaGet).QueryContext(t.ctx, hid)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	meta := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		meta[k] = v
	}
	return meta, rows.Err()
}

func (r histRow) info(id string, meta map[string]string) driver.Info {
	return driver.Info{ID: id, Count: r.count, CreatedAt: r.created, UpdatedAt: r.updated, Metadata: meta, Cost: r.cost,
		Expiry: r.own, ExpiresAt: r.expiresAt}
}

// Info implements driver.Editor: one statement, the history's row joined
// with its metadata, unless it has expired.
func (s *Store) Info(ctx context.Context, historyID string) (driver.Info, bool, error) {
	info := driver.Info{ID: historyID}
	rows, err := s.stmts.info.QueryContext(ctx, historyID, s.policy.Now())
	if err != nil {
		return info, false, s.wrap("info", historyID, err)
	}
	defer rows.Close()
	ok := false
	for rows.Next() {
		var k, v sql.NullString
		if err := rows.Scan(&info.Count, &info.CreatedAt, &info.UpdatedAt, &info.Cost.Text, &info.Cost.Flat,
			&info.Expiry.TTL, &info.Expiry.At, &info.ExpiresAt, &k, &v); err != nil {
			return info, false, s.wrap("info", historyID, err)
		}
		if !ok {
			ok, info.Metadata = true, map[string]string{}
		}
		if k.Valid {
			info.Metadata[k.String] = v.String
		}
	}
	return info, ok, s.wrap("info", historyID, rows.Err())
}

// SetMetadata implements driver.Editor.
func (s *Store) SetMetadata(ctx context.Context, historyID string, changes map[string]*string, maxPairs int, now int64) (driver.Info, error) {
	var (
		info  driver.Info
		opErr error
	)
	err := s.submit(ctx, &request{ctx: ctx, fn: func(t *txn) error {
		info, opErr = driver.Info{}, nil
		r, meta, ok, err := t.claimMetadata(historyID)
		if err != nil {
			return err
		}
		for k, v := range changes {
			if v == nil {
				delete(meta, k)
			} else {
				meta[k] = *v
			}
		}
		if len(meta) > maxPairs {
			opErr = driver.ErrTooManyPairs
			return nil
		}
		if err := t.keep(historyID, &r, ok, now); err != nil {
			return err
		}
		for k, v := range changes {
			if v == nil {
				_, err = t.stmt(s.stmts.metaDelete).ExecContext(t.ctx, r.hid, k)
			} else {
				_, err = t.stmt(s.stmts.metaPut).ExecContext(t.ctx, r.hid, k, *v)
			}
			if err != nil {
				return err
			}
		}
		info = r.info(historyID, meta)
		return nil
	}})
	if err != nil {
		return driver.Info{}, s.wrap("set metadata", historyID, err)
	}
	return info, opErr
}

// Message implements driver.Editor: one lookup by primary key (an id
// stored as NULL) or by the index of ids.
func (s *Store) Message(ctx context.Context, historyID, messageID string) (driver.Message, error) {
	rows, err := s.stmts.message.QueryContext(ctx, historyID, s.policy.Now(), idSeq(messageID), messageID)
	if err != nil {
		return driver.Message{}, s.wrap("message", historyID, err)
	}
	defer rows.Close()
	m, ok, err := scanRows(rows)()
	switch {
	case err != nil:
		return driver.Message{}, s.wrap("message", historyID, err)
	case !ok:
		return driver.Message{}, driver.ErrNotFound
	}
	return m, nil
}

// DeleteMessage implements driver.Editor.
func (s *Store) DeleteMessage(ctx context.Context, historyID, messageID string, now int64) error {
	var found bool
	err := s.submit(ctx, &request{ctx: ctx, fn: func(t *txn) error {
		var err error
		found, _, err = t.remove(historyID, messageID, now, s.stmts.deleteSeq)
		return err
	}})
	switch {
	case err != nil:
		return s.wrap("delete message", historyID, err)
	case !found:
		return driver.ErrNotFound
	}
	return nil
}

// Truncate implements driver.Editor: one range delete on the primary key.
func (s *Store) Truncate(ctx context.Context, historyID, fromID string, now int64) (int, error) {
	var (
		found bool
		n     int
	)
	err := s.submit(ctx, &request{ctx: ctx, fn: func(t *txn) error {
		var err error
		found, n, err = t.remove(historyID, fromID, now, s.stmts.truncate)
		return err
	}})
	switch {
	case err != nil:
		return 0, s.wrap("truncate", historyID, err)
	case !found:
		return 0, driver.ErrNotFound
	}
	return n, nil
}

// remove runs del (deleteSeq or truncate: hid, seq, returning the costs of
// the messages it deletes) from the message whose id is id, and keeps the
// history's count and sum of costs (the trigger search_unindex removes the
// messages' rows of the search index); found is false if the history holds
// no such message; n is how many messages went.
func (t *txn) remove(historyID, id string, now int64, del *sql.Stmt) (found bool, n int, err error) {
	r, ok, err := t.live(historyID)
	if err != nil || !ok {
		return false, 0, err
	}
	seq, ok, err := t.find(r.hid, id)
	if err != nil || !ok {
		return false, 0, err
	}
	rows, err := t.stmt(del).QueryContext(t.ctx, r.hid, seq)
	if err != nil {
		return false, 0, err
	}
	defer rows.Close()
	for rows.Next() {
		var c driver.Cost
		if err := rows.Scan(&c.Text, &c.Flat); err != nil {
			return false, 0, err
		}
		r.cost = r.cost.Sub(c)
		n++
	}
	if err := rows.Err(); err != nil {
		return false, 0, err
	}
	r.count -= int64(n)
	t.touch(historyID, &r, now)
	t.pending[historyID] = r
	return true, n, nil
}

// Fork implements driver.Editor: the messages, the metadata and the
// compaction records in effect are copied by one INSERT … SELECT each,
// inside the database, and the copy's sum of costs added up there; the
// copy is marked unindexed, to be indexed by reading its messages again,
// as the index keeps no text to copy.
func (s *Store) Fork(ctx context.Context, historyID, newID string, through *string, now int64) (driver.Info, error) {
	var (
		info  driver.Info
		opErr error
	)
	err := s.submit(ctx, &request{ctx: ctx, fn: func(t *txn) error {
		info, opErr = driver.Info{}, nil
		if _, exists, err := t.claim(newID); err != nil {
			return err
		} else if exists {
			opErr = driver.ErrExists
			return nil
		}
		src, srcOK, err := t.live(historyID)
		if err != nil {
			return err
		}
		end := int64(math.MaxInt64)
		if through != nil {
			var found bool
			if srcOK {
				if end, found, err = t.find(src.hid, *through); err != nil {
					return err
				}
			}
			if !found {
				opErr = driver.ErrNotFound
				return nil
			}
		}
		// The copy's generated ids continue after the original's, so
		// that none equals one it holds; its count < next, or its
		// caller ids, make its writes look ids up.
		// It keeps the original's own expiry, counted from now.
		dst := histRow{created: now}
		if srcOK {
			dst.next, dst.callerIDs, dst.own = src.next, src.callerIDs, src.own
		}
		t.touch(newID, &dst, now)
		if err := t.create(newID, &dst); err != nil {
			return err
		}
		meta := map[string]string{}
		if srcOK {
			res, err := t.stmt(s.stmts.forkMessages).ExecContext(t.ctx, dst.hid, src.hid, end)
			if err != nil {
				return err
			}
			if dst.count, err = res.RowsAffected(); err != nil {
				return err
			}
			if err := t.stmt(s.stmts.forkCost).QueryRowContext(t.ctx, dst.hid).Scan(&dst.cost.Text, &dst.cost.Flat); err != nil {
				return err
			}
			if _, err := t.stmt(s.stmts.forkCompacted).ExecContext(t.ctx, dst.hid, src.hid, end); err != nil {
				return err
			}
			if s.indexing && dst.count > 0 {
				if err := t.markUnindexed(dst.hid, 0, int(dst.count)); err != nil {
					return err
				}
			}
			if _, err := t.stmt(s.stmts.forkMetadata).ExecContext(t.ctx, dst.hid, src.hid); err != nil {
				return err
			}
			if meta, err = t.metadata(dst.hid); err != nil {
				return err
			}
		}
		t.pending[newID] = dst
		info = dst.info(newID, meta)
		return nil
	}})
	if err != nil {
		return driver.Info{}, s.wrap("fork", historyID, err)
	}
	return info, opErr
}

// Page implements driver.Editor: a range of the primary key from `from`,
// skipping `skip` rows of it.
func (s *Store) Page(ctx context.Context, historyID string, span driver.Span) ([]driver.Message, error) {
	return s.ReadBounded(ctx, historyID, span, 0)
}

// Query implements driver.Editor in one statement: the page of histories,
// then their metadata joined to it. With metadata, the histories are found
// from the first pair's entries in the index of pairs (key, value, hid),
// the other pairs checked for each, and only those sorted, so that a
// user's histories cost what they hold whatever the store holds; without,
// the order is an index's (name, or by recency histories_by_recency's,
// each of its steps sorted).
func (s *Store) Query(ctx context.Context, q driver.Query) ([]driver.Info, error) {
	query, args := querySQL(q, s.policy.Now())
	stmt, kept, err := s.queryStmt(ctx, query)
	if err != nil {
		return nil, s.wrap("query", "", err)
	}
	if !kept {
		defer stmt.Close()
	}
	rows, err := stmt.QueryContext(ctx, args...)
	if err != nil {
		return nil, s.wrap("query", "", err)
	}
	defer rows.Close()
	var out []driver.Info
	for rows.Next() {
		var (
			info driver.Info
			k, v sql.NullString
		)
		if err := rows.Scan(&info.ID, &info.Count, &info.CreatedAt, &info.UpdatedAt, &info.Cost.Text, &info.Cost.Flat,
			&info.Expiry.TTL, &info.Expiry.At, &info.ExpiresAt, &k, &v); err != nil {
			return nil, s.wrap("query", "", err)
		}
		if len(out) == 0 || out[len(out)-1].ID != info.ID {
			info.Metadata = map[string]string{}
			out = append(out, info)
		}
		if k.Valid {
			out[len(out)-1].Metadata[k.String] = v.String
		}
	}
	return out, s.wrap("query", "", rows.Err())
}

// querySQL is Query's statement and its arguments, at time now.
func querySQL(q driver.Query, now int64) (string, []any) {
	var (
		where []string
		args  []any
	)
	from := "histories h"
	where = append(where, unexpiredAt("?"))
	args = append(args, now)
	if len(q.Metadata) > 0 {
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range q.Metadata {
				if !yield(k) {
					return
				}
			}
		})
		// CROSS JOIN: the planner must not start from histories.
		from = "metadata m0 CROSS JOIN histories h"
		where = append(where, "m0.key = ? AND m0.value = ? AND h.hid = m0.hid")
		args = append(args, keys[0], q.Metadata[keys[0]])
		for _, k := range keys[1:] {
			where = append(where, "EXISTS (SELECT 1 FROM metadata m WHERE m.hid = h.hid AND m.key = ? AND m.value = ?)")
			args = append(args, k, q.Metadata[k])
		}
	}
	if q.Prefix != "" {
		// As DeletePrefix: the index on name finds the first.
		where = append(where, "h.name >= ? AND substr(h.name, 1, length(?)) = ?")
		args = append(args, q.Prefix, q.Prefix, q.Prefix)
	}
	order, pageOrder := "h.name", "p.name"
	switch {
	case q.Order == driver.ByUpdated:
		// The index's order (recencyStep), then the exact order within
		// each step, sorted.
		order, pageOrder = recencyStep+" DESC, h.updated_at DESC, h.name", "p.updated_at DESC, p.name"
		if q.AfterID != "" {
			// The first term is a range of the index.
			where = append(where, recencyStep+" <= (? >> "+strconv.Itoa(driver.RecencyShift)+") AND (h.updated_at < ? OR h.updated_at = ? AND h.name > ?)")
			args = append(args, q.AfterUpdated, q.AfterUpdated, q.AfterUpdated, q.AfterID)
		} else {
			// A range of the index that holds every history: without
			// one, SQLite scans histories and sorts them all rather
			// than walk the index and sort each step.
			where = append(where, recencyStep+" <= ?")
			args = append(args, int64(math.MaxInt64>>driver.RecencyShift))
		}
	case q.AfterID != "":
		where = append(where, "h.name > ?")
		args = append(args, q.AfterID)
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	query := "WITH page AS (SELECT h.hid, h.name, h.count, h.created_at, h.updated_at, h.tok_text, h.tok_flat, h.ttl, h.fixed_at, h.expires_at FROM " + from + cond +
		" ORDER BY " + order + " LIMIT ?) " +
		"SELECT p.name, p.count, p.created_at, p.updated_at, p.tok_text, p.tok_flat, p.ttl, p.fixed_at, p.expires_at, md.key, md.value FROM page p " +
		"LEFT JOIN metadata md ON md.hid = p.hid ORDER BY " + pageOrder
	args = append(args, q.Limit)
	return query, args
}

// recencyStep is the key of the index histories_by_recency: a history's
// updated_at in steps of 1,024 ms (driver.RecencyShift; schema version 9).
// The expression must be the index's, character for character, for SQLite
// to use it (TestRecencyPlan).
var recencyStep = "(h.updated_at >> " + strconv.Itoa(driver.RecencyShift) + ")"

// maxQueryStmts bounds the prepared statements of Query: one per shape
// (order, cursor or not, prefix or not, number of pairs), so a few dozen.
const maxQueryStmts = 64

// queryStmt returns Query's statement for query, prepared once and kept
// (compiling it cost more than running it), unless there are too many
// already: then kept is false and the caller closes it.
func (s *Store) queryStmt(ctx context.Context, query string) (stmt *sql.Stmt, kept bool, err error) {
	s.queryMu.Lock()
	defer s.queryMu.Unlock()
	if st, ok := s.queries[query]; ok {
		return st, true, nil
	}
	st, err := s.readers.PrepareContext(ctx, query)
	if err != nil || len(s.queries) >= maxQueryStmts {
		return st, false, err
	}
	s.queries[query] = st
	return st, true, nil
}
