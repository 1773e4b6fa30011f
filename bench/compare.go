package bench

import (
	"context"
	"fmt"
	"slices"
)

// RunCompare runs the configured workloads on a store and on the raw
// baseline of its database and pairs their figures (chatstore bench
// --compare). S1 (search) has no baseline and runs on the store alone.
//
// The two take turns workload by workload, not one whole run after the
// other, and the one to go first alternates, starting with the store.
// Before every run the database is settled: its
// write-ahead log is checkpointed (SQLite's wal_checkpoint(TRUNCATE),
// PostgreSQL's CHECKPOINT), and each run has deleted what it wrote. So
// neither pays, inside its measured time, for the other's writes: the
// checkpoint of the pages the store dirtied, or work a store does after
// its writes (SQLite's deferred search indexing), which a whole run of the
// store followed by one of the baseline charged to the baseline.
func RunCompare(ctx context.Context, t Target, targetName string, raw *Raw, cfg Config) (*Comparison, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	store := &Report{Target: targetName}
	base := &Report{Target: raw.name, Raw: true}
	one := func(into *Report, tg target, w string) error {
		if err := raw.db.settle(ctx); err != nil {
			return fmt.Errorf("bench: settling the database before %s: %w", w, err)
		}
		c := cfg
		c.Workloads = []string{w}
		rep, err := run(ctx, tg, into.Target, c)
		if into.Started.IsZero() {
			into.Started, into.Machine = rep.Started, rep.Machine
		}
		into.Results = append(into.Results, rep.Results...)
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
