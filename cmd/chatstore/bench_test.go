package main

import (
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBench runs "chatstore bench" quickly against a store and against a
// server, and checks that it reports every workload and leaves nothing
// behind.
func TestBench(t *testing.T) {
	dir := t.TempDir()
	store := "sqlite:" + filepath.Join(dir, "bench.db")
	quick := []string{"--scale", "0.01", "--duration", "300ms", "--reads", "20", "--clients", "8"}

	out, _ := run(t, "", append([]string{"bench", "--store", store, "--json"}, quick...)...)
	var rep struct {
		Target  string
		Machine struct{ CPUs int }
		Results []struct {
			Workload string
			Ops      int
			Rate     float64
			P99      float64 `json:"p99_us"`
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	var got []string
	for _, r := range rep.Results {
		got = append(got, r.Workload)
		if r.Ops == 0 || r.Rate <= 0 || r.P99 <= 0 {
			t.Errorf("%s: empty figures %+v", r.Workload, r)
		}
	}
	if strings.Join(got, " ") != "W1 W2 W3 W3 W3 W4" || rep.Target != store || rep.Machine.CPUs == 0 {
		t.Errorf("report: target %q, machine %+v, workloads %v", rep.Target, rep.Machine, got)
	}
	if h, _ := run(t, "", "histories", "--store", store); h != "" {
		t.Errorf("bench left histories in the store: %q", h)
	}

	p := serve(t, "--store", "sqlite:"+filepath.Join(dir, "served.db"))
	out, _ = run(t, "", append([]string{"bench", "--server", p.base, "--format", "markdown", "--workloads", "W1,W4"}, quick...)...)
	if !strings.Contains(out, "| W1 append 1 message × 100, one history |") || !strings.Contains(out, "| W4 8 clients") {
		t.Errorf("--server --format markdown:\n%s", out)
	}
	if h, _ := run(t, "", "histories", "--server", p.base); h != "" {
		t.Errorf("bench left histories on the server: %q", h)
	}

	cmd := exec.Command(binary, "bench", "--store", "memory://", "--workloads", "W9")
	cmd.Env = cleanEnv()
	b, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(b), `unknown workload "W9"`) {
		t.Errorf("--workloads W9: %v\n%s", err, b)
	}
}
