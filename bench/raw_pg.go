package bench

import (
	"context"
	"errors"
	"net/url"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chatstore/chatstore/pgstore"
)

// rawPG is the baseline on PostgreSQL: a table in the store's schema, a pgx
// pool configured from the URL as the store's (pgstore.ParseConfig). A
// write is one INSERT … SELECT statement (its own transaction, one round
// trip) that numbers the rows after the history's last; a read one SELECT.
type rawPG struct {
	pool       *pgxpool.Pool
	table      string // qualified, quoted
	schema     string // quoted; dropped by close when made by open
	madeSchema bool
	// cannotCheckpoint is set once CHECKPOINT was refused (settle).
	cannotCheckpoint bool
	ins, tail        string
	deleteQuery      string
}

func openRawPG(ctx context.Context, u *url.URL, table string) (_ rawDB, err error) {
	cfg, opts, err := pgstore.ParseConfig(u.String(), nil)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	r := &rawPG{pool: pool, schema: pgx.Identifier{opts.Schema}.Sanitize()}
	r.table = r.schema + "." + pgx.Identifier{table}.Sanitize()
	defer func() {
		if err != nil {
			err = errors.Join(err, r.close(context.WithoutCancel(ctx)))
		}
	}()
	if err = pool.QueryRow(ctx, `SELECT NOT EXISTS (SELECT FROM pg_namespace WHERE nspname = $1)`, opts.Schema).Scan(&r.madeSchema); err != nil {
		return nil, err
	}
	if r.madeSchema {
		if _, err = pool.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+r.schema); err != nil {
			return nil, err
		}
	}
	if _, err = pool.Exec(ctx, `CREATE TABLE `+r.table+` (history text NOT NULL, seq bigint NOT NULL, body jsonb NOT NULL, PRIMARY KEY (history, seq))`); err != nil {
		return nil, err
	}
	r.ins = `INSERT INTO ` + r.table + ` (history, seq, body)
		SELECT $1, coalesce((SELECT max(seq) FROM ` + r.table + ` WHERE history = $1), 0) + n, b
		FROM unnest($2::jsonb[]) WITH ORDINALITY AS m(b, n)`
	r.tail = `SELECT body FROM ` + r.table + ` WHERE history = $1 ORDER BY seq DESC LIMIT $2`
	r.deleteQuery = `DELETE FROM ` + r.table + ` WHERE history = $1`
	return r, nil
}

func (r *rawPG) append(ctx context.Context, id string, bodies [][]byte) error {
	texts := make([]string, len(bodies))
	for i, b := range bodies {
		texts[i] = string(b)
	}
	_, err := r.pool.Exec(ctx, r.ins, id, texts)
	return err
}

func (r *rawPG) last(ctx context.Context, id string, n int) ([][]byte, error) {
	rows, err := r.pool.Query(ctx, r.tail, id, n)
	if err != nil {
		return nil, err
	}
	var bodies [][]byte
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			rows.Close()
			return nil, err
		}
		bodies = append(bodies, b)
	}
	rows.Close()
	reverse(bodies)
	return bodies, rows.Err()
}

func (r *rawPG) delete(ctx context.Context, id string) error {
	_, err := r.pool.Exec(ctx, r.deleteQuery, id)
	return err
}

// settle runs a CHECKPOINT, which writes back every page the runs have
// dirtied (PostgreSQL checkpoints on its own every checkpoint_timeout or
// max_wal_size, whichever run is then going). It needs a superuser or,
// from PostgreSQL 15, the pg_checkpoint role: without, the runs go
// unsettled, as they would with any other work on the server.
func (r *rawPG) settle(ctx context.Context) error {
	if r.cannotCheckpoint {
		return nil
	}
	_, err := r.pool.Exec(ctx, `CHECKPOINT`)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42501" { // insufficient_privilege
		r.cannotCheckpoint = true
		return nil
	}
	return err
}

func (r *rawPG) close(ctx context.Context) error {
	defer r.pool.Close()
	drop := `DROP TABLE IF EXISTS ` + r.table
	if r.madeSchema {
		drop = `DROP SCHEMA IF EXISTS ` + r.schema + ` CASCADE`
	}
	_, err := r.pool.Exec(ctx, drop)
	return err
}
