package batch

import (
	"cmp"
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

// servedElsewhere is how many users in a row that a lane was refused (403) and another lane of
// the same tenant then served it takes to drop the lane: evidence about the lane itself, since
// the same users were served with another app's permission.
const servedElsewhere = 3

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
	refused   int // users in a row this lane was refused and another lane served; reset by a success
	// probing counts users this lane was refused that another lane is trying now. While any
	// is out the lane takes no new work: what comes back decides whether it was the users or
	// the lane, and a lane that lost its permission must not refuse envelope after envelope
	// meanwhile. clear is closed whenever probing is zero.
	probing int
	clear   chan struct{}
	dropped atomic.Pointer[string]
}

// awaitProbe waits until no user this lane was refused is being tried on another lane.
func (l *lane) awaitProbe(ctx context.Context) {
	l.mu.Lock()
	ch := l.clear
	l.mu.Unlock()
	if ch == nil {
		return
	}
	select {
	case <-ch:
	case <-ctx.Done():
	}
}

// probe notes that users refused by l are being tried elsewhere.
func (l *lane) probe(n int) {
	l.mu.Lock()
	if l.probing == 0 {
		l.clear = make(chan struct{})
	}
	l.probing += n
	l.mu.Unlock()
}

// unprobe settles the probe of a user refused by another lane, whatever its answer was.
func (e *engine) unprobe(it *item) {
	x := it.probing
	if x == nil {
		return
	}
	it.probing = nil
	x.mu.Lock()
	x.probing--
	if x.probing == 0 && x.clear != nil {
		close(x.clear)
		x.clear = nil
	}
	x.mu.Unlock()
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
			// Graph, or under suspicion, leaves the tenant's envelopes to its other lanes.
			l.awaitProbe(e.workCtx)
			_ = e.holdAuth(l)
			_, _ = l.pace.acquire(e.workCtx, cl, float64(e.cfg.BatchSize), e.cfg.Concurrency, false, nil)
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
	if items = e.commit(items); len(items) == 0 {
		return
	}
	if err := e.holdAuth(l); err != nil && e.runCtx.Err() != nil {
		e.abandonAll(items)
		return
	}
	n := float64(len(items))
	tk, err := l.pace.acquire(e.runCtx, cl, n, e.cfg.Concurrency, true, func(d time.Duration) bool {
		return e.sooner(l, cl, n, d)
	})
	if errors.Is(err, errHandedBack) {
		e.requeue(items)
		return
	}
	if err != nil {
		e.abandonAll(items)
		return
	}
	steps := make([]Step, len(items))
	byID := make(map[string]*item, len(items))
	var changes []Change
	attempt := 0 // for -v: the highest of its users' attempts, as the report's attempts column counts them
	for i, it := range items {
		it.res.Attempts++
		attempt = max(attempt, it.res.Attempts)
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
	if err := e.beforeRemove(items); err != nil {
		l.pace.settle(tk, outcome{envelope: true})
		e.fail(writeError("recording the methods about to be removed", err))
		e.abandonAll(items)
		return
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
	l.mu.Unlock()
	seq := e.sendSeq.Add(1)
	for _, it := range items {
		it.prevSeq, it.sentSeq = it.sentSeq, seq
	}
	sentAt := e.cfg.Clock.Now()
	reqCtx, cancel := context.WithTimeout(e.sendCtx, e.cfg.Timeout)
	env, err := l.Client.Send(reqCtx, crid, steps)
	cancel()
	rtt := e.cfg.Clock.Now().Sub(sentAt)
	logEnvelope(e.cfg.Logger, l.App, cmp.Or(l.TenantID, l.Tenant), attempt, crid, steps, env, err, e.cfg.Clock.Now())
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
		if sr.Status >= 200 && sr.Status < 300 {
			// Evidence for the 5xx rule: another user's step of this tenant succeeded in an
			// envelope sent this late.
			for {
				old := l.t.okSeq.Load()
				if old >= seq || l.t.okSeq.CompareAndSwap(old, seq) {
					break
				}
			}
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

	var retry []pendingRetry
	var elsewhere []*item
	for _, sr := range env.Steps {
		it := byID[sr.ID]
		if it == nil {
			continue // an id we did not send; nothing to attribute it to
		}
		delete(byID, sr.ID)
		if sr.Status == http.StatusForbidden && e.tryElsewhere(l, it) {
			elsewhere = append(elsewhere, it)
			continue
		}
		if w, again := e.answer(l, it, sr, crid, env.RequestID, o.retryAfter); again {
			retry = append(retry, pendingRetry{it, w})
		}
	}
	e.sendElsewhere(l, cl, elsewhere)
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
	now := e.cfg.Clock.Now()
	for _, m := range l.pace.settle(tk, o) {
		e.noteWait(m.q, now, m.until)
	}
}

// errHandedBack is acquire's answer when an envelope is better sent by another lane.
var errHandedBack = errors.New("handed back to the tenant's other lanes")

// sooner reports whether another lane of l's tenant could send n steps of class cl
// handBackAfter sooner than the wait d that lane l's quotas ask. The lane's workers check for
// room before they take an envelope, but several take one at the same moment, and the last may
// find the quota spent: held for a window's length while the tenant's other lanes run dry
// (a pool on a trailing window ended a whole window late). Its envelope goes back to the
// tenant's queue, which the other lanes' workers take from; l's own take from it again only
// when it has room.
func (e *engine) sooner(l *lane, cl class, n float64, d time.Duration) bool {
	for _, x := range l.t.lanes {
		if x != l && x.dropped.Load() == nil && x.pace.wouldWait(cl, n)+handBackAfter <= d {
			return true
		}
	}
	return false
}

// commit takes the users of an envelope about to leave past the point where an earlier line
// naming the same user could take them over (claimLocked); those already taken over are
// reported as that line's duplicates instead of being sent. It returns what is left to send.
func (e *engine) commit(items []*item) []*item {
	var taken []*item
	keep := items[:0:0]
	e.mu.Lock()
	for _, it := range items {
		if it.parent == nil && it.stage != stLookup {
			if e.commitLocked(it) != 0 {
				taken = append(taken, it)
				continue
			}
		}
		keep = append(keep, it)
	}
	e.mu.Unlock()
	for _, it := range taken {
		e.finalizeAsDuplicate(it, it.dupOf)
	}
	// A user's object is its own from here: its confirmation may leave, alongside its other
	// steps.
	for _, it := range keep {
		if it.parent == nil && it.stage != stLookup {
			e.askConfirm(it)
		}
	}
	return keep
}

// tryElsewhere decides whether a user's 403 on lane l is tried on another lane of the same
// tenant instead of standing. A 403 is the user's own answer unless there is evidence about
// the lane: it was dropped while the step was on its way, or its token's claims lack the
// permission the step needs (then it is dropped now). Otherwise, in a tenant with another lane,
// the user is tried once on another app before the 403 stands: if that app serves it, the
// refusal counts against this lane (servedBy).
func (e *engine) tryElsewhere(l *lane, it *item) bool {
	if it.parent == nil && it.stage == stDevice {
		return false
	}
	op := e.step(it, "").Op
	if l.dropped.Load() == nil {
		if why, lacks := l.lacks(e.runCtx, op); lacks {
			e.drop(l, why)
		}
	}
	other := e.otherLane(l)
	switch {
	case other == nil:
		return false
	case l.dropped.Load() != nil:
		return true // the lane's fault, not the user's: no try is used up
	case it.refusedBy == nil || it.refusedBy == l:
		it.refusedBy = l
		return true
	}
	return false // refused by two apps: the 403 is the user's
}

// otherLane is a lane of l's tenant other than l still in the run, or nil.
func (e *engine) otherLane(l *lane) *lane {
	for _, x := range l.t.lanes {
		if x != l && x.dropped.Load() == nil {
			return x
		}
	}
	return nil
}

// sendElsewhere hands users that lane l was refused for to another lane of their tenant at once,
// as one envelope, so that the second opinion comes from a different app.
func (e *engine) sendElsewhere(l *lane, cl class, items []*item) {
	if len(items) == 0 {
		return
	}
	other := e.otherLane(l)
	if other == nil {
		e.requeue(items) // every other lane went meanwhile: the tenant's queue settles them
		return
	}
	if l.dropped.Load() == nil {
		for _, it := range items {
			e.unprobe(it)
			it.probing = l
		}
		l.probe(len(items))
	}
	go func() {
		e.send(other, cl, items)
		if err := e.sink.Flush(); err != nil {
			e.fail(writeError("writing the report", err))
		}
	}()
}

// servedBy records that lane l served a user's step. A user another lane was refused counts
// against that lane; enough of them in a row, and no success of its own in between, drop it.
func (e *engine) servedBy(l *lane, it *item) {
	l.mu.Lock()
	l.refused = 0
	l.mu.Unlock()
	x := it.refusedBy
	it.refusedBy = nil
	if x == nil || x == l {
		return
	}
	x.mu.Lock()
	x.refused++
	n := x.refused
	x.mu.Unlock()
	if n >= servedElsewhere {
		e.drop(x, fmt.Sprintf("Graph refused it (HTTP 403) %d users in a row that %s then served: it has lost its permission in this tenant",
			n, l.name()))
	}
}

// othersServed reports whether a user's 503 is the user's own failure rather than a throttle:
// other users' steps of the same tenant succeeded in an envelope sent after this user's
// previous attempt (the same envelope included), or the user is the last of its tenant in
// progress, so that no answer to anyone else can ever tell (a 503 for ever must still end).
func (e *engine) othersServed(it *item) bool {
	return it.t.okSeq.Load() > it.prevSeq || (e.produced.Load() && len(it.t.slots) <= 1)
}

// answer applies one step's response. It returns a wait and true when the step must be sent
// again.
func (e *engine) answer(l *lane, it *item, sr StepResponse, crid, envRequestID string, gate time.Duration) (time.Duration, bool) {
	it.sentSome = false
	if it.probing != l {
		e.unprobe(it)
	}
	r := e.base(it)
	r.HTTP = sr.Status
	r.ClientRequestID = crid
	r.RequestID = sr.Headers["request-id"]
	if r.RequestID == "" {
		r.RequestID = envRequestID
	}
	a := stepAnswer(sr, e.cfg.Clock.Now())
	v := CheckRetry(a)
	if v == Done {
		e.servedBy(l, it)
		e.settled(it, sr, r)
		return 0, false
	}
	r.Code, r.Message = graphError(sr.Body)
	if r.Code == "" {
		r.Code = httpCode(sr.Status)
	}
	if v == Throttled && sr.Status != http.StatusTooManyRequests && e.othersServed(it) {
		// A 503 that other users of the tenant are not getting: this user's own failure.
		v = Transient
	}
	switch v {
	case Throttled:
		if sr.Status == http.StatusTooManyRequests {
			atomic.AddInt64(&e.stats.Throttled, 1)
		}
		// Throttling is Graph asking for time, not a failure: it never uses up an attempt.
		it.last = r
		if !a.HasRetryAfter {
			return max(gate, e.backoff(1)), true
		}
		return a.RetryAfter, true
	case Transient:
		wait := time.Duration(-1)
		if a.HasRetryAfter {
			wait = a.RetryAfter
		}
		return e.failed(it, r, wait)
	}
	e.settled(it, sr, r) // Final, and a step refused for the token (Graph answers that for the envelope)
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
	o := outcome{envelope: true, rtt: rtt}
	for _, it := range items {
		if it.probing != l {
			e.unprobe(it)
		}
	}
	a := envelopeAnswer(err)
	v := CheckRetry(a)
	wait := time.Duration(-1)
	if a.HasRetryAfter {
		wait = a.RetryAfter
	}
	var ee *EnvelopeError
	switch {
	case errors.As(err, &ee):
		r.HTTP, r.Code, r.Message, r.RequestID = ee.Status, ee.Code, ee.Message, ee.RequestID
		if r.Code == "" {
			r.Code = httpCode(ee.Status)
		}
	case a.NoToken:
		r.Code, r.Message = "token", err.Error()
	default:
		r.Code, r.Message = "network", err.Error()
		// The envelope left and no answer came back: Graph may have done it.
		for _, it := range items {
			it.sentSome = true
		}
	}
	switch v {
	case Throttled:
		if a.Status == http.StatusTooManyRequests {
			atomic.AddInt64(&e.stats.Throttled, 1)
			if wait < 0 {
				wait = e.backoff(1)
			}
			o.retryAfter = wait
		}
	case Refused:
		e.authFailed(l, err, authEpoch)
	}
	// An envelope throttled or refused for its token uses up no user's attempt; one Graph
	// refused for good fails every user in it; a fault counts an attempt of each.
	counts, again := v == Transient, v != Final
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
