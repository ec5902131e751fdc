package graphsim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestStepFaultRate(t *testing.T) {
	tests := []struct {
		name     string
		faults   Faults
		min, max int // injected faults among 200 steps
		statuses []int
	}{
		{name: "always, default statuses", faults: Faults{StepRate: 1}, min: 200, max: 200, statuses: []int{500, 502, 503, 504}},
		{name: "30%, only 503", faults: Faults{StepRate: 0.3, StepStatuses: []int{503}}, min: 40, max: 80, statuses: []int{200, 503}},
		{name: "never", faults: Faults{}, min: 0, max: 0, statuses: []int{200}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			users := GenerateUsers(200, 4)
			s, base := start(t, Config{Seed: 11, Faults: tc.faults}, users)
			replies := burst(t, base, users, 200)
			seen := map[int]bool{}
			for _, r := range replies {
				seen[r.Status] = true
				if r.Status == 503 && r.Headers["Retry-After"] != "1" {
					t.Errorf("503 step Retry-After = %q, want 1", r.Headers["Retry-After"])
				}
			}
			for _, st := range tc.statuses {
				if !seen[st] {
					t.Errorf("status %d never seen (seen %v)", st, seen)
				}
				delete(seen, st)
			}
			if len(seen) > 0 {
				t.Errorf("unexpected statuses %v", seen)
			}
			st := s.Stats()
			if st.StepFaults < tc.min || st.StepFaults > tc.max || st.Revocations != 200-st.StepFaults {
				t.Errorf("step faults %d (want %d..%d), revocations %d (want the rest)", st.StepFaults, tc.min, tc.max, st.Revocations)
			}
		})
	}
}

func TestScheduledStepFaults(t *testing.T) {
	tests := []struct {
		name  string
		sched Scheduled
		// at[i] is when (since start) the i-th single-step batch is sent;
		// key[i] which user; want[i] the expected status.
		at   []time.Duration
		key  []string
		want []int
	}{
		{
			name:  "third operation",
			sched: Scheduled{Kind: StepFault, Status: 503, Nth: 3},
			at:    []time.Duration{0, 0, 0, 0},
			key:   []string{"adele@x.com", "adele@x.com", "adele@x.com", "adele@x.com"},
			want:  []int{200, 200, 503, 200},
		},
		{
			name:  "between 10 s and 20 s",
			sched: Scheduled{Kind: StepFault, Status: 500, From: 10 * time.Second, Until: 20 * time.Second},
			at:    []time.Duration{5 * time.Second, 10 * time.Second, 19 * time.Second, 20 * time.Second},
			key:   []string{"adele@x.com", "adele@x.com", "adele@x.com", "adele@x.com"},
			want:  []int{200, 500, 500, 200},
		},
		{
			name:  "one user only",
			sched: Scheduled{Kind: StepFault, Status: 502, Users: []string{"A+B@x.com"}},
			at:    []time.Duration{0, 0, 0},
			key:   []string{"adele@x.com", "a%2Bb@x.com", "44444444-4444-4444-8444-444444444444"},
			want:  []int{200, 502, 502},
		},
		{
			name:  "scheduled 429 sets a not-before",
			sched: Scheduled{Kind: StepFault, Status: 429, Nth: 1},
			at:    []time.Duration{0, 500 * time.Millisecond, 2 * time.Second},
			key:   []string{"adele@x.com", "adele@x.com", "adele@x.com"},
			want:  []int{429, 429, 200},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := NewManualClock(t0)
			_, base := start(t, Config{Clock: clock, Faults: Faults{Schedule: []Scheduled{tc.sched}}}, trapUsers())
			for i := range tc.at {
				clock.Advance(t0.Add(tc.at[i]).Sub(clock.Now()))
				_, got := batch(t, base, []testStep{revokeStep("s", tc.key[i])})
				if got["s"].Status != tc.want[i] {
					t.Errorf("request %d at %v: status %d, want %d", i, tc.at[i], got["s"].Status, tc.want[i])
				}
			}
		})
	}
}

func TestEnvelopeFaults(t *testing.T) {
	tests := []struct {
		name   string
		faults Faults
		// sends[i]: advance the clock by wait, then post a batch; want status.
		sends []struct {
			wait   time.Duration
			status int
		}
		early int
	}{
		{
			name:   "429 on the second envelope, then an early retry",
			faults: Faults{RetryAfter: 3 * time.Second, Schedule: []Scheduled{{Kind: EnvelopeFault, Status: 429, Nth: 2}}},
			sends: []struct {
				wait   time.Duration
				status int
			}{{0, 200}, {0, 429}, {2 * time.Second, 429}, {time.Second, 200}},
			early: 1,
		},
		{
			name:   "503 by rate carries Retry-After but no not-before",
			faults: Faults{EnvelopeRate: 1, EnvelopeStatuses: []int{503}},
			sends: []struct {
				wait   time.Duration
				status int
			}{{0, 503}, {0, 503}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := NewManualClock(t0)
			s, base := start(t, Config{Clock: clock, Faults: tc.faults}, trapUsers())
			for i, snd := range tc.sends {
				clock.Advance(snd.wait)
				env, _ := batch(t, base, []testStep{revokeStep("1", "adele@x.com")})
				if env.status != snd.status {
					t.Fatalf("envelope %d: status %d, want %d: %s", i, env.status, snd.status, env.raw)
				}
				if env.status != 200 && env.header.Get("Retry-After") == "" {
					t.Errorf("envelope %d: %d without Retry-After", i, env.status)
				}
			}
			st := s.Stats()
			if st.EarlyRetries != tc.early {
				t.Errorf("EarlyRetries = %d, want %d", st.EarlyRetries, tc.early)
			}
			wantLanded := 0
			for _, snd := range tc.sends {
				if snd.status == 200 {
					wantLanded++
				}
			}
			if st.Revocations != wantLanded {
				t.Errorf("revocations = %d, want %d", st.Revocations, wantLanded)
			}
		})
	}
}

func TestDroppedConnection(t *testing.T) {
	tests := []struct {
		name      string
		afterWork bool
		landed    int
	}{
		{name: "before the work", landed: 0},
		{name: "after the work", afterWork: true, landed: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := Faults{AfterWork: tc.afterWork, Schedule: []Scheduled{{Kind: DropFault, Nth: 1}}}
			s, base := start(t, Config{Faults: f}, trapUsers())
			req, _ := http.NewRequest("POST", base+"/v1.0/users/adele@x.com/revokeSignInSessions", nil)
			req.Header.Set("Authorization", "Bearer "+testToken)
			if res, err := http.DefaultClient.Do(req); err == nil {
				res.Body.Close()
				t.Fatalf("got a %d response, want the connection dropped", res.StatusCode)
			}
			// In memory the same fault surfaces as ErrDropped.
			s.SetFaults(Faults{AfterWork: tc.afterWork, DropRate: 1})
			req, _ = http.NewRequest("POST", "http://graph.test/v1.0/users/a%2Bb@x.com/revokeSignInSessions", nil)
			req.Header.Set("Authorization", "Bearer "+testToken)
			if _, err := (&http.Client{Transport: s.Transport()}).Do(req); !errors.Is(err, ErrDropped) {
				t.Errorf("in-memory: error %v, want ErrDropped", err)
			}
			st := s.Stats()
			if st.Drops != 2 || st.Revocations != 2*tc.landed {
				t.Errorf("drops=%d revocations=%d, want 2 and %d", st.Drops, st.Revocations, 2*tc.landed)
			}
		})
	}
}

// enteredClock reports each Sleep so a test knows the handler is about to
// hold a response back. The report comes before the sleeper registers with
// the ManualClock: advancing the clock needs WaitSleepers too.
type enteredClock struct {
	*ManualClock
	entered chan time.Duration
}

func (c enteredClock) Sleep(ctx context.Context, d time.Duration) error {
	c.entered <- d
	return c.ManualClock.Sleep(ctx, d)
}

func TestSlowResponse(t *testing.T) {
	tests := []struct {
		name      string
		afterWork bool
		cancel    bool // the client gives up while the server holds the response
		status    int
		landed    int
	}{
		{name: "client times out before the work", cancel: true, landed: 0},
		{name: "client times out after the work landed", afterWork: true, cancel: true, landed: 1},
		{name: "patient client gets the answer", status: 200, landed: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := enteredClock{NewManualClock(t0), make(chan time.Duration, 1)}
			f := Faults{SlowRate: 1, SlowDelay: 2 * time.Minute, AfterWork: tc.afterWork}
			s := New(Config{Token: testToken, Clock: clock, Faults: f}, trapUsers())
			ts := httptest.NewServer(s)
			defer ts.Close()

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "POST", ts.URL+"/v1.0/users/adele@x.com/revokeSignInSessions", nil)
			req.Header.Set("Authorization", "Bearer "+testToken)
			type outcome struct {
				status int
				err    error
			}
			done := make(chan outcome, 1)
			go func() {
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					done <- outcome{err: err}
					return
				}
				res.Body.Close()
				done <- outcome{status: res.StatusCode}
			}()
			if d := <-clock.entered; d != 2*time.Minute {
				t.Errorf("server held the response for %v, want 2m", d)
			}
			if tc.cancel {
				cancel()
			} else {
				// An Advance before the handler's Sleep registers would be
				// lost, and the client would wait until go test times out.
				if err := clock.WaitSleepers(ctx, 1); err != nil {
					t.Fatal(err)
				}
				clock.Advance(2 * time.Minute)
			}
			o := <-done
			if tc.cancel != (o.err != nil) || o.status != tc.status {
				t.Errorf("status %d err %v, want status %d and an error: %v", o.status, o.err, tc.status, tc.cancel)
			}
			// The handler may still be unwinding after the client gave up;
			// closing the server waits for it.
			ts.Close()
			st := s.Stats()
			if st.SlowResponses != 1 || st.Revocations != tc.landed {
				t.Errorf("slow=%d revocations=%d, want 1 and %d", st.SlowResponses, st.Revocations, tc.landed)
			}
		})
	}
}

func TestLatency(t *testing.T) {
	tests := []struct {
		name     string
		latency  Latency
		min, max time.Duration
	}{
		{name: "uniform", latency: Uniform{Min: 100 * time.Millisecond, Max: 300 * time.Millisecond}, min: 100 * time.Millisecond, max: 300 * time.Millisecond},
		{name: "lognormal capped", latency: LogNormal{Median: 80 * time.Millisecond, Sigma: 0.8, Max: 400 * time.Millisecond}, min: time.Millisecond, max: 400 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := New(Config{Token: testToken, Seed: 5, Latency: tc.latency}, trapUsers())
				client := &http.Client{Transport: s.Transport()}
				distinct := map[time.Duration]bool{}
				for range 50 {
					req, _ := http.NewRequest("GET", "http://graph.test/v1.0/users/adele@x.com?$select=id", nil)
					req.Header.Set("Authorization", "Bearer "+testToken)
					begin := time.Now()
					res, err := client.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					res.Body.Close()
					d := time.Since(begin)
					if d < tc.min || d > tc.max {
						t.Errorf("latency %v outside [%v, %v]", d, tc.min, tc.max)
					}
					distinct[d] = true
				}
				if len(distinct) < 25 {
					t.Errorf("only %d distinct latencies in 50 requests, want a distribution", len(distinct))
				}
			})
		})
	}
}

func TestDryRunWrites(t *testing.T) {
	s, base := start(t, Config{}, trapUsers())
	s.SetDryRun(true)
	call(t, "GET", base+"/v1.0/users/adele@x.com?$select=id", nil, nil)
	if st := s.Stats(); st.DryRunWrites != 0 || st.Writes != 0 {
		t.Fatalf("reads counted as writes: %+v", st)
	}
	batch(t, base, []testStep{revokeStep("1", "adele@x.com"), revokeStep("2", "nobody@x.com")})
	s.SetDryRun(false)
	call(t, "POST", base+"/v1.0/users/adele@x.com/revokeSignInSessions", nil, nil)
	if st := s.Stats(); st.DryRunWrites != 2 || st.Writes != 3 {
		t.Errorf("DryRunWrites=%d Writes=%d, want 2 and 3", st.DryRunWrites, st.Writes)
	}
}

func TestRequestIDs(t *testing.T) {
	_, base := start(t, Config{Seed: 1}, trapUsers())
	seen := map[string]bool{}
	for i := range 5 {
		r := call(t, "GET", base+"/v1.0/users/nobody@x.com", nil, nil)
		id := r.header.Get("request-id")
		inner, _ := r.body["error"].(map[string]any)["innerError"].(map[string]any)
		if id == "" || seen[id] || inner["request-id"] != id || r.header.Get("client-request-id") != id {
			t.Errorf("call %d: request-id %q (inner %v, client-request-id %q), want a fresh id echoed everywhere",
				i, id, inner["request-id"], r.header.Get("client-request-id"))
		}
		seen[id] = true
	}
	r := call(t, "GET", base+"/v1.0/users/nobody@x.com", nil, map[string]string{"client-request-id": "mine"})
	if got := r.header.Get("client-request-id"); got != "mine" || !strings.Contains(string(r.raw), `"client-request-id":"mine"`) {
		t.Errorf("client-request-id = %q, body %s; want mine echoed", got, r.raw)
	}
}

func TestSlowResponseInMemory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := New(Config{Token: testToken, Faults: Faults{SlowRate: 1}}, trapUsers())
		client := &http.Client{Transport: s.Transport(), Timeout: 30 * time.Second}
		req, _ := http.NewRequest("POST", "http://graph.test/v1.0/users/adele@x.com/revokeSignInSessions", nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		begin := time.Now()
		_, err := client.Do(req)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v, want the client's deadline", err)
		}
		if d := time.Since(begin); d != 30*time.Second {
			t.Errorf("gave up after %v, want 30s", d)
		}
		if st := s.Stats(); st.SlowResponses != 1 || st.Revocations != 0 {
			t.Errorf("slow=%d revocations=%d, want 1 and 0", st.SlowResponses, st.Revocations)
		}
	})
}

func TestConcurrentClients(t *testing.T) {
	users := GenerateUsers(800, 6)
	s, base := start(t, Config{Seed: 2, Latency: Uniform{Max: time.Millisecond}}, users)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			mine := users[w*100 : (w+1)*100]
			for i := 0; i < len(mine); i += 20 {
				var steps []testStep
				for _, u := range mine[i : i+20] {
					steps = append(steps, revokeStep(u.ID, sdkEscape(u.UPN)))
				}
				b, _ := json.Marshal(map[string]any{"requests": steps})
				req, _ := http.NewRequest("POST", base+"/v1.0/$batch", bytes.NewReader(b))
				req.Header.Set("Authorization", "Bearer "+testToken)
				req.Header.Set("Content-Type", "application/json")
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				res.Body.Close()
			}
		})
	}
	wg.Wait()
	for _, u := range users {
		if n := len(s.Revocations(u.UPN)); n != 1 {
			t.Errorf("%s revoked %d times, want 1", u.UPN, n)
		}
	}
	if st := s.Stats(); st.Envelopes != 40 || st.Steps != 800 || st.Revocations != 800 {
		t.Errorf("envelopes=%d steps=%d revocations=%d, want 40/800/800", st.Envelopes, st.Steps, st.Revocations)
	}
}
