package batch_test

// The fault matrix: the engine and the real SDK client against graphsim over real loopback
// HTTP, one Graph failure mode per case; the cases that need a request timeout to fire run in a
// testing/synctest bubble over graphsim's in-memory transport instead. Every case asserts the
// same contract: each input row ends in exactly one result, each user is revoked or failed with
// the cause in its row, and graphsim's journal shows no retry sent before the Retry-After it gave.

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/bulkrevoke/bulkrevoke/batch"
	"github.com/bulkrevoke/bulkrevoke/graphsim"
)

// relFast keeps backoffs short: the real clock runs in these tests, and what is under test is
// that failures are retried and bounded, not how long the engine waits when Graph names no time.
// The request timeout stays at the engine's default (60 s): no loopback case wants it to fire,
// and a shorter one is a deadline a loaded machine can miss, resending an envelope whose work
// landed and failing a case that allows each user one revoke. The cases about timeouts run on
// synctest's fake clock.
func relFast(c batch.Config) batch.Config {
	if c.BaseBackoff == 0 {
		c.BaseBackoff = 5 * time.Millisecond
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = 40 * time.Millisecond
	}
	return c
}

// relIsBatch tells $batch requests from the rest, for wrappers that act on the Nth envelope.
func relIsBatch(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/$batch") }

// relServe starts graphsim behind wrap on a real loopback socket.
func relServe(t *testing.T, cfg graphsim.Config, users []graphsim.User, wrap func(*graphsim.Server, http.Handler) http.Handler) (*graphsim.Server, string) {
	t.Helper()
	cfg.Token = token
	sim := graphsim.New(cfg, users)
	var h http.Handler = sim
	if wrap != nil {
		h = wrap(sim, sim)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return sim, srv.URL
}

// relCheck asserts the contract every fault case shares. A failed row must carry its cause:
// the HTTP status or tool code of the last failure and a message.
func relCheck(t *testing.T, sim *graphsim.Server, sink *collector, users []graphsim.User, rows []batch.Row) (revoked, failed int) {
	t.Helper()
	relOneEach(t, sink, rows)
	sink.mu.Lock()
	defer sink.mu.Unlock()
	for _, row := range rows {
		r := sink.byLine[row.Line]
		switch r.Status {
		case batch.StatusRevoked:
			revoked++
			if n := len(sim.Revocations(row.Key)); n < 1 {
				t.Errorf("line %d reported revoked, graphsim never revoked %s", row.Line, row.Key)
			}
		case batch.StatusFailed:
			failed++
			if r.Code == "" || r.Message == "" || r.Attempts == 0 {
				t.Errorf("line %d failed without its cause: %+v", row.Line, r)
			}
		default:
			t.Errorf("line %d: %s (%s %s), want revoked or failed", row.Line, r.Status, r.Code, r.Message)
		}
	}
	if gs := sim.Stats(); gs.EarlyRetries != 0 {
		t.Errorf("graphsim counted %d early retries", gs.EarlyRetries)
	}
	return revoked, failed
}

// relNoRetryAfter answers the listed $batch requests (counting from 1) itself with status and
// no Retry-After, as a gateway in front of Graph might: the engine must pick its own backoff.
func relNoRetryAfter(status int, nth ...int) func(*graphsim.Server, http.Handler) http.Handler {
	return func(_ *graphsim.Server, next http.Handler) http.Handler {
		var n atomic.Int64
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if relIsBatch(r) {
				k := int(n.Add(1))
				for _, x := range nth {
					if x == k {
						w.Header().Set("Content-Type", "application/json")
						w.WriteHeader(status)
						_, _ = w.Write([]byte(`{"error":{"code":"Injected","message":"refused by the test gateway"}}`))
						return
					}
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

func TestFaultMatrix(t *testing.T) {
	tests := []struct {
		name   string
		sim    graphsim.Config
		wrap   func(*graphsim.Server, http.Handler) http.Handler
		engine batch.Config
		// bite says whether the fault really struck, from graphsim's journal and the engine's stats.
		bite func(gs graphsim.Stats, st batch.Stats) bool
		// once: no user may be revoked twice (the fault struck before anything ran).
		once bool
		// fakeTime runs the case in a synctest bubble over graphsim's in-memory transport (wrap
		// must be nil), for faults that only a request timeout ends: on the wall clock the
		// timeout is a deadline that any envelope of a loaded machine may miss too. The run must
		// then last at least engine.Timeout and less than sim.Faults.SlowDelay: the engine gave
		// up on the slow answer at its timeout instead of waiting it out.
		fakeTime bool
	}{
		{
			name:   "30% transient step 5xx",
			sim:    graphsim.Config{Seed: 11, Faults: graphsim.Faults{StepRate: 0.3}},
			engine: batch.Config{MaxAttempts: 30},
			bite:   func(gs graphsim.Stats, st batch.Stats) bool { return gs.StepFaults > 10 && st.Retries > 10 },
			once:   true,
		},
		{
			name: "step 503 and 429 with fractional Retry-After",
			sim: graphsim.Config{Seed: 12, FractionalRetryAfter: true, Faults: graphsim.Faults{
				StepRate: 0.2, StepStatuses: []int{429, 503}, RetryAfter: 120 * time.Millisecond}},
			engine: batch.Config{MaxAttempts: 30},
			bite:   func(gs graphsim.Stats, st batch.Stats) bool { return gs.StepFaults > 5 && st.Throttled > 0 },
			once:   true,
		},
		{
			name: "envelope 503 with Retry-After",
			sim: graphsim.Config{Seed: 13, Faults: graphsim.Faults{RetryAfter: 150 * time.Millisecond,
				Schedule: []graphsim.Scheduled{{Kind: graphsim.EnvelopeFault, Status: 503, Nth: 1}, {Kind: graphsim.EnvelopeFault, Status: 503, Nth: 3}}}},
			bite: func(gs graphsim.Stats, st batch.Stats) bool { return gs.EnvelopeFaults == 2 && st.Retries >= 20 },
			once: true,
		},
		{
			name: "envelope 429 with fractional Retry-After",
			sim: graphsim.Config{Seed: 14, FractionalRetryAfter: true, Faults: graphsim.Faults{RetryAfter: 250 * time.Millisecond,
				Schedule: []graphsim.Scheduled{{Kind: graphsim.EnvelopeFault, Status: 429, Nth: 2}}}},
			bite: func(gs graphsim.Stats, st batch.Stats) bool { return gs.EnvelopeFaults == 1 && st.Throttled >= 1 },
			once: true,
		},
		{
			name: "envelope 429 with whole-second Retry-After",
			sim: graphsim.Config{Seed: 15, Faults: graphsim.Faults{RetryAfter: 300 * time.Millisecond, // sent as "1"
				Schedule: []graphsim.Scheduled{{Kind: graphsim.EnvelopeFault, Status: 429, Nth: 1}}}},
			bite: func(gs graphsim.Stats, st batch.Stats) bool { return gs.EnvelopeFaults == 1 && st.Throttled >= 1 },
			once: true,
		},
		{
			name: "envelope 503 without Retry-After",
			wrap: relNoRetryAfter(503, 1, 2, 4),
			bite: func(gs graphsim.Stats, st batch.Stats) bool {
				return st.Envelopes == int64(gs.Envelopes)+3 && st.Retries >= 3
			},
			once: true,
		},
		{
			name: "envelope 429 without Retry-After",
			wrap: relNoRetryAfter(429, 2, 3),
			bite: func(gs graphsim.Stats, st batch.Stats) bool { return st.Throttled == 2 && st.Retries >= 2 },
			once: true,
		},
		{
			// 20 attempts, as for drops after the work: at the default 8, an envelope dropped 8
			// times in a row (0.3^8, some 7 in 100,000 envelopes) leaves its users failed. The
			// second request is always dropped: which draw of graphsim's generator decides which
			// request depends on how the concurrent requests interleave, and six envelopes can
			// all miss a 30% rate (about one run in nine).
			name: "connections dropped before the work",
			sim: graphsim.Config{Seed: 16, Faults: graphsim.Faults{DropRate: 0.3,
				Schedule: []graphsim.Scheduled{{Kind: graphsim.DropFault, Nth: 2}}}},
			engine: batch.Config{MaxAttempts: 20},
			bite:   func(gs graphsim.Stats, st batch.Stats) bool { return gs.Drops > 0 && st.Retries > 0 },
			once:   true,
		},
		{
			// The revokes landed but the answer never came: resending is allowed (revoke is
			// idempotent), losing the row is not. The second request is always dropped, as above.
			name: "connections dropped mid-response, after the work",
			sim: graphsim.Config{Seed: 17, Faults: graphsim.Faults{DropRate: 0.3, AfterWork: true,
				Schedule: []graphsim.Scheduled{{Kind: graphsim.DropFault, Nth: 2}}}},
			engine: batch.Config{MaxAttempts: 20},
			bite: func(gs graphsim.Stats, st batch.Stats) bool {
				return gs.Drops > 0 && int64(gs.Revocations) > st.Steps-st.Retries
			},
		},
		{
			// The held requests do nothing: every user is revoked once, by the retry.
			name: "responses slower than the request timeout",
			sim: graphsim.Config{Seed: 18, Faults: graphsim.Faults{SlowDelay: 5 * time.Minute,
				Schedule: []graphsim.Scheduled{{Kind: graphsim.SlowFault, Nth: 1}, {Kind: graphsim.SlowFault, Nth: 4}}}},
			engine:   batch.Config{Timeout: 30 * time.Second},
			bite:     func(gs graphsim.Stats, st batch.Stats) bool { return gs.SlowResponses == 2 && st.Retries >= 2 },
			once:     true,
			fakeTime: true,
		},
		{
			// The revokes landed before the answer stalled: the resend revokes them again
			// (more revocations than first sends), and no row may be lost.
			name: "slow responses after the work",
			sim: graphsim.Config{Seed: 19, Faults: graphsim.Faults{SlowDelay: 5 * time.Minute, AfterWork: true,
				Schedule: []graphsim.Scheduled{{Kind: graphsim.SlowFault, Nth: 2}}}},
			engine: batch.Config{Timeout: 30 * time.Second},
			bite: func(gs graphsim.Stats, st batch.Stats) bool {
				return gs.SlowResponses == 1 && st.Retries >= 1 && int64(gs.Revocations) > st.Steps-st.Retries
			},
			fakeTime: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.fakeTime {
				synctest.Test(t, func(t *testing.T) { relFaultCase(t, tc.sim, tc.wrap, tc.engine, tc.bite, tc.once, true) })
				return
			}
			relFaultCase(t, tc.sim, tc.wrap, tc.engine, tc.bite, tc.once, false)
		})
	}
}

// relFaultCase runs one case of TestFaultMatrix. With fakeTime it must run inside a synctest
// bubble: graphsim is then built there (its RealClock follows the bubble's clock) and reached
// through its in-memory transport, because a goroutine waiting on a socket never counts as
// durably blocked and fake time would not advance.
func relFaultCase(t *testing.T, cfg graphsim.Config, wrap func(*graphsim.Server, http.Handler) http.Handler, ecfg batch.Config,
	bite func(graphsim.Stats, batch.Stats) bool, once, fakeTime bool) {
	users, rows := generated(120)
	var sim *graphsim.Server
	var c *batch.GraphClient
	if fakeTime {
		if wrap != nil {
			t.Fatal("a fake-time case cannot wrap graphsim's handler: the in-memory transport calls graphsim directly")
		}
		cfg.Token = token
		sim = graphsim.New(cfg, users)
		c = client(t, "http://localhost", sim.Transport())
	} else {
		var base string
		sim, base = relServe(t, cfg, users, wrap)
		c = client(t, base, nil)
	}
	sink := newCollector(t)
	start := time.Now()
	st, err := batch.Run(t.Context(), relFast(ecfg), batch.Rows(rows), c, sink)
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	revoked, _ := relCheck(t, sim, sink, users, rows)
	if revoked != len(rows) {
		t.Errorf("%d of %d users revoked, want all", revoked, len(rows))
	}
	gs := sim.Stats()
	if !bite(gs, st) {
		t.Errorf("the fault did not strike as planned: graphsim %+v, engine %+v", gs, st)
	}
	if once {
		for _, u := range users {
			if n := len(sim.Revocations(u.ID)); n != 1 {
				t.Errorf("%s revoked %d times, want once: the fault struck before any work", u.UPN, n)
				break
			}
		}
	}
	// In the bubble elapsed is fake time, exact whatever the machine's load.
	if fakeTime && (elapsed < ecfg.Timeout || elapsed >= cfg.Faults.SlowDelay) {
		t.Errorf("the run took %v of fake time, want at least the %v timeout and less than the %v a slow answer takes",
			elapsed, ecfg.Timeout, cfg.Faults.SlowDelay)
	}
}

// TestFaultThrottleStorm: Graph throttles every step, forever. Attempts are bounded, each user
// ends failed with the 429 as its cause, nothing is retried before its Retry-After, and the run
// ends instead of looping.
func TestFaultThrottleStorm(t *testing.T) {
	users, rows := generated(30)
	const attempts = 2
	// The run is stopped once graphsim has refused every user more often than --max-attempts
	// would allow if throttling counted: an event, not a wall-clock deadline.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	sim, base := relServe(t, graphsim.Config{Seed: 20, FractionalRetryAfter: true, Faults: graphsim.Faults{
		RetryAfter: 30 * time.Millisecond, Schedule: []graphsim.Scheduled{{Kind: graphsim.StepFault, Status: 429}}}}, users,
		func(sim *graphsim.Server, next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				next.ServeHTTP(w, r)
				if sim.Stats().Writes >= len(rows)*(attempts+2) {
					cancel()
				}
			})
		})
	sink := newCollector(t)
	// Refusals cut the pace towards a fiftieth of Rate; a high Rate keeps the test short.
	st, err := batch.Run(ctx, relFast(batch.Config{MaxAttempts: attempts, Rate: 2000}), batch.Rows(rows), client(t, base, nil), sink)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	relOneEach(t, sink, rows)
	most := 0
	for _, r := range sink.byLine {
		if r.Status != batch.StatusNotAttempted || r.HTTP != 429 {
			t.Fatalf("line %d = %+v, want not_attempted, last answer 429", r.Line, r)
		}
		most = max(most, r.Attempts)
	}
	if most <= attempts {
		t.Errorf("no user was sent more than %d times: the test did not outlast --max-attempts", attempts)
	}
	if gs := sim.Stats(); gs.Revocations != 0 || gs.EarlyRetries != 0 {
		t.Errorf("graphsim saw %d revocations and %d early retries, want 0 and 0", gs.Revocations, gs.EarlyRetries)
	}
	if st.Throttled < int64(len(rows)*(attempts+1)) || st.Waits == 0 {
		t.Errorf("engine saw %d 429s in %d waits", st.Throttled, st.Waits)
	}
}

// TestFaultTokenSource: the token source fails mid-run and recovers. Failures below the limit
// in a row are retried like any transient failure; a success resets the count.
func TestFaultTokenSource(t *testing.T) {
	tests := []struct {
		name  string
		fails [][2]int // windows of failing GetToken calls
	}{
		{"two failures then recovery", [][2]int{{3, 5}}},
		{"two, a success, two more", [][2]int{{2, 4}, {5, 7}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			users, rows := generated(100)
			sim, base := relServe(t, graphsim.Config{Seed: 21}, users, nil)
			cred := &relFlaky{windows: tc.fails}
			c, err := batch.NewGraphClient(batch.GraphOptions{BaseURL: base + "/v1.0", Credential: cred})
			if err != nil {
				t.Fatal(err)
			}
			sink := newCollector(t)
			// One envelope at a time: "in a row" then means the order of GetToken calls.
			_, err = batch.Run(t.Context(), relFast(batch.Config{Concurrency: 1}), batch.Rows(rows), c, sink)
			if err != nil {
				t.Fatalf("run stopped: %v", err)
			}
			revoked, _ := relCheck(t, sim, sink, users, rows)
			if revoked != len(rows) {
				t.Errorf("%d of %d revoked", revoked, len(rows))
			}
			if cred.failures() == 0 {
				t.Error("the token source never failed")
			}
		})
	}
}

// relFlaky fails the GetToken calls inside any of its windows, through a fake.TokenCredential
// set to fail; the others go to a healthy one. (SetError(nil) does not clear the fake's error:
// it wraps nil, and the wrapper's Error method then panics.) With together > 0 the failing
// calls are held until that many have arrived, so they fail at once, as the calls in flight
// during a short outage do. The fakes are not safe for concurrent use: calls go through mu.
type relFlaky struct {
	mu            sync.Mutex
	healthy, down fake.TokenCredential
	once          sync.Once
	windows       [][2]int
	together      int
	held          int
	release       chan struct{}
	calls         int
	failed        int
}

func (c *relFlaky) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.mu.Lock()
	c.once.Do(func() {
		c.down.SetError(errors.New("AADSTS50058: relfake token endpoint unavailable"))
		c.release = make(chan struct{})
	})
	c.calls++
	fail := false
	for _, w := range c.windows {
		if c.calls >= w[0] && c.calls < w[1] {
			fail = true
		}
	}
	if !fail {
		defer c.mu.Unlock()
		return c.healthy.GetToken(ctx, o)
	}
	c.failed++
	if c.together > 0 {
		if c.held++; c.held == c.together {
			close(c.release)
		}
		c.mu.Unlock()
		<-c.release
		c.mu.Lock()
	}
	defer c.mu.Unlock()
	return c.down.GetToken(ctx, o)
}

func (c *relFlaky) failures() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failed
}

// TestFaultTokenSourceDown: a token source that stays down stops the run with ErrUnauthorized
// after a few refusals, every row still reported once, the token error named in the failed ones.
func TestFaultTokenSourceDown(t *testing.T) {
	users, rows := generated(100)
	sim, base := relServe(t, graphsim.Config{Seed: 22}, users, nil)
	cred := &relFlaky{windows: [][2]int{{3, 1 << 30}}}
	c, err := batch.NewGraphClient(batch.GraphOptions{BaseURL: base + "/v1.0", Credential: cred})
	if err != nil {
		t.Fatal(err)
	}
	sink := newCollector(t)
	_, err = batch.Run(t.Context(), relFast(batch.Config{Concurrency: 1, BatchSize: 10}), batch.Rows(rows), c, sink)
	if !errors.Is(err, batch.ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
	if strings.Contains(err.Error(), token) {
		t.Errorf("error message carries the token: %v", err)
	}
	relOneEach(t, sink, rows)
	revoked := 0
	for _, r := range sink.byLine {
		switch r.Status {
		case batch.StatusRevoked:
			revoked++
		case batch.StatusNotAttempted:
		default:
			t.Errorf("line %d: %s %s, want revoked or not_attempted", r.Line, r.Status, r.Message)
		}
	}
	if revoked != 20 || sim.Stats().Revocations != 20 {
		t.Errorf("%d rows revoked, graphsim revoked %d; want the 20 sent before the token failed", revoked, sim.Stats().Revocations)
	}
}

// relOneEach asserts that every row has exactly one result (the collector fails the test on
// a second one) and nothing else was reported.
func relOneEach(t *testing.T, sink *collector, rows []batch.Row) {
	t.Helper()
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.byLine) != len(rows) {
		t.Fatalf("%d results for %d rows", len(sink.byLine), len(rows))
	}
	for _, row := range rows {
		if _, ok := sink.byLine[row.Line]; !ok {
			t.Fatalf("line %d has no result", row.Line)
		}
	}
}

// TestFault401 makes Graph refuse the token mid-run (it expired, or was revoked) for a number of
// envelopes and then accept it again: below the limit the run recovers and revokes everyone;
// at the limit it stops with ErrUnauthorized, every row reported once.
func TestFault401(t *testing.T) {
	tests := []struct {
		name    string
		refused int // envelopes refused with 401, from the 3rd on
		wantErr bool
	}{
		{"two refusals then recovery", 2, false},
		{"three in a row stop the run", 3, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			users, rows := generated(100)
			var refused atomic.Int64
			sim, base := relServe(t, graphsim.Config{Seed: 23}, users, func(sim *graphsim.Server, next http.Handler) http.Handler {
				var n atomic.Int64
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if relIsBatch(r) {
						k := n.Add(1)
						switch {
						case k == 3:
							sim.SetToken("a-token-issued-later")
						case k == int64(3+tc.refused):
							sim.SetToken(token)
						}
						if k >= 3 && k < int64(3+tc.refused) {
							refused.Add(1)
						}
					}
					next.ServeHTTP(w, r)
				})
			})
			sink := newCollector(t)
			_, err := batch.Run(t.Context(), relFast(batch.Config{Concurrency: 1, BatchSize: 10}), batch.Rows(rows), client(t, base, nil), sink)
			gs := sim.Stats()
			if gs.Unauthorized != tc.refused {
				t.Errorf("graphsim sent %d 401s, want %d", gs.Unauthorized, tc.refused)
			}
			if tc.wantErr {
				if !errors.Is(err, batch.ErrUnauthorized) {
					t.Fatalf("err = %v, want ErrUnauthorized", err)
				}
				relOneEach(t, sink, rows)
				for _, r := range sink.byLine {
					if r.Status != batch.StatusRevoked && r.Status != batch.StatusNotAttempted {
						t.Errorf("line %d: %s, want revoked or not_attempted", r.Line, r.Status)
					}
				}
				if gs.Revocations != 20 {
					t.Errorf("graphsim revoked %d users, want the 20 of the first two envelopes", gs.Revocations)
				}
				return
			}
			if err != nil {
				t.Fatalf("run stopped: %v", err)
			}
			revoked, _ := relCheck(t, sim, sink, users, rows)
			if revoked != len(rows) {
				t.Errorf("%d of %d revoked", revoked, len(rows))
			}
		})
	}
}

// TestFaultAuthBurst: at the CLI's default concurrency, a token source down for a moment fails
// every envelope in flight at once. That is one failure of the credential, not several in a
// row: the run must ride it out.
func TestFaultAuthBurst(t *testing.T) {
	t.Run("token source", func(t *testing.T) {
		users, rows := generated(200)
		sim, base := relServe(t, graphsim.Config{Seed: 24}, users, nil)
		cred := &relFlaky{windows: [][2]int{{5, 9}}, together: 4}
		c, err := batch.NewGraphClient(batch.GraphOptions{BaseURL: base + "/v1.0", Credential: cred})
		if err != nil {
			t.Fatal(err)
		}
		sink := newCollector(t)
		if _, err := batch.Run(t.Context(), relFast(batch.Config{Concurrency: 4, BatchSize: 10}), batch.Rows(rows), c, sink); err != nil {
			t.Fatalf("run stopped: %v", err)
		}
		if revoked, _ := relCheck(t, sim, sink, users, rows); revoked != len(rows) || cred.failures() != 4 {
			t.Errorf("%d of %d revoked after %d token failures, want all after 4", revoked, len(rows), cred.failures())
		}
	})
	t.Run("401", func(t *testing.T) {
		users, rows := generated(200)
		// Envelopes 5 to 8 arrive together and are refused together; the token is good again
		// for the 9th.
		release := make(chan struct{})
		restored := make(chan struct{}) // closed once the good token is back
		var waiting atomic.Int64
		// Envelopes 1 to 4 are served in full before the token changes: one still being
		// authenticated when the 5th arrives would be refused too.
		served := make([]chan struct{}, 5)
		for i := range served {
			served[i] = make(chan struct{})
		}
		sim, base := relServe(t, graphsim.Config{Seed: 25}, users, func(sim *graphsim.Server, next http.Handler) http.Handler {
			var n atomic.Int64
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if relIsBatch(r) {
					switch k := n.Add(1); {
					case k < 5:
						next.ServeHTTP(w, r)
						close(served[k])
						return
					case k == 5:
						for _, c := range served[1:] {
							<-c
						}
						sim.SetToken("a-token-issued-later")
						fallthrough
					case k > 5 && k <= 8:
						if waiting.Add(1) == 4 {
							close(release)
						}
						<-release
						next.ServeHTTP(w, r)
						if waiting.Add(-1) == 0 {
							sim.SetToken(token)
							close(restored)
						}
						return
					case k > 8:
						// A worker whose refused envelope came back first may send the next
						// one before the last refusal is served: hold it until the token is
						// good again, so that exactly the four envelopes are refused.
						<-restored
					}
				}
				next.ServeHTTP(w, r)
			})
		})
		sink := newCollector(t)
		if _, err := batch.Run(t.Context(), relFast(batch.Config{Concurrency: 4, BatchSize: 10}), batch.Rows(rows), client(t, base, nil), sink); err != nil {
			t.Fatalf("run stopped: %v", err)
		}
		if revoked, _ := relCheck(t, sim, sink, users, rows); revoked != len(rows) {
			t.Errorf("%d of %d revoked", revoked, len(rows))
		}
		if gs := sim.Stats(); gs.Unauthorized != 4 {
			t.Errorf("graphsim sent %d 401s, want 4", gs.Unauthorized)
		}
	})
}
