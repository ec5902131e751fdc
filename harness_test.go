package main

// The test harness of package main: every test file here starts graphsim, runs the command and
// reads what it wrote through these helpers, and through nothing else. Helpers that only one
// file's tests use stay in that file, under plain names.
//
//   - graphsim in process: serveSim (a hook on each $batch, or $batch requests recorded and
//     served one at a time, TLS, more fronts for a killed run's resume, secretSignIn for a run
//     that signs in with a client secret); startSim for the plain case; serveThen in a hook for
//     an answer Graph carried out that dies with its client. graphsim as a child process is
//     `bulkrevoke sim`, run by the scripts in testdata/script/local (TestTryLocally).
//   - the command in process: runCLI, runCLIWith (a transport, a terminal, a clock),
//     confirmRevoke at a terminal; as a child process (for SIGKILL, SIGINT and resource limits):
//     startChild, or new(childProc) and start when a server hook signals it, interruptAt for a
//     SIGINT while an envelope is in flight, shell for a command as printed, resumeAsPrinted for
//     a summary's resume command; scripts of commands: testdata/script through scriptParams.
//   - reports: readReport (a complete report) and readTornReport (what a killed run left), both
//     through scanReport, which reads the raw records and report.ReadReport and makes them agree;
//     checkRows row by row, cutReport for a crash's leftovers.
//   - tenants and lists: memberList (n plain members), mixedTenant (one user of every kind),
//     upnList.

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/bulkrevoke/bulkrevoke/batch"
	"github.com/bulkrevoke/bulkrevoke/graphsim"
	"github.com/bulkrevoke/bulkrevoke/report"
)

// simToken is the bearer token the test tenants accept; tests pass it the way an admin would,
// through BULKREVOKE_ACCESS_TOKEN with --auth token.
const simToken = "sim-secret-token-7f3a"

// testSecret stands in for an app's client secret: it is in every child's environment, and no
// output may ever contain it or the token.
const testSecret = "fakeSecret~Q8x.9zZ_do-not-print"

// ---- graphsim in process ----

// simOpts says how serveSim serves graphsim.
type simOpts struct {
	// tls serves https (the token endpoint needs it for azidentity's client secret sign-in).
	tls bool
	// hook runs on each $batch request, numbered from 1, concurrently with the others: it may
	// serve the request itself (returning true) or leave it to graphsim.
	hook func(s *simServer, n int64, w http.ResponseWriter, r *http.Request) bool
	// record serves $batch requests one at a time and records them step by step (steps,
	// envelopes): graphsim is fast on loopback, and a test that acts at a request (kill the
	// client, withdraw consent) then knows that nothing else is being answered meanwhile.
	record bool
	// batches runs on each recorded $batch before graphsim sees it and may hold it unanswered.
	batches func(s *simServer, env envelope) batchAction
	// seen sees every request before graphsim does.
	seen func(r *http.Request)
	// direct runs on each request that is not a $batch (sign-in, Identity Protection's calls),
	// as hook does on $batch requests.
	direct func(s *simServer, w http.ResponseWriter, r *http.Request) bool
}

// simServer is graphsim served over loopback by serveSim. It has one front (a loopback server)
// to begin with, the one url and srv name; a killed run's resume goes through another (front,
// separate), because what the dead process had sent may still arrive at the first. It counts
// the handlers running, so that drain can wait until graphsim's journal is final.
type simServer struct {
	*simFront // the first
	sim       *graphsim.Server
	opts      simOpts
	n         atomic.Int64 // $batch requests so far

	mu        sync.Mutex // with opts.record: serialises $batch requests; guards the fields below and fronts' stopped
	envelopes []envelope
	cur       *simFront // the front of the $batch being served

	// active counts handlers running. Not a WaitGroup: a dead child's last requests may still
	// arrive while the test waits, and WaitGroup forbids an Add from zero during a Wait.
	amu    sync.Mutex
	idle   *sync.Cond
	active int
}

// simFront is one loopback server in front of a simServer. Once stopped, it holds every later
// $batch unanswered.
type simFront struct {
	s       *simServer
	srv     *httptest.Server
	base    string // http://127.0.0.1:port, for --authority-host
	url     string // the versioned Graph root, for --graph-url
	stopped bool
}

// serveSim serves sim over loopback as o says. Everything the handlers read is set before the
// test server starts, so the race detector sees it ordered before them.
func serveSim(t testing.TB, sim *graphsim.Server, o simOpts) *simServer {
	t.Helper()
	s := &simServer{sim: sim, opts: o}
	s.idle = sync.NewCond(&s.amu)
	s.simFront = s.front(t)
	return s
}

// tokenSim is a graphsim Server for cfg and users that accepts simToken.
func tokenSim(cfg graphsim.Config, users []graphsim.User) *graphsim.Server {
	cfg.Token = simToken
	return graphsim.New(cfg, users)
}

// startSim serves a graphsim tenant that accepts simToken and returns it with its Graph URL,
// for --graph-url.
func startSim(t testing.TB, cfg graphsim.Config, users []graphsim.User) (*graphsim.Server, string) {
	t.Helper()
	s := serveSim(t, tokenSim(cfg, users), simOpts{})
	return s.sim, s.url
}

// front starts another loopback server in front of the same emulator and hooks.
func (s *simServer) front(t testing.TB) *simFront {
	t.Helper()
	f := &simFront{s: s}
	if s.opts.tls {
		f.srv = httptest.NewTLSServer(f)
	} else {
		f.srv = httptest.NewServer(f)
	}
	t.Cleanup(f.srv.Close)
	f.base = f.srv.URL
	f.url = f.srv.URL + "/v1.0"
	return f
}

// secretSignIn is how a run signs in to f with a client secret (or an app pool): through
// graphsim's token endpoint, at f's address.
func (f *simFront) secretSignIn() []string {
	return []string{"--authority-host", f.base + "/", "--graph-url", f.url}
}

// separate serves s at a URL of its own, for a child the test will kill. drain cannot see a
// request the dead child wrote that no handler has read yet: it may reach graphsim after drain
// returned, in the next run's share of the journal. Closing this server drops such requests
// (the network lost them) and waits for every one a handler took, so the journal is final for
// that run.
func (s *simServer) separate(t testing.TB) (url string, closeIt func()) {
	t.Helper()
	f := s.front(t)
	return f.url, f.srv.Close
}

func (f *simFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := f.s
	s.amu.Lock()
	s.active++
	s.amu.Unlock()
	defer func() {
		s.amu.Lock()
		s.active--
		s.idle.Broadcast()
		s.amu.Unlock()
	}()
	if s.opts.seen != nil {
		s.opts.seen(r)
	}
	if !strings.HasSuffix(r.URL.Path, "/$batch") {
		if s.opts.direct != nil && s.opts.direct(s, w, r) {
			return
		}
		s.sim.ServeHTTP(w, r) // sign-in, or a direct call
		return
	}
	n := s.n.Add(1)
	if s.opts.hook != nil && s.opts.hook(s, n, w, r) {
		return
	}
	if s.opts.record {
		f.serveRecorded(w, r)
		return
	}
	s.sim.ServeHTTP(w, r)
}

// serveRecorded records a $batch request's steps and serves it, one at a time, unless the
// front is stopped or opts.batches holds it.
func (f *simFront) serveRecorded(w http.ResponseWriter, r *http.Request) {
	s := f.s
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(raw))
	env := envelope{Steps: parseBatch(raw, r.Header)}

	s.mu.Lock()
	if f.stopped {
		s.mu.Unlock()
		<-r.Context().Done()
		return
	}
	env.N = len(s.envelopes) + 1
	s.envelopes = append(s.envelopes, env)
	s.cur = f
	if s.opts.batches != nil && s.opts.batches(s, env) == batchHold || f.stopped {
		// Never answered: the client gives up, or dies.
		s.mu.Unlock()
		<-r.Context().Done()
		return
	}
	s.sim.ServeHTTP(w, r)
	s.mu.Unlock()
}

// serveThen has graphsim carry out r, then calls then (which may kill the client): graphsim's
// answer is written only if then returns true. A hook uses it for a request Graph carries out
// whose answer the client may never read.
func (s *simServer) serveThen(w http.ResponseWriter, r *http.Request, then func() (answer bool)) {
	rec := httptest.NewRecorder()
	s.sim.ServeHTTP(rec, r)
	if !then() {
		return
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// stop, called by opts.batches, makes the front of the current $batch hold it and every later
// one.
func (s *simServer) stop() { s.cur.stopped = true }

// drain waits until no handler runs, so that graphsim's journal holds everything answered.
func (s *simServer) drain() {
	s.amu.Lock()
	defer s.amu.Unlock()
	for s.active > 0 {
		s.idle.Wait()
	}
}

// steps returns every $batch step recorded so far (with opts.record).
func (s *simServer) steps() []batchStep {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []batchStep
	for _, e := range s.envelopes {
		out = append(out, e.Steps...)
	}
	return out
}

// ackServer serves the URL an interrupted child posts to once SIGINT cancelled its run (see
// interruptAckEnv); f runs on each post.
func ackServer(t testing.TB, f func()) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { f() }))
	t.Cleanup(srv.Close)
	return srv.URL
}

// ---- the command in process ----

// cliResult is what one in-process run of the command produced.
type cliResult struct {
	code           int
	stdout, stderr string
}

// runCLI runs the command in-process with the given arguments and environment (only env is
// visible to it: nothing leaks in from the test process), stdin not a terminal.
func runCLI(t testing.TB, env map[string]string, stdin string, args ...string) cliResult {
	t.Helper()
	return runCLIWith(t, cliOpts{env: env, stdin: stdin}, args...)
}

// cliOpts is what runCLIWith gives the command besides its arguments.
type cliOpts struct {
	// env is the whole environment the command sees: nothing leaks in from the test process.
	env map[string]string
	// transport carries sign-in and Graph (nil: the default).
	transport http.RoundTripper
	// tty puts a terminal on standard input, where a person types stdin.
	tty   bool
	stdin string
	// now is the clock (nil: the real one), for a test that knows the names the run gives its
	// files.
	now func() time.Time
}

// runCLIWith runs the command in-process as o says.
func runCLIWith(t testing.TB, o cliOpts, args ...string) cliResult {
	t.Helper()
	if o.now == nil {
		o.now = time.Now
	}
	var stdout, stderr bytes.Buffer
	s := &sys{
		stdin:     strings.NewReader(o.stdin),
		stdout:    &stdout,
		stderr:    &stderr,
		getenv:    func(k string) string { return o.env[k] },
		now:       o.now,
		stdinTTY:  o.tty,
		transport: o.transport,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := run(ctx, append([]string{"bulkrevoke"}, args...), s)
	code := exitCode(err, &stderr)
	return cliResult{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// tokenEnv is the environment of a run that signs in with simToken.
func tokenEnv() map[string]string { return map[string]string{"BULKREVOKE_ACCESS_TOKEN": simToken} }

// cliArgs is a non-interactive run of cmd against the emulator at url, signed in with a token.
func cliArgs(cmd, url, input, reportPath string, extra ...string) []string {
	return append([]string{cmd, "--auth", "token", "--graph-url", url, "--input", input, "--report", reportPath, "--yes"}, extra...)
}

// confirmRevoke runs revoke without --yes, as at a terminal where a person types answer.
func confirmRevoke(t testing.TB, url, input, out, answer string, extra ...string) cliResult {
	t.Helper()
	args := append([]string{"revoke", "--auth", "token", "--graph-url", url, "--input", input, "--report", out}, extra...)
	return runCLIWith(t, cliOpts{env: tokenEnv(), tty: true, stdin: answer}, args...)
}

// ---- the command as a child process ----

// childProc is the program run as a real child process, found on PATH where testscript.Main put a
// copy of the test binary under the command's name. A test whose server hook signals the child
// makes it with new(childProc) before it starts the server and starts the child with start
// after: the hook holds the child from the first, with no lock of the test's own.
type childProc struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	mu             sync.Mutex
	proc           *os.Process
}

// childEnv is a child's whole environment: PATH, a home, simToken and testSecret.
func childEnv() []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.TempDir(),
		"BULKREVOKE_ACCESS_TOKEN=" + simToken,
		"AZURE_CLIENT_SECRET=" + testSecret,
	}
}

// startChild starts the program in dir with env added to childEnv's. It is killed at cleanup.
func startChild(t testing.TB, dir string, env []string, args ...string) *childProc {
	t.Helper()
	c := new(childProc)
	c.start(t, dir, env, args...)
	return c
}

// start is startChild for a child made beforehand.
func (c *childProc) start(t testing.TB, dir string, env []string, args ...string) {
	t.Helper()
	c.cmd = exec.Command("bulkrevoke", args...)
	c.cmd.Dir = dir
	c.cmd.Env = append(childEnv(), env...)
	c.cmd.Stdout, c.cmd.Stderr = &c.stdout, &c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.proc = c.cmd.Process
	c.mu.Unlock()
	t.Cleanup(func() { c.signal(os.Kill) })
}

// signal reaches the child from a server handler; the lock orders it after Start for the race
// detector, which cannot see that the request came from the child. Before start it does nothing.
func (c *childProc) signal(sig os.Signal) {
	c.mu.Lock()
	p := c.proc
	c.mu.Unlock()
	if p != nil {
		_ = p.Signal(sig)
	}
}

// wait returns the exit code, or -1 when the child was killed by a signal.
func (c *childProc) wait(t testing.TB) int {
	t.Helper()
	err := c.cmd.Wait()
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return -1
		}
		return ee.ExitCode()
	}
	t.Fatal(err)
	return 0
}

// shell runs a printed command as an admin would paste it, in dir with env added to
// childEnv's, and returns its exit code and combined output.
func shell(t testing.TB, dir, command string, env ...string) (int, string) {
	t.Helper()
	cmd := exec.Command("sh", "-c", command)
	cmd.Dir, cmd.Env = dir, append(childEnv(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String()
	}
	if err != nil {
		t.Fatalf("%s: %v", command, err)
	}
	return 0, out.String()
}

// interruptAckEnv, in the environment of a child, names a URL the child posts to once SIGINT has
// cancelled its run; see init.
const interruptAckEnv = "BULKREVOKE_TEST_INTERRUPT_ACK"

// init arms the interrupt witness in a child started with interruptAckEnv (the child is this
// test binary run as bulkrevoke, so this init runs in it too; elsewhere interruptAckEnv is unset
// and nothing happens). The program gives no sign of having seen a SIGINT until its run ends, and
// kill(2) returning says nothing about when the Go runtime hands the signal over, so a test
// that needs the signal handled before an answer arrives must hear it from the child.
func init() {
	url := os.Getenv(interruptAckEnv)
	if url == "" {
		return
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	go func() {
		<-sig
		// os/signal gives the signal to sig and to main's signal.NotifyContext at once; the
		// goroutine NotifyContext started cancels the run's context and returns. Yield until
		// it is gone, so that the ack follows the cancellation, not only the delivery.
		for notifyContextWaiting() {
			runtime.Gosched()
		}
		resp, err := http.Post(url, "text/plain", nil)
		if err != nil {
			fmt.Fprintf(os.Stderr, "interrupt witness: %v\n", err)
			return
		}
		resp.Body.Close()
	}()
}

// notifyContextWaiting reports whether a goroutine of signal.NotifyContext still waits for
// its signal. Should a later Go name it otherwise, this reports false at once and the ack merely
// races the cancellation by a round trip to the test and back.
func notifyContextWaiting() bool {
	buf := make([]byte, 64<<10)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return bytes.Contains(buf[:n], []byte("\nos/signal.NotifyContext.func1("))
		}
		buf = make([]byte, 2*len(buf))
	}
}

// interrupter sends SIGINT to a child while graphsim holds its nth $batch, and lets graphsim
// answer only once the child says the signal cancelled its run: however long the signal takes
// on a busy machine, the answer comes after it, and the envelope was in flight.
type interrupter struct {
	nth int64
	// env goes into the child's environment: the URL it acknowledges the interrupt at.
	env       string
	acked     chan struct{}
	once      sync.Once
	signalled atomic.Bool
	unacked   atomic.Bool // the child hung up without acknowledging
}

// interruptAt is an interrupter for graphsim's nth $batch request; its ack server lives as long
// as the test.
func interruptAt(t testing.TB, nth int64) *interrupter {
	t.Helper()
	in := &interrupter{nth: nth, acked: make(chan struct{})}
	in.env = interruptAckEnv + "=" + ackServer(t, func() { in.once.Do(func() { close(in.acked) }) })
	return in
}

// hook is a simOpts.hook that interrupts child.
func (in *interrupter) hook(child *childProc) func(*simServer, int64, http.ResponseWriter, *http.Request) bool {
	return func(_ *simServer, n int64, _ http.ResponseWriter, r *http.Request) bool {
		if n != in.nth {
			return false
		}
		// Read the body first: only then does net/http cancel r's context when the child
		// hangs up, which ends the wait below if the ack never comes.
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return true
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		child.signal(os.Interrupt)
		in.signalled.Store(true)
		select {
		case <-in.acked:
			return false // graphsim answers, after the cancellation
		case <-r.Context().Done():
			in.unacked.Store(true)
			return true
		}
	}
}

// resumeAsPrinted runs the resume command the summary in stderr printed ("To finish, run:") in
// dir, as an admin would paste it, and checks that it finished the job of the run reported in
// first: every row of its resumed report revoked, every user revoked exactly once over both
// runs. It returns the command's output.
func resumeAsPrinted(t testing.TB, sim *graphsim.Server, users []graphsim.User, dir, stderr, first string) string {
	t.Helper()
	command := lineAfter(t, stderr, "To finish, run:\n  ")
	if !strings.HasPrefix(command, "bulkrevoke revoke ") || !strings.Contains(command, "--resume "+shellQuote(first)) {
		t.Fatalf("resume command %q, want bulkrevoke revoke ... --resume %s", command, first)
	}
	code, out := shell(t, dir, command)
	if code != 0 {
		t.Fatalf("%s: exit %d\n%s", command, code, out)
	}
	rows := readReport(t, strings.TrimSuffix(first, ".csv")+"-resumed.csv")
	if len(rows) != len(users) {
		t.Fatalf("resumed report has %d rows for %d users", len(rows), len(users))
	}
	for _, r := range rows {
		if r.Status != batch.StatusRevoked {
			t.Errorf("resumed report, line %d: %s, want revoked", r.Line, r.Status)
		}
	}
	for _, u := range users {
		if n := len(sim.Revocations(u.UPN)); n != 1 {
			t.Errorf("%s revoked %d times over both runs, want once", u.UPN, n)
		}
	}
	return out
}

// ---- scripts ----

// scriptParams runs the scripts of dir (below testdata/script) with the commands of every
// script (reportcols, golden) and cmds, and $REPO naming the repository.
func scriptParams(t testing.TB, dir string, cmds map[string]func(ts *testscript.TestScript, neg bool, args []string)) testscript.Params {
	t.Helper()
	repo, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	all := map[string]func(ts *testscript.TestScript, neg bool, args []string){
		"reportcols": reportCols,
		"golden":     golden(repo),
	}
	for k, v := range cmds {
		all[k] = v
	}
	return testscript.Params{
		Dir:           dir,
		UpdateScripts: *update,
		Cmds:          all,
		Setup: func(env *testscript.Env) error {
			// Scripts reach the repository's sample files (the demo list) through $REPO.
			env.Setenv("REPO", repo)
			return nil
		},
	}
}

// golden makes the script command "golden NAME": the last command's standard output must
// equal testdata/golden/NAME, which -update rewrites.
func golden(repo string) func(ts *testscript.TestScript, neg bool, args []string) {
	return func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) != 1 {
			ts.Fatalf("usage: golden NAME")
		}
		path := filepath.Join(repo, "testdata", "golden", args[0])
		got := ts.ReadFile("stdout")
		if *update {
			ts.Check(os.WriteFile(path, []byte(got), 0o644))
			return
		}
		want, err := os.ReadFile(path)
		ts.Check(err)
		if got != string(want) {
			ts.Fatalf("stdout differs from %s (go test -run TestE2EScripts . -update rewrites it):\n%s", path, lineDiff(string(want), got))
		}
	}
}

// lineDiff lists the lines that differ, for a golden mismatch.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := range max(len(w), len(g)) {
		var a, c string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			c = g[i]
		}
		if a != c {
			fmt.Fprintf(&b, "line %d:\n  want %q\n  got  %q\n", i+1, a, c)
		}
	}
	return b.String()
}

// ---- reports ----

// readReport reads a complete report: one row per record, every record a row, no torn last
// line.
func readReport(t testing.TB, path string) map[int]batch.Result {
	t.Helper()
	rows, n, torn := scanReport(t, path, readData(t, path))
	if torn != "" || n != len(rows) {
		t.Fatalf("%s has %d records for %d lines (torn last line: %q)", path, n, len(rows), torn)
	}
	return rows
}

// readTornReport reads the report at path, which may end in a torn row, and returns its rows
// and the number of its complete records; see scanReport.
func readTornReport(t testing.TB, path string) (map[int]batch.Result, int) {
	t.Helper()
	rows, n, torn := scanReport(t, path, readData(t, path))
	if torn != "" {
		t.Logf("%s: torn last line %s", path, torn)
	}
	return rows, n
}

func readData(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// scanReport reads a report as raw CSV, record by record, checking that no line number appears
// twice, and returns its rows by line through report.ReadReport (what --resume reads) with the
// number of complete records and the torn last line, if any. A killed run may leave a torn
// last line, cut mid-write: without its newline, inside a quoted field, or short of fields.
// Reading stops at the first such record, and it must be the last thing in the file: an
// unparseable record with lines after it is corruption, not a crash. csv.Reader.ReadAll cannot
// do this: it returns no records at all when any of them fails to parse. ReadReport must agree
// on exactly the complete rows: a torn row is neither lost from the middle nor taken for a
// finished one.
func scanReport(t testing.TB, name string, data []byte) (map[int]batch.Result, int, string) {
	t.Helper()
	cr := csv.NewReader(bytes.NewReader(data))
	cr.FieldsPerRecord = len(report.Header)
	lines := map[int]bool{}
	n := 0
	torn := ""
	for header := true; ; header = false {
		start := cr.InputOffset()
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if end := cr.InputOffset(); err == nil && data[end-1] != '\n' {
			err = errors.New("no newline at the end")
		}
		if err != nil {
			// A cut write leaves no line break after the record's start but, at most, its own.
			tail := data[start:]
			if i := bytes.IndexByte(tail, '\n'); i >= 0 && i < len(tail)-1 {
				t.Errorf("%s: the record at byte %d is unparseable (%v) and is not the last line", name, start, err)
			} else {
				torn = fmt.Sprintf("%s (%v)", tail, err)
			}
			break
		}
		if header {
			if !slices.Equal(rec, report.Header) {
				t.Fatalf("%s: header %q, want %q", name, rec, report.Header)
			}
			continue
		}
		line, err := strconv.Atoi(rec[0])
		if err != nil {
			t.Errorf("%s: line number %q: %v", name, rec[0], err)
			continue
		}
		if lines[line] {
			t.Errorf("%s: line %d reported twice", name, line)
		}
		lines[line] = true
		n++
	}
	rows, err := report.ReadReport(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	for line := range lines {
		if _, ok := rows[line]; !ok {
			t.Errorf("%s: ReadReport lost the complete row of line %d", name, line)
		}
	}
	for line := range rows {
		if !lines[line] {
			t.Errorf("%s: ReadReport returned line %d, which is not a complete row", name, line)
		}
	}
	return rows, n, torn
}

// failRecorder is a testing.TB that records failures instead of failing, so that a test can
// check that scanReport rejects a corrupt report. Fatal ends the calling goroutine, as
// testing's does.
type failRecorder struct {
	testing.TB
	mu       sync.Mutex
	failures []string
}

func (r *failRecorder) Helper()                   {}
func (r *failRecorder) Logf(string, ...any)       {}
func (r *failRecorder) Errorf(f string, a ...any) { r.record(fmt.Sprintf(f, a...)) }
func (r *failRecorder) Fatal(a ...any)            { r.record(fmt.Sprint(a...)); runtime.Goexit() }
func (r *failRecorder) Fatalf(f string, a ...any) {
	r.record(fmt.Sprintf(f, a...))
	runtime.Goexit()
}

func (r *failRecorder) record(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures = append(r.failures, s)
}

// run calls f on its own goroutine, so that a Fatal ends f and not the test, and returns the
// failures recorded.
func (r *failRecorder) run(f func(testing.TB)) []string {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failures
}

// readDevices reads a devices report (a torn last line is ignored, as by ReadReport).
func readDevices(t testing.TB, path string) []batch.DeviceResult {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ds, err := report.ReadDevices(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return ds
}

// rowWant is what one report row must say. Messages and notes are matched as substrings;
// an empty one must be empty. attempts -1 is not checked.
type rowWant struct {
	status      batch.Status
	http        int
	code        string
	message     string
	userID, upn string
	note        string
	attempts    int
	// ids: request_id and client_request_id are filled, as for every row Graph answered; rows
	// Graph never saw have neither.
	ids bool
}

// checkRows checks a report row by row against want, which names every row.
func checkRows(t testing.TB, rows map[int]batch.Result, want map[int]rowWant) {
	t.Helper()
	if len(rows) != len(want) {
		t.Errorf("%d report rows, want %d", len(rows), len(want))
	}
	lines := make([]int, 0, len(want))
	for l := range want {
		lines = append(lines, l)
	}
	slices.Sort(lines)
	for _, l := range lines {
		w := want[l]
		r, ok := rows[l]
		if !ok {
			t.Errorf("line %d: no report row", l)
			continue
		}
		var bad []string
		check := func(what string, got, want any) {
			if got != want {
				bad = append(bad, fmt.Sprintf("%s %v, want %v", what, got, want))
			}
		}
		contains := func(what, got, want string) {
			if want == "" && got != "" || !strings.Contains(got, want) {
				bad = append(bad, fmt.Sprintf("%s %q, want %q", what, got, want))
			}
		}
		check("status", r.Status, w.status)
		check("http_status", r.HTTP, w.http)
		check("error_code", r.Code, w.code)
		contains("error_message", r.Message, w.message)
		check("user_id", r.UserID, w.userID)
		check("user_principal_name", r.UPN, w.upn)
		contains("note", r.Note, w.note)
		if w.attempts >= 0 {
			check("attempts", r.Attempts, w.attempts)
		}
		if filled := r.RequestID != "" && r.ClientRequestID != ""; filled != w.ids || !w.ids && (r.RequestID != "" || r.ClientRequestID != "") {
			bad = append(bad, fmt.Sprintf("request_id %q client_request_id %q, want filled=%v", r.RequestID, r.ClientRequestID, w.ids))
		}
		if r.At.IsZero() {
			bad = append(bad, "no completed_at")
		}
		if len(bad) > 0 {
			t.Errorf("line %d (%s): %s", l, r.Input, strings.Join(bad, "; "))
		}
	}
}

// cutReport rewrites a report as a crash would leave it: without the rows of the given input
// lines, and with its last remaining row torn in half (no newline). It returns the line of the
// torn row.
func cutReport(t testing.TB, path string, drop ...int) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(strings.TrimSuffix(string(data), "\n"), "\n")
	var kept []string
	for i, l := range lines {
		n, _ := strconv.Atoi(strings.SplitN(l, ",", 2)[0])
		if i == 0 || !slices.Contains(drop, n) {
			kept = append(kept, l)
		}
	}
	last := strings.TrimSuffix(kept[len(kept)-1], "\n")
	torn, _ := strconv.Atoi(strings.SplitN(last, ",", 2)[0])
	kept[len(kept)-1] = last[:len(last)/2]
	if err := os.WriteFile(path, []byte(strings.Join(kept, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	return torn
}

// countStatuses counts a report's rows by status.
func countStatuses(rows map[int]batch.Result) map[batch.Status]int {
	m := map[batch.Status]int{}
	for _, r := range rows {
		m[r.Status]++
	}
	return m
}

// isTrue and isFalse read a report's optional yes/no cell: nil, its cell was empty, is neither.
func isTrue(b *bool) bool  { return b != nil && *b }
func isFalse(b *bool) bool { return b != nil && !*b }

// boolText prints an optional yes/no cell for a failure message.
func boolText(b *bool) string {
	if b == nil {
		return "nil"
	}
	return strconv.FormatBool(*b)
}

// ---- what graphsim was sent ----

// batchStep is one $batch step graphsim received, with who sent it.
type batchStep struct {
	App, Tenant string // the appid and tid claims of the bearer token ("" for the fixed test token)
	Method, URL string
	Headers     map[string]string
}

func (s batchStep) revoke() bool {
	return s.Method == "POST" && strings.HasSuffix(strings.ToLower(s.URL), "/revokesigninsessions")
}

// envelope is one $batch request as serveSim's recorder saw it, numbered from 1.
type envelope struct {
	N     int
	Steps []batchStep
}

func (e envelope) revokes() int {
	n := 0
	for _, s := range e.Steps {
		if s.revoke() {
			n++
		}
	}
	return n
}

// batchAction is what simOpts.batches makes of a $batch: graphsim serves it, or it is held
// unanswered until its client goes away.
type batchAction int

const (
	batchServe batchAction = iota
	batchHold
)

// parseBatch reads the steps of a $batch body (gzipped as the SDK sends it).
func parseBatch(raw []byte, h http.Header) []batchStep {
	body := raw
	if strings.EqualFold(h.Get("Content-Encoding"), "gzip") {
		if gz, err := gzip.NewReader(bytes.NewReader(raw)); err == nil {
			if b, err := io.ReadAll(gz); err == nil {
				body = b
			}
		}
	}
	var req struct {
		Requests []struct {
			Method  string            `json:"method"`
			URL     string            `json:"url"`
			Headers map[string]string `json:"headers"`
		} `json:"requests"`
	}
	_ = json.Unmarshal(body, &req)
	app, tenant := tokenClaims(h.Get("Authorization"))
	steps := make([]batchStep, len(req.Requests))
	for i, s := range req.Requests {
		steps[i] = batchStep{App: app, Tenant: tenant, Method: strings.ToUpper(s.Method), URL: s.URL, Headers: s.Headers}
	}
	return steps
}

// tokenClaims reads the appid and tid of a bearer token graphsim minted.
func tokenClaims(authz string) (app, tenant string) {
	_, tok, _ := strings.Cut(authz, " ")
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return "", ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return "", ""
	}
	var c struct {
		AppID string `json:"appid"`
		TID   string `json:"tid"`
	}
	_ = json.Unmarshal(payload, &c)
	return strings.ToLower(c.AppID), strings.ToLower(c.TID)
}

// ---- the tenants of many tests ----

// memberList is a tenant of n plain members and an input file naming them, one per line.
func memberList(t testing.TB, n int) ([]graphsim.User, string) {
	t.Helper()
	users := make([]graphsim.User, n)
	var b strings.Builder
	b.WriteString("userPrincipalName\n")
	for i := range users {
		users[i] = graphsim.User{
			ID:  fmt.Sprintf("%08x-0000-4000-8000-%012x", i+1, i+1),
			UPN: fmt.Sprintf("user%03d@contoso.com", i), UserType: "Member", AccountEnabled: true,
		}
		b.WriteString(users[i].UPN + "\n")
	}
	return users, writeFile(t, "users.csv", b.String())
}

// The object ids of mixedTenant's users, named for the tests that refer to them.
const (
	adeleID  = "11111111-1111-4111-8111-111111111111"
	guestID  = "22222222-2222-4222-8222-222222222222"
	svcID    = "33333333-3333-4333-8333-333333333333"
	obrienID = "44444444-4444-4444-8444-444444444444"
	adminID  = "55555555-5555-4555-8555-555555555555"
	formerID = "aaaaaaaa-6666-4666-8666-666666666666" // letters, so an upper-case copy is another spelling
	hashID   = "77777777-7777-4777-8777-777777777777"
	caretID  = "88888888-8888-4888-8888-888888888888"

	guestUPN = "megan_fabrikam.com#EXT#@contoso.onmicrosoft.com"
)

// mixedTenant has one user of every kind the tool must address correctly.
func mixedTenant() []graphsim.User {
	return []graphsim.User{
		{ID: adeleID, UPN: "adele@contoso.com", DisplayName: "Adele Vance", UserType: "Member", AccountEnabled: true},
		{ID: guestID, UPN: guestUPN, DisplayName: "Megan (Fabrikam)", UserType: "Guest", AccountEnabled: true},
		{ID: svcID, UPN: "$svc@contoso.com", DisplayName: "Service", UserType: "Member", AccountEnabled: true},
		{ID: obrienID, UPN: "o'brien@contoso.com", DisplayName: "Siobhan O'Brien", UserType: "Member", AccountEnabled: true},
		{ID: adminID, UPN: "admin@contoso.com", DisplayName: "Global Admin", UserType: "Member", AccountEnabled: true, Protected: true},
		{ID: formerID, UPN: "former@contoso.com", DisplayName: "Former Employee", UserType: "Member", AccountEnabled: false},
		{ID: hashID, UPN: "x#y@contoso.com", DisplayName: "Hash", UserType: "Member", AccountEnabled: true},
		{ID: caretID, UPN: "a^b~c@contoso.com", DisplayName: "Caret", UserType: "Member", AccountEnabled: true},
	}
}

// upnList is an input naming users by UPN under a header.
func upnList(users []graphsim.User) string {
	var b strings.Builder
	b.WriteString("userPrincipalName\n")
	for _, u := range users {
		b.WriteString(u.UPN + "\n")
	}
	return b.String()
}

// journalKinds is a user's journal as "block,reset,revoke".
func journalKinds(sim *graphsim.Server, id string) string {
	var kinds []string
	for _, ev := range sim.Events(id) {
		kinds = append(kinds, ev.Kind.String())
	}
	return strings.Join(kinds, ",")
}

// checkRevoked asserts how many revokes landed for each user.
func checkRevoked(t testing.TB, sim *graphsim.Server, want map[string]int) {
	t.Helper()
	for key, n := range want {
		if got := len(sim.Revocations(key)); got != n {
			t.Errorf("%s revoked %d times, want %d", key, got, n)
		}
	}
}

// ---- files and output ----

// writeFile writes content to name in a fresh temporary directory and returns its path.
func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// noSecrets fails when any of texts holds the token or the secret.
func noSecrets(t testing.TB, what string, texts ...string) {
	t.Helper()
	for _, s := range texts {
		for _, secret := range []string{simToken, testSecret} {
			if strings.Contains(s, secret) {
				t.Errorf("%s contains a secret (%.8s...)", what, secret)
			}
		}
	}
}

// containsAll fails for each of wants that text (what, in the message) lacks.
func containsAll(t testing.TB, what, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, text)
		}
	}
}

// lineAfter is the rest of the line after marker in stderr.
func lineAfter(t testing.TB, stderr, marker string) string {
	t.Helper()
	_, after, ok := strings.Cut(stderr, marker)
	if !ok {
		t.Fatalf("no %q in stderr:\n%s", marker, stderr)
	}
	line, _, _ := strings.Cut(after, "\n")
	return line
}

// noFile fails unless path does not exist.
func noFile(t testing.TB, path string) {
	t.Helper()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s: %v; a run that never started must leave no report", path, err)
	}
}

// noFiles fails unless dir is empty.
func noFiles(t testing.TB, dir string) {
	t.Helper()
	left, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range left {
		t.Errorf("%s left behind in %s", e.Name(), dir)
	}
}

// resumeRun runs the command again with --resume first into second, against the server a
// killed run used, wants exit code want and a row for each of the n users, and returns the rows.
func resumeRun(t *testing.T, rs *simServer, input, first, second string, want, n int, flags ...string) map[int]batch.Result {
	t.Helper()
	res := runCLI(t, tokenEnv(), "", cliArgs("revoke", rs.url, input, second, append(flags, "--resume", first)...)...)
	if res.code != want {
		t.Fatalf("resumed run: exit %d, want %d\n%s", res.code, want, res.stderr)
	}
	rs.drain()
	rows := readReport(t, second)
	if len(rows) != n {
		t.Fatalf("the resumed report has %d rows, want %d", len(rows), n)
	}
	return rows
}

// cloudUsers is a tenant of n enabled cloud users (none synced from AD) generated from seed,
// named prefix000@contoso.onmicrosoft.com, prefix001@..., in order.
func cloudUsers(n int, seed int64, prefix string) []graphsim.User {
	users := graphsim.GenerateUsers(n, seed)
	for i := range users {
		users[i].AccountEnabled, users[i].OnPremisesSyncEnabled = true, false
		users[i].UPN = fmt.Sprintf("%s%03d@contoso.onmicrosoft.com", prefix, i)
	}
	return users
}

// killAfterCount starts the command (args(url) against graphsim serving users) as a child in
// dir and kills it (SIGKILL) right after Graph carried out the $batch request that brought
// the count of marker in the requests' bodies to n: Graph made the changes, and their answer
// dies with the process. It fails unless the child died so, and returns the server, drained,
// for the resumed run.
func killAfterCount(t *testing.T, cfg graphsim.Config, users []graphsim.User, dir, marker string, n int64, args func(url string) []string) *simServer {
	t.Helper()
	var (
		mu    sync.Mutex
		child *childProc
		seen  atomic.Int64
		fired atomic.Bool
	)
	rs := serveSimHook(t, cfg, users, func(rs *simServer, _ int64, w http.ResponseWriter, r *http.Request) bool {
		if fired.Load() {
			return false
		}
		body, err := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if err != nil {
			return false
		}
		k := int64(bytes.Count(body, []byte(marker)))
		if k == 0 || seen.Add(k) < n || !fired.CompareAndSwap(false, true) {
			return false
		}
		rs.sim.ServeHTTP(httptest.NewRecorder(), r)
		mu.Lock()
		c := child
		mu.Unlock()
		c.signal(os.Kill)
		return true
	})
	childURL, closeChild := rs.separate(t)
	mu.Lock()
	child = startChild(t, dir, nil, args(childURL)...)
	mu.Unlock()
	if code := child.wait(t); code != -1 || !fired.Load() {
		t.Fatalf("first run exited %d (kill fired: %v), want killed\n%s", code, fired.Load(), child.stderr.String())
	}
	closeChild()
	rs.drain()
	return rs
}

// serveSimHook serves graphsim in process with a hook on each $batch (simOpts.hook): the
// short form of serveSim for the tests that steer or kill a run from inside an answer.
func serveSimHook(t testing.TB, cfg graphsim.Config, users []graphsim.User, hook func(*simServer, int64, http.ResponseWriter, *http.Request) bool) *simServer {
	return serveSim(t, tokenSim(cfg, users), simOpts{hook: hook})
}
