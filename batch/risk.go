package batch

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
)

// --confirm-compromised: Identity Protection's confirmCompromised marks users compromised,
// many object ids a call. It is a step of each user's plan, but not a $batch step: the tenant
// allows one call a second for all apps together, so a tenant's users are gathered into calls
// by one riskQueue per tenant while their other steps go on. A user's row waits for its answer
// as it waits for its devices.

// riskPath is the call, relative to the versioned root.
const riskPath = "/identityProtection/riskyUsers/confirmCompromised"

// RiskConfirmer is a Client that can also confirm users compromised in Identity Protection, in
// one call outside $batch. Its errors are those of Client.Send: an *EnvelopeError for Graph's
// error status, an *AuthError when no token could be had, any other error for the transport.
type RiskConfirmer interface {
	ConfirmCompromised(ctx context.Context, clientRequestID string, userIDs []string) error
}

const (
	// RiskMaxIDs is how many ids a call starts with: the most per call is not documented for
	// v1.0 (beta's dismiss takes 60). A 400 that names the count halves it.
	RiskMaxIDs = 60
	// riskInterval is Identity Protection's documented pace: one request a second per tenant,
	// for every app. A call leaves a whole interval after the previous one's answer came back,
	// so that the tenant never sees two within a second, whatever the latency.
	riskInterval = time.Second
	// riskLinger is how long a call waits for more ids once it has some: at one call a
	// second, waiting that long costs nothing and fills calls.
	riskLinger = time.Second
)

// riskQueue gathers one tenant's users for confirmCompromised.
type riskQueue struct {
	t       *tenant
	mu      sync.Mutex
	pending []*item
	since   time.Time     // when the oldest pending user came
	wake    chan struct{} // a user came
	denied  string        // the tenant refused the call itself (403): every user gets this
	stopped string        // the loop has ended: users coming later get this
	warned  bool
}

// p2Error is a row's risk_confirmed_error when the tenant refused confirmCompromised 403. The call names
// the whole tenant's users at once, so the refusal is the tenant's (no Entra ID P2) or the
// app's (no IdentityRiskyUser.ReadWrite.All), never one user's.
func p2Error(graph string) string {
	return "not confirmed: the tenant refused confirmCompromised (" + graph + "): it needs Entra ID P2 in the tenant and the application permission IdentityRiskyUser.ReadWrite.All (the user's other steps went on)"
}

// askConfirm hands a user whose object is now its own (commit) to its tenant's risk queue,
// once. Only the worker holding the item calls it.
func (e *engine) askConfirm(it *item) {
	p := e.cfg.Plan
	if !p.Confirm || p.DryRun || it.parent != nil || it.riskAsked {
		return
	}
	kind, id, _ := Classify(it.res.UserID)
	e.mu.Lock()
	it.riskAsked = true
	switch {
	case it.row.ConfirmDone:
		t := true
		it.riskOK, it.riskErr = &t, ""
		it.riskNote = "confirmed compromised by the run being resumed"
		e.mu.Unlock()
		return
	case kind != KindObjectID:
		f := false
		it.riskOK, it.riskErr = &f, "not confirmed: the user's object id is unknown (the user could not be read)"
		e.mu.Unlock()
		return
	}
	it.children++
	e.mu.Unlock()
	e.live.Add(1)
	it.riskID = id
	it.t.risk.add(e, it)
}

// add queues a user, or answers it at once when the tenant refused the call or the loop ended.
func (q *riskQueue) add(e *engine, it *item) {
	q.mu.Lock()
	why := cmp.Or(q.denied, q.stopped)
	status := 0
	if q.denied != "" {
		status = http.StatusForbidden
	}
	if why == "" {
		if len(q.pending) == 0 {
			q.since = e.cfg.Clock.Now()
		}
		q.pending = append(q.pending, it)
	}
	q.mu.Unlock()
	if why != "" {
		e.confirmed(it, false, status, why)
		return
	}
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take removes up to n users from the front of the queue.
func (q *riskQueue) take(n int) []*item {
	q.mu.Lock()
	defer q.mu.Unlock()
	n = min(n, len(q.pending))
	out := append([]*item(nil), q.pending[:n]...)
	q.pending = q.pending[n:]
	return out
}

// putBack returns users of a call to be sent again to the front of the queue.
func (q *riskQueue) putBack(its []*item, now time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.pending = append(append([]*item(nil), its...), q.pending...)
	q.since = now.Add(-riskLinger) // due at once, paced by the interval
}

// end answers every queued user, and every later one, with why; it reports whether it was the
// first to deny.
func (q *riskQueue) end(e *engine, why string, denied bool) bool {
	q.mu.Lock()
	first := false
	if denied {
		first = !q.warned
		q.warned, q.denied = true, why
	} else if q.stopped == "" {
		q.stopped = why
	}
	its := q.pending
	q.pending = nil
	q.mu.Unlock()
	status := 0
	if denied {
		status = http.StatusForbidden
	}
	for _, it := range its {
		e.confirmed(it, false, status, why)
	}
	return first
}

// confirmed records a user's confirmation outcome: whether it was made, Graph's status for the
// call that settled it (0 when none did) and, when not made, why; the row is written once its
// own steps are done too.
func (e *engine) confirmed(it *item, ok bool, status int, why string) {
	e.mu.Lock()
	it.riskOK, it.riskHTTP, it.riskErr = &ok, status, why
	it.children--
	last := it.children == 0 && it.settled
	e.mu.Unlock()
	e.live.Done()
	if last {
		e.finish(it)
	}
}

// withRisk puts a user's confirmation outcome on its row.
func (e *engine) withRisk(it *item, r *Result) {
	if !e.cfg.Plan.Confirm || e.cfg.Plan.DryRun || it.parent != nil {
		return
	}
	e.mu.Lock()
	ok, status, why, note, asked := it.riskOK, it.riskHTTP, it.riskErr, it.riskNote, it.riskAsked
	e.mu.Unlock()
	switch {
	case ok != nil:
		r.RiskConfirmed, r.RiskHTTP, r.RiskError = ok, status, why
		r.Note = joinNote(r.Note, note)
	case asked:
		f := false
		r.RiskConfirmed = &f
		r.RiskError = "not confirmed: the run stopped before Identity Protection answered; it may have been done (--resume confirms it again)"
	}
}

// riskLane is the first lane of the tenant still in the run that can make the call and has not
// been refused it.
func (e *engine) riskLane(t *tenant, refused map[*lane]bool) (*lane, RiskConfirmer) {
	for _, l := range t.lanes {
		if rc, ok := l.Client.(RiskConfirmer); ok && l.dropped.Load() == nil && !refused[l] {
			return l, rc
		}
	}
	return nil, nil
}

// confirmLoop sends a tenant's confirmCompromised calls until the run's work ends: at most
// one a second, each with as many ids as the tenant takes, throttling waited out with a
// backoff of its own (these 429s carry no Retry-After).
func (e *engine) confirmLoop(q *riskQueue) {
	clock := e.cfg.Clock
	st := riskState{size: RiskMaxIDs, refused: map[*lane]bool{}}
	var next time.Time // no call before this
	for {
		if e.runCtx.Err() != nil {
			q.end(e, "not confirmed: the run stopped before this user's confirmation was sent (--resume confirms it)", false)
			return
		}
		q.mu.Lock()
		n, since := len(q.pending), q.since
		q.mu.Unlock()
		if n == 0 {
			select {
			case <-q.wake:
				continue
			case <-e.workCtx.Done():
				q.end(e, "not confirmed: the run stopped before this user's confirmation was sent (--resume confirms it)", false)
				return
			}
		}
		now := clock.Now()
		due := since.Add(riskLinger)
		if n >= st.size {
			due = now
		}
		if due.Before(next) {
			due = next
		}
		if d := due.Sub(now); d > 0 {
			e.sleepOrWake(q.wake, d)
			continue
		}
		its := q.take(st.size)
		l, rc := e.riskLane(q.t, st.refused)
		if rc == nil {
			for _, it := range its {
				e.confirmed(it, false, 0, "not confirmed: no app signed in to this tenant is left to call Identity Protection")
			}
			continue
		}
		ids := make([]string, len(its))
		for i, it := range its {
			ids[i] = it.riskID
		}
		crid := e.cfg.NewRequestID()
		atomic.AddInt64(&e.stats.RiskCalls, 1)
		reqCtx, cancel := context.WithTimeout(e.sendCtx, e.cfg.Timeout)
		err := rc.ConfirmCompromised(reqCtx, crid, ids)
		cancel()
		now = clock.Now()
		a := Answer{Status: http.StatusNoContent}
		if err != nil {
			a = envelopeAnswer(err)
		}
		e.cfg.Logger.Debug("confirmCompromised", "client_request_id", crid, "users", len(ids), "status", a.Status,
			"app", l.App, "tenant", cmp.Or(l.TenantID, l.Tenant), "throttled", st.throttled, "failures", st.failures)
		next = now.Add(e.riskAnswered(q, l, &st, its, a, err, now))
		// What Graph did is on disk before the next call leaves, as after every envelope: the
		// rows that waited for this answer are written now.
		if err := e.sink.Flush(); err != nil {
			e.fail(writeError("writing the report", err))
		}
	}
}

// riskState is what a tenant's calls have taught so far.
type riskState struct {
	size      int // ids per call
	throttled int // 429s in a row
	failures  int // faults in a row
	// refused holds the tenant's apps that were answered 403: in an app pool one app may lack
	// the permission another has.
	refused map[*lane]bool
}

// riskAnswered settles a call's users by CheckRetry's verdict on Graph's answer (those to send
// again go back to the queue) and returns how long the next call must wait.
func (e *engine) riskAnswered(q *riskQueue, l *lane, st *riskState, its []*item, a Answer, err error, now time.Time) time.Duration {
	v := CheckRetry(a)
	if v == Done {
		st.throttled, st.failures = 0, 0
		for _, it := range its {
			e.confirmed(it, true, a.Status, "")
		}
		return riskInterval
	}
	r := riskFailure(err)
	settle := func(why string) {
		for _, it := range its {
			e.confirmed(it, false, a.Status, why)
		}
	}
	switch {
	case v == Throttled:
		// Throttling is the tenant asking for time, shared with every app: it uses up no
		// attempt, and the wait grows while it lasts.
		st.throttled++
		if a.Status == http.StatusTooManyRequests {
			atomic.AddInt64(&e.stats.Throttled, 1)
		}
		wait := max(riskInterval, Backoff(2*riskInterval, max(e.cfg.MaxBackoff, 2*riskInterval), st.throttled))
		if a.HasRetryAfter {
			wait = max(riskInterval, a.RetryAfter)
		}
		e.noteWait(q, now, now.Add(wait))
		q.putBack(its, now)
		return wait
	case v == Transient || v == Refused:
		st.failures++
		if st.failures < e.cfg.MaxAttempts {
			q.putBack(its, now)
			return max(riskInterval, e.backoff(st.failures))
		}
		settle("not confirmed: giving up after " + strconv.Itoa(st.failures) + " failed attempt(s): " + describe(r))
		st.failures = 0
	case a.Status == http.StatusForbidden && e.otherRiskLane(q.t, l, st):
		// Another app of the tenant has not been asked: the permission is the app's, and only
		// every app refused says it is the tenant's.
		e.cfg.Logger.Debug("confirmCompromised refused (HTTP 403): asking another app of the tenant", "app", l.App)
		q.putBack(its, now)
	case a.Status == http.StatusForbidden:
		why := p2Error(describe(r))
		settle(why)
		if q.end(e, why, true) {
			name := cmp.Or(q.t.id, q.t.name)
			e.cfg.Logger.Warn("Identity Protection refused to confirm users compromised: that step is skipped for every user of the tenant; their other steps go on",
				"tenant", name, "answer", describe(r), "needs", "Entra ID P2 and IdentityRiskyUser.ReadWrite.All")
			e.riskMu.Lock()
			e.stats.RiskDenied = append(e.stats.RiskDenied, cmp.Or(name, "the run's tenant")+": "+describe(r))
			e.riskMu.Unlock()
		}
	case a.Status == http.StatusBadRequest && len(its) > 1 && namesCount(r.Message, len(its)):
		st.size = len(its) / 2
		e.cfg.Logger.Debug("confirmCompromised refused the number of ids: halving", "ids", len(its), "now", st.size)
		q.putBack(its, now)
	default:
		settle("not confirmed: " + describe(r))
	}
	return riskInterval
}

// otherRiskLane records that lane l was refused the call and reports whether another lane of
// the tenant may still make it.
func (e *engine) otherRiskLane(t *tenant, l *lane, st *riskState) bool {
	st.refused[l] = true
	other, _ := e.riskLane(t, st.refused)
	return other != nil
}

// riskFailure is what a failed call says, in a row's terms.
func riskFailure(err error) Result {
	var r Result
	var ee *EnvelopeError
	var ae *AuthError
	switch {
	case errors.As(err, &ee):
		r.HTTP, r.Code, r.Message = ee.Status, cmp.Or(ee.Code, httpCode(ee.Status)), ee.Message
	case errors.As(err, &ae):
		r.Code, r.Message = "token", err.Error()
	default:
		r.Code, r.Message = "network", err.Error()
	}
	return r
}

// namesCount reports whether a 400's message is about how many ids the call carried: it names
// the count, or says there were too many. The wording is not documented.
func namesCount(msg string, n int) bool {
	for _, f := range strings.FieldsFunc(msg, func(r rune) bool { return !unicode.IsDigit(r) }) {
		if f == strconv.Itoa(n) {
			return true
		}
	}
	m := strings.ToLower(msg)
	return strings.Contains(m, "too many") || strings.Contains(m, "exceed") || strings.Contains(m, "maximum")
}

// sleepOrWake sleeps for d, or until wake fires or the run stops.
func (e *engine) sleepOrWake(wake <-chan struct{}, d time.Duration) {
	ctx, cancel := context.WithCancel(e.runCtx)
	defer cancel()
	go func() {
		select {
		case <-wake:
		case <-ctx.Done():
		}
		cancel()
	}()
	_ = e.cfg.Clock.Sleep(ctx, d)
}
