package main

// What a run tells the responder and the playbook to do next (issue 19, items 1, 2, 3, 5 and
// the small ones of 8): the summary's next steps per class, the retry list and its command,
// --summary-json for every exit code, dry runs that say they are, and hints that match the
// error. Each runs the command against graphsim over loopback HTTP.

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulkrevoke/bulkrevoke/batch"
	"github.com/bulkrevoke/bulkrevoke/graphsim"
	"github.com/bulkrevoke/bulkrevoke/report"
)

// decodeDoc decodes a --summary-json document, refusing fields the README does not name.
func decodeDoc(t *testing.T, data []byte) report.Doc {
	t.Helper()
	var d report.Doc
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("--summary-json: %v\n%s", err, data)
	}
	if dec.More() {
		t.Fatalf("--summary-json holds more than one object:\n%s", data)
	}
	return d
}

// checkDoc checks a document against the process's exit code and the report it names: one
// count per status, the report's rows by status.
func checkDoc(t *testing.T, d report.Doc, code int, cmd, reportPath string) {
	t.Helper()
	if d.ExitCode != code || d.ExitMeaning == "" || d.Command != cmd || d.Version == "" ||
		d.Started.IsZero() || d.Finished.Before(d.Started) || d.ElapsedSeconds < 0 {
		t.Errorf("exit_code %d (%q), command %q, version %q, started %v, finished %v; want exit %d of %s",
			d.ExitCode, d.ExitMeaning, d.Command, d.Version, d.Started, d.Finished, code, cmd)
	}
	for _, st := range report.Statuses() {
		if _, ok := d.Counts[string(st)]; !ok {
			t.Errorf("counts lack %s", st)
		}
	}
	if reportPath == "" {
		if d.Reports.Report != "" || d.Rows != 0 {
			t.Errorf("a run that never started names report %q with %d rows", d.Reports.Report, d.Rows)
		}
		return
	}
	if d.Reports.Report != reportPath {
		t.Errorf("reports.report %q, want %q", d.Reports.Report, reportPath)
	}
	want := map[string]int{}
	rows := readReport(t, reportPath)
	for _, r := range rows {
		want[string(r.Status)]++
	}
	for st, n := range d.Counts {
		if n != want[st] {
			t.Errorf("counts[%s] = %d, the report has %d", st, n, want[st])
		}
	}
	if d.Rows != len(rows) {
		t.Errorf("rows %d, the report has %d", d.Rows, len(rows))
	}
}

const flakyID = "99999999-9999-4999-8999-999999999999"

// TestNextStepsSummary: a run that ends with exit 2 says, after the counts, what each class of
// rows needs: denied rows the role the refused revoke needs (the row keeps Graph's message, the
// note gets the fix), missing users their tenant and spelling, invalid rows their lines, failed
// rows the command that runs them again. Five users at most, and how many more.
func TestNextStepsSummary(t *testing.T) {
	t.Parallel()
	users := append(mixedTenant(), graphsim.User{ID: flakyID, UPN: "flaky@contoso.com", UserType: "Member", AccountEnabled: true, Failing: 500})
	_, url := startSim(t, graphsim.Config{Seed: 19}, users)
	list := "userPrincipalName\nadele@contoso.com\nadmin@contoso.com\n"
	for _, g := range []string{"ghost1", "ghost2", "ghost3", "ghost4", "ghost5", "ghost6", "ghost7"} {
		list += g + "@contoso.com\n" // lines 4 to 10
	}
	list += "not an email\nbob+tag@contoso.com\nflaky@contoso.com\no'brien@contoso.com\n"
	input := writeFile(t, "users.csv", list)
	out := filepath.Join(filepath.Dir(input), "out.csv")
	res := runCLI(t, tokenEnv(), "", cliArgs("revoke", url, input, out, "--max-attempts", "2")...)
	if res.code != exitIncomplete {
		t.Fatalf("exit %d, want 2\n%s", res.code, res.stderr)
	}
	retry := report.RetryPath(out)
	want := []string{
		"  revoked        2\n",
		"Next steps:\n",
		"  denied 1 (admin@contoso.com): Graph refuses this for an admin the app may not touch: give the app's service principal the Privileged Authentication Administrator (or Global Administrator) Entra role; if Graph refuses every user, grant User.RevokeSessions.All with admin consent.\n",
		"  not_found 7 (ghost1@contoso.com, ghost2@contoso.com, ghost3@contoso.com, ghost4@contoso.com, ghost5@contoso.com and 2 more): Graph knows no such user in ",
		"  invalid 2 (lines 11, 12): not a userPrincipalName or object id",
		"  failed 1 (flaky@contoso.com): Graph kept failing for them (error_message has its last answer): run them again from " + retry,
		"To run the failed and not attempted rows again, run:\n  bulkrevoke revoke --input " + retry + " --report " +
			strings.TrimSuffix(out, ".csv") + "-retry.csv --graph-url " + url + " --auth token --yes\n",
		"Elapsed ",
	}
	at := 0
	for _, w := range want {
		i := strings.Index(res.stderr[at:], w)
		if i < 0 {
			t.Fatalf("the summary lacks, in order, %q:\n%s", w, res.stderr)
		}
		at += i + len(w)
	}
	rows := readReport(t, out)
	if r := rows[3]; r.Status != batch.StatusDenied || r.Code != "Authorization_RequestDenied" ||
		r.Message != "Insufficient privileges to complete the operation." || !strings.Contains(r.Note, "Privileged Authentication Administrator") {
		t.Errorf("the admin's row: %s %s %q, note %q; want Graph's message kept and the fix in the note", r.Status, r.Code, r.Message, r.Note)
	}
	for _, l := range []int{2, 4, 11, 13} {
		if rows[l].Status != batch.StatusDenied && rows[l].Note != "" && strings.Contains(rows[l].Note, "Privileged") {
			t.Errorf("line %d (%s) got a denied row's note: %q", l, rows[l].Status, rows[l].Note)
		}
	}

	t.Run("block-sign-in", func(t *testing.T) {
		// The admin's block is refused and its revoke denied: the row is denied, with the role in
		// block_error and in the note; an ordinary user is blocked and needs nothing.
		input := writeFile(t, "users.csv", "userPrincipalName\nadele@contoso.com\nadmin@contoso.com\n")
		out := filepath.Join(filepath.Dir(input), "out.csv")
		res := runCLI(t, tokenEnv(), "", cliArgs("revoke", url, input, out, "--block-sign-in")...)
		if res.code != exitIncomplete || !strings.Contains(res.stderr, "Next steps:\n  denied 1 (admin@contoso.com): Graph refuses this for an admin") ||
			strings.Contains(res.stderr, "not_blocked") {
			t.Fatalf("exit %d, want 2 with the admin denied and no block class\n%s", res.code, res.stderr)
		}
		r := readReport(t, out)[3]
		if r.Status != batch.StatusDenied || !isFalse(r.Blocked) || !strings.Contains(r.BlockError, "Privileged Authentication Administrator") ||
			!strings.Contains(r.Note, "Privileged Authentication Administrator") {
			t.Errorf("the admin's row: %s blocked=%s %q note %q", r.Status, boolText(r.Blocked), r.BlockError, r.Note)
		}
	})
}

// TestRetryList: the rows worth another run (failed; not attempted, cut off by --deadline) are
// written to <report>.retry.csv in the format --input reads, with the list's own tenant cells,
// and the command the summary prints, run as printed, finishes the job without sending anyone
// twice. A run with nothing to retry writes none and leaves an older one alone; one in the way
// of a new run is refused before anything is sent, unless --force.
func TestRetryList(t *testing.T) {
	t.Parallel()
	t.Run("failed", func(t *testing.T) {
		t.Parallel()
		users, input := memberList(t, 30)
		dir := filepath.Dir(input)
		// The first envelope fails as a whole with a 500, and one attempt is all a user gets.
		var armed atomic.Bool
		armed.Store(true)
		rs := serveSim(t, tokenSim(graphsim.Config{Seed: 2}, users), simOpts{hook: func(rs *simServer, n int64, w http.ResponseWriter, r *http.Request) bool {
			if armed.Load() && n == 1 {
				w.WriteHeader(http.StatusInternalServerError)
				return true
			}
			return false
		}})
		first := filepath.Join(dir, "first.csv")
		res := runCLI(t, tokenEnv(), "", cliArgs("revoke", rs.url, input, first, "--concurrency", "1", "--batch-size", "5", "--max-attempts", "1")...)
		if res.code != exitIncomplete {
			t.Fatalf("exit %d, want 2\n%s", res.code, res.stderr)
		}
		rows := readReport(t, first)
		var failed []string
		for l := 2; l <= len(users)+1; l++ {
			if rows[l].Status == batch.StatusFailed {
				failed = append(failed, rows[l].Input)
			}
		}
		if len(failed) != 5 {
			t.Fatalf("%d failed rows, want the first envelope's 5", len(failed))
		}
		data, err := os.ReadFile(report.RetryPath(first))
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
		if got[0] != "userPrincipalName" || !slices.Equal(slices.Sorted(slices.Values(got[1:])), failed) {
			t.Errorf("retry list:\n%s\nwant the failed users %v", data, failed)
		}
		command := lineAfter(t, res.stderr, "To run the failed and not attempted rows again, run:"+"\n  ")
		armed.Store(false)
		code, out := shell(t, dir, command)
		if code != exitOK || strings.Contains(out, "Next steps") {
			t.Fatalf("%s: exit %d\n%s", command, code, out)
		}
		rs.drain()
		again := readReport(t, filepath.Join(dir, "first-retry.csv"))
		if len(again) != len(failed) {
			t.Errorf("the retry run reported %d rows for %d", len(again), len(failed))
		}
		for _, r := range again {
			if r.Status != batch.StatusRevoked {
				t.Errorf("retry run, line %d (%s): %s", r.Line, r.Input, r.Status)
			}
		}
		for _, u := range users {
			if n := len(rs.sim.Revocations(u.UPN)); n != 1 {
				t.Errorf("%s revoked %d times over both runs, want once", u.UPN, n)
			}
		}
		noFile(t, report.RetryPath(filepath.Join(dir, "first-retry.csv")))
	})

	t.Run("deadline and tenants", func(t *testing.T) {
		t.Parallel()
		const tenant, app = "c0c0c0c0-1111-4222-8333-444455556666", "a9900000-0000-4000-8000-000000000019"
		users := graphsim.GenerateUsers(40, 19)
		sim, url := startSim(t, graphsim.Config{Seed: 19, TenantID: tenant, AppID: app,
			Latency: graphsim.Uniform{Min: 300 * time.Millisecond, Max: 300 * time.Millisecond}}, users)
		token := sim.IssueToken(app, tenant)
		// The list names its tenant in capitals, an id the reader takes in lower case.
		list := "userPrincipalName,tenant\n"
		for _, u := range users {
			list += u.UPN + "," + strings.ToUpper(tenant) + "\n"
		}
		input := writeFile(t, "users.csv", list)
		dir := filepath.Dir(input)
		first := filepath.Join(dir, "first.csv")
		res := runCLI(t, map[string]string{"BULKREVOKE_ACCESS_TOKEN": token}, "",
			cliArgs("revoke", url, input, first, "--deadline", "1s", "--concurrency", "1", "--batch-size", "5")...)
		if res.code != exitDeadline {
			t.Fatalf("exit %d, want 3\n%s", res.code, res.stderr)
		}
		var stopped []string
		for _, r := range readReport(t, first) {
			if r.Status == batch.StatusNotAttempted {
				stopped = append(stopped, r.Input+","+tenant)
			}
		}
		data, err := os.ReadFile(report.RetryPath(first))
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
		slices.Sort(stopped)
		if len(stopped) == 0 || got[0] != "userPrincipalName,tenant" || !slices.Equal(slices.Sorted(slices.Values(got[1:])), stopped) {
			t.Fatalf("retry list:\n%s\nwant the %d rows the deadline stopped", data, len(stopped))
		}
		if lineAfter(t, res.stderr, "To finish, run:"+"\n  ") == "" {
			t.Error("no --resume command beside the retry command")
		}
		command := lineAfter(t, res.stderr, "To run the failed and not attempted rows again, run:"+"\n  ")
		code, out := shell(t, dir, command, "BULKREVOKE_ACCESS_TOKEN="+token)
		if code != exitOK {
			t.Fatalf("%s: exit %d\n%s", command, code, out)
		}
		for _, r := range readReport(t, filepath.Join(dir, "first-retry.csv")) {
			if r.Status != batch.StatusRevoked || !strings.EqualFold(r.TenantID, tenant) {
				t.Errorf("retry run, line %d (%s): %s in %q", r.Line, r.Input, r.Status, r.TenantID)
			}
		}
		for _, u := range users {
			if n := len(sim.Revocations(u.UPN)); n != 1 {
				t.Errorf("%s revoked %d times over both runs, want once", u.UPN, n)
			}
		}
	})

	t.Run("nothing to retry", func(t *testing.T) {
		t.Parallel()
		users, input := memberList(t, 5)
		dir := filepath.Dir(input)
		sim, url := startSim(t, graphsim.Config{Seed: 3}, users)
		out := filepath.Join(dir, "out.csv")
		old := report.RetryPath(out)
		const before = "userPrincipalName\nsomeone@contoso.com\n"
		if err := os.WriteFile(old, []byte(before), 0o600); err != nil {
			t.Fatal(err)
		}
		res := runCLI(t, tokenEnv(), "", cliArgs("revoke", url, input, out)...)
		if res.code != exitFailure || !strings.Contains(res.stderr, "bulkrevoke: create retry list: "+old+" already exists") ||
			!strings.Contains(res.stderr, "hint: choose another --report path, or add --force to overwrite") {
			t.Fatalf("exit %d, want 1: a retry list in the way\n%s", res.code, res.stderr)
		}
		noFile(t, out)
		if sim.Stats().Requests != 0 {
			t.Fatal("a refused run sent requests")
		}
		res = runCLI(t, tokenEnv(), "", cliArgs("revoke", url, input, out, "--force")...)
		if res.code != exitOK || strings.Contains(res.stderr, "Next steps") || strings.Contains(res.stderr, "retry.csv") {
			t.Fatalf("exit %d, want 0 and no next steps\n%s", res.code, res.stderr)
		}
		if data, _ := os.ReadFile(old); string(data) != before {
			t.Errorf("a run with nothing to retry changed the retry list already there: %q", data)
		}
		// The retry list of one report is the input of the next, not of the report it goes with.
		res = runCLI(t, tokenEnv(), "", cliArgs("revoke", url, old, out, "--force")...)
		if res.code != exitFailure || !strings.Contains(res.stderr, "would write "+old+", which is the user list (--input)") {
			t.Errorf("--input %s --report %s: exit %d\n%s", old, out, res.code, res.stderr)
		}
	})
}

// TestSummaryJSON: --summary-json writes one object for every run past its flags, whatever its
// exit code (0, 1, 2, 3 and, as a process interrupted by SIGINT, 130): the exit code main
// returns, the report's rows by status, the next steps, the files and the commands.
func TestSummaryJSON(t *testing.T) {
	t.Parallel()
	users, input := memberList(t, 60)
	dir := filepath.Dir(input)
	_, url := startSim(t, graphsim.Config{Seed: 4}, users)

	t.Run("0 to stdout", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "ok.csv")
		res := runCLI(t, tokenEnv(), "", cliArgs("revoke", url, input, out, "--summary-json", "-")...)
		if res.code != exitOK {
			t.Fatalf("exit %d\n%s", res.code, res.stderr)
		}
		d := decodeDoc(t, []byte(res.stdout))
		checkDoc(t, d, exitOK, "revoke", out)
		if d.Counts["revoked"] != len(users) || d.NotDone != 0 || len(d.NextSteps) != 0 || d.RetryCommand != "" ||
			d.ResumeCommand != "" || d.Error != "" || d.Reports.Retry != "" || d.DryRun {
			t.Errorf("a run that revoked everyone: %+v", d)
		}
		noSecrets(t, "--summary-json", res.stdout)
	})

	t.Run("1", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "exists.csv")
		if err := os.WriteFile(out, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		j := filepath.Join(t.TempDir(), "summary.json")
		res := runCLI(t, tokenEnv(), "", cliArgs("revoke", url, input, out, "--summary-json", j)...)
		data, err := os.ReadFile(j)
		if res.code != exitFailure || err != nil {
			t.Fatalf("exit %d, %v\n%s", res.code, err, res.stderr)
		}
		d := decodeDoc(t, data)
		checkDoc(t, d, exitFailure, "revoke", "")
		if !strings.Contains(d.Error, "already exists") || !strings.Contains(d.Hint, "--force") {
			t.Errorf("error %q, hint %q", d.Error, d.Hint)
		}
	})

	t.Run("2", func(t *testing.T) {
		_, url := startSim(t, graphsim.Config{Seed: 5}, mixedTenant())
		input := writeFile(t, "mixed.csv", "userPrincipalName\nadele@contoso.com\nadmin@contoso.com\nghost@contoso.com\n")
		out := filepath.Join(filepath.Dir(input), "mixed-report.csv")
		j := filepath.Join(filepath.Dir(input), "summary.json")
		res := runCLI(t, tokenEnv(), "", cliArgs("validate", url, input, out, "--summary-json", j)...)
		data, err := os.ReadFile(j)
		if res.code != exitIncomplete || err != nil {
			t.Fatalf("exit %d, %v\n%s", res.code, err, res.stderr)
		}
		d := decodeDoc(t, data)
		checkDoc(t, d, exitIncomplete, "validate", out)
		var classes []string
		for _, ns := range d.NextSteps {
			classes = append(classes, ns.Status)
		}
		if !d.DryRun || d.NotDone != 1 || !slices.Equal(classes, []string{"not_found"}) || d.NextSteps[0].Users[0] != "ghost@contoso.com" ||
			d.NextSteps[0].Lines[0] != 4 || d.Error != "" {
			t.Errorf("a dry run with one missing user: %+v", d)
		}
	})

	t.Run("3", func(t *testing.T) {
		users, input := memberList(t, 60)
		_, url := startSim(t, graphsim.Config{Seed: 6, Latency: graphsim.Uniform{Min: 300 * time.Millisecond, Max: 300 * time.Millisecond}}, users)
		out := filepath.Join(filepath.Dir(input), "late.csv")
		j := filepath.Join(filepath.Dir(input), "summary.json")
		res := runCLI(t, tokenEnv(), "", cliArgs("revoke", url, input, out, "--summary-json", j,
			"--deadline", "1s", "--concurrency", "1", "--batch-size", "5")...)
		data, err := os.ReadFile(j)
		if res.code != exitDeadline || err != nil {
			t.Fatalf("exit %d, %v\n%s", res.code, err, res.stderr)
		}
		d := decodeDoc(t, data)
		checkDoc(t, d, exitDeadline, "revoke", out)
		if d.Counts["not_attempted"] == 0 || d.ResumeCommand == "" || d.Reports.Retry != report.RetryPath(out) ||
			!strings.Contains(d.RetryCommand, "--input "+report.RetryPath(out)) || d.Error != "" {
			t.Errorf("a run the deadline stopped: %+v", d)
		}
	})

	t.Run("130", func(t *testing.T) {
		// As TestRelInterrupt: SIGINT while the second envelope is in flight, Graph answering it
		// once the child says the signal cancelled its run.
		child := new(childProc)
		in := interruptAt(t, 2)
		rs := serveSim(t, tokenSim(graphsim.Config{Seed: 7}, users), simOpts{hook: in.hook(child)})
		out := filepath.Join(t.TempDir(), "stopped.csv")
		j := filepath.Join(filepath.Dir(out), "summary.json")
		child.start(t, dir, []string{in.env}, cliArgs("revoke", rs.url, input, out, "--concurrency", "1", "--batch-size", "10", "--summary-json", j)...)
		code := child.wait(t)
		rs.drain()
		if code != exitInterrupted {
			t.Fatalf("exit %d, want 130\n%s", code, child.stderr.String())
		}
		data, err := os.ReadFile(j)
		if err != nil {
			t.Fatal(err)
		}
		d := decodeDoc(t, data)
		checkDoc(t, d, exitInterrupted, "revoke", out)
		if d.Counts["revoked"] == 0 || d.Counts["not_attempted"] == 0 || d.ResumeCommand == "" || d.Error != "" {
			t.Errorf("an interrupted run: %+v", d)
		}
	})

	t.Run("refused before the run", func(t *testing.T) {
		// Usage errors are not past the flags: nothing is written. A --summary-json the run
		// could not write at the end is refused at the start.
		j := filepath.Join(t.TempDir(), "s.json")
		res := runCLI(t, tokenEnv(), "", cliArgs("revoke", url, input, filepath.Join(t.TempDir(), "r.csv"), "--summary-json", j, "--batch-size", "0")...)
		if res.code != exitFailure {
			t.Fatalf("exit %d\n%s", res.code, res.stderr)
		}
		noFile(t, j)
		res = runCLI(t, tokenEnv(), "", cliArgs("revoke", url, input, filepath.Join(t.TempDir(), "r.csv"), "--summary-json", filepath.Join(dir, "no", "s.json"))...)
		if res.code != exitFailure || !strings.Contains(res.stderr, "directory "+filepath.Join(dir, "no")+" does not exist") ||
			!strings.Contains(res.stderr, "hint: give --summary-json a file in an existing directory") {
			t.Errorf("exit %d\n%s", res.code, res.stderr)
		}
		res = runCLI(t, tokenEnv(), "", cliArgs("revoke", url, input, filepath.Join(t.TempDir(), "r.csv"), "--summary-json", input)...)
		if res.code != exitFailure || !strings.Contains(res.stderr, "--summary-json must not be the user list (--input)") {
			t.Errorf("--summary-json is the input: exit %d\n%s", res.code, res.stderr)
		}
	})
}

// TestHintsMatch: a report path error hints --force only when the file is there and --force was
// not given; validate's help has no --dry-run; the demo's elapsed time is labelled simulated.
func TestHintsMatch(t *testing.T) {
	t.Parallel()
	users, input := memberList(t, 3)
	_, url := startSim(t, graphsim.Config{Seed: 8}, users)
	dir := t.TempDir()
	exists := filepath.Join(dir, "exists.csv")
	if err := os.WriteFile(exists, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	locked := filepath.Join(dir, "locked")
	if err := os.Mkdir(locked, 0o500); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, report string
		extra        []string
		hint         string
	}{
		{"exists", exists, nil, "hint: choose another --report path, or add --force to overwrite\n"},
		{"a directory, with --force", dir, []string{"--force"}, "hint: choose another --report path\n"},
		{"missing directory", filepath.Join(dir, "no", "r.csv"), nil, "hint: create the directory first, or choose another --report path\n"},
		{"missing directory, with --force", filepath.Join(dir, "no", "r.csv"), []string{"--force"}, "hint: create the directory first, or choose another --report path\n"},
		{"permission denied", filepath.Join(locked, "r.csv"), nil, "hint: choose a --report path in a directory you may write to\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "permission denied" && os.Geteuid() == 0 {
				t.Skip("root writes anywhere")
			}
			res := runCLI(t, tokenEnv(), "", cliArgs("revoke", url, input, tc.report, tc.extra...)...)
			if res.code != exitFailure || !strings.HasSuffix(res.stderr, tc.hint) {
				t.Errorf("exit %d, want 1 ending %q\n%s", res.code, tc.hint, res.stderr)
			}
		})
	}

	help := runCLI(t, nil, "", "validate", "--help")
	if _, opts, _ := strings.Cut(help.stdout, "OPTIONS:"); strings.Contains(opts, "--dry-run") || !strings.Contains(opts, "--input") {
		t.Errorf("validate --help:\n%s", help.stdout)
	}
	if help := runCLI(t, nil, "", "revoke", "--help"); !strings.Contains(help.stdout, "--dry-run") {
		t.Errorf("revoke --help lost --dry-run:\n%s", help.stdout)
	}

	demo := runCLI(t, nil, "", "revoke", "--simulate", "--input", "testdata/demo-users.csv", "--report", filepath.Join(dir, "demo.csv"), "--yes")
	if demo.code != exitIncomplete || !strings.Contains(demo.stderr, "of simulated time (") ||
		!strings.Contains(demo.stderr, " in all (simulated time).\n") {
		t.Errorf("the demo: exit %d, elapsed and waits not labelled simulated\n%s", demo.code, demo.stderr)
	}
}
