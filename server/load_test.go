package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/internal/storebench"
)

// BenchmarkLoad measures the server over the in-memory store against a bare
// net/http handler that answers a fixed 1 KB JSON body, with one load
// generator: 64 keep-alive clients in this process sending requests as fast
// as they are answered, over loopback, to an http.Server configured as
// "chatstore serve" configures it. Each sub-benchmark reports requests per
// second and the p99 latency; the target is that GET last-10 and a
// single-message POST reach at least half the baseline's rate.
//
//	go test ./server -run '^$' -bench Load -count 6
func BenchmarkLoad(b *testing.B) {
	baseline := bytes.Repeat([]byte("x"), 1024-len(`{"data":""}`+"\n"))
	baseline = append(append([]byte(`{"data":"`), baseline...), "\"}\n"...)
	b.Run("baseline-1KB", func(b *testing.B) {
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write(baseline)
		})
		runLoad(b, h, func(int, int) (string, string, []byte) { return "GET", "/fixed", nil })
	})

	st, err := chatstore.Open(context.Background(), "memory://", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	srv, err := New(st, &Options{Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	const histories = 64
	conv := storebench.Conversation(40) // 20 rounds; the last 10 are 20 messages, about 2.4 KB of JSON
	for h := range histories {
		if _, err := st.Write(context.Background(), fmt.Sprint("h", h), conv); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("get-last10", func(b *testing.B) {
		runLoad(b, srv, func(client, _ int) (string, string, []byte) {
			return "GET", fmt.Sprintf("/v1/histories/h%d/messages?last_k=10", client%histories), nil
		})
	})
	one, err := chat.User("What is the weather like in Berlin today, and should I bring an umbrella?").MarshalJSON()
	if err != nil {
		b.Fatal(err)
	}
	body := append(append([]byte(`{"messages":[`), one...), "]}"...)
	b.Run("post-one", func(b *testing.B) {
		runLoad(b, srv, func(client, _ int) (string, string, []byte) {
			return "POST", fmt.Sprintf("/v1/histories/w%d/messages", client), body
		})
	})
}

// runLoad serves h as "chatstore serve" does and runs 64 clients against it
// for b.N requests in all, each client's requests made by next(client, i).
func runLoad(b *testing.B, h http.Handler, next func(client, i int) (method, path string, body []byte)) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, MaxHeaderBytes: 64 << 10}
	go hs.Serve(Listener(ln, hs.MaxHeaderBytes))
	defer hs.Close()
	base := "http://" + ln.Addr().String()
	tr := &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}

	var (
		clients atomic.Int64
		mu      sync.Mutex
		lat     []time.Duration
	)
	b.ReportAllocs()
	storebench.Parallel64(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c := int(clients.Add(1))
		mine := make([]time.Duration, 0, 1024)
		for i := 0; pb.Next(); i++ {
			method, path, body := next(c, i)
			var rd io.Reader
			if body != nil {
				rd = bytes.NewReader(body)
			}
			req, _ := http.NewRequest(method, base+path, rd)
			if body != nil {
				req.Header.Set("Content-Type", "application/json")
			}
			t0 := time.Now()
			resp, err := hc.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			mine = append(mine, time.Since(t0))
			if err != nil || resp.StatusCode != 200 {
				b.Errorf("%s %s: %d %v", method, path, resp.StatusCode, err)
				return
			}
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}
