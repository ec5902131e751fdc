package graphsim

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestMeters(t *testing.T) {
	type step struct {
		at       time.Duration // since t0
		charge   float64
		wantWait time.Duration // wait(at, 1) after the charge
	}
	tests := []struct {
		name  string
		meter func() meter
		steps []step
	}{
		{
			name:  "token bucket refills continuously",
			meter: func() meter { return newTokenBucket(10, 10*time.Second, t0) },
			steps: []step{
				{at: 0, charge: 9, wantWait: 0},
				{at: 0, charge: 1, wantWait: time.Second},
				{at: 500 * time.Millisecond, charge: 0, wantWait: 500 * time.Millisecond},
				{at: time.Second, charge: 0, wantWait: 0},
				{at: time.Second, charge: 3, wantWait: 3 * time.Second}, // refused charges deepen the debt
			},
		},
		{
			name:  "token bucket debt is capped at one window",
			meter: func() meter { return newTokenBucket(10, 10*time.Second, t0) },
			steps: []step{
				{at: 0, charge: 100, wantWait: 11 * time.Second},
			},
		},
		{
			name:  "sliding window waits for the oldest charge to leave",
			meter: func() meter { return newSlidingWindow(10, 10*time.Second) },
			steps: []step{
				{at: 0, charge: 4, wantWait: 0},
				{at: 2 * time.Second, charge: 6, wantWait: 8 * time.Second},
				{at: 9 * time.Second, charge: 0, wantWait: time.Second},
				{at: 10 * time.Second, charge: 0, wantWait: 0},
				{at: 10 * time.Second, charge: 4, wantWait: 2 * time.Second}, // 6 (at 2 s) + 4 = full
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.meter()
			for i, st := range tc.steps {
				now := t0.Add(st.at)
				if st.charge > 0 {
					m.charge(now, st.charge)
				}
				if got := m.wait(now, 1); got != st.wantWait {
					t.Errorf("step %d: wait = %v, want %v", i, got, st.wantWait)
				}
			}
		})
	}
}

// burst sends n revokes in batches of 20 at the current clock reading and
// returns the step replies in send order.
func burst(t *testing.T, base string, users []User, n int) []stepReply {
	t.Helper()
	var out []stepReply
	for sent := 0; sent < n; {
		var steps []testStep
		for ; len(steps) < 20 && sent < n; sent++ {
			steps = append(steps, revokeStep(fmt.Sprint(sent), users[sent%len(users)].ID))
		}
		env, got := batch(t, base, steps)
		if env.status != 200 {
			t.Fatalf("envelope status %d: %s", env.status, env.raw)
		}
		for _, st := range steps {
			out = append(out, got[st.ID])
		}
	}
	return out
}

func TestAppWriteQuota(t *testing.T) {
	tests := []struct {
		name       string
		model      QuotaModel
		fractional bool
		wantRetry  string        // Retry-After of the first refused write
		wantWait   time.Duration // how long the clock must move for it to pass
	}{
		{name: "token bucket, fractional", model: QuotaTokenBucket, fractional: true, wantRetry: "0.1", wantWait: 100 * time.Millisecond},
		{name: "token bucket, whole seconds", model: QuotaTokenBucket, wantRetry: "1", wantWait: 100 * time.Millisecond},
		{name: "sliding window", model: QuotaSlidingWindow, wantRetry: "150", wantWait: 150 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := NewManualClock(t0)
			users := GenerateUsers(100, 1)
			s, base := start(t, Config{Clock: clock, Quota: tc.model, FractionalRetryAfter: tc.fractional, ThrottleHeaders: HeadersSteps}, users)
			replies := burst(t, base, users, 3000)
			for i, r := range replies {
				if r.Status != 200 {
					t.Fatalf("write %d: status %d, want all 3000 admitted", i, r.Status)
				}
			}
			if p := replies[0].Headers["x-ms-throttle-limit-percentage"]; p != "" {
				t.Errorf("first write carries x-ms-throttle-limit-percentage %q, want none below 80%%", p)
			}
			// Steps of a batch run in any order: the last batch holds the
			// write that filled the quota.
			peak := 0.0
			for _, r := range replies[2980:] {
				p, _ := strconv.ParseFloat(r.Headers["x-ms-throttle-limit-percentage"], 64)
				peak = max(peak, p)
			}
			if peak != 1 {
				t.Errorf("last batch: peak x-ms-throttle-limit-percentage = %v, want 1", peak)
			}

			_, got := batch(t, base, []testStep{revokeStep("late", users[0].ID)})
			r := got["late"]
			if r.Status != 429 || errField(r.Body, "code") != "TooManyRequests" {
				t.Fatalf("write 3001: status %d code %q, want 429 TooManyRequests", r.Status, errField(r.Body, "code"))
			}
			if r.Headers["Retry-After"] != tc.wantRetry {
				t.Errorf("Retry-After = %q, want %q", r.Headers["Retry-After"], tc.wantRetry)
			}
			scope := "Tenant_Application/Write/" + s.cfg.AppID + "/" + s.cfg.TenantID
			if r.Headers["x-ms-throttle-scope"] != scope || r.Headers["x-ms-throttle-information"] != "WriteLimitExceeded" {
				t.Errorf("throttle headers scope=%q info=%q, want %q WriteLimitExceeded",
					r.Headers["x-ms-throttle-scope"], r.Headers["x-ms-throttle-information"], scope)
			}

			// Waiting exactly the true wait is enough.
			clock.Advance(tc.wantWait)
			_, got = batch(t, base, []testStep{revokeStep("retry", users[0].ID)})
			if got["retry"].Status != 200 {
				t.Errorf("retry after %v: status %d, want 200", tc.wantWait, got["retry"].Status)
			}
			st := s.Stats()
			if st.Throttled != 1 || st.EarlyRetries != 0 || st.Writes != 3002 || st.Revocations != 3001 {
				t.Errorf("stats throttled=%d early=%d writes=%d revocations=%d, want 1/0/3002/3001",
					st.Throttled, st.EarlyRetries, st.Writes, st.Revocations)
			}
		})
	}
}

func TestEarlyRetryAndChargingWhileThrottled(t *testing.T) {
	clock := NewManualClock(t0)
	users := GenerateUsers(100, 1)
	s, base := start(t, Config{Clock: clock, FractionalRetryAfter: true}, users)
	burst(t, base, users, 3000)

	_, got := batch(t, base, []testStep{revokeStep("a", users[1].ID)})
	ra, err := strconv.ParseFloat(got["a"].Headers["Retry-After"], 64)
	if got["a"].Status != 429 || err != nil {
		t.Fatalf("status %d Retry-After %q, want 429 with a number", got["a"].Status, got["a"].Headers["Retry-After"])
	}
	wait := time.Duration(ra * float64(time.Second))

	// Half-way through its Retry-After the same user comes back: refused,
	// counted, and told to wait longer than what was left.
	clock.Advance(wait / 2)
	_, got = batch(t, base, []testStep{revokeStep("a2", users[1].ID)})
	ra2, _ := strconv.ParseFloat(got["a2"].Headers["Retry-After"], 64)
	if got["a2"].Status != 429 || ra2 <= ra/2 {
		t.Errorf("early retry: status %d Retry-After %v, want 429 and more than %v", got["a2"].Status, ra2, ra/2)
	}
	if st := s.Stats(); st.EarlyRetries != 1 {
		t.Errorf("EarlyRetries = %d, want 1", st.EarlyRetries)
	}

	// Another user hammering while throttled is charged, which pushes back
	// the moment user a would have been admitted.
	for i := range 10 {
		batch(t, base, []testStep{revokeStep("h", users[10+i].ID)})
	}
	clock.Advance(time.Duration(ra2 * float64(time.Second)))
	_, got = batch(t, base, []testStep{revokeStep("a3", users[1].ID)})
	if got["a3"].Status != 429 {
		t.Errorf("after others hammered: status %d, want 429 (their refused writes were charged)", got["a3"].Status)
	}
	if st := s.Stats(); st.EarlyRetries != 1 || st.Throttled != 13 {
		t.Errorf("EarlyRetries=%d Throttled=%d, want 1 and 13", st.EarlyRetries, st.Throttled)
	}
}

// TestFreeRefusals: whether Graph charges the steps it refuses ("all requests accrue against your
// usage limits", its page says) is a switch, and both sides hold: others hammering a full quota
// push back the moment a refused user would pass only when refusals are charged.
func TestFreeRefusals(t *testing.T) {
	for _, free := range []bool{false, true} {
		t.Run(fmt.Sprintf("free=%v", free), func(t *testing.T) {
			clock := NewManualClock(t0)
			users := GenerateUsers(100, 1)
			s, base := start(t, Config{Clock: clock, FractionalRetryAfter: true, FreeRefusals: free}, users)
			burst(t, base, users, 3000)
			_, got := batch(t, base, []testStep{revokeStep("a", users[1].ID)})
			ra, err := strconv.ParseFloat(got["a"].Headers["Retry-After"], 64)
			if got["a"].Status != 429 || err != nil {
				t.Fatalf("status %d Retry-After %q, want 429 with a number", got["a"].Status, got["a"].Headers["Retry-After"])
			}
			for i := range 10 {
				batch(t, base, []testStep{revokeStep("h", users[10+i].ID)})
			}
			clock.Advance(time.Duration(ra * float64(time.Second)))
			_, got = batch(t, base, []testStep{revokeStep("a2", users[1].ID)})
			want := 429
			if free {
				want = 200
			}
			if got["a2"].Status != want {
				t.Errorf("after others hammered and the Retry-After passed: status %d, want %d", got["a2"].Status, want)
			}
			throttled := 11 // a and the ten others
			if !free {
				throttled++ // and a again
			}
			if st := s.Stats(); st.EarlyRetries != 0 || st.Throttled != throttled {
				t.Errorf("EarlyRetries=%d Throttled=%d, want 0 and %d", st.EarlyRetries, st.Throttled, throttled)
			}
		})
	}
}

func TestResourceUnitQuotaByTenantSize(t *testing.T) {
	tests := []struct {
		tenantSize int
		limit      int
	}{
		{tenantSize: 49, limit: 3500},
		{tenantSize: 50, limit: 5000},
		{tenantSize: 500, limit: 5000},
		{tenantSize: 501, limit: 8000},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.tenantSize), func(t *testing.T) {
			users := GenerateUsers(20, 2)
			s, base := start(t, Config{Clock: NewManualClock(t0), TenantSize: tc.tenantSize, Quota: QuotaSlidingWindow, ThrottleHeaders: HeadersSteps}, users)
			// Reads without $select cost 2 RU each.
			for sent := 0; sent < tc.limit/2; sent += 20 {
				var steps []testStep
				for i := range 20 {
					steps = append(steps, testStep{ID: fmt.Sprint(i), Method: "GET", URL: "/users/" + users[i].ID})
				}
				if _, got := batch(t, base, steps); got["0"].Status != 200 {
					t.Fatalf("read %d: status %d, want 200", sent, got["0"].Status)
				}
			}
			_, got := batch(t, base, []testStep{{ID: "x", Method: "GET", URL: "/users/" + users[0].ID + "?$select=id"}})
			r := got["x"]
			if r.Status != 429 || r.Headers["x-ms-throttle-information"] != "ResourceUnitLimitExceeded" || r.Headers["Retry-After"] != "10" {
				t.Errorf("read past the budget: status %d info %q Retry-After %q, want 429 ResourceUnitLimitExceeded 10",
					r.Status, r.Headers["x-ms-throttle-information"], r.Headers["Retry-After"])
			}
			if st := s.Stats(); st.Writes != 0 {
				t.Errorf("writes = %d, want 0", st.Writes)
			}
		})
	}
}

func TestCompetingLoad(t *testing.T) {
	tests := []struct {
		name      string
		model     QuotaModel
		comp      Competing
		run       time.Duration
		wantScope string // prefix of x-ms-throttle-scope
	}{
		{name: "other app eats the tenant quota (window)", model: QuotaSlidingWindow,
			comp: Competing{WritesPerSecond: 100, Scope: CompetingTenant}, run: 4 * time.Minute, wantScope: "Tenant/Write/"},
		{name: "other app eats the tenant quota (bucket)", model: QuotaTokenBucket,
			comp: Competing{WritesPerSecond: 100, Scope: CompetingTenant}, run: 10 * time.Minute, wantScope: "Tenant/Write/"},
		{name: "same app elsewhere eats the app quota", model: QuotaTokenBucket,
			comp: Competing{WritesPerSecond: 30, Scope: CompetingSameApp}, run: 6 * time.Minute, wantScope: "Tenant_Application/Write/"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := NewManualClock(t0)
			_, base := start(t, Config{Clock: clock, Quota: tc.model, Competing: tc.comp, ThrottleHeaders: HeadersSteps}, trapUsers())
			// Before the other load has run, the quota is ours.
			if _, got := batch(t, base, []testStep{revokeStep("1", "adele@x.com")}); got["1"].Status != 200 {
				t.Fatalf("first write: status %d, want 200", got["1"].Status)
			}
			clock.Advance(tc.run)
			_, got := batch(t, base, []testStep{revokeStep("2", "a%2Bb@x.com")})
			r := got["2"]
			if r.Status != 429 || len(r.Headers["x-ms-throttle-scope"]) < len(tc.wantScope) ||
				r.Headers["x-ms-throttle-scope"][:len(tc.wantScope)] != tc.wantScope {
				t.Errorf("status %d scope %q, want 429 with scope %s...", r.Status, r.Headers["x-ms-throttle-scope"], tc.wantScope)
			}
		})
	}
}

func TestQuotaOff(t *testing.T) {
	users := GenerateUsers(10, 1)
	s, base := start(t, Config{Clock: NewManualClock(t0), Quota: QuotaOff}, users)
	for i, r := range burst(t, base, users, 3100) {
		if r.Status != 200 {
			t.Fatalf("write %d: status %d, want 200 with quotas off", i, r.Status)
		}
	}
	if st := s.Stats(); st.Throttled != 0 || st.Revocations != 3100 {
		t.Errorf("throttled=%d revocations=%d, want 0/3100", st.Throttled, st.Revocations)
	}
}

// TestThrottleHeaderModes: by default only Retry-After tells a client it is throttled; the
// documented headers appear on the steps or on the envelope only when asked for.
func TestThrottleHeaderModes(t *testing.T) {
	tests := []struct {
		mode               ThrottleHeaderMode
		onSteps, onEnvelop bool
	}{
		{HeadersNone, false, false},
		{HeadersSteps, true, false},
		{HeadersEnvelope, false, true},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.mode), func(t *testing.T) {
			clock := NewManualClock(t0)
			users := GenerateUsers(100, 1)
			_, base := start(t, Config{Clock: clock, ThrottleHeaders: tc.mode}, users)
			// 2,990 writes leave the bucket at 99.7%; the next envelope of 20 is half refused.
			burst(t, base, users, 2990)
			var steps []testStep
			for i := range 20 {
				steps = append(steps, revokeStep(fmt.Sprint("s", i), users[i].ID))
			}
			env, got := batch(t, base, steps)
			refused, stepPct, stepScope := 0, false, false
			for _, r := range got {
				if r.Status == 429 {
					refused++
					if r.Headers["Retry-After"] == "" {
						t.Errorf("a refused step has no Retry-After")
					}
					stepScope = stepScope || r.Headers["x-ms-throttle-scope"] != ""
				}
				stepPct = stepPct || r.Headers["x-ms-throttle-limit-percentage"] != ""
			}
			if refused == 0 {
				t.Fatalf("no step refused; the test needs some")
			}
			if stepPct != tc.onSteps || stepScope != tc.onSteps {
				t.Errorf("steps carry percentage %v, scope %v; want %v", stepPct, stepScope, tc.onSteps)
			}
			envPct := env.header.Get("x-ms-throttle-limit-percentage") != ""
			envScope := strings.HasPrefix(env.header.Get("x-ms-throttle-scope"), "Tenant_Application/Write/")
			if envPct != tc.onEnvelop || envScope != tc.onEnvelop {
				t.Errorf("envelope carries percentage %v, scope %v; want %v", envPct, envScope, tc.onEnvelop)
			}
		})
	}
}

func TestParseThrottleHeaders(t *testing.T) {
	for in, want := range map[string]ThrottleHeaderMode{"": HeadersNone, "none": HeadersNone, "steps": HeadersSteps, "envelope": HeadersEnvelope} {
		if got, ok := ParseThrottleHeaders(in); !ok || got != want {
			t.Errorf("ParseThrottleHeaders(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
	if _, ok := ParseThrottleHeaders("always"); ok {
		t.Errorf("ParseThrottleHeaders(always) accepted")
	}
}

// TestShape: each level of the write quotas takes the size and window its Level gives it, as
// multiples of the documented figures after QuotaScale, and the others keep theirs; the app-wide
// quota is today's documented 70,000 per 5 min.
func TestShape(t *testing.T) {
	type want struct {
		limit  float64
		window time.Duration
	}
	figures := func(m meter) want {
		switch m := m.(type) {
		case *tokenBucket:
			return want{m.limit, time.Duration(m.limit / m.rate * float64(time.Second))}
		case *slidingWindow:
			return want{m.limit, m.window}
		}
		return want{}
	}
	tests := []struct {
		name              string
		model             QuotaModel
		scale             float64
		shape             Shape
		pair, tenant, app want
	}{
		{"documented", QuotaTokenBucket, 1, Shape{},
			want{3000, 150 * time.Second}, want{18000, 5 * time.Minute}, want{70000, 5 * time.Minute}},
		{"a window a fifth of the documented length", QuotaSlidingWindow, 1, Shape{Pair: Level{Size: 0.2, Window: 0.2}},
			want{600, 30 * time.Second}, want{18000, 5 * time.Minute}, want{70000, 5 * time.Minute}},
		{"a tenant bucket a thirtieth of the documented, refilling at 60/s", QuotaTokenBucket, 1, Shape{Tenant: Level{Size: 1.0 / 30, Window: 1.0 / 30}},
			want{3000, 150 * time.Second}, want{600, 10 * time.Second}, want{70000, 5 * time.Minute}},
		{"the app-wide quota at half, on a half quota", QuotaTokenBucket, 0.5, Shape{App: Level{Size: 0.5}},
			want{1500, 150 * time.Second}, want{9000, 5 * time.Minute}, want{17500, 5 * time.Minute}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			thr := newThrottle(tc.model, tc.scale, tc.shape, false, Competing{}, "", "", 0, t0)
			got := [3]want{figures(thr.pair("a", "t", 10, t0).write.m), figures(thr.tenant("t", t0).m), figures(thr.app("a", t0).write.m)}
			for i, w := range [3]want{tc.pair, tc.tenant, tc.app} {
				if math.Abs(got[i].limit-w.limit) > 1e-6 || (got[i].window-w.window).Abs() > time.Millisecond {
					t.Errorf("level %d: %.0f per %v, want %.0f per %v", i, got[i].limit, got[i].window, w.limit, w.window)
				}
			}
		})
	}
}
