package graphsim

import (
	"math"
	"time"
)

// QuotaModel selects how graphsim accounts for Graph's throttling limits.
// Graph does not document its algorithm, so both plausible readings exist.
type QuotaModel int

const (
	// QuotaTokenBucket refills each limit continuously (limit/window per
	// second) up to the full limit, allowing a burst of one whole window.
	QuotaTokenBucket QuotaModel = iota
	// QuotaSlidingWindow admits a request when the charges of the trailing
	// window plus its own cost stay within the limit.
	QuotaSlidingWindow
	// QuotaOff never throttles.
	QuotaOff
)

// CompetingScope says which quotas another client's load draws from.
type CompetingScope int

const (
	// CompetingTenant is another app in the same tenant: it eats only the
	// tenant-wide write quota.
	CompetingTenant CompetingScope = iota
	// CompetingSameApp is another instance of the same app (same app id,
	// same tenant): it eats the app+tenant quotas as well.
	CompetingSameApp
)

// Competing is background load from a client graphsim does not see.
type Competing struct {
	WritesPerSecond float64 // in emulated time
	Scope           CompetingScope
}

// The limits of Graph's identity and access service (graph-notes.md).
const (
	appWriteLimit     = 3000
	appWriteWindow    = 150 * time.Second
	tenantWriteLimit  = 18000
	tenantWriteWindow = 5 * time.Minute
	ruWindow          = 10 * time.Second
)

// ruLimitFor picks the app+tenant resource-unit budget by tenant size.
func ruLimitFor(tenantSize int) float64 {
	switch {
	case tenantSize < 50:
		return 3500
	case tenantSize <= 500:
		return 5000
	default:
		return 8000
	}
}

// meter is one quota. Costs are charged even when refused, as Graph does.
type meter interface {
	// wait is how long until a request of cost c would be admitted.
	wait(now time.Time, c float64) time.Duration
	charge(now time.Time, c float64)
	// room is how much cost could be admitted now.
	room(now time.Time) float64
	// usage is the fraction of the limit in use (1.0 = throttling starts).
	usage(now time.Time) float64
}

// eps absorbs float rounding so a client that waits exactly Retry-After is
// admitted.
const eps = 1e-6

type tokenBucket struct {
	limit float64
	rate  float64 // per second
	level float64
	last  time.Time
}

func newTokenBucket(limit float64, window time.Duration, now time.Time) *tokenBucket {
	return &tokenBucket{limit: limit, rate: limit / window.Seconds(), level: limit, last: now}
}

func (b *tokenBucket) refill(now time.Time) {
	if now.After(b.last) {
		b.level = math.Min(b.limit, b.level+b.rate*now.Sub(b.last).Seconds())
		b.last = now
	}
}

func (b *tokenBucket) wait(now time.Time, c float64) time.Duration {
	b.refill(now)
	if b.level+eps >= c {
		return 0
	}
	return ceilDuration((c - b.level) / b.rate)
}

func (b *tokenBucket) charge(now time.Time, c float64) {
	b.refill(now)
	// Debt is capped at one window so a runaway client is punished for a
	// window, not forever.
	b.level = math.Max(b.level-c, -b.limit)
}

func (b *tokenBucket) room(now time.Time) float64 {
	b.refill(now)
	return math.Max(0, b.level)
}

func (b *tokenBucket) usage(now time.Time) float64 {
	b.refill(now)
	return (b.limit - b.level) / b.limit
}

type charge struct {
	at   time.Time
	cost float64
}

type slidingWindow struct {
	limit  float64
	window time.Duration
	events []charge
	sum    float64
}

func newSlidingWindow(limit float64, window time.Duration) *slidingWindow {
	return &slidingWindow{limit: limit, window: window}
}

// trim drops charges that have left the window: a charge at t counts while
// now < t+window.
func (w *slidingWindow) trim(now time.Time) {
	i := 0
	for i < len(w.events) && !now.Before(w.events[i].at.Add(w.window)) {
		w.sum -= w.events[i].cost
		i++
	}
	if i > 0 {
		w.events = append(w.events[:0], w.events[i:]...)
	}
	if len(w.events) == 0 {
		w.sum = 0
	}
}

func (w *slidingWindow) wait(now time.Time, c float64) time.Duration {
	w.trim(now)
	excess := w.sum + c - w.limit
	if excess <= eps {
		return 0
	}
	for _, e := range w.events {
		excess -= e.cost
		if excess <= eps {
			return e.at.Add(w.window).Sub(now)
		}
	}
	return w.window // c alone exceeds the limit; never happens with Graph's costs
}

func (w *slidingWindow) charge(now time.Time, c float64) {
	w.trim(now)
	w.events = append(w.events, charge{at: now, cost: c})
	w.sum += c
}

func (w *slidingWindow) room(now time.Time) float64 {
	w.trim(now)
	return math.Max(0, w.limit-w.sum)
}

func (w *slidingWindow) usage(now time.Time) float64 {
	w.trim(now)
	return w.sum / w.limit
}

func ceilDuration(seconds float64) time.Duration {
	return time.Duration(math.Ceil(seconds * float64(time.Second)))
}

// quota is one named limit, as reported in x-ms-throttle-scope.
type quota struct {
	scope string // e.g. Tenant_Application/Write/{app}/{tenant}
	info  string // x-ms-throttle-information
	m     meter
}

// throttle holds the limits that apply to the single app graphsim serves.
// Callers hold the server lock.
type throttle struct {
	ru, appWrite, tenantWrite *quota
	competing                 Competing
	lastCompete               time.Time
	competeCarry              float64
}

func newThrottle(model QuotaModel, tenantSize int, appID, tenantID string, comp Competing, now time.Time) *throttle {
	if model == QuotaOff {
		return nil
	}
	mk := func(limit float64, window time.Duration) meter {
		if model == QuotaSlidingWindow {
			return newSlidingWindow(limit, window)
		}
		return newTokenBucket(limit, window, now)
	}
	return &throttle{
		ru: &quota{scope: "Tenant_Application/ResourceUnit/" + appID + "/" + tenantID,
			info: "ResourceUnitLimitExceeded", m: mk(ruLimitFor(tenantSize), ruWindow)},
		appWrite: &quota{scope: "Tenant_Application/Write/" + appID + "/" + tenantID,
			info: "WriteLimitExceeded", m: mk(appWriteLimit, appWriteWindow)},
		tenantWrite: &quota{scope: "Tenant/Write/" + tenantID,
			info: "WriteLimitExceeded", m: mk(tenantWriteLimit, tenantWriteWindow)},
		competing:   comp,
		lastCompete: now,
	}
}

// verdict is the outcome of charging one step.
type verdict struct {
	wait  time.Duration // 0 = admitted
	by    *quota        // the quota that refused for longest
	usage float64       // highest usage fraction after charging
}

// admit evaluates and charges a step costing ru resource units and writes
// writes. floor is a time before which the step must be refused anyway (an
// early retry); the returned wait covers both.
func (t *throttle) admit(now time.Time, ru, writes float64, floor time.Time) verdict {
	if t == nil {
		v := verdict{}
		if now.Before(floor) {
			v.wait = floor.Sub(now)
		}
		return v
	}
	t.runCompeting(now)
	type need struct {
		q *quota
		c float64
	}
	needs := []need{{t.ru, ru}}
	if writes > 0 {
		needs = append(needs, need{t.appWrite, writes}, need{t.tenantWrite, writes})
	}
	refused := now.Before(floor)
	for _, n := range needs {
		if n.q.m.wait(now, n.c) > 0 {
			refused = true
		}
	}
	v := verdict{}
	for _, n := range needs {
		n.q.m.charge(now, n.c)
	}
	for _, n := range needs {
		v.usage = math.Max(v.usage, n.q.m.usage(now))
		if !refused {
			continue
		}
		// The wait is computed after charging: a client that then stays
		// quiet for exactly this long is admitted.
		if w := n.q.m.wait(now, n.c); w > v.wait {
			v.wait, v.by = w, n.q
		}
	}
	if refused {
		if v.by == nil {
			// Refused by the early-retry floor alone: name the app's own
			// quota for this kind of step.
			v.by = needs[min(1, len(needs)-1)].q
		}
		if f := floor.Sub(now); f > v.wait {
			v.wait = f
		}
		if v.wait <= 0 {
			// Refused only by the early-retry floor, which has just passed
			// within float rounding: still refuse, for the shortest time.
			v.wait = time.Millisecond
		}
	}
	return v
}

// runCompeting charges the background load accrued since the last call, in
// steps of about a second so token buckets refill between charges as they
// would have in reality.
func (t *throttle) runCompeting(now time.Time) {
	rate := t.competing.WritesPerSecond
	if rate <= 0 || !now.After(t.lastCompete) {
		t.lastCompete = maxTime(t.lastCompete, now)
		return
	}
	qs := []*quota{t.tenantWrite}
	if t.competing.Scope == CompetingSameApp {
		qs = append(qs, t.appWrite, t.ru)
	}
	from := t.lastCompete
	// Long idle gaps are walked in coarser steps to bound the work.
	step := max(time.Second, now.Sub(from)/10000)
	for from.Before(now) {
		to := from.Add(step)
		if to.After(now) {
			to = now
		}
		due := t.competeCarry + rate*to.Sub(from).Seconds()
		n := math.Floor(due)
		t.competeCarry = due - n
		// The other client is throttled too: it takes only what is free.
		for _, q := range qs {
			n = math.Min(n, math.Floor(q.m.room(to)))
		}
		if n > 0 {
			for _, q := range qs {
				q.m.charge(to, n)
			}
		}
		from = to
	}
	t.lastCompete = now
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
