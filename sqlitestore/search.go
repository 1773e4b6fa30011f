package sqlitestore

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/driver"
	"github.com/chatstore/chatstore/search"
)

// driver.Searcher, with the FTS5 table search_index (schema version 6): one
// row per message that has words, keyed by docKey, holding search.IndexText
// of its text and of its reasoning. The index is brought up to date after
// writes rather than in them: a write records in its transaction, in the
// table unindexed, that its history has messages the index has yet to get
// (markUnindexed), and indexing adds them from the stored messages, many
// at a time, in a transaction of its own (catchUp). Search brings the index
// up to date before it runs, so a search sees every write acknowledged
// before it began, as if the index had been kept in the writes; between
// searches, a background loop indexes (indexLoop), so that a search seldom
// finds much to do. The trigger search_unindex removes a message's row with
// the message, whatever removes it (a message not indexed yet has none to
// remove); Fork records its copies as unindexed, and Open fills the index of
// an older file.

var _ driver.Searcher = (*Store)(nil)

// Indexing implements driver.Searcher: false for a store opened with
// search=false.
func (s *Store) Indexing() bool { return s.indexing }

// hasIndexSQL tells whether the file has a search index.
const hasIndexSQL = `SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'search_index')`

// fileStateSQL tells what checkFile checks: whether the file has a search
// index, and the counter of its costs.
const fileStateSQL = `SELECT (` + hasIndexSQL + `), coalesce((SELECT value FROM settings WHERE key = 'counter'), '')`

// docKey is the key of message seq of history hid in the index: the two in
// one integer, as FTS5 rows have no other key. It fits positions below 2^32
// and hids below 2^31 (hids count up from 1 as histories are created).
func docKey(hid, seq int64) (int64, error) {
	if hid < 0 || hid >= 1<<31 || seq < 0 || seq >= 1<<32 {
		return 0, fmt.Errorf("message %d of history row %d is beyond what the search index can key (positions below 2^32, history rows below 2^31)", seq, hid)
	}
	return hid<<32 | seq, nil
}

// docRow is a message's row in the index.
type docRow struct {
	key             int64
	text, reasoning string // search.IndexText
}

// insertDocsSQL adds rows to the index from a JSON array of [key, text,
// reasoning] arrays (encodeDocs): one statement for any number of rows.
// That matters beyond compiling it: FTS5 writes the rows it holds to a new
// segment of the index whenever a statement that may need rolling back
// begins in the transaction (its savepoint), and each segment costs pages
// now and merging later. That cost, paid by every transaction that adds
// rows however few, is why writes leave indexing to catchUp.
const insertDocsSQL = `INSERT INTO search_index (rowid, text, reasoning) SELECT value ->> 0, value ->> 1, value ->> 2 FROM json_each(?)`

// encodeDocs is rows as insertDocsSQL reads them.
func encodeDocs(rows []docRow) (string, error) {
	a := make([][3]any, len(rows))
	for i, r := range rows {
		a[i] = [3]any{r.key, r.text, r.reasoning}
	}
	b, err := json.Marshal(a)
	return string(b), err
}

// queryer is what indexMessages reads and writes with: a connection (Open's
// migration) or a transaction (Fork).
type queryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// reindexBatch is how many rows eachStored reads at a time.
const reindexBatch = 1000

// stored is a row eachStored reads.
type stored struct {
	hid, seq int64
	body     []byte
}

// eachStored calls fn with the rows of table (messages, or compactions:
// both keyed by (hid, seq), with a body) of history hid, or of every history
// when hid is 0, reindexBatch at a time in the order of the primary key:
// what Open and Fork use to go through stored messages again, holding a
// batch in memory, never the file.
func eachStored(ctx context.Context, x queryer, table string, hid int64, fn func([]stored) error) error {
	limit := " ORDER BY hid, seq LIMIT " + strconv.Itoa(reindexBatch)
	query := "SELECT hid, seq, body FROM " + table + " WHERE (hid, seq) > (?1, ?2)" + limit
	afterHid, afterSeq := int64(math.MinInt64), int64(math.MinInt64)
	if hid != 0 {
		query = "SELECT hid, seq, body FROM " + table + " WHERE hid = ?1 AND seq > ?2" + limit
		afterHid, afterSeq = hid, math.MinInt64
	}
	batch := make([]stored, 0, reindexBatch)
	for {
		rows, err := x.QueryContext(ctx, query, afterHid, afterSeq)
		if err != nil {
			return err
		}
		batch = batch[:0]
		for rows.Next() {
			var m stored
			if err := rows.Scan(&m.hid, &m.seq, &m.body); err != nil {
				rows.Close()
				return err
			}
			batch = append(batch, m)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(batch) > 0 {
			if err := fn(batch); err != nil {
				return err
			}
		}
		if len(batch) < reindexBatch {
			return nil
		}
		last := batch[len(batch)-1]
		afterHid, afterSeq = last.hid, last.seq
	}
}

// indexMessages adds to the index the messages of every history, reading
// them again (eachStored). progress gets the count so far after each batch.
func indexMessages(ctx context.Context, x queryer, progress func(done int64)) (done, skipped int64, err error) {
	insert := func(ctx context.Context, args ...any) (sql.Result, error) {
		return x.ExecContext(ctx, insertDocsSQL, args...)
	}
	err = eachStored(ctx, x, "messages", 0, func(batch []stored) error {
		n, err := indexStored(ctx, execFunc(insert), batch)
		skipped += n
		done += int64(len(batch))
		if err == nil && progress != nil {
			progress(done)
		}
		return err
	})
	return done, skipped, err
}

// indexStored adds stored messages to the index, decoding each body and
// making its search.Document, as the Store does for a write: the index
// keeps no text to read again (a contentless table), which costs this
// decoding and saves storing every message's words twice. A body that does
// not decode is left out of the index (and counted in skipped): it cannot
// be read back either.
func indexStored(ctx context.Context, insert executor, batch []stored) (skipped int64, err error) {
	docs := make([]docRow, 0, len(batch))
	for _, m := range batch {
		msg, err := chat.Unmarshal(m.body)
		if err != nil {
			skipped++
			continue
		}
		if docs, err = appendDoc(docs, m.hid, m.seq, search.Document(msg)); err != nil {
			return skipped, err
		}
	}
	return skipped, insertDocs(ctx, insert, docs)
}

// appendDoc appends the index row of message seq of history hid, whose
// document is d, to docs; a message without words has none.
func appendDoc(docs []docRow, hid, seq int64, d search.Doc) ([]docRow, error) {
	text, reasoning := search.IndexText(d.Text), search.IndexText(d.Reasoning)
	if text == "" && reasoning == "" {
		return docs, nil
	}
	key, err := docKey(hid, seq)
	if err != nil {
		return docs, err
	}
	return append(docs, docRow{key, text, reasoning}), nil
}

// insertDocs adds rows to the index in one statement (insertDocsSQL).
func insertDocs(ctx context.Context, insert executor, docs []docRow) error {
	if len(docs) == 0 {
		return nil
	}
	j, err := encodeDocs(docs)
	if err != nil {
		return err
	}
	_, err = insert.ExecContext(ctx, j)
	return err
}

// executor runs a statement prepared already (insertDocsSQL): a *sql.Stmt,
// or an execFunc.
type executor interface {
	ExecContext(ctx context.Context, args ...any) (sql.Result, error)
}

type execFunc func(ctx context.Context, args ...any) (sql.Result, error)

func (f execFunc) ExecContext(ctx context.Context, args ...any) (sql.Result, error) {
	return f(ctx, args...)
}

// progressEvery is how many messages filling the index logs progress after
// (a variable for tests).
var progressEvery int64 = 10_000

// syncIndex makes the file's search index what o asks for, inside the
// migration's transaction (conn has begun it). With search on, an index
// that the step to indexVersion has just created, or that search=false had
// dropped (then created again here), is filled from the stored messages.
// With search=false, an index is dropped: its store would not add its
// writes to it, and an index that misses messages would answer wrong; a
// file never holds one, and opening it with search on again builds it anew.
func syncIndex(ctx context.Context, conn *sql.Conn, created bool, target int, o Options) error {
	var has bool
	if err := conn.QueryRowContext(ctx, hasIndexSQL).Scan(&has); err != nil {
		return err
	}
	switch {
	case o.NoSearch && has:
		if _, err := conn.ExecContext(ctx, "DROP TRIGGER search_unindex; DROP TABLE search_index"); err != nil {
			return err
		}
		return clearUnindexed(ctx, conn, target)
	case o.NoSearch, has && !created:
		return nil
	case !has:
		if _, err := conn.ExecContext(ctx, migrations[indexVersion-1]); err != nil {
			return err
		}
	}
	if err := fillIndex(ctx, conn, cmp.Or(o.Logger, slog.Default())); err != nil {
		return err
	}
	return clearUnindexed(ctx, conn, target)
}

// clearUnindexed empties unindexed, at a schema version that has it: once
// the index is dropped, or filled with every message.
func clearUnindexed(ctx context.Context, conn *sql.Conn, target int) error {
	if target < unindexedVersion {
		return nil
	}
	_, err := conn.ExecContext(ctx, "DELETE FROM unindexed")
	return err
}

// fillIndex indexes every stored message, logging its progress: a large
// file takes a while (about 50,000 messages a second), and holds the write
// lock meanwhile.
func fillIndex(ctx context.Context, conn *sql.Conn, log *slog.Logger) error {
	total, err := storedMessages(ctx, conn)
	if err != nil || total == 0 {
		return err
	}
	start := time.Now()
	log.Info("sqlitestore: indexing messages for search", "messages", total)
	done, skipped, err := indexMessages(ctx, conn, logProgress(log, "sqlitestore: indexing messages for search", total))
	if err != nil {
		return err
	}
	if skipped > 0 {
		log.Warn("sqlitestore: messages that do not decode are left out of the search index", "messages", skipped)
	}
	log.Info("sqlitestore: indexed messages for search", "messages", done, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// storedMessages is the number of messages the file holds.
func storedMessages(ctx context.Context, conn *sql.Conn) (int64, error) {
	var total int64
	err := conn.QueryRowContext(ctx, "SELECT coalesce(sum(count), 0) FROM histories").Scan(&total)
	return total, err
}

// logProgress returns a progress function for a pass over total messages
// (indexMessages, measureMessages) that logs msg with the count done every
// progressEvery messages.
func logProgress(log *slog.Logger, msg string, total int64) func(done int64) {
	next := progressEvery
	return func(done int64) {
		if done >= next {
			log.Info(msg, "done", done, "of", total)
			next = done - done%progressEvery + progressEvery
		}
	}
}

// checkFile fails when the file is not what this store expects: another
// process opened it since with the other search setting, which dropped the
// index or built it again, or with another tokenizer, which measured every
// message again (syncCosts). Either way this store's writes would leave the
// index or the costs wrong (or fail on a table that is gone), so they fail
// with an error that says to reopen. The commit loop checks whenever
// another process has committed.
func (t *txn) checkFile() error {
	var (
		has     bool
		counter string
	)
	if err := t.stmt(t.s.stmts.fileState).QueryRowContext(t.ctx).Scan(&has, &counter); err != nil {
		return err
	}
	switch {
	case counter != t.s.counter:
		return fmt.Errorf("%w: a process opened the file with tokenizer %s and measured its messages again; this store counts with %s: reopen it with the tokenizer the file's other users have", chatstore.ErrIncompatibleSchema, counter, t.s.counter)
	case t.s.indexing && !has:
		return fmt.Errorf("%w: the search index was dropped by a process that opened the file with search=false; reopen the store to build it again", chatstore.ErrIncompatibleSchema)
	case !t.s.indexing && has:
		return fmt.Errorf("%w: a process opened the file with search on, which built the search index, and this store (search=false) would leave its writes out of it; reopen the store", chatstore.ErrIncompatibleSchema)
	}
	return nil
}

// matchExpr is q as an FTS5 query on the text column, or, with reasoning,
// on the text column or on the reasoning column: each column must match
// the whole query by itself, as search.MatchDoc has it. Every term is an
// FTS5 string, a phrase of its tokens (which split the same way, at their
// spaces), its last token a prefix with "*"; the terms are ANDed, and each
// excluded one is taken away with NOT.
func matchExpr(q search.Query, reasoning bool) string {
	var b strings.Builder
	b.WriteByte('(')
	n := 0
	for _, t := range q.Terms {
		if !t.Exclude {
			if n > 0 {
				b.WriteString(" AND ")
			}
			writeTerm(&b, t)
			n++
		}
	}
	b.WriteByte(')')
	for _, t := range q.Terms {
		if t.Exclude {
			b.WriteString(" NOT ")
			writeTerm(&b, t)
		}
	}
	e := b.String()
	if reasoning {
		return "text : (" + e + ") OR reasoning : (" + e + ")"
	}
	return "text : (" + e + ")"
}

func writeTerm(b *strings.Builder, t search.Term) {
	b.WriteByte('"')
	// Tokens hold no quotes; doubling them would keep the string one.
	b.WriteString(strings.ReplaceAll(strings.Join(t.Tokens, " "), `"`, `""`))
	b.WriteByte('"')
	if t.Prefix {
		b.WriteByte('*')
	}
}

// searchSQL is Search's statement and its arguments. The inner query ranks
// the index's matches, joining only what the filters need (a history's row
// by the key's hid; a message's row for its role or time), and keeps the
// page; the outer one reads those messages. The score is -bm25 (higher is
// better), the same expression in the cursor's condition as in the result,
// so that a score from a cursor compares equal to itself. Histories that
// have expired at now are left out.
func searchSQL(q driver.SearchQuery, now int64) (string, []any) {
	args := []any{matchExpr(q.Query, q.Reasoning)}
	from := "search_index CROSS JOIN histories AS h"
	where := []string{"search_index MATCH ?", "h.hid = search_index.rowid >> 32", unexpiredAt("?")}
	args = append(args, now)
	if len(q.Roles) > 0 || q.Since != 0 || q.Until != 0 {
		from += " CROSS JOIN messages AS m"
		where = append(where, "m.hid = h.hid AND m.seq = search_index.rowid & 4294967295")
	}
	if q.Prefix != "" {
		where = append(where, "h.name >= ? AND substr(h.name, 1, length(?)) = ?")
		args = append(args, q.Prefix, q.Prefix, q.Prefix)
	}
	for _, k := range slices.Sorted(mapKeys(q.Metadata)) {
		where = append(where, "EXISTS (SELECT 1 FROM metadata md WHERE md.hid = h.hid AND md.key = ? AND md.value = ?)")
		args = append(args, k, q.Metadata[k])
	}
	if len(q.Roles) > 0 {
		// The role is read from the body, only for the matches: keeping
		// it in a column would cost every write.
		where = append(where, "m.body ->> '$.role' IN (?"+strings.Repeat(",?", len(q.Roles)-1)+")")
		for _, r := range q.Roles {
			args = append(args, r)
		}
	}
	if q.Since != 0 {
		where = append(where, "m.created_at >= ?")
		args = append(args, q.Since)
	}
	if q.Until != 0 {
		where = append(where, "m.created_at < ?")
		args = append(args, q.Until)
	}
	if a := q.After; a != nil {
		// bm25 weighs words by the whole index, so a write anywhere
		// since the last page moves every score: the cursor's message
		// is scored again, in this statement's snapshot, and its old
		// score serves only when it no longer matches.
		cursor := "coalesce((SELECT -bm25(search_index) FROM search_index WHERE search_index MATCH ? AND " +
			"search_index.rowid = ((SELECT hid FROM histories WHERE name = ?) << 32) + ?), ?)"
		where = append(where, "(score < "+cursor+" OR score = "+cursor+" AND (h.name > ? OR h.name = ? AND (search_index.rowid & 4294967295) > ?))")
		for range 2 {
			args = append(args, args[0], a.HistoryID, a.Pos, a.Score)
		}
		args = append(args, a.HistoryID, a.HistoryID, a.Pos)
	}
	args = append(args, q.Limit)
	query := "WITH top AS MATERIALIZED (SELECT search_index.rowid >> 32 AS hid, search_index.rowid & 4294967295 AS seq, h.name AS name, -bm25(search_index) AS score FROM " + from +
		" WHERE " + strings.Join(where, " AND ") + " ORDER BY score DESC, name, seq LIMIT ?) " +
		"SELECT top.name, top.score, " + messageColumns + " FROM top CROSS JOIN messages AS m ON m.hid = top.hid AND m.seq = top.seq " +
		"ORDER BY top.score DESC, top.name, top.seq"
	return query, args
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// Search implements driver.Searcher in one statement (searchSQL).
func (s *Store) Search(ctx context.Context, q driver.SearchQuery) ([]driver.Hit, error) {
	if !s.indexing {
		return nil, fmt.Errorf("sqlitestore: search: %w: the store was opened with search=false", chatstore.ErrNotSupported)
	}
	if err := s.indexPending(ctx); err != nil {
		return nil, s.wrap("search", "", err)
	}
	query, args := searchSQL(q, s.policy.Now())
	stmt, kept, err := s.queryStmt(ctx, query)
	if err != nil {
		return nil, s.wrap("search", "", err)
	}
	if !kept {
		defer stmt.Close()
	}
	rows, err := stmt.QueryContext(ctx, args...)
	if err != nil {
		return nil, s.wrap("search", "", err)
	}
	defer rows.Close()
	hits := make([]driver.Hit, 0, min(q.Limit, 128))
	var c messageRow
	for rows.Next() {
		var h driver.Hit
		if err := rows.Scan(append([]any{&h.HistoryID, &h.Score}, c.targets()...)...); err != nil {
			return nil, s.wrap("search", "", err)
		}
		h.Message = c.message()
		hits = append(hits, h)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("search", "", err)
	}
	return hits, nil
}
