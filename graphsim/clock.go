package graphsim

import (
	"context"
	"sync"
	"time"

	engine "github.com/bulkrevoke/bulkrevoke/batch"
)

// Clock is the time source graphsim shares with the client under test, so quotas, Retry-After
// and the client's waits all agree on what "now" is: the engine's own clock type.
type Clock = engine.Clock

// RealClock is the wall clock. Inside a testing/synctest bubble it follows the bubble's fake
// time, which makes it usable for synctest-driven tests too.
var RealClock = engine.RealClock

// ScaledClock runs emulated time factor times faster than real time, so a
// benchmark of a 150-second quota window finishes in seconds.
type ScaledClock struct {
	factor    float64
	realStart time.Time // carries the monotonic reading
	start     time.Time
}

// NewScaledClock returns a clock whose Now starts at the real now and advances
// factor emulated seconds per real second; factor <= 0 means 1.
func NewScaledClock(factor float64) *ScaledClock {
	if factor <= 0 {
		factor = 1
	}
	now := time.Now()
	return &ScaledClock{factor: factor, realStart: now, start: now.Round(0)}
}

// Factor reports how many emulated seconds pass per real second.
func (c *ScaledClock) Factor() float64 { return c.factor }

// Now returns the emulated time.
func (c *ScaledClock) Now() time.Time {
	elapsed := time.Since(c.realStart)
	return c.start.Add(time.Duration(float64(elapsed) * c.factor))
}

// Sleep waits until Now has advanced by at least d. Rounding d/factor to
// nanoseconds could otherwise wake a client a nanosecond before the
// Retry-After it honours, which graphsim would count as an early retry.
func (c *ScaledClock) Sleep(ctx context.Context, d time.Duration) error {
	target := c.Now().Add(d)
	for {
		left := target.Sub(c.Now())
		if left <= 0 {
			return ctx.Err()
		}
		real := time.Duration(float64(left)/c.factor) + 1
		if err := RealClock.Sleep(ctx, real); err != nil {
			return err
		}
	}
}

// ManualClock only moves when told to; tests use it to cross quota windows
// and Retry-After deadlines without sleeping. A test that advances the clock
// past someone else's Sleep must first make sure that Sleep has begun
// (WaitSleepers), or the sleeper registers after the Advance and waits for
// the next one.
type ManualClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []manualWaiter
	changed chan struct{} // closed and replaced whenever waiters changes
}

type manualWaiter struct {
	at time.Time
	ch chan struct{}
}

// NewManualClock returns a clock stopped at start.
func NewManualClock(start time.Time) *ManualClock {
	return &ManualClock{now: start, changed: make(chan struct{})}
}

// notify wakes WaitSleepers; callers hold c.mu.
func (c *ManualClock) notify() {
	if c.changed == nil {
		c.changed = make(chan struct{})
	}
	close(c.changed)
	c.changed = make(chan struct{})
}

// Sleepers reports how many Sleep calls are waiting on the clock.
func (c *ManualClock) Sleepers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiters)
}

// WaitSleepers blocks until at least n Sleep calls are waiting on the
// clock, or ctx ends.
func (c *ManualClock) WaitSleepers(ctx context.Context, n int) error {
	for {
		c.mu.Lock()
		if c.changed == nil {
			c.changed = make(chan struct{})
		}
		have, changed := len(c.waiters), c.changed
		c.mu.Unlock()
		if have >= n {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Now returns the clock's current time.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d and wakes every sleeper whose
// deadline has been reached.
func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			close(w.ch)
		} else {
			kept = append(kept, w)
		}
	}
	if len(kept) != len(c.waiters) {
		c.waiters = kept
		c.notify()
	}
}

// Sleep blocks until Advance has moved the clock by d or ctx ends.
func (c *ManualClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	if d <= 0 {
		c.mu.Unlock()
		return ctx.Err()
	}
	w := manualWaiter{at: c.now.Add(d), ch: make(chan struct{})}
	c.waiters = append(c.waiters, w)
	c.notify()
	c.mu.Unlock()
	select {
	case <-w.ch:
		return nil
	case <-ctx.Done():
		c.mu.Lock()
		for i, o := range c.waiters {
			if o.ch == w.ch {
				c.waiters = append(c.waiters[:i], c.waiters[i+1:]...)
				c.notify()
				break
			}
		}
		c.mu.Unlock()
		return ctx.Err()
	}
}
