package redisstore_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/internal/testenv"
	"github.com/chatstore/chatstore/redisstore"
)

// faultDialer is a go-redis Dialer whose connections can fail as if Redis
// died between running a write script and sending its answer, or refuse
// to connect at all.
type faultDialer struct {
	// armed: the next connection that sends a write script breaks after
	// Redis has run it (faultConn). One-shot.
	armed atomic.Bool
	// faults counts the writes broken after Redis ran them.
	faults atomic.Int32
	// refuse: dial deadAddr, where nothing listens, instead.
	refuse   atomic.Bool
	deadAddr string
}

func (d *faultDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if d.refuse.Load() {
		addr = d.deadAddr
	}
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &faultConn{Conn: c, d: d}, nil
}

var writeMarkers = redisstore.WriteScriptMarkers()

// faultConn passes everything through until the dialer is armed and a
// write script's command (EVALSHA or EVAL, recognised by the script's
// digest or source) goes out on it. That command reaches Redis whole; the
// next Read waits for the first byte of Redis's answer (Redis runs a script
// whole before answering, so it has run), closes the connection and fails
// as a reset connection does.
type faultConn struct {
	net.Conn
	d   *faultDialer
	cut atomic.Bool
}

func (c *faultConn) Write(p []byte) (int, error) {
	if c.d.armed.Load() && isWrite(p) && c.d.armed.CompareAndSwap(true, false) {
		c.cut.Store(true)
	}
	return c.Conn.Write(p)
}

func isWrite(p []byte) bool {
	for _, m := range writeMarkers {
		if bytes.Contains(p, m) {
			return true
		}
	}
	return false
}

func (c *faultConn) Read(p []byte) (int, error) {
	if !c.cut.Load() {
		return c.Conn.Read(p)
	}
	var b [1]byte
	if n, _ := c.Conn.Read(b[:]); n == 1 {
		c.d.faults.Add(1)
	}
	c.Conn.Close()
	return 0, &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: syscall.ECONNRESET}
}

// faultClients are the clients of the fault tests: go-redis's defaults but
// for the dialer, so its retries (MaxRetries 3 on a Client, MaxRedirects 3
// on a ClusterClient) are on. A write that go-redis sent again after the
// fault would be stored twice and answered without error.
var faultClients = []struct {
	name   string
	client func(t *testing.T, d *faultDialer) redis.UniversalClient
}{
	{"single", func(t *testing.T, d *faultDialer) redis.UniversalClient {
		opts, err := redis.ParseURL(testenv.Get(t, urlEnv, urlExample))
		if err != nil {
			t.Fatalf("%s: %v", urlEnv, err)
		}
		opts.Dialer = d.dial
		c := redis.NewClient(opts)
		t.Cleanup(func() { c.Close() })
		return c
	}},
	{"cluster", func(t *testing.T, d *faultDialer) redis.UniversalClient {
		addrs := strings.Split(testenv.Get(t, clusterEnv, clusterExample), ",")
		c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, Dialer: d.dial})
		t.Cleanup(func() { c.Close() })
		return c
	}},
}

// faultStore is a store on a client through d, under a key prefix of its
// own deleted when the test ends.
func faultStore(t *testing.T, c redis.UniversalClient) *chatstore.Store {
	t.Helper()
	st, err := chatstore.New(freshStore(t, c, 0), nil)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestWriteOutcomeUnknown breaks the connection after Redis ran a write and
// before its answer arrived: the write fails with ErrOutcomeUnknown (and
// ErrUnavailable), go-redis does not send it again, and a retry with the
// same idempotency key replays the first write.
func TestWriteOutcomeUnknown(t *testing.T) {
	for _, tc := range faultClients {
		t.Run(tc.name, func(t *testing.T) {
			d := &faultDialer{}
			st := faultStore(t, tc.client(t, d))
			ctx := t.Context()
			msgs := []chat.Message{chat.User("q"), chat.Assistant("a")}

			// An unkeyed write. The history's first message loads the
			// script on its node, so that the faulted command is the
			// script's run, not a NOSCRIPT answer.
			if _, err := st.Write(ctx, "a", []chat.Message{chat.User("first")}); err != nil {
				t.Fatal(err)
			}
			d.armed.Store(true)
			_, err := st.Write(ctx, "a", msgs)
			if !errors.Is(err, chatstore.ErrOutcomeUnknown) || !errors.Is(err, chatstore.ErrUnavailable) {
				t.Errorf("write whose answer was lost: err = %v, want ErrOutcomeUnknown and ErrUnavailable", err)
			}
			if f := d.faults.Load(); f != 1 {
				t.Fatalf("%d faults injected, want 1", f)
			}
			// Stored, and once: a retry by go-redis would have stored the
			// messages again (and returned no error).
			checkTexts(t, st, "a", "first", "q", "a")

			// A keyed write, then its retry.
			if _, _, err := st.WriteIdempotent(ctx, "b", "warm", []chat.Message{chat.User("first")}); err != nil {
				t.Fatal(err)
			}
			d.armed.Store(true)
			_, _, err = st.WriteIdempotent(ctx, "b", "key-1", msgs)
			if !errors.Is(err, chatstore.ErrOutcomeUnknown) || !errors.Is(err, chatstore.ErrUnavailable) {
				t.Errorf("keyed write whose answer was lost: err = %v, want ErrOutcomeUnknown and ErrUnavailable", err)
			}
			if f := d.faults.Load(); f != 2 {
				t.Fatalf("%d faults injected, want 2", f)
			}
			n, replayed, err := st.WriteIdempotent(ctx, "b", "key-1", msgs)
			if err != nil || n != 2 || !replayed {
				t.Errorf("retry with the same key: n=%d replayed=%v err=%v, want 2 true nil", n, replayed, err)
			}
			checkTexts(t, st, "b", "first", "q", "a")
		})
	}
}

// TestWriteNotSent checks that a write that could not be sent, because
// Redis refused the connection, is ErrUnavailable without
// ErrOutcomeUnknown, and stored nothing.
func TestWriteNotSent(t *testing.T) {
	for _, tc := range faultClients {
		t.Run(tc.name, func(t *testing.T) {
			// A new client has no connections: its first command dials.
			d := &faultDialer{deadAddr: "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))}
			d.refuse.Store(true)
			st := faultStore(t, tc.client(t, d))
			ctx := t.Context()
			msgs := []chat.Message{chat.User("q"), chat.Assistant("a")}
			_, err := st.Write(ctx, "c", msgs)
			if !errors.Is(err, chatstore.ErrUnavailable) || errors.Is(err, chatstore.ErrOutcomeUnknown) {
				t.Errorf("write to a refused connection: err = %v, want ErrUnavailable and not ErrOutcomeUnknown", err)
			}
			_, _, err = st.WriteIdempotent(ctx, "c", "key-1", msgs)
			if !errors.Is(err, chatstore.ErrUnavailable) || errors.Is(err, chatstore.ErrOutcomeUnknown) {
				t.Errorf("keyed write to a refused connection: err = %v, want ErrUnavailable and not ErrOutcomeUnknown", err)
			}
			d.refuse.Store(false)
			checkTexts(t, st, "c")
			if n, replayed, err := st.WriteIdempotent(ctx, "c", "key-1", msgs); err != nil || n != 2 || replayed {
				t.Errorf("the key after a refused write: n=%d replayed=%v err=%v, want 2 false nil", n, replayed, err)
			}
		})
	}
}

// checkTexts checks that a history holds exactly messages with these texts.
func checkTexts(t *testing.T, st *chatstore.Store, id string, want ...string) {
	t.Helper()
	msgs, err := st.RetrieveLast(t.Context(), id, chatstore.All)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]string, len(msgs))
	for i, m := range msgs {
		got[i], _ = m.Text()
	}
	if strings.Join(got, "|") != strings.Join(want, "|") || len(got) != len(want) {
		t.Errorf("history %q holds %q, want %q", id, got, want)
	}
}
