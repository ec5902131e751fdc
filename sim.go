package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/urfave/cli/v2"

	"github.com/bulkrevoke/bulkrevoke/batch"
	"github.com/bulkrevoke/bulkrevoke/graphsim"
)

// The demo tenants, embedded in the binary; testdata/README.md describes them.
var (
	//go:embed testdata/demo-tenant.csv
	demoTenant []byte
	//go:embed testdata/demo-tenant-fabrikam.csv
	demoTenantFabrikam []byte
)

// simScale is how much faster than the wall clock the --simulate tenant runs: Graph's quota
// windows, Retry-After waits and the engine's limiter all run on that clock, so a demo shows
// throttling and retries without making a person wait for them.
const simScale = 20

// The demo tenants' and apps' ids, fixed so that reports read the same every run and the
// README can name them.
const (
	simTenantID  = "5e1a7ed0-0000-4000-8000-00000000d3e0" // contoso
	simTenant2ID = "5e1a7ed0-0000-4000-8000-00000000fab0" // fabrikam
	simAppID     = "b0170c4e-0000-4000-8000-00000000a990"
)

// simAppIDs are the demo apps, each consented in every demo tenant.
var simAppIDs = []string{simAppID, "b0170c4e-0000-4000-8000-00000000a991", "b0170c4e-0000-4000-8000-00000000a992"}

// simDemoLabel names the demo tenant in the confirmation prompt.
const simDemoLabel = "simulated demo tenant (testdata/demo-tenant.csv)"

// demoWorld is the demo set that --simulate and sim --demo serve: contoso
// (testdata/demo-tenant.csv: contoso.com, contoso.onmicrosoft.com) and fabrikam
// (testdata/demo-tenant-fabrikam.csv: fabrikam.com, fabrikam.onmicrosoft.com), each with
// devices and authentication methods per user and a nested group per department, and three
// apps consented in both.
func demoWorld() (graphsim.Config, []graphsim.User, error) {
	contoso, err := graphsim.ReadUsersCSV(bytes.NewReader(demoTenant))
	if err != nil {
		return graphsim.Config{}, nil, fmt.Errorf("demo tenant: %w", err)
	}
	fabrikam, err := graphsim.ReadUsersCSV(bytes.NewReader(demoTenantFabrikam))
	if err != nil {
		return graphsim.Config{}, nil, fmt.Errorf("demo tenant fabrikam: %w", err)
	}
	// Dated from now: the simulated clock starts at the wall clock's time, so that
	// --remove-methods-since 72h finds the methods registered in the last two days.
	now := time.Now()
	graphsim.GiveMethods(contoso, 1, now)
	graphsim.GiveMethods(fabrikam, 2, now)
	cfg := graphsim.Config{
		TenantID:      simTenantID,
		TenantDomains: []string{"contoso.com", "contoso.onmicrosoft.com"},
		AppID:         simAppID,
		Devices:       graphsim.GenerateDevices(contoso, 1),
		Groups:        departmentGroups(contoso),
		Tenants: []graphsim.Tenant{{ID: simTenant2ID, Domains: []string{"fabrikam.com", "fabrikam.onmicrosoft.com"},
			Users: fabrikam, Devices: graphsim.GenerateDevices(fabrikam, 2), Groups: departmentGroups(fabrikam)}},
	}
	for i, id := range simAppIDs {
		cfg.Apps = append(cfg.Apps, graphsim.App{ClientID: id, DisplayName: fmt.Sprintf("bulkrevoke demo %d", i+1),
			Tenants: []string{simTenantID, simTenant2ID}})
	}
	return cfg, contoso, nil
}

// departmentGroups makes a nested group (graphsim.NestedGroup: three levels, a user along two
// paths, a cycle) per department, named after it, with the department's users.
func departmentGroups(users []graphsim.User) []graphsim.Group {
	var order []string
	byDept := map[string][]graphsim.User{}
	for _, u := range users {
		if u.Department == "" {
			continue
		}
		if byDept[u.Department] == nil {
			order = append(order, u.Department)
		}
		byDept[u.Department] = append(byDept[u.Department], u)
	}
	var groups []graphsim.Group
	for _, d := range order {
		groups = append(groups, graphsim.NestedGroup(d, byDept[d])...)
	}
	return groups
}

// simulate starts the demo tenants on a loopback port, with Graph's real quotas on a scaled
// clock and a sprinkling of the throttling and server errors a real run meets, and signs the
// demo app in to each tenant the list names (tenants, "" for rows naming none): contoso and
// fabrikam by id or domain; rows naming no tenant go to --tenant-id's, or to contoso. Any
// other tenant the list names is served too, as a copy of contoso's users.
func simulate(o *options, tenants []string) (*connection, error) {
	if len(tenants) == 0 || o.fromGraph() {
		tenants = []string{""}
	}
	if err := checkTenants(o, tenants); err != nil {
		return nil, err
	}
	cfg, users, err := demoWorld()
	if err != nil {
		return nil, err
	}
	def := simTenantID
	if len(o.tenantIDs) == 1 {
		if t, reason := batch.ParseTenant(o.tenantIDs[0]); reason == "" {
			def = t
		}
	}
	known := map[string]string{} // tenant id or domain -> id
	for _, t := range append([]graphsim.Tenant{{ID: cfg.TenantID, Domains: cfg.TenantDomains}}, cfg.Tenants...) {
		for _, n := range append([]string{t.ID}, t.Domains...) {
			known[strings.ToLower(n)] = t.ID
		}
	}
	ids := map[string]string{} // as the list names it -> id
	for _, tn := range tenants {
		name := cmp.Or(tn, def)
		id, ok := known[strings.ToLower(name)]
		if !ok {
			// Another tenant the list names: a copy of contoso's users.
			t := graphsim.Tenant{ID: name, Users: users, Devices: cfg.Devices, Groups: cfg.Groups}
			if !isGUID(name) {
				t.ID, t.Domains = uuid.NewSHA1(uuid.NameSpaceURL, []byte("bulkrevoke-simulate:"+strings.ToLower(name))).String(), []string{name}
			}
			cfg.Tenants = append(cfg.Tenants, t)
			for i := range cfg.Apps {
				cfg.Apps[i].Tenants = append(cfg.Apps[i].Tenants, t.ID)
			}
			id = t.ID
			known[strings.ToLower(name)] = id
		}
		ids[tn] = id
	}
	clock := graphsim.NewScaledClock(simScale)
	cfg.TokenLifetime = 24 * time.Hour
	cfg.Clock = clock
	cfg.Seed = 1
	cfg.FractionalRetryAfter = true
	cfg.Latency = graphsim.Uniform{Min: 50 * time.Millisecond, Max: 200 * time.Millisecond}
	// A few random step faults, and the third operation always throttled: forty users are
	// few enough draws that a run could otherwise show no throttling at all.
	cfg.Faults = graphsim.Faults{StepRate: 0.08, StepStatuses: []int{429, 503}, RetryAfter: 2 * time.Second,
		Schedule: []graphsim.Scheduled{{Kind: graphsim.StepFault, Status: 429, Nth: 3}}}
	srv := graphsim.New(cfg, users)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	base := "http://" + ln.Addr().String() + "/v1.0"
	t := target{cloudName: "simulated", graphURL: base, scope: "http://" + ln.Addr().String() + "/.default"}
	if len(tenants) == 1 {
		switch id := ids[tenants[0]]; id {
		case simTenantID:
			t.tenant = simDemoLabel
		case simTenant2ID:
			t.tenant = "simulated demo tenant fabrikam (testdata/demo-tenant-fabrikam.csv)"
		default:
			t.tenant = "simulated copy of the demo tenant (testdata/demo-tenant.csv)"
		}
	}
	conn := &connection{clock: clock, target: t, tenantErrs: map[string]error{}, close: func() { hs.Close() }}
	for _, tn := range tenants {
		token := srv.IssueToken(simAppID, ids[tn])
		client, err := batch.NewGraphClient(batch.GraphOptions{BaseURL: base, Credential: staticToken(token), Scopes: []string{t.scope}})
		if err != nil {
			hs.Close()
			return nil, err
		}
		conn.lanes = append(conn.lanes, batch.Lane{Client: client, Tenant: tn, TenantID: tokenTenant(token)})
	}
	return conn, nil
}

func simFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "addr", Value: "127.0.0.1:8080", Usage: "loopback address to listen on (port 0: any free one; see --ready-file)"},
		&cli.BoolFlag{Name: "demo", Usage: "serve the demo tenants of --simulate (contoso and fabrikam: users, devices, nested groups) and its three apps"},
		&cli.StringFlag{Name: "state", Usage: "keep the tenants in this file: loaded at start if it exists (the tenant flags are then ignored), saved on every change and at exit"},
		&cli.StringFlag{Name: "ready-file", Usage: "write the base URL to this file (or named pipe) once listening"},
		&cli.IntFlag{Name: "users", Value: 1000, Usage: "generate this many users"},
		&cli.Int64Flag{Name: "seed", Value: 1, Usage: "seed for generated users, devices, faults and latency"},
		&cli.StringFlag{Name: "tenant", Usage: "load users from this CSV instead (id,userPrincipalName,displayName,userType,accountEnabled,protected,ignoreRevoke,department,onPremisesSyncEnabled)"},
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
		&cli.IntFlag{Name: "apps", Value: 1, Usage: "register this many apps, consented in every tenant"},
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

// simTokenLifetime keeps the tokens the emulator issues valid for a whole session, however
// fast the emulated clock runs.
const simTokenLifetime = 365 * 24 * time.Hour

// simCommand serves graphsim until interrupted: Graph at /v1.0 and Entra's sign-in endpoints
// (OpenID metadata, client-credentials tokens) for --auth secret, --app-pool and
// --authority-host on the same loopback address.
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
	cfg, users, loaded, err := simWorld(c)
	if err != nil {
		return err
	}
	token := c.String("token")
	if token == "" {
		token = "sim-" + rand.Text()
	}
	cfg.Token = token
	cfg.Seed = c.Int64("seed")
	cfg.Quota = quota
	cfg.FractionalRetryAfter = c.Bool("fractional-retry-after")
	cfg.ThrottleHeaders = headers
	cfg.Faults = graphsim.Faults{StepRate: c.Float64("step-fault-rate"), EnvelopeRate: c.Float64("envelope-fault-rate")}
	cfg.QuotaScale = c.Float64("quota-scale")
	cfg.TokenLifetime = simTokenLifetime
	cfg.Clock = graphsim.RealClock
	if scale := c.Float64("scale"); scale > 1 {
		cfg.Clock = graphsim.NewScaledClock(scale)
	}
	if max := c.Duration("latency-max"); max > 0 {
		cfg.Latency = graphsim.Uniform{Min: c.Duration("latency-min"), Max: max}
	}
	// Every app accepts the client secret in the environment variable the tool's --auth secret
	// reads; it is never a flag, never printed and never saved.
	const secretEnv = "AZURE_CLIENT_SECRET"
	secret := s.getenv(secretEnv)
	for i := range cfg.Apps {
		cfg.Apps[i].Secret = secret
	}

	ln, err := net.Listen("tcp", c.String("addr"))
	if err != nil {
		return err
	}
	defer ln.Close()
	sim := graphsim.New(cfg, users)
	var state *simState
	if path := c.String("state"); path != "" {
		state = &simState{path: path, sim: sim}
		// The file exists from the start, so that a later sim --state finds this tenant even
		// if nothing changes before it is stopped.
		if err := state.save(); err != nil {
			return err
		}
	}
	addr := ln.Addr().String()
	printSim(s, sim.State(), addr, token, secretEnv, secret != "")
	switch {
	case state != nil && loaded:
		var ignored []string
		for _, f := range []string{"demo", "users", "tenant", "tenants", "apps"} {
			if c.IsSet(f) {
				ignored = append(ignored, "--"+f)
			}
		}
		fmt.Fprintf(s.stdout, "state: loaded from %s, saved there on every change and at exit\n", state.path)
		if len(ignored) > 0 {
			fmt.Fprintf(s.stdout, "state: the tenants are those of %s: %s ignored (remove the file for fresh ones)\n", state.path, strings.Join(ignored, ", "))
		}
	case state != nil:
		fmt.Fprintf(s.stdout, "state: saved to %s on every change and at exit (the next sim --state %s serves it again)\n", state.path, state.path)
	}
	fmt.Fprintln(s.stdout, "stop with Ctrl-C")

	hs := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	if p := c.String("ready-file"); p != "" {
		// Listening already. A named pipe blocks the write until its reader opens it, so the
		// write does not hold up Ctrl-C.
		go func() {
			if err := writeReady(p, "http://"+addr); err != nil {
				fmt.Fprintf(s.stderr, "graphsim: --ready-file: %v\n", err)
			}
		}()
	}
	saved := make(chan struct{})
	stopSaving := make(chan struct{})
	go func() {
		defer close(saved)
		if state != nil {
			keepState(state, stopSaving, func(err error) {
				if err != nil {
					fmt.Fprintf(s.stderr, "graphsim: %v\n", err)
				}
			})
		}
	}()
	stop := func() error {
		close(stopSaving)
		<-saved
		if state == nil {
			return nil
		}
		if err := state.save(); err != nil {
			return err
		}
		fmt.Fprintf(s.stdout, "graphsim: state saved to %s\n", state.path)
		return nil
	}
	select {
	case err := <-errc:
		return errors.Join(err, stop())
	case <-c.Context.Done():
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(ctx)
		if err := stop(); err != nil {
			return err
		}
		fmt.Fprintln(s.stdout, "graphsim: stopped")
		return nil
	}
}

// simWorld builds the tenants and apps sim serves: those of the --state file if it exists
// (loaded), else the demo set (--demo), else generated ones (--users, --tenant, --tenants,
// --apps), each with devices per user and a nested group per department.
func simWorld(c *cli.Context) (cfg graphsim.Config, users []graphsim.User, loaded bool, err error) {
	if path := c.String("state"); path != "" {
		f, err := os.Open(path)
		switch {
		case err == nil:
			defer f.Close()
			st, err := graphsim.ReadState(f)
			if err != nil {
				return cfg, nil, false, withHint(fmt.Errorf("--state %s: %w", path, err), "remove the file to start from a fresh tenant")
			}
			cfg, users = st.Config(graphsim.Config{})
			return cfg, users, true, nil
		case !errors.Is(err, fs.ErrNotExist):
			return cfg, nil, false, fmt.Errorf("--state: %w", err)
		}
	}
	if c.Bool("demo") {
		cfg, users, err := demoWorld()
		return cfg, users, false, err
	}
	seed, nUsers := c.Int64("seed"), c.Int("users")
	nTenants, nApps := c.Int("tenants"), c.Int("apps")
	if nTenants < 1 || nApps < 1 || nUsers < 0 {
		return cfg, nil, false, withHint(fmt.Errorf("--users %d --tenants %d --apps %d", nUsers, nTenants, nApps), "serve at least one tenant and one app")
	}
	users = graphsim.GenerateUsers(nUsers, seed)
	if path := c.String("tenant"); path != "" {
		f, err := os.Open(path)
		if err != nil {
			return cfg, nil, false, err
		}
		users, err = graphsim.ReadUsersCSV(f)
		f.Close()
		if err != nil {
			return cfg, nil, false, fmt.Errorf("%s: %w", path, err)
		}
	}
	id := func(kind string, i int) string {
		return uuid.NewSHA1(uuid.NameSpaceURL, fmt.Appendf(nil, "graphsim:%d:%s:%d", seed, kind, i)).String()
	}
	cfg.TenantID = id("tenant", 0)
	cfg.Devices = graphsim.GenerateDevices(users, seed)
	cfg.Groups = departmentGroups(users)
	tenants := []string{cfg.TenantID}
	for i := 1; i < nTenants; i++ {
		u := graphsim.GenerateUsers(nUsers, seed+int64(i))
		t := graphsim.Tenant{ID: id("tenant", i), Users: u, Devices: graphsim.GenerateDevices(u, seed+int64(i)), Groups: departmentGroups(u)}
		cfg.Tenants = append(cfg.Tenants, t)
		tenants = append(tenants, t.ID)
	}
	for i := range nApps {
		cfg.Apps = append(cfg.Apps, graphsim.App{ClientID: id("app", i), DisplayName: fmt.Sprintf("graphsim app %d", i+1), Tenants: tenants})
	}
	cfg.AppID = cfg.Apps[0].ClientID
	return cfg, users, false, nil
}

// printSim tells how to use the emulator: its tenants and apps, how to sign in as a real run
// does (a client secret from the environment; never printed) or with the fixed token.
func printSim(s *sys, st graphsim.State, addr, token, secretEnv string, haveSecret bool) {
	base := "http://" + addr
	fmt.Fprintf(s.stdout, "graphsim: serving Graph at %s/v1.0 and Entra sign-in at %s\n", base, base)
	for i, t := range st.Tenants {
		blocked, disabled := 0, 0
		for _, u := range t.Users {
			if !u.AccountEnabled {
				blocked++
			}
		}
		for _, d := range t.Devices {
			if !d.AccountEnabled {
				disabled++
			}
		}
		names := ""
		if len(t.Domains) > 0 {
			names = " (" + strings.Join(t.Domains, ", ") + ")"
		}
		fmt.Fprintf(s.stdout, "tenant %d: %s%s: %d users (%d sign-in blocked), %d devices (%d disabled), %d groups\n",
			i+1, t.ID, names, len(t.Users), blocked, len(t.Devices), disabled, len(t.Groups))
	}
	for i, a := range st.Apps {
		fmt.Fprintf(s.stdout, "app %d: client id %s, consented in %d tenant(s)\n", i+1, a.ClientID, len(a.Tenants))
	}
	if haveSecret {
		fmt.Fprintf(s.stdout, "sign in as a real run does, with the client secret in $%s (every app accepts it):\n", secretEnv)
		fmt.Fprintf(s.stdout, "  export AZURE_TENANT_ID=%s AZURE_CLIENT_ID=%s\n", st.Tenants[0].ID, st.Apps[0].ClientID)
		fmt.Fprintf(s.stdout, "  bulkrevoke revoke --auth secret --authority-host %s --graph-url %s/v1.0 --input users.csv\n", base, base)
	} else {
		fmt.Fprintf(s.stdout, "to sign in with a client secret (--auth secret, --app-pool), start the emulator with the secret its apps accept in $%s\n", secretEnv)
	}
	fmt.Fprintf(s.stdout, "or with a bearer token:\n  export BULKREVOKE_ACCESS_TOKEN=%s\n  bulkrevoke revoke --auth token --graph-url %s/v1.0 --input users.csv\n", token, base)
}

// writeReady writes the base URL to path once the emulator listens: a file, or a named pipe a
// script blocks on.
func writeReady(path, base string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(f, base)
	return errors.Join(err, f.Close())
}

// simState keeps the emulator's tenants in a file (sim --state): written whole to a temporary
// file beside it, synced and renamed over it, so that the file is always one complete state.
type simState struct {
	path string
	sim  *graphsim.Server
	mu   sync.Mutex
}

// keepState saves the state after every change the emulator signals until stop is closed,
// telling saved how each save went. Changes made during a save are signalled once more, so
// the last change is always saved.
func keepState(st *simState, stop <-chan struct{}, saved func(error)) {
	for {
		select {
		case <-stop:
			return
		case <-st.sim.Changes():
			saved(st.save())
		}
	}
}

func (st *simState) save() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	b, err := json.MarshalIndent(st.sim.State(), "", "  ")
	if err != nil {
		return err
	}
	tmp := st.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("cannot save the state: %w", err)
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if err = errors.Join(err, f.Close()); err == nil {
		err = os.Rename(tmp, st.path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("cannot save the state to %s: %w", st.path, err)
	}
	return nil
}
