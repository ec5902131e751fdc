//go:build unix

package main

// --verify and crashes (issue 16, item 9): every row reaches the report when its revoke lands,
// and the read-back is recorded afterwards by putting a verified version of the report in its
// place. A verified run killed at any moment leaves a report that holds every landed revoke,
// parses, and resumes; a read-back that cannot be written leaves the report whole
// (TestVerifyRewriteFails, in sinkfault_cli_test.go with the other file size limits).

import (
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulkrevoke/bulkrevoke/batch"
	"github.com/bulkrevoke/bulkrevoke/graphsim"
)

const (
	verifyUsers  = 400
	verifyKillAt = 100 // revokes landed, or users read back, before the kill
)

// TestVerifyKillResume kills revoke --verify (a real child process, SIGKILL) while its revokes
// land, and while it reads the users back, then resumes it with --verify. The killed run's
// report must parse and hold a revoked row for exactly the users whose revoke landed at
// graphsim; the resumed run must finish every row, verified, without sending any of them again.
func TestVerifyKillResume(t *testing.T) {
	t.Parallel()
	for name, readBack := range map[string]bool{"killed during the revokes": false, "killed during the read-back": true} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			verifyKillResume(t, readBack)
		})
	}
}

// verifyKillResume is one case of TestVerifyKillResume.
func verifyKillResume(t *testing.T, readBack bool) {
	users, input := memberList(t, verifyUsers)
	dir := filepath.Dir(input)
	child := new(childProc)
	var fired atomic.Bool
	rs := serveSim(t, tokenSim(graphsim.Config{Seed: 16, Latency: graphsim.Uniform{Min: time.Millisecond, Max: 4 * time.Millisecond}}, users), simOpts{hook: func(rs *simServer, _ int64, w http.ResponseWriter, r *http.Request) bool {
		if fired.Load() {
			return false
		}
		if !readBack {
			// Killed before Graph sees this envelope. The child sends one envelope at a time
			// (--concurrency 1) and writes and flushes an envelope's rows before it sends the
			// next: every revoke that landed so far has its row in the report now.
			if rs.sim.Stats().Revocations < verifyKillAt || !fired.CompareAndSwap(false, true) {
				return false
			}
			child.signal(os.Kill)
			return true
		}
		// Graph answers the read-back; past verifyKillAt users read back, the answer dies with
		// the process.
		rs.serveThen(w, r, func() bool {
			if rs.sim.Stats().Reads >= verifyKillAt && fired.CompareAndSwap(false, true) {
				child.signal(os.Kill)
				return false
			}
			return true
		})
		return true
	}})
	first, second := filepath.Join(dir, "first.csv"), filepath.Join(dir, "second.csv")
	childURL, closeChild := rs.separate(t)
	child.start(t, dir, nil, cliArgs("revoke", childURL, input, first, "--verify", "--concurrency", "1")...)
	if code := child.wait(t); code != -1 || !fired.Load() {
		t.Fatalf("first run exited %d (kill fired: %v), want killed by the test; stderr:\n%s", code, fired.Load(), child.stderr.String())
	}
	closeChild()
	rs.drain()

	rows, n := readTornReport(t, first) // parses, each line once, a torn last line allowed
	landed := 0
	for i, u := range users {
		line := i + 2
		k := len(rs.sim.Revocations(u.UPN))
		r, ok := rows[line]
		switch {
		case k > 0 && (!ok || r.Status != batch.StatusRevoked):
			t.Errorf("%s: its revoke landed at graphsim, and the killed run's report has no revoked row for line %d (%v)", u.UPN, line, r.Status)
		case k == 0 && ok:
			t.Errorf("line %d (%s) is in the killed run's report as %s; graphsim never revoked it", line, u.UPN, r.Status)
		}
		if ok && r.Verified != nil {
			// Either the version written as revokes landed, or the verified one: never half.
			t.Errorf("line %d: verified=%v in the report of a run killed before its read-back was recorded", line, *r.Verified)
		}
		if k > 0 {
			landed++
		}
	}
	gs := rs.sim.Stats()
	tmps, _ := filepath.Glob(first + ".*.tmp")
	t.Logf("killed with %d revokes landed at graphsim and %d users read back: %d rows in the report, %d temporary files beside it",
		landed, gs.Reads, n, len(tmps))
	if landed < verifyKillAt || n != landed {
		t.Errorf("%d revokes landed, %d rows in the report; want at least %d, and the same", landed, n, verifyKillAt)
	}
	if readBack {
		if n != verifyUsers || gs.Reads < verifyKillAt {
			t.Errorf("killed during the read-back: %d rows in the report, %d users read back; want %d and at least %d", n, gs.Reads, verifyUsers, verifyKillAt)
		}
		// The verified version was being written beside the report when the process died.
		if len(tmps) != 1 {
			t.Errorf("temporary files beside the report: %q, want the one the read-back was writing", tmps)
		}
	} else if gs.Reads != 0 {
		t.Errorf("killed during the revokes, yet %d users were read back", gs.Reads)
	}

	res := runCLI(t, tokenEnv(), "", cliArgs("revoke", rs.url, input, second, "--verify", "--resume", first)...)
	if res.code != exitOK {
		t.Fatalf("resumed run: exit %d, want 0\n%s", res.code, res.stderr)
	}
	rs.drain()
	got := readReport(t, second)
	if len(got) != verifyUsers {
		t.Errorf("the resumed report has %d rows for %d input rows", len(got), verifyUsers)
	}
	for _, r := range got {
		if r.Status != batch.StatusRevoked || r.Verified == nil || !*r.Verified {
			t.Errorf("resumed report, line %d: %s verified=%v %s", r.Line, r.Status, r.Verified, r.Note)
		}
	}
	for _, u := range users {
		// Every landed revoke was in the killed run's report, so none was sent again.
		if k := len(rs.sim.Revocations(u.UPN)); k != 1 {
			t.Errorf("%s revoked %d times over the two runs, want once", u.UPN, k)
		}
	}
	if tmps, _ := filepath.Glob(second + ".*.tmp"); len(tmps) != 0 {
		t.Errorf("the resumed run left %q", tmps)
	}
}
