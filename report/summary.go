package report

import (
	"fmt"
	"io"
	"maps"
	"net/http"
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
		batch.StatusEnabled, batch.StatusWouldEnable, batch.StatusUnchanged,
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
	failed     int
	dupsOK     int // duplicates whose first row succeeded
	throttled  int
	unverified int
	guests     int
	start, end time.Time

	tenants map[string]*tenantCount

	// Containment, from the rows: users blocked, found disabled already, not blocked; devices
	// found and disabled (re-enabled, in a rollback) as the rows count them.
	blocked, alreadyDisabled, notBlocked int
	// --reset-password, from the rows: passwords reset, not reset (rows that otherwise
	// succeeded), and in a dry run the resets a real run would make.
	reset, notReset, wouldReset int
	// --confirm-compromised, from the rows: users confirmed, not confirmed (rows that otherwise
	// succeeded), in a dry run those a real run would confirm; and the tenants that refused the
	// call itself (no Entra ID P2, or no permission), with their users.
	confirmed, notConfirmed, wouldConfirm int
	riskDenied                            map[string]int
	listed                                bool
	devicesDisabled                       int
	listFailed                            int // users whose devices Graph would not list
	// From the devices report's rows, when the caller adds them.
	deviceOutcomes map[batch.DeviceOutcome]int
	// --remove-methods-since: the methods report's rows by outcome, when the caller adds them,
	// and the users whose methods Graph would not list.
	methodOutcomes    map[batch.MethodOutcome]int
	methodsListFailed int

	waits   int64
	waited  time.Duration
	dropped []string

	// Rows that need action, by status (denied rows also by their fix), for the next steps.
	classes map[string]*class
	fix     func(batch.Result) string
	// wouldEnable counts the rows of a rollback's dry run whose sign-in it would re-enable.
	wouldEnable int
}

type tenantCount struct {
	rows, done, failed int
	counts             map[batch.Status]int
}

// NewSummary starts a summary for a run that began at start.
func NewSummary(start time.Time) *Summary {
	return &Summary{counts: make(map[batch.Status]int), start: start, tenants: map[string]*tenantCount{},
		deviceOutcomes: map[batch.DeviceOutcome]int{}, methodOutcomes: map[batch.MethodOutcome]int{}, classes: map[string]*class{}}
}

// Add counts one row's result.
func (s *Summary) Add(r batch.Result) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts[r.Status]++
	s.total++
	tc := s.tenants[r.TenantID]
	if tc == nil {
		tc = &tenantCount{counts: map[batch.Status]int{}}
		s.tenants[r.TenantID] = tc
	}
	tc.rows++
	tc.counts[r.Status]++
	switch r.Status {
	case batch.StatusRevoked, batch.StatusWouldRevoke, batch.StatusWouldBlock, batch.StatusEnabled, batch.StatusWouldEnable:
		tc.done++
	}
	s.addClass(r)
	if r.Status == batch.StatusWouldEnable && isTrue(r.PriorAccountEnabled) {
		// The run being undone found the user enabled and blocked it: sign-in would be re-enabled.
		s.wouldEnable++
	}
	if failure(r) {
		s.failed++
		tc.failed++
	} else if r.Status == batch.StatusDuplicate && r.Outcome().OK() {
		s.dupsOK++
	}
	if r.Verified != nil && !*r.Verified {
		s.unverified++
	}
	if r.Status.OK() && isGuest(r) {
		s.guests++
	}
	switch {
	case isTrue(r.Blocked):
		s.blocked++
	case r.Blocked == nil:
	case isFalse(r.PriorAccountEnabled):
		s.alreadyDisabled++
	default:
		s.notBlocked++
	}
	switch {
	case isTrue(r.Reset):
		s.reset++
	case isFalse(r.Reset) && r.Status.OK():
		s.notReset++
	}
	if r.WouldReset {
		s.wouldReset++
	}
	switch {
	case isTrue(r.RiskConfirmed):
		s.confirmed++
	case isFalse(r.RiskConfirmed) && r.Status.OK():
		s.notConfirmed++
	}
	if isFalse(r.RiskConfirmed) && r.RiskHTTP == http.StatusForbidden {
		if s.riskDenied == nil {
			s.riskDenied = map[string]int{}
		}
		s.riskDenied[r.TenantID]++
	}
	if r.WouldConfirm {
		s.wouldConfirm++
	}
	if r.Devices != nil {
		// A row counts the devices of its own user; a machine shared by two listed users is
		// in both rows but in the devices report once, and that report is what Found counts.
		s.listed = true
	}
	if r.DevicesDisabled != nil {
		s.devicesDisabled += *r.DevicesDisabled
	}
	if r.DeviceListFailed {
		s.listFailed++
	}
	if r.MethodsRemoved == nil && r.MethodsError != "" && r.Status.OK() {
		// A user gone or refused is counted by its status already.
		s.methodsListFailed++
	}
}

// AddMethods counts the methods report's rows.
func (s *Summary) AddMethods(ms ...batch.MethodResult) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range ms {
		if m.Outcome != batch.MethodRemoving { // an intent: a later row says how it ended
			s.methodOutcomes[m.Outcome]++
		}
	}
}

// methodsLeft counts the methods the run was to remove and did not, and the users whose
// methods it could not list.
func (s *Summary) methodsLeft() int {
	return s.methodOutcomes[batch.MethodFailed] + s.methodOutcomes[batch.MethodNotAttempted] + s.methodsListFailed
}

// failure is a row whose user did not get what the run was for. A duplicate counts as the row
// it repeats (a duplicate of a revoked user is no failure); an excluded user was meant to be
// left alone.
func failure(r batch.Result) bool {
	o := r.Outcome()
	return !o.OK() && o != batch.StatusExcluded
}

// AddDevices counts the devices report's rows: the devices found, each once however many
// listed users share it, and the outcomes the users' rows do not tell (devices that failed,
// were synced from on-premises AD or were found disabled).
func (s *Summary) AddDevices(ds ...batch.DeviceResult) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range ds {
		s.deviceOutcomes[d.Outcome]++
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

// AddWaits counts n stretches in which Graph's Retry-After held the run back, d in all
// (batch.Stats.Waits, Waited).
func (s *Summary) AddWaits(n int64, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.waits += n
	s.waited += d
}

// AddDropped records the apps or tenants taken out of the run, each with why.
func (s *Summary) AddDropped(why []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropped = append(s.dropped, why...)
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

// Tenants lists the tenants rows were counted for, sorted ("" for rows without one).
func (s *Summary) Tenants() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.tenants))
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

// Failed is the number of rows whose user did not get what the run was for, by
// batch.Result.Outcome: a duplicate counts as the row it repeats, an excluded row is no failure.
func (s *Summary) Failed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}

// AllOK reports whether the run did all it was asked, the test for exit status 0: no row
// Failed, every revoke read back confirmed it, every block asked for was made (or the user was
// disabled already), every device listing asked for was given, and no device that AddDevices
// counted failed, was left unattempted or could only be disabled in on-premises AD.
func (s *Summary) AllOK() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed == 0 && s.unverified == 0 && s.notBlocked == 0 && s.notReset == 0 && s.notConfirmed == 0 && s.devicesLeft() == 0 && s.listFailed == 0 &&
		s.methodsLeft() == 0
}

// devicesLeft counts the devices the run was asked to change and did not.
func (s *Summary) devicesLeft() int {
	return s.deviceOutcomes[batch.DeviceFailed] + s.deviceOutcomes[batch.DeviceNotAttempted] +
		s.deviceOutcomes[batch.DeviceSynced]
}

// PrintInfo is what the summary needs to know about the run beyond its results.
type PrintInfo struct {
	ReportPath    string // empty when the report went to standard output
	DevicesPath   string // the devices report, when there is one
	MethodsPath   string // the methods report, when there is one
	DryRun        bool
	Rollback      bool // an enable run; also assumed when rows are enabled or unchanged
	Interrupted   bool
	ResumeCommand string // printed verbatim when Interrupted or Incomplete, so the admin can paste it
	// Incomplete says, when writing, flushing or closing the report failed, how many rows are
	// missing from it and why; it is printed last, where it cannot be missed.
	Incomplete string
	// Notes are further lines about the run (a group's members that were not users).
	Notes []string
	// RetryPath is the list of the rows worth another run (<report>.retry.csv), when one was
	// written; RetryCommand runs them again (for a rollback, the --resume command).
	RetryPath, RetryCommand string
	// Simulated is, under --simulate, how long the run took on the simulated tenant's clock,
	// which runs faster than the wall clock: Graph's waits are counted on it too.
	Simulated time.Duration
}

// Print writes the end-of-run summary for humans to w.
func (s *Summary) Print(w io.Writer, info PrintInfo) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	rollback := info.Rollback || s.counts[batch.StatusEnabled]+s.counts[batch.StatusUnchanged]+s.counts[batch.StatusWouldEnable] > 0

	done, notDone := "revoked", "not revoked"
	switch {
	case rollback && info.DryRun:
		done, notDone = "would enable", "would not"
		p("Dry run: nothing was re-enabled. The rollback would re-enable sign-in for %s", users(s.wouldEnable))
		if n := s.deviceOutcomes[batch.DeviceWouldEnable]; n > 0 {
			p(" and %d %s", n, plural(n, "device", "devices"))
		}
		p(" (%d rows).\n", s.total)
	case rollback:
		done, notDone = "enabled", "not enabled"
		p("Rollback: sign-in re-enabled for %d of %d rows.\n", s.counts[batch.StatusEnabled], s.total)
	case info.DryRun:
		done, notDone = "would revoke", "would not"
		p("Dry run: nothing was revoked. %d of %d rows would be revoked.\n",
			s.counts[batch.StatusWouldRevoke]+s.counts[batch.StatusWouldBlock], s.total)
	default:
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
	if s.dupsOK > 0 {
		// The exit status follows this; say it, or a duplicate listed above looks like a failure.
		p("  (%d of the duplicates %s a row that succeeded: not failures)\n", s.dupsOK, plural(s.dupsOK, "repeats", "repeat"))
	}
	s.printTenants(p, done, notDone)
	s.printNextSteps(p, info)
	s.printContainment(p, info, rollback)
	s.printResets(p, info)
	s.printMethods(p, info)
	s.printRisk(p, info)

	if !s.end.IsZero() {
		elapsed := s.end.Sub(s.start)
		if info.Simulated > 0 {
			// The simulated tenant's clock runs faster than the wall clock; Graph's waits
			// below are counted on it, so the elapsed time is given on it too.
			p("Elapsed %s of simulated time (%s on the wall clock)", roundDuration(info.Simulated), roundDuration(elapsed))
			elapsed = info.Simulated
		} else {
			p("Elapsed %s", roundDuration(elapsed))
		}
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
	if s.waits > 0 {
		p("Graph asked to wait %d %s, %s in all", s.waits, plural(int(s.waits), "time", "times"), roundDuration(s.waited))
		if info.Simulated > 0 {
			p(" (simulated time)")
		}
		p(".\n")
	}
	if len(s.dropped) > 0 {
		p("Dropped from the run:\n")
		for _, why := range s.dropped {
			p("  %s\n", why)
		}
	}
	if s.unverified > 0 {
		p("Not confirmed by read-back: %s (verified=false in the report); check them again.\n", users(s.unverified))
	}
	if s.guests > 0 && !rollback {
		p("Guest users: %d; the revoke does not reach their home-tenant sessions (see the note column).\n", s.guests)
	}
	for _, n := range info.Notes {
		p("%s\n", n)
	}
	if info.ReportPath != "" {
		p("Report: %s\n", info.ReportPath)
	}
	if info.DevicesPath != "" {
		p("Devices report: %s\n", info.DevicesPath)
	}
	if info.MethodsPath != "" {
		p("Methods report: %s\n", info.MethodsPath)
	}
	if info.Interrupted {
		p("\nInterrupted: %d rows were not attempted.", s.counts[batch.StatusNotAttempted])
		switch {
		case info.Incomplete != "":
			p(" To finish, see below.\n")
		case info.ResumeCommand != "":
			p(" To finish, run:\n  %s\n", info.ResumeCommand)
		default:
			p("\n")
		}
	}
	if !info.DryRun && !rollback && s.counts[batch.StatusRevoked] > 0 {
		p("\nRefresh tokens and session cookies of the revoked users are dead now, but access\n" +
			"tokens already issued stay valid until they expire: up to about an hour, or about\n" +
			"15 minutes for apps using Continuous Access Evaluation.\n")
	}
	if info.Incomplete != "" {
		p("\nTHE REPORT IS INCOMPLETE: %s.\n", strings.TrimSuffix(info.Incomplete, "."))
		p("What happened to the missing rows' users is not recorded; sending them again is harmless.\n")
		if info.ResumeCommand != "" {
			p("To finish, run:\n  %s\n", info.ResumeCommand)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// printTenants shows a run over several tenants tenant by tenant. Rows without a tenant (a
// row the run answered without Graph may have none) do not make a run multi-tenant.
func (s *Summary) printTenants(p func(string, ...any), done, notDone string) {
	named := len(s.tenants)
	if s.tenants[""] != nil {
		named--
	}
	if named < 2 {
		return
	}
	names := slices.Sorted(maps.Keys(s.tenants))
	width := len("(no tenant)")
	for _, n := range names {
		width = max(width, len(n))
	}
	p("By tenant:\n  %-*s %6s %12s %12s\n", width, "tenant", "rows", done, notDone)
	for _, n := range names {
		tc := s.tenants[n]
		if n == "" {
			n = "(no tenant)"
		}
		p("  %-*s %6d %12d %12d\n", width, n, tc.rows, tc.done, tc.failed)
	}
}

// printRisk says what --confirm-compromised did, or in a dry run would do, and names once each
// tenant that refused the call itself.
func (s *Summary) printRisk(p func(string, ...any), info PrintInfo) {
	switch {
	case info.DryRun && s.wouldConfirm > 0:
		p("Risk: %s would be confirmed compromised in Identity Protection.\n", users(s.wouldConfirm))
	case !info.DryRun && s.confirmed+s.notConfirmed > 0:
		p("Risk: %s confirmed compromised", users(s.confirmed))
		if s.notConfirmed > 0 {
			p("; %d not confirmed (see risk_confirmed_error)", s.notConfirmed)
		}
		p(".\n")
	}
	for _, t := range slices.Sorted(maps.Keys(s.riskDenied)) {
		name := t
		if name == "" {
			name = "the run's tenant"
		}
		p("Risk: %s refused confirmCompromised (HTTP 403): %s not confirmed; the tenant needs Entra ID P2 and the app IdentityRiskyUser.ReadWrite.All.\n",
			name, users(s.riskDenied[t]))
	}
}

// printResets says what --reset-password did, or in a dry run would do.
func (s *Summary) printResets(p func(string, ...any), info PrintInfo) {
	switch {
	case info.DryRun && s.wouldReset > 0:
		p("Passwords: %s would be reset.\n", users(s.wouldReset))
	case !info.DryRun && s.reset+s.notReset > 0:
		p("Passwords reset for %s", users(s.reset))
		if s.notReset > 0 {
			p("; %d not reset (see password_reset_error)", s.notReset)
		}
		p(".\n")
	}
}

// printMethods says what --remove-methods-since did, or in a dry run would do.
func (s *Summary) printMethods(p func(string, ...any), info PrintInfo) {
	n := 0
	for _, c := range s.methodOutcomes {
		n += c
	}
	if n == 0 && s.methodsListFailed == 0 {
		return
	}
	o := s.methodOutcomes
	if info.DryRun {
		p("Methods: %d would be removed", o[batch.MethodWouldRemove])
	} else {
		p("Methods: %d removed", o[batch.MethodRemoved])
	}
	p(", %d kept (older), %d kept (age unknown: review them), %d failed", o[batch.MethodKeptOlder], o[batch.MethodKeptUnknownAge],
		o[batch.MethodFailed])
	if k := o[batch.MethodNotAttempted]; k > 0 {
		p(", %d not attempted", k)
	}
	if s.methodsListFailed > 0 {
		p("; listing failed for %s (see methods_error)", users(s.methodsListFailed))
	}
	if info.MethodsPath != "" {
		p("; see %s", info.MethodsPath)
	}
	p(".\n")
}

// printContainment says what blocking and device disabling did, when the run did either.
func (s *Summary) printContainment(p func(string, ...any), info PrintInfo, rollback bool) {
	if !info.DryRun && !rollback && s.blocked+s.alreadyDisabled+s.notBlocked > 0 {
		p("Sign-in blocked for %s", users(s.blocked))
		if s.notBlocked > 0 {
			p("; %d could not be blocked (see block_error)", s.notBlocked)
		}
		if s.alreadyDisabled > 0 {
			p("; %d %s disabled already", s.alreadyDisabled, plural(s.alreadyDisabled, "was", "were"))
		}
		p(".\n")
	}
	outcomes := 0
	for _, n := range s.deviceOutcomes {
		outcomes += n
	}
	if !s.listed && outcomes == 0 {
		return
	}
	found := outcomes
	switch {
	case rollback && info.DryRun:
		p("Devices: %d would be re-enabled", s.deviceOutcomes[batch.DeviceWouldEnable])
	case rollback:
		p("Devices: %d of %d re-enabled", s.devicesDisabled, found)
	case info.DryRun:
		p("Devices: %d found, %d would be disabled", found, s.deviceOutcomes[batch.DeviceWouldDisable])
	default:
		p("Devices: %d found, %d disabled", found, s.devicesDisabled)
	}
	for _, o := range []struct {
		outcome batch.DeviceOutcome
		what    string
	}{
		{batch.DeviceAlreadyDisabled, "disabled already"},
		{batch.DeviceSynced, "synced from on-premises AD (disable them there)"},
		{batch.DeviceFailed, "failed"},
		{batch.DeviceNotAttempted, "not attempted"},
	} {
		if n := s.deviceOutcomes[o.outcome]; n > 0 {
			p(", %d %s", n, o.what)
		}
	}
	if s.devicesLeft() > 0 && info.DevicesPath != "" {
		p(" (see %s)", info.DevicesPath)
	}
	if s.listFailed > 0 {
		p("; device listing failed for %s (see the note column)", users(s.listFailed))
	}
	p(".\n")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// sent is the number of users Graph answered for, the rate that matters against its write quota.
func (s *Summary) sent() int {
	n := 0
	for _, st := range []batch.Status{batch.StatusRevoked, batch.StatusWouldRevoke, batch.StatusWouldBlock,
		batch.StatusEnabled, batch.StatusNotFound, batch.StatusDenied, batch.StatusFailed} {
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
