package graphsim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// stateWorld is two tenants with domains, devices and nested groups, and two apps (app two
// without any role).
func stateWorld() (Config, []User) {
	cfg := twoTenants(Config{Token: testToken})
	cfg.TenantDomains = []string{"x.com", "x.onmicrosoft.com"}
	cfg.Tenants[0].Domains = []string{"fabrikam.example"}
	cfg.Apps[1].Roles = []string{}
	users := trapUsers()
	cfg.Devices = GenerateDevices(users, 3)
	cfg.Groups = NestedGroup("Finance", users[:5])
	cfg.ServicePrincipals = []ServicePrincipal{{ID: "99999999-0000-4000-8000-000000000099", DisplayName: "reporting"}}
	cfg.Groups[0].Members = append(cfg.Groups[0].Members, cfg.ServicePrincipals[0].ID)
	return cfg, users
}

// TestStateRoundTrip: what requests changed over HTTP (a block, a revoke, a device disabled)
// is in State, each change signalled on Changes by the time its answer arrived; the JSON of
// that State holds no secret, and a server built from it serves the same directory (users,
// devices, groups, domains, apps and their consent and roles) to the next client.
func TestStateRoundTrip(t *testing.T) {
	cfg, users := stateWorld()
	s, base := start(t, cfg, users)
	changed := func() bool {
		select {
		case <-s.Changes():
			return true
		default:
			return false
		}
	}
	if changed() {
		t.Fatal("Changes signalled before any change")
	}
	// A read changes nothing.
	if r := call(t, "GET", base+"/v1.0/users/adele@x.com", nil, nil); r.status != 200 || changed() {
		t.Fatalf("read: %d, changed %v", r.status, changed())
	}
	dev := cfg.Devices[0]
	_, steps := batch(t, base, []testStep{
		{ID: "1", Method: "PATCH", URL: "/users/adele@x.com", Headers: jsonHeader, Body: map[string]any{"accountEnabled": false}},
		revokeStep("2", "o'brien@x.com"),
		{ID: "3", Method: "PATCH", URL: "/devices/" + dev.ID, Headers: jsonHeader, Body: map[string]any{"accountEnabled": !dev.AccountEnabled}},
	})
	for id, st := range steps {
		if st.Status >= 300 {
			t.Fatalf("step %s: %d %v", id, st.Status, st.Body)
		}
	}
	if !changed() || changed() {
		t.Fatal("a burst of changes is not one signal on Changes")
	}

	st := s.State()
	raw, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{secret1, `"two"`} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Errorf("the state holds a secret (%s): %s", secret, raw)
		}
	}
	back, err := ReadState(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	cfg2, users2 := back.Config(Config{Token: testToken})
	for i := range cfg2.Apps {
		cfg2.Apps[i].Secret = map[string]string{appOne: secret1, appTwo: "two"}[cfg2.Apps[i].ClientID]
	}
	s2, base2 := start(t, cfg2, users2)

	if u, _ := s2.User("adele@x.com"); u.AccountEnabled {
		t.Error("the blocked user is enabled again after the round trip")
	}
	before, _ := s.User("o'brien@x.com")
	if u, _ := s2.User("o'brien@x.com"); !u.SignInSessionsValidFrom.Equal(before.SignInSessionsValidFrom) || u.SignInSessionsValidFrom.Before(t0) {
		t.Errorf("revoked user's timestamp %v, want %v", u.SignInSessionsValidFrom, before.SignInSessionsValidFrom)
	}
	if d, _ := s2.Device(dev.ID); d.AccountEnabled == dev.AccountEnabled {
		t.Error("the device change did not survive the round trip")
	}
	if !slices.EqualFunc(s.Tenant(tenantB).Users(), s2.Tenant(tenantB).Users(), func(a, b User) bool { return a.ID == b.ID && a.UPN == b.UPN && a.AccountEnabled == b.AccountEnabled }) {
		t.Error("the second tenant's users differ")
	}
	// The nested group still lists its transitive members (and the service principal).
	var page struct {
		Value []map[string]any `json:"value"`
	}
	r := call(t, "GET", base2+"/v1.0/groups/"+cfg.Groups[0].ID+"/transitiveMembers", nil, nil)
	if err := json.Unmarshal(r.raw, &page); err != nil || r.status != 200 || len(page.Value) != 5+3+1 {
		t.Errorf("transitive members after the round trip: %d, %d objects (%v), want 5 users, 3 groups and a service principal", r.status, len(page.Value), err)
	}
	// Apps keep their consent and roles; domains still sign in.
	if tok := signIn(t, base2, "fabrikam.example", appOne, secret1); tokenClaims(t, tok).TID != tenantB {
		t.Error("token by domain is not for tenant B")
	}
	if c := tokenClaims(t, signIn(t, base2, "x.com", appTwo, "two")); c.TID != tenantA || len(c.Roles) != 0 {
		t.Errorf("app two by domain: %+v, want tenant A and no roles", c)
	}
	if st2 := s2.State(); !statesEqual(st, st2) {
		t.Errorf("state after the round trip differs:\n%+v\n%+v", st, st2)
	}
}

func statesEqual(a, b State) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// signIn asks the token endpoint for a token with a client secret and fails the test
// unless it gets one.
func signIn(t *testing.T, base, tenant, app, secret string) string {
	t.Helper()
	res, err := http.PostForm(base+"/"+tenant+"/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {app}, "client_secret": {secret}, "scope": {"https://graph.microsoft.com/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		Token string `json:"access_token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil || res.StatusCode != 200 || body.Token == "" {
		t.Fatalf("sign-in to %s: %d %v", tenant, res.StatusCode, err)
	}
	return body.Token
}

func tokenClaims(t *testing.T, tok string) claims {
	t.Helper()
	var c claims
	payload, err := decodeSegment(strings.Split(tok, ".")[1])
	if err == nil {
		err = json.Unmarshal(payload, &c)
	}
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestStateRefused: a state file New could not serve is refused with the reason.
func TestStateRefused(t *testing.T) {
	cfg, users := stateWorld()
	st := New(cfg, users).State()
	good, _ := json.Marshal(st)
	st.AppID = ""
	noApp, _ := json.Marshal(st)
	if _, err := ReadState(bytes.NewReader(noApp)); err == nil || !strings.Contains(err.Error(), "no defaultApp") {
		t.Errorf("no default app: %v", err)
	}
	tests := []struct{ name, from, to, want string }{
		{"version", `"version":1`, `"version":7`, "version 7"},
		{"domain twice", `"fabrikam.example"`, `"x.com"`, "tenant x.com given twice"},
		{"unknown field", `"version":1`, `"version":1,"secrets":[]`, "unknown field"},
	}
	for _, tc := range tests {
		raw := strings.Replace(string(good), tc.from, tc.to, 1)
		if raw == string(good) {
			t.Fatalf("%s: %q not in the state", tc.name, tc.from)
		}
		if _, err := ReadState(strings.NewReader(raw)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	if _, err := ReadState(strings.NewReader(string(good))); err != nil {
		t.Errorf("the good state: %v", err)
	}
}

// TestForwardedProto: the OpenID metadata names the scheme the client reached, which a
// TLS-terminating front (or bulkrevoke's loopback sign-in) states in X-Forwarded-Proto:
// MSAL refuses an issuer whose scheme differs from its authority's.
func TestForwardedProto(t *testing.T) {
	cfg, users := stateWorld()
	s := New(cfg, users)
	ts := httptest.NewServer(s)
	defer ts.Close()
	for _, tc := range []struct{ proto, want string }{{"", "http://"}, {"https", "https://"}, {"gopher", "http://"}} {
		req, _ := http.NewRequest("GET", ts.URL+"/x.com/v2.0/.well-known/openid-configuration", nil)
		if tc.proto != "" {
			req.Header.Set("X-Forwarded-Proto", tc.proto)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var meta struct {
			Issuer string `json:"issuer"`
			Token  string `json:"token_endpoint"`
		}
		err = json.NewDecoder(res.Body).Decode(&meta)
		res.Body.Close()
		host := strings.TrimPrefix(ts.URL, "http://")
		if err != nil || meta.Issuer != tc.want+host+"/"+tenantA+"/v2.0" || meta.Token != tc.want+host+"/"+tenantA+"/oauth2/v2.0/token" {
			t.Errorf("X-Forwarded-Proto %q: %+v (%v)", tc.proto, meta, err)
		}
	}
}
