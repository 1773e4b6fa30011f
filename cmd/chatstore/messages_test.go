package main

// What the binary says when something is wrong: one line on stderr, in
// words a new user can act on.

import (
	"bytes"
	"errors"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runFail runs a command that must fail and returns its stderr and exit
// status.
func runFail(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(cleanEnv(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("chatstore %s: %v, want a failure\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stderr.String(), ee.ExitCode()
}

func TestUnknownSchemeSaysChatstoreOnce(t *testing.T) {
	stderr, code := runFail(t, nil, "count", "x", "--store", "foo://bar")
	if code != 1 || !strings.HasPrefix(stderr, "chatstore: unknown store URL scheme \"foo\"") || strings.Contains(stderr, "chatstore: chatstore:") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// TestDataCommandQuietOnRedisDown: a data command on a Redis that is down
// prints its one error line; go-redis's own records (failed dials, in a
// format of their own) do not repeat it.
func TestDataCommandQuietOnRedisDown(t *testing.T) {
	stderr, code := runFail(t, nil, "count", "x", "--store", "redis://127.0.0.1:1/0?dial_timeout=100ms")
	if code != 1 || strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "redisstore: ") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
}

// TestShowUnknownHistory: show of an unknown id exits 1 and says so on
// stderr, rather than printing nothing and exiting 0.
func TestShowUnknownHistory(t *testing.T) {
	stderr, code := runFail(t, nil, "show", "nosuch", "--store", "memory://")
	if code != 1 || stderr != "show: history \"nosuch\" is empty or unknown (ids are case-sensitive; \"chatstore histories\" lists them)\n" {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// waitLog waits until the server has logged want, failing the test if it
// exits first.
func (p *proc) waitLog(want string) {
	p.t.Helper()
	timeout := time.After(30 * time.Second)
	for !strings.Contains(p.log(), want) {
		select {
		case <-p.line:
		case err := <-p.done:
			p.done <- err // for stop and the cleanup
			p.t.Fatalf("the server exited (%v) before logging %q:\n%s", err, want, p.log())
		case <-timeout:
			p.t.Fatalf("no %q in the log within 30s:\n%s", want, p.log())
		}
	}
}

// TestHUPWithoutTokensFile: SIGHUP reloads the tokens file; a server
// started without one logs that it ignores the signal and goes on serving,
// instead of dying with the requests in flight.
func TestHUPWithoutTokensFile(t *testing.T) {
	p := serve(t, "--store", "memory://")
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	p.waitLog(`"msg":"SIGHUP ignored: it reloads the tokens file, and this server was started without --tokens-file"`)
	if a := p.call("POST", "/v1/histories/h/messages", `{"messages":[`+msg("user", "after HUP")+`]}`); a.status != 200 {
		t.Errorf("write after SIGHUP: %d %s", a.status, a.body)
	}
	if a := p.call("GET", "/v1/histories/h", ""); !strings.Contains(a.body, `"count":1`) {
		t.Errorf("read after SIGHUP: %d %s", a.status, a.body)
	}
	if err := p.stop(syscall.SIGTERM); err != nil || !strings.Contains(p.log(), `"msg":"stopped"`) {
		t.Errorf("SIGTERM after SIGHUP: exit %v, want 0 and a clean stop:\n%s", err, p.log())
	}
}
