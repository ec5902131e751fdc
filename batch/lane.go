package batch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// ErrUnauthorized is returned by Run when Graph keeps refusing the token (HTTP 401) or no token
// can be had, for every lane: carrying on would only fail every remaining user the same way.
var ErrUnauthorized = errors.New("graph refuses the access token")

// maxAuthFails is how many envelopes in a row may be refused for the token before a lane is
// given up: one can be a token expiring in flight, several mean the credential is wrong.
const maxAuthFails = 3

// deniedEnvelopes is how many envelopes in a row, every step answered 403, make a lane of a
// multi-lane run count as having lost its permission (its users then go to the other lanes).
const deniedEnvelopes = 3

// deniedWait is how long such answers are held when nothing else tells.
const deniedWait = 30 * time.Second

// heldAnswer is a 403 kept back while it is unclear whether the user or the lane was refused.
type heldAnswer struct {
	it        *item
	sr        StepResponse
	crid, rid string
}

// lane is one app signed in to one tenant, with its pacer and health.
type lane struct {
	Lane
	t     *tenant
	pace  *pacer
	multi bool // other lanes exist: losing this one is not fatal

	mu        sync.Mutex
	notBefore time.Time // auth backoff
	authFails int
	authEpoch uint64
	denied    int          // envelopes in a row with every step 403
	held      []heldAnswer // those envelopes' answers, until we know whether it was the lane
	heldGen   int          // bumped whenever held is emptied
	heldSince uint64       // envelopes sent when the first of held was answered
	sends     uint64       // envelopes handed to the client so far, for their send order
	dropped   atomic.Pointer[string]
}

func (l *lane) base() string {
	if r, ok := l.Client.(interface{ Base() string }); ok {
		return r.Base()
	}
	return ""
}

func (l *lane) name() string {
	switch {
	case l.App != "" && l.Tenant != "":
		return "app " + l.App + " in tenant " + l.Tenant
	case l.App != "":
		return "app " + l.App
	case l.Tenant != "":
		return "tenant " + l.Tenant
	}
	return "the sign-in"
}

// drop takes a lane out of the run; its tenant's users go to the tenant's other lanes, or are
// denied when none is left.
func (e *engine) drop(l *lane, why string) {
	msg := l.name() + ": " + why
	if !l.dropped.CompareAndSwap(nil, &msg) {
		return
	}
	e.cfg.Logger.Warn("dropping a sign-in from the run", "lane", l.name(), "reason", why)
	if l.t.alive.Add(-1) == 0 {
		for _, q := range l.t.queues {
			close(q.dead)
		}
	}
}

// worker sends envelopes of one class for one lane until its queue closes.
func (e *engine) worker(l *lane, cl class) {
	q := l.t.queues[cl]
	for {
		if l.dropped.Load() == nil && e.workCtx.Err() == nil {
			// Wait until this lane could send before taking work, so that a lane held back by
			// Graph leaves the tenant's envelopes to its other lanes.
			_ = e.holdAuth(l)
			_, _ = l.pace.acquire(e.workCtx, cl, float64(e.cfg.BatchSize), e.cfg.Concurrency, false)
		}
		items, ok := <-q.work
		if !ok {
			return
		}
		if l.dropped.Load() != nil {
			// Hand the envelope back for the tenant's other lanes, and leave them the queue.
			e.requeue(items)
			return
		}
		e.send(l, cl, items)
		if err := e.sink.Flush(); err != nil {
			e.fail(writeError("writing the report", err))
		}
	}
}

// requeue hands items back to their queue, counting nothing against them.
func (e *engine) requeue(items []*item) {
	byQueue := map[*queue][]*item{}
	for _, it := range items {
		q := it.t.queues[it.stage.class()]
		byQueue[q] = append(byQueue[q], it)
	}
	for q, its := range byQueue {
		go func() { q.in <- its }()
	}
}

// holdAuth waits out the lane's backoff after a refused token.
func (e *engine) holdAuth(l *lane) error {
	l.mu.Lock()
	d := l.notBefore.Sub(e.cfg.Clock.Now())
	l.mu.Unlock()
	if d > 0 {
		return e.cfg.Clock.Sleep(e.workCtx, d)
	}
	return nil
}

// send makes one attempt at an envelope and sends each item on: to its next step, a retry, or
// the report.
func (e *engine) send(l *lane, cl class, items []*item) {
	if err := e.holdAuth(l); err != nil && e.runCtx.Err() != nil {
		e.abandonAll(items)
		return
	}
	tk, err := l.pace.acquire(e.runCtx, cl, float64(len(items)), e.cfg.Concurrency, true)
	if err != nil {
		e.abandonAll(items)
		return
	}
	steps := make([]Step, len(items))
	byID := make(map[string]*item, len(items))
	var changes []Change
	for i, it := range items {
		it.res.Attempts++
		if it.res.Attempts > 1 {
			atomic.AddInt64(&e.stats.Retries, 1)
		}
		id := strconv.Itoa(i + 1)
		steps[i] = e.step(it, id)
		byID[id] = it
		if c, ok := e.change(it); ok {
			changes = append(changes, c)
		}
	}
	if len(changes) > 0 && e.cfg.BeforeChange != nil {
		if err := e.cfg.BeforeChange(changes); err != nil {
			l.pace.settle(tk, outcome{envelope: true})
			e.fail(writeError("recording the changes about to be made", err))
			e.abandonAll(items)
			return
		}
	}
	crid := e.cfg.NewRequestID()
	atomic.AddInt64(&e.stats.Envelopes, 1)
	atomic.AddInt64(&e.stats.Steps, int64(len(steps)))

	l.mu.Lock()
	authEpoch := l.authEpoch
	l.sends++
	seq := l.sends
	l.mu.Unlock()
	sentAt := e.cfg.Clock.Now()
	reqCtx, cancel := context.WithTimeout(e.sendCtx, e.cfg.Timeout)
	env, err := l.Client.Send(reqCtx, crid, steps)
	cancel()
	rtt := e.cfg.Clock.Now().Sub(sentAt)
	if err != nil {
		e.envelopeFailed(l, tk, items, crid, err, authEpoch, rtt)
		return
	}
	l.mu.Lock()
	l.authFails = 0
	l.mu.Unlock()

	// Graph answers in any order; taking the answers in input order keeps runs repeatable.
	slices.SortFunc(env.Steps, func(a, b StepResponse) int { return cmpID(a.ID, b.ID) })
	o := outcome{rtt: rtt}
	denied := len(env.Steps) > 0
	for _, sr := range env.Steps {
		if sr.Status == http.StatusTooManyRequests {
			o.refused++
			if ra, ok := ParseRetryAfter(sr.Headers["retry-after"], e.cfg.Clock.Now()); ok {
				o.retryAfter = max(o.retryAfter, ra)
			}
			if s := sr.Headers["x-ms-throttle-scope"]; s != "" && o.scope == "" {
				o.scope = s
			}
		} else {
			o.ok++
		}
		if sr.Status != http.StatusForbidden {
			denied = false
		}
		if u, err := strconv.ParseFloat(sr.Headers["x-ms-throttle-limit-percentage"], 64); err == nil {
			o.usage = max(o.usage, u)
		}
	}
	if u, err := strconv.ParseFloat(env.Headers["x-ms-throttle-limit-percentage"], 64); err == nil {
		o.usage = max(o.usage, u)
	}
	if o.scope == "" {
		o.scope = env.Headers["x-ms-throttle-scope"]
	}
	if o.refused > 0 && o.retryAfter == 0 {
		o.retryAfter = e.backoff(1)
	}
	e.settlePace(l, tk, o)

	if l.multi && e.deniedStreak(l, byID, env, crid, seq, denied) {
		return
	}

	var retry []pendingRetry
	for _, sr := range env.Steps {
		it := byID[sr.ID]
		if it == nil {
			continue // an id we did not send; nothing to attribute it to
		}
		delete(byID, sr.ID)
		if w, again := e.answer(it, sr, crid, env.RequestID, o.retryAfter); again {
			retry = append(retry, pendingRetry{it, w})
		}
	}
	// Graph answered the envelope but skipped some steps: a transient failure.
	for _, it := range byID {
		r := e.base(it)
		r.Status, r.Code, r.ClientRequestID, r.RequestID = StatusFailed, "missing_response", crid, env.RequestID
		r.Message = "graph's batch response had no answer for this user"
		if w, again := e.failed(it, r, -1); again {
			retry = append(retry, pendingRetry{it, w})
		}
	}
	e.later(retry)
}

// settlePace hands an answer to the pacer and counts any wait it imposed.
func (e *engine) settlePace(l *lane, tk *ticket, o outcome) {
	before := map[*quota]time.Time{}
	for _, q := range l.pace.paths[tk.class] {
		before[q] = q.gateAt(l.pace.c)
	}
	l.pace.settle(tk, o)
	if o.refused == 0 && !(o.envelope && o.retryAfter > 0) {
		return
	}
	now := e.cfg.Clock.Now()
	for _, q := range l.pace.paths[tk.class] {
		if g := q.gateAt(l.pace.c); g.After(before[q]) {
			e.noteWait(q, now, g)
		}
	}
}

// deniedStreak holds the answers of an envelope whose every step Graph answered 403, in a run
// with other lanes: after a few such envelopes in a row the lane has lost its permission, and
// those users go to the other lanes instead of being reported denied. Only an answer to an
// envelope sent after the first held 403 came back can say it was the users: one sent earlier
// may have passed Graph's permission check before the consent went, since requests overtake
// each other on the way and answers arrive in any order. It reports whether it took the
// envelope.
func (e *engine) deniedStreak(l *lane, byID map[string]*item, env *Envelope, crid string, seq uint64, denied bool) bool {
	if denied && l.dropped.Load() != nil {
		// The lane was dropped for exactly this while the envelope was on its way: its users
		// go to the tenant's other lanes at once.
		var items []*item
		for _, sr := range env.Steps {
			if it := byID[sr.ID]; it != nil {
				items = append(items, it)
			}
		}
		e.requeue(items)
		return true
	}
	// settle takes the held answers (of generation gen, when gen >= 0) and lets them stand:
	// their 403s are final.
	settle := func(gen int) {
		l.mu.Lock()
		if gen >= 0 && l.heldGen != gen {
			l.mu.Unlock()
			return
		}
		held := l.held
		l.held, l.denied = nil, 0
		l.heldGen++
		l.mu.Unlock()
		for _, h := range held {
			e.answer(h.it, h.sr, h.crid, h.rid, 0)
		}
	}
	if !denied {
		l.mu.Lock()
		older := len(l.held) > 0 && seq <= l.heldSince
		l.mu.Unlock()
		if !older {
			// It was the users after all.
			settle(-1)
		}
		return false
	}
	l.mu.Lock()
	l.denied++
	if len(l.held) == 0 {
		l.heldSince = l.sends
		// If no further answer of this lane settles the question (the run may be at its end),
		// the answers stand as they are after a while.
		gen := l.heldGen
		go func() {
			_ = e.cfg.Clock.Sleep(e.runCtx, deniedWait)
			settle(gen)
		}()
	}
	for _, sr := range env.Steps {
		if it := byID[sr.ID]; it != nil {
			l.held = append(l.held, heldAnswer{it, sr, crid, env.RequestID})
		}
	}
	n, held := l.denied, l.held
	if n >= deniedEnvelopes {
		l.held, l.denied = nil, 0
		l.heldGen++
	}
	l.mu.Unlock()
	if n >= deniedEnvelopes {
		e.drop(l, "Graph answered 403 to every user of "+strconv.Itoa(n)+" requests in a row: the app seems to lack the permission in this tenant")
		items := make([]*item, len(held))
		for i, h := range held {
			items[i] = h.it
		}
		e.requeue(items)
	}
	return true
}

// answer applies one step's response. It returns a wait and true when the step must be sent
// again.
func (e *engine) answer(it *item, sr StepResponse, crid, envRequestID string, gate time.Duration) (time.Duration, bool) {
	r := e.base(it)
	r.HTTP = sr.Status
	r.ClientRequestID = crid
	r.RequestID = sr.Headers["request-id"]
	if r.RequestID == "" {
		r.RequestID = envRequestID
	}
	if sr.Status >= 200 && sr.Status < 300 {
		e.settled(it, sr, r)
		return 0, false
	}
	r.Code, r.Message = graphError(sr.Body)
	if r.Code == "" {
		r.Code = httpCode(sr.Status)
	}
	ra, hasRA := ParseRetryAfter(sr.Headers["retry-after"], e.cfg.Clock.Now())
	switch {
	case sr.Status == http.StatusTooManyRequests:
		atomic.AddInt64(&e.stats.Throttled, 1)
		// Throttling is Graph asking for time, not a failure: it never uses up an attempt.
		it.last = r
		if !hasRA {
			ra = max(gate, e.backoff(1))
		}
		return ra, true
	case sr.Status == http.StatusServiceUnavailable && hasRA:
		it.last = r
		return ra, true
	case retryable(sr.Status):
		if !hasRA {
			ra = -1
		}
		return e.failed(it, r, ra)
	}
	e.settled(it, sr, r)
	return 0, false
}

// failed counts a failed attempt of an item's step: it is retried after wait (a backoff when
// negative) while attempts remain, else settled as failed.
func (e *engine) failed(it *item, r Result, wait time.Duration) (time.Duration, bool) {
	it.failures++
	it.last = r
	if it.failures < e.cfg.MaxAttempts {
		if wait < 0 {
			wait = e.backoff(it.failures)
		}
		return wait, true
	}
	r.Status = StatusFailed
	r.Message = fmt.Sprintf("giving up after %d failed attempt(s): %s", it.failures, describe(r))
	e.settled(it, StepResponse{Status: r.HTTP}, r)
	return 0, false
}

// envelopeFailed handles an envelope Graph did not accept as a whole: every item shares the fate.
func (e *engine) envelopeFailed(l *lane, tk *ticket, items []*item, crid string, err error, authEpoch uint64, rtt time.Duration) {
	var r Result
	wait := time.Duration(-1)
	counts, again := true, true
	var ee *EnvelopeError
	var ae *AuthError
	o := outcome{envelope: true, rtt: rtt}
	switch {
	case errors.As(err, &ee):
		r.HTTP, r.Code, r.Message, r.RequestID = ee.Status, ee.Code, ee.Message, ee.RequestID
		if r.Code == "" {
			r.Code = httpCode(ee.Status)
		}
		wait = ee.RetryAfter
		switch {
		case ee.Status == http.StatusTooManyRequests:
			atomic.AddInt64(&e.stats.Throttled, 1)
			counts = false
			if wait < 0 {
				wait = e.backoff(1)
			}
			o.retryAfter = wait
		case ee.Status == http.StatusServiceUnavailable && wait >= 0:
			counts = false
		case ee.Status == http.StatusUnauthorized:
			e.authFailed(l, err, authEpoch)
			counts = false
		case !retryable(ee.Status):
			again = false
		}
	case errors.As(err, &ae):
		r.Code, r.Message = "token", ae.Error()
		e.authFailed(l, err, authEpoch)
		counts = false
	default:
		r.Code, r.Message = "network", err.Error()
	}
	e.settlePace(l, tk, o)
	e.cfg.Logger.Warn("batch request failed", "client_request_id", crid, "users", len(items), "error", err)

	var retry []pendingRetry
	for _, it := range items {
		res := e.base(it)
		res.HTTP, res.Code, res.Message, res.RequestID, res.ClientRequestID = r.HTTP, r.Code, r.Message, r.RequestID, crid
		res.Status = StatusFailed
		switch {
		case !again:
			e.settled(it, StepResponse{Status: r.HTTP}, res)
		case !counts:
			it.last = res
			w := wait
			if w < 0 {
				w = e.backoff(1)
			}
			retry = append(retry, pendingRetry{it, w})
		default:
			if w, ok := e.failed(it, res, wait); ok {
				retry = append(retry, pendingRetry{it, w})
			}
		}
	}
	if l.dropped.Load() != nil {
		// The lane is gone; its users go to the tenant's other lanes at once.
		var now []*item
		for _, p := range retry {
			now = append(now, p.it)
		}
		e.requeue(now)
		return
	}
	e.later(retry)
}

// authFailed counts an auth failure of an envelope sent in authEpoch. Envelopes sent alongside
// one already counted add nothing: at full concurrency a token source down for a moment would
// otherwise fail several at once. After a counted failure the lane holds off for a backoff, so
// that "in a row" spans time.
func (e *engine) authFailed(l *lane, err error, sent uint64) {
	l.mu.Lock()
	if sent != l.authEpoch {
		l.mu.Unlock()
		return
	}
	l.authEpoch++
	l.authFails++
	n := l.authFails
	if until := e.cfg.Clock.Now().Add(e.backoff(n)); until.After(l.notBefore) {
		l.notBefore = until
	}
	l.mu.Unlock()
	if n != maxAuthFails {
		// Once is enough: later refusals of envelopes already on their way say nothing new.
		return
	}
	if l.multi {
		e.drop(l, fmt.Sprintf("%d requests in a row were refused: %v", n, err))
		alive := 0
		for _, x := range e.lanes {
			if x.dropped.Load() == nil {
				alive++
			}
		}
		if alive > 0 {
			return
		}
	}
	e.fail(fmt.Errorf("%w: %d requests in a row were refused: %v", ErrUnauthorized, n, err))
}

func httpCode(status int) string { return "HTTP" + strconv.Itoa(status) }

func (e *engine) base(it *item) Result {
	r := Result{Line: it.row.Line, Input: it.row.Input, Attempts: it.res.Attempts, At: e.cfg.Clock.Now(), TenantID: it.res.TenantID}
	fillKey(&r, it.row)
	if it.parent != nil {
		r.UserID, r.UPN = "", ""
	}
	return r
}

func cmpID(a, b string) int {
	x, errA := strconv.Atoi(a)
	y, errB := strconv.Atoi(b)
	if errA != nil || errB != nil {
		switch {
		case a < b:
			return -1
		case a > b:
			return 1
		}
		return 0
	}
	return x - y
}
