package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/driver"
)

// keyedStore returns a store over a fresh driver, skipping the test when
// the driver cannot record idempotency keys (then every keyed write must
// fail with ErrNotSupported, which is checked first).
func (s suite) keyedStore(t *testing.T, opts *chatstore.Options) *chatstore.Store {
	t.Helper()
	drv := s.newDriver(t)
	st, err := chatstore.New(drv, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if _, ok := drv.(driver.KeyedWriter); !ok {
		if _, _, err := st.WriteIdempotent(ctx(t), "h", "k", []chat.Message{chat.User("x")}); !errors.Is(err, chatstore.ErrNotSupported) {
			t.Errorf("keyed write to a driver without KeyedWriter: err = %v, want ErrNotSupported", err)
		}
		t.Skip("the driver does not implement driver.KeyedWriter")
	}
	return st
}

func writeKeyed(t *testing.T, st *chatstore.Store, id, key string, msgs ...chat.Message) (int, bool) {
	t.Helper()
	n, replayed, err := st.WriteIdempotent(ctx(t), id, key, msgs)
	if err != nil {
		t.Fatalf("WriteIdempotent(%q, %q): %v", id, key, err)
	}
	return n, replayed
}

func (s suite) testIdempotency(t *testing.T) {
	st := s.keyedStore(t, nil)
	round := []chat.Message{chat.User("q"), chat.Assistant("a")}
	if n, replayed := writeKeyed(t, st, "h", "key-1", round...); n != 2 || replayed {
		t.Fatalf("first keyed write: n=%d replayed=%v, want 2 false", n, replayed)
	}
	// A retry of the same messages, which have no ids, writes nothing and
	// answers as the first write did.
	if n, replayed := writeKeyed(t, st, "h", "key-1", round...); n != 2 || !replayed {
		t.Errorf("retry: n=%d replayed=%v, want 2 true", n, replayed)
	}
	if c := count(t, st, "h"); c != 2 {
		t.Errorf("after a retry the history has %d messages, want 2", c)
	}
	// The same key with other messages is refused and writes nothing.
	_, _, err := st.WriteIdempotent(ctx(t), "h", "key-1", []chat.Message{chat.User("other")})
	if !errors.Is(err, chatstore.ErrIdempotencyKeyReused) {
		t.Errorf("key reused for other messages: err = %v, want ErrIdempotencyKeyReused", err)
	}
	// Another key, or the same key on another history, writes.
	if n, replayed := writeKeyed(t, st, "h", "key-2", round...); n != 2 || replayed {
		t.Errorf("new key: n=%d replayed=%v", n, replayed)
	}
	if n, replayed := writeKeyed(t, st, "h2", "key-1", round...); n != 2 || replayed {
		t.Errorf("same key, other history: n=%d replayed=%v", n, replayed)
	}
	// Keys and unkeyed writes mix; a write whose messages are all held
	// already is recorded with 0 and replays 0.
	held := retrieve(t, st, "h", chatstore.All)
	if n, replayed := writeKeyed(t, st, "h", "key-3", held...); n != 0 || replayed {
		t.Errorf("keyed write of held messages: n=%d replayed=%v, want 0 false", n, replayed)
	}
	if n, replayed := writeKeyed(t, st, "h", "key-3", held...); n != 0 || !replayed {
		t.Errorf("its retry: n=%d replayed=%v, want 0 true", n, replayed)
	}
	if c := count(t, st, "h"); c != 4 {
		t.Errorf("history has %d messages, want 4", c)
	}
	// Deleting the history forgets its keys.
	if err := st.Delete(ctx(t), "h"); err != nil {
		t.Fatal(err)
	}
	if n, replayed := writeKeyed(t, st, "h", "key-1", round...); n != 2 || replayed {
		t.Errorf("after Delete: n=%d replayed=%v, want 2 false", n, replayed)
	}
	// Invalid keys write nothing.
	for _, k := range []string{"", "has space", "tab\t", "é", string(make([]byte, chatstore.MaxIdempotencyKeyLen+1))} {
		if _, _, err := st.WriteIdempotent(ctx(t), "h3", k, round); !errors.Is(err, chatstore.ErrInvalidIdempotencyKey) {
			t.Errorf("key %q: err = %v, want ErrInvalidIdempotencyKey", k, err)
		}
	}
	if c := count(t, st, "h3"); c != 0 {
		t.Errorf("refused keyed writes stored %d messages", c)
	}
}

func (s suite) testIdempotencyExpiry(t *testing.T) {
	const window = 50 * time.Millisecond
	st := s.keyedStore(t, &chatstore.Options{IdempotencyWindow: window})
	msg := chat.User("x")
	start := time.Now()
	writeKeyed(t, st, "h", "k", msg)
	_, replayed := writeKeyed(t, st, "h", "k", msg)
	want := 2
	if !replayed {
		// Only right if the retry came after the window, which a
		// loaded machine may make it do; it then stored again.
		if time.Since(start) < window {
			t.Errorf("a retry within the window wrote again")
		}
		want++
	}
	// Past the window the key is forgotten: the same write stores again.
	time.Sleep(2 * window)
	if n, replayed := writeKeyed(t, st, "h", "k", msg); n != 1 || replayed {
		t.Errorf("after the window: n=%d replayed=%v, want 1 false", n, replayed)
	}
	if c := count(t, st, "h"); c != want {
		t.Errorf("history has %d messages, want %d", c, want)
	}
}

// testIdempotencyConcurrent sends the same keyed write from many goroutines
// at once: exactly one stores it, every other replays its answer.
func (s suite) testIdempotencyConcurrent(t *testing.T) {
	st := s.keyedStore(t, nil)
	const writers = 16
	msgs := []chat.Message{chat.User("q"), chat.Assistant("a")}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		replays  int
		firstErr error
	)
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, replayed, err := st.WriteIdempotent(ctx(t), "h", "same", msgs)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			if n != 2 {
				t.Errorf("a writer got n=%d, want 2", n)
			}
			if replayed {
				replays++
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		t.Fatal(firstErr)
	}
	if replays != writers-1 {
		t.Errorf("%d of %d writers replayed, want %d", replays, writers, writers-1)
	}
	if c := count(t, st, "h"); c != 2 {
		t.Errorf("history has %d messages, want 2", c)
	}
}
