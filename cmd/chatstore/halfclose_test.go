package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chatstore/chatstore/internal/testenv"
)

// TestHalfClosedClientE2E: a client that half-closes its connection right
// after sending a write (shutdown(SHUT_WR), as "nc -N" and some proxies
// do) still reads the whole answer, and the write is stored. The probe
// found such clients answered with an empty 200 and nothing stored: the
// store call was canceled with the request's context when net/http saw
// the EOF.
func TestHalfClosedClientE2E(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		p := serve(t, "--store", "sqlite:"+filepath.Join(t.TempDir(), "chat.db"))
		halfClosedWrites(t, p)
	})
	t.Run("postgres", func(t *testing.T) {
		base := testenv.Get(t, "CHATSTORE_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
		p := serve(t, "--store", testenv.PostgresSchema(t, base))
		halfClosedWrites(t, p)
	})
}

// halfClosedWrites sends 100 writes of one to three messages, each on a
// connection of its own that is half-closed once the body is out, four
// at a time; then checks that the history holds exactly the messages
// acknowledged.
func halfClosedWrites(t *testing.T, p *proc) {
	const (
		writes  = 100
		workers = 4
	)
	addr := strings.TrimPrefix(p.base, "http://")
	var (
		mu    sync.Mutex
		acked = map[string]int{} // message id → times acknowledged
		total int
		bad   int
	)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < writes; i += workers {
				var ids, msgs []string
				for j := range 1 + i%3 {
					id := fmt.Sprintf("w%03d-%d", i, j)
					ids = append(ids, id)
					role := []string{"user", "assistant"}[j%2]
					msgs = append(msgs, fmt.Sprintf(`{"role":%q,"meta":{"chat_message_id":%q},"name":null,"content":[{"text":"half-closed %s"}]}`, role, id, id))
				}
				body := `{"messages":[` + strings.Join(msgs, ",") + `]}`
				a, err := exchange(addr, hostile{method: "POST", target: "/v1/histories/half/messages", body: []byte(body), closeWrite: true})
				want := fmt.Sprintf(`{"messages_written":%d}`+"\n", len(ids))
				mu.Lock()
				if err != nil || a.status != 200 || a.body != want || a.header.Get("Content-Type") != "application/json" {
					if bad++; bad <= 10 {
						t.Errorf("write %d, half-closed: %d %q %v (Content-Type %q), want 200 %q",
							i, a.status, a.body, err, a.header.Get("Content-Type"), want)
					}
				} else {
					for _, id := range ids {
						acked[id]++
					}
					total += len(ids)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if bad > 0 {
		t.Errorf("%d of %d half-closed writes were not answered 200 with messages_written", bad, writes)
	}

	// The history holds each acknowledged message once, and nothing else.
	stored := storedMessages(t, p.call("GET", "/v1/histories/half/messages?last_k=all", ""))
	seen := map[string]int{}
	for _, m := range stored {
		seen[m.Meta.ID]++
	}
	for id := range acked {
		if seen[id] != 1 {
			t.Errorf("acknowledged message %s is stored %d times", id, seen[id])
		}
	}
	for id, n := range seen {
		if acked[id] == 0 {
			t.Errorf("message %s is stored %d times but was never acknowledged", id, n)
		}
	}
	if n := historyCount(t, p, "half"); n != total || len(stored) != total {
		t.Errorf("the history counts %d messages and reads %d, want the %d acknowledged", n, len(stored), total)
	}
	if log := p.log(); strings.Contains(log, "panic") || strings.Contains(log, `"level":"ERROR"`) {
		t.Errorf("the server logged a panic or an error:\n%s", clip(log, 5000))
	}
	t.Logf("%d half-closed writes, %d messages acknowledged and stored", writes, total)
}
