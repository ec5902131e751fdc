package main

import (
	"errors"
	"os"
	"strings"

	"github.com/bulkrevoke/bulkrevoke/report"
)

// outputs are the files a run writes: the report, and with containment the devices report and
// the journal of changes about to be made.
type outputs struct {
	journal *report.Journal
	devices *report.DeviceJournal
	changes *report.ChangeJournal
	paths   []string

	// What the run being resumed knew of the devices it disabled (object id, lower case), and
	// the devices of the rows it finished, carried into this run's devices report, by line.
	priorDevices map[string]bool
	knownDevices map[string]int
}

// createOutputs creates the report and its companions; none is created when any cannot be.
func createOutputs(path string, o *options, prev *report.Previous) (*outputs, error) {
	out := &outputs{}
	fail := func(err error) (*outputs, error) {
		out.discard()
		return nil, withHint(err, "choose another --report path, or add --force to overwrite")
	}
	j, err := report.Create(path, o.force)
	if err != nil {
		return fail(err)
	}
	out.journal, out.paths = j, append(out.paths, path)
	containing := o.devices || (o.cmd == "enable" && o.devices)
	if containing {
		dp := report.DevicesPath(path)
		d, err := report.CreateDevices(dp, o.force)
		if err != nil {
			return fail(err)
		}
		out.devices, out.paths = d, append(out.paths, dp)
	}
	if !o.dryRun && (o.block || o.devices || o.cmd == "enable") {
		cp := report.ChangesPath(path)
		c, err := report.CreateChanges(cp, o.force)
		if err != nil {
			return fail(err)
		}
		out.changes, out.paths = c, append(out.paths, cp)
	}
	if prev != nil {
		if err := out.carry(prev, o.devices); err != nil {
			return fail(err)
		}
	}
	return out, nil
}

// carry takes over what the run being resumed left in its companion files: the devices of the
// rows it finished (so that this run's devices report is whole), and the changes it made or was
// about to make (so that a rollback of this run also undoes them, and their prior state is not
// lost when this run finds the users and devices disabled).
func (out *outputs) carry(prev *report.Previous, needDevices bool) error {
	out.priorDevices = prev.PriorDevices()
	if out.devices != nil {
		for _, line := range prev.Lines() {
			if !prev.Done(line, needDevices) {
				continue
			}
			if ds := prev.Devices(line); len(ds) > 0 {
				if err := out.devices.WriteDevices(ds...); err != nil {
					return err
				}
				if out.knownDevices == nil {
					out.knownDevices = map[string]int{}
				}
				for _, d := range ds {
					out.knownDevices[strings.ToLower(d.ID)] = d.Line
				}
			}
		}
	}
	if out.changes != nil {
		if cs := prev.Inherit(); len(cs) > 0 {
			if err := out.changes.Record(cs); err != nil {
				return err
			}
		}
	}
	return nil
}

// close closes every file, keeping every error: a report that could not be closed is a report
// that may have lost rows.
func (out *outputs) close() error {
	var errs []error
	if out.devices != nil {
		errs = append(errs, out.devices.Close())
	}
	if out.changes != nil {
		errs = append(errs, out.changes.Close())
	}
	errs = append(errs, out.journal.Close())
	return errors.Join(errs...)
}

// discard closes and removes the files of a run that never started.
func (out *outputs) discard() {
	if out.journal != nil {
		out.journal.Close()
	}
	if out.devices != nil {
		out.devices.Close()
	}
	if out.changes != nil {
		out.changes.Close()
	}
	for _, p := range out.paths {
		os.Remove(p)
	}
}
