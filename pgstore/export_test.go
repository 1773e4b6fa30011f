package pgstore

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chatstore/chatstore/driver"
)

// SchemaVersion is the version New migrates a schema to.
var SchemaVersion = schemaVersion

// NewAtVersion is New with the schema migrated only up to version, as an
// older chatstore left it.
func NewAtVersion(ctx context.Context, pool *pgxpool.Pool, opts *Options, version int) (*Store, error) {
	return newStore(ctx, pool, opts, version)
}

// RuntimeParams are the run-time settings the store's connections send the
// server.
func RuntimeParams(s *Store) map[string]string {
	return s.pool.Config().ConnConfig.RuntimeParams
}

// SearchSQL is the statement Search runs for q, and its arguments.
func SearchSQL(s *Store, q driver.SearchQuery) (string, []any) { return s.searchSQL(q) }

// TSQuery is q in to_tsquery's language, as Search writes it.
var TSQuery = tsquery

// CutIndexText is cutIndexText.
var CutIndexText = cutIndexText

// IndexBatch is how many rows a store indexes in one transaction when it
// opens.
const IndexBatch = indexBatch

// MeasureBatch is how many rows a store measures in one transaction when
// it opens.
const MeasureBatch = measureBatch

// EditSQL are the statements that find a message by id: Message's, and
// those of DeleteMessage, Truncate and Fork.
func EditSQL(s *Store) map[string]string {
	return map[string]string{"message": s.q.message, "deleteMessage": s.q.deleteMessage, "truncate": s.q.truncate, "forkCopy": s.q.forkCopy}
}

// Position is the position an id names for the statements that take one.
var Position = position

// SweepSQL are the statements of Sweep: the one that locks expired
// histories (now, limit) and the one that deletes them (hids, now).
func SweepSQL(s *Store) (lock, sweep string) { return s.q.lockSweep, s.q.sweep }

// PresumeExisting sets what the next write to a history that s does not
// know presumes: that it exists (s locks its row first, then writes: two
// requests) or that it is new (one statement creates it with the write).
func PresumeExisting(s *Store, existing bool) { s.existed.Store(existing) }

// TailSQL are the settings a tail read's first page runs with, and its
// statements (history, before, limit, now).
func TailSQL(s *Store) (pin string, statements map[string]string) {
	return pinPlan, map[string]string{"tailPage": s.q.tailPage, "tailUncompacted": s.q.tailUncompacted, "tailBare": s.q.tailBare}
}

// TSVectorOf is tsvectorOf: the tsvector the client makes of an indexText.
var TSVectorOf = tsvectorOf

// MakesLexemes says whether search configuration name keeps words as they
// are, so that the client makes the tsvectors (makesLexemes).
func MakesLexemes(ctx context.Context, pool *pgxpool.Pool, name string) (bool, error) {
	config, err := searchConfig(ctx, pool, name)
	if err != nil {
		return false, err
	}
	return makesLexemes(ctx, pool, config)
}
