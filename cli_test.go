package main

// End-to-end tests of the revoke and validate commands (issues 3 and 4): the command runs
// in-process against a graphsim tenant served over real loopback HTTP, and each test checks
// the report row by row, graphsim's journal and the exit code. revoke_test.go has the first,
// broader passes over the same commands; these go after the cases it leaves out.

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/bulkrevoke/bulkrevoke/batch"
	"github.com/bulkrevoke/bulkrevoke/graphsim"
)

// samePair checks two report rows that name one user: one did the work and the other is its
// duplicate, naming it and its outcome. The earlier line wins unless the later one was sent
// before the earlier's lookup came back (nothing waits for a slow lookup); then the earlier row
// says so. It returns the line that did the work and the duplicate's.
func samePair(t *testing.T, rows map[int]batch.Result, a, b int) (doer, dup int) {
	t.Helper()
	doer, dup = a, b
	if rows[a].Status == batch.StatusDuplicate {
		doer, dup = b, a
	}
	d, x := rows[doer], rows[dup]
	if d.Status == batch.StatusDuplicate || x.Status != batch.StatusDuplicate || x.Code != "duplicate_user" ||
		!strings.HasPrefix(x.Message, "same user as line "+strconv.Itoa(doer)+" ") || d.UserID == "" || d.UserID != x.UserID ||
		!strings.Contains(x.Note, string(d.Status)+" at line "+strconv.Itoa(doer)) {
		t.Errorf("lines %d and %d: %s, and %s %s %q (note %q); want one done and a duplicate naming it",
			doer, dup, d.Status, x.Status, x.Code, x.Message, x.Note)
	}
	if dup < doer && !strings.Contains(x.Message, "line "+strconv.Itoa(doer)+" was answered and sent first") {
		t.Errorf("line %d lost to the later line %d without saying why: %q", dup, doer, x.Message)
	}
	return doer, dup
}

var guidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// TestE2ERevokeMixed: one list with every kind of row an admin's file has, each reported as
// what it is, each revocable user revoked exactly once.
func TestE2ERevokeMixed(t *testing.T) {
	t.Parallel()
	sim, url := startSim(t, graphsim.Config{Seed: 11, FractionalRetryAfter: true}, mixedTenant())
	input := writeFile(t, "users.csv", `userPrincipalName,displayName
adele@contoso.com,Adele
`+guestUPN+`,Guest
$svc@contoso.com,Dollar
"o'brien@contoso.com",Apostrophe
admin@contoso.com,Protected
ghost@contoso.com,Missing
not a upn,Typo
ADELE@CONTOSO.COM,Repeat
`+formerID+`,By object id
`+strings.ToUpper(formerID)+`,Same id in capitals
x#y@contoso.com,Hash
a^b~c@contoso.com,Caret and tilde
bob+tag@contoso.com,Plus
,Nobody
`)
	out := filepath.Join(t.TempDir(), "report.csv")
	res := runCLI(t, tokenEnv(), "", cliArgs("revoke", url, input, out)...)
	if res.code != exitIncomplete {
		t.Fatalf("exit %d, want %d\n%s", res.code, exitIncomplete, res.stderr)
	}
	rows := readReport(t, out)
	revoked := func(upn, id string) rowWant {
		return rowWant{status: batch.StatusRevoked, http: 200, upn: upn, userID: id, attempts: 1, ids: true}
	}
	checkRows(t, rows, map[int]rowWant{
		2: revoked("adele@contoso.com", ""),
		3: {status: batch.StatusRevoked, http: 200, upn: guestUPN, attempts: 1, ids: true,
			note: "guest: only sessions with this tenant are revoked"},
		4: revoked("$svc@contoso.com", ""),
		5: revoked("o'brien@contoso.com", ""),
		6: {status: batch.StatusDenied, http: 403, code: "Authorization_RequestDenied", upn: "admin@contoso.com", attempts: 1, ids: true,
			message: "Insufficient privileges to complete the operation.", note: "Privileged Authentication Administrator"},
		7: {status: batch.StatusNotFound, http: 404, code: "Request_ResourceNotFound", upn: "ghost@contoso.com", attempts: 1, ids: true,
			message: "Resource 'ghost@contoso.com' does not exist or one of its queried reference-property objects are not present."},
		8: {status: batch.StatusInvalid, code: "invalid_input", message: "contains a space"},
		// A repeat names the user as written and says what became of its first line.
		9:  {status: batch.StatusDuplicate, code: "duplicate_input", message: "same user as line 2", upn: "ADELE@CONTOSO.COM", note: "revoked at line 2"},
		10: revoked("", formerID),
		11: {status: batch.StatusDuplicate, code: "duplicate_input", message: "same user as line 10", userID: strings.ToLower("AAAAAAAA-6666-4666-8666-666666666666"),
			note: "revoked at line 10"},
		12: revoked("x#y@contoso.com", ""),
		13: revoked("a^b~c@contoso.com", ""),
		14: {status: batch.StatusInvalid, code: "invalid_input", message: `contains "+"`},
		15: {status: batch.StatusInvalid, code: "invalid_input", message: "empty"},
	})
	for l, r := range rows {
		if r.ClientRequestID != "" && !guidRE.MatchString(r.ClientRequestID) {
			t.Errorf("line %d: client_request_id %q is not a GUID", l, r.ClientRequestID)
		}
	}

	checkRevoked(t, sim, map[string]int{adeleID: 1, guestID: 1, svcID: 1, obrienID: 1, adminID: 0,
		formerID: 1, hashID: 1, caretID: 1})
	// Nine rows reach Graph (seven revoked, the protected admin, the missing user), once each.
	if gs := sim.Stats(); gs.Writes != 9 || gs.Revocations != 7 || gs.EarlyRetries != 0 || gs.Reads != 0 {
		t.Errorf("graphsim saw %d writes, %d revocations, %d early retries, %d reads; want 9, 7, 0, 0",
			gs.Writes, gs.Revocations, gs.EarlyRetries, gs.Reads)
	}
	fi, err := os.Stat(out)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("report mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	containsAll(t, "summary", res.stderr,
		"Revoked sign-in sessions for 7 of 14 rows.\n",
		"  revoked        7\n", "  not_found      1\n", "  denied         1\n", "  invalid        3\n", "  duplicate      2\n",
		"Guest users: 1;", "Report: "+out+"\n",
	)
	if res.stdout != "" {
		t.Errorf("stdout is for nothing but the program's output; got %q", res.stdout)
	}
}

// TestE2ERevokeAllValid: a list in which every user is revoked exits 0, writes the report
// under its default name and ends with the summary an admin reads.
func TestE2ERevokeAllValid(t *testing.T) {
	users := graphsim.GenerateUsers(25, 4) // the 20th is a guest
	sim, url := startSim(t, graphsim.Config{Seed: 4}, users)
	input := writeFile(t, "users.csv", upnList(users))
	t.Chdir(t.TempDir())
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	res := runCLIWith(t, cliOpts{env: tokenEnv(), now: func() time.Time { return now }},
		"revoke", "--auth", "token", "--graph-url", url, "--input", input, "--yes")
	if res.code != exitOK {
		t.Fatalf("exit %d, want 0\n%s", res.code, res.stderr)
	}
	const name = "bulkrevoke-report-20260304T050607Z.csv"
	rows := readReport(t, name)
	want := map[int]rowWant{}
	for i, u := range users {
		w := rowWant{status: batch.StatusRevoked, http: 200, upn: u.UPN, attempts: 1, ids: true}
		if u.UserType == "Guest" {
			w.note = "guest"
		}
		want[i+2] = w
	}
	checkRows(t, rows, want)
	if gs := sim.Stats(); gs.Revocations != len(users) || gs.Writes != len(users) || gs.EarlyRetries != 0 {
		t.Errorf("%d revocations, %d writes, %d early retries; want %d, %d, 0", gs.Revocations, gs.Writes, gs.EarlyRetries, len(users), len(users))
	}
	containsAll(t, "summary", res.stderr,
		"Revoked sign-in sessions for 25 of 25 rows.\n", "  revoked        25\n", "Guest users: 1;",
		"Report: "+name+"\n",
		"access\ntokens already issued stay valid until they expire",
	)
	for _, not := range []string{"not_found", "failed", "Throttled", "Not confirmed", "level=WARN", "level=ERROR"} {
		if strings.Contains(res.stderr, not) {
			t.Errorf("a clean run's stderr mentions %q:\n%s", not, res.stderr)
		}
	}
	if res.stdout != "" {
		t.Errorf("stdout: %q", res.stdout)
	}
}

// faultCase is a fault scenario: whatever Graph throws that is worth retrying, every user must
// end revoked, exactly once, and never be retried before the Retry-After Graph gave.
type faultCase struct {
	name   string
	faults graphsim.Faults
	// envelope: some steps were refused with their whole envelope, before graphsim counted
	// them as writes.
	envelope bool
	// struck says whether graphsim's counts show the faults struck as scheduled.
	struck func(gs graphsim.Stats) bool
}

// TestE2EThrottleStorm: every step is refused with a fractional Retry-After for two seconds,
// long enough that the first retries are refused too.
func TestE2EThrottleStorm(t *testing.T) {
	t.Parallel()
	// Two waves of refusals, by operation count rather than by wall time: the first forty
	// operations graphsim runs, then forty more after twenty have passed.
	var storm []graphsim.Scheduled
	for n := 1; n <= 100; n++ {
		if n <= 40 || n > 60 {
			storm = append(storm, graphsim.Scheduled{Kind: graphsim.StepFault, Status: 429, Nth: n})
		}
	}
	runFaultCase(t, faultCase{
		faults: graphsim.Faults{RetryAfter: 300 * time.Millisecond, Schedule: storm},
		struck: func(gs graphsim.Stats) bool { return gs.Throttled >= 40 },
	})
}

// TestE2ERevokeFaults: transient server errors and refused envelopes. The cases run one after
// the other: urfave/cli's shared help flag makes concurrent in-process runs race.
func TestE2ERevokeFaults(t *testing.T) {
	t.Parallel()
	tests := []faultCase{
		{
			name:   "30% transient 503s with Retry-After",
			faults: graphsim.Faults{StepRate: 0.3, StepStatuses: []int{503}, RetryAfter: 150 * time.Millisecond},
			struck: func(gs graphsim.Stats) bool { return gs.StepFaults >= 5 && gs.Statuses[503] == gs.StepFaults },
		},
		{
			name: "500, 502, 504 without Retry-After",
			faults: graphsim.Faults{Schedule: []graphsim.Scheduled{
				{Kind: graphsim.StepFault, Status: 500, Nth: 2},
				{Kind: graphsim.StepFault, Status: 502, Nth: 21},
				{Kind: graphsim.StepFault, Status: 504, Nth: 40},
			}},
			struck: func(gs graphsim.Stats) bool {
				return gs.StepFaults == 3 && gs.Statuses[500] == 1 && gs.Statuses[502] == 1 && gs.Statuses[504] == 1
			},
		},
		{
			name:     "envelope 429",
			faults:   graphsim.Faults{RetryAfter: 300 * time.Millisecond, Schedule: []graphsim.Scheduled{{Kind: graphsim.EnvelopeFault, Status: 429, Nth: 1}}},
			envelope: true,
			struck:   func(gs graphsim.Stats) bool { return gs.EnvelopeFaults == 1 && gs.EnvelopeThrottled >= 1 },
		},
		{
			name:     "envelope 503",
			faults:   graphsim.Faults{RetryAfter: 200 * time.Millisecond, Schedule: []graphsim.Scheduled{{Kind: graphsim.EnvelopeFault, Status: 503, Nth: 2}}},
			envelope: true,
			struck:   func(gs graphsim.Stats) bool { return gs.EnvelopeFaults == 1 && gs.EnvelopeStatuses[503] == 1 },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { runFaultCase(t, tc) })
	}
}

// runFaultCase runs revoke on 60 users under tc's faults and checks that every one ends revoked
// once, none retried early, and the faults struck.
func runFaultCase(t *testing.T, tc faultCase) {
	t.Helper()
	users := graphsim.GenerateUsers(60, 5)
	sim, url := startSim(t, graphsim.Config{Seed: 5, FractionalRetryAfter: true, Faults: tc.faults}, users)
	input := writeFile(t, "users.csv", upnList(users))
	out := filepath.Join(t.TempDir(), "report.csv")
	start := time.Now()
	res := runCLI(t, tokenEnv(), "", cliArgs("revoke", url, input, out, "--max-attempts", "20")...)
	if res.code != exitOK {
		t.Fatalf("exit %d, want 0\n%s", res.code, res.stderr)
	}
	rows := readReport(t, out)
	want := map[int]rowWant{}
	for i, u := range users {
		w := rowWant{status: batch.StatusRevoked, http: 200, upn: u.UPN, attempts: -1, ids: true}
		if u.UserType == "Guest" {
			w.note = "guest"
		}
		want[i+2] = w
	}
	checkRows(t, rows, want)
	attempts, retried := 0, 0
	for _, r := range rows {
		attempts += r.Attempts
		if r.Attempts > 1 {
			retried++
		}
	}
	gs := sim.Stats()
	if retried == 0 {
		t.Error("no row was retried: the fault did not strike")
	}
	if gs.EarlyRetries != 0 {
		t.Errorf("%d retries came before Graph's Retry-After", gs.EarlyRetries)
	}
	if gs.Revocations != len(users) {
		t.Errorf("%d revocations for %d users", gs.Revocations, len(users))
	}
	for _, u := range users {
		if n := len(sim.Revocations(u.ID)); n != 1 {
			t.Errorf("%s revoked %d times", u.UPN, n)
		}
	}
	// Each attempt a row counts is a step graphsim received, unless its whole envelope
	// was turned away first.
	if !tc.envelope && attempts != gs.Writes || tc.envelope && attempts <= gs.Writes {
		t.Errorf("rows count %d attempts, graphsim %d writes", attempts, gs.Writes)
	}
	if !tc.struck(gs) {
		t.Errorf("the faults did not strike as scheduled: %d step faults (statuses %v, %d 429s), %d envelope faults (statuses %v, %d 429s)",
			gs.StepFaults, gs.Statuses, gs.Throttled, gs.EnvelopeFaults, gs.EnvelopeStatuses, gs.EnvelopeThrottled)
	}
	if gs.Throttled > 0 && !strings.Contains(res.stderr, fmt.Sprintf("Throttled responses seen: %d ", gs.Throttled)) {
		t.Errorf("graphsim sent %d 429s; the summary says:\n%s", gs.Throttled, res.stderr)
	}
	t.Logf("%v, %d attempts for %d users, %d 429s", time.Since(start).Round(time.Millisecond), attempts, len(users), gs.Throttled)
}

// TestE2EExports: the user lists admins download from the Entra and Microsoft 365 admin
// centers work as they are.
func TestE2EExports(t *testing.T) {
	t.Parallel()
	tenant := []graphsim.User{
		{ID: "87d349ed-44d7-43e1-9a83-5f2406dee5bd", UPN: "AdeleV@contoso.onmicrosoft.com", UserType: "Member", AccountEnabled: true},
		{ID: "5bde3e51-d13b-4db1-9948-fe4b109d11a7", UPN: "john.doe_fabrikam.com#EXT#@contoso.onmicrosoft.com", UserType: "Guest", AccountEnabled: true},
		{ID: "4782e723-f4f4-4af3-a76e-25e3bab0d896", UPN: "Sean.O'Brien@contoso.com", UserType: "Member"},
		{ID: "0a4f1e2b-77c1-4c0e-9d0b-3b1e8c2f9a11", UPN: "$svc-backup@contoso.com", UserType: "Member", AccountEnabled: true},
		{ID: "48d31887-5fad-4d73-a9f5-3c356e68a038", UPN: "MeganB@contoso.onmicrosoft.com", UserType: "Member", AccountEnabled: true},
		{ID: "b2c6f7d1-3a4e-4f5b-8c9d-0e1f2a3b4c5d", UPN: "AlexW@contoso.com", UserType: "Member"},
		{ID: "c0ffee00-1234-4abc-8def-0123456789ab", UPN: "helpdesk@contoso.com", UserType: "Member", AccountEnabled: true},
	}
	byUPN := func(upn string) rowWant {
		w := rowWant{status: batch.StatusRevoked, http: 200, upn: upn, attempts: 1, ids: true}
		if strings.Contains(upn, "#EXT#") {
			w.note = "guest"
		}
		return w
	}
	byID := func(id string) rowWant {
		return rowWant{status: batch.StatusRevoked, http: 200, userID: id, attempts: 1, ids: true}
	}
	dup := func(upn, id string) rowWant {
		return rowWant{status: batch.StatusDuplicate, code: "duplicate_input", message: "same user as line 2", upn: upn, userID: id,
			note: "revoked at line 2"}
	}
	tests := []struct {
		name, file string
		extra      []string
		code       int
		want       map[int]rowWant
		revoked    map[string]int
	}{
		{
			name: "Entra Download users", file: "testdata/exports/entra-download-users.csv", code: exitOK,
			want: map[int]rowWant{
				2: byUPN("AdeleV@contoso.onmicrosoft.com"), 3: byUPN("john.doe_fabrikam.com#EXT#@contoso.onmicrosoft.com"),
				4: byUPN("Sean.O'Brien@contoso.com"), 5: byUPN("$svc-backup@contoso.com"), 6: byUPN("MeganB@contoso.onmicrosoft.com"),
			},
			revoked: map[string]int{tenant[0].ID: 1, tenant[1].ID: 1, tenant[2].ID: 1, tenant[3].ID: 1, tenant[4].ID: 1, tenant[5].ID: 0},
		},
		{
			// Line 5 repeats Adele in other capitals: the run goes on and says so (exit 2).
			// The export repeats a user: a duplicate of a revoked user is no failure.
			name: "Microsoft 365 Active users", file: "testdata/exports/m365-active-users.csv", code: exitOK,
			want: map[int]rowWant{
				2: byUPN("AdeleV@contoso.onmicrosoft.com"), 3: byUPN("AlexW@contoso.com"), 4: byUPN("helpdesk@contoso.com"), 5: dup("adelev@CONTOSO.onmicrosoft.com", ""),
			},
			revoked: map[string]int{tenant[0].ID: 1, tenant[5].ID: 1, tenant[6].ID: 1, tenant[1].ID: 0},
		},
		{
			name: "Microsoft 365 Active users by Object Id", file: "testdata/exports/m365-active-users.csv", code: exitOK,
			extra: []string{"--column", "Object Id"},
			want: map[int]rowWant{
				2: byID(tenant[0].ID), 3: byID(tenant[5].ID), 4: byID(tenant[6].ID), 5: dup("", "87d349ed-44d7-43e1-9a83-5f2406dee5bd"),
			},
			revoked: map[string]int{tenant[0].ID: 1, tenant[5].ID: 1, tenant[6].ID: 1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sim, url := startSim(t, graphsim.Config{Seed: 6}, tenant)
			out := filepath.Join(t.TempDir(), "report.csv")
			res := runCLI(t, tokenEnv(), "", cliArgs("revoke", url, tc.file, out, tc.extra...)...)
			if res.code != tc.code {
				t.Fatalf("exit %d, want %d\n%s", res.code, tc.code, res.stderr)
			}
			checkRows(t, readReport(t, out), tc.want)
			checkRevoked(t, sim, tc.revoked)
		})
	}
}

// privateTempDir points the process's temporary directory at a fresh one, where --input - keeps
// its private copy of standard input, and returns it.
func privateTempDir(t *testing.T) string {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	return dir
}

// TestE2EStdin: --input - reads the list from standard input; without --yes a list piped in
// is refused before anything is sent or written.
func TestE2EStdin(t *testing.T) {
	tmp := privateTempDir(t)
	sim, url := startSim(t, graphsim.Config{Seed: 7}, mixedTenant())
	list := "adele@contoso.com\n" + obrienID + "\r\n$svc@contoso.com\n"
	dir := t.TempDir()

	refused := filepath.Join(dir, "refused.csv")
	res := runCLI(t, tokenEnv(), list, "revoke", "--auth", "token", "--graph-url", url, "--input", "-", "--report", refused)
	if res.code != exitFailure || !strings.Contains(res.stderr, "refusing to revoke without confirmation") ||
		!strings.Contains(res.stderr, "\nhint: add --yes") {
		t.Errorf("piped list without --yes: exit %d\n%s", res.code, res.stderr)
	}
	noFile(t, refused)
	if gs := sim.Stats(); gs.Requests != 0 {
		t.Errorf("graphsim got %d requests from a refused run", gs.Requests)
	}
	noFiles(t, tmp)

	out := filepath.Join(dir, "report.csv")
	res = runCLI(t, tokenEnv(), list, cliArgs("revoke", url, "-", out)...)
	if res.code != exitOK {
		t.Fatalf("--input - --yes: exit %d\n%s", res.code, res.stderr)
	}
	checkRows(t, readReport(t, out), map[int]rowWant{
		1: {status: batch.StatusRevoked, http: 200, upn: "adele@contoso.com", attempts: 1, ids: true},
		2: {status: batch.StatusRevoked, http: 200, userID: obrienID, attempts: 1, ids: true},
		3: {status: batch.StatusRevoked, http: 200, upn: "$svc@contoso.com", attempts: 1, ids: true},
	})
	checkRevoked(t, sim, map[string]int{adeleID: 1, obrienID: 1, svcID: 1})
	if !strings.Contains(res.stderr, "Revoked sign-in sessions for 3 of 3 rows.") {
		t.Errorf("summary:\n%s", res.stderr)
	}
	// The private copy of standard input is gone once the run ends.
	noFiles(t, tmp)

	// A dry run asks nobody, so a piped list needs no --yes.
	dry := filepath.Join(dir, "dry.csv")
	res = runCLI(t, tokenEnv(), list, "validate", "--auth", "token", "--graph-url", url, "--input", "-", "--report", dry)
	if res.code != exitOK || len(readReport(t, dry)) != 3 {
		t.Errorf("validate --input -: exit %d\n%s", res.code, res.stderr)
	}
	noFiles(t, tmp)
}

// TestE2EConfigRefused: a configuration the tool cannot or must not use stops it before the
// report is created or Graph is contacted, with the error and a hint on the next line.
func TestE2EConfigRefused(t *testing.T) {
	t.Parallel()
	sim, url := startSim(t, graphsim.Config{Seed: 8}, mixedTenant())
	input := writeFile(t, "users.csv", "adele@contoso.com\n")
	tests := []struct {
		name      string
		env       map[string]string
		args      []string
		err, hint string
	}{
		{"plain http off loopback", tokenEnv(), []string{"--auth", "token", "--graph-url", "http://example.com/v1.0"},
			`--graph-url "http://example.com/v1.0": only https is allowed`, "access tokens must not travel unencrypted"},
		{"graph url with a query", tokenEnv(), []string{"--auth", "token", "--graph-url", url + "?$top=1"},
			"is not a plain absolute URL", "give the versioned root"},
		{"unknown cloud", tokenEnv(), []string{"--auth", "token", "--graph-url", url, "--cloud", "mars"},
			`unknown cloud "mars"`, "use one of global, usgov, usgov-dod, china"},
		{"unknown auth", tokenEnv(), []string{"--auth", "password", "--graph-url", url},
			`unknown --auth "password"`, "use one of default, secret, certificate"},
		{"secret without AZURE_CLIENT_SECRET", nil, []string{"--auth", "secret", "--graph-url", url,
			"--tenant-id", "00000000-0000-4000-8000-000000000001", "--client-id", "00000000-0000-4000-8000-000000000002"},
			"--auth secret needs a client secret", "set AZURE_CLIENT_SECRET in the environment"},
		{"token without BULKREVOKE_ACCESS_TOKEN", nil, []string{"--auth", "token", "--graph-url", url},
			"--auth token needs BULKREVOKE_ACCESS_TOKEN", "az account get-access-token"},
		{"simulate with a graph url", nil, []string{"--simulate", "--graph-url", url},
			"drop --graph-url and --auth", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "report.csv")
			args := append([]string{"revoke", "--input", input, "--report", out, "--yes"}, tc.args...)
			res := runCLI(t, tc.env, "", args...)
			if res.code != exitFailure {
				t.Fatalf("exit %d, want 1\n%s", res.code, res.stderr)
			}
			lines := strings.Split(strings.TrimSuffix(res.stderr, "\n"), "\n")
			if !strings.HasPrefix(lines[0], "bulkrevoke: ") || !strings.Contains(lines[0], tc.err) {
				t.Errorf("first line %q, want the error %q", lines[0], tc.err)
			}
			if tc.hint != "" && (len(lines) != 2 || !strings.HasPrefix(lines[1], "hint: ") || !strings.Contains(lines[1], tc.hint)) {
				t.Errorf("stderr %q, want a hint line with %q", res.stderr, tc.hint)
			}
			noFile(t, out)
		})
	}
	if gs := sim.Stats(); gs.Requests != 0 {
		t.Errorf("graphsim got %d requests from refused runs", gs.Requests)
	}
}

// TestE2EWrongToken: Graph refusing the token stops the run with exit 1 after a few envelopes,
// revokes nobody, and still reports every row once.
func TestE2EWrongToken(t *testing.T) {
	t.Parallel()
	users := graphsim.GenerateUsers(70, 8)
	sim, url := startSim(t, graphsim.Config{Seed: 8}, users)
	input := writeFile(t, "users.csv", upnList(users)+"not a upn\n")
	out := filepath.Join(t.TempDir(), "report.csv")
	res := runCLI(t, map[string]string{"BULKREVOKE_ACCESS_TOKEN": "expired-or-for-another-resource"}, "", cliArgs("revoke", url, input, out)...)
	if res.code != exitFailure {
		t.Fatalf("exit %d, want 1\n%s", res.code, res.stderr)
	}
	// The error, then how to finish: the resume command names this report.
	if !strings.Contains(res.stderr, "\nbulkrevoke: graph refuses the access token") ||
		!strings.Contains(res.stderr, "\nhint: get a token Graph accepts") ||
		!strings.Contains(res.stderr, "--resume "+out+" --report "+strings.TrimSuffix(out, ".csv")+"-resumed.csv") {
		t.Errorf("stderr does not say why and what next:\n%s", res.stderr)
	}
	if strings.Contains(res.stderr, "expired-or-for-another-resource") {
		t.Error("stderr shows the token")
	}
	gs := sim.Stats()
	if gs.Writes != 0 || gs.Revocations != 0 || gs.Unauthorized < 3 {
		t.Errorf("graphsim: %d writes, %d revocations, %d 401s; want 0, 0, >= 3", gs.Writes, gs.Revocations, gs.Unauthorized)
	}
	rows := readReport(t, out)
	if len(rows) != len(users)+1 {
		t.Fatalf("%d report rows, want %d", len(rows), len(users)+1)
	}
	for l, r := range rows {
		switch {
		case l == len(users)+2:
			if r.Status != batch.StatusInvalid {
				t.Errorf("line %d: %s, want invalid", l, r.Status)
			}
		case r.Status == batch.StatusFailed && r.HTTP == 401 && r.Code == "InvalidAuthenticationToken":
		case r.Status == batch.StatusNotAttempted && r.Code == "interrupted":
		default:
			t.Errorf("line %d: %s %d %s %q, want failed with Graph's 401 or not_attempted", l, r.Status, r.HTTP, r.Code, r.Message)
		}
	}
}

// TestE2EDryRun: validate looks every user up and says what a revoke would do, row by row,
// without a single write.
func TestE2EDryRun(t *testing.T) {
	t.Parallel()
	sim, url := startSim(t, graphsim.Config{Seed: 9}, mixedTenant())
	sim.SetDryRun(true)
	input := writeFile(t, "users.csv", `userPrincipalName
adele@contoso.com
`+guestUPN+`
`+formerID+`
FORMER@contoso.com
ghost@contoso.com
not a upn
Adele@Contoso.com
admin@contoso.com
$svc@contoso.com
`)
	out := filepath.Join(t.TempDir(), "report.csv")
	// --max-users does not limit a dry run: it sends no revoke.
	res := runCLI(t, tokenEnv(), "", cliArgs("validate", url, input, out, "--max-users", "1")...)
	if res.code != exitIncomplete {
		t.Fatalf("exit %d, want 2\n%s", res.code, res.stderr)
	}
	rows := readReport(t, out)
	would := func(id, upn string) rowWant {
		return rowWant{status: batch.StatusWouldRevoke, http: 200, userID: id, upn: upn, attempts: 1, ids: true}
	}
	guest, former := would(guestID, guestUPN), would(formerID, "former@contoso.com")
	guest.note, former.note = "guest: only sessions with this tenant are revoked", "account disabled"
	checkRows(t, rows, map[int]rowWant{
		2: would(adeleID, "adele@contoso.com"),
		3: guest,
		4: former,
		// The same user by UPN after its object id: only a lookup can tell.
		5: {status: batch.StatusDuplicate, http: 200, code: "duplicate_user", userID: formerID, upn: "former@contoso.com",
			message: "same user as line 4 (both resolve to object " + formerID + ")", note: "account disabled; would_revoke at line 4", attempts: 1, ids: true},
		6: {status: batch.StatusNotFound, http: 404, code: "Request_ResourceNotFound", upn: "ghost@contoso.com", attempts: 1, ids: true,
			message: "Resource 'ghost@contoso.com' does not exist"},
		7: {status: batch.StatusInvalid, code: "invalid_input", message: "contains a space"},
		8: {status: batch.StatusDuplicate, code: "duplicate_input", message: "same user as line 2", upn: "Adele@Contoso.com",
			note: "would_revoke at line 2"},
		// A read cannot tell that a revoke would be denied.
		9:  would(adminID, "admin@contoso.com"),
		10: would(svcID, "$svc@contoso.com"),
	})
	for l, wantName := range map[int]string{2: "Adele Vance", 3: "Megan (Fabrikam)", 4: "Former Employee", 9: "Global Admin", 10: "Service"} {
		r := rows[l]
		wantEnabled, wantType := l != 4, "Member"
		if l == 3 {
			wantType = "Guest"
		}
		if r.DisplayName != wantName || r.AccountEnabled == nil || *r.AccountEnabled != wantEnabled || r.UserType != wantType {
			t.Errorf("line %d: display_name %q account_enabled %v user_type %q; want %q %v %q",
				l, r.DisplayName, r.AccountEnabled, r.UserType, wantName, wantEnabled, wantType)
		}
	}
	gs := sim.Stats()
	if gs.Writes != 0 || gs.DryRunWrites != 0 || gs.Revocations != 0 || gs.Reads != 7 {
		t.Errorf("graphsim: %d writes (%d during the dry run), %d revocations, %d reads; want 0, 0, 0, 7",
			gs.Writes, gs.DryRunWrites, gs.Revocations, gs.Reads)
	}
	if !strings.Contains(res.stderr, "Dry run: nothing was revoked. 5 of 9 rows would be revoked.") ||
		strings.Contains(res.stderr, "tokens already issued") {
		t.Errorf("summary:\n%s", res.stderr)
	}

	// Every row would be revoked: exit 0, through revoke --dry-run as well.
	clean := writeFile(t, "clean.csv", "adele@contoso.com\n"+obrienID+"\n"+guestUPN+"\n")
	cleanOut := filepath.Join(t.TempDir(), "clean-report.csv")
	if res := runCLI(t, tokenEnv(), "", cliArgs("revoke", url, clean, cleanOut, "--dry-run")...); res.code != exitOK {
		t.Errorf("clean dry run: exit %d\n%s", res.code, res.stderr)
	}
	for l, r := range readReport(t, cleanOut) {
		if r.Status != batch.StatusWouldRevoke {
			t.Errorf("clean dry run, line %d: %s", l, r.Status)
		}
	}
	if gs := sim.Stats(); gs.Writes != 0 || gs.DryRunWrites != 0 {
		t.Errorf("dry runs made %d writes", gs.Writes)
	}
}

// TestE2EDryRunDuplicateOrder: a UPN and the object id of one user, looked up in different
// envelopes in flight together, give one would_revoke row and one duplicate naming it, on every
// run, whichever answer came first: nothing waits for another user's lookup, so the line
// answered first may win, and then the other row says so. Random latency reorders the answers;
// five runs of eight lookups in eight envelopes see both orders.
func TestE2EDryRunDuplicateOrder(t *testing.T) {
	t.Parallel()
	// Random latency per request reorders the answers of concurrent envelopes.
	sim, url := startSim(t, graphsim.Config{Seed: 10, Latency: graphsim.Uniform{Max: 30 * time.Millisecond}}, mixedTenant())
	var b strings.Builder
	b.WriteString("user\n")
	pairs := [][2]string{{"adele@contoso.com", adeleID}, {obrienID, "o'brien@contoso.com"}, {"$svc@contoso.com", svcID}, {formerID, "former@contoso.com"}}
	for _, p := range pairs {
		b.WriteString(p[0] + "\n")
	}
	for _, p := range pairs {
		b.WriteString(p[1] + "\n")
	}
	input := writeFile(t, "users.csv", b.String())
	for run := range 5 {
		out := filepath.Join(t.TempDir(), "report.csv")
		res := runCLI(t, tokenEnv(), "", cliArgs("validate", url, input, out, "--batch-size", "1", "--concurrency", "8")...)
		// A duplicate of a user who would be revoked is no failure.
		if res.code != exitOK {
			t.Fatalf("exit %d\n%s", res.code, res.stderr)
		}
		rows := readReport(t, out)
		for i := range pairs {
			doer, _ := samePair(t, rows, 2+i, 2+len(pairs)+i)
			if rows[doer].Status != batch.StatusWouldRevoke {
				t.Errorf("run %d: line %d %s, want would_revoke", run, doer, rows[doer].Status)
			}
		}
	}
	if gs := sim.Stats(); gs.Writes != 0 {
		t.Errorf("%d writes", gs.Writes)
	}
}

// TestE2EVerify: --verify reads every revoked user back; a timestamp that did not move is
// reported per row and makes the exit code 2. Graph reports whole seconds, which a strict
// --verify-skew must not mistake for a revoke that did not land.
func TestE2EVerify(t *testing.T) {
	t.Parallel()
	hourAgo := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	tenant := func() []graphsim.User {
		users := mixedTenant()
		users[2].IgnoreRevoke = true // $svc: revoked long ago, Graph says yes now but nothing moves
		users[2].SignInSessionsValidFrom = hourAgo
		users[3].IgnoreRevoke = true // o'brien: never revoked, reads null
		return users
	}
	input := writeFile(t, "users.csv", "user\nadele@contoso.com\n"+guestUPN+"\n$svc@contoso.com\n"+obrienID+"\nadmin@contoso.com\nghost@contoso.com\n"+hashID+"\n")

	for _, skew := range []string{"5m", "0s"} {
		t.Run("verify-skew "+skew, func(t *testing.T) {
			sim, url := startSim(t, graphsim.Config{Seed: 12}, tenant())
			out := filepath.Join(t.TempDir(), "report.csv")
			res := runCLI(t, tokenEnv(), "", cliArgs("revoke", url, input, out, "--verify", "--verify-skew", skew)...)
			if res.code != exitIncomplete {
				t.Fatalf("exit %d, want 2\n%s", res.code, res.stderr)
			}
			rows := readReport(t, out)
			stuck := "signInSessionsValidFromDateTime did not move"
			checkRows(t, rows, map[int]rowWant{
				// The read-back names each user in full, whichever form the list used.
				2: {status: batch.StatusRevoked, http: 200, userID: adeleID, upn: "adele@contoso.com", attempts: 1, ids: true},
				3: {status: batch.StatusRevoked, http: 200, userID: guestID, upn: guestUPN, attempts: 1, ids: true, note: "guest"},
				4: {status: batch.StatusRevoked, http: 200, userID: svcID, upn: "$svc@contoso.com", attempts: 1, ids: true, note: stuck},
				5: {status: batch.StatusRevoked, http: 200, userID: obrienID, upn: "o'brien@contoso.com", attempts: 1, ids: true, note: stuck},
				6: {status: batch.StatusDenied, http: 403, code: "Authorization_RequestDenied", upn: "admin@contoso.com", attempts: 1, ids: true,
					message: "Insufficient privileges", note: "Privileged Authentication Administrator"},
				7: {status: batch.StatusNotFound, http: 404, code: "Request_ResourceNotFound", upn: "ghost@contoso.com", attempts: 1, ids: true,
					message: "does not exist"},
				8: {status: batch.StatusRevoked, http: 200, userID: hashID, upn: "x#y@contoso.com", attempts: 1, ids: true},
			})
			for l, key := range map[int]string{2: adeleID, 3: guestID, 8: hashID} {
				r := rows[l]
				u, _ := sim.User(key)
				if r.Verified == nil || !*r.Verified || !r.SessionsValidFrom.Equal(u.SignInSessionsValidFrom.Truncate(time.Second)) {
					t.Errorf("line %d: verified=%v sessions_valid_from=%v; want true and Graph's %v",
						l, r.Verified, r.SessionsValidFrom, u.SignInSessionsValidFrom.Truncate(time.Second))
				}
			}
			if r := rows[4]; r.Verified == nil || *r.Verified || !r.SessionsValidFrom.Equal(hourAgo) {
				t.Errorf("line 4: verified=%v sessions_valid_from=%v; want false and %v", r.Verified, r.SessionsValidFrom, hourAgo)
			}
			if r := rows[5]; r.Verified == nil || *r.Verified || !r.SessionsValidFrom.IsZero() {
				t.Errorf("line 5: verified=%v sessions_valid_from=%v; want false and empty", r.Verified, r.SessionsValidFrom)
			}
			for _, l := range []int{6, 7} {
				if r := rows[l]; r.Verified != nil || !r.SessionsValidFrom.IsZero() {
					t.Errorf("line %d (%s) was read back: verified=%v", l, r.Status, r.Verified)
				}
			}
			// One read per revoked user, nothing else.
			if gs := sim.Stats(); gs.Reads != 5 || gs.Writes != 7 || gs.Revocations != 5 {
				t.Errorf("graphsim: %d reads, %d writes, %d revocations; want 5, 7, 5", gs.Reads, gs.Writes, gs.Revocations)
			}
			if !strings.Contains(res.stderr, "Not confirmed by read-back: 2 users") {
				t.Errorf("summary:\n%s", res.stderr)
			}
		})
	}

	// Every revoke verified: exit 0.
	sim, url := startSim(t, graphsim.Config{Seed: 13}, mixedTenant())
	clean := writeFile(t, "clean.csv", "adele@contoso.com\n"+obrienID+"\n")
	out := filepath.Join(t.TempDir(), "clean-report.csv")
	if res := runCLI(t, tokenEnv(), "", cliArgs("revoke", url, clean, out, "--verify", "--verify-skew", "0s")...); res.code != exitOK {
		t.Fatalf("all verified: exit %d\n%s", res.code, res.stderr)
	}
	for l, r := range readReport(t, out) {
		if r.Verified == nil || !*r.Verified {
			t.Errorf("line %d: verified=%v", l, r.Verified)
		}
	}
	if gs := sim.Stats(); gs.Reads != 2 {
		t.Errorf("%d reads, want 2", gs.Reads)
	}
}

// TestE2EResume: a resumed run carries over the rows its predecessor revoked, without sending
// them again, and processes every other row afresh; one row per input row in the end.
func TestE2EResume(t *testing.T) {
	t.Parallel()
	users := graphsim.GenerateUsers(40, 14)
	// Two users fail for good in the first run: a server error on every attempt.
	failing := []string{users[4].ID, users[30].ID}
	sim, url := startSim(t, graphsim.Config{Seed: 14, Faults: graphsim.Faults{Schedule: []graphsim.Scheduled{
		{Kind: graphsim.StepFault, Status: 500, Users: failing}}}}, users)
	input := writeFile(t, "users.csv", upnList(users)+"ghost@contoso.com\nnot a upn\n")
	dir := t.TempDir()
	first := filepath.Join(dir, "first.csv")
	res := runCLI(t, tokenEnv(), "", cliArgs("revoke", url, input, first, "--max-attempts", "1")...)
	if res.code != exitIncomplete {
		t.Fatalf("first run: exit %d\n%s", res.code, res.stderr)
	}
	before := readReport(t, first)
	for _, l := range []int{6, 32} {
		if before[l].Status != batch.StatusFailed || before[l].HTTP != 500 {
			t.Fatalf("line %d: %s %d, want failed 500", l, before[l].Status, before[l].HTTP)
		}
	}

	// The crash: rows of lines 10 and 25 never reached the disk, the last one only half.
	torn := cutReport(t, first, 10, 25)
	kept, _ := readTornReport(t, first)
	if len(kept) != len(before)-3 {
		t.Fatalf("cut report has %d rows, want %d", len(kept), len(before)-3)
	}
	sim.SetFaults(graphsim.Faults{}) // the server errors are over
	writes := sim.Stats().Writes

	second := filepath.Join(dir, "second.csv")
	res = runCLI(t, tokenEnv(), "", cliArgs("revoke", url, input, second, "--resume", first)...)
	if res.code != exitIncomplete { // the ghost is still missing, the typo still a typo
		t.Fatalf("resume: exit %d\n%s", res.code, res.stderr)
	}
	rows := readReport(t, second)
	if len(rows) != len(users)+2 {
		t.Fatalf("%d rows after resume, want %d", len(rows), len(users)+2)
	}
	sent := 0
	for i, u := range users {
		l := i + 2
		r, old := rows[l], kept[l]
		carried := old.Status == batch.StatusRevoked
		switch {
		case r.Status != batch.StatusRevoked:
			t.Errorf("line %d: %s %q", l, r.Status, r.Message)
		case carried && (r.Attempts != old.Attempts || r.RequestID != old.RequestID || r.ClientRequestID != old.ClientRequestID ||
			!r.At.Equal(old.At) || !strings.Contains(r.Note, "revoked by the run reported in "+first+", not sent again")):
			t.Errorf("line %d carried over as %+v, want the old row %+v with a note", l, r, old)
		case !carried && (r.Attempts != 1 || strings.Contains(r.Note, "not sent again")):
			t.Errorf("line %d: attempts %d note %q, want sent afresh", l, r.Attempts, r.Note)
		}
		if !carried {
			sent++
		}
		// Revoked once by the first run unless it failed there; once more when its row was lost.
		want := 1
		if before[l].Status == batch.StatusRevoked && !carried {
			want = 2
		}
		if n := len(sim.Revocations(u.ID)); n != want {
			t.Errorf("line %d (%s, first run %s, carried %v): revoked %d times, want %d", l, u.UPN, before[l].Status, carried, n, want)
		}
	}
	for _, l := range []int{10, 25, torn, 6, 32} {
		if kept[l].Status == batch.StatusRevoked {
			t.Errorf("line %d should not have been carried over", l)
		}
	}
	if r := rows[len(users)+2]; r.Status != batch.StatusNotFound || r.Attempts != 1 {
		t.Errorf("ghost: %s after %d attempts, want not_found sent afresh", r.Status, r.Attempts)
	}
	if got := sim.Stats().Writes - writes; got != sent+1 {
		t.Errorf("the resumed run sent %d revokes, want %d (the rows not carried, and the ghost)", got, sent+1)
	}
	if !strings.Contains(res.stderr, fmt.Sprintf("Revoked sign-in sessions for %d of %d rows.", len(users), len(users)+2)) {
		t.Errorf("summary:\n%s", res.stderr)
	}

	// A report of another list with the same number of lines is refused before anything is
	// sent: its rows would skip users this list never revoked.
	shuffled := append([]graphsim.User{users[1], users[0]}, users[2:]...)
	other := writeFile(t, "other.csv", upnList(shuffled)+"ghost@contoso.com\nnot a upn\n")
	requests := sim.Stats().Requests
	refused := filepath.Join(dir, "refused.csv")
	res = runCLI(t, tokenEnv(), "", cliArgs("revoke", url, other, refused, "--resume", second)...)
	if res.code != exitFailure || !strings.Contains(res.stderr, second+": line 2 was \""+users[0].UPN+"\" in that report but is \""+users[1].UPN+"\"") ||
		!strings.Contains(res.stderr, "\nhint: use the report produced from this input file") {
		t.Errorf("resume with a report of another list: exit %d\n%s", res.code, res.stderr)
	}
	noFile(t, refused)

	// The report being resumed is never the new report, however it is spelled, even with --force.
	secondBytes, _ := os.ReadFile(second)
	for _, same := range []string{second, filepath.Join(dir, ".", "..", filepath.Base(dir), "second.csv")} {
		res = runCLI(t, tokenEnv(), "", cliArgs("revoke", url, input, same, "--resume", second, "--force")...)
		if res.code != exitFailure || !strings.Contains(res.stderr, "--report must not be the report being resumed") ||
			!strings.Contains(res.stderr, "\nhint: ") {
			t.Errorf("--report %s --resume %s: exit %d\n%s", same, second, res.code, res.stderr)
		}
	}
	if now, _ := os.ReadFile(second); !bytes.Equal(now, secondBytes) {
		t.Error("a refused run changed the report it was to resume")
	}
	if gs := sim.Stats(); gs.Requests != requests {
		t.Errorf("refused runs sent %d requests", gs.Requests-requests)
	}
}

// TestE2EExclude: users on the --exclude list are reported excluded and never reach Graph; an
// exclusion list that cannot be read in full stops the run before anything happens.
func TestE2EExclude(t *testing.T) {
	t.Parallel()
	sim, url := startSim(t, graphsim.Config{Seed: 15}, mixedTenant())
	input := writeFile(t, "users.csv", "userPrincipalName\nadele@contoso.com\nadmin@contoso.com\n"+obrienID+"\n$svc@contoso.com\n"+guestUPN+"\n")
	// The break-glass list as an export: a header, other columns, other capitals.
	exclude := writeFile(t, "breakglass.csv", "userPrincipalName,displayName\nADMIN@contoso.com,Break glass\n"+strings.ToUpper(obrienID)+",By id\n")
	out := filepath.Join(t.TempDir(), "report.csv")
	res := runCLI(t, tokenEnv(), "", cliArgs("revoke", url, input, out, "--exclude", exclude)...)
	if res.code != exitOK {
		t.Fatalf("exit %d, want 0 (excluded rows are not failures)\n%s", res.code, res.stderr)
	}
	excluded := func(upn, id string) rowWant {
		return rowWant{status: batch.StatusExcluded, upn: upn, userID: id, note: "on the --exclude list"}
	}
	checkRows(t, readReport(t, out), map[int]rowWant{
		2: {status: batch.StatusRevoked, http: 200, upn: "adele@contoso.com", attempts: 1, ids: true},
		3: excluded("admin@contoso.com", ""),
		4: excluded("", obrienID),
		5: {status: batch.StatusRevoked, http: 200, upn: "$svc@contoso.com", attempts: 1, ids: true},
		6: {status: batch.StatusRevoked, http: 200, upn: guestUPN, attempts: 1, ids: true, note: "guest"},
	})
	checkRevoked(t, sim, map[string]int{adminID: 0, obrienID: 0, adeleID: 1, svcID: 1, guestID: 1})
	if gs := sim.Stats(); gs.Writes != 3 {
		t.Errorf("%d writes, want 3: excluded users reached Graph", gs.Writes)
	}
	if !strings.Contains(res.stderr, "  excluded       2\n") {
		t.Errorf("summary:\n%s", res.stderr)
	}

	// A dry run does not look excluded users up as rows of the list: its reads are the two
	// exclusion entries (looked up by each run) and the three other users.
	dry := filepath.Join(t.TempDir(), "dry.csv")
	if res := runCLI(t, tokenEnv(), "", cliArgs("validate", url, input, dry, "--exclude", exclude)...); res.code != exitOK {
		t.Errorf("dry run: exit %d\n%s", res.code, res.stderr)
	}
	if rows := readReport(t, dry); rows[3].Status != batch.StatusExcluded || rows[4].Status != batch.StatusExcluded {
		t.Errorf("dry run: lines 3, 4 are %s, %s; want excluded", rows[3].Status, rows[4].Status)
	}
	if gs := sim.Stats(); gs.Reads != 3+2*2 {
		t.Errorf("%d reads, want 7", gs.Reads)
	}

	requests := sim.Stats().Requests
	for _, tc := range []struct{ name, content, err, hint string }{
		{"invalid row", "userPrincipalName\nadmin@contoso.com\nbreak glass@contoso.com\n", "bad.csv:3: contains a space", "fix the exclusion list"},
		{"empty cell", "userPrincipalName,displayName\nadmin@contoso.com,Admin\n,Someone\n", "bad.csv:3: empty", "fix the exclusion list"},
		{"unclosed quote", "userPrincipalName\n\"admin@contoso.com\n", "bad.csv", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := writeFile(t, "bad.csv", tc.content)
			out := filepath.Join(t.TempDir(), "report.csv")
			res := runCLI(t, tokenEnv(), "", cliArgs("revoke", url, input, out, "--exclude", bad)...)
			if res.code != exitFailure || !strings.Contains(res.stderr, tc.err) || tc.hint != "" && !strings.Contains(res.stderr, "\nhint: "+tc.hint) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 1, %q and a hint %q", res.code, res.stderr, tc.err, tc.hint)
			}
			noFile(t, out)
		})
	}
	missing := filepath.Join(t.TempDir(), "nope.csv")
	if res := runCLI(t, tokenEnv(), "", cliArgs("revoke", url, input, out+".2", "--exclude", missing)...); res.code != exitFailure ||
		!strings.Contains(res.stderr, "cannot open the exclusion list") {
		t.Errorf("missing exclusion list: exit %d\n%s", res.code, res.stderr)
	}
	if gs := sim.Stats(); gs.Requests != requests {
		t.Errorf("refused runs sent %d requests", gs.Requests-requests)
	}
}

// TestE2EMaxUsers: a list with more users to revoke than --max-users is refused before
// anything is sent; only users that would be sent count.
func TestE2EMaxUsers(t *testing.T) {
	t.Parallel()
	users := graphsim.GenerateUsers(6, 16)
	sim, url := startSim(t, graphsim.Config{Seed: 16}, users)
	// Six users to revoke; the typo, the repeat and the excluded one do not count.
	list := upnList(users) + "not a upn\n" + strings.ToUpper(users[0].UPN) + "\nextra@contoso.com\n"
	input := writeFile(t, "users.csv", list)
	exclude := writeFile(t, "exclude.csv", "extra@contoso.com\n")
	dir := t.TempDir()

	res := runCLI(t, tokenEnv(), "", cliArgs("revoke", url, input, filepath.Join(dir, "a.csv"), "--max-users", "5", "--exclude", exclude)...)
	if res.code != exitFailure || !strings.Contains(res.stderr, "has 6 users to revoke, more than --max-users 5") ||
		!strings.Contains(res.stderr, "\nhint: check that this is the right file") {
		t.Errorf("6 users, --max-users 5: exit %d\n%s", res.code, res.stderr)
	}
	noFile(t, filepath.Join(dir, "a.csv"))
	// Only the exclusion entry was looked up: nothing was changed.
	if gs := sim.Stats(); gs.Writes != 0 || gs.Patches != 0 || gs.Reads > 1 {
		t.Fatalf("a list over --max-users sent %d writes, %d patches, %d reads", gs.Writes, gs.Patches, gs.Reads)
	}

	// The default limit is 10,000.
	var big strings.Builder
	big.WriteString("userPrincipalName\n")
	for i := range 10001 {
		fmt.Fprintf(&big, "user%d@contoso.com\n", i)
	}
	bigInput := writeFile(t, "big.csv", big.String())
	res = runCLI(t, tokenEnv(), "", cliArgs("revoke", url, bigInput, filepath.Join(dir, "big.csv"))...)
	if res.code != exitFailure || !strings.Contains(res.stderr, "has 10001 users to revoke, more than --max-users 10000") {
		t.Errorf("10,001 users by default: exit %d\n%s", res.code, res.stderr)
	}
	if gs := sim.Stats(); gs.Requests != 1 {
		t.Fatalf("a list over the default limit sent %d requests, want only the earlier run's exclusion lookup", gs.Requests)
	}

	// At the limit, with no limit, and in a dry run the list goes through.
	for i, extra := range [][]string{
		{"--max-users", "6", "--exclude", exclude},
		{"--max-users", "0"},
		{"--max-users", "1", "--dry-run"},
	} {
		out := filepath.Join(dir, fmt.Sprintf("ok%d.csv", i))
		res := runCLI(t, tokenEnv(), "", cliArgs("revoke", url, input, out, extra...)...)
		if res.code != exitIncomplete || len(readReport(t, out)) != 9 {
			t.Errorf("%v: exit %d, want 2 (the typo and the repeat)\n%s", extra, res.code, res.stderr)
		}
	}
	checkRevoked(t, sim, map[string]int{users[0].ID: 2, users[5].ID: 2})
}

// TestE2EConfirmation: at a terminal the tool shows what it is about to do and goes ahead
// only on "yes".
func TestE2EConfirmation(t *testing.T) {
	t.Parallel()
	users := graphsim.GenerateUsers(8, 17)
	sim, url := startSim(t, graphsim.Config{Seed: 17}, users)
	// Eight users, of which one excluded; a typo and a repeat that will not be sent.
	input := writeFile(t, "users.csv", upnList(users)+"not a upn\n"+users[1].UPN+"\n")
	exclude := writeFile(t, "exclude.csv", users[2].UPN+"\n")
	dir := t.TempDir()

	for _, answer := range []string{"no\n", "", "y\n", "yes please\n"} {
		out := filepath.Join(dir, "declined.csv")
		res := confirmRevoke(t, url, input, out, answer, "--exclude", exclude)
		if res.code != exitFailure || !strings.Contains(res.stderr, "bulkrevoke: not confirmed; nothing was revoked") {
			t.Errorf("answer %q: exit %d\n%s", answer, res.code, res.stderr)
		}
		noFile(t, out)
	}
	// Each declined run looked its exclusion entries up, and changed nothing.
	if gs := sim.Stats(); gs.Writes != 0 || gs.Patches != 0 {
		t.Fatalf("declined runs sent %d writes and %d patches", gs.Writes, gs.Patches)
	}

	out := filepath.Join(dir, "report.csv")
	res := confirmRevoke(t, url, input, out, "Yes\r\n", "--exclude", exclude)
	if res.code != exitIncomplete {
		t.Fatalf("confirmed: exit %d, want 2 (the typo and the repeat)\n%s", res.code, res.stderr)
	}
	wantPrompt := fmt.Sprintf("About to revoke the sign-in sessions of 7 users from %s\n  cloud: global   graph: %s\n", input, url)
	for _, u := range []int{0, 1, 3, 4, 5} { // the first five that will be sent: users[2] is excluded
		wantPrompt += "  " + users[u].UPN + "\n"
	}
	wantPrompt += "  ... and 2 more\nType yes to continue: "
	if !strings.Contains(res.stderr, wantPrompt) {
		t.Errorf("prompt:\n%s\nwant:\n%s", res.stderr, wantPrompt)
	}
	if gs := sim.Stats(); gs.Revocations != 7 || len(sim.Revocations(users[2].ID)) != 0 {
		t.Errorf("%d revocations, want the 7 users not excluded", gs.Revocations)
	}
	if len(readReport(t, out)) != 10 {
		t.Error("the confirmed run's report does not have one row per input row")
	}

	// A dry run revokes nothing, so it asks nothing and reads no answer.
	dry := filepath.Join(dir, "dry.csv")
	if res := confirmRevoke(t, url, input, dry, "", "--dry-run"); res.code != exitIncomplete || strings.Contains(res.stderr, "Type yes") {
		t.Errorf("dry run at a terminal: exit %d\n%s", res.code, res.stderr)
	}
	// The list on standard input leaves nothing to type the answer on.
	piped := filepath.Join(dir, "piped.csv")
	if res := confirmRevoke(t, url, "-", piped, upnList(users)); res.code != exitFailure || !strings.Contains(res.stderr, "--yes") {
		t.Errorf("--input - at a terminal without --yes: exit %d\n%s", res.code, res.stderr)
	}
	noFile(t, piped)
}

// TestE2EScripts runs the command as a separate process from the scripts in
// testdata/script/e2e: the demo tenant (--simulate), standard input and a real terminal.
func TestE2EScripts(t *testing.T) {
	testscript.Run(t, scriptParams(t, "testdata/script/e2e", nil))
}
