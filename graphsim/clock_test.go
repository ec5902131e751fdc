package graphsim

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

func TestScaledClock(t *testing.T) {
	tests := []struct {
		factor float64
		sleep  time.Duration
	}{
		{factor: 50, sleep: 150 * time.Second},
		{factor: 3, sleep: time.Second}, // 1 s / 3 does not divide evenly in nanoseconds
		{factor: 7.3, sleep: 249 * time.Millisecond},
		{factor: 0, sleep: time.Second}, // treated as 1
	}
	for _, tc := range tests {
		t.Run(time.Duration(tc.sleep).String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := NewScaledClock(tc.factor)
				realStart, before := time.Now(), c.Now()
				if err := c.Sleep(context.Background(), tc.sleep); err != nil {
					t.Fatal(err)
				}
				emulated, real := c.Now().Sub(before), time.Since(realStart)
				if emulated < tc.sleep {
					t.Errorf("emulated time advanced %v, want at least %v", emulated, tc.sleep)
				}
				factor := max(tc.factor, 1)
				if limit := time.Duration(float64(tc.sleep)/factor) + time.Millisecond; real > limit {
					t.Errorf("real time spent %v, want about %v", real, time.Duration(float64(tc.sleep)/factor))
				}
			})
		})
	}
}

func TestScaledClockSleepCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := NewScaledClock(50)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := c.Sleep(ctx, time.Hour); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Sleep = %v, want context.DeadlineExceeded", err)
		}
	})
}

func TestManualClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := NewManualClock(t0)
		done := make(chan error, 1)
		go func() { done <- c.Sleep(context.Background(), 10*time.Second) }()
		synctest.Wait()
		c.Advance(9 * time.Second)
		synctest.Wait()
		select {
		case <-done:
			t.Fatal("Sleep(10s) returned after 9s")
		default:
		}
		c.Advance(time.Second)
		if err := <-done; err != nil {
			t.Errorf("Sleep = %v, want nil", err)
		}
		if got := c.Now(); !got.Equal(t0.Add(10 * time.Second)) {
			t.Errorf("Now = %v, want t0+10s", got)
		}

		ctx, cancel := context.WithCancel(context.Background())
		go func() { done <- c.Sleep(ctx, time.Hour) }()
		synctest.Wait()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled Sleep = %v, want context.Canceled", err)
		}
	})
}

// TestManualClockWaitSleepers: a test can wait for a sleeper to register
// before advancing, without polling; Sleepers counts them as they come and go.
func TestManualClockWaitSleepers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := NewManualClock(t0)
		ctx := context.Background()
		done := make(chan error, 3)
		for i := range 3 {
			go func() { done <- c.Sleep(ctx, time.Duration(i+1)*time.Second) }()
		}
		if err := c.WaitSleepers(ctx, 3); err != nil {
			t.Fatal(err)
		}
		if n := c.Sleepers(); n != 3 {
			t.Fatalf("Sleepers = %d, want 3", n)
		}
		c.Advance(2 * time.Second)
		for range 2 {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		if n := c.Sleepers(); n != 1 {
			t.Errorf("after waking two, Sleepers = %d, want 1", n)
		}
		c.Advance(time.Second)
		<-done

		short, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if err := c.WaitSleepers(short, 1); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("WaitSleepers with nobody sleeping = %v, want the context's deadline", err)
		}
	})
}

// TestManualClockAdvanceBeforeSleep shows the race WaitSleepers closes: an
// Advance that comes before the Sleep registers does not wake it.
func TestManualClockAdvanceBeforeSleep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := NewManualClock(t0)
		c.Advance(time.Second)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- c.Sleep(ctx, time.Second) }()
		synctest.Wait()
		select {
		case <-done:
			t.Fatal("a Sleep begun after the Advance returned")
		default:
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Sleep = %v", err)
		}
		if n := c.Sleepers(); n != 0 {
			t.Errorf("a cancelled sleeper is still counted: %d", n)
		}
	})
}
