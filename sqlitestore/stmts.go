package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// keyPurgeBatch is how many of a history's expired idempotency keys each
// keyed write to it deletes: more than the one it adds, so that a history's
// keys never outgrow the writes of one window.
const keyPurgeBatch = 16

// Statements are prepared once per store: modernc.org/sqlite compiles a
// statement on every call otherwise, which cost more than the rest of a
// single-message write.
type stmts struct {
	// On the writer connection.
	history       *sql.Stmt // hid, count, caller_ids of a history
	newHistory    *sql.Stmt // insert an empty history, returning hid
	insertOne     *sql.Stmt // one message
	insertBatch   *sql.Stmt // insertBatch messages
	deleteHistory *sql.Stmt
	dataVersion   *sql.Stmt
	keyPurge      *sql.Stmt // delete a few of a history's expired keys
	keyGet        *sql.Stmt // a key's fingerprint and count, unless expired
	keyPut        *sql.Stmt // record a key (over an expired one)

	// On the reader pool.
	tail   *sql.Stmt
	rangeQ *sql.Stmt // messages by position
	count  *sql.Stmt
	list   *sql.Stmt
}

// tailSQL reads history ?1 newest first, for driver.LastRounds, which stops
// reading (and so the statement) once it has the last rounds: one
// statement, which sees one state of the history, that reads only the tail
// and the message before it. The history's id is a scalar subquery, so the
// query is a backwards range scan of the primary key.
const tailSQL = `SELECT m.seq, m.kind, coalesce(m.message_id, CAST(m.seq AS TEXT)), m.body FROM messages m
WHERE m.hid = (SELECT hid FROM histories WHERE name = ?1) ORDER BY m.seq DESC`

const insertColumns = 6

func insertSQL(n int) string {
	row := "(?" + strings.Repeat(",?", insertColumns-1) + ")"
	return "INSERT INTO messages (hid, seq, kind, message_id, body, caller_ids) VALUES " +
		row + strings.Repeat(","+row, n-1)
}

func prepare(ctx context.Context, writer, readers *sql.DB) (*stmts, error) {
	var st stmts
	var errs []error
	p := func(db *sql.DB, dst **sql.Stmt, query string) {
		s, err := db.PrepareContext(ctx, query)
		if err != nil {
			errs = append(errs, fmt.Errorf("preparing %q: %w", query, err))
		}
		*dst = s
	}
	// A history's state is its newest row; the LEFT JOIN tells a history
	// without rows from none at all.
	p(writer, &st.history, "SELECT h.hid, coalesce(m.seq + 1, 0), coalesce(m.caller_ids, 0) "+
		"FROM histories h LEFT JOIN messages m ON m.hid = h.hid WHERE h.name = ? ORDER BY m.seq DESC LIMIT 1")
	p(writer, &st.newHistory, "INSERT INTO histories (name, created_at) VALUES (?, ?) RETURNING hid")
	p(writer, &st.insertOne, insertSQL(1))
	p(writer, &st.insertBatch, insertSQL(insertBatch))
	p(writer, &st.deleteHistory, "DELETE FROM histories WHERE name = ?")
	p(writer, &st.dataVersion, "PRAGMA data_version")
	p(writer, &st.keyPurge, "DELETE FROM idempotency_keys WHERE hid = ?1 AND key IN "+
		"(SELECT key FROM idempotency_keys WHERE hid = ?1 AND expires_at <= ?2 ORDER BY expires_at LIMIT "+strconv.Itoa(keyPurgeBatch)+")")
	p(writer, &st.keyGet, "SELECT fingerprint, written FROM idempotency_keys WHERE hid = ? AND key = ? AND expires_at > ?")
	p(writer, &st.keyPut, "INSERT INTO idempotency_keys (hid, key, fingerprint, written, expires_at) VALUES (?1, ?2, ?3, ?4, ?5) "+
		"ON CONFLICT (hid, key) DO UPDATE SET fingerprint = ?3, written = ?4, expires_at = ?5")
	p(readers, &st.tail, tailSQL)
	p(readers, &st.rangeQ, "SELECT m.seq, m.kind, coalesce(m.message_id, CAST(m.seq AS TEXT)), m.body FROM histories h JOIN messages m ON m.hid = h.hid "+
		"WHERE h.name = ?1 AND m.seq >= ?2 ORDER BY m.seq LIMIT ?3 OFFSET ?4")
	p(readers, &st.count, "SELECT m.seq + 1 FROM histories h JOIN messages m ON m.hid = h.hid WHERE h.name = ? ORDER BY m.seq DESC LIMIT 1")
	p(readers, &st.list, "SELECT name, n FROM (SELECT h.name, (SELECT max(m.seq) + 1 FROM messages m WHERE m.hid = h.hid) AS n "+
		"FROM histories h WHERE h.name > ? ORDER BY h.name) WHERE n IS NOT NULL LIMIT ?")
	if err := errors.Join(errs...); err != nil {
		st.close()
		return nil, err
	}
	return &st, nil
}

func (st *stmts) close() {
	for _, s := range []*sql.Stmt{st.history, st.newHistory, st.insertOne, st.insertBatch,
		st.deleteHistory, st.dataVersion, st.keyPurge, st.keyGet, st.keyPut, st.tail, st.rangeQ, st.count, st.list} {
		if s != nil {
			s.Close()
		}
	}
}
