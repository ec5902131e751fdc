package main

// The report in input order at a normal end (issue 19, item 8): rows are written as they
// finish, and put in input-line order once the run is over; a run that dies leaves them as
// written, and its resume ends in order.

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulkrevoke/bulkrevoke/batch"
	"github.com/bulkrevoke/bulkrevoke/graphsim"
	"github.com/bulkrevoke/bulkrevoke/report"
)

// orLines is the line number of every row of a file the run wrote, in the order of the file.
func orLines(t *testing.T, path string) []int {
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

// orAscending fails unless lines never go down.
func orAscending(t *testing.T, what string, lines []int) {
	t.Helper()
	for i := 1; i < len(lines); i++ {
		if lines[i] < lines[i-1] {
			t.Errorf("%s: line %d after line %d (row %d of %d)", what, lines[i], lines[i-1], i+1, len(lines))
			return
		}
	}
}

// orList is a list of users with invalid rows and duplicates scattered through it, the last
// rows invalid (answered at once, so written first): users[i] is on line i+2 unless noted.
func orList(users []graphsim.User) (string, int) {
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
	list, n := orList(users)
	input := writeFile(t, "users.csv", list)
	out := filepath.Join(t.TempDir(), "r.csv")
	res := runCLI(t, map[string]string{"BULKREVOKE_ACCESS_TOKEN": simToken}, "",
		"revoke", "--block-sign-in", "--disable-devices", "--auth", "token", "--graph-url", url, "--input", input, "--report", out, "--yes")
	if res.code != exitIncomplete {
		t.Fatalf("exit %d, want 2 (invalid and not_found rows)\n%s", res.code, res.stderr)
	}
	lines := orLines(t, out)
	if len(lines) != n || lines[0] != 2 || lines[n-1] != n+1 {
		t.Errorf("%d rows from line %d to %d, want %d from 2 to %d", len(lines), lines[0], lines[len(lines)-1], n, n+1)
	}
	orAscending(t, "report", lines)
	dl := orLines(t, report.DevicesPath(out))
	if len(dl) != len(users) {
		t.Errorf("%d devices reported, want %d", len(dl), len(users))
	}
	orAscending(t, "devices report", dl)
	if tmps, _ := filepath.Glob(filepath.Join(filepath.Dir(out), "*.tmp")); len(tmps) > 0 {
		t.Errorf("left behind: %v", tmps)
	}
	rows := readReport(t, out)
	statuses := map[batch.Status]int{}
	for _, r := range rows {
		statuses[r.Status]++
	}
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
	hit, killed := make(chan struct{}), make(chan struct{})
	var batches atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/$batch") || batches.Add(1) != 3 {
			sim.ServeHTTP(w, r)
			return
		}
		// Graph does the work; the answer never reaches the program, which dies meanwhile.
		sim.ServeHTTP(httptest.NewRecorder(), r)
		close(hit)
		<-killed
	}))
	t.Cleanup(srv.Close)
	url := srv.URL + "/v1.0"
	list, n := orList(users)
	dir := t.TempDir()
	input := filepath.Join(dir, "users.csv")
	if err := os.WriteFile(input, []byte(list), 0o600); err != nil {
		t.Fatal(err)
	}
	first, second := filepath.Join(dir, "first.csv"), filepath.Join(dir, "second.csv")

	cmd := exec.Command("bulkrevoke", "revoke", "--auth", "token", "--graph-url", url, "--input", input, "--report", first, "--yes")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "BULKREVOKE_ACCESS_TOKEN=" + simToken}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-hit:
		_ = cmd.Process.Kill()
		err := <-done
		close(killed)
		if ee, ok := err.(*exec.ExitError); !ok || ee.ProcessState.ExitCode() != -1 {
			t.Fatalf("the first run: %v, want killed\n%s", err, stderr.String())
		}
	case err := <-done:
		close(killed)
		t.Fatalf("the first run ended before its third envelope: %v\n%s", err, stderr.String())
	}

	crashed := orLines(t, first)
	f, err := os.Open(first)
	if err != nil {
		t.Fatal(err)
	}
	prev, err := report.ReadReport(f)
	f.Close()
	if err != nil {
		t.Fatalf("the killed run's report does not read as one: %v", err)
	}
	before := map[string]int{}
	for _, r := range prev {
		if r.Status == batch.StatusRevoked {
			before[r.UPN] = len(sim.Revocations(r.UPN))
		}
	}
	t.Logf("killed with %d rows on disk (%d revoked), in the order %v...", len(crashed), len(before), crashed[:min(8, len(crashed))])

	res := runCLI(t, map[string]string{"BULKREVOKE_ACCESS_TOKEN": simToken}, "",
		"revoke", "--auth", "token", "--graph-url", url, "--input", input, "--report", second, "--resume", first, "--yes")
	if res.code != exitIncomplete {
		t.Fatalf("resumed: exit %d, want 2 (invalid and not_found rows)\n%s", res.code, res.stderr)
	}
	lines := orLines(t, second)
	if len(lines) != n {
		t.Errorf("the resumed report has %d rows, want %d", len(lines), n)
	}
	orAscending(t, "the resumed report", lines)
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
