package batch_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"

	"github.com/bulkrevoke/bulkrevoke/batch"
	"github.com/bulkrevoke/bulkrevoke/graphsim"
)

const token = "fake_token" // what azcore/fake.TokenCredential hands out

// collector is a Sink that keeps every result, and fails the test on a second result for a line.
type collector struct {
	t      *testing.T
	mu     sync.Mutex
	byLine map[int]batch.Result
}

func newCollector(t *testing.T) *collector {
	return &collector{t: t, byLine: map[int]batch.Result{}}
}

func (c *collector) Write(rs ...batch.Result) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range rs {
		if old, dup := c.byLine[r.Line]; dup {
			c.t.Errorf("line %d reported twice: %v then %v", r.Line, old.Status, r.Status)
		}
		c.byLine[r.Line] = r
	}
	return nil
}

func (c *collector) Flush() error { return nil }

func (c *collector) statuses() map[int]batch.Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := map[int]batch.Status{}
	for l, r := range c.byLine {
		m[l] = r.Status
	}
	return m
}

// rowsOf classifies inputs as the reader would, one per line from line 2 (line 1 is a header).
func rowsOf(inputs ...string) []batch.Row {
	var rows []batch.Row
	seen := map[string]int{}
	for i, in := range inputs {
		kind, key, reason := batch.Classify(in)
		row := batch.Row{Line: i + 2, Input: in, Key: key, Kind: kind, Reason: reason}
		if kind != batch.KindInvalid {
			k := strings.ToLower(key)
			if first, ok := seen[k]; ok {
				row.DupOf = first
			} else {
				seen[k] = row.Line
			}
		}
		rows = append(rows, row)
	}
	return rows
}

func client(t *testing.T, base string, rt http.RoundTripper) *batch.GraphClient {
	t.Helper()
	c, err := batch.NewGraphClient(batch.GraphOptions{BaseURL: base + "/v1.0", Credential: &fake.TokenCredential{}, Transport: rt})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func trapTenant() []graphsim.User {
	return []graphsim.User{
		{ID: "11111111-1111-4111-8111-111111111111", UPN: "adele@contoso.com", UserType: "Member", AccountEnabled: true},
		{ID: "22222222-2222-4222-8222-222222222222", UPN: "megan_fabrikam.com#EXT#@contoso.onmicrosoft.com", UserType: "Guest", AccountEnabled: true},
		{ID: "33333333-3333-4333-8333-333333333333", UPN: "$svc@contoso.com", UserType: "Member", AccountEnabled: true},
		{ID: "44444444-4444-4444-8444-444444444444", UPN: "o'brien@contoso.com", UserType: "Member", AccountEnabled: true},
		{ID: "55555555-5555-4555-8555-555555555555", UPN: "admin@contoso.com", UserType: "Member", AccountEnabled: true, Protected: true},
		{ID: "66666666-6666-4666-8666-666666666666", UPN: "j.doe!ops~x@contoso.com", UserType: "Member", AccountEnabled: false},
	}
}

// TestRunMixed drives the real SDK client over loopback HTTP against graphsim with every kind
// of row an admin's list holds, and checks each row's fate and what graphsim saw.
func TestRunMixed(t *testing.T) {
	sim := graphsim.New(graphsim.Config{Token: token, Seed: 1}, trapTenant())
	srv := httptest.NewServer(sim)
	defer srv.Close()

	rows := rowsOf(
		"adele@contoso.com", // 2
		"megan_fabrikam.com#EXT#@contoso.onmicrosoft.com", // 3 guest: # must travel as %23
		"$svc@contoso.com",                     // 4 needs the ('...') form
		"o'brien@contoso.com",                  // 5
		"admin@contoso.com",                    // 6 protected
		"ghost@contoso.com",                    // 7 not in the tenant
		"not a upn",                            // 8
		"ADELE@contoso.com",                    // 9 duplicate of 2
		"66666666-6666-4666-8666-666666666666", // 10 by object id
		"=HYPERLINK(\"http://evil\",\"x\")",    // 11
	)
	sink := newCollector(t)
	st, err := batch.Run(context.Background(), batch.Config{Concurrency: 2}, batch.Rows(rows), client(t, srv.URL, nil), sink)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]batch.Status{
		2: batch.StatusRevoked, 3: batch.StatusRevoked, 4: batch.StatusRevoked, 5: batch.StatusRevoked,
		6: batch.StatusDenied, 7: batch.StatusNotFound, 8: batch.StatusInvalid, 9: batch.StatusDuplicate,
		10: batch.StatusRevoked, 11: batch.StatusInvalid,
	}
	if got := sink.statuses(); !mapsEqual(got, want) {
		t.Errorf("statuses:\n got %v\nwant %v", got, want)
	}
	r := sink.byLine[3]
	if !strings.Contains(r.Note, "guest") {
		t.Errorf("guest row note = %q, want a guest warning", r.Note)
	}
	if r.ClientRequestID == "" || r.RequestID == "" || r.HTTP != 200 || r.Attempts != 1 {
		t.Errorf("guest row = %+v, want ids, HTTP 200, 1 attempt", r)
	}
	if r := sink.byLine[6]; r.HTTP != 403 || r.Code != "Authorization_RequestDenied" {
		t.Errorf("protected row = %+v, want 403 Authorization_RequestDenied", r)
	}
	if r := sink.byLine[7]; r.Code != "Request_ResourceNotFound" || !strings.Contains(r.Message, "ghost@contoso.com") {
		t.Errorf("missing row = %+v, want Graph's not-found code and message", r)
	}
	if r := sink.byLine[9]; !strings.Contains(r.Message, "line 2") {
		t.Errorf("duplicate row message = %q, want it to name line 2", r.Message)
	}
	for _, u := range trapTenant() {
		n := len(sim.Revocations(u.ID))
		want := 1
		if u.Protected {
			want = 0
		}
		if n != want {
			t.Errorf("%s revoked %d times, want %d", u.UPN, n, want)
		}
	}
	gs := sim.Stats()
	if gs.EarlyRetries != 0 || gs.Throttled != 0 {
		t.Errorf("graphsim saw %d early retries and %d 429s, want none", gs.EarlyRetries, gs.Throttled)
	}
	if st.Steps != 7 || st.Envelopes != 1 {
		t.Errorf("engine sent %d steps in %d envelopes, want 7 in 1", st.Steps, st.Envelopes)
	}
}

func mapsEqual(a, b map[int]batch.Status) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func generated(n int) ([]graphsim.User, []batch.Row) {
	users := graphsim.GenerateUsers(n, 42)
	inputs := make([]string, len(users))
	for i, u := range users {
		inputs[i] = u.UPN
	}
	return users, rowsOf(inputs...)
}

// runSim runs the engine against graphsim inside a synctest bubble, through graphsim's
// in-memory transport, so that minutes of quota windows and Retry-After pass in milliseconds.
// upnRows is a list of the users by userPrincipalName, one row each from line 2.
func upnRows(users []graphsim.User) []batch.Row {
	inputs := make([]string, len(users))
	for i, u := range users {
		inputs[i] = u.UPN
	}
	return rowsOf(inputs...)
}

// eventKinds is what landed on an object in graphsim, in order: "block,reset,revoke".
func eventKinds(sim *graphsim.Server, id string) string {
	var kinds []string
	for _, ev := range sim.Events(id) {
		kinds = append(kinds, ev.Kind.String())
	}
	return strings.Join(kinds, ",")
}

func runSim(t *testing.T, cfg graphsim.Config, users []graphsim.User, rows []batch.Row, ecfg batch.Config) (*graphsim.Server, *collector, batch.Stats, error) {
	t.Helper()
	cfg.Token = token
	sim := graphsim.New(cfg, users)
	sink := newCollector(t)
	st, err := batch.Run(t.Context(), ecfg, batch.Rows(rows), client(t, "http://localhost", sim.Transport()), sink)
	return sim, sink, st, err
}

func requireAllRevoked(t *testing.T, sim *graphsim.Server, sink *collector, users []graphsim.User, rows []batch.Row) {
	t.Helper()
	if len(sink.byLine) != len(rows) {
		t.Fatalf("%d results for %d rows", len(sink.byLine), len(rows))
	}
	for _, r := range sink.byLine {
		if r.Status != batch.StatusRevoked {
			t.Fatalf("line %d: %s %d %s %s, want revoked", r.Line, r.Status, r.HTTP, r.Code, r.Message)
		}
	}
	for _, u := range users {
		if n := len(sim.Revocations(u.ID)); n < 1 {
			t.Fatalf("%s never revoked", u.UPN)
		}
	}
	if gs := sim.Stats(); gs.EarlyRetries != 0 {
		t.Errorf("graphsim counted %d early retries", gs.EarlyRetries)
	}
}

// requireRevokedOnce is requireAllRevoked where no user may be revoked twice: a step Graph
// refused and the engine sent again (on another app, say) had not run.
func requireRevokedOnce(t *testing.T, sim *graphsim.Server, sink *collector, users []graphsim.User, rows []batch.Row) {
	t.Helper()
	requireAllRevoked(t, sim, sink, users, rows)
	for _, u := range users {
		if n := len(sim.Revocations(u.ID)); n != 1 {
			t.Errorf("%s revoked %d times, want once", u.UPN, n)
		}
	}
}

// TestThrottleStormSlidingWindow sends more users than the write quota's window holds: the
// engine must wait out Graph's Retry-After (fractional here) with the whole pool, never early.
func TestThrottleStormSlidingWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		users, rows := generated(3500)
		start := time.Now()
		sim, sink, st, err := runSim(t, graphsim.Config{Seed: 3, Quota: graphsim.QuotaSlidingWindow, FractionalRetryAfter: true,
			Latency: graphsim.Uniform{Min: 50 * time.Millisecond, Max: 200 * time.Millisecond}}, users, rows, batch.Config{})
		if err != nil {
			t.Fatal(err)
		}
		requireAllRevoked(t, sim, sink, users, rows)
		gs := sim.Stats()
		if gs.Throttled == 0 || st.Throttled == 0 {
			t.Fatalf("no throttling seen (graphsim %d, engine %d): the test does not test a storm", gs.Throttled, st.Throttled)
		}
		// 3,500 writes against 3,000 per 150 s cannot finish before the window rolls over.
		if el := time.Since(start); el < 150*time.Second {
			t.Errorf("finished after %v of emulated time, sooner than the quota allows", el)
		}
		if limit := gs.Writes / 50; gs.Throttled > limit {
			t.Errorf("%d throttled steps of %d writes, want at most 2%% (%d)", gs.Throttled, gs.Writes, limit)
		}
	})
}

// TestTransientFaults: 30% of steps fail with 5xx; each is retried until it lands.
func TestTransientFaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		users, rows := generated(400)
		sim, sink, st, err := runSim(t, graphsim.Config{Seed: 5, Faults: graphsim.Faults{StepRate: 0.3}}, users, rows,
			batch.Config{MaxAttempts: 30})
		if err != nil {
			t.Fatal(err)
		}
		requireAllRevoked(t, sim, sink, users, rows)
		if st.Retries == 0 {
			t.Error("no retries: the faults did not bite")
		}
		for _, u := range users {
			if n := len(sim.Revocations(u.ID)); n != 1 {
				t.Errorf("%s revoked %d times; a step answered 5xx before running must be the only resend", u.UPN, n)
				break
			}
		}
	})
}

// TestEnvelopeFaults: whole $batch requests refused with 429 (fractional Retry-After) or 503
// are sent again as a whole, after the wait Graph named.
func TestEnvelopeFaults(t *testing.T) {
	tests := []struct {
		name     string
		schedule []graphsim.Scheduled
		// While an envelope-level 429 runs, graphsim refuses the app's other envelopes before
		// its schedule counts them, so a 429 schedule cannot promise how many of its faults fire.
		minFaults, wantThrottled int
	}{
		{"429", []graphsim.Scheduled{{Kind: graphsim.EnvelopeFault, Status: 429, Nth: 1}, {Kind: graphsim.EnvelopeFault, Status: 429, Nth: 5}}, 1, 1},
		{"503", []graphsim.Scheduled{{Kind: graphsim.EnvelopeFault, Status: 503, Nth: 2}, {Kind: graphsim.EnvelopeFault, Status: 503, Nth: 4}}, 2, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				users, rows := generated(200)
				sim, sink, st, err := runSim(t, graphsim.Config{Seed: 9, FractionalRetryAfter: true, Faults: graphsim.Faults{
					RetryAfter: 1500 * time.Millisecond, Schedule: tc.schedule}}, users, rows, batch.Config{})
				if err != nil {
					t.Fatal(err)
				}
				requireAllRevoked(t, sim, sink, users, rows)
				gs := sim.Stats()
				if gs.EnvelopeFaults < tc.minFaults {
					t.Errorf("graphsim injected %d envelope faults, want at least %d", gs.EnvelopeFaults, tc.minFaults)
				}
				if int(st.Throttled) < tc.wantThrottled {
					t.Errorf("engine saw %d 429s, want at least %d", st.Throttled, tc.wantThrottled)
				}
				if st.Retries == 0 {
					t.Error("no envelope was sent again")
				}
			})
		})
	}
}

// TestEndlessThrottling: throttling never uses up a user's attempts. A Graph that answers 429
// for ever holds the run (the admin's Ctrl-C is the way out), and the users stopped that way are
// not_attempted with the last answer, never failed.
func TestEndlessThrottling(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		users, rows := generated(30)
		sim := graphsim.New(graphsim.Config{Token: token, Seed: 2, Faults: graphsim.Faults{RetryAfter: 2 * time.Second,
			Schedule: []graphsim.Scheduled{{Kind: graphsim.StepFault, Status: 429}},
		}}, users)
		sink := newCollector(t)
		ctx, cancel := context.WithCancel(t.Context())
		var waits []time.Time
		var mu sync.Mutex
		cfg := batch.Config{MaxAttempts: 2, OnWait: func(_, until time.Time) {
			mu.Lock()
			waits = append(waits, until)
			mu.Unlock()
		}}
		go func() {
			time.Sleep(10 * time.Minute) // emulated time, inside the bubble
			cancel()
		}()
		st, err := batch.Run(ctx, cfg, batch.Rows(rows), client(t, "http://localhost", sim.Transport()), sink)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if len(sink.byLine) != len(rows) {
			t.Fatalf("%d results for %d rows", len(sink.byLine), len(rows))
		}
		for _, r := range sink.byLine {
			if r.Status != batch.StatusNotAttempted || r.HTTP != 429 || r.Attempts <= 2 || !strings.Contains(r.Message, "TooManyRequests") {
				t.Fatalf("line %d = %s attempts=%d http=%d %q; want not_attempted after more than 2 attempts, last 429", r.Line, r.Status, r.Attempts, r.HTTP, r.Message)
			}
		}
		if gs := sim.Stats(); gs.EarlyRetries != 0 || gs.Revocations != 0 {
			t.Errorf("graphsim: %d early retries, %d revocations; want 0, 0", gs.EarlyRetries, gs.Revocations)
		}
		mu.Lock()
		defer mu.Unlock()
		if st.Waits == 0 || st.Waited < time.Duration(st.Waits)*2*time.Second || len(waits) == 0 {
			t.Errorf("stats: %d waits of %v in all, %d reported; want the throttled stretch counted", st.Waits, st.Waited, len(waits))
		}
	})
}

// TestUnauthorized: Graph refusing the token stops the run with ErrUnauthorized, and every
// row still gets its one result.
func TestUnauthorized(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		users, rows := generated(200)
		sim := graphsim.New(graphsim.Config{Token: "another-token", Seed: 1}, users)
		sink := newCollector(t)
		_, err := batch.Run(t.Context(), batch.Config{}, batch.Rows(rows), client(t, "http://localhost", sim.Transport()), sink)
		if !errors.Is(err, batch.ErrUnauthorized) {
			t.Fatalf("err = %v, want ErrUnauthorized", err)
		}
		if len(sink.byLine) != len(rows) {
			t.Fatalf("%d results for %d rows", len(sink.byLine), len(rows))
		}
		if gs := sim.Stats(); gs.Revocations != 0 {
			t.Errorf("%d revocations with a refused token", gs.Revocations)
		}
	})
}

// TestCancel: a cancelled run stops sending, reports the rest not_attempted, and returns
// context.Canceled; nothing is lost and nothing reported twice.
func TestCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		users, rows := generated(5000) // more than the burst: the run must wait for quota
		sim := graphsim.New(graphsim.Config{Token: token, Seed: 1}, users)
		sink := newCollector(t)
		ctx, cancel := context.WithCancel(t.Context())
		go func() {
			time.Sleep(20 * time.Second) // emulated time, inside the bubble
			cancel()
		}()
		_, err := batch.Run(ctx, batch.Config{}, batch.Rows(rows), client(t, "http://localhost", sim.Transport()), sink)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if len(sink.byLine) != len(rows) {
			t.Fatalf("%d results for %d rows", len(sink.byLine), len(rows))
		}
		var revoked, notAttempted int
		for _, r := range sink.byLine {
			switch r.Status {
			case batch.StatusRevoked:
				revoked++
			case batch.StatusNotAttempted:
				notAttempted++
			default:
				t.Errorf("line %d: %s, want revoked or not_attempted", r.Line, r.Status)
			}
		}
		if gs := sim.Stats(); gs.Revocations != revoked {
			t.Errorf("graphsim revoked %d users, the results say %d", gs.Revocations, revoked)
		}
		if revoked == 0 || notAttempted == 0 {
			t.Errorf("revoked %d, not attempted %d: the cancel did not land mid-run", revoked, notAttempted)
		}
	})
}

// TestLookup: the dry-run operation reads users, makes no write, and fills what it learned.
func TestLookup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		users := trapTenant()
		rows := rowsOf("adele@contoso.com", "j.doe!ops~x@contoso.com", "ghost@contoso.com",
			"megan_fabrikam.com#EXT#@contoso.onmicrosoft.com", "11111111-1111-4111-8111-111111111111")
		sim, sink, _, err := runSim(t, graphsim.Config{Seed: 1}, users, rows, batch.Config{Op: batch.OpLookup})
		if err != nil {
			t.Fatal(err)
		}
		got := sink.statuses()
		want := map[int]batch.Status{2: batch.StatusWouldRevoke, 3: batch.StatusWouldRevoke, 4: batch.StatusNotFound,
			5: batch.StatusWouldRevoke, 6: batch.StatusDuplicate}
		if !mapsEqual(got, want) {
			t.Errorf("statuses:\n got %v\nwant %v", got, want)
		}
		if r := sink.byLine[3]; r.AccountEnabled == nil || *r.AccountEnabled || !strings.Contains(r.Note, "disabled") ||
			r.UserID != "66666666-6666-4666-8666-666666666666" {
			t.Errorf("disabled user row = %+v", r)
		}
		if r := sink.byLine[5]; r.UserType != "Guest" || !strings.Contains(r.Note, "guest") {
			t.Errorf("guest row = %+v", r)
		}
		if r := sink.byLine[6]; !strings.Contains(r.Message, "line 2") {
			t.Errorf("object-id duplicate message = %q, want it to name line 2", r.Message)
		}
		if gs := sim.Stats(); gs.Writes != 0 || gs.Reads != 5 {
			t.Errorf("graphsim saw %d writes and %d reads, want 0 and 5", gs.Writes, gs.Reads)
		}
	})
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"", 0, false},
		{"7", 7 * time.Second, true},
		{"0.249", 249 * time.Millisecond, true},
		{" 2.5 ", 2500 * time.Millisecond, true},
		{"-1", 0, false},
		{"NaN", 0, false},
		{"soon", 0, false},
		{"Sat, 28 Nov 2026 12:00:30 GMT", 30 * time.Second, true},
		{"Sat, 28 Nov 2026 11:00:00 GMT", 0, true},
		{"1e12", batch.MaxRetryAfter, true},
		{"Mon, 01 Nov 2027 00:00:00 GMT", batch.MaxRetryAfter, true},
	}
	for _, tc := range tests {
		got, ok := batch.ParseRetryAfter(tc.in, now)
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.wantOK)
		}
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"1", "0.249", "Sat, 28 Nov 2026 12:00:30 GMT", "-0", "1e400", "+Inf"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := batch.ParseRetryAfter(s, now)
		if d < 0 || d > batch.MaxRetryAfter || (!ok && d != 0) {
			t.Errorf("ParseRetryAfter(%q) = %v, %v", s, d, ok)
		}
	})
}

// TestRetriesTravelTogether: users whose steps failed without a Retry-After come back as one
// envelope, not as one envelope each (their backoffs are jittered apart).
func TestRetriesTravelTogether(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		users, rows := generated(20)
		sim, sink, st, err := runSim(t, graphsim.Config{Seed: 4, Faults: graphsim.Faults{
			// Every step of the first envelope fails; the clock stands still until it is answered.
			Schedule: []graphsim.Scheduled{{Kind: graphsim.StepFault, Status: 500, Until: time.Millisecond}},
		}}, users, rows, batch.Config{})
		if err != nil {
			t.Fatal(err)
		}
		requireAllRevoked(t, sim, sink, users, rows)
		if gs := sim.Stats(); gs.StepFaults != 20 {
			t.Fatalf("%d step faults, want the first envelope's 20", gs.StepFaults)
		}
		if st.Envelopes != 2 {
			t.Errorf("%d envelopes for 20 users failed once, want 2", st.Envelopes)
		}
	})
}
