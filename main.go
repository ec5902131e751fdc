// Command bulkrevoke revokes the sign-in sessions of many Microsoft Entra ID users at once,
// through Microsoft Graph JSON batching, and writes a per-user CSV report of every outcome.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"slices"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/bulkrevoke/bulkrevoke/report"
)

// Exit codes. They are part of the tool's contract with scripts.
const (
	exitOK          = 0   // every row revoked (or would be)
	exitFailure     = 1   // usage, configuration or authentication error
	exitIncomplete  = 2   // the run finished but some rows were not revoked
	exitDeadline    = 3   // stopped by --deadline
	exitInterrupted = 130 // stopped by SIGINT/SIGTERM
)

// memoryLimit is the Go heap's soft limit unless GOMEMLIMIT says otherwise.
const memoryLimit = 96 << 20

// errIncomplete is returned when a run ended normally but not every row succeeded.
var errIncomplete = errors.New("not every user was revoked")

// errDeadline is the cause of a run's context ended by --deadline: it tells the deadline from
// Ctrl-C (context.Cause), which both stop the run the same way.
var errDeadline = errors.New("the --deadline passed")

// errDeadlineStop is what a run the deadline stopped returns: its summary already said so and
// printed the --resume command.
var errDeadlineStop = fmt.Errorf("%w: the run stopped sending", errDeadline)

// hinted is an error with a second line telling the admin what to do about it.
type hinted struct {
	err  error
	hint string
}

func (h *hinted) Error() string { return h.err.Error() }
func (h *hinted) Unwrap() error { return h.err }
func (h *hinted) Hint() string  { return h.hint }

func withHint(err error, hint string) error { return &hinted{err, hint} }

// sys is what the commands may touch of the process, so tests can run them in-process.
type sys struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	// stdinTTY and stderrTTY say whether a person is at the keyboard and watching.
	stdinTTY, stderrTTY bool
	now                 func() time.Time
	// transport, when set, carries sign-in and Graph requests (tests: a TLS emulator's client).
	transport http.RoundTripper
	// summary, set by a command given --summary-json once its flags are read, is filled by the
	// run and written by run with the exit code.
	summary *summaryJSON
}

func main() { os.Exit(mainExit()) }

// mainExit runs the program as a process and returns its exit code; tests run it as a
// separate process too (see main_test.go).
func mainExit() int {
	if os.Getenv("GOMEMLIMIT") == "" {
		// Most of a big run's garbage is the SDK's per-request buffers; a soft limit makes the
		// collector reclaim it before the heap doubles, keeping a million-row run near 100 MB.
		// It is soft: a list whose de-duplication set alone is larger still runs.
		debug.SetMemoryLimit(memoryLimit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	s := &sys{
		stdin:     os.Stdin,
		stdout:    os.Stdout,
		stderr:    os.Stderr,
		getenv:    os.Getenv,
		stdinTTY:  term.IsTerminal(int(os.Stdin.Fd())),
		stderrTTY: term.IsTerminal(int(os.Stderr.Fd())),
		now:       time.Now,
	}
	err := run(ctx, os.Args, s)
	stop()
	return exitCode(err, s.stderr)
}

// run is the whole program but for the process exit. A run given --summary-json has it
// written here, once the command's error and with it the exit code are known.
func run(ctx context.Context, args []string, s *sys) error {
	err := newApp(s).RunContext(ctx, args)
	if s.summary != nil {
		if jerr := s.summary.write(s, err); jerr != nil {
			if err == nil {
				return jerr
			}
			// The run's own outcome decides the exit code; the missing file is said.
			fmt.Fprintf(s.stderr, "bulkrevoke: %v\n", jerr)
		}
	}
	return err
}

// exitCode maps run's error to the process exit code and tells the admin what went wrong.
func exitCode(err error, stderr io.Writer) int {
	code := codeOf(err)
	if err == nil || summarized(err) {
		return code
	}
	fmt.Fprintf(stderr, "bulkrevoke: %v\n", err)
	if h := hintOf(err); h != "" {
		fmt.Fprintf(stderr, "hint: %s\n", h)
	}
	return code
}

// codeOf is the exit code for run's error.
func codeOf(err error) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errIncomplete):
		return exitIncomplete
	case errors.Is(err, errDeadlineStop):
		return exitDeadline
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.Is(err, errDeadline):
		// The deadline passed before the run started sending.
		return exitDeadline
	}
	return exitFailure
}

// summarized reports whether the run's summary said all there is to say about err.
func summarized(err error) bool {
	return errors.Is(err, errIncomplete) || errors.Is(err, errDeadlineStop) || errors.Is(err, context.Canceled)
}

func hintOf(err error) string {
	var h interface{ Hint() string }
	if errors.As(err, &h) {
		return h.Hint()
	}
	return ""
}

// exitMeanings say what each exit code means, for --summary-json (as the README's table does).
var exitMeanings = map[int]string{
	exitOK:          "every user was revoked (in a dry run: would be; for enable: re-enabled)",
	exitFailure:     "usage, configuration or sign-in error, or the report could not be written completely: nothing or not everything was attempted",
	exitIncomplete:  "the run finished, but not every user got what the run was for (see counts and next_steps)",
	exitDeadline:    "stopped by --deadline: every row is reported, those not sent not_attempted",
	exitInterrupted: "interrupted: every row is reported, those not sent not_attempted",
}

// summaryJSON is --summary-json: one JSON object for scripts and playbooks, written at the end
// of every run that got past its flags, whatever its exit code.
type summaryJSON struct {
	path string // "-" for standard output
	doc  report.Doc
}

// write puts the document with the exit code err maps to in its place: on standard output, or
// in a file written beside it and renamed over it, so that a reader never sees half of one.
func (j *summaryJSON) write(s *sys, err error) error {
	d := j.doc
	d.Finished = s.now()
	if !d.Started.IsZero() {
		d.ElapsedSeconds = d.Finished.Sub(d.Started).Seconds()
	}
	d.ExitCode = codeOf(err)
	d.ExitMeaning = exitMeanings[d.ExitCode]
	if err != nil && !summarized(err) {
		first := err
		for {
			j, ok := first.(interface{ Unwrap() []error })
			if !ok || len(j.Unwrap()) == 0 {
				break
			}
			first = j.Unwrap()[0]
		}
		d.Error, d.Hint = first.Error(), hintOf(err)
	}
	data, merr := json.MarshalIndent(d, "", "  ")
	if merr != nil {
		return fmt.Errorf("--summary-json: %w", merr)
	}
	data = append(data, '\n')
	if j.path == "-" {
		_, werr := s.stdout.Write(data)
		return werr
	}
	if werr := writeFileAtomic(j.path, data); werr != nil {
		return withHint(fmt.Errorf("--summary-json: %w", werr), "give --summary-json a path in a directory you may write to, or - for standard output")
	}
	return nil
}

// writeFileAtomic writes data to a temporary file beside path (mode 0600), syncs it and renames
// it over path.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// withDeadline runs a revoke, validate or enable command under its --deadline: the command's
// context ends with the cause errDeadline, and the run then stops exactly as on Ctrl-C.
func withDeadline(c *cli.Context, command func() error) error {
	d := c.Duration("deadline")
	if d <= 0 {
		// A negative one is refused with the other flags (options.check).
		return command()
	}
	parent := c.Context
	ctx, cancel := context.WithTimeoutCause(parent, d, errDeadline)
	defer cancel()
	c.Context = ctx
	defer func() { c.Context = parent }()
	err := command()
	if err != nil && !errors.Is(err, errDeadline) && errors.Is(context.Cause(ctx), errDeadline) &&
		(errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) {
		// Signing in or listing the users took the whole time: nothing was sent.
		return withHint(fmt.Errorf("%w (%s) before anything was sent: %w", errDeadline, d, err),
			"give the run a longer --deadline")
	}
	return err
}

func newApp(s *sys) *cli.App {
	return &cli.App{
		Name:  "bulkrevoke",
		Usage: "revoke the sign-in sessions of many Microsoft Entra ID users at once",
		// --version: version.go; it leaves -v to the commands' --verbose.
		Version: version(),
		Description: "Reads a CSV of users, revokes their sessions through Microsoft Graph $batch\n" +
			"(20 users per request, rate limited, retried on throttling) and writes a per-user\n" +
			"CSV report. Try it without a Microsoft account:\n\n" +
			"   bulkrevoke revoke --simulate --input testdata/demo-users.csv --yes",
		Reader:    s.stdin,
		Writer:    s.stdout,
		ErrWriter: s.stderr,
		// urfave/cli would call os.Exit on some errors; exit codes are main's business alone.
		ExitErrHandler:       func(*cli.Context, error) {},
		HideHelpCommand:      true,
		EnableBashCompletion: false,
		// The help and version flags are the app's own (version.go).
		HideHelp:    true,
		HideVersion: true,
		Flags:       []cli.Flag{helpFlag(), versionFlag()},
		Action: func(c *cli.Context) error {
			if c.Bool("version") {
				return printVersion(c)
			}
			if c.NArg() > 0 {
				return withHint(fmt.Errorf("unknown command %q", c.Args().First()), "bulkrevoke --help lists the commands")
			}
			return cli.ShowAppHelp(c)
		},
		Commands: []*cli.Command{
			{
				Name:      "revoke",
				Usage:     "revoke the sign-in sessions of every user in a list (and block sign-in, disable devices)",
				UsageText: "bulkrevoke revoke --input users.csv|--group ID|--filter ODATA|--all-users --report report.csv [--block-sign-in] [--disable-devices] [--yes] [options]",
				Flags:     revokeFlags(),
				// The shared help command would be set up by every run in the process; tests
				// run the program in parallel in one process.
				HideHelpCommand: true,
				HideHelp:        true,
				Action: func(c *cli.Context) error {
					return withDeadline(c, func() error { return revokeCommand(c, s, "revoke") })
				},
			},
			{
				Name:            "validate",
				Usage:           "check a user list against Graph without changing anything (same as revoke --dry-run)",
				UsageText:       "bulkrevoke validate --input users.csv [--report report.csv] [options]",
				Flags:           validateFlags(),
				HideHelpCommand: true,
				HideHelp:        true,
				Action: func(c *cli.Context) error {
					return withDeadline(c, func() error { return revokeCommand(c, s, "validate") })
				},
			},
			{
				Name:            "enable",
				Usage:           "undo a revoke --block-sign-in/--disable-devices run: re-enable exactly what it disabled",
				UsageText:       "bulkrevoke enable --from report.csv [--devices] --report rollback.csv [--yes] [options]",
				Flags:           enableFlags(),
				HideHelpCommand: true,
				HideHelp:        true,
				Action: func(c *cli.Context) error {
					return withDeadline(c, func() error { return revokeCommand(c, s, "enable") })
				},
			},
			{
				Name:            "sim",
				Usage:           "serve the Graph emulator on a loopback address (for trying the tool or other clients)",
				UsageText:       "bulkrevoke sim --addr 127.0.0.1:8080 --users 1000",
				Flags:           simFlags(),
				HideHelpCommand: true,
				HideHelp:        true,
				Action:          func(c *cli.Context) error { return simCommand(c, s) },
			},
			{
				Name:            "bench",
				Usage:           "measure the engine against the emulator's quota floor and a one-at-a-time loop",
				UsageText:       "bulkrevoke bench [--users 10000,50000] [--quota token-bucket,sliding-window] [--scale 50]",
				Flags:           benchFlags(),
				HideHelpCommand: true,
				HideHelp:        true,
				Action:          func(c *cli.Context) error { return benchCommand(c, s) },
			},
		},
	}
}

// signInFlags are how a run signs in, shared by revoke, validate and enable.
func signInFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "auth", Value: "default", Usage: "default|secret|certificate|managed-identity|workload-identity|azure-cli|device-code|browser|token"},
		&cli.StringSliceFlag{Name: "tenant-id", EnvVars: []string{"AZURE_TENANT_ID"}, Usage: "Entra tenant (directory) id or verified domain; repeat it for a list with a tenant column"},
		&cli.StringFlag{Name: "client-id", EnvVars: []string{"AZURE_CLIENT_ID"}, Usage: "application (client) id"},
		&cli.StringFlag{Name: "certificate", EnvVars: []string{"AZURE_CLIENT_CERTIFICATE_PATH"}, Usage: "PEM or PKCS#12 file with the app's certificate and key (--auth certificate)"},
		&cli.StringFlag{Name: "app-pool", Usage: "CSV of app registrations in the tenant (client_id,certificate or client_id,secret_env) to spread the work over"},
		&cli.StringFlag{Name: "cloud", Value: "global", Usage: "global|usgov|usgov-dod|china"},
		&cli.StringFlag{Name: "graph-url", Usage: "versioned Graph base URL (default from --cloud, e.g. https://graph.microsoft.com/v1.0)"},
		&cli.StringFlag{Name: "authority-host", Usage: "sign-in authority (default from --cloud); https only"},
		&cli.BoolFlag{Name: "simulate", Usage: "run against a built-in simulated tenant (no Microsoft account needed)"},
	}
}

// runFlags shape how any run sends and reports.
func runFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "report", Aliases: []string{"o"}, Usage: "per-user CSV report to create (default: bulkrevoke-report-<timestamp>.csv)"},
		&cli.BoolFlag{Name: "force", Usage: "overwrite the report file if it exists"},
		&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "do not ask for confirmation"},
		&cli.BoolFlag{Name: "dry-run", Usage: "look and report what would happen; change nothing"},
		&cli.StringFlag{Name: "resume", Usage: "a previous report of this run: rows done there are not sent again"},

		&cli.IntFlag{Name: "concurrency", Value: 4, Usage: "batch requests in flight per app and tenant"},
		&cli.Float64Flag{Name: "rate", Usage: "writes per second per app and tenant (default: Graph's documented quota, learned from its answers)"},
		&cli.IntFlag{Name: "batch-size", Value: 20, Usage: "users per $batch request (1-20)"},
		&cli.IntFlag{Name: "max-attempts", Value: 8, Usage: "failed requests per user before giving up (throttling does not count)"},
		&cli.DurationFlag{Name: "timeout", Value: 60 * time.Second, Usage: "per request"},
		&cli.DurationFlag{Name: "deadline", Usage: "stop sending after this long (e.g. 2h50m), report every row, print the --resume command and exit 3"},

		&cli.StringFlag{Name: "summary-json", Usage: "write the run's outcome as one JSON object to this file at the end (- for standard output)"},
		&cli.StringFlag{Name: "log-format", Value: "text", Usage: "text|json"},
		&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "log one debug line per batch request: its ids, steps by operation, statuses and Graph's wait (never a token or a body)"},
	}
}

func revokeFlags() []cli.Flag {
	who := []cli.Flag{
		&cli.StringFlag{Name: "input", Aliases: []string{"i"}, Usage: "user list (CSV with a header, or one user per line); - for standard input"},
		&cli.StringFlag{Name: "group", Usage: "the transitive members of this group (object id or exact display name)"},
		&cli.StringFlag{Name: "filter", Usage: "the users an OData $filter selects, e.g. \"department eq 'Finance'\""},
		&cli.BoolFlag{Name: "all-users", Usage: "every user of the tenant (needs --exclude or --no-exclude)"},
		&cli.StringFlag{Name: "column", Usage: "the input column holding the user, by name or by number from 1 for a list without a header (default: detected)"},
		&cli.StringFlag{Name: "tenant-column", Usage: "the input column holding the user's tenant (default: detected)"},
		&cli.StringFlag{Name: "exclude", Usage: "users never to touch (e.g. break-glass accounts), same format as --input"},
		&cli.BoolFlag{Name: "no-exclude", Usage: "with --all-users: there is deliberately no exclusion list"},
		&cli.IntFlag{Name: "max-users", Value: 10000, Usage: "refuse lists with more users than this (0: no limit)"},

		&cli.BoolFlag{Name: "block-sign-in", Usage: "also block sign-in (accountEnabled false) before revoking; undo with bulkrevoke enable"},
		&cli.BoolFlag{Name: "reset-password", Usage: "also reset each user's password to a random one nobody keeps (after the block, before the revoke); users recover through self-service reset or the helpdesk; cannot be undone"},
		&cli.StringFlag{Name: "remove-methods-since", Usage: "also remove the authentication methods each user registered at or after `TIME` (RFC 3339, or a duration such as 72h: that long before the run starts), after the reset and before the revoke; methods of unknown age are kept and listed for review; cannot be undone (<report>.methods.csv records them)"},
		&cli.BoolFlag{Name: "confirm-compromised", Usage: "also confirm the users compromised in Entra ID Protection (needs Entra ID P2 and IdentityRiskyUser.ReadWrite.All; at most one call a second per tenant, many users a call); cannot be undone, and enable leaves it"},
		&cli.BoolFlag{Name: "disable-devices", Usage: "also disable the users' owned and registered devices"},
		&cli.BoolFlag{Name: "offline", Usage: "with --dry-run: check syntax and duplicates only, no Graph call, no credentials"},
		&cli.BoolFlag{Name: "verify", Usage: "after revoking, read back each user's signInSessionsValidFromDateTime"},
		&cli.DurationFlag{Name: "verify-skew", Value: 5 * time.Minute, Usage: "clock skew allowed when verifying"},
	}
	return slices.Concat(who, runFlags(), signInFlags(), []cli.Flag{helpFlag()})
}

// validateFlags are revoke's but --dry-run: validate is one.
func validateFlags() []cli.Flag {
	flags := slices.DeleteFunc(revokeFlags(), func(f cli.Flag) bool { return slices.Contains(f.Names(), "dry-run") })
	for i, f := range flags {
		if slices.Contains(f.Names(), "offline") {
			flags[i] = &cli.BoolFlag{Name: "offline", Usage: "check syntax and duplicates only, no Graph call, no credentials"}
		}
	}
	return flags
}

func enableFlags() []cli.Flag {
	what := []cli.Flag{
		&cli.StringFlag{Name: "from", Usage: "the report of the revoke --block-sign-in/--disable-devices run to undo"},
		&cli.BoolFlag{Name: "devices", Usage: "also re-enable the devices that run disabled"},
	}
	return slices.Concat(what, runFlags(), signInFlags(), []cli.Flag{helpFlag()})
}
