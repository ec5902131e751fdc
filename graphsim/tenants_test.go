package graphsim

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

const (
	tenantA = "aaaaaaaa-0000-4000-8000-00000000000a"
	tenantB = "bbbbbbbb-0000-4000-8000-00000000000b"
	appOne  = "11111111-0000-4000-8000-000000000001"
	appTwo  = "22222222-0000-4000-8000-000000000002"
	secret1 = "s3cret-one"
)

// twoTenants serves tenant A (trapUsers) and tenant B (generated users);
// app one is consented in both, app two in A only.
func twoTenants(cfg Config) Config {
	cfg.TenantID = tenantA
	cfg.Tenants = append(cfg.Tenants, Tenant{ID: tenantB, Users: GenerateUsers(60, 12)})
	cfg.Apps = append(cfg.Apps,
		App{ClientID: appOne, Secret: secret1, Tenants: []string{tenantA, tenantB}},
		App{ClientID: appTwo, Secret: "two", Tenants: []string{tenantA}})
	return cfg
}

func decodeSegment(seg string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(seg) }

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

func TestTenantIsolation(t *testing.T) {
	s, base := start(t, twoTenants(Config{}), trapUsers())
	b := s.Tenant(tenantB)
	bUser := b.Users()[5]
	tokA, tokB := s.IssueToken(appOne, tenantA), s.IssueToken(appOne, strings.ToUpper(tenantB))
	tests := []struct {
		name   string
		tok    string
		path   string
		status int
	}{
		{name: "A's user with A's token", tok: tokA, path: "/users/adele@x.com", status: 200},
		{name: "B's user with A's token", tok: tokA, path: "/users/" + bUser.ID, status: 404},
		{name: "A's user with B's token", tok: tokB, path: "/users/adele@x.com", status: 404},
		{name: "B's user with B's token", tok: tokB, path: "/users/" + bUser.ID, status: 200},
	}
	for _, tc := range tests {
		if r := call(t, "GET", base+"/v1.0"+tc.path, nil, bearer(tc.tok)); r.status != tc.status {
			t.Errorf("%s: %d, want %d", tc.name, r.status, tc.status)
		}
	}
	items, _ := followAll(t, base+"/v1.0/users?$select=id&$top=25", bearer(tokB))
	if len(items) != 60 {
		t.Errorf("B's token lists %d users, want B's 60", len(items))
	}
	r := call(t, "POST", base+"/v1.0/users/"+bUser.UPN+"/revokeSignInSessions", nil, bearer(tokB))
	if r.status != 200 || len(b.Revocations(bUser.ID)) != 1 || len(s.Revocations(bUser.ID)) != 0 {
		t.Errorf("revoke in B: %d; B has %d revocations, A %d", r.status, len(b.Revocations(bUser.ID)), len(s.Revocations(bUser.ID)))
	}
	if ev := s.Journal(); len(ev) != 1 || ev[0].Tenant != tenantB {
		t.Errorf("journal %v, want one event in B", ev)
	}
	// The legacy fixed token is the default app in the default tenant.
	if r := call(t, "GET", base+"/v1.0/users/adele@x.com", nil, nil); r.status != 200 {
		t.Errorf("legacy token: %d", r.status)
	}
}

func TestConsent(t *testing.T) {
	tests := []struct {
		name         string
		unauthorized bool
		direct       int // status of a direct revoke with app two's token for B
		envelope     int // status of a $batch envelope
		step         int // status of its step
	}{
		{name: "403 per operation", direct: 403, envelope: 200, step: 403},
		{name: "401 for the request", unauthorized: true, direct: 401, envelope: 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, base := start(t, twoTenants(Config{UnconsentedUnauthorized: tc.unauthorized}), trapUsers())
			u := s.Tenant(tenantB).Users()[0]
			tok := s.IssueToken(appTwo, tenantB)
			r := call(t, "POST", base+"/v1.0/users/"+u.ID+"/revokeSignInSessions", nil, bearer(tok))
			if r.status != tc.direct {
				t.Fatalf("direct: %d, want %d", r.status, tc.direct)
			}
			if tc.direct == 403 && r.errCode() != "Authorization_RequestDenied" || tc.direct == 401 && r.errCode() != "InvalidAuthenticationToken" {
				t.Errorf("direct: code %q", r.errCode())
			}
			raw, _ := json.Marshal(map[string]any{"requests": []testStep{revokeStep("1", u.ID)}})
			env := call(t, "POST", base+"/v1.0/$batch", raw, map[string]string{"Authorization": "Bearer " + tok, "Content-Type": "application/json"})
			if env.status != tc.envelope || tc.step != 0 && stepReplies(t, env)["1"].Status != tc.step {
				t.Errorf("batch: envelope %d, want %d and step %d: %s", env.status, tc.envelope, tc.step, env.raw)
			}
			if n := len(s.Tenant(tenantB).Revocations(u.ID)); n != 0 {
				t.Errorf("%d revocations landed without consent", n)
			}
		})
	}
}

// TestConsentMidRun: an app loses its consent, then gets it back; its
// token keeps its claims throughout, what changes is the tenant's answer.
func TestConsentMidRun(t *testing.T) {
	s, base := start(t, twoTenants(Config{}), trapUsers())
	tok := s.IssueToken(appOne, tenantA)
	path := base + "/v1.0/users/adele@x.com/revokeSignInSessions"
	steps := []struct {
		do     func()
		status int
	}{
		{func() {}, 200},
		{func() { s.SetConsent(appOne, tenantA, false) }, 403},
		{func() { s.SetConsent(appOne, tenantA, true) }, 200},
		{func() { s.RevokeApp(appOne) }, 403},
	}
	for i, st := range steps {
		st.do()
		if r := call(t, "POST", path, nil, bearer(tok)); r.status != st.status {
			t.Errorf("call %d: %d, want %d", i, r.status, st.status)
		}
	}
	if r := call(t, "GET", base+"/v1.0/users?$top=1", nil, bearer(s.IssueToken(appOne, tenantB))); r.status != 403 {
		t.Errorf("after RevokeApp, tenant B: %d, want 403", r.status)
	}
	if st := s.Stats(); st.Denied != 3 || st.Revocations != 2 {
		t.Errorf("Denied=%d Revocations=%d, want 3 and 2", st.Denied, st.Revocations)
	}
}

func TestTokenExpiry(t *testing.T) {
	clock := NewManualClock(t0)
	s, base := start(t, twoTenants(Config{Clock: clock, TokenLifetime: 10 * time.Minute}), trapUsers())
	tok := s.IssueToken(appOne, tenantA)
	clock.Advance(10*time.Minute - time.Second)
	if r := call(t, "GET", base+"/v1.0/users/adele@x.com", nil, bearer(tok)); r.status != 200 {
		t.Fatalf("before expiry: %d", r.status)
	}
	clock.Advance(time.Second)
	r := call(t, "GET", base+"/v1.0/users/adele@x.com", nil, bearer(tok))
	if r.status != 401 || r.errCode() != "InvalidAuthenticationToken" || !strings.Contains(r.errMessage(), "expired") {
		t.Errorf("after expiry: %d %q %q", r.status, r.errCode(), r.errMessage())
	}
}

// TestQuotaLevels: each of the three write limits refuses when it is the one
// exhausted, names itself in x-ms-throttle-scope when headers are on, and is
// counted in Stats.ThrottledByLevel. QuotaScale 0.01 makes the pair limit 30
// per 150 s, the tenant's 180 per 5 min and the app's 350 per 5 min.
func TestQuotaLevels(t *testing.T) {
	type load struct {
		app, tenant string
		n           int // writes; 0 = 30
	}
	apps := func(n int) []string {
		var out []string
		for i := range n {
			out = append(out, fmt.Sprintf("a0000000-0000-4000-8000-%012d", i))
		}
		return out
	}
	tenants := func(n int) []string {
		var out []string
		for i := range n {
			out = append(out, fmt.Sprintf("70000000-0000-4000-8000-%012d", i))
		}
		return out
	}
	tests := []struct {
		name  string
		loads []load // each sends 30 writes, in this order
		last  load   // then sends one more
		scope string
		level string
	}{
		{name: "app+tenant pair", loads: []load{{"app0", "t0", 0}}, last: load{"app0", "t0", 1},
			scope: "Tenant_Application/Write/app0/t0", level: "Tenant_Application/Write"},
		{name: "tenant across apps", loads: func() (l []load) {
			for _, a := range apps(6) {
				l = append(l, load{a, "t0", 0})
			}
			return l
		}(), last: load{"app9", "t0", 1}, scope: "Tenant/Write/t0", level: "Tenant/Write"},
		{name: "app across tenants", loads: func() (l []load) {
			for _, tn := range tenants(11) {
				l = append(l, load{"app0", tn, 0})
			}
			return append(l, load{"app0", "t0", 20}) // 350 in all
		}(), last: load{"app0", "t0", 1}, scope: "Application/Write/app0", level: "Application/Write"},
	}
	for _, model := range []QuotaModel{QuotaTokenBucket, QuotaSlidingWindow} {
		for _, tc := range tests {
			t.Run(fmt.Sprint(tc.name, "/", model), func(t *testing.T) {
				ids := map[string]string{"app0": appOne, "app9": appTwo, "t0": tenantA}
				for _, a := range apps(6) {
					ids[a] = a
				}
				for _, tn := range tenants(11) {
					ids[tn] = tn
				}
				// The token bucket runs with headers on the steps, the
				// sliding window with headers on the envelope.
				mode := map[QuotaModel]ThrottleHeaderMode{QuotaTokenBucket: HeadersSteps, QuotaSlidingWindow: HeadersEnvelope}[model]
				// The app-wide quota at the older documentation's 35,000 per 5 min (350 here).
				cfg := Config{Clock: NewManualClock(t0), Quota: model, QuotaScale: 0.01, Shape: Shape{App: Level{Size: 0.5}},
					ThrottleHeaders: mode, TenantID: tenantA, TenantSize: 1000}
				var allTenants []string
				for _, tn := range tenants(11) {
					cfg.Tenants = append(cfg.Tenants, Tenant{ID: tn, Users: GenerateUsers(40, 3), Size: 1000})
					allTenants = append(allTenants, tn)
				}
				allTenants = append(allTenants, tenantA)
				for _, a := range append(apps(6), appOne, appTwo) {
					cfg.Apps = append(cfg.Apps, App{ClientID: a, Tenants: allTenants})
				}
				s, base := start(t, cfg, GenerateUsers(40, 3))
				var envScope string
				send := func(l load, n int) []stepReply {
					tok := s.IssueToken(ids[l.app], ids[l.tenant])
					users := s.Tenant(ids[l.tenant]).Users()
					var out []stepReply
					for sent := 0; sent < n; {
						var steps []testStep
						for ; len(steps) < 20 && sent < n; sent++ {
							steps = append(steps, revokeStep(fmt.Sprint(sent), users[sent%len(users)].ID))
						}
						raw, _ := json.Marshal(map[string]any{"requests": steps})
						env := call(t, "POST", base+"/v1.0/$batch", raw, map[string]string{"Authorization": "Bearer " + tok, "Content-Type": "application/json"})
						envScope = env.header.Get("x-ms-throttle-scope")
						for _, st := range steps {
							out = append(out, stepReplies(t, env)[st.ID])
						}
					}
					return out
				}
				for _, l := range tc.loads {
					n := l.n
					if n == 0 {
						n = 30
					}
					for i, r := range send(l, n) {
						if r.Status != 200 {
							t.Fatalf("load %v write %d: %d, want all admitted", l, i, r.Status)
						}
					}
				}
				r := send(tc.last, 1)[0]
				want := strings.NewReplacer("app0", appOne, "t0", tenantA).Replace(tc.scope)
				scope := r.Headers["x-ms-throttle-scope"]
				if mode == HeadersEnvelope {
					if scope != "" {
						t.Errorf("step carries scope %q in envelope mode", scope)
					}
					scope = envScope
				}
				if r.Status != 429 || scope != want || r.Headers["Retry-After"] == "" {
					t.Errorf("last write: %d scope %q Retry-After %q, want 429 scope %q", r.Status, scope, r.Headers["Retry-After"], want)
				}
				if st := s.Stats(); st.ThrottledByLevel[tc.level] != 1 || st.Throttled != 1 {
					t.Errorf("ThrottledByLevel %v, Throttled %d, want one at %s", st.ThrottledByLevel, st.Throttled, tc.level)
				}
			})
		}
	}
}

// TestRefusedChargedAtEveryLevel: an app hammering its exhausted pair quota
// still eats the tenant's quota, so another app is refused sooner.
func TestRefusedChargedAtEveryLevel(t *testing.T) {
	cfg := twoTenants(Config{Clock: NewManualClock(t0), Quota: QuotaSlidingWindow, QuotaScale: 0.01, TenantSize: 1000})
	s, base := start(t, cfg, GenerateUsers(40, 1))
	users := s.Users()
	hammer := func(tok string, n int) (ok int) {
		for i := range n {
			r := call(t, "POST", base+"/v1.0/users/"+users[i%len(users)].ID+"/revokeSignInSessions", nil, bearer(tok))
			if r.status == 200 {
				ok++
			}
		}
		return ok
	}
	// App one: 30 admitted, 150 refused, all 180 charged to the tenant.
	if ok := hammer(s.IssueToken(appOne, tenantA), 180); ok != 30 {
		t.Fatalf("app one: %d admitted, want 30", ok)
	}
	before := s.Stats().ThrottledByLevel
	r := call(t, "POST", base+"/v1.0/users/"+users[0].ID+"/revokeSignInSessions", nil, bearer(s.IssueToken(appTwo, tenantA)))
	if r.status != 429 {
		t.Errorf("app two, first write: %d, want 429 (the tenant quota is spent)", r.status)
	}
	if after := s.Stats().ThrottledByLevel; after["Tenant/Write"] != before["Tenant/Write"]+1 {
		t.Errorf("ThrottledByLevel %v then %v, want app two refused by Tenant/Write", before, after)
	}
}

// TestQuotaScaleUntold: half the documented quota, and nothing in the
// answers says so until the 429.
func TestQuotaScaleUntold(t *testing.T) {
	clock := NewManualClock(t0)
	users := GenerateUsers(100, 1)
	s, base := start(t, Config{Clock: clock, Quota: QuotaSlidingWindow, QuotaScale: 0.5}, users)
	replies := burst(t, base, users, 1501)
	for i, r := range replies[:1500] {
		if r.Status != 200 || r.Headers["x-ms-throttle-limit-percentage"] != "" {
			t.Fatalf("write %d: %d %v", i, r.Status, r.Headers)
		}
	}
	if r := replies[1500]; r.Status != 429 || r.Headers["Retry-After"] != "150" {
		t.Errorf("write 1501: %d Retry-After %q, want 429 after 150", r.Status, r.Headers["Retry-After"])
	}
	if st := s.Stats(); st.ThrottledByLevel["Tenant_Application/Write"] != 1 {
		t.Errorf("ThrottledByLevel %v", st.ThrottledByLevel)
	}
}

func TestSeparateDeviceWriteQuota(t *testing.T) {
	users, devices := deviceUsers()
	for _, separate := range []bool{false, true} {
		t.Run(fmt.Sprint(separate), func(t *testing.T) {
			s, base := start(t, Config{Clock: NewManualClock(t0), Quota: QuotaSlidingWindow, QuotaScale: 0.01, Devices: devices, SeparateDeviceWriteQuota: separate}, users)
			burst(t, base, users, 30)
			r := call(t, "PATCH", base+"/v1.0/devices/"+devices[0].ID, []byte(`{"accountEnabled":false}`), jsonHeader)
			if want := map[bool]int{false: 429, true: 204}[separate]; r.status != want {
				t.Errorf("device PATCH after 30 revokes: %d, want %d", r.status, want)
			}
			if st := s.Stats(); st.DevicePatches != 1 {
				t.Errorf("DevicePatches = %d", st.DevicePatches)
			}
		})
	}
}

func TestCompetingAppElsewhere(t *testing.T) {
	clock := NewManualClock(t0)
	comp := Competing{WritesPerSecond: 400, Scope: CompetingAppElsewhere}
	_, base := start(t, Config{Clock: clock, Quota: QuotaSlidingWindow, Competing: comp, ThrottleHeaders: HeadersSteps}, trapUsers())
	clock.Advance(3 * time.Minute) // 72,000 writes elsewhere, capped at the app's 70,000
	_, got := batch(t, base, []testStep{revokeStep("1", "adele@x.com")})
	if r := got["1"]; r.Status != 429 || !strings.HasPrefix(r.Headers["x-ms-throttle-scope"], "Application/Write/") {
		t.Errorf("%d %q, want 429 on the app's own limit", r.Status, r.Headers["x-ms-throttle-scope"])
	}
}

// TestTokenEndpoint checks the sign-in errors Entra answers, as raw HTTP.
func TestTokenEndpoint(t *testing.T) {
	s := New(twoTenants(Config{Token: testToken}), trapUsers())
	ts := httptest.NewTLSServer(s)
	defer ts.Close()
	post := func(tenant string, form url.Values) (int, map[string]any) {
		res, err := ts.Client().PostForm(ts.URL+"/"+tenant+"/oauth2/v2.0/token", form)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var body map[string]any
		if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		return res.StatusCode, body
	}
	good := url.Values{"grant_type": {"client_credentials"}, "client_id": {appOne}, "client_secret": {secret1}, "scope": {"https://graph.microsoft.com/.default"}}
	with := func(k, v string) url.Values {
		f := url.Values{}
		for key, vals := range good {
			f[key] = vals
		}
		if v == "" {
			f.Del(k)
		} else {
			f.Set(k, v)
		}
		return f
	}
	tests := []struct {
		name   string
		tenant string
		form   url.Values
		status int
		err    string
		code   float64
	}{
		{name: "granted", tenant: tenantB, form: good, status: 200},
		{name: "unknown tenant", tenant: "cccccccc-0000-4000-8000-00000000000c", form: good, status: 400, err: "invalid_tenant", code: 90002},
		{name: "unknown app", tenant: tenantA, form: with("client_id", "99999999-0000-4000-8000-000000000009"), status: 400, err: "unauthorized_client", code: 700016},
		{name: "app not consented in the tenant", tenant: tenantB, form: with("client_id", appTwo), status: 400, err: "unauthorized_client", code: 700016},
		{name: "wrong secret", tenant: tenantA, form: with("client_secret", "guess"), status: 401, err: "invalid_client", code: 7000215},
		{name: "scope without /.default", tenant: tenantA, form: with("scope", "User.Read.All"), status: 400, err: "invalid_scope", code: 1002012},
		{name: "no scope", tenant: tenantA, form: with("scope", ""), status: 400, err: "invalid_request", code: 900144},
		{name: "other grant", tenant: tenantA, form: with("grant_type", "password"), status: 400, err: "unsupported_grant_type", code: 70003},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := post(tc.tenant, tc.form)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %v", status, tc.status, body)
			}
			if tc.status == 200 {
				tok, _ := body["access_token"].(string)
				if body["token_type"] != "Bearer" || body["expires_in"] != float64(3599) || body["ext_expires_in"] != float64(3599) || strings.Count(tok, ".") != 2 {
					t.Errorf("token response %v", body)
				}
				var c claims
				payload, _ := decodeSegment(strings.Split(tok, ".")[1])
				if err := json.Unmarshal(payload, &c); err != nil || c.AppID != appOne || c.TID != tenantB || c.Aud != "https://graph.microsoft.com" || len(c.Roles) == 0 || c.Exp-c.IAT != 3600 {
					t.Errorf("claims %+v (%v)", c, err)
				}
				return
			}
			codes, _ := body["error_codes"].([]any)
			desc, _ := body["error_description"].(string)
			if body["error"] != tc.err || len(codes) != 1 || codes[0] != tc.code || !strings.HasPrefix(desc, fmt.Sprintf("AADSTS%d: ", int(tc.code))) || body["trace_id"] == nil {
				t.Errorf("error body %v, want %s AADSTS%d", body, tc.err, int(tc.code))
			}
		})
	}
	if st := s.Stats(); st.TokenRequests != len(tests)-1 || st.TokensIssued != 1 {
		t.Errorf("TokenRequests=%d TokensIssued=%d", st.TokenRequests, st.TokensIssued)
	}
}

// TestAzidentityClientSecret signs in with the real azidentity
// ClientSecretCredential (MSAL underneath) against the TLS server, per
// tenant, and revokes with the token it got.
func TestAzidentityClientSecret(t *testing.T) {
	s := New(twoTenants(Config{Token: testToken}), trapUsers())
	ts := httptest.NewTLSServer(s)
	defer ts.Close()
	opts := &azidentity.ClientSecretCredentialOptions{
		ClientOptions: azcore.ClientOptions{
			Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: ts.URL + "/"},
			Transport: ts.Client(),
		},
		DisableInstanceDiscovery:   true,
		AdditionallyAllowedTenants: []string{"*"},
	}
	cred, err := azidentity.NewClientSecretCredential(tenantA, appOne, secret1, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	scope := []string{"https://graph.microsoft.com/.default"}
	tokA, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: scope})
	if err != nil {
		t.Fatalf("GetToken: %v", err)
	}
	tokB, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: scope, TenantID: tenantB})
	if err != nil {
		t.Fatalf("GetToken for tenant B: %v", err)
	}
	if tokA.Token == tokB.Token || time.Until(tokA.ExpiresOn) < 50*time.Minute {
		t.Errorf("tokens for A and B: same %v, A expires in %v", tokA.Token == tokB.Token, time.Until(tokA.ExpiresOn))
	}

	bUser := s.Tenant(tenantB).Users()[3]
	for _, tc := range []struct {
		tok  string
		key  string
		view *TenantView
	}{{tokA.Token, "adele@x.com", s.Tenant(tenantA)}, {tokB.Token, bUser.ID, s.Tenant(tenantB)}} {
		raw, _ := json.Marshal(map[string]any{"requests": []testStep{revokeStep("1", tc.key)}})
		req, _ := http.NewRequest("POST", ts.URL+"/v1.0/$batch", strings.NewReader(string(raw)))
		req.Header.Set("Authorization", "Bearer "+tc.tok)
		req.Header.Set("Content-Type", "application/json")
		res, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var out struct {
			Responses []stepReply `json:"responses"`
		}
		err = json.NewDecoder(res.Body).Decode(&out)
		res.Body.Close()
		if err != nil || res.StatusCode != 200 || len(out.Responses) != 1 || out.Responses[0].Status != 200 {
			t.Fatalf("$batch with an azidentity token: %d %+v %v", res.StatusCode, out, err)
		}
		if n := len(tc.view.Revocations(tc.key)); n != 1 {
			t.Errorf("tenant %s: %d revocations of %s, want 1", tc.view.ID(), n, tc.key)
		}
	}

	// A wrong secret is refused with Entra's error, which azidentity reports.
	bad, _ := azidentity.NewClientSecretCredential(tenantA, appOne, "wrong", opts)
	if _, err := bad.GetToken(ctx, policy.TokenRequestOptions{Scopes: scope}); err == nil || !strings.Contains(err.Error(), "AADSTS7000215") {
		t.Errorf("wrong secret: %v, want AADSTS7000215", err)
	}
	// After losing its consent in B, the app gets no new token there.
	s.SetConsent(appOne, tenantB, false)
	fresh, _ := azidentity.NewClientSecretCredential(tenantB, appOne, secret1, opts)
	if _, err := fresh.GetToken(ctx, policy.TokenRequestOptions{Scopes: scope}); err == nil || !strings.Contains(err.Error(), "AADSTS700016") {
		t.Errorf("no consent: %v, want AADSTS700016", err)
	}
}
