package sqlitestore

import (
	"context"
	"database/sql"
	"testing"
)

// MigrateTo creates, or migrates, the file at path to schema version v, as
// the release that wrote version v left it (and no further): for the tests
// outside the package that start from a file of an older version.
func MigrateTo(ctx context.Context, path string, v int) error {
	db, err := sql.Open("sqlite", path)
	if err != nil {
		return err
	}
	defer db.Close()
	return migrate(ctx, db, v, Options{})
}

// SetProgressEvery sets how many messages filling the index and measuring
// them log progress after, and returns what it was.
func SetProgressEvery(n int64) int64 {
	old := progressEvery
	progressEvery = n
	return old
}

// RawDB is rawDB, for the tests outside the package.
func RawDB(t testing.TB, path string) *sql.DB { return rawDB(t, path) }

// SchemaVersion is the version this code reads and writes.
var SchemaVersion = schemaVersion
