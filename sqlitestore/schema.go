package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/chatstore/chatstore"
)

// applicationID marks a SQLite file as chatstore's ("chst"), so that opening
// some other application's database is refused instead of "migrated".
const applicationID = 0x63687374

// migrations[i] brings a database from schema version i to i+1. The version
// is SQLite's user_version. Append only: a released step never changes.
var migrations = []string{
	// 0 → 1: histories and their messages. A message row holds the
	// message's JSON in Haystack's format (without chat_message_id), its
	// position in the history (seq) and its round.
	//
	// A write touches one B-tree in the common case:
	//   - each row carries the history's bookkeeping (rounds, open round,
	//     caller ids) as of the write that stored it, so the newest row is
	//     the history's state and no separate row is updated per write;
	//     the message count is the newest seq + 1;
	//   - message_id is NULL when the id is the decimal string of seq, which
	//     is every id chatstore generates in a history that never stored a
	//     caller's id; only other ids are in the (partial) unique index;
	//   - there is no index on round: the last rounds are found by walking
	//     the primary key backwards (see tailSQL).
	`CREATE TABLE histories (
		hid  INTEGER PRIMARY KEY,
		name TEXT NOT NULL UNIQUE
	);
	CREATE TABLE messages (
		hid        INTEGER NOT NULL REFERENCES histories (hid) ON DELETE CASCADE,
		seq        INTEGER NOT NULL,
		round      INTEGER NOT NULL,
		-- 1 for a message that is a round of its own (a system message)
		own_round  INTEGER NOT NULL,
		message_id TEXT,
		body       TEXT NOT NULL,
		-- the history after the write that stored this row:
		rounds     INTEGER NOT NULL, -- rounds closed
		open       INTEGER NOT NULL, -- messages in the open round
		open_start INTEGER NOT NULL, -- seq of the open round's first message
		caller_ids INTEGER NOT NULL, -- messages stored with a caller's id
		PRIMARY KEY (hid, seq)
	) WITHOUT ROWID;
	CREATE UNIQUE INDEX messages_by_id ON messages (hid, message_id) WHERE message_id IS NOT NULL;`,

	// 1 → 2: when each history was created, in milliseconds since the Unix
	// epoch, for listings that show it.
	`ALTER TABLE histories ADD COLUMN created_at INTEGER NOT NULL DEFAULT 0;`,

	// 2 → 3: the idempotency keys of keyed writes (driver.KeyedWriter),
	// with what the write returned, until expires_at (milliseconds since
	// the Unix epoch). The second index finds a history's expired keys,
	// which each keyed write to it purges a few at a time.
	`CREATE TABLE idempotency_keys (
		hid         INTEGER NOT NULL REFERENCES histories (hid) ON DELETE CASCADE,
		key         TEXT NOT NULL,
		fingerprint TEXT NOT NULL,
		written     INTEGER NOT NULL,
		expires_at  INTEGER NOT NULL,
		PRIMARY KEY (hid, key)
	) WITHOUT ROWID;
	CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (hid, expires_at);`,

	// 3 → 4: a message row stores its kind (driver.Kind: 0 joins a round,
	// 1 closes it, 2 is a round by itself) instead of its round number, and
	// rows no longer carry the round bookkeeping (rounds, open, open_start):
	// rounds are worked out from the kinds when a history is read
	// (driver.LastRounds), so a write never updates the rows of the round
	// it closes, and removing a message needs no renumbering. The kinds
	// come from what the rows held: own_round marks a message that is a
	// round by itself, and the newest other message of a closed round (not
	// the open one, math.MaxInt64) is the one that closed it.
	`ALTER TABLE messages ADD COLUMN kind INTEGER NOT NULL DEFAULT 0;
	UPDATE messages SET kind = 2 WHERE own_round = 1;
	UPDATE messages SET kind = 1 WHERE (hid, seq) IN (SELECT hid, max(seq) FROM messages
		WHERE own_round = 0 AND round <> 9223372036854775807 GROUP BY hid, round);
	ALTER TABLE messages DROP COLUMN round;
	ALTER TABLE messages DROP COLUMN own_round;
	ALTER TABLE messages DROP COLUMN rounds;
	ALTER TABLE messages DROP COLUMN open;
	ALTER TABLE messages DROP COLUMN open_start;`,

	// 4 → 5: histories that can be edited (driver.Editor). Once messages
	// can be deleted or truncated, the newest message row no longer tells
	// a history's count or its next position, so the bookkeeping moves to
	// the history's row: count (messages held), next_seq (the position
	// counter, which never goes back, so a generated id is never reused),
	// caller_ids (messages written with a caller's id: lookups then query
	// the ids; so do they once count < next_seq) and updated_at. A history
	// exists exactly while its row does: a write creates the row only if it
	// stores a message, metadata or a fork creates it, and truncating to
	// nothing keeps it. Rows without messages were invisible before and
	// are deleted; the others get the migration's time as created_at when
	// they had none (before version 2) and as updated_at. Each message row
	// gets its created_at (0 for those written before), and metadata pairs
	// get a table of their own, indexed by (key, value) to find a user's
	// histories without scanning them all.
	`ALTER TABLE histories ADD COLUMN count INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE histories ADD COLUMN next_seq INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE histories ADD COLUMN caller_ids INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE histories ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;
	DELETE FROM histories WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.hid = histories.hid);
	UPDATE histories SET (count, next_seq, caller_ids) =
		(SELECT m.seq + 1, m.seq + 1, m.caller_ids FROM messages m WHERE m.hid = histories.hid ORDER BY m.seq DESC LIMIT 1);
	UPDATE histories SET updated_at = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER);
	UPDATE histories SET created_at = updated_at WHERE created_at = 0;
	ALTER TABLE messages DROP COLUMN caller_ids;
	ALTER TABLE messages ADD COLUMN created_at INTEGER NOT NULL DEFAULT 0;
	CREATE INDEX histories_by_updated ON histories (updated_at DESC, name);
	CREATE TABLE metadata (
		hid   INTEGER NOT NULL REFERENCES histories (hid) ON DELETE CASCADE,
		key   TEXT NOT NULL,
		value TEXT NOT NULL,
		PRIMARY KEY (hid, key)
	) WITHOUT ROWID;
	CREATE INDEX metadata_by_pair ON metadata (key, value, hid);`,

	// 5 → 6: the full-text index of Search (search.go). One row per
	// message that has words, keyed by (hid << 32) + seq, so that it needs
	// no key of its own in messages (a WITHOUT ROWID table) and a message's
	// row is found from its index row by primary key. Its columns are
	// search.IndexText of the message's text and of its reasoning: tokens
	// already folded, separated by spaces, which FTS5's ascii tokenizer
	// splits at the spaces and nowhere else, changing nothing (it folds
	// only A-Z, which tokens never hold), so that FTS5's tokens are exactly
	// package search's in every script; unicode61 would fold and split
	// again by tables of its own (a Devanagari word at its vowel signs).
	// Contentless, the text is not stored twice; contentless_delete lets a
	// row be deleted by its key alone, which the trigger does whenever a
	// message row goes, however it goes: DeleteMessage, Truncate, and the
	// ON DELETE CASCADE of Delete, DeletePrefix and DeleteAll. Rows are
	// added in Go, with the messages (Record.Doc); Open fills the index
	// from the stored messages in the transaction of this step, and drops
	// it for a store opened with search=false (see syncIndex).
	`CREATE VIRTUAL TABLE search_index USING fts5 (text, reasoning,
		content = '', contentless_delete = 1, tokenize = 'ascii');
	CREATE TRIGGER search_unindex AFTER DELETE ON messages BEGIN
		DELETE FROM search_index WHERE rowid = (old.hid << 32) + old.seq;
	END;`,

	// 6 → 7: token budgets (driver.Coster, driver.Compactor). Each message
	// row holds its cost (driver.Cost: tok_text, tok_flat), written with
	// it by the INSERT that stores it, and each history row the sum over
	// the messages it holds, kept by the same update of its bookkeeping
	// that keeps its count. The costs are of one counter, whose name is
	// the row 'counter' of settings (the file's own settings, not a
	// history's metadata); Open measures every message again, in its
	// migration's transaction, when that row is not the counter it is
	// opened with, or is missing, as it is right after this step: the
	// zeros it gives the old rows are never served (see syncCosts).
	// compactions holds a history's compaction records, numbered by seq
	// in the order they were recorded (newest highest), and goes with its
	// history by ON DELETE CASCADE.
	`ALTER TABLE messages ADD COLUMN tok_text INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE messages ADD COLUMN tok_flat INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE histories ADD COLUMN tok_text INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE histories ADD COLUMN tok_flat INTEGER NOT NULL DEFAULT 0;
	CREATE TABLE settings (
		key   TEXT PRIMARY KEY,
		value TEXT NOT NULL
	) WITHOUT ROWID;
	CREATE TABLE compactions (
		hid         INTEGER NOT NULL REFERENCES histories (hid) ON DELETE CASCADE,
		seq         INTEGER NOT NULL,
		through     TEXT NOT NULL,    -- the id of the newest message it covers
		through_pos INTEGER NOT NULL, -- that message's seq when it was recorded
		body        TEXT NOT NULL,    -- the summary message's JSON
		tok_text    INTEGER NOT NULL,
		tok_flat    INTEGER NOT NULL,
		created_at  INTEGER NOT NULL,
		PRIMARY KEY (hid, seq)
	) WITHOUT ROWID;`,

	// 7 → 8: expiry (driver.Expirer). Each history row holds its own
	// expiry (driver.Expiry: ttl, a sliding time to live in milliseconds,
	// or fixed_at, a fixed time; 0 for none) and expires_at, the time it
	// expires as driver.ExpiresAt worked it out at its last change, with
	// the default TTL of that moment (0 for never). Reads compare
	// expires_at with the time in the statement that looks the history up
	// anyway, so hiding an expired history costs no statement; the partial
	// index holds only the histories that expire, in the order Sweep takes
	// them. Existing histories get no expiry until their next change.
	`ALTER TABLE histories ADD COLUMN ttl INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE histories ADD COLUMN fixed_at INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE histories ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 0;
	CREATE INDEX histories_by_expiry ON histories (expires_at) WHERE expires_at > 0;`,

	// 8 → 9: the search index is kept up to date after writes, not in
	// them (see unindexedSQL in index.go). A row of unindexed says that
	// history hid holds messages, from position from_seq on, that the
	// index has yet to get; a write adds it (or leaves the one there),
	// and indexing removes it. Updating an FTS5 index cost a
	// single-message write three times the rest of its work (a new
	// segment, then merging it), while a row here costs nothing once the
	// history has one. It goes with its history by ON DELETE CASCADE. A
	// file of version 8 has indexed everything: the table starts empty.
	//
	// And the recency index keys histories by updated_at in steps of
	// 1,024 ms, not by updated_at: its entry then changes (a page more in
	// the WAL of every commit, a third of a single-message write's) only
	// when a history's update falls in a later step, not at every write.
	// Lists by recency take the index's order step by step and sort each
	// step's histories by updated_at exactly (Query).
	`CREATE TABLE unindexed (
		hid      INTEGER PRIMARY KEY REFERENCES histories (hid) ON DELETE CASCADE,
		from_seq INTEGER NOT NULL
	);
	DROP INDEX histories_by_updated;
	CREATE INDEX histories_by_recency ON histories ((updated_at >> 10) DESC, name);`,
}

// indexVersion is the schema version that brought the search index: its
// step creates it, and Open creates it again with that step where
// search=false dropped it. A version that changes the index must change
// syncIndex too.
const indexVersion = 6

// unindexedVersion is the schema version that brought the table
// unindexed: from it on, the search index may lag the messages (catchUp).
const unindexedVersion = 9

// costVersion is the schema version that brought the costs of messages:
// from it on, Open makes them the costs of the counter it is opened with
// (syncCosts).
const costVersion = 7

// schemaVersion is the version this code reads and writes.
var schemaVersion = len(migrations)

// migrate brings the database to schemaVersion (or to target, for tests),
// inside one immediate transaction so that processes opening the file at the
// same time do not race: the second waits, then finds nothing to do. At
// indexVersion or later, it also makes the search index what o asks for
// (syncIndex), and at costVersion or later the messages' costs those of
// o's counter (syncCosts), in the same transaction.
func migrate(ctx context.Context, db *sql.DB, target int, o Options) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	// BEGIN IMMEDIATE: take the write lock before reading the version.
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	done := false
	defer func() {
		if !done {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	var version, appID, tables int
	if err := conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return err
	}
	if err := conn.QueryRowContext(ctx, "PRAGMA application_id").Scan(&appID); err != nil {
		return err
	}
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&tables); err != nil {
		return err
	}
	switch {
	case appID == 0 && tables == 0:
		// A new, empty file.
	case appID != applicationID:
		return fmt.Errorf("%w: the file is not a chatstore database (application_id %#x)", chatstore.ErrIncompatibleSchema, appID)
	case version > schemaVersion:
		return fmt.Errorf("%w: the file has schema version %d, written by a newer chatstore; this one reads up to version %d", chatstore.ErrIncompatibleSchema, version, schemaVersion)
	}
	for v := version; v < target; v++ {
		if _, err := conn.ExecContext(ctx, migrations[v]); err != nil {
			return fmt.Errorf("migrating schema from version %d to %d: %w", v, v+1, err)
		}
	}
	if target >= indexVersion {
		if err := syncIndex(ctx, conn, version < indexVersion, target, o); err != nil {
			return fmt.Errorf("search index: %w", err)
		}
	}
	if target >= costVersion {
		if err := syncCosts(ctx, conn, o); err != nil {
			return fmt.Errorf("token costs: %w", err)
		}
	}
	if version < target {
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA application_id = %d; PRAGMA user_version = %d", applicationID, target)); err != nil {
			return err
		}
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return err
	}
	done = true
	return nil
}
