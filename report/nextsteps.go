package report

import (
	"cmp"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/bulkrevoke/bulkrevoke/batch"
)

// maxExamples is how many users (or lines) a next-step line names.
const maxExamples = 5

// NextStep is one class of rows that needs action after a run, with what to do about it.
type NextStep struct {
	// Status is a report status (denied, not_found, invalid, failed, not_attempted), or
	// not_blocked: revoked rows whose block was not made; not_reset: revoked rows whose
	// password was not reset; not_confirmed: revoked rows not confirmed compromised.
	Status string   `json:"status"`
	Count  int      `json:"count"`
	Users  []string `json:"users"` // up to five, as the list wrote them, lowest lines first
	Lines  []int    `json:"lines"` // their lines in the list
	Fix    string   `json:"fix"`
}

// class gathers the rows of one status (and, for denied rows, one fix) that need action: how
// many, and the five with the lowest lines.
type class struct {
	status  batch.Status
	fix     string
	n       int
	first   []example
	tenants map[string]bool
}

type example struct {
	line int
	user string
}

func (c *class) add(r batch.Result) {
	c.n++
	if c.tenants == nil {
		c.tenants = map[string]bool{}
	}
	if len(c.tenants) < 10 {
		c.tenants[r.TenantID] = true
	}
	user := r.Input
	if user == "" {
		user = cmp.Or(r.UPN, r.UserID)
	}
	i, _ := slices.BinarySearchFunc(c.first, r.Line, func(e example, line int) int { return e.line - line })
	if i >= maxExamples {
		return
	}
	c.first = slices.Insert(c.first, i, example{r.Line, user})
	if len(c.first) > maxExamples {
		c.first = c.first[:maxExamples]
	}
}

// statusNotBlocked is the class of revoked rows whose block was not made.
const statusNotBlocked batch.Status = "not_blocked"

// statusNotReset is the class of revoked rows whose password was not reset.
const statusNotReset batch.Status = "not_reset"

// statusMethodsLeft is the class of rows whose authentication methods were not all removed,
// or not listed.
const statusMethodsLeft batch.Status = "methods_not_removed"

// statusNotConfirmed is the class of revoked rows not confirmed compromised.
const statusNotConfirmed batch.Status = "not_confirmed"

// needsAction lists the classes a next step is given for, in the order they are printed.
var needsAction = []batch.Status{batch.StatusDenied, statusNotBlocked, statusNotReset, statusMethodsLeft, statusNotConfirmed, batch.StatusNotFound, batch.StatusInvalid,
	batch.StatusFailed, batch.StatusNotAttempted}

// addClass counts r in its class when it needs action; the caller holds s.mu.
func (s *Summary) addClass(r batch.Result) {
	st := r.Status
	if r.Status.OK() && notBlocked(r) {
		st = statusNotBlocked
	}
	s.addToClass(st, r)
	if r.Status.OK() && isFalse(r.Reset) {
		// A second action for the same row (a user synced from AD is neither blocked nor
		// reset in the cloud): it gets its own line, not hidden behind the block's.
		x := r
		x.Blocked = nil
		s.addToClass(statusNotReset, x)
	}
	if r.Status.OK() && r.MethodsError != "" {
		s.addToClass(statusMethodsLeft, r)
	}
	if r.Status.OK() && isFalse(r.RiskConfirmed) {
		x := r
		x.Blocked, x.Reset = nil, nil
		s.addToClass(statusNotConfirmed, x)
	}
}

// addToClass counts r in class st when st needs action; the caller holds s.mu.
func (s *Summary) addToClass(st batch.Status, r batch.Result) {
	if !slices.Contains(needsAction, st) {
		return
	}
	key := string(st)
	fix := ""
	if st == batch.StatusDenied || st == statusNotBlocked || st == statusNotReset || st == statusMethodsLeft || st == statusNotConfirmed {
		switch {
		case st == statusMethodsLeft:
			fix = MethodsFix(r)
		case st == statusNotConfirmed:
			// Whatever else the row needs, this class's line is about the confirmation.
			fix = RiskFix(r)
		case s.fix != nil:
			fix = s.fix(r)
		case st == statusNotBlocked:
			fix = BlockFix(Access{}, r)
		case st == statusNotReset:
			fix = ResetFix(Access{}, r)
		default:
			// Without the run's plan, the step Graph refused is unknown.
			fix = "Graph refused it (error_code and error_message say why); the README's \"Sign-in and permissions\" lists what each step needs"
		}
		key += "\x00" + fix
	}
	c := s.classes[key]
	if c == nil {
		c = &class{status: st, fix: fix}
		s.classes[key] = c
	}
	c.add(r)
}

// notBlocked reports whether a row's block was asked for and not made (the user was not
// disabled already): Summary counts it against the exit status.
func notBlocked(r batch.Result) bool {
	return isFalse(r.Blocked) && !isFalse(r.PriorAccountEnabled)
}

// SetFix tells the summary what a denied row, or a block not made, needs (Fix, with the run's
// Access), so that such rows are told apart by their fix.
func (s *Summary) SetFix(fix func(batch.Result) string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fix = fix
}

// NextSteps lists, per class of rows that needs action, how many, the first few users, and
// what to do.
func (s *Summary) NextSteps(info PrintInfo) []NextStep {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nextSteps(info)
}

func (s *Summary) nextSteps(info PrintInfo) []NextStep {
	var out []NextStep
	for _, st := range needsAction {
		var cs []*class
		for _, c := range s.classes {
			if c.status == st {
				cs = append(cs, c)
			}
		}
		// Denied rows of several fixes: the biggest group first.
		slices.SortFunc(cs, func(a, b *class) int {
			if a.n != b.n {
				return b.n - a.n
			}
			return strings.Compare(a.fix, b.fix)
		})
		for _, c := range cs {
			ns := NextStep{Status: string(st), Count: c.n, Users: []string{}, Lines: []int{}}
			for _, e := range c.first {
				ns.Users = append(ns.Users, e.user)
				ns.Lines = append(ns.Lines, e.line)
			}
			ns.Fix = c.fixText(info)
			out = append(out, ns)
		}
	}
	return out
}

// fixText is what to do about a class's rows.
func (c *class) fixText(info PrintInfo) string {
	again := "run them again"
	switch {
	case info.RetryCommand != "" && info.RetryPath != "":
		again = "run them again from " + info.RetryPath + " (the command is below)"
	case info.RetryCommand != "":
		again = "run them again (the command is below)"
	case info.ResumeCommand != "":
		again = "the --resume command below sends them again"
	}
	switch c.status {
	case batch.StatusDenied, statusNotBlocked, statusNotReset, statusMethodsLeft, statusNotConfirmed:
		return c.fix
	case batch.StatusNotFound:
		tenants := slices.Sorted(maps.Keys(c.tenants))
		where := "in the tenant"
		switch {
		case len(tenants) == 1 && tenants[0] != "":
			where = "in tenant " + tenants[0]
		case len(tenants) > 1:
			where = "in the tenant of each row (tenant_id)"
		}
		return "Graph knows no such user " + where + ": check the spelling, and that the list is for that tenant (a guest is named by its #EXT# userPrincipalName there)"
	case batch.StatusInvalid:
		return "not a userPrincipalName or object id, or a bad tenant (error_message says why): correct those lines in the list and run them again"
	case batch.StatusFailed:
		return "Graph kept failing for them (error_message has its last answer): " + again
	case batch.StatusNotAttempted:
		return "never sent, or sent with no answer back (error_code no_answer: it may have been done; sending again is harmless): " + again
	}
	return ""
}

// printNextSteps writes the next-step lines, then the retry command once.
func (s *Summary) printNextSteps(p func(string, ...any), info PrintInfo) {
	steps := s.nextSteps(info)
	if len(steps) == 0 {
		return
	}
	p("Next steps:\n")
	retry := false
	for _, ns := range steps {
		var who string
		if ns.Status == string(batch.StatusInvalid) {
			lines := make([]string, len(ns.Lines))
			for i, l := range ns.Lines {
				lines[i] = strconv.Itoa(l)
			}
			who = plural(len(lines), "line ", "lines ") + strings.Join(lines, ", ")
		} else {
			names := make([]string, len(ns.Users))
			for i, u := range ns.Users {
				names[i] = cmp.Or(u, "line "+strconv.Itoa(ns.Lines[i]))
			}
			who = strings.Join(names, ", ")
		}
		if more := ns.Count - len(ns.Users); more > 0 {
			who += fmt.Sprintf(" and %d more", more)
		}
		p("  %s %d (%s): %s.\n", ns.Status, ns.Count, who, ns.Fix)
		retry = retry || ns.Status == string(batch.StatusFailed) || ns.Status == string(batch.StatusNotAttempted)
	}
	if retry && info.RetryCommand != "" {
		p("To run the failed and not attempted rows again, run:\n  %s\n", info.RetryCommand)
	}
}

// Access is what a denied row's fix depends on besides the row: the steps of the run's plan,
// and whether a person signed in (delegated: device code, browser, Azure CLI) rather than an app.
type Access struct {
	Plan      batch.Plan
	Delegated bool
}

// Fix says what a denied row needs, or a row whose block was not made; "" for other rows.
func Fix(a Access, r batch.Result) string {
	switch {
	case r.Status == batch.StatusDenied:
		return DeniedFix(a, r)
	case r.Status.OK() && notBlocked(r):
		return BlockFix(a, r)
	case r.Status.OK() && isFalse(r.Reset):
		return ResetFix(a, r)
	case r.Status.OK() && isFalse(r.RiskConfirmed):
		return RiskFix(r)
	}
	return ""
}

// RiskFix says what a row not confirmed compromised needs, from Graph's status for the call
// (Result.RiskHTTP, never the message): a tenant that refused the call needs Entra ID P2 and the
// permission; another refusal is Graph's word on those users; a failure that may pass is tried
// again by --resume.
func RiskFix(r batch.Result) string {
	switch {
	case r.RiskHTTP == http.StatusForbidden:
		return "the tenant refused to confirm users compromised: Identity Protection needs Entra ID P2 in the tenant and the application permission IdentityRiskyUser.ReadWrite.All; once both are there, confirm these users in the Entra portal (Identity Protection, Risky users) or run again with --resume"
	case r.RiskHTTP >= 400 && r.RiskHTTP < 500:
		return "Identity Protection refused the confirmation (risk_confirmed_error has Graph's message): confirm these users in the Entra portal (Identity Protection, Risky users)"
	}
	return "the confirmation failed or was not answered (risk_confirmed_error says why): run the same command again with --resume <this report> --report <a new one> to confirm them"
}

// ResetFix says what a row whose password was not reset needs, from why (Result.Synced and
// ResetHTTP, never the message): a user synced from AD is reset there; a 403 is the permission
// or, for an admin, the role; a password the tenant's policy refused (Graph's 400 for a cloud
// user: users of AD are never sent) is reset by hand; another failure may pass on another try.
func ResetFix(a Access, r batch.Result) string {
	if !r.Synced && r.ResetHTTP == http.StatusBadRequest {
		return "the tenant's password policy refused the generated password (password_reset_error has Graph's message): reset these users through the helpdesk"
	}
	return resetFixes.pick(a, r.Synced, r.ResetHTTP)
}

var resetFixes = stepFixes{
	synced:    "synced from on-premises AD, whose passwords Graph cannot reset: reset them in AD, twice, as Microsoft advises",
	delegated: "resetting passwords needs the signed-in admin to hold a role that may (User Administrator covers only some admins); for every admin, Privileged Authentication Administrator",
	app:       "resetting passwords needs the application permission User-PasswordProfile.ReadWrite.All; for an admin, the app's service principal also needs the Privileged Authentication Administrator Entra role (User Administrator covers only some admins)",
	other:     "the reset failed (password_reset_error says why): run the same command again with --resume <this report> --report <a new one> to try it again",
}

// MethodsFix says what a row whose authentication methods were not all removed needs, from
// why (MethodsListHTTP and whether the listing finished, never the message). The methods
// report's rows say which methods and why.
func MethodsFix(r batch.Result) string {
	switch {
	case r.MethodsListHTTP == http.StatusForbidden:
		return "listing and removing methods needs the application permission UserAuthenticationMethod.ReadWrite.All; for an admin, the Privileged Authentication Administrator role; then run the same command again with --resume <this report> --report <a new one>"
	case r.MethodsRemoved == nil:
		return "Graph would not list their methods (methods_error says why): run the same command again with --resume <this report> --report <a new one>"
	}
	return "the methods report's failed and not_attempted rows say which methods are left and why: a default method must be changed first (Entra admin center, the user's Authentication methods), a type bulkrevoke does not know is removed there; --resume <this report> --report <a new one> tries the others again"
}

// BlockFix says what a row whose block was not made needs, from why (Result.Synced and
// BlockHTTP, never the message): a user synced from on-premises AD is disabled there; a 403 is
// the permission or, for an admin, the role; any other failure may pass on another try
// (--resume tries the block again).
func BlockFix(a Access, r batch.Result) string { return blockFixes.pick(a, r.Synced, r.BlockHTTP) }

var blockFixes = stepFixes{
	synced:    "synced from on-premises AD, which Graph cannot block: disable the accounts in AD",
	delegated: "blocking needs the signed-in admin to hold User Administrator; for an admin, Privileged Authentication Administrator (or Global Administrator)",
	app:       "blocking needs the application permission User.EnableDisableAccount.All; for an admin, the app's service principal also needs the Privileged Authentication Administrator (or Global Administrator) Entra role",
	other:     "the block failed (block_error says why): run the same command again with --resume <this report> --report <a new one> to try it again",
}

// stepFixes are the fixes for a step before the revoke that was not made (the block, the reset),
// by why: the user is synced from AD, Graph refused it (403) to a signed-in admin or to an
// app, or it failed otherwise.
type stepFixes struct{ synced, delegated, app, other string }

func (f stepFixes) pick(a Access, synced bool, status int) string {
	switch {
	case synced:
		return f.synced
	case status == http.StatusForbidden && a.Delegated:
		return f.delegated
	case status == http.StatusForbidden:
		return f.app
	}
	return f.other
}

// DeniedFix says what a denied row needs, from the step Graph refused and Graph's code: the
// permission or the Entra role, as the README's permissions table lists them. A block Graph
// refused does not deny the row (BlockFix); a denied row is a refused lookup, revoke or
// re-enable, or a tenant or app the run could not use.
func DeniedFix(a Access, r batch.Result) string {
	code := ""
	if r.Code != "" && r.Code != "Authorization_RequestDenied" {
		code = " (Graph's code: " + r.Code + ")"
	}
	const adminRole = "the Privileged Authentication Administrator (or Global Administrator) Entra role"
	switch {
	case r.Code == "sign_in":
		return "the run has no sign-in for this row's tenant (error_message says why): grant the app admin consent in that tenant, or with --auth token use a token of that tenant"
	case r.Code == "lane_dropped":
		return "every app signed in to this tenant was dropped during the run (error_message says why): restore its consent or credential, then run these rows again"
	case a.Plan.Enable:
		if a.Delegated {
			return "re-enabling sign-in needs a signed-in admin with the User Administrator role; for an admin, " + adminRole + code
		}
		return "re-enabling sign-in needs the application permission User.EnableDisableAccount.All; for an admin, the app's service principal also needs " + adminRole + code
	case a.Plan.Lookup && (a.Plan.DryRun || lookupRefused(r)):
		return "reading users needs the permission User.Read.All, admin-consented" + code
	case a.Delegated:
		return "revoking needs the signed-in admin to hold a role that may revoke sessions (Helpdesk, User, Password, Authentication, Privileged Authentication or Global Administrator); for another admin, Privileged Authentication or Global Administrator" + code
	}
	return "Graph refuses this for an admin the app may not touch: give the app's service principal " + adminRole +
		"; if Graph refuses every user, grant User.RevokeSessions.All with admin consent" + code
}

// lookupRefused reports whether the row's lookup was refused: it learned nothing of the user.
func lookupRefused(r batch.Result) bool {
	return r.AccountEnabled == nil && r.DisplayName == "" && r.UserType == ""
}
