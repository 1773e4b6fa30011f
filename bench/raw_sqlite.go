package bench

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"

	"github.com/chatstore/chatstore/sqlitestore"
)

// rawSQLite is the baseline on SQLite: the store's file, opened as the
// store opens it (sqlitestore.DSN: WAL, the URL's synchronous setting,
// NORMAL by default, and busy timeout); one writer connection, as the
// store's, and a pool of readers.
type rawSQLite struct {
	writer, readers *sql.DB
	table           string
	ins, max, tail  *sql.Stmt
	del             *sql.Stmt
}

func openRawSQLite(ctx context.Context, u *url.URL, table string) (_ rawDB, err error) {
	path, opts, err := sqlitestore.ParseURL(u)
	if err != nil {
		return nil, err
	}
	wdsn, err := sqlitestore.DSN(path, opts, true)
	if err != nil {
		return nil, err
	}
	rdsn, _ := sqlitestore.DSN(path, opts, false)
	r := &rawSQLite{table: table}
	if r.writer, err = sql.Open("sqlite", wdsn); err != nil {
		return nil, err
	}
	r.writer.SetMaxOpenConns(1)
	r.writer.SetConnMaxIdleTime(0)
	r.writer.SetConnMaxLifetime(0)
	if r.readers, err = sql.Open("sqlite", rdsn); err != nil {
		r.writer.Close()
		return nil, err
	}
	r.readers.SetMaxOpenConns(16)
	r.readers.SetMaxIdleConns(16)
	defer func() {
		if err != nil {
			err = errors.Join(err, r.close(context.WithoutCancel(ctx)))
		}
	}()
	if _, err = r.writer.ExecContext(ctx, `CREATE TABLE `+table+` (history TEXT NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (history, seq)) WITHOUT ROWID`); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	prep := func(db *sql.DB, q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var st *sql.Stmt
		st, err = db.PrepareContext(ctx, q)
		return st
	}
	r.ins = prep(r.writer, `INSERT INTO `+table+` (history, seq, body) VALUES (?, ?, ?)`)
	r.max = prep(r.writer, `SELECT coalesce(max(seq), 0) FROM `+table+` WHERE history = ?`)
	r.del = prep(r.writer, `DELETE FROM `+table+` WHERE history = ?`)
	r.tail = prep(r.readers, `SELECT body FROM `+table+` WHERE history = ? ORDER BY seq DESC LIMIT ?`)
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (r *rawSQLite) append(ctx context.Context, id string, bodies [][]byte) error {
	tx, err := r.writer.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var seq int64
	if err := tx.StmtContext(ctx, r.max).QueryRowContext(ctx, id).Scan(&seq); err != nil {
		return err
	}
	ins := tx.StmtContext(ctx, r.ins)
	for _, b := range bodies {
		seq++
		if _, err := ins.ExecContext(ctx, id, seq, b); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func (r *rawSQLite) last(ctx context.Context, id string, n int) ([][]byte, error) {
	rows, err := r.tail.QueryContext(ctx, id, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var (
		bodies [][]byte
		b      sql.RawBytes
	)
	for rows.Next() {
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		bodies = append(bodies, append([]byte(nil), b...))
	}
	reverse(bodies)
	return bodies, rows.Err()
}

func (r *rawSQLite) delete(ctx context.Context, id string) error {
	_, err := r.del.ExecContext(ctx, id)
	return err
}

// settle checkpoints the file's WAL, the store's frames with the
// baseline's, and truncates it. A checkpoint a reader holds back is left
// partial (the pragma reports it busy), which only makes the next run pay
// a little of it.
func (r *rawSQLite) settle(ctx context.Context) error {
	_, err := r.writer.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	return err
}

func (r *rawSQLite) close(ctx context.Context) error {
	for _, st := range []*sql.Stmt{r.ins, r.max, r.del, r.tail} {
		if st != nil {
			st.Close()
		}
	}
	rerr := r.readers.Close()
	_, err := r.writer.ExecContext(ctx, `DROP TABLE IF EXISTS `+r.table)
	return errors.Join(err, rerr, r.writer.Close())
}
