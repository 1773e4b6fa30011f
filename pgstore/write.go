package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/driver"
)

// histState is a history's bookkeeping row.
type histState struct {
	hid       int64
	st        driver.State
	callerIDs int64
}

// maxCached bounds the cache of history states.
const maxCached = 10_000

func (s *Store) cached(name string) (histState, bool) {
	s.cacheMu.Lock()
	defer s.cacheMu.Unlock()
	h, ok := s.cache[name]
	return h, ok
}

func (s *Store) remember(name string, h histState) {
	s.cacheMu.Lock()
	defer s.cacheMu.Unlock()
	if len(s.cache) >= maxCached {
		clear(s.cache)
	}
	s.cache[name] = h
}

func (s *Store) forget(name string) {
	s.cacheMu.Lock()
	defer s.cacheMu.Unlock()
	if name == "" {
		clear(s.cache)
	} else {
		delete(s.cache, name)
	}
}

// Write implements driver.Store.
//
// The common case is one round trip: the process remembers the state of
// the histories it wrote, plans the write from it, and sends the whole
// transaction at once, its first statement updating the history's row from
// the remembered state to the new one and failing if the row is no longer
// in the remembered state (another writer, another process, a deletion got
// there first). That statement also locks the row, so writers on one
// history take turns. When it fails, or the state is not known, the write
// takes two round trips: lock the row and read the state, then write.
func (s *Store) Write(ctx context.Context, historyID string, recs []driver.Record) (int, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return 0, wrap("write", historyID, err)
	}
	defer conn.Release()
	end := func() {
		// If the transaction is still open on the connection (an error
		// after BEGIN), end it; a broken connection is discarded by the
		// pool anyway.
		if !conn.Conn().PgConn().IsClosed() && conn.Conn().PgConn().TxStatus() != 'I' {
			_, _ = conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}
	if known, ok := s.cached(historyID); ok && known.callerIDs == 0 {
		n, next, err := s.writeFrom(ctx, conn.Conn(), known, recs, true)
		if err == nil {
			s.remember(historyID, next)
			return n, nil
		}
		end()
		s.forget(historyID)
		if !stale(err) {
			return 0, wrap("write", historyID, invalidContent(err))
		}
	}
	n, next, err := s.writeLocked(ctx, conn.Conn(), historyID, recs)
	if err != nil {
		end()
		s.forget(historyID)
		return 0, wrap("write", historyID, invalidContent(err))
	}
	s.remember(historyID, next)
	return n, nil
}

// stale reports the guard's failure: the history's row was not in the state
// the write was planned from.
func stale(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "22012" // division_by_zero, see queries.guard
}

// writeLocked locks the history's row (creating it if needed), reads its
// state, and writes.
func (s *Store) writeLocked(ctx context.Context, conn *pgx.Conn, historyID string, recs []driver.Record) (int, histState, error) {
	var h histState
	var first pgx.Batch
	first.Queue("BEGIN")
	first.Queue(s.q.newHistory, historyID)
	first.Queue(s.q.lockHistory, historyID).QueryRow(func(row pgx.Row) error {
		return row.Scan(&h.hid, &h.st.Count, &h.st.Rounds, &h.st.Open, &h.callerIDs)
	})
	if err := conn.SendBatch(ctx, &first).Close(); err != nil {
		return 0, h, err
	}
	return s.writeFrom(ctx, conn, h, recs, false)
}

// writeFrom plans the write from the history's state h and sends it. With
// guarded, the write is one statement that checks the row is still in state
// h (see queries.guardedWrite); otherwise the transaction is open and the
// row locked already, and the rest of it goes in one batch.
func (s *Store) writeFrom(ctx context.Context, conn *pgx.Conn, h histState, recs []driver.Record, guarded bool) (int, histState, error) {
	held := driver.GeneratedOnly(h.st.Count)
	if h.callerIDs > 0 {
		held = func(ctx context.Context, ids []string) (map[string]bool, error) {
			var seqs []int64
			for _, id := range ids {
				if n, err := strconv.ParseInt(id, 10, 64); err == nil && n >= 0 && strconv.FormatInt(n, 10) == id {
					seqs = append(seqs, n)
				}
			}
			rows, err := conn.Query(ctx, s.q.held, h.hid, ids, seqs)
			if err != nil {
				return nil, err
			}
			got, err := pgx.CollectRows(rows, pgx.RowTo[string])
			found := make(map[string]bool, len(got))
			for _, id := range got {
				found[id] = true
			}
			return found, err
		}
	}
	plan, err := driver.MakePlan(ctx, h.st, recs, held)
	if err != nil {
		return 0, h, err
	}
	next := h
	next.st = plan.State
	n := len(plan.Messages)
	seqs, kinds := make([]int64, n), make([]int16, n)
	ids := make([]*string, n) // nil: the id is the decimal string of seq
	bodies := make([]string, n)
	for i, p := range plan.Messages {
		seqs[i], kinds[i] = p.Pos, int16(recs[p.Index].Kind)
		if p.ID != strconv.FormatInt(p.Pos, 10) {
			ids[i] = &plan.Messages[i].ID
		}
		bodies[i] = string(recs[p.Index].JSON)
		if recs[p.Index].HasID {
			next.callerIDs++
		}
	}
	if guarded {
		args := []any{h.hid, next.st.Count, next.st.Rounds, next.st.Open, next.callerIDs,
			h.st.Count, h.st.Rounds, h.st.Open, h.callerIDs, seqs, kinds, ids, bodies}
		q := s.q.guardedWrite
		if n == 1 {
			q, args[9], args[10], args[11], args[12] = s.q.guardedWriteOne, seqs[0], kinds[0], ids[0], bodies[0]
		}
		_, err := conn.Exec(ctx, q, args...)
		return n, next, err
	}
	var b pgx.Batch
	if n > 0 {
		b.Queue(s.q.updateHistory, h.hid, next.st.Count, next.st.Rounds, next.st.Open, next.callerIDs)
		b.Queue(s.q.insertMessages, h.hid, seqs, kinds, ids, bodies)
	}
	b.Queue("COMMIT")
	if err := conn.SendBatch(ctx, &b).Close(); err != nil {
		return 0, h, err
	}
	return n, next, nil
}

// invalidContent marks the errors PostgreSQL gives for message content it
// cannot store, which retrying will not fix: JSONB holds no U+0000 (a "\u0000"
// in a string) and no number beyond the range of numeric.
func invalidContent(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "22P05": // untranslatable_character
			return fmt.Errorf("%w: PostgreSQL's JSONB cannot store the character U+0000 in a string: %w", chatstore.ErrInvalidMessage, err)
		case "22003": // numeric_value_out_of_range
			return fmt.Errorf("%w: a number is beyond what PostgreSQL's JSONB stores: %w", chatstore.ErrInvalidMessage, err)
		}
	}
	return err
}
