package batch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"golang.org/x/time/rate"
)

// MaxBatchSize is Graph's limit of requests in one $batch envelope.
const MaxBatchSize = 20

// Source yields input rows; Next returns io.EOF after the last one.
type Source interface {
	Next() (Row, error)
}

// Rows is a Source over rows already in memory.
func Rows(rows []Row) Source { return &rowSlice{rows} }

type rowSlice struct{ rows []Row }

func (s *rowSlice) Next() (Row, error) {
	if len(s.rows) == 0 {
		return Row{}, io.EOF
	}
	r := s.rows[0]
	s.rows = s.rows[1:]
	return r, nil
}

// Sink receives every final Result. Write may be called from several goroutines; Flush is
// called after each envelope so that what Graph did is on disk before the next envelope leaves.
type Sink interface {
	Write(rs ...Result) error
	Flush() error
}

// DeviceSink receives one DeviceResult per device a run found, as soon as its fate is known.
// It is flushed with the Sink.
type DeviceSink interface {
	WriteDevices(ds ...DeviceResult) error
}

// Plan says what the engine does to each user, in this order: read the user, block sign-in,
// revoke the sessions, then disable the user's devices; or, for a rollback, re-enable what the
// row's Restore names; or read back the sessions timestamp (--verify).
type Plan struct {
	Lookup  bool // read the user first: a dry run's whole job, and blocking needs the prior state
	Block   bool // PATCH accountEnabled false; always answered before the revoke is sent
	Reset   bool // PATCH passwordProfile with a random password; after the block, before the revoke
	Methods bool // remove the authentication methods created at or after Config.MethodsSince; before the revoke
	Confirm bool // confirm the user compromised in Identity Protection, alongside the other steps (risk.go)
	Revoke  bool
	Devices bool // find the user's owned and registered devices and disable the enabled ones
	Verify  bool // read signInSessionsValidFromDateTime
	Enable  bool // rollback: re-enable the user and devices in Row.Restore
	DryRun  bool // with Block or Devices: find and count, change nothing
}

func (p Plan) writes() bool {
	return !p.DryRun && (p.Block || p.Reset || p.Methods || p.Confirm || p.Revoke || p.Enable)
}

// Lane is one app registration signed in to one tenant: the unit Graph's per-app quotas apply
// to. Several lanes of one tenant form an app pool; lanes of several tenants a multi-tenant run.
type Lane struct {
	Tenant   string // the tenant as input rows name it (Row.Tenant); "" for rows that name none
	TenantID string // the tenant's id for the report, when known
	App      string // the app's client id; "" when the run has one app
	Client   Client
}

// Config tunes a run. The zero value of every field means its documented default.
type Config struct {
	// Op is shorthand for a one-step Plan (OpRevoke, OpLookup or OpVerify) when Plan is zero.
	Op          Op
	Plan        Plan
	BatchSize   int           // steps per envelope, 1..20; default 20
	Concurrency int           // envelopes in flight per lane for each of reads and writes; default 4
	Rate        rate.Limit    // a ceiling on each lane's writes per second (reads, for a read-only plan); default Graph's documented quota
	Burst       int           // the size of each lane's write (read-only: read) quota; default Graph's documented
	MaxAttempts int           // failed requests per step before giving up; throttling does not count; default 8
	Timeout     time.Duration // per envelope request; default 60s
	Grace       time.Duration // how long in-flight envelopes may finish after cancellation; default 30s
	BaseBackoff time.Duration // first backoff without Retry-After; default 1s, doubling, jittered
	MaxBackoff  time.Duration // default 60s
	Clock       Clock         // default RealClock
	Logger      *slog.Logger  // default discards

	// Skip answers a valid row without Graph (an excluded user, a user already revoked by the run
	// being resumed). Rows it accepts go straight to the sink.
	Skip func(Row) (Result, bool)
	// NewRequestID makes each envelope's client-request-id; default random UUIDs.
	NewRequestID func() string

	// Lanes are the app+tenant sign-ins to use; when empty, Run's client is the only lane.
	Lanes []Lane
	// TenantErrors holds tenants whose sign-in failed: their rows are denied with the error.
	TenantErrors map[string]error
	// Devices receives the devices report (Plan.Devices, rollbacks of devices).
	Devices DeviceSink
	// MethodsSince is Plan.Methods' cut-off: methods created at or after it are removed.
	MethodsSince time.Time
	// Methods receives the methods report (Plan.Methods).
	Methods MethodSink
	// BeforeRemove is told of every method removal of an envelope before it leaves (as a
	// MethodRemoving row); an error stops the run without sending it. Without it, a removal
	// whose answer a crash lost would leave no record of the method the user must register
	// again.
	BeforeRemove func([]MethodResult) error
	// PriorRemoving, in a resumed run, holds by line the removals the run being resumed sent
	// and never heard back about: a method no longer listed was removed by it.
	PriorRemoving map[int][]MethodResult
	// BeforeChange is told of every change of an envelope before it leaves; an error stops the
	// run without sending it.
	BeforeChange func([]Change) error
	// OnWait is told whenever Graph's Retry-After holds a quota closed until a later time; now
	// and until are on the run's Clock.
	OnWait func(now, until time.Time)
	// MaxPending bounds the users in progress per tenant (the rest wait in the input); default 4000.
	MaxPending int
	// PriorUsers, in a resumed run, holds the users (object id or the key it sent, lower case)
	// the run being resumed blocked, or meant to, while they were enabled: found disabled now,
	// they were disabled by it, whichever line of the list names them this time.
	PriorUsers map[string]bool
	// PriorDevices, in a resumed run, holds the devices (object id, lower case) the run being
	// resumed found enabled and meant to disable: found disabled now, they were disabled by it.
	PriorDevices map[string]bool
	// KnownDevices, in a resumed run, holds the devices (object id, lower case) already in the
	// devices report, by the line they are reported for: another user's listing must not report
	// them again.
	KnownDevices map[string]int
}

// Stats counts what a run sent and what Graph pushed back.
type Stats struct {
	Envelopes int64 // $batch requests sent
	Steps     int64 // steps sent, retries included
	Throttled int64 // 429 answers seen, step or envelope
	Retries   int64 // steps sent again
	// Waits counts the stretches in which Graph's Retry-After held a quota closed; Waited is
	// their total length (overlapping waits of one quota counted once).
	Waits  int64
	Waited time.Duration
	// Dropped lists lanes taken out of the run (lost consent or credential), with why.
	Dropped []string
	// RiskCalls counts confirmCompromised calls sent; RiskDenied lists the tenants that refused
	// the call (403), with Graph's answer.
	RiskCalls  int64
	RiskDenied []string
}

func (c *Config) withDefaults() Config {
	d := *c
	if d.Plan == (Plan{}) {
		switch d.Op {
		case OpLookup:
			d.Plan = Plan{Lookup: true}
		case OpVerify:
			d.Plan = Plan{Verify: true}
		default:
			d.Plan = Plan{Revoke: true}
		}
	}
	if d.BatchSize <= 0 || d.BatchSize > MaxBatchSize {
		d.BatchSize = MaxBatchSize
	}
	if d.Concurrency <= 0 {
		d.Concurrency = 4
	}
	if d.MaxAttempts <= 0 {
		d.MaxAttempts = 8
	}
	if d.Timeout <= 0 {
		d.Timeout = 60 * time.Second
	}
	if d.Grace <= 0 {
		d.Grace = 30 * time.Second
	}
	if d.BaseBackoff <= 0 {
		d.BaseBackoff = time.Second
	}
	if d.MaxBackoff <= 0 {
		d.MaxBackoff = 60 * time.Second
	}
	if d.Clock == nil {
		d.Clock = RealClock
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.NewRequestID == nil {
		d.NewRequestID = uuid.NewString
	}
	if d.MaxPending <= 0 {
		d.MaxPending = 4000
	}
	return d
}

// engine is one run. Items (users, and devices found for them) flow from the producer into a
// queue per tenant and kind of step (reads, writes); each queue's scheduler packs envelopes
// for the workers of the tenant's lanes; a worker's answer moves an item to its next step's
// queue, to a retry timer, or to the sink.
type engine struct {
	cfg   Config
	sink  Sink
	ctrl  *controller
	stats Stats
	start time.Time

	tenants map[string]*tenant // by Row.Tenant; built before anything runs, read-only after
	lanes   []*lane

	runCtx, sendCtx context.Context
	stop            context.CancelFunc
	// workCtx ends with the run, or once every item is final: workers waiting for their lane to
	// open then stop waiting.
	workCtx context.Context

	live     sync.WaitGroup // items not yet final
	mu       sync.Mutex
	outcomes outcomeLog     // the status of every finished line, for duplicates of it
	byLine   map[int]*item  // items in progress, for duplicates that must wait for them
	devices  map[string]int // device object id (lower case) -> line of the user it was found for
	resolved map[string]int // lookups: tenant + object id -> line that claimed it
	sendSeq  atomic.Uint64  // envelopes handed to clients, in the order they left
	produced atomic.Bool    // every input row is read
	waitsMu  sync.Mutex
	waitEnd  map[any]time.Time // by quota, or a tenant's riskQueue
	riskMu   sync.Mutex

	fatalMu sync.Mutex
	fatal   []error

	sinkMu   sync.Mutex
	sinkErr  error // the first failed report write
	sinkLost int   // rows whose write failed
}

// tenant holds one tenant's queues and lanes.
type tenant struct {
	name   string
	id     string
	err    error // the tenant cannot be reached: its rows are denied with this
	queues [2]*queue
	lanes  []*lane
	alive  atomic.Int32
	slots  chan struct{} // MaxPending tokens
	okSeq  atomic.Uint64 // the latest send sequence of an envelope with a step that succeeded
	risk   *riskQueue    // --confirm-compromised
}

// Run sends every row of src through Graph and writes exactly one Result per row to sink.
// Per-user failures are Results, not errors. Run returns an error only when the run cannot go
// on: the sink fails, the input cannot be read, or Graph refuses every credential
// (ErrUnauthorized); several such errors are joined. When ctx is cancelled Run stops sending,
// lets envelopes already in flight finish for up to cfg.Grace, reports every other row as
// not_attempted and returns ctx's error.
func Run(ctx context.Context, cfg Config, src Source, client Client, sink Sink) (Stats, error) {
	c := cfg.withDefaults()
	e := &engine{
		cfg:      c,
		sink:     sink,
		ctrl:     newController(c.Clock),
		start:    c.Clock.Now(),
		tenants:  map[string]*tenant{},
		byLine:   map[int]*item{},
		devices:  map[string]int{},
		resolved: map[string]int{},
		waitEnd:  map[any]time.Time{},
	}
	lanes := c.Lanes
	if len(lanes) == 0 && client != nil {
		lanes = []Lane{{Client: client}}
	}
	if err := e.setup(lanes); err != nil {
		return Stats{}, err
	}
	for id, line := range c.KnownDevices {
		e.devices[id] = line
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	e.runCtx, e.stop = runCtx, stop
	// In-flight requests outlive a cancellation by the grace period, so that Graph's answer to
	// a revoke that already left is recorded rather than guessed.
	sendCtx, cancelSend := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSend()
	e.sendCtx = sendCtx
	go func() {
		select {
		case <-runCtx.Done():
			_ = c.Clock.Sleep(sendCtx, c.Grace)
			cancelSend()
		case <-sendCtx.Done():
		}
	}()

	workCtx, endWork := context.WithCancel(runCtx)
	defer endWork()
	e.workCtx = workCtx
	var wg sync.WaitGroup
	for _, t := range e.tenants {
		for _, q := range t.queues {
			wg.Go(func() { e.schedule(q) })
		}
	}
	if c.Plan.Confirm && !c.Plan.DryRun {
		for _, t := range e.tenants {
			t.risk = &riskQueue{t: t, wake: make(chan struct{}, 1)}
			wg.Go(func() { e.confirmLoop(t.risk) })
		}
	}
	for _, l := range e.lanes {
		for cl := range 2 {
			for range c.Concurrency {
				wg.Go(func() { e.worker(l, class(cl)) })
			}
		}
	}
	e.live.Add(1) // the producer's own hold: queues stay open while rows may still come
	go func() {
		e.produce(src)
		e.produced.Store(true)
		e.live.Done()
	}()
	e.live.Wait()
	endWork()
	for _, t := range e.tenants {
		for _, q := range t.queues {
			close(q.in)
		}
	}
	wg.Wait()

	if err := sink.Flush(); err != nil {
		e.fail(writeError("writing the report", err))
	}
	st := Stats{
		Envelopes: atomic.LoadInt64(&e.stats.Envelopes),
		Steps:     atomic.LoadInt64(&e.stats.Steps),
		Throttled: atomic.LoadInt64(&e.stats.Throttled),
		Retries:   atomic.LoadInt64(&e.stats.Retries),
		RiskCalls: atomic.LoadInt64(&e.stats.RiskCalls),
	}
	e.riskMu.Lock()
	st.RiskDenied = e.stats.RiskDenied
	e.riskMu.Unlock()
	e.waitsMu.Lock()
	st.Waits, st.Waited = e.stats.Waits, e.stats.Waited
	e.waitsMu.Unlock()
	for _, l := range e.lanes {
		if why := l.dropped.Load(); why != nil {
			st.Dropped = append(st.Dropped, *why)
		}
	}
	e.sinkMu.Lock()
	if e.sinkErr != nil {
		e.fail(writeErrorf("writing the report", e.sinkErr, " (%d row(s) not written)", e.sinkLost))
	}
	e.sinkMu.Unlock()
	e.fatalMu.Lock()
	defer e.fatalMu.Unlock()
	// Every fatal error, and the interruption too: a run stopped by Ctrl-C whose report also
	// failed must still say it was interrupted.
	return st, errors.Join(append(e.fatal, ctx.Err())...)
}

// setup builds tenants, queues, lanes and their pacers.
func (e *engine) setup(lanes []Lane) error {
	c := e.cfg
	readOnly := !c.Plan.writes() && !(c.Plan.Devices && !c.Plan.DryRun)
	var writeRate, writeBurst, readRate, readBurst float64
	if readOnly {
		readRate, readBurst = float64(c.Rate), float64(c.Burst)
	} else {
		writeRate, writeBurst = float64(c.Rate), float64(c.Burst)
	}
	get := func(name string) *tenant {
		t := e.tenants[name]
		if t == nil {
			t = &tenant{name: name, slots: make(chan struct{}, c.MaxPending)}
			for cl := range 2 {
				t.queues[cl] = &queue{t: t, cl: class(cl), in: make(chan []*item, 16), work: make(chan []*item),
					dead: make(chan struct{})}
			}
			e.tenants[name] = t
		}
		return t
	}
	for name, err := range c.TenantErrors {
		get(name).err = err
	}
	if len(lanes) == 0 {
		// Every row is answered without Graph (an offline check), or reported unreachable.
		get("")
	}
	for i, l := range lanes {
		if l.Client == nil {
			return fmt.Errorf("lane %d (%s in %s) has no client", i, l.App, l.Tenant)
		}
		t := get(l.Tenant)
		if t.id == "" {
			t.id = l.TenantID
		}
		tenantKey := l.Tenant
		if l.TenantID != "" {
			tenantKey = l.TenantID
		}
		pairKey := l.App + "/" + tenantKey
		p := &pacer{c: e.ctrl, batch: float64(c.BatchSize)}
		// A --rate above the documented pair rate says the quotas are larger than documented
		// (a test tenant, an emulator): the tenant's, the app's and the resource units grow
		// with it.
		scale := max(1, writeRate/(PriorPairWrite.Limit/PriorPairWrite.Window.Seconds()))
		grown := func(p prior) prior { return prior{p.Limit * scale, p.Window} }
		pairRU := e.ctrl.quota("pairru/"+pairKey, grown(PriorPairRead), readRate, readBurst)
		p.paths[classRead] = []*quota{pairRU}
		p.paths[classWrite] = []*quota{
			e.ctrl.quota("pair/"+pairKey, PriorPairWrite, writeRate, writeBurst),
			e.ctrl.quota("tenant/"+tenantKey, grown(PriorTenantWrite), 0, 0),
			e.ctrl.quota("app/"+l.App, grown(PriorAppWrite), 0, 0),
			pairRU,
		}
		ln := &lane{Lane: l, t: t, pace: p, multi: len(lanes) > 1}
		t.lanes = append(t.lanes, ln)
		t.alive.Add(1)
		e.lanes = append(e.lanes, ln)
	}
	return nil
}

// fail records a fatal error and stops the run. Every fatal error is kept: a report write that
// fails after Graph refused the token must not be hidden behind the first.
func (e *engine) fail(err error) {
	e.fatalMu.Lock()
	e.fatal = append(e.fatal, err)
	e.fatalMu.Unlock()
	e.stop()
}

// write hands results to the sink and remembers their outcomes for later duplicates.
func (e *engine) write(rs ...Result) {
	if len(rs) == 0 {
		return
	}
	e.mu.Lock()
	for _, r := range rs {
		e.outcomes.set(r.Line, r.Status)
	}
	e.mu.Unlock()
	if err := e.sink.Write(rs...); err != nil {
		// A full disk fails every write after the first: one error says it, and a count says
		// how much more was lost, instead of a line per row.
		e.sinkMu.Lock()
		first := e.sinkErr == nil
		if first {
			e.sinkErr = err
		}
		e.sinkLost += len(rs)
		e.sinkMu.Unlock()
		if first {
			e.stop()
		}
	}
}

func (e *engine) writeDevices(ds ...DeviceResult) {
	if len(ds) == 0 || e.cfg.Devices == nil {
		return
	}
	if err := e.cfg.Devices.WriteDevices(ds...); err != nil {
		e.fail(writeError("writing the devices report", err))
	}
}

// produce reads every input row. Rows that need no Graph call are answered here; the rest become
// items in their tenant's first queue. It never stops early: after a cancellation every row
// must still be reported, as not_attempted.
func (e *engine) produce(src Source) {
	// Items go to their queues a whole envelope at a time, so that a reader that lags a moment
	// never makes a scheduler send half-empty envelopes.
	chunks := map[*queue][]*item{}
	flush := func() {
		for q, items := range chunks {
			if len(items) > 0 {
				q.in <- items
			}
			delete(chunks, q)
		}
	}
	defer flush()
	for {
		row, err := src.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			e.fail(err)
			return
		}
		if r, ok := e.direct(row); ok {
			e.write(r)
			continue
		}
		if row.DupOf > 0 {
			e.duplicate(row, row.DupOf, "same user as line "+strconv.Itoa(row.DupOf), "duplicate_input")
			continue
		}
		t := e.tenants[row.Tenant]
		if t == nil || t.err != nil || t.alive.Load() == 0 {
			e.write(e.unreachable(row, t))
			continue
		}
		select {
		case t.slots <- struct{}{}:
		default:
			// About to wait for users of this tenant to finish: what is gathered must be on its
			// way first, or it might be the very users waited for.
			flush()
			select {
			case t.slots <- struct{}{}:
			case <-e.runCtx.Done():
				e.write(e.abandonRow(row))
				continue
			}
		}
		it := e.newItem(row, t)
		e.live.Add(1)
		e.mu.Lock()
		e.byLine[row.Line] = it
		e.mu.Unlock()
		if it.done {
			e.advance(it)
			continue
		}
		q := t.queues[it.stage.class()]
		chunks[q] = append(chunks[q], it)
		if len(chunks[q]) == e.cfg.BatchSize {
			q.in <- chunks[q]
			delete(chunks, q)
		}
	}
}

// direct answers the rows that never reach Graph.
func (e *engine) direct(row Row) (Result, bool) {
	r := Result{Line: row.Line, Input: row.Input, At: e.cfg.Clock.Now(), TenantID: e.tenantID(row.Tenant)}
	switch {
	case row.Kind == KindInvalid:
		r.Status, r.Code, r.Message = StatusInvalid, "invalid_input", row.Reason
		return r, true
	case e.cfg.Skip != nil && row.DupOf == 0:
		sr, ok := e.cfg.Skip(row)
		if ok && sr.UserID != "" && sr.Status.OK() {
			// A user the resumed run finished still claims its object: a later line naming it
			// by another form is its duplicate, as in the first run.
			e.mu.Lock()
			e.claimLocked(e.tenantID(row.Tenant), sr.UserID, row.Line)
			e.mu.Unlock()
		}
		return sr, ok
	}
	return r, false
}

func (e *engine) tenantID(name string) string {
	if t := e.tenants[name]; t != nil && t.id != "" {
		return t.id
	}
	return name
}

// unreachable answers a row whose tenant has no working sign-in.
func (e *engine) unreachable(row Row, t *tenant) Result {
	r := Result{Line: row.Line, Input: row.Input, At: e.cfg.Clock.Now(), TenantID: e.tenantID(row.Tenant), Status: StatusDenied}
	fillKey(&r, row)
	switch {
	case t == nil:
		r.Status, r.Code, r.Message = StatusFailed, "no_sign_in", "the run has no sign-in for tenant "+strconv.Quote(row.Tenant)
	case t.err != nil:
		r.Code, r.Message = "sign_in", t.err.Error()
	default:
		r.Code, r.Message = "lane_dropped", "every app signed in to this tenant was dropped: "+t.dropReason()
	}
	return r
}

func (t *tenant) dropReason() string {
	for _, l := range t.lanes {
		if why := l.dropped.Load(); why != nil {
			return *why
		}
	}
	return "no app left"
}

// duplicate reports a row that names a user another line already named: with that line's
// outcome when known, else once that line is final.
func (e *engine) duplicate(row Row, first int, msg, code string) {
	r := Result{Line: row.Line, Input: row.Input, Status: StatusDuplicate, Code: code, Message: msg,
		TenantID: e.tenantID(row.Tenant)}
	fillKey(&r, row)
	e.mu.Lock()
	if it := e.byLine[first]; it != nil {
		it.dups = append(it.dups, r)
		e.mu.Unlock()
		return
	}
	st, known := e.outcomes.get(first)
	e.mu.Unlock()
	r.At = e.cfg.Clock.Now()
	if known {
		r.DupStatus = st
		r.Note = string(st) + " at line " + strconv.Itoa(first)
	}
	e.write(r)
}

func fillKey(r *Result, row Row) {
	switch row.Kind {
	case KindObjectID:
		r.UserID = row.Key
	case KindUPN:
		r.UPN = row.Key
	}
}

// queue is one tenant's items waiting for one kind of step.
type queue struct {
	t    *tenant
	cl   class
	in   chan []*item
	work chan []*item
	dead chan struct{} // closed when every lane of the tenant is dropped
}

// schedule packs a queue's items into envelopes, later steps and retries first, and hands
// them to the workers. It alone owns the waiting items, so they need no lock; it ends when the
// engine closes its input, which it does once every item is final.
func (e *engine) schedule(q *queue) {
	defer close(q.work)
	var ready [stageCount][]*item
	var pending []*item
	in := q.in
	size := e.cfg.BatchSize
	stopping, dead := false, false
	for {
		if !stopping && e.runCtx.Err() != nil {
			stopping = true
		}
		if stopping || dead {
			var all []*item
			all = append(all, pending...)
			for s := range ready {
				all = append(all, ready[s]...)
				ready[s] = nil
			}
			pending = nil
			if dead {
				for _, it := range all {
					e.finalize(it, e.laneless(it))
				}
			} else {
				e.abandonAll(all)
			}
		}
		for s := len(ready) - 1; s >= 0 && len(pending) < size; s-- {
			k := min(size-len(pending), len(ready[s]))
			pending = append(pending, ready[s][:k]...)
			ready[s] = ready[s][k:]
		}
		if in == nil {
			return
		}
		var out chan<- []*item
		if len(pending) > 0 {
			out = q.work
		}
		var done <-chan struct{}
		if !stopping {
			done = e.runCtx.Done()
		}
		var deadCh <-chan struct{}
		if !dead {
			deadCh = q.dead
		}
		select {
		case out <- pending:
			pending = nil
		case items, ok := <-in:
			if !ok {
				in = nil
				continue
			}
			for _, it := range items {
				ready[it.stage] = append(ready[it.stage], it)
			}
		case <-done:
		case <-deadCh:
			dead = true
		}
	}
}

// enqueue hands items to the queue of their current step.
func (e *engine) enqueue(items ...*item) {
	if len(items) == 0 {
		return
	}
	items[0].t.queues[items[0].stage.class()].in <- items
}

// abandonAll reports items that will not be sent because the run is stopping.
func (e *engine) abandonAll(items []*item) {
	for _, it := range items {
		e.finalize(it, e.abandoned(it))
	}
}

func (e *engine) abandonRow(row Row) Result {
	r := Result{Line: row.Line, Input: row.Input, At: e.cfg.Clock.Now(), TenantID: e.tenantID(row.Tenant),
		Status: StatusNotAttempted, Code: "interrupted", Message: "the run stopped before this user was sent"}
	fillKey(&r, row)
	return r
}

func describe(r Result) string {
	var parts []string
	if r.HTTP != 0 {
		parts = append(parts, "HTTP "+strconv.Itoa(r.HTTP))
	}
	if r.Code != "" {
		parts = append(parts, r.Code)
	}
	if r.Message != "" {
		parts = append(parts, r.Message)
	}
	return strings.Join(parts, " ")
}

// retryGroups buckets items by how long they must wait, so that one timer serves them and they
// come back as one envelope: waits up to twice the shortest in a group (and at least 250 ms
// more) share the group's longest wait. Backoffs are jittered over a factor of two; without
// this the users of one envelope would each come back alone, as envelopes of one user.
func retryGroups(retry []pendingRetry) map[time.Duration][]*item {
	if len(retry) == 0 {
		return nil
	}
	slices.SortFunc(retry, func(a, b pendingRetry) int { return cmp.Compare(a.wait, b.wait) })
	groups := make(map[time.Duration][]*item)
	for i := 0; i < len(retry); {
		limit := retry[i].wait + max(250*time.Millisecond, retry[i].wait)
		j := i
		for j < len(retry) && retry[j].wait <= limit {
			j++
		}
		// Never sooner than any member was told: the group waits for its longest.
		d := retry[j-1].wait
		for _, r := range retry[i:j] {
			groups[d] = append(groups[d], r.it)
		}
		i = j
	}
	return groups
}

type pendingRetry struct {
	it   *item
	wait time.Duration
}

// later sends items back to their queues after their waits. A cancelled wait still hands
// them back: the scheduler reports them.
func (e *engine) later(retry []pendingRetry) {
	for due, g := range retryGroups(retry) {
		// Items of one group may sit in different queues (a read and a write step).
		byQueue := map[*queue][]*item{}
		for _, it := range g {
			q := it.t.queues[it.stage.class()]
			byQueue[q] = append(byQueue[q], it)
		}
		for q, items := range byQueue {
			go func() {
				_ = e.cfg.Clock.Sleep(e.runCtx, due)
				q.in <- items
			}()
		}
	}
}

// backoff is the wait before attempt n+1 when Graph named none (Backoff on the run's settings).
func (e *engine) backoff(attempts int) time.Duration {
	return Backoff(e.cfg.BaseBackoff, e.cfg.MaxBackoff, attempts)
}

// noteWait counts a quota's gate closing until `until`, for the summary and the progress line.
func (e *engine) noteWait(q any, now, until time.Time) {
	e.waitsMu.Lock()
	end := e.waitEnd[q]
	switch {
	case !until.After(end):
		e.waitsMu.Unlock()
		return
	case end.After(now):
		e.stats.Waited += until.Sub(end)
	default:
		e.stats.Waits++
		e.stats.Waited += until.Sub(now)
	}
	e.waitEnd[q] = until
	e.waitsMu.Unlock()
	if e.cfg.OnWait != nil {
		e.cfg.OnWait(now, until)
	}
}

// outcomeLog keeps the status of every finished line in a byte each, so that a duplicate far
// down a million-row sign-in log can still say what happened to its first line.
type outcomeLog struct{ codes []byte }

var statusCodes = []Status{"", StatusRevoked, StatusWouldRevoke, StatusNotFound, StatusInvalid, StatusDuplicate,
	StatusDenied, StatusFailed, StatusNotAttempted, StatusExcluded, StatusWouldBlock, StatusEnabled, StatusUnchanged,
	StatusWouldEnable}

func (o *outcomeLog) set(line int, s Status) {
	if line <= 0 {
		return
	}
	c := slices.Index(statusCodes, s)
	if c < 0 {
		return
	}
	if line >= len(o.codes) {
		o.codes = slices.Grow(o.codes, line+1-len(o.codes))[:line+1]
	}
	o.codes[line] = byte(c)
}

func (o *outcomeLog) get(line int) (Status, bool) {
	if line <= 0 || line >= len(o.codes) || o.codes[line] == 0 {
		return "", false
	}
	return statusCodes[o.codes[line]], true
}
