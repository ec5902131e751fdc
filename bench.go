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
		&cli.Float64Flag{Name: "scale", Value: 50, Usage: "emulated seconds per real second (each millisecond of CPU the run spends counts as this many milliseconds of Graph's time)"},
		&cli.IntFlag{Name: "baseline-users", Value: 1000, Usage: "users the sequential loop is timed on, scaled up to each size (0: all; -1: no sequential loop)"},
		&cli.Float64Flag{Name: "baseline-scale", Value: 20, Usage: "clock factor for the sequential loop, whose per-request CPU a fast clock would count as latency"},
		&cli.Int64Flag{Name: "seed", Value: 1, Usage: "seed for users and latency draws"},
		&cli.BoolFlag{Name: "block", Value: true, Usage: "add --block-sign-in cells (token bucket): a block and a revoke per user"},
		&cli.BoolFlag{Name: "confirm", Usage: "add --block-sign-in --confirm-compromised cells (token bucket): Identity Protection's call a second beside two writes a user"},
		&cli.IntFlag{Name: "pool-apps", Value: 3, Usage: "apps in the app-pool scenario (0: no such scenario)"},
		&cli.IntFlag{Name: "pool-users", Value: 50000, Usage: "users in the app-pool scenario"},
		&cli.IntFlag{Name: "pool-tenant-burst", Value: 600, Usage: "tenant bucket (writes, refilling at the documented 60/s) of a second app-pool scenario, not told to the engine (0: no such scenario)"},
		&cli.IntFlag{Name: "tenants", Value: 20, Usage: "tenants in the multi-tenant scenario (0: no such scenario, nor the --app-quota and --app-bucket ones)"},
		&cli.IntFlag{Name: "tenant-users", Value: 6000, Usage: "users per tenant in the multi-tenant scenario (6,000 x 20 tenants pass the app's documented 70,000 per 5 min)"},
		&cli.Float64Flag{Name: "tenants-scale", Value: 1, Usage: "clock factor of every scenario of several tenants: they are bound by CPU as much as by quota, and a fast clock counts CPU time as emulated time"},
		&cli.Float64Flag{Name: "short-window", Value: 0.2, Usage: "the app+tenant sliding window, size and length, as a share of the documented 3,000 per 150 s, not told to the engine, in the short-window cells (sliding-window, every size and header mode; 0: no such cells)"},
		&cli.Float64Flag{Name: "app-quota", Value: 0.5, Usage: "scale of the app-wide quota across tenants (documented 70,000 per 5 min), not told to the engine, shared by 5 tenants x 4,000 and by 20 x 2,000 users (0, or --tenants 0: no such cells)"},
		&cli.BoolFlag{Name: "app-bucket", Value: true, Usage: "add a cell of one app over 5 tenants x 2,000 users on an app-wide bucket of 500 + 40/s, not told to the engine (--tenants 0: no such cell)"},
		&cli.BoolFlag{Name: "list", Usage: "list the cells with their floors and limits, and run none"},
	}
}

// benchCommand runs the matrix of bench.Matrix that the flags select: a table per cell, then
// the whole matrix with each cell's limits.
func benchCommand(c *cli.Context, s *sys) error {
	if c.Float64("scale") < 1 {
		return fmt.Errorf("--scale %v: must be at least 1", c.Float64("scale"))
	}
	m := bench.Matrix{
		Base: bench.Scenario{
			LatencyMin:    c.Duration("latency-min"),
			LatencyMax:    c.Duration("latency-max"),
			BaselineUsers: c.Int("baseline-users"),
			Seed:          c.Int64("seed"),
			Scale:         c.Float64("scale"),
			BaselineScale: c.Float64("baseline-scale"),
			MemEvery:      20 * time.Millisecond,
		},
		Users:           c.IntSlice("users"),
		Compete:         c.Float64("compete"),
		SmallQuota:      c.Float64("small-quota"),
		Block:           c.Bool("block"),
		Confirm:         c.Bool("confirm"),
		ShortWindow:     c.Float64("short-window"),
		PoolApps:        c.Int("pool-apps"),
		PoolUsers:       c.Int("pool-users"),
		PoolTenantBurst: c.Int("pool-tenant-burst"),
		Tenants:         c.Int("tenants"),
		TenantUsers:     c.Int("tenant-users"),
		TenantsScale:    c.Float64("tenants-scale"),
		AppQuota:        c.Float64("app-quota"),
		AppBucket:       c.Bool("app-bucket"),
	}
	for _, q := range c.StringSlice("quota") {
		model, err := parseQuota(q)
		if err != nil {
			return err
		}
		m.Quotas = append(m.Quotas, model)
	}
	for _, h := range c.StringSlice("headers") {
		mode, ok := graphsim.ParseThrottleHeaders(h)
		if !ok {
			return withHint(fmt.Errorf("unknown --headers %q", h), "use none, steps or envelope")
		}
		m.Headers = append(m.Headers, mode)
	}
	if c.Bool("list") {
		return bench.WriteCells(s.stdout, m.Cells())
	}
	return m.Run(c.Context, s.stdout)
}
