package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/bulkrevoke/bulkrevoke/graphsim"
	"github.com/bulkrevoke/bulkrevoke/report"
)

var update = flag.Bool("update", false, "rewrite golden files and testscript expectations")

// TestMain lets testscript scripts (and tests that need a real child process) run the
// program as the command "bulkrevoke".
func TestMain(m *testing.M) {
	testscript.Main(waitingTests{m}, map[string]func(){
		"bulkrevoke": func() { os.Exit(mainExit()) },
	})
}

// waitingTests runs more of this package's parallel tests at once than there are CPUs unless
// -parallel says otherwise: they spend most of their time waiting on emulated Graph latency over
// loopback and on child processes, and at go test's default of one per CPU, ten runs of the
// package under -race took longer than go test's ten minutes on two cores.
type waitingTests struct{ m *testing.M }

func (w waitingTests) Run() int {
	flag.Parse()
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	if !given {
		if err := flag.Set("test.parallel", "8"); err != nil {
			panic(err)
		}
	}
	return w.m.Run()
}

// simToken is the bearer token the test tenants accept; tests pass it the way an admin would,
// through BULKREVOKE_ACCESS_TOKEN with --auth token.
const simToken = "sim-secret-token-7f3a"

// startSim serves a graphsim tenant over real loopback HTTP and returns it with its versioned
// Graph URL, for --graph-url.
func startSim(t *testing.T, cfg graphsim.Config, users []graphsim.User) (*graphsim.Server, string) {
	t.Helper()
	cfg.Token = simToken
	sim := graphsim.New(cfg, users)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return sim, srv.URL + "/v1.0"
}

// cliResult is what one in-process run of the command produced.
type cliResult struct {
	code           int
	stdout, stderr string
}

// runCLI runs the command in-process with the given arguments and environment (only env is
// visible to it: nothing leaks in from the test process), stdin not a terminal.
func runCLI(t *testing.T, env map[string]string, stdin string, args ...string) cliResult {
	t.Helper()
	return runCLIWith(t, env, nil, false, stdin, args...)
}

// runCLIWith is runCLI with a transport for sign-in and Graph (nil: the default) and,
// with tty, a terminal on standard input.
func runCLIWith(t *testing.T, env map[string]string, transport http.RoundTripper, tty bool, stdin string, args ...string) cliResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	s := &sys{
		stdin:     strings.NewReader(stdin),
		stdout:    &stdout,
		stderr:    &stderr,
		getenv:    func(k string) string { return env[k] },
		now:       time.Now,
		stdinTTY:  tty,
		transport: transport,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := run(ctx, append([]string{"bulkrevoke"}, args...), s)
	code := exitCode(err, &stderr)
	return cliResult{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// writeFile writes content to name in a fresh temporary directory and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:           "testdata/script",
		UpdateScripts: *update,
		Cmds:          map[string]func(ts *testscript.TestScript, neg bool, args []string){"reportcols": reportCols},
		Setup: func(env *testscript.Env) error {
			// Scripts reach the repository's sample files (the demo list) through $REPO.
			wd, err := os.Getwd()
			env.Setenv("REPO", wd)
			return err
		},
	})
}

// reportCols prints the named columns of a report, one row per line in input-line order: the
// stable part of a report, for cmp against a golden file (ids and times change every run).
//
//	reportcols report.csv line status error_code
func reportCols(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: reportcols FILE COLUMN...")
	}
	f, err := os.Open(ts.MkAbs(args[0]))
	ts.Check(err)
	defer f.Close()
	rows, err := report.ReadReport(f)
	ts.Check(err)
	lines := make([]int, 0, len(rows))
	for l := range rows {
		lines = append(lines, l)
	}
	sort.Ints(lines)
	fmt.Fprintln(ts.Stdout(), strings.Join(args[1:], ","))
	for _, l := range lines {
		r := rows[l]
		var cells []string
		for _, col := range args[1:] {
			switch col {
			case "line":
				cells = append(cells, strconv.Itoa(r.Line))
			case "input":
				cells = append(cells, r.Input)
			case "status":
				cells = append(cells, string(r.Status))
			case "http_status":
				cells = append(cells, strconv.Itoa(r.HTTP))
			case "error_code":
				cells = append(cells, r.Code)
			case "attempts":
				cells = append(cells, strconv.Itoa(r.Attempts))
			case "note":
				cells = append(cells, r.Note)
			case "user_id":
				cells = append(cells, r.UserID)
			case "user_principal_name":
				cells = append(cells, r.UPN)
			default:
				ts.Fatalf("reportcols: unknown column %q", col)
			}
		}
		fmt.Fprintln(ts.Stdout(), strings.Join(cells, ","))
	}
}
