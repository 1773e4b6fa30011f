package cli

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/driver"
	"github.com/chatstore/chatstore/memstore"
)

// TestExpireCommand sets a history's own expiry through a server in each
// of the three ways, and refuses command lines that give none or two.
func TestExpireCommand(t *testing.T) {
	ctx := context.Background()
	st, url := newServedStore(t)
	st.Write(ctx, "h", []chat.Message{chat.User("a")})
	out, err := run(t, "expire", "h", "--ttl", "30d", "--server", url)
	info, _, _ := st.Info(ctx, "h")
	if err != nil || info.Expiry.TTL != 30*24*time.Hour || out != "h\t"+info.ExpiresAt.Format(chatstore.TimeFormat)+"\n" {
		t.Errorf("expire --ttl: %q %v; the store has %+v", out, err, info)
	}
	if out, err := run(t, "expire", "h", "--at", "2100-01-31T00:00:00Z", "--server", url); err != nil || out != "h\t2100-01-31T00:00:00.000Z\n" {
		t.Errorf("expire --at: %q %v", out, err)
	}
	if out, err := run(t, "expire", "h", "--clear", "--server", url); err != nil || out != "h\t-\n" {
		t.Errorf("expire --clear: %q %v", out, err)
	}
	for _, args := range [][]string{
		{"h"}, {"h", "--ttl", "1d", "--clear"}, {"h", "--ttl", "1d", "--at", "2100-01-01T00:00:00Z"},
		{"h", "--ttl", "soon"}, {"h", "--ttl", "0"}, {"h", "--at", "tomorrow"}, {"--ttl", "1d"},
	} {
		if _, err := run(t, append(append([]string{"expire"}, args...), "--server", url)...); !errors.Is(err, ErrUsage) {
			t.Errorf("expire %q: %v, want a usage error", args, err)
		}
	}
	if _, err := run(t, "expire", "h", "--at", "1900-01-01T00:00:00Z", "--server", url); !errors.Is(err, chatstore.ErrInvalidExpiry) {
		t.Errorf("expire --at 1900: %v", err)
	}
}

// sweepDriver is the driver behind the scheme clisweeptest://, which every
// command of TestSweepCommand opens, so that they share its histories.
var sweepDriver = &keepOpen{memstore.New()}

// keepOpen is a memory driver that outlives the stores opened over it.
type keepOpen struct{ *memstore.Store }

func (keepOpen) Close() error { return nil }

func init() {
	chatstore.Register("clisweeptest", func(context.Context, *url.URL, *chatstore.Options) (driver.Store, error) {
		return sweepDriver, nil
	})
}

// TestSweepCommand removes every expired history, over several batches,
// says how many, and leaves the others; it works on stores, not servers.
func TestSweepCommand(t *testing.T) {
	ctx := context.Background()
	st, err := chatstore.New(sweepDriver, nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = chatstore.SweepBatch + 50
	for i := range n + 1 {
		id := fmt.Sprint("h", i)
		if _, err := st.Write(ctx, id, []chat.Message{chat.User("q"), chat.Assistant("a")}); err != nil {
			t.Fatal(err)
		}
		if i < n {
			// A time past: expired at once.
			if _, err := st.SetExpiry(ctx, id, chatstore.Expiry{At: time.UnixMilli(1)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if out, err := run(t, "sweep", "--store", "clisweeptest://"); err != nil || out != fmt.Sprintf("swept %d histories, %d messages\n", n, 2*n) {
		t.Errorf("sweep: %q %v", out, err)
	}
	if out, err := run(t, "sweep", "--store", "clisweeptest://"); err != nil || out != "swept 0 histories, 0 messages\n" {
		t.Errorf("sweep again: %q %v", out, err)
	}
	if c, err := st.Count(ctx, fmt.Sprint("h", n)); err != nil || c != 2 {
		t.Errorf("the history that has not expired: %d %v", c, err)
	}
	_, srvURL := newServedStore(t)
	if _, err := run(t, "sweep", "--server", srvURL); !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), "sweeps its own") {
		t.Errorf("sweep --server: %v", err)
	}
}

// TestServeSweepFlags: the sweep's flags and --ttl refuse what cannot be
// meant, and --ttl beside the store URL's ttl=.
func TestServeSweepFlags(t *testing.T) {
	for _, args := range [][]string{{"--sweep-max", "0"}, {"--sweep-interval", "-1s"}, {"--sweep-interval", "60"},
		{"--ttl", "soon"}, {"--ttl", "30d", "--store", "memory://?ttl=1d"}} {
		if _, err := parseServe(newEnv(nil).Env, args); !errors.Is(err, ErrUsage) {
			t.Errorf("serve %q: %v, want a usage error", args, err)
		}
	}
	c, err := parseServe(newEnv(map[string]string{"CHATSTORE_SWEEP_INTERVAL": "0s", "CHATSTORE_TTL": "30d"}).Env, []string{"--sweep-max", "5"})
	if err != nil || c.sweepInterval != 0 || c.sweepMax != 5 || c.ttl != 30*24*time.Hour {
		t.Errorf("CHATSTORE_SWEEP_INTERVAL=0s CHATSTORE_TTL=30d --sweep-max 5: %+v %v", c, err)
	}
}

// TestScrubCommand: scrub runs on a SQLite store, and says why not on a
// store that keeps nothing to scrub or through a server.
func TestScrubCommand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "scrub.db")
	st, err := chatstore.Open(t.Context(), "sqlite://"+filepath.ToSlash(path), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Write(t.Context(), "h", []chat.Message{chat.User("hello")}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, "scrub", "--store", "sqlite://"+filepath.ToSlash(path)); err != nil || out != "scrubbed\n" {
		t.Errorf("scrub: %q %v", out, err)
	}
	if _, err := run(t, "scrub", "--store", "memory://"); !errors.Is(err, chatstore.ErrNotSupported) {
		t.Errorf("scrub of a memory store: %v, want ErrNotSupported", err)
	}
	_, srvURL := newServedStore(t)
	if _, err := run(t, "scrub", "--server", srvURL); !errors.Is(err, ErrUsage) {
		t.Errorf("scrub --server: %v", err)
	}
}
