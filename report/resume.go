package report

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/bulkrevoke/bulkrevoke/batch"
)

// ReadReport reads a report written by Journal, by this release or the first one (whose
// reports lack the containment and tenant columns), and returns its rows by input line. A
// report cut short by a crash is accepted: its last line is ignored when it has no newline, is
// not valid CSV on its own or has the wrong number of fields. Any other malformed line is an
// error naming its line.
func ReadReport(r io.Reader) (map[int]batch.Result, error) {
	return readReport(r, "")
}

// CountReport counts the complete rows of a report, as ReadReport reads it, without keeping them:
// a run checks what reached the disk after a million rows without holding a million Results.
// A line reported twice is an error, as for ReadReport.
func CountReport(r io.Reader) (int, error) {
	var seen []uint64 // a bit per input line
	n := 0
	err := readTable(r, "", reportTable, func(cells []string, _ int) error {
		var line int
		p := cellParser{columns: Header, cells: cells}
		p.field(0, parseLine(&line))
		if p.err != nil {
			return p.err
		}
		w := line / 64
		if w >= len(seen) {
			seen = append(seen, make([]uint64, w+1-len(seen))...)
		}
		if seen[w]&(1<<(line%64)) != 0 {
			return fmt.Errorf("input line %d is in the report twice", line)
		}
		seen[w] |= 1 << (line % 64)
		n++
		return nil
	})
	return n, err
}

// Previous is an earlier run of the same input, read for --resume: its report, and its devices
// report and changes journal when they exist.
type Previous struct {
	path      string
	rows      map[int]batch.Result
	devices   map[int][]batch.DeviceResult // by input line
	methods   map[int][]batch.MethodResult // by input line
	ev        evidence
	tenantIDs map[string]string
}

// OpenPrevious reads the report at path, with its devices report (DevicesPath) and changes
// journal (ChangesPath) when they exist. Errors name the file.
func OpenPrevious(path string) (*Previous, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open previous report: %w", err)
	}
	defer f.Close()
	rows, err := readReport(f, path)
	if err != nil {
		return nil, err
	}
	devs, _, err := openOptional(DevicesPath(path), readDevices)
	if err != nil {
		return nil, err
	}
	changes, _, err := openOptional(ChangesPath(path), readChanges)
	if err != nil {
		return nil, err
	}
	ms, _, err := openOptional(MethodsPath(path), readMethods)
	if err != nil {
		return nil, err
	}
	p := &Previous{path: path, rows: rows, devices: map[int][]batch.DeviceResult{}, methods: map[int][]batch.MethodResult{},
		ev: gather(rows, devs, changes)}
	for _, d := range devs {
		p.devices[d.Line] = append(p.devices[d.Line], d)
	}
	for _, m := range ms {
		p.methods[m.Line] = append(p.methods[m.Line], m)
	}
	return p, nil
}

// openOptional reads a file that may not exist; found says whether it did.
func openOptional[T any](path string, read func(io.Reader, string) (T, error)) (v T, found bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return v, false, nil
	}
	if err != nil {
		return v, false, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	v, err = read(f, path)
	return v, true, err
}

// Path is the previous report's file name.
func (p *Previous) Path() string { return p.path }

// Len is the number of rows read from the previous report.
func (p *Previous) Len() int { return len(p.rows) }

// Result returns the previous report's row for an input line.
func (p *Previous) Result(line int) (batch.Result, bool) {
	r, ok := p.rows[line]
	return r, ok
}

// Revoked returns the previous row for line when it was revoked there, so the caller can carry
// it over instead of sending it again.
func (p *Previous) Revoked(line int) (batch.Result, bool) {
	r, ok := p.rows[line]
	if !ok || r.Status != batch.StatusRevoked {
		return batch.Result{}, false
	}
	return r, true
}

// Done reports whether the previous run finished everything it set out to do for line, so
// that the resumed run can carry its row over (and Devices(line) into its devices report)
// instead of sending it again: the user revoked; if that run blocked sign-in, blocked or
// found disabled already (a block that failed, or could not be made in Graph for a synced
// user, is tried again); with needDevices, the devices listed to the end (devices not empty)
// and none of them failed or not attempted in its devices report. Sending again is harmless:
// a second revoke, block or listing changes nothing. A resumed run should use the flags of the
// run it resumes: a row revoked without --block-sign-in counts as done whatever this run asks.
func (p *Previous) Done(line int, needDevices bool) bool {
	r, ok := p.Revoked(line)
	if !ok {
		return false
	}
	if isFalse(r.Blocked) && !isFalse(r.PriorAccountEnabled) && !blockRefused(r) {
		return false // the block failed for a reason that may pass: try it again
	}
	if isFalse(r.Reset) && !resetRefused(r) {
		return false // the reset failed for a reason that may pass: try it again
	}
	if r.MethodsRemoved == nil && r.MethodsError != "" {
		return false // the methods were not listed to the end: list them again
	}
	if len(p.MethodsRemoving(line)) > 0 {
		return false // a removal sent and never answered: list the methods again to know
	}
	for _, m := range p.methods[line] {
		if m.Outcome == batch.MethodNotAttempted || (m.Outcome == batch.MethodFailed && m.Code != "unknown_method_type" && (m.HTTP == 0 || m.HTTP >= 500)) {
			return false // a removal not made for a reason that may pass: list the methods again
		}
	}
	if isFalse(r.RiskConfirmed) && !riskRefused(r) {
		return false // the confirmation failed for a reason that may pass, or never left: try it again
	}
	if needDevices {
		if r.Devices == nil {
			return false // the listing did not finish
		}
		for _, d := range p.devices[line] {
			if d.Outcome == batch.DeviceFailed || d.Outcome == batch.DeviceNotAttempted {
				return false
			}
		}
	}
	return true
}

func isTrue(b *bool) bool { return b != nil && *b }

// blockRefused reports whether a row's block was not made for good: Graph refused it (4xx: an
// admin the app may not touch, a user gone) or the user is mastered on-premises. Sent again, it
// would be refused again; a block that failed on a timeout or a 5xx may have landed or may pass
// now. A report of an earlier release has no status columns: its blocks are tried again.
func blockRefused(r batch.Result) bool { return r.Synced || refused(r.BlockHTTP) }

func isFalse(b *bool) bool { return b != nil && !*b }

// resetRefused reports whether a row's password reset was not made for good (Graph refused it,
// or the user's password lives in AD): sent again, it would be refused again.
func resetRefused(r batch.Result) bool { return r.Synced || refused(r.ResetHTTP) }

// riskRefused reports whether a row's confirmation was refused for good: the tenant answered
// 403 (no Entra ID P2, or the permission missing) or 400. Sent again, it would be refused again.
func riskRefused(r batch.Result) bool { return refused(r.RiskHTTP) }

// refused reports whether Graph's status for a step is a refusal that asking again will not
// change (CheckRetry's Final, 429 and 408 aside).
func refused(status int) bool {
	return batch.CheckRetry(batch.Answer{Status: status}) == batch.Final
}

// ConfirmDone reports whether the previous report's row for line was confirmed compromised: a
// resumed run that sends the row again must not confirm it again.
func (p *Previous) ConfirmDone(line int) bool {
	r, ok := p.rows[line]
	return ok && isTrue(r.RiskConfirmed)
}

// ResetDone reports whether the previous report's row for line had its password reset: a
// resumed run that sends the row again must not reset it again.
func (p *Previous) ResetDone(line int) bool {
	r, ok := p.rows[line]
	return ok && isTrue(r.Reset)
}

// MethodsRemoved returns the previous methods report's rows of methods removed for line: a
// resumed run that lists the user's methods again no longer finds them, and carries these
// rows over so that the record of what was removed stays whole.
func (p *Previous) MethodsRemoved(line int) []batch.MethodResult {
	var out []batch.MethodResult
	for _, m := range p.methods[line] {
		if m.Outcome == batch.MethodRemoved {
			out = append(out, m)
		}
	}
	return out
}

// MethodsRemoving returns, for line, the removals the previous run sent and never recorded an
// answer to (its process died): a resumed run that lists the methods again finds whether each
// is gone.
func (p *Previous) MethodsRemoving(line int) []batch.MethodResult {
	var out []batch.MethodResult
	for _, m := range settled(p.methods[line]) {
		if m.Outcome == batch.MethodRemoving {
			out = append(out, m)
		}
	}
	return out
}

// MethodLines lists the input lines the previous methods report has rows for, in order: a
// user whose methods were being removed when the run died has rows there and none in the
// report.
func (p *Previous) MethodLines() []int {
	return slices.Sorted(maps.Keys(p.methods))
}

// Methods returns the previous methods report's rows for an input line.
func (p *Previous) Methods(line int) []batch.MethodResult {
	return append([]batch.MethodResult(nil), p.methods[line]...)
}

// Lines lists the input lines the previous report has rows for, in order.
func (p *Previous) Lines() []int {
	lines := make([]int, 0, len(p.rows))
	for l := range p.rows {
		lines = append(lines, l)
	}
	slices.Sort(lines)
	return lines
}

// Devices returns the previous devices report's rows for an input line.
func (p *Previous) Devices(line int) []batch.DeviceResult {
	return append([]batch.DeviceResult(nil), p.devices[line]...)
}

// Prior is, for a user the previous run blocked or recorded the intent to block, the state it
// found before: true. The user now reads as disabled, by that run, and a resumed run that took
// that for the prior state would never have them re-enabled by a rollback (batch.Row.Prior).
// It is nil when the previous run changed nothing of the user's that was enabled before it.
func (p *Previous) Prior(line int) *bool {
	if _, ok := p.ev.users[line]; !ok {
		return nil
	}
	t := true
	return &t
}

// PriorUsers is the set of users the previous run blocked, or recorded the intent to block, that
// were enabled before it, by every key it knew them by (object id and the spelling it sent, in
// lower case): a resumed run may reach the same user through another line of the list
// (batch.Config.PriorUsers).
func (p *Previous) PriorUsers() map[string]bool {
	m := make(map[string]bool, len(p.ev.users))
	for line, c := range p.ev.users {
		m[strings.ToLower(c.ID)] = true
		if r, ok := p.rows[line]; ok && r.UserID != "" {
			m[strings.ToLower(r.UserID)] = true
		}
	}
	return m
}

// PriorDevices is the set of devices (object ids in lower case) the previous run disabled, or
// recorded the intent to, that were enabled before it (batch.Config.PriorDevices).
func (p *Previous) PriorDevices() map[string]bool {
	m := make(map[string]bool, len(p.ev.devices))
	for _, d := range p.ev.devices {
		m[strings.ToLower(d.ID)] = true
	}
	return m
}

// Inherit lists what the previous run changed, or may have changed, that was enabled before
// it: users it blocked and devices it disabled, from its report, devices report and changes
// journal. The resumed run records them in its own changes journal before it starts, so that a
// rollback of the resumed run also undoes the run it resumed.
func (p *Previous) Inherit() []batch.Change {
	return p.ev.changes()
}

// SetTenantIDs tells Check the tenant id of each tenant the input names (Row.Tenant, which may
// be a domain) when the run knows it, so that a domain in the input can be compared with the
// id in the previous report.
func (p *Previous) SetTenantIDs(ids map[string]string) {
	p.tenantIDs = make(map[string]string, len(ids))
	for k, v := range ids {
		p.tenantIDs[strings.ToLower(k)] = strings.ToLower(v)
	}
}

// Check reports a *MismatchError when the previous report has a row for row.Line with another
// input or another tenant: the report then belongs to a different input file and must not be
// used to skip users. A tenant is compared only where both sides name one in the same form
// (two ids, or two domains, after SetTenantIDs): a domain and an id cannot be told apart.
func (p *Previous) Check(row batch.Row) error {
	r, ok := p.rows[row.Line]
	if !ok {
		return nil
	}
	// Compare the cell as the report stores it: the report flattens line breaks and bad UTF-8.
	is := untext(text(row.Input))
	if r.Input != is {
		return &MismatchError{Path: p.path, Line: row.Line, Was: r.Input, Is: is}
	}
	if !p.sameTenant(row.Tenant, r.TenantID) {
		return &MismatchError{Path: p.path, Line: row.Line, Was: r.Input, Is: is, WasTenant: r.TenantID, IsTenant: row.Tenant}
	}
	return nil
}

func (p *Previous) sameTenant(input, reported string) bool {
	in, was := strings.ToLower(input), strings.ToLower(reported)
	if in == "" || was == "" || in == was {
		return true
	}
	if id := p.tenantIDs[in]; id != "" {
		if id == was {
			return true
		}
		in = id
	}
	return isGUID(in) != isGUID(was)
}

func isGUID(s string) bool {
	k, _, _ := batch.Classify(s)
	return k == batch.KindObjectID
}

// MismatchError says a previous report does not match the input file.
type MismatchError struct {
	Path    string
	Line    int
	Was, Is string
	// WasTenant and IsTenant are set when the input is the same but the tenant is not.
	WasTenant, IsTenant string
}

func (e *MismatchError) Error() string {
	if e.WasTenant != "" || e.IsTenant != "" {
		return fmt.Sprintf("%s: line %d was %q in tenant %s in that report but is in tenant %s in the input: the report is from a different input file",
			e.Path, e.Line, e.Was, e.WasTenant, e.IsTenant)
	}
	return fmt.Sprintf("%s: line %d was %q in that report but is %q in the input: the report is from a different input file",
		e.Path, e.Line, e.Was, e.Is)
}

// Hint is the advice a CLI prints under the error.
func (e *MismatchError) Hint() string {
	return "use the report produced from this input file"
}

var statuses = map[batch.Status]bool{}

func init() {
	for _, s := range Statuses() {
		statuses[s] = true
	}
}

func readReport(r io.Reader, name string) (map[int]batch.Result, error) {
	rows := make(map[int]batch.Result)
	at := make(map[int]int) // input line -> report line, for duplicate errors
	err := readTable(r, name, reportTable, func(cells []string, line int) error {
		res, err := parseRecord(cells)
		if err != nil {
			return err
		}
		if first, dup := at[res.Line]; dup {
			return fmt.Errorf("input line %d is already in the report at line %d", res.Line, first)
		}
		at[res.Line] = line
		rows[res.Line] = res
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rows, nil
}

// parseRecord reads a report row's cells, in Header order.
func parseRecord(cells []string) (batch.Result, error) {
	var r batch.Result
	p := cellParser{columns: Header, cells: cells}
	p.field(0, parseLine(&r.Line))
	p.field(1, parseText(&r.Input))
	p.field(2, parseText(&r.UserID))
	p.field(3, parseText(&r.UPN))
	p.field(4, oneOf(&r.Status, statuses, "status"))
	p.field(5, parseNumber(&r.HTTP))
	p.field(6, parseText(&r.Code))
	p.field(7, parseText(&r.Message))
	p.field(8, parseNumber(&r.Attempts))
	p.field(9, parseText(&r.RequestID))
	p.field(10, parseText(&r.ClientRequestID))
	p.field(11, parseTime(&r.At))
	p.field(12, parseText(&r.DisplayName))
	p.field(13, parseBool(&r.AccountEnabled))
	p.field(14, parseText(&r.UserType))
	p.field(15, parseText(&r.Note))
	p.field(16, parseTime(&r.SessionsValidFrom))
	p.field(17, parseBool(&r.Verified))
	p.field(18, parseBool(&r.PriorAccountEnabled))
	p.field(19, parseBool(&r.Blocked))
	p.field(20, parseText(&r.BlockError))
	p.field(21, parseCount(&r.Devices))
	p.field(22, parseCount(&r.DevicesDisabled))
	p.field(23, parseText(&r.TenantID))
	p.field(24, parseBool(&r.Reset))
	p.field(25, parseText(&r.ResetError))
	p.field(26, parseCount(&r.MethodsRemoved))
	p.field(27, parseText(&r.MethodsError))
	p.field(28, parseBool(&r.RiskConfirmed))
	p.field(29, parseText(&r.RiskError))
	p.field(30, parseFlag(&r.Synced))
	p.field(31, parseNumber(&r.BlockHTTP))
	p.field(32, parseNumber(&r.ResetHTTP))
	p.field(33, parseNumber(&r.RiskHTTP))
	return r, p.err
}
