// Package testenv gates tests that need a server (PostgreSQL, Redis) on an
// environment variable holding its address.
package testenv

import (
	"os"
	"testing"
)

// Get returns the value of the environment variable name. When it is unset
// the test is skipped with a message saying how to run it, except under
// CI=true, where a missing service is a failure: a green CI that skipped the
// databases would prove nothing.
func Get(t testing.TB, name, example string) string {
	t.Helper()
	v := os.Getenv(name)
	if v != "" {
		return v
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not set, and CI=true requires this test to run (example: %s=%q)", name, name, example)
	}
	t.Skipf("set %s to run this test (example: %s=%q)", name, name, example)
	return ""
}

// LongEnv turns on the long variants of the load, fault and hostile-input
// tests. It is a variable rather than a -long flag because "go test ./..."
// hands its flags to every package's test binary, and those without the
// flag would refuse to run.
const LongEnv = "CHATSTORE_TEST_LONG"

// Long reports whether the long variants run (LongEnv=1). The short ones,
// which CI runs, check the same things with fewer rounds.
func Long() bool { return os.Getenv(LongEnv) == "1" }

// Rounds returns short, or long when the long variants run.
func Rounds(short, long int) int {
	if Long() {
		return long
	}
	return short
}
