package main

// CLI tests of issue 20 (evict, not only revoke): --reset-password through the whole program
// against graphsim over loopback HTTP.

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulkrevoke/bulkrevoke/batch"
	"github.com/bulkrevoke/bulkrevoke/graphsim"
)

// evictionUsers is a list's tenant: n members, of which user 1 is an admin the app may not reset and
// user 2 is synced from AD.
func evictionUsers(n int) []graphsim.User {
	users := cloudUsers(n, 20, "user")
	for i := range users {
		users[i].Admin = false
	}
	users[1].Admin = true
	users[2].OnPremisesSyncEnabled = true
	return users
}

// userListFile writes the users' list (their UPNs) to dir/users.csv and returns its path.
func userListFile(t *testing.T, dir string, users []graphsim.User) string {
	t.Helper()
	p := filepath.Join(dir, "users.csv")
	if err := os.WriteFile(p, []byte(upnList(users)), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// noPasswords fails when any password graphsim received is in outputs or in any file under dir.
func noPasswords(t *testing.T, sim *graphsim.Server, dir string, outputs ...string) {
	t.Helper()
	pw := sim.Passwords()
	if len(pw) == 0 {
		t.Fatal("graphsim received no password: nothing to search for")
	}
	var all bytes.Buffer
	files := 0
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		files++
		all.Write(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range outputs {
		all.WriteString(o)
	}
	for _, p := range pw {
		// A third of a password is already far too much to leak.
		for _, part := range []string{p, p[:len(p)/3], p[len(p)/3 : 2*len(p)/3], p[2*len(p)/3:]} {
			if bytes.Contains(all.Bytes(), []byte(part)) {
				t.Fatalf("a password graphsim received (or a third of one) is in the outputs or the %d files under %s", files, dir)
			}
		}
	}
}

// TestCLIResetPassword runs revoke --block-sign-in --reset-password -v over 40 users: every user
// is blocked, reset and revoked in that order; the admin and the synced user are revoked with
// their reasons and make exit 2 (next steps not_reset); no password appears anywhere.
func TestCLIResetPassword(t *testing.T) {
	t.Parallel()
	users := evictionUsers(40)
	sim, url := startSim(t, graphsim.Config{Seed: 20, Latency: graphsim.Uniform{Min: time.Millisecond, Max: 5 * time.Millisecond}}, users)
	dir := t.TempDir()
	input := userListFile(t, dir, users)
	out := filepath.Join(dir, "report.csv")
	res := runCLI(t, tokenEnv(), "", cliArgs("revoke", url, input, out, "--block-sign-in", "--reset-password", "-v", "--log-format", "json")...)
	if res.code != exitIncomplete {
		t.Fatalf("exit %d, want 2 (two passwords not reset)\n%s", res.code, res.stderr)
	}
	rows := readReport(t, out)
	for i, u := range users {
		r := rows[i+2]
		want := "block,reset,revoke"
		switch i {
		case 1:
			want = "block,revoke"
		case 2:
			want = "revoke"
		}
		if got := journalKinds(sim, u.ID); got != want {
			t.Errorf("%s: journal %s, want %s", u.UPN, got, want)
		}
		if r.Status != batch.StatusRevoked {
			t.Errorf("%s: %s, want revoked", u.UPN, r.Status)
		}
		switch i {
		case 1:
			if r.Reset == nil || *r.Reset || !strings.Contains(r.ResetError, "Insufficient privileges to complete the operation.") ||
				!strings.Contains(r.ResetError, "Privileged Authentication Administrator") {
				t.Errorf("admin: password_reset %v, error %q", r.Reset, r.ResetError)
			}
		case 2:
			if r.Reset == nil || *r.Reset || !strings.Contains(r.ResetError, "reset it in AD, twice") {
				t.Errorf("synced: password_reset %v, error %q", r.Reset, r.ResetError)
			}
		default:
			if r.Reset == nil || !*r.Reset {
				t.Errorf("%s: password_reset %v, want true", u.UPN, r.Reset)
			}
		}
	}
	for _, want := range []string{
		"Passwords reset for 38 users; 2 not reset (see password_reset_error).",
		"not_reset 1 (user001@contoso.onmicrosoft.com): resetting passwords needs the application permission User-PasswordProfile.ReadWrite.All; for an admin",
		"not_reset 1 (user002@contoso.onmicrosoft.com): synced from on-premises AD, whose passwords Graph cannot reset: reset them in AD, twice",
	} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("summary lacks %q:\n%s", want, res.stderr)
		}
	}
	if !strings.Contains(res.stderr, `"level":"DEBUG"`) {
		t.Errorf("-v wrote no debug line: the search below would prove less\n%.2000s", res.stderr)
	}
	if n := len(sim.Passwords()); n != 38 {
		t.Errorf("graphsim received %d passwords, want 38", n)
	}
	noPasswords(t, sim, dir, res.stdout, res.stderr)
}

// TestCLIResetPasswordDryRun: validate --reset-password sends no write and says, per row and in
// the summary, which passwords a real run would reset; the prompt of a real run says what
// cannot be undone.
func TestCLIResetPasswordDryRun(t *testing.T) {
	t.Parallel()
	users := evictionUsers(6)
	sim, url := startSim(t, graphsim.Config{Seed: 21}, users)
	dir := t.TempDir()
	input := userListFile(t, dir, users)
	out := filepath.Join(dir, "dry.csv")
	res := runCLI(t, tokenEnv(), "", cliArgs("validate", url, input, out, "--block-sign-in", "--reset-password")...)
	if res.code != exitOK {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	rows := readReport(t, out)
	for i := range users {
		r := rows[i+2]
		want := "password would be reset"
		if i == 2 {
			want = "password would not be reset: synced from on-premises AD"
		}
		if !strings.Contains(r.Note, want) || r.Reset != nil {
			t.Errorf("line %d: note %q, password_reset %v; want %q and empty", i+2, r.Note, r.Reset, want)
		}
	}
	if st := sim.Stats(); st.Patches != 0 || len(sim.Passwords()) != 0 || st.Revocations != 0 {
		t.Errorf("a dry run sent %d PATCHes, %d passwords, %d revokes", st.Patches, len(sim.Passwords()), st.Revocations)
	}
	if !strings.Contains(res.stderr, "Passwords: 5 users would be reset.") || !strings.Contains(res.stderr, "DRY RUN: no password is reset") {
		t.Errorf("dry-run summary:\n%s", res.stderr)
	}

	declined := confirmRevoke(t, url, input, filepath.Join(dir, "declined.csv"), "no\n", "--block-sign-in", "--reset-password", "--disable-devices")
	for _, want := range []string{"About to BLOCK SIGN-IN, RESET THE PASSWORDS, revoke the sessions and DISABLE THE DEVICES of 6 users",
		"CANNOT BE UNDONE", "self-service password reset or the helpdesk"} {
		if !strings.Contains(declined.stderr, want) {
			t.Errorf("prompt lacks %q:\n%s", want, declined.stderr)
		}
	}
	if declined.code != exitFailure || len(sim.Passwords()) != 0 {
		t.Errorf("declined: exit %d, %d passwords sent", declined.code, len(sim.Passwords()))
	}
}

// TestCLIResetPasswordKillResume kills the program (SIGKILL) right after Graph made its 40th
// revoke (rows of reset and revoked users are in the report by then, other users are between
// their reset and their revoke), and resumes from the report the dead run left: no user whose row says
// password_reset true is reset again, and the resumed run blocks, resets and revokes every
// other user, the revoke after the reset.
func TestCLIResetPasswordKillResume(t *testing.T) {
	t.Parallel()
	users := evictionUsers(120)
	dir := t.TempDir()
	input := userListFile(t, dir, users)
	first, second := filepath.Join(dir, "first.csv"), filepath.Join(dir, "second.csv")
	rs := killAfterCount(t, graphsim.Config{Seed: 22, Latency: graphsim.Uniform{Min: time.Millisecond, Max: 8 * time.Millisecond}}, users,
		dir, "revokeSignInSessions", 40, func(url string) []string {
			return cliArgs("revoke", url, input, first, "--block-sign-in", "--reset-password")
		})
	firstRows, _ := readTornReport(t, first)
	before := map[string]int{} // resets per user by the killed run
	for _, u := range users {
		before[u.ID] = strings.Count(journalKinds(rs.sim, u.ID), "reset")
	}
	recorded := 0
	for i, u := range users {
		if r, ok := firstRows[i+2]; ok && r.Reset != nil && *r.Reset {
			recorded++
			if before[u.ID] != 1 {
				t.Errorf("%s: the killed run reported a reset and made %d", u.UPN, before[u.ID])
			}
		}
	}
	if recorded == 0 || recorded >= 117 {
		t.Fatalf("the killed run recorded %d resets: the kill did not land mid-run", recorded)
	}

	// Exit 2: the admin and the synced user are not reset.
	rows := resumeRun(t, rs, input, first, second, exitIncomplete, len(users), "--block-sign-in", "--reset-password")
	again := 0
	for i, u := range users {
		r := rows[i+2]
		kinds := journalKinds(rs.sim, u.ID)
		n := strings.Count(kinds, "reset")
		if fr, ok := firstRows[i+2]; ok && fr.Reset != nil && *fr.Reset && n != 1 {
			t.Errorf("%s: reset %d times; the killed run's report said it was reset", u.UPN, n)
		}
		if _, ok := firstRows[i+2]; n > 1 && ok {
			t.Errorf("%s: reset %d times, though the killed run wrote its row", u.UPN, n)
		}
		if n > 1 {
			// Its reset was in flight (or answered, its row not yet written) when the run
			// died: the resumed run cannot know it landed, and resets it again.
			again++
		}
		if r.Status != batch.StatusRevoked {
			t.Errorf("%s: %s, want revoked", u.UPN, r.Status)
		}
		if i == 1 || i == 2 {
			continue
		}
		if r.Reset == nil || !*r.Reset || n == 0 || strings.LastIndex(kinds, "revoke") < strings.LastIndex(kinds, "reset") ||
			!strings.HasPrefix(kinds, "block") {
			t.Errorf("%s: journal %s, password_reset %v; want blocked, reset, then revoked", u.UPN, kinds, r.Reset)
		}
	}
	t.Logf("killed run recorded %d resets; %d users in flight reset again by the resumed run", recorded, again)
}
