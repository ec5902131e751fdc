package graphsim

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"testing/synctest"
	"time"
)

// TestQuotaRunOnScaledClock drives more writes than the app+tenant quota
// holds through a client that honours Retry-After and then paces itself at
// the quota's rate, on a clock running 50 times faster than (fake) real
// time: every user is revoked exactly once, nobody retries early, and the
// run takes as long as the model says.
func TestQuotaRunOnScaledClock(t *testing.T) {
	tests := []struct {
		name     string
		model    QuotaModel
		min, max time.Duration // emulated run time
	}{
		// 3,000 at once; 20 refused with a debt that takes 1.05 s to clear;
		// then the remaining 400 at 20/s.
		{name: "token bucket", model: QuotaTokenBucket, min: 21 * time.Second, max: 22 * time.Second},
		// 3,000 at once; the window clears 150 s later; then 400 at 20/s.
		{name: "sliding window", model: QuotaSlidingWindow, min: 170 * time.Second, max: 171 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				clock := NewScaledClock(50)
				users := GenerateUsers(3400, 3)
				s := New(Config{Token: testToken, Clock: clock, Quota: tc.model, FractionalRetryAfter: true, Seed: 8}, users)
				client := &http.Client{Transport: s.Transport()}
				queue := make([]string, len(users))
				for i, u := range users {
					queue[i] = u.ID
				}
				realStart, begin := time.Now(), clock.Now()
				paced := false
				for len(queue) > 0 {
					n := 20
					if paced {
						n = 1
					}
					take := queue[:min(n, len(queue))]
					queue = queue[len(take):]
					wait := time.Duration(0)
					for id, r := range sendRevokes(t, client, take) {
						switch r.Status {
						case 200:
						case 429:
							ra, err := strconv.ParseFloat(r.Headers["Retry-After"], 64)
							if err != nil {
								t.Fatalf("Retry-After %q: %v", r.Headers["Retry-After"], err)
							}
							wait = max(wait, time.Duration(ra*float64(time.Second)))
							queue = append(queue, id)
						default:
							t.Fatalf("step %s: status %d", id, r.Status)
						}
					}
					if wait > 0 {
						paced = true
					} else if paced {
						wait = 50 * time.Millisecond
					}
					if err := clock.Sleep(context.Background(), wait); err != nil {
						t.Fatal(err)
					}
				}
				emulated, real := clock.Now().Sub(begin), time.Since(realStart)
				if emulated < tc.min || emulated > tc.max {
					t.Errorf("run took %v emulated, want %v..%v", emulated, tc.min, tc.max)
				}
				if want := emulated / 50; real < want-time.Millisecond || real > want+50*time.Millisecond {
					t.Errorf("run took %v real, want about %v (emulated/50)", real, want)
				}
				st := s.Stats()
				if st.EarlyRetries != 0 || st.Throttled != 20 || st.Revocations != len(users) {
					t.Errorf("early=%d throttled=%d revocations=%d, want 0, 20, %d", st.EarlyRetries, st.Throttled, st.Revocations, len(users))
				}
				for _, u := range users {
					if n := len(s.Revocations(u.ID)); n != 1 {
						t.Fatalf("%s revoked %d times, want exactly once", u.UPN, n)
					}
				}
			})
		})
	}
}

func sendRevokes(t *testing.T, client *http.Client, ids []string) map[string]stepReply {
	t.Helper()
	steps := make([]testStep, len(ids))
	for i, id := range ids {
		steps[i] = revokeStep(id, id)
	}
	b, _ := json.Marshal(map[string]any{"requests": steps})
	req, _ := http.NewRequest("POST", "http://graph.test/v1.0/$batch", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/json")
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		Responses []stepReply `json:"responses"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != 200 {
		t.Fatalf("envelope %d: %v", res.StatusCode, err)
	}
	m := map[string]stepReply{}
	for _, r := range out.Responses {
		m[r.ID] = r
	}
	return m
}
