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
	count     int64
	rounds    int64 // rounds closed, to size a tail read (firstPage)
	callerIDs int64
	next      int64    // next_seq, the counter of positions
	tail      tailRead // what the last read of its last rounds took (firstPage)
}

// change is what a change to a history takes from the Policy, once: the
// Store's clock, by which the history may have expired, and the default
// TTL of its id, by which its expiry is worked out after the change.
type change struct{ now, defaultTTL int64 }

// change is the Policy's now and default TTL for a change to historyID.
func (s *Store) change(historyID string) change {
	return change{now: s.policy.Now(), defaultTTL: s.policy.TTL(historyID)}
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
//
// A history the process does not know is often a new one (a conversation
// starting): unless the last such write found its history existing, the
// write presumes so, plans from the state of an empty history, and sends
// one statement that creates the history's row with it, and does nothing
// if the history has a row (queries.create); then, one round trip later,
// it locks the row as above.
//
// A history that has expired fails the guard too; with its row locked,
// the write then purges it, and writes to a new one.
func (s *Store) Write(ctx context.Context, historyID string, recs []driver.Record) (int, error) {
	out, err := s.write(ctx, historyID, nil, recs)
	return out.Written, err
}

// WriteKeyed implements driver.KeyedWriter: Write, with the key looked up
// and recorded under the history's row lock, in the write's transaction.
// In the common case it is still one statement, which also records the key
// and fails, as a stale state does, if the history holds it; then, and when
// the state is not known, the write locks the row, looks the key up (one
// more statement in the first round trip) and either ends the transaction
// and answers with the recorded outcome, or writes and records the key (one
// more statement before COMMIT).
func (s *Store) WriteKeyed(ctx context.Context, historyID string, key driver.Key, recs []driver.Record) (driver.Outcome, error) {
	return s.write(ctx, historyID, &key, recs)
}

// write is Write, with an idempotency key unless key is nil.
func (s *Store) write(ctx context.Context, historyID string, key *driver.Key, recs []driver.Record) (driver.Outcome, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return driver.Outcome{}, wrap("write", historyID, err)
	}
	defer conn.Release()
	c := s.change(historyID)
	end := func() {
		// If the transaction is still open on the connection (an error
		// after BEGIN), end it; a broken connection is discarded by the
		// pool anyway.
		if !conn.Conn().PgConn().IsClosed() && conn.Conn().PgConn().TxStatus() != 'I' {
			_, _ = conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}
	known, ok := s.cached(historyID)
	switch {
	case ok && known.callerIDs == 0:
		out, next, err := s.writeFrom(ctx, conn.Conn(), historyID, known, c, key, recs, guardedWrite)
		if err == nil {
			s.remember(historyID, next)
			return out, nil
		}
		end()
		s.forget(historyID)
		if !stale(err) {
			return driver.Outcome{}, writeError(historyID, err)
		}
	case !ok && !s.existed.Load():
		out, next, err := s.writeFrom(ctx, conn.Conn(), historyID, histState{}, c, key, recs, createWrite)
		if err == nil {
			s.remember(historyID, next)
			return out, nil
		}
		if !errors.Is(err, errExists) {
			return driver.Outcome{}, writeError(historyID, err)
		}
		s.existed.Store(true)
	}
	// The guarded write may have waited for the row's lock (and failed for
	// it): the locked one checks expiry at the time it is sent, not at the
	// time the write began (checkedAt counts only its own transaction).
	c.now = max(c.now, s.policy.Now())
	out, next, err := s.writeLocked(ctx, conn.Conn(), historyID, c, key, recs)
	if errors.Is(err, pgx.ErrNoRows) {
		// The history was deleted between the INSERT that found it there
		// and the lock: nothing was written (the lock comes first). The
		// history is gone now, so once more creates it afresh.
		end()
		out, next, err = s.writeLocked(ctx, conn.Conn(), historyID, c, key, recs)
	}
	if err != nil {
		end()
		s.forget(historyID)
		return driver.Outcome{}, writeError(historyID, err)
	}
	if !ok && !out.Replayed {
		// The history had no position yet, and so no message ever, if
		// the write's are its first: the next history this process
		// does not know is presumed to be like this one.
		s.existed.Store(next.next != int64(out.Written))
	}
	s.remember(historyID, next)
	return out, nil
}

// errExists is the answer of a write planned for a new history
// (createWrite) to a history that has a row already: it stored nothing.
var errExists = errors.New("the history exists")

// How writeFrom sends a write.
type writeMode int

const (
	// lockedWrite: in the transaction that holds the history's row.
	lockedWrite writeMode = iota
	// guardedWrite: one statement that checks the row is still in the
	// state the write was planned from (queries.guardedWrite).
	guardedWrite
	// createWrite: one statement that creates the history with the
	// write, if it has no row (queries.create); errExists if it has.
	createWrite
)

// stale reports the guard's failure: the history's row was not in the state
// the write was planned from (or, for a keyed write, the history holds the
// key).
func stale(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "22012" // division_by_zero, see queries.guard
}

// commitFailed marks the error of the step that commits a write: sending
// the one statement of a guarded write, or the batch that ends in COMMIT,
// and reading their answers. writeError tells from it whether the write may
// have been stored; every other step of a write happens before its COMMIT
// is sent.
type commitFailed struct{ err error }

func (e *commitFailed) Error() string { return e.err.Error() }
func (e *commitFailed) Unwrap() error { return e.err }

// writeLocked locks the history's row (creating it if needed, anew if
// it has expired: claim), reads its state, and writes; for a keyed write
// it looks the key up first, and if the history holds it ends the
// transaction, having written nothing, and returns the recorded outcome.
func (s *Store) writeLocked(ctx context.Context, conn *pgx.Conn, historyID string, c change, key *driver.Key, recs []driver.Record) (driver.Outcome, histState, error) {
	var (
		h      histState
		replay driver.Outcome
		first  pgx.Batch
	)
	first.Queue("BEGIN")
	s.claim(&first, historyID, c.now)
	first.Queue(s.q.lockHistory, historyID).QueryRow(func(row pgx.Row) error {
		return row.Scan(&h.hid, &h.count, &h.rounds, &h.callerIDs, &h.next)
	})
	if key != nil {
		first.Queue(s.q.heldKey, historyID, key.Key).QueryRow(func(row pgx.Row) error {
			err := row.Scan(&replay.Fingerprint, &replay.Written)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			replay.Replayed = err == nil
			return err
		})
	}
	if err := conn.SendBatch(ctx, &first).Close(); err != nil {
		return driver.Outcome{}, h, err
	}
	if replay.Replayed {
		// Nothing was written; the answer is known. If ROLLBACK fails the
		// server ends the transaction anyway when the connection goes, and
		// the pool discards a connection left in a transaction.
		_, _ = conn.Exec(ctx, "ROLLBACK")
		return replay, h, nil
	}
	return s.writeFrom(ctx, conn, historyID, h, c, key, recs, lockedWrite)
}

// claim queues, in a transaction, what makes history historyID's row
// exist, a new one in place of one that has expired at now, for the
// statement to follow, which locks it (lockHistory): the row is created
// if need be and locked, so that the next statement's snapshot sees all
// that the history holds, and no one changes it; that statement purges
// the history if it has expired, and the last creates it again. These
// statements go with those that follow, in the same round trip.
func (s *Store) claim(b *pgx.Batch, historyID string, now int64) {
	b.Queue(s.q.newHistory, historyID)
	b.Queue(s.q.lockHistory, historyID)
	b.Queue(s.q.purge, historyID, now)
	b.Queue(s.q.newHistory, historyID)
}

// writeFrom plans the write from the history's state h and sends it, as
// mode says: one statement that checks the row is still in state h (see
// queries.guardedWrite), or one that creates the history, h being the
// state of none (queries.create); or, the transaction being open and the
// row locked already, the rest of it in one batch. A keyed write
// records key with it. When the store indexes, each row also carries its
// role and the tsvectors of its text and of its reasoning, each as made
// here or else as the search.IndexText from which the INSERT computes it
// (indexing.split, indexing.insert). Each row
// carries its cost, and the history's row gains their sum, and its expiry
// after the write, with c's default TTL; a guarded write also checks that
// the history has not expired at c's now.
func (s *Store) writeFrom(ctx context.Context, conn *pgx.Conn, historyID string, h histState, c change, key *driver.Key, recs []driver.Record, mode writeMode) (driver.Outcome, histState, error) {
	plan, err := driver.MakePlan(ctx, h.next, recs, s.lookup(conn, h))
	if err != nil {
		return driver.Outcome{}, h, err
	}
	closed := plan.Closers(recs)
	next := h
	n := len(plan.Messages)
	next.next, next.count, next.rounds = plan.Next, h.count+int64(n), h.rounds+closed
	seqs, kinds, ats := make([]int64, n), make([]int16, n), make([]int64, n)
	costTexts, costFlats := make([]int64, n), make([]int64, n)
	ids := make([]*string, n) // nil: the id is the decimal string of seq
	bodies := make([]string, n)
	var roles, texts, reasonings, textTSVs, reasoningTSVs []string // when indexing
	if s.ix.on {
		roles, texts, reasonings = make([]string, n), make([]string, n), make([]string, n)
		textTSVs, reasoningTSVs = make([]string, n), make([]string, n)
	}
	var (
		at   *int64      // the write's time; nil if it stores nothing
		cost driver.Cost // the sum of its rows' costs
	)
	for i, p := range plan.Messages {
		rec := &recs[p.Index]
		seqs[i], kinds[i], ats[i] = p.Pos, int16(rec.Kind), rec.CreatedAt
		costTexts[i], costFlats[i], cost = rec.Cost.Text, rec.Cost.Flat, cost.Add(rec.Cost)
		if at == nil || ats[i] > *at {
			at = &ats[i]
		}
		if p.ID != strconv.FormatInt(p.Pos, 10) {
			ids[i] = &plan.Messages[i].ID
		}
		bodies[i] = string(rec.JSON)
		if rec.HasID {
			next.callerIDs++
		}
		if s.ix.on {
			roles[i] = rec.Role
			textTSVs[i], texts[i] = s.ix.split(indexText(rec.Doc.Text))
			reasoningTSVs[i], reasonings[i] = s.ix.split(indexText(rec.Doc.Reasoning))
		}
	}
	out := driver.Outcome{Written: n}
	if key != nil {
		out.Fingerprint = key.Fingerprint
	}
	if mode != lockedWrite {
		// The statement's parameters: the history and its states, then
		// the rows, from $from on, then the key.
		var (
			args   []any
			from   int
			q, one string
		)
		if mode == guardedWrite {
			args = []any{h.hid, next.count, closed, next.callerIDs, next.next, at, cost.Text, cost.Flat, h.count, h.callerIDs, h.next, c.now, c.defaultTTL}
			from, q, one = rowsFrom, s.q.guardedWrite, s.q.guardedWriteOne
			if key != nil {
				q, one = s.q.guardedKeyed, s.q.guardedKeyedOne
			}
		} else {
			args = []any{historyID, next.count, closed, next.callerIDs, next.next, at, cost.Text, cost.Flat, c.defaultTTL}
			from, q, one = createRowsFrom, s.q.create, s.q.createOne
			if key != nil {
				q, one = s.q.createKeyed, s.q.createKeyedOne
			}
		}
		args = append(args, seqs, kinds, ids, bodies, ats, costTexts, costFlats)
		if s.ix.on {
			args = append(args, roles, texts, reasonings, textTSVs, reasoningTSVs)
		}
		if key != nil {
			args = append(args, key.Key, key.Fingerprint, n, key.TTL.Microseconds())
		}
		if n == 1 {
			// One row's scalars in place of the arrays.
			row := args[from-1:]
			q, row[0], row[1], row[2], row[3], row[4], row[5], row[6] = one, seqs[0], kinds[0], ids[0], bodies[0], ats[0], costTexts[0], costFlats[0]
			if s.ix.on {
				row[7], row[8], row[9], row[10], row[11] = roles[0], texts[0], reasonings[0], textTSVs[0], reasoningTSVs[0]
			}
		}
		if mode == guardedWrite {
			if _, err := conn.Exec(ctx, q, args...); err != nil {
				return driver.Outcome{}, h, &commitFailed{err}
			}
			return out, next, nil
		}
		err := conn.QueryRow(ctx, q, args...).Scan(&next.hid)
		if errors.Is(err, pgx.ErrNoRows) {
			return driver.Outcome{}, h, errExists
		}
		if err != nil {
			return driver.Outcome{}, h, &commitFailed{err}
		}
		return out, next, nil
	}
	var b pgx.Batch
	if n > 0 {
		b.Queue(s.q.updateHistory, h.hid, next.count, closed, next.callerIDs, next.next, at, cost.Text, cost.Flat, c.defaultTTL)
		if s.ix.on {
			b.Queue(s.q.insertMessages, h.hid, seqs, kinds, ids, bodies, ats, costTexts, costFlats, roles, texts, reasonings, textTSVs, reasoningTSVs)
		} else {
			b.Queue(s.q.insertMessages, h.hid, seqs, kinds, ids, bodies, ats, costTexts, costFlats)
		}
	}
	if key != nil {
		b.Queue(s.q.recordKey, h.hid, key.Key, key.Fingerprint, n, key.TTL.Microseconds())
	}
	b.Queue("COMMIT")
	if err := conn.SendBatch(ctx, &b).Close(); err != nil {
		return driver.Outcome{}, h, &commitFailed{err}
	}
	return out, next, nil
}

// lookup is the driver.Lookup of a history in state h, asking conn when it
// must. Without caller ids, the history holds only generated ids, each the
// decimal string of its position, all below h.next: if none was removed
// (count = next) it holds exactly "0" to next-1 (driver.PositionalLookup);
// else only a supplied decimal id below next needs asking, and the common
// write, which supplies none, asks nothing. With caller ids, every id is
// asked. On the guarded path the question is asked before the write's
// statement, outside its transaction: if the guard then holds, the history
// was in state h all along (a state never comes back), so the answer is
// still right.
func (s *Store) lookup(conn *pgx.Conn, h histState) driver.Lookup {
	if h.callerIDs == 0 && h.count == h.next {
		return driver.PositionalLookup(h.next)
	}
	return func(ctx context.Context, ids []string) (map[string]bool, error) {
		var seqs []int64
		for _, id := range ids {
			if n, ok := driver.Position(id); ok && n < h.next {
				seqs = append(seqs, n)
			}
		}
		if h.callerIDs == 0 {
			if len(seqs) == 0 {
				return nil, nil
			}
			ids = nil
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
