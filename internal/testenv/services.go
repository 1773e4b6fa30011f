package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/url"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresSchema returns the PostgreSQL store URL base with a schema=
// parameter naming a schema of the test's own, which is dropped with
// everything in it when the test ends (after whatever used it, whose
// cleanup was registered later, has stopped).
func PostgresSchema(t testing.TB, base string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("the PostgreSQL URL: %v", err)
	}
	q := u.Query()
	q.Del("schema") // chatstore's, not pgx's
	u.RawQuery = q.Encode()
	dsn := u.String()
	// A connection now, to fail early when the server does not answer; a
	// new one to drop the schema, since a test may restart the server.
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatalf("the PostgreSQL URL is set but the server does not answer: %v", err)
	}
	conn.Close(t.Context())
	b := make([]byte, 6)
	rand.Read(b)
	name := "chatstore_e2e_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, dsn)
		if err == nil {
			defer conn.Close(ctx)
			_, err = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE")
		}
		if err != nil {
			t.Errorf("dropping schema %s: %v", name, err)
		}
	})
	q.Set("schema", name)
	u.RawQuery = q.Encode()
	return u.String()
}

// Redis is a redis-server of the test's own on a free port, with an
// append-only file synced on every write, so that a restart keeps what was
// acknowledged. The tests that kill it use it rather than the shared one.
type Redis struct {
	t        testing.TB
	bin, dir string
	port     int
	cmd      *exec.Cmd
	exited   chan struct{}
}

// StartRedis starts the redis-server binary bin; it is killed when the
// test ends.
func StartRedis(t testing.TB, bin string) *Redis {
	t.Helper()
	r := &Redis{t: t, bin: bin, dir: t.TempDir(), port: FreePort(t)}
	r.Start()
	t.Cleanup(func() {
		if r.cmd.ProcessState == nil {
			r.Stop()
		}
	})
	return r
}

// Start starts the server again after Stop, on the same port and file, and
// returns once it listens.
func (r *Redis) Start() {
	r.t.Helper()
	r.cmd = exec.Command(r.bin, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--dir", r.dir,
		"--save", "", "--appendonly", "yes", "--appendfsync", "always")
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.exited = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); close(done) }(r.cmd, r.exited)
	for range 100 {
		if c, err := net.Dial("tcp", r.Addr()); err == nil {
			c.Close()
			return
		}
		select {
		case <-r.exited:
			r.t.Fatal("redis-server exited at start")
		case <-time.After(50 * time.Millisecond):
		}
	}
	r.t.Fatal("redis-server did not listen within 5s")
}

// Stop kills the server, as a crash would.
func (r *Redis) Stop() {
	r.cmd.Process.Kill()
	<-r.exited
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Addr is the server's host:port.
func (r *Redis) Addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }
