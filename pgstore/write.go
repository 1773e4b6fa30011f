package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/driver"
)

// Write implements driver.Store: one transaction that locks the history's
// row, plans ids and rounds, and stores every row with one statement.
func (s *Store) Write(ctx context.Context, historyID string, recs []driver.Record) (int, error) {
	var n int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		n, err = s.write(ctx, tx, historyID, recs)
		return err
	})
	if err != nil {
		return 0, wrap("write", historyID, invalidContent(err))
	}
	return n, nil
}

func (s *Store) write(ctx context.Context, tx pgx.Tx, historyID string, recs []driver.Record) (int, error) {
	var (
		hid       int64
		st        driver.State
		callerIDs int64
	)
	if err := tx.QueryRow(ctx, s.q.lockHistory, historyID).Scan(&hid, &st.Count, &st.Rounds, &st.Open, &callerIDs); err != nil {
		return 0, err
	}
	held := driver.GeneratedOnly(st.Count)
	if callerIDs > 0 {
		held = func(ctx context.Context, ids []string) (map[string]bool, error) {
			rows, err := tx.Query(ctx, s.q.held, hid, ids)
			if err != nil {
				return nil, err
			}
			got, err := pgx.CollectRows(rows, pgx.RowTo[string])
			found := make(map[string]bool, len(got))
			for _, id := range got {
				found[id] = true
			}
			return found, err
		}
	}
	plan, err := driver.MakePlan(ctx, st, recs, held)
	if err != nil || len(plan.Messages) == 0 {
		return 0, err
	}
	seqs := make([]int64, len(plan.Messages))
	rounds := make([]int64, len(plan.Messages))
	ids := make([]string, len(plan.Messages))
	bodies := make([]string, len(plan.Messages))
	newCallerIDs := int64(0)
	for i, p := range plan.Messages {
		seqs[i], rounds[i], ids[i] = p.Pos, p.Round, p.ID
		bodies[i] = string(recs[p.Index].JSON)
		if recs[p.Index].HasID {
			newCallerIDs++
		}
	}
	// The rest in one round trip.
	var b pgx.Batch
	if plan.CloseOpen >= 0 {
		b.Queue(s.q.closeRound, plan.CloseOpen, hid, driver.Pending)
	}
	b.Queue(s.q.insertMessages, hid, seqs, rounds, ids, bodies)
	b.Queue(s.q.updateHistory, hid, plan.State.Count, plan.State.Rounds, plan.State.Open, newCallerIDs)
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return 0, err
	}
	return len(plan.Messages), nil
}

// invalidContent marks the errors PostgreSQL gives for message content it
// cannot store, which retrying will not fix: JSONB holds no U+0000 (a "\u0000"
// in a string) and no number beyond the range of numeric.
func invalidContent(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "22P05": // untranslatable_character
			return fmt.Errorf("%w: PostgreSQL's JSONB cannot store the character U+0000 in a string: %w", chatstore.ErrInvalidMessage, err)
		case "22003": // numeric_value_out_of_range
			return fmt.Errorf("%w: a number is beyond what PostgreSQL's JSONB stores: %w", chatstore.ErrInvalidMessage, err)
		}
	}
	return err
}
