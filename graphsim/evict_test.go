package graphsim

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestPasswordReset models Graph's answers to a PATCH of passwordProfile: 204 and a journal
// entry for a user it may reset; 400 with Graph's message for a user synced from AD and for a
// password the policy refuses; 403 for an admin the app may not touch and for an app without
// the permission; nothing recorded for any refusal.
func TestPasswordReset(t *testing.T) {
	users := []User{
		{ID: "a0000000-0000-4000-8000-000000000001", UPN: "plain@x.com", AccountEnabled: true},
		{ID: "a0000000-0000-4000-8000-000000000002", UPN: "synced@x.com", AccountEnabled: true, OnPremisesSyncEnabled: true},
		{ID: "a0000000-0000-4000-8000-000000000003", UPN: "admin@x.com", AccountEnabled: true, Admin: true},
	}
	body := func(p string) []byte {
		return []byte(`{"passwordProfile":{"password":"` + p + `","forceChangePasswordNextSignIn":true}}`)
	}
	const strong = "Xy7!kQ2#mN9$pL4%rT6^vW8&zB3*cD5(fG1)hJ0"
	for _, tc := range []struct {
		name   string
		cfg    Config
		user   string
		pw     string
		status int
		code   string
		msg    string
	}{
		{"plain", Config{}, "plain@x.com", strong, http.StatusNoContent, "", ""},
		{"synced", Config{}, "synced@x.com", strong, http.StatusBadRequest, "Request_BadRequest", syncedMessage},
		{"admin", Config{}, "admin@x.com", strong, http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."},
		{"weak", Config{}, "plain@x.com", "password", http.StatusBadRequest, "Request_BadRequest", weakPasswordMessage},
		{"two classes", Config{}, "plain@x.com", "abcdefgh12345678", http.StatusBadRequest, "Request_BadRequest", weakPasswordMessage},
		{"policy", Config{RefusePasswords: true}, "plain@x.com", strong, http.StatusBadRequest, "Request_BadRequest", weakPasswordMessage},
		{"no permission", Config{NoPasswordPermission: true}, "plain@x.com", strong, http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, base := start(t, tc.cfg, users)
			r := call(t, http.MethodPatch, base+"/v1.0/users/"+tc.user, body(tc.pw), map[string]string{"Content-Type": "application/json"})
			if r.status != tc.status || r.errCode() != tc.code || r.errMessage() != tc.msg {
				t.Fatalf("PATCH: %d %s %q, want %d %s %q", r.status, r.errCode(), r.errMessage(), tc.status, tc.code, tc.msg)
			}
			evs := s.Events(tc.user)
			pw := s.Passwords()
			if tc.status == http.StatusNoContent {
				if len(evs) != 1 || evs[0].Kind != EventReset || len(pw) != 1 || pw[0] != tc.pw {
					t.Errorf("journal %v, passwords %d; want one reset holding the password sent", evs, len(pw))
				}
				return
			}
			if len(evs) != 0 || len(pw) != 0 {
				t.Errorf("a refused reset left journal %v and %d passwords", evs, len(pw))
			}
		})
	}
}

// TestPasswordResetNotInState: the state graphsim saves never holds a password it received.
func TestPasswordResetNotInState(t *testing.T) {
	const pw = "Qw3rty!Secret#Value9876"
	s, base := start(t, Config{}, []User{{ID: "a0000000-0000-4000-8000-000000000001", UPN: "plain@x.com", AccountEnabled: true}})
	r := call(t, http.MethodPatch, base+"/v1.0/users/plain@x.com", []byte(`{"passwordProfile":{"password":"`+pw+`"}}`),
		map[string]string{"Content-Type": "application/json"})
	if r.status != http.StatusNoContent {
		t.Fatalf("PATCH: %d", r.status)
	}
	b, err := json.Marshal(s.State())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), pw) {
		t.Error("the saved state holds the password")
	}
}

// TestConfirmCompromised models Identity Protection's confirmCompromised: 204 and a journal
// entry per user named; a second call within the tenant's second refused 429 without
// Retry-After (and charged: the next must wait a second from it); another tenant's second is its
// own; more ids than the most per call refused 400 naming the count; a tenant without P2
// refused 403; ThrottleConfirms refuses the first calls; every call is in RiskCalls.
func TestConfirmCompromised(t *testing.T) {
	const other = "b0000000-0000-4000-8000-0000000000ff"
	users := []User{
		{ID: "a0000000-0000-4000-8000-000000000001", UPN: "one@x.com", AccountEnabled: true},
		{ID: "a0000000-0000-4000-8000-000000000002", UPN: "two@x.com", AccountEnabled: true},
		{ID: "a0000000-0000-4000-8000-000000000003", UPN: "three@x.com", AccountEnabled: true},
	}
	ids := func(n ...int) []byte {
		var q []string
		for _, i := range n {
			q = append(q, `"`+users[i].ID+`"`)
		}
		return []byte(`{"userIds":[` + strings.Join(q, ",") + `]}`)
	}
	hdr := map[string]string{"Content-Type": "application/json"}
	path := "/v1.0/identityProtection/riskyUsers/confirmCompromised"

	t.Run("pace", func(t *testing.T) {
		clock := NewManualClock(t0)
		s, base := start(t, Config{Clock: clock, MaxRiskyUserIDs: 2}, users)
		call(t, http.MethodPost, base+path, ids(0, 1), hdr).expect(t, http.StatusNoContent, "")
		clock.Advance(999 * time.Millisecond)
		r := call(t, http.MethodPost, base+path, ids(2), hdr)
		if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "" {
			t.Fatalf("a call within the second: %d Retry-After %q, want 429 without", r.status, r.header.Get("Retry-After"))
		}
		clock.Advance(999 * time.Millisecond) // 1.998 s after the first, 0.999 s after the refused one
		call(t, http.MethodPost, base+path, ids(2), hdr).expect(t, http.StatusTooManyRequests, "")
		clock.Advance(time.Second)
		r = call(t, http.MethodPost, base+path, ids(0, 1, 2), hdr)
		if r.status != http.StatusBadRequest || !strings.Contains(r.errMessage(), "(3)") {
			t.Fatalf("three ids where two may go: %d %q, want 400 naming 3", r.status, r.errMessage())
		}
		clock.Advance(time.Second)
		call(t, http.MethodPost, base+path, ids(2), hdr).expect(t, http.StatusNoContent, "")
		if got := strings.Join(s.Confirmed(), ","); got != users[0].ID+","+users[1].ID+","+users[2].ID {
			t.Errorf("confirmed %s, want all three", got)
		}
		if evs := s.Events(users[2].ID); len(evs) != 1 || evs[0].Kind != EventConfirm {
			t.Errorf("journal of the third user %v, want one confirm", evs)
		}
		var statuses []int
		for _, c := range s.RiskCalls() {
			statuses = append(statuses, c.Status)
		}
		if want := []int{204, 429, 429, 400, 204}; !slices.Equal(statuses, want) {
			t.Errorf("calls answered %v, want %v", statuses, want)
		}
		if st := s.Stats(); st.RiskCalls != 5 || st.RiskThrottled != 2 {
			t.Errorf("stats: %d calls, %d throttled; want 5 and 2", st.RiskCalls, st.RiskThrottled)
		}
	})
	t.Run("no P2", func(t *testing.T) {
		s, base := start(t, Config{NoP2: true}, users)
		call(t, http.MethodPost, base+path, ids(0), hdr).expect(t, http.StatusForbidden, "")
		if len(s.Confirmed()) != 0 || len(s.Events(users[0].ID)) != 0 {
			t.Error("a refused call confirmed a user")
		}
	})
	t.Run("throttled", func(t *testing.T) {
		clock := NewManualClock(t0)
		s, base := start(t, Config{Clock: clock, ThrottleConfirms: 2}, users)
		for i := range 3 {
			want := http.StatusTooManyRequests
			if i == 2 {
				want = http.StatusNoContent
			}
			r := call(t, http.MethodPost, base+path, ids(0), hdr)
			if r.status != want || r.header.Get("Retry-After") != "" {
				t.Fatalf("call %d: %d Retry-After %q, want %d without", i+1, r.status, r.header.Get("Retry-After"), want)
			}
			clock.Advance(time.Second)
		}
		if len(s.Confirmed()) != 1 {
			t.Errorf("confirmed %v", s.Confirmed())
		}
	})
	t.Run("tenants", func(t *testing.T) {
		// One app consented in two tenants calls both at the same moment: each tenant's second
		// is its own. A third tenant's NoP2 is kept in the state.
		const home, third, app = "c0000000-0000-4000-8000-000000000001", "d0000000-0000-4000-8000-000000000001", "e0000000-0000-4000-8000-000000000001"
		clock := NewManualClock(t0)
		s, base := start(t, Config{Clock: clock, TenantID: home, Apps: []App{{ClientID: app, Tenants: []string{home, other}}},
			Tenants: []Tenant{{ID: other, Users: []User{{ID: "b0000000-0000-4000-8000-000000000001", UPN: "x@y.com"}}}, {ID: third, NoP2: true}}}, users)
		as := func(tenant string) map[string]string {
			return map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + s.IssueToken(app, tenant)}
		}
		call(t, http.MethodPost, base+path, ids(0), as(home)).expect(t, http.StatusNoContent, "")
		call(t, http.MethodPost, base+path, []byte(`{"userIds":["b0000000-0000-4000-8000-000000000001"]}`), as(other)).expect(t, http.StatusNoContent, "")
		if got := s.Tenant(other).Confirmed(); len(got) != 1 {
			t.Errorf("the other tenant confirmed %v", got)
		}
		st := s.State()
		if st.Tenants[0].NoP2 || st.Tenants[1].NoP2 || !st.Tenants[2].NoP2 {
			t.Errorf("state: NoP2 %v %v %v, want false false true", st.Tenants[0].NoP2, st.Tenants[1].NoP2, st.Tenants[2].NoP2)
		}
	})
}
