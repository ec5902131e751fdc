package bench

import (
	"context"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/bulkrevoke/bulkrevoke/batch"
	"github.com/bulkrevoke/bulkrevoke/graphsim"
)

// LaneScenario is a run over several lanes: an app pool in one tenant, or one app over several
// tenants (or both), against graphsim's quotas at all three documented levels.
type LaneScenario struct {
	Name                   string
	Apps, Tenants          int // at least 1 each
	UsersPerTenant         int
	Quota                  graphsim.QuotaModel
	LatencyMin, LatencyMax time.Duration
	Seed                   int64
	Clock                  graphsim.Clock // nil: a ScaledClock of Scale
	Scale                  float64
	// Unconsented makes the last tenant refuse the app (every lane into it answers 403).
	Unconsented bool
	// DropAppAfter withdraws the last app's consent once this many revokes have landed (0: never).
	DropAppAfter int
	// QuotaScale and Shape change Graph's quotas without telling the engine, as in Scenario.
	QuotaScale float64
	Shape      graphsim.Shape
}

// Graph's documented write limits above the app+tenant pair. The app's across tenants is the
// current documentation's 70,000 per 5 min (older versions of the page said 35,000).
const (
	TenantLimit  = 18000
	TenantWindow = 5 * time.Minute
	AppLimit     = 70000
	AppWindow    = 5 * time.Minute
)

// LaneFloor is the least time the documented token-bucket quotas allow for the scenario: each
// limit, with its burst B and refill R, can take N of the users only after (N - B)/R; the floor
// is the longest of them. An app pool's users can go to any of its apps, so the pairs of one
// tenant count together.
//
// Under the sliding-window model a limit takes B at once and B more every window instead.
func LaneFloor(model graphsim.QuotaModel, apps, tenants, perTenant int) time.Duration {
	return LaneFloorShaped(model, apps, tenants, perTenant, 1, graphsim.Shape{})
}

// LaneFloorShaped is LaneFloor on quotas scaled by scale (0 means 1) and shaped level by level.
func LaneFloorShaped(model graphsim.QuotaModel, apps, tenants, perTenant int, scale float64, shape graphsim.Shape) time.Duration {
	if scale <= 0 {
		scale = 1
	}
	need := func(n float64, l graphsim.Level, limit float64, window time.Duration) float64 {
		burst, w := shaped(l, limit*scale, window)
		if model == graphsim.QuotaSlidingWindow {
			return math.Ceil(math.Max(0, n-burst)/burst) * w.Seconds()
		}
		return math.Max(0, (n-burst)/(burst/w.Seconds()))
	}
	t := 0.0
	perT := float64(perTenant)
	// The pairs of one tenant, together: one pair's share of its users.
	t = math.Max(t, need(perT/float64(apps), shape.Pair, QuotaLimit, QuotaWindow))
	// The tenant across its apps.
	t = math.Max(t, need(perT, shape.Tenant, TenantLimit, TenantWindow))
	// Each app across tenants: users spread evenly over the apps.
	perApp := perT * float64(tenants) / float64(apps)
	t = math.Max(t, need(perApp, shape.App, AppLimit, AppWindow))
	return time.Duration(t * float64(time.Second))
}

// LaneResult is what a lane scenario did.
type LaneResult struct {
	Result
	TwiceRevoked int // users revoked more than once
	Denied       int // users reported denied (an unconsented tenant's)
	Dropped      []string
}

// RunLanes revokes every user of every tenant with batch.Run at its defaults, one lane per app
// and tenant, through the SDK client and graphsim's in-memory transport.
func RunLanes(ctx context.Context, s LaneScenario) (LaneResult, error) {
	clock := s.Clock
	if clock == nil {
		clock = graphsim.NewScaledClock(s.Scale)
	}
	apps := make([]graphsim.App, s.Apps)
	tenants := make([]graphsim.Tenant, s.Tenants)
	for j := range tenants {
		tenants[j] = graphsim.Tenant{ID: fmt.Sprintf("%08x-0000-4000-8000-%012x", j+1, s.Seed), Users: graphsim.GenerateUsers(s.UsersPerTenant, s.Seed+int64(j))}
	}
	for i := range apps {
		apps[i] = graphsim.App{ClientID: fmt.Sprintf("a%07x-0000-4000-8000-%012x", i+1, s.Seed), DisplayName: fmt.Sprintf("bulkrevoke %d", i+1)}
		for j, t := range tenants {
			if !(s.Unconsented && j == len(tenants)-1) {
				apps[i].Tenants = append(apps[i].Tenants, t.ID)
			}
		}
	}
	cfg := graphsim.Config{Token: "", Clock: clock, Seed: s.Seed, Quota: s.Quota, FractionalRetryAfter: true,
		TenantID: tenants[0].ID, Tenants: tenants[1:], Apps: apps, QuotaScale: s.QuotaScale, Shape: s.Shape}
	if s.LatencyMax > 0 {
		cfg.Latency = graphsim.Uniform{Min: s.LatencyMin, Max: s.LatencyMax}
	}
	srv := graphsim.New(cfg, tenants[0].Users)
	var lanes []batch.Lane
	for _, a := range apps {
		for _, t := range tenants {
			c, err := batch.NewGraphClient(batch.GraphOptions{BaseURL: "http://localhost/v1.0",
				Credential: staticToken(srv.IssueToken(a.ClientID, t.ID)), Transport: srv.Transport()})
			if err != nil {
				return LaneResult{}, err
			}
			lanes = append(lanes, batch.Lane{Tenant: t.ID, TenantID: t.ID, App: a.ClientID, Client: c})
		}
	}
	src := &laneSource{tenants: tenants}
	sink := &laneTally{status: map[string]batch.Status{}}
	if s.DropAppAfter > 0 {
		last := apps[len(apps)-1].ClientID
		sink.hook = func(revoked int) {
			if revoked == s.DropAppAfter {
				srv.RevokeApp(last)
			}
		}
	}
	begin, realBegin := clock.Now(), time.Now()
	st, err := batch.Run(ctx, batch.Config{Clock: clock, Lanes: lanes}, src, nil, sink)
	emulated, real := clock.Now().Sub(begin), time.Since(realBegin)
	if err != nil {
		return LaneResult{}, fmt.Errorf("engine run: %w", err)
	}
	gs := srv.Stats()
	r := LaneResult{Result: Result{Scenario: s.Name, Runner: "bulkrevoke", Users: s.Tenants * s.UsersPerTenant,
		Measured: s.Tenants * s.UsersPerTenant, Emulated: emulated, Real: real,
		Floor: LaneFloorShaped(s.Quota, s.Apps, s.Tenants-boolInt(s.Unconsented), s.UsersPerTenant, s.QuotaScale, s.Shape),
		Steps: gs.Writes, Throttled: gs.Throttled, EarlyRetries: gs.EarlyRetries, Waits: st.Waits}, Dropped: st.Dropped}
	for j, t := range tenants {
		view := srv.Tenant(t.ID)
		for _, u := range t.Users {
			n := len(view.Revocations(u.ID))
			got := sink.status[t.ID+"/"+strings.ToLower(u.UPN)]
			switch {
			case s.Unconsented && j == len(tenants)-1:
				if got == batch.StatusDenied {
					r.Denied++
				} else {
					r.Lost++
				}
			case n == 0 || got != batch.StatusRevoked:
				r.Lost++
			case n > 1:
				r.TwiceRevoked++
			}
			if got == batch.StatusFailed {
				r.Failed++
			}
		}
	}
	return r, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// laneSource hands out every tenant's users, tenant by tenant, as a list with a tenant column.
type laneSource struct {
	tenants []graphsim.Tenant
	t, i    int
	line    int
}

func (s *laneSource) Next() (batch.Row, error) {
	for s.t < len(s.tenants) && s.i >= len(s.tenants[s.t].Users) {
		s.t, s.i = s.t+1, 0
	}
	if s.t >= len(s.tenants) {
		return batch.Row{}, io.EOF
	}
	u := s.tenants[s.t].Users[s.i]
	s.i++
	s.line++
	kind, key, reason := batch.Classify(u.UPN)
	return batch.Row{Line: s.line + 1, Input: u.UPN, Key: key, Kind: kind, Reason: reason, Tenant: s.tenants[s.t].ID}, nil
}

// laneTally keeps every row's status by tenant and user.
type laneTally struct {
	mu      sync.Mutex
	status  map[string]batch.Status
	revoked int
	hook    func(revoked int)
}

func (t *laneTally) Write(rs ...batch.Result) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, r := range rs {
		key := r.TenantID + "/" + strings.ToLower(r.UPN)
		if _, dup := t.status[key]; dup {
			return fmt.Errorf("line %d (%s) reported twice", r.Line, key)
		}
		t.status[key] = r.Status
		if r.Status == batch.StatusRevoked {
			t.revoked++
			if t.hook != nil {
				t.hook(t.revoked)
			}
		}
	}
	return nil
}

func (t *laneTally) Flush() error { return nil }
