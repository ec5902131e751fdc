package main

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/bulkrevoke/bulkrevoke/batch"
	"github.com/bulkrevoke/bulkrevoke/report"
)

// enable is the rollback: it re-enables exactly what a revoke --block-sign-in/--disable-devices
// run disabled and found enabled, as its report, devices report and changes journal say, and
// nothing else.
func (r *runner) enable() error {
	o, s := r.o, r.s
	r.reportPath = o.report
	if r.reportPath == "" {
		r.reportPath = "bulkrevoke-enable-" + s.now().UTC().Format("20060102T150405Z") + ".csv"
	}
	if err := checkOutputs(o, r.reportPath, s.stdin); err != nil {
		return err
	}
	rb, err := report.OpenRollback(o.from)
	if errors.Is(err, fs.ErrNotExist) {
		return withHint(err, "give --from the report that the revoke --block-sign-in/--disable-devices run wrote")
	}
	if err != nil {
		return err
	}
	rows := rb.Rows()
	users, devices := 0, 0
	for i := range rows {
		if rows[i].Restore == nil {
			rows[i].Restore = &batch.Restore{}
		}
		if !o.devices {
			rows[i].Restore.Devices = nil
		}
		if rows[i].Restore.User {
			users++
		}
		devices += len(rows[i].Restore.Devices)
	}
	if users+devices == 0 {
		what := "user"
		if !o.devices && rb.Devices() > 0 {
			return withHint(fmt.Errorf("%s: the run disabled no user that was enabled before it, only devices", o.from),
				"add --devices to re-enable the devices it disabled")
		}
		return fmt.Errorf("%s: the run disabled no %s that was enabled before it: nothing to re-enable", o.from, what)
	}

	var prev *report.Previous
	if o.resume != "" {
		if prev, err = report.OpenPrevious(o.resume); err != nil {
			return err
		}
	}
	tenants := rb.Tenants()
	if !o.offline {
		if err := r.signIn(tenants); err != nil {
			if other := (*otherTenantError)(nil); errors.As(err, &other) {
				// A token of another tenant: refused as any sign-in to another tenant is.
				return r.otherTenant(other.tenant, other.tokenTenant)
			}
			return err
		}
		if err := r.checkRollbackTenants(tenants); err != nil {
			return err
		}
	}
	if r.out, err = createOutputs(r.reportPath, o, nil); err != nil {
		return err
	}
	if !o.dryRun && !o.yes {
		text := fmt.Sprintf("About to RE-ENABLE sign-in for %d users", users)
		if o.devices {
			text += fmt.Sprintf(" and %d devices", devices)
		}
		text += fmt.Sprintf(" that the run reported in %s disabled.\n  tenant(s): %s\n", o.from, strings.Join(tenants, ", "))
		if err := confirm(s, text, "re-enable", false); err != nil {
			return err
		}
	}
	cfg := r.engineConfig(nil)
	cfg.Skip = func(row batch.Row) (batch.Result, bool) {
		res := batch.Result{Line: row.Line, Input: row.Input, At: s.now(), TenantID: row.Tenant}
		if row.Kind == batch.KindObjectID {
			res.UserID = row.Key
		} else {
			res.UPN = row.Key
		}
		nothing := row.Restore == nil || (!row.Restore.User && len(row.Restore.Devices) == 0)
		if prev != nil {
			if old, ok := prev.Result(row.Line); ok && old.Status == batch.StatusEnabled {
				old.Note = strings.TrimPrefix(old.Note+"; re-enabled by the run reported in "+prev.Path()+", not sent again", "; ")
				return old, true
			}
			// Any other row of the rollback being resumed is decided afresh, below: a dry run
			// must not send it.
		}
		switch {
		case nothing:
			res.Status, res.Note = batch.StatusUnchanged, "the run being undone did not disable this user (it was disabled before, or not blocked)"
			return res, true
		case o.dryRun:
			res.Status = batch.StatusWouldEnable
			var what []string
			if row.Restore.User {
				what = append(what, "sign-in")
				// What the run being undone found before it blocked the user.
				enabled := true
				res.PriorAccountEnabled = &enabled
			}
			if n := len(row.Restore.Devices); n > 0 {
				what = append(what, fmt.Sprintf("%d device(s)", n))
				dn := n
				res.Devices = &dn
				if r.devices != nil {
					// The devices report lists the devices it would re-enable. A write that
					// fails sticks: the run's next flush reports it.
					ds := make([]batch.DeviceResult, 0, n)
					for _, d := range row.Restore.Devices {
						d.Line, d.TenantID, d.User, d.At = row.Line, res.TenantID, row.Input, res.At
						d.Outcome, d.HTTP, d.Code, d.Message, d.RequestID = batch.DeviceWouldEnable, 0, "", "", ""
						ds = append(ds, d)
					}
					r.devices.WriteDevices(ds...)
				}
			}
			res.Note = "dry run: would re-enable " + strings.Join(what, " and ")
			return res, true
		}
		return res, false
	}
	return r.run(cfg, batch.Rows(rows), len(rows), nil)
}

// checkRollbackTenants refuses to undo a run in another tenant than the one signed in to: the
// report records the tenant id of every row.
func (r *runner) checkRollbackTenants(tenants []string) error {
	for _, tn := range tenants {
		if tn == "" {
			continue
		}
		id := r.conn.tenantID(tn)
		if !strings.EqualFold(id, tn) {
			return r.otherTenant(tn, id)
		}
	}
	return nil
}

// otherTenant refuses to undo a run of tenant report with a sign-in for tenant signedIn.
func (r *runner) otherTenant(report, signedIn string) error {
	return withHint(fmt.Errorf("%s is a report of tenant %s, but the sign-in is for tenant %s", r.o.from, report, signedIn),
		"sign in to the tenant the run changed (--tenant-id "+report+")")
}
