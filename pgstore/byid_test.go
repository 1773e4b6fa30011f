package pgstore_test

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/internal/storebench"
	"github.com/chatstore/chatstore/pgstore"
)

// TestFindByIDReadsOneMessage: the statements that find a message by its id
// (read one, delete one, truncate from one) look it up in an index, rather
// than reading every message of its history, which made them take 400 ms
// in a history of a million.
func TestFindByIDReadsOneMessage(t *testing.T) {
	pool := testPool(t)
	schema := freshSchema(t, pool)
	s, err := pgstore.New(t.Context(), pool, &pgstore.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	st, err := chatstore.New(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	storebench.Fill(t, st, "h", 20_000)
	// A caller's id too, stored as it is.
	if _, err := st.Write(t.Context(), "h", storebench.Conversation(1)); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"messages", "histories"} {
		if _, err := pool.Exec(t.Context(), "VACUUM ANALYZE "+pgx.Identifier{schema, table}.Sanitize()); err != nil {
			t.Fatal(err)
		}
	}
	removed := regexp.MustCompile(`Rows Removed by Filter: (\d+)`)
	for name, sql := range pgstore.EditSQL(s) {
		if name == "forkCopy" {
			continue // it needs a fork's row; the same condition as truncate
		}
		for _, id := range []string{"10000", "19999", "nope"} {
			// Message takes the time by which the history has not
			// expired, the edits their time and the default TTL.
			args := []any{"h", id, pgstore.Position(id), int64(1)}
			if name != "message" {
				args = append(args, int64(0))
			}
			plan := explain(t, pool, "EXPLAIN ANALYZE "+sql, args...)
			if !strings.Contains(plan, "Index Scan using messages_by_id") {
				t.Errorf("%s of %q does not look the id up:\n%s", name, id, plan)
			}
			// Truncating deletes the messages from the one found on,
			// reading the history's to find them; the others read one.
			for _, m := range removed.FindAllStringSubmatch(plan, -1) {
				if n, _ := strconv.Atoi(m[1]); n > 100 && name != "truncate" {
					t.Errorf("%s of %q reads %d messages it does not want:\n%s", name, id, n, plan)
				}
			}
			if strings.Contains(plan, "Seq Scan on messages") {
				t.Errorf("%s of %q reads every message:\n%s", name, id, plan)
			}
		}
	}
}

// explain runs an EXPLAIN in a transaction it rolls back (EXPLAIN ANALYZE
// runs the statement) and returns the plan.
func explain(t *testing.T, pool interface {
	Begin(context.Context) (pgx.Tx, error)
}, sql string, args ...any) string {
	t.Helper()
	tx, err := pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	rows, err := tx.Query(t.Context(), sql, args...)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}
