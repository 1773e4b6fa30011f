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
	history       *sql.Stmt // a history's row (histRow)
	newHistory    *sql.Stmt // insert a history, returning hid
	saveHistory   *sql.Stmt // update a history's bookkeeping from its histRow
	findMessage   *sql.Stmt // seq of a message by id (findSQL)
	metaGet       *sql.Stmt // a history's metadata pairs
	metaPut       *sql.Stmt
	metaDelete    *sql.Stmt
	truncate      *sql.Stmt
	deleteSeq     *sql.Stmt
	forkMessages  *sql.Stmt // copy messages up to a seq to another history
	forkCost      *sql.Stmt // the sum of a history's costs
	forkMetadata  *sql.Stmt
	forkCompacted *sql.Stmt // copy the compaction records of the messages copied
	compact       *sql.Stmt // record a compaction
	compactTrim   *sql.Stmt // drop a history's compactions but the newest few
	insertOne     *sql.Stmt // one message
	insertBatch   *sql.Stmt // insertBatch messages
	deleteHistory *sql.Stmt
	purge         *sql.Stmt // delete a history by hid (an expired one)
	sweep         *sql.Stmt // delete expired histories (sweepSQL)
	dataVersion   *sql.Stmt
	keyPurge      *sql.Stmt // delete a few of a history's expired keys
	keyGet        *sql.Stmt // a key's fingerprint and count, unless expired
	keyPut        *sql.Stmt // record a key (over an expired one)
	fileState     *sql.Stmt // whether the file has a search index, and its counter
	// Of the search index (index.go); nil without search.
	markUnindexed   *sql.Stmt
	isMarked        *sql.Stmt
	unindexed       *sql.Stmt
	toIndex         *sql.Stmt
	indexedTo       *sql.Stmt
	unmark          *sql.Stmt
	insertDocs      *sql.Stmt
	lastUnindexed   *sql.Stmt
	historyEnd      *sql.Stmt
	unmarkIfIndexed *sql.Stmt

	// On the reader pool.
	tail            *sql.Stmt
	tailUncompacted *sql.Stmt // tailSQL after a row if the history has compactions
	tailBare        *sql.Stmt // tailUncompacted of bareColumns
	rangeQ          *sql.Stmt // messages by position
	before          *sql.Stmt // the last messages before a position, newest first
	count           *sql.Stmt
	list            *sql.Stmt
	info            *sql.Stmt // a history's row and metadata
	message         *sql.Stmt // one message by id (findSQL)
	compactions     *sql.Stmt // a history's compaction records, newest first
	anyUnindexed    *sql.Stmt // nil without search
}

// unexpiredAt is the condition, on a history's row, that it has not
// expired at the time in parameter p: driver.Expired, mirrored in SQL.
// Every read tests it in the statement that looks the history up, on the
// row it reads anyway, so an expired history costs it no statement more
// and is hidden from it at once, swept or not. The column is not
// qualified: of the tables reads join, only histories has it.
func unexpiredAt(p string) string { return "(expires_at = 0 OR expires_at > " + p + ")" }

// unexpired is the condition of the reads by name, whose parameters are
// the history's name ?1 and the time ?2.
var unexpired = unexpiredAt("?2")

// liveHid is the hid of history ?1 unless it has expired at ?2 (NULL
// then, which matches no row).
var liveHid = `(SELECT hid FROM histories WHERE name = ?1 AND ` + unexpired + `)`

// tailSQL reads history ?1 newest first, for driver.LastRounds, which stops
// reading (and so the statement) once it has the last rounds: one
// statement, which sees one state of the history, that reads only the tail
// and the message before it. The history's id is a scalar subquery, so the
// query is a backwards range scan of the primary key. ?2 is the time, as
// for every read by name (unexpired).
var tailSQL = `SELECT ` + messageColumns + ` FROM messages m
WHERE m.hid = ` + liveHid + ` ORDER BY m.seq DESC`

// tailUncompactedSQL is tailSQL after a row that stands for the
// history's compaction records, if it has any (uncompactedSQL).
var tailUncompactedSQL = uncompactedSQL(messageColumns, "NULL, '', 0, 0")

// tailBareSQL is tailUncompactedSQL reading bareColumns, for a read that
// uses no costs or times (driver.Span.Bare).
var tailBareSQL = uncompactedSQL(bareColumns, "NULL, ''")

// uncompactedSQL is the walk of tailSQL reading cols, after a row that
// stands for the history's compaction records, if it has any: a position
// (compactedMark) above any message's, so that it comes first, then rest,
// a value for each of cols' other cells. The ORDER BY merges a row with
// the walk of the primary key, which stays a walk (no sort).
func uncompactedSQL(cols, rest string) string {
	return `SELECT ` + compactedMark + `, ` + rest + ` WHERE EXISTS (SELECT 1 FROM compactions c
WHERE c.hid = ` + liveHid + `) UNION ALL SELECT ` + cols + ` FROM messages m
WHERE m.hid = ` + liveHid + ` ORDER BY 1 DESC`
}

// bareColumns are what a bare messageRow reads: a message's position, its
// kind and id, and its body. Three cells, not messageColumns' five: a
// cell costs the driver 100–150 ns, and a read of the last 10 rounds took
// 44 µs with five and 36 µs with three (docs/BENCHMARKS.md). The second
// cell is the kind alone, an integer, where the id is the decimal string
// of the position (message_id NULL, the common case); else a text (||
// makes one of any operands) of the kind's one digit (kinds are below 4,
// as messageColumns has them) and the id, which may be empty.
const bareColumns = `m.seq, CASE WHEN m.message_id IS NULL THEN m.kind ELSE m.kind || m.message_id END, m.body`

// compactedMark is the position of tailUncompactedSQL's row for compaction
// records: math.MaxInt64.
const compactedMark = "9223372036854775807"

// messageColumns are what scanRows reads (messageRow): a message's
// position, its id where it is not the decimal string of its position
// (NULL then), its body, its time, and its cost and kind in one integer.
// Each column costs the driver two calls into SQLite, each under the
// connection's mutex, and a conversion: for a short read, the seven
// columns these five were cost more than the statement (a read of 30 rows
// spent twice the raw baseline's time in the driver). The packing is
// lossless: kinds are below 4, and the costs at most a body's length,
// which SQLite bounds at 1e9 bytes, so text below 2^30 and flat below 2^31
// (insertMessages checks it). The position stays a column of its own, for
// tailUncompactedSQL's ORDER BY to be the primary key's.
const messageColumns = `m.seq, m.message_id, m.body, m.created_at, (m.tok_text << 33) | (m.tok_flat << 2) | m.kind`

// findSQL selects the message of history ?1 (a hid, or a name when
// byName, of a history that has not expired at ?2) whose id is ?4: stored
// as NULL beside seq ?3 when the id is the decimal string of a position (?3
// is -1 otherwise), or in message_id. Ids are unique in a history, so at
// most one branch finds a row. With a hid, ?2 is unused, and NULL.
func findSQL(columns string, byName bool) string {
	hid := "?1"
	if byName {
		hid = liveHid
	}
	return "SELECT " + columns + " FROM messages m WHERE m.hid = " + hid + " AND m.seq = ?3 AND m.message_id IS NULL " +
		"UNION ALL SELECT " + columns + " FROM messages m WHERE m.hid = " + hid + " AND m.message_id = ?4"
}

// historyColumns are what txn.row reads.
const historyColumns = `h.hid, h.count, h.next_seq, h.caller_ids, h.created_at, h.updated_at, h.tok_text, h.tok_flat, h.ttl, h.fixed_at, h.expires_at`

const insertColumns = 8

func insertSQL(n int) string {
	row := "(?" + strings.Repeat(",?", insertColumns-1) + ")"
	return "INSERT INTO messages (hid, seq, kind, message_id, body, created_at, tok_text, tok_flat) VALUES " +
		row + strings.Repeat(","+row, n-1)
}

func prepare(ctx context.Context, writer, readers *sql.DB, indexing bool) (*stmts, error) {
	var st stmts
	var errs []error
	p := func(db *sql.DB, dst **sql.Stmt, query string) {
		s, err := db.PrepareContext(ctx, query)
		if err != nil {
			errs = append(errs, fmt.Errorf("preparing %q: %w", query, err))
		}
		*dst = s
	}
	p(writer, &st.history, "SELECT "+historyColumns+" FROM histories h WHERE h.name = ?")
	p(writer, &st.newHistory, "INSERT INTO histories (name, count, next_seq, caller_ids, created_at, updated_at, tok_text, tok_flat, ttl, fixed_at, expires_at) "+
		"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING hid")
	p(writer, &st.saveHistory, "UPDATE histories SET count = ?2, next_seq = ?3, caller_ids = ?4, updated_at = ?5, tok_text = ?6, tok_flat = ?7, "+
		"ttl = ?8, fixed_at = ?9, expires_at = ?10 WHERE hid = ?1")
	p(writer, &st.findMessage, findSQL("m.seq", false))
	p(writer, &st.metaGet, "SELECT key, value FROM metadata WHERE hid = ?")
	p(writer, &st.metaPut, "INSERT INTO metadata (hid, key, value) VALUES (?1, ?2, ?3) ON CONFLICT (hid, key) DO UPDATE SET value = ?3")
	p(writer, &st.metaDelete, "DELETE FROM metadata WHERE hid = ? AND key = ?")
	// The removals return the costs of what they removed, for the
	// history's sum.
	p(writer, &st.truncate, "DELETE FROM messages WHERE hid = ? AND seq >= ? RETURNING tok_text, tok_flat")
	p(writer, &st.deleteSeq, "DELETE FROM messages WHERE hid = ? AND seq = ? RETURNING tok_text, tok_flat")
	p(writer, &st.forkMessages, "INSERT INTO messages (hid, seq, kind, message_id, body, created_at, tok_text, tok_flat) "+
		"SELECT ?1, seq, kind, message_id, body, created_at, tok_text, tok_flat FROM messages WHERE hid = ?2 AND seq <= ?3")
	p(writer, &st.forkCost, "SELECT coalesce(sum(tok_text), 0), coalesce(sum(tok_flat), 0) FROM messages WHERE hid = ?")
	p(writer, &st.forkMetadata, "INSERT INTO metadata (hid, key, value) SELECT ?1, key, value FROM metadata WHERE hid = ?2")
	// The records in effect (the history holds their message at their
	// position) up to seq ?3; the copy keeps positions.
	p(writer, &st.forkCompacted, "INSERT INTO compactions (hid, seq, through, through_pos, body, tok_text, tok_flat, created_at) "+
		"SELECT ?1, c.seq, c.through, c.through_pos, c.body, c.tok_text, c.tok_flat, c.created_at FROM compactions c "+
		"WHERE c.hid = ?2 AND c.through_pos <= ?3 AND EXISTS (SELECT 1 FROM messages m WHERE m.hid = ?2 AND m.seq = c.through_pos "+
		"AND coalesce(m.message_id, CAST(m.seq AS TEXT)) = c.through)")
	p(writer, &st.compact, "INSERT INTO compactions (hid, seq, through, through_pos, body, tok_text, tok_flat, created_at) "+
		"VALUES (?1, (SELECT coalesce(max(seq), 0) + 1 FROM compactions WHERE hid = ?1), ?2, ?3, ?4, ?5, ?6, ?7)")
	p(writer, &st.compactTrim, "DELETE FROM compactions WHERE hid = ?1 AND seq <= "+
		"(SELECT seq FROM compactions WHERE hid = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)")
	p(writer, &st.insertOne, insertSQL(1))
	p(writer, &st.insertBatch, insertSQL(insertBatch))
	p(writer, &st.deleteHistory, "DELETE FROM histories WHERE name = ?")
	p(writer, &st.purge, "DELETE FROM histories WHERE hid = ?")
	p(writer, &st.sweep, sweepSQL)
	p(writer, &st.dataVersion, "PRAGMA data_version")
	p(writer, &st.keyPurge, "DELETE FROM idempotency_keys WHERE hid = ?1 AND key IN "+
		"(SELECT key FROM idempotency_keys WHERE hid = ?1 AND expires_at <= ?2 ORDER BY expires_at LIMIT "+strconv.Itoa(keyPurgeBatch)+")")
	p(writer, &st.keyGet, "SELECT fingerprint, written FROM idempotency_keys WHERE hid = ? AND key = ? AND expires_at > ?")
	p(writer, &st.keyPut, "INSERT INTO idempotency_keys (hid, key, fingerprint, written, expires_at) VALUES (?1, ?2, ?3, ?4, ?5) "+
		"ON CONFLICT (hid, key) DO UPDATE SET fingerprint = ?3, written = ?4, expires_at = ?5")
	p(writer, &st.fileState, fileStateSQL)
	if indexing {
		p(writer, &st.markUnindexed, markUnindexedSQL)
		p(writer, &st.isMarked, isMarkedSQL)
		p(writer, &st.unindexed, unindexedSQL)
		p(writer, &st.toIndex, toIndexSQL)
		p(writer, &st.indexedTo, indexedToSQL)
		p(writer, &st.unmark, unmarkSQL)
		p(writer, &st.insertDocs, insertDocsSQL)
		p(writer, &st.lastUnindexed, lastUnindexedSQL)
		p(writer, &st.historyEnd, historyEndSQL)
		p(writer, &st.unmarkIfIndexed, unmarkIfIndexedSQL)
		p(readers, &st.anyUnindexed, anyUnindexedSQL)
	}
	p(readers, &st.tail, tailSQL)
	p(readers, &st.tailUncompacted, tailUncompactedSQL)
	p(readers, &st.tailBare, tailBareSQL)
	// Every read by name: history ?1, at time ?2 (unexpired).
	p(readers, &st.rangeQ, "SELECT "+messageColumns+" FROM histories h JOIN messages m ON m.hid = h.hid "+
		"WHERE h.name = ?1 AND "+unexpired+" AND m.seq >= ?3 ORDER BY m.seq LIMIT ?4 OFFSET ?5")
	p(readers, &st.before, "SELECT "+messageColumns+" FROM histories h JOIN messages m ON m.hid = h.hid "+
		"WHERE h.name = ?1 AND "+unexpired+" AND m.seq < ?3 ORDER BY m.seq DESC LIMIT ?4")
	p(readers, &st.count, "SELECT count FROM histories WHERE name = ?1 AND "+unexpired)
	p(readers, &st.list, "SELECT name, count FROM histories WHERE name > ?1 AND count > 0 AND "+unexpired+" ORDER BY name LIMIT ?3")
	p(readers, &st.info, "SELECT h.count, h.created_at, h.updated_at, h.tok_text, h.tok_flat, h.ttl, h.fixed_at, h.expires_at, m.key, m.value "+
		"FROM histories h LEFT JOIN metadata m ON m.hid = h.hid WHERE h.name = ?1 AND "+unexpired)
	p(readers, &st.message, findSQL(messageColumns, true))
	p(readers, &st.compactions, "SELECT c.through, c.through_pos, c.body, c.tok_text, c.tok_flat, c.created_at "+
		"FROM histories h JOIN compactions c ON c.hid = h.hid WHERE h.name = ?1 AND "+unexpired+" ORDER BY c.seq DESC")
	if err := errors.Join(errs...); err != nil {
		st.close()
		return nil, err
	}
	return &st, nil
}

func (st *stmts) close() {
	for _, s := range []*sql.Stmt{st.history, st.newHistory, st.saveHistory, st.findMessage, st.metaGet, st.metaPut,
		st.metaDelete, st.truncate, st.deleteSeq, st.forkMessages, st.forkCost, st.forkMetadata, st.forkCompacted,
		st.compact, st.compactTrim, st.insertOne, st.insertBatch, st.deleteHistory, st.purge, st.sweep, st.dataVersion, st.keyPurge,
		st.keyGet, st.keyPut, st.fileState, st.markUnindexed, st.isMarked, st.unindexed, st.toIndex, st.indexedTo, st.unmark, st.insertDocs, st.lastUnindexed, st.historyEnd, st.unmarkIfIndexed, st.anyUnindexed, st.tail, st.tailUncompacted, st.tailBare, st.rangeQ, st.before, st.count, st.list,
		st.info, st.message, st.compactions} {
		if s != nil {
			s.Close()
		}
	}
}
