package pgstore_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/pgstore"
)

// TestChangeAfterLockWaitDoesNotRevive: a change sent before a history
// expires that waits for the history's row lock, and gets it once the
// history has expired (and reads have seen it gone), starts a new history:
// it must not renew the expired one and bring its messages back. Found by
// review: each change checked expiry against the time it was sent. The
// Store's clock is the real one here, as the check follows the time the
// server spends waiting (checkedAt); the history has a TTL of 1s, the
// change is sent 0.7s in; the test waits until reads see the history gone
// (polling the clock, as a TTL that real time passes must be waited for),
// then lets the change go. Without the check at the time after the wait,
// the change renewed the history from 0.7s to 1.7s, with its messages.
func TestChangeAfterLockWaitDoesNotRevive(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cold   bool // by a store that never wrote the history: the locked path
		change func(st *chatstore.Store) error
	}{
		{"write guarded", false, func(st *chatstore.Store) error {
			_, err := st.Write(t.Context(), "h", []chat.Message{chat.User("new")})
			return err
		}},
		{"write locked", true, func(st *chatstore.Store) error {
			_, err := st.Write(t.Context(), "h", []chat.Message{chat.User("new")})
			return err
		}},
		{"set metadata", true, func(st *chatstore.Store) error {
			v := "v"
			_, err := st.SetMetadata(t.Context(), "h", map[string]*string{"k": &v})
			return err
		}},
		{"delete message", true, func(st *chatstore.Store) error {
			return st.DeleteMessage(t.Context(), "h", "1")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool := testPool(t)
			schema := freshSchema(t, pool)
			q := pgx.Identifier{schema}.Sanitize()
			open := func() *chatstore.Store {
				s, err := pgstore.New(t.Context(), testPool(t), &pgstore.Options{Schema: schema})
				if err != nil {
					t.Fatal(err)
				}
				st, err := chatstore.New(s, nil)
				if err != nil {
					t.Fatal(err)
				}
				return st
			}
			st := open()
			ctx := t.Context()
			if _, err := st.Write(ctx, "h", []chat.Message{chat.User("old"), chat.Assistant("old answer")}); err != nil {
				t.Fatal(err)
			}
			changer := st
			if tc.cold {
				changer = open()
			}
			tx, err := pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			set := time.Now()
			if _, err := st.SetExpiry(ctx, "h", chatstore.Expiry{TTL: time.Second}); err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec(ctx, "SELECT FROM "+q+".histories WHERE name = 'h' FOR UPDATE"); err != nil {
				t.Fatal(err)
			}
			// The change is sent late in the history's life, so that what a
			// stale check would renew it to is still ahead when it commits.
			waitFor(t, func() bool { return time.Since(set) > 700*time.Millisecond })
			done := make(chan error, 1)
			go func() { done <- tc.change(changer) }()
			// The change waits for the lock...
			waitFor(t, func() bool {
				return queryInt(t, pool, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()") > 0
			})
			// ...and the history expires meanwhile.
			waitFor(t, func() bool {
				n, err := st.Count(ctx, "h")
				return err == nil && n == 0
			})
			// A change checks expiry at the Store's time it was sent plus
			// the server's time since: to within the time it takes to send
			// (checkedAt), which this margin covers.
			gone := time.Now()
			waitFor(t, func() bool { return time.Since(gone) > 20*time.Millisecond })
			if err := tx.Rollback(ctx); err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil && tc.name != "delete message" {
				t.Errorf("change: %v", err)
			}
			msgs, err := st.Range(ctx, "h", 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range msgs {
				if texts := m.Texts(); len(texts) > 0 && (texts[0] == "old" || texts[0] == "old answer") {
					t.Errorf("the expired history's message %q is back after a change that waited for its lock (%d messages)", texts[0], len(msgs))
				}
			}
		})
	}
}

// waitFor polls cond, with a deadline of 10s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(fmt.Sprint("not so after 10s"))
		}
		time.Sleep(10 * time.Millisecond) // polling the real clock and another session
	}
}
