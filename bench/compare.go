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
//
// With Config.Count above 1 the workloads run that many times over, in
// passes, each workload's first side alternating from pass to pass too;
// each ratio is the median of the passes' ratios, each between figures
// measured one right after the other, so that the machine's drift over the
// whole run (other processes, the database's own background work) falls
// on both sides of each.
func RunCompare(ctx context.Context, t Target, targetName string, raw *Raw, cfg Config) (*Comparison, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	started, machine := time.Now().UTC(), thisMachine()
	c := &Comparison{
		Store: &Report{Target: targetName, Started: started, Machine: machine},
		Raw:   &Report{Target: raw.name, Raw: true, Started: started, Machine: machine},
	}
	var (
		stores, bases [][]Result
		paired        [][]Ratio
	)
	// one runs workload w once on tg, after settling the database.
	one := func(tg target, w string, into *[]Result) error {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("bench: %s: %w", w, err)
		}
		if err := raw.db.settle(ctx); err != nil {
			return fmt.Errorf("bench: settling the database before %s: %w", w, err)
		}
		one := cfg
		one.Workloads, one.Count = []string{w}, 1
		rep, err := run(ctx, tg, "", one)
		if rep != nil {
			*into = append(*into, rep.Results...)
		}
		return err
	}
	// pass runs every workload once on both, the store's and the
	// baseline's figures of each pass being paired with each other.
	pass := func(k int) error {
		var s, b []Result
		defer func() {
			stores, bases, paired = append(stores, s), append(bases, b), append(paired, ratios(s, b))
		}()
		for i, w := range slices.DeleteFunc(slices.Clone(Workloads), func(w string) bool { return !slices.Contains(cfg.Workloads, w) }) {
			if w == "S1" { // last of Workloads: s's figures past b's are unpaired
				if err := one(storeTarget{t}, w, &s); err != nil {
					return err
				}
				continue
			}
			order := []func() error{
				func() error { return one(storeTarget{t}, w, &s) },
				func() error { return one(rawTarget{raw.db}, w, &b) },
			}
			if (i+k)%2 == 1 {
				slices.Reverse(order)
			}
			for _, f := range order {
				if err := f(); err != nil {
					return err
				}
			}
		}
		return nil
	}
	var err error
	for k := range cfg.Count {
		if err = pass(k); err != nil {
			break
		}
	}
	c.Store.Results, c.Raw.Results, c.Ratios = medians(stores), medians(bases), pairedRatios(paired)
	return c, err
}
