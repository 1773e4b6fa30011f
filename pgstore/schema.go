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
		hid        bigint NOT NULL REFERENCES S.histories (hid) ON DELETE CASCADE,
		seq        bigint NOT NULL,
		round      bigint NOT NULL,
		message_id text NOT NULL,
		body       jsonb NOT NULL,
		PRIMARY KEY (hid, seq)
	);
	CREATE UNIQUE INDEX messages_by_id ON S.messages (hid, message_id);
	CREATE INDEX messages_by_round ON S.messages (hid, round);`,
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
	count, tail, deleteHistory, deleteAll, list                  string
	lockHistory, held, closeRound, insertMessages, updateHistory string
}

// tailFrom is driver.State.TailFrom in SQL over a histories row, for $2
// rounds; TestTailFromSQL holds the two together.
const tailFrom = "greatest(0, rounds - ($2::bigint - (open > 0)::int))"

func makeQueries(schema string) queries {
	r := strings.NewReplacer("S.", schema+".")
	return queries{
		count: r.Replace("SELECT count FROM S.histories WHERE name = $1"),
		// One statement, one snapshot: the history's state and its
		// last rounds, through the (hid, round) index.
		tail: r.Replace("WITH h AS (SELECT hid, " + tailFrom + " AS f FROM S.histories WHERE name = $1) " +
			"SELECT m.message_id, m.body FROM h JOIN S.messages m ON m.hid = h.hid AND m.round >= h.f ORDER BY m.seq"),
		deleteHistory: r.Replace("DELETE FROM S.histories WHERE name = $1"),
		deleteAll:     r.Replace("TRUNCATE S.messages, S.histories"),
		list:          r.Replace("SELECT name, count FROM S.histories WHERE name > $1 AND count > 0 ORDER BY name LIMIT $2"),
		// Creates the history if needed and locks its row until the
		// transaction ends, in one statement: writers on one history
		// take turns here, writers on others do not wait.
		lockHistory: r.Replace("INSERT INTO S.histories AS h (name) VALUES ($1) ON CONFLICT (name) DO UPDATE SET updated_at = now() " +
			"RETURNING h.hid, h.count, h.rounds, h.open, h.caller_ids"),
		held:       r.Replace("SELECT message_id FROM S.messages WHERE hid = $1 AND message_id = ANY($2)"),
		closeRound: r.Replace("UPDATE S.messages SET round = $1 WHERE hid = $2 AND round = $3"),
		// All rows of a write in one statement, whatever their number.
		insertMessages: r.Replace("INSERT INTO S.messages (hid, seq, round, message_id, body) " +
			"SELECT $1, seq, round, id, body::jsonb FROM unnest($2::bigint[], $3::bigint[], $4::text[], $5::text[]) AS t (seq, round, id, body)"),
		updateHistory: r.Replace("UPDATE S.histories SET count = $2, rounds = $3, open = $4, caller_ids = caller_ids + $5 WHERE hid = $1"),
	}
}
