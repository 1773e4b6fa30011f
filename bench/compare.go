package bench

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// RunCompare runs the configured workloads on a store and on the raw
// baseline of its database and pairs their figures (chatstore bench
// --compare). S1 (search) has no baseline and runs on the store alone.
//
// The two take turns workload by workload, not one whole run after the
// other, and the one to go first alternates, starting with the store.
// Before every run the database is settled: its
// write-ahead log is checkpointed (SQLite's wal_checkpoint(TRUNCATE),
// PostgreSQL's CHECKPOINT, where the user may run it: Raw.Settles), and
// each run has deleted what it wrote, which also leaves SQLite nothing of
// the store's writes to index after them. So neither pays, inside its
// measured time, for the other's writes, as the baseline did for the
// store's when a whole run of the store came first.
func RunCompare(ctx context.Context, t Target, targetName string, raw *Raw, cfg Config) (*Comparison, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	started, machine := time.Now().UTC(), thisMachine()
	store := &Report{Target: targetName, Started: started, Machine: machine}
	base := &Report{Target: raw.name, Raw: true, Started: started, Machine: machine}
	one := func(into *Report, tg target, w string) error {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("bench: %s: %w", w, err)
		}
		if err := raw.db.settle(ctx); err != nil {
			return fmt.Errorf("bench: settling the database before %s: %w", w, err)
		}
		c := cfg
		c.Workloads = []string{w}
		rep, err := run(ctx, tg, into.Target, c)
		if rep != nil {
			into.Results = append(into.Results, rep.Results...)
		}
		return err
	}
	for i, w := range slices.DeleteFunc(slices.Clone(Workloads), func(w string) bool { return !slices.Contains(cfg.Workloads, w) }) {
		if w == "S1" {
			if err := one(store, storeTarget{t}, w); err != nil {
				return Compare(store, base), err
			}
			continue
		}
		order := []func() error{
			func() error { return one(store, storeTarget{t}, w) },
			func() error { return one(base, rawTarget{raw.db}, w) },
		}
		if i%2 == 1 {
			slices.Reverse(order)
		}
		for _, f := range order {
			if err := f(); err != nil {
				return Compare(store, base), err
			}
		}
	}
	return Compare(store, base), nil
}
