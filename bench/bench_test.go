package bench

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bulkrevoke/bulkrevoke/graphsim"
)

func TestFloor(t *testing.T) {
	sameApp := func(r float64) graphsim.Competing {
		return graphsim.Competing{WritesPerSecond: r, Scope: graphsim.CompetingSameApp}
	}
	tests := []struct {
		name  string
		n     int
		model graphsim.QuotaModel
		comp  graphsim.Competing
		want  time.Duration
	}{
		{"token bucket within the burst", 3000, graphsim.QuotaTokenBucket, graphsim.Competing{}, 0},
		{"token bucket 10k", 10000, graphsim.QuotaTokenBucket, graphsim.Competing{}, 350 * time.Second},
		{"token bucket 50k", 50000, graphsim.QuotaTokenBucket, graphsim.Competing{}, 2350 * time.Second},
		{"token bucket, half taken by the same app", 10000, graphsim.QuotaTokenBucket, sameApp(10), 700 * time.Second},
		{"token bucket, another app takes tenant quota only", 10000, graphsim.QuotaTokenBucket,
			graphsim.Competing{WritesPerSecond: 30, Scope: graphsim.CompetingTenant}, 350 * time.Second},
		{"token bucket, all taken", 10000, graphsim.QuotaTokenBucket, sameApp(20), time.Duration(math.MaxInt64)},
		{"sliding window within one window", 3000, graphsim.QuotaSlidingWindow, graphsim.Competing{}, 0},
		{"sliding window one more", 3001, graphsim.QuotaSlidingWindow, graphsim.Competing{}, 150 * time.Second},
		{"sliding window 10k", 10000, graphsim.QuotaSlidingWindow, graphsim.Competing{}, 450 * time.Second},
		{"sliding window 50k", 50000, graphsim.QuotaSlidingWindow, graphsim.Competing{}, 2400 * time.Second},
		{"sliding window, half taken", 10000, graphsim.QuotaSlidingWindow, sameApp(10), 750 * time.Second},
		{"quota off", 50000, graphsim.QuotaOff, graphsim.Competing{}, 0},
	}
	for _, tc := range tests {
		if got := Floor(tc.n, tc.model, tc.comp); got != tc.want {
			t.Errorf("%s: Floor(%d) = %v, want %v", tc.name, tc.n, got, tc.want)
		}
	}
}

func TestResultTimeAndRatio(t *testing.T) {
	tests := []struct {
		name      string
		r         Result
		wantTime  time.Duration
		wantRatio float64
	}{
		{"measured in full", Result{Users: 100, Measured: 100, Emulated: 110 * time.Second, Floor: 100 * time.Second}, 110 * time.Second, 1.1},
		{"extrapolated from a tenth", Result{Users: 1000, Measured: 100, Emulated: 12 * time.Second, Floor: 60 * time.Second}, 120 * time.Second, 2},
		{"zero floor, no time", Result{Users: 10, Measured: 10}, 0, 1},
		{"zero floor, some time", Result{Users: 10, Measured: 10, Emulated: time.Second}, time.Second, math.Inf(1)},
	}
	for _, tc := range tests {
		if got := tc.r.Time(); got != tc.wantTime {
			t.Errorf("%s: Time() = %v, want %v", tc.name, got, tc.wantTime)
		}
		if got := tc.r.Ratio(); got != tc.wantRatio && !(math.IsInf(got, 1) && math.IsInf(tc.wantRatio, 1)) {
			t.Errorf("%s: Ratio() = %v, want %v", tc.name, got, tc.wantRatio)
		}
	}
	seq := Result{Scenario: "a", Runner: "sequential", Users: 1000, Measured: 1000, Emulated: 125 * time.Second}
	got := seq.For(Scenario{Name: "b", Users: 10000, Quota: graphsim.QuotaTokenBucket})
	if got.Users != 10000 || got.Measured != 1000 || got.Time() != 1250*time.Second || got.Floor != 350*time.Second || got.Scenario != "b" {
		t.Errorf("For(10000 users) = %+v, time %v; want 10000 users measured on 1000, 1250s, floor 350s", got, got.Time())
	}
	if s, ok := Speedup([]Result{{Runner: "bulkrevoke", Users: 10, Measured: 10, Emulated: 50 * time.Second}, got}); !ok || s != 25 {
		t.Errorf("Speedup = %v, %v; want 25, true", s, ok)
	}
}

// inBubble runs f as a parallel subtest in a synctest bubble of its own: a cell is minutes of
// fake time but seconds of CPU, and the cells share nothing.
func inBubble(t *testing.T, name string, f func(t *testing.T)) {
	t.Helper()
	t.Run(name, func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, f)
	})
}

// runEngine is RunEngine for a scenario that must run to its end.
func runEngine(t *testing.T, sc Scenario) Result {
	t.Helper()
	r, err := RunEngine(t.Context(), sc)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// checkRun logs a run and holds it to what every cell promises: nobody lost or failed, no early
// retry, not under the floor (else the floor or the emulator is wrong), at most maxRatio of the
// floor and at most maxThrottled of the steps throttled (a share; 1 where a cell does not limit
// it).
func checkRun(t *testing.T, r Result, maxRatio, maxThrottled float64) {
	t.Helper()
	t.Logf("ratio %.3f (%v of %v), %d of %d steps throttled, %d waits", r.Ratio(), r.Time().Round(time.Second), r.Floor, r.Throttled, r.Steps, r.Waits)
	if r.Lost != 0 || r.EarlyRetries != 0 || r.Failed != 0 {
		t.Errorf("lost %d, early retries %d, failed %d; want 0, 0, 0", r.Lost, r.EarlyRetries, r.Failed)
	}
	if float64(r.Throttled) > maxThrottled*float64(r.Steps) {
		t.Errorf("%d of %d steps throttled, want at most %.0f%%", r.Throttled, r.Steps, 100*maxThrottled)
	}
	if r.Time() < r.Floor {
		t.Errorf("took %v, less than the floor %v: the floor or the emulator is wrong", r.Time(), r.Floor)
	}
	if r.Ratio() > maxRatio {
		t.Errorf("took %v against a floor of %v: ratio %.3f, want at most %.2f", r.Time(), r.Floor, r.Ratio(), maxRatio)
	}
}

// Cell is one scenario of issue 9's matrix with its limits.
type cell struct {
	name     string
	sc       Scenario
	maxRatio float64
}

// matrix is the benchmark matrix in small: every quota model, with and without the throttle
// headers, with and without a same-app competitor taking half, and a quota half the documented
// one that the engine is not told about. Sizes are just past one burst so that the sustained
// phase, where pacing matters, is most of the run; under the sliding window 6,100 users need as
// many windows as 7,000 in every cell (two, three with the competitor, four on the half quota).
func matrix(tb, sw int) []cell {
	comp := graphsim.Competing{WritesPerSecond: 10, Scope: graphsim.CompetingSameApp, Steady: true}
	var cells []cell
	for _, m := range []struct {
		name  string
		model graphsim.QuotaModel
		n     int
	}{{"token bucket", graphsim.QuotaTokenBucket, tb}, {"sliding window", graphsim.QuotaSlidingWindow, sw}} {
		for _, h := range []struct {
			name string
			mode graphsim.ThrottleHeaderMode
		}{{"no header", graphsim.HeadersNone}, {"header", graphsim.HeadersSteps}} {
			cells = append(cells,
				cell{m.name + ", " + h.name, Scenario{Users: m.n, Quota: m.model, Headers: h.mode}, 1.05},
				cell{m.name + ", " + h.name + ", competitor", Scenario{Users: m.n, Quota: m.model, Headers: h.mode, Competing: comp}, 1.15})
		}
		cells = append(cells, cell{m.name + ", half quota", Scenario{Users: m.n, Quota: m.model, QuotaScale: 0.5}, 1.10})
	}
	return cells
}

// TestMatrix runs the real engine at its defaults through the SDK client against graphsim on
// synctest's fake clock, for every cell of the matrix, and holds it to issue 9's targets: near
// the floor, at most 2% of steps throttled, no early retry, nobody lost or failed.
func TestMatrix(t *testing.T) {
	for _, c := range matrix(6000, 6100) {
		inBubble(t, c.name, func(t *testing.T) {
			sc := c.sc
			sc.Name, sc.LatencyMin, sc.LatencyMax, sc.Seed, sc.Clock = c.name, 50*time.Millisecond, 200*time.Millisecond, 7, graphsim.RealClock
			r := runEngine(t, sc)
			checkRun(t, r, c.maxRatio, 0.02)
			if r.Steps < sc.Users {
				t.Errorf("graphsim received %d revocations for %d users", r.Steps, sc.Users)
			}
		})
	}
}

// TestShortWindow: Graph counts a trailing window a fifth of the documented length (600 writes
// per 30 s, the documented 20/s), untold. Issue 18's limits: 1.10 of the floor, 3% throttled.
func TestShortWindow(t *testing.T) {
	for name, h := range map[string]graphsim.ThrottleHeaderMode{"no header": graphsim.HeadersNone, "header": graphsim.HeadersSteps} {
		inBubble(t, name, func(t *testing.T) {
			checkRun(t, runEngine(t, Scenario{Name: "short window", Users: 3100, Quota: graphsim.QuotaSlidingWindow, Headers: h,
				Shape:      graphsim.Shape{Pair: graphsim.Level{Size: 0.2, Window: 0.2}},
				LatencyMin: 50 * time.Millisecond, LatencyMax: 200 * time.Millisecond, Seed: 7, Clock: graphsim.RealClock}), 1.10, 0.03)
		})
	}
}

// TestFreeRefusals: Graph's page says refused requests accrue against the limits, which graphsim
// does by default and the engine's window model counts on; the sliding-window cells hold on the
// other reading too (graphsim.Config.FreeRefusals), where our refused charges are no part of
// Graph's window.
func TestFreeRefusals(t *testing.T) {
	comp := graphsim.Competing{WritesPerSecond: 10, Scope: graphsim.CompetingSameApp, Steady: true}
	for _, c := range []cell{
		{"no header", Scenario{Users: 6100}, 1.05},
		{"competitor", Scenario{Users: 6100, Competing: comp}, 1.15},
		{"half quota", Scenario{Users: 6100, QuotaScale: 0.5}, 1.10},
		{"short window", Scenario{Users: 3100, Shape: graphsim.Shape{Pair: graphsim.Level{Size: 0.2, Window: 0.2}}}, 1.10},
	} {
		inBubble(t, c.name, func(t *testing.T) {
			sc := c.sc
			sc.Name, sc.Quota, sc.FreeRefusals = c.name, graphsim.QuotaSlidingWindow, true
			sc.LatencyMin, sc.LatencyMax, sc.Seed, sc.Clock = 50*time.Millisecond, 200*time.Millisecond, 7, graphsim.RealClock
			limit := 0.02
			if c.name == "short window" {
				limit = 0.03
			}
			checkRun(t, runEngine(t, sc), c.maxRatio, limit)
		})
	}
}

// TestBlockSignIn: with --block-sign-in every user costs two writes (the block, then the revoke,
// in order) and the engine still keeps to the quota's floor for twice the writes.
func TestBlockSignIn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		checkRun(t, runEngine(t, Scenario{Name: "block", Users: 4000, Quota: graphsim.QuotaTokenBucket, Block: true,
			LatencyMin: 50 * time.Millisecond, LatencyMax: 200 * time.Millisecond, Seed: 8, Clock: graphsim.RealClock}), 1.10, 0.02)
	})
}

// TestResetPassword: with --block-sign-in --reset-password every user costs three writes (the
// block, the password, then the revoke), and the engine keeps to the quota's floor for them.
func TestResetPassword(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		checkRun(t, runEngine(t, Scenario{Name: "block and reset", Users: 4000, Quota: graphsim.QuotaTokenBucket, Block: true, Reset: true,
			LatencyMin: 50 * time.Millisecond, LatencyMax: 200 * time.Millisecond, Seed: 8, Clock: graphsim.RealClock}), 1.10, 0.02)
	})
}

// TestFaultsOnASmallQuota: server errors on top of a quota a fifth of the documented one, which
// the engine is not told about. 503s come with a Retry-After and are waited out like 429s, so
// nobody fails for them, and every user is revoked once.
func TestFaultsOnASmallQuota(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sc := Scenario{Name: "faults, small quota", Users: 1194, Quota: graphsim.QuotaTokenBucket, QuotaScale: 0.2,
			LatencyMin: 30 * time.Millisecond, LatencyMax: 70 * time.Millisecond, Seed: 11, Clock: graphsim.RealClock,
			Faults: graphsim.Faults{StepRate: 0.03, StepStatuses: []int{503}, EnvelopeRate: 0.01, EnvelopeStatuses: []int{503},
				RetryAfter: 2 * time.Second}}
		r := runEngine(t, sc)
		// The first burst overdraws a bucket a fifth of the documented size by the envelopes in
		// flight, and Graph charges them: that debt is most of the gap to the floor. The 503s
		// count as throttled, so the share is not held here.
		checkRun(t, r, 1.30, 1)
	})
}

// TestSequential: the loop sends one request at a time, so with a fixed latency its time is
// exactly users x latency, and it never provokes a 429 at 10 requests per second.
func TestSequential(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, err := RunSequential(t.Context(), Scenario{Name: "seq", Users: 500, BaselineUsers: 50, Quota: graphsim.QuotaTokenBucket,
			LatencyMin: 100 * time.Millisecond, LatencyMax: 100 * time.Millisecond, Seed: 3, Clock: graphsim.RealClock})
		if err != nil {
			t.Fatal(err)
		}
		if r.Measured != 50 || r.Steps != 50 || r.Lost != 0 || r.Throttled != 0 || r.EarlyRetries != 0 {
			t.Errorf("got %+v; want 50 measured, 50 steps, none lost or throttled", r)
		}
		if r.Emulated != 5*time.Second || r.Time() != 50*time.Second || !r.Extrapolated() {
			t.Errorf("emulated %v, time %v; want 5s measured, 50s extrapolated", r.Emulated, r.Time())
		}
	})
}

func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	rs := []Result{
		{Runner: "bulkrevoke", Users: 10000, Measured: 10000, Emulated: 353 * time.Second, Real: 1770 * time.Millisecond,
			Floor: 350 * time.Second, Steps: 10001, Throttled: 1, PeakHeap: 16 << 20},
		{Runner: "sequential", Users: 10000, Measured: 1000, Emulated: 127 * time.Second, Floor: 350 * time.Second, Steps: 1000},
	}
	if err := WriteTable(&b, "token-bucket, 10000 users", rs); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"token-bucket, 10000 users\n", "ratio", "early retries", "5m53s", "1.009", "0.01", "16.0 MB",
		"21m10s (x10 of 1000)", "3.629", "bulkrevoke is 3.60x faster than the sequential loop\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

// TestConfirmCompromised: with --block-sign-in and --confirm-compromised, Identity Protection's
// call a second goes alongside the writes and the engine keeps within 1.10x of the larger of the
// write floor and the Identity Protection floor; every user is blocked, revoked and confirmed
// (RunEngine counts a user not confirmed as lost).
func TestConfirmCompromised(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		checkRun(t, runEngine(t, Scenario{Name: "confirm", Users: 4000, Quota: graphsim.QuotaTokenBucket, Block: true, Confirm: true,
			LatencyMin: 50 * time.Millisecond, LatencyMax: 200 * time.Millisecond, Seed: 9, Clock: graphsim.RealClock}), 1.10, 0.02)
	})
}
