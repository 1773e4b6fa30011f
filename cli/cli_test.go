package cli

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatstore/chatstore"
)

type testEnv struct {
	*Env
	out, err *bytes.Buffer
}

func newEnv(vars map[string]string) testEnv {
	out, errb := &bytes.Buffer{}, &bytes.Buffer{}
	return testEnv{&Env{
		Stdin: strings.NewReader(""), Stdout: out, Stderr: errb,
		Getenv: func(k string) string { return vars[k] },
	}, out, errb}
}

func TestEnvironmentAndInterspersedFlags(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "x.db")
	e := newEnv(map[string]string{"CHATSTORE_STORE": db})
	e.Stdin = strings.NewReader(`{"role":"user","content":[{"text":"hi"}]}` + "\n")
	if err := Run(context.Background(), e.Env, []string{"import", "--history", "h"}); err != nil {
		t.Fatal(err)
	}
	// The flag after the positional argument is still a flag, and the store
	// comes from CHATSTORE_STORE.
	if err := Run(context.Background(), e.Env, []string{"show", "h", "--format", "text"}); err != nil {
		t.Fatal(err)
	}
	if got := e.out.String(); got != "user #0\n  hi\n" {
		t.Errorf("show: %q", got)
	}
	// A flag on the command line wins over the environment.
	e.out.Reset()
	if err := Run(context.Background(), e.Env, []string{"count", "h", "--store", "memory://"}); err != nil || e.out.String() != "0\n" {
		t.Errorf("count with --store memory://: %q %v", e.out.String(), err)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"show"},
		{"show", "a", "b"},
		{"count", "--nope", "x"},
		{"export", "--store", "memory://"},
		{"export", "--history", "h", "--all", "--store", "memory://"},
		{"show", "h", "--last-k", "-1", "--store", "memory://"},
		{"show", "h", "--format", "xml", "--store", "memory://"},
		{"serve", "--log-level", "loud"},
		{"serve", "--addr", "nonsense"},
		{"serve", "extra"},
		{"version", "x"},
	} {
		e := newEnv(nil)
		if err := Run(context.Background(), e.Env, args); !errors.Is(err, ErrUsage) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
	e := newEnv(map[string]string{"CHATSTORE_MAX_BODY_BYTES": "lots"})
	if err := Run(context.Background(), e.Env, []string{"serve"}); !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), "CHATSTORE_MAX_BODY_BYTES") {
		t.Errorf("bad environment value: %v", err)
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"help", "import"}, {"import", "-h"}, {"version", "--help"}, {"version", "-h"}, {"help", "version"}} {
		e := newEnv(nil)
		if err := Run(context.Background(), e.Env, args); err != nil {
			t.Errorf("%q: %v", args, err)
		}
		if !strings.Contains(e.out.String(), "usage: chatstore") {
			t.Errorf("%q printed %q", args, e.out.String())
		}
	}
}

// TestServeInProcess runs serve until its context ends, as SIGTERM does.
func TestServeInProcess(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	e := newEnv(nil)
	addr := make(chan string, 1)
	e.Ready = func(a string) { addr <- a }
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, e.Env, []string{"serve", "--addr", "127.0.0.1:0", "--store", "memory://", "--log-format", "text"})
	}()
	var a string
	select {
	case a = <-addr:
	case err := <-done:
		t.Fatalf("serve ended: %v\n%s", err, e.err.String())
	}
	resp, err := http.Get("http://" + a + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve after cancel: %v", err)
	}
	if logs := e.err.String(); !strings.Contains(logs, "msg=listening") || !strings.Contains(logs, "msg=stopped") {
		t.Errorf("text logs: %s", logs)
	}
}

// TestImportPairLines checks the lines of an import without --history:
// strict {"chat_history_id", "message"} pairs.
func TestImportPairLines(t *testing.T) {
	msg := `{"role":"user","content":[{"text":"hi"}]}`
	for _, c := range []struct {
		line string
		ok   bool
	}{
		{`{"chat_history_id":"a","message":` + msg + `}`, true},
		{` { "message" : ` + msg + ` , "chat_history_id" : "a" } `, true},
		{`{"chat_history_id":"a","chat_history_id":"b","message":` + msg + `}`, false},
		{`{"chat_history_id":"a","message":` + msg + `,"extra":1}`, false},
		{`{"chat_history_id":7,"message":` + msg + `}`, false},
		{`{"message":` + msg + `}`, false},
		{msg, false},
	} {
		e := newEnv(nil)
		e.Stdin = strings.NewReader(c.line + "\n")
		err := Run(context.Background(), e.Env, []string{"import", "--store", "memory://"})
		if (err == nil) != c.ok {
			t.Errorf("%s: %v", c.line, err)
		}
		if err != nil && !strings.Contains(err.Error(), "line 1") {
			t.Errorf("%s: error does not name the line: %v", c.line, err)
		}
	}
}

// TestDurationFlagErrors: a duration without a unit, from the environment
// or the command line, is a usage error that says a unit is needed, not the
// flag package's "parse error".
func TestDurationFlagErrors(t *testing.T) {
	for _, c := range []struct {
		vars map[string]string
		args []string
		want string
	}{
		{map[string]string{"CHATSTORE_STORE_TIMEOUT": "10"}, []string{"serve"}, `CHATSTORE_STORE_TIMEOUT="10": a duration needs a unit, such as "10s"`},
		{nil, []string{"serve", "--shutdown-timeout", "2.5"}, `a duration needs a unit, such as "2.5s"`},
		{nil, []string{"bench", "--store", "memory://", "--duration", "soon"}, "not a duration: write a number with a unit"},
	} {
		e := newEnv(c.vars)
		err := Run(context.Background(), e.Env, c.args)
		if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "parse error") {
			t.Errorf("%v %q: %v, want a usage error with %q", c.vars, c.args, err, c.want)
		}
	}
	e := newEnv(nil)
	if err := Run(context.Background(), e.Env, []string{"serve", "--help"}); err != nil || !strings.Contains(e.out.String(), "-store-timeout duration\n") {
		t.Errorf("serve --help does not name the type of --store-timeout: %v\n%s", err, e.out.String())
	}
}

// TestServeRoutesGoRedisLog: the records go-redis writes itself (here, its
// failed dials to a Redis that is not there) are in the server's log, in
// its format, not on stderr in go-redis's own.
func TestServeRoutesGoRedisLog(t *testing.T) {
	e := newEnv(nil)
	err := Run(context.Background(), e.Env, []string{"serve", "--addr", "127.0.0.1:0", "--store", "redis://127.0.0.1:1/0?dial_timeout=100ms", "--log-format", "text"})
	if !errors.Is(err, chatstore.ErrUnavailable) {
		t.Fatalf("serve on an unreachable Redis: %v", err)
	}
	if logs := e.err.String(); !strings.Contains(logs, "level=WARN msg=\"redis: connection pool: failed to dial") || !strings.Contains(logs, "component=go-redis") {
		t.Errorf("go-redis's records are not in the server's log:\n%s", logs)
	}
}

// TestImportCounts: import's report and errors count with their noun.
func TestImportCounts(t *testing.T) {
	good := `{"role":"user","content":[{"text":"hi"}]}` + "\n"
	for _, c := range []struct {
		in, wantErr, wantReport string
	}{
		{good, "", "imported stdin: 1 message read, 1 written, 0 skipped"},
		{good + "nonsense\n", "line 2: ", "(the message before it was imported)"},
		{good + good + "nonsense\n", "line 3: ", "(the 2 messages before it were imported)"},
		{"nonsense\n", "line 1: ", "(nothing was imported)"},
		{`{"role":"user","meta":{"chat_message_id":7},"content":[{"text":"hi"}]}` + "\n", `import: writing 1 message to "h": chatstore: invalid message: messages[0].meta.chat_message_id`, ""},
	} {
		e := newEnv(nil)
		e.Stdin = strings.NewReader(c.in)
		err := Run(context.Background(), e.Env, []string{"import", "--history", "h", "--store", "memory://"})
		switch {
		case c.wantErr == "" && (err != nil || !strings.Contains(e.err.String(), c.wantReport)):
			t.Errorf("%q: %v, report %q, want %q", c.in, err, e.err.String(), c.wantReport)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr) || !strings.Contains(err.Error(), c.wantReport)):
			t.Errorf("%q: %v, want an error with %q and %q", c.in, err, c.wantErr, c.wantReport)
		}
	}
}

// TestShowEmptyHistory: show of a history without messages is an error
// that says so (a typo must not pass for an empty answer), but --last-k 0
// of a history with messages rightly prints nothing.
func TestShowEmptyHistory(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "x.db")
	e := newEnv(map[string]string{"CHATSTORE_STORE": db})
	e.Stdin = strings.NewReader(`{"role":"user","content":[{"text":"hi"}]}` + "\n")
	if err := Run(context.Background(), e.Env, []string{"import", "--history", "h"}); err != nil {
		t.Fatal(err)
	}
	e.out.Reset()
	err := Run(context.Background(), e.Env, []string{"show", "H"})
	if err == nil || errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), `history "H" is empty or unknown`) || e.out.Len() != 0 {
		t.Errorf("show of an unknown history: %v, printed %q", err, e.out.String())
	}
	if err := Run(context.Background(), e.Env, []string{"show", "h", "--last-k", "0"}); err != nil || e.out.Len() != 0 {
		t.Errorf("show --last-k 0 of a history with messages: %v, printed %q", err, e.out.String())
	}
}

// TestBenchDefaultsToTemporaryStore: bench without --store or --server
// does not touch chatstore.db of the working directory: it runs on a SQLite
// file in a temporary directory, says so, and removes it.
func TestBenchDefaultsToTemporaryStore(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where os.MkdirTemp makes it
	t.Chdir(t.TempDir())
	e := newEnv(nil)
	if err := Run(context.Background(), e.Env, []string{"bench", "--workloads", "W1", "--scale", "0.001", "--json"}); err != nil {
		t.Fatalf("bench: %v\n%s", err, e.err.String())
	}
	if _, err := os.Stat("chatstore.db"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("bench made or touched chatstore.db in the working directory: %v", err)
	}
	var rep struct{ Target string }
	if err := json.Unmarshal(e.out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if want := "sqlite:" + filepath.ToSlash(tmp) + "/chatstore-bench-"; !strings.HasPrefix(rep.Target, want) || !strings.Contains(e.err.String(), "temporary SQLite file, "+rep.Target+", removed at the end") {
		t.Errorf("target %q, stderr %q; want a target under %s, named on stderr", rep.Target, e.err.String(), want)
	}
	if left, err := os.ReadDir(tmp); err != nil || len(left) != 0 {
		t.Errorf("the temporary store was not removed: %v %v", left, err)
	}
}

// TestBenchRawFlags: --raw and --compare are refused clearly where there is
// no raw baseline (memory://, a server), and --compare on a SQLite file
// reports the store, the baseline and the ratios, and leaves no raw table.
func TestBenchRawFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"bench", "--raw", "--store", "memory://"}, "no raw baseline for memory://"},
		{[]string{"bench", "--compare", "--store", "memory://", "--workloads", "W1"}, "no raw baseline for memory://"},
		{[]string{"bench", "--raw", "--server", "http://127.0.0.1:1"}, "--raw and --compare need --store"},
		{[]string{"bench", "--raw", "--compare", "--store", "memory://"}, "exclude each other"},
		{[]string{"bench", "--compare", "--count", "0", "--store", "memory://"}, "--count must be at least 1, got 0"},
		{[]string{"bench", "--count", "101", "--store", "memory://"}, "count 101 is above 100"},
	} {
		e := newEnv(nil)
		err := Run(context.Background(), e.Env, c.args)
		if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), c.want) || e.out.Len() != 0 {
			t.Errorf("%q: %v, printed %q; want a usage error with %q", c.args, err, e.out.String(), c.want)
		}
	}
	path := filepath.Join(t.TempDir(), "bench.db")
	e := newEnv(nil)
	if err := Run(context.Background(), e.Env, []string{"bench", "--compare", "--store", "sqlite:" + filepath.ToSlash(path), "--workloads", "W1,W3", "--scale", "0.002", "--reads", "5", "--json"}); err != nil {
		t.Fatalf("bench --compare: %v\n%s", err, e.err.String())
	}
	var rep struct {
		Store, Raw struct {
			Target  string
			Raw     bool
			Results []struct{ Rate float64 }
		}
		Ratios []struct {
			Workload string
			Time     float64
		}
	}
	if err := json.Unmarshal(e.out.Bytes(), &rep); err != nil {
		t.Fatalf("%v\n%s", err, e.out.String())
	}
	if len(rep.Store.Results) != 4 || len(rep.Raw.Results) != 4 || len(rep.Ratios) != 4 || !rep.Raw.Raw || rep.Store.Raw {
		t.Fatalf("report:\n%s", e.out.String())
	}
	for _, r := range rep.Ratios {
		if r.Time <= 0 {
			t.Errorf("ratio %+v", r)
		}
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name LIKE 'chatstore_raw_bench%'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d raw tables left (%v)", n, err)
	}
}

// TestBenchCount: --count runs the workloads in passes and reports their
// medians; with --compare the ratios' medians and their range.
func TestBenchCount(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bench.db")
	e := newEnv(nil)
	if err := Run(context.Background(), e.Env, []string{"bench", "--compare", "--count", "3", "--store", "sqlite:" + filepath.ToSlash(path), "--workloads", "W1", "--scale", "0.002"}); err != nil {
		t.Fatalf("bench --compare --count 3: %v\n%s", err, e.err.String())
	}
	out := e.out.String()
	for _, want := range []string{"medians of 3 passes (max: the largest)", "medians of 3 passes' ratios", "range"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	// The ratio's line: W1, the median, then its range, whose ends
	// hold the median.
	var line string
	for l := range strings.Lines(out) {
		if strings.Contains(l, "append 1 message") && strings.Contains(l, "–") {
			line = l
		}
	}
	f := strings.Fields(line)
	if len(f) < 5 {
		t.Fatalf("no ratio line with a range in\n%s", out)
	}
	var med, lo, hi float64
	if _, err := fmt.Sscanf(f[1]+" "+f[2], "%g× %g–%g×", &med, &lo, &hi); err != nil || lo > med || med > hi {
		t.Errorf("ratio line %q: median %g, range %g–%g (%v)", line, med, lo, hi, err)
	}

	e = newEnv(nil)
	if err := Run(context.Background(), e.Env, []string{"bench", "--count", "2", "--store", "memory://", "--workloads", "W1", "--scale", "0.002", "--json"}); err != nil {
		t.Fatalf("bench --count 2: %v\n%s", err, e.err.String())
	}
	var rep struct{ Results []struct{ Runs int } }
	if err := json.Unmarshal(e.out.Bytes(), &rep); err != nil || len(rep.Results) != 1 || rep.Results[0].Runs != 2 {
		t.Errorf("%v: %s; want one result of 2 passes", err, e.out.String())
	}
}

// TestBenchCPUProfile: --cpuprofile writes a profile of the run (gzipped,
// as runtime/pprof writes them), and a file it cannot create fails the run
// before it starts.
func TestBenchCPUProfile(t *testing.T) {
	prof := filepath.Join(t.TempDir(), "cpu.prof")
	e := newEnv(nil)
	if err := Run(context.Background(), e.Env, []string{"bench", "--store", "memory://", "--workloads", "W1", "--scale", "0.01", "--cpuprofile", prof}); err != nil {
		t.Fatalf("bench: %v\n%s", err, e.err.String())
	}
	b, err := os.ReadFile(prof)
	if err != nil || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Errorf("the profile: %d bytes, %v; want a gzipped profile", len(b), err)
	}
	e = newEnv(nil)
	err = Run(context.Background(), e.Env, []string{"bench", "--store", "memory://", "--workloads", "W1", "--scale", "0.01", "--cpuprofile", filepath.Join(t.TempDir(), "missing", "cpu.prof")})
	if err == nil || !strings.Contains(err.Error(), "--cpuprofile") || e.out.Len() != 0 {
		t.Errorf("an uncreatable profile: %v, printed %q", err, e.out.String())
	}
}
