package main

// A run that keeps to its limits (issue 16, items 4 to 6): --deadline stops it as Ctrl-C does
// and exits 3; with --auth token a row goes only to the token's own tenant; a report never
// replaces a file the run reads. Each runs the command against graphsim over loopback HTTP.

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulkrevoke/bulkrevoke/batch"
	"github.com/bulkrevoke/bulkrevoke/graphsim"
)

// TestSafetyDeadline: Graph answers every envelope after 400 ms and one envelope is in flight
// at a time, so 400 users take at least 8 s; --deadline 2s stops the run in the middle. Every
// row is reported exactly once (revoked, or not_attempted for the users never sent), the exit
// code is 3, the summary says the deadline stopped it, and the --resume command it prints, run
// as printed, revokes the rest: every user is revoked exactly once over both runs. validate
// stops the same way.
func TestSafetyDeadline(t *testing.T) {
	t.Parallel()
	users, input := relUsers(t, 400)
	dir := filepath.Dir(input)
	sim, url := startSim(t, graphsim.Config{Seed: 16, Latency: graphsim.Uniform{Min: 400 * time.Millisecond, Max: 400 * time.Millisecond}}, users)

	t.Run("validate", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "dry.csv")
		res := runCLI(t, e2eEnv(), "", e2eArgs("validate", url, input, out, "--deadline", "2s", "--concurrency", "1")...)
		if res.code != exitDeadline || !strings.Contains(res.stderr, "Stopped by --deadline 2s") {
			t.Fatalf("exit %d, want %d with the deadline in the summary\n%s", res.code, exitDeadline, res.stderr)
		}
		counts := map[batch.Status]int{}
		for _, r := range e2eReadReport(t, out) {
			counts[r.Status]++
		}
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
	res := runCLI(t, e2eEnv(), "", e2eArgs("revoke", url, input, first, "--deadline", "2s", "--concurrency", "1")...)
	if res.code != exitDeadline {
		t.Fatalf("exit %d, want %d\n%s", res.code, exitDeadline, res.stderr)
	}
	if !strings.Contains(res.stderr, "Stopped by --deadline 2s: nothing was sent after it") || strings.Contains(res.stderr, "bulkrevoke: ") {
		t.Errorf("the summary does not say the deadline stopped the run, or an error follows it:\n%s", res.stderr)
	}
	rows := e2eReadReport(t, first)
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

	_, after, ok := strings.Cut(res.stderr, "To finish, run:\n  ")
	if !ok {
		t.Fatalf("no resume command in the summary:\n%s", res.stderr)
	}
	command, _, _ := strings.Cut(after, "\n")
	if !strings.HasPrefix(command, "bulkrevoke revoke ") || !strings.Contains(command, "--resume "+first) {
		t.Fatalf("resume command = %q", command)
	}
	resume := exec.Command("sh", "-c", command)
	resume.Dir, resume.Env = dir, relEnv()
	var out bytes.Buffer
	resume.Stdout, resume.Stderr = &out, &out
	if err := resume.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", command, err, out.String())
	}
	rows = e2eReadReport(t, filepath.Join(dir, "first-resumed.csv"))
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
}
