package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/internal/proctest"
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
		removed, err := editUntilDone(ctx, st)
		fmt.Println("removed", removed)
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
// every eighth time truncates from the newest instead, until the writer is
// done; it returns how many messages it removed.
func editUntilDone(ctx context.Context, st *chatstore.Store) (removed int, err error) {
	if _, err := st.Write(ctx, readyHistory, []chat.Message{chat.User("ready")}); err != nil {
		return 0, err
	}
	for i := 0; ; i++ {
		if n, err := st.Count(ctx, doneHistory); err != nil || n > 0 {
			return removed, err
		}
		msgs, err := st.RetrieveLast(ctx, editedHistory, 2)
		if err != nil {
			return removed, err
		}
		if len(msgs) < 2 {
			continue
		}
		if i%8 == 7 {
			n, err := st.Truncate(ctx, editedHistory, msgs[len(msgs)-1].Meta[chatstore.MessageIDKey].(string))
			if err != nil {
				return removed, fmt.Errorf("truncate: %w", err)
			}
			removed += n
		} else {
			if err := st.DeleteMessage(ctx, editedHistory, msgs[0].Meta[chatstore.MessageIDKey].(string)); err != nil {
				return removed, fmt.Errorf("delete: %w", err)
			}
			removed++
		}
	}
}

// TestTwoProcessesEditAndWrite: one process writes a history while another
// deletes and truncates it. Afterwards the count is what was written less
// what was removed, every id is unique, and no generated id was given
// twice: the ids are positions below the number of messages ever written.
func TestTwoProcessesEditAndWrite(t *testing.T) {
	pool := testPool(t)
	u := storeURL(t, freshSchema(t, pool))
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
	var removed int
	if _, err := fmt.Sscanf(outs[1], "removed %d", &removed); err != nil {
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
	seen := map[string]bool{}
	for _, m := range msgs {
		id := m.Meta[chatstore.MessageIDKey].(string)
		p, err := strconv.Atoi(id)
		if seen[id] || err != nil || p >= written {
			t.Fatalf("id %q: twice, or not a position below %d", id, written)
		}
		seen[id] = true
	}
	t.Logf("%d messages written, %d removed", written, removed)
}
