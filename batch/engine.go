package batch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
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
// least 3,500 resource units per 10 s, of which a GET with $select costs one. How the engine
// holds that pace is explained with the pacer, below.
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
	pace   *pacer
	stats  Stats
	// inFlight counts steps sent and not yet answered: Graph has charged or will charge them,
	// whatever it last told us about its quota.
	inFlight atomic.Int64

	mu        sync.Mutex
	notBefore time.Time // no envelope leaves before this: set by 429s, shared by every worker
	authFails int       // consecutive envelopes refused for auth
	// authEpoch counts the auth failures that authFails counted. Envelopes in flight together
	// share one token and one fate: only the first of them to fail counts.
	authEpoch uint64

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
		pace:   newPacer(c.Rate, c.Burst, c.Clock.Now()),

		resolved: map[string]int{},
		serial:   make(chan struct{}, 1),
	}
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

	fresh := make(chan []Row, 4*c.Concurrency)
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
// the scheduler in chunks of a whole envelope, so that a reader that happens to lag a moment
// never makes the scheduler send half-empty envelopes. It never stops early: after a
// cancellation the scheduler still needs every row to report it as not_attempted.
func (e *engine) produce(src Source, fresh chan<- []Row) {
	defer close(fresh)
	var chunk []Row
	defer func() {
		if len(chunk) > 0 {
			fresh <- chunk
		}
	}()
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
		chunk = append(chunk, row)
		if len(chunk) == e.cfg.BatchSize {
			fresh <- chunk
			chunk = nil
		}
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
func (e *engine) schedule(ctx context.Context, fresh <-chan []Row, work chan<- []*item, msgs <-chan message) {
	defer close(work)
	var ready []*item // retries whose wait is over, oldest first
	var queue []*item // input rows not yet packed
	var pending []*item
	outstanding := 0 // envelopes with workers plus retry timers running
	stopping := false
	size := e.cfg.BatchSize

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
			e.write(e.abandon(slices.Concat(pending, ready, queue))...)
			pending, ready, queue = nil, nil, nil
		}
		for len(pending) < size && len(ready) > 0 {
			pending, ready = append(pending, ready[0]), ready[1:]
		}
		for len(pending) < size && len(queue) > 0 {
			pending, queue = append(pending, queue[0]), queue[1:]
		}
		if fresh == nil && len(pending) == 0 && outstanding == 0 {
			return
		}

		var out chan<- []*item
		if len(pending) > 0 && !stopping {
			out = work
		}
		var in <-chan []Row
		if len(queue) < size {
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
		case rows, ok := <-in:
			if !ok {
				fresh = nil
				continue
			}
			for _, row := range rows {
				queue = append(queue, &item{row: row})
			}
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

// retryGroups buckets items by how long they must wait, so that one timer serves them and they
// come back as one envelope: waits up to twice the shortest in a group (and at least 250 ms
// more) share the group's longest wait. Backoffs are jittered over a factor of two; without
// this the users of one envelope would each come back alone, as envelopes of one user.
func (e *engine) retryGroups(retry []pendingRetry) map[time.Duration][]*item {
	if len(retry) == 0 {
		return nil
	}
	now := e.cfg.Clock.Now()
	gate := e.gate().Sub(now)
	for i := range retry {
		retry[i].wait = max(retry[i].wait, gate)
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

func (e *engine) gate() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.notBefore
}

// throttled makes every worker hold off until now+d: Graph's quota is shared by the whole app,
// so one refused request means the next ones would be refused too, and Graph charges them anyway.
// The pacer is drained to match: when the gate opens, Graph has room for about one step.
func (e *engine) throttled(d time.Duration) {
	now := e.cfg.Clock.Now()
	until := now.Add(d)
	e.mu.Lock()
	if until.After(e.notBefore) {
		e.notBefore = until
	}
	e.mu.Unlock()
	e.pace.drain(now, d)
}

// paceSlice bounds one wait for the pacer, so that a worker notices a gate set or tokens raised
// while it waited instead of sleeping through either.
const paceSlice = 100 * time.Millisecond

// wait holds a worker until the shared throttling gate is open and the pacer grants n steps,
// and returns the pacer's episode at that moment. Tokens are taken only when the envelope can
// leave, never reserved ahead: a 429 that arrives meanwhile must hold this envelope back too,
// or it would be charged and refused like the one before it.
func (e *engine) wait(ctx context.Context, n int) (uint64, error) {
	if n > e.pace.burst {
		return 0, fmt.Errorf("an envelope of %d steps exceeds the pacer's burst of %v", n, e.pace.burst)
	}
	for {
		if d := e.gate().Sub(e.cfg.Clock.Now()); d > 0 {
			if err := e.cfg.Clock.Sleep(ctx, d); err != nil {
				return 0, err
			}
			continue
		}
		d, episode := e.pace.take(e.cfg.Clock.Now(), n)
		if d == 0 {
			return episode, nil
		}
		if err := e.cfg.Clock.Sleep(ctx, min(d, paceSlice)); err != nil {
			return 0, err
		}
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
	episode, err := e.wait(ctx, len(items))
	if err != nil {
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

	e.mu.Lock()
	authEpoch := e.authEpoch
	e.mu.Unlock()
	e.inFlight.Add(int64(len(steps)))
	reqCtx, cancel := context.WithTimeout(sendCtx, e.cfg.Timeout)
	env, err := e.client.Send(reqCtx, crid, steps)
	cancel()
	e.inFlight.Add(-int64(len(steps)))
	if err != nil {
		if ee := (*EnvelopeError)(nil); errors.As(err, &ee) && ee.Status == 429 {
			e.pace.refused(e.cfg.Clock.Now(), episode)
		}
		return e.envelopeFailed(items, crid, err, authEpoch)
	}
	e.mu.Lock()
	e.authFails = 0
	e.mu.Unlock()

	// Graph answers in any order; taking the answers in input order makes "which of two rows
	// naming one user is the duplicate" the same on every run of the same list.
	slices.SortFunc(env.Steps, func(a, b StepResponse) int { return cmpID(a.ID, b.ID) })
	e.watchQuota(env.Steps, episode)
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
func (e *engine) envelopeFailed(items []*item, crid string, err error, authEpoch uint64) ([]Result, []pendingRetry) {
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
			e.authFailed(err, authEpoch)
		case !retryable(ee.Status):
			again = false
		}
	case errors.As(err, &ae):
		r.Code, r.Message = "token", ae.Error()
		e.authFailed(err, authEpoch)
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
// second is all the quota allows anyway, so serialising there costs nothing, and at the edge
// only one envelope's steps can be refused (and charged) before the engine hears of it.
const (
	nearOn  = 0.9
	nearOff = 0.8
)

func (e *engine) watchQuota(steps []StepResponse, episode uint64) {
	usage := 0.0
	refused, told := false, false
	for _, sr := range steps {
		if sr.Status == 429 {
			usage = max(usage, 1)
			refused = true
		}
		if v, err := strconv.ParseFloat(sr.Headers["x-ms-throttle-limit-percentage"], 64); err == nil {
			usage = max(usage, v)
			told = true
		}
	}
	switch {
	case usage >= nearOn:
		e.near.Store(true)
	case usage < nearOff:
		e.near.Store(false)
	}
	if refused {
		// Before the retries' gate is set by classify, so the drain uses the adjusted rate.
		e.pace.refused(e.cfg.Clock.Now(), episode)
		return
	}
	now := e.cfg.Clock.Now()
	if !told && len(steps) > 0 && !e.gate().After(now) {
		// No quota above 80%: at least a fifth of every limit is free, less what is in flight.
		e.pace.roomy(now, episode, int(e.inFlight.Load()))
	}
}

// maxAuthFails is how many envelopes in a row may be refused for the token before the run is
// stopped: one can be a token expiring in flight, several mean the credential is wrong.
const maxAuthFails = 3

// authFailed counts an auth failure of an envelope sent in authEpoch sent. Envelopes sent
// alongside one already counted add nothing: at full concurrency a token source down for a
// moment would otherwise fail several at once and stop the run. After a counted failure every
// worker holds off for a backoff, so that "in a row" spans time and fresh envelopes do not
// burn the remaining chances within milliseconds.
func (e *engine) authFailed(err error, sent uint64) {
	e.mu.Lock()
	if sent != e.authEpoch {
		e.mu.Unlock()
		return
	}
	e.authEpoch++
	e.authFails++
	n := e.authFails
	if until := e.cfg.Clock.Now().Add(e.backoff(n)); until.After(e.notBefore) {
		e.notBefore = until
	}
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

// Rate control: a design note.
//
// Graph's write quota for one app in one tenant is 3,000 per 150 s. Whether Graph refills it
// continuously (a token bucket) or counts a trailing window is not documented, so the engine
// assumes neither and steers by what Graph tells it:
//
//   - The pacer is a token bucket of Config.Burst steps (default 3,000) refilled at Config.Rate
//     (default 20/s) and starts full: an idle app may spend the whole quota at once under both
//     models, and for a breach the first 3,000 users out in seconds matter most. Afterwards it
//     holds the sustained rate. Steps are taken when the envelope leaves, never reserved ahead.
//   - Above 90% of a limit (x-ms-throttle-limit-percentage) envelopes go one at a time, so the
//     step that finds the quota empty is one of at most 20, not of 80 in flight.
//   - A 429 closes a gate for every worker until its Retry-After, and drains the pacer so that
//     it holds nothing when the gate opens. Graph computes Retry-After for one step and charges
//     refused steps: under a token bucket it has room for about one step at that moment, so the
//     20 tokens an undrained limiter would have saved meanwhile would be refused again, and the
//     storm would feed itself. Drained, the engine resumes at the sustained rate.
//   - The first 429 only aligns the pacer with Graph's count (it follows the initial burst, or
//     a latency draw that landed a step early). A later one to an envelope sent after the
//     previous 429 means the rate itself is too high, because something else in the tenant
//     takes part of the quota: the rate is cut by paceCut, then regrows by paceGrowth per second
//     up to Config.Rate. Cutting by a fifth and regrowing by a tenth of a step per second each
//     second keeps refused steps near one percent while using about 90% of what is left.
//   - An answer without x-ms-throttle-limit-percentage says every quota is below 80%: at least a
//     fifth of the limit is free, less the steps in flight. The pacer is raised to that and the
//     rate restored. This is how the engine reuses a trailing window as it empties, which a
//     fixed rate would waste, and how it notices that a competitor has gone.
//
// The defaults need no tuning for Graph's documented limits; --rate and a smaller burst exist
// for tenants where other tools must keep most of the quota.
const (
	paceCut    = 0.8 // rate factor after a 429 that pacing alone caused
	paceGrowth = 0.1 // steps per second gained per second without such a 429
	roomyShare = 0.2 // the share of a limit free when Graph sends no throttle percentage
)

// pacer is the engine's token bucket: an x/time/rate Limiter driven by our clock, plus the
// two moves Graph's answers call for that the Limiter has no single call for: draining it to a
// level (by reserving the difference, which the Limiter keeps as debt) and raising it (by
// starting a full Limiter and taking back what is not to be granted).
type pacer struct {
	mu      sync.Mutex
	lim     *rate.Limiter
	ceiling float64 // Config.Rate
	rate    float64 // current rate, at most ceiling
	floor   float64 // the least rate a run of cuts may reach
	burst   int
	last    time.Time // when rate last regrew
	// episode counts 429s that taught something: one to an envelope sent in an older episode
	// was already accounted for by the 429 that started the current one.
	episode uint64
}

func newPacer(r rate.Limit, burst int, now time.Time) *pacer {
	lim := rate.NewLimiter(r, burst)
	// Starts full: an idle app may spend its whole quota window at once.
	lim.SetBurstAt(now, burst)
	return &pacer{lim: lim, ceiling: float64(r), rate: float64(r), floor: float64(r) / 20, burst: burst, last: now}
}

// regrow lets a cut rate climb back towards the ceiling.
func (p *pacer) regrow(now time.Time) {
	dt := now.Sub(p.last).Seconds()
	if dt <= 0 {
		return
	}
	p.last = now
	if p.rate < p.ceiling {
		p.rate = min(p.ceiling, p.rate+paceGrowth*dt)
		p.lim.SetLimitAt(now, rate.Limit(p.rate))
	}
}

// take grants n steps now and returns 0, or returns how long until they could be granted.
// Nothing is reserved ahead: a worker that must wait asks again, so a 429 in between holds
// it back.
func (p *pacer) take(now time.Time, n int) (time.Duration, uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.regrow(now)
	if p.lim.AllowN(now, n) {
		return 0, p.episode
	}
	need := float64(n) - p.lim.TokensAt(now)
	return max(time.Millisecond, time.Duration(need/p.rate*float64(time.Second))), p.episode
}

// refused notes a 429 to an envelope sent in episode sent.
func (p *pacer) refused(now time.Time, sent uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if sent != p.episode {
		return
	}
	if p.episode > 0 {
		p.regrow(now)
		p.rate = max(p.floor, p.rate*paceCut)
		p.lim.SetLimitAt(now, rate.Limit(p.rate))
	}
	p.episode++
}

// drain empties the pacer so that it holds nothing until now+d.
func (p *pacer) drain(now time.Time, d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.regrow(now)
	excess := int(math.Ceil(p.lim.TokensAt(now) + p.rate*d.Seconds()))
	// A reservation may not exceed the burst, but the Limiter carries the debt of several.
	for excess > 0 {
		k := min(excess, p.burst)
		p.lim.ReserveN(now, k)
		excess -= k
	}
}

// roomy raises the pacer after an answer, to an envelope sent in episode sent, that reported no
// quota above 80%.
func (p *pacer) roomy(now time.Time, sent uint64, inFlight int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if sent != p.episode {
		return // a 429 since this envelope left says more than its silence
	}
	p.regrow(now)
	p.rate = p.ceiling
	want := min(float64(p.burst), roomyShare*float64(p.burst)-float64(inFlight))
	if have := p.lim.TokensAt(now); have >= want {
		p.lim.SetLimitAt(now, rate.Limit(p.rate))
		return
	}
	lim := rate.NewLimiter(rate.Limit(p.rate), p.burst)
	lim.SetBurstAt(now, p.burst)
	if keep := p.burst - int(want); keep > 0 {
		lim.ReserveN(now, keep)
	}
	p.lim = lim
}
