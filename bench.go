package main

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/bulkrevoke/bulkrevoke/bench"
	"github.com/bulkrevoke/bulkrevoke/graphsim"
)

func benchFlags() []cli.Flag {
	return []cli.Flag{
		helpFlag(),
		&cli.IntSliceFlag{Name: "users", Value: cli.NewIntSlice(10000, 50000), Usage: "scenario sizes"},
		&cli.StringSliceFlag{Name: "quota", Value: cli.NewStringSlice("token-bucket", "sliding-window"), Usage: "quota models to run: token-bucket, sliding-window"},
		&cli.StringSliceFlag{Name: "headers", Value: cli.NewStringSlice("none", "steps"), Usage: "where graphsim puts the optional throttle headers: none, steps, envelope"},
		&cli.DurationFlag{Name: "latency-min", Value: 50 * time.Millisecond, Usage: "least latency graphsim adds per request (emulated time)"},
		&cli.DurationFlag{Name: "latency-max", Value: 200 * time.Millisecond, Usage: "most latency graphsim adds per request (emulated time)"},
		&cli.Float64Flag{Name: "compete", Value: 10, Usage: "writes per second of a same-app competitor in the competitor cells (0: no such cells)"},
		&cli.Float64Flag{Name: "small-quota", Value: 0.5, Usage: "scale of the quota the engine is not told about in the small-quota cells (0: no such cells)"},
		&cli.Float64Flag{Name: "scale", Value: 100, Usage: "emulated seconds per real second"},
		&cli.IntFlag{Name: "baseline-users", Value: 1000, Usage: "users the sequential loop is timed on, scaled up to each size (0: all; -1: no sequential loop)"},
		&cli.Float64Flag{Name: "baseline-scale", Value: 20, Usage: "clock factor for the sequential loop, whose per-request CPU a fast clock would count as latency"},
		&cli.Int64Flag{Name: "seed", Value: 1, Usage: "seed for users and latency draws"},
		&cli.BoolFlag{Name: "block", Value: true, Usage: "add --block-sign-in cells (token bucket): a block and a revoke per user"},
		&cli.IntFlag{Name: "pool-apps", Value: 3, Usage: "apps in the app-pool scenario (0: no such scenario)"},
		&cli.IntFlag{Name: "pool-users", Value: 50000, Usage: "users in the app-pool scenario"},
		&cli.IntFlag{Name: "tenants", Value: 20, Usage: "tenants in the multi-tenant scenario (0: no such scenario)"},
		&cli.IntFlag{Name: "tenant-users", Value: 2000, Usage: "users per tenant in the multi-tenant scenario"},
		&cli.Float64Flag{Name: "tenants-scale", Value: 1, Usage: "clock factor of the multi-tenant scenario: it is bound by CPU as much as by quota, and a fast clock counts CPU time as emulated time"},
	}
}

// benchCommand runs the engine over the matrix of quota models, header modes, competitor and
// undisclosed small quota, prints a table per scenario (with the sequential loop for the plain
// ones), then the whole matrix.
func benchCommand(c *cli.Context, s *sys) error {
	if c.Float64("scale") < 1 {
		return fmt.Errorf("--scale %v: must be at least 1", c.Float64("scale"))
	}
	base := bench.Scenario{
		LatencyMin:    c.Duration("latency-min"),
		LatencyMax:    c.Duration("latency-max"),
		BaselineUsers: c.Int("baseline-users"),
		Seed:          c.Int64("seed"),
		Scale:         c.Float64("scale"),
		BaselineScale: c.Float64("baseline-scale"),
		MemEvery:      20 * time.Millisecond,
	}
	var models []graphsim.QuotaModel
	for _, q := range c.StringSlice("quota") {
		m, err := parseQuota(q)
		if err != nil {
			return err
		}
		models = append(models, m)
	}
	var modes []graphsim.ThrottleHeaderMode
	for _, h := range c.StringSlice("headers") {
		m, ok := graphsim.ParseThrottleHeaders(h)
		if !ok {
			return withHint(fmt.Errorf("unknown --headers %q", h), "use none, steps or envelope")
		}
		modes = append(modes, m)
	}
	type cell struct {
		sc    bench.Scenario
		plain bool // gets the sequential loop beside it
	}
	var cells []cell
	for _, m := range models {
		for _, n := range c.IntSlice("users") {
			for _, h := range modes {
				sc := base
				sc.Users, sc.Quota, sc.Headers = n, m, h
				sc.Name = fmt.Sprintf("%s, %d users, %s", quotaName(m), n, headerName(h))
				cells = append(cells, cell{sc, h == graphsim.HeadersNone})
				if rate := c.Float64("compete"); rate > 0 {
					sc.Competing = graphsim.Competing{WritesPerSecond: rate, Scope: graphsim.CompetingSameApp, Steady: true}
					sc.Name += fmt.Sprintf(", same-app competitor at %g writes/s", rate)
					cells = append(cells, cell{sc, false})
				}
			}
			if m == graphsim.QuotaTokenBucket && c.Bool("block") {
				sc := base
				sc.Users, sc.Quota, sc.Block = n, m, true
				sc.Name = fmt.Sprintf("%s, %d users, %s, --block-sign-in (two writes a user)", quotaName(m), n, headerName(graphsim.HeadersNone))
				cells = append(cells, cell{sc, false})
			}
			if q := c.Float64("small-quota"); q > 0 {
				sc := base
				sc.Users, sc.Quota, sc.QuotaScale = n, m, q
				sc.Name = fmt.Sprintf("%s, %d users, %s, quota %gx the documented (not told to the engine)", quotaName(m), n, headerName(graphsim.HeadersNone), q)
				cells = append(cells, cell{sc, false})
			}
		}
	}
	fmt.Fprintf(s.stdout, "graphsim on a clock %gx the wall clock, latency %v-%v per request; times are emulated\n\n",
		base.Scale, base.LatencyMin, base.LatencyMax)
	// One timing of the sequential loop per quota model serves every size: it is latency-bound.
	baselines := map[graphsim.QuotaModel]bench.Result{}
	var all []bench.Result
	for _, cl := range cells {
		eng, err := bench.RunEngine(c.Context, cl.sc)
		if err != nil {
			return fmt.Errorf("%s: %w", cl.sc.Name, err)
		}
		all = append(all, eng)
		rs := []bench.Result{eng}
		if cl.plain && base.BaselineUsers >= 0 {
			seq, ok := baselines[cl.sc.Quota]
			if !ok {
				if seq, err = bench.RunSequential(c.Context, cl.sc); err != nil {
					return fmt.Errorf("%s: %w", cl.sc.Name, err)
				}
				baselines[cl.sc.Quota] = seq
			}
			rs = append(rs, seq.For(cl.sc))
		}
		if err := bench.WriteTable(s.stdout, cl.sc.Name, rs); err != nil {
			return err
		}
		fmt.Fprintln(s.stdout)
	}
	var lanes []bench.LaneScenario
	if n := c.Int("pool-apps"); n > 0 {
		lanes = append(lanes, bench.LaneScenario{Name: fmt.Sprintf("token-bucket, %d-app pool, one tenant, %d users", n, c.Int("pool-users")),
			Apps: n, Tenants: 1, UsersPerTenant: c.Int("pool-users")})
	}
	if n := c.Int("tenants"); n > 0 {
		lanes = append(lanes, bench.LaneScenario{Name: fmt.Sprintf("token-bucket, one app, %d tenants x %d users (clock %gx)", n, c.Int("tenant-users"), max(1, c.Float64("tenants-scale"))),
			Apps: 1, Tenants: n, UsersPerTenant: c.Int("tenant-users")})
	}
	for i, ls := range lanes {
		ls.LatencyMin, ls.LatencyMax, ls.Seed, ls.Scale = base.LatencyMin, base.LatencyMax, base.Seed, base.Scale
		if ls.Tenants > 1 || (i == len(lanes)-1 && c.Int("tenants") > 0) {
			ls.Scale = max(1, c.Float64("tenants-scale"))
		}
		r, err := bench.RunLanes(c.Context, ls)
		if err != nil {
			return fmt.Errorf("%s: %w", ls.Name, err)
		}
		if err := bench.WriteTable(s.stdout, ls.Name, []bench.Result{r.Result}); err != nil {
			return err
		}
		fmt.Fprintf(s.stdout, "users revoked twice: %d\n\n", r.TwiceRevoked)
		all = append(all, r.Result)
	}
	return bench.WriteMatrix(s.stdout, all)
}

func quotaName(m graphsim.QuotaModel) string {
	if m == graphsim.QuotaSlidingWindow {
		return "sliding-window"
	}
	return "token-bucket"
}

func headerName(h graphsim.ThrottleHeaderMode) string {
	switch h {
	case graphsim.HeadersSteps:
		return "throttle header on steps"
	case graphsim.HeadersEnvelope:
		return "throttle header on the envelope"
	}
	return "no throttle header"
}
