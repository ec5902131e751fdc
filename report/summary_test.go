package report

import (
	"bytes"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulkrevoke/bulkrevoke/batch"
)

func TestSummaryPrint(t *testing.T) {
	start := time.Date(2026, 11, 28, 15, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		results   []batch.Result
		devices   []batch.DeviceResult
		throttled int
		waits     int64
		waited    time.Duration
		dropped   []string
		finished  bool
		info      PrintInfo
		want      []string // lines the output must hold, besides the golden comparison
		wantNot   []string
	}{
		{
			name: "full run", results: goldenResults, throttled: 37, finished: true,
			info: PrintInfo{ReportPath: "out.csv"},
			want: []string{"Revoked sign-in sessions for 2 of 14 rows.", "  revoked        2", "  not_attempted  1",
				"Throttled responses seen: 37", "Not confirmed by read-back: 1 user ", "Guest users: 1",
				"Report: out.csv", "access\ntokens already issued stay valid", "about an hour", "15 minutes"},
			wantNot: []string{"Interrupted"},
		},
		{
			name: "dry run", finished: true, info: PrintInfo{ReportPath: "dry.csv", DryRun: true},
			results: []batch.Result{
				{Line: 2, Status: batch.StatusWouldRevoke}, {Line: 3, Status: batch.StatusWouldRevoke},
				{Line: 4, Status: batch.StatusNotFound},
			},
			want:    []string{"Dry run: nothing was revoked. 2 of 3 rows would be revoked.", "  would_revoke   2", "  not_found      1"},
			wantNot: []string{"  revoked", "tokens", "Throttled"},
		},
		{
			name: "interrupted", finished: false,
			info: PrintInfo{ReportPath: "out.csv", Interrupted: true, ResumeCommand: "bulkrevoke revoke --resume 'out.csv' --report out2.csv users.csv"},
			results: []batch.Result{
				{Line: 2, Status: batch.StatusRevoked}, {Line: 3, Status: batch.StatusNotAttempted},
				{Line: 4, Status: batch.StatusNotAttempted},
			},
			want:    []string{"Interrupted: 2 rows were not attempted. To finish, run:\n  bulkrevoke revoke --resume 'out.csv' --report out2.csv users.csv\n"},
			wantNot: []string{"Elapsed"},
		},
		{
			name: "containment", finished: true, results: containedResults[:3], devices: goldenDevices[:3],
			waits: 12, waited: 3*time.Minute + 4*time.Second + 512*time.Millisecond,
			dropped: []string{"app 5e3ce6c0 in tenant contoso.com: consent withdrawn (AADSTS65001)"},
			info:    PrintInfo{ReportPath: "out.csv", DevicesPath: "out.devices.csv"},
			want: []string{"Revoked sign-in sessions for 3 of 3 rows.",
				"Sign-in blocked for 1 user; 1 could not be blocked (see block_error); 1 was disabled already.\n",
				"Devices: 3 found, 1 disabled, 1 disabled already, 1 synced from on-premises AD (disable them there) (see out.devices.csv).\n",
				"By tenant:\n", "Graph asked to wait 12 times, 3m4.5s in all.\n",
				"Dropped from the run", "  app 5e3ce6c0 in tenant contoso.com: consent withdrawn (AADSTS65001)\n",
				"Devices report: out.devices.csv\n"},
		},
		{
			name: "tenants and duplicates", finished: true, info: PrintInfo{ReportPath: "out.csv"},
			results: []batch.Result{
				{Line: 2, Status: batch.StatusRevoked, TenantID: tenantA},
				{Line: 3, Status: batch.StatusDuplicate, DupStatus: batch.StatusRevoked, TenantID: tenantA},
				{Line: 4, Status: batch.StatusNotFound, TenantID: tenantA},
				{Line: 5, Status: batch.StatusDuplicate, DupStatus: batch.StatusNotFound, TenantID: tenantA},
				{Line: 6, Status: batch.StatusRevoked, TenantID: tenantB},
				{Line: 7, Status: batch.StatusExcluded, TenantID: tenantB},
				{Line: 8, Status: batch.StatusInvalid, Message: "missing the tenant column"},
			},
			want: []string{"Revoked sign-in sessions for 2 of 7 rows.", "  duplicate      2\n",
				"  (1 of the duplicates repeats a row that succeeded: not failures)\n",
				"  tenant                                 rows      revoked  not revoked\n",
				"  (no tenant)                               1            0            1\n",
				"  72f988bf-86f1-41af-91ab-2d7cd011db47      4            1            2\n"},
			wantNot: []string{"Sign-in blocked", "Devices:"},
		},
		{
			name: "one tenant and rows without", finished: true, info: PrintInfo{ReportPath: "out.csv"},
			results: []batch.Result{{Line: 2, Status: batch.StatusRevoked, TenantID: tenantA}, {Line: 3, Status: batch.StatusExcluded}},
			wantNot: []string{"By tenant"},
		},
		{
			name: "dry run with containment", finished: true, info: PrintInfo{ReportPath: "dry.csv", DryRun: true},
			results: []batch.Result{
				{Line: 2, Status: batch.StatusWouldBlock, PriorAccountEnabled: ptr(true)},
				{Line: 3, Status: batch.StatusWouldRevoke, PriorAccountEnabled: ptr(false)},
			},
			devices: []batch.DeviceResult{{Line: 2, Outcome: batch.DeviceWouldDisable}, {Line: 2, Outcome: batch.DeviceWouldDisable},
				{Line: 3, Outcome: batch.DeviceAlreadyDisabled}},
			want:    []string{"Dry run: nothing was revoked. 2 of 2 rows would be revoked.", "  would_block    1\n", "Devices: 3 found, 2 would be disabled, 1 disabled already.\n"},
			wantNot: []string{"Sign-in blocked", "tokens"},
		},
		{
			// A machine shared by two listed users is in both users' counts and in the
			// devices report once: found is what that report lists.
			name: "shared device", finished: true, info: PrintInfo{ReportPath: "out.csv", DevicesPath: "out.devices.csv"},
			results: []batch.Result{
				{Line: 2, Status: batch.StatusRevoked, Devices: iptr(2), DevicesDisabled: iptr(2)},
				{Line: 3, Status: batch.StatusRevoked, Devices: iptr(1), DevicesDisabled: iptr(0)},
			},
			devices: []batch.DeviceResult{{Line: 2, Outcome: batch.DeviceDisabled}, {Line: 2, Outcome: batch.DeviceDisabled}},
			want:    []string{"Devices: 2 found, 2 disabled.\n"},
		},
		{
			name: "rollback", finished: true, info: PrintInfo{ReportPath: "undo.csv", Rollback: true},
			results: []batch.Result{
				{Line: 2, Status: batch.StatusEnabled, Devices: iptr(1), DevicesDisabled: iptr(1)},
				{Line: 3, Status: batch.StatusUnchanged, Devices: iptr(2), DevicesDisabled: iptr(1)},
				{Line: 4, Status: batch.StatusUnchanged},
				{Line: 5, Status: batch.StatusDenied},
			},
			devices: []batch.DeviceResult{{Line: 2, Outcome: batch.DeviceEnabled}, {Line: 3, Outcome: batch.DeviceEnabled},
				{Line: 3, Outcome: batch.DeviceFailed}},
			want:    []string{"Rollback: sign-in re-enabled for 1 of 4 rows.\n", "  unchanged      2\n", "Devices: 2 of 3 re-enabled, 1 failed.\n"},
			wantNot: []string{"Revoked sign-in", "tokens"},
		},
		{
			name: "incomplete", finished: true,
			info: PrintInfo{ReportPath: "out.csv", Interrupted: true, ResumeCommand: "bulkrevoke revoke --resume out.csv --report out-resumed.csv",
				Incomplete: "3 of 5 rows are missing from the report (write report out.csv: no space left on device)"},
			results: []batch.Result{{Line: 2, Status: batch.StatusRevoked}, {Line: 3, Status: batch.StatusNotAttempted}},
			want: []string{"Interrupted: 1 rows were not attempted. To finish, see below.\n",
				"\nTHE REPORT IS INCOMPLETE: 3 of 5 rows are missing from the report (write report out.csv: no space left on device).\n",
				"To finish, run:\n  bulkrevoke revoke --resume out.csv --report out-resumed.csv\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSummary(start)
			for _, r := range tt.results {
				s.Add(r)
			}
			s.AddDevices(tt.devices...)
			s.AddWaits(tt.waits, tt.waited)
			s.AddDropped(tt.dropped)
			s.AddThrottled(tt.throttled)
			if tt.finished {
				s.Finish(start.Add(8*time.Minute + 20*time.Second + 149*time.Millisecond))
			}
			var buf bytes.Buffer
			if err := s.Print(&buf, tt.info); err != nil {
				t.Fatal(err)
			}
			out := buf.String()
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q", w)
				}
			}
			for _, w := range tt.wantNot {
				if strings.Contains(out, w) {
					t.Errorf("output has %q", w)
				}
			}
			golden(t, "summary_"+strings.ReplaceAll(tt.name, " ", "_")+".golden", buf.Bytes())
		})
	}
}

func TestSummaryRate(t *testing.T) {
	start := time.Date(2026, 11, 28, 15, 0, 0, 0, time.UTC)
	s := NewSummary(start)
	for range 40 {
		s.Add(batch.Result{Status: batch.StatusRevoked})
	}
	for range 100 { // never sent to Graph: must not inflate the rate
		s.Add(batch.Result{Status: batch.StatusInvalid})
	}
	s.Finish(start.Add(2 * time.Second))
	var buf bytes.Buffer
	if err := s.Print(&buf, PrintInfo{}); err != nil {
		t.Fatal(err)
	}
	if want := "Elapsed 2s, 20.0 users/s.\n"; !strings.Contains(buf.String(), want) {
		t.Errorf("output:\n%s\nlacks %q", buf.String(), want)
	}
}

// TestSummaryConcurrent adds from several goroutines; run it with -race.
func TestSummaryConcurrent(t *testing.T) {
	s := NewSummary(time.Time{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for _, r := range goldenResults {
				s.Add(r)
				s.AddThrottled(1)
				s.AddWaits(1, time.Second)
				s.AddDevices(goldenDevices[0])
				s.AddDropped([]string{"x"})
				_ = s.Counts()
				_ = s.AllOK()
			}
		})
	}
	wg.Wait()
	want := map[batch.Status]int{}
	for _, r := range goldenResults {
		want[r.Status] += 4
	}
	if got := s.Counts(); !maps.Equal(got, want) {
		t.Errorf("Counts() = %v, want %v", got, want)
	}
	if got, want := s.Total(), 4*len(goldenResults); got != want {
		t.Errorf("Total() = %d, want %d", got, want)
	}
	// Counts must be a copy: changing it does not change the summary.
	s.Counts()[batch.StatusRevoked] = 1000
	if s.Counts()[batch.StatusRevoked] == 1000 {
		t.Error("Counts() returned the summary's own map")
	}
}

// TestSummaryOK: the exit status follows Failed and AllOK, which count a duplicate as the row
// it repeats and containment that was asked for and not made as not done.
func TestSummaryOK(t *testing.T) {
	tests := []struct {
		name    string
		results []batch.Result
		devices []batch.DeviceResult
		failed  int
		ok      bool
	}{
		{"revoked", []batch.Result{{Status: batch.StatusRevoked}}, nil, 0, true},
		{"duplicate of a revoked row", []batch.Result{{Status: batch.StatusRevoked}, {Status: batch.StatusDuplicate, DupStatus: batch.StatusRevoked}}, nil, 0, true},
		{"duplicate of an unknown row", []batch.Result{{Status: batch.StatusDuplicate}}, nil, 1, false},
		{"duplicate of a missing user", []batch.Result{{Status: batch.StatusDuplicate, DupStatus: batch.StatusNotFound}}, nil, 1, false},
		{"duplicate of an excluded user", []batch.Result{{Status: batch.StatusDuplicate, DupStatus: batch.StatusExcluded}}, nil, 0, true},
		{"excluded", []batch.Result{{Status: batch.StatusExcluded}}, nil, 0, true},
		{"invalid", []batch.Result{{Status: batch.StatusInvalid}}, nil, 1, false},
		{"not attempted", []batch.Result{{Status: batch.StatusNotAttempted}}, nil, 1, false},
		{"unverified", []batch.Result{{Status: batch.StatusRevoked, Verified: ptr(false)}}, nil, 0, false},
		{"block failed", []batch.Result{{Status: batch.StatusRevoked, PriorAccountEnabled: ptr(true), Blocked: ptr(false)}}, nil, 0, false},
		{"block not needed", []batch.Result{{Status: batch.StatusRevoked, PriorAccountEnabled: ptr(false), Blocked: ptr(false)}}, nil, 0, true},
		{"blocked", []batch.Result{{Status: batch.StatusRevoked, PriorAccountEnabled: ptr(true), Blocked: ptr(true)}}, nil, 0, true},
		{"device failed", []batch.Result{{Status: batch.StatusRevoked}}, []batch.DeviceResult{{Outcome: batch.DeviceFailed}}, 0, false},
		{"device synced", []batch.Result{{Status: batch.StatusRevoked}}, []batch.DeviceResult{{Outcome: batch.DeviceSynced}}, 0, false},
		{"device not attempted", []batch.Result{{Status: batch.StatusRevoked}}, []batch.DeviceResult{{Outcome: batch.DeviceNotAttempted}}, 0, false},
		{"device listing failed", []batch.Result{{Status: batch.StatusRevoked, Devices: ptr(0), DevicesDisabled: ptr(0), DeviceListFailed: true}}, nil, 0, false},
		{"devices done", []batch.Result{{Status: batch.StatusRevoked}},
			[]batch.DeviceResult{{Outcome: batch.DeviceDisabled}, {Outcome: batch.DeviceAlreadyDisabled}, {Outcome: batch.DeviceWouldDisable}}, 0, true},
		{"rollback", []batch.Result{{Status: batch.StatusEnabled}, {Status: batch.StatusUnchanged}}, []batch.DeviceResult{{Outcome: batch.DeviceEnabled}}, 0, true},
		{"dry run", []batch.Result{{Status: batch.StatusWouldBlock}, {Status: batch.StatusWouldRevoke}}, nil, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSummary(time.Time{})
			for _, r := range tt.results {
				s.Add(r)
			}
			s.AddDevices(tt.devices...)
			if s.Failed() != tt.failed || s.AllOK() != tt.ok {
				t.Errorf("Failed(), AllOK() = %d, %v; want %d, %v", s.Failed(), s.AllOK(), tt.failed, tt.ok)
			}
		})
	}
}

// TestSummaryDeviceListingFailed: a run whose device listings failed says how many, instead of
// "0 found, 0 disabled" alone.
func TestSummaryDeviceListingFailed(t *testing.T) {
	s := NewSummary(time.Time{})
	for range 259 {
		s.Add(batch.Result{Status: batch.StatusRevoked, Devices: ptr(0), DevicesDisabled: ptr(0), DeviceListFailed: true})
	}
	s.Finish(time.Time{})
	var b strings.Builder
	if err := s.Print(&b, PrintInfo{ReportPath: "r.csv"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "Devices: 0 found, 0 disabled; device listing failed for 259 users (see the note column).") || s.AllOK() {
		t.Errorf("AllOK %v, summary:\n%s", s.AllOK(), b.String())
	}
}
