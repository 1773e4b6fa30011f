package pgstore_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/internal/testenv"
	"github.com/chatstore/chatstore/pgstore"
)

// faults breaks the connections of a pool at moments a test chooses, by
// reading the PostgreSQL wire protocol that passes through them: every
// message is a type byte and an int32 big-endian length that counts itself
// and the body (the client's first message, the startup packet, has no type
// byte). A request that runs statements is an Execute ('E') followed by a
// Sync ('S'), and its answer ends with ReadyForQuery ('Z', length 5), whose
// one byte is the transaction status afterwards: 'I' idle (what ran was
// committed, or rolled back), 'T' in a transaction, 'E' in a failed one.
// Requests that run nothing are not counted: pgx's preparing round trips
// (Parse, Describe, Sync) and its pings (a simple Query of "-- ping").
type faults struct {
	mu sync.Mutex
	// breakAfter, if not 0, is the transaction status of the answer to
	// break the connection after: the next request that runs statements and
	// is answered without an error, ending in ReadyForQuery with this
	// status, reaches the server and is carried out, and its answer is read
	// whole from the socket; then the connection is closed and pgx gets
	// ECONNRESET instead of the answer, as if the database had restarted
	// before it could answer. 'I' breaks after a commit.
	breakAfter byte
	// refuseSend: the next request that runs statements is not sent; the
	// connection is closed and pgx's write of it fails having written
	// nothing.
	refuseSend bool
	// refuseDial: every new connection fails to connect.
	refuseDial bool
	// fired counts the faults that happened; execs, the requests that
	// ran statements (or would have), for the test to check which way a
	// write went.
	fired, execs int
}

var errReset = &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}

func (f *faults) set(fn func(f *faults)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// counts returns fired and execs.
func (f *faults) counts() (fired, execs int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fired, f.execs
}

func (f *faults) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	f.mu.Lock()
	refuse := f.refuseDial
	f.mu.Unlock()
	if refuse {
		return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
	}
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &faultConn{Conn: c, f: f}, nil
}

// faultConn is a connection of a faults pool.
type faultConn struct {
	net.Conn
	f *faults

	mu        sync.Mutex
	started   bool   // the startup packet was sent
	req, resp frames // what was sent, what was received, cut into messages
	executes  bool   // an Execute was sent since the last Sync
	answers   []bool // the ReadyForQuery messages awaited, in order: true for a request that runs statements
	watched   []byte // the answer so far to a request that may be broken after
	failed    bool   // it holds an ErrorResponse
	out       []byte // received, to hand to pgx
	readErr   error  // from the socket, to return to pgx once out is drained
	broken    error  // the fault that closed the connection
}

func (c *faultConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if c.broken != nil {
		c.mu.Unlock()
		return 0, c.broken
	}
	if !c.started {
		// The startup packet, which has no type byte. (The tests connect
		// without TLS, so it is the first thing sent.)
		c.started = true
		c.mu.Unlock()
		return c.Conn.Write(p)
	}
	refuse := false
	msgs, err := c.req.add(p)
	if err != nil {
		c.broken = err
		c.Conn.Close()
		c.mu.Unlock()
		return 0, err
	}
	for _, m := range msgs {
		switch m.typ {
		case 'E': // Execute
			c.executes = true
		case 'S': // Sync: one ReadyForQuery comes back
			c.answers = append(c.answers, c.executes)
			if c.executes {
				c.f.mu.Lock()
				c.f.execs++
				if c.f.refuseSend {
					c.f.refuseSend, refuse = false, true
					c.f.fired++
				}
				c.f.mu.Unlock()
			}
			c.executes = false
		case 'Q', 'F': // simple Query, FunctionCall: one ReadyForQuery
			c.answers = append(c.answers, false)
		}
	}
	if refuse {
		c.broken = &net.OpError{Op: "write", Net: "tcp", Err: syscall.ECONNRESET}
		c.Conn.Close()
		c.mu.Unlock()
		return 0, c.broken
	}
	c.mu.Unlock()
	// The request was registered before it is sent, so its answer cannot
	// arrive before Read knows what it answers.
	return c.Conn.Write(p)
}

func (c *faultConn) Read(p []byte) (int, error) {
	for {
		c.mu.Lock()
		if len(c.out) > 0 {
			n := copy(p, c.out)
			c.out = c.out[n:]
			c.mu.Unlock()
			return n, nil
		}
		if c.broken != nil {
			c.mu.Unlock()
			return 0, c.broken
		}
		if err := c.readErr; err != nil {
			// A deadline (pgx's way of interrupting a read) passes; the
			// connection may be read again after it is cleared.
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				c.readErr = nil
			}
			c.mu.Unlock()
			return 0, err
		}
		c.mu.Unlock()
		buf := make([]byte, max(len(p), 8192))
		n, err := c.Conn.Read(buf)
		c.mu.Lock()
		c.receive(buf[:n])
		if err != nil && c.broken == nil {
			c.readErr = err
		}
		c.mu.Unlock()
	}
}

// receive takes what the server sent, in whole messages: answers to
// requests that run nothing, and messages outside any answer (the startup
// exchange), pass through as they arrive; the answer to a request that runs
// statements is held until its ReadyForQuery, then handed over whole or, if
// it is the one to break after, dropped with the connection.
func (c *faultConn) receive(b []byte) {
	msgs, err := c.resp.add(b)
	if err != nil {
		c.broken = err
		c.Conn.Close()
		return
	}
	for _, m := range msgs {
		if len(c.answers) == 0 || !c.answers[0] || c.broken != nil {
			c.out = append(c.out, m.raw...)
			if m.typ == 'Z' && len(c.answers) > 0 {
				c.answers = c.answers[1:]
			}
			continue
		}
		c.watched = append(c.watched, m.raw...)
		if m.typ == 'E' { // ErrorResponse
			c.failed = true
		}
		if m.typ != 'Z' {
			continue
		}
		c.answers = c.answers[1:]
		if n := binary.BigEndian.Uint32(m.raw[1:5]); n != 5 {
			c.broken = fmt.Errorf("fault test: a ReadyForQuery of length %d, want 5", n)
			c.Conn.Close()
			return
		}
		c.f.mu.Lock()
		fire := c.f.breakAfter != 0 && c.f.breakAfter == m.raw[5] && !c.failed
		if fire {
			c.f.breakAfter = 0
			c.f.fired++
		}
		c.f.mu.Unlock()
		if fire {
			// The server has carried the request out and said so; the
			// answer is lost with the connection.
			c.broken = errReset
			c.Conn.Close()
			c.out, c.watched = nil, nil
			return
		}
		c.out = append(c.out, c.watched...)
		c.watched, c.failed = nil, false
	}
}

// frames cuts a stream of typed protocol messages into whole messages.
type frames struct{ buf []byte }

type message struct {
	typ byte
	raw []byte // the whole message, type byte and length included
}

func (f *frames) add(p []byte) ([]message, error) {
	f.buf = append(f.buf, p...)
	var out []message
	for len(f.buf) >= 5 {
		n := int(binary.BigEndian.Uint32(f.buf[1:5]))
		if n < 4 {
			return out, fmt.Errorf("fault test: a message %q of length %d, less than its length field", f.buf[0], n)
		}
		if len(f.buf) < 1+n {
			break
		}
		raw := slices.Clone(f.buf[:1+n])
		out = append(out, message{typ: raw[0], raw: raw})
		f.buf = f.buf[1+n:]
	}
	if len(f.buf) == 0 {
		f.buf = nil
	}
	return out, nil
}

// faultStore returns a Store, in a schema of its own, over a pool whose
// connections f breaks.
func faultStore(t *testing.T) (*chatstore.Store, *pgxpool.Pool, *faults, *pgstore.Store) {
	t.Helper()
	admin := testPool(t)
	schema := freshSchema(t, admin)
	cfg, err := pgxpool.ParseConfig(testenv.Get(t, urlEnv, urlExample))
	if err != nil {
		t.Fatal(err)
	}
	// Plaintext, for the protocol to be read.
	cfg.ConnConfig.TLSConfig, cfg.ConnConfig.Fallbacks = nil, nil
	f := &faults{}
	cfg.ConnConfig.DialFunc = f.dial
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	drv, err := pgstore.New(t.Context(), pool, &pgstore.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	st, err := chatstore.New(drv, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, pool, f, drv
}

// arm sets a fault for one step of a test, and clears every fault when the
// step ends, whether it fired or not.
func (f *faults) arm(t *testing.T, fn func(f *faults)) {
	t.Helper()
	f.set(fn)
	t.Cleanup(func() {
		f.set(func(f *faults) { f.breakAfter, f.refuseSend, f.refuseDial = 0, false, false })
	})
}

// expectFault checks that the fault armed since fired, execs were counted
// fired, and that the write sent execs requests that run statements.
func (f *faults) expectFault(t *testing.T, fired0, execs0, execs int) {
	t.Helper()
	fired, n := f.counts()
	if fired != fired0+1 {
		t.Fatalf("the fault did not happen (%d faults, want %d): the test tested nothing", fired, fired0+1)
	}
	if n-execs0 != execs {
		t.Errorf("the write sent %d requests that run statements, want %d", n-execs0, execs)
	}
}

func outcomeUnknown(err error) bool {
	return errors.Is(err, chatstore.ErrOutcomeUnknown) && errors.Is(err, chatstore.ErrUnavailable)
}

// storedNothing says the error is ErrUnavailable, promising nothing was
// stored.
func storedNothing(err error) bool {
	return errors.Is(err, chatstore.ErrUnavailable) && !errors.Is(err, chatstore.ErrOutcomeUnknown)
}

// writePaths are the three ways a write goes: to a history this process
// has not written and presumes exists (lock the row, then write and
// commit: two requests), to one it presumes new (one statement that
// creates it), and to one it wrote and knows the state of (one guarded
// statement).
var writePaths = []struct {
	name     string
	warm     bool
	existing bool // presumed, of a history not known (pgstore.PresumeExisting)
	execs    int
}{{"locked", false, true, 2}, {"create", false, false, 1}, {"guarded", true, false, 1}}

var round = []chat.Message{chat.User("q"), chat.Assistant("a")}

// warmUp writes one message to id if warm, so that the next write takes
// the guarded path, sets what the next write to a history drv does not
// know presumes, and returns the history's count.
func warmUp(t *testing.T, st *chatstore.Store, drv *pgstore.Store, id string, warm, existing bool) int {
	t.Helper()
	if warm {
		if _, err := st.Write(t.Context(), id, []chat.Message{chat.User("warm")}); err != nil {
			t.Fatal(err)
		}
	}
	pgstore.PresumeExisting(drv, existing)
	n, err := st.Count(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func countOf(t *testing.T, st *chatstore.Store, id string) int {
	t.Helper()
	n, err := st.Count(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestWriteOutcomeUnknown breaks the connection after PostgreSQL committed a
// write and answered: the write is stored, and says its outcome is unknown.
func TestWriteOutcomeUnknown(t *testing.T) {
	st, _, f, drv := faultStore(t)
	for _, p := range writePaths {
		t.Run(p.name, func(t *testing.T) {
			id := "h-" + p.name
			before := warmUp(t, st, drv, id, p.warm, p.existing)
			fired, execs := f.counts()
			f.arm(t, func(f *faults) { f.breakAfter = 'I' })
			_, err := st.Write(t.Context(), id, round)
			f.expectFault(t, fired, execs, p.execs)
			if !outcomeUnknown(err) {
				t.Fatalf("err = %v, want ErrOutcomeUnknown and ErrUnavailable", err)
			}
			if n := countOf(t, st, id); n != before+2 {
				t.Errorf("count %d after the write, want %d: the write was committed", n, before+2)
			}
			// The store goes on, on a new connection, from the state the
			// write left.
			if n, err := st.Write(t.Context(), id, []chat.Message{chat.User("next")}); err != nil || n != 1 {
				t.Fatalf("next write: %d, %v", n, err)
			}
			if n := countOf(t, st, id); n != before+3 {
				t.Errorf("count %d, want %d", n, before+3)
			}
		})
	}
}

// TestWriteIdempotentOutcomeUnknown: a keyed write whose answer is lost after
// its commit is retried with the same key, and the retry answers what the
// first write did, which is stored once.
func TestWriteIdempotentOutcomeUnknown(t *testing.T) {
	st, _, f, drv := faultStore(t)
	for _, p := range writePaths {
		t.Run(p.name, func(t *testing.T) {
			id := "h-" + p.name
			before := warmUp(t, st, drv, id, p.warm, p.existing)
			fired, execs := f.counts()
			f.arm(t, func(f *faults) { f.breakAfter = 'I' })
			_, _, err := st.WriteIdempotent(t.Context(), id, "key-1", round)
			f.expectFault(t, fired, execs, p.execs)
			if !outcomeUnknown(err) {
				t.Fatalf("err = %v, want ErrOutcomeUnknown and ErrUnavailable", err)
			}
			n, replayed, err := st.WriteIdempotent(t.Context(), id, "key-1", round)
			if err != nil || n != 2 || !replayed {
				t.Fatalf("retry: n=%d replayed=%v err=%v, want 2 true nil", n, replayed, err)
			}
			msgs, err := st.RetrieveLast(t.Context(), id, chatstore.All)
			if err != nil {
				t.Fatal(err)
			}
			if len(msgs) != before+2 {
				t.Fatalf("history holds %d messages, want %d", len(msgs), before+2)
			}
			for i, m := range msgs[before:] {
				got, _ := m.Text()
				want, _ := round[i].Text()
				if got != want || m.Role != round[i].Role {
					t.Errorf("message %d is %v %q, want %v %q", before+i, m.Role, got, round[i].Role, want)
				}
			}
		})
	}
}

// TestWriteFailsBeforeSending: a write that fails before anything of it
// reaches the server stored nothing and says so: ErrUnavailable without
// ErrOutcomeUnknown. So does one that fails after its transaction began but
// before its COMMIT was sent.
func TestWriteFailsBeforeSending(t *testing.T) {
	st, pool, f, drv := faultStore(t)
	keyed := []bool{false, true}
	for _, p := range writePaths {
		for _, k := range keyed {
			name := p.name
			if k {
				name += "/keyed"
			}
			// pgx fails to write the request that would run the write's
			// statements, having written none of it (pgconn.SafeToRetry).
			t.Run("send/"+name, func(t *testing.T) {
				id := "send-" + name
				before := warmUp(t, st, drv, id, p.warm, p.existing)
				fired, execs := f.counts()
				f.arm(t, func(f *faults) { f.refuseSend = true })
				err := writeMaybeKeyed(t, st, id, k)
				f.expectFault(t, fired, execs, 1)
				if !storedNothing(err) {
					t.Fatalf("err = %v, want ErrUnavailable without ErrOutcomeUnknown", err)
				}
				checkNothingStored(t, st, id, before, k)
			})
		}
	}
	// No connection can be made: nothing is sent.
	t.Run("dial", func(t *testing.T) {
		before := warmUp(t, st, drv, "dial", true, false)
		pool.Reset() // close the idle connections, so that the write dials
		f.arm(t, func(f *faults) { f.refuseDial = true })
		_, err := st.Write(t.Context(), "dial", round)
		if !storedNothing(err) {
			t.Fatalf("err = %v, want ErrUnavailable without ErrOutcomeUnknown", err)
		}
		f.set(func(f *faults) { f.refuseDial = false })
		checkNothingStored(t, st, "dial", before, false)
	})
	// The locked path's first request (BEGIN, create and lock the row, look
	// the key up) is carried out and its answer lost: COMMIT was never
	// sent, the server rolls the transaction back when the connection goes.
	for _, k := range keyed {
		name := "before-commit"
		if k {
			name += "/keyed"
		}
		t.Run(name, func(t *testing.T) {
			id := name
			pgstore.PresumeExisting(drv, true)
			fired, execs := f.counts()
			f.arm(t, func(f *faults) { f.breakAfter = 'T' })
			err := writeMaybeKeyed(t, st, id, k)
			f.expectFault(t, fired, execs, 1)
			if !storedNothing(err) {
				t.Fatalf("err = %v, want ErrUnavailable without ErrOutcomeUnknown", err)
			}
			checkNothingStored(t, st, id, 0, k)
		})
	}
}

func writeMaybeKeyed(t *testing.T, st *chatstore.Store, id string, keyed bool) error {
	if keyed {
		_, _, err := st.WriteIdempotent(t.Context(), id, "key-1", round)
		return err
	}
	_, err := st.Write(t.Context(), id, round)
	return err
}

// checkNothingStored checks that the history still has count messages and,
// after a keyed write, that its key was not recorded: the retry writes.
func checkNothingStored(t *testing.T, st *chatstore.Store, id string, count int, keyed bool) {
	t.Helper()
	if n := countOf(t, st, id); n != count {
		t.Errorf("count %d after the failed write, want %d", n, count)
	}
	if keyed {
		n, replayed, err := st.WriteIdempotent(t.Context(), id, "key-1", round)
		if err != nil || n != 2 || replayed {
			t.Errorf("retry: n=%d replayed=%v err=%v, want 2 false nil", n, replayed, err)
		}
	}
}
