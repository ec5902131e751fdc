package batch_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/bulkrevoke/bulkrevoke/batch"
	"github.com/bulkrevoke/bulkrevoke/graphsim"
)

// timedSink records when each row was written, on the bubble's clock.
type timedSink struct {
	*collector
	mu sync.Mutex
	at map[int]time.Time
}

func newTimedSink(t *testing.T) *timedSink {
	return &timedSink{collector: newCollector(t), at: map[int]time.Time{}}
}

func (s *timedSink) Write(rs ...batch.Result) error {
	s.mu.Lock()
	for _, r := range rs {
		s.at[r.Line] = time.Now()
	}
	s.mu.Unlock()
	return s.collector.Write(rs...)
}

// lastBut is when the last row other than line skip was written, from start.
func (s *timedSink) lastBut(skip int, start time.Time) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	var last time.Time
	for l, at := range s.at {
		if l != skip && at.After(last) {
			last = at
		}
	}
	return last.Sub(start)
}

// TestStuckUserDelaysOnlyItself: one user whose every step Graph answers 500 (or 503 with a
// Retry-After, for ever) at line 2 of a --block-sign-in run. Everyone else is looked up,
// blocked and revoked within 1.15x of the same run without that user's trouble, the user ends
// failed after --max-attempts (a 503 that only this user gets is its own failure, not a
// throttle), and the run ends. Before: finished lookups were released in input order, and
// everyone waited behind line 2.
func TestStuckUserDelaysOnlyItself(t *testing.T) {
	const n = 4000 // 8,000 writes: past the pair's 3,000 per 150 s, so the quota sets the pace
	run := func(t *testing.T, failing int, ra time.Duration) (*timedSink, time.Duration) {
		var sink *timedSink
		var took time.Duration
		synctest.Test(t, func(t *testing.T) {
			users, rows := generated(n)
			users[0].Failing, users[0].FailingRetryAfter = failing, ra
			sim := graphsim.New(graphsim.Config{Token: token, Seed: 9}, users)
			sink = newTimedSink(t)
			start := time.Now()
			_, err := batch.Run(t.Context(), batch.Config{Plan: batch.Plan{Block: true, Revoke: true}}, batch.Rows(rows),
				client(t, "http://localhost", sim.Transport()), sink)
			if err != nil {
				t.Fatal(err)
			}
			took = sink.lastBut(rows[0].Line, start)
			if len(sink.byLine) != n {
				t.Fatalf("%d rows for %d users", len(sink.byLine), n)
			}
			for _, r := range sink.byLine {
				if r.Line == rows[0].Line {
					continue
				}
				u := users[r.Line-2]
				wantBlocked := u.AccountEnabled && !u.OnPremisesSyncEnabled
				if r.Status != batch.StatusRevoked || r.Blocked == nil || *r.Blocked != wantBlocked {
					t.Fatalf("line %d: %s blocked=%v %s, want revoked and blocked=%v", r.Line, r.Status, r.Blocked, r.Message, wantBlocked)
				}
			}
			if gs := sim.Stats(); gs.EarlyRetries != 0 {
				t.Errorf("%d early retries", gs.EarlyRetries)
			}
		})
		return sink, took
	}
	_, base := run(t, 0, 0)
	for _, c := range []struct {
		name   string
		status int
		ra     time.Duration
	}{{"500", http.StatusInternalServerError, 0}, {"503 with Retry-After", http.StatusServiceUnavailable, 2 * time.Second}} {
		t.Run(c.name, func(t *testing.T) {
			sink, took := run(t, c.status, c.ra)
			r := sink.byLine[2]
			// Eight attempts at each of its steps: the lookup (a user that cannot be read is
			// still blocked and revoked), the block and the revoke.
			if r.Status != batch.StatusFailed || r.HTTP != c.status || r.Attempts != 3*8 {
				t.Errorf("line 2: %s HTTP %d after %d attempts (%s), want failed with %d after 24", r.Status, r.HTTP, r.Attempts, r.Message, c.status)
			}
			t.Logf("the others finished in %v, %v without the stuck user", took, base)
			if float64(took) > 1.15*float64(base) {
				t.Errorf("the others finished in %v, more than 1.15x the %v they take without the stuck user", took, base)
			}
		})
	}
}

// minting is a credential that asks graphsim for a new token at every call, as a real one does
// once its token expires: what graphsim puts in the roles claim now is what the lane reads.
type minting struct {
	sim          *graphsim.Server
	app, tenant  string
	mu           sync.Mutex
	calls, after int
}

func (m *minting) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: m.sim.IssueToken(m.app, m.tenant), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// twoApps is the app pool of the pool tests: one tenant and two apps consented in it.
func twoApps() (string, []graphsim.App) {
	tenant := "11111111-0000-4000-8000-000000000001"
	return tenant, []graphsim.App{
		{ClientID: "a0000001-0000-4000-8000-000000000001", Tenants: []string{tenant}},
		{ClientID: "a0000002-0000-4000-8000-000000000002", Tenants: []string{tenant}},
	}
}

// poolLanes builds one lane per app of one tenant on graphsim's in-memory transport.
func poolLanes(t *testing.T, sim *graphsim.Server, tenant string, apps []graphsim.App, rt func(i int) http.RoundTripper) []batch.Lane {
	t.Helper()
	var lanes []batch.Lane
	for i, a := range apps {
		c, err := batch.NewGraphClient(batch.GraphOptions{BaseURL: "http://localhost/v1.0",
			Credential: &minting{sim: sim, app: a.ClientID, tenant: tenant}, Transport: rt(i)})
		if err != nil {
			t.Fatal(err)
		}
		lanes = append(lanes, batch.Lane{App: a.ClientID, TenantID: tenant, Client: c})
	}
	return lanes
}

// adminsFirst is a breach list in the common order: protected admins first, then everyone else.
func adminsFirst(admins, others int) ([]graphsim.User, []batch.Row) {
	users, rows := generated(admins + others)
	for i := range admins {
		users[i].Protected = true
	}
	return users, rows
}

// TestAdminsFirstPool: an app pool of two apps whose list starts with 200 admins the apps may
// not touch, then 600 ordinary users. Every admin is denied with Graph's own code (each tried on
// the other app once), every ordinary user is revoked, and no app is dropped: 403s for some
// users say nothing about the others. Before: 40 revoked, 760 denied lane_dropped.
func TestAdminsFirstPool(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tenant, apps := twoApps()
		users, rows := adminsFirst(200, 600)
		sim := graphsim.New(graphsim.Config{Seed: 3, TenantID: tenant, Apps: apps}, users)
		lanes := poolLanes(t, sim, tenant, apps, func(int) http.RoundTripper { return sim.Transport() })
		sink := newCollector(t)
		st, err := batch.Run(t.Context(), batch.Config{Lanes: lanes}, batch.Rows(rows), nil, sink)
		if err != nil {
			t.Fatal(err)
		}
		checkAdminsFirst(t, sim, sink, users, rows, 200)
		if len(st.Dropped) != 0 {
			t.Errorf("dropped %q: no app lost anything", st.Dropped)
		}
		// Each admin asked of each app once at most: the second refusal stands.
		if gs := sim.Stats(); gs.Statuses[http.StatusForbidden] > 2*200 {
			t.Errorf("graphsim refused %d steps, want at most two per admin", gs.Statuses[http.StatusForbidden])
		}
	})
}

// TestAdminsFirstTenants: one app over two tenants, the first tenant's list starting with 100
// admins: its 200 ordinary users and the other tenant's are revoked, the admins denied with
// Graph's code. Before: 180 of the first tenant's ordinary users denied lane_dropped.
func TestAdminsFirstTenants(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		t1, t2 := "11111111-0000-4000-8000-000000000001", "22222222-0000-4000-8000-000000000002"
		app := graphsim.App{ClientID: "a0000001-0000-4000-8000-000000000001", Tenants: []string{t1, t2}}
		u1, rows1 := adminsFirst(100, 200)
		u2 := graphsim.GenerateUsers(200, 77)
		sim := graphsim.New(graphsim.Config{Seed: 4, Apps: []graphsim.App{app},
			Tenants: []graphsim.Tenant{{ID: t1, Users: u1}, {ID: t2, Users: u2}}}, nil)
		var lanes []batch.Lane
		for _, tn := range []string{t1, t2} {
			lanes = append(lanes, poolLanes(t, sim, tn, []graphsim.App{app}, func(int) http.RoundTripper { return sim.Transport() })[0])
			lanes[len(lanes)-1].Tenant = tn
		}
		rows := rows1
		for i := range rows {
			rows[i].Tenant = t1
		}
		for i, u := range u2 {
			row := rowsOf(u.UPN)[0]
			row.Line, row.Tenant = len(rows1)+2+i, t2
			rows = append(rows, row)
		}
		sink := newCollector(t)
		st, err := batch.Run(t.Context(), batch.Config{Lanes: lanes}, batch.Rows(rows), nil, sink)
		if err != nil {
			t.Fatal(err)
		}
		if len(sink.byLine) != len(rows) {
			t.Fatalf("%d results for %d rows", len(sink.byLine), len(rows))
		}
		for i, r := range sink.byLine {
			want := batch.StatusRevoked
			if r.Line-2 < 100 {
				want = batch.StatusDenied
			}
			if r.Status != want || (want == batch.StatusDenied && r.Code != "Authorization_RequestDenied") {
				t.Errorf("line %d (%d): %s %s %q, want %s", r.Line, i, r.Status, r.Code, r.Message, want)
			}
		}
		if len(st.Dropped) != 0 {
			t.Errorf("dropped %q", st.Dropped)
		}
	})
}

func checkAdminsFirst(t *testing.T, sim *graphsim.Server, sink *collector, users []graphsim.User, rows []batch.Row, admins int) {
	t.Helper()
	if len(sink.byLine) != len(rows) {
		t.Fatalf("%d results for %d rows", len(sink.byLine), len(rows))
	}
	for i, u := range users {
		r := sink.byLine[rows[i].Line]
		switch {
		case i < admins && (r.Status != batch.StatusDenied || r.HTTP != http.StatusForbidden || r.Code != "Authorization_RequestDenied"):
			t.Errorf("admin line %d: %s %d %s %q, want denied with Graph's code", r.Line, r.Status, r.HTTP, r.Code, r.Message)
		case i >= admins && r.Status != batch.StatusRevoked:
			t.Errorf("line %d: %s %s %q, want revoked", r.Line, r.Status, r.Code, r.Message)
		case i >= admins && len(sim.Revocations(u.ID)) != 1:
			t.Errorf("%s revoked %d times", u.UPN, len(sim.Revocations(u.ID)))
		}
	}
}

// TestConsentLostRolesClaim: one app of a pool loses its consent mid-run and the tokens it gets
// from then on name no role. The roles claim is evidence about the lane itself: it is dropped
// on its first refusal, its users go to the other app, none revoked twice, none denied.
func TestConsentLostRolesClaim(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tenant, apps := twoApps()
		users, rows := generated(2000)
		sim := graphsim.New(graphsim.Config{Seed: 5, Quota: graphsim.QuotaOff, TenantID: tenant, Apps: apps}, users)
		var once sync.Once
		sent := 0
		var mu sync.Mutex
		victim := func(next http.RoundTripper) http.RoundTripper {
			return roundTripFunc(func(req *http.Request) (*http.Response, error) {
				mu.Lock()
				sent++
				if sent == 10 {
					once.Do(func() {
						sim.RevokeApp(apps[1].ClientID)
						sim.SetRoles(apps[1].ClientID, nil)
					})
				}
				mu.Unlock()
				return next.RoundTrip(req)
			})
		}
		lanes := poolLanes(t, sim, tenant, apps, func(i int) http.RoundTripper {
			if i == 1 {
				return victim(sim.Transport())
			}
			return sim.Transport()
		})
		sink := newCollector(t)
		st, err := batch.Run(t.Context(), batch.Config{Lanes: lanes}, batch.Rows(rows), nil, sink)
		if err != nil {
			t.Fatal(err)
		}
		requireRevokedOnce(t, sim, sink, users, rows)
		if len(st.Dropped) != 1 || !strings.Contains(st.Dropped[0], apps[1].ClientID) ||
			!strings.Contains(st.Dropped[0], "roles claim lacks User.RevokeSessions.All") {
			t.Errorf("dropped %q, want the app whose token lost its role, saying so", st.Dropped)
		}
		// Only what was on its way when the consent went is refused: four envelopes at the
		// default concurrency.
		if gs := sim.Stats(); gs.Denied > 4*20 {
			t.Errorf("graphsim refused %d steps of the app without consent", gs.Denied)
		}
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestDeviceListingFailed: a user whose devices Graph will not list is still revoked, and its
// row carries the failure as a value (DeviceListFailed) for the summary to count, not only as
// note text.
func TestDeviceListingFailed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		users, rows := generated(30)
		for i := range 10 {
			users[i].FailingDevices = http.StatusForbidden
		}
		_, sink, _, err := runSim(t, graphsim.Config{Seed: 8}, users, rows, batch.Config{Plan: batch.Plan{Revoke: true, Devices: true}})
		if err != nil {
			t.Fatal(err)
		}
		for i, row := range rows {
			r := sink.byLine[row.Line]
			failed := i < 10
			if r.Status != batch.StatusRevoked || r.DeviceListFailed != failed ||
				strings.Contains(r.Note, "cannot list owned devices") != failed {
				t.Errorf("line %d: %s device_list_failed=%v note %q, want revoked and %v", r.Line, r.Status, r.DeviceListFailed, r.Note, failed)
			}
		}
	})
}

// TestNoAnswerInFlight: the run stops while an envelope is out and its answer never comes back;
// its users' rows say the request left and may have landed (no_answer), the others that it
// stopped before sending say so.
func TestNoAnswerInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		users, rows := generated(60)
		sim := graphsim.New(graphsim.Config{Token: token, Seed: 8}, users)
		ctx, cancel := context.WithCancel(t.Context())
		var mu sync.Mutex
		n := 0
		hang := roundTripFunc(func(req *http.Request) (*http.Response, error) {
			mu.Lock()
			n++
			first := n == 1
			mu.Unlock()
			if first {
				cancel()
				<-req.Context().Done() // the answer never comes: the grace period ends it
				return nil, req.Context().Err()
			}
			return sim.Transport().RoundTrip(req)
		})
		sink := newCollector(t)
		_, err := batch.Run(ctx, batch.Config{Concurrency: 1, Grace: time.Second}, batch.Rows(rows), client(t, "http://localhost", hang), sink)
		if err == nil {
			t.Fatal("the run did not report its interruption")
		}
		noAnswer := 0
		for _, r := range sink.byLine {
			switch {
			case r.Code == "no_answer":
				noAnswer++
				if r.Status != batch.StatusNotAttempted || !strings.Contains(r.Message, "may have been done") {
					t.Errorf("line %d: %s %q", r.Line, r.Status, r.Message)
				}
			case r.Status == batch.StatusNotAttempted && r.Code == "interrupted":
			default:
				t.Errorf("line %d: %s %s %q", r.Line, r.Status, r.Code, r.Message)
			}
		}
		if len(sink.byLine) != len(rows) || noAnswer != batch.MaxBatchSize {
			t.Errorf("%d rows, %d without an answer; want %d and one envelope's %d", len(sink.byLine), noAnswer, len(rows), batch.MaxBatchSize)
		}
	})
}
