// Package bench measures how close bulkrevoke's engine comes to the least time Graph's write
// quota allows, and how it compares with the one-request-at-a-time loop admins run, both against
// graphsim on a shared scaled clock.
package bench

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"runtime/metrics"
	"slices"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/bulkrevoke/bulkrevoke/batch"
	"github.com/bulkrevoke/bulkrevoke/graphsim"
)

// Graph's write quota for one app in one tenant, as graphsim emulates it.
const (
	QuotaLimit  = 3000
	QuotaWindow = 150 * time.Second
)

// Scenario is one emulated tenant and the load on it.
type Scenario struct {
	Name  string
	Users int
	Quota graphsim.QuotaModel
	// Latency is added by graphsim to every request, drawn evenly from [LatencyMin, LatencyMax].
	LatencyMin, LatencyMax time.Duration
	// Competing is another client's write load, in writes per emulated second.
	Competing graphsim.Competing
	// Headers is where graphsim puts the optional throttle headers; the zero value sends none.
	Headers graphsim.ThrottleHeaderMode
	// QuotaScale shrinks (or grows) Graph's quotas without telling the engine; 0 means 1.
	QuotaScale float64
	// Shape sizes and windows the write levels one by one, also untold (graphsim.Shape); the
	// floor follows the pair's level.
	Shape graphsim.Shape
	// Faults are injected by graphsim on top of throttling.
	Faults graphsim.Faults
	// FreeRefusals runs Graph charging only admitted steps (graphsim.Config.FreeRefusals).
	FreeRefusals bool
	// Block also blocks sign-in before each revoke (revoke --block-sign-in): two writes a user.
	Block bool
	// Reset also resets each user's password between the block and the revoke (revoke
	// --reset-password): one more write a user.
	Reset bool
	// Confirm also confirms every user compromised (revoke --confirm-compromised): Identity
	// Protection's one call a second per tenant, up to 60 users a call, beside the writes.
	Confirm bool
	// BaselineUsers is how many users the sequential loop is timed on; its time is scaled up to
	// Users. 0 means all of them.
	BaselineUsers int
	Seed          int64
	// Clock is shared by graphsim and the client. nil means a new graphsim.ScaledClock of Scale
	// for every run; tests pass graphsim.RealClock inside a testing/synctest bubble.
	Clock graphsim.Clock
	Scale float64
	// BaselineScale is the sequential loop's clock factor; 0 means Scale. The loop spends real
	// CPU time per request that a fast clock turns into emulated latency, which flatters the
	// engine: a slower clock keeps the comparison honest.
	BaselineScale float64
	// MemEvery samples the process's heap that often (real time) during the run; 0 disables.
	MemEvery time.Duration
}

// Result is what one runner did in one scenario.
type Result struct {
	Scenario string
	Runner   string // "bulkrevoke" or "sequential"
	Users    int    // users the run was asked to revoke
	Measured int    // users actually sent: fewer than Users for an extrapolated baseline
	Emulated time.Duration
	Real     time.Duration
	Floor    time.Duration
	// Steps are the revocations graphsim received, retries included; Throttled the 429s it
	// answered; EarlyRetries the requests that came back before their Retry-After.
	Steps, Throttled, EarlyRetries int
	Lost                           int    // users not revoked, by the client's results or by graphsim's journal
	Failed                         int    // users the client reported failed
	Waits                          int64  // throttled stretches the client counted
	PeakHeap                       uint64 // highest heap seen in this process, client and graphsim together; 0 when not sampled
	// MaxRatio and MaxThrottled (a share of Steps) are the limits the cell is held to; 0: none.
	MaxRatio, MaxThrottled float64
}

// Over says how the result misses its limits or issue 9's zeros (early retries, lost, failed);
// none when it does not. A run whose floor is zero (the quota takes it all at once) has no ratio
// to hold.
func (r Result) Over() []string {
	var out []string
	if r.MaxRatio > 0 && r.Floor > 0 && r.Ratio() > r.MaxRatio {
		out = append(out, fmt.Sprintf("ratio %s over %.2f", fmtRatio(r.Ratio()), r.MaxRatio))
	}
	if r.MaxThrottled > 0 && float64(r.Throttled) > r.MaxThrottled*float64(r.Steps) {
		out = append(out, fmt.Sprintf("%.2f%% throttled over %g%%", percent(r.Throttled, r.Steps), 100*r.MaxThrottled))
	}
	if r.EarlyRetries != 0 || r.Lost != 0 || r.Failed != 0 {
		out = append(out, fmt.Sprintf("%d early retries, %d lost, %d failed", r.EarlyRetries, r.Lost, r.Failed))
	}
	return out
}

// For restates a result for another scenario of the same tenant, quota and latency: the
// sequential loop is bound by latency, so one measurement serves every size.
func (r Result) For(s Scenario) Result {
	r.Scenario, r.Users, r.Floor = s.Name, s.Users, s.Floor()
	if r.Measured > r.Users {
		r.Measured = r.Users
	}
	return r
}

// Extrapolated reports whether the time was measured on fewer users than Users.
func (r Result) Extrapolated() bool { return r.Measured < r.Users }

// Time is the run's emulated time, scaled to Users when the run measured fewer.
func (r Result) Time() time.Duration {
	if r.Measured <= 0 || !r.Extrapolated() {
		return r.Emulated
	}
	return time.Duration(float64(r.Emulated) * float64(r.Users) / float64(r.Measured))
}

// Ratio is Time over Floor; +Inf when the floor is zero and the run took time.
func (r Result) Ratio() float64 {
	if r.Floor <= 0 {
		if r.Time() <= 0 {
			return 1
		}
		return math.Inf(1)
	}
	return float64(r.Time()) / float64(r.Floor)
}

// Floor is the scenario's least time: Floor for its writes (one or two a user), quota model,
// competitor and scale.
func (s Scenario) Floor() time.Duration {
	writes := s.Users
	if s.Block {
		writes += s.Users
	}
	if s.Reset {
		writes += s.Users
	}
	return s.withRisk(FloorShaped(writes, s.Quota, s.Competing, s.QuotaScale, s.Shape.Pair))
}

// withRisk is a write floor, or with Confirm the Identity Protection floor when that is larger.
func (s Scenario) withRisk(writes time.Duration) time.Duration {
	if !s.Confirm {
		return writes
	}
	return max(writes, RiskFloor(s.Users))
}

// RiskFloor is the least time Identity Protection's one request a second per tenant allows for
// confirming n users compromised, batch.RiskMaxIDs a call: the first call at once, then one a
// second.
func RiskFloor(n int) time.Duration {
	calls := (n + batch.RiskMaxIDs - 1) / batch.RiskMaxIDs
	return time.Duration(max(0, calls-1)) * time.Second
}

// Floor is the least emulated time in which Graph's app+tenant write quota admits n writes, less
// what a competitor takes:
//
//   - token bucket: the full bucket at once, then the refill rate left:
//     max(0, n-3000) / (20 - c) seconds, c being the competitor's writes per second on the same
//     app (a competitor of another app draws on the tenant's 18,000 per 5 min only, which leaves
//     this app its whole quota while c <= 40/s; that case is not given a floor here).
//   - sliding window: a whole window at once, then another every 150 s:
//     ceil(max(0, n-3000)/3000) * 150 s; with a same-app competitor each later window holds
//     3000 - 150c for us.
//
// The last batch's round trip is not counted, so a perfect client has a ratio a little above 1.
func Floor(n int, model graphsim.QuotaModel, comp graphsim.Competing) time.Duration {
	return FloorScaled(n, model, comp, 1)
}

// FloorScaled is Floor for a quota scale times the documented one (0 means 1).
func FloorScaled(n int, model graphsim.QuotaModel, comp graphsim.Competing, scale float64) time.Duration {
	return FloorShaped(n, model, comp, scale, graphsim.Level{})
}

// FloorShaped is FloorScaled for a pair's quota of another size and window (graphsim.Level).
func FloorShaped(n int, model graphsim.QuotaModel, comp graphsim.Competing, scale float64, pair graphsim.Level) time.Duration {
	if scale <= 0 {
		scale = 1
	}
	c := 0.0
	if comp.Scope == graphsim.CompetingSameApp {
		c = comp.WritesPerSecond
	}
	limit, window := shaped(pair, QuotaLimit*scale, QuotaWindow)
	rest := math.Max(0, float64(n)-limit)
	switch model {
	case graphsim.QuotaTokenBucket:
		left := limit/window.Seconds() - c
		if left <= 0 {
			return time.Duration(math.MaxInt64)
		}
		return time.Duration(rest / left * float64(time.Second))
	case graphsim.QuotaSlidingWindow:
		per := limit - c*window.Seconds()
		if per <= 0 {
			return time.Duration(math.MaxInt64)
		}
		return time.Duration(math.Ceil(rest/per)) * window
	}
	return 0
}

// shaped is a documented limit and window under a graphsim.Level (zero fields mean 1).
func shaped(l graphsim.Level, limit float64, window time.Duration) (float64, time.Duration) {
	if l.Size > 0 {
		limit *= l.Size
	}
	if l.Window > 0 {
		window = time.Duration(float64(window) * l.Window)
	}
	return limit, window
}

// Run runs the engine and then the sequential loop, each against its own fresh graphsim.
func Run(ctx context.Context, s Scenario) ([]Result, error) {
	eng, err := RunEngine(ctx, s)
	if err != nil {
		return nil, err
	}
	seq, err := RunSequential(ctx, s)
	if err != nil {
		return []Result{eng}, err
	}
	return []Result{eng, seq}, nil
}

func (s Scenario) server(users []graphsim.User, clock graphsim.Clock) *graphsim.Server {
	cfg := graphsim.Config{
		Token:                token,
		Clock:                clock,
		Seed:                 s.Seed,
		Quota:                s.Quota,
		FractionalRetryAfter: true,
		Competing:            s.Competing,
		ThrottleHeaders:      s.Headers,
		QuotaScale:           s.QuotaScale,
		Shape:                s.Shape,
		Faults:               s.Faults,
		FreeRefusals:         s.FreeRefusals,
	}
	if s.LatencyMax > 0 {
		cfg.Latency = graphsim.Uniform{Min: s.LatencyMin, Max: s.LatencyMax}
	}
	return graphsim.New(cfg, users)
}

func (s Scenario) clock() graphsim.Clock {
	if s.Clock != nil {
		return s.Clock
	}
	return graphsim.NewScaledClock(s.Scale)
}

const token = "bench-token"

type staticToken string

func (t staticToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: string(t), ExpiresOn: time.Now().Add(24 * time.Hour)}, nil
}

// RunEngine revokes every user of the scenario with batch.Run at its default settings, through
// the Graph SDK client and graphsim's in-memory transport.
func RunEngine(ctx context.Context, s Scenario) (Result, error) {
	users := graphsim.GenerateUsers(s.Users, s.Seed)
	clock := s.clock()
	srv := s.server(users, clock)
	client, err := batch.NewGraphClient(batch.GraphOptions{
		BaseURL:    "http://localhost/v1.0",
		Credential: staticToken(token),
		Transport:  srv.Transport(),
	})
	if err != nil {
		return Result{}, err
	}
	sink := &tally{ok: make([]bool, len(users))}
	stopMem := sampleHeap(s.MemEvery)
	begin, realBegin := clock.Now(), time.Now()
	cfg := batch.Config{Clock: clock}
	if s.Block || s.Reset || s.Confirm {
		cfg.Plan = batch.Plan{Lookup: true, Block: s.Block, Reset: s.Reset, Confirm: s.Confirm, Revoke: true}
	}
	est, err := batch.Run(ctx, cfg, &userSource{users: users}, client, sink)
	emulated, real := clock.Now().Sub(begin), time.Since(realBegin)
	peak := stopMem()
	if err != nil {
		return Result{}, fmt.Errorf("engine run: %w", err)
	}
	st := srv.Stats()
	lost := 0
	confirmed := map[string]bool{}
	for _, id := range srv.Confirmed() {
		confirmed[id] = true
	}
	for i, u := range users {
		if !sink.ok[i] || len(srv.Revocations(u.ID)) == 0 {
			lost++
			continue
		}
		if now, _ := srv.User(u.ID); s.Block && u.AccountEnabled && !u.OnPremisesSyncEnabled && now.AccountEnabled {
			lost++ // to be blocked, and not
		}
		if s.Confirm && !confirmed[u.ID] {
			lost++ // to be confirmed compromised, and not
		}
		if s.Reset && !u.OnPremisesSyncEnabled && !slices.ContainsFunc(srv.Events(u.ID), func(ev graphsim.Event) bool {
			return ev.Kind == graphsim.EventReset
		}) {
			lost++ // a password to be reset, and not
		}
	}
	floor := s.Floor()
	if s.Block || s.Reset {
		// Users already disabled are not blocked, users synced from on-premises AD neither
		// blocked nor reset: the floor is that of the writes the list really needs.
		writes := len(users)
		for _, u := range users {
			if s.Block && u.AccountEnabled && !u.OnPremisesSyncEnabled {
				writes++
			}
			if s.Reset && !u.OnPremisesSyncEnabled {
				writes++
			}
		}
		floor = s.withRisk(FloorShaped(writes, s.Quota, s.Competing, s.QuotaScale, s.Shape.Pair))
	}
	return Result{
		Scenario: s.Name, Runner: "bulkrevoke", Users: len(users), Measured: len(users),
		Emulated: emulated, Real: real, Floor: floor,
		Steps: st.Writes + st.Patches, Throttled: st.Throttled, EarlyRetries: st.EarlyRetries, Lost: lost, PeakHeap: peak,
		Failed: sink.failed, Waits: est.Waits,
	}, nil
}

// userSource hands the engine one row per generated user, as the reader would for a list of
// UPNs; its line numbers index the tally.
type userSource struct {
	users []graphsim.User
	next  int
}

func (u *userSource) Next() (batch.Row, error) {
	if u.next >= len(u.users) {
		return batch.Row{}, io.EOF
	}
	in := u.users[u.next].UPN
	u.next++
	kind, key, reason := batch.Classify(in)
	return batch.Row{Line: u.next, Input: in, Key: key, Kind: kind, Reason: reason}, nil
}

// tally is a Sink that remembers which users were reported revoked.
type tally struct {
	mu     sync.Mutex
	ok     []bool
	failed int
}

func (t *tally) Write(rs ...batch.Result) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, r := range rs {
		if r.Line < 1 || r.Line > len(t.ok) {
			return fmt.Errorf("result for line %d, which was never read", r.Line)
		}
		t.ok[r.Line-1] = r.Status == batch.StatusRevoked
		if r.Status == batch.StatusFailed {
			t.failed++
		}
	}
	return nil
}

func (t *tally) Flush() error { return nil }

// RunSequential is the loop admins run with Revoke-MgUserSignInSession over a CSV: one POST
// /users/{key}/revokeSignInSessions at a time, waiting out Retry-After on a 429 and retrying a
// 5xx after a second. It runs on BaselineUsers users and its time is scaled up to Users.
func RunSequential(ctx context.Context, s Scenario) (Result, error) {
	n := s.Users
	if s.BaselineUsers > 0 && s.BaselineUsers < n {
		n = s.BaselineUsers
	}
	users := graphsim.GenerateUsers(n, s.Seed)
	if s.BaselineScale > 0 {
		s.Scale = s.BaselineScale
	}
	clock := s.clock()
	srv := s.server(users, clock)
	hc := &http.Client{Transport: srv.Transport()}
	stopMem := sampleHeap(s.MemEvery)
	begin, realBegin := clock.Now(), time.Now()
	lost := 0
	for _, u := range users {
		ok, err := revokeOne(ctx, hc, clock, u.UPN)
		if err != nil {
			stopMem()
			return Result{}, err
		}
		if !ok {
			lost++
		}
	}
	emulated, real := clock.Now().Sub(begin), time.Since(realBegin)
	peak := stopMem()
	st := srv.Stats()
	return Result{
		Scenario: s.Name, Runner: "sequential", Users: s.Users, Measured: n,
		Emulated: emulated, Real: real, Floor: s.Floor(),
		Steps: st.Writes, Throttled: st.Throttled, EarlyRetries: st.EarlyRetries, Lost: lost, PeakHeap: peak,
	}, nil
}

// sequentialAttempts bounds the loop's retries of one user, as a script's retry loop would.
const sequentialAttempts = 10

func revokeOne(ctx context.Context, hc *http.Client, clock graphsim.Clock, upn string) (bool, error) {
	_, key, _ := batch.Classify(upn)
	url := "http://localhost/v1.0" + batch.UserPath(key) + "/revokeSignInSessions"
	for range sequentialAttempts {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, http.NoBody)
		if err != nil {
			return false, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := hc.Do(req)
		if err != nil {
			return false, fmt.Errorf("sequential revoke of %s: %w", upn, err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		switch {
		case res.StatusCode >= 200 && res.StatusCode < 300:
			return true, nil
		case res.StatusCode == http.StatusTooManyRequests || res.StatusCode >= 500:
			wait, ok := batch.ParseRetryAfter(res.Header.Get("Retry-After"), clock.Now())
			if !ok {
				wait = time.Second
			}
			if err := clock.Sleep(ctx, wait); err != nil {
				return false, err
			}
		default:
			return false, nil
		}
	}
	return false, nil
}

// sampleHeap records the highest live heap every interval until the returned function is
// called, which returns it (0 when interval is 0).
func sampleHeap(every time.Duration) func() uint64 {
	if every <= 0 {
		return func() uint64 { return 0 }
	}
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	var peak uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			peak = max(peak, read())
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-finished
		return max(peak, read())
	}
}
