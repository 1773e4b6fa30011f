package pgstore

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/driver"
)

// Costs for token budgets (driver.Coster): each message row holds its
// cost, measured by the root store when it writes the message and stored
// by the same INSERT, and each history's row their sum, kept by the
// statement that adds or removes messages (migration 5 → 6). What is
// measured here, when a store opens, is what no write of this store's
// counter measured: the rows of an older version (cost NULL), and every
// row when the schema's costs are of another counter.

// measureBatch is how many rows measureExisting measures in one
// transaction.
const measureBatch = 500

// measureExisting makes every cost the schema holds one of meter's
// counter, and records its name in chatstore_schema.counter, last. When
// the recorded name is another (or none: a schema that kept no costs
// before, or whose measuring was interrupted), it measures again every
// message and compaction record; in every case it then measures the rows
// that nobody measured (cost NULL: written by an older chatstore still
// running during an upgrade), found along messages_unmeasured.
//
// It reads rows in (hid, seq) order a batch at a time, decodes and
// measures each body (meter.Measure), and writes the batch's costs, and
// its histories' sums, in a transaction that locks those histories' rows
// first, so that writers and editors of any process take turns with it and
// every sum stays the sum of its rows. A history's sum is taken again from
// all its rows the first time the measuring reaches it, so it is exact
// whatever it was before. The recorded name is cleared before the first
// batch and set after the last, so a measuring interrupted is done again,
// from the start, by the next opening, whatever its counter.
//
// All of it happens under a session-level advisory lock on the schema's
// name, the one migrate takes: servers opening together wait for the one
// that measures, then find nothing to do. A schema with the store's name
// recorded and no row left unmeasured, the common case, is found so
// without the lock, in one statement.
func (s *Store) measureExisting(ctx context.Context, schema string, meter *chatstore.Meter) error {
	name := meter.Name()
	var done bool
	if err := s.pool.QueryRow(ctx, "SELECT coalesce(counter = $1, false) AND NOT EXISTS (SELECT FROM "+s.schema+".messages WHERE cost_text IS NULL) FROM "+s.schema+".chatstore_schema", name).Scan(&done); err != nil || done {
		return err
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	key := "chatstore schema " + schema
	defer func() {
		// A connection that may still hold the lock (the unlock failed,
		// or a batch left it in a transaction) is closed, which ends
		// the lock, rather than returned to the pool.
		if _, err := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(hashtextextended($1, 0))", key); err != nil {
			conn.Conn().Close(context.WithoutCancel(ctx))
		}
		conn.Release()
	}()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(hashtextextended($1, 0))", key); err != nil {
		return err
	}
	var recorded *string
	if err := conn.QueryRow(ctx, "SELECT counter FROM "+s.schema+".chatstore_schema").Scan(&recorded); err != nil {
		return err
	}
	log := s.log.With(slog.String("schema", schema), slog.String("tokenizer", name))
	again := recorded == nil || *recorded != name
	if again {
		if recorded != nil {
			// No name until every cost is of the new counter: were
			// this interrupted, an open with the old one must measure
			// again too.
			log = log.With(slog.String("was", *recorded))
			if _, err := conn.Exec(ctx, "UPDATE "+s.schema+".chatstore_schema SET counter = NULL"); err != nil {
				return err
			}
		}
		if err := s.measureRows(ctx, conn.Conn(), log, meter, true); err != nil {
			return err
		}
		if err := s.measureCompactions(ctx, conn.Conn(), meter); err != nil {
			return err
		}
	}
	if err := s.measureRows(ctx, conn.Conn(), log, meter, false); err != nil {
		return err
	}
	if again {
		_, err = conn.Exec(ctx, "UPDATE "+s.schema+".chatstore_schema SET counter = $1", name)
	}
	return err
}

// measureRows measures every message row (all) or those nobody measured,
// a batch at a time, with progress in the log.
func (s *Store) measureRows(ctx context.Context, conn *pgx.Conn, log *slog.Logger, meter *chatstore.Meter, all bool) error {
	which := " WHERE cost_text IS NULL"
	if all {
		which = ""
	}
	var left int64
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+s.schema+".messages"+which).Scan(&left); err != nil {
		return err
	}
	if left == 0 {
		return nil
	}
	return overRows(ctx, log, left, measureBatch, "pgstore: measuring messages for token budgets", "pgstore: measured messages for token budgets",
		"pgstore: messages that do not decode cost nothing", func(hid, seq *int64) (int, int, error) {
			return s.measureSome(ctx, conn, meter, all, hid, seq)
		})
}

// measureSome measures the next batch of rows after (hid, seq) (all of
// them, or those nobody measured), and moves (hid, seq) to its last row;
// it returns how many rows it read (fewer than measureBatch at the end),
// and how many of them did not decode (they cost nothing, and are not
// read again). A batch that meets a deadlock (its histories' locks, taken
// in hid order, against DeletePrefix's or DeleteAll's, taken in another)
// is done again.
func (s *Store) measureSome(ctx context.Context, conn *pgx.Conn, meter *chatstore.Meter, all bool, hid, seq *int64) (read, undecoded int, err error) {
	which := ""
	if !all {
		which = "cost_text IS NULL AND "
	}
	for attempt := 1; ; attempt++ {
		rows, err := conn.Query(ctx, "SELECT hid, seq, body, cost_text, cost_flat FROM "+s.schema+".messages WHERE "+which+"(hid, seq) > ($1, $2) ORDER BY hid, seq LIMIT $3",
			*hid, *seq, measureBatch)
		if err != nil {
			return 0, 0, err
		}
		var (
			hids, seqs, texts, flats []int64
			moreTexts, moreFlats     []int64 // the new costs less the old
			first                    []int64 // the histories reached for the first time
			rowHid, rowSeq           int64
			oldText, oldFlat         *int64
			body                     []byte
		)
		undecoded = 0
		_, err = pgx.ForEachRow(rows, []any{&rowHid, &rowSeq, &body, &oldText, &oldFlat}, func() error {
			c, err := meter.Measure(body)
			if err != nil {
				undecoded++
			}
			// Only measuring changes a row's cost, and it is this
			// process's alone (the advisory lock): the old cost read
			// here is the one the update replaces.
			d := c.Sub(driver.Cost{Text: deref(oldText), Flat: deref(oldFlat)})
			moreTexts, moreFlats = append(moreTexts, d.Text), append(moreFlats, d.Flat)
			if rowHid > *hid && (len(first) == 0 || first[len(first)-1] != rowHid) {
				first = append(first, rowHid)
			}
			hids, seqs = append(hids, rowHid), append(seqs, rowSeq)
			texts, flats = append(texts, c.Text), append(flats, c.Flat)
			return nil
		})
		if err != nil || len(hids) == 0 {
			return 0, 0, err
		}
		var b pgx.Batch
		b.Queue("BEGIN")
		b.Queue(s.q.lockMeasured, distinct(hids))
		b.Queue(s.q.measured, hids, seqs, texts, flats, moreTexts, moreFlats, first)
		b.Queue("COMMIT")
		err = conn.SendBatch(ctx, &b).Close()
		if err != nil && !conn.PgConn().IsClosed() && conn.PgConn().TxStatus() != 'I' {
			_, _ = conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
		}
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "40P01" && attempt < 5 {
			continue
		}
		if err != nil {
			return 0, 0, err
		}
		*hid, *seq = hids[len(hids)-1], seqs[len(seqs)-1]
		return len(hids), undecoded, nil
	}
}

// deref is *p, 0 for nil.
func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

// distinct returns the distinct values of a sorted slice.
func distinct(sorted []int64) []int64 {
	var out []int64
	for _, v := range sorted {
		if len(out) == 0 || out[len(out)-1] != v {
			out = append(out, v)
		}
	}
	return out
}

// measureCompactions measures every compaction record again, a batch at
// a time, each an UPDATE of its own: a record belongs to no sum, and is
// never changed otherwise, so no history is locked. A record that does
// not decode costs nothing.
func (s *Store) measureCompactions(ctx context.Context, conn *pgx.Conn, meter *chatstore.Meter) error {
	hid, n := int64(-1), int64(-1)
	for {
		rows, err := conn.Query(ctx, "SELECT hid, n, body FROM "+s.schema+".compactions WHERE (hid, n) > ($1, $2) ORDER BY hid, n LIMIT $3", hid, n, measureBatch)
		if err != nil {
			return err
		}
		var (
			hids, ns, texts, flats []int64
			rowHid, rowN           int64
			body                   []byte
		)
		_, err = pgx.ForEachRow(rows, []any{&rowHid, &rowN, &body}, func() error {
			c, _ := meter.Measure(body)
			hids, ns = append(hids, rowHid), append(ns, rowN)
			texts, flats = append(texts, c.Text), append(flats, c.Flat)
			return nil
		})
		if err != nil || len(hids) == 0 {
			return err
		}
		if _, err := conn.Exec(ctx, s.q.remeasureCompactions, hids, ns, texts, flats); err != nil {
			return err
		}
		if len(hids) < measureBatch {
			return nil
		}
		hid, n = hids[len(hids)-1], ns[len(ns)-1]
	}
}

// overRows runs a task over the rows of a table at open, left of them:
// some does the batch after the row (hid, seq), moves (hid, seq) to its
// last row, and says how many rows it read (fewer than batch at the end)
// and how many of them did not decode. The log says the task starts
// (doing), how far it is every 5 seconds, and that it is done (done), with
// a warning (undecoded) for the rows that did not decode.
func overRows(ctx context.Context, log *slog.Logger, left int64, batch int, doing, done, undecoded string, some func(hid, seq *int64) (n, bad int, err error)) error {
	log.LogAttrs(ctx, slog.LevelInfo, doing, slog.Int64("messages", left))
	var (
		start     = time.Now()
		lastLog   = start
		rows, bad int
		hid, seq  int64 = -1, -1 // the last row of the batch before
	)
	for {
		n, b, err := some(&hid, &seq)
		if err != nil {
			return err
		}
		rows, bad = rows+n, bad+b
		if n < batch {
			break
		}
		if time.Since(lastLog) >= 5*time.Second {
			lastLog = time.Now()
			log.LogAttrs(ctx, slog.LevelInfo, doing, slog.Int("done", rows), slog.Int64("of", left),
				slog.Duration("elapsed", time.Since(start).Round(time.Millisecond)))
		}
	}
	if bad > 0 {
		log.LogAttrs(ctx, slog.LevelWarn, undecoded, slog.Int("messages", bad))
	}
	log.LogAttrs(ctx, slog.LevelInfo, done, slog.Int("messages", rows),
		slog.Duration("elapsed", time.Since(start).Round(time.Millisecond)))
	return nil
}
