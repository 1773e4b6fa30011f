package sqlitestore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/driver"
)

// driver.Coster and driver.Compactor, with the columns and tables of schema
// version 7: each message row's cost (tok_text, tok_flat), written by the
// INSERT that stores it; each history row's sum of them, kept by the update
// of its bookkeeping (txn.save) as its count is; the table compactions; and
// the name of the counter, the row 'counter' of settings, which Open makes
// the one it is opened with (syncCosts).

var (
	_ driver.Coster           = (*Store)(nil)
	_ driver.Compactor        = (*Store)(nil)
	_ driver.CompactionTailer = (*Store)(nil)
)

// Counter implements driver.Coster: the tokenizer the store was opened
// with (Options.Tokenizer), whose costs Open made the file's.
func (s *Store) Counter() string { return s.counter }

// syncCosts makes the file's costs those of o's counter, inside the
// migration's transaction (conn has begun it). When the counter the file
// records is another, or none (a file migrated from before version 7, whose
// messages all have cost 0), it measures every message and compaction
// record again with chatstore.NewMeter(o.Tokenizer).Measure, adds up each
// history's sum, and records the counter last. It all commits with the
// migration or not at all: a process killed part way leaves the file as it
// was, and the next Open does it again; a process that opens the file
// meanwhile waits for the write lock (up to its busy timeout), then finds
// its counter recorded, or measures again for its own. A new file, with
// nothing to measure, only records the name.
func syncCosts(ctx context.Context, conn *sql.Conn, o Options) error {
	m, err := chatstore.NewMeter(o.Tokenizer)
	if err != nil {
		return err
	}
	var recorded string
	err = conn.QueryRowContext(ctx, "SELECT value FROM settings WHERE key = 'counter'").Scan(&recorded)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return err
	case recorded == m.Name():
		return nil
	}
	if err := measureAll(ctx, conn, m, recorded, cmp.Or(o.Logger, slog.Default())); err != nil {
		return err
	}
	_, err = conn.ExecContext(ctx, "INSERT INTO settings (key, value) VALUES ('counter', ?1) ON CONFLICT (key) DO UPDATE SET value = ?1", m.Name())
	return err
}

// measureAll measures every message and compaction record with m, a batch
// at a time (eachStored), sets the cost of each row by its primary key,
// then each history's sum, logging its progress as fillIndex does. A body
// that does not decode costs nothing, and is counted in a warning: it
// cannot be read back either.
func measureAll(ctx context.Context, conn *sql.Conn, m *chatstore.Meter, before string, log *slog.Logger) error {
	total, err := storedMessages(ctx, conn)
	if err != nil {
		return err
	}
	const what = "sqlitestore: measuring messages for token budgets"
	start := time.Now()
	if total > 0 {
		log.Info(what, "tokenizer", m.Name(), "before", cmp.Or(before, "none"), "messages", total)
	}
	progress := logProgress(log, what, total)
	var done, skipped int64
	costs := make([]driver.Cost, reindexBatch)
	for _, table := range []string{"messages", "compactions"} {
		update, err := conn.PrepareContext(ctx, "UPDATE "+table+" SET tok_text = ?3, tok_flat = ?4 WHERE hid = ?1 AND seq = ?2")
		if err != nil {
			return err
		}
		err = eachStored(ctx, conn, table, 0, func(batch []stored) error {
			skipped += measureBatch(m, batch, costs)
			for i, r := range batch {
				if _, err := update.ExecContext(ctx, r.hid, r.seq, costs[i].Text, costs[i].Flat); err != nil {
					return err
				}
			}
			if table == "messages" {
				done += int64(len(batch))
				progress(done)
			}
			return nil
		})
		update.Close()
		if err != nil {
			return err
		}
	}
	if _, err := conn.ExecContext(ctx, "UPDATE histories SET (tok_text, tok_flat) = "+
		"(SELECT coalesce(sum(m.tok_text), 0), coalesce(sum(m.tok_flat), 0) FROM messages m WHERE m.hid = histories.hid)"); err != nil {
		return err
	}
	if skipped > 0 {
		log.Warn("sqlitestore: messages that do not decode cost nothing toward token budgets", "messages", skipped)
	}
	if total > 0 {
		log.Info("sqlitestore: measured messages for token budgets", "tokenizer", m.Name(), "messages", done, "took", time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// measureBatch sets costs[i] to what m measures of batch[i]'s body (zero
// for one that does not decode, which it counts), on up to GOMAXPROCS
// goroutines: tokenizing is most of what measuring with tiktoken takes,
// and a Meter is safe for concurrent use.
func measureBatch(m *chatstore.Meter, batch []stored, costs []driver.Cost) (skipped int64) {
	var (
		wg  sync.WaitGroup
		bad atomic.Int64
	)
	n := min(runtime.GOMAXPROCS(0), len(batch))
	for w := range n {
		wg.Go(func() {
			for i := w; i < len(batch); i += n {
				c, err := m.Measure(batch[i].body)
				if err != nil {
					bad.Add(1)
				}
				costs[i] = c
			}
		})
	}
	wg.Wait()
	return bad.Load()
}

// Compact implements driver.Compactor: the check, the new record, dropping
// the oldest ones beyond max and the history's time, in one transaction of
// the commit loop.
func (s *Store) Compact(ctx context.Context, historyID string, c driver.Compaction, max int) error {
	var found bool
	err := s.submit(ctx, &request{ctx: ctx, fn: func(t *txn) error {
		found = false
		r, ok, err := t.live(historyID)
		if err != nil || !ok {
			return err
		}
		seq, ok, err := t.find(r.hid, c.Through)
		if err != nil || !ok || seq != c.ThroughPos {
			return err
		}
		if _, err := t.stmt(s.stmts.compact).ExecContext(t.ctx, r.hid, c.Through, c.ThroughPos, string(c.JSON), c.Cost.Text, c.Cost.Flat, c.CreatedAt); err != nil {
			return err
		}
		if _, err := t.stmt(s.stmts.compactTrim).ExecContext(t.ctx, r.hid, max); err != nil {
			return err
		}
		t.touch(historyID, &r, c.CreatedAt)
		t.pending[historyID] = r
		found = true
		return nil
	}})
	switch {
	case err != nil:
		return s.wrap("compact", historyID, err)
	case !found:
		return driver.ErrNotFound
	}
	return nil
}

// Compactions implements driver.Compactor: one statement.
func (s *Store) Compactions(ctx context.Context, historyID string) ([]driver.Compaction, error) {
	rows, err := s.stmts.compactions.QueryContext(ctx, historyID, s.policy.Now())
	if err != nil {
		return nil, s.wrap("compactions", historyID, err)
	}
	defer rows.Close()
	var out []driver.Compaction
	for rows.Next() {
		var c driver.Compaction
		if err := rows.Scan(&c.Through, &c.ThroughPos, &c.JSON, &c.Cost.Text, &c.Cost.Flat, &c.CreatedAt); err != nil {
			return nil, s.wrap("compactions", historyID, err)
		}
		out = append(out, c)
	}
	return out, s.wrap("compactions", historyID, rows.Err())
}

// TailUncompacted implements driver.CompactionTailer: Tail's walk, in the
// same statement as the check for compaction records (tailUncompactedSQL,
// or tailBareSQL for a span.Bare read, which reads no costs or times).
func (s *Store) TailUncompacted(ctx context.Context, historyID string, span driver.Span, maxBytes int) ([]driver.Message, bool, error) {
	if span.Bare {
		return s.tail(ctx, s.stmts.tailBare, historyID, span.Rounds, maxBytes, true)
	}
	return s.tail(ctx, s.stmts.tailUncompacted, historyID, span.Rounds, maxBytes, false)
}
