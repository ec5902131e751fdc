package report

import (
	"cmp"
	"maps"
	"slices"
	"strings"

	"github.com/bulkrevoke/bulkrevoke/batch"
)

// evidence is what a run changed, or may have changed, that was enabled before it: the only
// things a rollback may re-enable. Re-enabling what was enabled before the run is safe even
// when the change never landed; anything whose earlier state is false or unknown stays as it is.
type evidence struct {
	users   map[int]batch.Change          // by input line
	devices map[string]batch.DeviceResult // by deviceKey
}

func deviceKey(tenant, id string) string { return strings.ToLower(tenant) + "/" + strings.ToLower(id) }

// gather reads the evidence in a run's report rows, devices report and changes journal:
//   - a user whose row says blocked with prior_account_enabled true, or for whose line the
//     journal holds a user-disable intent with prior true (the process may have died before
//     the row was written);
//   - a device whose row says disabled or already_disabled with prior true (a resumed run
//     reports the devices the run it resumed disabled with that run's prior state), or with a
//     device-disable intent with prior true, unless a row for that device holds Graph's
//     refusal (failed or synced with an HTTP error status): then the change was not made.
func gather(rows map[int]batch.Result, devs []batch.DeviceResult, changes []batch.Change) evidence {
	ev := evidence{users: map[int]batch.Change{}, devices: map[string]batch.DeviceResult{}}
	for _, r := range rows {
		if isTrue(r.Blocked) && isTrue(r.PriorAccountEnabled) {
			key, _ := userKey(r)
			ev.users[r.Line] = batch.Change{Line: r.Line, TenantID: r.TenantID, ID: key, PriorEnabled: r.PriorAccountEnabled}
		}
	}
	// The users already to restore, by object id: the journal may name one of them again
	// through another line of the list (a duplicate of the row that did the work).
	objects := map[string]bool{}
	for line := range ev.users {
		if id := rows[line].UserID; id != "" {
			objects[strings.ToLower(id)] = true
		}
	}
	refused := map[string]bool{}
	for _, d := range devs {
		k := deviceKey(d.TenantID, d.ID)
		switch {
		case (d.Outcome == batch.DeviceDisabled || d.Outcome == batch.DeviceAlreadyDisabled) && isTrue(d.PriorEnabled):
			if _, seen := ev.devices[k]; !seen {
				ev.devices[k] = restoreDevice(d)
			}
		case (d.Outcome == batch.DeviceFailed || d.Outcome == batch.DeviceSynced) && d.HTTP >= 400:
			refused[k] = true
		}
	}
	for _, c := range changes {
		if c.Enable || !isTrue(c.PriorEnabled) {
			continue
		}
		if !c.Device {
			// The report's row, when there is one, says whether Graph refused the block (an
			// admin, a synced user): then there is nothing to undo, and re-enabling would only
			// be refused again.
			if r, ok := rows[c.Line]; ok && isFalse(r.Blocked) && blockRefused(r) {
				continue
			}
			r, ok := rows[c.Line]
			if objects[strings.ToLower(c.ID)] || (ok && objects[strings.ToLower(r.UserID)]) {
				continue
			}
			if _, seen := ev.users[c.Line]; !seen {
				ev.users[c.Line] = c
			}
			continue
		}
		k := deviceKey(c.TenantID, c.ID)
		if _, seen := ev.devices[k]; seen || refused[k] {
			continue
		}
		ev.devices[k] = batch.DeviceResult{Line: c.Line, TenantID: c.TenantID, ID: c.ID, DisplayName: c.Name, PriorEnabled: c.PriorEnabled}
	}
	return ev
}

// restoreDevice keeps what identifies a device; the outcome and answer of the run being undone
// must not show up in the rollback's devices report.
func restoreDevice(d batch.DeviceResult) batch.DeviceResult {
	t := true
	return batch.DeviceResult{Line: d.Line, TenantID: d.TenantID, User: d.User, ID: d.ID, DeviceID: d.DeviceID,
		DisplayName: d.DisplayName, PriorEnabled: &t}
}

// changes lists the evidence as changes, users first, by line.
func (ev evidence) changes() []batch.Change {
	var cs []batch.Change
	for _, line := range slices.Sorted(maps.Keys(ev.users)) {
		cs = append(cs, ev.users[line])
	}
	for _, k := range slices.Sorted(maps.Keys(ev.devices)) {
		d := ev.devices[k]
		cs = append(cs, batch.Change{Line: d.Line, TenantID: d.TenantID, Device: true, ID: d.ID, Name: d.DisplayName,
			PriorEnabled: d.PriorEnabled})
	}
	slices.SortStableFunc(cs, func(a, b batch.Change) int { return cmp.Compare(a.Line, b.Line) })
	return cs
}

// userKey is how a rollback addresses the user of a report row: the object id the run
// resolved, else the UPN, else the input as written.
func userKey(r batch.Result) (string, batch.Kind) {
	for _, s := range []string{r.UserID, r.UPN, r.Input} {
		if k, key, _ := batch.Classify(s); k != batch.KindInvalid {
			return key, k
		}
	}
	return "", batch.KindInvalid
}
