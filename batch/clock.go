package batch

import (
	"context"
	"time"
)

// Clock is the engine's only source of time: Retry-After waits, backoff and the rate limiter
// all read it, so a benchmark can run Graph's minutes-long quota windows on a scaled clock that
// the emulator shares.
type Clock interface {
	Now() time.Time
	// Sleep returns after d, or with ctx.Err() as soon as ctx is done.
	Sleep(ctx context.Context, d time.Duration) error
}

// RealClock is the wall clock.
var RealClock Clock = realClock{}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
