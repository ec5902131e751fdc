package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/bulkrevoke/bulkrevoke/batch"
)

// options is everything revoke, validate and enable take from their flags, checked for
// combinations that make no sense before anything is opened or sent.
type options struct {
	cmd string // revoke, validate or enable

	// Who: exactly one source.
	input, group, filter string
	allUsers             bool
	from                 string // enable: the report to undo
	column, tenantColumn string
	exclude              string
	noExclude            bool
	maxUsers             int

	// What.
	dryRun, offline, verify bool
	verifySkew              time.Duration
	block, devices          bool
	reset                   bool // --reset-password
	// --remove-methods-since: the cut-off as given, and either the time or the duration
	// before the run's start it names (cutoff resolves it once the run's clock is known).
	methodsSince string
	methodsAt    time.Time
	methodsAgo   time.Duration
	confirm      bool // --confirm-compromised

	// Where the results go.
	report, resume string
	force, yes     bool
	summaryJSON    string // --summary-json: a file, or - for standard output

	// Sign-in.
	auth, clientID, certificate, appPool string
	cloud, graphURL, authorityHost       string
	tenantIDs                            []string
	simulate                             bool

	// Tuning.
	concurrency, batchSize, maxAttempts int
	rate                                float64
	timeout, deadline                   time.Duration
	logFormat                           string
	verbose                             bool

	c *cli.Context // for the resume command, which repeats the flags as given
}

// newOptions reads the flags of cmd.
func newOptions(c *cli.Context, cmd string) (*options, error) {
	if c.NArg() > 0 {
		return nil, withHint(fmt.Errorf("unexpected argument %q", c.Args().First()), "the user list goes in --input FILE")
	}
	o := &options{
		cmd: cmd, c: c,
		input: c.String("input"), group: c.String("group"), filter: c.String("filter"), allUsers: c.Bool("all-users"),
		from: c.String("from"), column: c.String("column"), tenantColumn: c.String("tenant-column"),
		exclude: c.String("exclude"), noExclude: c.Bool("no-exclude"), maxUsers: c.Int("max-users"),
		dryRun: cmd == "validate" || c.Bool("dry-run"), offline: c.Bool("offline"), verify: c.Bool("verify"),
		verifySkew: c.Duration("verify-skew"), block: c.Bool("block-sign-in"), reset: c.Bool("reset-password"),
		methodsSince: c.String("remove-methods-since"),
		confirm:      c.Bool("confirm-compromised"),
		devices:      c.Bool("disable-devices") || c.Bool("devices"),
		report:       c.String("report"), resume: c.String("resume"), force: c.Bool("force"), yes: c.Bool("yes"), summaryJSON: c.String("summary-json"),
		auth: c.String("auth"), clientID: c.String("client-id"), certificate: c.String("certificate"), appPool: c.String("app-pool"),
		cloud: c.String("cloud"), graphURL: c.String("graph-url"), authorityHost: c.String("authority-host"),
		tenantIDs: c.StringSlice("tenant-id"), simulate: c.Bool("simulate"),
		concurrency: c.Int("concurrency"), batchSize: c.Int("batch-size"), maxAttempts: c.Int("max-attempts"),
		rate: c.Float64("rate"), timeout: c.Duration("timeout"), deadline: c.Duration("deadline"), logFormat: c.String("log-format"), verbose: c.Bool("verbose"),
	}
	if err := o.parseMethodsSince(); err != nil {
		return o, err
	}
	return o, o.check()
}

// parseMethodsSince reads --remove-methods-since: an RFC 3339 time, or a positive duration
// before the run's start.
func (o *options) parseMethodsSince() error {
	v := strings.TrimSpace(o.methodsSince)
	if o.methodsSince == "" {
		return nil
	}
	hint := "give a time in RFC 3339, such as 2026-12-01T08:00:00Z, or a duration before the run starts, such as 72h or 90m"
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		o.methodsAt = t
		return nil
	}
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		return withHint(fmt.Errorf("--remove-methods-since %q is neither an RFC 3339 time nor a duration", o.methodsSince), hint)
	case d <= 0:
		return withHint(fmt.Errorf("--remove-methods-since %q: the duration must be positive (that long before the run starts)", o.methodsSince), hint)
	}
	o.methodsAgo = d
	return nil
}

// cutoff is the time --remove-methods-since names, for a run that starts at start.
func (o *options) cutoff(start time.Time) time.Time {
	if o.methodsAgo > 0 {
		return start.Add(-o.methodsAgo)
	}
	return o.methodsAt
}

func (o *options) removeMethods() bool { return o.methodsSince != "" && o.cmd != "enable" }

// fromGraph reports whether the users come from a Graph query rather than a file.
func (o *options) fromGraph() bool { return o.group != "" || o.filter != "" || o.allUsers }

func (o *options) check() error {
	sources := 0
	for _, set := range []bool{o.input != "", o.group != "", o.filter != "", o.allUsers} {
		if set {
			sources++
		}
	}
	switch {
	case o.cmd == "enable" && o.from == "":
		return withHint(errors.New("no report to undo"), "bulkrevoke enable --from report.csv")
	case o.cmd != "enable" && sources == 0:
		return withHint(errors.New("no users: give --input, --group, --filter or --all-users"), "bulkrevoke revoke --input users.csv")
	case sources > 1:
		return withHint(errors.New("--input, --group, --filter and --all-users are alternatives: give one"), "one run, one list of users")
	case o.allUsers && o.exclude == "" && !o.noExclude:
		return withHint(errors.New("--all-users needs --exclude with your break-glass accounts"),
			"add --exclude breakglass.csv, or --no-exclude if there is deliberately none")
	case o.noExclude && o.exclude != "":
		return errors.New("--no-exclude and --exclude contradict each other")
	case o.offline && !o.dryRun:
		return withHint(errors.New("--offline only goes with --dry-run"), "add --dry-run, or use bulkrevoke validate --offline")
	case o.offline && o.removeMethods():
		return withHint(errors.New("--remove-methods-since lists each user's methods in Graph; --offline sends nothing"),
			"drop --offline to see which methods a real run would remove")
	case o.offline && o.fromGraph():
		return errors.New("--offline checks a file; users from Graph need Graph")
	case o.verify && o.dryRun:
		return errors.New("--verify reads back revocations; a dry run makes none")
	case o.fromGraph() && o.resume != "":
		return withHint(errors.New("--resume goes with the list the first run resolved, not a new query"),
			"resume with --input <report>.users.csv --resume <report> (the first run's summary prints the command)")
	case o.fromGraph() && len(o.tenantIDs) > 1:
		return errors.New("--group, --filter and --all-users query one tenant: give one --tenant-id")
	case o.appPool != "" && (o.simulate || o.c.IsSet("auth")):
		return errors.New("--app-pool brings its own credentials: drop --auth and --simulate")
	case o.simulate && (o.c.IsSet("graph-url") || o.c.IsSet("auth") || o.c.IsSet("authority-host")):
		return errors.New("--simulate runs against a built-in tenant: drop --graph-url and --auth (and --authority-host)")
	}
	return o.checkTuning()
}

// checkTuning refuses tuning values the engine would otherwise quietly replace by defaults.
func (o *options) checkTuning() error {
	switch {
	case o.batchSize < 1 || o.batchSize > batch.MaxBatchSize:
		return withHint(fmt.Errorf("--batch-size %d: Graph takes 1 to %d requests per batch", o.batchSize, batch.MaxBatchSize), "leave it at 20")
	case o.concurrency < 1:
		return fmt.Errorf("--concurrency %d: at least 1 request must be in flight", o.concurrency)
	case o.maxAttempts < 1:
		return fmt.Errorf("--max-attempts %d: every user needs at least one attempt", o.maxAttempts)
	case o.rate < 0:
		return fmt.Errorf("--rate %v: must be positive (0 means the default)", o.rate)
	case o.timeout <= 0:
		return fmt.Errorf("--timeout %v: must be positive", o.timeout)
	case o.deadline < 0:
		return withHint(fmt.Errorf("--deadline %v: must be positive", o.deadline), "give the time the run may take, e.g. --deadline 2h50m")
	case o.logFormat != "text" && o.logFormat != "json":
		return withHint(fmt.Errorf("--log-format %q: the formats are text and json", o.logFormat),
			"--log-format json writes one JSON object per log line to stderr; text (the default) is for people")
	}
	return nil
}

// actions is the per-user plan the engine runs.
func (o *options) actions() batch.Plan {
	switch {
	case o.cmd == "enable":
		return batch.Plan{Enable: true, DryRun: o.dryRun}
	case o.dryRun:
		return batch.Plan{Lookup: true, Block: o.block, Reset: o.reset, Methods: o.removeMethods(), Confirm: o.confirm, Revoke: true, Devices: o.devices, DryRun: true}
	}
	// A reset needs the lookup too: a user synced from AD is not reset in the cloud. So do the
	// methods: a user's methods are addressed by the object id it resolves to, and two lines
	// naming one user must not remove its methods twice. So does a confirmation: Identity
	// Protection takes object ids only.
	return batch.Plan{Lookup: o.block || o.reset || o.removeMethods() || o.confirm, Block: o.block, Reset: o.reset, Methods: o.removeMethods(),
		Confirm: o.confirm, Revoke: true, Devices: o.devices}
}

// engineConfig is the engine's tuning from the flags.
func (o *options) engineConfig() batch.Config {
	return batch.Config{
		Plan:        o.actions(),
		BatchSize:   o.batchSize,
		Concurrency: o.concurrency,
		Rate:        rateLimit(o.rate),
		MaxAttempts: o.maxAttempts,
		Timeout:     o.timeout,
	}
}
