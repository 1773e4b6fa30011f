package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// Statements are prepared once per store: modernc.org/sqlite compiles a
// statement on every call otherwise, which cost more than the rest of a
// single-message write.
type stmts struct {
	// On the writer connection.
	history       *sql.Stmt // hid, count, rounds, open, caller_ids of a history
	newHistory    *sql.Stmt // insert an empty history, returning hid
	updateHistory *sql.Stmt
	closeRound    *sql.Stmt // give pending messages their round
	insertOne     *sql.Stmt // one message
	insertBatch   *sql.Stmt // insertBatch messages
	deleteHistory *sql.Stmt
	dataVersion   *sql.Stmt

	// On the reader pool.
	tail  *sql.Stmt
	count *sql.Stmt
	list  *sql.Stmt
}

// tailFrom is driver.State.TailFrom in SQL, over the histories row h and
// the number of rounds ?2: the smallest round number among the last ?2
// rounds, the open round counting as the newest. TestTailFromSQL holds the
// two together.
const tailFrom = "max(0, h.rounds - (?2 - (h.open > 0)))"

// tailSQL reads the last ?2 rounds of history ?1 in one statement, which
// sees one consistent state of the history. INDEXED BY: otherwise the
// planner walks the whole history by its primary key.
const tailSQL = "SELECT m.message_id, m.body FROM histories h JOIN messages m INDEXED BY messages_by_round ON m.hid = h.hid " +
	"WHERE h.name = ?1 AND m.round >= " + tailFrom + " ORDER BY m.seq"

func insertSQL(n int) string {
	return "INSERT INTO messages (hid, seq, round, message_id, body) VALUES (?,?,?,?,?)" + strings.Repeat(",(?,?,?,?,?)", n-1)
}

func prepare(ctx context.Context, writer, readers *sql.DB) (*stmts, error) {
	var st stmts
	var errs []error
	p := func(db *sql.DB, dst **sql.Stmt, query string) {
		s, err := db.PrepareContext(ctx, query)
		if err != nil {
			errs = append(errs, fmt.Errorf("preparing %q: %w", query, err))
		}
		*dst = s
	}
	p(writer, &st.history, "SELECT hid, count, rounds, open, caller_ids FROM histories WHERE name = ?")
	p(writer, &st.newHistory, "INSERT INTO histories (name, count, rounds, open, caller_ids) VALUES (?, 0, 0, 0, 0) RETURNING hid")
	p(writer, &st.updateHistory, "UPDATE histories SET count = ?, rounds = ?, open = ?, caller_ids = caller_ids + ?, updated_at = ? WHERE hid = ?")
	// Without INDEXED BY the planner avoids the index on the column being
	// updated and walks the whole history through the primary key.
	p(writer, &st.closeRound, "UPDATE messages INDEXED BY messages_by_round SET round = ? WHERE hid = ? AND round = ?")
	p(writer, &st.insertOne, insertSQL(1))
	p(writer, &st.insertBatch, insertSQL(insertBatch))
	p(writer, &st.deleteHistory, "DELETE FROM histories WHERE name = ?")
	p(writer, &st.dataVersion, "PRAGMA data_version")
	p(readers, &st.tail, tailSQL)
	p(readers, &st.count, "SELECT count FROM histories WHERE name = ?")
	p(readers, &st.list, "SELECT name, count FROM histories WHERE name > ? AND count > 0 ORDER BY name LIMIT ?")
	if err := errors.Join(errs...); err != nil {
		st.close()
		return nil, err
	}
	return &st, nil
}

func (st *stmts) close() {
	for _, s := range []*sql.Stmt{st.history, st.newHistory, st.updateHistory, st.closeRound, st.insertOne, st.insertBatch,
		st.deleteHistory, st.dataVersion, st.tail, st.count, st.list} {
		if s != nil {
			s.Close()
		}
	}
}
