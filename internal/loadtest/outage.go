package loadtest

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/internal/proctest"
	"github.com/chatstore/chatstore/internal/testenv"
	"github.com/chatstore/chatstore/server"
)

// BackWithin is how soon after its store is back the server must answer
// 2xx again, without a restart.
const BackWithin = 5 * time.Second

// StoreOutage serves st over HTTP, writes to it from 32 clients, and in the
// middle takes the store down with down and brings it back with up (which
// returns once the store listens again); once, or five times in the long
// variant (testenv.Long). It checks that while the store is
// down the server answers 503 store_unavailable (or outcome_unknown, for a
// write that was under way when the store went down) and nothing worse, that a
// write sent after up returned is acknowledged within BackWithin, and that
// every acknowledged write is in the store exactly once afterwards. It
// returns the longest time after up before a write succeeded.
func StoreOutage(t *testing.T, st *chatstore.Store, down, up func()) time.Duration {
	t.Helper()
	srv, err := server.New(st, &server.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	const history = "outage"
	load := Start(hs.URL, history, 32)
	stopped := false
	defer func() {
		if !stopped {
			load.Stop()
		}
	}()
	load.WaitAcked(t, 200, time.Minute)
	var took time.Duration
	for round := range testenv.Rounds(1, 5) {
		down()
		load.WaitStatus(t, http.StatusServiceUnavailable, 5*(round+1), time.Minute)
		up()
		back := time.Now()
		took = max(took, load.WaitAckedSince(t, back, BackWithin))
		load.WaitAcked(t, len(load.Acked())+testenv.Rounds(100, 2000), time.Minute) // and it keeps working
	}
	load.Stop()
	stopped = true

	statuses := load.Statuses()
	for status := range statuses {
		if status != http.StatusOK && status != http.StatusServiceUnavailable {
			t.Errorf("answered %d during the outage: %s", status, load.Body(status))
		}
	}
	if b := load.Body(http.StatusServiceUnavailable); !strings.Contains(b, `"code":"store_unavailable"`) && !strings.Contains(b, `"code":"outcome_unknown"`) {
		t.Errorf("a 503 that does not say the store failed: %s", b)
	}
	if n := load.NetErrors(); n > 0 {
		t.Errorf("%d requests got no answer: the server must answer even with its store down", n)
	}
	proctest.CheckAcked(t, st, history, load.Acked())
	t.Logf("answers %v; a write sent after the store was back succeeded at most %v later", statuses, took.Round(time.Millisecond))
	return took
}
