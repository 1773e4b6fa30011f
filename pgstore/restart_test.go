package pgstore_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/internal/proctest"
	"github.com/chatstore/chatstore/internal/testenv"
)

// TestServerRestart restarts PostgreSQL during a write loop: the loop sees
// errors (ErrUnavailable) while the server is down, then succeeds again on
// the same Store, and every acknowledged write is there afterwards.
func TestServerRestart(t *testing.T) {
	restart := testenv.Get(t, "CHATSTORE_TEST_POSTGRES_RESTART", "pg_ctlcluster --skip-systemctl-redirect 15 main restart")
	st := openFresh(t)

	var acked []string
	failures, afterRestart := 0, 0
	restarted := make(chan error, 1)
	deadline := time.Now().Add(60 * time.Second)
	for i := 0; ; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("gave up: %d acked, %d failures, %d writes after the restart", len(acked), failures, afterRestart)
		}
		if i == 50 {
			go func() {
				cmd := exec.Command("sh", "-c", restart)
				cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
				restarted <- cmd.Run()
			}()
		}
		tag := fmt.Sprint("m", i)
		_, err := st.Write(t.Context(), "h", []chat.Message{chat.User(tag)})
		switch {
		case err == nil:
			acked = append(acked, tag)
		case errors.Is(err, chatstore.ErrUnavailable):
			failures++
		default:
			t.Fatalf("write %d: an error that does not say the store is unavailable: %v", i, err)
		}
		select {
		case err := <-restarted:
			if err != nil {
				t.Fatalf("restarting the server: %v", err)
			}
			restarted = nil // done; count successes from here
		default:
		}
		if restarted == nil && err == nil {
			if afterRestart++; afterRestart == 50 {
				break
			}
		}
	}
	if failures == 0 {
		t.Errorf("no write failed while the server restarted: the test did not test anything")
	}
	proctest.CheckAcked(t, st, "h", acked)
	t.Logf("%d acknowledged writes, %d failed while the server was down, all acknowledged ones present", len(acked), failures)
}

// openFresh opens a store by URL in a schema of its own, closed when the
// test ends.
func openFresh(t *testing.T) *chatstore.Store {
	t.Helper()
	st, err := chatstore.Open(t.Context(), storeURL(t, freshSchema(t, testPool(t))), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
