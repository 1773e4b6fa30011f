package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/chatstore/chatstore/bench"
)

const benchUsage = `usage: chatstore bench [flags]

Runs chatstore's standard workloads against a store (--store URL) or a
running server (--server URL) and prints throughput and latency. Without
either, it runs on a SQLite file in a new temporary directory, says where on
stderr, and removes it at the end.

  W1  append 10,000 messages one at a time to one history
  W2  append 100,000 messages in batches of 100 over 1,000 histories
  W3  read the last 10 rounds of histories of 100, 10,000 and 100,000 messages
  W4  64 clients, each looping append-one then read-last-10 on its own history

The messages are a realistic, deterministic mix: user questions of about 200
characters, assistant answers of about 600, tool calls, and tool results of
about 300. Every history the run writes starts with its own random prefix
and is deleted at the end, also when the run fails or is interrupted.
docs/BENCHMARKS.md has the figures for every backend.

--raw runs the same workloads with the same messages on the store's
database without chatstore: plain statements on a table of its own
(SQLite, PostgreSQL: one row per message, (history, seq) and its JSON) or a
list per history (Redis, Redis Cluster: RPUSH, LRANGE), with no ids, rounds
or validation; where the store reads the last 10 rounds it reads the last N
messages, N being what those rounds hold. It removes its table or keys at
the end. --compare runs each workload on the store and on the raw baseline,
taking turns, with the database's log checkpointed before every run, and
reports both and their ratios. memory:// and --server have no raw baseline.

--count N runs the workloads N times over, in passes, and reports the
medians. With --compare the store and the baseline take turns in every
pass, and each ratio is the median of the passes' ratios, the time ratio
with its range. On a machine whose speed drifts, these are the figures to
trust; docs/BENCHMARKS.md measures its goals so. --max-time bounds the
whole run: 15 minutes a pass unless given.

examples:
  chatstore bench
  chatstore bench --store memory://
  chatstore bench --store sqlite:/tmp/bench.db --workloads W1,W3
  chatstore bench --server http://127.0.0.1:8080 --format json
  chatstore bench --store 'postgres://postgres@127.0.0.1/test' --scale 0.1 --duration 3s
  chatstore bench --store redis://127.0.0.1:6379/0 --compare --scale 0.1 --duration 3s
  chatstore bench --store sqlite:/tmp/bench.db --compare --count 5 --scale 0.3 --duration 3s

flags:
`

func runBench(ctx context.Context, env *Env, args []string) error {
	f := newFlags(env, "bench", benchUsage)
	tf := addTargetFlags(f, "", "; without it and --server, a temporary SQLite file, removed at the end")
	workloads := f.String("workloads", strings.Join(bench.DefaultWorkloads, ","), "comma-separated workloads to run: "+strings.Join(bench.Workloads, ", ")+" (S1, search, only when named)")
	scale := f.Float64("scale", 1, "multiply the sizes of W1–W3 (0.01 for a quick look, at most 10)")
	clients := f.Int("clients", 64, "W4's concurrent clients")
	duration := f.Duration("duration", 10*time.Second, "how long W4 runs")
	reads := f.Int("reads", 1000, "W3's reads of each history")
	count := f.Int("count", 1, fmt.Sprintf("run the workloads this many times over (at most %d) and report the medians; with --compare, the median of each pass's ratios, and the range of the time ratio", bench.MaxCount))
	maxTime := f.Duration("max-time", 15*time.Minute, "stop (and clean up) if the run takes longer than this; unset, 15m for each pass of --count")
	format := f.choice("format", "output", "table", "json", "markdown")
	asJSON := f.Bool("json", false, "the same as --format json")
	raw := f.Bool("raw", false, "run the raw baseline (plain statements on the store's database) instead of the store")
	compare := f.Bool("compare", false, "run the store and the raw baseline, workload by workload, and report the ratios")
	cpuProfile := f.String("cpuprofile", "", "write a CPU profile of the workloads to this file (go tool pprof reads it)")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if *asJSON {
		*format = "json"
	}
	if len(pos) > 0 {
		return f.usageErr("bench takes no arguments, got %q", pos)
	}
	if *maxTime <= 0 {
		return f.usageErr("--max-time must be positive")
	}
	if *count < 1 { // 0 would mean 1 to bench.Config; the upper bound is its
		return f.usageErr("--count must be at least 1, got %d", *count)
	}
	maxTimeSet := false
	f.Visit(func(fl *flag.Flag) { maxTimeSet = maxTimeSet || fl.Name == "max-time" })
	if !maxTimeSet {
		*maxTime *= time.Duration(*count)
	}
	if (*raw || *compare) && *tf.server != "" {
		return f.usageErr("--raw and --compare need --store: the raw baseline runs on the store's database, not through a server")
	}
	if *raw && *compare {
		return f.usageErr("--raw and --compare exclude each other: --compare runs the raw baseline too")
	}
	cfg := bench.Config{
		Workloads: strings.Split(*workloads, ","),
		Scale:     *scale, Clients: *clients, Duration: *duration, Reads: *reads, Count: *count,
	}
	if env.StderrTerminal {
		cfg.Progress = env.Stderr
	}
	if *tf.store == "" && *tf.server == "" {
		// Not chatstore.db of the working directory, which may be real
		// data: a file of its own, removed (after the store is closed).
		dir, err := os.MkdirTemp("", "chatstore-bench-")
		if err != nil {
			return fmt.Errorf("bench: a temporary store: %w", err)
		}
		defer func() {
			if err := os.RemoveAll(dir); err != nil {
				fmt.Fprintf(env.Stderr, "bench: removing the temporary store: %v\n", err)
			}
		}()
		*tf.store = "sqlite:" + filepath.ToSlash(filepath.Join(dir, "bench.db"))
		fmt.Fprintf(env.Stderr, "bench: no --store or --server: running on a temporary SQLite file, %s, removed at the end\n", *tf.store)
	}
	ctx, cancel := context.WithTimeout(ctx, *maxTime)
	defer cancel()
	var t target
	if !*raw {
		// The store first: on a new SQLite file it must find no table of
		// the raw baseline's.
		if t, err = tf.open(ctx); err != nil {
			return err
		}
		defer t.Close()
	}
	var rawBase *bench.Raw
	if *raw || *compare {
		// Before any run, so that a URL without a baseline is refused at
		// once.
		rawBase, err = bench.OpenRaw(ctx, *tf.store)
		if errors.Is(err, bench.ErrNoRaw) {
			return fmt.Errorf("%w: %v", ErrUsage, err)
		}
		if err != nil {
			return err
		}
		defer func() {
			if err := rawBase.Close(context.WithoutCancel(ctx)); err != nil {
				fmt.Fprintf(env.Stderr, "bench: %v\n", err)
			}
		}()
	}
	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			return err
		}
		defer func() {
			if err := stop(); err != nil {
				fmt.Fprintf(env.Stderr, "bench: %v\n", err)
			}
		}()
	}
	var (
		rep    report
		runErr error
	)
	if *raw {
		rep, runErr = bench.RunRaw(ctx, rawBase, cfg)
	} else {
		name := redact(*tf.store)
		if *tf.server != "" {
			name = "server " + *tf.server
		}
		if *compare {
			rep, runErr = bench.RunCompare(ctx, t, name, rawBase, cfg)
			if !rawBase.Settles() {
				fmt.Fprintf(env.Stderr, "bench: the database user may not run CHECKPOINT (it needs a superuser, or from PostgreSQL 15 the pg_checkpoint role), so the runs were not settled: each may pay for the checkpoint of the last one's writes\n")
			}
		} else {
			rep, runErr = bench.Run(ctx, t, name, cfg)
		}
	}
	if errors.Is(runErr, bench.ErrConfig) {
		return fmt.Errorf("%w: %v", ErrUsage, runErr)
	}
	switch *format {
	case "json":
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(rep)
	case "markdown":
		err = rep.WriteMarkdown(env.Stdout)
	default:
		err = rep.WriteTable(env.Stdout)
	}
	if runErr != nil {
		return runErr
	}
	return err
}

// report is a *bench.Report or a *bench.Comparison.
type report interface {
	WriteTable(io.Writer) error
	WriteMarkdown(io.Writer) error
}

// startCPUProfile profiles the process into file until stop is called:
// what a run spends, in the store's code and the database driver's, is
// what docs/BENCHMARKS.md's profiles are made of.
func startCPUProfile(file string) (stop func() error, err error) {
	f, err := os.Create(file)
	if err != nil {
		return nil, fmt.Errorf("bench: --cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("bench: --cpuprofile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		return nil
	}, nil
}
