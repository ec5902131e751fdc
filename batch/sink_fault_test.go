package batch_test

// The report path under faults (issue 13): a Sink that fails on the N-th Write or Flush, run
// against the engine over graphsim for a run that ends normally, one interrupted and one that
// hits a fatal error. Whatever fails, no row may be lost without Run saying so.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/bulkrevoke/bulkrevoke/batch"
	"github.com/bulkrevoke/bulkrevoke/graphsim"
)

var errDiskFull = errors.New("no space left on device (injected)")

// sinkFaults says where a faultSink fails. Counting starts once the sink is armed (at once
// unless armOn is set); 0 never fails.
type sinkFaults struct {
	write int  // fail the write-th Write (counted from arming)
	flush int  // fail the flush-th Flush (counted from arming)
	once  bool // fail that one call only; otherwise every Write and Flush after it fails too, as a full disk does
	// flushAtEnd fails every Flush once every row has been offered: the rows of the last
	// envelope, and the final flush in Run, never reach the disk.
	flushAtEnd bool
}

// faultSink is a report that buffers written rows and makes them durable on Flush, as the
// journal does. A failed Write loses its rows; a failed Flush loses every row buffered since
// the last good one.
type faultSink struct {
	t      *testing.T
	faults sinkFaults
	total  int // rows in the input, for flushAtEnd
	// armOn, when set, arms the faults on the first Write for which it returns true (that
	// Write counts as the first); it is called with mu held. onWrite runs on every Write
	// before it is counted, outside the lock, with the number of rows offered so far, this
	// Write's included: the test's events (cancel, token change) hang on it.
	armOn   func(rs []batch.Result) bool
	onWrite func(rows int)

	mu       sync.Mutex
	writes   int // Write calls
	armed    bool
	armedW   int // Write calls since arming
	armedF   int // Flush calls since arming
	broken   bool
	failures []string             // what was made to fail
	offered  map[int]int          // how many times each line was offered
	statuses map[batch.Status]int // of the rows offered
	pending  map[int]batch.Result
	accepted map[int]batch.Result
}

func newFaultSink(t *testing.T, f sinkFaults, total int) *faultSink {
	return &faultSink{t: t, faults: f, total: total, offered: map[int]int{}, statuses: map[batch.Status]int{},
		pending: map[int]batch.Result{}, accepted: map[int]batch.Result{}}
}

func (s *faultSink) Write(rs ...batch.Result) error {
	s.mu.Lock()
	s.writes++
	n := s.writes
	for _, r := range rs {
		s.offered[r.Line]++
		s.statuses[r.Status]++
	}
	rows := len(s.offered)
	s.mu.Unlock()
	if s.onWrite != nil {
		s.onWrite(rows)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.armed && (s.armOn == nil || s.armOn(rs)) {
		s.armed = true
	}
	if s.armed {
		s.armedW++
	}
	if s.broken && !s.faults.once ||
		s.armed && s.faults.write > 0 && s.armedW == s.faults.write {
		s.broken = true
		s.failures = append(s.failures, fmt.Sprintf("write %d (%d rows from line %d)", n, len(rs), rs[0].Line))
		return fmt.Errorf("write: %w", errDiskFull)
	}
	for _, r := range rs {
		s.pending[r.Line] = r
	}
	return nil
}

func (s *faultSink) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.armed {
		s.armedF++
	}
	atEnd := s.faults.flushAtEnd && s.armed && len(s.offered) == s.total
	if s.broken && !s.faults.once || atEnd ||
		s.armed && s.faults.flush > 0 && s.armedF == s.faults.flush {
		s.broken = true
		s.failures = append(s.failures, fmt.Sprintf("flush (%d rows lost)", len(s.pending)))
		clear(s.pending)
		return fmt.Errorf("flush: %w", errDiskFull)
	}
	for l, r := range s.pending {
		if _, dup := s.accepted[l]; dup {
			s.t.Errorf("line %d reached the report twice", l)
		}
		s.accepted[l] = r
	}
	clear(s.pending)
	return nil
}

// check asserts what must hold whatever failed: every row was offered exactly once (the engine
// goes on reporting after the sink failed), and a row missing from what the sink accepted is
// only missing when Run said the report could not be written. It returns whether a fault fired.
func (s *faultSink) check(t *testing.T, rows []batch.Row, err error) bool {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range rows {
		if n := s.offered[r.Line]; n != 1 {
			t.Errorf("line %d offered to the sink %d times, want once", r.Line, n)
		}
	}
	if len(s.pending) > 0 {
		t.Errorf("%d rows written after the last Flush: Run must flush before it returns", len(s.pending))
	}
	missing := len(rows) - len(s.accepted)
	fired := len(s.failures) > 0
	if fired || missing > 0 {
		if err == nil || !strings.Contains(err.Error(), "writing the report") || !errors.Is(err, errDiskFull) {
			t.Errorf("%d of %d rows never reached the report (faults: %v), yet Run returned %v; want an error about writing the report that wraps the sink's",
				missing, len(rows), s.failures, err)
		}
	}
	if !fired && missing != 0 {
		t.Errorf("no fault fired, yet %d rows are missing", missing)
	}
	return fired
}

// TestSinkFaults runs the engine against a failing sink in three kinds of run. Each case must
// make its fault fire: a case whose fault never fires tests nothing and fails.
func TestSinkFaults(t *testing.T) {
	faults := []struct {
		name string
		f    sinkFaults
	}{
		{"no fault", sinkFaults{}},
		{"first write and after", sinkFaults{write: 1}},
		{"5th write and after", sinkFaults{write: 5}},
		{"5th write only", sinkFaults{write: 5, once: true}},
		{"first flush and after", sinkFaults{flush: 1}},
		// A run that fails after arming may flush only once more (Run's final flush), so a
		// one-off flush fault is on the first flush: it fires in every scenario.
		{"first flush only", sinkFaults{flush: 1, once: true}},
		{"the flushes after the last row", sinkFaults{flushAtEnd: true}},
		{"write then flush once each", sinkFaults{write: 3, flush: 4, once: true}},
	}
	type scenario struct {
		name string
		// prepare wires the scenario's event into the sink and returns the run's context.
		prepare func(t *testing.T, sim *graphsim.Server, s *faultSink) context.Context
		// check asserts the scenario's own outcome; fired says whether a sink fault fired.
		check func(t *testing.T, err error, fired bool, s *faultSink, sim *graphsim.Server)
	}
	// An interrupt or a token change happens in the Write that brings the rows offered to
	// eventAt: after the first envelope, before the last. (Whether the engine writes a row or
	// an envelope at a time does not matter.)
	const eventAt = 30
	scenarios := []scenario{
		{
			name: "ends normally",
			prepare: func(t *testing.T, _ *graphsim.Server, _ *faultSink) context.Context {
				return t.Context()
			},
			check: func(t *testing.T, err error, fired bool, _ *faultSink, _ *graphsim.Server) {
				if !fired && err != nil {
					t.Errorf("err = %v, want nil", err)
				}
			},
		},
		{
			// Ctrl-C arrives mid-run; the faults are armed by it, so they hit the rows written
			// while the run winds down (the last answers and the not_attempted rows).
			name: "interrupted",
			prepare: func(t *testing.T, _ *graphsim.Server, s *faultSink) context.Context {
				ctx, cancel := context.WithCancel(t.Context())
				var interrupted bool
				s.onWrite = func(rows int) {
					s.mu.Lock()
					now := rows >= eventAt && !interrupted
					interrupted = interrupted || now
					s.mu.Unlock()
					if now {
						cancel()
					}
				}
				s.armOn = func([]batch.Result) bool { return interrupted } // called under s.mu
				return ctx
			},
			check: func(t *testing.T, err error, fired bool, s *faultSink, _ *graphsim.Server) {
				if !fired && !errors.Is(err, context.Canceled) {
					t.Errorf("err = %v, want context.Canceled", err)
				}
				s.mu.Lock()
				defer s.mu.Unlock()
				if s.statuses[batch.StatusRevoked] == 0 || s.statuses[batch.StatusNotAttempted] == 0 {
					t.Fatalf("rows offered by status %v: the interrupt did not land mid-run", s.statuses)
				}
			},
		},
		{
			// Graph stops accepting the token mid-run; the faults are armed by the first row
			// reported not_attempted, which the engine writes only after it recorded
			// ErrUnauthorized and stopped: the report fails after the fatal error.
			name: "fatal error",
			prepare: func(t *testing.T, sim *graphsim.Server, s *faultSink) context.Context {
				var once sync.Once
				s.onWrite = func(rows int) {
					if rows >= eventAt {
						once.Do(func() { sim.SetToken("another-token") })
					}
				}
				s.armOn = func(rs []batch.Result) bool {
					for _, r := range rs {
						if r.Status == batch.StatusNotAttempted {
							return true
						}
					}
					return false
				}
				return t.Context()
			},
			check: func(t *testing.T, err error, fired bool, _ *faultSink, sim *graphsim.Server) {
				if !errors.Is(err, batch.ErrUnauthorized) {
					t.Errorf("err = %v, want it to hold ErrUnauthorized, whatever else failed", err)
				}
				if gs := sim.Stats(); gs.Unauthorized < 3 {
					t.Errorf("graphsim sent %d 401s, want at least 3", gs.Unauthorized)
				}
			},
		},
	}
	for _, sc := range scenarios {
		for _, fc := range faults {
			t.Run(sc.name+"/"+fc.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					users, rows := generated(200)
					sim := graphsim.New(graphsim.Config{Token: token, Seed: 11}, users)
					sink := newFaultSink(t, fc.f, len(rows))
					ctx := sc.prepare(t, sim, sink)
					_, err := batch.Run(ctx, batch.Config{}, batch.Rows(rows), client(t, "http://localhost", sim.Transport()), sink)
					fired := sink.check(t, rows, err)
					if fc.f != (sinkFaults{}) && !fired {
						t.Fatalf("the fault never fired (err %v): the case tests nothing", err)
					}
					sc.check(t, err, fired, sink, sim)
					// What the report says was revoked, graphsim revoked, once.
					sink.mu.Lock()
					defer sink.mu.Unlock()
					for i, u := range users {
						r, ok := sink.accepted[rows[i].Line]
						if n := len(sim.Revocations(u.ID)); ok && r.Status == batch.StatusRevoked && n != 1 {
							t.Errorf("line %d reported revoked, graphsim revoked %s %d times", r.Line, u.UPN, n)
						}
					}
					t.Logf("err: %v; faults: %v; %d of %d rows accepted", err, sink.failures, len(sink.accepted), len(rows))
				})
			})
		}
	}
}
