package batch_test

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bulkrevoke/bulkrevoke/batch"
	"github.com/bulkrevoke/bulkrevoke/graphsim"
)

var confirmPlan = batch.Plan{Lookup: true, Confirm: true, Revoke: true}

// checkRiskPace fails when two calls of one tenant arrived within a second of each other, by
// graphsim's clock.
func checkRiskPace(t *testing.T, calls []graphsim.RiskCall) {
	t.Helper()
	last := map[string]time.Time{}
	for _, c := range calls {
		if at, ok := last[c.Tenant]; ok && c.At.Sub(at) < time.Second {
			t.Errorf("tenant %s: calls %v apart, want a second at least", c.Tenant, c.At.Sub(at))
		}
		last[c.Tenant] = c.At
	}
}

// TestConfirmCalls: 200 users are confirmed in four calls of 60, 60, 60 and 20, a second or
// more apart by graphsim's journal; three 429s without Retry-After (another app spending the
// tenant's second) are waited out with a growing backoff and counted as throttling; each user's
// revoke is not held back by its confirmation, and every row says risk_confirmed true.
func TestConfirmCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		users, rows := generated(200)
		sim, sink, st, err := runSim(t, graphsim.Config{Seed: 1, ThrottleConfirms: 3}, users, rows, batch.Config{Plan: confirmPlan})
		if err != nil {
			t.Fatal(err)
		}
		calls := sim.RiskCalls()
		checkRiskPace(t, calls)
		var ok []int
		var refused []time.Time
		for _, c := range calls {
			switch c.Status {
			case http.StatusNoContent:
				ok = append(ok, c.IDs)
			case http.StatusTooManyRequests:
				refused = append(refused, c.At)
			default:
				t.Errorf("a call answered %d", c.Status)
			}
		}
		if !slices.Equal(ok, []int{60, 60, 60, 20}) {
			t.Errorf("calls that landed carried %v ids, want [60 60 60 20]", ok)
		}
		if len(refused) != 3 || len(calls) != 7 {
			t.Fatalf("%d calls, %d refused; want 7 and 3", len(calls), len(refused))
		}
		// The backoff grows: the third wait is far longer than the first could be.
		if first, third := refused[1].Sub(refused[0]), calls[3].At.Sub(refused[2]); third < 2*first || third < 4*time.Second {
			t.Errorf("waits after 429s: first %v, third %v; want a growing backoff", first, third)
		}
		if st.Throttled < 3 || st.Waits < 1 || st.RiskCalls != 7 {
			t.Errorf("stats: throttled %d, waits %d, calls %d; want the 429s counted as throttling and waits, 7 calls", st.Throttled, st.Waits, st.RiskCalls)
		}
		if got := len(sim.Confirmed()); got != 200 {
			t.Errorf("graphsim confirmed %d users, want 200", got)
		}
		for i, u := range users {
			r := sink.byLine[rows[i].Line]
			if r.Status != batch.StatusRevoked || r.RiskConfirmed == nil || !*r.RiskConfirmed || r.RiskError != "" {
				t.Fatalf("%s: %s risk_confirmed %v %q, want revoked and confirmed", u.UPN, r.Status, r.RiskConfirmed, r.RiskError)
			}
			kinds := eventKinds(sim, u.ID)
			// The revokes all land before the first call gets through the 429s.
			if got := kinds; got != "revoke,confirm" {
				t.Fatalf("%s: journal %s, want revoke,confirm (the revoke not held back by a throttled confirmation)", u.UPN, got)
			}
		}
	})
}

// TestConfirmHalving: a tenant that takes 25 ids a call answers the first call of 60 with a 400
// naming the count; the engine halves to 30, is refused again, then sends 15 a call, and every
// user is confirmed.
func TestConfirmHalving(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		users, rows := generated(100)
		sim, sink, _, err := runSim(t, graphsim.Config{Seed: 2, MaxRiskyUserIDs: 25}, users, rows, batch.Config{Plan: confirmPlan})
		if err != nil {
			t.Fatal(err)
		}
		calls := sim.RiskCalls()
		checkRiskPace(t, calls)
		var sizes []int
		for _, c := range calls {
			sizes = append(sizes, c.IDs)
			if c.Status == http.StatusNoContent && c.IDs != 15 && c.IDs != 10 {
				t.Errorf("a call of %d ids landed, want 15 (or the last 10)", c.IDs)
			}
		}
		if len(sizes) < 2 || sizes[0] != 60 || sizes[1] != 30 || calls[0].Status != 400 || calls[1].Status != 400 {
			t.Errorf("calls %v, want 60 and 30 refused first", sizes)
		}
		if len(sim.Confirmed()) != 100 {
			t.Errorf("confirmed %d, want 100", len(sim.Confirmed()))
		}
		for _, r := range sink.byLine {
			if r.RiskConfirmed == nil || !*r.RiskConfirmed {
				t.Fatalf("line %d: risk_confirmed %v %q", r.Line, r.RiskConfirmed, r.RiskError)
			}
		}
	})
}

// TestConfirmNoP2: one app in two tenants, the first without Entra ID P2. Its call is refused
// once (one call, one warning), every one of its users is still revoked with risk_confirmed false
// naming P2 and the permission; the other tenant's users are confirmed.
func TestConfirmNoP2(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		t1, t2 := "11111111-0000-4000-8000-000000000001", "22222222-0000-4000-8000-000000000002"
		app := graphsim.App{ClientID: "a0000001-0000-4000-8000-000000000001", Tenants: []string{t1, t2}}
		u1, u2 := graphsim.GenerateUsers(150, 7), graphsim.GenerateUsers(150, 8)
		sim := graphsim.New(graphsim.Config{Seed: 4, Apps: []graphsim.App{app},
			Tenants: []graphsim.Tenant{{ID: t1, Users: u1, NoP2: true}, {ID: t2, Users: u2}}}, nil)
		var lanes []batch.Lane
		for _, tn := range []string{t1, t2} {
			l := poolLanes(t, sim, tn, []graphsim.App{app}, func(int) http.RoundTripper { return sim.Transport() })[0]
			l.Tenant = tn
			lanes = append(lanes, l)
		}
		var rows []batch.Row
		for i, u := range append(slices.Clone(u1), u2...) {
			row := rowsOf(u.UPN)[0]
			row.Line, row.Tenant = i+2, t1
			if i >= len(u1) {
				row.Tenant = t2
			}
			rows = append(rows, row)
		}
		var logs bytes.Buffer
		sink := newCollector(t)
		cfg := batch.Config{Plan: confirmPlan, Lanes: lanes, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
		st, err := batch.Run(t.Context(), cfg, batch.Rows(rows), nil, sink)
		if err != nil {
			t.Fatal(err)
		}
		perTenant := map[string]int{}
		for _, c := range sim.RiskCalls() {
			perTenant[c.Tenant]++
		}
		if perTenant[t1] != 1 {
			t.Errorf("%d calls to the tenant without P2, want 1: its 403 decides for all its users", perTenant[t1])
		}
		if n := strings.Count(logs.String(), "Identity Protection refused"); n != 1 || len(st.RiskDenied) != 1 || !strings.Contains(st.RiskDenied[0], t1) {
			t.Errorf("%d warnings, denied %q; want one, naming %s", n, st.RiskDenied, t1)
		}
		if got := len(sim.Tenant(t2).Confirmed()); got != len(u2) {
			t.Errorf("tenant with P2: %d confirmed, want %d", got, len(u2))
		}
		if got := len(sim.Tenant(t1).Confirmed()); got != 0 {
			t.Errorf("tenant without P2: %d confirmed", got)
		}
		for _, row := range rows {
			r := sink.byLine[row.Line]
			if r.Status != batch.StatusRevoked || len(sim.Tenant(row.Tenant).Revocations(row.Key)) != 1 {
				t.Fatalf("line %d: %s, want revoked once", row.Line, r.Status)
			}
			if row.Tenant == t1 {
				if r.RiskConfirmed == nil || *r.RiskConfirmed || r.RiskHTTP != http.StatusForbidden || !strings.Contains(r.RiskError, "Entra ID P2") ||
					!strings.Contains(r.RiskError, "IdentityRiskyUser.ReadWrite.All") || !strings.Contains(r.RiskError, "HTTP 403") {
					t.Fatalf("line %d: risk_confirmed %v %q, want false naming P2, the permission and the 403", row.Line, r.RiskConfirmed, r.RiskError)
				}
			} else if r.RiskConfirmed == nil || !*r.RiskConfirmed {
				t.Fatalf("line %d: risk_confirmed %v %q, want true", row.Line, r.RiskConfirmed, r.RiskError)
			}
		}
	})
}

// TestConfirmDryRun: a dry run marks who would be confirmed and sends no call.
func TestConfirmDryRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		users, rows := generated(30)
		rows = append(rows, rowsOf(strings.Repeat("x", 1) + "@nobody.example")[0])
		rows[len(rows)-1].Line = len(users) + 2
		plan := confirmPlan
		plan.DryRun = true
		sim, sink, st, err := runSim(t, graphsim.Config{Seed: 3}, users, rows, batch.Config{Plan: plan})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(sim.RiskCalls()); n != 0 || st.RiskCalls != 0 {
			t.Fatalf("a dry run sent %d calls", n)
		}
		for _, row := range rows[:len(users)] {
			r := sink.byLine[row.Line]
			if !r.WouldConfirm || r.RiskConfirmed != nil || !strings.Contains(r.Note, "would confirm compromised") {
				t.Fatalf("line %d: would %v confirmed %v note %q", row.Line, r.WouldConfirm, r.RiskConfirmed, r.Note)
			}
		}
		if r := sink.byLine[len(users)+2]; r.WouldConfirm || r.Status != batch.StatusNotFound {
			t.Errorf("a user not found: %s would %v, want not_found and no confirmation", r.Status, r.WouldConfirm)
		}
	})
}

// TestConfirmResumed: a row the resumed run confirmed is not confirmed again; the others are.
func TestConfirmResumed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		users, rows := generated(40)
		for i := range 10 {
			rows[i].ConfirmDone = true
		}
		sim, sink, _, err := runSim(t, graphsim.Config{Seed: 5}, users, rows, batch.Config{Plan: confirmPlan})
		if err != nil {
			t.Fatal(err)
		}
		confirmed := sim.Confirmed()
		for i, u := range users {
			r := sink.byLine[rows[i].Line]
			if r.RiskConfirmed == nil || !*r.RiskConfirmed {
				t.Fatalf("line %d: risk_confirmed %v", rows[i].Line, r.RiskConfirmed)
			}
			if sent := slices.Contains(confirmed, u.ID); sent == (i < 10) {
				t.Errorf("line %d: sent %v; a row confirmed by the run being resumed must not be sent, the others must", rows[i].Line, sent)
			}
			if i < 10 && !strings.Contains(r.Note, "by the run being resumed") {
				t.Errorf("line %d: note %q", rows[i].Line, r.Note)
			}
		}
	})
}

// flushWatch is a sink that counts the rows written since its last Flush.
type flushWatch struct {
	*collector
	mu        sync.Mutex
	unflushed int
}

func (f *flushWatch) Write(rs ...batch.Result) error {
	f.mu.Lock()
	f.unflushed += len(rs)
	f.mu.Unlock()
	return f.collector.Write(rs...)
}

func (f *flushWatch) Flush() error {
	f.mu.Lock()
	f.unflushed = 0
	f.mu.Unlock()
	return nil
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestConfirmFlushed: the rows that waited for a call's answer are flushed before the next call
// leaves, as after every envelope; otherwise a run killed then would lose rows whose users Graph
// confirmed (the revokes were all done and flushed long before).
func TestConfirmFlushed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		users, rows := generated(130)
		sim := graphsim.New(graphsim.Config{Token: token, Seed: 6}, users)
		sink := &flushWatch{collector: newCollector(t)}
		var seen []int
		rt := roundTrip(func(r *http.Request) (*http.Response, error) {
			if strings.Contains(r.URL.Path, "confirmCompromised") {
				sink.mu.Lock()
				seen = append(seen, sink.unflushed)
				sink.mu.Unlock()
			}
			return sim.Transport().RoundTrip(r)
		})
		if _, err := batch.Run(t.Context(), batch.Config{Plan: confirmPlan}, batch.Rows(rows), client(t, "http://localhost", rt), sink); err != nil {
			t.Fatal(err)
		}
		if len(seen) != 3 || slices.Max(seen) != 0 {
			t.Errorf("rows not flushed when each call left: %v, want three calls and none", seen)
		}
	})
}

// TestConfirmFaults: a call that gets no answer, or a 500, is sent again after a backoff (never
// within the tenant's second); one that keeps failing gives up after MaxAttempts with the
// error on the rows, whose users are still revoked.
func TestConfirmFaults(t *testing.T) {
	for _, tc := range []struct {
		name      string
		faults    int // calls that fail before the tenant answers
		attempts  int
		confirmed bool
	}{
		{"recovers", 2, 8, true},
		{"gives up", 100, 3, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				users, rows := generated(50)
				sim := graphsim.New(graphsim.Config{Token: token, Seed: 7}, users)
				var calls []time.Time
				var mu sync.Mutex
				rt := roundTrip(func(r *http.Request) (*http.Response, error) {
					if strings.Contains(r.URL.Path, "confirmCompromised") {
						mu.Lock()
						calls = append(calls, time.Now())
						n := len(calls)
						mu.Unlock()
						switch {
						case n > tc.faults:
						case n%2 == 1:
							return nil, errors.New("connection reset by peer")
						default:
							rec := httptest.NewRecorder()
							rec.WriteHeader(http.StatusInternalServerError)
							return rec.Result(), nil
						}
					}
					return sim.Transport().RoundTrip(r)
				})
				sink := newCollector(t)
				cfg := batch.Config{Plan: confirmPlan, MaxAttempts: tc.attempts}
				if _, err := batch.Run(t.Context(), cfg, batch.Rows(rows), client(t, "http://localhost", rt), sink); err != nil {
					t.Fatal(err)
				}
				for i := 1; i < len(calls); i++ {
					if d := calls[i].Sub(calls[i-1]); d < time.Second {
						t.Errorf("calls %d and %d left %v apart", i, i+1, d)
					}
				}
				if !tc.confirmed && len(calls) != tc.attempts {
					t.Errorf("%d calls, want %d (MaxAttempts)", len(calls), tc.attempts)
				}
				for _, row := range rows {
					r := sink.byLine[row.Line]
					if r.Status != batch.StatusRevoked || r.RiskConfirmed == nil || *r.RiskConfirmed != tc.confirmed {
						t.Fatalf("line %d: %s risk_confirmed %v %q", row.Line, r.Status, r.RiskConfirmed, r.RiskError)
					}
					if !tc.confirmed && !strings.Contains(r.RiskError, "giving up after 3 failed attempt(s)") {
						t.Fatalf("line %d: risk_confirmed_error %q", row.Line, r.RiskError)
					}
				}
				if got := len(sim.Confirmed()) == len(users); got != tc.confirmed {
					t.Errorf("graphsim confirmed %d of %d", len(sim.Confirmed()), len(users))
				}
			})
		})
	}
}

// TestConfirmPoolPermission: in an app pool whose first app lacks IdentityRiskyUser.ReadWrite.All,
// the call refused 403 is asked of the other app before the tenant is judged: every user is
// confirmed, and nothing is reported denied.
func TestConfirmPoolPermission(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tenant, apps := twoApps()
		users, rows := generated(90)
		sim := graphsim.New(graphsim.Config{Seed: 8, TenantID: tenant, Apps: apps, NoRiskPermission: []string{apps[0].ClientID}}, users)
		lanes := poolLanes(t, sim, tenant, apps, func(int) http.RoundTripper { return sim.Transport() })
		sink := newCollector(t)
		st, err := batch.Run(t.Context(), batch.Config{Plan: confirmPlan, Lanes: lanes}, batch.Rows(rows), nil, sink)
		if err != nil {
			t.Fatal(err)
		}
		checkRiskPace(t, sim.RiskCalls())
		if len(st.RiskDenied) != 0 || len(sim.Confirmed()) != len(users) {
			t.Errorf("denied %q, confirmed %d of %d", st.RiskDenied, len(sim.Confirmed()), len(users))
		}
		for _, c := range sim.RiskCalls() {
			if c.Status == http.StatusForbidden && c.App != apps[0].ClientID {
				t.Errorf("the app with the permission was refused: %+v", c)
			}
		}
		for _, row := range rows {
			if r := sink.byLine[row.Line]; r.RiskConfirmed == nil || !*r.RiskConfirmed {
				t.Fatalf("line %d: risk_confirmed %v %q", row.Line, r.RiskConfirmed, r.RiskError)
			}
		}
	})
}

// TestConfirmFreesSlots: with few users allowed in progress (MaxPending 20) and the tenant's
// confirmations throttled, users whose own steps are done wait for their confirmation without
// holding a place: every revoke lands before the first confirmation does.
func TestConfirmFreesSlots(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		users, rows := generated(200)
		sim, sink, _, err := runSim(t, graphsim.Config{Seed: 9, ThrottleConfirms: 3}, users, rows,
			batch.Config{Plan: confirmPlan, MaxPending: 20})
		if err != nil {
			t.Fatal(err)
		}
		var lastRevoke, firstConfirm time.Time
		for _, ev := range sim.Journal() {
			switch ev.Kind {
			case graphsim.EventRevoke:
				lastRevoke = ev.At
			case graphsim.EventConfirm:
				if firstConfirm.IsZero() {
					firstConfirm = ev.At
				}
			}
		}
		if !lastRevoke.Before(firstConfirm) {
			t.Errorf("the last revoke landed at %v, the first confirmation at %v: revokes waited for confirmations", lastRevoke, firstConfirm)
		}
		for _, row := range rows {
			if r := sink.byLine[row.Line]; r.Status != batch.StatusRevoked || r.RiskConfirmed == nil || !*r.RiskConfirmed {
				t.Fatalf("line %d: %s risk_confirmed %v", row.Line, r.Status, r.RiskConfirmed)
			}
		}
	})
}
