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
// on both sides of each. S1's passes come after all of the others'
// (inPasses).
func RunCompare(ctx context.Context, t Target, targetName string, raw *Raw, cfg Config) (*Comparison, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	started, machine := time.Now().UTC(), thisMachine()
	out := &Comparison{
		Store: &Report{Target: targetName, Started: started, Machine: machine},
		Raw:   &Report{Target: raw.name, Raw: true, Started: started, Machine: machine},
	}
	var (
		stores, bases [][]Result
		paired        [][]Ratio
	)
	// once runs the workload of c on tg, after settling the database.
	once := func(tg target, c Config, into *[]Result) error {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("bench: %s: %w", c.Workloads[0], err)
		}
		if err := raw.db.settle(ctx); err != nil {
			return fmt.Errorf("bench: settling the database before %s: %w", c.Workloads[0], err)
		}
		res, err := pass(ctx, tg, c)
		*into = append(*into, res...)
		return err
	}
	err := inPasses(cfg, func(k int, c Config) error {
		var s, b []Result
		defer func() {
			// Each pass's figures pair with each other only.
			if len(s) > 0 {
				stores = append(stores, s)
			}
			if len(b) > 0 {
				bases = append(bases, b)
			}
			if r := ratios(s, b); len(r) > 0 {
				paired = append(paired, r)
			}
		}()
		for i, w := range c.Workloads {
			c1 := c
			c1.Workloads = []string{w}
			if w == "S1" { // no baseline; its passes come last
				if err := once(storeTarget{t}, c1, &s); err != nil {
					return err
				}
				continue
			}
			order := []func() error{
				func() error { return once(storeTarget{t}, c1, &s) },
				func() error { return once(rawTarget{raw.db}, c1, &b) },
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
	})
	out.Store.Results, out.Raw.Results, out.Ratios = medians(stores), medians(bases), pairedRatios(paired)
	return out, err
}
