package main

// CLI tests of issue 20, item 3: --remove-methods-since through the whole program against
// graphsim over loopback HTTP.

import (
	"fmt"
	"net/http"
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

// methodUsers gives n members methods around 72 hours before now: new ones (71 hours old), old
// ones (73 hours), the password (new, never removed), an Authenticator and an email of unknown
// age, both mobile phones (new). User 1's new FIDO2 key is its default method, which Graph
// keeps while its old methods remain.
func methodUsers(n int, now time.Time) []graphsim.User {
	users := evictionUsers(n)
	newer, older := now.Add(-71*time.Hour), now.Add(-73*time.Hour)
	for i := range users {
		u := &users[i]
		u.Admin, u.OnPremisesSyncEnabled = false, false
		id := func(s string) string { return fmt.Sprintf("%s-%d", s, i) }
		u.Methods = []graphsim.Method{
			{ID: id("pw"), Type: "password", Created: newer},
			{ID: id("fido"), Type: "fido2", Created: newer, DisplayName: "YubiKey 5 NFC"},
			{ID: id("auth"), Type: "microsoftAuthenticator", DisplayName: "attacker's phone"},
			{ID: id("mob"), Type: "phone", PhoneType: "mobile", Created: newer, DisplayName: "+1 555 0100"},
			{ID: id("alt"), Type: "phone", PhoneType: "alternateMobile", Created: newer, DisplayName: "+1 555 0101"},
			{ID: id("mail"), Type: "email", DisplayName: "x@home.example"},
			{ID: id("oath"), Type: "softwareOath", Created: older},
			{ID: id("whfb"), Type: "windowsHelloForBusiness", Created: older, DisplayName: "DESKTOP-7"},
		}
	}
	users[1].DefaultMethod = "fido-1"
	return users
}

// methodsLeft is what is left of a user's methods, by name without the user's number.
func methodsLeft(sim *graphsim.Server, u graphsim.User, i int) []string {
	now, _ := sim.User(u.ID)
	var left []string
	for _, m := range now.Methods {
		left = append(left, strings.TrimSuffix(m.ID, fmt.Sprintf("-%d", i)))
	}
	slices.Sort(left)
	return left
}

func readMethodsReport(t *testing.T, path string) []batch.MethodResult {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ms, err := report.ReadMethods(f)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func methodsWith(ms []batch.MethodResult, o batch.MethodOutcome) []string {
	var out []string
	for _, m := range ms {
		if m.Outcome == o {
			out = append(out, fmt.Sprintf("%d/%s", m.Line, m.ID))
		}
	}
	slices.Sort(out)
	return out
}

// TestCLIRemoveMethods runs validate, then revoke --block-sign-in --reset-password
// --remove-methods-since 72h over 12 users: the dry run changes nothing and lists as
// would_remove exactly what the real run then removes (the cut-off a duration before each
// run's start); graphsim is left with the old methods, those of unknown age and the password;
// each user's journal reads block, reset, the removals, revoke; the default method Graph keeps
// is a failed row with the hint, a next step and exit 2; the summary counts every outcome.
func TestCLIRemoveMethods(t *testing.T) {
	t.Parallel()
	users := methodUsers(12, time.Now())
	sim, url := startSim(t, graphsim.Config{Seed: 30, MethodsPageSize: 3, Latency: graphsim.Uniform{Min: time.Millisecond, Max: 4 * time.Millisecond}}, users)
	dir := t.TempDir()
	input := userListFile(t, dir, users)

	dry := filepath.Join(dir, "dry.csv")
	res := runCLI(t, tokenEnv(), "", cliArgs("validate", url, input, dry, "--remove-methods-since", "72h")...)
	if res.code != exitOK {
		t.Fatalf("validate: exit %d\n%s", res.code, res.stderr)
	}
	if st := sim.Stats(); st.MethodDeletes != 0 || st.Revocations != 0 {
		t.Fatalf("the dry run deleted %d methods, revoked %d users", st.MethodDeletes, st.Revocations)
	}
	for _, want := range []string{"DRY RUN: no authentication method is removed",
		"Methods: 36 would be removed, 24 kept (older), 24 kept (age unknown: review them), 0 failed", "dry.methods.csv"} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("dry-run output lacks %q:\n%s", want, res.stderr)
		}
	}
	would := methodsWith(readMethodsReport(t, report.MethodsPath(dry)), batch.MethodWouldRemove)

	out := filepath.Join(dir, "report.csv")
	res = runCLI(t, tokenEnv(), "", cliArgs("revoke", url, input, out, "--block-sign-in", "--reset-password", "--remove-methods-since", "72h")...)
	if res.code != exitIncomplete {
		t.Fatalf("exit %d, want 2 (user 1's default method)\n%s", res.code, res.stderr)
	}
	ms := readMethodsReport(t, report.MethodsPath(out))
	removed := methodsWith(ms, batch.MethodRemoved)
	failed := methodsWith(ms, batch.MethodFailed)
	if got := slices.Sorted(slices.Values(append(slices.Clone(removed), failed...))); !slices.Equal(got, would) {
		t.Errorf("the dry run would remove\n%v\nthe real run removed or tried\n%v", would, got)
	}
	if !slices.Equal(failed, []string{"3/fido-1"}) {
		t.Errorf("failed rows %v, want user 1's default FIDO2 key", failed)
	}
	if len(ms) != 8*len(users) {
		t.Errorf("%d rows in the methods report, want %d (one per method)", len(ms), 8*len(users))
	}
	rows := readReport(t, out)
	for i, u := range users {
		r := rows[i+2]
		want := []string{"auth", "mail", "oath", "pw", "whfb"}
		removedN := 3
		if i == 1 {
			want, removedN = []string{"auth", "fido", "mail", "oath", "pw", "whfb"}, 2
		}
		if got := methodsLeft(sim, u, i); !slices.Equal(got, want) {
			t.Errorf("%s: methods left %v, want %v", u.UPN, got, want)
		}
		if got, w := journalKinds(sim, u.ID), "block,reset,"+strings.Repeat("method-remove,", removedN)+"revoke"; got != w {
			t.Errorf("%s: journal %s, want %s", u.UPN, got, w)
		}
		if r.Status != batch.StatusRevoked || r.MethodsRemoved == nil || *r.MethodsRemoved != removedN {
			t.Errorf("%s: %s, methods_removed %v, want revoked and %d", u.UPN, r.Status, r.MethodsRemoved, removedN)
		}
		if (i == 1) != (r.MethodsError != "") {
			t.Errorf("%s: methods_error %q", u.UPN, r.MethodsError)
		}
	}
	for _, m := range ms {
		if m.ID == "fido-1" && (m.HTTP != http.StatusBadRequest || !strings.Contains(m.Message, "Cannot delete default method") ||
			!strings.Contains(m.Message, "change the user's default method")) {
			t.Errorf("default method row: %d %q", m.HTTP, m.Message)
		}
		if m.ID == "mob-0" && (m.DisplayName != "mobile +1 555 0100" || m.Created.IsZero()) {
			t.Errorf("phone row: %+v", m)
		}
	}
	for _, want := range []string{
		"Methods: 35 removed, 24 kept (older), 24 kept (age unknown: review them), 1 failed",
		"methods_not_removed 1 (user001@contoso.onmicrosoft.com)",
		"Methods report: " + report.MethodsPath(out),
	} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("summary lacks %q:\n%s", want, res.stderr)
		}
	}
	if st := sim.Stats(); st.Statuses[http.StatusBadRequest] != 2 {
		t.Errorf("graphsim answered %d requests 400, want 2 (the default method, and once more after the others)", st.Statuses[http.StatusBadRequest])
	}

	declined := confirmRevoke(t, url, input, filepath.Join(dir, "declined.csv"), "no\n", "--remove-methods-since", "2026-01-02T03:04:05Z")
	for _, want := range []string{"About to REMOVE THE AUTHENTICATION METHODS REGISTERED SINCE 2026-01-02T03:04:05Z and revoke the sessions of 12 users",
		"CANNOT BE UNDONE", "register it again"} {
		if !strings.Contains(declined.stderr, want) {
			t.Errorf("prompt lacks %q:\n%s", want, declined.stderr)
		}
	}
}

// TestCLIRemoveMethodsSince: an RFC 3339 time removes exactly the methods created at or after
// it, and nothing of an excluded user's; a value that is neither a time nor a positive
// duration, or --offline, is refused before anything is sent, naming the forms accepted.
func TestCLIRemoveMethodsSince(t *testing.T) {
	t.Parallel()
	cut := time.Now().Add(-10 * 24 * time.Hour).Truncate(time.Second)
	users := evictionUsers(3)
	for i := range users {
		users[i].Admin, users[i].OnPremisesSyncEnabled = false, false
		users[i].Methods = []graphsim.Method{
			{ID: "at", Type: "fido2", Created: cut},
			{ID: "before", Type: "fido2", Created: cut.Add(-time.Second)},
			{ID: "after", Type: "temporaryAccessPass", Created: cut.Add(time.Second)},
		}
	}
	sim, url := startSim(t, graphsim.Config{Seed: 31}, users)
	dir := t.TempDir()
	input := userListFile(t, dir, users)
	for _, bad := range []string{"yesterday", "-72h", "0s", "2026-13-01T00:00:00Z"} {
		res := runCLI(t, tokenEnv(), "", cliArgs("revoke", url, input, filepath.Join(dir, "bad.csv"), "--remove-methods-since", bad)...)
		if res.code != exitFailure || !strings.Contains(res.stderr, "RFC 3339") || !strings.Contains(res.stderr, "72h") {
			t.Errorf("--remove-methods-since %s: exit %d\n%s", bad, res.code, res.stderr)
		}
	}
	res := runCLI(t, tokenEnv(), "", cliArgs("validate", url, input, filepath.Join(dir, "off.csv"), "--offline", "--remove-methods-since", "72h")...)
	if res.code != exitFailure || !strings.Contains(res.stderr, "--offline sends nothing") {
		t.Errorf("--offline: exit %d\n%s", res.code, res.stderr)
	}
	if st := sim.Stats(); st.Envelopes+st.Reads+st.Lists != 0 {
		t.Fatalf("refused runs sent requests: %+v", st)
	}
	out := filepath.Join(dir, "r.csv")
	exclude := filepath.Join(dir, "breakglass.csv")
	if err := os.WriteFile(exclude, []byte("upn\n"+users[0].UPN+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	res = runCLI(t, tokenEnv(), "", cliArgs("revoke", url, input, out, "--remove-methods-since", cut.Format(time.RFC3339), "--exclude", exclude)...)
	if res.code != exitOK {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	if got := methodsLeft(sim, users[0], 0); len(got) != 3 {
		t.Errorf("the excluded user's methods: %v, want all three", got)
	}
	for i, u := range users[1:] {
		i++
		if got := methodsLeft(sim, u, i); !slices.Equal(got, []string{"before"}) {
			t.Errorf("%s: methods left %v, want only the one created before the cut-off", u.UPN, got)
		}
	}
}

// TestCLIRemoveMethodsKillResume kills the program (SIGKILL) right after Graph removed its
// 40th method and resumes from the report the dead run left: no removal is sent again (Graph
// never answers 404 for a method gone), every user's new methods are gone and the old ones
// kept, every user is revoked after its removals, and the resumed methods report has one row
// per method, a removed row for every method Graph removed, those whose answers died with the
// dead run (recorded there as removing) included.
func TestCLIRemoveMethodsKillResume(t *testing.T) {
	t.Parallel()
	users := methodUsers(60, time.Now())
	users[1].DefaultMethod = ""
	dir := t.TempDir()
	input := userListFile(t, dir, users)
	first, second := filepath.Join(dir, "first.csv"), filepath.Join(dir, "second.csv")
	rs := killAfterCount(t, graphsim.Config{Seed: 32, Latency: graphsim.Uniform{Min: time.Millisecond, Max: 8 * time.Millisecond}}, users,
		dir, `"DELETE"`, 40, func(url string) []string {
			return cliArgs("revoke", url, input, first, "--remove-methods-since", "72h")
		})
	firstMs := readMethodsReport(t, report.MethodsPath(first))
	firstRemoved := methodsWith(firstMs, batch.MethodRemoved)
	intents := len(methodsWith(firstMs, batch.MethodRemoving))
	if len(firstRemoved) == 0 || len(firstRemoved) >= 3*len(users) {
		t.Fatalf("the killed run recorded %d removals: the kill did not land mid-run", len(firstRemoved))
	}

	// A duration on resume would move the cut-off; the summary's command gives the time.
	res := runCLI(t, tokenEnv(), "", cliArgs("revoke", rs.url, input, second, "--remove-methods-since", "72h", "--resume", first)...)
	if res.code != exitOK {
		t.Fatalf("resumed run: exit %d\n%s", res.code, res.stderr)
	}
	rs.drain()
	if st := rs.sim.Stats(); st.Statuses[http.StatusNotFound] != 0 || st.MethodDeletes != 3*len(users) {
		t.Errorf("graphsim: %d removals answered 404 (sent again), %d methods removed; want 0 and %d",
			st.Statuses[http.StatusNotFound], st.MethodDeletes, 3*len(users))
	}
	rows := readReport(t, second)
	ms := readMethodsReport(t, report.MethodsPath(second))
	removed := methodsWith(ms, batch.MethodRemoved)
	for _, k := range firstRemoved {
		if _, found := slices.BinarySearch(removed, k); !found {
			t.Errorf("the resumed methods report lost %s, which the killed run removed", k)
		}
	}
	seen := map[string]bool{}
	for _, m := range ms {
		k := fmt.Sprintf("%d/%s", m.Line, m.ID)
		if seen[k] {
			t.Errorf("%s has two rows in the resumed methods report", k)
		}
		seen[k] = true
	}
	for i, u := range users {
		if got := methodsLeft(rs.sim, u, i); !slices.Equal(got, []string{"auth", "mail", "oath", "pw", "whfb"}) {
			t.Errorf("%s: methods left %v", u.UPN, got)
		}
		kinds := journalKinds(rs.sim, u.ID)
		if strings.Count(kinds, "method-remove") != 3 || !strings.HasSuffix(kinds, "revoke") || strings.Index(kinds, "revoke") < strings.LastIndex(kinds, "method-remove") {
			t.Errorf("%s: journal %s, want three removals, then the revoke", u.UPN, kinds)
		}
		if r := rows[i+2]; r.Status != batch.StatusRevoked || r.MethodsError != "" {
			t.Errorf("%s: %s, methods_error %q", u.UPN, r.Status, r.MethodsError)
		}
	}
	if len(removed) != 3*len(users) || len(methodsWith(ms, batch.MethodRemoving)) != 0 || len(ms) != 8*len(users) {
		t.Errorf("the resumed methods report has %d rows, %d removed and %d removing; want %d, %d and none",
			len(ms), len(removed), len(methodsWith(ms, batch.MethodRemoving)), 8*len(users), 3*len(users))
	}
	t.Logf("killed run recorded %d removals and %d intents", len(firstRemoved), intents)
}

// TestCLIRemoveMethodsRefused: an app without UserAuthenticationMethod.ReadWrite.All still
// revokes every user; each row says why its methods were not listed, the next step names the
// permission, and the run exits 2. The command that runs the failed user again names the
// cut-off the run resolved from 72h, not the duration, which would have moved it.
func TestCLIRemoveMethodsRefused(t *testing.T) {
	t.Parallel()
	users := methodUsers(5, time.Now())
	users[4].Failing = http.StatusInternalServerError
	sim, url := startSim(t, graphsim.Config{Seed: 33, NoMethodsPermission: true}, users)
	dir := t.TempDir()
	input := userListFile(t, dir, users)
	out := filepath.Join(dir, "r.csv")
	before := time.Now()
	res := runCLI(t, tokenEnv(), "", cliArgs("revoke", url, input, out, "--remove-methods-since", "72h", "--max-attempts", "1")...)
	after := time.Now()
	if res.code != exitIncomplete {
		t.Fatalf("exit %d, want 2\n%s", res.code, res.stderr)
	}
	_, retry, found := strings.Cut(res.stderr, "--remove-methods-since ")
	if f := strings.Fields(retry); len(f) > 0 {
		retry = f[0]
	}
	at, err := time.Parse(time.RFC3339Nano, retry)
	if !found || err != nil || at.Before(before.Add(-72*time.Hour)) || at.After(after.Add(-72*time.Hour)) {
		t.Errorf("the retry command names --remove-methods-since %q, want the time 72h before the run started\n%s", retry, res.stderr)
	}
	rows := readReport(t, out)
	users = users[:4]
	for i, u := range users {
		r := rows[i+2]
		if r.Status != batch.StatusRevoked || r.MethodsRemoved != nil || !strings.Contains(r.MethodsError, "HTTP 403") {
			t.Errorf("%s: %s, methods_removed %v, methods_error %q", u.UPN, r.Status, r.MethodsRemoved, r.MethodsError)
		}
		if got := journalKinds(sim, u.ID); got != "revoke" {
			t.Errorf("%s: journal %s, want the revoke only", u.UPN, got)
		}
	}
	for _, want := range []string{"listing failed for 4 users", "methods_not_removed 4",
		"listing and removing methods needs the application permission UserAuthenticationMethod.ReadWrite.All"} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("summary lacks %q:\n%s", want, res.stderr)
		}
	}
}
