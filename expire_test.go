package chatstore_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	_ "github.com/chatstore/chatstore/memstore"
)

func TestParseTTL(t *testing.T) {
	day := 24 * time.Hour
	for in, want := range map[string]time.Duration{
		"30d": 30 * day, "1d": day, "24h": day, "90m": 90 * time.Minute, "1ms": time.Millisecond,
		"36500d": 36500 * day, "none": 0, "0": 0,
	} {
		got, err := chatstore.ParseTTL(in)
		if err != nil || got != want {
			t.Errorf("ParseTTL(%q) = %v, %v; want %v", in, got, err, want)
		}
		if want > 0 {
			if back, err := chatstore.ParseTTL(chatstore.FormatTTL(got)); err != nil || back != got {
				t.Errorf("FormatTTL(%v) = %q, which reads back as %v, %v", got, chatstore.FormatTTL(got), back, err)
			}
		}
	}
	for _, in := range []string{"", "d", "0d", "-1d", "1.5d", "36501d", "1000000h", "-5m", "1us", "5 d", "tomorrow", "99999999999999999999d"} {
		if d, err := chatstore.ParseTTL(in); !errors.Is(err, chatstore.ErrInvalidExpiry) {
			t.Errorf("ParseTTL(%q) = %v, %v; want ErrInvalidExpiry", in, d, err)
		}
	}
}

func TestTTLURL(t *testing.T) {
	st, err := chatstore.Open(t.Context(), "memory://?ttl=30d", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if st.Options().TTL != 30*24*time.Hour || st.DefaultTTL("x") != 30*24*time.Hour {
		t.Errorf("ttl=30d: options %v, default %v", st.Options().TTL, st.DefaultTTL("x"))
	}
	for _, u := range []string{"memory://?ttl=soon", "memory://?ttl=1d&ttl=2d", "memory://?ttl=-1h"} {
		if _, err := chatstore.Open(t.Context(), u, nil); !errors.Is(err, chatstore.ErrInvalidOptions) {
			t.Errorf("%s: %v, want ErrInvalidOptions", u, err)
		}
	}
	if _, err := chatstore.Open(t.Context(), "memory://", &chatstore.Options{TTL: -time.Second}); !errors.Is(err, chatstore.ErrInvalidOptions) {
		t.Errorf("a negative Options.TTL: %v", err)
	}
}

func TestCheckExpiry(t *testing.T) {
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	for _, x := range []chatstore.Expiry{{}, {TTL: time.Millisecond}, {TTL: chatstore.MaxTTL}, {At: now.Add(-time.Hour)}, {At: now.Add(chatstore.MaxTTL)}} {
		if err := chatstore.CheckExpiry(x, now); err != nil {
			t.Errorf("CheckExpiry(%+v): %v", x, err)
		}
	}
	for _, x := range []chatstore.Expiry{{TTL: time.Microsecond}, {TTL: -time.Hour}, {TTL: chatstore.MaxTTL + 1}, {At: time.Unix(0, 0)}, {At: now.Add(chatstore.MaxTTL + time.Millisecond)}, {TTL: time.Hour, At: now}} {
		if err := chatstore.CheckExpiry(x, now); !errors.Is(err, chatstore.ErrInvalidExpiry) {
			t.Errorf("CheckExpiry(%+v): %v, want ErrInvalidExpiry", x, err)
		}
	}
}

type stepClock struct{ t time.Time }

func (c *stepClock) Now() time.Time { return c.t }

// TestSweepAll: batches until none are left, or until the bound.
func TestSweepAll(t *testing.T) {
	c := &stepClock{t: time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)}
	st, err := chatstore.Open(t.Context(), "memory://?ttl=1h", &chatstore.Options{Clock: c})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i := range 250 {
		if _, err := st.Write(t.Context(), fmt.Sprint("h", i), []chat.Message{chat.User("q")}); err != nil {
			t.Fatal(err)
		}
	}
	c.t = c.t.Add(time.Hour)
	if got, err := st.SweepAll(t.Context(), 120); err != nil || got != (chatstore.Erasure{Histories: 120, Messages: 120}) {
		t.Errorf("SweepAll(120): %+v, %v", got, err)
	}
	if got, err := st.SweepAll(t.Context(), 0); err != nil || got != (chatstore.Erasure{Histories: 130, Messages: 130}) {
		t.Errorf("SweepAll(0): %+v, %v", got, err)
	}
}
