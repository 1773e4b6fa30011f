package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/chatstore/chatstore"
)

// migrations[i] brings the schema from version i to i+1; "S." stands for the
// quoted schema name. Append only: a released step never changes.
var migrations = []string{
	// 0 → 1. A history's row holds its bookkeeping and is locked by each
	// write to it. name is compared and ordered bytewise (COLLATE "C"), as
	// List promises, whatever the database's collation.
	//
	// messages.hid has no foreign key: a message is only ever inserted by
	// a write holding its history's row, and a foreign key would check that
	// row again for every message inserted (100 checks for a batch of 100).
	// Deleting a history deletes its messages in the same statement.
	//
	// A message row is written once and never updated. It stores the
	// message's kind (driver.Kind), not its round: a round's number is only
	// known when the round closes, and updating the rows of a closing round
	// would rewrite them whole (PostgreSQL copies a row to update it), which
	// doubled what a write costs. Reading backwards, driver.LastRounds works
	// the rounds out from the kinds.
	//
	// As in the SQLite store, a message row is one index entry in the
	// common case: message_id is NULL when the id is the decimal string of
	// seq (every id chatstore generates until a history stores a caller's
	// id), and only other ids are in the partial unique index.
	`CREATE TABLE S.histories (
		hid        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		name       text COLLATE "C" NOT NULL UNIQUE,
		count      bigint NOT NULL DEFAULT 0,
		rounds     bigint NOT NULL DEFAULT 0,
		open       bigint NOT NULL DEFAULT 0,
		caller_ids bigint NOT NULL DEFAULT 0,
		created_at timestamptz NOT NULL DEFAULT now(),
		updated_at timestamptz NOT NULL DEFAULT now()
	);
	CREATE TABLE S.messages (
		hid        bigint NOT NULL, -- S.histories (hid); no foreign key, see above
		seq        bigint NOT NULL,
		kind       smallint NOT NULL, -- driver.Kind: 0 joins a round, 1 closes it, 2 is its own
		message_id text,
		body       jsonb NOT NULL,
		PRIMARY KEY (hid, seq)
	);
	CREATE UNIQUE INDEX messages_by_id ON S.messages (hid, message_id) WHERE message_id IS NOT NULL;`,

	// 1 → 2. The idempotency keys of keyed writes (driver.KeyedWriter): a
	// key is written, under the history's row lock, in the transaction of
	// the write it names, with what that write stored (written messages,
	// the fingerprint of its records) and when the key is forgotten
	// (expires_at, the database's now() plus the TTL). As for messages,
	// hid has no foreign key: keys are only written by a write holding the
	// history's row, and deleting a history deletes its keys in the same
	// statement. keys_by_expiry lets each keyed write delete a few of its
	// history's expired keys without a scan, so that they do not
	// accumulate.
	`CREATE TABLE S.idempotency_keys (
		hid         bigint NOT NULL, -- S.histories (hid); no foreign key, see above
		key         text COLLATE "C" NOT NULL,
		fingerprint text NOT NULL,
		written     integer NOT NULL,
		expires_at  timestamptz NOT NULL,
		PRIMARY KEY (hid, key)
	);
	CREATE INDEX keys_by_expiry ON S.idempotency_keys (hid, expires_at);`,

	// 2 → 3. The history's row no longer keeps the size of its open
	// round: driver.LastRounds works the rounds out from the messages'
	// kinds alone, so nothing about rounds needs to be right in the row
	// when messages are removed. rounds stays, as the number of messages
	// that closed a round, only to size a tail read's first page.
	`ALTER TABLE S.histories DROP COLUMN open;`,

	// 3 → 4. Addressable histories (driver.Editor).
	//
	// count is now the messages a history holds, and next_seq the counter
	// of positions, which never goes back: messages can be deleted, so
	// positions have gaps, and a write plans from next_seq (driver.MakePlan)
	// so that no position, and no generated id, is used twice. For a
	// history written before, next_seq is its count (no message was ever
	// removed). A history with count = next_seq and no caller ids has no
	// gap and only generated ids, and is looked up positionally.
	//
	// Times are Unix milliseconds of the Store's clock, as the driver is
	// given them, so they round-trip exactly. A history exists (Info,
	// Query) once created_at is set: by the first write that stores a
	// message, or the first metadata change. A write creates its row before
	// planning, so a write that stores nothing leaves a row with created_at
	// NULL: not a history. Old histories keep their times if they hold
	// messages; empty ones stop existing. updated_at is NULL exactly when
	// created_at is. A message's created_at is NULL for those written
	// before (read as 0, unknown).
	//
	// Metadata is a table of pairs rather than a jsonb column: looking
	// histories up by a pair is a range of metadata_by_pair, whose
	// statistics (most common values of key, value) tell the planner how
	// many histories a pair selects, so "one user's newest histories" is
	// that user's rows plus a sort of them, however many histories there
	// are; a jsonb containment test has no such statistics. Changing one
	// pair writes one small row, and a history's row, updated by every
	// write, stays small. As for messages, hid has no foreign key; deleting
	// a history deletes its pairs in the same statement.
	//
	// histories_by_updated serves lists by recency (newest first, then by
	// id), a page at a time from a cursor (updated_at, name).
	`ALTER TABLE S.histories
		ADD COLUMN next_seq bigint NOT NULL DEFAULT 0,
		ALTER COLUMN created_at DROP DEFAULT,
		ALTER COLUMN created_at DROP NOT NULL,
		ALTER COLUMN created_at TYPE bigint USING CASE WHEN count > 0 THEN (extract(epoch FROM created_at) * 1000)::bigint END,
		ALTER COLUMN updated_at DROP DEFAULT,
		ALTER COLUMN updated_at DROP NOT NULL,
		ALTER COLUMN updated_at TYPE bigint USING CASE WHEN count > 0 THEN (extract(epoch FROM updated_at) * 1000)::bigint END;
	UPDATE S.histories SET next_seq = count WHERE count > 0;
	ALTER TABLE S.messages ADD COLUMN created_at bigint;
	CREATE TABLE S.metadata (
		hid   bigint NOT NULL, -- S.histories (hid); no foreign key, see above
		key   text COLLATE "C" NOT NULL,
		value text COLLATE "C" NOT NULL,
		PRIMARY KEY (hid, key)
	);
	CREATE INDEX metadata_by_pair ON S.metadata (key, value, hid);
	CREATE INDEX histories_by_updated ON S.histories (updated_at DESC, name) WHERE updated_at IS NOT NULL;`,

	// 4 → 5. Full-text search (driver.Searcher). Each message row holds
	// its role and, apart, the tsvectors of its text and of its reasoning
	// (search.IndexText of search.Document's two parts, through the
	// store's text search configuration), set by the INSERT that writes the
	// row. Columns of the row rather than a table of their own: a write
	// stays one row and one primary-key entry per message, and every
	// statement that deletes messages deletes their index entries with
	// them, with nothing to add; what it costs is wider rows for reads.
	//
	// A tsvector is NULL when there is nothing to index (a message of
	// images only; most messages have no reasoning), and each GIN index is
	// partial, so that such rows, and rows written with search=false, add
	// no entry to it (GIN indexes NULLs otherwise, one entry a row).
	//
	// role is NULL for a row nobody indexed yet: those written before this
	// version, or with search=false, or by an older chatstore still running
	// during an upgrade. A store that opens with search on indexes them in
	// batches (indexExisting), finding them along messages_unindexed,
	// which holds no entry for the rows a searching store writes.
	`ALTER TABLE S.messages
		ADD COLUMN role text,
		ADD COLUMN text_tsv tsvector,
		ADD COLUMN reasoning_tsv tsvector;
	CREATE INDEX messages_text_search ON S.messages USING gin (text_tsv) WHERE text_tsv IS NOT NULL;
	CREATE INDEX messages_reasoning_search ON S.messages USING gin (reasoning_tsv) WHERE reasoning_tsv IS NOT NULL;
	CREATE INDEX messages_unindexed ON S.messages (hid, seq) WHERE role IS NULL;`,

	// 5 → 6. Token budgets (driver.Coster, driver.Compactor).
	//
	// Each message row holds its cost (driver.Cost: cost_text, cost_flat),
	// written by the INSERT that writes the row, and each history's row
	// the sum over the messages it holds, kept by every statement that
	// adds or removes messages, in its own transaction. The sum is of
	// coalesce(cost, 0): a NULL cost is a row nobody measured yet, as for
	// search's role: those written before this version, or by an older
	// chatstore still running during an upgrade (which adds nothing to
	// the sum). A store that opens measures them (measureExisting), finding
	// them along messages_unmeasured, which holds no entry for the rows it
	// writes. Adding the columns rewrites nothing: they are NULL, and the
	// histories' sums are a default.
	//
	// chatstore_schema.counter names the counter (chatstore.Options.
	// Tokenizer) the costs are of; NULL until the first store that opens
	// has measured every row. A store that opens with another measures
	// every row again, then records its own.
	//
	// A compaction record (driver.Compaction) belongs to its history's
	// row: n numbers a history's records in the order they were made (the
	// newest is the greatest), and ON DELETE CASCADE removes them with the
	// row, whatever deletes it. A record is only ever inserted with its
	// history's row locked, where the foreign key's check costs nothing.
	`ALTER TABLE S.chatstore_schema ADD COLUMN counter text;
	ALTER TABLE S.messages
		ADD COLUMN cost_text bigint,
		ADD COLUMN cost_flat bigint;
	ALTER TABLE S.histories
		ADD COLUMN cost_text bigint NOT NULL DEFAULT 0,
		ADD COLUMN cost_flat bigint NOT NULL DEFAULT 0;
	CREATE INDEX messages_unmeasured ON S.messages (hid, seq) WHERE cost_text IS NULL;
	CREATE TABLE S.compactions (
		hid         bigint NOT NULL REFERENCES S.histories (hid) ON DELETE CASCADE,
		n           bigint NOT NULL,
		through     text NOT NULL,
		through_pos bigint NOT NULL,
		body        jsonb NOT NULL,
		cost_text   bigint NOT NULL,
		cost_flat   bigint NOT NULL,
		created_at  bigint NOT NULL,
		PRIMARY KEY (hid, n)
	);`,

	// 6 → 7. Expiry (driver.Expirer). A history's row holds its own
	// expiry, as SetExpiry sets it: ttl, a sliding time to live in
	// milliseconds, or fixed_at, a fixed time of expiry in Unix
	// milliseconds (0 for none of either); and expires_at, when it
	// expires (0 for never), worked out (expiresAt, which mirrors
	// driver.ExpiresAt) from them, its updated_at and the default TTL
	// that the process's Policy gives its id, by every statement that
	// changes the history. Each read checks expires_at against the
	// Store's clock in the statement that reads the history's row anyway
	// (live), so that an expired history is gone for reads before Sweep
	// removes it.
	//
	// histories_by_expiry is partial: it holds the histories that
	// expire, in the order Sweep takes them, and none of those that
	// never do (expires_at stays 0), whose writes so maintain no entry
	// in it. Adding columns with a constant default rewrites nothing:
	// every history of an earlier version has no expiry.
	`ALTER TABLE S.histories
		ADD COLUMN ttl bigint NOT NULL DEFAULT 0,
		ADD COLUMN fixed_at bigint NOT NULL DEFAULT 0,
		ADD COLUMN expires_at bigint NOT NULL DEFAULT 0;
	CREATE INDEX histories_by_expiry ON S.histories (expires_at) WHERE expires_at > 0;`,
}

var schemaVersion = len(migrations)

// searchVersion is the first version with the columns of full-text search,
// and costVersion the first with costs and compaction records.
const (
	searchVersion = 5
	costVersion   = 6
)

// migrate creates the schema and brings it to version target (schemaVersion
// but in tests) in one transaction, under an advisory lock on the schema's
// name, so that several servers starting together do not race: the others
// wait, then find nothing to do.
func (s *Store) migrate(ctx context.Context, name string, target int) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", "chatstore schema "+name); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+s.schema+"; CREATE TABLE IF NOT EXISTS "+s.schema+".chatstore_schema (version int NOT NULL)"); err != nil {
		return err
	}
	var version int
	err = tx.QueryRow(ctx, "SELECT version FROM "+s.schema+".chatstore_schema").Scan(&version)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if _, err := tx.Exec(ctx, "INSERT INTO "+s.schema+".chatstore_schema VALUES (0)"); err != nil {
			return err
		}
	case err != nil:
		return err
	case version > schemaVersion:
		return fmt.Errorf("%w: schema version %d was written by a newer chatstore; this one reads up to version %d", chatstore.ErrIncompatibleSchema, version, schemaVersion)
	}
	for v := version; v < target; v++ {
		if _, err := tx.Exec(ctx, strings.ReplaceAll(migrations[v], "S.", s.schema+".")); err != nil {
			return fmt.Errorf("migrating from version %d to %d: %w", v, v+1, err)
		}
	}
	if version < target {
		if _, err := tx.Exec(ctx, "UPDATE "+s.schema+".chatstore_schema SET version = $1", target); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

// queries holds the statements with the schema filled in.
type queries struct {
	count, tailPage, tailAll, rangeQ, before, deleteHistory, deletePrefix, deleteAll, list        string
	deleteHids                                                                                    string
	newHistory, lockHistory, held, insertMessages, updateHistory, guardedWrite, guardedWriteOne   string
	heldKey, recordKey, guardedKeyed, guardedKeyedOne                                             string
	create, createOne, createKeyed, createKeyedOne                                                string
	info, message, deleteMessage, truncate, lockEdit, setMetadata, pairs, touch                   string
	forkRow, forkCopy, backfill                                                                   string
	compact, compactions, tailUncompacted, tailBare, lockMeasured, measured, remeasureCompactions string
	purge, setExpiry, lockSweep, sweep                                                            string
}

// msgCols are the columns a read returns for a message, from messages m:
// driver.Message's Pos, Kind, ID, JSON, CreatedAt, Cost. A row nobody
// measured yet (see migration 5 → 6) costs nothing until a store opens.
const msgCols = "m.seq, m.kind, coalesce(m.message_id, m.seq::text), m.body, coalesce(m.created_at, 0), coalesce(m.cost_text, 0), coalesce(m.cost_flat, 0)"

// tailCols are msgCols of tailUncompacted, whose row m may be missing
// (NULL): its position is then -1 if the history h has compaction
// records (compactedPos) and -2 if it has no messages (emptyPos), its
// body NULL, its id empty and its other columns 0. tailBareCols are its
// first four, for tailBare: the position, kind, id and body.
const (
	tailBareCols = "coalesce(m.seq, CASE WHEN h.compacted THEN -1 ELSE -2 END), coalesce(m.kind, 0), coalesce(m.message_id, m.seq::text, ''), m.body"
	tailCols     = tailBareCols + ", coalesce(m.created_at, 0), coalesce(m.cost_text, 0), coalesce(m.cost_flat, 0)"
)

// infoCols are the columns of a driver.Info from histories h: Count,
// CreatedAt, UpdatedAt, Metadata, Cost, Expiry, ExpiresAt.
const infoCols = "h.count, h.created_at, h.updated_at, " + metaOf + ", h.cost_text, h.cost_flat, h.ttl, h.fixed_at, h.expires_at"

// live is the condition that history h (a row's name) has not expired at
// $n, the Store's clock (driver.Expired, negated): each read of a
// history's row holds it, so that an expired history is hidden in the
// statement that reads it anyway, at no cost of its own.
func live(h string, n int) string {
	return fmt.Sprintf("(%[1]s.expires_at = 0 OR %[1]s.expires_at > $%[2]d)", h, n)
}

// checkedAt is the time by the Store's clock at which a change checks
// whether a history has expired: $n, the Store's time when the change was
// sent, plus the time its transaction has taken on the server so far. A
// change may wait for the history's row lock, and the history may expire
// meanwhile: reads then see it gone, so the change must not find it alive
// and renew it (bringing its messages back). clock_timestamp() is read
// each time the condition is evaluated, and a guard is evaluated again
// after a lock wait. It assumes the Store's clock and the server's run at
// one rate, as real clocks do; a test clock that jumps is not followed.
func checkedAt(n int) string {
	return fmt.Sprintf("($%d + (extract(epoch FROM clock_timestamp() - transaction_timestamp()) * 1000)::bigint)", n)
}

// liveAt is live for a change: the history has not expired at checkedAt.
func liveAt(h string, n int) string {
	return fmt.Sprintf("(%[1]s.expires_at = 0 OR %[1]s.expires_at > %[2]s)", h, checkedAt(n))
}

// expiresAt is when a history expires, as SQL: it mirrors driver.ExpiresAt,
// from the SQL of the history's own fixed time and TTL (the fixed_at and
// ttl columns, or what replaces them), its updated_at after the change,
// and the default TTL of its id (a bigint parameter: the process's
// Policy.TTL). A NULL updated_at (no history) never expires.
func expiresAt(fixed, ttl, updated, defaultTTL string) string {
	return "coalesce(CASE WHEN " + fixed + " > 0 THEN " + fixed + " WHEN " + ttl + " > 0 THEN " + updated + " + " + ttl +
		" WHEN " + defaultTTL + " > 0 THEN " + updated + " + " + defaultTTL + " END, 0)"
}

// deleteHistories deletes the histories whose rows meet cond, with their
// messages (and so their search entries), metadata and idempotency keys,
// and their compaction records by the foreign key's cascade, in one
// statement; it answers how many histories it deleted and the messages
// they held.
func deleteHistories(cond string) string {
	return "WITH h AS (DELETE FROM S.histories WHERE " + cond + " RETURNING hid, count), " +
		"m AS (DELETE FROM S.messages WHERE hid IN (SELECT hid FROM h)), " +
		"d AS (DELETE FROM S.metadata WHERE hid IN (SELECT hid FROM h)), " +
		"k AS (DELETE FROM S.idempotency_keys WHERE hid IN (SELECT hid FROM h)) " +
		"SELECT count(*), coalesce(sum(count), 0) FROM h"
}

// byID is the condition on messages m of history hid (an expression of an
// outer row: h.hid, s.hid) that its id is $n, with $n+1 the position the
// id names if it is a decimal one (-1 otherwise): ids stored as they are,
// and decimal ids stored as NULL beside the position they name. The
// position is looked up in each index apart (messages_by_id, the primary
// key) and the message then found by it: the same condition written as an
// OR of the two is planned as a scan of all the history's messages, 400 ms
// for a history of a million.
func byID(hid string, n int) string {
	return fmt.Sprintf("m.hid = %[1]s AND m.seq = (SELECT x.seq FROM ("+
		"(SELECT seq FROM S.messages WHERE hid = %[1]s AND message_id = $%[2]d) UNION ALL "+
		"(SELECT seq FROM S.messages WHERE hid = %[1]s AND message_id IS NULL AND seq = $%[3]d)) x LIMIT 1)", hid, n, n+1)
}

// metaOf is a history's metadata as a jsonb object, {} if none.
const metaOf = "coalesce((SELECT jsonb_object_agg(x.key, x.value) FROM S.metadata x WHERE x.hid = h.hid), '{}')"

// makeQueries writes the statements for the quoted schema. With ix.on,
// writes index their messages (see migration 4 → 5).
func makeQueries(schema string, ix indexing) queries {
	r := strings.NewReplacer("S.", schema+".")
	// The parameters of a guarded write's rows, from $14 on (rowsFrom);
	// a keyed write's key is in the four after them.
	key := rowsFrom + ix.rowParams()
	uncompacted := func(cols string) string {
		return r.Replace("SELECT h.count, " + cols + " " +
			"FROM (SELECT x.hid, x.count, EXISTS (SELECT FROM S.compactions k WHERE k.hid = x.hid) AS compacted FROM S.histories x WHERE x.name = $1 AND " + live("x", 4) + " OFFSET 0) h " +
			"LEFT JOIN LATERAL (SELECT * FROM S.messages m WHERE m.hid = h.hid AND m.seq < $2 AND NOT h.compacted ORDER BY m.seq DESC LIMIT $3) m ON true")
	}
	return queries{
		// Every read of a history takes the Store's clock as its last
		// parameter, for live.
		count: r.Replace("SELECT count FROM S.histories h WHERE h.name = $1 AND " + live("h", 2)),
		// A history's count and its newest messages, newest first, in
		// one statement (one snapshot), for driver.LastRounds. An ordered
		// walk of the primary key is the only reasonable plan for this
		// shape, whatever the statistics: a version that found the start
		// in SQL got, once PostgreSQL cached a generic plan made while
		// histories were small, a plan that read a large history whole.
		tailPage: r.Replace("SELECT h.count, " + msgCols + " " +
			"FROM S.histories h CROSS JOIN LATERAL (SELECT * FROM S.messages m WHERE m.hid = h.hid AND m.seq < $2 ORDER BY m.seq DESC LIMIT $3) m " +
			"WHERE h.name = $1 AND " + live("h", 4)),
		// tailPage for driver.CompactionTailer: the same of a history
		// without compaction records, and, of one with, only a row at
		// position -1, in one statement (one snapshot). Whether it has
		// any is one probe of the records' primary key, made once (the
		// OFFSET 0 keeps the subquery whole), so a read of the common
		// history, which has none, stays one statement and reads what it
		// did. The messages are a LEFT JOIN, which gives the history's
		// row alone (m's columns NULL) when it has compaction records or
		// no messages: tailCols make that row position -1 or -2. (A
		// UNION ALL of the page and a row for the records took 3% longer,
		// measured paired: docs/BENCHMARKS.md.)
		tailUncompacted: uncompacted(tailCols),
		// tailUncompacted without the times and costs, for a read
		// that uses neither (driver.Span.Bare): 2–7% faster, measured
		// paired (docs/BENCHMARKS.md).
		tailBare: uncompacted(tailBareCols),
		tailAll:  r.Replace("SELECT " + msgCols + " FROM S.histories h JOIN S.messages m ON m.hid = h.hid WHERE h.name = $1 AND " + live("h", 2) + " ORDER BY m.seq"),
		rangeQ: r.Replace("SELECT " + msgCols + " FROM S.histories h JOIN S.messages m ON m.hid = h.hid " +
			"WHERE h.name = $1 AND " + live("h", 5) + " AND m.seq >= $2 ORDER BY m.seq LIMIT $3 OFFSET $4"),
		// The last $3 messages before position $2, newest first: an
		// ordered walk of the primary key back from $2, as tailPage.
		before: r.Replace("SELECT " + msgCols + " FROM S.histories h CROSS JOIN LATERAL " +
			"(SELECT * FROM S.messages m WHERE m.hid = h.hid AND m.seq < $2 ORDER BY m.seq DESC LIMIT $3) m WHERE h.name = $1 AND " + live("h", 4)),
		// Delete and DeletePrefix lock the rows, then delete those they
		// locked (deleteLocked).
		deleteHistory: r.Replace("SELECT hid FROM S.histories WHERE name = $1 FOR UPDATE"),
		// name is COLLATE "C": byte order, where the ids with a prefix
		// are those from it on that still start with it.
		deletePrefix: r.Replace("SELECT hid FROM S.histories WHERE name >= $1 AND starts_with(name, $1) FOR UPDATE"),
		deleteHids:   r.Replace(deleteHistories("hid = ANY($1)")),
		deleteAll:    r.Replace("TRUNCATE S.messages, S.histories, S.idempotency_keys, S.metadata, S.compactions"),
		list:         r.Replace("SELECT h.name, h.count FROM S.histories h WHERE h.name > $1 AND h.count > 0 AND " + live("h", 3) + " ORDER BY h.name LIMIT $2"),
		// The history is created if needed (without touching an existing
		// row), then its row is locked until the transaction ends: writers
		// on one history take turns there, writers on others do not wait.
		newHistory:  r.Replace("INSERT INTO S.histories (name) VALUES ($1) ON CONFLICT (name) DO NOTHING"),
		lockHistory: r.Replace("SELECT hid, count, rounds, caller_ids, next_seq FROM S.histories WHERE name = $1 FOR UPDATE"),
		// Ids stored as they are, and decimal ids stored as NULL beside
		// the position they name.
		held: r.Replace("SELECT message_id FROM S.messages WHERE hid = $1 AND message_id = ANY($2) " +
			"UNION ALL SELECT seq::text FROM S.messages WHERE hid = $1 AND message_id IS NULL AND seq = ANY($3)"),
		// All rows of a write in one statement, whatever their number.
		insertMessages: r.Replace(ix.insert("$1") + ix.rows(2, false)),
		// $2-$8: the history's new count, rounds closed by the write,
		// caller_ids, next_seq, the write's time (NULL if it stores
		// nothing, which then creates nothing and changes no time:
		// greatest ignores NULLs), and the sum of its rows' costs; $9
		// the default TTL of its id.
		updateHistory: r.Replace("UPDATE S.histories SET " + setState("$9") + " WHERE hid = $1"),
		// A whole write as one statement, hence one transaction without
		// BEGIN or COMMIT: move the history's row from the state $9-$11
		// (count, caller_ids, next_seq) the write was planned from to the
		// new one (as updateHistory's $2-$8, $13 the default TTL), which
		// also locks it, and insert the rows. If the row is not in that
		// state, or the history has expired at $12 (the Store's clock;
		// Write then purges it with the row locked), nothing is
		// inserted and the final division by zero rolls the statement back,
		// which tells Write to start again with the row locked. The state
		// never comes back once left: next_seq only grows, and at one
		// next_seq count only falls (deletions); a deleted history's row
		// comes back with another hid.
		guardedWrite: guarded(r, ix, ix.rows(rowsFrom, false)),
		// The same for the most common write, one message: scalar
		// parameters cost pgx far less client CPU to encode than arrays.
		guardedWriteOne: guarded(r, ix, ix.rows(rowsFrom, true)),

		// Keyed writes. With the row locked, whether the history holds
		// key $2, unexpired: a statement of its own after the one that
		// locks, so that its snapshot sees what the writer that held the
		// lock before committed (a join in the locking statement would not).
		heldKey: r.Replace("SELECT k.fingerprint, k.written FROM S.histories h JOIN S.idempotency_keys k ON k.hid = h.hid " +
			"WHERE h.name = $1 AND k.key = $2 AND k.expires_at > now()"),
		// Record key $2 of history $1 with the write's fingerprint $3 and
		// count $4 for $5 microseconds, replacing an expired record of it,
		// and delete up to 16 of the history's other expired keys, oldest
		// first, along keys_by_expiry. Only with the row locked and heldKey
		// having found no unexpired record of $2: then a record of $2 can
		// only be an expired one. now() is the transaction's start, the
		// same as heldKey's.
		recordKey: r.Replace("WITH x AS (" + expiredKeys("$1", "$2") + ") " +
			"INSERT INTO S.idempotency_keys (hid, key, fingerprint, written, expires_at) " +
			"VALUES ($1, $2, $3, $4, now() + $5::bigint * interval '1 microsecond') " +
			"ON CONFLICT (hid, key) DO UPDATE SET fingerprint = excluded.fingerprint, written = excluded.written, expires_at = excluded.expires_at"),
		// guardedWrite and guardedWriteOne for a keyed write, with key,
		// fingerprint, count and TTL (microseconds) after the rows.
		guardedKeyed:    guardedKeyed(r, ix, ix.rows(rowsFrom, false), key),
		guardedKeyedOne: guardedKeyed(r, ix, ix.rows(rowsFrom, true), key),

		// A whole write to a new history as one statement (created): the
		// same write as guardedWrite's, planned from the state of a
		// history that holds nothing, to a history that does not exist
		// yet, with its row. It answers the row's hid, or nothing if
		// history $1 has a row already, and then stores nothing.
		create:         created(r, ix, ix.rows(createRowsFrom, false), 0),
		createOne:      created(r, ix, ix.rows(createRowsFrom, true), 0),
		createKeyed:    created(r, ix, ix.rows(createRowsFrom, false), createRowsFrom+ix.rowParams()),
		createKeyedOne: created(r, ix, ix.rows(createRowsFrom, true), createRowsFrom+ix.rowParams()),

		// Editing (driver.Editor).
		info: r.Replace("SELECT " + infoCols + " FROM S.histories h WHERE h.name = $1 AND h.created_at IS NOT NULL AND " + live("h", 2)),
		message: r.Replace("SELECT " + msgCols + " FROM S.histories h JOIN S.messages m ON m.hid = h.hid " +
			"WHERE h.name = $1 AND " + live("h", 4) + " AND " + byID("h.hid", 2)),
		// Edits lock the history's row first, in a statement of their
		// own, so that the edit's statement, whose snapshot is taken
		// after, sees what the writer that held the lock before committed.
		lockEdit: r.Replace("SELECT hid FROM S.histories WHERE name = $1 AND created_at IS NOT NULL FOR UPDATE"),
		// Delete message $2 (position $3 if decimal) of history $1, at
		// time $4 (the Store's clock, by which an expired history is
		// not there), $5 the default TTL of its id; how many were
		// deleted (0 or 1). rounds, which only sizes reads, loses the
		// round the message closed; the cost sum loses its cost.
		deleteMessage: r.Replace("WITH h AS (SELECT hid FROM S.histories x WHERE name = $1 AND created_at IS NOT NULL AND " + liveAt("x", 4) + "), " +
			"d AS (DELETE FROM S.messages m USING h WHERE " + byID("h.hid", 2) + " RETURNING m.kind, m.cost_text, m.cost_flat), " +
			"u AS (UPDATE S.histories SET count = count - 1, rounds = greatest(rounds - (SELECT count(*) FROM d WHERE kind <> 0), 0), updated_at = greatest(updated_at, $4), " + lessDeleted + ", " + renewed("$4", "$5") + " " +
			"WHERE hid = (SELECT hid FROM h) AND EXISTS (SELECT FROM d)) " +
			"SELECT count(*) FROM d"),
		// Delete message $2 (as deleteMessage) and every later one;
		// whether $2 was found, and how many were deleted.
		truncate: r.Replace("WITH h AS (SELECT hid FROM S.histories x WHERE name = $1 AND created_at IS NOT NULL AND " + liveAt("x", 4) + "), " +
			"p AS (SELECT m.seq FROM S.messages m, h WHERE " + byID("h.hid", 2) + "), " +
			"d AS (DELETE FROM S.messages m USING h, p WHERE m.hid = h.hid AND m.seq >= p.seq RETURNING m.kind, m.cost_text, m.cost_flat), " +
			"u AS (UPDATE S.histories SET count = count - (SELECT count(*) FROM d), rounds = greatest(rounds - (SELECT count(*) FROM d WHERE kind <> 0), 0), updated_at = greatest(updated_at, $4), " + lessDeleted + ", " + renewed("$4", "$5") + " " +
			"WHERE hid = (SELECT hid FROM h) AND EXISTS (SELECT FROM p)) " +
			"SELECT (SELECT count(*) FROM p), (SELECT count(*) FROM d)"),
		// Set pairs ($3, $4) and remove keys $2 of history $1 (locked).
		setMetadata: r.Replace("WITH d AS (DELETE FROM S.metadata WHERE hid = $1 AND key = ANY($2)) " +
			"INSERT INTO S.metadata (hid, key, value) SELECT $1, k, v FROM unnest($3::text[], $4::text[]) AS t (k, v) " +
			"ON CONFLICT (hid, key) DO UPDATE SET value = excluded.value"),
		pairs: r.Replace("SELECT count(*) FROM S.metadata WHERE hid = $1"),
		// A metadata change at $2 creates the history if need be; $3 is
		// the default TTL of its id.
		touch: r.Replace("UPDATE S.histories h SET created_at = coalesce(created_at, $2), updated_at = greatest(updated_at, $2), " + renewed("$2", "$3") + " WHERE hid = $1 " +
			"RETURNING " + infoCols),
		// A fork's row, at $2: new, or the row of a history that does not
		// exist (a write's that stored nothing); none if it exists. The
		// row is locked either way.
		forkRow: r.Replace("INSERT INTO S.histories AS h (name, created_at, updated_at) VALUES ($1, $2, $2) " +
			"ON CONFLICT (name) DO UPDATE SET created_at = excluded.created_at, updated_at = excluded.updated_at WHERE h.created_at IS NULL " +
			"RETURNING hid"),
		// Copy history $2's messages, up to and including message $3 (as
		// byID; all of them if $3 is NULL), with their costs, its metadata,
		// and the compaction records whose message (through at
		// through_pos) is among those copied, into the fork $1, and give
		// it the original's counter and the sum of the copies' costs, in
		// one statement: one snapshot of the original, which need not be
		// locked. A fork keeps positions, so a record's through_pos is
		// right in it. An expired original (at $5, the Store's clock) is
		// not there. The fork gets the original's own expiry, and
		// expires by it, or by $6, the default TTL of its id, from its
		// updated_at, which its row has from forkRow. Whether $3 was
		// found, and the fork's state after.
		forkCopy: r.Replace("WITH s AS (SELECT hid, next_seq, caller_ids, ttl, fixed_at FROM S.histories x WHERE name = $2 AND created_at IS NOT NULL AND " + liveAt("x", 5) + "), " +
			"p AS (SELECT m.seq FROM S.messages m, s WHERE " + byID("s.hid", 3) + "), " +
			"c AS (INSERT INTO S.messages (hid, seq, kind, message_id, body, created_at, role, text_tsv, reasoning_tsv, cost_text, cost_flat) " +
			"SELECT $1, m.seq, m.kind, m.message_id, m.body, m.created_at, m.role, m.text_tsv, m.reasoning_tsv, m.cost_text, m.cost_flat FROM S.messages m, s " +
			"WHERE m.hid = s.hid AND ($3::text IS NULL OR m.seq <= (SELECT seq FROM p)) RETURNING kind, cost_text, cost_flat), " +
			"x AS (INSERT INTO S.metadata (hid, key, value) SELECT $1, key, value FROM S.metadata, s WHERE metadata.hid = s.hid), " +
			"k AS (INSERT INTO S.compactions (hid, n, through, through_pos, body, cost_text, cost_flat, created_at) " +
			"SELECT $1, k.n, k.through, k.through_pos, k.body, k.cost_text, k.cost_flat, k.created_at FROM S.compactions k, s " +
			"WHERE k.hid = s.hid AND ($3::text IS NULL OR k.through_pos <= (SELECT seq FROM p)) AND EXISTS (SELECT FROM S.messages m " +
			"WHERE m.hid = s.hid AND m.seq = k.through_pos AND coalesce(m.message_id, m.seq::text) = k.through)), " +
			"u AS (UPDATE S.histories h SET count = (SELECT count(*) FROM c), rounds = (SELECT count(*) FROM c WHERE kind <> 0), " +
			"next_seq = coalesce((SELECT next_seq FROM s), 0), caller_ids = coalesce((SELECT caller_ids FROM s), 0), " +
			"cost_text = (SELECT coalesce(sum(cost_text), 0) FROM c), cost_flat = (SELECT coalesce(sum(cost_flat), 0) FROM c), " +
			"ttl = coalesce((SELECT ttl FROM s), 0), fixed_at = coalesce((SELECT fixed_at FROM s), 0), " +
			"expires_at = " + expiresAt("coalesce((SELECT fixed_at FROM s), 0)", "coalesce((SELECT ttl FROM s), 0)", "updated_at", "$6::bigint") + " WHERE hid = $1 " +
			"RETURNING h.count, h.created_at, h.updated_at, h.cost_text, h.cost_flat, h.ttl, h.fixed_at, h.expires_at) " +
			"SELECT (SELECT count(*) FROM p), u.count, u.created_at, u.updated_at, " +
			"coalesce((SELECT jsonb_object_agg(key, value) FROM S.metadata, s WHERE metadata.hid = s.hid), '{}'), u.cost_text, u.cost_flat, u.ttl, u.fixed_at, u.expires_at FROM u"),

		// Compaction records (driver.Compactor). Record compaction ($4
		// body, $5 and $6 its cost, $7 its time) of history $1 (locked) if
		// it holds message $2 at position $3, as the history's newest (n
		// one more than the greatest), keeping the newest $8 (≥ 1): the
		// older ones from the $8th newest of those before go. An
		// expired history (at $9, the Store's clock) is not there; $10
		// is the default TTL of its id. Whether the message was found.
		compact: r.Replace("WITH h AS (SELECT hid FROM S.histories x WHERE name = $1 AND created_at IS NOT NULL AND " + liveAt("x", 9) + "), " +
			"p AS (SELECT h.hid FROM S.messages m JOIN h ON m.hid = h.hid WHERE m.seq = $3 AND coalesce(m.message_id, m.seq::text) = $2), " +
			"i AS (INSERT INTO S.compactions (hid, n, through, through_pos, body, cost_text, cost_flat, created_at) " +
			"SELECT p.hid, coalesce((SELECT max(n) FROM S.compactions k WHERE k.hid = p.hid), 0) + 1, $2, $3, $4::jsonb, $5, $6, $7 FROM p), " +
			"d AS (DELETE FROM S.compactions k USING p WHERE k.hid = p.hid AND " +
			"k.n <= (SELECT n FROM S.compactions WHERE hid = p.hid ORDER BY n DESC OFFSET $8::bigint - 1 LIMIT 1)), " +
			"u AS (UPDATE S.histories SET updated_at = greatest(updated_at, $7), " + renewed("$7", "$10") + " WHERE hid = (SELECT hid FROM p)) " +
			"SELECT count(*) FROM p"),
		// A history's records, newest first.
		compactions: r.Replace("SELECT k.through, k.through_pos, k.body, k.cost_text, k.cost_flat, k.created_at " +
			"FROM S.histories h JOIN S.compactions k ON k.hid = h.hid WHERE h.name = $1 AND " + live("h", 2) + " ORDER BY k.n DESC"),

		// Expiry (driver.Expirer). Delete history $1 if it has expired
		// at $2, with everything it holds, as Delete does: before a
		// write, a metadata change, SetExpiry or a fork makes it anew,
		// in their transaction, once they hold its row's lock (claim),
		// so that this statement's snapshot sees all that the history
		// holds.
		purge: r.Replace(deleteHistories("name = $1 AND expires_at > 0 AND expires_at <= " + checkedAt(2))),
		// Set history $1's (locked) own expiry to TTL $2 or fixed time
		// $3 at time $4, creating it if need be; $5 is the default TTL
		// of its id.
		setExpiry: r.Replace("UPDATE S.histories h SET ttl = $2, fixed_at = $3, created_at = coalesce(created_at, $4), updated_at = greatest(updated_at, $4), " +
			"expires_at = " + expiresAt("$3::bigint", "$2::bigint", "greatest(updated_at, $4)", "$5::bigint") + " WHERE hid = $1 RETURNING " + infoCols),
		// Up to $2 histories expired at $1, the oldest first, along
		// histories_by_expiry, locked in a statement of their own so
		// that sweep's snapshot, taken after, sees all they hold. A row
		// another transaction holds is skipped rather than waited for:
		// sweepers in several processes take disjoint batches, and a
		// history being written is left for a later sweep. A row changed
		// since the statement's snapshot is checked again as it is now
		// (READ COMMITTED's recheck), so a history a write has just
		// renewed is not taken.
		lockSweep: r.Replace("SELECT hid FROM S.histories WHERE expires_at > 0 AND expires_at <= $1 ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED"),
		// Delete the histories $1 (locked by lockSweep) that have expired
		// at $2, as Delete does.
		sweep: r.Replace(deleteHistories("hid = ANY($1) AND expires_at > 0 AND expires_at <= $2")),

		// Index rows written without their index (indexExisting): rows
		// ($1, $2) get role $3 and the tsvectors of texts $4 and $5, or
		// $6 and $7 as made by the client (indexing.tsvector), unless
		// someone indexed them first.
		backfill: r.Replace("UPDATE S.messages m SET role = t.role, " +
			"text_tsv = " + ix.tsvector("t.tv", "t.txt") + ", reasoning_tsv = " + ix.tsvector("t.rv", "t.rsn") + " " +
			"FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) AS t (hid, seq, role, txt, rsn, tv, rv) " +
			"WHERE m.hid = t.hid AND m.seq = t.seq AND m.role IS NULL"),

		// Measuring the rows a store holds (measureExisting). The
		// histories $1 of a batch, locked in order, in a statement of
		// their own, so that measured's snapshot, taken after, sees what
		// the writers and editors that held them committed.
		lockMeasured: r.Replace("SELECT hid FROM S.histories WHERE hid = ANY($1) ORDER BY hid FOR UPDATE"),
		// Rows ($1, $2) cost ($3, $4) now, ($5, $6) more than they did
		// (a NULL cost, in no sum, counting as 0): each history's sum
		// moves by what its rows that are still there moved. The sum of
		// the histories $7, which the measuring reaches for the first
		// time, is first taken again from all their rows (as they were
		// before the statement), so that it is exact whatever it was.
		measured: r.Replace("WITH u AS (UPDATE S.messages m SET cost_text = t.ct, cost_flat = t.cf " +
			"FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[]) AS t (hid, seq, ct, cf, dt, df) " +
			"WHERE m.hid = t.hid AND m.seq = t.seq RETURNING m.hid, t.dt, t.df), " +
			"b AS (SELECT hid, sum(coalesce(cost_text, 0)) AS bt, sum(coalesce(cost_flat, 0)) AS bf FROM S.messages WHERE hid = ANY($7::bigint[]) GROUP BY hid), " +
			"d AS (SELECT hid, sum(dt) AS dt, sum(df) AS df FROM u GROUP BY hid) " +
			"UPDATE S.histories h SET cost_text = (coalesce(b.bt, h.cost_text) + d.dt)::bigint, cost_flat = (coalesce(b.bf, h.cost_flat) + d.df)::bigint " +
			"FROM d LEFT JOIN b ON b.hid = d.hid WHERE h.hid = d.hid"),
		// Compaction records ($1, $2) cost ($3, $4) now.
		remeasureCompactions: r.Replace("UPDATE S.compactions k SET cost_text = t.ct, cost_flat = t.cf " +
			"FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[]) AS t (hid, n, ct, cf) WHERE k.hid = t.hid AND k.n = t.n"),
	}
}

// indexing is how a store's writes index their messages.
type indexing struct {
	on     bool
	config string // the text search configuration, as SQL: an OID cast to regconfig
	// inClient is true when the configuration keeps words as they are
	// (makesLexemes), so that the client may make the tsvector of a text
	// of ASCII words itself (tsvectorOf, split).
	inClient bool
}

// tsvector is the tsvector of a row: tv, made by the client (split), or,
// if that is ”, to_tsvector of the text txt, which is NULL for ”. Both
// ” is NULL: nothing to index.
func (ix indexing) tsvector(tv, txt string) string {
	return "coalesce(nullif(" + tv + ", '')::tsvector, to_tsvector(" + ix.config + ", nullif(" + txt + ", '')))"
}

// rowParams is how many parameters describe a write's rows: seq, kind,
// id, body, created_at, cost (text, flat), and, when indexing, role, text
// and reasoning (each search.IndexText'd).
func (ix indexing) rowParams() int {
	if ix.on {
		return 12
	}
	return 7
}

// rows is the relation t of a write's rows, in parameters from $n on:
// arrays, or with one, the scalars of one row, which cost pgx far less
// client CPU to encode.
func (ix indexing) rows(n int, one bool) string {
	types := []string{"bigint", "smallint", "text", "text", "bigint", "bigint", "bigint", "text", "text", "text", "text", "text"}[:ix.rowParams()]
	names := "seq, kind, id, body, at, ct, cf"
	if ix.on {
		names += ", role, txt, rsn, tv, rv"
	}
	ps := make([]string, len(types))
	for i, t := range types {
		ps[i] = fmt.Sprintf("$%d::%s", n+i, t)
		if !one {
			ps[i] += "[]"
		}
	}
	if one {
		return "(VALUES (" + strings.Join(ps, ", ") + ")) AS t (" + names + ")"
	}
	return "unnest(" + strings.Join(ps, ", ") + ") AS t (" + names + ")"
}

// insert is the start of an INSERT of the rows of t (rows) into history
// hid, up to the FROM to follow. The tsvectors are computed in the
// statement, from the texts; to_tsvector gives NULL for NULL, and nullif
// makes an empty text NULL, so that it has no index entry.
func (ix indexing) insert(hid string) string {
	cols := "hid, seq, kind, message_id, body, created_at, cost_text, cost_flat"
	vals := hid + ", t.seq, t.kind, t.id, t.body::jsonb, t.at, t.ct, t.cf"
	if ix.on {
		cols += ", role, text_tsv, reasoning_tsv"
		vals += ", t.role, " + ix.tsvector("t.tv", "t.txt") + ", " + ix.tsvector("t.rv", "t.rsn")
	}
	return "INSERT INTO S.messages (" + cols + ") SELECT " + vals + " FROM "
}

// setState sets a history's row to the state after a write, as
// queries.updateHistory says, and its expiry from its own and the
// parameter defaultTTL.
func setState(defaultTTL string) string { return state(renewed("$6", defaultTTL)) }

// state is setState with renew, the expires_at it sets.
func state(renew string) string {
	return "count = $2, rounds = rounds + $3, caller_ids = $4, next_seq = $5, created_at = coalesce(created_at, $6), updated_at = greatest(updated_at, $6), " +
		"cost_text = cost_text + $7, cost_flat = cost_flat + $8, " + renew
}

// renewed sets a history's expires_at for a change at time at (a
// parameter), from its own expiry and the parameter defaultTTL, as
// expiresAt does. It reads the row as it was before the UPDATE it is
// part of, hence greatest(updated_at, at): the updated_at the UPDATE
// sets.
func renewed(at, defaultTTL string) string {
	return "expires_at = " + expiresAt("fixed_at", "ttl", "greatest(updated_at, "+at+")", defaultTTL+"::bigint")
}

// lessDeleted takes the costs of the messages a statement deleted (d,
// returning cost_text and cost_flat) from their history's sum.
const lessDeleted = "cost_text = cost_text - (SELECT coalesce(sum(cost_text), 0) FROM d), cost_flat = cost_flat - (SELECT coalesce(sum(cost_flat), 0) FROM d)"

// expiredKeys deletes up to 16 of history hid's expired keys other than
// key, oldest first. A keyed write adds at most one key, so a history's
// keys only grow when it had no expired key left, all its keys unexpired:
// it never holds more keys than it had keyed writes within one window.
func expiredKeys(hid, key string) string {
	return "DELETE FROM S.idempotency_keys WHERE hid = " + hid + " AND key IN (SELECT key FROM S.idempotency_keys " +
		"WHERE hid = " + hid + " AND expires_at <= now() AND key <> " + key + " ORDER BY expires_at LIMIT 16)"
}

// guardCond is the guard of a guarded write: the row is in the state
// $9-$11 the write was planned from, and has not expired at $12.
var guardCond = "hid = $1 AND count = $9 AND caller_ids = $10 AND next_seq = $11 AND " + live("histories", 12)

// guardedState is setState for a guarded write, whose default TTL is $13.
var guardedState = setState("$13")

// guardedReturning is what a guarded write's UPDATE returns: the row's hid,
// and whether the history had expired at checkedAt(12) once its row was
// locked, from the row as the statement's snapshot holds it (a subquery;
// an UPDATE cannot return the row before it changed it). guardCond checks
// expiry too, at $12 (not checkedAt: a volatile condition there cost the
// common write measurably), but PostgreSQL evaluates it, and the SET,
// before it waits for a lock held by a transaction that then leaves the
// row unchanged (one that held it FOR UPDATE), and not again; RETURNING
// is evaluated after. A row that such a transaction did change is checked again
// (guardCond as of the change) and the snapshot's may then say expired
// when the change renewed it: the write is then refused as stale and done
// again with the row locked, which is right either way. A history that
// does not expire after the write (expires_at 0, as RETURNING reads the
// new row) is not looked up again, so that a store without expiry pays
// nothing for this.
var guardedReturning = "RETURNING hid, CASE WHEN expires_at = 0 THEN false ELSE (SELECT " + expiredAt("o", 12) + " FROM S.histories o WHERE o.hid = histories.hid) END AS expired"

// expiredAt is the condition that history h has expired at checkedAt(n).
func expiredAt(h string, n int) string {
	return fmt.Sprintf("(%[1]s.expires_at <> 0 AND %[1]s.expires_at <= %[2]s)", h, checkedAt(n))
}

// expiredMark is the condition that g, a guarded write's updated row, was
// found expired once locked (guardedReturning).
const expiredMark = "g.expired"

// rowsFrom is the first parameter of a guarded write's rows.
const rowsFrom = 14

// guarded is queries.guardedWrite over the rows given by from (ix.rows
// from rowsFrom).
func guarded(r *strings.Replacer, ix indexing, from string) string {
	return r.Replace("WITH g AS (UPDATE S.histories SET " + guardedState + " WHERE " + guardCond + " " + guardedReturning + "), " +
		"i AS (" + ix.insert("g.hid") + "g, " + from + " WHERE NOT " + expiredMark + ") " +
		"SELECT 1 / count(*) FROM g WHERE NOT " + expiredMark)
}

// guardedKeyed is guarded for a keyed write: the same statement also
// records the key ($k to $k+3, as queries.recordKey's $2-$5) and deletes
// some expired keys. The key's record is inserted, or replaces an expired one;
// an unexpired record makes the insert return no row, and the final
// division by zero rolls the whole statement back, as a stale state does:
// Write starts again with the row locked and finds the key with heldKey.
// The row lock comes first: the key's CTEs read g, which locks the row.
func guardedKeyed(r *strings.Replacer, ix indexing, from string, k int) string {
	return r.Replace("WITH g AS (UPDATE S.histories SET " + guardedState + " WHERE " + guardCond + " " + guardedReturning + "), " +
		"i AS (" + ix.insert("g.hid") + "g, " + from + " WHERE NOT " + expiredMark + "), " +
		"k AS (INSERT INTO S.idempotency_keys AS k (hid, key, fingerprint, written, expires_at) " +
		fmt.Sprintf("SELECT g.hid, $%d::text, $%d::text, $%d::integer, now() + $%d::bigint * interval '1 microsecond' FROM g WHERE NOT ", k, k+1, k+2, k+3) + expiredMark + " " +
		"ON CONFLICT (hid, key) DO UPDATE SET fingerprint = excluded.fingerprint, written = excluded.written, expires_at = excluded.expires_at " +
		"WHERE k.expires_at <= now() RETURNING 1), " +
		"x AS (" + expiredKeys("(SELECT hid FROM g)", fmt.Sprintf("$%d", k)) + ") " +
		"SELECT 1 / (SELECT count(*) FROM g WHERE NOT " + expiredMark + ") / (SELECT count(*) FROM k)")
}

// createRowsFrom is the first parameter of the rows of a write that
// creates its history (created).
const createRowsFrom = 10

// created is queries.create over the rows given by from (ix.rows from
// createRowsFrom), and, if key is not 0, records a keyed write's key ($key
// to $key+3, as queries.recordKey's $2-$5). $1 is the history's name;
// $2-$8 its state after the write, as updateHistory's: count, rounds,
// caller_ids, next_seq, the write's time and the sum of its rows' costs;
// $9 the default TTL of its id, by which it expires, as a history without
// an expiry of its own does.
//
// The row is inserted only if the name has none (ON CONFLICT DO NOTHING:
// a row another transaction is inserting is waited for), so the write
// happens only to a history that did not exist, which is exactly the
// state it was planned from: no message, no id, no key, no expiry of its
// own. A name that has a row, live, expired, or left without a history by
// a write that stored nothing, makes the statement insert nothing at all,
// and Write starts again with the row locked.
func created(r *strings.Replacer, ix indexing, from string, key int) string {
	sql := "WITH g AS (INSERT INTO S.histories (name, count, rounds, caller_ids, next_seq, created_at, updated_at, cost_text, cost_flat, expires_at) " +
		"VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, " + expiresAt("0", "0", "$6::bigint", "$9::bigint") + ") " +
		"ON CONFLICT (name) DO NOTHING RETURNING hid), " +
		"i AS (" + ix.insert("g.hid") + "g, " + from + ") "
	if key != 0 {
		sql += fmt.Sprintf(", k AS (INSERT INTO S.idempotency_keys (hid, key, fingerprint, written, expires_at) "+
			"SELECT g.hid, $%d::text, $%d::text, $%d::integer, now() + $%d::bigint * interval '1 microsecond' FROM g) ", key, key+1, key+2, key+3)
	}
	return r.Replace(sql + "SELECT hid FROM g")
}
