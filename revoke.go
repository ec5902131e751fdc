package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"
	"golang.org/x/time/rate"

	"github.com/bulkrevoke/bulkrevoke/batch"
	"github.com/bulkrevoke/bulkrevoke/report"
)

// revokeCommand wires the flags to the engine and the report: it decides nothing about Graph.
func revokeCommand(c *cli.Context, s *sys, validate bool) error {
	if c.NArg() > 0 {
		return withHint(fmt.Errorf("unexpected argument %q", c.Args().First()), "the user list goes in --input FILE")
	}
	dryRun := validate || c.Bool("dry-run")
	offline := c.Bool("offline")
	if offline && !dryRun {
		return withHint(errors.New("--offline only goes with --dry-run"), "add --dry-run, or use bulkrevoke validate --offline")
	}
	if c.Bool("verify") && dryRun {
		return errors.New("--verify reads back revocations; a dry run makes none")
	}
	if c.String("input") == "" {
		return withHint(errors.New("no user list"), "bulkrevoke revoke --input users.csv")
	}
	if err := checkTuning(c); err != nil {
		return err
	}
	logger := newLogger(c.String("log-format"), c.Bool("verbose"), s.stderr)

	in, err := openInput(c.String("input"), s.stdin)
	if err != nil {
		return err
	}
	defer in.Close()
	readerOpts := batch.ReaderOptions{Name: in.name, Column: c.String("column")}

	excluded, err := loadExcludes(c.String("exclude"), c.String("column"))
	if err != nil {
		return err
	}
	var prev *report.Previous
	if p := c.String("resume"); p != "" {
		if prev, err = report.OpenPrevious(p); err != nil {
			return err
		}
	}

	// First pass: the whole file is read before anything is sent, so a syntax error on the
	// last line, a resume report of another file or a too-long list stop the run while
	// nothing has happened yet.
	plan, err := survey(in, readerOpts, excluded, prev)
	if err != nil {
		return err
	}
	if plan.rows == 0 {
		return fmt.Errorf("%s: no users in the file", in.name)
	}
	if max := c.Int("max-users"); max > 0 && plan.toSend > max && !dryRun {
		return withHint(fmt.Errorf("%s has %d users to revoke, more than --max-users %d", in.name, plan.toSend, max),
			"check that this is the right file; if it is, raise --max-users (0 means no limit)")
	}

	t, err := resolveTarget(c.String("cloud"), c.String("graph-url"))
	if err != nil {
		return err
	}
	var client batch.Client
	var clock batch.Clock = batch.RealClock
	if !offline {
		conn, err := connect(c, s, t)
		if err != nil {
			return err
		}
		defer conn.close()
		client, clock, t = conn.client, conn.clock, conn.target
	}

	reportPath := c.String("report")
	if reportPath == "" {
		reportPath = "bulkrevoke-report-" + s.now().UTC().Format("20060102T150405Z") + ".csv"
	}
	if prev != nil && sameFile(prev.Path(), reportPath) {
		return withHint(errors.New("--report must not be the report being resumed"), "give the resumed run a new report file")
	}
	journal, err := report.Create(reportPath, c.Bool("force"))
	if err != nil {
		return withHint(err, "choose another --report path, or add --force to overwrite")
	}
	started := false
	defer func() {
		// A run that never started leaves nothing behind: an empty report would look like a
		// run in which nothing happened.
		if !started {
			journal.Close()
			os.Remove(reportPath)
		}
	}()

	if !dryRun && !c.Bool("yes") {
		if err := confirm(s, t, in.name, plan); err != nil {
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

	cfg := batch.Config{
		Op:          batch.OpRevoke,
		BatchSize:   c.Int("batch-size"),
		Concurrency: c.Int("concurrency"),
		Rate:        rate.Limit(c.Float64("rate")),
		MaxAttempts: c.Int("max-attempts"),
		Timeout:     c.Duration("timeout"),
		Clock:       clock,
		Logger:      logger,
		Skip:        skipper(excluded, prev, offline),
	}
	if dryRun {
		cfg.Op = batch.OpLookup
	}

	summary := report.NewSummary(s.now())
	progress := newProgress(s, plan.rows, dryRun, logger)
	rec := &recorder{journal: journal, summary: summary, progress: progress}
	var sink batch.Sink = rec
	var held *holdRevoked
	if c.Bool("verify") {
		held = &holdRevoked{next: rec, byLine: map[int]batch.Result{}}
		sink = held
	}

	logger.Info("starting", "input", in.name, "users", plan.rows, "op", cfg.Op.String(), "graph", t.graphURL, "report", reportPath)
	started = true
	st, runErr := batch.Run(c.Context, cfg, reader, client, sink)
	if held != nil {
		// After a fatal error (Graph refusing the token) the read-back would fail the same way:
		// the held rows are then written unverified.
		runErr = errors.Join(runErr, verify(c, held, client, cfg, rec, runErr == nil))
	}
	progress.Finish()
	summary.AddThrottled(int(st.Throttled))
	summary.Finish(s.now())
	closeErr := journal.Close()

	interrupted := errors.Is(runErr, context.Canceled)
	info := report.PrintInfo{ReportPath: reportPath, DryRun: dryRun, Interrupted: interrupted}
	if interrupted {
		info.ResumeCommand = resumeCommand(c, reportPath)
	}
	if err := summary.Print(s.stderr, info); err != nil {
		return err
	}
	if errors.Is(runErr, batch.ErrUnauthorized) {
		hint := "get a token Graph accepts: for this cloud's Graph, not expired, with User.RevokeSessions.All"
		if !dryRun {
			// The rows not attempted can be finished without sending the revoked ones again.
			hint += "; then finish with: " + resumeCommand(c, reportPath)
		}
		return withHint(runErr, hint)
	}
	if runErr != nil {
		return runErr
	}
	if closeErr != nil {
		return fmt.Errorf("writing the report: %w", closeErr)
	}
	for st, n := range summary.Counts() {
		if n > 0 && !st.OK() && st != batch.StatusExcluded {
			return errIncomplete
		}
	}
	if summary.Unverified() > 0 {
		return errIncomplete
	}
	return nil
}

// input is the user list, seekable so it can be read twice.
type input struct {
	*os.File
	name string
	temp bool
}

func (in *input) Close() error {
	err := in.File.Close()
	if in.temp {
		os.Remove(in.File.Name())
	}
	return err
}

// openInput opens --input. Standard input is copied to a private temporary file first: the
// list is read once to check and count it and once to process it.
func openInput(name string, stdin io.Reader) (*input, error) {
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, withHint(fmt.Errorf("cannot open the user list: %w", err), "check the --input path")
		}
		if fi, err := f.Stat(); err == nil && fi.IsDir() {
			f.Close()
			return nil, fmt.Errorf("%s is a directory, not a user list", name)
		}
		return &input{File: f, name: name}, nil
	}
	f, err := os.CreateTemp("", "bulkrevoke-stdin-*.csv")
	if err != nil {
		return nil, err
	}
	in := &input{File: f, name: "stdin", temp: true}
	if _, err := io.Copy(f, stdin); err != nil {
		in.Close()
		return nil, fmt.Errorf("reading standard input: %w", err)
	}
	// The copy left the offset at the end: the first pass must read from the start.
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		in.Close()
		return nil, err
	}
	return in, nil
}

// plan is what the first pass over the input found.
type plan struct {
	rows    int      // data rows
	toSend  int      // rows that will reach Graph
	invalid int      // invalid or duplicate rows
	first   []string // the first few users, for the confirmation prompt
}

func survey(in *input, opts batch.ReaderOptions, excluded map[string]bool, prev *report.Previous) (plan, error) {
	var p plan
	r, err := batch.NewReader(in, opts)
	if err != nil {
		return p, err
	}
	matched := 0 // rows of the previous report that this input has too
	for {
		row, err := r.Next()
		if err == io.EOF {
			if prev != nil && matched < prev.Len() {
				// Check saw no contradiction on the lines both have, but the report has rows
				// this input lacks: it belongs to another (longer) file.
				return p, withHint(fmt.Errorf("%s: %d of its rows are for lines that %s does not have: the report is from a different input file",
					prev.Path(), prev.Len()-matched, in.name), "use the report produced from this input file")
			}
			return p, nil
		}
		if err != nil {
			return p, err
		}
		p.rows++
		if prev != nil {
			if err := prev.Check(row); err != nil {
				return p, err
			}
			if _, ok := prev.Result(row.Line); ok {
				matched++
			}
		}
		switch {
		case row.Kind == batch.KindInvalid || row.DupOf > 0:
			p.invalid++
		case excluded[strings.ToLower(row.Key)]:
		default:
			if prev != nil {
				if _, done := prev.Revoked(row.Line); done {
					continue
				}
			}
			p.toSend++
			if len(p.first) < 5 {
				p.first = append(p.first, row.Input)
			}
		}
	}
}

func loadExcludes(path, column string) (map[string]bool, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open the exclusion list: %w", err)
	}
	defer f.Close()
	r, err := batch.NewReader(bufio.NewReader(f), batch.ReaderOptions{Name: path, Column: column})
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for {
		row, err := r.Next()
		if err == io.EOF {
			return set, nil
		}
		if err != nil {
			return nil, err
		}
		if row.Kind == batch.KindInvalid {
			// An exclusion that cannot be read must not silently let its user be revoked.
			return nil, withHint(fmt.Errorf("%s:%d: %s", path, row.Line, row.Reason), "fix the exclusion list")
		}
		set[strings.ToLower(row.Key)] = true
	}
}

// skipper answers the rows that need no Graph call: excluded users, users the resumed run
// already revoked and, offline, every valid user.
func skipper(excluded map[string]bool, prev *report.Previous, offline bool) func(batch.Row) (batch.Result, bool) {
	return func(row batch.Row) (batch.Result, bool) {
		r := batch.Result{Line: row.Line, Input: row.Input, At: time.Now()}
		if row.Kind == batch.KindObjectID {
			r.UserID = row.Key
		} else {
			r.UPN = row.Key
		}
		if excluded[strings.ToLower(row.Key)] {
			r.Status, r.Note = batch.StatusExcluded, "on the --exclude list"
			return r, true
		}
		if prev != nil {
			if old, ok := prev.Revoked(row.Line); ok {
				old.Note = strings.TrimPrefix(old.Note+"; revoked by the run reported in "+prev.Path()+", not sent again", "; ")
				return old, true
			}
		}
		if offline {
			r.Status, r.Note = batch.StatusWouldRevoke, "offline check: not looked up in Graph"
			return r, true
		}
		return r, false
	}
}

func sameFile(a, b string) bool {
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	if errA == nil && errB == nil {
		return os.SameFile(fa, fb)
	}
	x, _ := filepath.Abs(a)
	y, _ := filepath.Abs(b)
	return x == y
}

// confirm asks a person at a terminal; without one it refuses, because a script that forgot
// --yes must not revoke anything.
func confirm(s *sys, t target, name string, p plan) error {
	if !s.stdinTTY || name == "stdin" {
		return withHint(errors.New("refusing to revoke without confirmation: standard input is not a terminal"),
			"add --yes to confirm non-interactively")
	}
	fmt.Fprintf(s.stderr, "About to revoke the sign-in sessions of %d users from %s\n", p.toSend, name)
	fmt.Fprintf(s.stderr, "  cloud: %s   graph: %s\n", t.cloudName, t.graphURL)
	if t.tenant != "" {
		fmt.Fprintf(s.stderr, "  tenant: %s\n", t.tenant)
	}
	for _, u := range p.first {
		fmt.Fprintf(s.stderr, "  %s\n", u)
	}
	if p.toSend > len(p.first) {
		fmt.Fprintf(s.stderr, "  ... and %d more\n", p.toSend-len(p.first))
	}
	fmt.Fprint(s.stderr, "Type yes to continue: ")
	answer, _ := bufio.NewReader(s.stdin).ReadString('\n')
	if strings.TrimSpace(strings.ToLower(answer)) != "yes" {
		return errors.New("not confirmed; nothing was revoked")
	}
	return nil
}

func resumeCommand(c *cli.Context, reportPath string) string {
	parts := []string{"bulkrevoke", c.Command.Name, "--input", shellQuote(c.String("input")), "--resume", shellQuote(reportPath),
		"--report", shellQuote(strings.TrimSuffix(reportPath, ".csv") + "-resumed.csv")}
	for _, name := range []string{"column", "exclude", "cloud", "graph-url", "auth", "tenant-id", "client-id", "certificate"} {
		if c.IsSet(name) {
			parts = append(parts, "--"+name, shellQuote(c.String(name)))
		}
	}
	for _, name := range []string{"simulate", "verify", "yes"} {
		if c.Bool(name) {
			parts = append(parts, "--"+name)
		}
	}
	return strings.Join(parts, " ")
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

// recorder sends each result to the journal, the summary and the progress display.
type recorder struct {
	journal  *report.Journal
	summary  *report.Summary
	progress *progress
}

func (r *recorder) Write(rs ...batch.Result) error {
	if err := r.journal.Write(rs...); err != nil {
		return err
	}
	for _, x := range rs {
		r.summary.Add(x)
	}
	r.progress.Add(len(rs))
	return nil
}

func (r *recorder) Flush() error { return r.journal.Flush() }

// progress shows a bar to a person at a terminal and an occasional log line to anything else.
type progress struct {
	bar    *progressbar.ProgressBar
	mu     sync.Mutex
	done   int
	total  int
	last   time.Time
	logger *slog.Logger
}

func newProgress(s *sys, total int, dryRun bool, logger *slog.Logger) *progress {
	p := &progress{total: total, logger: logger, last: time.Now()}
	if s.stderrTTY {
		desc := "revoking"
		if dryRun {
			desc = "checking"
		}
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(s.stderr),
			progressbar.OptionSetDescription(desc),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("users"),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	return p
}

func (p *progress) Add(n int) {
	if p.bar != nil {
		_ = p.bar.Add(n)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += n
	if time.Since(p.last) >= 10*time.Second {
		p.last = time.Now()
		p.logger.Info("progress", "done", p.done, "total", p.total)
	}
}

func (p *progress) Finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}

// checkTuning refuses tuning values the engine would otherwise quietly replace by defaults.
func checkTuning(c *cli.Context) error {
	switch {
	case c.Int("batch-size") < 1 || c.Int("batch-size") > batch.MaxBatchSize:
		return withHint(fmt.Errorf("--batch-size %d: Graph takes 1 to %d requests per batch", c.Int("batch-size"), batch.MaxBatchSize), "leave it at 20")
	case c.Int("concurrency") < 1:
		return fmt.Errorf("--concurrency %d: at least 1 request must be in flight", c.Int("concurrency"))
	case c.Int("max-attempts") < 1:
		return fmt.Errorf("--max-attempts %d: every user needs at least one attempt", c.Int("max-attempts"))
	case c.Float64("rate") < 0:
		return fmt.Errorf("--rate %v: must be positive (0 means the default)", c.Float64("rate"))
	case c.Duration("timeout") <= 0:
		return fmt.Errorf("--timeout %v: must be positive", c.Duration("timeout"))
	}
	return nil
}
