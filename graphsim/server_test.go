package graphsim

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestRevokeAddressing(t *testing.T) {
	tests := []struct {
		name     string
		method   string
		path     string // after the server root, sent as written
		opaque   bool   // send verbatim, bypassing Go's URL parser
		status   int
		code     string // Graph error code; "" = not checked
		revoked  string // UPN whose revocation must have landed
		notFound string // key quoted in the 404 message
	}{
		{name: "plain upn", path: "/v1.0/users/adele@x.com/revokeSignInSessions", status: 200, revoked: "adele@x.com"},
		{name: "upn any case", path: "/v1.0/users/ADELE@X.Com/revokeSignInSessions", status: 200, revoked: "adele@x.com"},
		{name: "object id upper case", path: "/v1.0/users/" + strings.ToUpper(adeleID) + "/revokeSignInSessions", status: 200, revoked: "adele@x.com"},
		{name: "at sign escaped", path: "/v1.0/users/adele%40x.com/revokeSignInSessions", status: 200, revoked: "adele@x.com"},
		{name: "namespaced action", path: "/v1.0/users/adele@x.com/microsoft.graph.revokeSignInSessions", status: 200, revoked: "adele@x.com"},
		{name: "beta", path: "/beta/users/adele@x.com/revokeSignInSessions", status: 200, revoked: "adele@x.com"},
		{name: "action any case", path: "/v1.0/users/adele@x.com/REVOKESIGNINSESSIONS", status: 200, revoked: "adele@x.com"},
		{name: "guest with escaped #", path: "/v1.0/users/john_contoso.com%23EXT%23@t.onmicrosoft.com/revokeSignInSessions", status: 200, revoked: "john_contoso.com#EXT#@t.onmicrosoft.com"},
		{name: "guest with raw # is cut by the client", path: "/v1.0/users/john_contoso.com#EXT#@t.onmicrosoft.com/revokeSignInSessions", status: 404, code: "Request_ResourceNotFound", notFound: "john_contoso.com"},
		{name: "guest escaped twice", path: "/v1.0/users/john_contoso.com%2523EXT%2523@t.onmicrosoft.com/revokeSignInSessions", status: 404, code: "Request_ResourceNotFound", notFound: "john_contoso.com%23EXT%23@t.onmicrosoft.com"},
		{name: "dollar in key literal", path: "/v1.0/users('$adele@x.com')/revokeSignInSessions", status: 200, revoked: "$adele@x.com"},
		{name: "dollar escaped in key literal", path: "/v1.0/users(%27%24adele@x.com%27)/revokeSignInSessions", status: 200, revoked: "$adele@x.com"},
		{name: "dollar in plain form", path: "/v1.0/users/$adele@x.com/revokeSignInSessions", status: 400, code: "Request_BadRequest"},
		{name: "dollar escaped in plain form", path: "/v1.0/users/%24adele@x.com/revokeSignInSessions", status: 400, code: "Request_BadRequest"},
		{name: "apostrophe doubled in key literal", path: "/v1.0/users('o''brien@x.com')/revokeSignInSessions", status: 200, revoked: "o'brien@x.com"},
		{name: "apostrophe raw in plain form", path: "/v1.0/users/o'brien@x.com/revokeSignInSessions", status: 200, revoked: "o'brien@x.com"},
		{name: "apostrophe escaped in plain form", path: "/v1.0/users/o%27brien@x.com/revokeSignInSessions", status: 200, revoked: "o'brien@x.com"},
		{name: "apostrophe doubled in plain form", path: "/v1.0/users/o''brien@x.com/revokeSignInSessions", status: 404, code: "Request_ResourceNotFound", notFound: "o''brien@x.com"},
		{name: "lone apostrophe in key literal", path: "/v1.0/users('o'brien@x.com')/revokeSignInSessions", status: 400, code: "Request_BadRequest"},
		{name: "plus escaped", path: "/v1.0/users/a%2Bb@x.com/revokeSignInSessions", status: 200, revoked: "a+b@x.com"},
		{name: "plus raw is a plus in a path", path: "/v1.0/users/a+b@x.com/revokeSignInSessions", status: 200, revoked: "a+b@x.com"},
		{name: "plus as space is another user", path: "/v1.0/users/a%20b@x.com/revokeSignInSessions", status: 404, code: "Request_ResourceNotFound", notFound: "a b@x.com"},
		{name: "percent escaped", path: "/v1.0/users/100%25@x.com/revokeSignInSessions", status: 200, revoked: "100%@x.com"},
		{name: "bad escape rejected by the HTTP layer", path: "/v1.0/users/a%zz@x.com/revokeSignInSessions", opaque: true, status: 400},
		{name: "unknown user", path: "/v1.0/users/nobody@x.com/revokeSignInSessions", status: 404, code: "Request_ResourceNotFound", notFound: "nobody@x.com"},
		{name: "protected user", path: "/v1.0/users/admin@x.com/revokeSignInSessions", status: 403, code: "Authorization_RequestDenied"},
		{name: "unknown action", path: "/v1.0/users/adele@x.com/invalidateAllRefreshTokens", status: 400, code: "BadRequest"},
		{name: "unknown version", path: "/v2.0/users/adele@x.com/revokeSignInSessions", status: 400, code: "BadRequest"},
		{name: "GET on the action", method: "GET", path: "/v1.0/users/adele@x.com/revokeSignInSessions", status: 405, code: "Request_BadRequest"},
		{name: "POST on the user", path: "/v1.0/users/adele@x.com", status: 405, code: "Request_BadRequest"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := NewManualClock(t0)
			s, base := start(t, Config{Clock: clock}, trapUsers())
			method := tc.method
			if method == "" {
				method = "POST"
			}
			var r reply
			if tc.opaque {
				r = callOpaque(t, method, base, tc.path)
			} else {
				r = call(t, method, base+tc.path, nil, nil)
			}
			r.expect(t, tc.status, tc.code)
			if tc.notFound != "" {
				want := "Resource '" + tc.notFound + "' does not exist or one of its queried reference-property objects are not present."
				if r.errMessage() != want {
					t.Errorf("message = %q, want %q", r.errMessage(), want)
				}
			}
			landed := 0
			for _, u := range s.Users() {
				n := len(s.Revocations(u.ID))
				landed += n
				if u.UPN == tc.revoked && n != 1 {
					t.Errorf("revocations of %s = %d, want 1", u.UPN, n)
				}
			}
			if want := map[bool]int{true: 1, false: 0}[tc.revoked != ""]; landed != want {
				t.Errorf("revocations landed = %d, want %d", landed, want)
			}
		})
	}
}

func TestRevokeResponse(t *testing.T) {
	tests := []struct {
		name      string
		noContent bool
		status    int
		wantBody  bool
	}{
		{name: "Graph's real 200 with Edm.Boolean", status: 200, wantBody: true},
		{name: "documented 204", noContent: true, status: 204},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := NewManualClock(t0)
			s, base := start(t, Config{Clock: clock, RevokeNoContent: tc.noContent}, trapUsers())
			clock.Advance(90 * time.Second)
			r := call(t, "POST", base+"/v1.0/users/adele@x.com/revokeSignInSessions", nil,
				map[string]string{"client-request-id": "c0ffee00-0000-4000-8000-000000000001"})
			if r.status != tc.status {
				t.Fatalf("status = %d, want %d", r.status, tc.status)
			}
			if tc.wantBody {
				if r.body["value"] != true || r.body["@odata.context"] != "https://graph.microsoft.com/v1.0/$metadata#Edm.Boolean" {
					t.Errorf("body = %s, want the Edm.Boolean true payload", r.raw)
				}
			} else if len(r.raw) != 0 {
				t.Errorf("body = %q, want none", r.raw)
			}
			if got := r.header.Get("client-request-id"); got != "c0ffee00-0000-4000-8000-000000000001" {
				t.Errorf("client-request-id = %q, want the one sent", got)
			}
			if r.header.Get("request-id") == "" || r.header.Get("x-ms-resource-unit") != "1" {
				t.Errorf("headers request-id=%q x-ms-resource-unit=%q, want an id and 1",
					r.header.Get("request-id"), r.header.Get("x-ms-resource-unit"))
			}
			u, _ := s.User("ADELE@x.com")
			if want := t0.Add(90 * time.Second); !u.SignInSessionsValidFrom.Equal(want) {
				t.Errorf("signInSessionsValidFrom = %v, want %v", u.SignInSessionsValidFrom, want)
			}
		})
	}
}

func TestIgnoreRevokeKeepsTimestamp(t *testing.T) {
	clock := NewManualClock(t0)
	s, base := start(t, Config{Clock: clock}, trapUsers())
	before, _ := s.User("stuck@x.com")
	r := call(t, "POST", base+"/v1.0/users/stuck@x.com/revokeSignInSessions", nil, nil)
	if r.status != 200 {
		t.Fatalf("status = %d, want 200", r.status)
	}
	after, _ := s.User("stuck@x.com")
	if !after.SignInSessionsValidFrom.Equal(before.SignInSessionsValidFrom) {
		t.Errorf("timestamp moved from %v to %v, want unchanged", before.SignInSessionsValidFrom, after.SignInSessionsValidFrom)
	}
	if n := len(s.Revocations("stuck@x.com")); n != 1 {
		t.Errorf("revocations = %d, want 1 (the call was answered with success)", n)
	}
}

func TestGetUser(t *testing.T) {
	tests := []struct {
		name   string
		path   string
		status int
		code   string
		want   map[string]any // expected properties; absent keys must be absent
		ru     string
	}{
		{
			name:   "select verification fields",
			path:   "/v1.0/users/o'brien@x.com?$select=id,userPrincipalName,signInSessionsValidFromDateTime",
			status: 200, ru: "1",
			want: map[string]any{"id": "33333333-3333-4333-8333-333333333333", "userPrincipalName": "o'brien@x.com",
				"signInSessionsValidFromDateTime": "2025-05-31T09:00:00Z"},
		},
		{
			name:   "select every property, any case, escaped dollar",
			path:   "/v1.0/users('john_contoso.com%23EXT%23@t.onmicrosoft.com')?%24select=ID,displayname,accountEnabled,userType",
			status: 200, ru: "1",
			want: map[string]any{"id": "11111111-1111-4111-8111-111111111111", "displayName": "john_contoso.com#EXT#@t.onmicrosoft.com",
				"accountEnabled": true, "userType": "Guest"},
		},
		{
			name:   "no select costs more",
			path:   "/v1.0/users/adele@x.com",
			status: 200, ru: "2",
			want: map[string]any{"id": adeleID, "userPrincipalName": "adele@x.com", "displayName": "adele@x.com"},
		},
		{name: "unknown property", path: "/v1.0/users/adele@x.com?$select=id,city", status: 400, code: "Request_BadRequest"},
		{name: "unknown user", path: "/v1.0/users/ghost@x.com?$select=id", status: 404, code: "Request_ResourceNotFound", ru: "1"},
		{name: "dollar key", path: "/beta/users('$adele@x.com')?$select=userPrincipalName", status: 200, ru: "1",
			want: map[string]any{"userPrincipalName": "$adele@x.com"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, base := start(t, Config{Clock: NewManualClock(t0)}, trapUsers())
			r := call(t, "GET", base+tc.path, nil, nil)
			r.expect(t, tc.status, tc.code)
			if tc.ru != "" && r.header.Get("x-ms-resource-unit") != tc.ru {
				t.Errorf("x-ms-resource-unit = %q, want %q", r.header.Get("x-ms-resource-unit"), tc.ru)
			}
			if tc.want == nil {
				return
			}
			for k, v := range r.body {
				if k == "@odata.context" {
					continue
				}
				if w, ok := tc.want[k]; !ok || w != v {
					t.Errorf("property %s = %v, want %v (present: %v)", k, v, w, ok)
				}
			}
			for k := range tc.want {
				if _, ok := r.body[k]; !ok {
					t.Errorf("property %s missing from %s", k, r.raw)
				}
			}
		})
	}
}

func TestAuth(t *testing.T) {
	tests := []struct {
		name   string
		accept string // Config.Token
		auth   string // Authorization header; "" = none
		status int
	}{
		{name: "no header", accept: "good", status: 401},
		{name: "empty bearer", accept: "good", auth: "Bearer ", status: 401},
		{name: "wrong scheme", accept: "good", auth: "Basic good", status: 401},
		{name: "wrong token", accept: "good", auth: "Bearer bad", status: 401},
		{name: "right token", accept: "good", auth: "Bearer good", status: 200},
		{name: "scheme any case", accept: "good", auth: "bearer good", status: 200},
		{name: "any token accepted when unset", auth: "Bearer whatever", status: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := New(Config{Token: tc.accept, Clock: NewManualClock(t0)}, trapUsers())
			ts := httptest.NewServer(s)
			t.Cleanup(ts.Close)
			srv := ts.URL
			for _, path := range []string{"/v1.0/users/adele@x.com/revokeSignInSessions", "/v1.0/$batch"} {
				body := `{"requests":[{"id":"1","method":"POST","url":"/users/adele@x.com/revokeSignInSessions","headers":{"Content-Type":"application/json"},"body":{}}]}`
				r := call(t, "POST", srv+path, []byte(body), map[string]string{"Authorization": tc.auth, "Content-Type": "application/json"})
				if r.status != tc.status {
					t.Fatalf("%s: status = %d, want %d", path, r.status, tc.status)
				}
				if tc.status == 401 && r.errCode() != "InvalidAuthenticationToken" {
					t.Errorf("%s: code = %q, want InvalidAuthenticationToken", path, r.errCode())
				}
			}
			wantLanded := map[int]int{200: 2, 401: 0}[tc.status]
			if st := s.Stats(); st.Revocations != wantLanded {
				t.Errorf("revocations = %d, want %d", st.Revocations, wantLanded)
			}
		})
	}
}

func TestSetTokenMidRun(t *testing.T) {
	s, base := start(t, Config{Clock: NewManualClock(t0)}, trapUsers())
	path := base + "/v1.0/users/adele@x.com/revokeSignInSessions"
	steps := []struct {
		setToken string
		status   int
	}{
		{testToken, 200},
		{"rotated", 401}, // our token expired mid-run
		{testToken, 200}, // and came back
	}
	for i, st := range steps {
		s.SetToken(st.setToken)
		if r := call(t, "POST", path, nil, nil); r.status != st.status {
			t.Fatalf("call %d: status = %d, want %d", i, r.status, st.status)
		}
	}
	if got := s.Stats().Unauthorized; got != 1 {
		t.Errorf("Unauthorized = %d, want 1", got)
	}
}

func TestCommonHeaders(t *testing.T) {
	_, base := start(t, Config{}, trapUsers())
	okBatch := `{"requests":[{"id":"1","method":"GET","url":"/users/adele@x.com?$select=id"}]}`
	tests := []struct {
		name, method, path, body, auth string
		status                         int
	}{
		{name: "unauthorized", method: "POST", path: "/v1.0/$batch", body: okBatch, auth: "Bearer nope", status: 401},
		{name: "bad version", method: "GET", path: "/v9/users/adele@x.com", status: 400},
		{name: "bad envelope", method: "POST", path: "/v1.0/$batch", body: "{", status: 400},
		{name: "batch", method: "POST", path: "/v1.0/%24batch", body: okBatch, status: 200},
		{name: "not found", method: "GET", path: "/v1.0/users/ghost@x.com", status: 404},
		{name: "read", method: "GET", path: "/v1.0/users/adele@x.com?$select=id", status: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{"client-request-id": "req-" + tc.name, "Content-Type": "application/json"}
			if tc.auth != "" {
				hdr["Authorization"] = tc.auth
			}
			r := call(t, tc.method, base+tc.path, []byte(tc.body), hdr)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.raw)
			}
			if r.header.Get("request-id") == "" || r.header.Get("x-ms-resource-unit") == "" ||
				r.header.Get("client-request-id") != "req-"+tc.name {
				t.Errorf("headers %v, want request-id, x-ms-resource-unit and the echoed client-request-id", r.header)
			}
		})
	}
}
