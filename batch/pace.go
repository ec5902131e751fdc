package batch

import (
	"context"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Rate control: a design note.
//
// Graph documents its identity quotas (3,000 writes per 150 s for one app in one tenant,
// 18,000 per 5 min for a tenant, 70,000 per 5 min for an app across tenants, and resource
// units per 10 s) but not how it counts them, whether as a refilling bucket or a trailing
// window, over which length, and it may run a tenant on other figures than documented (the
// app-wide figure itself was 35,000 in older versions of the page). A documented figure is
// where a quota starts, never a bound: Graph's answers may lower it or raise it. What it always sends is
// each step's status and, on a 429, the Retry-After after which that step would be admitted.
// Everything else (x-ms-throttle-limit-percentage, x-ms-throttle-scope) may be missing, so the
// engine steers by statuses, Retry-After and its own record of what it sent, and uses the
// headers only to be more careful.
//
// Each limit is a quota: a model of what Graph will admit, started from the documented figures
// and corrected by Graph's refusals. A step is sent only when every quota on its path (its
// app+tenant pair, its tenant, its app, and the pair's resource units) admits it, and tokens are
// taken as the envelope leaves, never reserved ahead.
//
//   - A quota starts as a full bucket of its documented size that refills at size/window. An idle
//     app may spend a whole bucket at once under either counting, and after a breach the first
//     3,000 users out in seconds matter most.
//   - A 429 closes the quota's gate for every lane that uses it until the Retry-After (counted
//     from the answer, so never early), and drains the bucket so that it holds a little less
//     than nothing when the gate opens: Graph's refused steps were charged, and it computed the
//     Retry-After for one step, so it has room for about one step then. Resuming at the refill
//     rate from below zero keeps the latency jitter of later envelopes from being refused.
//   - The first refusal of a quota during its first burst says the bucket is smaller than
//     documented: Graph admitted its bucket and what that refilled meanwhile at a rate scaled
//     with it, so the bucket is the steps admitted over 1 + the share of the documented bucket
//     the documented rate refilled; the rate scales with the bucket.
//   - A Retry-After much longer than our own overdraw (the refused steps and those sent after
//     them) would take to refill at the quota's current pace cannot come from a bucket: Graph
//     counts a trailing window, whatever its documented length. The refused step passes when
//     as many of our oldest charges have left the window as we overdrew, so the Retry-After
//     dates the window: its length is from the charge that leaves then to the Retry-After's
//     end. The quota then admits a step when our own charges of that window, refused ones
//     included (Graph charges them), leave room within what Graph accepted of them. This
//     replays the window: charges expire in the order they were made, so the engine sends
//     again as fast as its old charges leave, which is the least time a window allows. A later
//     Retry-After longer than the window so estimated cannot come from it: the quota is a
//     bucket again, refilling at a rate measured as below.
//   - Graph dates a charge somewhere between our sending the step and its answer coming back: a
//     charge leaves the window, by our count, a window after its answer at the earliest, so that
//     an envelope stalled on its way (a slow network, a starved process) is not replayed while
//     Graph still counts it. Estimates (the window's length, our share of it) count charges from
//     their sends and latency as the shortest round trip seen: a window dated short replays
//     early, into refusals Graph charges.
//   - Our share of a trailing window is judged at each refusal that teaches: what the window
//     admitted of ours and what it will still hold when the refused step passes, whichever is
//     less; an envelope on its way then that Graph admitted raises it, up to the latter. The
//     farther apart the two readings, the wider the edge (up to nearShare of the share) within
//     which the lane sends as near the edge: a share misjudged costs an envelope, not several.
//   - A later refusal of a bucket means something else draws on the quota (another instance of
//     the app, other apps in the tenant) or the latency jitter landed a step early. The rate
//     actually admitted since the previous refusal tells them apart: well below our pace, the
//     pace drops to it; at our pace, only the gate and the drain apply. The pace then regrows
//     slowly towards the documented rate, so that a competitor that leaves is noticed; under a
//     bucket, time spent below the refill is not lost (the bucket keeps it), so slow regrowth
//     costs little and keeps refusals rare.
//   - A bucket that held the lane back for a whole window at the documented rate or above,
//     without a refusal, is probed above it, more slowly still: Graph may give more than it
//     documents. A refusal while probing returns the pace to the last rate that went a window
//     unrefused and waits twice as long before the next probe, so a quota that is exactly as
//     documented costs one refused envelope per probe, ever rarer. Only --rate is a ceiling.
//   - A refusal without a scope header is charged to the quota on the step's path that is closest
//     to empty by our own count: after 20 tenants' bursts that is the app's quota, after three
//     apps' bursts the pairs'. With the header, its scope decides. When another lane is refused
//     a moment later through a quota the two share, that quota was the one: what the first
//     lane's own quotas learned from its refusal is taken back (unlearn).
//   - Near the edge of a quota (its model holds less than two envelopes, the last nearShare of a
//     documented first burst, or Graph reported 90% usage of a quota that is not a trailing
//     window, whose replay runs at the edge by design) the lane sends only as many envelopes at
//     once as the pace needs, usually one, so that a wrong guess costs one envelope's steps, not
//     every envelope in flight.
//   - A quota several lanes share (the app's across tenants, a tenant's across an app pool) lets
//     at most what its pace admits in debtHorizon be on its way across all of them, and every
//     lane one envelope: its first refusal, which may come far below the documented figure,
//     then costs about an envelope per lane, not every lane's envelopes in flight.
const (
	windowEvidence = 0.25 // a Retry-After longer than this share of the documented window means a trailing window
	windowFactor   = 6    // ... and so does one this many times what our overdraw takes to refill
	windowSlack    = time.Second
	handBackAfter  = 5 * time.Second // an envelope held back this long may go to another lane of its tenant
	paceCut        = 0.9             // rate factor after refusals too close together to measure the rate
	smallerBurst   = 0.95            // a first burst refused before this share of the bucket means a smaller bucket
	plausibleShare = 0.25            // ... if Graph admitted at least this share of the documented one
	measureMin     = 2 * time.Second
	maxAnchors     = 16
	measuredShare  = 0.99 // the pace after a refusal, as a share of the rate Graph admitted since the last
	quietPeriod    = 30 * time.Second
	paceGrowth     = 0.002  // share of the pace gained per second, after a quiet period
	probeGrowth    = 0.0005 // share of the pace gained per second above the documented rate, after a quiet window
	windowGrowth   = 0.0002 // share of a window's documented size regained per second, after a window without refusals
	cushion        = 200 * time.Millisecond
	hintOn         = 0.9
	hintTTL        = 5 * time.Second
	nearEnvelopes  = 2
	nearShare      = 0.05                   // ... or, in a trailing window, up to this share of it while its last lesson is in doubt
	debtHorizon    = 750 * time.Millisecond // a shared quota's steps in flight, in seconds of its pace
)

// prior is a documented Graph limit: Limit charges per Window.
type prior struct {
	Limit  float64
	Window time.Duration
}

// Graph's documented identity limits, where each quota starts. The resource-unit prior is the
// smallest tenant's budget (tenants under 50 users); larger tenants get 5,000 or 8,000. The
// app's across tenants is the current documentation's 70,000 per 5 min (older versions of the
// throttling page said 35,000).
var (
	PriorPairWrite   = prior{3000, 150 * time.Second}
	PriorTenantWrite = prior{18000, 5 * time.Minute}
	PriorAppWrite    = prior{70000, 5 * time.Minute}
	PriorPairRead    = prior{3500, 10 * time.Second}
)

// send is one envelope's charge to one quota.
type send struct {
	at       time.Time
	near     bool    // the quota was at its edge when it was taken
	n        float64 // steps charged
	ok       float64 // steps Graph admitted, once answered
	answered bool
	ansAt    time.Time // when the answer came back
}

// quota is the engine's model of one Graph limit. Its fields are guarded by the controller.
// Its bucket is an x/time/rate Limiter on our clock; a trailing window is counted from hist.
type quota struct {
	name      string
	docWindow time.Duration
	limit     float64 // the documented size, or --burst
	doc       float64 // the documented rate, or --rate: where the pace starts and regrows to
	ceiling   float64 // --rate, or +Inf: the only bound on the pace above
	floor     float64 // the least a run of cuts may bring the pace to

	model // what refusals taught; undo is it before the latest lesson, and when that came

	undo *learned

	boundAt time.Time // when the quota last held the lane back (probing is worth it then)
	lim     *rate.Limiter
	grownAt time.Time

	hist []*send // our charges, oldest first, kept for a window
	// Lanes that draw on the quota, steps of theirs on the way, and a signal fired when some
	// come back.
	lanes  map[*pacer]bool
	flying float64
	landed signal
	// The last lane refused on a path through this quota, and when.
	refusedBy *pacer
	refusedAt time.Time
	cum       float64 // every step ever charged here
	start     time.Time

	gate     time.Time
	episode  uint64    // counts refusals that taught something
	epAt     time.Time // when the last episode's gate opened: Graph held about nothing then
	slack    bool      // since epAt the bucket held more than we sent: a measured rate says nothing
	cutAt    time.Time // the last cut made without a measurement
	refusals int
	noise    int // refusals that taught nothing
}

// model is what a quota learned from Graph's refusals, kept apart so that a lesson drawn from
// the wrong quota can be taken back (unlearn).
type model struct {
	window   time.Duration // Graph's window: the documented one until a Retry-After dates it
	sliding  bool          // Graph counts a trailing window here
	capacity float64       // bucket size, or what a window of our charges may hold
	rate     float64       // the pace we refill at

	// Probing above the documented rate: good is the highest pace that went a window
	// unrefused, markAt and mark when the pace was last marked so, probeQuiet how long the
	// quota must hold the lane back unrefused before the next probe.
	good, mark         float64
	markAt             time.Time
	probeQuiet         time.Duration
	bestWindowAdmitted float64 // the most of ours a trailing window admitted, refused steps aside
	// How far apart the last lesson's two readings of our share of a trailing window were
	// (what it admitted, what it held): that close to the share, a lane sends as near the edge.
	doubt float64
	// When the share was last judged, and what Graph held of ours then.
	judgedAt   time.Time
	judgedHeld float64

	anchors   []anchor // moments Graph's bucket held about nothing, oldest first
	burstOver bool     // the first refusal has been seen
}

// learned is a quota's model before a lesson, and when the lesson came.
type learned struct {
	at    time.Time
	model model
}

// unlearn takes back the lesson this quota drew from a refusal at or after since, when another
// quota on the same path turned out to be the one that refused (blame): a lane's pair cut to a
// tenth of its pace for the app's refusal would drag its tenant's users for minutes. The gate
// and the drained bucket stay: Graph's Retry-After holds whichever quota refused.
func (q *quota) unlearn(now, since time.Time) {
	u := q.undo
	if u == nil || u.at.Before(since) {
		return
	}
	q.undo = nil
	q.model = u.model
	q.setRate(now, q.rate)
	q.setCapacity(now, q.capacity)
}

// minCapacity keeps a bucket able to grant a whole envelope: a Limiter never grants more than
// its burst at once.
const minCapacity = MaxBatchSize

func newQuota(name string, p prior, ratePerSec float64, burst float64, now time.Time) *quota {
	doc, ceiling := p.Limit/p.Window.Seconds(), math.Inf(1)
	if ratePerSec > 0 {
		doc, ceiling = ratePerSec, ratePerSec
	}
	limit := p.Limit
	if burst > 0 {
		limit = burst
	}
	limit = math.Max(limit, minCapacity)
	lim := rate.NewLimiter(rate.Limit(doc), int(limit))
	// Starts full: an idle app may spend its whole quota at once.
	lim.SetBurstAt(now, int(limit))
	return &quota{name: name, docWindow: p.Window, limit: limit, doc: doc, ceiling: ceiling, floor: doc / 50,
		model: model{window: p.Window, capacity: limit, rate: doc, good: doc, mark: doc, markAt: now, probeQuiet: p.Window},
		lim:   lim, grownAt: now, start: now}
}

// level is the bucket's tokens now; negative when owed.
func (q *quota) level(now time.Time) float64 { return q.lim.TokensAt(now) }

// lower drains the bucket to at most level l, by reserving the difference: the Limiter keeps
// a reservation as debt, which is what Graph does with a refused step it charged.
func (q *quota) lower(now time.Time, l float64) {
	excess := int(math.Ceil(q.lim.TokensAt(now) - l))
	burst := q.lim.Burst()
	for excess > 0 {
		k := min(excess, burst)
		q.lim.ReserveN(now, k)
		excess -= k
	}
}

// setRate changes the pace the bucket refills at.
func (q *quota) setRate(now time.Time, r float64) {
	q.rate = math.Max(q.floor, math.Min(q.ceiling, r))
	q.lim.SetLimitAt(now, rate.Limit(q.rate))
}

// setCapacity shrinks (or grows) the bucket.
func (q *quota) setCapacity(now time.Time, c float64) {
	q.capacity = math.Max(minCapacity, c)
	q.lim.SetBurstAt(now, int(q.capacity))
}

func (q *quota) refill(now time.Time) {
	if q.sliding {
		// A window without refusals may hold more: a competitor may have gone. It regrows to
		// the documented rate over the window Graph counts, or to the most it ever admitted.
		target := math.Max(q.bestWindowAdmitted, q.limit*q.window.Seconds()/q.docWindow.Seconds())
		from := maxTime(q.grownAt, q.epAt.Add(q.window))
		if dt := now.Sub(from).Seconds(); dt > 0 && q.capacity < target {
			q.capacity = math.Min(target, q.capacity+windowGrowth*target*dt)
		}
	} else if q.rate < q.doc {
		// Regrowth in proportion to the pace: a pace cut to a small quota probes it as gently
		// as the documented one, and a pace left by a competitor doubles in about six minutes.
		from := maxTime(q.grownAt, q.epAt.Add(quietPeriod))
		if dt := now.Sub(from).Seconds(); dt > 0 {
			q.setRate(now, math.Min(q.doc, q.rate*(1+paceGrowth*dt)))
		}
	} else {
		// At the documented rate or above, a pace that held the lane back for a whole window
		// without a refusal is marked good and probed above, while it still holds it back.
		quiet := q.epAt.Add(q.probeQuiet)
		if now.Sub(q.markAt) >= q.window && !now.Before(quiet) {
			q.good, q.mark, q.markAt = math.Max(q.good, q.mark), q.rate, now
		}
		from := maxTime(q.grownAt, quiet)
		if dt := now.Sub(from).Seconds(); dt > 0 && now.Sub(q.boundAt) <= time.Second && q.rate < q.ceiling {
			q.setRate(now, q.rate*(1+probeGrowth*math.Min(dt, 1)))
		}
	}
	q.grownAt = maxTime(q.grownAt, now)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// margin is how much longer than its window Graph holds a charge by our clock: Graph starts
// the window when the step arrives, we when it leaves, a latency earlier.
func (q *quota) margin() time.Duration { return min(time.Second, q.window/50) }

// kept is how long a charge stays in the history: a window, the documented or the one Graph
// counts, whichever is longer, counted from its answer (from when it left while on its way).
func (q *quota) kept() time.Duration {
	return max(q.window, q.docWindow) + q.margin() + time.Second
}

// leaves is when Graph's window lets go of charge s by our clock, given when the charge before
// it leaves (prev), or the zero time while s is on its way: Graph has it then.
//
// Graph dates a charge when the step arrives, somewhere between our sending it and its answer
// coming back. A margin after the send covers a usual latency; a stalled envelope (a slow
// network, a starved process) may arrive seconds later, and a charge dated by its send alone
// would then look gone while Graph still counts it: the replay runs early, Graph refuses and
// charges the refused steps, and a window's worth of them is lost. So a charge leaves no
// earlier than a window after its answer, and no earlier than the one before it: charges leave
// in the order they were made, which keeps a single pass over the history enough.
func (q *quota) leaves(s *send, prev time.Time) time.Time {
	if !s.answered {
		return time.Time{}
	}
	m := q.margin()
	return maxTime(maxTime(s.at.Add(q.window+m), s.ansAt.Add(q.window+m/4)), prev)
}

// each calls f with every charge of the history, oldest first, and when it leaves Graph's
// window (zero while it is on its way), until f returns false.
func (q *quota) each(f func(s *send, leaves time.Time) bool) {
	var prev time.Time
	for _, s := range q.hist {
		l := q.leaves(s, prev)
		if !l.IsZero() {
			prev = l
		}
		if !f(s, l) {
			return
		}
	}
}

// inWindow sums our charges that Graph may still count at now.
func (q *quota) inWindow(now time.Time) (charged, admitted float64) {
	q.each(func(s *send, l time.Time) bool {
		if l.IsZero() || l.After(now) {
			charged += s.n
			admitted += s.ok
		}
		return true
	})
	return charged, admitted
}

// heldAt is how much of ours Graph's window holds at `at` (a moment after now, less the shortest
// round trip: charges are counted from their sends, as dateWindow dates the window), refused
// charges included: Graph charges them ("all requests accrue against your usage limits"). When
// Graph says a refused step would pass at `at`, its window then holds all it will take, so this
// is our share of the window.
func (q *quota) heldAt(at time.Time) float64 {
	held := 0.0
	for _, s := range q.hist {
		if !s.answered || s.at.Add(q.window).After(at) {
			held += s.n
		}
	}
	return held
}

// share is our part of Graph's full window, judged from a refusal of s with Retry-After ra:
// at most what the window admitted of ours, and at most what of ours it still holds when it
// would take the refused step (held, which bounds what envelopes then on their way may add
// when their answers come back: admittedLate).
func (q *quota) share(now time.Time, s *send, ra time.Duration, tr trip) (share, held, doubt float64) {
	_, admitted := q.inWindow(now)
	// On the same footing as the window's date: what one envelope's queue or stall would shift
	// counts the steps of a dense stretch (a burst) in or out by the hundred.
	held = q.heldAt(now.Add(ra - tr.least))
	return math.Min(admitted, held), held, math.Abs(admitted - held)
}

// admittedLate counts an envelope that was on its way when the window's share was last judged
// and that Graph admitted: the window held it then, which the judgement could not know.
func (q *quota) admittedLate(s *send) {
	if q.sliding && s.ok > 0 && s.at.Before(q.judgedAt) && q.capacity < q.judgedHeld {
		q.capacity = math.Min(q.judgedHeld, q.capacity+s.ok)
		q.bestWindowAdmitted = math.Max(q.bestWindowAdmitted, q.capacity)
	}
}

// wait is how long until n steps could be admitted; 0 means now.
func (q *quota) wait(now time.Time, n float64) time.Duration {
	if d := q.gate.Sub(now); d > 0 {
		return d
	}
	d := q.waitModel(now, n)
	if d > 0 {
		q.boundAt = now // this quota holds the lane back: probing it above the documented rate is worth it
	}
	return d
}

func (q *quota) waitModel(now time.Time, n float64) time.Duration {
	q.refill(now)
	if q.sliding {
		charged, _ := q.inWindow(now)
		excess := charged + n - q.capacity
		if excess <= 1e-9 {
			return 0
		}
		// Charges on their way leave later than any answered after them: the wait is counted
		// from the answered ones, and an answer coming back wakes the envelope to count again.
		wait := q.window
		q.each(func(s *send, l time.Time) bool {
			if l.IsZero() || !l.After(now) {
				return true
			}
			if excess -= s.n; excess <= 1e-9 {
				wait = max(time.Millisecond, l.Sub(now))
				return false
			}
			return true
		})
		return wait
	}
	if l := q.level(now); l < n {
		return max(time.Millisecond, time.Duration((n-l)/q.rate*float64(time.Second)))
	}
	return 0
}

// room is the share of the quota our model says is free, for attributing refusals.
func (q *quota) room(now time.Time) float64 {
	q.refill(now)
	if q.sliding {
		charged, _ := q.inWindow(now)
		return (q.capacity - charged) / q.capacity
	}
	return q.level(now) / q.capacity
}

func (q *quota) take(now time.Time, n float64, batch float64) *send {
	near := q.near(now, batch)
	q.refill(now)
	if !q.sliding {
		if q.burstOver && q.level(now) >= (1+nearEnvelopes)*n {
			// We sent less than the pace allowed: the next refusal's measured rate would be
			// what we wanted, not what Graph admits.
			q.slack = true
		}
		q.lim.ReserveN(now, int(n))
	}
	q.cum += n
	s := &send{at: now, n: n, near: near}
	q.hist = append(q.hist, s)
	// One window of history (and the margin) is all the window model reads.
	cut := 0
	for cut < len(q.hist) && (q.hist[cut].answered && q.hist[cut].ansAt.Before(now.Add(-q.kept())) ||
		q.hist[cut].at.Before(now.Add(-q.kept()-time.Minute))) {
		cut++
	}
	if cut > 0 {
		q.hist = append(q.hist[:0], q.hist[cut:]...)
	}
	return s
}

// near reports whether the model holds less than a couple of envelopes, or the documented
// burst is spent and Graph has not yet said how it counts: the envelope that finds out should
// be the only one in flight.
func (q *quota) near(now time.Time, batch float64) bool {
	if q.gate.After(now) || (!q.burstOver && now.Sub(q.start) < q.window && q.cum >= q.limit-math.Max(nearEnvelopes*batch, nearShare*q.limit)) {
		return true
	}
	q.refill(now)
	if q.sliding {
		charged, _ := q.inWindow(now)
		return q.capacity-charged < math.Max(nearEnvelopes*batch, math.Min(q.doubt, nearShare*q.capacity))
	}
	return q.level(now) < nearEnvelopes*batch
}

// refused learns from a 429 to a step charged by s, sent while the quota was in episode sent,
// answered at now with Retry-After ra.
func (q *quota) refused(now time.Time, s *send, cumAtSend float64, sent uint64, ra time.Duration, tr trip, k int) {
	q.refill(now)
	q.refusals++
	if until := now.Add(ra); until.After(q.gate) {
		q.gate = until
	}
	// A quota that ran out refuses every step once it is empty; the odd 429 among the steps
	// of an envelope our model had room for (another service's throttle, an injected fault)
	// says nothing about the quota. Graph's wait is honoured either way.
	windowLike := q.windowLike(s, k, ra)
	if !s.near && float64(k) < s.n/2 && !windowLike {
		q.noise++
		return
	}
	fresh := sent == q.episode
	if fresh {
		q.episode++
		before := q.model
		before.anchors = slices.Clone(before.anchors) // refused and learn change them in place
		q.undo = &learned{at: now, model: before}
		q.learn(now, s, cumAtSend, k, ra, tr, windowLike)
	}
	if !q.sliding {
		// Hold a little less than nothing when the gate opens.
		q.lower(now, -q.rate*(q.gate.Sub(now)+cushion).Seconds())
	}
	q.epAt = q.gate
	for i := range q.anchors {
		q.anchors[i].slack = q.anchors[i].slack || q.slack
	}
	q.slack = false
	if !fresh && len(q.anchors) > 0 {
		// Another envelope of the same episode: the bucket is empty when the latest gate opens.
		q.anchors[len(q.anchors)-1] = anchor{at: q.gate, cum: q.cum}
		return
	}
	q.anchors = append(q.anchors, anchor{at: q.gate, cum: q.cum})
	if len(q.anchors) > maxAnchors {
		q.anchors = q.anchors[1:]
	}
}

// overdraw is how many of our steps Graph may hold beyond what it admits, when it refused k
// steps of s: those, the refused steps of the other envelopes answered since the last gate
// opened, and every step still on its way.
func (q *quota) overdraw(s *send, k int) float64 {
	over := float64(k)
	for _, h := range q.hist {
		if h == s || h.at.Before(q.epAt) {
			continue
		}
		if !h.answered {
			if !h.at.Before(s.at) {
				over += h.n
			}
		} else {
			over += h.n - h.ok
		}
	}
	return over
}

// windowLike reports whether a Retry-After is too long for a bucket refilling at the quota's
// current pace with what we overdrew, or than a quarter of the documented window: Graph counts
// a trailing window, whatever its length.
func (q *quota) windowLike(s *send, k int, ra time.Duration) bool {
	refill := time.Duration(q.overdraw(s, k) / q.rate * float64(time.Second))
	return ra > windowFactor*refill+windowSlack || ra > time.Duration(windowEvidence*float64(q.docWindow))
}

// dateWindow estimates the length of Graph's window from a Retry-After: the refused step
// passes once as many of our oldest charges since the last gate opened have left the window as
// we overdrew, so the window runs from when Graph dated that charge to when the Retry-After
// ends. Graph dated the charge a one-way latency after we sent it, and started the Retry-After
// one before its answer reached us: both are counted as half the shortest round trip the lane
// has seen, never as the envelopes' own. Their own include queues and stalls (a first burst's
// envelopes wait seconds for an answer), which would date the window short, and a window dated
// short replays early into refusals Graph charges; long, it only replays a little late.
func (q *quota) dateWindow(now time.Time, s *send, k int, ra time.Duration, tr trip) time.Duration {
	over := q.overdraw(s, k)
	var leaves *send
	for _, h := range q.hist {
		if h.at.Before(q.epAt) {
			continue
		}
		leaves = h
		if over -= h.n; over <= 0 {
			break
		}
	}
	if leaves == nil {
		return q.window
	}
	return max(time.Second, now.Add(ra-tr.least).Sub(leaves.at))
}

// trip is a refused envelope's round trip, and the shortest the lane has seen: the latency
// without queues or stalls.
type trip struct{ own, least time.Duration }

func (q *quota) learn(now time.Time, s *send, cumAtSend float64, k int, ra time.Duration, tr trip, windowLike bool) {
	first := !q.burstOver
	q.burstOver = true
	if q.sliding && ra > q.window*5/4+tr.own {
		// No window of the length we dated makes anyone wait this long: a bucket after all,
		// of the size Graph admitted; its rate is measured below from the refusals.
		q.sliding = false
		_, admitted := q.inWindow(now)
		q.setCapacity(now, admitted)
		q.lim.SetBurstAt(now, int(q.capacity))
		q.lower(now, 0)
		q.window = q.docWindow
	} else if !q.sliding && windowLike {
		q.window = q.dateWindow(now, s, k, ra, tr)
		q.sliding = true
		q.capacity = q.limit * q.window.Seconds() / q.docWindow.Seconds()
	}
	if q.sliding {
		// Graph's window is full: it holds for us what it admitted of ours, and what of ours
		// it still holds when it would take the refused step again. That may be more than we
		// believed (a larger quota than documented) or less (a competitor, a smaller one).
		share, held, doubt := q.share(now, s, ra, tr)
		q.capacity, q.doubt = math.Max(minCapacity, share), doubt
		q.judgedAt, q.judgedHeld = now, held
		q.bestWindowAdmitted = math.Max(q.bestWindowAdmitted, share)
		return
	}
	if q.rate > q.doc+1e-9 && q.rate > q.good+1e-9 {
		// A refusal while probing above the last good pace: back to it, and probe again only
		// after twice the quiet.
		q.setRate(now, q.good)
		q.mark, q.markAt = q.good, now
		q.probeQuiet *= 2
		return
	}
	if first {
		// Refused within the first burst: Graph's bucket is smaller than documented, or was
		// not full when the run began (another run just before). A bucket far smaller than
		// documented is the second case: the rate then stays, and later refusals measure it.
		// What Graph admitted by then is its bucket plus its refill since the start; a quota
		// smaller than documented refills slower in proportion (a tenant or app on a smaller
		// plan), so the bucket is the admitted steps over 1 + the share of it refilled.
		refilled := q.doc * s.at.Sub(q.start).Seconds() / q.limit
		if admitted := (cumAtSend + s.ok) / (1 + refilled); admitted < smallerBurst*q.capacity && admitted >= q.limit*plausibleShare {
			q.setCapacity(now, admitted)
			q.setRate(now, q.doc*q.capacity/q.limit)
		}
		return
	}
	// Graph's bucket held about nothing when each earlier refusal's gate opened: the rate it
	// admitted since the latest such moment at least measureMin ago is what it has for us.
	var from anchor
	for i := len(q.anchors) - 1; i >= 0; i-- {
		if s.at.Sub(q.anchors[i].at) >= measureMin {
			from = q.anchors[i]
			break
		}
	}
	span := s.at.Sub(from.at)
	if from.at.IsZero() || from.slack {
		// Too little to measure: cut blindly, but at most once per measuring span, so that a
		// burst of refusals (or of injected faults) does not spiral the pace down.
		if now.Sub(q.cutAt) >= measureMin {
			q.cutAt = now
			q.setRate(now, q.rate*paceCut)
		}
		return
	}
	measured := (cumAtSend + s.ok - from.cum) / span.Seconds()
	q.setRate(now, math.Min(q.rate, measuredShare*measured))
	q.good = math.Min(q.good, math.Max(q.doc, q.rate))
	q.mark, q.markAt = q.rate, now
}

// anchor is a moment when Graph's bucket held about nothing: a refusal's gate opening.
type anchor struct {
	at    time.Time
	cum   float64
	slack bool // since then we sent less than the pace allowed
}

// answer records what Graph admitted of a charge.
func (s *send) answer(at time.Time, ok float64) {
	s.ok, s.answered, s.ansAt = ok, true, at
}

// hint lowers the model to what Graph reported using (x-ms-throttle-limit-percentage, 1.0 =
// throttling starts), never raises it: the header may be missing or stale.
func (q *quota) hint(now time.Time, usage float64) {
	if q.sliding || usage <= 0 {
		return
	}
	q.refill(now)
	q.lower(now, (1-usage)*q.capacity)
}

// class is what a step draws on: writes take a write quota and resource units, reads only the
// latter.
type class int

const (
	classRead class = iota
	classWrite
)

// controller holds every quota of a run behind one lock: decisions span several quotas (a pair,
// its tenant, its app) and must see them together.
//
// A waiting envelope is woken only by what may let it leave: its own lane's envelopes coming
// back or leaving the line (the pacer's signal), or steps of a shared quota it waits on coming
// back (the quota's). Everything else it sees when its sleep ends, at most a second later.
type controller struct {
	mu     sync.Mutex
	clock  Clock
	quotas map[string]*quota
}

func newController(clock Clock) *controller {
	return &controller{clock: clock, quotas: map[string]*quota{}}
}

// signal is a channel closed and replaced to wake whoever waits on it; the zero value works.
type signal struct{ ch chan struct{} }

func (s *signal) wait() <-chan struct{} {
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

func (s *signal) fire() {
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}

// quota returns the quota named name, creating it from p.
func (c *controller) quota(name string, p prior, rate, burst float64) *quota {
	c.mu.Lock()
	defer c.mu.Unlock()
	q := c.quotas[name]
	if q == nil {
		q = newQuota(name, p, rate, burst, c.clock.Now())
		c.quotas[name] = q
	}
	return q
}

// pacer is one lane's way through the quotas: an app in a tenant.
type pacer struct {
	c     *controller
	paths [2][]*quota // by class; the first quota of each path is the pair's own
	batch float64

	inFlight [2]int
	rtt      time.Duration // smoothed round trip, for how many envelopes the pace needs
	minRTT   time.Duration // the shortest round trip seen: the latency without queues or stalls
	hintedAt time.Time     // when Graph last reported 90% usage
	changed  signal        // an envelope of this lane came back or left the line
	reads    int           // how often its envelopes read the model, for tests

	// Envelopes waiting to leave, by class, in the order they asked: only the first may go.
	// Without the queue, whoever re-read the model first after a change went, and a smaller
	// envelope, whose wait is shorter, could starve a larger one through a throttled stretch.
	queue  [2][]uint64
	queued uint64
}

// ticket is an envelope's charge, handed back with its answer.
type ticket struct {
	class    class
	n        float64
	at       time.Time
	sends    []*send
	cums     []float64
	episodes []uint64
}

// maxNear is how many envelopes of a class may be on their way at once near the edge.
func (p *pacer) maxNear(cl class) int {
	q := p.paths[cl][0]
	rtt := p.rtt
	if rtt <= 0 {
		rtt = 200 * time.Millisecond
	}
	return max(1, int(math.Ceil(q.rate*rtt.Seconds()/p.batch)))
}

// delay takes n steps of class cl from every quota on the path (only checks, when !take) and
// returns 0, or returns how long until they might be admitted and the channels closed if
// something changes before then that may let them go sooner. limit caps the envelopes of the
// class in flight.
func (p *pacer) delay(cl class, n float64, limit int, take bool, no uint64) (time.Duration, []<-chan struct{}, *ticket) {
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock.Now()
	p.reads++
	own := []<-chan struct{}{p.changed.wait()}
	if p.inFlight[cl] >= limit || (take && p.queue[cl][0] != no) {
		return time.Hour, own, nil
	}
	var wait time.Duration
	// Graph's report of 90% usage says the edge is near, unless the lane's own quota counts a
	// trailing window: its replay runs at the edge by design, and knows where the edge is.
	near := now.Sub(p.hintedAt) < hintTTL && !p.paths[cl][0].sliding
	for _, q := range p.paths[cl] {
		q.join(p)
		wait = max(wait, q.wait(now, n))
		near = near || q.near(now, p.batch)
	}
	if wait > 0 {
		return wait, own, nil
	}
	if near && p.inFlight[cl] >= p.maxNear(cl) {
		return time.Hour, own, nil
	}
	// A quota several lanes share lets only as many steps be on their way across all of them as
	// its pace admits in debtHorizon, and near its edge only as many as it admits in a round trip
	// and a half: its first refusal then finds that many in flight, not every lane's envelopes,
	// and Graph charges only those. A lane with nothing on its way may always send one: else
	// lanes that came first hold the rest back, whose own quotas fill and lose their refill.
	var held []<-chan struct{}
	for _, q := range p.paths[cl][1:] {
		if q.shared() && p.inFlight[cl] > 0 && q.flying+n > q.mostInFlight(p, q.near(now, p.batch)) {
			held = append(held, q.landed.wait())
		}
	}
	if len(held) > 0 {
		return time.Hour, append(own, held...), nil
	}
	t := &ticket{class: cl, n: n, at: now}
	if !take {
		return 0, nil, t
	}
	for _, q := range p.paths[cl] {
		t.cums = append(t.cums, q.cum)
		t.episodes = append(t.episodes, q.episode)
		t.sends = append(t.sends, q.take(now, n, p.batch))
		q.flying += n
	}
	p.inFlight[cl]++
	p.queue[cl] = p.queue[cl][1:]
	if len(p.queue[cl]) > 0 {
		p.changed.fire() // the next in line may go
	}
	return 0, nil, t
}

// join notes that lane p draws on the quota.
func (q *quota) join(p *pacer) {
	if q.lanes == nil {
		q.lanes = map[*pacer]bool{}
	}
	q.lanes[p] = true
}

// shared reports whether more than one lane draws on the quota.
func (q *quota) shared() bool { return len(q.lanes) > 1 }

// mostInFlight is how many steps of the quota may be on their way at once across every lane:
// what its pace admits in debtHorizon, or near its edge in a round trip and a half (the slowest
// lane's), and at least an envelope. Sending faster than the pace within the horizon costs
// nothing: Graph refills while the steps travel.
func (q *quota) mostInFlight(p *pacer, near bool) float64 {
	horizon := debtHorizon
	if near {
		rtt := time.Duration(0)
		for l := range q.lanes {
			rtt = max(rtt, l.rtt)
		}
		if rtt <= 0 {
			rtt = 200 * time.Millisecond
		}
		horizon = rtt * 3 / 2
	}
	return math.Max(p.batch, math.Ceil(q.rate*horizon.Seconds()))
}

// wouldWait is how long n steps of class cl would wait for this lane's quotas now, without
// taking anything or counting the lane as held back; envelopes in flight are not counted.
func (p *pacer) wouldWait(cl class, n float64) time.Duration {
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock.Now()
	var wait time.Duration
	for _, q := range p.paths[cl] {
		wait = max(wait, q.gate.Sub(now), q.waitModel(now, n))
	}
	return wait
}

// join puts an envelope of class cl in line and returns its number.
func (p *pacer) join(cl class) uint64 {
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	p.queued++
	p.queue[cl] = append(p.queue[cl], p.queued)
	return p.queued
}

// leave takes an envelope that gave up waiting out of line.
func (p *pacer) leave(cl class, no uint64) {
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	if i := slices.Index(p.queue[cl], no); i >= 0 {
		p.queue[cl] = slices.Delete(p.queue[cl], i, i+1)
		p.changed.fire()
	}
}

// acquire waits until n steps of class cl may leave, or ctx ends. With take it charges them to
// every quota of the path and counts the envelope in flight, envelopes leaving in the order they
// asked; without, it only waits. When a quota would hold the envelope back handBackAfter or
// longer and handBack, asked with the wait, says so, acquire gives up with errHandedBack
// instead: another lane can send the envelope sooner.
func (p *pacer) acquire(ctx context.Context, cl class, n float64, limit int, take bool, handBack func(time.Duration) bool) (*ticket, error) {
	var no uint64
	if take {
		no = p.join(cl)
		defer p.leave(cl, no)
	}
	for {
		d, changed, t := p.delay(cl, n, limit, take, no)
		if t != nil {
			return t, nil
		}
		if handBack != nil && d >= handBackAfter && d < time.Hour && handBack(d) {
			return nil, errHandedBack
		}
		// Sleep in slices of at most a second: a gate closed by another lane's answer must be
		// seen, and a model that changes under us must be read again.
		d = min(d, time.Second)
		sctx, cancel := context.WithCancel(ctx)
		var w [4]<-chan struct{} // nil channels never fire
		copy(w[:], changed)
		go func() {
			select {
			case <-w[0]:
			case <-w[1]:
			case <-w[2]:
			case <-w[3]:
			case <-sctx.Done():
			}
			cancel()
		}()
		_ = p.c.clock.Sleep(sctx, d)
		cancel()
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
}

// outcome is what Graph said to one envelope, as far as pacing is concerned.
type outcome struct {
	ok         int           // steps admitted (any status but 429)
	refused    int           // steps answered 429
	retryAfter time.Duration // the longest Retry-After of the refused steps
	scope      string        // x-ms-throttle-scope of a refused step, when sent
	usage      float64       // the highest x-ms-throttle-limit-percentage, when sent
	envelope   bool          // the whole envelope was refused (or failed) before any step ran
	rtt        time.Duration
}

// gateMove is a quota's gate that an answer closed, or kept closed for longer.
type gateMove struct {
	q     *quota
	until time.Time
}

// settle hands back a ticket with Graph's answer and returns the gates it moved.
func (p *pacer) settle(t *ticket, o outcome) []gateMove {
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock.Now()
	before := make([]time.Time, len(p.paths[t.class]))
	for i, q := range p.paths[t.class] {
		before[i] = q.gate
	}
	p.inFlight[t.class]--
	p.changed.fire()
	if o.rtt > 0 {
		if p.minRTT == 0 || o.rtt < p.minRTT {
			p.minRTT = o.rtt
		}
		if p.rtt == 0 {
			p.rtt = o.rtt
		} else {
			p.rtt = (7*p.rtt + o.rtt) / 8
		}
	}
	path := p.paths[t.class]
	for i, q := range path {
		t.sends[i].answer(now, float64(o.ok))
		q.admittedLate(t.sends[i])
		q.flying -= t.n
		q.landed.fire()
	}
	if o.usage >= hintOn {
		p.hintedAt = now
	}
	if o.usage > 0 {
		path[0].hint(now, o.usage)
	}
	if o.refused > 0 {
		i := p.blame(now, t, o.scope)
		for _, q := range path {
			q.refusedBy, q.refusedAt = p, now
		}
		tr := trip{own: o.rtt, least: p.minRTT}
		if tr.least <= 0 || tr.least > tr.own {
			tr.least = tr.own
		}
		path[i].refused(now, t.sends[i], t.cums[i], t.episodes[i], o.retryAfter, tr, o.refused)
	} else if o.envelope && o.retryAfter > 0 {
		// A whole envelope refused says nothing about which quota, only when to come back.
		if until := now.Add(o.retryAfter); until.After(path[0].gate) {
			path[0].gate = until
		}
	}
	var moved []gateMove
	for i, q := range path {
		if q.gate.After(before[i]) {
			moved = append(moved, gateMove{q, q.gate})
		}
	}
	return moved
}

// blame picks the quota a refusal belongs to: the one the scope header names, else the one our
// own count says is closest to empty.
func (p *pacer) blame(now time.Time, t *ticket, scope string) int {
	path := p.paths[t.class]
	if scope != "" {
		kind := strings.ToLower(scope)
		for i, q := range path {
			if strings.HasPrefix(kind, q.scopePrefix()) {
				return i
			}
		}
	}
	// Another lane refused a moment ago on a path through a quota we share, while our own
	// pair's model had room: that quota, not either lane's own, is the one both ran into. (Lanes
	// that filled their pairs together are each refused by their own: a pair with less than a
	// quarter left may be the one.)
	best, low := -1, math.Inf(1)
	since := max(time.Second, 2*p.rtt)
	for i, q := range path {
		if i > 0 && q.shared() && q.refusedBy != nil && q.refusedBy != p && now.Sub(q.refusedAt) <= since && path[0].room(now) > 0.25 {
			if r := q.room(now); r < low-1e-9 {
				best, low = i, r
			}
		}
	}
	if best >= 0 {
		// The lane refused a moment ago ran into this quota too, whatever it blamed then: a
		// lesson its own quotas drew from that refusal is taken back.
		shared := path[best]
		if x := shared.refusedBy; x != nil {
			for _, o := range x.paths[t.class] {
				if o != shared && !o.shared() {
					o.unlearn(now, shared.refusedAt)
				}
			}
		}
		return best
	}
	best, low = 0, math.Inf(1)
	for i, q := range path {
		if r := q.room(now); r < low-1e-9 {
			best, low = i, r
		}
	}
	return best
}

// scopePrefix is how x-ms-throttle-scope names this kind of quota, in lower case.
func (q *quota) scopePrefix() string {
	kind, _, _ := strings.Cut(q.name, "/")
	switch kind {
	case "pair":
		return "tenant_application/write"
	case "pairru":
		return "tenant_application/resourceunit"
	case "tenant":
		return "tenant/write"
	case "app":
		return "application/write"
	}
	return "?"
}

// gateUntil reports when every quota of the lane's class is open again, for the progress line.
func (p *pacer) gateUntil(cl class) time.Time {
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	var g time.Time
	for _, q := range p.paths[cl] {
		if q.gate.After(g) {
			g = q.gate
		}
	}
	return g
}
