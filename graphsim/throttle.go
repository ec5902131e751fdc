package graphsim

import (
	"math"
	"strconv"
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

func (m QuotaModel) String() string {
	switch m {
	case QuotaTokenBucket:
		return "token-bucket"
	case QuotaSlidingWindow:
		return "sliding-window"
	case QuotaOff:
		return "off"
	}
	return "QuotaModel(" + strconv.Itoa(int(m)) + ")"
}

// CompetingScope says which quotas another client's load draws from.
type CompetingScope int

const (
	// CompetingTenant is another app in the same tenant: it eats only the
	// tenant-wide write quota.
	CompetingTenant CompetingScope = iota
	// CompetingSameApp is another instance of the same app (same app id,
	// same tenant): it eats the app+tenant quotas, the tenant's and the
	// app's as well.
	CompetingSameApp
	// CompetingAppElsewhere is the same app working in other tenants: it
	// eats only the app-wide quotas.
	CompetingAppElsewhere
)

// Competing is background load from a client graphsim does not see.
type Competing struct {
	WritesPerSecond float64 // in emulated time
	Scope           CompetingScope
	// AppID and TenantID name the app and tenant the load is measured
	// against; "" means Config.AppID and Config.TenantID.
	AppID, TenantID string
	// Steady makes the other client send its full rate whatever Graph
	// answers, as a script that ignores 429s does; Graph charges refused
	// requests too, so it always takes its share of every quota it draws on.
	// Otherwise it takes only what is free, and a client that fills a
	// sliding window first starves it.
	Steady bool
}

// The limits of Graph's identity and access service (graph-notes.md and
// the throttling docs), before Config.QuotaScale and Config.Shape. The
// app-wide write limit is today's documented 70,000 per 5 min; older
// versions of the page said 35,000 (Shape.App.Size 0.5 runs that).
const (
	appWriteLimit     = 3000 // per app+tenant pair
	appWriteWindow    = 150 * time.Second
	tenantWriteLimit  = 18000 // per tenant, all apps
	tenantWriteWindow = 5 * time.Minute
	globalWriteLimit  = 70000 // per app, all tenants
	globalWriteWindow = 5 * time.Minute
	ruWindow          = 10 * time.Second // per app+tenant pair, by tenant size
	globalRULimit     = 150000           // per app, all tenants
	globalRUWindow    = 20 * time.Second
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

// Shape gives each level of the write quotas a size and a window of its
// own, as multiples of the documented ones (after QuotaScale), without
// telling the client: Graph may run a tenant on other figures than it
// documents, and may count them over a shorter window. The zero value is
// the documented shape.
type Shape struct {
	Pair, Tenant, App Level
}

// Level scales one quota level; a zero field means 1. The refill (or the
// rate a window sustains) is Size/Window times the documented one.
//
//   - Pair{Size: 0.2, Window: 0.2}: 600 writes per 30 s, at the documented 20/s.
//   - Tenant{Size: 1.0 / 30, Window: 1.0 / 30}: a bucket of 600 that refills at the documented 60/s.
//   - App{Size: 0.5}: 35,000 per 5 min, the older documentation.
type Level struct {
	Size   float64
	Window float64
}

func (l Level) apply(limit float64, window time.Duration) (float64, time.Duration) {
	if l.Size > 0 {
		limit *= l.Size
	}
	if l.Window > 0 {
		window = time.Duration(float64(window) * l.Window)
	}
	return limit, window
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
	level string // the scope without ids, as Stats.ThrottledByLevel counts it
	info  string // x-ms-throttle-information
	m     meter
}

// pairQuotas are the limits of one app in one tenant. deviceWrite is used
// only under Config.SeparateDeviceWriteQuota.
type pairQuotas struct {
	ru, write, deviceWrite *quota
}

// appQuotas are the limits of one app across all tenants.
type appQuotas struct {
	ru, write *quota
}

// throttle holds every limit graphsim enforces, created on first use: a
// quota nobody has touched is a full one. Callers hold the server lock.
type throttle struct {
	model          QuotaModel
	scale          float64
	shape          Shape
	separateDevice bool
	freeRefusals   bool // Config.FreeRefusals
	pairs          map[[2]string]*pairQuotas
	tenants        map[string]*quota
	apps           map[string]*appQuotas

	competing           Competing
	lastCompete         time.Time
	competeCarry        float64
	compApp, compTenant string
	compSize            int
}

// newThrottle builds the quotas; scale multiplies every documented limit
// (0 = 1), so a test can run a quota smaller than the one a client assumes,
// and shape changes the write levels one by one.
func newThrottle(model QuotaModel, scale float64, shape Shape, separateDevice bool, comp Competing, compApp, compTenant string, compSize int, now time.Time) *throttle {
	if model == QuotaOff {
		return nil
	}
	if scale <= 0 {
		scale = 1
	}
	return &throttle{
		model: model, scale: scale, shape: shape, separateDevice: separateDevice,
		pairs: map[[2]string]*pairQuotas{}, tenants: map[string]*quota{}, apps: map[string]*appQuotas{},
		competing: comp, lastCompete: now, compApp: compApp, compTenant: compTenant, compSize: compSize,
	}
}

func (t *throttle) meter(limit float64, window time.Duration, now time.Time) meter {
	return t.shaped(Level{}, limit, window, now)
}

// shaped is meter for a write level of the shape.
func (t *throttle) shaped(l Level, limit float64, window time.Duration, now time.Time) meter {
	limit, window = l.apply(limit*t.scale, window)
	if t.model == QuotaSlidingWindow {
		return newSlidingWindow(limit, window)
	}
	return newTokenBucket(limit, window, now)
}

func (t *throttle) pair(app, tenant string, size int, now time.Time) *pairQuotas {
	k := [2]string{app, tenant}
	p := t.pairs[k]
	if p == nil {
		p = &pairQuotas{
			ru: &quota{scope: "Tenant_Application/ResourceUnit/" + app + "/" + tenant, level: "Tenant_Application/ResourceUnit",
				info: "ResourceUnitLimitExceeded", m: t.meter(ruLimitFor(size), ruWindow, now)},
			write: &quota{scope: "Tenant_Application/Write/" + app + "/" + tenant, level: "Tenant_Application/Write",
				info: "WriteLimitExceeded", m: t.shaped(t.shape.Pair, appWriteLimit, appWriteWindow, now)},
		}
		if t.separateDevice {
			// The throttling docs list device writes under a limit of their
			// own with the same figures; whether Graph keeps them apart from
			// other writes is not documented.
			p.deviceWrite = &quota{scope: "Tenant_Application/Write/" + app + "/" + tenant, level: "Tenant_Application/DeviceWrite",
				info: "WriteLimitExceeded", m: t.shaped(t.shape.Pair, appWriteLimit, appWriteWindow, now)}
		}
		t.pairs[k] = p
	}
	return p
}

func (t *throttle) tenant(tenant string, now time.Time) *quota {
	q := t.tenants[tenant]
	if q == nil {
		q = &quota{scope: "Tenant/Write/" + tenant, level: "Tenant/Write",
			info: "WriteLimitExceeded", m: t.shaped(t.shape.Tenant, tenantWriteLimit, tenantWriteWindow, now)}
		t.tenants[tenant] = q
	}
	return q
}

func (t *throttle) app(app string, now time.Time) *appQuotas {
	a := t.apps[app]
	if a == nil {
		a = &appQuotas{
			ru: &quota{scope: "Application/ResourceUnit/" + app, level: "Application/ResourceUnit",
				info: "ResourceUnitLimitExceeded", m: t.meter(globalRULimit, globalRUWindow, now)},
			write: &quota{scope: "Application/Write/" + app, level: "Application/Write",
				info: "WriteLimitExceeded", m: t.shaped(t.shape.App, globalWriteLimit, globalWriteWindow, now)},
		}
		t.apps[app] = a
	}
	return a
}

// verdict is the outcome of charging one step.
type verdict struct {
	wait  time.Duration // 0 = admitted
	by    *quota        // the quota that refused for longest
	usage float64       // highest usage fraction after charging
}

// step is what one operation asks of the quotas.
type step struct {
	app, tenant string
	size        int // the tenant's user count, which picks the RU budget
	ru, writes  float64
	device      bool // a device write
}

// admit evaluates and charges a step at every level it draws from. floor
// is a time before which the step must be refused anyway (an early retry);
// the returned wait covers both. A refused step is charged everywhere, as
// Graph keeps charging requests made while throttled (unless freeRefusals).
func (t *throttle) admit(now time.Time, st step, floor time.Time) verdict {
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
	p := t.pair(st.app, st.tenant, st.size, now)
	a := t.app(st.app, now)
	needs := []need{{p.ru, st.ru}, {a.ru, st.ru}}
	own := p.ru
	if st.writes > 0 {
		w := p.write
		if st.device && p.deviceWrite != nil {
			w = p.deviceWrite
		}
		own = w
		needs = append(needs, need{w, st.writes}, need{t.tenant(st.tenant, now), st.writes}, need{a.write, st.writes})
	}
	refused := now.Before(floor)
	for _, n := range needs {
		if n.q.m.wait(now, n.c) > 0 {
			refused = true
		}
	}
	v := verdict{}
	if !refused || !t.freeRefusals {
		for _, n := range needs {
			n.q.m.charge(now, n.c)
		}
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
			v.by = own
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
	var qs []*quota
	switch t.competing.Scope {
	case CompetingTenant:
		qs = []*quota{t.tenant(t.compTenant, now)}
	case CompetingSameApp:
		p, a := t.pair(t.compApp, t.compTenant, t.compSize, now), t.app(t.compApp, now)
		qs = []*quota{t.tenant(t.compTenant, now), p.write, p.ru, a.write, a.ru}
	case CompetingAppElsewhere:
		a := t.app(t.compApp, now)
		qs = []*quota{a.write, a.ru}
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
		if !t.competing.Steady {
			// The other client is throttled too: it takes only what is free.
			for _, q := range qs {
				n = math.Min(n, math.Floor(q.m.room(to)))
			}
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
