package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/bulkrevoke/bulkrevoke/batch"
	"github.com/bulkrevoke/bulkrevoke/report"
)

// outputs are the files a run writes: the report, and with containment the devices report and
// the journal of changes about to be made.
type outputs struct {
	journal *report.Journal
	devices *report.DeviceJournal
	methods *report.MethodJournal
	changes *report.ChangeJournal
	paths   []string

	// What the run being resumed knew of the devices it disabled (object id, lower case), and
	// the devices of the rows it finished, carried into this run's devices report, by line.
	priorDevices map[string]bool
	knownDevices map[string]int
	// The methods report's rows carried over from the run being resumed, and its removals
	// never answered, by line.
	carriedMethods []batch.MethodResult
	priorRemoving  map[int][]batch.MethodResult
}

// checkOutputs refuses, before anything is created, a report that would replace a file the run
// reads: not with --force either, which is for old reports. It covers every file written next to
// the report (<report>.devices.csv, .changes.csv, .users.csv, and any other <report>.* name),
// whether spelled alike or the same file under another name (os.SameFile).
func checkOutputs(o *options, reportPath string, stdin io.Reader) error {
	type read struct{ path, what string }
	var reads []read
	add := func(path, what string) {
		if path != "" && path != "-" {
			reads = append(reads, read{path, what})
		}
	}
	add(o.input, "the user list (--input)")
	add(o.exclude, "the exclusion list (--exclude)")
	for _, p := range []struct{ path, what string }{{o.resume, "the report being resumed"}, {o.from, "the report being undone (--from)"}} {
		if p.path != "" {
			add(p.path, p.what)
			add(report.DevicesPath(p.path), "the devices report of "+p.what)
			add(report.MethodsPath(p.path), "the methods report of "+p.what)
			add(report.ChangesPath(p.path), "the changes journal of "+p.what)
		}
	}
	add(o.appPool, "the app pool (--app-pool)")
	add(o.certificate, "the certificate (--certificate)")

	hint := "give --report a new file name: the report and the files written next to it (.devices.csv, .methods.csv, .changes.csv, .users.csv, .retry.csv) never replace a file the run reads, even with --force"
	outs := []string{reportPath, report.DevicesPath(reportPath), report.MethodsPath(reportPath), report.ChangesPath(reportPath),
		report.UsersPath(reportPath), report.RetryPath(reportPath)}
	refuse := func(out, what string) error {
		if out == reportPath {
			return withHint(fmt.Errorf("--report must not be %s", what), hint)
		}
		return withHint(fmt.Errorf("--report %s would write %s, which is %s", reportPath, out, what), hint)
	}
	for _, in := range reads {
		for _, out := range outs {
			if sameFile(in.path, out) {
				return refuse(out, in.what)
			}
		}
		if besideReport(in.path, reportPath) {
			return withHint(fmt.Errorf("%s %s is named like the files written next to --report %s", in.what, in.path, reportPath), hint)
		}
	}
	if j := o.summaryJSON; j != "" && j != "-" {
		jhint := "give --summary-json a file of its own"
		for _, in := range reads {
			if sameFile(in.path, j) {
				return withHint(fmt.Errorf("--summary-json must not be %s", in.what), jhint)
			}
		}
		for _, out := range outs {
			if sameFile(out, j) {
				return withHint(fmt.Errorf("--summary-json %s would be overwritten by a file the run writes (%s)", j, out), jhint)
			}
		}
	}
	// A list piped in from a file (--input - < report.csv) is read from that very file.
	if f, ok := stdin.(*os.File); ok && o.input == "-" {
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			for _, out := range outs {
				if fo, err := os.Stat(out); err == nil && os.SameFile(fi, fo) {
					return refuse(out, "the user list (--input -, read from that file)")
				}
			}
		}
	}
	return nil
}

// besideReport reports whether path is named like a file the run writes next to its report,
// <report without .csv>.<name>.<ext>, by cleaned absolute paths: companions added later are
// covered too.
func besideReport(path, reportPath string) bool {
	p, err1 := filepath.Abs(path)
	r, err2 := filepath.Abs(reportPath)
	if err1 != nil || err2 != nil {
		return false
	}
	stem := r
	if n := len(r) - len(".csv"); n >= 0 && strings.EqualFold(r[n:], ".csv") {
		stem = r[:n]
	}
	rest, ok := strings.CutPrefix(p, stem+".")
	return ok && strings.Contains(rest, ".")
}

// createOutputs creates the report and its companions; none is created when any cannot be.
func createOutputs(path string, o *options, prev *report.Previous) (*outputs, error) {
	out := &outputs{}
	fail := func(err error) (*outputs, error) {
		out.discard()
		// The hint matches the error: --force only helps with a file that is there.
		hint := "choose another --report path"
		switch {
		case errors.Is(err, fs.ErrExist) && !o.force:
			hint += ", or add --force to overwrite"
		case errors.Is(err, fs.ErrNotExist):
			hint = "create the directory first, or choose another --report path"
		case errors.Is(err, fs.ErrPermission):
			hint = "choose a --report path in a directory you may write to"
		}
		return nil, withHint(err, hint)
	}
	if o.cmd != "enable" && !o.force {
		// The retry list is written at the end; one already there would stop it then.
		if rp := report.RetryPath(path); exists(rp) {
			return fail(fmt.Errorf("create retry list: %s already exists; refusing to overwrite it: %w", rp, fs.ErrExist))
		}
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
	if o.removeMethods() {
		mp := report.MethodsPath(path)
		m, err := report.CreateMethods(mp, o.force)
		if err != nil {
			return fail(err)
		}
		out.methods, out.paths = m, append(out.paths, mp)
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
	if out.methods != nil {
		// The rows of the users finished; of the others, the methods removed, which a new
		// listing no longer shows: the record of what the user must register again stays whole.
		for _, line := range prev.MethodLines() {
			ms := prev.MethodsRemoved(line)
			if prev.Done(line, needDevices) {
				ms = prev.Methods(line)
			} else if rm := prev.MethodsRemoving(line); len(rm) > 0 {
				// Carried too: should this run stop before the user, they still say so.
				ms = append(ms, rm...)
				if out.priorRemoving == nil {
					out.priorRemoving = map[int][]batch.MethodResult{}
				}
				out.priorRemoving[line] = rm
			}
			if err := out.methods.WriteMethods(ms...); err != nil {
				return err
			}
			out.carriedMethods = append(out.carriedMethods, ms...)
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
	if out.methods != nil {
		errs = append(errs, out.methods.Close())
	}
	if out.changes != nil {
		errs = append(errs, out.changes.Close())
	}
	errs = append(errs, out.journal.Close())
	return errors.Join(errs...)
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// discard closes and removes the files of a run that never started.
func (out *outputs) discard() {
	if out.journal != nil {
		out.journal.Close()
	}
	if out.devices != nil {
		out.devices.Close()
	}
	if out.methods != nil {
		out.methods.Close()
	}
	if out.changes != nil {
		out.changes.Close()
	}
	for _, p := range out.paths {
		os.Remove(p)
	}
}
