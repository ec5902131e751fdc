// Package graphsim emulates, as an http.Handler, the part of Microsoft Graph
// and Entra sign-in that bulkrevoke touches: users, devices and groups in
// one or more tenants, revoking, blocking and listing them through $batch,
// apps with tokens and consent, throttling at every documented level, and
// faults. It exists because the tool cannot be tested or benchmarked against
// real tenants, so the emulator copies Graph's rough edges too, with a
// switch wherever Graph's behaviour is uncertain.
package graphsim

import (
	"bytes"
	"cmp"
	"encoding/json"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Config shapes the emulated tenant and service. The zero value is a
// token-bucket-throttled Graph on the wall clock that accepts any bearer
// token and injects no faults.
type Config struct {
	Token string // accepted bearer token; "" accepts any non-empty one
	Clock Clock  // nil = RealClock; every wait, quota and Retry-After uses it
	Seed  int64  // for fault draws, shuffling, latency and request ids
	Quota QuotaModel
	// TenantSize picks the resource-unit budget; 0 = number of users.
	TenantSize int
	// FractionalRetryAfter sends Retry-After like "0.249" (rounded up to the
	// millisecond) instead of whole seconds (rounded up), as Graph does both.
	FractionalRetryAfter bool
	// RevokeNoContent answers a revoke with 204 and no body, as documented,
	// instead of the 200 + Edm.Boolean Graph really sends.
	RevokeNoContent bool
	Latency         Latency
	Faults          Faults
	Competing       Competing
	// LenientBatchBodies accepts POST steps without a body or Content-Type.
	// Graph's documentation asks for both; by default graphsim refuses the
	// envelope as Graph does for write steps missing them.
	LenientBatchBodies bool
	TenantID, AppID    string // reported in x-ms-throttle-scope; "" = derived from Seed
	// TenantDomains are the verified domain names of the tenant TenantID: the
	// sign-in endpoints accept them in place of its id (Tenant.Domains for
	// the others).
	TenantDomains []string
	// ThrottleHeaders says which answers carry Graph's optional throttle headers
	// (x-ms-throttle-limit-percentage, -scope, -information). The zero value
	// sends none, as users report of Graph; Retry-After is always sent.
	ThrottleHeaders ThrottleHeaderMode

	// Devices, Groups and ServicePrincipals populate the tenant next to the
	// users given to New. Device owners, registered users and group
	// members are object ids; ids that match nothing are ignored.
	Devices           []Device
	Groups            []Group
	ServicePrincipals []ServicePrincipal
	// AnyDependsOn accepts any acyclic dependsOn in a $batch. By default
	// graphsim refuses, as Microsoft's own batch clients do, every shape but
	// parallel (no dependsOn), serial (each step on the one before) and
	// "same" (every dependent step on one single step); Graph itself may
	// accept more.
	AnyDependsOn bool

	// Tenants adds directories next to the one New's users make (whose id
	// is TenantID). Apps registers applications, each with a client secret
	// for the token endpoint and consent in some tenants; the app AppID is
	// always registered, consented in TenantID, without a secret.
	Tenants []Tenant
	Apps    []App
	// UnconsentedUnauthorized answers an app without consent in its
	// token's tenant 401 InvalidAuthenticationToken for the whole request;
	// by default each Graph operation answers 403 Authorization_RequestDenied
	// (inside a 200 $batch envelope), as a token without roles gets.
	UnconsentedUnauthorized bool
	// TokenLifetime is how long issued tokens last on Clock; 0 = 1 h.
	TokenLifetime time.Duration
	// QuotaScale multiplies every throttling limit (0 = 1): 0.5 runs a
	// quota of 1,500 writes per 150 s that no client is told about.
	QuotaScale float64
	// Shape changes the write quotas level by level (the pair's, the
	// tenant's, the app's across tenants), also untold: throttle.go.
	Shape Shape
	// SeparateDeviceWriteQuota charges device PATCHes to a 3,000 per 150 s
	// app+tenant quota of their own (the throttling docs list one) instead
	// of the one revokes and user PATCHes share.
	SeparateDeviceWriteQuota bool
	// FreeRefusals charges only the steps a quota admits. Graph's throttling page says the
	// opposite ("all requests accrue against your usage limits"), which is the default here;
	// this runs the other reading, so that a client built on the documented one is tried on
	// both.
	FreeRefusals bool
	// NoPasswordPermission is an app without User-PasswordProfile.ReadWrite.All: every
	// password reset answers 403 Authorization_RequestDenied while other changes land.
	NoPasswordPermission bool
	// RefusePasswords answers every password reset 400 for complexity, as a tenant whose
	// policy (a banned-password list, say) refuses what the client sends.
	RefusePasswords bool
	// MethodsPageSize is how many authentication methods a page of a user's listing holds;
	// 0 lists them all on one page.
	MethodsPageSize int
	// NoMethodsPermission is an app without UserAuthenticationMethod.ReadWrite.All: listing
	// and deleting methods answer 403 while everything else works.
	NoMethodsPermission bool
	// NoP2 is a default tenant without Entra ID P2 (Tenant.NoP2 for the others):
	// confirmCompromised answers 403.
	NoP2 bool
	// MaxRiskyUserIDs is the most userIds one confirmCompromised call may carry (0 =
	// DefaultMaxRiskyUserIDs); more answers 400 naming the count.
	MaxRiskyUserIDs int
	// NoRiskPermission lists apps (client ids) without IdentityRiskyUser.ReadWrite.All:
	// confirmCompromised answers them 403, as it answers a tenant without P2.
	NoRiskPermission []string
	// ThrottleConfirms answers the first n confirmCompromised calls of each tenant 429 without
	// Retry-After, as another app spending the tenant's one request a second would.
	ThrottleConfirms int
}

// ThrottleHeaderMode selects where graphsim puts the throttle headers that
// Graph documents but is not seen to send reliably.
type ThrottleHeaderMode int

const (
	// HeadersNone sends only Retry-After on a 429: no usage percentage, no
	// scope. A client must pace on step statuses and Retry-After alone.
	HeadersNone ThrottleHeaderMode = iota
	// HeadersSteps sends x-ms-throttle-limit-percentage on every answer above
	// 80% of a limit and the scope and information headers on every 429, on
	// each $batch step, as Graph documents them.
	HeadersSteps
	// HeadersEnvelope sends the same headers on the $batch envelope only
	// (the highest percentage of its steps, the scope of a refused one); the
	// steps carry Retry-After alone.
	HeadersEnvelope
)

// ParseThrottleHeaders reads a mode by name: none, steps or envelope.
func ParseThrottleHeaders(s string) (ThrottleHeaderMode, bool) {
	switch s {
	case "none", "":
		return HeadersNone, true
	case "steps":
		return HeadersSteps, true
	case "envelope":
		return HeadersEnvelope, true
	}
	return 0, false
}

// Server is the emulated Graph endpoint; safe for concurrent use.
type Server struct {
	cfg   Config
	clock Clock
	start time.Time

	mu        sync.Mutex
	rng       *rand.Rand
	def       *directory            // the tenant of New's users
	dirs      map[string]*directory // every tenant, by lower-cased id
	order     []*directory          // every tenant, the default first, as configured
	domains   map[string]*directory // tenants by lower-cased verified domain name
	changed   chan struct{}         // signalled (never blocking) when an object changes
	apps      map[string]*appState  // by lower-cased client id
	tokens    map[string]*claims    // decoded tokens, nil for unreadable ones
	thr       *throttle
	nonce     [6]byte // makes skip tokens this server's own
	seq       uint32  // events journaled so far
	token     string
	faults    Faults
	dryRun    bool
	notBefore map[string]time.Time // "u:<user>" and "c:<client>" keys
	// told is, per client refused at the envelope level, the count of requests that had
	// arrived when that 429 was delivered. Later requests are early retries; earlier ones were
	// already on their way and are refused and charged, but the client could not have known.
	told       map[string]int
	stats      Stats
	nRequests  int
	nEnvelopes int
	nOps       int
	passwords  []string // set by resets that landed (Passwords)
	// confirmCompromised: every call received, and per tenant the last call's arrival and the
	// calls refused by ThrottleConfirms.
	riskCalls  []RiskCall
	riskLast   map[*directory]time.Time
	riskForced map[*directory]int
}

// New builds a server over a copy of users, in tenant cfg.TenantID, plus
// the tenants of cfg.Tenants. It panics if two tenants share an id.
func New(cfg Config, users []User) *Server {
	if cfg.Clock == nil {
		cfg.Clock = RealClock
	}
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x6a09e667f3bcc909))
	if cfg.TenantID == "" {
		cfg.TenantID = randomGUID(rng)
	}
	if cfg.AppID == "" {
		cfg.AppID = randomGUID(rng)
	}
	now := cfg.Clock.Now()
	def := newDirectory(cfg.TenantID, cfg.TenantSize, users, cfg.Devices, cfg.Groups, cfg.ServicePrincipals)
	def.domains = slices.Clone(cfg.TenantDomains)
	def.noP2 = cfg.NoP2
	dirs := map[string]*directory{strings.ToLower(def.id): def}
	order := []*directory{def}
	for _, t := range cfg.Tenants {
		if dirs[strings.ToLower(t.ID)] != nil {
			panic("graphsim: tenant " + t.ID + " given twice")
		}
		d := newDirectory(t.ID, t.Size, t.Users, t.Devices, t.Groups, t.ServicePrincipals)
		d.domains = slices.Clone(t.Domains)
		d.noP2 = t.NoP2
		dirs[strings.ToLower(t.ID)] = d
		order = append(order, d)
	}
	domains := map[string]*directory{}
	for _, d := range order {
		d.sized = d.size != len(d.users)
		for _, name := range d.domains {
			k := strings.ToLower(name)
			if domains[k] != nil || dirs[k] != nil {
				panic("graphsim: domain " + name + " given twice")
			}
			domains[k] = d
		}
	}
	comp := cfg.Competing
	compApp, compTenant := cmp.Or(comp.AppID, cfg.AppID), cmp.Or(comp.TenantID, cfg.TenantID)
	compSize := def.size
	if d := dirs[strings.ToLower(compTenant)]; d != nil {
		compTenant, compSize = d.id, d.size
	}
	s := &Server{
		cfg:        cfg,
		clock:      cfg.Clock,
		start:      now,
		rng:        rng,
		def:        def,
		dirs:       dirs,
		order:      order,
		domains:    domains,
		changed:    make(chan struct{}, 1),
		apps:       newApps(cfg),
		tokens:     map[string]*claims{},
		thr:        newThrottle(cfg.Quota, cfg.QuotaScale, cfg.Shape, cfg.SeparateDeviceWriteQuota, comp, compApp, compTenant, compSize, now),
		token:      cfg.Token,
		faults:     cfg.Faults,
		notBefore:  map[string]time.Time{},
		riskLast:   map[*directory]time.Time{},
		riskForced: map[*directory]int{},
		stats:      Stats{Statuses: map[int]int{}, EnvelopeStatuses: map[int]int{}, ThrottledByLevel: map[string]int{}},
	}
	if s.thr != nil {
		s.thr.freeRefusals = cfg.FreeRefusals
	}
	// The nonce has a stream of its own, so that request ids, faults and
	// shuffles draw the same values for a seed as before skip tokens existed.
	nrng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x3c6ef372fe94f82b))
	for i := range s.nonce {
		s.nonce[i] = byte(nrng.UintN(256))
	}
	return s
}

// SetFaults replaces the fault configuration; schedules keep counting from
// the server's start.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
}

// SetToken changes the accepted bearer token ("" accepts any), e.g. to make
// a run's token expire mid-way.
func (s *Server) SetToken(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = tok
}

// SetDryRun marks the following period as a dry run: every revoke received
// meanwhile is counted in Stats.DryRunWrites (and still served).
func (s *Server) SetDryRun(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dryRun = on
}

// result is one operation's or envelope's answer before it is written to
// the wire or embedded in a $batch response.
type result struct {
	status int
	header map[string]string
	body   json.RawMessage
}

// ids carries the correlation ids of the HTTP request being served.
type ids struct {
	request, client string
}

const jsonType = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if path, _ := requestTarget(r); !strings.HasPrefix(strings.ToLower(path), "/v1.0/") && !strings.HasPrefix(strings.ToLower(path), "/beta/") {
		if tenant, what, ok := identityPath(path); ok {
			s.serveIdentity(w, r, tenant, what)
			return
		}
	}
	ctx := r.Context()
	s.mu.Lock()
	s.stats.Requests++
	s.nRequests++
	n := s.nRequests
	id := ids{request: randomGUID(s.rng)}
	var latency time.Duration
	if s.cfg.Latency != nil {
		latency = max(0, s.cfg.Latency.Draw(s.rng))
	}
	f := s.faults
	since := s.clock.Now().Sub(s.start)
	_, dropSched := f.scheduled(DropFault, n, since, nil, "")
	drop := dropSched || (f.DropRate > 0 && s.rng.Float64() < f.DropRate)
	_, slowSched := f.scheduled(SlowFault, n, since, nil, "")
	slow := slowSched || (f.SlowRate > 0 && s.rng.Float64() < f.SlowRate)
	s.mu.Unlock()

	id.client = r.Header.Get("client-request-id")
	if id.client == "" {
		id.client = id.request
	}
	if latency > 0 && s.clock.Sleep(ctx, latency) != nil {
		return
	}
	if !f.AfterWork && s.stall(w, r, drop, slow, f.slowDelay()) {
		return
	}
	res := s.handle(r, id)
	if f.AfterWork && s.stall(w, r, drop, slow, f.slowDelay()) {
		return
	}
	h := w.Header()
	for k, v := range res.header {
		h.Set(k, v)
	}
	if h.Get("x-ms-resource-unit") == "" {
		h.Set("x-ms-resource-unit", "0") // refused before anything was charged
	}
	h.Set("request-id", id.request)
	h.Set("client-request-id", id.client)
	if res.body != nil {
		h.Set("Content-Type", jsonType)
	}
	w.WriteHeader(res.status)
	if res.body != nil {
		_, _ = w.Write(res.body)
	}
}

// stall applies a drop or slow fault; it reports whether the response must
// not be written.
func (s *Server) stall(w http.ResponseWriter, r *http.Request, drop, slow bool, delay time.Duration) bool {
	if drop {
		s.mu.Lock()
		s.stats.Drops++
		s.mu.Unlock()
		dropConnection(w)
		return true
	}
	if slow {
		s.mu.Lock()
		s.stats.SlowResponses++
		s.mu.Unlock()
		return s.clock.Sleep(r.Context(), delay) != nil
	}
	return false
}

// dropConnection closes the connection without a response. Without a
// hijackable connection (HTTP/2, in-memory transports) it aborts the handler
// with http.ErrAbortHandler, which net/http turns into a reset stream and
// Server.Transport into an error.
func dropConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		_ = conn.Close()
		return
	}
	panic(http.ErrAbortHandler)
}

// handle authenticates and routes one HTTP request.
func (s *Server) handle(r *http.Request, id ids) result {
	path, query := requestTarget(r)
	who, why, ok := s.authenticate(r)
	if ok && who.denied && s.cfg.UnconsentedUnauthorized {
		ok, why = false, "Access token validation failure: the application has no consent in the tenant."
	}
	if !ok {
		res := errorResult(http.StatusUnauthorized, "InvalidAuthenticationToken", why, s.clock.Now(), id)
		res.header["WWW-Authenticate"] = `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`
		s.mu.Lock()
		s.stats.Unauthorized++
		s.mu.Unlock()
		return res
	}
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	version := strings.ToLower(segs[0])
	if version != "v1.0" && version != "beta" {
		return errorResult(http.StatusBadRequest, "BadRequest", "Invalid version: "+segs[0], s.clock.Now(), id)
	}
	rest := "/" + strings.Join(segs[1:], "/")
	base := requestBase(r)
	if seg, err := url.PathUnescape(segs[len(segs)-1]); err == nil && len(segs) == 2 && strings.EqualFold(seg, "$batch") {
		return s.serveBatch(r, who, version, id, base)
	}
	s.mu.Lock()
	s.stats.Steps++
	s.mu.Unlock()
	body, _ := readBody(r, 1<<20)
	op := operation{
		method:  r.Method,
		path:    rest,
		query:   query,
		version: version,
		body:    body,
		header:  r.Header.Get,
		base:    base,
	}
	op.as(who)
	if isRiskPath(rest) {
		s.mu.Lock()
		s.stats.RiskCalls++
		s.mu.Unlock()
		return s.serveConfirm(r.Method, body, who, id)
	}
	if res, refused := s.clientEarly(who.client, id, []string{keyOf(op)}); refused {
		s.mu.Lock()
		s.stats.Statuses[res.status]++
		s.mu.Unlock()
		return res
	}
	res := s.run(op, id)
	if s.cfg.ThrottleHeaders == HeadersNone {
		stripThrottleHeaders(res.header)
	}
	return res
}

// throttleHeaders are the optional headers ThrottleHeaders places.
var throttleHeaders = []string{"x-ms-throttle-limit-percentage", "x-ms-throttle-scope", "x-ms-throttle-information"}

func stripThrottleHeaders(h map[string]string) {
	for _, k := range throttleHeaders {
		delete(h, k)
	}
}

// envelopeThrottleHeaders moves the steps' throttle headers where the mode
// wants them and returns those the envelope carries.
func (s *Server) envelopeThrottleHeaders(out []stepOut) map[string]string {
	env := map[string]string{}
	if s.cfg.ThrottleHeaders == HeadersSteps {
		return env
	}
	peak := 0.0
	for _, o := range out {
		if v, err := strconv.ParseFloat(o.Headers["x-ms-throttle-limit-percentage"], 64); err == nil && v > peak {
			peak = v
			env["x-ms-throttle-limit-percentage"] = o.Headers["x-ms-throttle-limit-percentage"]
		}
		if sc := o.Headers["x-ms-throttle-scope"]; sc != "" && env["x-ms-throttle-scope"] == "" {
			env["x-ms-throttle-scope"] = sc
			env["x-ms-throttle-information"] = o.Headers["x-ms-throttle-information"]
		}
		stripThrottleHeaders(o.Headers)
	}
	if s.cfg.ThrottleHeaders == HeadersNone {
		return map[string]string{}
	}
	return env
}

// requestTarget returns the request's path and query exactly as the client
// sent them, percent-escapes intact: keys must be decoded once, by us.
func requestTarget(r *http.Request) (path, query string) {
	raw := r.RequestURI
	if !strings.HasPrefix(raw, "/") {
		// Absolute-form requests and in-memory transports leave RequestURI
		// empty or absolute; URL keeps the escaped form in RawPath.
		raw = r.URL.RequestURI()
	}
	path, query, _ = strings.Cut(raw, "?")
	return path, query
}

// requestBase is the scheme and host the client reached: the Host header,
// or for in-memory transports what the request URL says.
func requestBase(r *http.Request) string {
	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	scheme := r.URL.Scheme
	if scheme == "" {
		scheme = "http"
		if r.TLS != nil {
			scheme = "https"
		}
	}
	// A TLS-terminating front (or bulkrevoke's loopback sign-in, which presents
	// plain http to its client as https) says what the client reached.
	if p := strings.ToLower(r.Header.Get("X-Forwarded-Proto")); p == "https" || p == "http" {
		scheme = p
	}
	return scheme + "://" + host
}

// clientEarly refuses a request from a client that was told to wait at the
// envelope level and came back too soon. Clients are told apart by their
// bearer token, the closest thing graphsim has to an app identity.
func (s *Server) clientEarly(client string, id ids, users []string) (result, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	nb, ok := s.notBefore["c:"+client]
	if !ok || !now.Before(nb) {
		return result{}, false
	}
	// The whole app is refused until then, but only a request carrying a user of the refused
	// envelope is a retry come too soon; others were merely sent alongside it.
	for _, k := range users {
		if now.Before(s.notBefore[k]) {
			s.stats.EarlyRetries++
			break
		}
	}
	s.stats.Throttled++
	s.stats.EnvelopeThrottled++
	res := errorResult(http.StatusTooManyRequests, "TooManyRequests",
		"Too many requests: retry after the time given in Retry-After.", now, id)
	res.header["Retry-After"] = s.formatRetryAfter(nb.Sub(now))
	return res, true
}

func (s *Server) formatRetryAfter(d time.Duration) string {
	if s.cfg.FractionalRetryAfter {
		ms := max(1, int64(math.Ceil(float64(d)/float64(time.Millisecond))))
		return strconv.FormatFloat(float64(ms)/1000, 'f', -1, 64)
	}
	sec := max(1, int64(math.Ceil(d.Seconds())))
	return strconv.FormatInt(sec, 10)
}

// errorResult builds Graph's error body.
func errorResult(status int, code, message string, now time.Time, id ids) result {
	type inner struct {
		Date            string `json:"date"`
		RequestID       string `json:"request-id"`
		ClientRequestID string `json:"client-request-id"`
	}
	type errBody struct {
		Code       string `json:"code"`
		Message    string `json:"message"`
		InnerError inner  `json:"innerError"`
	}
	b, _ := json.Marshal(struct {
		Error errBody `json:"error"`
	}{errBody{code, message, inner{now.UTC().Format("2006-01-02T15:04:05"), id.request, id.client}}})
	return result{status: status, header: map[string]string{}, body: b}
}

// object marshals key/value pairs in order, as Graph orders its properties
// (@odata.context first).
func object(kv ...any) json.RawMessage {
	var b bytes.Buffer
	b.WriteByte('{')
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSON(&b, kv[i])
		b.WriteByte(':')
		writeJSON(&b, kv[i+1])
	}
	b.WriteByte('}')
	return b.Bytes()
}
