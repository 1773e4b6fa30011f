package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/chatstore/chatstore"
)

// Sweeper defaults: at most DefaultSweepMax histories a minute, so a store
// that has just let millions expire reclaims them over hours at a steady
// cost, rather than in one burst that holds up every request.
const (
	DefaultSweepInterval = time.Minute
	DefaultSweepMax      = 10_000
)

// Sweeper removes the histories of the server's store that have expired,
// in the background: every interval, Store.Sweep in batches of
// chatstore.SweepBatch until a batch removes fewer than it asked for (none
// are left) or max histories are removed (the rest wait for the next
// tick). Expired histories are hidden from every read whether swept or
// not; sweeping reclaims their storage, so that a tick's cap bounds the
// work, not what clients see. Several servers on one database may sweep
// at once (the store makes that safe).
//
// Each tick that removed something, or failed, is logged ("sweep", with
// the histories and messages removed, the duration and the error); idle
// ticks are not. /metrics counts the histories and messages removed
// (chatstore_expired_total), the failed ticks (chatstore_sweep_errors_total)
// and every tick's duration (chatstore_sweep_duration_seconds). An error
// is logged and counted, and the next tick tries again.
type Sweeper struct {
	s        *Server
	interval time.Duration
	max      int64
}

// Sweeper returns a sweeper of the server's store that removes up to max
// expired histories (DefaultSweepMax when ≤ 0) every interval, or nil when
// interval ≤ 0 or the store keeps no expiry (Store.Expires): there is
// then nothing to run. Run runs it.
func (s *Server) Sweeper(interval time.Duration, max int) *Sweeper {
	if interval <= 0 || !s.store.Expires() {
		return nil
	}
	if max <= 0 {
		max = DefaultSweepMax
	}
	return &Sweeper{s: s, interval: interval, max: int64(max)}
}

// Run sweeps every interval until ctx is done, and returns then; the tick
// in progress, if any, is stopped with ctx. Start it in a goroutine beside
// the server, and wait for it to return before closing the store.
func (w *Sweeper) Run(ctx context.Context) {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.sweepOnce(ctx)
		}
	}
}

// sweepOnce is one tick: batches until none are left or the cap is
// reached, each batch a store call bounded by the store timeout. It
// returns what it removed and the error that stopped it, if any.
func (w *Sweeper) sweepOnce(ctx context.Context) (chatstore.Erasure, error) {
	start := time.Now()
	var (
		total chatstore.Erasure
		err   error
	)
	for total.Histories < w.max {
		limit := min(chatstore.SweepBatch, w.max-total.Histories)
		var got chatstore.Erasure
		err = w.s.timed(ctx, "sweep", func(ctx context.Context) (err error) {
			ctx, cancel := context.WithTimeout(ctx, w.s.opts.StoreTimeout)
			defer cancel()
			got, err = w.s.store.Sweep(ctx, int(limit))
			return err
		})
		total.Histories += got.Histories
		total.Messages += got.Messages
		if err != nil || got.Histories < limit {
			break
		}
	}
	d := time.Since(start)
	m := w.s.metrics
	m.sweepDuration.Observe(d.Seconds())
	m.expired.WithLabelValues("histories").Add(float64(total.Histories))
	m.expired.WithLabelValues("messages").Add(float64(total.Messages))
	failed := err != nil && ctx.Err() == nil // at shutdown a tick is stopped, not failed
	switch {
	case failed:
		m.sweepErrors.Inc()
		w.s.log.LogAttrs(ctx, slog.LevelWarn, "sweep", slog.Int64("histories", total.Histories), slog.Int64("messages", total.Messages),
			slog.Duration("duration", d), slog.Any("error", err))
	case total.Histories > 0 || total.Messages > 0:
		w.s.log.LogAttrs(ctx, slog.LevelInfo, "sweep", slog.Int64("histories", total.Histories), slog.Int64("messages", total.Messages),
			slog.Duration("duration", d))
	}
	return total, err
}
