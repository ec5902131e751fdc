package main

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/bulkrevoke/bulkrevoke/batch"
	"github.com/bulkrevoke/bulkrevoke/report"
)

// TestSimulateMethods: the simulated demo tenant's users have authentication methods, so that
// --remove-methods-since can be tried without a tenant: a dry run lists as would_remove exactly
// the methods a real run then removes, all of them registered after the cut-off, and the
// password and the undated methods are kept.
func TestSimulateMethods(t *testing.T) {
	dir := t.TempDir()
	run := func(name string, extra ...string) []batch.MethodResult {
		out := filepath.Join(dir, name)
		args := append([]string{"revoke", "--simulate", "--input", "testdata/demo-users.csv", "--report", out, "--yes",
			"--remove-methods-since", "72h"}, extra...)
		if res := runCLI(t, nil, "", args...); res.code != exitIncomplete {
			t.Fatalf("%s: exit %d, want 2 (the demo list has invalid rows)\n%s", name, res.code, res.stderr)
		}
		return readMethodsReport(t, report.MethodsPath(out))
	}
	key := func(m batch.MethodResult) string { return m.User + " " + m.ID }
	var would, removed []string
	for _, m := range run("dry.csv", "--dry-run") {
		if m.Outcome == batch.MethodWouldRemove {
			would = append(would, key(m))
		}
	}
	kept := map[batch.MethodOutcome]int{}
	for _, m := range run("real.csv") {
		kept[m.Outcome]++
		if m.Outcome != batch.MethodRemoved {
			continue
		}
		removed = append(removed, key(m))
		if m.Created.IsZero() || time.Since(m.Created) > 73*time.Hour {
			t.Errorf("%s: removed a method created %v, before the cut-off", key(m), m.Created)
		}
	}
	slices.Sort(would)
	slices.Sort(removed)
	if len(removed) == 0 || !slices.Equal(would, removed) {
		t.Errorf("the dry run would remove %v; the real run removed %v", would, removed)
	}
	if kept[batch.MethodKeptPassword] == 0 || kept[batch.MethodKeptUnknownAge] == 0 || kept[batch.MethodKeptOlder] == 0 {
		t.Errorf("kept: %v; want passwords, undated and older methods kept", kept)
	}
}
