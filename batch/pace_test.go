package batch

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

var paceT0 = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

// paceEvent is one thing that happens to a quota in a scenario: steps taken, or an answer.
type paceEvent struct {
	at      time.Duration // since paceT0
	take    float64       // steps sent now (0: none)
	refused int           // of the last take, steps Graph refused (the rest admitted)
	ra      time.Duration // the longest Retry-After of those
	usage   float64       // x-ms-throttle-limit-percentage sent with the answer (0: none)
}

// TestQuotaScenarios drives one quota through what Graph answers in each situation the design
// note names and checks what the controller concludes from it.
func TestQuotaScenarios(t *testing.T) {
	burst := func(n int, every time.Duration) []paceEvent {
		var ev []paceEvent
		for i := range n {
			ev = append(ev, paceEvent{at: time.Duration(i) * every, take: 20})
		}
		return ev
	}
	steady := func(from time.Duration, n int, every time.Duration) []paceEvent {
		var ev []paceEvent
		for i := range n {
			ev = append(ev, paceEvent{at: from + time.Duration(i)*every, take: 20})
		}
		return ev
	}
	cat := func(parts ...[]paceEvent) []paceEvent {
		var out []paceEvent
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	tests := []struct {
		name     string
		events   []paceEvent
		sliding  bool
		capacity float64 // 0: not checked
		rate     [2]float64
		gateAt   time.Duration // the gate's end since paceT0; -1: not checked
		window   time.Duration // the window Graph is taken to count; 0: not checked
	}{
		{
			name:     "the documented burst, then the documented pace: nothing learned",
			events:   cat(burst(150, 10*time.Millisecond), steady(2*time.Second, 50, time.Second)),
			capacity: 3000, rate: [2]float64{20, 20}, gateAt: 0,
		},
		{
			// The first burst refused at 1,500 of 3,000: a bucket half the documented one, and
			// its refill with it.
			name:     "a smaller quota than documented",
			events:   cat(burst(75, 10*time.Millisecond), []paceEvent{{at: 760 * time.Millisecond, take: 20, refused: 20, ra: 2 * time.Second}}),
			capacity: 1485, rate: [2]float64{9.8, 10}, gateAt: 2760 * time.Millisecond,
		},
		{
			// A bucket empty when the run began (another run just before) refuses at once: that
			// is no evidence of a small quota.
			name:     "a quota spent before the run began",
			events:   []paceEvent{{at: 0, take: 20, refused: 20, ra: time.Second}},
			capacity: 3000, rate: [2]float64{20, 20}, gateAt: time.Second,
		},
		{
			// After the burst, the next envelope is refused for nearly a whole window: no bucket
			// refilling at 20/s explains that, a trailing window does.
			name:    "a sliding window",
			events:  cat(burst(150, 10*time.Millisecond), []paceEvent{{at: 2 * time.Second, take: 20, refused: 20, ra: 148 * time.Second}}),
			sliding: true, capacity: 3000, rate: [2]float64{20, 20}, gateAt: 150 * time.Second,
		},
		{
			// Graph counts 600 per 30 s: refused after 600, for 29.6 s. Our overdraw (the 20
			// refused steps) would refill in a second at 20/s, so this is a window, a fifth of
			// the documented length and dated by the Retry-After.
			name:    "a window a fifth of the documented length",
			events:  cat(burst(30, 10*time.Millisecond), []paceEvent{{at: 400 * time.Millisecond, take: 20, refused: 20, ra: 29600 * time.Millisecond}}),
			sliding: true, capacity: 600, rate: [2]float64{20, 20}, gateAt: 30 * time.Second, window: 30 * time.Second,
		},
		{
			// The same burst refused on a bucket of 600 refilling at 4/s: the Retry-After is what
			// the overdraw takes at 4/s, five times what it takes at our 20/s. Too short for the
			// window evidence: a bucket still.
			name:     "a bucket a fifth of the documented, refilling at a fifth",
			events:   cat(burst(30, 10*time.Millisecond), []paceEvent{{at: 400 * time.Millisecond, take: 20, refused: 20, ra: 5 * time.Second}}),
			capacity: 3000, rate: [2]float64{20, 20}, gateAt: 5400 * time.Millisecond,
		},
		{
			// Taken for a window of 30 s, the quota is then refused for 100 s: no window of 30 s
			// makes anyone wait that long. A bucket after all, of what Graph admitted.
			name: "a Retry-After the dated window cannot explain",
			events: cat(burst(30, 10*time.Millisecond), []paceEvent{{at: 400 * time.Millisecond, take: 20, refused: 20, ra: 29600 * time.Millisecond}},
				[]paceEvent{{at: 30 * time.Second, take: 20, refused: 20, ra: 100 * time.Second}}),
			capacity: 600, rate: [2]float64{0.4, 20}, gateAt: 130 * time.Second,
		},
		{
			// Past the burst a competitor takes half the refill: between two refusals Graph
			// admitted 10/s, and the pace drops to just under that.
			name: "a competitor on the same app",
			events: cat(burst(150, 10*time.Millisecond),
				[]paceEvent{{at: 5 * time.Second, take: 20, refused: 10, ra: time.Second}},
				steady(6*time.Second, 5, 2*time.Second),
				[]paceEvent{{at: 16 * time.Second, take: 20, refused: 10, ra: time.Second}}),
			capacity: 3000, rate: [2]float64{9, 11.5}, gateAt: 17 * time.Second,
		},
		{
			// A refusal between two measured stretches at our own pace is the latency jitter of
			// one envelope, not a competitor: the pace stays.
			name: "jitter at the documented pace",
			events: cat(burst(150, 10*time.Millisecond),
				[]paceEvent{{at: 5 * time.Second, take: 20, refused: 20, ra: 50 * time.Millisecond}},
				steady(6*time.Second, 30, time.Second),
				[]paceEvent{{at: 36 * time.Second, take: 20, refused: 1, ra: 50 * time.Millisecond}}),
			rate: [2]float64{19.5, 20}, gateAt: -1,
		},
		{
			// One step of twenty refused while the model had plenty: another throttle, or an
			// injected fault. Graph's wait is honoured; nothing else changes.
			name:     "an odd 429",
			events:   []paceEvent{{at: 0, take: 20}, {at: time.Second, take: 20, refused: 1, ra: 500 * time.Millisecond}},
			capacity: 3000, rate: [2]float64{20, 20}, gateAt: 1500 * time.Millisecond,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := newQuota("pair/test", PriorPairWrite, 0, 0, paceT0)
			var last *send
			var lastCum float64
			var lastEp uint64
			for _, ev := range tc.events {
				now := paceT0.Add(ev.at)
				if ev.take > 0 {
					lastCum, lastEp = q.cum, q.episode
					last = q.take(now, ev.take, 20)
				}
				ok := ev.take - float64(ev.refused)
				last.answer(now, ok)
				if ev.refused > 0 {
					q.refused(now, last, lastCum, lastEp, ev.ra, trip{}, ev.refused)
				}
				if ev.usage > 0 {
					q.hint(now, ev.usage)
				}
			}
			if q.sliding != tc.sliding {
				t.Errorf("sliding = %v, want %v", q.sliding, tc.sliding)
			}
			if tc.capacity > 0 && math.Abs(q.capacity-tc.capacity) > 20 {
				t.Errorf("capacity = %.0f, want about %.0f", q.capacity, tc.capacity)
			}
			if q.rate < tc.rate[0] || q.rate > tc.rate[1] {
				t.Errorf("rate = %.2f, want %.2f..%.2f", q.rate, tc.rate[0], tc.rate[1])
			}
			if tc.gateAt >= 0 && !q.gate.Equal(paceT0.Add(tc.gateAt)) && !(tc.gateAt == 0 && q.gate.IsZero()) {
				t.Errorf("gate at %v, want %v", q.gate.Sub(paceT0), tc.gateAt)
			}
			if tc.window > 0 && (q.window-tc.window).Abs() > time.Second {
				t.Errorf("window %v, want about %v", q.window, tc.window)
			}
		})
	}
}

// TestQuotaDrainAndReplay: after a refusal the bucket holds a little less than nothing when the
// gate opens; a window model admits again exactly as its own charges leave the window.
func TestQuotaDrainAndReplay(t *testing.T) {
	q := newQuota("pair/test", PriorPairWrite, 0, 0, paceT0)
	for i := range 150 {
		q.take(paceT0.Add(time.Duration(i)*10*time.Millisecond), 20, 20)
	}
	s := q.take(paceT0.Add(2*time.Second), 20, 20)
	s.answer(paceT0.Add(2100*time.Millisecond), 0)
	q.refused(paceT0.Add(2100*time.Millisecond), s, 3000, 0, 500*time.Millisecond, trip{100 * time.Millisecond, 100 * time.Millisecond}, 20)
	open := paceT0.Add(2600 * time.Millisecond)
	if w := q.wait(open.Add(-time.Millisecond), 1); w <= 0 {
		t.Errorf("before the gate opens: wait %v, want the rest of the gate", w)
	}
	if l := q.level(open); l > -1 || l < -q.rate*(cushion.Seconds()+0.01) {
		t.Errorf("at the gate's end the bucket holds %.2f, want a cushion's worth below nothing", l)
	}

	w := newQuota("pair/window", PriorPairWrite, 0, 0, paceT0)
	for i := range 150 {
		at := paceT0.Add(time.Duration(i) * 10 * time.Millisecond)
		w.take(at, 20, 20).answer(at.Add(100*time.Millisecond), 20)
	}
	s = w.take(paceT0.Add(2*time.Second), 20, 20)
	s.answer(paceT0.Add(2100*time.Millisecond), 0)
	w.refused(paceT0.Add(2100*time.Millisecond), s, 3000, 0, 148*time.Second, trip{100 * time.Millisecond, 100 * time.Millisecond}, 20)
	if !w.sliding {
		t.Fatal("not in the window model")
	}
	// Graph counts the refused envelope too: the window holds 3,000 of ours until the first
	// charge leaves (at 150 s and the 1 s margin), room for one envelope once the second does.
	// The replay then goes an envelope at a time as the old ones leave.
	second := paceT0.Add(151*time.Second + 10*time.Millisecond)
	if d := w.wait(second.Add(-time.Millisecond), 20); d <= 0 {
		t.Errorf("just before the second charge leaves: wait %v, want more", d)
	}
	if d := w.wait(second.Add(time.Millisecond), 20); d != 0 {
		t.Errorf("once it left: wait %v, want 0", d)
	}
}

// TestBlame: a refusal goes to the quota its scope header names, or else to the one our own
// count says is closest to empty.
func TestBlame(t *testing.T) {
	c := newController(RealClock)
	pair := c.quota("pair/a/t", PriorPairWrite, 0, 0)
	tenant := c.quota("tenant/t", PriorTenantWrite, 0, 0)
	app := c.quota("app/a", PriorAppWrite, 0, 0)
	ru := c.quota("pairru/a/t", PriorPairRead, 0, 0)
	p := &pacer{c: c, batch: 20}
	p.paths[classWrite] = []*quota{pair, tenant, app, ru}
	now := time.Now()
	tk := &ticket{class: classWrite}
	tenant.lower(now, 100) // the tenant's quota is nearly spent, by our count
	if got := p.blame(now, tk, ""); p.paths[classWrite][got] != tenant {
		t.Errorf("no header: blamed %s, want the tenant's", p.paths[classWrite][got].name)
	}
	if got := p.blame(now, tk, "Application/Write/a"); p.paths[classWrite][got] != app {
		t.Errorf("scope Application/Write: blamed %s, want the app's", p.paths[classWrite][got].name)
	}
	if got := p.blame(now, tk, "Tenant_Application/ResourceUnit/a/t"); p.paths[classWrite][got] != ru {
		t.Errorf("scope ResourceUnit: blamed %s, want the resource units", p.paths[classWrite][got].name)
	}

	// Without the header, a refusal that comes a moment after another lane's through a quota
	// both share is that quota's, even where our own count has less room in the pair.
	c2 := newController(RealClock)
	app2 := c2.quota("app/a", PriorAppWrite, 0, 0)
	one, two := &pacer{c: c2, batch: 20}, &pacer{c: c2, batch: 20}
	one.paths[classWrite] = []*quota{c2.quota("pair/a/t1", PriorPairWrite, 0, 0), app2}
	two.paths[classWrite] = []*quota{c2.quota("pair/a/t2", PriorPairWrite, 0, 0), app2}
	app2.join(one)
	app2.join(two)
	now = c2.clock.Now()
	for _, q := range []*quota{one.paths[classWrite][0], two.paths[classWrite][0]} {
		q.lower(now, 1000) // each pair's bucket a third full, the app's full by our count
	}
	if got := one.blame(now, tk, ""); got != 0 {
		t.Errorf("the first refusal: blamed %s, want the pair's (closest to empty)", one.paths[classWrite][got].name)
	}
	app2.refusedBy, app2.refusedAt = one, now
	if got := two.blame(now.Add(100*time.Millisecond), tk, ""); two.paths[classWrite][got] != app2 {
		t.Errorf("another lane's refusal a moment later: blamed %s, want the app's they share", two.paths[classWrite][got].name)
	}
}

// TestPacerOrder: envelopes leave in the order they asked to, even when a later, smaller one
// would fit the refill sooner. Otherwise small envelopes of retried users can overtake a full
// one for as long as Graph keeps throttling, and its users wait for ever.
func TestPacerOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newController(RealClock)
		p := &pacer{c: c, batch: 20}
		p.paths[classWrite] = []*quota{c.quota("pair/a/t", prior{Limit: 20, Window: 20 * time.Second}, 0, 0)}
		// send takes n steps and has Graph admit them at once.
		send := func(n float64) error {
			tk, err := p.acquire(t.Context(), classWrite, n, 10, true, nil)
			if err == nil {
				p.settle(tk, outcome{ok: int(n), rtt: time.Millisecond})
			}
			return err
		}
		if err := send(20); err != nil { // the whole bucket
			t.Fatal(err)
		}
		start := time.Now()
		type left struct {
			n  float64
			at time.Duration
		}
		order := make(chan left, 2)
		go func() {
			if err := send(20); err == nil {
				order <- left{20, time.Since(start)}
			}
		}()
		synctest.Wait() // the full envelope is waiting for the refill
		go func() {
			if err := send(10); err == nil {
				order <- left{10, time.Since(start)}
			}
		}()
		first, second := <-order, <-order
		if first.n != 20 || second.n != 10 || second.at < first.at {
			t.Errorf("left: %v then %v; want the envelope of 20 that asked first, then the one of 10", first, second)
		}
	})
}

// TestPriors: the app-wide prior is the current documentation's 70,000 writes per 5 min, and a
// documented figure is where a quota starts, not a ceiling: only --rate bounds the pace.
func TestPriors(t *testing.T) {
	if PriorAppWrite != (prior{70000, 5 * time.Minute}) {
		t.Errorf("PriorAppWrite = %v, want 70,000 per 5 min", PriorAppWrite)
	}
	q := newQuota("app/a", PriorAppWrite, 0, 0, paceT0)
	if math.Abs(q.rate-70000.0/300) > 1e-9 || !math.IsInf(q.ceiling, 1) {
		t.Errorf("starts at %.2f/s bounded by %v, want 233.33/s and no bound", q.rate, q.ceiling)
	}
	if r := newQuota("pair/a/t", PriorPairWrite, 50, 0, paceT0); r.rate != 50 || r.ceiling != 50 {
		t.Errorf("--rate 50: starts at %.2f bounded by %.2f, want both 50", r.rate, r.ceiling)
	}
}

// graphBucket is Graph's side of a quota in the probe scenarios: a bucket that charges refused
// steps too, as graphsim's does.
type graphBucket struct {
	limit, rate, level float64
	last               time.Time
}

func (g *graphBucket) send(now time.Time, n float64) (ok bool, ra time.Duration) {
	g.level = math.Min(g.limit, g.level+g.rate*now.Sub(g.last).Seconds())
	g.last = now
	ok = g.level >= n
	g.level -= n
	if ok {
		return true, 0
	}
	return false, time.Duration(-g.level / g.rate * float64(time.Second))
}

// probe drives one quota against a Graph bucket for d: an envelope of 20 whenever the model
// admits it, answered 100 ms later. It returns the steps Graph admitted and refused.
func probe(q *quota, g *graphBucket, d time.Duration) (admitted, refused int) {
	rtt := 100 * time.Millisecond
	for now := paceT0; now.Before(paceT0.Add(d)); now = now.Add(10 * time.Millisecond) {
		if q.wait(now, 20) > 0 {
			continue
		}
		cum, ep := q.cum, q.episode
		s := q.take(now, 20, 20)
		ok, ra := g.send(now.Add(rtt/2), 20)
		at := now.Add(rtt)
		if ok {
			s.answer(at, 20)
			admitted += 20
			continue
		}
		s.answer(at, 0)
		q.refused(at, s, cum, ep, ra+rtt/2, trip{rtt, rtt}, 20)
		refused += 20
	}
	return admitted, refused
}

// TestQuotaProbe: a bucket that holds the lane back at the documented rate for a whole window
// is probed above it. Where Graph gives twice the documented rate, the pace finds much of it;
// where Graph gives exactly the documented rate, the probes cost a refused envelope each, ever
// rarer, and the pace stays at the documented rate.
func TestQuotaProbe(t *testing.T) {
	t.Run("Graph gives twice the documented rate", func(t *testing.T) {
		q := newQuota("pair/a/t", PriorPairWrite, 0, 0, paceT0)
		g := &graphBucket{limit: 3000, rate: 40, level: 3000, last: paceT0}
		admitted, refused := probe(q, g, time.Hour)
		t.Logf("pace %.2f/s, %d admitted, %d refused", q.rate, admitted, refused)
		if q.rate < 30 {
			t.Errorf("after an hour the pace is %.2f/s, want well above the documented 20/s (Graph gives 40)", q.rate)
		}
		if floor := 3000 + 20*3600; admitted < floor*11/10 {
			t.Errorf("admitted %d in an hour, want well past the documented %d", admitted, floor)
		}
	})
	t.Run("Graph gives the documented rate", func(t *testing.T) {
		q := newQuota("pair/a/t", PriorPairWrite, 0, 0, paceT0)
		g := &graphBucket{limit: 3000, rate: 20, level: 3000, last: paceT0}
		admitted, refused := probe(q, g, time.Hour)
		t.Logf("pace %.2f/s, %d admitted, %d refused", q.rate, admitted, refused)
		if refused > 8*20 {
			t.Errorf("%d steps refused in an hour, want a few probes' envelopes", refused)
		}
		if floor := 3000 + 20*3600; admitted < floor*99/100 {
			t.Errorf("admitted %d in an hour, want at least 99%% of the %d the quota allows", admitted, floor)
		}
		if q.rate < 19.5 || q.rate > 21 {
			t.Errorf("pace %.2f/s, want about the documented 20/s", q.rate)
		}
	})
}

// TestPacerWakes: an answer wakes only the envelopes it may let go, those of its own lane (and
// of lanes held by a shared quota's steps in flight). Lane b waits ten seconds on its own pair's
// refill while lane a, which shares the app's quota with it, sends and hears back fifty times:
// b reads the model about once per second of its wait, not once per answer of a's.
func TestPacerWakes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newController(RealClock)
		app := c.quota("app/x", PriorAppWrite, 0, 0)
		a, b := &pacer{c: c, batch: 20}, &pacer{c: c, batch: 20}
		a.paths[classWrite] = []*quota{c.quota("pair/x/a", PriorPairWrite, 0, 0), app}
		b.paths[classWrite] = []*quota{c.quota("pair/x/b", prior{Limit: 20, Window: 10 * time.Second}, 0, 0), app}
		send := func(p *pacer) error {
			tk, err := p.acquire(t.Context(), classWrite, 20, 4, true, nil)
			if err == nil {
				p.settle(tk, outcome{ok: 20, rtt: 100 * time.Millisecond})
			}
			return err
		}
		if err := send(b); err != nil { // b's whole bucket: its next envelope waits 10 s
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- send(b) }()
		synctest.Wait()
		before := b.reads
		for range 50 {
			if err := send(a); err != nil {
				t.Fatal(err)
			}
			_ = c.clock.Sleep(context.Background(), 100*time.Millisecond)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if n := b.reads - before; n > 13 {
			t.Errorf("b read the model %d times while a sent 50 envelopes over its 10 s wait, want about 10", n)
		}
	})
}

// TestSharedInFlight: a quota several lanes share lets only as many steps be on their way
// across all of them as its pace admits in debtHorizon, so that its first refusal finds few in
// flight, but every lane may have one envelope out: lanes that came first must not hold the
// others back while those lanes' own quotas fill. Twenty lanes share an app quota refilling at
// 10/s (a bucket of 1,000, room for all): each lane's first envelope leaves, no second does,
// and a lane whose envelope came back may send again.
func TestSharedInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newController(RealClock)
		app := c.quota("app/x", prior{Limit: 1000, Window: 100 * time.Second}, 0, 0)
		var mu sync.Mutex
		granted := map[*pacer][]*ticket{}
		count := func() (lanes, envelopes int) {
			mu.Lock()
			defer mu.Unlock()
			for _, tks := range granted {
				lanes++
				envelopes += len(tks)
			}
			return lanes, envelopes
		}
		var lanes []*pacer
		for i := range 20 {
			p := &pacer{c: c, batch: 20}
			p.paths[classWrite] = []*quota{c.quota(fmt.Sprintf("pair/x/%d", i), PriorPairWrite, 0, 0), app}
			app.join(p) // as after a first envelope of each: the quota is known to be shared
			lanes = append(lanes, p)
		}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		for _, p := range lanes {
			for range 2 {
				go func() {
					if tk, err := p.acquire(ctx, classWrite, 20, 4, true, nil); err == nil {
						mu.Lock()
						granted[p] = append(granted[p], tk)
						mu.Unlock()
					}
				}()
			}
		}
		synctest.Wait()
		if l, n := count(); l != 20 || n != 20 {
			t.Fatalf("%d envelopes from %d lanes left at once, want one from each of the 20", n, l)
		}
		// The pair alone would let all forty go: the app's share of what is on its way holds
		// the second of each lane.
		sender := lanes[0]
		mu.Lock()
		tk := granted[sender][0]
		mu.Unlock()
		sender.settle(tk, outcome{ok: 20, rtt: 100 * time.Millisecond})
		synctest.Wait()
		if l, n := count(); n != 21 || len(granted[sender]) != 2 {
			t.Errorf("after lane 0's envelope came back, %d envelopes from %d lanes had left (lane 0: %d), want 21, lane 0 its second", n, l, len(granted[sender]))
		}
		cancel()
		synctest.Wait()
	})
}

// TestHandBack: an envelope its own lane's quota holds back handBackAfter or longer gives up
// when handBack says another lane can send it sooner, and is asked with the wait; a short wait,
// or a handBack that says no, keeps it waiting for its quota. A pool on a trailing window ended
// a whole window late without this (bench TestLanes, the three-app sliding-window cell).
func TestHandBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newController(RealClock)
		p := &pacer{c: c, batch: 20}
		// 20 steps per 100 s: once spent, the next envelope waits 100 s.
		p.paths[classWrite] = []*quota{c.quota("pair/x/a", prior{Limit: 20, Window: 100 * time.Second}, 0, 0)}
		tk, err := p.acquire(t.Context(), classWrite, 20, 4, true, nil)
		if err != nil {
			t.Fatal(err)
		}
		p.settle(tk, outcome{ok: 20, rtt: 100 * time.Millisecond})

		var asked time.Duration
		start := time.Now()
		_, err = p.acquire(t.Context(), classWrite, 20, 4, true, func(d time.Duration) bool { asked = d; return true })
		if !errors.Is(err, errHandedBack) || time.Since(start) != 0 {
			t.Fatalf("acquire = %v after %v, want errHandedBack at once", err, time.Since(start))
		}
		if asked < 90*time.Second {
			t.Errorf("handBack was asked with a wait of %v, want the quota's (about 100 s)", asked)
		}
		if w := p.wouldWait(classWrite, 20); w < 90*time.Second {
			t.Errorf("wouldWait = %v, want about 100 s", w)
		}

		start = time.Now()
		tk, err = p.acquire(t.Context(), classWrite, 20, 4, true, func(time.Duration) bool { return false })
		if err != nil || time.Since(start) < 90*time.Second {
			t.Fatalf("acquire = %v after %v, want a ticket after the quota's wait", err, time.Since(start))
		}
		p.settle(tk, outcome{ok: 20, rtt: 100 * time.Millisecond})

		// A wait shorter than handBackAfter is never handed back: the lane sends it itself.
		q := c.quota("pair/x/b", prior{Limit: 20, Window: 2 * time.Second}, 0, 0)
		b := &pacer{c: c, batch: 20}
		b.paths[classWrite] = []*quota{q}
		tk, err = b.acquire(t.Context(), classWrite, 20, 4, true, nil)
		if err != nil {
			t.Fatal(err)
		}
		b.settle(tk, outcome{ok: 20, rtt: 100 * time.Millisecond})
		called := false
		if _, err := b.acquire(t.Context(), classWrite, 20, 4, true, func(time.Duration) bool { called = true; return true }); err != nil || called {
			t.Errorf("a 2 s wait: acquire = %v, handBack asked %v; want a ticket, not asked", err, called)
		}
	})
}
