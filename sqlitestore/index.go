package sqlitestore

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/driver"
)

// Keeping the search index up to date after writes (see the top of
// search.go): writes mark their history unindexed; catchUp indexes what is
// marked, in transactions of the commit loop of their own; Search catches
// up first, and indexLoop in the background.

// The statements of the unindexed table, on the writer connection but the
// last (the reader pool).
const (
	// markUnindexedSQL records that history ?1 has messages from ?2 on
	// that the index has yet to get. A row already there stays: its
	// from_seq is lower, as positions only grow.
	markUnindexedSQL = `INSERT INTO unindexed (hid, from_seq) VALUES (?1, ?2) ON CONFLICT (hid) DO NOTHING`
	// unindexedSQL lists the histories marked, after hid ?1 up to hid ?2;
	// lastUnindexedSQL is the last marked (0 for none).
	unindexedSQL     = `SELECT hid, from_seq FROM unindexed WHERE hid > ?1 AND hid <= ?2 ORDER BY hid LIMIT ?3`
	lastUnindexedSQL = `SELECT coalesce(max(hid), 0) FROM unindexed`
	// toIndexSQL reads the messages of history ?1 from position ?2 on,
	// below position ?4; historyEndSQL is the position after the last
	// message of history ?1.
	toIndexSQL    = `SELECT hid, seq, body FROM messages WHERE hid = ?1 AND seq >= ?2 AND seq < ?4 ORDER BY seq LIMIT ?3`
	historyEndSQL = `SELECT coalesce(max(seq), -1) + 1 FROM messages WHERE hid = ?1`
	// indexedToSQL records that history ?1 is indexed up to position ?2,
	// unmarkSQL that it is indexed, and unmarkIfIndexedSQL that it is
	// when it holds nothing from position ?2 on.
	indexedToSQL       = `UPDATE unindexed SET from_seq = ?2 WHERE hid = ?1`
	unmarkSQL          = `DELETE FROM unindexed WHERE hid = ?1`
	unmarkIfIndexedSQL = `DELETE FROM unindexed WHERE hid = ?1 AND NOT EXISTS (SELECT 1 FROM messages WHERE hid = ?1 AND seq >= ?2)`
	// isMarkedSQL tells whether history ?1 is marked.
	isMarkedSQL = `SELECT EXISTS (SELECT 1 FROM unindexed WHERE hid = ?1)`
	// anyUnindexedSQL tells whether any history is marked.
	anyUnindexedSQL = `SELECT EXISTS (SELECT 1 FROM unindexed)`
)

// The defaults of the background indexing (Options has them for tests).
const (
	// indexBatch bounds the messages one catchUp indexes, and so how
	// long its transaction holds the writer: about 10 ms
	// (docs/BENCHMARKS.md). Larger batches make fewer, larger segments
	// of the index, and less merging.
	indexBatch = 1000
	// indexAfter is how many messages this process writes before the
	// background loop indexes them, and indexEvery how often it indexes
	// what is left: a search then seldom finds more than indexAfter
	// messages to index first.
	indexAfter = 1000
	indexEvery = time.Second
)

// indexBytes bounds the bodies one catchUp reads (after the one that
// crosses it), as indexBatch bounds their number: a batch is held in
// memory, decoded, while it is indexed, and messages may be megabytes each.
const indexBytes = 4 << 20

// indexInWrite is the size of a write from which it indexes its messages
// in its own transaction, from the records' documents: a segment of the
// index for that many messages costs each of them little, and the batch
// need not be read back and decoded later. Smaller writes are marked.
const indexInWrite = 32

// index gives the search index the planned messages of a write to history
// hid, in the write's transaction: at once for a write of indexInWrite
// messages or more to a history that is not marked (a marked one would
// have them indexed a second time by catchUp, which reads from its mark
// on), marked otherwise.
func (t *txn) index(hid int64, recs []driver.Record, msgs []driver.Planned) error {
	if len(msgs) >= indexInWrite {
		var marked bool
		if err := t.stmt(t.s.stmts.isMarked).QueryRowContext(t.ctx, hid).Scan(&marked); err != nil {
			return err
		}
		if !marked {
			docs := make([]docRow, 0, len(msgs))
			for _, p := range msgs {
				var err error
				if docs, err = appendDoc(docs, hid, p.Pos, recs[p.Index].Doc); err != nil {
					return err
				}
			}
			return insertDocs(t.ctx, t.stmt(t.s.stmts.insertDocs), docs)
		}
	}
	return t.markUnindexed(hid, msgs[0].Pos, len(msgs))
}

// markUnindexed records, in the transaction of a write, that history hid
// holds n messages from position from on that the index has yet to get,
// and counts them for the background loop.
func (t *txn) markUnindexed(hid, from int64, n int) error {
	_, err := t.stmt(t.s.stmts.markUnindexed).ExecContext(t.ctx, hid, from)
	t.marked += n
	return err
}

// marked is a row of unindexed.
type marked struct{ hid, from int64 }

// indexCursor is where indexAll has got to. It goes on after history row
// after, up to row last, the last marked when it began (histories marked
// after it were written to since it began); it is in the middle of history
// hid (0: of none), which it indexes below position to only: the end the
// history had when it first took it. What is written meanwhile, to a
// history it has passed or is in, or to new ones, is left for later, so
// that writes, however fast, cannot keep it going.
type indexCursor struct {
	begun   bool // last is set
	after   int64
	last    int64
	hid, to int64
}

// catchUp indexes the messages of the histories marked unindexed after the
// cursor, up to max messages, and unmarks what it indexed (or moves the
// mark on past it). It returns the cursor to go on from (a history it
// could not finish is taken again), and whether any marked history is
// left before the cursor's end.
//
// It reads first, changes the marks next, and adds every row to the index
// last, in one statement: once a transaction has written to an FTS5 table,
// each statement that writes after it makes FTS5 write what it holds as a
// new segment, and a segment per history was most of the cost of indexing
// (pprof: FTS5's flush at savepoints and its merging, 60%).
func (t *txn) catchUp(c indexCursor, max int) (next indexCursor, more bool, err error) {
	ctx, st := t.ctx, t.s.stmts
	if !c.begun {
		if err := t.stmt(st.lastUnindexed).QueryRowContext(ctx).Scan(&c.last); err != nil {
			return c, true, err
		}
		c.begun = true
	}
	var (
		batch []stored
		size  int      // of the bodies in batch
		done  []int64  // histories indexed to their end
		upTo  []marked // histories indexed up to where the cursor bounds them
		part  *marked  // a history indexed in part, and where to go on
	)
	next = c
gather:
	for {
		rows, err := t.stmt(st.unindexed).QueryContext(ctx, next.after, c.last, 64)
		if err != nil {
			return c, true, err
		}
		var list []marked
		for rows.Next() {
			var m marked
			if err := rows.Scan(&m.hid, &m.from); err != nil {
				rows.Close()
				return c, true, err
			}
			list = append(list, m)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return c, true, err
		}
		for _, m := range list {
			budget := max - len(batch)
			if budget == 0 || size >= indexBytes {
				more = true
				break gather
			}
			bounded := m.hid == next.hid
			to := int64(math.MaxInt64)
			if bounded {
				to = next.to
			}
			msgs, n, full, err := t.toIndex(m, to, budget, indexBytes-size)
			if err != nil {
				return c, true, err
			}
			batch, size = append(batch, msgs...), size+n
			if full {
				// It may hold more: go on after its last, and take
				// it again, up to the end it has now.
				if !bounded {
					if err := t.stmt(st.historyEnd).QueryRowContext(ctx, m.hid).Scan(&to); err != nil {
						return c, true, err
					}
					next.hid, next.to, bounded = m.hid, to, true
				}
				if from := msgs[len(msgs)-1].seq + 1; from < to {
					part = &marked{m.hid, from}
					next.after, more = m.hid-1, true
					break gather
				}
			}
			if bounded {
				upTo = append(upTo, marked{m.hid, to})
			} else {
				done = append(done, m.hid)
			}
			next.after = m.hid
		}
		if len(list) < 64 {
			break
		}
	}
	for _, hid := range done {
		if _, err := t.stmt(st.unmark).ExecContext(ctx, hid); err != nil {
			return c, true, err
		}
	}
	for _, m := range upTo {
		if _, err := t.stmt(st.indexedTo).ExecContext(ctx, m.hid, m.from); err != nil {
			return c, true, err
		}
		if _, err := t.stmt(st.unmarkIfIndexed).ExecContext(ctx, m.hid, m.from); err != nil {
			return c, true, err
		}
	}
	if part != nil {
		if _, err := t.stmt(st.indexedTo).ExecContext(ctx, part.hid, part.from); err != nil {
			return c, true, err
		}
	}
	if _, err := indexStored(ctx, t.stmt(st.insertDocs), batch); err != nil {
		return c, true, err
	}
	return next, more, nil
}

// toIndex reads up to max messages of a marked history, from where it is
// marked, below position to, and stops after the one that brings their
// bodies to maxBytes; n is their bodies' size, and full is true when it
// stopped at a limit, not at the history's end (or at to).
func (t *txn) toIndex(m marked, to int64, max, maxBytes int) (batch []stored, n int, full bool, err error) {
	rows, err := t.stmt(t.s.stmts.toIndex).QueryContext(t.ctx, m.hid, m.from, max, to)
	if err != nil {
		return nil, 0, false, err
	}
	defer rows.Close()
	for rows.Next() {
		var r stored
		if err := rows.Scan(&r.hid, &r.seq, &r.body); err != nil {
			return nil, 0, false, err
		}
		batch, n = append(batch, r), n+len(r.body)
		if n >= maxBytes {
			return batch, n, true, rows.Close()
		}
	}
	return batch, n, len(batch) == max, rows.Err()
}

// indexAll indexes every message marked unindexed when it begins,
// indexBatch at a time, each batch a transaction of the commit loop (so
// writes go on between them). It visits each marked history once, and
// bounds it by the end it had then (indexCursor): what is written
// meanwhile is left for later, so a stream of writes cannot keep it going.
func (s *Store) indexAll(ctx context.Context) error {
	var c indexCursor
	for {
		var (
			from = c // a failed group runs fn again: it must start where it did
			next indexCursor
			more bool
		)
		err := s.submit(ctx, &request{ctx: ctx, fn: func(t *txn) error {
			var err error
			next, more, err = t.catchUp(from, s.indexBatch)
			return err
		}})
		if err != nil || !more {
			return err
		}
		c = next
	}
}

// indexPending brings the index up to date before a search, if any
// history is marked unindexed: a statement on a reader when none is.
func (s *Store) indexPending(ctx context.Context) error {
	var any bool
	if err := s.stmts.anyUnindexed.QueryRowContext(ctx).Scan(&any); err != nil || !any {
		return err
	}
	return s.indexAll(ctx)
}

// wrote counts n messages a committed transaction of this process left
// marked for the index (small writes, large ones to a marked history, a
// fork's copy) for the background loop, and wakes it once they are
// indexAfter.
func (s *Store) wrote(n int) {
	if !s.indexing || n == 0 {
		return
	}
	if s.toIndex.Add(int64(n)) >= s.indexAfter {
		select {
		case s.indexWake <- struct{}{}:
		default: // awake already
		}
	}
}

// indexLoop indexes in the background what this process wrote, once it is
// indexAfter messages or every indexEvery: so that searches find the index
// nearly up to date, and the index is built from large batches. What other
// processes write is theirs to index (or the next search's). A failure is
// logged, and a search in the meantime indexes first, and reports it.
//
// A round that fails is tried again without waiting for more writes, and
// however many come: indexEvery after it, then twice that, four times and
// so on up to 64 times (about a minute at one second), so that a lasting
// fault (a full disk) is retried, and logged, about once a minute.
func (s *Store) indexLoop() {
	defer close(s.indexStopped)
	tick := time.NewTicker(s.indexEvery)
	defer tick.Stop()
	var (
		failures int
		retryAt  time.Time // after a failure, no round before it
	)
	for {
		select {
		case <-s.stop:
			return
		case <-s.indexWake:
		case <-tick.C:
		}
		if failures > 0 && time.Now().Before(retryAt) {
			continue
		}
		if s.toIndex.Swap(0) == 0 && failures == 0 {
			continue
		}
		start := time.Now()
		err := s.indexAll(s.life)
		switch {
		case err == nil || errors.Is(err, chatstore.ErrClosed):
			failures = 0
		default:
			failures++
			retryAt = time.Now().Add(s.indexEvery << min(failures-1, 6))
			s.log.Warn("sqlitestore: indexing messages for search", "err", err, "took", time.Since(start), "failures", failures)
		}
		if s.afterIndex != nil {
			s.afterIndex(err)
		}
	}
}
