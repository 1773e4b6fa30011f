package redisstore_test

import (
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/internal/loadtest"
	"github.com/chatstore/chatstore/internal/testenv"
	"github.com/chatstore/chatstore/storetest"
)

// redisServer runs a redis-server of the test's own on a free port, with
// an append-only file synced on every write, so that a restart keeps what
// was acknowledged.
type redisServer struct {
	t        *testing.T
	bin, dir string
	port     int
	cmd      *exec.Cmd
	exited   chan struct{}
}

func (r *redisServer) start() {
	r.t.Helper()
	r.cmd = exec.Command(r.bin, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--dir", r.dir,
		"--save", "", "--appendonly", "yes", "--appendfsync", "always")
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.exited = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); close(done) }(r.cmd, r.exited)
	for range 100 {
		if c, err := net.Dial("tcp", r.addr()); err == nil {
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

func (r *redisServer) stop() {
	r.cmd.Process.Kill()
	<-r.exited
}

func (r *redisServer) addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestServerRestart kills Redis during a write loop and starts it again:
// the loop sees ErrUnavailable meanwhile, then succeeds on the same Store,
// and every acknowledged write is there afterwards.
func TestServerRestart(t *testing.T) {
	bin := testenv.Get(t, "CHATSTORE_TEST_REDIS_SERVER", "/usr/bin/redis-server")
	srv := &redisServer{t: t, bin: bin, dir: t.TempDir(), port: freePort(t)}
	srv.start()
	defer srv.stop()
	st, err := chatstore.Open(t.Context(), "redis://"+srv.addr()+"/0?dial_timeout=200ms&read_timeout=1s&max_retries=-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	var acked []string
	failures, afterRestart := 0, 0
	deadline := time.Now().Add(60 * time.Second)
	for i := 0; afterRestart < 50; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("gave up: %d acked, %d failures, %d writes after the restart", len(acked), failures, afterRestart)
		}
		if i == 50 {
			srv.stop()
		}
		tag := fmt.Sprint("m", i)
		_, err := st.Write(t.Context(), "h", []chat.Message{chat.User(tag)})
		switch {
		case err == nil:
			acked = append(acked, tag)
			if i > 50 {
				afterRestart++
			}
		case errors.Is(err, chatstore.ErrUnavailable):
			if failures++; failures == 3 {
				srv.start() // down long enough to be seen; bring it back
			}
		default:
			t.Fatalf("write %d: an error that does not say the store is unavailable: %v", i, err)
		}
	}
	if failures < 3 {
		t.Errorf("only %d writes failed while Redis was down", failures)
	}
	storetest.CheckAcked(t, st, "h", acked)
	t.Logf("%d acknowledged writes, %d failed while Redis was down, all acknowledged ones present", len(acked), failures)
}

// TestHTTPServerRestart kills Redis under a chatstore server taking writes
// from 32 clients and starts it again: the server answers 503 while Redis is
// down, 2xx again within seconds of it being back, without a restart of its
// own, and loses no acknowledged write.
func TestHTTPServerRestart(t *testing.T) {
	bin := testenv.Get(t, "CHATSTORE_TEST_REDIS_SERVER", "/usr/bin/redis-server")
	srv := &redisServer{t: t, bin: bin, dir: t.TempDir(), port: freePort(t)}
	srv.start()
	defer func() { srv.stop() }()
	// The client's defaults: how a server would be configured.
	st, err := chatstore.Open(t.Context(), "redis://"+srv.addr()+"/0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	loadtest.StoreOutage(t, st, srv.stop, srv.start)
}
