package main

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulkrevoke/bulkrevoke/batch"
	"github.com/bulkrevoke/bulkrevoke/graphsim"
)

// TestExcludeResolvedUsers: --exclude names users, not spellings. The list names adele by
// UPN, the guest by object id and o'brien by UPN in capitals; the exclusion list names adele by
// object id, the guest by its #EXT# UPN in other capitals and o'brien by object id. Each is
// excluded in a real run and in a dry run, and never revoked; an entry that matches nobody is
// named on stderr and in the summary. Before: adele and o'brien were revoked, and the
// unmatched entry passed in silence.
func TestExcludeResolvedUsers(t *testing.T) {
	t.Parallel()
	input := writeFile(t, "users.csv", "user\nadele@contoso.com\n"+guestID+"\nO'BRIEN@CONTOSO.COM\n$svc@contoso.com\n")
	excl := writeFile(t, "bg.csv", "id\n"+strings.ToUpper(adeleID)+"\n"+strings.ToUpper(guestUPN)+"\n"+obrienID+"\nghost@contoso.com\n")
	for _, dry := range []bool{false, true} {
		sim, url := startSim(t, graphsim.Config{Seed: 31}, mixedTenant())
		out := filepath.Join(t.TempDir(), "report.csv")
		args := cliArgs("revoke", url, input, out, "--exclude", excl)
		if dry {
			args = append(args, "--dry-run")
		}
		res := runCLI(t, tokenEnv(), "", args...)
		if res.code != exitOK {
			t.Fatalf("dry run %v: exit %d\n%s", dry, res.code, res.stderr)
		}
		rows := readReport(t, out)
		want := batch.StatusRevoked
		if dry {
			want = batch.StatusWouldRevoke
		}
		for line, st := range map[int]batch.Status{2: batch.StatusExcluded, 3: batch.StatusExcluded, 4: batch.StatusExcluded, 5: want} {
			if rows[line].Status != st {
				t.Errorf("dry run %v: line %d (%s) %s, want %s", dry, line, rows[line].Input, rows[line].Status, st)
			}
		}
		svcRevokes := 1
		if dry {
			svcRevokes = 0
		}
		checkRevoked(t, sim, map[string]int{adeleID: 0, guestID: 0, obrienID: 0, svcID: svcRevokes})
		containsAll(t, fmt.Sprintf("dry run %v: stderr", dry), res.stderr,
			"bulkrevoke: exclusion: "+excl+":5: ghost@contoso.com matches no user",
			"Exclusion: "+excl+":5: ghost@contoso.com matches no user.")
	}
}

// TestExcludeUnresolvable: an exclusion entry Graph cannot look up (every step on it answers
// 500) stops the run before anything is written or sent to a user: no report, no revoke.
func TestExcludeUnresolvable(t *testing.T) {
	t.Parallel()
	users := mixedTenant()
	users[0].Failing = http.StatusInternalServerError // adele, the break-glass account
	sim, url := startSim(t, graphsim.Config{Seed: 32}, users)
	input := writeFile(t, "users.csv", "user\nadele@contoso.com\n$svc@contoso.com\n")
	excl := writeFile(t, "bg.csv", adeleID+"\n")
	out := filepath.Join(t.TempDir(), "report.csv")
	res := runCLI(t, tokenEnv(), "", cliArgs("revoke", url, input, out, "--exclude", excl, "--max-attempts", "2")...)
	if res.code != exitFailure {
		t.Fatalf("exit %d, want 1\n%s", res.code, res.stderr)
	}
	if !strings.Contains(res.stderr, "cannot resolve the exclusion list, so nothing was sent") || !strings.Contains(res.stderr, excl+":1: "+adeleID) {
		t.Errorf("stderr does not name the unresolved entry:\n%s", res.stderr)
	}
	noFile(t, out)
	if gs := sim.Stats(); gs.Writes != 0 || gs.Revocations != 0 {
		t.Errorf("%d writes, %d revocations before the exclusions were resolved", gs.Writes, gs.Revocations)
	}
}

// TestExcludeOffline: without Graph only exact spellings can match, and the run says so.
func TestExcludeOffline(t *testing.T) {
	t.Parallel()
	input := writeFile(t, "users.csv", "user\nadele@contoso.com\n"+svcID+"\n")
	excl := writeFile(t, "bg.csv", adeleID+"\n"+strings.ToUpper(svcID)+"\n")
	out := filepath.Join(t.TempDir(), "report.csv")
	res := runCLI(t, nil, "", "validate", "--offline", "--input", input, "--report", out, "--exclude", excl)
	if res.code != exitOK {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	rows := readReport(t, out)
	if rows[2].Status != batch.StatusWouldRevoke || rows[3].Status != batch.StatusExcluded {
		t.Errorf("lines 2, 3: %s, %s; want would_revoke (another spelling) and excluded (the same, in other capitals)", rows[2].Status, rows[3].Status)
	}
	if !strings.Contains(res.stderr, "--offline: --exclude matched exact spellings only") {
		t.Errorf("the offline run does not say exclusions match spellings only:\n%s", res.stderr)
	}
}
