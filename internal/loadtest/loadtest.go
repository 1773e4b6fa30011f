// Package loadtest drives a chatstore server with concurrent writers for
// the fault tests: a server killed, stopped or cut off from its store in
// the middle of the load must not lose a write it acknowledged.
package loadtest

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
)

// Load is a set of clients, each POSTing one message at a time to one
// history of a server. Every message has its own chat_message_id, which is
// also its text, so a check afterwards can find each acknowledged one.
type Load struct {
	base, history string
	tag           string // starts every id, so that two loads never write one id
	stop          chan struct{}
	wg            sync.WaitGroup

	mu       sync.Mutex
	acked    []string
	ackTimes [][2]time.Time // when each acknowledged write was sent and answered
	statuses map[int]int
	bodies   map[int]string // one answer body per non-2xx status
	netErrs  int
	answered chan struct{} // closed and replaced at every answer
}

// loads numbers the loads of the process.
var loads atomic.Int64

// Start starts clients writing to history on the server at base
// ("http://host:port").
func Start(base, history string, clients int) *Load {
	l := &Load{
		base: base, history: history, tag: fmt.Sprintf("l%d", loads.Add(1)), stop: make(chan struct{}),
		statuses: map[int]int{}, bodies: map[int]string{}, answered: make(chan struct{}),
	}
	for c := range clients {
		l.wg.Go(func() { l.client(c) })
	}
	return l
}

func (l *Load) client(c int) {
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer hc.CloseIdleConnections()
	url := l.base + "/v1/histories/" + l.history + "/messages"
	for i := 0; ; i++ {
		select {
		case <-l.stop:
			return
		default:
		}
		id := fmt.Sprintf("%s-c%d-%d", l.tag, c, i)
		m := chat.User(id).WithMeta(chatstore.MessageIDKey, id)
		body, _ := m.MarshalJSON()
		sent := time.Now()
		resp, err := hc.Post(url, "application/json", strings.NewReader(`{"messages":[`+string(body)+`]}`))
		if err != nil {
			l.mu.Lock()
			l.netErrs++
			l.mu.Unlock()
			select { // the server is down: do not spin
			case <-l.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			continue
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		l.mu.Lock()
		l.statuses[resp.StatusCode]++
		if resp.StatusCode == http.StatusOK {
			l.acked = append(l.acked, id)
			l.ackTimes = append(l.ackTimes, [2]time.Time{sent, time.Now()})
		} else if _, ok := l.bodies[resp.StatusCode]; !ok {
			l.bodies[resp.StatusCode] = string(answer)
		}
		close(l.answered)
		l.answered = make(chan struct{})
		l.mu.Unlock()
	}
}

// WaitAcked waits until n writes in all have been acknowledged, or fails
// the test after timeout.
func (l *Load) WaitAcked(t testing.TB, n int, timeout time.Duration) {
	t.Helper()
	l.WaitStatus(t, http.StatusOK, n, timeout)
}

// WaitStatus waits until n answers in all had the status, or fails the
// test after timeout.
func (l *Load) WaitStatus(t testing.TB, status, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		l.mu.Lock()
		got, wake := l.statuses[status], l.answered
		l.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-wake:
		case <-deadline:
			t.Fatalf("%d answers %d in %v, want %d; answers so far %v", got, status, timeout, n, l.Statuses())
		}
	}
}

// WaitAckedSince waits for the first acknowledged write sent at t0 or
// later and returns how long after t0 it was answered, or fails the test
// after timeout.
func (l *Load) WaitAckedSince(t testing.TB, t0 time.Time, timeout time.Duration) time.Duration {
	t.Helper()
	deadline := time.After(timeout)
	for i := 0; ; {
		l.mu.Lock()
		for ; i < len(l.ackTimes); i++ {
			if at := l.ackTimes[i]; !at[0].Before(t0) {
				l.mu.Unlock()
				return at[1].Sub(t0)
			}
		}
		wake := l.answered
		l.mu.Unlock()
		select {
		case <-wake:
		case <-deadline:
			t.Fatalf("no write sent after %v was acknowledged within %v; answers so far %v", t0.Format(time.TimeOnly), timeout, l.Statuses())
		}
	}
}

// Stop stops the clients and waits for them.
func (l *Load) Stop() {
	close(l.stop)
	l.wg.Wait()
}

// Acked returns the ids of the acknowledged writes.
func (l *Load) Acked() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.acked)
}

// Statuses returns how often each status was answered.
func (l *Load) Statuses() map[int]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[int]int, len(l.statuses))
	for k, v := range l.statuses {
		out[k] = v
	}
	return out
}

// Body returns one answer body of the status, "" if there was none.
func (l *Load) Body(status int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bodies[status]
}

// NetErrors returns how many requests got no answer at all.
func (l *Load) NetErrors() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.netErrs
}
