package chatstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/chatstore/chatstore/driver"
)

// Expiry limits and defaults.
const (
	// MaxTTL is the longest time to live, per history or by default:
	// a hundred years, which keeps every expiry time within int64
	// milliseconds and RFC 3339.
	MaxTTL = 100 * 365 * 24 * time.Hour
	// SweepBatch is how many expired histories one Sweep removes at most
	// when given no limit.
	SweepBatch = 100
)

// ErrInvalidExpiry: a time to live or expiry time out of range, or both
// given at once.
var ErrInvalidExpiry = errors.New("invalid expiry")

// Expiry is a history's own time to live (SetExpiry). At most one field is
// set; the zero Expiry means none of its own, so the store's (or the
// view's) default TTL applies.
type Expiry struct {
	// TTL, when > 0, makes the history expire TTL after its last change:
	// every write, metadata change, deletion, truncation or compaction
	// pushes its expiry back (a sliding expiry). Reads do not.
	TTL time.Duration
	// At, when not zero, is a fixed time of expiry that no change moves.
	At time.Time
}

// CheckExpiry reports whether x can be set: a TTL of 1ms to MaxTTL, or a
// time At between the Unix epoch and MaxTTL from now, not both.
func CheckExpiry(x Expiry, now time.Time) error {
	switch {
	case x.TTL != 0 && !x.At.IsZero():
		return fmt.Errorf("chatstore: %w: give a time to live or a time of expiry, not both", ErrInvalidExpiry)
	case x.TTL < 0 || x.TTL > 0 && x.TTL < time.Millisecond || x.TTL > MaxTTL:
		return fmt.Errorf("chatstore: %w: a time to live is 1ms to %v, got %v", ErrInvalidExpiry, MaxTTL, x.TTL)
	case !x.At.IsZero() && (x.At.UnixMilli() <= 0 || x.At.After(now.Add(MaxTTL))):
		return fmt.Errorf("chatstore: %w: a time of expiry is after 1970 and at most %v from now, got %s", ErrInvalidExpiry, MaxTTL, x.At.UTC().Format(time.RFC3339))
	}
	return nil
}

// ParseTTL reads a time to live as the ttl URL parameter and the tokens
// file spell it: a Go duration ("90m", "24h") or a number of days ("30d");
// "0" or "none" for none. It is 1ms to MaxTTL.
func ParseTTL(s string) (time.Duration, error) {
	var d time.Duration
	var err error
	switch {
	case s == "0" || s == "none":
		return 0, nil
	case strings.HasSuffix(s, "d"):
		var n int64
		n, err = strconv.ParseInt(strings.TrimSuffix(s, "d"), 10, 64)
		if err == nil && (n < 1 || n > int64(MaxTTL/(24*time.Hour))) {
			err = errors.New("out of range")
		}
		d = time.Duration(n) * 24 * time.Hour
	default:
		d, err = time.ParseDuration(s)
	}
	if err != nil || d < time.Millisecond || d > MaxTTL {
		return 0, fmt.Errorf("chatstore: %w: ttl %q: want a duration from 1ms to %dd, such as 30d, 24h or 90m (or none)", ErrInvalidExpiry, s, MaxTTL/(24*time.Hour))
	}
	return d, nil
}

// FormatTTL spells d as ParseTTL reads it, in days when it is whole days.
func FormatTTL(d time.Duration) string {
	switch {
	case d <= 0:
		return "none"
	case d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return d.String()
}

// expirer returns the driver's driver.Expirer, or ErrNotSupported for op.
func (s *Store) expirer(op string) (driver.Expirer, error) {
	x, ok := s.drv.(driver.Expirer)
	if !ok {
		return nil, fmt.Errorf("chatstore: %s: %w", op, ErrNotSupported)
	}
	return x, nil
}

// Expires reports whether the store's histories can expire: whether its
// driver implements driver.Expirer, without which SetExpiry, SetDefaultTTL
// and Sweep answer ErrNotSupported.
func (s *Store) Expires() bool {
	_, ok := s.drv.(driver.Expirer)
	return ok
}

// SetExpiry sets a history's own expiry, creating the history (empty) if
// it does not exist, as SetMetadata does, and returns its Info after. The
// zero Expiry removes it, so that the default TTL applies again. Setting
// it counts as a change, which a sliding expiry counts from. An At in the
// past expires the history at once. Needs driver.Expirer.
func (s *Store) SetExpiry(ctx context.Context, historyID string, x Expiry) (HistoryInfo, error) {
	now := s.now()
	if err := CheckExpiry(x, time.UnixMilli(now)); err != nil {
		return HistoryInfo{}, err
	}
	var out HistoryInfo
	err := s.edit(ctx, "set expiry", historyID, func(_ driver.Editor, key string) error {
		xd, err := s.expirer("set expiry")
		if err != nil {
			return err
		}
		di, err := xd.SetExpiry(ctx, key, driverExpiry(x), now)
		out = s.info(di)
		return err
	})
	return out, err
}

func driverExpiry(x Expiry) driver.Expiry {
	if !x.At.IsZero() {
		return driver.Expiry{At: x.At.UnixMilli()}
	}
	return driver.Expiry{TTL: x.TTL.Milliseconds()}
}

// SetDefaultTTL sets the time to live of the histories that have none of
// their own (SetExpiry), as a sliding expiry: a history then expires ttl
// after its last change. On a view (Prefixed) it sets the default of the
// histories under the view's prefix, over the store's (Options.TTL); 0
// removes the view's own, so that the store's applies. A history's expiry
// is worked out at each change, so a new default applies to a history
// from its next change on. The default is kept by the driver, in this
// process: every process sharing a backend sets its own. Needs
// driver.Expirer.
func (s *Store) SetDefaultTTL(ttl time.Duration) error {
	if ttl < 0 || ttl > MaxTTL {
		return fmt.Errorf("chatstore: %w: a default time to live is 0 (none) to %v, got %v", ErrInvalidExpiry, MaxTTL, ttl)
	}
	x, err := s.expirer("set default ttl")
	if err != nil {
		return err
	}
	x.Policy().SetTTL(s.prefix, ttl.Milliseconds())
	return nil
}

// DefaultTTL is the default time to live of a history (SetDefaultTTL) with
// the given id; 0 for none or a driver without driver.Expirer.
func (s *Store) DefaultTTL(historyID string) time.Duration {
	x, ok := s.drv.(driver.Expirer)
	if !ok {
		return 0
	}
	return time.Duration(x.Policy().TTL(s.prefix+historyID)) * time.Millisecond
}

// Sweep removes up to limit (SweepBatch when ≤ 0) histories of the whole
// store (a view's Sweep too) that have expired, with everything Delete
// removes of them, and says how many histories and messages it removed.
// Expired histories are hidden from every read whether swept or not;
// sweeping reclaims their storage. It is safe to run in several processes
// at once and beside writes. On drivers whose backend expires histories
// itself (driver.NativeExpirer, Redis) it tidies the listing entries they
// leave. Needs driver.Expirer.
func (s *Store) Sweep(ctx context.Context, limit int) (Erasure, error) {
	if err := s.begin(ctx, "sweep"); err != nil {
		return Erasure{}, err
	}
	defer s.mu.RUnlock()
	x, err := s.expirer("sweep")
	if err != nil {
		return Erasure{}, err
	}
	if limit <= 0 {
		limit = SweepBatch
	}
	sw, err := x.Sweep(ctx, s.now(), limit)
	return Erasure{Histories: sw.Histories, Messages: sw.Messages}, err
}

// SweepAll sweeps (Sweep) SweepBatch histories at a time until a batch
// removes fewer, none being left, or until it has removed max (no bound
// when max ≤ 0), and says what it removed in all, the part done before an
// error too.
func (s *Store) SweepAll(ctx context.Context, max int64) (Erasure, error) {
	var total Erasure
	for max <= 0 || total.Histories < max {
		limit := int64(SweepBatch)
		if max > 0 {
			limit = min(limit, max-total.Histories)
		}
		got, err := s.Sweep(ctx, int(limit))
		total.Histories += got.Histories
		total.Messages += got.Messages
		if err != nil || got.Histories < limit {
			return total, err
		}
	}
	return total, nil
}

// setUpExpiry gives a driver.Expirer the store's clock and default TTL, if
// it has one: a driver may have been given its own (redisstore.Options.TTL).
func (s *Store) setUpExpiry() {
	if x, ok := s.drv.(driver.Expirer); ok {
		p := x.Policy()
		p.SetClock(s.now)
		if s.opts.TTL > 0 {
			p.SetTTL("", s.opts.TTL.Milliseconds())
		}
	}
}

// expiryInfo fills h's expiry from di.
func expiryInfo(h *HistoryInfo, di driver.Info) {
	if di.ExpiresAt > 0 {
		h.ExpiresAt = time.UnixMilli(di.ExpiresAt).UTC()
	}
	h.Expiry.TTL = time.Duration(di.Expiry.TTL) * time.Millisecond
	if di.Expiry.At > 0 {
		h.Expiry.At = time.UnixMilli(di.Expiry.At).UTC()
	}
}

// Scrub removes, on drivers that implement driver.Scrubber (SQLite), the
// traces of deleted data that the backend keeps until some later
// maintenance (SQLite: the words of deleted messages in the search index,
// pages in the write-ahead log), so that an erasure leaves nothing
// readable in the backend's files. It first sweeps every expired history
// (Sweep, until none is left): those are deleted for every reader, but an
// erasure does not see them to remove them. It costs a pass over that
// storage; run it after an erasure, not after every delete. ErrNotSupported
// on other drivers, having swept: what they keep, and what an operator does
// about it, is in docs/STORE.md. It acts on the whole store, a view's Scrub
// too.
func (s *Store) Scrub(ctx context.Context) error {
	sc, ok := s.drv.(driver.Scrubber)
	if s.Expires() {
		if _, err := s.SweepAll(ctx, 0); err != nil {
			return err
		}
	}
	if err := s.begin(ctx, "scrub"); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	if !ok {
		return fmt.Errorf("chatstore: scrub: %w", ErrNotSupported)
	}
	return sc.Scrub(ctx)
}
