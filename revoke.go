package main

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/time/rate"

	"github.com/bulkrevoke/bulkrevoke/batch"
	"github.com/bulkrevoke/bulkrevoke/report"
)

// revokeCommand runs revoke, validate and enable: options from the flags, then the plan (who,
// which actions), then the run, then the report. It decides nothing about Graph.
func revokeCommand(c *cli.Context, s *sys, cmd string) error {
	o, err := newOptions(c, cmd)
	if err != nil {
		return err
	}
	if o.summaryJSON != "" {
		if err := checkSummaryJSON(o.summaryJSON); err != nil {
			return err
		}
		// From here on, every outcome is written there (run, in main.go).
		s.summary = &summaryJSON{path: o.summaryJSON, doc: report.NewDoc()}
		d := &s.summary.doc
		d.Command, d.Version, d.DryRun, d.Started = cmd, version(), o.dryRun, s.now()
		d.Tenants = append(d.Tenants, o.tenantIDs...)
	}
	t, err := resolveTarget(o.cloud, o.graphURL)
	if err != nil {
		return err
	}
	if o.authorityHost != "" {
		if _, err := checkAuthorityHost(o.authorityHost); err != nil {
			return err
		}
	}
	r := &runner{o: o, s: s, target: t, logger: newLogger(o.logFormat, o.verbose, s.stderr)}
	defer r.cleanup()
	if cmd == "enable" {
		return r.enable()
	}
	return r.revoke()
}

// runner carries one run through its phases and cleans up whatever a failed phase left.
type runner struct {
	o      *options
	s      *sys
	target target
	logger *slog.Logger

	reportPath string
	in         *input
	conn       *connection
	out        *outputs
	started    bool     // something was sent: outputs are kept whatever happens
	notes      []string // lines for the summary about the run's inputs (exclusion entries matching nobody)
	removes    []string
	// listTenants are the tenants the list names as it names them ("" for rows naming none),
	// for the retry list's tenant column.
	listTenants []string
	// devices is the run's devices report as the engine writes it (a rollback's dry run writes
	// the devices it would re-enable there too).
	devices batch.DeviceSink
	// methodsSince is --remove-methods-since resolved against the run's start: a command that
	// finishes the run names this time, not a duration that would move the cut-off.
	methodsSince time.Time
}

func (r *runner) cleanup() {
	if r.in != nil {
		r.in.Close()
	}
	if r.conn != nil {
		r.conn.close()
	}
	if !r.started {
		// A run that never started leaves nothing behind: an empty report would look like a
		// run in which nothing happened.
		if r.out != nil {
			r.out.discard()
		}
		for _, p := range r.removes {
			os.Remove(p)
		}
	}
}

func (r *runner) ctx() context.Context { return r.o.c.Context }

// revoke is revoke and validate.
func (r *runner) revoke() error {
	o, s := r.o, r.s
	r.reportPath = o.report
	if r.reportPath == "" {
		r.reportPath = "bulkrevoke-report-" + s.now().UTC().Format("20060102T150405Z") + ".csv"
	}
	if err := checkOutputs(o, r.reportPath, s.stdin); err != nil {
		return err
	}

	var listed *resolved
	if o.fromGraph() {
		if err := r.signIn(o.tenantIDs); err != nil {
			return err
		}
		res, err := r.resolve()
		if err != nil {
			return err
		}
		listed = &res
	}

	in, err := openInput(o.input, s.stdin)
	if err != nil {
		return err
	}
	r.in = in
	readerOpts := batch.ReaderOptions{Name: in.name, Column: o.column, TenantColumn: o.tenantColumn}
	excluded, exclEntries, err := loadExcludes(o.exclude, o.column)
	if err != nil {
		return err
	}
	var prev *report.Previous
	if o.resume != "" {
		if prev, err = report.OpenPrevious(o.resume); err != nil {
			return err
		}
	}
	sv, err := surveyInput(in, readerOpts, excluded, prev, o.devices)
	if err != nil {
		return err
	}
	r.listTenants = sv.tenants
	if sv.rows == 0 {
		if listed != nil {
			return fmt.Errorf("%s: no users", o.describeSource())
		}
		return fmt.Errorf("%s: no users in the file", in.name)
	}
	if r.conn == nil && !o.offline {
		if err := r.signIn(sv.tenants); err != nil {
			return err
		}
	}
	if len(exclEntries) > 0 {
		// Exclusions name users, not spellings: each entry is looked up before anything is
		// written, and a row is skipped when it names an excluded object by either key.
		if o.offline {
			r.notes = append(r.notes, "--offline: --exclude matched exact spellings only (an object id does not match the same user's UPN); run without --offline to match users")
		} else {
			notes, err := r.resolveExcludes(o.exclude, excluded, exclEntries, sv.tenants)
			if err != nil {
				return err
			}
			r.notes = append(r.notes, notes...)
			if _, err := in.Seek(0, io.SeekStart); err != nil {
				return err
			}
			if sv, err = surveyInput(in, readerOpts, excluded, prev, o.devices); err != nil {
				return err
			}
		}
		for _, n := range r.notes {
			fmt.Fprintln(s.stderr, "bulkrevoke: exclusion: "+n)
		}
	}
	if max := o.maxUsers; max > 0 && sv.toSend > max && !o.dryRun {
		what := "file"
		if listed != nil {
			what = "query"
		}
		return withHint(fmt.Errorf("%s has %d users to revoke, more than --max-users %d", o.describeSource(), sv.toSend, max),
			"check that this is the right "+what+"; if it is, raise --max-users (0 means no limit)")
	}

	if r.out, err = createOutputs(r.reportPath, o, prev); err != nil {
		return err
	}
	if !o.dryRun && !o.yes {
		if err := confirm(s, r.confirmText(sv, listed), "revoke", in.name == "stdin"); err != nil {
			return err
		}
	}
	if _, err := in.Seek(0, io.SeekStart); err != nil {
		return err
	}
	reader, err := batch.NewReader(in, readerOpts)
	if err != nil {
		return err
	}
	cfg := r.engineConfig(prev)
	cfg.Skip = skipper(excluded, prev, o.offline, o.devices, s.now)
	var src batch.Source = reader
	if prev != nil && (o.block || o.reset || o.removeMethods() || o.confirm) {
		src = &priorSource{src: reader, prev: prev}
	}
	return r.run(cfg, src, sv.rows, listed)
}

// describeSource names where the users come from, for messages.
func (o *options) describeSource() string {
	switch {
	case o.group != "":
		return "group " + o.group
	case o.filter != "":
		return "filter " + o.filter
	case o.allUsers:
		return "the whole tenant"
	case o.cmd == "enable":
		return o.from
	}
	if o.input == "-" {
		return "stdin"
	}
	return o.input
}

// signIn connects to Graph for the given tenants.
func (r *runner) signIn(tenants []string) error {
	var ids []string
	if len(tenants) == 0 && len(r.o.tenantIDs) == 1 {
		tenants = []string{""}
	}
	ids = append(ids, tenants...)
	conn, err := connect(r.ctx(), r.o, r.s, r.target, ids)
	if err != nil {
		return err
	}
	r.conn = conn
	r.target = conn.target
	for _, d := range conn.dropped {
		r.logger.Warn("an app of the pool could not sign in and is left out", "app", d)
	}
	return nil
}

// resolve writes the users a Graph query selects next to the report and makes that file the
// run's input.
func (r *runner) resolve() (resolved, error) {
	o := r.o
	lane := r.conn.lanes[0]
	cfg := batch.Config{Clock: r.conn.clock, Logger: r.logger, MaxAttempts: o.maxAttempts, Timeout: o.timeout}
	q, err := resolveQuery(r.ctx(), o, lane.Client, cfg)
	if err != nil {
		return resolved{}, err
	}
	path := report.UsersPath(r.reportPath)
	prog := newProgress(r.s, 0, "listing", r.logger)
	r.logger.Info("resolving users", "query", q.describe, "list", path)
	res, err := resolveUsers(r.ctx(), q, lane.Client, cfg, path, "", o.force, prog)
	prog.Finish()
	if err != nil {
		return res, err
	}
	r.removes = append(r.removes, path)
	fmt.Fprintf(r.s.stderr, "Resolved %s: %d users, written to %s.\n", q.describe, res.users, path)
	if t := res.skippedText(); t != "" {
		fmt.Fprintf(r.s.stderr, "Members that are not users, left alone: %s.\n", t)
	}
	o.input = path
	return res, nil
}

// engineConfig is the engine's configuration for this run.
func (r *runner) engineConfig(prev *report.Previous) batch.Config {
	o := r.o
	cfg := o.engineConfig()
	cfg.Logger = r.logger
	cfg.Clock = batch.RealClock
	if r.conn != nil {
		cfg.Clock = r.conn.clock
		cfg.Lanes = r.conn.lanes
		cfg.TenantErrors = r.conn.tenantErrs
	}
	if r.out.devices != nil {
		cfg.Devices = r.out.devices
		cfg.PriorDevices = r.out.priorDevices
		cfg.KnownDevices = r.out.knownDevices
	}
	if r.out.methods != nil {
		cfg.Methods = r.out.methods
		cfg.MethodsSince = o.cutoff(cfg.Clock.Now())
		if !o.dryRun {
			cfg.BeforeRemove = r.out.methods.Record
			cfg.PriorRemoving = r.out.priorRemoving
		}
		r.methodsSince = cfg.MethodsSince
	}
	if r.out.changes != nil {
		cfg.BeforeChange = r.out.changes.Record
	}
	if prev != nil {
		cfg.PriorUsers = prev.PriorUsers()
	}
	return cfg
}

// run sends the rows through the engine and reports what happened.
func (r *runner) run(cfg batch.Config, src batch.Source, rows int, listed *resolved) error {
	o, s := r.o, r.s
	summary := report.NewSummary(s.now())
	verb := "revoking"
	switch {
	case o.cmd == "enable":
		verb = "re-enabling"
	case o.dryRun:
		verb = "checking"
	}
	progress := newProgress(s, rows, verb, r.logger)
	cfg.OnWait = progress.wait
	fix := func(x batch.Result) string { return report.Fix(r.access(), x) }
	summary.SetFix(fix)
	rec := &recorder{journal: r.out.journal, devices: r.out.devices, methods: r.out.methods, summary: summary, progress: progress, fix: fix}
	if r.out.devices != nil {
		cfg.Devices = &deviceRecorder{journal: r.out.devices, summary: summary}
		r.devices = cfg.Devices
	}
	if r.out.methods != nil {
		cfg.Methods = &methodRecorder{journal: r.out.methods, summary: summary}
		// The rows carried over from the run being resumed count in this run's summary.
		summary.AddMethods(r.out.carriedMethods...)
	}
	var sink batch.Sink = rec
	switch {
	case o.dryRun && o.cmd == "enable":
		fmt.Fprintln(s.stderr, "DRY RUN: nothing will be re-enabled; the report says what the rollback would re-enable (would_enable).")
	case o.dryRun && o.offline:
		fmt.Fprintln(s.stderr, "DRY RUN, offline: the list is checked for syntax and duplicates only; nothing is sent to Graph.")
	case o.dryRun:
		fmt.Fprintln(s.stderr, "DRY RUN: users are only read; nothing will be revoked, blocked or disabled.")
	}
	if o.dryRun && o.reset && o.cmd != "enable" {
		fmt.Fprintln(s.stderr, "DRY RUN: no password is reset; the note of each row says whether a real run would reset it.")
	}
	if o.dryRun && o.removeMethods() {
		fmt.Fprintf(s.stderr, "DRY RUN: no authentication method is removed; %s lists those a real run would remove (would_remove).\n", r.out.methods.Path())
	}
	if o.dryRun && o.confirm && o.cmd != "enable" {
		fmt.Fprintln(s.stderr, "DRY RUN: nobody is confirmed compromised; the note of each row says whether a real run would confirm it.")
	}
	var simStart time.Time
	if o.simulate && r.conn != nil {
		simStart = r.conn.clock.Now()
	}
	r.logger.Info("starting", "source", o.describeSource(), "users", rows, "report", r.reportPath, "graph", r.target.graphURL)
	r.started = true
	st, runErr := batch.Run(r.ctx(), cfg, src, nil, sink)
	if o.verify && runErr == nil {
		// Every row is in the report already, written when its revoke landed; the read-back is
		// recorded in it now. After a fatal error (Graph refusing the token) it would fail the
		// same way: the rows then stay unverified.
		runErr = verifyReport(r.ctx(), r.out.journal, cfg, o.verifySkew, summary)
	}
	progress.Finish()
	summary.AddWaits(st.Waits, st.Waited)
	summary.AddThrottled(int(st.Throttled))
	summary.AddDropped(append(r.dropped(), st.Dropped...))
	summary.Finish(s.now())
	var simulated time.Duration
	if !simStart.IsZero() {
		simulated = max(r.conn.clock.Now().Sub(simStart), time.Nanosecond)
	}
	closeErr := r.out.close()
	if closeErr == nil && !isReportError(runErr) {
		// Whole: every row was written (after Ctrl-C or --deadline too, as not_attempted).
		r.orderReports()
	}
	// What is on disk is what counts: a flush or fsync that failed may have lost rows the
	// summary saw go by.
	onDisk, readErr := countReportRows(r.reportPath)
	interrupted := errors.Is(runErr, context.Canceled) || errors.Is(runErr, context.DeadlineExceeded)
	// --deadline stops the run as Ctrl-C does; its context's cause tells them apart.
	deadline := interrupted && errors.Is(context.Cause(r.ctx()), errDeadline)

	info := report.PrintInfo{ReportPath: r.reportPath, DryRun: o.dryRun, Interrupted: interrupted, Rollback: o.cmd == "enable",
		Simulated: simulated}
	if deadline {
		info.Notes = append(info.Notes, fmt.Sprintf("Stopped by --deadline %s: nothing was sent after it; requests already in flight were let finish.", o.deadline))
	}
	for _, n := range r.notes {
		info.Notes = append(info.Notes, "Exclusion: "+n+".")
	}
	if listed != nil && listed.skippedText() != "" {
		info.Notes = append(info.Notes, "Group members that are not users, left alone: "+listed.skippedText()+".")
	}
	if r.out.devices != nil {
		info.DevicesPath = r.out.devices.Path()
	}
	if r.out.methods != nil {
		info.MethodsPath = r.out.methods.Path()
	}
	var incomplete error
	if missing := rows - onDisk; closeErr != nil || readErr != nil || (missing > 0 && !interrupted) || isReportError(runErr) {
		why := errors.Join(reportErrors(runErr), closeErr, readErr)
		if why == nil {
			why = fmt.Errorf("%d rows never reached it", missing)
		}
		info.Incomplete = fmt.Sprintf("%d of %d rows are missing from the report (%v)", max(0, missing), rows, why)
		incomplete = fmt.Errorf("the report %s is incomplete: %d of %d rows missing: %w", r.reportPath, max(0, missing), rows, why)
	}
	if interrupted || incomplete != nil {
		info.ResumeCommand = r.resumeCommand()
	}
	if incomplete == nil {
		// The rows worth another run, from the report as it is on disk. Rows missing from an
		// incomplete report would be missing from it too: the --resume command covers those.
		r.retry(summary, &info)
	}
	r.fillDoc(summary, info, listed)
	if err := summary.Print(s.stderr, info); err != nil {
		return err
	}
	switch {
	case incomplete != nil:
		hint := "fix the cause (disk space, permissions), then finish with: " + r.resumeCommand()
		if other := nonReportErrors(runErr); other != nil {
			// The run also stopped for another reason (a refused token): it must not be lost
			// behind the report's.
			incomplete = errors.Join(incomplete, other)
			if errors.Is(runErr, batch.ErrUnauthorized) {
				hint = "get a token Graph accepts, and fix the report's cause (disk space, permissions), then finish with: " + r.resumeCommand()
			}
		}
		return withHint(incomplete, hint)
	case errors.Is(runErr, batch.ErrUnauthorized):
		hint := "get a token Graph accepts: for this cloud's Graph, not expired, with the permissions the README lists"
		if !o.dryRun {
			// The rows not attempted can be finished without sending the done ones again.
			hint += "; then finish with: " + r.resumeCommand()
		}
		return withHint(runErr, hint)
	case deadline && nonReportErrors(runErr) == nil:
		return errDeadlineStop
	case runErr != nil:
		return runErr
	case !summary.AllOK():
		return errIncomplete
	}
	return nil
}

// dropped lists the apps or tenants that could not sign in, for the summary.
func (r *runner) dropped() []string {
	if r.conn == nil {
		return nil
	}
	out := append([]string(nil), r.conn.dropped...)
	for tn, err := range r.conn.tenantErrs {
		out = append(out, "tenant "+cmp.Or(tn, "(default)")+": "+err.Error())
	}
	return out
}

// isReportError reports whether the run stopped because a report could not be written.
func isReportError(err error) bool { return reportErrors(err) != nil }

// reportErrors keeps the parts of a run's error that are about writing the reports.
func reportErrors(err error) error { return splitErrors(err, true) }

// nonReportErrors keeps the other parts (a refused token, an unreadable input), not the
// interruption, which the summary reports on its own.
func nonReportErrors(err error) error { return splitErrors(err, false) }

func splitErrors(err error, report bool) error {
	if err == nil {
		return nil
	}
	var keep []error
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		isReport := errors.Is(e, batch.ErrReport)
		stopped := errors.Is(e, context.Canceled) || errors.Is(e, context.DeadlineExceeded)
		if isReport == report && (report || !stopped) {
			keep = append(keep, e)
		}
	}
	walk(err)
	return errors.Join(keep...)
}

// countReportRows counts the complete rows of a report on disk.
func countReportRows(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n, err := report.CountReport(bufio.NewReader(f))
	if err != nil {
		return 0, fmt.Errorf("reading the report back: %w", err)
	}
	return n, nil
}

// confirmText is the question put to the admin before anything changes.
func (r *runner) confirmText(sv survey, listed *resolved) string {
	o, t := r.o, r.target
	var b strings.Builder
	since := o.cutoff(r.s.now()).UTC().Format(time.RFC3339)
	actions := "revoke the sign-in sessions of"
	switch {
	case o.reset || o.removeMethods() || o.confirm:
		actions = confirmActions(o, since)
	case o.block && o.devices:
		actions = "BLOCK SIGN-IN, revoke the sessions and DISABLE THE DEVICES of"
	case o.block:
		actions = "BLOCK SIGN-IN and revoke the sessions of"
	case o.devices:
		actions = "revoke the sessions and DISABLE THE DEVICES of"
	}
	fmt.Fprintf(&b, "About to %s %d users from %s\n", actions, sv.toSend, o.describeSource())
	if listed != nil {
		fmt.Fprintf(&b, "  (resolved now from Graph: %d users, listed in %s)\n", listed.users, listed.path)
	}
	fmt.Fprintf(&b, "  cloud: %s   graph: %s\n", t.cloudName, t.graphURL)
	tenants := []string{}
	if r.conn != nil {
		for _, l := range r.conn.lanes {
			if l.TenantID != "" && !slices.Contains(tenants, l.TenantID) {
				tenants = append(tenants, l.TenantID)
			}
		}
	}
	switch {
	case len(tenants) <= 1 && t.tenant != "" && (len(tenants) == 0 || strings.EqualFold(t.tenant, tenants[0])):
		fmt.Fprintf(&b, "  tenant: %s\n", t.tenant)
	case len(tenants) == 1 && t.tenant != "":
		fmt.Fprintf(&b, "  tenant: %s (%s)\n", t.tenant, tenants[0])
	case len(tenants) == 1:
		fmt.Fprintf(&b, "  tenant: %s\n", tenants[0])
	case len(tenants) > 1:
		fmt.Fprintf(&b, "  tenants (%d): %s\n", len(tenants), strings.Join(tenants, ", "))
	}
	if o.appPool != "" && r.conn != nil {
		fmt.Fprintf(&b, "  apps: %d sign-ins from the pool in %s\n", len(r.conn.lanes), o.appPool)
	}
	for _, u := range sv.first {
		fmt.Fprintf(&b, "  %s\n", u)
	}
	if sv.toSend > len(sv.first) {
		fmt.Fprintf(&b, "  ... and %d more\n", sv.toSend-len(sv.first))
	}
	if o.block {
		b.WriteString("Their accounts will be disabled until re-enabled (bulkrevoke enable --from <this report>).\n")
	}
	if o.reset {
		b.WriteString("Their passwords will be replaced by random ones that nobody keeps: this CANNOT BE UNDONE; they recover through self-service password reset or the helpdesk. Users synced from AD are not reset (reset them in AD).\n")
	}
	if o.removeMethods() {
		b.WriteString("Their authentication methods registered since " + since + " will be removed: this CANNOT BE UNDONE; the methods report records each one so that the user can register it again. Methods Graph gives no creation time for are kept and listed for review.\n")
	}
	if o.confirm {
		b.WriteString("They will be confirmed compromised in Entra ID Protection (user risk High): this CANNOT BE UNDONE by bulkrevoke enable; dismissing their risk later closes all of it. It needs Entra ID P2.\n")
	}
	return b.String()
}

// confirmActions names every action of the run, in the order each user gets them.
func confirmActions(o *options, since string) string {
	var steps []string
	if o.block {
		steps = append(steps, "BLOCK SIGN-IN")
	}
	if o.reset {
		steps = append(steps, "RESET THE PASSWORDS")
	}
	if o.removeMethods() {
		steps = append(steps, "REMOVE THE AUTHENTICATION METHODS REGISTERED SINCE "+since)
	}
	if o.confirm {
		steps = append(steps, "CONFIRM COMPROMISED")
	}
	steps = append(steps, "revoke the sessions")
	if o.devices {
		steps = append(steps, "DISABLE THE DEVICES")
	}
	last := len(steps) - 1
	return strings.Join(steps[:last], ", ") + " and " + steps[last] + " of"
}

// confirm asks a person at a terminal; without one it refuses, because a script that forgot
// --yes must not change anything.
// A list read from standard input leaves nothing to type the answer on.
func confirm(s *sys, text, verb string, listOnStdin bool) error {
	if !s.stdinTTY || listOnStdin {
		return withHint(fmt.Errorf("refusing to %s without confirmation: standard input is not a terminal", verb),
			"add --yes to confirm non-interactively")
	}
	fmt.Fprint(s.stderr, text)
	fmt.Fprint(s.stderr, "Type yes to continue: ")
	answer, _ := bufio.NewReader(s.stdin).ReadString('\n')
	if strings.TrimSpace(strings.ToLower(answer)) != "yes" {
		return fmt.Errorf("not confirmed; nothing was %s", map[string]string{"revoke": "revoked", "re-enable": "re-enabled"}[verb])
	}
	return nil
}

// resumeCommand is the command that finishes this run, for the summary and hints.
func (r *runner) resumeCommand() string {
	c := r.o.c
	parts := []string{"bulkrevoke", c.Command.Name}
	if r.o.cmd == "enable" {
		parts = append(parts, "--from", shellQuote(r.o.from))
	} else {
		parts = append(parts, "--input", shellQuote(r.o.input))
	}
	parts = append(parts, "--resume", shellQuote(r.reportPath),
		"--report", shellQuote(strings.TrimSuffix(r.reportPath, ".csv")+"-resumed.csv"))
	return strings.Join(append(parts, r.sameFlags(true)...), " ")
}

// retryCommand is the command that runs the rows of the retry list again, into a report of its
// own: the run's flags, the retry list as its --input (its own header: no --column).
func (r *runner) retryCommand(list string) string {
	parts := []string{"bulkrevoke", r.o.c.Command.Name, "--input", shellQuote(list),
		"--report", shellQuote(strings.TrimSuffix(r.reportPath, ".csv") + "-retry.csv")}
	return strings.Join(append(parts, r.sameFlags(false)...), " ")
}

// sameFlags are the flags a command finishing this run repeats: how it signs in, what it does,
// whom it leaves out, and (with columns) how the list is read.
func (r *runner) sameFlags(columns bool) []string {
	c := r.o.c
	var parts []string
	names := []string{"exclude", "cloud", "graph-url", "authority-host", "auth", "client-id", "certificate", "app-pool"}
	if columns {
		names = append([]string{"column", "tenant-column"}, names...)
	}
	for _, name := range names {
		if c.IsSet(name) {
			parts = append(parts, "--"+name, shellQuote(c.String(name)))
		}
	}
	for _, id := range r.o.tenantIDs {
		parts = append(parts, "--tenant-id", shellQuote(id))
	}
	for _, name := range []string{"simulate", "verify", "block-sign-in", "reset-password", "confirm-compromised", "disable-devices", "devices", "no-exclude", "dry-run", "yes"} {
		if c.IsSet(name) && c.Bool(name) {
			parts = append(parts, "--"+name)
		}
	}
	if r.o.removeMethods() {
		// The time the run resolved, not a duration: a later command keeps the same cut-off.
		at := r.o.methodsAt
		if !r.methodsSince.IsZero() {
			at = r.methodsSince
		}
		parts = append(parts, "--remove-methods-since", at.UTC().Format(time.RFC3339Nano))
	}
	switch {
	case c.IsSet("max-users"):
		parts = append(parts, "--max-users", strconv.Itoa(r.o.maxUsers))
	case r.o.fromGraph():
		// The resolved list was checked against --max-users already.
		parts = append(parts, "--max-users", "0")
	}
	return parts
}

// retry writes the retry list of the rows worth another run (revoke and validate) and puts it
// and the command that runs it in info. A rollback has no list: its --resume command sends its
// failed and not attempted rows again.
func (r *runner) retry(summary *report.Summary, info *report.PrintInfo) {
	counts := summary.Counts()
	if counts[batch.StatusFailed]+counts[batch.StatusNotAttempted] == 0 {
		return
	}
	if r.o.cmd == "enable" {
		info.RetryCommand = r.resumeCommand()
		return
	}
	withTenant := slices.ContainsFunc(r.listTenants, func(t string) bool { return t != "" })
	names := map[string]string{} // tenant id (lower case) -> the list's name for it
	for _, name := range r.listTenants {
		id := name
		if r.conn != nil {
			id = r.conn.tenantID(name)
		}
		if _, ok := names[strings.ToLower(id)]; !ok && name != "" {
			names[strings.ToLower(id)] = name
		}
	}
	path := report.RetryPath(r.reportPath)
	n, err := report.WriteRetry(r.reportPath, path, r.o.force, withTenant, func(x batch.Result) string {
		return names[strings.ToLower(x.TenantID)]
	})
	switch {
	case err != nil:
		info.Notes = append(info.Notes, fmt.Sprintf("The retry list could not be written (%v); the --resume command sends the same rows again.", err))
		info.ResumeCommand = r.resumeCommand()
	case n > 0:
		info.RetryPath, info.RetryCommand = path, r.retryCommand(path)
	}
}

// access is what a denied row's fix depends on besides the row.
func (r *runner) access() report.Access {
	delegated := slices.Contains([]string{"device-code", "browser", "azure-cli"}, r.o.auth) && r.o.appPool == "" && !r.o.simulate
	return report.Access{Plan: r.o.actions(), Delegated: delegated}
}

// fillDoc puts what the run did in --summary-json's document; run writes it with the exit code.
func (r *runner) fillDoc(summary *report.Summary, info report.PrintInfo, listed *resolved) {
	if r.s.summary == nil {
		return
	}
	d := &r.s.summary.doc
	summary.Fill(d, info)
	if r.out.changes != nil {
		d.Reports.Changes = report.ChangesPath(r.reportPath)
	}
	if listed != nil {
		d.Reports.Users = listed.path
	}
	if ts := r.runTenants(summary); len(ts) > 0 {
		d.Tenants = ts
	}
}

// runTenants are the tenants the run's rows were processed in, else those it signed in to.
func (r *runner) runTenants(summary *report.Summary) []string {
	var ts []string
	for _, t := range summary.Tenants() {
		if t != "" {
			ts = append(ts, t)
		}
	}
	if len(ts) == 0 && r.conn != nil {
		for _, l := range r.conn.lanes {
			if l.TenantID != "" && !slices.Contains(ts, l.TenantID) {
				ts = append(ts, l.TenantID)
			}
		}
	}
	return ts
}

// checkSummaryJSON refuses, before anything is done, a --summary-json the end of the run could
// not write: in a directory that is not there, or a directory itself.
func checkSummaryJSON(path string) error {
	if path == "-" {
		return nil
	}
	hint := "give --summary-json a file in an existing directory, or - for standard output"
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return withHint(fmt.Errorf("--summary-json %s is not a regular file", path), hint)
	}
	if fi, err := os.Stat(filepath.Dir(path)); err != nil || !fi.IsDir() {
		return withHint(fmt.Errorf("--summary-json %s: directory %s does not exist", path, filepath.Dir(path)), hint)
	}
	return nil
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '-' || r == '_' || r == '.' || r == '/' || r == ':' || r == '@' ||
			r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func newLogger(format string, verbose bool, w io.Writer) *slog.Logger {
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func rateLimit(r float64) rate.Limit { return rate.Limit(r) }

// recorder sends each result to the journal, the summary and the progress display.
type recorder struct {
	journal  *report.Journal
	devices  *report.DeviceJournal // flushed with the report
	methods  *report.MethodJournal // flushed with the report
	summary  *report.Summary
	progress *progress
	// fix says what a denied row needs (report.DeniedFix); it goes in the row's note, beside
	// Graph's own message.
	fix func(batch.Result) string
}

// methodRecorder sends each authentication method's row to the methods report and the summary.
type methodRecorder struct {
	journal *report.MethodJournal
	summary *report.Summary
}

func (m *methodRecorder) WriteMethods(ms ...batch.MethodResult) error {
	if err := m.journal.WriteMethods(ms...); err != nil {
		return err
	}
	m.summary.AddMethods(ms...)
	return nil
}

// deviceRecorder sends each device's row to the devices report and the summary.
type deviceRecorder struct {
	journal *report.DeviceJournal
	summary *report.Summary
}

func (d *deviceRecorder) WriteDevices(ds ...batch.DeviceResult) error {
	// Counted whether or not the file took them, as the users' rows are (recorder.Write):
	// the summary's device count is the devices report's rows, one a device.
	d.summary.AddDevices(ds...)
	return d.journal.WriteDevices(ds...)
}

// The summary counts what happened even when the report could not record it: the admin
// reads there what Graph did, and in the incomplete part what the report lacks.
func (r *recorder) Write(rs ...batch.Result) error {
	copied := false
	for i, x := range rs {
		if x.Status == batch.StatusDenied && r.fix != nil {
			if !copied {
				// The engine's slice is its own: the note goes on a copy.
				rs, copied = slices.Clone(rs), true
			}
			if fix := r.fix(x); !strings.Contains(x.Note, fix) {
				rs[i].Note = strings.TrimPrefix(x.Note+"; "+fix, "; ")
			}
		}
		r.summary.Add(rs[i])
	}
	r.progress.Add(len(rs))
	return r.journal.Write(rs...)
}

func (r *recorder) Flush() error {
	if r.devices != nil {
		if err := r.devices.Flush(); err != nil {
			return fmt.Errorf("the devices report: %w", err)
		}
	}
	if r.methods != nil {
		if err := r.methods.Flush(); err != nil {
			return fmt.Errorf("the methods report: %w", err)
		}
	}
	return r.journal.Flush()
}

// priorSource hands a resumed containment run the prior state the run being resumed found for
// users it blocked (or was about to) but did not finish: they now read as disabled, but were
// enabled before.
type priorSource struct {
	src  batch.Source
	prev *report.Previous
}

func (p *priorSource) Next() (batch.Row, error) {
	row, err := p.src.Next()
	if err == nil {
		row.Prior = p.prev.Prior(row.Line)
		row.ResetDone = p.prev.ResetDone(row.Line)
		row.MethodsRemoved = len(p.prev.MethodsRemoved(row.Line))
		row.ConfirmDone = p.prev.ConfirmDone(row.Line)
	}
	return row, err
}
