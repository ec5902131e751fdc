package batch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
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

// Sink receives every final Result. Write may be called from several goroutines; Flush is
// called after each envelope so that what Graph did is on disk before the next envelope leaves.
type Sink interface {
	Write(rs ...Result) error
	Flush() error
}

// Config tunes a run. The zero value of every field means its documented default.
type Config struct {
	Op          Op
	BatchSize   int           // steps per envelope, 1..20; default 20
	Concurrency int           // envelopes in flight; default 4
	Rate        rate.Limit    // steps per second; default DefaultWriteRate for revokes, DefaultReadRate for reads
	Burst       int           // limiter burst in steps; default DefaultWriteBurst / DefaultReadBurst
	MaxAttempts int           // requests per user before giving up; default 8
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
}

// Defaults, from Graph's identity throttling limits for one app in one tenant: 3,000 writes per
// 150 s (20/s sustained), with the whole 3,000 usable as a burst after an idle period, and at
// least 3,500 resource units per 10 s, of which a GET with $select costs one.
const (
	DefaultWriteRate  rate.Limit = 20
	DefaultWriteBurst            = 3000
	DefaultReadRate   rate.Limit = 300
	DefaultReadBurst             = 1000
)

// Stats counts what a run sent and what Graph pushed back.
type Stats struct {
	Envelopes int64 // $batch requests sent
	Steps     int64 // steps sent, retries included
	Throttled int64 // 429 answers seen, step or envelope
	Retries   int64 // steps sent again
}

func (c *Config) withDefaults() Config {
	d := *c
	if d.BatchSize <= 0 || d.BatchSize > MaxBatchSize {
		d.BatchSize = MaxBatchSize
	}
	if d.Concurrency <= 0 {
		d.Concurrency = 4
	}
	if d.Rate <= 0 {
		d.Rate = DefaultWriteRate
		if !d.Op.Write() {
			d.Rate = DefaultReadRate
		}
	}
	if d.Burst <= 0 {
		d.Burst = DefaultWriteBurst
		if !d.Op.Write() {
			d.Burst = DefaultReadBurst
		}
	}
	if d.Burst < d.BatchSize {
		d.Burst = d.BatchSize
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
	return d
}

// item is a row on its way through Graph, with what its last attempt taught us.
type item struct {
	row      Row
	attempts int
	last     Result // the last failure, for the report when attempts run out
}

// message is what workers and retry timers tell the scheduler.
type message struct {
	retry    []*item // items due for another attempt now
	finished bool    // an envelope has been fully handled
	sleepers int     // with finished: retry timers the worker started
}

type engine struct {
	cfg    Config
	client Client
	sink   Sink
	lim    *rate.Limiter
	stats  Stats

	mu        sync.Mutex
	notBefore time.Time // no envelope leaves before this: set by 429s, shared by every worker
	authFails int       // consecutive envelopes refused for auth

	resolved map[string]int // lookups: object id -> first line that resolved to it

	// near is set while Graph reports the quota nearly spent; envelopes then go one at a time
	// (serial holds the turn), so that at the quota's edge one envelope learns of a 429, not
	// every envelope in flight.
	near   atomic.Bool
	serial chan struct{}

	fatalOnce sync.Once
	fatal     error
	stop      context.CancelFunc
}

// Run sends every row of src through Graph and writes exactly one Result per row to sink.
// Per-user failures are Results, not errors. Run returns an error only when the run cannot go
// on: the sink fails, the input cannot be read, or Graph refuses the credentials (ErrUnauthorized).
// When ctx is cancelled Run stops sending, lets envelopes already in flight finish for up to
// cfg.Grace, reports every other row as not_attempted and returns ctx's error.
func Run(ctx context.Context, cfg Config, src Source, client Client, sink Sink) (Stats, error) {
	c := cfg.withDefaults()
	e := &engine{
		cfg:    c,
		client: client,
		sink:   sink,
		lim:    rate.NewLimiter(c.Rate, c.Burst),

		resolved: map[string]int{},
		serial:   make(chan struct{}, 1),
	}
	// The limiter starts full: Graph's quota is a window, so an idle app may spend its whole
	// burst at once. Reading the time from our clock keeps a scaled clock consistent.
	e.lim.SetBurstAt(c.Clock.Now(), c.Burst)

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	e.stop = stop
	// In-flight requests outlive a cancellation by the grace period, so that Graph's answer to
	// a revoke that already left is recorded rather than guessed.
	sendCtx, cancelSend := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSend()
	go func() {
		select {
		case <-runCtx.Done():
			_ = c.Clock.Sleep(sendCtx, c.Grace)
			cancelSend()
		case <-sendCtx.Done():
		}
	}()

	fresh := make(chan Row, 4*MaxBatchSize*c.Concurrency)
	work := make(chan []*item)
	msgs := make(chan message)

	var wg sync.WaitGroup
	wg.Go(func() { e.produce(src, fresh) })
	for range c.Concurrency {
		wg.Go(func() { e.worker(runCtx, sendCtx, work, msgs) })
	}
	e.schedule(runCtx, fresh, work, msgs)
	wg.Wait()

	if err := sink.Flush(); err != nil {
		e.fail(fmt.Errorf("writing the report: %w", err))
	}
	st := Stats{
		Envelopes: atomic.LoadInt64(&e.stats.Envelopes),
		Steps:     atomic.LoadInt64(&e.stats.Steps),
		Throttled: atomic.LoadInt64(&e.stats.Throttled),
		Retries:   atomic.LoadInt64(&e.stats.Retries),
	}
	if e.fatal != nil {
		return st, e.fatal
	}
	return st, ctx.Err()
}

// fail records the first fatal error and stops the run.
func (e *engine) fail(err error) {
	e.fatalOnce.Do(func() {
		e.fatal = err
		e.stop()
	})
}

func (e *engine) write(rs ...Result) {
	if len(rs) == 0 {
		return
	}
	if err := e.sink.Write(rs...); err != nil {
		e.fail(fmt.Errorf("writing the report: %w", err))
	}
}

// produce reads every input row. Rows that need no Graph call are answered here; the rest go to
// the scheduler. It never stops early: after a cancellation the scheduler still needs every row
// to report it as not_attempted.
func (e *engine) produce(src Source, fresh chan<- Row) {
	defer close(fresh)
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
		fresh <- row
	}
}

// direct answers the rows that never reach Graph.
func (e *engine) direct(row Row) (Result, bool) {
	r := Result{Line: row.Line, Input: row.Input, At: e.cfg.Clock.Now()}
	switch {
	case row.Kind == KindInvalid:
		r.Status, r.Code, r.Message = StatusInvalid, "invalid_input", row.Reason
		return r, true
	case row.DupOf > 0:
		r.Status, r.Code = StatusDuplicate, "duplicate_input"
		r.Message = "same user as line " + strconv.Itoa(row.DupOf)
		return r, true
	case e.cfg.Skip != nil:
		return e.cfg.Skip(row)
	}
	return r, false
}

// schedule packs rows into envelopes, retries first, and hands them to the workers. It is the
// only goroutine that owns the queues, so they need no lock; it ends when every row has been
// handed to the sink.
func (e *engine) schedule(ctx context.Context, fresh <-chan Row, work chan<- []*item, msgs <-chan message) {
	defer close(work)
	var ready []*item // retries whose wait is over, oldest first
	var pending []*item
	outstanding := 0 // envelopes with workers plus retry timers running
	stopping := false

	take := func(m message) {
		if m.finished {
			outstanding += m.sleepers - 1
		} else {
			outstanding--
		}
		ready = append(ready, m.retry...)
	}
	for {
		if !stopping && ctx.Err() != nil {
			stopping = true
		}
		if stopping {
			e.write(e.abandon(append(pending, ready...))...)
			pending, ready = nil, nil
		}
		for !stopping && len(pending) < e.cfg.BatchSize && len(ready) > 0 {
			pending = append(pending, ready[0])
			ready = ready[1:]
		}
		// Fill from the input without waiting: the reader is far faster than Graph, and a
		// partial envelope beats an idle worker.
	fill:
		for fresh != nil && len(pending) < e.cfg.BatchSize {
			select {
			case row, ok := <-fresh:
				if !ok {
					fresh = nil
					break fill
				}
				pending = append(pending, &item{row: row})
				if stopping {
					e.write(e.abandon(pending)...)
					pending = nil
				}
			default:
				break fill
			}
		}
		if fresh == nil && len(pending) == 0 && len(ready) == 0 && outstanding == 0 {
			return
		}

		var out chan<- []*item
		if len(pending) > 0 && !stopping {
			out = work
		}
		var in <-chan Row
		if len(pending) < e.cfg.BatchSize {
			in = fresh
		}
		var done <-chan struct{}
		if !stopping {
			done = ctx.Done()
		}
		select {
		case out <- pending:
			outstanding++
			pending = nil
		case row, ok := <-in:
			if !ok {
				fresh = nil
				continue
			}
			pending = append(pending, &item{row: row})
		case m := <-msgs:
			take(m)
		case <-done:
		}
	}
}

// abandon reports items that will not be sent because the run is stopping.
func (e *engine) abandon(items []*item) []Result {
	rs := make([]Result, 0, len(items))
	for _, it := range items {
		r := e.base(it)
		r.Status = StatusNotAttempted
		r.Code = "interrupted"
		r.Message = "the run stopped before this user was sent"
		if it.attempts > 0 {
			r.HTTP, r.RequestID = it.last.HTTP, it.last.RequestID
			r.Message = "the run stopped before this user's retry was sent; last answer: " + describe(it.last)
		}
		rs = append(rs, r)
	}
	return rs
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

func (e *engine) base(it *item) Result {
	r := Result{Line: it.row.Line, Input: it.row.Input, Attempts: it.attempts, At: e.cfg.Clock.Now()}
	switch it.row.Kind {
	case KindObjectID:
		r.UserID = it.row.Key
	case KindUPN:
		r.UPN = it.row.Key
	}
	return r
}

func (e *engine) worker(ctx, sendCtx context.Context, work <-chan []*item, msgs chan<- message) {
	for items := range work {
		final, retry := e.send(ctx, sendCtx, items)
		e.write(final...)
		if err := e.sink.Flush(); err != nil {
			e.fail(fmt.Errorf("writing the report: %w", err))
		}
		groups := e.retryGroups(retry)
		msgs <- message{finished: true, sleepers: len(groups)}
		for due, g := range groups {
			go func() {
				// A cancelled wait still hands the items back: the scheduler reports them.
				_ = e.cfg.Clock.Sleep(ctx, due)
				msgs <- message{retry: g}
			}()
		}
	}
}

// retryGroups buckets items by how long they must wait, so one timer serves a whole envelope.
func (e *engine) retryGroups(retry []pendingRetry) map[time.Duration][]*item {
	if len(retry) == 0 {
		return nil
	}
	groups := make(map[time.Duration][]*item)
	now := e.cfg.Clock.Now()
	for _, r := range retry {
		d := r.wait
		if gate := e.gate().Sub(now); gate > d {
			d = gate
		}
		d = d.Round(time.Millisecond)
		groups[d] = append(groups[d], r.it)
	}
	return groups
}

type pendingRetry struct {
	it   *item
	wait time.Duration
}

func (e *engine) gate() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.notBefore
}

// throttled makes every worker hold off until now+d: Graph's quota is shared by the whole app,
// so one refused request means the next ones would be refused too, and Graph charges them anyway.
func (e *engine) throttled(d time.Duration) {
	until := e.cfg.Clock.Now().Add(d)
	e.mu.Lock()
	if until.After(e.notBefore) {
		e.notBefore = until
	}
	e.mu.Unlock()
}

// wait holds a worker until the shared throttling gate opens and the limiter grants n steps.
// The gate is checked again after the limiter's wait: a 429 that arrived meanwhile must hold
// back this envelope too, or it would be charged and refused like the one before it.
func (e *engine) wait(ctx context.Context, n int) error {
	reserved := false
	for {
		if d := e.gate().Sub(e.cfg.Clock.Now()); d > 0 {
			if err := e.cfg.Clock.Sleep(ctx, d); err != nil {
				return err
			}
			continue
		}
		if reserved {
			return nil
		}
		now := e.cfg.Clock.Now()
		r := e.lim.ReserveN(now, n)
		if !r.OK() {
			return fmt.Errorf("an envelope of %d steps exceeds the limiter's burst", n)
		}
		if err := e.cfg.Clock.Sleep(ctx, r.DelayFrom(now)); err != nil {
			r.CancelAt(e.cfg.Clock.Now())
			return err
		}
		reserved = true
	}
}

// send makes one attempt at an envelope and sorts its items into final results and retries.
func (e *engine) send(ctx, sendCtx context.Context, items []*item) ([]Result, []pendingRetry) {
	if e.near.Load() {
		select {
		case e.serial <- struct{}{}:
			defer func() { <-e.serial }()
		case <-ctx.Done():
			return e.abandon(items), nil
		}
	}
	if err := e.wait(ctx, len(items)); err != nil {
		if ctx.Err() == nil {
			e.fail(err)
		}
		return e.abandon(items), nil
	}
	steps := make([]Step, len(items))
	byID := make(map[string]*item, len(items))
	for i, it := range items {
		it.attempts++
		if it.attempts > 1 {
			atomic.AddInt64(&e.stats.Retries, 1)
		}
		id := strconv.Itoa(i + 1)
		steps[i] = Step{ID: id, Op: e.cfg.Op, Key: it.row.Key}
		byID[id] = it
	}
	crid := e.cfg.NewRequestID()
	atomic.AddInt64(&e.stats.Envelopes, 1)
	atomic.AddInt64(&e.stats.Steps, int64(len(steps)))

	reqCtx, cancel := context.WithTimeout(sendCtx, e.cfg.Timeout)
	env, err := e.client.Send(reqCtx, crid, steps)
	cancel()
	if err != nil {
		return e.envelopeFailed(items, crid, err)
	}
	e.mu.Lock()
	e.authFails = 0
	e.mu.Unlock()

	// Graph answers in any order; taking the answers in input order makes "which of two rows
	// naming one user is the duplicate" the same on every run of the same list.
	slices.SortFunc(env.Steps, func(a, b StepResponse) int { return cmpID(a.ID, b.ID) })
	e.watchQuota(env.Steps)
	var final []Result
	var retry []pendingRetry
	for _, sr := range env.Steps {
		it := byID[sr.ID]
		if it == nil {
			continue // an id we did not send; nothing to attribute it to
		}
		delete(byID, sr.ID)
		r, wait, again := e.classify(it, sr, crid, env.RequestID)
		if again && it.attempts < e.cfg.MaxAttempts {
			it.last = r
			retry = append(retry, pendingRetry{it, wait})
			continue
		}
		if again {
			r = e.givenUp(it, r)
		}
		final = append(final, r)
	}
	// Graph answered the envelope but skipped some steps: treat them as a transient failure.
	for _, it := range byID {
		r := e.base(it)
		r.Status, r.Code, r.ClientRequestID, r.RequestID = StatusFailed, "missing_response", crid, env.RequestID
		r.Message = "graph's batch response had no answer for this user"
		if it.attempts < e.cfg.MaxAttempts {
			it.last = r
			retry = append(retry, pendingRetry{it, e.backoff(it.attempts)})
			continue
		}
		final = append(final, e.givenUp(it, r))
	}
	return final, retry
}

func (e *engine) givenUp(it *item, r Result) Result {
	r.Status = StatusFailed
	r.Message = fmt.Sprintf("giving up after %d attempt(s): %s", it.attempts, describe(r))
	return r
}

// envelopeFailed handles an envelope Graph did not accept as a whole: every item shares the fate.
func (e *engine) envelopeFailed(items []*item, crid string, err error) ([]Result, []pendingRetry) {
	var r Result
	wait := time.Duration(-1)
	again := true
	var ee *EnvelopeError
	var ae *AuthError
	switch {
	case errors.As(err, &ee):
		r.HTTP, r.Code, r.Message, r.RequestID = ee.Status, ee.Code, ee.Message, ee.RequestID
		if r.Code == "" {
			r.Code = httpCode(ee.Status)
		}
		wait = ee.RetryAfter
		switch {
		case ee.Status == 429:
			atomic.AddInt64(&e.stats.Throttled, 1)
			e.near.Store(true)
			if wait < 0 {
				wait = e.backoff(items[0].attempts)
			}
			e.throttled(wait)
		case ee.Status == 401:
			e.authFailed(err)
		case !retryable(ee.Status):
			again = false
		}
	case errors.As(err, &ae):
		r.Code, r.Message = "token", ae.Error()
		e.authFailed(err)
	default:
		r.Code, r.Message = "network", err.Error()
	}
	e.cfg.Logger.Warn("batch request failed", "client_request_id", crid, "users", len(items), "error", err)

	var final []Result
	var retry []pendingRetry
	for _, it := range items {
		res := e.base(it)
		res.HTTP, res.Code, res.Message, res.RequestID, res.ClientRequestID = r.HTTP, r.Code, r.Message, r.RequestID, crid
		res.Status = StatusFailed
		if again && it.attempts < e.cfg.MaxAttempts {
			it.last = res
			w := wait
			if w < 0 {
				w = e.backoff(it.attempts)
			}
			retry = append(retry, pendingRetry{it, w})
			continue
		}
		if again {
			res = e.givenUp(it, res)
		}
		final = append(final, res)
	}
	return final, retry
}

// Graph adds x-ms-throttle-limit-percentage to answers once an app has used 80% of a limit
// (1.0 = throttling starts). Above nearOn the engine sends one envelope at a time; below
// nearOff it goes back to full concurrency. At Graph's sustained write rate one envelope a
// second is all the quota allows anyway, so serialising there costs nothing.
const (
	nearOn  = 0.9
	nearOff = 0.8
)

func (e *engine) watchQuota(steps []StepResponse) {
	usage := 0.0
	for _, sr := range steps {
		if sr.Status == 429 {
			usage = max(usage, 1)
		}
		if v, err := strconv.ParseFloat(sr.Headers["x-ms-throttle-limit-percentage"], 64); err == nil {
			usage = max(usage, v)
		}
	}
	switch {
	case usage >= nearOn:
		e.near.Store(true)
	case usage < nearOff:
		e.near.Store(false)
	}
}

// maxAuthFails is how many envelopes in a row may be refused for the token before the run is
// stopped: one can be a token expiring in flight, several mean the credential is wrong.
const maxAuthFails = 3

func (e *engine) authFailed(err error) {
	e.mu.Lock()
	e.authFails++
	n := e.authFails
	e.mu.Unlock()
	if n >= maxAuthFails {
		e.fail(fmt.Errorf("%w: %d requests in a row were refused: %v", ErrUnauthorized, n, err))
	}
}

func httpCode(status int) string { return "HTTP" + strconv.Itoa(status) }

// classify turns one step response into a final Result, or into a retry after wait.
func (e *engine) classify(it *item, sr StepResponse, crid, envRequestID string) (r Result, wait time.Duration, again bool) {
	r = e.base(it)
	r.HTTP = sr.Status
	r.ClientRequestID = crid
	r.RequestID = sr.Headers["request-id"]
	if r.RequestID == "" {
		r.RequestID = envRequestID
	}
	if sr.Status >= 200 && sr.Status < 300 {
		e.succeeded(&r, sr.Body)
		return r, 0, false
	}
	r.Code, r.Message = graphError(sr.Body)
	if r.Code == "" {
		r.Code = httpCode(sr.Status)
	}
	switch {
	case sr.Status == 404:
		r.Status = StatusNotFound
	case sr.Status == 403:
		r.Status = StatusDenied
	case retryable(sr.Status):
		r.Status = StatusFailed
		ra, ok := ParseRetryAfter(sr.Headers["retry-after"], e.cfg.Clock.Now())
		if !ok {
			ra = e.backoff(it.attempts)
		}
		if sr.Status == 429 {
			atomic.AddInt64(&e.stats.Throttled, 1)
			e.throttled(ra)
		}
		return r, ra, true
	default:
		r.Status = StatusFailed
	}
	return r, 0, false
}

// succeeded fills a 2xx result. Graph documents 204 for a revoke but sends 200 with a boolean
// body; neither the body nor its value decides anything.
func (e *engine) succeeded(r *Result, body map[string]any) {
	switch e.cfg.Op {
	case OpRevoke:
		r.Status = StatusRevoked
	case OpLookup, OpVerify:
		r.Status = StatusWouldRevoke
		if s, ok := body["id"].(string); ok {
			r.UserID = s
		}
		if s, ok := body["userPrincipalName"].(string); ok {
			r.UPN = s
		}
		if s, ok := body["displayName"].(string); ok {
			r.DisplayName = s
		}
		if s, ok := body["userType"].(string); ok {
			r.UserType = s
		}
		if b, ok := body["accountEnabled"].(bool); ok {
			r.AccountEnabled = &b
		}
		if s, ok := body["signInSessionsValidFromDateTime"].(string); ok {
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
				r.SessionsValidFrom = t
			}
		}
	}
	r.Note = notes(*r)
	if e.cfg.Op == OpLookup && r.UserID != "" {
		e.mu.Lock()
		first, seen := e.resolved[strings.ToLower(r.UserID)]
		if !seen {
			e.resolved[strings.ToLower(r.UserID)] = r.Line
		}
		e.mu.Unlock()
		if seen {
			r.Status, r.Code = StatusDuplicate, "duplicate_user"
			r.Message = "same user as line " + strconv.Itoa(first) + " (both resolve to object " + r.UserID + ")"
		}
	}
}

func cmpID(a, b string) int {
	x, errA := strconv.Atoi(a)
	y, errB := strconv.Atoi(b)
	if errA != nil || errB != nil {
		return strings.Compare(a, b)
	}
	return x - y
}

// notes flags what an admin must know about a user beyond the status.
func notes(r Result) string {
	var n []string
	if strings.EqualFold(r.UserType, "Guest") || strings.Contains(strings.ToUpper(r.UPN), "#EXT#") {
		n = append(n, "guest: only sessions with this tenant are revoked, not those in the user's home tenant")
	}
	if r.AccountEnabled != nil && !*r.AccountEnabled {
		n = append(n, "account disabled")
	}
	return strings.Join(n, "; ")
}

// backoff is the wait before attempt n+1 when Graph named none: exponential from BaseBackoff,
// capped at MaxBackoff, with jitter so that retries from many envelopes do not arrive together.
func (e *engine) backoff(attempts int) time.Duration {
	d := e.cfg.BaseBackoff
	for i := 1; i < attempts && d < e.cfg.MaxBackoff; i++ {
		d *= 2
	}
	if d > e.cfg.MaxBackoff {
		d = e.cfg.MaxBackoff
	}
	return d/2 + rand.N(d/2+1)
}
