package main

// The revoke command end to end, in-process, over real loopback HTTP against graphsim: each
// test checks the report row by row, graphsim's journal and the exit code.

import (
	"encoding/base64"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bulkrevoke/bulkrevoke/batch"
	"github.com/bulkrevoke/bulkrevoke/graphsim"
)

// revokeTenant holds one user of each kind the tool must handle: mixedTenant's first six, with
// display names from their UPNs and the former employee under an id of digits, as revokeInput
// names it.
func revokeTenant() []graphsim.User {
	u := func(id, upn, typ string, enabled bool) graphsim.User {
		return graphsim.User{ID: id, UPN: upn, DisplayName: strings.Split(upn, "@")[0], UserType: typ, AccountEnabled: enabled}
	}
	users := []graphsim.User{
		u("11111111-1111-4111-8111-111111111111", "adele@contoso.com", "Member", true),
		u("22222222-2222-4222-8222-222222222222", "megan_fabrikam.com#EXT#@contoso.onmicrosoft.com", "Guest", true),
		u("33333333-3333-4333-8333-333333333333", "$svc@contoso.com", "Member", true),
		u("44444444-4444-4444-8444-444444444444", "o'brien@contoso.com", "Member", true),
		u("55555555-5555-4555-8555-555555555555", "admin@contoso.com", "Member", true),
		u("66666666-6666-4666-8666-666666666666", "former@contoso.com", "Member", false),
	}
	users[4].Protected = true
	return users
}

// revokeInput lists the tenant's users the way an admin's file would, with the usual mistakes.
const revokeInput = `userPrincipalName,displayName
adele@contoso.com,Adele
megan_fabrikam.com#EXT#@contoso.onmicrosoft.com,Megan (guest)
$svc@contoso.com,Service
"o'brien@contoso.com",Siobhan
admin@contoso.com,Protected admin
ghost@contoso.com,Not in the tenant
not a upn,Typo
ADELE@contoso.com,Repeat of line 2
66666666-6666-4666-8666-666666666666,Former (by object id)
`

// checkStatuses checks the status of every report row; want names every row.
func checkStatuses(t *testing.T, rows map[int]batch.Result, want map[int]batch.Status) {
	t.Helper()
	got := map[int]batch.Status{}
	for l, r := range rows {
		got[l] = r.Status
	}
	if len(got) != len(want) {
		t.Errorf("%d report rows, want %d: %v", len(got), len(want), got)
	}
	for l, w := range want {
		if got[l] != w {
			r := rows[l]
			t.Errorf("line %d: %s (%d %s %s), want %s", l, got[l], r.HTTP, r.Code, r.Message, w)
		}
	}
}

func TestRevokeMixedList(t *testing.T) {
	t.Parallel()
	sim, url := startSim(t, graphsim.Config{Seed: 1, FractionalRetryAfter: true}, revokeTenant())
	input := writeFile(t, "users.csv", revokeInput)
	out := input + ".report.csv"
	res := runCLI(t, tokenEnv(), "", cliArgs("revoke", url, input, out)...)
	if res.code != exitIncomplete {
		t.Fatalf("exit %d, want %d\n%s", res.code, exitIncomplete, res.stderr)
	}
	rows := readReport(t, out)
	checkStatuses(t, rows, map[int]batch.Status{
		2: batch.StatusRevoked, 3: batch.StatusRevoked, 4: batch.StatusRevoked, 5: batch.StatusRevoked,
		6: batch.StatusDenied, 7: batch.StatusNotFound, 8: batch.StatusInvalid, 9: batch.StatusDuplicate,
		10: batch.StatusRevoked,
	})
	if r := rows[3]; !strings.Contains(r.Note, "guest") || r.RequestID == "" || r.ClientRequestID == "" {
		t.Errorf("guest row = %+v, want a guest note and both request ids", r)
	}
	if r := rows[7]; r.HTTP != 404 || r.Code != "Request_ResourceNotFound" {
		t.Errorf("missing user row = %+v", r)
	}
	if r := rows[9]; !strings.Contains(r.Message, "line 2") {
		t.Errorf("duplicate row message %q does not name line 2", r.Message)
	}
	for _, u := range revokeTenant() {
		want := 1
		if u.Protected {
			want = 0
		}
		if n := len(sim.Revocations(u.ID)); n != want {
			t.Errorf("%s revoked %d times, want %d", u.UPN, n, want)
		}
	}
	if gs := sim.Stats(); gs.EarlyRetries != 0 {
		t.Errorf("%d early retries", gs.EarlyRetries)
	}
	fi, err := os.Stat(out)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("report mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	containsAll(t, "summary", res.stderr, "revoked", "not_found", "denied", out, "access")
}

// TestRevokeUnderFaults: throttled steps with fractional Retry-After, transient 5xx and an
// envelope-level 429 all end revoked, once each, with no early retry.
func TestRevokeUnderFaults(t *testing.T) {
	t.Parallel()
	users := graphsim.GenerateUsers(120, 7)
	sim, url := startSim(t, graphsim.Config{Seed: 3, FractionalRetryAfter: true, Faults: graphsim.Faults{
		StepRate: 0.3, StepStatuses: []int{503}, RetryAfter: 300 * time.Millisecond, // 503s name their wait
		// A few throttled steps, not a storm: repeated 429s rightly make the engine slow down
		// for minutes, as if another app were eating the quota.
		Schedule: []graphsim.Scheduled{
			{Kind: graphsim.EnvelopeFault, Status: 429, Nth: 1},
			{Kind: graphsim.StepFault, Status: 429, Nth: 7},
			{Kind: graphsim.StepFault, Status: 429, Nth: 45},
		},
	}}, users)
	input := writeFile(t, "users.csv", upnList(users))
	out := input + ".report.csv"
	res := runCLI(t, tokenEnv(), "", cliArgs("revoke", url, input, out, "--max-attempts", "20")...)
	if res.code != exitOK {
		t.Fatalf("exit %d, want 0\n%s", res.code, res.stderr)
	}
	rows := readReport(t, out)
	if len(rows) != len(users) {
		t.Fatalf("%d report rows for %d users", len(rows), len(users))
	}
	retried := 0
	for l, r := range rows {
		if r.Status != batch.StatusRevoked {
			t.Errorf("line %d: %s %s", l, r.Status, r.Message)
		}
		if r.Attempts > 1 {
			retried++
		}
	}
	gs := sim.Stats()
	if gs.EarlyRetries != 0 || gs.EnvelopeThrottled == 0 || gs.Throttled < 2 || retried == 0 {
		t.Errorf("early retries %d, envelope 429s %d, 429s %d, rows retried %d: want 0, >0, >=2, >0",
			gs.EarlyRetries, gs.EnvelopeThrottled, gs.Throttled, retried)
	}
	for _, u := range users {
		if n := len(sim.Revocations(u.ID)); n < 1 {
			t.Errorf("%s never revoked", u.UPN)
		}
	}
}

func TestDryRun(t *testing.T) {
	t.Parallel()
	sim, url := startSim(t, graphsim.Config{Seed: 1}, revokeTenant())
	sim.SetDryRun(true)
	input := writeFile(t, "users.csv", revokeInput+"former@contoso.com,Former (by UPN)\n")
	out := input + ".report.csv"
	res := runCLI(t, tokenEnv(), "", cliArgs("validate", url, input, out)...)
	if res.code != exitIncomplete {
		t.Fatalf("exit %d, want 2\n%s", res.code, res.stderr)
	}
	rows := readReport(t, out)
	checkStatuses(t, rows, map[int]batch.Status{
		// A dry run cannot see the 403 a protected user gives on revoke: it reads, not writes.
		2: batch.StatusWouldRevoke, 3: batch.StatusWouldRevoke, 4: batch.StatusWouldRevoke, 5: batch.StatusWouldRevoke,
		6: batch.StatusWouldRevoke, 7: batch.StatusNotFound, 8: batch.StatusInvalid, 9: batch.StatusDuplicate,
		10: batch.StatusWouldRevoke, 11: batch.StatusDuplicate,
	})
	r := rows[10]
	if r.UPN != "former@contoso.com" || r.DisplayName != "former" || r.AccountEnabled == nil || *r.AccountEnabled ||
		r.UserType != "Member" || !strings.Contains(r.Note, "disabled") {
		t.Errorf("disabled user's row = %+v", r)
	}
	if r := rows[11]; !strings.Contains(r.Message, "line 10") {
		t.Errorf("UPN of the user named by object id on line 10: message %q", r.Message)
	}
	if r := rows[3]; r.UserType != "Guest" || !strings.Contains(r.Note, "guest") || r.UserID != "22222222-2222-4222-8222-222222222222" {
		t.Errorf("guest row = %+v", r)
	}
	if gs := sim.Stats(); gs.Writes != 0 || gs.DryRunWrites != 0 || gs.Reads == 0 {
		t.Errorf("dry run: %d writes (%d flagged), %d reads; want 0, 0, >0", gs.Writes, gs.DryRunWrites, gs.Reads)
	}

	// Every row would be revoked: exit 0.
	clean := writeFile(t, "clean.csv", "upn\nadele@contoso.com\n44444444-4444-4444-8444-444444444444\n")
	if res := runCLI(t, tokenEnv(), "", cliArgs("revoke", url, clean, clean+".r.csv", "--dry-run")...); res.code != exitOK {
		t.Errorf("clean dry run: exit %d\n%s", res.code, res.stderr)
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	users := revokeTenant()
	users[0].IgnoreRevoke = true // adele: Graph says yes, the timestamp does not move
	_, url := startSim(t, graphsim.Config{Seed: 1}, users)
	input := writeFile(t, "users.csv", "upn\nadele@contoso.com\n44444444-4444-4444-8444-444444444444\n$svc@contoso.com\n")
	out := input + ".report.csv"
	res := runCLI(t, tokenEnv(), "", cliArgs("revoke", url, input, out, "--verify")...)
	if res.code != exitIncomplete {
		t.Fatalf("exit %d, want 2 (one revoke did not verify)\n%s", res.code, res.stderr)
	}
	rows := readReport(t, out)
	checkStatuses(t, rows, map[int]batch.Status{2: batch.StatusRevoked, 3: batch.StatusRevoked, 4: batch.StatusRevoked})
	if r := rows[2]; r.Verified == nil || *r.Verified || !strings.Contains(r.Note, "did not move") {
		t.Errorf("ignored revoke: verified=%v note=%q, want false and a note", r.Verified, r.Note)
	}
	for _, l := range []int{3, 4} {
		r := rows[l]
		if r.Verified == nil || !*r.Verified || r.SessionsValidFrom.IsZero() || time.Since(r.SessionsValidFrom) > time.Minute {
			t.Errorf("line %d: verified=%v sessions_valid_from=%v, want true and just now", l, r.Verified, r.SessionsValidFrom)
		}
	}
	if r := rows[3]; r.UPN != "o'brien@contoso.com" {
		t.Errorf("a user given by object id gets its UPN from the read-back: %q", r.UPN)
	}
	if !strings.Contains(res.stderr, "Not confirmed by read-back: 1") {
		t.Errorf("summary does not count the unverified user:\n%s", res.stderr)
	}
}

func TestResume(t *testing.T) {
	t.Parallel()
	users := graphsim.GenerateUsers(60, 9)
	sim, url := startSim(t, graphsim.Config{Seed: 2}, users)
	input := writeFile(t, "users.csv", upnList(users))
	first := input + ".first.csv"
	if res := runCLI(t, tokenEnv(), "", cliArgs("revoke", url, input, first)...); res.code != exitOK {
		t.Fatalf("first run: exit %d\n%s", res.code, res.stderr)
	}
	// Cut the report as a crash would: keep the header and the first 25 rows, then half a row.
	var lost []int
	for l := 28; l <= len(users)+1; l++ {
		lost = append(lost, l)
	}
	cutReport(t, first, lost...)
	kept, _ := readTornReport(t, first)
	if len(kept) != 25 {
		t.Fatalf("cut report has %d rows, want 25 (the torn one ignored)", len(kept))
	}

	second := input + ".second.csv"
	res := runCLI(t, tokenEnv(), "", cliArgs("revoke", url, input, second, "--resume", first)...)
	if res.code != exitOK {
		t.Fatalf("resume: exit %d\n%s", res.code, res.stderr)
	}
	rows := readReport(t, second)
	if len(rows) != len(users) {
		t.Fatalf("%d rows after resume, want %d", len(rows), len(users))
	}
	for l, r := range rows {
		if r.Status != batch.StatusRevoked {
			t.Errorf("line %d: %s", l, r.Status)
		}
		if _, carried := kept[l]; carried && !strings.Contains(r.Note, "not sent again") {
			t.Errorf("line %d was revoked before; note %q does not say it was carried over", l, r.Note)
		}
	}
	for _, u := range users {
		if n := len(sim.Revocations(u.ID)); n != 2 && n != 1 {
			t.Errorf("%s revoked %d times", u.UPN, n)
		}
	}
	if got := sim.Stats().Revocations; got != len(users)+len(users)-len(kept) {
		t.Errorf("%d revocations in both runs, want %d: the resumed run re-sent carried users", got, 2*len(users)-len(kept))
	}

	// A report of another list is refused before anything is sent.
	other := writeFile(t, "other.csv", "upn\nsomeone@contoso.com\n")
	before := sim.Stats().Requests
	res = runCLI(t, tokenEnv(), "", cliArgs("revoke", url, other, other+".r.csv", "--resume", first)...)
	if res.code != exitFailure || !strings.Contains(res.stderr, "different input") || !strings.Contains(res.stderr, "hint:") {
		t.Errorf("resume with a foreign report: exit %d\n%s", res.code, res.stderr)
	}
	if sim.Stats().Requests != before {
		t.Error("a refused resume sent requests")
	}
	// The report being resumed cannot be the new one.
	if res := runCLI(t, tokenEnv(), "", cliArgs("revoke", url, input, first, "--resume", first, "--force")...); res.code != exitFailure {
		t.Errorf("--report equal to --resume: exit %d", res.code)
	}
}

func TestGuardRails(t *testing.T) {
	t.Parallel()
	sim, url := startSim(t, graphsim.Config{Seed: 1}, revokeTenant())
	input := writeFile(t, "users.csv", "upn\nadele@contoso.com\nadmin@contoso.com\n$svc@contoso.com\n")
	exclude := writeFile(t, "breakglass.csv", "admin@contoso.com\n")
	out := input + ".r.csv"
	res := runCLI(t, tokenEnv(), "", cliArgs("revoke", url, input, out, "--exclude", exclude)...)
	if res.code != exitOK {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	checkStatuses(t, readReport(t, out), map[int]batch.Status{2: batch.StatusRevoked, 3: batch.StatusExcluded, 4: batch.StatusRevoked})
	if n := len(sim.Revocations("admin@contoso.com")); n != 0 || sim.Stats().Writes != 2 {
		t.Errorf("excluded user sent: %d revocations, %d writes", n, sim.Stats().Writes)
	}

	badExclude := writeFile(t, "bad.csv", "not an address\n")
	if res := runCLI(t, tokenEnv(), "", cliArgs("revoke", url, input, input+".x.csv", "--exclude", badExclude)...); res.code != exitFailure {
		t.Errorf("unreadable exclusion list: exit %d", res.code)
	}

	before := sim.Stats().Requests
	res = runCLI(t, tokenEnv(), "", cliArgs("revoke", url, input, input+".m.csv", "--max-users", "2")...)
	if res.code != exitFailure || !strings.Contains(res.stderr, "--max-users") {
		t.Errorf("over --max-users: exit %d\n%s", res.code, res.stderr)
	}
	noFile(t, input+".m.csv")
	if sim.Stats().Requests != before {
		t.Error("a run refused by --max-users sent requests")
	}
	// admin@ is protected: denied, hence exit 2, but the run went ahead.
	if res := runCLI(t, tokenEnv(), "", cliArgs("revoke", url, input, input+".z.csv", "--max-users", "0")...); res.code != exitIncomplete {
		t.Errorf("--max-users 0 means no limit: exit %d\n%s", res.code, res.stderr)
	}
}

func TestConfirmation(t *testing.T) {
	t.Parallel()
	sim, url := startSim(t, graphsim.Config{Seed: 1}, revokeTenant())
	input := writeFile(t, "users.csv", "upn\nadele@contoso.com\n$svc@contoso.com\n")
	try := func(answer string, tty bool, out string) cliResult {
		return runCLIWith(t, cliOpts{env: tokenEnv(), tty: tty, stdin: answer}, "revoke", "--auth", "token", "--graph-url", url, "--input", input, "--report", out)
	}

	no := try("no\n", true, input+".no.csv")
	if no.code != exitFailure || !strings.Contains(no.stderr, "About to revoke the sign-in sessions of 2 users") ||
		!strings.Contains(no.stderr, "adele@contoso.com") || !strings.Contains(no.stderr, url) {
		t.Errorf("declined prompt: exit %d\n%s", no.code, no.stderr)
	}
	script := try("", false, input+".script.csv")
	if script.code != exitFailure || !strings.Contains(script.stderr, "--yes") {
		t.Errorf("no terminal, no --yes: exit %d\n%s", script.code, script.stderr)
	}
	noFile(t, input+".no.csv")
	noFile(t, input+".script.csv")
	if sim.Stats().Writes != 0 {
		t.Fatal("unconfirmed runs revoked users")
	}
	if yes := try("yes\n", true, input+".yes.csv"); yes.code != exitOK {
		t.Errorf("confirmed: exit %d\n%s", yes.code, yes.stderr)
	}
	if sim.Stats().Revocations != 2 {
		t.Errorf("%d revocations after confirming, want 2", sim.Stats().Revocations)
	}
}

// unsignedJWT is a token with the given claims, which tokenTenant reads without a signature.
func unsignedJWT(claims string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none"}`)) + "." + enc([]byte(claims)) + ".sig"
}

func TestTokenTenant(t *testing.T) {
	const tid = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	tests := []struct{ token, want string }{
		{unsignedJWT(`{"tid":"` + tid + `","aud":"https://graph.microsoft.com"}`), tid},
		{unsignedJWT(`{"aud":"x"}`), ""},
		{unsignedJWT(`{"tid":"=HYPERLINK(1)"}`), ""}, // never echo a claim that is not a tenant id
		{"opaque-token", ""},
		{"a.%%%.c", ""},
	}
	for _, tc := range tests {
		if got := tokenTenant(tc.token); got != tc.want {
			t.Errorf("tokenTenant(%q) = %q, want %q", tc.token, got, tc.want)
		}
	}

	// The confirmation prompt names the tenant the token is for.
	token := unsignedJWT(`{"tid":"` + tid + `"}`)
	ss := serveSim(t, graphsim.New(graphsim.Config{Token: token}, revokeTenant()), simOpts{})
	input := writeFile(t, "users.csv", "upn\nadele@contoso.com\n")
	res := runCLIWith(t, cliOpts{env: map[string]string{"BULKREVOKE_ACCESS_TOKEN": token}, tty: true, stdin: "no\n"},
		"revoke", "--auth", "token", "--graph-url", ss.url, "--input", input, "--report", input+".r.csv")
	if res.code != exitFailure || !strings.Contains(res.stderr, "tenant: "+tid) {
		t.Errorf("prompt does not name the token's tenant:\n%s", res.stderr)
	}
	if strings.Contains(res.stderr, token) {
		t.Error("the prompt printed the token")
	}
}
