//go:build !race

package bench

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/bulkrevoke/bulkrevoke/graphsim"
)

// TestLanesLarge runs the lane cells that only bind past Graph's larger quotas, so they need
// tens of thousands of users: six apps against the tenant's 18,000 per 5 min, one app against its
// documented 70,000 per 5 min across twenty tenants, and against half of that, untold. Under the race detector they cost some 20 s of CPU
// a run, which made `go test -race -count=10 ./...` outlast go test's ten minutes per package on
// two cores; the race-checked code paths are the same as the smaller cells'. .ci/run runs this
// package once more without -race so that they run in CI too.
func TestLanesLarge(t *testing.T) {
	runLaneCells(t, []laneCell{
		// Twenty pairs would take 400/s; the app's 233/s binds past its 70,000.
		{"twenty tenants, one app, the documented 70,000", LaneScenario{Apps: 1, Tenants: 20, UsersPerTenant: 6000}, 1.10, 0.03},
		// Six apps would take 120/s and their first bursts 18,000 at once; the tenant's 60/s
		// binds past its own 18,000, and its refusals must slow all six.
		{"six-app pool, the tenant binds", LaneScenario{Apps: 6, Tenants: 1, UsersPerTenant: 24000}, 1.10, 0},
		// Issue 18's shared quotas smaller than documented, untold: the app-wide quota at half
		// over twenty tenants, and an app-wide bucket of 500 + 40/s that five tenants' pairs
		// would overrun.
		{"twenty tenants, the app-wide quota at half", LaneScenario{Apps: 1, Tenants: 20, UsersPerTenant: 2000, Shape: appHalf}, 1.10, 0.03},
		{"five tenants, an app-wide bucket of 500 + 40/s", LaneScenario{Apps: 1, Tenants: 5, UsersPerTenant: 2000, Shape: app500}, 1.10, 0.03},
	})
}

// TestEvictionLarge runs issue 20's cells at their size, 10,000 users: --block-sign-in
// --reset-password (three writes a user) within 1.10x of the write floor, and with
// --confirm-compromised added within 1.10x of the larger of the write floor and Identity
// Protection's.
func TestEvictionLarge(t *testing.T) {
	for _, confirm := range []bool{false, true} {
		t.Run(map[bool]string{false: "block and reset", true: "block, reset and confirm"}[confirm], func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				checkRun(t, runEngine(t, Scenario{Name: "eviction", Users: 10000, Quota: graphsim.QuotaTokenBucket,
					Block: true, Reset: true, Confirm: confirm,
					LatencyMin: 50 * time.Millisecond, LatencyMax: 200 * time.Millisecond, Seed: 9, Clock: graphsim.RealClock}), 1.10, 0.02)
			})
		})
	}
}
