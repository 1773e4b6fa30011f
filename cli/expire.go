package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/chatstore/chatstore"
)

const expireUsage = `usage: chatstore expire ID (--ttl DURATION | --at TIME | --clear) [--store URL | --server URL]

Sets when a history expires, and prints "ID<TAB>EXPIRES_AT" after ("-" for
never). --ttl gives it a sliding time to live: it expires that long after
its last change (a write, a metadata change, a deletion), so an active
history lives on. --at gives it a fixed time (RFC 3339) that no change
moves; a time past expires it at once. --clear removes its own expiry, so
that the default TTL applies again: through a server, the server's (the
tenant's, else the store's); with --store, the ttl= of the URL given, as
defaults belong to the process that applies them. An expired
history is gone for every read at once; "chatstore sweep", or a server's
background sweep, reclaims its storage. A history that does not exist is
created, empty.

examples:
  chatstore expire session-42 --ttl 30d
  chatstore expire session-42 --at 2030-01-31T00:00:00Z
  chatstore expire session-42 --clear --server http://127.0.0.1:8080 --token "$TOKEN"

flags:
`

const sweepUsage = `usage: chatstore sweep [--store URL]

Removes every history of the store that has expired, with its messages,
100 at a time, and prints how many histories and messages it removed.
Expired histories are hidden from every read whether removed or not;
sweeping reclaims their storage. "chatstore serve" sweeps its store in
the background (--sweep-interval); run this from cron for a store no
server sweeps. It is safe beside servers and other sweeps of the same
store, and a sweep stopped part way is finished by the next.

examples:
  chatstore sweep --store sqlite:///var/lib/chatstore/chat.db
  chatstore sweep --store 'postgres://app@db/chat?schema=chatstore'

flags:
`

const scrubUsage = `usage: chatstore scrub [--store URL]

Removes from the store's files the traces that deleted histories leave
until some later maintenance, so that an erasure leaves nothing readable
there. It first sweeps every expired history (an erasure does not see
those, as no read does). Then, on SQLite, it removes the words of deleted
messages that the search index keeps until its segments merge, and old
pages in the write-ahead log. It
rewrites the search index, so it costs a pass over every message's words:
run it after an erasure, not after each delete. Other backends keep
deleted data in their own ways, which docs/STORE.md describes with what an
operator does (PostgreSQL: VACUUM; Redis: rewriting the AOF and RDB).

examples:
  chatstore erase --metadata user_id=u-42 --store sqlite:///var/lib/chatstore/chat.db
  chatstore scrub --store sqlite:///var/lib/chatstore/chat.db

flags:
`

func runExpire(ctx context.Context, env *Env, args []string) error {
	f := newFlags(env, "expire", expireUsage)
	ttl := f.String("ttl", "", "sliding time to live: 30d, 24h, 90m (see the ttl store parameter)")
	at := f.String("at", "", "fixed time of expiry, RFC 3339: 2030-01-31T00:00:00Z")
	clearOwn := f.Bool("clear", false, "remove the history's own expiry: the default TTL applies")
	t, pos, err := openTarget(ctx, f, args, 1)
	if err != nil {
		return err
	}
	defer t.Close()
	var x chatstore.Expiry
	switch n := btoi(*ttl != "") + btoi(*at != "") + btoi(*clearOwn); {
	case n != 1:
		return f.usageErr("give one of --ttl, --at and --clear")
	case *ttl != "":
		if x.TTL, err = chatstore.ParseTTL(*ttl); err != nil || x.TTL == 0 {
			return f.usageErr("--ttl %q: want a duration such as 30d, 24h or 90m (--clear removes the history's own)", *ttl)
		}
	case *at != "":
		if x.At, err = time.Parse(time.RFC3339Nano, *at); err != nil {
			return f.usageErr("--at %q: want an RFC 3339 time such as 2030-01-31T00:00:00Z", *at)
		}
	}
	info, err := t.SetExpiry(ctx, pos[0], x)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%s\t%s\n", pos[0], formatTime(info.ExpiresAt))
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// sweeper is a target that can sweep: a store, not a server's client (a
// server sweeps its own store).
type sweeper interface {
	SweepAll(ctx context.Context, max int64) (chatstore.Erasure, error)
}

func runSweep(ctx context.Context, env *Env, args []string) error {
	f := newFlags(env, "sweep", sweepUsage)
	t, _, err := openTarget(ctx, f, args, 0)
	if err != nil {
		return err
	}
	defer t.Close()
	sw, ok := t.(sweeper)
	if !ok {
		return f.usageErr("sweep works on a store (--store); a server sweeps its own in the background (chatstore serve --sweep-interval)")
	}
	total, err := sw.SweepAll(ctx, 0)
	if err != nil {
		return fmt.Errorf("swept %d histories (%d messages) before: %w; run it again to finish", total.Histories, total.Messages, err)
	}
	fmt.Fprintf(env.Stdout, "swept %d histories, %d messages\n", total.Histories, total.Messages)
	return nil
}

// scrubber is a target that can scrub: a store, not a server's client.
type scrubber interface {
	Scrub(ctx context.Context) error
}

func runScrub(ctx context.Context, env *Env, args []string) error {
	f := newFlags(env, "scrub", scrubUsage)
	t, _, err := openTarget(ctx, f, args, 0)
	if err != nil {
		return err
	}
	defer t.Close()
	sc, ok := t.(scrubber)
	if !ok {
		return f.usageErr("scrub works on a store's files (--store), not through a server")
	}
	if err := sc.Scrub(ctx); err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, "scrubbed")
	return nil
}
