package bench

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/bulkrevoke/bulkrevoke/graphsim"
)

// Matrix is what `bulkrevoke bench` runs on a scaled clock: issue 9's matrix of quota models,
// header modes, competitor, undisclosed half quota and --block-sign-in; issue 12's app pool and
// tenants; and issue 18's quota shapes the engine is not told about. A zero field turns its
// family off.
type Matrix struct {
	// Base holds what every cell shares: latency, seed, clock scale, the sequential loop's
	// settings and heap sampling.
	Base    Scenario
	Users   []int
	Quotas  []graphsim.QuotaModel
	Headers []graphsim.ThrottleHeaderMode
	// Compete is the writes per second of a same-app competitor in the competitor cells.
	Compete float64
	// SmallQuota scales every quota, untold, in the small-quota cells.
	SmallQuota float64
	// Block adds a --block-sign-in cell per size on the token bucket.
	Block bool
	// Confirm adds a --block-sign-in --confirm-compromised cell per size on the token bucket.
	Confirm bool
	// ShortWindow is the pair's sliding window, size and length, as a share of the documented
	// 3,000 per 150 s (0.2: 600 per 30 s at the documented 20/s), untold; one cell per size and
	// header mode when the sliding window is among Quotas.
	ShortWindow float64
	// PoolApps apps share one tenant's PoolUsers users.
	PoolApps, PoolUsers int
	// PoolTenantBurst is the tenant's bucket, in writes, in a second pool cell: it refills at the
	// documented 60/s (600: a thirtieth of 18,000), untold.
	PoolTenantBurst int
	// Tenants tenants of TenantUsers users each, one app, at the documented quotas.
	Tenants, TenantUsers int
	// TenantsScale is the clock of every cell with more than one tenant: they are bound by CPU
	// as much as by the quota, and a fast clock counts CPU time as emulated time. 0 means 1.
	TenantsScale float64
	// AppQuota scales the app-wide quota across tenants (0.5: 35,000 per 5 min), untold, shared
	// by 5 tenants of 4,000 users and by 20 of 2,000. Like AppBucket, it is of the multi-tenant
	// family: Tenants 0 turns it off too.
	AppQuota float64
	// AppBucket adds one app over 5 tenants of 2,000 users on an app-wide bucket of 500
	// refilling at 40/s, untold.
	AppBucket bool
}

// Cell is one run of the matrix and the limits its issue holds it to.
type Cell struct {
	Name string
	// Engine is a single-lane cell; Lanes one of several lanes (apps, tenants). One is set.
	Engine *Scenario
	Lanes  *LaneScenario
	// Sequential times the one-at-a-time loop beside the cell.
	Sequential bool
	// MaxRatio and MaxThrottled (a share of steps) are the cell's limits.
	MaxRatio, MaxThrottled float64
}

// Users is how many users the cell revokes.
func (c Cell) Users() int {
	if c.Lanes != nil {
		return c.Lanes.Tenants * c.Lanes.UsersPerTenant
	}
	return c.Engine.Users
}

// Floor is the cell's least time (for --block-sign-in, counting every user as two writes; the
// run itself counts only the writes its users need).
func (c Cell) Floor() time.Duration {
	if l := c.Lanes; l != nil {
		return LaneFloorShaped(l.Quota, l.Apps, l.Tenants, l.UsersPerTenant, l.QuotaScale, l.Shape)
	}
	return c.Engine.Floor()
}

// The shapes of issue 18's lane cells.
var (
	// ShapeAppBucket500 is an app-wide bucket of 500 refilling at 40/s.
	ShapeAppBucket500 = graphsim.Shape{App: graphsim.Level{Size: 500.0 / AppLimit, Window: 500.0 / 40 / AppWindow.Seconds()}}
)

// ShapeAppQuota is the app-wide quota across tenants at scale times the documented.
func ShapeAppQuota(scale float64) graphsim.Shape {
	return graphsim.Shape{App: graphsim.Level{Size: scale}}
}

// ShapeTenantBurst is a tenant bucket of burst writes refilling at the documented 60/s.
func ShapeTenantBurst(burst int) graphsim.Shape {
	s := float64(burst) / TenantLimit
	return graphsim.Shape{Tenant: graphsim.Level{Size: s, Window: s}}
}

// ShapeShortWindow is the pair's quota (sliding window: its window) at share of the documented
// size and length, so at the documented rate.
func ShapeShortWindow(share float64) graphsim.Shape {
	return graphsim.Shape{Pair: graphsim.Level{Size: share, Window: share}}
}

// Cells lists the matrix's cells in the order they run.
func (m Matrix) Cells() []Cell {
	base := m.Base
	var cells []Cell
	single := func(sc Scenario, seq bool, maxRatio, maxThrottled float64) {
		cells = append(cells, Cell{Name: sc.Name, Engine: &sc, Sequential: seq, MaxRatio: maxRatio, MaxThrottled: maxThrottled})
	}
	for _, q := range m.Quotas {
		for _, n := range m.Users {
			for _, h := range m.Headers {
				sc := base
				sc.Users, sc.Quota, sc.Headers = n, q, h
				sc.Name = fmt.Sprintf("%s, %d users, %s", QuotaName(q), n, HeaderName(h))
				single(sc, h == graphsim.HeadersNone, 1.05, 0.02)
				if m.Compete > 0 {
					sc.Competing = graphsim.Competing{WritesPerSecond: m.Compete, Scope: graphsim.CompetingSameApp, Steady: true}
					sc.Name += fmt.Sprintf(", same-app competitor at %g writes/s", m.Compete)
					single(sc, false, 1.15, 0.02)
				}
			}
			if q == graphsim.QuotaTokenBucket && m.Block {
				sc := base
				sc.Users, sc.Quota, sc.Block = n, q, true
				sc.Name = fmt.Sprintf("%s, %d users, %s, --block-sign-in (two writes a user)", QuotaName(q), n, HeaderName(graphsim.HeadersNone))
				single(sc, false, 1.10, 0.02)
			}
			if q == graphsim.QuotaTokenBucket && m.Confirm {
				sc := base
				sc.Users, sc.Quota, sc.Block, sc.Confirm = n, q, true, true
				sc.Name = fmt.Sprintf("%s, %d users, %s, --block-sign-in --confirm-compromised", QuotaName(q), n, HeaderName(graphsim.HeadersNone))
				single(sc, false, 1.10, 0.02)
			}
			if m.SmallQuota > 0 {
				sc := base
				sc.Users, sc.Quota, sc.QuotaScale = n, q, m.SmallQuota
				sc.Name = fmt.Sprintf("%s, %d users, %s, quota %gx the documented (not told to the engine)", QuotaName(q), n, HeaderName(graphsim.HeadersNone), m.SmallQuota)
				single(sc, false, 1.10, 0.02)
			}
			if q == graphsim.QuotaSlidingWindow && m.ShortWindow > 0 {
				for _, h := range m.Headers {
					sc := base
					sc.Users, sc.Quota, sc.Headers, sc.Shape = n, q, h, ShapeShortWindow(m.ShortWindow)
					sc.Name = fmt.Sprintf("%s, %d users, %s, the pair's window %gx the documented (%g per %v, not told to the engine)",
						QuotaName(q), n, HeaderName(h), m.ShortWindow, QuotaLimit*m.ShortWindow, time.Duration(float64(QuotaWindow)*m.ShortWindow))
					single(sc, false, 1.10, 0.03)
				}
			}
		}
	}
	lanes := func(ls LaneScenario, maxRatio, maxThrottled float64) {
		ls.LatencyMin, ls.LatencyMax, ls.Seed, ls.Scale = base.LatencyMin, base.LatencyMax, base.Seed, base.Scale
		if ls.Tenants > 1 {
			ls.Scale = max(1, m.TenantsScale)
			ls.Name += fmt.Sprintf(" (clock %gx)", ls.Scale)
		}
		cells = append(cells, Cell{Name: ls.Name, Lanes: &ls, MaxRatio: maxRatio, MaxThrottled: maxThrottled})
	}
	if n := m.PoolApps; n > 0 && m.PoolUsers > 0 {
		lanes(LaneScenario{Name: fmt.Sprintf("token-bucket, %d-app pool, one tenant, %d users", n, m.PoolUsers),
			Apps: n, Tenants: 1, UsersPerTenant: m.PoolUsers}, 1.10, 0.02)
		if b := m.PoolTenantBurst; b > 0 {
			lanes(LaneScenario{Name: fmt.Sprintf("token-bucket, %d-app pool, one tenant, %d users, tenant bucket %d + 60/s (not told to the engine)", n, m.PoolUsers, b),
				Apps: n, Tenants: 1, UsersPerTenant: m.PoolUsers, Shape: ShapeTenantBurst(b)}, 1.10, 0.03)
		}
	}
	if n := m.Tenants; n > 0 && m.TenantUsers > 0 {
		lanes(LaneScenario{Name: fmt.Sprintf("token-bucket, one app, %d tenants x %d users", n, m.TenantUsers),
			Apps: 1, Tenants: n, UsersPerTenant: m.TenantUsers}, 1.10, 0.03)
	}
	if q := m.AppQuota; q > 0 && m.Tenants > 0 {
		for _, t := range []struct{ tenants, users int }{{5, 4000}, {20, 2000}} {
			lanes(LaneScenario{Name: fmt.Sprintf("token-bucket, one app, %d tenants x %d users, app-wide quota %gx the documented (%g per 5 min, not told to the engine)", t.tenants, t.users, q, AppLimit*q),
				Apps: 1, Tenants: t.tenants, UsersPerTenant: t.users, Shape: ShapeAppQuota(q)}, 1.10, 0.03)
		}
	}
	if m.AppBucket && m.Tenants > 0 {
		lanes(LaneScenario{Name: "token-bucket, one app, 5 tenants x 2000 users, app-wide bucket 500 + 40/s (not told to the engine)",
			Apps: 1, Tenants: 5, UsersPerTenant: 2000, Shape: ShapeAppBucket500}, 1.10, 0.03)
	}
	return cells
}

// WriteCells lists cells without running them: users, floor and limits.
func WriteCells(w io.Writer, cells []Cell) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "cell\tusers\tfloor\tlimit\tthrottled at most\t")
	for _, c := range cells {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%.2f\t%g%%\t\n", c.Name, c.Users(), fmtDur(c.Floor()), c.MaxRatio, 100*c.MaxThrottled)
	}
	return tw.Flush()
}

// Run runs every cell in order, printing a table for each (the sequential loop beside the plain
// ones: it is latency-bound, so one timing per quota model serves every size), then the matrix
// with each cell's limits.
func (m Matrix) Run(ctx context.Context, w io.Writer) error {
	fmt.Fprintf(w, "graphsim on a clock %gx the wall clock (cells of several tenants %gx), latency %v-%v per request; times are emulated\n\n",
		m.Base.Scale, max(1, m.TenantsScale), m.Base.LatencyMin, m.Base.LatencyMax)
	baselines := map[graphsim.QuotaModel]Result{}
	var all []Result
	for _, c := range m.Cells() {
		var r Result
		rs := []Result{}
		twice := -1
		if c.Lanes != nil {
			lr, err := RunLanes(ctx, *c.Lanes)
			if err != nil {
				return fmt.Errorf("%s: %w", c.Name, err)
			}
			r, twice = lr.Result, lr.TwiceRevoked
			rs = append(rs, r)
		} else {
			var err error
			if r, err = RunEngine(ctx, *c.Engine); err != nil {
				return fmt.Errorf("%s: %w", c.Name, err)
			}
			rs = append(rs, r)
			if c.Sequential && m.Base.BaselineUsers >= 0 {
				seq, ok := baselines[c.Engine.Quota]
				if !ok {
					if seq, err = RunSequential(ctx, *c.Engine); err != nil {
						return fmt.Errorf("%s: %w", c.Name, err)
					}
					baselines[c.Engine.Quota] = seq
				}
				rs = append(rs, seq.For(*c.Engine))
			}
		}
		r.MaxRatio, r.MaxThrottled = c.MaxRatio, c.MaxThrottled
		all = append(all, r)
		if err := WriteTable(w, c.Name, rs); err != nil {
			return err
		}
		if twice >= 0 {
			fmt.Fprintf(w, "users revoked twice: %d\n", twice)
		}
		fmt.Fprintln(w)
	}
	return WriteMatrix(w, all)
}

// QuotaName is a quota model as the bench's flags and tables name it.
func QuotaName(m graphsim.QuotaModel) string {
	if m == graphsim.QuotaSlidingWindow {
		return "sliding-window"
	}
	return "token-bucket"
}

// HeaderName says where graphsim puts the throttle headers, for a cell's name.
func HeaderName(h graphsim.ThrottleHeaderMode) string {
	switch h {
	case graphsim.HeadersSteps:
		return "throttle header on steps"
	case graphsim.HeadersEnvelope:
		return "throttle header on the envelope"
	}
	return "no throttle header"
}
