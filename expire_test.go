package chatstore_test

import (
	"errors"
	"testing"
	"time"

	"github.com/chatstore/chatstore"
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
