package main

// The report in input order at a normal end (issue 19, item 8): rows are written as they
// finish, and put in input-line order once the run is over; a run that dies leaves them as
// written, and its resume ends in order.

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulkrevoke/bulkrevoke/batch"
	"github.com/bulkrevoke/bulkrevoke/graphsim"
	"github.com/bulkrevoke/bulkrevoke/report"
)

// fileLines is the line number of every row of a file the run wrote, in the order of the file.
func fileLines(t *testing.T, path string) []int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var lines []int
	for i, row := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if i == 0 {
			continue // the header
		}
		cell, _, _ := strings.Cut(row, ",")
		n, err := strconv.Atoi(cell)
		if err != nil {
			t.Fatalf("%s: row %d %q: %v", path, i, row, err)
		}
		lines = append(lines, n)
	}
	return lines
}

// checkAscending fails unless lines never go down.
func checkAscending(t *testing.T, what string, lines []int) {
	t.Helper()
	for i := 1; i < len(lines); i++ {
		if lines[i] < lines[i-1] {
			t.Errorf("%s: line %d after line %d (row %d of %d)", what, lines[i], lines[i-1], i+1, len(lines))
			return
		}
	}
}

// scatteredList is a list of users with invalid rows and duplicates scattered through it, the last
// rows invalid (answered at once, so written first): users[i] is on line i+2 unless noted.
func scatteredList(users []graphsim.User) (string, int) {
	var b strings.Builder
	b.WriteString("userPrincipalName\n")
	n := 0
	add := func(s string) { b.WriteString(s + "\n"); n++ }
	for i, u := range users {
		add(u.UPN)
		switch i {
		case 7:
			add("not a user")
		case 20:
			add(users[3].UPN) // the same spelling again: duplicate
		case 30:
			add(users[4].ID) // the same user by object id: duplicate_user once resolved
		case 40:
			add("nobody@" + strings.SplitN(u.UPN, "@", 2)[1]) // not_found
		}
	}
	add("@@@")
	add("also not a user")
	return b.String(), n
}

// TestReportInputOrder: a containment run over a list with invalid rows (the last two among
// them), duplicates and a user that does not exist ends with its report and devices report in
// input-line order, every line once.
func TestReportInputOrder(t *testing.T) {
	t.Parallel()
	users := graphsim.GenerateUsers(60, 23)
	var devices []graphsim.Device
	for i, u := range users {
		devices = append(devices, graphsim.Device{ID: fmt.Sprintf("d0000000-0000-4000-8000-%012d", i), DisplayName: "PC" + strconv.Itoa(i),
			AccountEnabled: true, Owners: []string{u.ID}})
	}
	sim, url := startSim(t, graphsim.Config{Seed: 23, Quota: graphsim.QuotaOff, Devices: devices,
		Latency: graphsim.Uniform{Min: time.Millisecond, Max: 15 * time.Millisecond}}, users)
	list, n := scatteredList(users)
	input := writeFile(t, "users.csv", list)
	out := filepath.Join(t.TempDir(), "r.csv")
	res := runCLI(t, map[string]string{"BULKREVOKE_ACCESS_TOKEN": simToken}, "",
		"revoke", "--block-sign-in", "--disable-devices", "--auth", "token", "--graph-url", url, "--input", input, "--report", out, "--yes")
	if res.code != exitIncomplete {
		t.Fatalf("exit %d, want 2 (invalid and not_found rows)\n%s", res.code, res.stderr)
	}
	lines := fileLines(t, out)
	if len(lines) != n || lines[0] != 2 || lines[n-1] != n+1 {
		t.Errorf("%d rows from line %d to %d, want %d from 2 to %d", len(lines), lines[0], lines[len(lines)-1], n, n+1)
	}
	checkAscending(t, "report", lines)
	dl := fileLines(t, report.DevicesPath(out))
	if len(dl) != len(users) {
		t.Errorf("%d devices reported, want %d", len(dl), len(users))
	}
	checkAscending(t, "devices report", dl)
	if tmps, _ := filepath.Glob(filepath.Join(filepath.Dir(out), "*.tmp")); len(tmps) > 0 {
		t.Errorf("left behind: %v", tmps)
	}
	rows := readReport(t, out)
	statuses := countStatuses(rows)
	if statuses[batch.StatusRevoked] != 60 || statuses[batch.StatusInvalid] != 3 || statuses[batch.StatusDuplicate] != 2 || statuses[batch.StatusNotFound] != 1 {
		t.Errorf("statuses %v", statuses)
	}
	if st := sim.Stats(); st.Revocations != 60 {
		t.Errorf("%d revocations, want 60", st.Revocations)
	}
}

// TestReportOrderAfterCrash: a run killed (SIGKILL, a real child process) right after Graph
// carried out its third envelope leaves its report as written, which --resume reads; the
// resumed run ends with every line once, in input order, every user revoked, and none the
// killed report said revoked sent again.
func TestReportOrderAfterCrash(t *testing.T) {
	t.Parallel()
	users := graphsim.GenerateUsers(150, 29)
	sim := graphsim.New(graphsim.Config{Token: simToken, Seed: 29, Quota: graphsim.QuotaOff,
		Latency: graphsim.Uniform{Min: 5 * time.Millisecond, Max: 20 * time.Millisecond}}, users)
	child := new(childProc)
	ss := serveSim(t, sim, simOpts{hook: func(ss *simServer, n int64, w http.ResponseWriter, r *http.Request) bool {
		if n != 3 {
			return false
		}
		// Graph does the work; the answer never reaches the program, which dies meanwhile.
		ss.serveThen(w, r, func() bool {
			child.signal(os.Kill)
			<-r.Context().Done()
			return false
		})
		return true
	}})
	list, n := scatteredList(users)
	input := writeFile(t, "users.csv", list)
	dir := filepath.Dir(input)
	first, second := filepath.Join(dir, "first.csv"), filepath.Join(dir, "second.csv")
	child.start(t, dir, nil, cliArgs("revoke", ss.url, input, first)...)
	if code := child.wait(t); code != -1 {
		t.Fatalf("the first run exited %d, want killed at its third envelope\n%s", code, child.stderr.String())
	}
	ss.drain()

	crashed := fileLines(t, first)
	prev, _ := readTornReport(t, first)
	before := map[string]int{}
	for _, r := range prev {
		if r.Status == batch.StatusRevoked {
			before[r.UPN] = len(sim.Revocations(r.UPN))
		}
	}
	t.Logf("killed with %d rows on disk (%d revoked), in the order %v...", len(crashed), len(before), crashed[:min(8, len(crashed))])

	res := runCLI(t, tokenEnv(), "", cliArgs("revoke", ss.url, input, second, "--resume", first)...)
	if res.code != exitIncomplete {
		t.Fatalf("resumed: exit %d, want 2 (invalid and not_found rows)\n%s", res.code, res.stderr)
	}
	lines := fileLines(t, second)
	if len(lines) != n {
		t.Errorf("the resumed report has %d rows, want %d", len(lines), n)
	}
	checkAscending(t, "the resumed report", lines)
	rows := readReport(t, second)
	for i, u := range users {
		if len(sim.Revocations(u.UPN)) == 0 {
			t.Errorf("%s never revoked", u.UPN)
		}
		// users[4] is named twice, by UPN and by object id: without a lookup these are two rows
		// to revoke, and the second may be sent on resume.
		if b, ok := before[u.UPN]; ok && i != 4 && len(sim.Revocations(u.UPN)) != b {
			t.Errorf("%s was revoked in the killed run's report and sent again", u.UPN)
		}
	}
	revoked := 0
	for _, r := range rows {
		if r.Status == batch.StatusRevoked {
			revoked++
		}
	}
	if revoked != len(users)+1 { // users[4] by object id is a row of its own
		t.Errorf("%d rows revoked, want %d", revoked, len(users)+1)
	}
}
