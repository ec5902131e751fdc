package report

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bulkrevoke/bulkrevoke/batch"
)

// odLines splits a file into its lines, newline kept, and the line number of each row.
func odLines(t *testing.T, path string) (header string, rows []string, lines []int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	all := strings.SplitAfter(string(data), "\n")
	if all[len(all)-1] == "" {
		all = all[:len(all)-1]
	}
	for _, r := range all[1:] {
		cell, _, _ := strings.Cut(r, ",")
		n, err := strconv.Atoi(cell)
		if err != nil {
			t.Fatalf("%s: row %q: %v", path, r, err)
		}
		lines = append(lines, n)
	}
	return all[0], all[1:], lines
}

// TestOrderByLine: a report written in the order rows finished (an invalid row, a row with a
// comma, quotes and a 300 KB message, two users' devices interleaved) is put in input-line
// order: same header, the very same row bytes, lines ascending, rows of one line in the order
// written; mode 0600, no temporary file left, and it still reads as a report. A file in order
// already is left alone (same file, same bytes), and so is one that is not whole.
func TestOrderByLine(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r.csv")
	j, err := Create(path, false)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	long := strings.Repeat("x", 300<<10)
	for _, r := range []batch.Result{
		{Line: 7, Input: "not a user", Status: batch.StatusInvalid, Message: "not a UPN or object id"},
		{Line: 3, Input: "b@contoso.com", Status: batch.StatusRevoked, Attempts: 1, At: at},
		{Line: 9, Input: `"c", d@contoso.com`, Status: batch.StatusFailed, Message: long, Attempts: 8, At: at},
		{Line: 2, Input: "a@contoso.com", Status: batch.StatusRevoked, Attempts: 1, At: at},
		{Line: 8, Input: "b@contoso.com", Status: batch.StatusDuplicate, DupStatus: batch.StatusRevoked, At: at},
	} {
		if err := j.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	header, before, _ := odLines(t, path)

	changed, err := OrderByLine(path)
	if err != nil || !changed {
		t.Fatalf("OrderByLine: %v, %v; want the report rewritten", changed, err)
	}
	h, after, lines := odLines(t, path)
	if h != header || !slices.Equal(lines, []int{2, 3, 7, 8, 9}) {
		t.Errorf("header %q, lines %v; want the header and lines 2 3 7 8 9", h, lines)
	}
	slices.Sort(before)
	sorted := slices.Clone(after)
	slices.Sort(sorted)
	if !slices.Equal(before, sorted) {
		t.Errorf("the rows changed in the rewrite")
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	if tmps, _ := filepath.Glob(path + ".*.tmp"); len(tmps) > 0 {
		t.Errorf("left behind: %v", tmps)
	}
	if rows := readFile(t, path, ReadReport); len(rows) != 5 || rows[9].Message != long || rows[9].Input != `"c", d@contoso.com` {
		t.Errorf("read back: %d rows, line 9 %q with a %d-byte message", len(rows), rows[9].Input, len(rows[9].Message))
	}

	// In order now: nothing to do, and nothing done.
	fi1, _ := os.Stat(path)
	if changed, err := OrderByLine(path); err != nil || changed {
		t.Errorf("a report in order: %v, %v; want it left alone", changed, err)
	}
	if fi2, _ := os.Stat(path); !os.SameFile(fi1, fi2) {
		t.Errorf("a report in order was replaced")
	}

	// Devices of two users, interleaved: by line, each user's in the order written.
	dpath := DevicesPath(path)
	d, err := CreateDevices(dpath, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"5:a", "3:a", "5:b", "3:b", "3:c"} {
		line, name, _ := strings.Cut(id, ":")
		n, _ := strconv.Atoi(line)
		if err := d.WriteDevices(batch.DeviceResult{Line: n, User: "u" + line, ID: name, Outcome: batch.DeviceDisabled, At: at}); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if changed, err := OrderByLine(dpath); err != nil || !changed {
		t.Fatalf("devices: %v, %v", changed, err)
	}
	var got []string
	for _, x := range readFile(t, dpath, ReadDevices) {
		got = append(got, strconv.Itoa(x.Line)+":"+x.ID)
	}
	if !slices.Equal(got, []string{"3:a", "3:b", "3:c", "5:a", "5:b"}) {
		t.Errorf("devices in the order %v", got)
	}

	// A file a crash cut short is not whole: it stays as it is.
	cut := filepath.Join(dir, "cut.csv")
	torn := header + "5,e@contoso.com\n2,a@contoso.com,"
	if err := os.WriteFile(cut, []byte(torn), 0o600); err != nil {
		t.Fatal(err)
	}
	if changed, err := OrderByLine(cut); err == nil || changed {
		t.Errorf("a torn file: %v, %v; want an error", changed, err)
	}
	if data, _ := os.ReadFile(cut); string(data) != torn {
		t.Errorf("a torn file was changed")
	}
	if tmps, _ := filepath.Glob(cut + ".*.tmp"); len(tmps) > 0 {
		t.Errorf("left behind: %v", tmps)
	}
}

// BenchmarkOrderByLine1M puts a million-row report written in a scattered order (every row
// out of place) in line order, in a process of its own (this test binary, running
// TestOrderByLineChild), and reports that process's peak RSS: the rows stay on disk, only the
// 16-byte index of each is held.
//
//	go test -run '^$' -bench OrderByLine1M -benchtime 1x ./report
func BenchmarkOrderByLine1M(b *testing.B) {
	path := filepath.Join(b.TempDir(), "r.csv")
	var size int64
	var rss float64
	b.StopTimer()
	for range b.N {
		size = odScattered(b, path, 1_000_000)
		cmd := exec.Command(os.Args[0], "-test.run=^TestOrderByLineChild$")
		cmd.Env = append(os.Environ(), odChildEnv+"="+path)
		b.StartTimer()
		out, err := cmd.CombinedOutput()
		b.StopTimer()
		if err != nil {
			b.Fatalf("%v\n%s", err, out)
		}
		_, after, ok := strings.Cut(string(out), "peak RSS KB: ")
		kb, err := strconv.Atoi(strings.Fields(after + " x")[0])
		if !ok || err != nil {
			b.Fatalf("no peak RSS in the child's output:\n%s", out)
		}
		rss = float64(kb) / 1024
	}
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	head := make([]byte, 4096)
	k, _ := f.Read(head)
	if !bytes.HasPrefix(head[:k], []byte(strings.Join(Header, ",")+"\n2,")) {
		b.Errorf("the report does not start with line 2")
	}
	b.ReportMetric(float64(size)/(1<<20), "report-MB")
	b.ReportMetric(rss, "peak-RSS-MB")
}

// odChildEnv names the report TestOrderByLineChild orders.
const odChildEnv = "BULKREVOKE_TEST_ORDER_FILE"

// TestOrderByLineChild is BenchmarkOrderByLine1M's measured process: it orders the report the
// environment names and prints its peak RSS. Without it in the environment, it does nothing.
func TestOrderByLineChild(t *testing.T) {
	path := os.Getenv(odChildEnv)
	if path == "" {
		t.Skip("run by BenchmarkOrderByLine1M")
	}
	if changed, err := OrderByLine(path); err != nil || !changed {
		t.Fatalf("%v, %v", changed, err)
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("peak RSS KB: %d\n", ru.Maxrss) // Linux counts it in KB
}

// odScattered writes a report of n rows, every one out of place: line i*7919 mod n (7919 is
// prime and does not divide 10^k, so every line comes once). It returns the file's size.
func odScattered(b *testing.B, path string, n int) int64 {
	b.Helper()
	j, err := Create(path, true)
	if err != nil {
		b.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range n {
		line := (i*7919)%n + 2
		u := "user" + strconv.Itoa(line) + "@contoso.onmicrosoft.com"
		r := batch.Result{Line: line, Input: u, UserID: "0b6f2a8e-4c1d-4e7a-9f3b-" + strconv.Itoa(100000000000+line), UPN: u,
			Status: batch.StatusRevoked, HTTP: 204, Attempts: 1, RequestID: "6a1c7e2b-5d4f-4b8a-9c3e-2f1d0b9a8c7e",
			ClientRequestID: "1f2e3d4c-5b6a-4978-8a9b-0c1d2e3f4a5b", At: at, DisplayName: "User " + strconv.Itoa(line), UserType: "Member"}
		if err := j.Write(r); err != nil {
			b.Fatal(err)
		}
		if i%4096 == 0 {
			if err := j.Flush(); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := j.Close(); err != nil {
		b.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return fi.Size()
}
