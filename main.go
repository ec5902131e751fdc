// Command bulkrevoke revokes the sign-in sessions of many Microsoft Entra ID users at once,
// through Microsoft Graph JSON batching, and writes a per-user CSV report of every outcome.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"
)

// Exit codes. They are part of the tool's contract with scripts.
const (
	exitOK          = 0   // every row revoked (or would be)
	exitFailure     = 1   // usage, configuration or authentication error
	exitIncomplete  = 2   // the run finished but some rows were not revoked
	exitInterrupted = 130 // stopped by SIGINT/SIGTERM
)

// memoryLimit is the Go heap's soft limit unless GOMEMLIMIT says otherwise.
const memoryLimit = 96 << 20

// errIncomplete is returned when a run ended normally but not every row succeeded.
var errIncomplete = errors.New("not every user was revoked")

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

// run is the whole program but for the process exit.
func run(ctx context.Context, args []string, s *sys) error {
	return newApp(s).RunContext(ctx, args)
}

// exitCode maps run's error to the process exit code and tells the admin what went wrong.
func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errIncomplete):
		return exitIncomplete
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	}
	fmt.Fprintf(stderr, "bulkrevoke: %v\n", err)
	var h interface{ Hint() string }
	if errors.As(err, &h) && h.Hint() != "" {
		fmt.Fprintf(stderr, "hint: %s\n", h.Hint())
	}
	return exitFailure
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
		Commands: []*cli.Command{
			{
				Name:      "revoke",
				Usage:     "revoke the sign-in sessions of every user in a list",
				UsageText: "bulkrevoke revoke --input users.csv --report report.csv [--yes] [options]",
				Flags:     revokeFlags(),
				Action:    func(c *cli.Context) error { return revokeCommand(c, s, false) },
			},
			{
				Name:      "validate",
				Usage:     "check a user list against Graph without revoking anything (same as revoke --dry-run)",
				UsageText: "bulkrevoke validate --input users.csv [--report report.csv] [options]",
				Flags:     revokeFlags(),
				Action:    func(c *cli.Context) error { return revokeCommand(c, s, true) },
			},
			{
				Name:      "sim",
				Usage:     "serve the Graph emulator on a loopback address (for trying the tool or other clients)",
				UsageText: "bulkrevoke sim --addr 127.0.0.1:8080 --users 1000",
				Flags:     simFlags(),
				Action:    func(c *cli.Context) error { return simCommand(c, s) },
			},
			{
				Name:      "bench",
				Usage:     "measure the engine against the emulator's quota floor and a one-at-a-time loop",
				UsageText: "bulkrevoke bench [--users 10000,50000] [--quota token-bucket,sliding-window] [--scale 200]",
				Flags:     benchFlags(),
				Action:    func(c *cli.Context) error { return benchCommand(c, s) },
			},
		},
	}
}

func revokeFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "input", Aliases: []string{"i"}, Usage: "user list (CSV with a header, or one user per line); - for standard input"},
		&cli.StringFlag{Name: "report", Aliases: []string{"o"}, Usage: "per-user CSV report to create (default: bulkrevoke-report-<timestamp>.csv)"},
		&cli.BoolFlag{Name: "force", Usage: "overwrite the report file if it exists"},
		&cli.StringFlag{Name: "column", Usage: "the input column holding the user (default: detected)"},
		&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "do not ask for confirmation"},
		&cli.BoolFlag{Name: "dry-run", Usage: "look every user up in Graph and report what would happen; revoke nothing"},
		&cli.BoolFlag{Name: "offline", Usage: "with --dry-run: check syntax and duplicates only, no Graph call, no credentials"},
		&cli.BoolFlag{Name: "verify", Usage: "after revoking, read back each user's signInSessionsValidFromDateTime"},
		&cli.DurationFlag{Name: "verify-skew", Value: 5 * time.Minute, Usage: "clock skew allowed when verifying"},
		&cli.StringFlag{Name: "resume", Usage: "a previous report of this input: users revoked there are not sent again"},
		&cli.StringFlag{Name: "exclude", Usage: "users never to revoke (e.g. break-glass accounts), same format as --input"},
		&cli.IntFlag{Name: "max-users", Value: 10000, Usage: "refuse lists with more users than this (0: no limit)"},

		&cli.StringFlag{Name: "auth", Value: "default", Usage: "default|secret|certificate|managed-identity|workload-identity|azure-cli|device-code|browser|token"},
		&cli.StringFlag{Name: "tenant-id", EnvVars: []string{"AZURE_TENANT_ID"}, Usage: "Entra tenant (directory) id"},
		&cli.StringFlag{Name: "client-id", EnvVars: []string{"AZURE_CLIENT_ID"}, Usage: "application (client) id"},
		&cli.StringFlag{Name: "certificate", EnvVars: []string{"AZURE_CLIENT_CERTIFICATE_PATH"}, Usage: "PEM or PKCS#12 file with the app's certificate and key (--auth certificate)"},
		&cli.StringFlag{Name: "cloud", Value: "global", Usage: "global|usgov|usgov-dod|china"},
		&cli.StringFlag{Name: "graph-url", Usage: "versioned Graph base URL (default from --cloud, e.g. https://graph.microsoft.com/v1.0)"},
		&cli.BoolFlag{Name: "simulate", Usage: "run against a built-in simulated tenant (no Microsoft account needed)"},

		&cli.IntFlag{Name: "concurrency", Value: 4, Usage: "batch requests in flight"},
		&cli.Float64Flag{Name: "rate", Usage: "users per second (default: 20 for revokes, Graph's write quota; 300 for lookups)"},
		&cli.IntFlag{Name: "batch-size", Value: 20, Usage: "users per $batch request (1-20)"},
		&cli.IntFlag{Name: "max-attempts", Value: 8, Usage: "requests per user before giving up"},
		&cli.DurationFlag{Name: "timeout", Value: 60 * time.Second, Usage: "per request"},

		&cli.StringFlag{Name: "log-format", Value: "text", Usage: "text|json"},
		&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "log every batch request"},
	}
}
