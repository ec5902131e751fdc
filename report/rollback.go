package report

import (
	"fmt"
	"maps"
	"os"
	"slices"

	"github.com/bulkrevoke/bulkrevoke/batch"
)

// Rollback is what `enable` re-enables to undo a run's containment (--block-sign-in,
// --disable-devices), computed from the run's report, devices report and changes journal.
type Rollback struct {
	rows    []batch.Row
	users   int
	devices int
}

// OpenRollback reads the report at reportPath and, when they exist, its devices report and
// changes journal. A report of a run that changed nothing a rollback can undo (no blocked value,
// no devices count, no devices report, no recorded change) is an error with a hint, as is a
// dry run's or a rollback's own report.
func OpenRollback(reportPath string) (*Rollback, error) {
	f, err := os.Open(reportPath)
	if err != nil {
		return nil, fmt.Errorf("open report: %w", err)
	}
	defer f.Close()
	rows, err := readReport(f, reportPath)
	if err != nil {
		return nil, err
	}
	devs, haveDevs, err := openOptional(DevicesPath(reportPath), readDevices)
	if err != nil {
		return nil, err
	}
	changes, _, err := openOptional(ChangesPath(reportPath), readChanges)
	if err != nil {
		return nil, err
	}
	if err := undoable(reportPath, rows, haveDevs, changes); err != nil {
		return nil, err
	}
	return newRollback(rows, devs, changes), nil
}

// RollbackError says a report holds nothing a rollback can undo.
type RollbackError struct {
	Path string
	Why  string
	hint string
}

func (e *RollbackError) Error() string { return e.Path + ": " + e.Why }

// Hint is the advice a CLI prints under the error.
func (e *RollbackError) Hint() string { return e.hint }

func undoable(path string, rows map[int]batch.Result, haveDevs bool, changes []batch.Change) error {
	lines := slices.Sorted(maps.Keys(rows))
	contained := haveDevs
	for _, c := range changes {
		if !c.Enable {
			contained = true
		}
	}
	dry, revoked := false, false
	for _, line := range lines {
		r := rows[line]
		switch r.Status {
		case batch.StatusEnabled, batch.StatusUnchanged, batch.StatusWouldEnable:
			return &RollbackError{Path: path, Why: fmt.Sprintf("this is the report of a rollback (input line %d is %s), not of a run to undo", line, r.Status),
				hint: "give enable the report of the revoke run; enabling it again re-enables only what that run disabled"}
		case batch.StatusWouldRevoke, batch.StatusWouldBlock:
			dry = true
		case batch.StatusRevoked:
			revoked = true
		}
		if r.Blocked != nil || r.Devices != nil {
			contained = true
		}
	}
	if dry && !revoked && !hasDisable(changes) {
		return &RollbackError{Path: path, Why: "this is the report of a dry run: it changed nothing",
			hint: "enable undoes revoke --block-sign-in and --disable-devices runs"}
	}
	if !contained {
		return &RollbackError{Path: path,
			Why:  "this run neither blocked sign-in nor disabled devices (no blocked or devices values, no devices report, no change recorded): there is nothing to re-enable",
			hint: "enable undoes revoke --block-sign-in and --disable-devices runs; revoked sessions cannot be given back, users sign in again"}
	}
	return nil
}

func hasDisable(changes []batch.Change) bool {
	return slices.ContainsFunc(changes, func(c batch.Change) bool { return !c.Enable })
}

func newRollback(rows map[int]batch.Result, devs []batch.DeviceResult, changes []batch.Change) *Rollback {
	ev := gather(rows, devs, changes)
	byLine := map[int][]batch.DeviceResult{}
	for _, k := range slices.Sorted(maps.Keys(ev.devices)) {
		d := ev.devices[k]
		byLine[d.Line] = append(byLine[d.Line], d)
	}
	// A line known only from the devices report names its user there.
	devUser := map[int]string{}
	for _, d := range devs {
		if devUser[d.Line] == "" {
			devUser[d.Line] = d.User
		}
	}
	lines := map[int]bool{}
	for l := range rows {
		lines[l] = true
	}
	for l := range ev.users {
		lines[l] = true
	}
	for l := range byLine {
		lines[l] = true
	}

	rb := &Rollback{}
	for _, line := range slices.Sorted(maps.Keys(lines)) {
		r, inReport := rows[line]
		c, user := ev.users[line]
		ds := byLine[line]
		row := batch.Row{Line: line, Restore: &batch.Restore{User: user, Devices: ds}}
		switch {
		case inReport:
			if r.Status == batch.StatusInvalid || r.Status == batch.StatusDuplicate {
				if !user && len(ds) == 0 {
					continue // never a user of the run, or one counted on its first line
				}
			}
			row.Input, row.Tenant = r.Input, r.TenantID
			row.Key, row.Kind = userKey(r)
		case user:
			row.Input, row.Tenant = c.ID, c.TenantID
			row.Kind, row.Key, _ = batch.Classify(c.ID)
		default:
			row.Input, row.Tenant = devUser[line], ds[0].TenantID
			row.Kind, row.Key, _ = batch.Classify(devUser[line])
		}
		if row.Kind == batch.KindInvalid && user {
			row.Kind, row.Key, _ = batch.Classify(c.ID) // the key the run sent
		}
		if row.Kind == batch.KindInvalid {
			if !user && len(ds) == 0 {
				continue
			}
			if !user {
				// Only devices to re-enable, which the engine addresses by device id: the user
				// is unknown (batch.Change does not name the user of a device change).
				row.Kind, row.Key = batch.KindObjectID, ""
			}
		}
		if user {
			rb.users++
		}
		rb.devices += len(ds)
		rb.rows = append(rb.rows, row)
	}
	return rb
}

// Rows is the rollback's input, by line: one row per user of the run being undone (every report
// row with a user key, except invalid and duplicate rows) and per line that only the changes
// journal or the devices report knows of (the process died before the row was written). Restore says what to re-enable; rows with nothing to restore
// have an empty Restore, so the rollback report states them unchanged and accounts for every
// user of the run. A row whose user the files do not name (only device intents survived) has
// an empty Key: its devices are re-enabled by their ids.
func (rb *Rollback) Rows() []batch.Row {
	return slices.Clone(rb.rows)
}

// Tenants lists the tenants ("" for the run's only one) of the rows with something to restore,
// sorted: those the rollback must sign in to. Rows with nothing to restore need no Graph call:
// answer them unchanged in Config.Skip, or the engine wants a sign-in for their tenants too.
func (rb *Rollback) Tenants() []string {
	var ts []string
	for _, r := range rb.rows {
		if r.Restore.User || len(r.Restore.Devices) > 0 {
			ts = append(ts, r.Tenant)
		}
	}
	slices.Sort(ts)
	return slices.Compact(ts)
}

// Users is the number of users whose sign-in the rollback re-enables.
func (rb *Rollback) Users() int { return rb.users }

// Devices is the number of devices the rollback re-enables.
func (rb *Rollback) Devices() int { return rb.devices }
