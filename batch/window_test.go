package batch

import (
	"testing"
	"time"
)

// windowQuota is a pair's quota already taken for a trailing window of length w holding capacity
// of ours, as after a lesson.
func windowQuota(w time.Duration, capacity float64) *quota {
	q := newQuota("pair/window", PriorPairWrite, 0, 0, paceT0)
	q.burstOver, q.sliding, q.window, q.capacity = true, true, w, capacity
	q.epAt = paceT0 // a lesson at the start: the window regrows only a window later
	return q
}

// charge takes an envelope of 20 at `at` and answers it, all admitted, rtt later.
func charge(q *quota, at, rtt time.Duration) *send {
	s := q.take(paceT0.Add(at), 20, 20)
	s.answer(paceT0.Add(at+rtt), 20)
	return s
}

// TestWindowLeavesAfterAnswer: Graph dates a charge when the step arrives, which may be seconds
// after we sent it when the envelope stalls on its way. Such a charge leaves the window, by our
// count, a window after its answer at the earliest, and the charges after it no earlier (they
// leave in the order they were made): replayed a window after its send, Graph would still count
// it, refuse the replay and charge the refusal.
func TestWindowLeavesAfterAnswer(t *testing.T) {
	q := windowQuota(30*time.Second, 40)
	charge(q, 0, 100*time.Millisecond)
	charge(q, 10*time.Millisecond, 3*time.Second) // stalled: answered 3 s after it left
	charge(q, 20*time.Millisecond, 100*time.Millisecond)
	// A window and its margin after the sends, the first has left; the stalled one has not, nor
	// the one behind it.
	at := paceT0.Add(31 * time.Second)
	if charged, _ := q.inWindow(at); charged != 40 {
		t.Errorf("31 s after the sends our count holds %.0f, want 40 (the stalled charge and the one after it)", charged)
	}
	leaves := paceT0.Add(3010*time.Millisecond + 30*time.Second + q.margin()/4)
	if d := q.wait(at, 20); d < leaves.Sub(at)-time.Millisecond {
		t.Errorf("wait %v at 31 s, want until the stalled charge leaves, %v later", d, leaves.Sub(at))
	}
	if d := q.wait(leaves.Add(time.Millisecond), 20); d != 0 {
		t.Errorf("once the stalled charge left: wait %v, want 0", d)
	}
}

// TestDateWindowStalledTrip: a refused envelope that stalled on its way there comes back with a
// Retry-After that Graph counted from its late arrival. Dated from its own round trip, the window
// comes out short by half the stall, and the replay runs early; dated from the shortest round
// trip seen, it comes out right.
func TestDateWindowStalledTrip(t *testing.T) {
	q := windowQuota(30*time.Second, 600)
	for i := range 30 {
		charge(q, time.Duration(i)*10*time.Millisecond, 100*time.Millisecond)
	}
	// Sent at 1 s, stalled 2 s on its way there: Graph refused it at 3 s and said the step passes
	// when our first charge (sent at 0, there 50 ms later) leaves a 30 s window: at 30.05 s.
	s := q.take(paceT0.Add(time.Second), 20, 20)
	now := paceT0.Add(3050 * time.Millisecond)
	s.answer(now, 0)
	ra := paceT0.Add(30050 * time.Millisecond).Sub(now.Add(-50 * time.Millisecond))
	w := q.dateWindow(now, s, 20, ra, trip{own: 2050 * time.Millisecond, least: 100 * time.Millisecond})
	if (w - 30*time.Second).Abs() > 100*time.Millisecond {
		t.Errorf("window dated %v, want 30s", w)
	}
}

// TestOverdrawInFlight: a refusal's overdraw (what Graph holds of ours beyond what it admits)
// counts the envelopes sent after the refused one, which reach Graph after it and are refused
// too, and not those sent before it and still on their way: Graph took them before the refused
// one. Counted, they would date the window from a charge that leaves later, and short.
func TestOverdrawInFlight(t *testing.T) {
	q := windowQuota(30*time.Second, 600)
	for i := range 28 {
		charge(q, time.Duration(i)*time.Second, 100*time.Millisecond)
	}
	q.take(paceT0.Add(28*time.Second), 20, 20) // on their way
	q.take(paceT0.Add(29*time.Second), 20, 20)
	s := q.take(paceT0.Add(29500*time.Millisecond), 20, 20)
	q.take(paceT0.Add(29550*time.Millisecond), 20, 20) // on its way: refused too
	now := paceT0.Add(29600 * time.Millisecond)
	s.answer(now, 0)
	if got := q.overdraw(s, 20); got != 40 {
		t.Errorf("overdraw %.0f, want 40: the refused envelope and the one sent after it", got)
	}
	// Graph passes the step when two of our charges have left, the second there at 1.05 s: at
	// 31.05 s, which it said 50 ms before the answer reached us.
	tr := trip{own: 100 * time.Millisecond, least: 100 * time.Millisecond}
	if w := q.dateWindow(now, s, 20, paceT0.Add(31100*time.Millisecond).Sub(now), tr); (w - 30*time.Second).Abs() > 100*time.Millisecond {
		t.Errorf("window dated %v, want 30s", w)
	}
}

// TestAdmittedLate: a lesson judges our share of a window from the answers in by then; an
// envelope on its way that Graph then admitted was in the window too, and raises the share, up to
// what the window held of ours. An envelope sent after the lesson says nothing about it.
func TestAdmittedLate(t *testing.T) {
	q := windowQuota(30*time.Second, 500)
	judged := paceT0.Add(10 * time.Second)
	q.judgedAt, q.judgedHeld = judged, 540
	before := &send{at: judged.Add(-100 * time.Millisecond), n: 20}
	before.answer(judged.Add(50*time.Millisecond), 20)
	q.admittedLate(before)
	if q.capacity != 520 {
		t.Errorf("after an admitted envelope that was on its way: capacity %.0f, want 520", q.capacity)
	}
	later := &send{at: judged.Add(time.Second), n: 20}
	later.answer(judged.Add(1100*time.Millisecond), 20)
	q.admittedLate(later)
	if q.capacity != 520 {
		t.Errorf("after an envelope sent after the lesson: capacity %.0f, want 520 still", q.capacity)
	}
	for range 3 {
		q.admittedLate(before)
	}
	if q.capacity != 540 {
		t.Errorf("capacity %.0f, want at most what the window held, 540", q.capacity)
	}
}

// TestNearInDoubt: within a lesson's doubt of a window's share (the two readings of it apart by
// that much), up to 5% of it, a lane sends as near the edge; in the last 5% of the documented
// first burst too, where a competitor or a smaller quota is first met.
func TestNearInDoubt(t *testing.T) {
	q := windowQuota(150*time.Second, 1500)
	for i := range 72 { // 1,440 of ours in the window: 60 from the edge
		charge(q, time.Duration(i)*100*time.Millisecond, 100*time.Millisecond)
	}
	at := paceT0.Add(10 * time.Second)
	if q.near(at, 20) {
		t.Error("60 from the edge with no doubt: near, want not (two envelopes is the edge)")
	}
	q.doubt = 200
	if !q.near(at, 20) {
		t.Error("60 from the edge after a lesson in doubt by 200: not near, want near (up to 75, 5%)")
	}
	q.doubt = 50
	if q.near(at, 20) {
		t.Error("60 from the edge after a lesson in doubt by 50: near, want not")
	}

	b := newQuota("pair/burst", PriorPairWrite, 0, 0, paceT0)
	b.cum = 2840
	if b.near(paceT0.Add(time.Second), 20) {
		t.Error("160 short of the documented burst: near, want not")
	}
	b.cum = 2860
	if !b.near(paceT0.Add(time.Second), 20) {
		t.Error("140 short of the documented burst: not near, want near (its last 5%)")
	}
}

// TestHintSlidingReplay: Graph's report of 90% usage makes a lane send one envelope at a time,
// unless its own quota counts a trailing window: the replay of a window runs at the edge by
// design, and one envelope at a time would fall behind the charges leaving it.
func TestHintSlidingReplay(t *testing.T) {
	c := newController(RealClock)
	pair := c.quota("pair/a/t", PriorPairWrite, 0, 0)
	p := &pacer{c: c, batch: 20, rtt: 200 * time.Millisecond}
	p.paths[classWrite] = []*quota{pair}
	p.hintedAt = time.Now()
	p.inFlight[classWrite] = 1
	if d, _, tk := p.delay(classWrite, 20, 4, false, 0); tk != nil || d == 0 {
		t.Errorf("a bucket reported at 90%% with an envelope on its way: wait %v, ticket %v; want to wait", d, tk != nil)
	}
	pair.sliding, pair.burstOver, pair.window, pair.capacity = true, true, 150*time.Second, 3000
	if d, _, tk := p.delay(classWrite, 20, 4, false, 0); tk == nil {
		t.Errorf("a trailing window with room, reported at 90%%: wait %v, want to go", d)
	}
}
