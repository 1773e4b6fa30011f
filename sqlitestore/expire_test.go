package sqlitestore_test

// Expiry and erasure on SQLite beyond the conformance suite: what a sweep
// leaves in the file's tables, two processes sweeping one file while a
// third renews some of its histories, and an erasure of 10,000 histories
// killed with SIGKILL part way and finished by a second run.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/internal/testenv"
	"github.com/chatstore/chatstore/sqlitestore"
)

// t0 is the time the tests' clocks start at, in Unix milliseconds.
const t0 = int64(1_800_000_000_000)

func openAt(t testing.TB, path string, c *testenv.Clock, ttl time.Duration) *chatstore.Store {
	t.Helper()
	st, err := chatstore.Open(context.Background(), contendedURL(path), &chatstore.Options{Clock: c, TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// matches is how many rows of the search index match word, read from the
// index itself: rows whose message is gone count too. A search through st
// first brings the index up to date with the writes (it is kept after
// them).
func matches(t testing.TB, st *chatstore.Store, path, word string) int64 {
	t.Helper()
	if _, err := st.Search(t.Context(), chatstore.SearchOptions{Query: word}); err != nil {
		t.Fatal(err)
	}
	return fileInt(t, path, "SELECT count(*) FROM search_index WHERE search_index MATCH '"+word+"'")
}

// TestSweepLeavesNothing: a sweep removes an expired history's rows from
// every table, the search index included, and only expired histories'; a
// write to an expired history that was not swept yet starts it anew.
func TestSweepLeavesNothing(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "sweep.db")
	clk := testenv.NewClock(t0)
	st := openAt(t, path, clk, time.Hour)
	user := "u-1"
	for _, id := range []string{"a", "b", "keep"} {
		if _, _, err := st.WriteIdempotent(ctx, id, "key-"+id, []chat.Message{chat.User("hello sweepword " + id), chat.Assistant("hi")}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.SetMetadata(ctx, id, map[string]*string{"user_id": &user}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Compact(ctx, id, "1", chat.Assistant("summary of "+id)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.SetExpiry(ctx, "keep", chatstore.Expiry{TTL: 3 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	clk.Add(2 * time.Hour)
	// "b" expired but is written to before any sweep: it starts anew.
	if _, err := st.Write(ctx, "b", []chat.Message{chat.User("new b")}); err != nil {
		t.Fatal(err)
	}
	msgs, err := st.RetrieveLast(ctx, "b", chatstore.All)
	if err != nil || len(msgs) != 1 || msgs[0].Meta[chatstore.MessageIDKey] != "0" {
		t.Fatalf("b after a write to it expired: %v, %v", msgs, err)
	}
	if info, ok, err := st.Info(ctx, "b"); err != nil || !ok || len(info.Metadata) != 0 || !info.CreatedAt.Equal(clk.Now()) {
		t.Fatalf("b after a write to it expired: %+v, %v", info, err)
	}
	if n := matches(t, st, path, "sweepword"); n != 2 {
		t.Errorf("the index matches %d rows, want the 2 of a and keep", n)
	}
	// Sweeping uses the index on expires_at, not a scan of histories.
	var plan strings.Builder
	rows, err := sqlitestore.RawDB(t, path).Query("EXPLAIN QUERY PLAN SELECT hid FROM histories WHERE expires_at > 0 AND expires_at <= 1 ORDER BY expires_at LIMIT 10")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan.WriteString(detail + "; ")
	}
	rows.Close()
	if !strings.Contains(plan.String(), "histories_by_expiry") || strings.Contains(plan.String(), "TEMP B-TREE") {
		t.Errorf("the sweep's plan: %s", plan.String())
	}
	hidA := fileInt(t, path, "SELECT hid FROM histories WHERE name = 'a'")
	got, err := st.Sweep(ctx, 10)
	if err != nil || got != (chatstore.Erasure{Histories: 1, Messages: 2}) {
		t.Fatalf("sweep: %+v, %v; want a, with 2 messages", got, err)
	}
	for _, table := range []string{"messages", "metadata", "compactions", "idempotency_keys"} {
		if n := fileInt(t, path, fmt.Sprintf("SELECT count(*) FROM %s WHERE hid = %d", table, hidA)); n != 0 {
			t.Errorf("%d rows of the swept history left in %s", n, table)
		}
	}
	if n := matches(t, st, path, "sweepword"); n != 1 {
		t.Errorf("the index matches %d rows, want the 1 of keep", n)
	}
	if got, err := st.Sweep(ctx, 10); err != nil || got != (chatstore.Erasure{}) {
		t.Errorf("second sweep: %+v, %v", got, err)
	}
	if n, err := st.Count(ctx, "keep"); err != nil || n != 2 {
		t.Errorf("keep: %d messages, %v", n, err)
	}
	integrity(t, path)
}

// sweeper runs as "sweep PATH NOW": it sweeps the file with its clock at
// NOW, 20 histories at a time, until a sweep finds nothing, and prints
// "ready" when it starts and "swept HISTORIES MESSAGES" for the total. It
// pauses a millisecond between sweeps, as a server paces its sweeps:
// SQLite does not take turns fairly between processes, and one that
// sweeps without a pause can keep the lock to itself to the end.
func sweeper(path, now string) error {
	var ms int64
	if _, err := fmt.Sscan(now, &ms); err != nil {
		return err
	}
	ctx := context.Background()
	st, err := chatstore.Open(ctx, contendedURL(path), &chatstore.Options{Clock: testenv.NewClock(ms)})
	if err != nil {
		return err
	}
	defer st.Close()
	fmt.Println("ready")
	var total chatstore.Erasure
	for {
		got, err := st.Sweep(ctx, 20)
		if err != nil {
			return err
		}
		if got.Histories == 0 {
			break
		}
		total.Histories += got.Histories
		total.Messages += got.Messages
		time.Sleep(time.Millisecond)
	}
	fmt.Println("swept", total.Histories, total.Messages)
	return nil
}

// eachID runs fn for each id, on 8 goroutines, so that the store's group
// commit gives them few transactions.
func eachID(t *testing.T, ids []string, fn func(id string) error) {
	t.Helper()
	var (
		wg   sync.WaitGroup
		next atomic.Int64
		errs = make(chan error, 8)
	)
	for range 8 {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(ids); i = int(next.Add(1) - 1) {
				if err := fn(ids[i]); err != nil {
					errs <- fmt.Errorf("%s: %w", ids[i], err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// writeEach writes msgs to each history (eachID).
func writeEach(t *testing.T, st *chatstore.Store, ids []string, msgs func(id string) []chat.Message) {
	t.Helper()
	eachID(t, ids, func(id string) error {
		_, err := st.Write(context.Background(), id, msgs(id))
		return err
	})
}

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%05d", prefix, i)
	}
	return out
}

// TestTwoProcessesSweep: two processes sweep one file at once while this
// one writes to some of its histories, which renews them, or, for those a
// sweep removed first, starts them anew. Every expired history is removed
// exactly once in the two processes' counts, no renewed one is removed, the
// others are untouched, and the search index keeps no word of a removed
// message.
func TestTwoProcessesSweep(t *testing.T) {
	const expiring, renewed, kept = 1500, 500, 200
	path := filepath.Join(t.TempDir(), "sweep.db")
	ttl := time.Second
	setup := openAt(t, path, testenv.NewClock(t0), ttl)
	e, r, k := names("e-", expiring), names("r-", renewed), names("k-", kept)
	// Interleaved, so that the sweeps, which take them in the order of
	// the index on expires_at (then of their rows), reach some of those
	// to renew before the writes do.
	var both []string
	for i, id := range e {
		both = append(both, id)
		if i%3 == 0 {
			both = append(both, r[i/3])
		}
	}
	writeEach(t, setup, both, func(id string) []chat.Message {
		return []chat.Message{chat.User("gonesoonword " + id), chat.Assistant("ok")}
	})
	writeEach(t, openAt(t, path, testenv.NewClock(t0), 0), k, func(id string) []chat.Message {
		return []chat.Message{chat.User("gonesoonword kept " + id)}
	})
	setup.Close()

	// The sweeps see the time t0+1.2s: every history written at t0 with a
	// TTL of 1s has expired; the writes, at t0+0.5s, make theirs t0+1.5s.
	var procs []*childProc
	for range 2 {
		procs = append(procs, startProc(t, fmt.Sprintf("sweep %s %d", path, t0+1200)))
	}
	for _, p := range procs {
		if line := p.line(t); line != "ready" {
			t.Fatalf("sweeper said %q", line)
		}
	}
	writer := openAt(t, path, testenv.NewClock(t0+500), ttl)
	writeEach(t, writer, r, func(id string) []chat.Message { return []chat.Message{chat.User("renewing " + id)} })
	var total chatstore.Erasure
	for i, p := range procs {
		var got chatstore.Erasure
		line := p.line(t)
		if _, err := fmt.Sscanf(line, "swept %d %d", &got.Histories, &got.Messages); err != nil {
			t.Fatalf("sweeper %d said %q", i, line)
		}
		p.wait(t)
		t.Logf("sweeper %d removed %d histories", i, got.Histories)
		total.Histories += got.Histories
		total.Messages += got.Messages
	}

	check := openAt(t, path, testenv.NewClock(t0+1200), 0)
	ctx := t.Context()
	for _, id := range e {
		if n := fileInt(t, path, "SELECT count(*) FROM histories WHERE name = '"+id+"'"); n != 0 {
			t.Fatalf("%s, expired, is still there", id)
		}
	}
	// A renewed history holds its 2 messages and the new one; one that a
	// sweep removed before the write holds only the new one.
	recreated := 0
	for _, id := range r {
		msgs, err := check.RetrieveLast(ctx, id, chatstore.All)
		if err != nil {
			t.Fatal(err)
		}
		switch len(msgs) {
		case 3:
		case 1:
			recreated++
		default:
			t.Fatalf("%s holds %d messages: want 3 (renewed) or 1 (swept, then written)", id, len(msgs))
		}
		if text, _ := msgs[len(msgs)-1].Text(); text != "renewing "+id {
			t.Fatalf("%s: the write is lost: %q", id, text)
		}
	}
	want := chatstore.Erasure{Histories: int64(expiring + recreated), Messages: 2 * int64(expiring+recreated)}
	if total != want {
		t.Errorf("the sweeps removed %+v in all, want %+v (%d expired, %d removed before their write)", total, want, expiring, recreated)
	}
	for _, id := range k {
		if n, err := check.Count(ctx, id); err != nil || n != 1 {
			t.Fatalf("%s: %d messages, %v", id, n, err)
		}
	}
	if n, want := matches(t, check, path, "gonesoonword"), int64(renewed-recreated+kept); n != want {
		t.Errorf("the search index matches %d rows, want %d", n, want)
	}
	integrity(t, path)
	t.Logf("%d histories renewed before a sweep reached them, %d removed first and written anew", renewed-recreated, recreated)
}

// eraser runs as "erase PATH": it erases user u-42's histories and prints
// "erased HISTORIES MESSAGES".
func eraser(path string) error {
	ctx := context.Background()
	st, err := chatstore.Open(ctx, contendedURL(path), nil)
	if err != nil {
		return err
	}
	defer st.Close()
	fmt.Println("ready")
	got, err := st.Erase(ctx, map[string]string{"user_id": "u-42"})
	if err != nil {
		return err
	}
	fmt.Println("erased", got.Histories, got.Messages)
	return nil
}

// TestEraseKilledAndResumed erases 10,000 histories of one user in a
// process killed with SIGKILL part way, then again here: the second run
// finishes the job, erasing exactly what the first left, other users'
// histories are intact, and the search index finds none of the erased
// messages. With -short, 2,000.
func TestEraseKilledAndResumed(t *testing.T) {
	matching, others := int64(10_000), 100
	if testing.Short() {
		matching = 2_000
	}
	path := filepath.Join(t.TempDir(), "erase.db")
	ctx := t.Context()
	st := openAt(t, path, testenv.NewClock(t0), 0)
	u42, u7 := names("u42-", int(matching)), names("u7-", others)
	writeEach(t, st, append(u42, u7...), func(id string) []chat.Message {
		return []chat.Message{chat.User("erasableword of " + id), chat.Assistant("noted")}
	})
	setUser := func(ids []string, user string) {
		eachID(t, ids, func(id string) error {
			_, err := st.SetMetadata(ctx, id, map[string]*string{"user_id": &user})
			return err
		})
	}
	setUser(u42, "u-42")
	setUser(u7, "u-7")
	raw := sqlitestore.RawDB(t, path)
	left := func() int64 {
		var n int64
		if err := raw.QueryRow("SELECT count(*) FROM metadata WHERE key = 'user_id' AND value = 'u-42'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	p := startProc(t, "erase "+path)
	if line := p.line(t); line != "ready" {
		t.Fatalf("eraser said %q", line)
	}
	// Kill it once it has erased some: polled, with a deadline.
	deadline := time.Now().Add(2 * time.Minute)
	for left() == matching {
		if time.Now().After(deadline) {
			t.Fatal("the eraser erased nothing in 2 minutes")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
	if line, ok := p.next(); ok {
		t.Fatalf("the eraser finished before it was killed: %q", line)
	}
	remaining := left()
	first := matching - remaining
	if remaining == 0 {
		t.Fatal("the eraser finished before it was killed")
	}
	integrity(t, path)

	got, err := st.Erase(ctx, map[string]string{"user_id": "u-42"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Histories != remaining || got.Messages != 2*remaining || first+got.Histories != matching {
		t.Errorf("the killed run erased %d, the second %+v, of %d: want the second to erase the %d left", first, got, matching, remaining)
	}
	if n := left(); n != 0 {
		t.Errorf("%d histories of u-42 left", n)
	}
	if page, err := st.List(ctx, chatstore.ListOptions{Metadata: map[string]string{"user_id": "u-42"}}); err != nil || len(page.Histories) != 0 {
		t.Errorf("List of u-42: %d histories, %v", len(page.Histories), err)
	}
	if n := fileInt(t, path, "SELECT count(*) FROM histories WHERE name LIKE 'u42-%'"); n != 0 {
		t.Errorf("%d histories u42-* left", n)
	}
	for _, id := range u7 {
		if n, err := st.Count(ctx, id); err != nil || n != 2 {
			t.Fatalf("%s: %d messages, %v", id, n, err)
		}
	}
	hits := 0
	for cursor := ""; ; {
		page, err := st.Search(ctx, chatstore.SearchOptions{Query: "erasableword", Limit: chatstore.MaxSearchLimit, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range page.Hits {
			if !strings.HasPrefix(h.HistoryID, "u7-") {
				t.Fatalf("search found %s", h.HistoryID)
			}
			hits++
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	if hits != others || matches(t, st, path, "erasableword") != int64(others) {
		t.Errorf("search finds %d, the index matches %d rows; want %d", hits, matches(t, st, path, "erasableword"), others)
	}
	if again, err := st.Erase(ctx, map[string]string{"user_id": "u-42"}); err != nil || again != (chatstore.Erasure{}) {
		t.Errorf("a third run: %+v, %v", again, err)
	}
	integrity(t, path)
	t.Logf("the killed run erased %d, the second %d", first, got.Histories)
}

// childProc is a child process whose stdout is read a line at a time.
type childProc struct {
	cmd *exec.Cmd
	out *bufio.Reader
}

func startProc(t *testing.T, role string) *childProc {
	t.Helper()
	cmd, out := startChild(t, role)
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return &childProc{cmd: cmd, out: bufio.NewReader(out)}
}

// line is the child's next line; it fails the test when there is none.
func (p *childProc) line(t *testing.T) string {
	t.Helper()
	line, ok := p.next()
	if !ok {
		err := p.cmd.Wait()
		t.Fatalf("the child stopped (%v)", err)
	}
	return line
}

func (p *childProc) next() (string, bool) {
	line, err := p.out.ReadString('\n')
	if err != nil && (!errors.Is(err, io.EOF) || line == "") {
		return "", false
	}
	return strings.TrimSuffix(line, "\n"), true
}

func (p *childProc) wait(t *testing.T) {
	t.Helper()
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
}
