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
}

var schemaVersion = len(migrations)

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
	count, tailPage, tailAll, rangeQ, deleteHistory, deletePrefix, deleteAll, list              string
	newHistory, lockHistory, held, insertMessages, updateHistory, guardedWrite, guardedWriteOne string
	heldKey, recordKey, guardedKeyed, guardedKeyedOne                                           string
}

func makeQueries(schema string) queries {
	r := strings.NewReplacer("S.", schema+".")
	return queries{
		count: r.Replace("SELECT count FROM S.histories WHERE name = $1"),
		// A history's count and its newest messages, newest first, in
		// one statement (one snapshot), for driver.LastRounds. An ordered
		// walk of the primary key is the only reasonable plan for this
		// shape, whatever the statistics: a version that found the start
		// in SQL got, once PostgreSQL cached a generic plan made while
		// histories were small, a plan that read a large history whole.
		tailPage: r.Replace("SELECT h.count, m.seq, m.kind, coalesce(m.message_id, m.seq::text), m.body " +
			"FROM S.histories h CROSS JOIN LATERAL (SELECT * FROM S.messages m WHERE m.hid = h.hid AND m.seq < $2 ORDER BY m.seq DESC LIMIT $3) m " +
			"WHERE h.name = $1"),
		tailAll: r.Replace("SELECT m.seq, m.kind, coalesce(m.message_id, m.seq::text), m.body FROM S.histories h JOIN S.messages m ON m.hid = h.hid WHERE h.name = $1 ORDER BY m.seq"),
		rangeQ: r.Replace("SELECT m.seq, m.kind, coalesce(m.message_id, m.seq::text), m.body FROM S.histories h JOIN S.messages m ON m.hid = h.hid " +
			"WHERE h.name = $1 AND m.seq >= $2 ORDER BY m.seq LIMIT $3 OFFSET $4"),
		// A history goes with its messages and its idempotency keys.
		deleteHistory: r.Replace("WITH h AS (DELETE FROM S.histories WHERE name = $1 RETURNING hid), " +
			"m AS (DELETE FROM S.messages WHERE hid IN (SELECT hid FROM h)) " +
			"DELETE FROM S.idempotency_keys WHERE hid IN (SELECT hid FROM h)"),
		// name is COLLATE "C": byte order, where the ids with a prefix
		// are those from it on that still start with it.
		deletePrefix: r.Replace("WITH h AS (DELETE FROM S.histories WHERE name >= $1 AND starts_with(name, $1) RETURNING hid), " +
			"m AS (DELETE FROM S.messages WHERE hid IN (SELECT hid FROM h)) " +
			"DELETE FROM S.idempotency_keys WHERE hid IN (SELECT hid FROM h)"),
		deleteAll: r.Replace("TRUNCATE S.messages, S.histories, S.idempotency_keys"),
		list:      r.Replace("SELECT name, count FROM S.histories WHERE name > $1 AND count > 0 ORDER BY name LIMIT $2"),
		// The history is created if needed (without touching an existing
		// row), then its row is locked until the transaction ends: writers
		// on one history take turns there, writers on others do not wait.
		newHistory:  r.Replace("INSERT INTO S.histories (name) VALUES ($1) ON CONFLICT (name) DO NOTHING"),
		lockHistory: r.Replace("SELECT hid, count, rounds, caller_ids FROM S.histories WHERE name = $1 FOR UPDATE"),
		// Ids stored as they are, and decimal ids stored as NULL beside
		// the position they name.
		held: r.Replace("SELECT message_id FROM S.messages WHERE hid = $1 AND message_id = ANY($2) " +
			"UNION ALL SELECT seq::text FROM S.messages WHERE hid = $1 AND message_id IS NULL AND seq = ANY($3)"),
		// All rows of a write in one statement, whatever their number.
		insertMessages: r.Replace("INSERT INTO S.messages (hid, seq, kind, message_id, body) " +
			"SELECT $1, seq, kind, id, body::jsonb FROM unnest($2::bigint[], $3::smallint[], $4::text[], $5::text[]) AS t (seq, kind, id, body)"),
		updateHistory: r.Replace("UPDATE S.histories SET count = $2, rounds = rounds + $3, caller_ids = $4, updated_at = now() WHERE hid = $1"),
		// A whole write as one statement, hence one transaction without
		// BEGIN or COMMIT: move the history's row from the state $5-$6
		// (count, caller_ids) the write was planned from to $2-$4 (count,
		// rounds closed by the write, caller_ids), which also locks it,
		// and insert the rows. If the row is not in that state, nothing is inserted
		// and the final division by zero rolls the statement back, which
		// tells Write to start again with the row locked.
		guardedWrite: guarded(r, "unnest($7::bigint[], $8::smallint[], $9::text[], $10::text[])"),
		// The same for the most common write, one message: scalar
		// parameters cost pgx far less client CPU to encode than arrays.
		guardedWriteOne: guarded(r, "(VALUES ($7::bigint, $8::smallint, $9::text, $10::text))"),

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
		// guardedWrite and guardedWriteOne for a keyed write, with key
		// $11, fingerprint $12, count $13, TTL $14 (microseconds).
		guardedKeyed:    guardedKeyed(r, "unnest($7::bigint[], $8::smallint[], $9::text[], $10::text[])"),
		guardedKeyedOne: guardedKeyed(r, "(VALUES ($7::bigint, $8::smallint, $9::text, $10::text))"),
	}
}

// expiredKeys deletes up to 16 of history hid's expired keys other than
// key, oldest first. A keyed write adds at most one key, so a history's
// keys only grow when it had no expired key left, all its keys unexpired:
// it never holds more keys than it had keyed writes within one window.
func expiredKeys(hid, key string) string {
	return "DELETE FROM S.idempotency_keys WHERE hid = " + hid + " AND key IN (SELECT key FROM S.idempotency_keys " +
		"WHERE hid = " + hid + " AND expires_at <= now() AND key <> " + key + " ORDER BY expires_at LIMIT 16)"
}

// guarded is queries.guardedWrite over the rows given by from, a relation of
// (seq, kind, id, body) in parameters $7-$10.
func guarded(r *strings.Replacer, from string) string {
	return r.Replace("WITH g AS (UPDATE S.histories SET count = $2, rounds = rounds + $3, caller_ids = $4, updated_at = now() " +
		"WHERE hid = $1 AND count = $5 AND caller_ids = $6 RETURNING hid), " +
		"i AS (INSERT INTO S.messages (hid, seq, kind, message_id, body) " +
		"SELECT g.hid, t.seq, t.kind, t.id, t.body::jsonb FROM g, " + from + " AS t (seq, kind, id, body)) " +
		"SELECT 1 / count(*) FROM g")
}

// guardedKeyed is guarded for a keyed write: the same statement also
// records the key ($11-$14, as queries.recordKey's $2-$5) and deletes some
// expired keys. The key's record is inserted, or replaces an expired one;
// an unexpired record makes the insert return no row, and the final
// division by zero rolls the whole statement back, as a stale state does:
// Write starts again with the row locked and finds the key with heldKey.
// The row lock comes first: the key's CTEs read g, which locks the row.
func guardedKeyed(r *strings.Replacer, from string) string {
	return r.Replace("WITH g AS (UPDATE S.histories SET count = $2, rounds = rounds + $3, caller_ids = $4, updated_at = now() " +
		"WHERE hid = $1 AND count = $5 AND caller_ids = $6 RETURNING hid), " +
		"i AS (INSERT INTO S.messages (hid, seq, kind, message_id, body) " +
		"SELECT g.hid, t.seq, t.kind, t.id, t.body::jsonb FROM g, " + from + " AS t (seq, kind, id, body)), " +
		"k AS (INSERT INTO S.idempotency_keys AS k (hid, key, fingerprint, written, expires_at) " +
		"SELECT g.hid, $11::text, $12::text, $13::integer, now() + $14::bigint * interval '1 microsecond' FROM g " +
		"ON CONFLICT (hid, key) DO UPDATE SET fingerprint = excluded.fingerprint, written = excluded.written, expires_at = excluded.expires_at " +
		"WHERE k.expires_at <= now() RETURNING 1), " +
		"x AS (" + expiredKeys("(SELECT hid FROM g)", "$11") + ") " +
		"SELECT 1 / (SELECT count(*) FROM g) / (SELECT count(*) FROM k)")
}
