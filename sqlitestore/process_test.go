package sqlitestore_test

// Tests with more than one process: a child writes while the parent kills it
// with SIGKILL, two children write one history at once, two open a file
// that needs measuring at once, and one is killed while measuring. The children are
// this test binary started again with CHATSTORE_SQLITE_CHILD set; TestMain
// runs the child's part instead of the tests.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/internal/proctest"
	"github.com/chatstore/chatstore/sqlitestore"
)

const childEnv = "CHATSTORE_SQLITE_CHILD"

func TestMain(m *testing.M) { proctest.Main(m, childEnv, child) }

// child runs as "crash PATH HISTORY": write until killed, acknowledging each
// write on stdout.
func child(args []string) error {
	if len(args) == 3 && args[0] == "sweep" {
		return sweeper(args[1], args[2])
	}
	if len(args) == 2 && args[0] == "erase" {
		return eraser(args[1])
	}
	if len(args) == 3 && args[0] == "editwrite" {
		return editWriter(args[1], args[2])
	}
	if len(args) == 3 && args[0] == "edit" {
		return editor(args[1], args[2])
	}
	if len(args) == 4 && args[0] == "open" {
		return opener(args[1], args[2], args[3])
	}
	if len(args) != 3 || args[0] != "crash" {
		return fmt.Errorf("unknown role %q", args)
	}
	ctx := context.Background()
	st, err := chatstore.Open(ctx, "sqlite://"+filepath.ToSlash(args[1]), nil)
	if err != nil {
		return err
	}
	defer st.Close()
	history := args[2]
	out := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				n := 1 + i%3
				msgs := make([]chat.Message, n)
				for j := range msgs {
					msgs[j] = chat.User(fmt.Sprintf("g%d-%d-%d", g, i, j))
				}
				if _, err := st.Write(ctx, history, msgs); err != nil {
					fmt.Fprintln(os.Stderr, "write:", err)
					os.Exit(1)
				}
				// Acknowledged only after Write returned.
				mu.Lock()
				fmt.Fprintf(out, "ack g%d-%d %d\n", g, i, n)
				out.Flush()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return nil
}

func startChild(t *testing.T, role string) (*exec.Cmd, io.ReadCloser) {
	t.Helper()
	cmd := proctest.ChildCommand(childEnv, role)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, out
}

// TestCrashKeepsAcknowledgedWrites kills a writing process with SIGKILL,
// several times over one file, and checks that every write it acknowledged
// is there exactly once, in order, in a file that passes integrity_check.
func TestCrashKeepsAcknowledgedWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crash.db")
	rounds := 4
	if testing.Short() {
		rounds = 2
	}
	for round := range rounds {
		history := fmt.Sprintf("h%d", round)
		cmd, out := startChild(t, fmt.Sprintf("crash %s %s", path, history))
		acked := map[string]int{} // "g0-17" -> messages in that write
		r := bufio.NewReader(out)
		target := 150 + 200*round
		for len(acked) < target {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("round %d: child stopped after %d acks: %v", round, len(acked), err)
			}
			var tag string
			var n int
			if _, err := fmt.Sscanf(line, "ack %s %d\n", &tag, &n); err != nil {
				t.Fatalf("bad line %q", line)
			}
			acked[tag] = n
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		// Acks already written to the pipe before the kill count too; a
		// line cut by the kill does not.
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				break
			}
			var tag string
			var n int
			if _, err := fmt.Sscanf(line, "ack %s %d\n", &tag, &n); err == nil {
				acked[tag] = n
			}
		}
		_ = cmd.Wait()
		checkAfterCrash(t, path, history, acked)
	}
}

func checkAfterCrash(t *testing.T, path, history string, acked map[string]int) {
	t.Helper()
	st, err := chatstore.Open(t.Context(), "sqlite://"+filepath.ToSlash(path), nil)
	if err != nil {
		t.Fatalf("reopening after the kill: %v", err)
	}
	defer st.Close()
	msgs, err := st.RetrieveLast(t.Context(), history, chatstore.All)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	last := map[string]int{} // goroutine -> last write index seen
	for i := 0; i < len(msgs); {
		text, _ := msgs[i].Text()
		parts := strings.Split(text, "-") // g, write, index
		g, w := parts[0], parts[1]
		wi, _ := strconv.Atoi(w)
		if prev, ok := last[g]; ok && wi != prev+1 {
			t.Fatalf("%s: write %d follows write %d: lost or reordered", g, wi, prev)
		}
		last[g] = wi
		n := 1 + wi%3
		for j := range n {
			if i+j >= len(msgs) {
				t.Fatalf("write %s-%s is cut short", g, w)
			}
			if got, _ := msgs[i+j].Text(); got != fmt.Sprintf("%s-%s-%d", g, w, j) {
				t.Fatalf("message %d is %q, want %s-%s-%d: a write is not contiguous", i+j, got, g, w, j)
			}
		}
		seen[g+"-"+w]++
		i += n
	}
	for tag := range acked {
		if seen[tag] != 1 {
			t.Errorf("acknowledged write %s present %d times", tag, seen[tag])
		}
	}
	if n, _ := st.Count(t.Context(), history); n != len(msgs) {
		t.Errorf("count %d, but %d messages", n, len(msgs))
	}
	integrity(t, path)
	t.Logf("%d acknowledged writes, %d messages, all present once and in order", len(acked), len(msgs))
}

// TestTwoProcessesOneHistory: two processes write the same history at once;
// nothing is lost, ids stay unique, every write stays contiguous.
func TestTwoProcessesOneHistory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "two.db")
	// Create the schema first so the children do not both start from an
	// empty file (they would be fine, but this test is about writes).
	s, err := sqlitestore.Open(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	turns := proctest.TwoWriters(t, childEnv, "sqlite://"+filepath.ToSlash(path), 1000)
	// SQLite does not take turns fairly between processes (a waiting
	// process sleeps a millisecond or more while the holder takes the lock
	// again), so how often they alternate varies; it is only reported.
	t.Logf("the processes took turns %d times", turns)
}

// contendedURL opens the file for a process that contends for it with
// another, under -race and a loaded machine: the lock can be held for
// seconds by a process the scheduler has put aside, and the test is of what
// the processes store, not of how long they wait, so they wait up to a
// minute rather than the default 5 s.
func contendedURL(path string) string {
	return "sqlite://" + filepath.ToSlash(path) + "?busy_timeout=60s"
}

// editWriter runs as "editwrite PATH N": N writes of three messages to
// history "e", their texts "BATCH-INDEX".
func editWriter(path, batches string) error {
	n, err := strconv.Atoi(batches)
	if err != nil {
		return err
	}
	ctx := context.Background()
	st, err := chatstore.Open(ctx, contendedURL(path), nil)
	if err != nil {
		return err
	}
	defer st.Close()
	for i := range n {
		msgs := []chat.Message{chat.User(fmt.Sprint(i, "-0")), chat.Assistant(fmt.Sprint(i, "-1")), chat.User(fmt.Sprint(i, "-2"))}
		if w, err := st.Write(ctx, "e", msgs); err != nil || w != 3 {
			return fmt.Errorf("write %d: wrote %d: %w", i, w, err)
		}
	}
	return nil
}

// editor runs as "edit PATH N": N times, it deletes the next to last
// message of history "e", or every tenth time truncates from it, and
// prints "removed K" for the messages it removed.
func editor(path, times string) error {
	n, err := strconv.Atoi(times)
	if err != nil {
		return err
	}
	ctx := context.Background()
	st, err := chatstore.Open(ctx, contendedURL(path), nil)
	if err != nil {
		return err
	}
	defer st.Close()
	for i := range n {
		msgs, err := st.Read(ctx, "e", chatstore.ReadOptions{LastK: 2})
		if err != nil {
			return err
		}
		removed := 0
		if len(msgs) >= 2 {
			id := msgs[len(msgs)-2].Meta[chatstore.MessageIDKey].(string)
			if i%10 == 9 {
				removed, err = st.Truncate(ctx, "e", id)
			} else if err = st.DeleteMessage(ctx, "e", id); err == nil {
				removed = 1
			}
			if err != nil {
				return fmt.Errorf("removing %s: %w", id, err)
			}
		}
		fmt.Println("removed", removed)
		if i%5 == 4 {
			fork := fmt.Sprint("f", i)
			if _, err := st.Fork(ctx, "e", fork, ""); err != nil {
				return fmt.Errorf("forking: %w", err)
			}
			fmt.Println("forked", fork)
		}
		time.Sleep(time.Millisecond)
	}
	return nil
}

// TestEditWhileAnotherProcessWrites: one process deletes, truncates and forks
// messages of a history while another writes to it; what is left is what
// was written less what was removed, in order, with unique ids that are
// never reused, and the count agrees.
func TestEditWhileAnotherProcessWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edit.db")
	s, err := sqlitestore.Open(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	const batches, edits = 600, 150
	writer, wout := startChild(t, fmt.Sprintf("editwrite %s %d", path, batches))
	ed, eout := startChild(t, fmt.Sprintf("edit %s %d", path, edits))
	go io.Copy(io.Discard, wout)
	removed := 0
	var forks []string
	sc := bufio.NewScanner(eout)
	for sc.Scan() {
		var n int
		if f, ok := strings.CutPrefix(sc.Text(), "forked "); ok {
			forks = append(forks, f)
			continue
		}
		if _, err := fmt.Sscanf(sc.Text(), "removed %d", &n); err != nil {
			t.Fatalf("editor said %q", sc.Text())
		}
		removed += n
	}
	if err := ed.Wait(); err != nil {
		t.Fatalf("editor: %v", err)
	}
	if err := writer.Wait(); err != nil {
		t.Fatalf("writer: %v", err)
	}
	if removed == 0 {
		t.Fatal("the editor removed nothing")
	}
	st, err := chatstore.Open(t.Context(), "sqlite://"+filepath.ToSlash(path), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	msgs, err := st.RetrieveLast(t.Context(), "e", chatstore.All)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 3*batches-removed {
		t.Errorf("%d messages left, want %d written less %d removed", len(msgs), 3*batches, removed)
	}
	if n, err := st.Count(t.Context(), "e"); err != nil || n != len(msgs) {
		t.Errorf("count %d (%v), %d messages", n, err, len(msgs))
	}
	ids := map[any]bool{}
	prev := -1
	for _, m := range msgs {
		id := m.Meta[chatstore.MessageIDKey]
		if ids[id] {
			t.Fatalf("id %v twice", id)
		}
		ids[id] = true
		text, _ := m.Text()
		b, j, _ := strings.Cut(text, "-")
		k, _ := strconv.Atoi(b)
		jj, _ := strconv.Atoi(j)
		pos := 3*k + jj
		if pos <= prev {
			t.Fatalf("%q after message %d: out of order", text, prev)
		}
		prev = pos
		// One writer, and positions never go back: each message's id is
		// the position it was written at, whatever was removed before.
		if id != strconv.Itoa(pos) {
			t.Fatalf("%q has id %v, want %d: an id was reused", text, id, pos)
		}
	}
	// Each fork, made while the other process wrote, is one state of the
	// history: in order, ids unique and each its message's position.
	if len(forks) == 0 {
		t.Fatal("the editor forked nothing")
	}
	for _, f := range forks {
		fm, err := st.RetrieveLast(t.Context(), f, chatstore.All)
		if err != nil {
			t.Fatal(err)
		}
		prev := -1
		for _, m := range fm {
			text, _ := m.Text()
			b, j, _ := strings.Cut(text, "-")
			k, _ := strconv.Atoi(b)
			jj, _ := strconv.Atoi(j)
			pos := 3*k + jj
			if pos <= prev || m.Meta[chatstore.MessageIDKey] != strconv.Itoa(pos) {
				t.Fatalf("fork %s: %q (id %v) after position %d", f, text, m.Meta[chatstore.MessageIDKey], prev)
			}
			prev = pos
		}
	}
	t.Logf("%d written, %d removed, %d forks", 3*batches, removed, len(forks))
}

// opener runs as "open PATH TOKENIZER HISTORY": it opens the file with the
// tokenizer, logging on stdout (progress every 1,000 messages), waiting up
// to a minute for another process's lock (measuring under the race
// detector takes longer than the default 5 seconds), then writes
// a message to the history and says "wrote", or "refused" if the file's
// counter changed since it opened (another process opened it with another
// tokenizer).
func opener(path, tokenizer, history string) error {
	sqlitestore.SetProgressEvery(1000)
	ctx := context.Background()
	fmt.Println("opening", time.Now().UnixNano())
	drv, err := sqlitestore.Open(ctx, path, &sqlitestore.Options{Tokenizer: tokenizer, BusyTimeout: time.Minute,
		Logger: slog.New(slog.NewTextHandler(os.Stdout, nil))})
	if err != nil {
		return err
	}
	fmt.Println("opened", time.Now().UnixNano())
	st, err := chatstore.New(drv, &chatstore.Options{Tokenizer: tokenizer})
	if err != nil {
		return err
	}
	defer st.Close()
	_, err = st.Write(ctx, history, []chat.Message{chat.User("written after opening")})
	switch {
	case errors.Is(err, chatstore.ErrIncompatibleSchema):
		fmt.Println("refused")
	case err != nil:
		return err
	default:
		fmt.Println("wrote")
	}
	return nil
}

// openerLines runs opener in a child and returns its stdout's lines once it
// has ended, failing the test if it failed.
func openerLines(t *testing.T, path, tokenizer, history string) func() []string {
	cmd, out := startChild(t, fmt.Sprintf("open %s %s %s", path, tokenizer, history))
	lines := make(chan []string, 1)
	go func() {
		var l []string
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			l = append(l, sc.Text())
		}
		lines <- l
	}()
	return func() []string {
		t.Helper()
		l := <-lines
		if err := cmd.Wait(); err != nil {
			t.Fatalf("opener of %s: %v\n%s", tokenizer, err, strings.Join(l, "\n"))
		}
		return l
	}
}

func count(lines []string, word string) int {
	n := 0
	for _, l := range lines {
		if strings.Contains(l, word) {
			n++
		}
	}
	return n
}

func integrity(t *testing.T, path string) {
	t.Helper()
	var check string
	if err := sqlitestore.RawDB(t, path).QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check: %q %v", check, err)
	}
}

// TestTwoProcessesOpenAnOldFile: two processes open a version 6 file at
// once, which the first to take the write lock migrates and measures while
// the other waits. With one tokenizer, the messages are measured once;
// with two, each measures with its own in turn, and the process whose
// counter the file no longer has refuses to write. Either way every cost in
// the file is of the counter it records, and every history's sum right.
func TestTwoProcessesOpenAnOldFile(t *testing.T) {
	const histories, perHistory = 4, 2500
	for _, tc := range []struct {
		name       string
		tokenizers [2]string
	}{
		{"one tokenizer", [2]string{chatstore.TokenizerApprox, chatstore.TokenizerApprox}},
		{"two tokenizers", [2]string{chatstore.TokenizerApprox, chatstore.TokenizerO200k}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "v6.db")
			writeOldFile(t, path, histories, perHistory)
			var waits [2]func() []string
			for i, tok := range tc.tokenizers {
				waits[i] = openerLines(t, path, tok, fmt.Sprint("p", i))
			}
			var lines [2][]string
			measured, wrote := 0, 0
			for i, wait := range waits {
				lines[i] = wait()
				measured += count(lines[i], "before=")
				wrote += count(lines[i], "wrote")
				if count(lines[i], "wrote")+count(lines[i], "refused") != 1 {
					t.Fatalf("process %d:\n%s", i, strings.Join(lines[i], "\n"))
				}
			}
			same := tc.tokenizers[0] == tc.tokenizers[1]
			switch {
			case same && (measured != 1 || wrote != 2):
				t.Errorf("one tokenizer: measured %d times, %d processes wrote; want 1 and 2", measured, wrote)
			case !same && measured < 1:
				t.Errorf("two tokenizers: measured %d times", measured)
			}
			if v := fileInt(t, path, "PRAGMA user_version"); v != int64(sqlitestore.SchemaVersion) {
				t.Errorf("user_version %d", v)
			}
			integrity(t, path)
			counter := fileCounter(t, path)
			s := openDriver(t, path, &sqlitestore.Options{Tokenizer: counter})
			if n := checkCosts(t, s, meterOf(t, counter)); n != histories*perHistory+wrote {
				t.Errorf("%d messages, want %d and the %d written", n, histories*perHistory, wrote)
			}
			t.Logf("measured %d times, %d processes wrote, the file counts with %s; %s", measured, wrote, counter, overlap(lines))
		})
	}
}

// overlap says whether one process began to open while the other was
// opening (the two really ran at once).
func overlap(lines [2][]string) string {
	var opening, opened [2]int64
	for i, l := range lines {
		for _, line := range l {
			fmt.Sscanf(line, "opening %d", &opening[i])
			fmt.Sscanf(line, "opened %d", &opened[i])
		}
	}
	if opening[0] < opened[1] && opening[1] < opened[0] {
		return "they opened it at the same time"
	}
	return "one opened it after the other had"
}

// TestKilledWhileMeasuring kills a process with SIGKILL while it measures
// the messages of a file it opens: first a version 6 file being migrated,
// then the migrated file being opened with another tokenizer. The file is
// left as it was before each (the version, the counter and every cost), and
// passes integrity_check.
func TestKilledWhileMeasuring(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v6.db")
	const histories, perHistory = 2, 15000
	writeOldFile(t, path, histories, perHistory)
	kill := func(tokenizer string) bool {
		t.Helper()
		cmd, out := startChild(t, fmt.Sprintf("open %s %s k", path, tokenizer))
		sc := bufio.NewScanner(out)
		for sc.Scan() && !strings.Contains(sc.Text(), "done=") {
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		var rest []string
		for sc.Scan() {
			rest = append(rest, sc.Text())
		}
		_ = cmd.Wait()
		integrity(t, path)
		// The kill lands while it measures but for a very slow kill.
		return count(rest, "measured messages") == 0
	}
	if kill(chatstore.TokenizerO200k) {
		if v := fileInt(t, path, "PRAGMA user_version"); v != 6 {
			t.Errorf("user_version %d after a migration was killed", v)
		}
	} else {
		t.Log("the migration ended before the kill")
	}
	s := openDriver(t, path, nil)
	if n := checkCosts(t, s, meterOf(t, chatstore.TokenizerApprox)); n != histories*perHistory {
		t.Errorf("%d messages", n)
	}
	s.Close()

	if !kill(chatstore.TokenizerO200k) {
		t.Log("measuring ended before the kill")
		return
	}
	if c := fileCounter(t, path); c != chatstore.TokenizerApprox {
		t.Errorf("counter %q after measuring with o200k_base was killed", c)
	}
	s = openDriver(t, path, nil) // measures nothing: the costs must be approx's still
	checkCosts(t, s, meterOf(t, chatstore.TokenizerApprox))
}
