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
