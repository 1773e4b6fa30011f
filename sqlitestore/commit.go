package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/driver"
)

// A request is one unit of work for the commit loop: it runs inside a
// transaction shared with the other requests waiting at the same time.
type request struct {
	ctx  context.Context
	fn   func(t *txn) error
	err  error
	done chan struct{}
}

// histRow is a history's bookkeeping row.
type histRow struct {
	hid       int64
	count     int64 // messages held
	next      int64 // next_seq: the position counter, which never goes back
	callerIDs int64 // messages stored with a caller's id
	created   int64
	updated   int64
	cost      driver.Cost // the sum of the costs of the messages held
	own       driver.Expiry
	expiresAt int64 // driver.ExpiresAt as of the last change; 0 for never
}

// positional reports whether the history's ids are exactly "0" to
// count-1, so that driver.PositionalLookup answers for it: it never held a
// caller's id nor lost a message.
func (r histRow) positional() bool { return r.callerIDs == 0 && r.count == r.next }

// touch records a change at now to history name: every change moves
// updated_at, and with it the time the history expires, with the default
// TTL the policy gives now.
func (t *txn) touch(name string, r *histRow, now int64) {
	r.updated = max(r.updated, now)
	r.expiresAt = t.s.policy.ExpiresAt(name, r.own, r.updated)
}

// maxCached bounds the commit loop's cache of history rows.
const maxCached = 10_000

// txn is the transaction a group of requests runs in. The commit loop keeps
// the rows of the histories it wrote (s.cache), so that a write need not
// read its history's row first; PRAGMA data_version tells it when another
// process has committed since, and the cache is dropped then. Changes made
// in a transaction reach the cache only when it commits.
type txn struct {
	s         *Store
	ctx       context.Context
	tx        *sql.Tx
	bound     map[*sql.Stmt]*sql.Stmt
	pending   map[string]histRow
	forgot    map[string]bool
	forgotAll bool
	// marked counts the messages the transaction left for the index to
	// get (markUnindexed), told to the background loop once it has
	// committed (Store.wrote).
	marked int
}

// stmt returns a prepared statement bound to the transaction, binding each
// once per transaction.
func (t *txn) stmt(st *sql.Stmt) *sql.Stmt {
	b, ok := t.bound[st]
	if !ok {
		b = t.tx.StmtContext(t.ctx, st)
		t.bound[st] = b
	}
	return b
}

// row returns a history's row, from this transaction, the cache, or the
// database; ok is false for a history that does not exist. The row may
// have expired: changes look histories up with live or claim.
func (t *txn) row(name string) (histRow, bool, error) {
	if r, ok := t.pending[name]; ok {
		return r, true, nil
	}
	if !t.forgotAll && !t.forgot[name] {
		if r, ok := t.s.cache[name]; ok {
			return r, true, nil
		}
	}
	var r histRow
	err := t.stmt(t.s.stmts.history).QueryRowContext(t.ctx, name).Scan(&r.hid, &r.count, &r.next, &r.callerIDs, &r.created, &r.updated, &r.cost.Text, &r.cost.Flat,
		&r.own.TTL, &r.own.At, &r.expiresAt)
	if errors.Is(err, sql.ErrNoRows) {
		return r, false, nil
	}
	return r, err == nil, err
}

// create inserts a history's row, with r's bookkeeping, and sets r.hid.
func (t *txn) create(name string, r *histRow) error {
	return t.stmt(t.s.stmts.newHistory).QueryRowContext(t.ctx, name, r.count, r.next, r.callerIDs, r.created, r.updated, r.cost.Text, r.cost.Flat,
		r.own.TTL, r.own.At, r.expiresAt).Scan(&r.hid)
}

// save flushes the bookkeeping of the histories changed in this
// transaction to their rows: once per history and transaction, however
// many of its writes the transaction holds.
func (t *txn) save() error {
	for _, r := range t.pending {
		if _, err := t.stmt(t.s.stmts.saveHistory).ExecContext(t.ctx, r.hid, r.count, r.next, r.callerIDs, r.updated, r.cost.Text, r.cost.Flat,
			r.own.TTL, r.own.At, r.expiresAt); err != nil {
			return err
		}
	}
	return nil
}

// forget records that a history was deleted in this transaction.
func (t *txn) forget(name string) {
	delete(t.pending, name)
	t.forgot[name] = true
}

// forgetEverything records that every history was deleted in this
// transaction.
func (t *txn) forgetEverything() {
	clear(t.pending)
	t.forgotAll = true
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
	// Fast path: when no transaction is running and none is queued, run
	// this one on the caller's goroutine, sparing two goroutine switches.
	// Under load TryLock fails and the request joins a group.
	if len(s.queue) == 0 && s.txMu.TryLock() {
		select {
		case <-s.stop:
			s.txMu.Unlock()
			return chatstore.ErrClosed
		default:
		}
		s.commitGroup([]*request{r})
		s.txMu.Unlock()
		return r.err
	}
	r.done = make(chan struct{})
	select {
	case s.queue <- r:
	case <-s.stop:
		return chatstore.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-r.done:
	case <-s.stopped:
		// The loop has stopped. With stop closed, the select above may
		// still have queued r after the loop failed what was queued
		// (the background indexing can race Close so): r.done, if the
		// loop took r, was closed before stopped was.
		select {
		case <-r.done:
		default:
			return chatstore.ErrClosed // never applied
		}
	}
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
		s.txMu.Lock()
		s.commitGroup(group)
		s.txMu.Unlock()
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
	live := group[:0:0]
	for _, r := range group {
		if err := r.ctx.Err(); err != nil {
			r.err = err // not applied: its caller gave up before its turn
		} else {
			live = append(live, r)
		}
	}
	if len(live) == 0 {
		return
	}
	err := s.runTx(live)
	var ce *commitError
	if err == nil || len(live) == 1 || errors.As(err, &ce) {
		// A failed COMMIT may have committed: running the requests again
		// could apply them twice, so each gets the error, which says
		// that the outcome is unknown.
		for _, r := range live {
			r.err = err
		}
		return
	}
	// Something in the group failed and the transaction was rolled back.
	// Give each request a transaction of its own, so that one bad request
	// does not fail the others. This is rare: requests are validated before
	// they get here, so a failure is usually the disk or a lock, which then
	// fails them all again.
	for _, r := range live {
		r.err = s.runTx([]*request{r})
	}
}

// runTx applies requests in one transaction and commits it, or rolls it all
// back if any fails.
func (s *Store) runTx(requests []*request) error {
	ctx := s.life                         // not any one caller's: the transaction serves them all
	tx, err := s.writer.BeginTx(ctx, nil) // BEGIN IMMEDIATE (see the DSN)
	if err != nil {
		return err
	}
	t := &txn{s: s, ctx: ctx, tx: tx, bound: map[*sql.Stmt]*sql.Stmt{}, pending: map[string]histRow{}, forgot: map[string]bool{}}
	// With the write lock held, nobody else can commit until we do; if
	// someone did since our last transaction, our cached rows may be stale.
	var version int64
	if err := t.stmt(s.stmts.dataVersion).QueryRowContext(ctx).Scan(&version); err != nil {
		_ = tx.Rollback()
		return err
	}
	if version != s.dataVersion {
		// Another process may also have dropped or built the search
		// index, opening the file with the other setting, or measured
		// the messages again with another counter.
		if err := t.checkFile(); err != nil {
			_ = tx.Rollback()
			return err
		}
	}
	if version != s.dataVersion || len(s.cache) > maxCached {
		clear(s.cache)
		s.dataVersion = version
	}
	for _, r := range requests {
		if err := r.fn(t); err != nil {
			_ = tx.Rollback()
			return err
		}
	}
	if err := t.save(); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		// The outcome of a failed COMMIT is not always "nothing" (an I/O
		// error part way through a WAL write): do not trust the cache
		// either way.
		clear(s.cache)
		return &commitError{err}
	}
	if t.forgotAll {
		clear(s.cache)
	}
	for name := range t.forgot {
		delete(s.cache, name)
	}
	for name, r := range t.pending {
		s.cache[name] = r
	}
	s.wrote(t.marked)
	return nil
}

// commitError is a COMMIT that failed: whether it committed is not known.
type commitError struct{ err error }

func (e *commitError) Error() string { return "commit: " + e.err.Error() }
func (e *commitError) Unwrap() error { return e.err }

// Write implements driver.Store.
func (s *Store) Write(ctx context.Context, historyID string, recs []driver.Record) (int, error) {
	var n int
	err := s.submit(ctx, &request{ctx: ctx, fn: func(t *txn) error {
		var err error
		n, err = t.write(historyID, recs)
		return err
	}})
	if err != nil {
		return 0, s.wrapWrite(historyID, err)
	}
	return n, nil
}

// wrapWrite is wrap for a write, which says whether it may have been
// stored. submit returns only once the commit loop is done with a request
// (or before it started on it), so the only unknown outcome is a failed
// COMMIT.
func (s *Store) wrapWrite(historyID string, err error) error {
	var ce *commitError
	if errors.As(err, &ce) {
		return fmt.Errorf("sqlitestore: write %q: %w: %w: %w", historyID, chatstore.ErrOutcomeUnknown, chatstore.ErrUnavailable, err)
	}
	return s.wrap("write", historyID, err)
}

// WriteKeyed implements driver.KeyedWriter: the key is looked up and
// recorded in the transaction of the write.
func (s *Store) WriteKeyed(ctx context.Context, historyID string, key driver.Key, recs []driver.Record) (driver.Outcome, error) {
	var out driver.Outcome
	err := s.submit(ctx, &request{ctx: ctx, fn: func(t *txn) error {
		var err error
		out, err = t.writeKeyed(historyID, key, recs)
		return err
	}})
	if err != nil {
		return driver.Outcome{}, s.wrapWrite(historyID, err)
	}
	return out, nil
}

func (t *txn) writeKeyed(historyID string, key driver.Key, recs []driver.Record) (driver.Outcome, error) {
	ctx, s := t.ctx, t.s
	now := time.Now().UnixMilli()
	r, ok, err := t.claim(historyID)
	if err != nil {
		return driver.Outcome{}, err
	}
	if ok {
		if _, err := t.stmt(s.stmts.keyPurge).ExecContext(ctx, r.hid, now); err != nil {
			return driver.Outcome{}, err
		}
		out := driver.Outcome{Replayed: true}
		err := t.stmt(s.stmts.keyGet).QueryRowContext(ctx, r.hid, key.Key, now).Scan(&out.Fingerprint, &out.Written)
		switch {
		case err == nil:
			return out, nil
		case !errors.Is(err, sql.ErrNoRows):
			return driver.Outcome{}, err
		}
	}
	n, err := t.write(historyID, recs)
	if err != nil {
		return driver.Outcome{}, err
	}
	if r, ok, err = t.row(historyID); err != nil {
		return driver.Outcome{}, err
	}
	if !ok { // nothing stored, so no history to keep the key with
		return driver.Outcome{Written: n, Fingerprint: key.Fingerprint}, nil
	}
	if _, err := t.stmt(s.stmts.keyPut).ExecContext(ctx, r.hid, key.Key, key.Fingerprint, n, now+key.TTL.Milliseconds()); err != nil {
		return driver.Outcome{}, err
	}
	return driver.Outcome{Written: n, Fingerprint: key.Fingerprint}, nil
}

// write appends recs to a history, and marks it unindexed from the first
// of them on for the search index.
func (t *txn) write(historyID string, recs []driver.Record) (int, error) {
	ctx := t.ctx
	r, ok, err := t.claim(historyID)
	if err != nil {
		return 0, err
	}
	lookup := driver.PositionalLookup(r.count)
	if !r.positional() {
		lookup = func(ctx context.Context, ids []string) (map[string]bool, error) {
			return heldIDs(ctx, t.tx, r.hid, ids)
		}
	}
	plan, err := driver.MakePlan(ctx, r.next, recs, lookup)
	if err != nil {
		return 0, err
	}
	if len(plan.Messages) == 0 {
		return 0, nil // and a history that did not exist still does not
	}
	for _, p := range plan.Messages {
		if recs[p.Index].HasID {
			r.callerIDs++
		}
		r.cost = r.cost.Add(recs[p.Index].Cost)
	}
	now := recs[plan.Messages[0].Index].CreatedAt
	r.count += int64(len(plan.Messages))
	r.next = plan.Next
	if err := t.keep(historyID, &r, ok, now); err != nil {
		return 0, err
	}
	if err := t.insertMessages(r, recs, plan.Messages); err != nil {
		return 0, err
	}
	if t.s.indexing {
		if err := t.index(r.hid, recs, plan.Messages); err != nil {
			return 0, err
		}
	}
	return len(plan.Messages), nil
}

// insertBatch rows go into one multi-row INSERT: one statement per batch
// rather than per message, well under SQLite's limit on parameters.
const insertBatch = 100

// insertMessages inserts the planned messages into history r.
func (t *txn) insertMessages(r histRow, recs []driver.Record, msgs []driver.Planned) error {
	ctx, s := t.ctx, t.s
	for len(msgs) > 0 {
		n := min(len(msgs), insertBatch)
		args := make([]any, 0, insertColumns*n)
		for _, p := range msgs[:n] {
			var id any // NULL: the id is the decimal string of seq
			if p.ID != strconv.FormatInt(p.Pos, 10) {
				id = p.ID
			}
			// The body goes in as TEXT, so SQL users can query it with
			// json_extract(body, '$.role').
			rec := &recs[p.Index]
			if !packable(rec.Cost) {
				return fmt.Errorf("message %d: a cost of %+v is beyond what the store keeps (below 2^30 tokens of text, 2^31 flat)", p.Index, rec.Cost)
			}
			args = append(args, r.hid, p.Pos, rec.Kind, id, string(rec.JSON), rec.CreatedAt, rec.Cost.Text, rec.Cost.Flat)
		}
		var err error
		switch n {
		case 1:
			_, err = t.stmt(s.stmts.insertOne).ExecContext(ctx, args...)
		case insertBatch:
			_, err = t.stmt(s.stmts.insertBatch).ExecContext(ctx, args...)
		default:
			_, err = t.tx.ExecContext(ctx, insertSQL(n), args...)
		}
		if err != nil {
			return err
		}
		msgs = msgs[n:]
	}
	return nil
}

// packable reports whether c packs into messageColumns' cost: true of
// every cost a meter gives, which is at most the length of its message.
func packable(c driver.Cost) bool {
	return c.Text >= 0 && c.Text < 1<<30 && c.Flat >= 0 && c.Flat < 1<<31
}

// heldIDs returns which of ids the history holds: ids stored as they are
// (the partial index), and decimal ids stored as NULL beside the position
// they name.
func heldIDs(ctx context.Context, tx *sql.Tx, hid int64, ids []string) (map[string]bool, error) {
	found := map[string]bool{}
	var seqs []any
	for _, id := range ids {
		if n, ok := driver.Position(id); ok {
			seqs = append(seqs, n)
		}
	}
	const chunk = 500
	for len(ids) > 0 {
		n := min(len(ids), chunk)
		args := []any{hid}
		for _, id := range ids[:n] {
			args = append(args, id)
		}
		if err := collect(ctx, tx, found, "SELECT message_id FROM messages WHERE hid = ? AND message_id IN (?"+strings.Repeat(",?", n-1)+")", args); err != nil {
			return nil, err
		}
		ids = ids[n:]
	}
	for len(seqs) > 0 {
		n := min(len(seqs), chunk)
		args := append([]any{hid}, seqs[:n]...)
		if err := collect(ctx, tx, found, "SELECT CAST(seq AS TEXT) FROM messages WHERE hid = ? AND message_id IS NULL AND seq IN (?"+strings.Repeat(",?", n-1)+")", args); err != nil {
			return nil, err
		}
		seqs = seqs[n:]
	}
	return found, nil
}

// collect adds the strings a query returns to found.
func collect(ctx context.Context, tx *sql.Tx, found map[string]bool, query string, args []any) error {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return err
		}
		found[id] = true
	}
	return rows.Err()
}
