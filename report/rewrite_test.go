package report

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulkrevoke/bulkrevoke/batch"
)

func rwTemps(t *testing.T, path string) []string {
	t.Helper()
	tmps, err := filepath.Glob(path + ".*.tmp")
	if err != nil {
		t.Fatal(err)
	}
	return tmps
}

// TestVerifyRewrite: --verify's rewrite streams the report's rows back (ScanReport) into a new
// version beside it; until Commit the report on disk is the old version, the journal refuses
// rows, and Commit puts the new version in its place with the report's mode. The journal's
// Close is then fine.
func TestVerifyRewrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "report.csv")
	j, err := Create(path, false)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for line := 2; line <= 4; line++ {
		if err := j.Write(batch.Result{Line: line, Input: "u" + string(rune('0'+line)) + "@contoso.com", Status: batch.StatusRevoked, Attempts: 1, At: at}); err != nil {
			t.Fatal(err)
		}
	}
	rw, err := j.Rewrite() // flushes the three rows first
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Write(batch.Result{Line: 5, Input: "late", Status: batch.StatusRevoked}); err == nil || !strings.Contains(err.Error(), "being rewritten") {
		t.Errorf("a row written during the rewrite: %v, want it refused", err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	scanned := 0
	err = ScanReport(f, path, func(r batch.Result) error {
		scanned++
		v := true
		r.Verified, r.SessionsValidFrom = &v, at
		return rw.Write(r)
	})
	f.Close()
	if err != nil || scanned != 3 {
		t.Fatalf("scanned %d rows: %v; want 3", scanned, err)
	}
	if err := rw.Flush(); err != nil {
		t.Fatal(err)
	}
	// A crash now leaves the old version, whole, and the new one's temporary file.
	for l, r := range readFile(t, path, ReadReport) {
		if r.Verified != nil {
			t.Errorf("before Commit, line %d is already verified on disk", l)
		}
	}
	if tmps := rwTemps(t, path); len(tmps) != 1 {
		t.Errorf("temporary files %q, want one", tmps)
	}
	if err := rw.Commit(); err != nil {
		t.Fatal(err)
	}
	rows := readFile(t, path, ReadReport)
	if len(rows) != 3 {
		t.Errorf("%d rows after Commit, want 3", len(rows))
	}
	for l, r := range rows {
		if r.Verified == nil || !*r.Verified || !r.SessionsValidFrom.Equal(at) {
			t.Errorf("after Commit, line %d: verified=%v sessions_valid_from=%v", l, r.Verified, r.SessionsValidFrom)
		}
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("the report after Commit: %v %v, want mode 0600", st.Mode(), err)
	}
	if tmps := rwTemps(t, path); len(tmps) != 0 {
		t.Errorf("Commit left %q", tmps)
	}
	if err := j.Close(); err != nil {
		t.Errorf("Close after Commit: %v", err)
	}
	if err := rw.Commit(); err == nil {
		t.Error("a second Commit succeeded")
	}
}

// TestVerifyRewriteAbort: an aborted rewrite leaves the report as it was and the journal usable.
func TestVerifyRewriteAbort(t *testing.T) {
	path := filepath.Join(t.TempDir(), "report.csv")
	j, err := Create(path, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Write(batch.Result{Line: 2, Input: "a@contoso.com", Status: batch.StatusRevoked}); err != nil {
		t.Fatal(err)
	}
	rw, err := j.Rewrite()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := j.Rewrite(); err == nil {
		t.Error("a second rewrite started while one is under way")
	}
	if err := rw.Write(batch.Result{Line: 9, Input: "other", Status: batch.StatusFailed}); err != nil {
		t.Fatal(err)
	}
	rw.Abort()
	if tmps := rwTemps(t, path); len(tmps) != 0 {
		t.Errorf("Abort left %q", tmps)
	}
	if err := j.Write(batch.Result{Line: 3, Input: "b@contoso.com", Status: batch.StatusRevoked}); err != nil {
		t.Errorf("a row after Abort: %v", err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	rows := readFile(t, path, ReadReport)
	if _, ok := rows[9]; ok || len(rows) != 2 {
		t.Errorf("after Abort the report has lines %v, want 2 and 3", rows)
	}
}
