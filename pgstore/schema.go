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
	// doubled what a write costs. Reading backwards, driver.TailWalker works
	// the rounds out from the kinds and the history's row.
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
}

var schemaVersion = len(migrations)

// migrate creates the schema and brings it to schemaVersion in one
// transaction, under an advisory lock on the schema's name, so that several
// servers starting together do not race: the others wait, then find nothing
// to do.
func (s *Store) migrate(ctx context.Context, name string) error {
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
	for v := version; v < schemaVersion; v++ {
		if _, err := tx.Exec(ctx, strings.ReplaceAll(migrations[v], "S.", s.schema+".")); err != nil {
			return fmt.Errorf("migrating from version %d to %d: %w", v, v+1, err)
		}
	}
	if version < schemaVersion {
		if _, err := tx.Exec(ctx, "UPDATE "+s.schema+".chatstore_schema SET version = $1", schemaVersion); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

// queries holds the statements with the schema filled in.
type queries struct {
	count, tailPage, tailAll, rangeQ, deleteHistory, deletePrefix, deleteAll, list              string
	newHistory, lockHistory, held, insertMessages, updateHistory, guardedWrite, guardedWriteOne string
}

func makeQueries(schema string) queries {
	r := strings.NewReplacer("S.", schema+".")
	return queries{
		count: r.Replace("SELECT count FROM S.histories WHERE name = $1"),
		// The history's state and its newest messages, newest first, in
		// one statement (one snapshot); Tail walks them back with a
		// driver.TailWalker. An ordered walk of the primary key is the only
		// reasonable plan for this shape, whatever the statistics: a
		// version that found the start in SQL got, once PostgreSQL cached
		// a generic plan made while histories were small, a plan that read
		// a large history whole.
		tailPage: r.Replace("SELECT h.rounds, h.open, m.seq, m.kind, coalesce(m.message_id, m.seq::text), m.body " +
			"FROM S.histories h CROSS JOIN LATERAL (SELECT * FROM S.messages m WHERE m.hid = h.hid AND m.seq < $2 ORDER BY m.seq DESC LIMIT $3) m " +
			"WHERE h.name = $1"),
		tailAll: r.Replace("SELECT coalesce(m.message_id, m.seq::text), m.body FROM S.histories h JOIN S.messages m ON m.hid = h.hid WHERE h.name = $1 ORDER BY m.seq"),
		rangeQ: r.Replace("SELECT coalesce(m.message_id, m.seq::text), m.body FROM S.histories h JOIN S.messages m ON m.hid = h.hid " +
			"WHERE h.name = $1 AND m.seq >= $2 AND m.seq < $3 ORDER BY m.seq"),
		deleteHistory: r.Replace("WITH h AS (DELETE FROM S.histories WHERE name = $1 RETURNING hid) DELETE FROM S.messages WHERE hid IN (SELECT hid FROM h)"),
		// name is COLLATE "C": byte order, where the ids with a prefix
		// are those from it on that still start with it.
		deletePrefix: r.Replace("WITH h AS (DELETE FROM S.histories WHERE name >= $1 AND starts_with(name, $1) RETURNING hid) " +
			"DELETE FROM S.messages WHERE hid IN (SELECT hid FROM h)"),
		deleteAll: r.Replace("TRUNCATE S.messages, S.histories"),
		list:      r.Replace("SELECT name, count FROM S.histories WHERE name > $1 AND count > 0 ORDER BY name LIMIT $2"),
		// The history is created if needed (without touching an existing
		// row), then its row is locked until the transaction ends: writers
		// on one history take turns there, writers on others do not wait.
		newHistory:  r.Replace("INSERT INTO S.histories (name) VALUES ($1) ON CONFLICT (name) DO NOTHING"),
		lockHistory: r.Replace("SELECT hid, count, rounds, open, caller_ids FROM S.histories WHERE name = $1 FOR UPDATE"),
		// Ids stored as they are, and decimal ids stored as NULL beside
		// the position they name.
		held: r.Replace("SELECT message_id FROM S.messages WHERE hid = $1 AND message_id = ANY($2) " +
			"UNION ALL SELECT seq::text FROM S.messages WHERE hid = $1 AND message_id IS NULL AND seq = ANY($3)"),
		// All rows of a write in one statement, whatever their number.
		insertMessages: r.Replace("INSERT INTO S.messages (hid, seq, kind, message_id, body) " +
			"SELECT $1, seq, kind, id, body::jsonb FROM unnest($2::bigint[], $3::smallint[], $4::text[], $5::text[]) AS t (seq, kind, id, body)"),
		updateHistory: r.Replace("UPDATE S.histories SET count = $2, rounds = $3, open = $4, caller_ids = $5, updated_at = now() WHERE hid = $1"),
		// A whole write as one statement, hence one transaction without
		// BEGIN or COMMIT: move the history's row from the state $6-$9 the
		// write was planned from to $2-$5 (which also locks it) and insert
		// the rows. If the row is not in that state, nothing is inserted
		// and the final division by zero rolls the statement back, which
		// tells Write to start again with the row locked.
		guardedWrite: guarded(r, "unnest($10::bigint[], $11::smallint[], $12::text[], $13::text[])"),
		// The same for the most common write, one message: scalar
		// parameters cost pgx far less client CPU to encode than arrays.
		guardedWriteOne: guarded(r, "(VALUES ($10::bigint, $11::smallint, $12::text, $13::text))"),
	}
}

// guarded is queries.guardedWrite over the rows given by from, a relation of
// (seq, kind, id, body) in parameters $10-$13.
func guarded(r *strings.Replacer, from string) string {
	return r.Replace("WITH g AS (UPDATE S.histories SET count = $2, rounds = $3, open = $4, caller_ids = $5, updated_at = now() " +
		"WHERE hid = $1 AND count = $6 AND rounds = $7 AND open = $8 AND caller_ids = $9 RETURNING hid), " +
		"i AS (INSERT INTO S.messages (hid, seq, kind, message_id, body) " +
		"SELECT g.hid, t.seq, t.kind, t.id, t.body::jsonb FROM g, " + from + " AS t (seq, kind, id, body)) " +
		"SELECT 1 / count(*) FROM g")
}
