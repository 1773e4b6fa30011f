package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/driver"
)

// A request is one unit of work for the commit loop: it runs inside a shared
// transaction, under a savepoint of its own, so that its failure undoes only
// its own changes.
type request struct {
	ctx  context.Context
	fn   func(tx *sql.Tx) error
	err  error
	done chan struct{}
}

// maxGroup bounds how many requests share one transaction, so that one
// commit's latency stays bounded under heavy load.
const maxGroup = 256

// submit hands r to the commit loop and waits for its transaction to commit
// (or fail). It waits even if ctx is canceled meanwhile: a request already
// being applied may still commit, and returning early would report a failure
// for a write that happened. A request whose ctx is done before the loop
// reaches it is not applied.
func (s *Store) submit(ctx context.Context, r *request) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r.done = make(chan struct{})
	select {
	case s.queue <- r:
	case <-s.stop:
		return chatstore.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	<-r.done
	return r.err
}

// commitLoop takes the requests waiting, applies them in one transaction,
// commits, and reports to each. While a transaction commits, new requests
// queue up and form the next group, so the number of commits follows the
// load instead of the number of writes.
func (s *Store) commitLoop() {
	defer close(s.stopped)
	group := make([]*request, 0, maxGroup)
	for {
		group = group[:0]
		select {
		case r := <-s.queue:
			group = append(group, r)
		case <-s.stop:
			s.failQueued()
			return
		}
	gather:
		for len(group) < maxGroup {
			select {
			case r := <-s.queue:
				group = append(group, r)
			default:
				break gather
			}
		}
		s.commitGroup(group)
		for _, r := range group {
			close(r.done)
		}
	}
}

// failQueued answers the requests still queued when the store closes.
func (s *Store) failQueued() {
	for {
		select {
		case r := <-s.queue:
			r.err = chatstore.ErrClosed
			close(r.done)
		default:
			return
		}
	}
}

func (s *Store) commitGroup(group []*request) {
	// Not any one caller's context: the transaction serves them all.
	ctx := context.Background()
	tx, err := s.writer.BeginTx(ctx, nil) // BEGIN IMMEDIATE (see the DSN)
	if err != nil {
		for _, r := range group {
			r.err = err
		}
		return
	}
	applied := 0
	for _, r := range group {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			continue
		}
		if _, err := tx.ExecContext(ctx, "SAVEPOINT w"); err != nil {
			r.err = err
			continue
		}
		if r.err = r.fn(tx); r.err != nil {
			_, _ = tx.ExecContext(ctx, "ROLLBACK TO w")
		} else {
			applied++
		}
		if _, err := tx.ExecContext(ctx, "RELEASE w"); err != nil && r.err == nil {
			r.err = err
		}
	}
	if applied == 0 {
		_ = tx.Rollback()
		return
	}
	if err := tx.Commit(); err != nil {
		// Nothing of the group was written.
		for _, r := range group {
			if r.err == nil {
				r.err = err
			}
		}
	}
}

// Write implements driver.Store.
func (s *Store) Write(ctx context.Context, historyID string, recs []driver.Record) (int, error) {
	var n int
	err := s.submit(ctx, &request{ctx: ctx, fn: func(tx *sql.Tx) error {
		var err error
		n, err = write(tx, historyID, recs)
		return err
	}})
	if err != nil {
		return 0, s.wrap("write", historyID, err)
	}
	return n, nil
}

// write appends recs to a history inside tx.
func write(tx *sql.Tx, historyID string, recs []driver.Record) (int, error) {
	ctx := context.Background() // the commit loop's; see commitGroup
	var (
		hid       int64
		st        driver.State
		callerIDs int64
	)
	err := tx.QueryRowContext(ctx, "SELECT hid, count, rounds, open, caller_ids FROM histories WHERE name = ?", historyID).
		Scan(&hid, &st.Count, &st.Rounds, &st.Open, &callerIDs)
	if errors.Is(err, sql.ErrNoRows) {
		err = tx.QueryRowContext(ctx, "INSERT INTO histories (name, count, rounds, open, caller_ids) VALUES (?, 0, 0, 0, 0) RETURNING hid", historyID).Scan(&hid)
	}
	if err != nil {
		return 0, err
	}
	held := driver.GeneratedOnly(st.Count)
	if callerIDs > 0 {
		held = func(ctx context.Context, ids []string) (map[string]bool, error) {
			return heldIDs(ctx, tx, hid, ids)
		}
	}
	plan, err := driver.MakePlan(ctx, st, recs, held)
	if err != nil {
		return 0, err
	}
	if len(plan.Messages) == 0 {
		return 0, nil
	}
	if plan.CloseOpen >= 0 {
		if _, err := tx.ExecContext(ctx, "UPDATE messages SET round = ? WHERE hid = ? AND round = ?", plan.CloseOpen, hid, driver.Pending); err != nil {
			return 0, err
		}
	}
	if err := insertMessages(ctx, tx, hid, recs, plan.Messages); err != nil {
		return 0, err
	}
	newCallerIDs := 0
	for _, p := range plan.Messages {
		if recs[p.Index].HasID {
			newCallerIDs++
		}
	}
	_, err = tx.ExecContext(ctx, "UPDATE histories SET count = ?, rounds = ?, open = ?, caller_ids = caller_ids + ?, updated_at = ? WHERE hid = ?",
		plan.State.Count, plan.State.Rounds, plan.State.Open, newCallerIDs, time.Now().UnixMilli(), hid)
	if err != nil {
		return 0, err
	}
	return len(plan.Messages), nil
}

// insertBatch rows go into one multi-row INSERT: one statement per batch
// rather than per message. 5 parameters a row stays well under SQLite's
// limit on parameters.
const insertBatch = 100

func insertMessages(ctx context.Context, tx *sql.Tx, hid int64, recs []driver.Record, msgs []driver.Planned) error {
	for len(msgs) > 0 {
		n := min(len(msgs), insertBatch)
		var q strings.Builder
		q.WriteString("INSERT INTO messages (hid, seq, round, message_id, body) VALUES ")
		args := make([]any, 0, 5*n)
		for i, p := range msgs[:n] {
			if i > 0 {
				q.WriteByte(',')
			}
			q.WriteString("(?,?,?,?,?)")
			// The body goes in as TEXT, so SQL users can query it with
			// json_extract(body, '$.role').
			args = append(args, hid, p.Pos, p.Round, p.ID, string(recs[p.Index].JSON))
		}
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return err
		}
		msgs = msgs[n:]
	}
	return nil
}

// heldIDs returns which of ids the history holds, asking in chunks.
func heldIDs(ctx context.Context, tx *sql.Tx, hid int64, ids []string) (map[string]bool, error) {
	found := map[string]bool{}
	const chunk = 500
	for len(ids) > 0 {
		n := min(len(ids), chunk)
		args := make([]any, 0, n+1)
		args = append(args, hid)
		for _, id := range ids[:n] {
			args = append(args, id)
		}
		q := fmt.Sprintf("SELECT message_id FROM messages WHERE hid = ? AND message_id IN (?%s)", strings.Repeat(",?", n-1))
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, err
			}
			found[id] = true
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
		ids = ids[n:]
	}
	return found, nil
}
