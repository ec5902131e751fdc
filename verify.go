package main

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/bulkrevoke/bulkrevoke/batch"
)

// holdRevoked keeps revoked users' results back from the report until they are verified, so
// that each input row still gets exactly one report row, with its verification in it. Every
// other result passes straight through.
type holdRevoked struct {
	next   batch.Sink
	mu     sync.Mutex
	byLine map[int]batch.Result
}

func (h *holdRevoked) Write(rs ...batch.Result) error {
	var pass []batch.Result
	h.mu.Lock()
	for _, r := range rs {
		if r.Status == batch.StatusRevoked && r.Attempts > 0 {
			h.byLine[r.Line] = r
			continue
		}
		pass = append(pass, r)
	}
	h.mu.Unlock()
	return h.next.Write(pass...)
}

func (h *holdRevoked) Flush() error { return h.next.Flush() }

// verify reads back signInSessionsValidFromDateTime for every held user and writes their rows.
// Rows it cannot verify (the run was interrupted, a read failed) are still written, unverified.
func verify(ctx context.Context, h *holdRevoked, cfg batch.Config, skew time.Duration, out batch.Sink, readBack bool) error {
	h.mu.Lock()
	held := h.byLine
	h.byLine = nil
	h.mu.Unlock()

	lines := make([]int, 0, len(held))
	for l := range held {
		lines = append(lines, l)
	}
	slices.Sort(lines)
	rows := make([]batch.Row, 0, len(lines))
	for _, l := range lines {
		r := held[l]
		row := batch.Row{Line: l, Input: r.Input, Key: r.UPN, Kind: batch.KindUPN, Tenant: r.TenantID}
		if r.UserID != "" {
			row.Key, row.Kind = r.UserID, batch.KindObjectID
		}
		rows = append(rows, row)
	}

	merge := &mergeVerified{held: held, skew: skew, out: out}
	var err error
	if readBack && ctx.Err() == nil && len(rows) > 0 {
		vcfg := cfg
		vcfg.Plan, vcfg.Rate, vcfg.Burst, vcfg.Skip, vcfg.Devices, vcfg.BeforeChange = batch.Plan{Verify: true}, 0, 0, nil, nil, nil
		// The lanes are keyed by the tenant as rows named it; the read-back names it by id.
		vcfg.Lanes = nil
		for _, l := range cfg.Lanes {
			l.Tenant = l.TenantID
			vcfg.Lanes = append(vcfg.Lanes, l)
		}
		if len(vcfg.Lanes) == 1 {
			for i := range rows {
				rows[i].Tenant = vcfg.Lanes[0].Tenant
			}
		}
		_, err = batch.Run(ctx, vcfg, batch.Rows(rows), nil, merge)
	}
	// Whatever the verification pass did not reach is written as it was.
	var rest []batch.Result
	merge.mu.Lock()
	for _, l := range lines {
		if r, ok := held[l]; ok {
			rest = append(rest, r)
		}
	}
	merge.mu.Unlock()
	return errors.Join(err, out.Write(rest...), out.Flush())
}

// mergeVerified folds a verification result into the held revoke result of the same line.
type mergeVerified struct {
	mu   sync.Mutex
	held map[int]batch.Result
	skew time.Duration
	out  batch.Sink
}

func (m *mergeVerified) Write(rs ...batch.Result) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	merged := make([]batch.Result, 0, len(rs))
	for _, v := range rs {
		r, ok := m.held[v.Line]
		if !ok {
			continue
		}
		// Graph reports whole seconds, and the revoke landed up to a request's latency before
		// r.At: one second more covers both, so --verify-skew 0 still verifies a landed revoke.
		floor := r.At.Add(-m.skew).Truncate(time.Second).Add(-time.Second)
		ok = v.Status == batch.StatusWouldRevoke && !v.SessionsValidFrom.IsZero() &&
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
		merged = append(merged, r)
	}
	// Held rows leave the held set only once written: a failed write leaves them for the
	// final write of whatever was not verified, not in neither place.
	if err := m.out.Write(merged...); err != nil {
		return err
	}
	for _, r := range merged {
		delete(m.held, r.Line)
	}
	return nil
}

func (m *mergeVerified) Flush() error { return m.out.Flush() }

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
