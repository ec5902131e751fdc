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
		&cli.IntSliceFlag{Name: "users", Value: cli.NewIntSlice(10000, 50000), Usage: "scenario sizes"},
		&cli.StringSliceFlag{Name: "quota", Value: cli.NewStringSlice("token-bucket", "sliding-window"), Usage: "quota models to run: token-bucket, sliding-window"},
		&cli.DurationFlag{Name: "latency-min", Value: 50 * time.Millisecond, Usage: "least latency graphsim adds per request (emulated time)"},
		&cli.DurationFlag{Name: "latency-max", Value: 200 * time.Millisecond, Usage: "most latency graphsim adds per request (emulated time)"},
		&cli.Float64Flag{Name: "compete", Value: 10, Usage: "competing writes per second for the competing-load scenarios (0: none)"},
		&cli.StringFlag{Name: "compete-scope", Value: "same-app", Usage: "what the competitor draws on: same-app (the app+tenant quota) or tenant (the tenant's only)"},
		&cli.IntSliceFlag{Name: "compete-users", Value: cli.NewIntSlice(10000), Usage: "scenario sizes with the competitor (token-bucket model)"},
		&cli.Float64Flag{Name: "scale", Value: 100, Usage: "emulated seconds per real second"},
		&cli.IntFlag{Name: "baseline-users", Value: 1000, Usage: "users the sequential loop is timed on, scaled up to each scenario's size (0: all)"},
		&cli.Float64Flag{Name: "baseline-scale", Value: 20, Usage: "clock factor for the sequential loop, whose per-request CPU a fast clock would count as latency"},
		&cli.Int64Flag{Name: "seed", Value: 1, Usage: "seed for users and latency draws"},
	}
}

// benchCommand runs the engine and the sequential loop over every scenario and prints a table
// for each.
func benchCommand(c *cli.Context, s *sys) error {
	if c.Float64("scale") < 1 {
		return fmt.Errorf("--scale %v: must be at least 1", c.Float64("scale"))
	}
	var scope graphsim.CompetingScope
	switch c.String("compete-scope") {
	case "same-app":
		scope = graphsim.CompetingSameApp
	case "tenant":
		scope = graphsim.CompetingTenant
	default:
		return withHint(fmt.Errorf("unknown --compete-scope %q", c.String("compete-scope")), "use same-app or tenant")
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
	var scenarios []bench.Scenario
	for _, q := range c.StringSlice("quota") {
		model, err := parseQuota(q)
		if err != nil {
			return err
		}
		for _, n := range c.IntSlice("users") {
			sc := base
			sc.Name, sc.Users, sc.Quota = fmt.Sprintf("%s, %d users", q, n), n, model
			scenarios = append(scenarios, sc)
		}
	}
	if rate := c.Float64("compete"); rate > 0 {
		for _, n := range c.IntSlice("compete-users") {
			sc := base
			sc.Name = fmt.Sprintf("token-bucket, %d users, competitor %s at %g writes/s", n, c.String("compete-scope"), rate)
			sc.Users, sc.Quota = n, graphsim.QuotaTokenBucket
			sc.Competing = graphsim.Competing{WritesPerSecond: rate, Scope: scope}
			scenarios = append(scenarios, sc)
		}
	}
	fmt.Fprintf(s.stdout, "graphsim on a clock %gx the wall clock, latency %v-%v per request; times are emulated\n\n",
		base.Scale, base.LatencyMin, base.LatencyMax)
	// One timing of the sequential loop per tenant setup serves every size: it is latency-bound.
	type setup struct {
		quota graphsim.QuotaModel
		comp  graphsim.Competing
	}
	baselines := map[setup]bench.Result{}
	for _, sc := range scenarios {
		eng, err := bench.RunEngine(c.Context, sc)
		if err != nil {
			return fmt.Errorf("%s: %w", sc.Name, err)
		}
		key := setup{sc.Quota, sc.Competing}
		seq, ok := baselines[key]
		if !ok {
			if seq, err = bench.RunSequential(c.Context, sc); err != nil {
				return fmt.Errorf("%s: %w", sc.Name, err)
			}
			baselines[key] = seq
		}
		if err := bench.WriteTable(s.stdout, sc.Name, []bench.Result{eng, seq.For(sc)}); err != nil {
			return err
		}
		fmt.Fprintln(s.stdout)
	}
	return nil
}
