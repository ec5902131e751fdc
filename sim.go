package main

import (
	"bytes"
	"context"
	"crypto/rand"
	_ "embed"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/urfave/cli/v2"

	"github.com/bulkrevoke/bulkrevoke/batch"
	"github.com/bulkrevoke/bulkrevoke/graphsim"
)

// demoTenant is the simulated tenant behind --simulate; testdata/README.md describes its users.
//
//go:embed testdata/demo-tenant.csv
var demoTenant []byte

// simScale is how much faster than the wall clock the --simulate tenant runs: Graph's quota
// windows, Retry-After waits and the engine's limiter all run on that clock, so a demo shows
// throttling and retries without making a person wait for them.
const simScale = 20

// The simulated tenant's and app's ids, fixed so that its reports read the same every run.
const (
	simTenantID = "5e1a7ed0-0000-4000-8000-00000000d3e0"
	simAppID    = "b0170c4e-0000-4000-8000-00000000a990"
)

// simulate starts the demo tenant on a loopback port, with Graph's real quotas on a scaled clock
// and a sprinkling of the throttling and server errors a real run meets.
func simulate() (*connection, error) {
	users, err := graphsim.ReadUsersCSV(bytes.NewReader(demoTenant))
	if err != nil {
		return nil, fmt.Errorf("demo tenant: %w", err)
	}
	clock := graphsim.NewScaledClock(simScale)
	srv := graphsim.New(graphsim.Config{
		TenantID:             simTenantID,
		AppID:                simAppID,
		TokenLifetime:        24 * time.Hour,
		Devices:              graphsim.GenerateDevices(users, 1),
		Clock:                clock,
		Seed:                 1,
		FractionalRetryAfter: true,
		Latency:              graphsim.Uniform{Min: 50 * time.Millisecond, Max: 200 * time.Millisecond},
		// A few random step faults, and the third operation always throttled: forty users are
		// few enough draws that a run could otherwise show no throttling at all.
		Faults: graphsim.Faults{StepRate: 0.08, StepStatuses: []int{429, 503}, RetryAfter: 2 * time.Second,
			Schedule: []graphsim.Scheduled{{Kind: graphsim.StepFault, Status: 429, Nth: 3}}},
	}, users)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	base := "http://" + ln.Addr().String() + "/v1.0"
	t := target{cloudName: "simulated", graphURL: base, scope: "http://" + ln.Addr().String() + "/.default", tenant: "simulated demo tenant (testdata/demo-tenant.csv)"}
	token := srv.IssueToken(simAppID, simTenantID)
	client, err := batch.NewGraphClient(batch.GraphOptions{BaseURL: base, Credential: staticToken(token), Scopes: []string{t.scope}})
	if err != nil {
		hs.Close()
		return nil, err
	}
	tid := tokenTenant(token)
	return &connection{lanes: []batch.Lane{{Client: client, TenantID: tid}}, clock: clock, target: t, tenantErrs: map[string]error{},
		close: func() { hs.Close() }}, nil
}

func simFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "addr", Value: "127.0.0.1:8080", Usage: "loopback address to listen on"},
		&cli.IntFlag{Name: "users", Value: 1000, Usage: "generate this many users"},
		&cli.Int64Flag{Name: "seed", Value: 1, Usage: "seed for generated users, faults and latency"},
		&cli.StringFlag{Name: "tenant", Usage: "load users from this CSV instead (id,userPrincipalName,displayName,userType,accountEnabled,protected,ignoreRevoke)"},
		&cli.StringFlag{Name: "token", Usage: "bearer token to accept (default: a random one, printed)"},
		&cli.StringFlag{Name: "quota", Value: "token-bucket", Usage: "token-bucket|sliding-window|off"},
		&cli.Float64Flag{Name: "scale", Value: 1, Usage: "run the emulated clock this many times faster than the wall clock"},
		&cli.BoolFlag{Name: "fractional-retry-after", Usage: "send Retry-After with decimals, as Graph sometimes does"},
		&cli.DurationFlag{Name: "latency-min", Usage: "least added latency per request"},
		&cli.DurationFlag{Name: "latency-max", Usage: "most added latency per request"},
		&cli.Float64Flag{Name: "step-fault-rate", Usage: "share of steps answered 500/502/503/504"},
		&cli.Float64Flag{Name: "envelope-fault-rate", Usage: "share of $batch requests answered 429/503"},
		helpFlag(),
		&cli.StringFlag{Name: "throttle-headers", Value: "none", Usage: "where Graph's optional x-ms-throttle-* headers go: none (Retry-After only, as Graph is seen to answer), steps or envelope"},
		&cli.IntFlag{Name: "tenants", Value: 1, Usage: "serve this many tenants, each with --users generated users (the first from --tenant if given)"},
		&cli.IntFlag{Name: "apps", Usage: "register this many apps, consented in every tenant, and print a token per app and tenant"},
		&cli.Float64Flag{Name: "quota-scale", Value: 1, Usage: "run every throttling limit at this fraction of Graph's documented one"},
	}
}

func parseQuota(s string) (graphsim.QuotaModel, error) {
	switch s {
	case "token-bucket":
		return graphsim.QuotaTokenBucket, nil
	case "sliding-window":
		return graphsim.QuotaSlidingWindow, nil
	case "off":
		return graphsim.QuotaOff, nil
	}
	return 0, withHint(fmt.Errorf("unknown --quota %q", s), "use token-bucket, sliding-window or off")
}

// simCommand serves graphsim until interrupted.
func simCommand(c *cli.Context, s *sys) error {
	host, _, err := net.SplitHostPort(c.String("addr"))
	if err != nil || !isLoopback(host) {
		return withHint(fmt.Errorf("--addr %q is not a loopback address", c.String("addr")),
			"the emulator serves this machine only, e.g. 127.0.0.1:8080")
	}
	quota, err := parseQuota(c.String("quota"))
	if err != nil {
		return err
	}
	headers, ok := graphsim.ParseThrottleHeaders(c.String("throttle-headers"))
	if !ok {
		return withHint(fmt.Errorf("unknown --throttle-headers %q", c.String("throttle-headers")), "use none, steps or envelope")
	}
	users := graphsim.GenerateUsers(c.Int("users"), c.Int64("seed"))
	if path := c.String("tenant"); path != "" {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		users, err = graphsim.ReadUsersCSV(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	token := c.String("token")
	if token == "" {
		token = "sim-" + strings.ReplaceAll(time.Now().Format("150405.000000"), ".", "")
	}
	nTenants, nApps := c.Int("tenants"), c.Int("apps")
	if nTenants < 1 || nApps < 0 {
		return withHint(fmt.Errorf("--tenants %d --apps %d", nTenants, nApps), "serve at least one tenant; --apps 0 serves the fixed token alone")
	}
	var clock graphsim.Clock = graphsim.RealClock
	if scale := c.Float64("scale"); scale > 1 {
		clock = graphsim.NewScaledClock(scale)
	}
	cfg := graphsim.Config{
		Token:                token,
		Clock:                clock,
		Seed:                 c.Int64("seed"),
		Quota:                quota,
		FractionalRetryAfter: c.Bool("fractional-retry-after"),
		ThrottleHeaders:      headers,
		Faults:               graphsim.Faults{StepRate: c.Float64("step-fault-rate"), EnvelopeRate: c.Float64("envelope-fault-rate")},
		QuotaScale:           c.Float64("quota-scale"),
	}
	if max := c.Duration("latency-max"); max > 0 {
		cfg.Latency = graphsim.Uniform{Min: c.Duration("latency-min"), Max: max}
	}
	apps := simTenants(&cfg, users, nTenants, nApps, c.Int("users"), c.Int64("seed"))
	ln, err := net.Listen("tcp", c.String("addr"))
	if err != nil {
		return err
	}
	sim := graphsim.New(cfg, users)
	hs := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(s.stdout, "graphsim: %d users, serving Graph at http://%s/v1.0\n", len(users), ln.Addr())
	fmt.Fprintf(s.stdout, "use it with:\n  export BULKREVOKE_ACCESS_TOKEN=%s\n  bulkrevoke revoke --auth token --graph-url http://%s/v1.0 --input users.csv\n", token, ln.Addr())
	if nTenants > 1 || nApps > 0 {
		printSimApps(s, sim, cfg, apps, ln.Addr().String())
	}
	fmt.Fprintln(s.stdout, "stop with Ctrl-C")
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-c.Context.Done():
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(ctx)
		fmt.Fprintln(s.stdout, "graphsim: stopped")
		return nil
	}
}

// simTokenLifetime keeps the tokens printed at start valid for a whole
// session, however fast the emulated clock runs.
const simTokenLifetime = 365 * 24 * time.Hour

// simTenants adds tenants 2..n (generated users, ids from the seed) and n
// apps consented in all of them; the first tenant is the one of users.
func simTenants(cfg *graphsim.Config, users []graphsim.User, nTenants, nApps, nUsers int, seed int64) []graphsim.App {
	if nTenants == 1 && nApps == 0 {
		return nil
	}
	id := func(kind string, i int) string {
		return uuid.NewSHA1(uuid.NameSpaceURL, fmt.Appendf(nil, "graphsim:%d:%s:%d", seed, kind, i)).String()
	}
	cfg.TenantID = id("tenant", 0)
	tenants := []string{cfg.TenantID}
	for i := 1; i < nTenants; i++ {
		t := graphsim.Tenant{ID: id("tenant", i), Users: graphsim.GenerateUsers(nUsers, seed+int64(i))}
		cfg.Tenants = append(cfg.Tenants, t)
		tenants = append(tenants, t.ID)
	}
	for i := range nApps {
		cfg.Apps = append(cfg.Apps, graphsim.App{
			ClientID:    id("app", i),
			Secret:      rand.Text(),
			DisplayName: fmt.Sprintf("graphsim app %d", i+1),
			Tenants:     tenants,
		})
	}
	cfg.TokenLifetime = simTokenLifetime
	return cfg.Apps
}

// printSimApps lists tenants and apps, and a token per app and tenant as
// export lines, so that no secret has to appear in a command line.
func printSimApps(s *sys, sim *graphsim.Server, cfg graphsim.Config, apps []graphsim.App, addr string) {
	tenants := append([]string{cfg.TenantID}, func() (ids []string) {
		for _, t := range cfg.Tenants {
			ids = append(ids, t.ID)
		}
		return ids
	}()...)
	for i, t := range tenants {
		fmt.Fprintf(s.stdout, "tenant %d: %s (%d users)\n", i+1, t, len(sim.Tenant(t).Users()))
	}
	for i, a := range apps {
		fmt.Fprintf(s.stdout, "app %d: client id %s\n  export GRAPHSIM_APP%d_SECRET=%s\n", i+1, a.ClientID, i+1, a.Secret)
	}
	if len(apps) == 0 {
		return
	}
	fmt.Fprintf(s.stdout, "token endpoint (client_credentials, plain http: not for azidentity): http://%s/{tenant}/oauth2/v2.0/token\n", addr)
	fmt.Fprintln(s.stdout, "tokens, one per app and tenant:")
	for i, a := range apps {
		for j, t := range tenants {
			fmt.Fprintf(s.stdout, "  export GRAPHSIM_TOKEN_APP%d_TENANT%d=%s\n", i+1, j+1, sim.IssueToken(a.ClientID, t))
		}
	}
	fmt.Fprintf(s.stdout, "use one with:\n  export BULKREVOKE_ACCESS_TOKEN=$GRAPHSIM_TOKEN_APP1_TENANT1\n  bulkrevoke revoke --auth token --graph-url http://%s/v1.0 --input users.csv\n", addr)
}
