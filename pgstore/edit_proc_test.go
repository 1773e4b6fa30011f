package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/internal/proctest"
	"github.com/chatstore/chatstore/pgstore"
)

// childRole runs the roles of this package's own tests in several
// processes (proctest.Main runs TwoWriters' itself).
func childRole(role []string) error {
	if len(role) != 3 {
		return fmt.Errorf("unknown role %q", role)
	}
	n, err := strconv.Atoi(role[2])
	if err != nil {
		return err
	}
	ctx := context.Background()
	st, err := chatstore.Open(ctx, role[1], nil)
	if err != nil {
		return err
	}
	defer st.Close()
	switch role[0] {
	case "write":
		return writeThenDone(ctx, st, n)
	case "edit":
		removed, forks, err := editUntilDone(ctx, st)
		fmt.Println("removed", removed, "forks", forks)
		return err
	}
	return fmt.Errorf("unknown role %q", role)
}

// editedHistory is the history one process writes and another edits;
// doneHistory is written once the writer is done (a message in the edited
// history could be truncated away).
// readyHistory is written by the editor when it starts, which the writer
// waits for, so that the two overlap.
const editedHistory, doneHistory, readyHistory = "edited", "edited-done", "edited-ready"

// writeThenDone writes n batches of three messages, once the editor is
// ready, then doneHistory.
func writeThenDone(ctx context.Context, st *chatstore.Store, n int) error {
	for start := time.Now(); ; time.Sleep(time.Millisecond) {
		if c, err := st.Count(ctx, readyHistory); err != nil || c > 0 {
			if err != nil {
				return err
			}
			break
		}
		if time.Since(start) > time.Minute {
			return errors.New("the editor did not start within a minute")
		}
	}
	for i := range n {
		msgs := []chat.Message{chat.User(fmt.Sprint(i, "-0")), chat.Assistant(fmt.Sprint(i, "-1")), chat.User(fmt.Sprint(i, "-2"))}
		if w, err := st.Write(ctx, editedHistory, msgs); err != nil || w != 3 {
			return fmt.Errorf("batch %d: wrote %d: %w", i, w, err)
		}
	}
	_, err := st.Write(ctx, doneHistory, []chat.Message{chat.Assistant("done")})
	return err
}

// editUntilDone deletes the oldest message of the last two rounds, and
// every eighth time truncates from the newest instead, and every fifth
// time forks the history into fork-N (N from 0), until the writer is done;
// it returns how many messages it removed and how many forks it made.
func editUntilDone(ctx context.Context, st *chatstore.Store) (removed, forks int, err error) {
	if _, err := st.Write(ctx, readyHistory, []chat.Message{chat.User("ready")}); err != nil {
		return 0, 0, err
	}
	for i := 0; ; i++ {
		if n, err := st.Count(ctx, doneHistory); err != nil || n > 0 {
			return removed, forks, err
		}
		if i%5 == 4 {
			if _, err := st.Fork(ctx, editedHistory, fmt.Sprint("fork-", forks), ""); err != nil {
				return removed, forks, fmt.Errorf("fork: %w", err)
			}
			forks++
		}
		msgs, err := st.RetrieveLast(ctx, editedHistory, 2)
		if err != nil {
			return removed, forks, err
		}
		if len(msgs) < 2 {
			continue
		}
		if i%8 == 7 {
			n, err := st.Truncate(ctx, editedHistory, msgs[len(msgs)-1].Meta[chatstore.MessageIDKey].(string))
			if err != nil {
				return removed, forks, fmt.Errorf("truncate: %w", err)
			}
			removed += n
		} else {
			if err := st.DeleteMessage(ctx, editedHistory, msgs[0].Meta[chatstore.MessageIDKey].(string)); err != nil {
				return removed, forks, fmt.Errorf("delete: %w", err)
			}
			removed++
		}
	}
}

// TestTwoProcessesEditAndWrite: one process writes a history while another
// deletes, truncates and forks it. Afterwards the count is what was written less
// what was removed, every id is unique, no generated id was given twice
// (the ids are positions below the number of messages ever written), and
// every history's cost is the sum of its messages'.
func TestTwoProcessesEditAndWrite(t *testing.T) {
	pool := testPool(t)
	schema := freshSchema(t, pool)
	u := storeURL(t, schema)
	const batches = 150
	var (
		wg   sync.WaitGroup
		outs [2]string
		errs [2]error
	)
	for i, role := range []string{"write", "edit"} {
		wg.Go(func() {
			out, err := proctest.ChildCommand(childEnv, role+" "+u+" "+strconv.Itoa(batches)).Output()
			outs[i], errs[i] = string(out), err
		})
	}
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		t.Fatal(err)
	}
	var removed, forks int
	if _, err := fmt.Sscanf(outs[1], "removed %d forks %d", &removed, &forks); err != nil {
		t.Fatalf("the editor said %q: %v", outs[1], err)
	}
	if removed == 0 {
		t.Fatal("the editor removed nothing: the processes did not overlap")
	}
	st, err := chatstore.Open(t.Context(), u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	written := batches * 3
	msgs, err := st.RetrieveLast(t.Context(), editedHistory, chatstore.All)
	if err != nil {
		t.Fatal(err)
	}
	n, err := st.Count(t.Context(), editedHistory)
	if err != nil || n != len(msgs) || n != written-removed {
		t.Fatalf("count %d (%v), %d messages read, want %d written less %d removed", n, err, len(msgs), written, removed)
	}
	checkPositions(t, editedHistory, msgs)
	// Each fork, made while the other process wrote, is one state of the
	// history: in order, each message's id its position.
	if forks == 0 {
		t.Fatal("the editor forked nothing")
	}
	for f := range forks {
		fm, err := st.RetrieveLast(t.Context(), fmt.Sprint("fork-", f), chatstore.All)
		if err != nil {
			t.Fatal(err)
		}
		checkPositions(t, fmt.Sprint("fork-", f), fm)
	}
	// Every history's cost is the sum of its messages'.
	checkCosts(t, pool, schema, st.Driver().(*pgstore.Store), chatstore.TokenizerApprox)
	t.Logf("%d messages written, %d removed, %d forks", written, removed, forks)
}

// checkPositions checks that msgs, written by writeThenDone as "I-J", are
// in order and each has as its id the position it was written at (3I+J):
// ids unique, none given twice.
func checkPositions(t *testing.T, history string, msgs []chat.Message) {
	t.Helper()
	prev := -1
	for _, m := range msgs {
		text, _ := m.Text()
		b, j, _ := strings.Cut(text, "-")
		i, _ := strconv.Atoi(b)
		jj, _ := strconv.Atoi(j)
		pos := 3*i + jj
		if pos <= prev || m.Meta[chatstore.MessageIDKey] != strconv.Itoa(pos) {
			t.Fatalf("%s: %q (id %v) after position %d", history, text, m.Meta[chatstore.MessageIDKey], prev)
		}
		prev = pos
	}
}
