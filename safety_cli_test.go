package main

// A run that keeps to its limits (issue 16, items 4 to 6): --deadline stops it as Ctrl-C does
// and exits 3; with --auth token a row goes only to the token's own tenant; a report never
// replaces a file the run reads. Each runs the command against graphsim over loopback HTTP.

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bulkrevoke/bulkrevoke/batch"
	"github.com/bulkrevoke/bulkrevoke/graphsim"
	"github.com/bulkrevoke/bulkrevoke/report"
)

// TestSafetyDeadline: Graph answers every envelope after 400 ms and one envelope is in flight
// at a time, so 400 users take at least 8 s; --deadline 2s stops the run in the middle. Every
// row is reported exactly once (revoked, or not_attempted for the users never sent), the exit
// code is 3, the summary says the deadline stopped it, and the --resume command it prints, run
// as printed, revokes the rest: every user is revoked exactly once over both runs. validate
// stops the same way.
func TestSafetyDeadline(t *testing.T) {
	t.Parallel()
	users, input := memberList(t, 400)
	dir := filepath.Dir(input)
	sim, url := startSim(t, graphsim.Config{Seed: 16, Latency: graphsim.Uniform{Min: 400 * time.Millisecond, Max: 400 * time.Millisecond}}, users)

	t.Run("validate", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "dry.csv")
		res := runCLI(t, tokenEnv(), "", cliArgs("validate", url, input, out, "--deadline", "2s", "--concurrency", "1")...)
		if res.code != exitDeadline || !strings.Contains(res.stderr, "Stopped by --deadline 2s") {
			t.Fatalf("exit %d, want %d with the deadline in the summary\n%s", res.code, exitDeadline, res.stderr)
		}
		counts := countStatuses(readReport(t, out))
		if counts[batch.StatusWouldRevoke] == 0 || counts[batch.StatusNotAttempted] == 0 ||
			counts[batch.StatusWouldRevoke]+counts[batch.StatusNotAttempted] != len(users) {
			t.Errorf("statuses %v, want would_revoke and not_attempted adding up to %d", counts, len(users))
		}
		if n := sim.Stats().Revocations; n != 0 {
			t.Errorf("a dry run revoked %d users", n)
		}
	})
	if t.Failed() {
		return
	}

	first := filepath.Join(dir, "first.csv")
	res := runCLI(t, tokenEnv(), "", cliArgs("revoke", url, input, first, "--deadline", "2s", "--concurrency", "1")...)
	if res.code != exitDeadline {
		t.Fatalf("exit %d, want %d\n%s", res.code, exitDeadline, res.stderr)
	}
	if !strings.Contains(res.stderr, "Stopped by --deadline 2s: nothing was sent after it") || strings.Contains(res.stderr, "bulkrevoke: ") {
		t.Errorf("the summary does not say the deadline stopped the run, or an error follows it:\n%s", res.stderr)
	}
	rows := readReport(t, first)
	if len(rows) != len(users) {
		t.Fatalf("%d report rows for %d users", len(rows), len(users))
	}
	counts := map[batch.Status]int{}
	for _, r := range rows {
		counts[r.Status]++
		// The envelope in flight at the deadline was answered within the grace period: its
		// users are revoked, and nobody reported not_attempted reached Graph.
		want := 0
		if r.Status == batch.StatusRevoked {
			want = 1
		}
		if got := len(sim.Revocations(r.UPN)); got != want || r.Status != batch.StatusRevoked && r.Status != batch.StatusNotAttempted {
			t.Errorf("line %d: %s, and graphsim revoked %s %d times", r.Line, r.Status, r.UPN, got)
		}
	}
	if counts[batch.StatusRevoked] == 0 || counts[batch.StatusNotAttempted] == 0 {
		t.Errorf("statuses %v: the deadline did not stop the run in the middle", counts)
	}
	if n := sim.Stats().Revocations; n != counts[batch.StatusRevoked] {
		t.Errorf("graphsim revoked %d users, the report says %d", n, counts[batch.StatusRevoked])
	}

	resumeAsPrinted(t, sim, users, dir, res.stderr, first)
}

// Tenants and app of TestSafetyTokenTenant: the token is for safeTenantA.
const (
	safeTenantA = "a0a0a0a0-1111-4222-8333-444455556666"
	safeTenantB = "b0b0b0b0-1111-4222-8333-444455556666"
	safeApp     = "a9900000-0000-4000-8000-000000000016"
)

// TestSafetyTokenTenant: with --auth token, the token's tid claim is the run's one tenant. Rows
// of tenant A go; rows naming tenant B, or a tenant by domain (which cannot be matched to a tid
// without Graph), are reported denied with the reason and never sent, not even when B has a
// user of the same name as one in A. A tenant column with a token whose tenant cannot be read,
// or naming only other tenants, is refused before anything is sent.
func TestSafetyTokenTenant(t *testing.T) {
	t.Parallel()
	inA := []graphsim.User{
		{ID: "a1a1a1a1-0000-4000-8000-000000000001", UPN: "alice@a.example", UserType: "Member", AccountEnabled: true},
		{ID: "a1a1a1a1-0000-4000-8000-000000000002", UPN: "shared@x.example", UserType: "Member", AccountEnabled: true},
	}
	inB := []graphsim.User{
		{ID: "b1b1b1b1-0000-4000-8000-000000000001", UPN: "bob@b.example", UserType: "Member", AccountEnabled: true},
		{ID: "b1b1b1b1-0000-4000-8000-000000000002", UPN: "shared@x.example", UserType: "Member", AccountEnabled: true},
	}
	sim, url := startSim(t, graphsim.Config{Seed: 5, TenantID: safeTenantA, AppID: safeApp,
		Tenants: []graphsim.Tenant{{ID: safeTenantB, Users: inB}}}, inA)
	env := map[string]string{"BULKREVOKE_ACCESS_TOKEN": sim.IssueToken(safeApp, safeTenantA)}
	dir := t.TempDir()
	list := filepath.Join(dir, "tenants.csv")
	if err := os.WriteFile(list, []byte("tenant,userPrincipalName\n"+
		strings.ToUpper(safeTenantA)+",alice@a.example\n"+
		safeTenantB+",bob@b.example\n"+
		safeTenantB+",shared@x.example\n"+
		"a.example,shared@x.example\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(dir, "report.csv")
	res := runCLI(t, env, "", cliArgs("revoke", url, list, out)...)
	if res.code != exitIncomplete {
		t.Fatalf("exit %d, want 2\n%s", res.code, res.stderr)
	}
	// Graph's message stays; the note says what to do.
	const noSignIn = "grant the app admin consent in that tenant, or with --auth token use a token of that tenant"
	checkRows(t, readReport(t, out), map[int]rowWant{
		2: {status: batch.StatusRevoked, http: 200, upn: "alice@a.example", attempts: 1, ids: true},
		3: {status: batch.StatusDenied, code: "sign_in", upn: "bob@b.example", note: noSignIn,
			message: "no credential for tenant " + safeTenantB + ": the --auth token is for tenant " + safeTenantA + " (its tid claim)"},
		4: {status: batch.StatusDenied, code: "sign_in", upn: "shared@x.example", note: noSignIn,
			message: "no credential for tenant " + safeTenantB + ": the --auth token is for tenant " + safeTenantA},
		5: {status: batch.StatusDenied, code: "sign_in", upn: "shared@x.example", note: noSignIn,
			message: "no credential for tenant a.example: the --auth token is for tenant " + safeTenantA + " (its tid claim), and a tenant named by domain cannot be matched to it without Graph; name the tenant by its id in the list"},
	})
	a, b := sim.Tenant(safeTenantA), sim.Tenant(safeTenantB)
	for _, c := range []struct {
		tenant *graphsim.TenantView
		upn    string
		want   int
	}{{a, "alice@a.example", 1}, {a, "shared@x.example", 0}, {b, "bob@b.example", 0}, {b, "shared@x.example", 0}} {
		if got := len(c.tenant.Revocations(c.upn)); got != c.want {
			t.Errorf("%s in tenant %s revoked %d times, want %d", c.upn, c.tenant.ID(), got, c.want)
		}
	}
	if gs := sim.Stats(); gs.Revocations != 1 || gs.Steps != 1 {
		t.Errorf("graphsim saw %d steps and %d revocations, want the one of tenant A's row", gs.Steps, gs.Revocations)
	}
	if !strings.Contains(res.stderr, "tenant "+safeTenantB+": no credential for tenant "+safeTenantB) {
		t.Errorf("the summary does not say why tenant B was left out:\n%s", res.stderr)
	}

	onlyB := filepath.Join(dir, "only-b.csv")
	if err := os.WriteFile(onlyB, []byte("tenant,userPrincipalName\n"+safeTenantB+",bob@b.example\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	requests := sim.Stats().Requests
	for _, tc := range []struct {
		name       string
		env        map[string]string
		input      string
		want, hint string
	}{
		{"a token without a readable tid", tokenEnv(), list,
			"the list names tenants, but the --auth token has no readable tenant (tid claim)", "--auth secret or certificate"},
		{"a list of another tenant only", env, onlyB,
			"no row of the list is in the token's tenant: no credential for tenant " + safeTenantB, "get a token of the list's tenant"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "refused.csv")
			res := runCLI(t, tc.env, "", cliArgs("revoke", url, tc.input, out)...)
			if res.code != exitFailure || !strings.Contains(res.stderr, "bulkrevoke: "+tc.want) {
				t.Errorf("exit %d, want 1 with %q\n%s", res.code, tc.want, res.stderr)
			}
			if _, hint, _ := strings.Cut(res.stderr, "\nhint: "); !strings.Contains(hint, tc.hint) {
				t.Errorf("hint %q, want it to say %q", hint, tc.hint)
			}
			noFile(t, out)
		})
	}
	if gs := sim.Stats(); gs.Requests != requests {
		t.Errorf("refused runs sent %d requests", gs.Requests-requests)
	}
}

// TestSafetyReportIsInput: a report, or a file written next to it, that is a file the run reads
// is refused before anything is created, even with --force: however the path is spelled, through
// a hard link, and for every input flag. The input is left byte for byte, the exit code is 1,
// nothing is sent and no companion file appears.
func TestSafetyReportIsInput(t *testing.T) {
	t.Parallel()
	sim, url := startSim(t, graphsim.Config{Seed: 6}, mixedTenant())
	const list = "userPrincipalName\nadele@contoso.com\n"
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	input := write("users.csv", list)
	linked := filepath.Join(dir, "linked.csv")
	if err := os.Link(input, linked); err != nil {
		t.Fatal(err)
	}
	exclude := write("exclude.csv", "userPrincipalName\nadmin@contoso.com\n")
	first := filepath.Join(dir, "first.csv")
	if res := runCLI(t, tokenEnv(), "", cliArgs("revoke", url, input, first)...); res.code != exitOK {
		t.Fatalf("first run: exit %d\n%s", res.code, res.stderr)
	}
	pool := write("pool.csv", "client_id,secret_env\n0000c11e-0000-4000-8000-00000000c11e,POOL_SECRET\n")
	named := write("r.previous.csv", list)  // named like a file written next to --report r.csv
	devices := write("d.devices.csv", list) // the devices report of --report d.csv
	respelled := filepath.Join(dir, ".", "..", filepath.Base(dir), "users.csv")

	for _, tc := range []struct {
		name string
		args []string
		file string // the input that must stay as it was
		want string
	}{
		{"--report is --input", cliArgs("revoke", url, input, input, "--force"), input, "--report must not be the user list (--input)"},
		{"--report is --input spelled otherwise", cliArgs("revoke", url, input, respelled, "--force"), input, "--report must not be the user list (--input)"},
		{"--report is a hard link to --input", cliArgs("revoke", url, input, linked, "--force"), input, "--report must not be the user list (--input)"},
		{"--report is --input of validate", cliArgs("validate", url, input, input, "--force"), input, "--report must not be the user list (--input)"},
		{"--report is --exclude", cliArgs("revoke", url, input, exclude, "--force", "--exclude", exclude), exclude, "--report must not be the exclusion list (--exclude)"},
		{"--report is --resume", cliArgs("revoke", url, input, first, "--force", "--resume", first), first, "--report must not be the report being resumed"},
		{"--report is --from", []string{"enable", "--auth", "token", "--graph-url", url, "--from", first, "--report", first, "--force", "--yes"}, first,
			"--report must not be the report being undone (--from)"},
		{"--report is --app-pool", []string{"revoke", "--graph-url", url, "--input", input, "--report", pool, "--app-pool", pool,
			"--tenant-id", "contoso.com", "--force", "--yes"}, pool, "--report must not be the app pool (--app-pool)"},
		{"the devices report is --input", cliArgs("revoke", url, devices, filepath.Join(dir, "d.csv"), "--force", "--disable-devices"), devices,
			"--report " + filepath.Join(dir, "d.csv") + " would write " + devices + ", which is the user list (--input)"},
		{"--input is named like a file next to the report", cliArgs("revoke", url, named, filepath.Join(dir, "r.csv"), "--force"), named,
			"the user list (--input) " + named + " is named like the files written next to --report " + filepath.Join(dir, "r.csv")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, err := os.ReadFile(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			entries, _ := os.ReadDir(dir)
			requests := sim.Stats().Requests
			res := runCLI(t, tokenEnv(), "", tc.args...)
			if res.code != exitFailure || !strings.Contains(res.stderr, "bulkrevoke: "+tc.want+"\n") ||
				!strings.Contains(res.stderr, "\nhint: give --report a new file name") {
				t.Errorf("exit %d, want 1 with %q and a hint\n%s", res.code, tc.want, res.stderr)
			}
			if after, _ := os.ReadFile(tc.file); !bytes.Equal(after, before) {
				t.Errorf("%s changed:\n%q\nwas\n%q", tc.file, after, before)
			}
			if gs := sim.Stats(); gs.Requests != requests {
				t.Errorf("a refused run sent %d requests", gs.Requests-requests)
			}
			if now, _ := os.ReadDir(dir); len(now) != len(entries) {
				t.Errorf("a refused run left %d new files in %s", len(now)-len(entries), dir)
			}
			r := tc.args[slices.Index(tc.args, "--report")+1]
			for _, p := range []string{report.DevicesPath(r), report.ChangesPath(r), report.UsersPath(r), report.RetryPath(r)} {
				if p != tc.file {
					noFile(t, p)
				}
			}
		})
	}
}

// TestSafetyUsage: flag values that would be ignored or misread are usage errors (exit 1)
// with a hint, before anything is read or sent.
func TestSafetyUsage(t *testing.T) {
	t.Parallel()
	input := writeFile(t, "users.csv", "userPrincipalName\nadele@contoso.com\n")
	out := filepath.Join(filepath.Dir(input), "report.csv")
	for _, tc := range []struct {
		args       []string
		want, hint string
	}{
		{[]string{"--log-format", "xml"}, `--log-format "xml": the formats are text and json`, "--log-format json"},
		{[]string{"--log-format", "JSON"}, `--log-format "JSON": the formats are text and json`, "--log-format json"},
		{[]string{"--deadline", "-5m"}, "--deadline -5m0s: must be positive", "--deadline 2h50m"},
	} {
		res := runCLI(t, nil, "", append([]string{"revoke", "--simulate", "--input", input, "--report", out, "--yes"}, tc.args...)...)
		if res.code != exitFailure || !strings.Contains(res.stderr, "bulkrevoke: "+tc.want+"\n") {
			t.Errorf("%v: exit %d, want 1 with %q\n%s", tc.args, res.code, tc.want, res.stderr)
		}
		if _, hint, _ := strings.Cut(res.stderr, "\nhint: "); !strings.Contains(hint, tc.hint) {
			t.Errorf("%v: hint %q, want it to say %q", tc.args, hint, tc.hint)
		}
		noFile(t, out)
	}
}
