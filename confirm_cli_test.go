package main

// CLI tests of --confirm-compromised (issue 20, item 2) through the whole program against
// graphsim over loopback HTTP.

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulkrevoke/bulkrevoke/batch"
	"github.com/bulkrevoke/bulkrevoke/graphsim"
)

// confirmPace fails when two confirmCompromised calls reached graphsim within a second.
func confirmPace(t *testing.T, sim *graphsim.Server) {
	t.Helper()
	calls := sim.RiskCalls()
	for i := 1; i < len(calls); i++ {
		if d := calls[i].At.Sub(calls[i-1].At); d < time.Second {
			t.Errorf("calls %d and %d arrived %v apart, want a second at least", i, i+1, d)
		}
	}
}

// TestCLIConfirmCompromised: revoke --block-sign-in --confirm-compromised over 130 users, one of
// them excluded, the tenant's first call refused 429 without Retry-After: every other user is
// blocked, revoked and confirmed, in calls of at most 60 a second or more apart; the excluded
// user is not confirmed; the summary says so and counts the throttling.
func TestCLIConfirmCompromised(t *testing.T) {
	t.Parallel()
	users := cloudUsers(130, 30, "risky")
	sim, url := startSim(t, graphsim.Config{Seed: 30, ThrottleConfirms: 1}, users)
	input := writeFile(t, "users.csv", upnList(users))
	out := filepath.Join(filepath.Dir(input), "report.csv")
	exclude := writeFile(t, "breakglass.csv", "userPrincipalName\n"+users[0].UPN+"\n")
	res := runCLI(t, tokenEnv(), "", cliArgs("revoke", url, input, out, "--block-sign-in", "--confirm-compromised", "--exclude", exclude)...)
	if res.code != exitOK {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	rows := readReport(t, out)
	for i, u := range users {
		r := rows[i+2]
		if i == 0 {
			if r.Status != batch.StatusExcluded || r.RiskConfirmed != nil || journalKinds(sim, u.ID) != "" {
				t.Errorf("excluded user: %s, risk_confirmed %v, journal %q; want excluded and untouched", r.Status, r.RiskConfirmed, journalKinds(sim, u.ID))
			}
			continue
		}
		if r.Status != batch.StatusRevoked || r.RiskConfirmed == nil || !*r.RiskConfirmed || r.RiskError != "" {
			t.Fatalf("%s: %s risk_confirmed %v %q", u.UPN, r.Status, r.RiskConfirmed, r.RiskError)
		}
		if kinds := journalKinds(sim, u.ID); !strings.HasPrefix(kinds, "block") || strings.Count(kinds, "confirm") != 1 || !strings.Contains(kinds, "revoke") {
			t.Errorf("%s: journal %s, want blocked, revoked and confirmed once", u.UPN, kinds)
		}
	}
	confirmPace(t, sim)
	calls := sim.RiskCalls()
	// How the users fall into calls depends on how fast their first steps leave (a call waits a
	// second for more): at most 60 a call, each user in one call that landed.
	landed := 0
	for i, c := range calls {
		if c.IDs > batch.RiskMaxIDs {
			t.Errorf("a call carried %d ids", c.IDs)
		}
		if i == 0 && c.Status != http.StatusTooManyRequests {
			t.Errorf("the first call answered %d, want the 429 graphsim was told to give", c.Status)
		}
		if c.Status == http.StatusNoContent {
			landed += c.IDs
		}
	}
	if landed != len(users)-1 {
		t.Errorf("calls that landed carried %d ids, want %d", landed, len(users)-1)
	}
	containsAll(t, "summary", res.stderr,
		"Risk: 129 users confirmed compromised.", "Throttled responses seen: 1")
}

// TestCLIConfirmNoP2: a tenant without Entra ID P2 refuses the call: warned once on stderr, a
// summary line, every user still blocked and revoked with risk_confirmed false naming P2 and the
// permission, a not_confirmed next step, exit 2.
func TestCLIConfirmNoP2(t *testing.T) {
	t.Parallel()
	users := cloudUsers(70, 30, "risky")
	sim, url := startSim(t, graphsim.Config{Seed: 31, NoP2: true}, users)
	input := writeFile(t, "users.csv", upnList(users))
	out := filepath.Join(filepath.Dir(input), "report.csv")
	res := runCLI(t, tokenEnv(), "", cliArgs("revoke", url, input, out, "--block-sign-in", "--confirm-compromised")...)
	if res.code != exitIncomplete {
		t.Fatalf("exit %d, want 2\n%s", res.code, res.stderr)
	}
	if n := len(sim.RiskCalls()); n != 1 {
		t.Errorf("%d calls, want 1: the tenant's 403 decides for all its users", n)
	}
	rows := readReport(t, out)
	for i, u := range users {
		r := rows[i+2]
		if r.Status != batch.StatusRevoked || journalKinds(sim, u.ID) != "block,revoke" {
			t.Fatalf("%s: %s, journal %s; want blocked and revoked", u.UPN, r.Status, journalKinds(sim, u.ID))
		}
		if r.RiskConfirmed == nil || *r.RiskConfirmed || !strings.Contains(r.RiskError, "Entra ID P2") ||
			!strings.Contains(r.RiskError, "IdentityRiskyUser.ReadWrite.All") {
			t.Fatalf("%s: risk_confirmed %v %q", u.UPN, r.RiskConfirmed, r.RiskError)
		}
	}
	if n := strings.Count(res.stderr, "Identity Protection refused to confirm users compromised"); n != 1 {
		t.Errorf("warned %d times, want once:\n%s", n, res.stderr)
	}
	containsAll(t, "summary", res.stderr,
		"Risk: 0 users confirmed compromised; 70 not confirmed (see risk_confirmed_error).",
		"refused confirmCompromised (HTTP 403): 70 users not confirmed; the tenant needs Entra ID P2 and the app IdentityRiskyUser.ReadWrite.All.",
		"not_confirmed 70")
}

// TestCLIConfirmDryRun: validate --confirm-compromised lists who would be confirmed and sends no
// call; a real run's prompt names the action and says it cannot be undone.
func TestCLIConfirmDryRun(t *testing.T) {
	t.Parallel()
	users := cloudUsers(8, 30, "risky")
	sim, url := startSim(t, graphsim.Config{Seed: 32}, users)
	input := writeFile(t, "users.csv", upnList(users))
	dir := filepath.Dir(input)
	out := filepath.Join(dir, "dry.csv")
	res := runCLI(t, tokenEnv(), "", cliArgs("validate", url, input, out, "--confirm-compromised")...)
	if res.code != exitOK {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	rows := readReport(t, out)
	for i := range users {
		if r := rows[i+2]; !strings.Contains(r.Note, "would confirm compromised") || r.RiskConfirmed != nil {
			t.Errorf("line %d: note %q, risk_confirmed %v", i+2, r.Note, r.RiskConfirmed)
		}
	}
	if n := len(sim.RiskCalls()); n != 0 {
		t.Errorf("a dry run sent %d confirmCompromised calls", n)
	}
	containsAll(t, "dry-run output", res.stderr,
		"Risk: 8 users would be confirmed compromised in Identity Protection.", "DRY RUN: nobody is confirmed compromised")
	declined := confirmRevoke(t, url, input, filepath.Join(dir, "declined.csv"), "no\n", "--block-sign-in", "--confirm-compromised")
	containsAll(t, "prompt", declined.stderr,
		"About to BLOCK SIGN-IN, CONFIRM COMPROMISED and revoke the sessions of 8 users",
		"CANNOT BE UNDONE by bulkrevoke enable", "Entra ID P2")
	if declined.code != exitFailure || len(sim.RiskCalls()) != 0 {
		t.Errorf("declined: exit %d, %d calls", declined.code, len(sim.RiskCalls()))
	}
}

// TestCLIConfirmKillResume kills the program (SIGKILL) once Graph has done its second
// confirmCompromised call (whose answer dies with the process), and resumes from the report the
// dead run left: no user whose row says risk_confirmed true is confirmed again, and every other
// user is confirmed.
func TestCLIConfirmKillResume(t *testing.T) {
	t.Parallel()
	users := cloudUsers(150, 30, "risky")
	input := writeFile(t, "users.csv", upnList(users))
	dir := filepath.Dir(input)
	child := new(childProc)
	var (
		calls atomic.Int64
		fired atomic.Bool
		// answered is how many users the calls answered before the kill confirmed: the client
		// had their answers a second before it sent the call the kill comes with.
		answered atomic.Int64
	)
	cfg := graphsim.Config{Seed: 33, Latency: graphsim.Uniform{Min: time.Millisecond, Max: 5 * time.Millisecond}}
	rs := serveSim(t, tokenSim(cfg, users), simOpts{
		direct: func(rs *simServer, w http.ResponseWriter, r *http.Request) bool {
			if fired.Load() || !strings.Contains(r.URL.Path, "confirmCompromised") || calls.Add(1) < 2 || !fired.CompareAndSwap(false, true) {
				return false
			}
			answered.Store(int64(len(rs.sim.Confirmed())))
			// Graph does the work; the answer dies with the process.
			rs.serveThen(w, r, func() bool {
				child.signal(os.Kill)
				return false
			})
			return true
		}})
	first, second := filepath.Join(dir, "first.csv"), filepath.Join(dir, "second.csv")
	childURL, closeChild := rs.separate(t)
	child.start(t, dir, nil, cliArgs("revoke", childURL, input, first, "--confirm-compromised")...)
	if code := child.wait(t); code != -1 || !fired.Load() {
		t.Fatalf("first run exited %d (kill fired: %v), want killed\n%s", code, fired.Load(), child.stderr.String())
	}
	closeChild()
	rs.drain()
	firstRows, _ := readTornReport(t, first)
	recorded := 0
	for i := range users {
		if r, ok := firstRows[i+2]; ok && r.RiskConfirmed != nil && *r.RiskConfirmed {
			recorded++
		}
	}
	if recorded == 0 || recorded >= len(users) {
		t.Fatalf("the killed run recorded %d confirmations: the kill did not land mid-run", recorded)
	}
	if int64(recorded) != answered.Load() {
		t.Errorf("the killed run recorded %d confirmations of the %d Graph had answered a second before: rows that waited for an answer must be on disk before the next call", recorded, answered.Load())
	}

	rows := resumeRun(t, rs, input, first, second, exitOK, len(users), "--confirm-compromised")
	again := 0
	for i, u := range users {
		r := rows[i+2]
		n := strings.Count(journalKinds(rs.sim, u.ID), "confirm")
		if fr, ok := firstRows[i+2]; ok && fr.RiskConfirmed != nil && *fr.RiskConfirmed && n != 1 {
			t.Errorf("%s: confirmed %d times; the killed run's report said it was confirmed", u.UPN, n)
		}
		if n > 1 {
			again++ // in the call whose answer died with the first run
		}
		if r.Status != batch.StatusRevoked || r.RiskConfirmed == nil || !*r.RiskConfirmed || n == 0 {
			t.Errorf("%s: %s, risk_confirmed %v, confirmed %d times", u.UPN, r.Status, r.RiskConfirmed, n)
		}
	}
	t.Logf("killed run recorded %d confirmations; %d users of the call in flight confirmed again", recorded, again)
}
