package testenv

import (
	"sync/atomic"
	"time"
)

// Clock is a chatstore.Clock that tests set and move, for expiry and the
// times a store records: it tells the time it was last set to. It is safe
// for concurrent use.
type Clock struct{ ms atomic.Int64 }

// NewClock returns a Clock at ms, in Unix milliseconds.
func NewClock(ms int64) *Clock {
	c := &Clock{}
	c.ms.Store(ms)
	return c
}

// Now implements chatstore.Clock.
func (c *Clock) Now() time.Time { return time.UnixMilli(c.ms.Load()) }

// Add moves the clock by d (to the millisecond).
func (c *Clock) Add(d time.Duration) { c.ms.Add(d.Milliseconds()) }

// Millis is the time it tells, in Unix milliseconds.
func (c *Clock) Millis() int64 { return c.ms.Load() }

// After is the time d after the time it tells.
func (c *Clock) After(d time.Duration) time.Time {
	return time.UnixMilli(c.ms.Load() + d.Milliseconds())
}

// Set sets the clock to ms, in Unix milliseconds.
func (c *Clock) Set(ms int64) { c.ms.Store(ms) }
