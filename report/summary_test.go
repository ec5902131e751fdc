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
		throttled int
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSummary(start)
			for _, r := range tt.results {
				s.Add(r)
			}
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
				_ = s.Counts()
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
