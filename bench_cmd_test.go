package main

import (
	"strings"
	"testing"
)

// TestBenchListsCells: `bench --list` names every family of the matrix, issue 18's untold quota
// shapes among them, with their floors and limits, and each family's flag turns it off.
func TestBenchListsCells(t *testing.T) {
	r := runCLI(t, nil, "", "bench", "--list")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{
		"token-bucket, 10000 users, no throttle header ",
		"same-app competitor at 10 writes/s",
		"--block-sign-in (two writes a user)",
		"quota 0.5x the documented (not told to the engine)",
		"sliding-window, 10000 users, no throttle header, the pair's window 0.2x the documented (600 per 30s, not told to the engine)",
		"sliding-window, 50000 users, throttle header on steps, the pair's window 0.2x",
		"token-bucket, 3-app pool, one tenant, 50000 users  ",
		"token-bucket, 3-app pool, one tenant, 50000 users, tenant bucket 600 + 60/s (not told to the engine)",
		"token-bucket, one app, 20 tenants x 6000 users (clock 1x)",
		"token-bucket, one app, 5 tenants x 4000 users, app-wide quota 0.5x the documented (35000 per 5 min, not told to the engine) (clock 1x)",
		"token-bucket, one app, 20 tenants x 2000 users, app-wide quota 0.5x",
		"token-bucket, one app, 5 tenants x 2000 users, app-wide bucket 500 + 40/s (not told to the engine) (clock 1x)",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("bench --list lacks %q:\n%s", want, r.stdout)
		}
	}
	// The floors of issue 18's cells: the short window's 9,400 past the first window, 600 every
	// 30 s (10,000 users); the app-wide 35,000 then 116.7/s for 20 tenants, the
	// pairs for 5, the app bucket's 40/s, the pool tenant's 60/s past its 600, the app's
	// documented 70,000 then 233.3/s.
	for _, want := range []string{"8m0s", "42.9s", "50s", "3m57.5s", "13m43.3s", "3m34.3s"} {
		if !strings.Contains(r.stdout, "  "+want+"  ") {
			t.Errorf("bench --list lacks the floor %s:\n%s", want, r.stdout)
		}
	}

	off := runCLI(t, nil, "", "bench", "--list", "--short-window", "0", "--pool-tenant-burst", "0", "--app-quota", "0", "--app-bucket=false")
	if off.code != 0 {
		t.Fatalf("exit %d: %s", off.code, off.stderr)
	}
	for _, gone := range []string{"window 0.2x", "tenant bucket", "app-wide"} {
		if strings.Contains(off.stdout, gone) {
			t.Errorf("with the families off, bench --list still has %q:\n%s", gone, off.stdout)
		}
	}
	if !strings.Contains(off.stdout, "20 tenants x 6000 users") {
		t.Errorf("the documented cells went too:\n%s", off.stdout)
	}
	// --tenants 0 drops every cell of several tenants (README's quick bench relies on it).
	quick := runCLI(t, nil, "", "bench", "--list", "--users", "500", "--pool-apps", "0", "--tenants", "0")
	if strings.Contains(quick.stdout, "tenants x") || strings.Contains(quick.stdout, "pool") || !strings.Contains(quick.stdout, "window 0.2x") {
		t.Errorf("bench --list --pool-apps 0 --tenants 0 lists a lane cell, or no short-window cell:\n%s", quick.stdout)
	}
}

// TestBenchRunsNewCells runs issue 18's cheap families end to end at tiny sizes on a fast clock
// (the ratios mean nothing there: a fast clock counts CPU as emulated time) and checks that
// each prints its table and its line of the matrix with floor, time, ratio and throttled share.
func TestBenchRunsNewCells(t *testing.T) {
	r := runCLI(t, nil, "", "bench", "--users", "700", "--quota", "sliding-window", "--headers", "none", "--compete", "0",
		"--small-quota", "0", "--block=false", "--baseline-users", "-1", "--pool-users", "900", "--tenants", "2",
		"--tenant-users", "20", "--app-quota", "0", "--app-bucket=false", "--scale", "1000")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	_, matrix, ok := strings.Cut(r.stdout, "\nmatrix\n")
	if !ok {
		t.Fatalf("no matrix:\n%s", r.stdout)
	}
	if !strings.HasPrefix(matrix, "scenario") || !strings.Contains(matrix, "floor") || !strings.Contains(matrix, "throttled %") {
		t.Errorf("matrix header lacks floor or throttled share:\n%s", matrix)
	}
	for _, want := range []struct{ name, floor string }{
		{"sliding-window, 700 users, no throttle header, the pair's window 0.2x the documented (600 per 30s, not told to the engine)", "30s"},
		{"token-bucket, 3-app pool, one tenant, 900 users, tenant bucket 600 + 60/s (not told to the engine)", "5s"},
		{"token-bucket, one app, 2 tenants x 20 users (clock 1x)", "0s"},
	} {
		if !strings.Contains(r.stdout, "\n"+want.name+"\n      runner") {
			t.Errorf("no table titled %q:\n%s", want.name, r.stdout)
		}
		line := ""
		for l := range strings.Lines(matrix) {
			if strings.HasPrefix(l, want.name+"  ") {
				line = l
			}
		}
		// floor, time, ratio, limit, throttled %, its limit, early retries, lost, failed, waits, within
		if f := strings.Fields(strings.TrimPrefix(line, want.name)); len(f) != 11 || f[0] != want.floor || f[7] != "0" {
			t.Errorf("matrix line of %q: %q, want floor %s and nobody lost", want.name, line, want.floor)
		}
	}
}
