package report

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bulkrevoke/bulkrevoke/batch"
)

// Statuses lists every status in the order the summary prints them: outcomes first, then
// failures, then rows that never reached Graph.
func Statuses() []batch.Status {
	return []batch.Status{
		batch.StatusRevoked, batch.StatusWouldRevoke, batch.StatusWouldBlock,
		batch.StatusEnabled, batch.StatusUnchanged,
		batch.StatusNotFound, batch.StatusDenied, batch.StatusFailed,
		batch.StatusInvalid, batch.StatusDuplicate, batch.StatusExcluded,
		batch.StatusNotAttempted,
	}
}

// Summary counts a run's results for the end-of-run report. Its methods are safe for concurrent
// use.
type Summary struct {
	mu         sync.Mutex
	counts     map[batch.Status]int
	total      int
	throttled  int
	unverified int
	guests     int
	start, end time.Time
}

// NewSummary starts a summary for a run that began at start.
func NewSummary(start time.Time) *Summary {
	return &Summary{counts: make(map[batch.Status]int), start: start}
}

// Add counts one row's result.
func (s *Summary) Add(r batch.Result) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts[r.Status]++
	s.total++
	if r.Verified != nil && !*r.Verified {
		s.unverified++
	}
	if r.Status.OK() && isGuest(r) {
		s.guests++
	}
}

// isGuest spots users whose home-tenant sessions a revoke in this tenant does not reach.
func isGuest(r batch.Result) bool {
	return strings.EqualFold(r.UserType, "guest") ||
		strings.Contains(strings.ToUpper(r.UPN), "#EXT#") ||
		strings.Contains(strings.ToUpper(r.Input), "#EXT#")
}

// AddThrottled counts n throttled (429) responses, envelope or step.
func (s *Summary) AddThrottled(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttled += n
}

// Finish records when the run ended; until then Print leaves out the elapsed time.
func (s *Summary) Finish(end time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.end = end
}

// Counts returns a copy of the number of rows per status.
func (s *Summary) Counts() map[batch.Status]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := make(map[batch.Status]int, len(s.counts))
	for k, v := range s.counts {
		c[k] = v
	}
	return c
}

// Unverified is the number of revoked users whose read-back did not show the revoke.
func (s *Summary) Unverified() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unverified
}

// Total is the number of rows counted.
func (s *Summary) Total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// PrintInfo is what the summary needs to know about the run beyond its results.
type PrintInfo struct {
	ReportPath    string // empty when the report went to standard output
	DryRun        bool
	Interrupted   bool
	ResumeCommand string // printed verbatim when Interrupted, so the admin can paste it
}

// Print writes the end-of-run summary for humans to w.
func (s *Summary) Print(w io.Writer, info PrintInfo) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }

	if info.DryRun {
		p("Dry run: nothing was revoked. %d of %d rows would be revoked.\n",
			s.counts[batch.StatusWouldRevoke], s.total)
	} else {
		p("Revoked sign-in sessions for %d of %d rows.\n", s.counts[batch.StatusRevoked], s.total)
	}
	for _, st := range Statuses() {
		if n := s.counts[st]; n > 0 {
			p("  %-14s %d\n", st, n)
		}
	}
	// A status the engine invented after this list was written must still be counted.
	var extra []string
	for st := range s.counts {
		if !statuses[st] {
			extra = append(extra, string(st))
		}
	}
	if len(extra) > 0 {
		slices.Sort(extra)
		for _, st := range extra {
			p("  %-14s %d\n", st, s.counts[batch.Status(st)])
		}
	}

	if !s.end.IsZero() {
		elapsed := s.end.Sub(s.start)
		p("Elapsed %s", roundDuration(elapsed))
		if sent := s.sent(); sent > 0 && elapsed > 0 {
			rate := float64(sent) / elapsed.Seconds()
			if rate >= 0.1 {
				p(", %.1f users/s", rate)
			} else {
				p(", %.3f users/s", rate)
			}
		}
		p(".\n")
	}
	if s.throttled > 0 {
		p("Throttled responses seen: %d (each waited out as Graph asked).\n", s.throttled)
	}
	if s.unverified > 0 {
		p("Not confirmed by read-back: %s (verified=false in the report); check them again.\n", users(s.unverified))
	}
	if s.guests > 0 {
		p("Guest users: %d; the revoke does not reach their home-tenant sessions (see the note column).\n", s.guests)
	}
	if info.ReportPath != "" {
		p("Report: %s\n", info.ReportPath)
	}
	if info.Interrupted {
		p("\nInterrupted: %d rows were not attempted.", s.counts[batch.StatusNotAttempted])
		if info.ResumeCommand != "" {
			p(" To finish, run:\n  %s\n", info.ResumeCommand)
		} else {
			p("\n")
		}
	}
	if !info.DryRun && s.counts[batch.StatusRevoked] > 0 {
		p("\nRefresh tokens and session cookies of the revoked users are dead now, but access\n" +
			"tokens already issued stay valid until they expire: up to about an hour, or about\n" +
			"15 minutes for apps using Continuous Access Evaluation.\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// sent is the number of users Graph answered for, the rate that matters against its write quota.
func (s *Summary) sent() int {
	n := 0
	for _, st := range []batch.Status{batch.StatusRevoked, batch.StatusWouldRevoke,
		batch.StatusNotFound, batch.StatusDenied, batch.StatusFailed} {
		n += s.counts[st]
	}
	return n
}

func roundDuration(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(100 * time.Millisecond)
}

func users(n int) string {
	if n == 1 {
		return "1 user"
	}
	return fmt.Sprintf("%d users", n)
}
