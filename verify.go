package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/bulkrevoke/bulkrevoke/batch"
	"github.com/bulkrevoke/bulkrevoke/report"
)

// --verify. Each row reaches the report when its revoke lands, through the run's sink and
// flushed like every other row, so that a crash at any moment loses no landed revoke. Once the
// run is over, verifyReport reads the users back and records what Graph says in the report: it
// re-reads the revoked rows from the report on disk, sends them through the engine as reads,
// and writes every row, with the read-back folded into the revoked ones, to a new version of
// the report beside it that is fsynced and renamed over the old one (report.Journal.Rewrite).
// The report on disk is at every moment the version written as revokes landed or the verified
// one, each with exactly one row per input row, and --resume reads either.
//
// Memory does not grow with the run: rows stream from the file to the engine and from the
// engine to the new version; only the rows being read back are held (pending), which the
// engine bounds (batch.Config.MaxPending per tenant).

// errScanStopped ends the scan of the report when its rows are no longer wanted.
var errScanStopped = errors.New("scan stopped")

// toVerify reports whether a report row is one the read-back checks: a revoke this run sent,
// or one it carried over from the run it resumes (such a row keeps its attempts).
func toVerify(r batch.Result) bool { return r.Status == batch.StatusRevoked && r.Attempts > 0 }

// verifyReport reads back signInSessionsValidFromDateTime for every revoked user of the report
// j writes, and records it in the report (see above); the verified version has the rows of
// users read back in the order their answers came. The summary has counted every row as it
// was written; what the read-back changes is counted once it is in the report. When the new
// version cannot be written, the report stays as it was, unverified, and the error is a report
// error (batch.ErrReport): the --resume command reads the users back again.
func verifyReport(ctx context.Context, j *report.Journal, cfg batch.Config, skew time.Duration, summary *report.Summary) error {
	path := j.Path()
	rw, err := j.Rewrite()
	if err != nil {
		return &verifyWriteError{err}
	}
	f, err := os.Open(path)
	if err != nil {
		rw.Abort()
		return &verifyWriteError{fmt.Errorf("reading the report back: %w", err)}
	}
	defer f.Close()

	rows := make(chan batch.Result, 64)
	stop := make(chan struct{})
	scanned := make(chan error, 1)
	go func() {
		defer close(rows)
		scanned <- report.ScanReport(f, path, func(r batch.Result) error {
			select {
			case rows <- r:
				return nil
			case <-stop:
				return errScanStopped
			}
		})
	}()

	vcfg := cfg
	vcfg.Plan, vcfg.Rate, vcfg.Burst, vcfg.Skip, vcfg.Devices, vcfg.BeforeChange = batch.Plan{Verify: true}, 0, 0, nil, nil, nil
	// The lanes are keyed by the tenant as rows named it; the read-back names it by id.
	vcfg.Lanes = nil
	for _, l := range cfg.Lanes {
		l.Tenant = l.TenantID
		vcfg.Lanes = append(vcfg.Lanes, l)
	}
	vctx, cancel := context.WithCancel(ctx)
	defer cancel()
	v := &verifier{rows: rows, out: rw, skew: skew, cancel: cancel, pending: map[int]batch.Result{}}
	if len(vcfg.Lanes) == 1 {
		v.tenant, v.oneTenant = vcfg.Lanes[0].Tenant, true
	}
	_, runErr := batch.Run(vctx, vcfg, v, nil, v)
	cancel()

	v.mu.Lock()
	werr, sent, recount := v.err, v.sent, v.recount
	rest := make([]batch.Result, 0, len(v.pending))
	for _, r := range v.pending {
		rest = append(rest, r)
	}
	v.pending = nil
	v.mu.Unlock()
	// Whatever the read-back did not reach is written as it was: rows it was given and did not
	// answer, and rows it never asked for.
	if werr == nil {
		slices.SortFunc(rest, func(a, b batch.Result) int { return a.Line - b.Line })
		werr = rw.Write(rest...)
	}
	for r := range rows {
		if werr != nil {
			break
		}
		werr = rw.Write(r)
	}
	close(stop)
	for range rows {
		// The scan ends at its next row.
	}
	scanErr := <-scanned
	// Closed before the new version is renamed over it: some systems cannot rename over an
	// open file.
	f.Close()
	if werr == nil && scanErr != nil {
		werr = fmt.Errorf("reading the report back: %w", scanErr)
	}
	if werr != nil {
		rw.Abort()
		// The run's own error is left out: it is the cancellation that stopped the read-back
		// when the new version could not be written.
		return errors.Join(&verifyWriteError{werr}, ctx.Err())
	}
	if sent == 0 {
		rw.Abort() // nothing was read back: the report is right as it is
		return runErr
	}
	if err := rw.Commit(); err != nil {
		return errors.Join(runErr, &verifyWriteError{err})
	}
	summary.AddRecount(recount)
	return runErr
}

// verifier is the read-back's source (the report's revoked rows, read from disk) and sink (the
// new version of the report).
type verifier struct {
	rows      <-chan batch.Result
	out       *report.Rewrite
	skew      time.Duration
	cancel    context.CancelFunc
	tenant    string // with a single lane, the tenant every user is read back in
	oneTenant bool

	mu      sync.Mutex
	pending map[int]batch.Result // rows handed to the engine, by line, until their answer comes
	sent    int
	recount report.Recount // what the read-back changes in the summary
	err     error          // the first failed write of the new version
}

// Next hands the engine the report's next revoked row; rows that need no read-back go straight
// to the new version. After a failed write it ends the input.
func (v *verifier) Next() (batch.Row, error) {
	for r := range v.rows {
		v.mu.Lock()
		failed := v.err != nil
		v.mu.Unlock()
		if failed {
			break
		}
		if !toVerify(r) {
			if err := v.out.Write(r); err != nil {
				v.fail(err)
				break
			}
			continue
		}
		row := batch.Row{Line: r.Line, Input: r.Input, Key: r.UPN, Kind: batch.KindUPN, Tenant: r.TenantID}
		if r.UserID != "" {
			row.Key, row.Kind = r.UserID, batch.KindObjectID
		}
		if v.oneTenant {
			row.Tenant = v.tenant
		}
		v.mu.Lock()
		v.pending[r.Line] = r
		v.sent++
		v.mu.Unlock()
		return row, nil
	}
	return batch.Row{}, io.EOF
}

// Write folds each read-back into its revoked row and writes the row to the new version. It
// never fails the engine: a failed write stops the read-back (fail), and verifyReport reports
// it once.
func (v *verifier) Write(rs ...batch.Result) error {
	merged := make([]batch.Result, 0, len(rs))
	v.mu.Lock()
	if v.err != nil {
		// The new version is dropped: what the engine reports after the failure (every row not
		// attempted) is no read-back.
		v.mu.Unlock()
		return nil
	}
	for _, x := range rs {
		r, ok := v.pending[x.Line]
		if !ok {
			continue
		}
		delete(v.pending, x.Line)
		m := fold(r, x, v.skew)
		v.recount.Add(r, m)
		merged = append(merged, m)
	}
	v.mu.Unlock()
	if err := v.out.Write(merged...); err != nil {
		v.fail(err)
	}
	return nil
}

func (v *verifier) Flush() error {
	if err := v.out.Flush(); err != nil {
		v.fail(err)
	}
	return nil
}

// fail keeps the first failed write and stops the read-back: its answers could not be kept.
func (v *verifier) fail(err error) {
	v.mu.Lock()
	if v.err == nil {
		v.err = err
	}
	v.mu.Unlock()
	v.cancel()
}

// fold returns revoked row r with the read-back v of its user folded in.
func fold(r, v batch.Result, skew time.Duration) batch.Result {
	// Graph reports whole seconds, and the revoke landed up to a request's latency before
	// r.At: one second more covers both, so --verify-skew 0 still verifies a landed revoke.
	floor := r.At.Add(-skew).Truncate(time.Second).Add(-time.Second)
	ok := v.Status == batch.StatusWouldRevoke && !v.SessionsValidFrom.IsZero() &&
		!v.SessionsValidFrom.Before(floor)
	r.Verified = &ok
	r.SessionsValidFrom = v.SessionsValidFrom
	// The read-back names the user in full, whichever form the input used.
	if r.UserID == "" {
		r.UserID = v.UserID
	}
	if r.UPN == "" {
		r.UPN = v.UPN
	}
	switch {
	case v.Status != batch.StatusWouldRevoke:
		r.Note = join(r.Note, "could not read the user back to verify: "+string(v.Status)+" "+v.Code)
	case !ok:
		r.Note = join(r.Note, "signInSessionsValidFromDateTime did not move: sessions may still be valid")
	}
	return r
}

// verifyWriteError is a failure to record the read-back in the report. The report on disk holds
// every row as written when the revokes landed, unverified; like every failed write of the
// report it is a batch.ErrReport, for which the run prints the --resume command (a resumed run
// with --verify reads the carried-over users back).
type verifyWriteError struct{ err error }

func (e *verifyWriteError) Error() string {
	return "recording the verification in the report: " + e.err.Error()
}
func (e *verifyWriteError) Unwrap() error        { return e.err }
func (e *verifyWriteError) Is(target error) bool { return target == batch.ErrReport }

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
