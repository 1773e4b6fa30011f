// Package proctest is for tests with more than one process: the test binary
// run again as children that write one store at the same time (TwoWriters)
// or are killed in the middle of a write (ChildCommand), and the check after
// such a fault, or a restart of the server a store is on, that every
// acknowledged write is there exactly once (CheckAcked).
package proctest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
)

// Tests where several processes write one store run the test binary again
// as children, told their role by an environment variable the backend
// chooses. The backend's TestMain calls Main, which runs the child's role in
// a child and the tests otherwise.

// sharedHistory is the history TwoWriters' processes write.
const sharedHistory = "shared"

// Main is the TestMain of a backend package with tests in several
// processes. In a child (env is set) it runs the child's role and exits: the
// roles TwoWriters gives are handled here, any other (split into fields) is
// passed to other, which may be nil.
func Main(m *testing.M, env string, other func(role []string) error) {
	role, ok := os.LookupEnv(env)
	if !ok {
		os.Exit(m.Run())
	}
	if err := runRole(strings.Fields(role), other); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func runRole(args []string, other func([]string) error) error {
	if len(args) != 4 || args[0] != "batches" {
		if other == nil {
			return fmt.Errorf("unknown role %q", args)
		}
		return other(args)
	}
	// batches URL TAG N
	n, err := strconv.Atoi(args[3])
	if err != nil {
		return fmt.Errorf("role %q: %w", args, err)
	}
	ctx := context.Background()
	st, err := chatstore.Open(ctx, args[1], nil)
	if err != nil {
		return err
	}
	defer st.Close()
	return child(func() error { return writeBatches(ctx, st, sharedHistory, args[2], n) })
}

// TwoWriters runs two processes writing batches of three messages to one
// history of the store at storeURL at the same time, and checks the result:
// both really ran at once, every message is there once, each batch is
// contiguous and in order, and the ids are unique. It returns how often the
// processes took turns. The package's TestMain must call Main with env.
func TwoWriters(t *testing.T, env, storeURL string, batches int) (turns int) {
	t.Helper()
	tags := []string{"p", "q"}
	roles := make([]string, len(tags))
	for i, tag := range tags {
		roles[i] = fmt.Sprintf("batches %s %s %d", storeURL, tag, batches)
	}
	if spans := runChildren(t, env, roles); !overlap(spans) {
		t.Fatalf("the children did not write at the same time: %v", spans)
	}
	st, err := chatstore.Open(t.Context(), storeURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	msgs, err := st.RetrieveLast(t.Context(), sharedHistory, chatstore.All)
	if err != nil {
		t.Fatal(err)
	}
	return checkBatches(t, msgs, tags, batches)
}

// runChildren starts the test binary once per role, with env set to the
// role, releases them all at once when each has said it is ready (or
// died), waits for them, and returns when each worked (from the start and
// end lines child prints).
// A child that fails fails the test.
func runChildren(t *testing.T, env string, roles []string) (spans [][2]int64) {
	t.Helper()
	spans = make([][2]int64, len(roles))
	ready := make(chan struct{}, len(roles))
	var (
		cmds    []*exec.Cmd
		gos     []io.WriteCloser
		readers sync.WaitGroup
	)
	for k, role := range roles {
		cmd := ChildCommand(env, role)
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		readers.Go(func() {
			sc := bufio.NewScanner(out)
			saidReady := false
			defer func() {
				if !saidReady {
					ready <- struct{}{} // it died first; Wait below reports how
				}
			}()
			for sc.Scan() {
				if sc.Text() == "ready" && !saidReady {
					saidReady = true
					ready <- struct{}{}
					continue
				}
				var what string
				var at int64
				if _, err := fmt.Sscanf(sc.Text(), "%s %d", &what, &at); err == nil {
					switch what {
					case "start":
						spans[k][0] = at
					case "end":
						spans[k][1] = at
					}
				}
			}
		})
		cmds, gos = append(cmds, cmd), append(gos, in)
	}
	stop := time.AfterFunc(2*time.Minute, func() {
		for _, c := range cmds {
			_ = c.Process.Kill()
		}
	})
	defer stop.Stop()
	// Release them only when every one has started (opened its store and
	// waits): a child that starts late could otherwise find the others
	// done, and "at the same time" would not be tested.
	for range roles {
		select {
		case <-ready:
		case <-time.After(time.Minute):
			t.Fatal("the children did not start within a minute")
		}
	}
	for _, in := range gos {
		fmt.Fprintln(in, "go")
		in.Close()
	}
	readers.Wait()
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("child %q: %v", roles[i], err)
		}
	}
	return spans
}

// ChildCommand is the test binary run again as a child with env set to
// role (see Main), running no tests, its stderr the test's.
func ChildCommand(env, role string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env+"="+role)
	cmd.Stderr = os.Stderr
	return cmd
}

// child is the child's side of runChildren: it waits for the go, runs work,
// and reports when it started and ended.
func child(work func() error) error {
	fmt.Println("ready")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return err
	}
	fmt.Printf("start %d\n", time.Now().UnixNano())
	err := work()
	fmt.Printf("end %d\n", time.Now().UnixNano())
	return err
}

// writeBatches writes n batches of three messages to a history, their texts
// "TAG-BATCH-INDEX", for tests where several processes write one history.
func writeBatches(ctx context.Context, st *chatstore.Store, history, tag string, n int) error {
	for i := range n {
		msgs := []chat.Message{
			chat.User(fmt.Sprintf("%s-%d-0", tag, i)),
			chat.Assistant(fmt.Sprintf("%s-%d-1", tag, i)),
			chat.User(fmt.Sprintf("%s-%d-2", tag, i)),
		}
		if w, err := st.Write(ctx, history, msgs); err != nil || w != 3 {
			return fmt.Errorf("batch %d of %s: wrote %d: %w", i, tag, w, err)
		}
	}
	return nil
}

// checkBatches checks a history that writers with the given tags filled
// with writeBatches(n) at the same time: every message is there once, each
// batch is contiguous and in order, each writer's batches are in order, and
// the ids are unique. It returns how often the writers took turns.
func checkBatches(t testing.TB, msgs []chat.Message, tags []string, n int) (turns int) {
	t.Helper()
	if len(msgs) != len(tags)*n*3 {
		t.Fatalf("%d messages, want %d", len(msgs), len(tags)*n*3)
	}
	ids := map[any]bool{}
	next := map[string]int{}
	prev := ""
	for i := 0; i < len(msgs); i += 3 {
		first, _ := msgs[i].Text()
		tag, b := batchOf(first)
		if b != next[tag] {
			t.Fatalf("%s: batch %d where %d was due: lost or reordered", tag, b, next[tag])
		}
		next[tag]++
		if prev != "" && tag != prev {
			turns++
		}
		prev = tag
		for j := range 3 {
			if got, _ := msgs[i+j].Text(); got != fmt.Sprintf("%s-%d-%d", tag, b, j) {
				t.Fatalf("message %d is %q: writes interleaved", i+j, got)
			}
			id := msgs[i+j].Meta[chatstore.MessageIDKey]
			if ids[id] {
				t.Fatalf("duplicate id %v", id)
			}
			ids[id] = true
		}
	}
	return turns
}

// batchOf reads the writer's tag and the batch number from a text
// writeBatches wrote, "TAG-BATCH-INDEX"; the batch is -1 in any other text.
func batchOf(text string) (tag string, batch int) {
	tag, rest, _ := strings.Cut(text, "-")
	b, _, ok := strings.Cut(rest, "-")
	n, err := strconv.Atoi(b)
	if !ok || err != nil {
		return text, -1
	}
	return tag, n
}

// overlap reports whether every pair of [start, end] time spans overlaps:
// the writers of a concurrency test really ran at the same time.
func overlap(spans [][2]int64) bool {
	for _, a := range spans {
		for _, b := range spans {
			if a[0] == 0 || a[0] > b[1] {
				return false
			}
		}
	}
	return true
}

// CheckAcked checks that a history holds each of the acknowledged texts
// exactly once: after a fault (a server restart, a killed process), no write
// that returned without error may be missing or doubled. The messages are
// single-text messages whose text is the tag.
func CheckAcked(t testing.TB, st *chatstore.Store, history string, acked []string) {
	t.Helper()
	msgs, err := st.RetrieveLast(context.Background(), history, chatstore.All)
	if err != nil {
		t.Fatal(err)
	}
	seen := make(map[string]int, len(msgs))
	for _, m := range msgs {
		text, _ := m.Text()
		seen[text]++
	}
	for _, tag := range acked {
		if seen[tag] != 1 {
			t.Errorf("acknowledged %s is present %d times", tag, seen[tag])
		}
	}
}
