package graphsim

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Tenant is one more directory served next to the one New's users make.
type Tenant struct {
	ID string `json:"id"` // a GUID; the tid of its tokens
	// Domains are the tenant's verified domain names: the sign-in endpoints
	// accept them in place of the id, as Entra does.
	Domains           []string           `json:"domains,omitempty"`
	Users             []User             `json:"users"`
	Devices           []Device           `json:"devices,omitempty"`
	Groups            []Group            `json:"groups,omitempty"`
	ServicePrincipals []ServicePrincipal `json:"servicePrincipals,omitempty"`
	// Size picks the resource-unit budget; 0 = number of users.
	Size int `json:"size,omitempty"`
	// NoP2 is a tenant without Entra ID P2: confirmCompromised answers 403.
	NoP2 bool `json:"noP2,omitempty"`
}

// App is an application registration: a client id with a secret, consented
// (its service principal provisioned with admin consent) in some tenants.
type App struct {
	ClientID string `json:"clientId"`
	// Secret is never written out (State leaves it empty).
	Secret      string   `json:"-"`
	DisplayName string   `json:"displayName,omitempty"`
	Tenants     []string `json:"tenants"` // tenant ids it is consented in
	// Roles go into the tokens' roles claim; nil = the permissions
	// bulkrevoke asks for. graphsim does not check them per operation.
	Roles []string `json:"roles"`
}

var defaultRoles = []string{"User.RevokeSessions.All", "User.EnableDisableAccount.All", "User.Read.All", "Device.ReadWrite.All", "GroupMember.Read.All"}

// appState is an App as the server tracks it; consent and secret change at
// run time.
type appState struct {
	seq              int // registration order
	id, name, secret string
	consent          map[string]bool // by lower-cased tenant id
	roles            []string
}

// principal is who a Graph request comes from: an app, in a tenant.
type principal struct {
	app    string // client id as registered
	dir    *directory
	client string // envelope-level not-before key
	denied bool   // the app has no consent in the tenant
}

// claims are the parts of an access token graphsim reads.
type claims struct {
	AppID string   `json:"appid"`
	TID   string   `json:"tid"`
	Aud   string   `json:"aud"`
	Exp   int64    `json:"exp"`
	IAT   int64    `json:"iat"`
	Roles []string `json:"roles"`
}

// maxCachedTokens bounds the decoded-token cache; tokens are few (one per
// app, tenant and hour), so reaching it means someone is spraying tokens.
const maxCachedTokens = 10000

// decodeToken reads a JWT-shaped token's claims without verifying anything,
// once per token string: Graph requests decode the same token thousands of
// times. nil means the token is not one graphsim can read.
func (s *Server) decodeToken(tok string) *claims {
	if c, ok := s.tokens[tok]; ok {
		return c
	}
	var c *claims
	parts := strings.Split(tok, ".")
	if len(parts) == 3 {
		if payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "=")); err == nil {
			var cl claims
			if json.Unmarshal(payload, &cl) == nil && cl.AppID != "" && cl.TID != "" {
				c = &cl
			}
		}
	}
	if len(s.tokens) >= maxCachedTokens {
		clear(s.tokens)
	}
	s.tokens[tok] = c
	return c
}

// authenticate finds who a Graph request is from. The legacy fixed token
// (Config.Token, SetToken) is the default app in the default tenant; a
// token graphsim can read whose tid is one of its tenants is its app in
// that tenant; with no fixed token, anything else is the default app too.
func (s *Server) authenticate(r *http.Request) (principal, string, bool) {
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	tok = strings.TrimSpace(tok)
	if !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return principal{}, authMessage(r), false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	def := principal{app: s.cfg.AppID, dir: s.def, client: tok}
	if s.token != "" && tok == s.token {
		return s.withConsent(def), "", true
	}
	if c := s.decodeToken(tok); c != nil {
		if d := s.dirs[strings.ToLower(c.TID)]; d != nil {
			if c.Exp != 0 && !s.clock.Now().Before(time.Unix(c.Exp, 0)) {
				return principal{}, "Lifetime validation failed, the token is expired.", false
			}
			app := c.AppID
			if a := s.apps[strings.ToLower(app)]; a != nil {
				app = a.id
			}
			return s.withConsent(principal{app: app, dir: d, client: "app:" + strings.ToLower(app) + "/" + d.id}), "", true
		}
	}
	if s.token == "" {
		return s.withConsent(def), "", true
	}
	return principal{}, authMessage(r), false
}

func (s *Server) withConsent(p principal) principal {
	a := s.apps[strings.ToLower(p.app)]
	p.denied = a == nil || !a.consent[strings.ToLower(p.dir.id)]
	return p
}

func authMessage(r *http.Request) string {
	if r.Header.Get("Authorization") == "" {
		return "Access token is empty."
	}
	return "Access token validation failure. Invalid audience."
}

// SetConsent grants or withdraws an app's admin consent in a tenant, e.g.
// to make an app lose its consent mid-run. Graph then answers the app's
// requests there 403 (or 401, Config.UnconsentedUnauthorized), and the
// token endpoint refuses it new tokens for that tenant. An unknown app is
// registered without a secret.
func (s *Server) SetConsent(appID, tenantID string, consented bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apps[strings.ToLower(appID)]
	if a == nil {
		a = &appState{seq: len(s.apps), id: appID, consent: map[string]bool{}, roles: defaultRoles}
		s.apps[strings.ToLower(appID)] = a
	}
	a.consent[strings.ToLower(tenantID)] = consented
}

// SetRoles replaces the roles an app's new tokens carry (nil: none), as when its admin consent
// is withdrawn and a token issued afterwards names no permission.
func (s *Server) SetRoles(appID string, roles []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.apps[strings.ToLower(appID)]; a != nil {
		a.roles = slices.Clone(roles)
	}
}

// RevokeApp withdraws an app's consent in every tenant.
func (s *Server) RevokeApp(appID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.apps[strings.ToLower(appID)]; a != nil {
		clear(a.consent)
	}
}

// SetSecret replaces an app's client secret ("" = none accepted): token
// requests with the old one fail with AADSTS7000215; tokens already issued
// keep working until they expire, as on Entra.
func (s *Server) SetSecret(appID, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.apps[strings.ToLower(appID)]; a != nil {
		a.secret = secret
	}
}

// IssueToken mints an access token for an app in a tenant as the token
// endpoint would, without checking secret or consent: a shortcut for tests
// that do not exercise sign-in.
func (s *Server) IssueToken(appID, tenantID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok, _ := s.mint(appID, tenantID, "https://graph.microsoft.com")
	return tok
}

// tokenLifetime is how long tokens last on the emulated clock.
func (s *Server) tokenLifetime() time.Duration {
	if s.cfg.TokenLifetime > 0 {
		return s.cfg.TokenLifetime
	}
	return time.Hour
}

// mint builds an unsigned JWT-shaped token; it returns its expires_in in
// real seconds: on a scaled clock the client's own timer runs slower.
func (s *Server) mint(appID, tenantID, aud string) (string, int) {
	now := s.clock.Now()
	life := s.tokenLifetime()
	d := s.dirByName(tenantID)
	if d != nil {
		tenantID = d.id
	}
	roles := defaultRoles
	if a := s.apps[strings.ToLower(appID)]; a != nil {
		appID, roles = a.id, a.roles
		if !a.consent[strings.ToLower(tenantID)] {
			// No admin consent in this tenant: Entra issues an app-only token that names no
			// application permission (no roles claim); Graph refuses its every request.
			roles = nil
		}
	}
	oid := guidFromName("sp:" + strings.ToLower(appID) + "/" + strings.ToLower(tenantID))
	payload := object(
		"aud", aud,
		"iss", "https://sts.windows.net/"+tenantID+"/",
		"iat", now.Unix(), "nbf", now.Unix(), "exp", now.Add(life).Unix(),
		"appid", appID, "appidacr", "1", "idtyp", "app",
		"oid", oid, "sub", oid, "roles", roles, "tid", tenantID,
		"uti", randomGUID(s.rng), "ver", "1.0",
	)
	enc := base64.RawURLEncoding.EncodeToString
	tok := enc([]byte(`{"typ":"JWT","alg":"none"}`)) + "." + enc(payload) + "." + enc([]byte("graphsim-unsigned"))
	s.stats.TokensIssued++
	secs := life.Seconds()
	if f, ok := s.clock.(interface{ Factor() float64 }); ok && f.Factor() > 0 {
		secs /= f.Factor()
	}
	return tok, max(1, int(secs)-1)
}

// identityPath reports whether a path is the sign-in authority's rather
// than Graph's: /{tenant}/oauth2/v2.0/token or the OpenID metadata.
func identityPath(path string) (tenant, what string, ok bool) {
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	switch {
	case len(segs) == 4 && segs[1] == "oauth2" && segs[2] == "v2.0" && segs[3] == "token":
		return segs[0], "token", true
	case len(segs) == 4 && segs[1] == "v2.0" && segs[2] == ".well-known" && segs[3] == "openid-configuration":
		return segs[0], "openid", true
	}
	return "", "", false
}

// serveIdentity answers the sign-in authority's endpoints that MSAL (under
// azidentity's ClientSecretCredential) calls with instance discovery off:
// the tenant's OpenID metadata, then the token endpoint with a
// client_credentials grant. They skip latency and faults: those model
// Graph, not Entra.
func (s *Server) serveIdentity(w http.ResponseWriter, r *http.Request, tenant, what string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Requests++
	base := requestBase(r)
	d := s.dirByName(tenant)
	status, body := http.StatusOK, []byte(nil)
	switch {
	case d == nil:
		status, body = s.stsError(http.StatusBadRequest, "invalid_tenant", 90002,
			fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. "+
				"Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.", tenant))
	case what == "openid" && r.Method == http.MethodGet:
		root := base + "/" + d.id
		body = object(
			"token_endpoint", root+"/oauth2/v2.0/token",
			"token_endpoint_auth_methods_supported", []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
			"jwks_uri", base+"/"+d.id+"/discovery/v2.0/keys",
			"response_modes_supported", []string{"query", "fragment", "form_post"},
			"subject_types_supported", []string{"pairwise"},
			"id_token_signing_alg_values_supported", []string{"RS256"},
			"response_types_supported", []string{"code", "id_token", "code id_token", "id_token token"},
			"scopes_supported", []string{"openid", "profile", "email", "offline_access"},
			"issuer", root+"/v2.0",
			"request_uri_parameter_supported", false,
			"authorization_endpoint", root+"/oauth2/v2.0/authorize",
			"device_authorization_endpoint", root+"/oauth2/v2.0/devicecode",
			"tenant_region_scope", nil,
			"cloud_instance_name", "graphsim",
		)
	case what == "token" && r.Method == http.MethodPost:
		s.stats.TokenRequests++
		status, body = s.tokenResponse(r, d)
	default:
		status, body = s.stsError(http.StatusMethodNotAllowed, "invalid_request", 90056,
			"Token endpoint requests must use POST, metadata requests GET.")
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store, no-cache")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// tokenResponse checks a client_credentials request the way Entra does: the
// app must exist in the tenant (have consent there), then the secret must
// match, then the scope must be a resource's /.default.
func (s *Server) tokenResponse(r *http.Request, d *directory) (int, []byte) {
	raw, err := readBody(r, 64<<10)
	form, perr := url.ParseQuery(string(raw))
	if err != nil || perr != nil {
		return s.stsError(http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
	}
	for _, p := range []string{"grant_type", "client_id", "scope"} {
		if form.Get(p) == "" {
			return s.stsError(http.StatusBadRequest, "invalid_request", 900144, fmt.Sprintf("The request body must contain the following parameter: '%s'.", p))
		}
	}
	if gt := form.Get("grant_type"); gt != "client_credentials" {
		return s.stsError(http.StatusBadRequest, "unsupported_grant_type", 70003, "The app requested an unsupported grant type '"+gt+"'.")
	}
	clientID := form.Get("client_id")
	a := s.apps[strings.ToLower(clientID)]
	if a == nil || !a.consent[strings.ToLower(d.id)] {
		return s.stsError(http.StatusBadRequest, "unauthorized_client", 700016,
			fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator "+
				"of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", clientID, d.id))
	}
	if a.secret == "" || form.Get("client_secret") != a.secret {
		return s.stsError(http.StatusUnauthorized, "invalid_client", 7000215,
			fmt.Sprintf("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", a.id))
	}
	var aud string
	for _, sc := range strings.Fields(form.Get("scope")) {
		if strings.HasSuffix(sc, "/.default") {
			aud = strings.TrimSuffix(sc, "/.default")
			break
		}
	}
	if aud == "" {
		return s.stsError(http.StatusBadRequest, "invalid_scope", 1002012,
			fmt.Sprintf("The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", form.Get("scope")))
	}
	tok, expiresIn := s.mint(a.id, d.id, aud)
	return http.StatusOK, object("token_type", "Bearer", "expires_in", expiresIn, "ext_expires_in", expiresIn, "access_token", tok)
}

// stsError renders an error as Entra's token service does.
func (s *Server) stsError(status int, code string, aadsts int, desc string) (int, []byte) {
	now := s.clock.Now().UTC()
	trace, corr := randomGUID(s.rng), randomGUID(s.rng)
	full := fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s", aadsts, desc, trace, corr, now.Format("2006-01-02 15:04:05Z"))
	s.stats.TokenErrors++
	return status, object(
		"error", code,
		"error_description", full,
		"error_codes", []int{aadsts},
		"timestamp", now.Format("2006-01-02 15:04:05Z"),
		"trace_id", trace,
		"correlation_id", corr,
		"error_uri", fmt.Sprintf("https://login.microsoftonline.com/error?code=%d", aadsts),
	)
}

// newApps registers Config.Apps and the default app, which is consented in
// the default tenant unless Config.Apps says otherwise.
func newApps(cfg Config) map[string]*appState {
	apps := map[string]*appState{}
	apps[strings.ToLower(cfg.AppID)] = &appState{id: cfg.AppID, consent: map[string]bool{strings.ToLower(cfg.TenantID): true}, roles: defaultRoles}
	for _, a := range cfg.Apps {
		st := &appState{seq: len(apps), id: a.ClientID, name: a.DisplayName, secret: a.Secret, consent: map[string]bool{}, roles: defaultRoles}
		if prev := apps[strings.ToLower(a.ClientID)]; prev != nil {
			st.seq = prev.seq
		}
		if a.Roles != nil {
			st.roles = slices.Clone(a.Roles)
		}
		for _, t := range a.Tenants {
			st.consent[strings.ToLower(t)] = true
		}
		apps[strings.ToLower(a.ClientID)] = st
	}
	return apps
}
