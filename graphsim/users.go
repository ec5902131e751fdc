package graphsim

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// operation is one Graph call, arriving directly or as a $batch step.
type operation struct {
	method  string
	path    string // relative to the version, escapes intact, e.g. /users/a%23b
	query   string // raw query
	version string
	body    []byte
}

type opKind int

const (
	opGetUser opKind = iota
	opRevoke
)

// target is a parsed /users/{key}[/action] path.
type target struct {
	key  string // decoded
	kind opKind
}

// parseTarget decodes /users/{key}, /users('{key}') and their
// revokeSignInSessions actions the way Graph's URL parser does: each
// segment is percent-decoded exactly once.
func parseTarget(path string) (target, int, string, string) {
	bad := func(code, msg string) (target, int, string, string) {
		return target{}, http.StatusBadRequest, code, msg
	}
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if len(segs) > 1 && segs[len(segs)-1] == "" {
		segs = segs[:len(segs)-1]
	}
	first, err := url.PathUnescape(segs[0])
	if err != nil {
		return bad("Request_BadRequest", "Bad request: the URL contains an invalid percent-encoding.")
	}
	var t target
	var rest []string
	switch lower := strings.ToLower(first); {
	case lower == "users":
		if len(segs) < 2 {
			return bad("Request_BadRequest", "graphsim does not emulate listing users.")
		}
		key, err := url.PathUnescape(segs[1])
		if err != nil {
			return bad("Request_BadRequest", "Bad request: the URL contains an invalid percent-encoding.")
		}
		if key == "" {
			return bad("Request_BadRequest", "Invalid object identifier ''.")
		}
		if strings.HasPrefix(key, "$") {
			// Graph reads /users/$x as an OData system segment.
			return bad("Request_BadRequest", fmt.Sprintf("Unsupported segment '%s': a key starting with '$' must use the form users('%s').", key, key))
		}
		t.key, rest = key, segs[2:]
	case strings.HasPrefix(lower, "users(") && strings.HasSuffix(lower, ")"):
		key, err := keyLiteral(first[len("users(") : len(first)-1])
		if err != nil {
			return bad("Request_BadRequest", fmt.Sprintf("Invalid key literal in '%s': %v.", first, err))
		}
		t.key, rest = key, segs[1:]
	default:
		return bad("BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", first))
	}
	switch {
	case len(rest) == 0:
		t.kind = opGetUser
	case len(rest) == 1 && isRevokeAction(rest[0]):
		t.kind = opRevoke
	default:
		seg, _ := url.PathUnescape(rest[0])
		if len(rest) > 1 && isRevokeAction(rest[0]) {
			seg, _ = url.PathUnescape(rest[1])
		}
		return bad("BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", seg))
	}
	return t, 0, "", ""
}

func isRevokeAction(seg string) bool {
	s, err := url.PathUnescape(seg)
	if err != nil {
		return false
	}
	s = strings.ToLower(s)
	return s == "revokesigninsessions" || s == "microsoft.graph.revokesigninsessions"
}

// keyLiteral unquotes an OData string literal, in which a doubled
// apostrophe stands for one apostrophe.
func keyLiteral(lit string) (string, error) {
	if len(lit) < 2 || lit[0] != '\'' || lit[len(lit)-1] != '\'' {
		return "", fmt.Errorf("want a quoted key")
	}
	inner := lit[1 : len(lit)-1]
	var b strings.Builder
	for i := 0; i < len(inner); i++ {
		c := inner[i]
		if c == '\'' {
			if i+1 >= len(inner) || inner[i+1] != '\'' {
				return "", fmt.Errorf("unescaped quote at position %d", i+2)
			}
			i++
		}
		b.WriteByte(c)
	}
	if b.Len() == 0 {
		return "", fmt.Errorf("empty key")
	}
	return b.String(), nil
}

// selectable maps $select names (any case) to Graph's spelling.
var selectable = map[string]string{
	"id":                              "id",
	"userprincipalname":               "userPrincipalName",
	"displayname":                     "displayName",
	"accountenabled":                  "accountEnabled",
	"usertype":                        "userType",
	"signinsessionsvalidfromdatetime": "signInSessionsValidFromDateTime",
}

// parseSelect returns the requested properties, or nil for no $select;
// problem is Graph's message when the query is unacceptable. Graph accepts
// query options with or without the $ in v1.0.
func parseSelect(rawQuery string) (props []string, problem string) {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, "Bad request: the query string is malformed."
	}
	v := q.Get("$select")
	if v == "" {
		v = q.Get("select")
	}
	if v == "" {
		return nil, ""
	}
	for _, p := range strings.Split(v, ",") {
		name, ok := selectable[strings.ToLower(strings.TrimSpace(p))]
		if !ok {
			return nil, fmt.Sprintf("Could not find a property named '%s' on type 'microsoft.graph.user'.", strings.TrimSpace(p))
		}
		props = append(props, name)
	}
	return props, ""
}

// run executes one operation: routing, early-retry detection, throttling,
// fault injection, then the user lookup and the action itself. Graph
// charges a request before it knows whether the user exists, so a 404 costs
// quota too.
func (s *Server) run(op operation, id ids) result {
	t, status, code, msg := parseTarget(op.path)
	var props []string
	if status == 0 && t.kind == opGetUser {
		var problem string
		if props, problem = parseSelect(op.query); problem != "" {
			status, code, msg = http.StatusBadRequest, "Request_BadRequest", problem
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	s.nOps++
	n := s.nOps
	res := s.runLocked(op, t, props, status, code, msg, n, now, id)
	s.stats.Statuses[res.status]++
	return res
}

func (s *Server) runLocked(op operation, t target, props []string, status int, code, msg string, n int, now time.Time, id ids) result {
	if status != 0 {
		r := errorResult(status, code, msg, now, id)
		r.header["x-ms-resource-unit"] = "0" // refused before anything was charged
		return r
	}
	method := strings.ToUpper(op.method)
	ru, writes := 1.0, 0.0
	switch {
	case t.kind == opRevoke && method == http.MethodPost:
		writes = 1
		s.stats.Writes++
		if s.dryRun {
			s.stats.DryRunWrites++
		}
	case t.kind == opGetUser && method == http.MethodGet:
		s.stats.Reads++
		if props == nil {
			ru = 2 // $select lowers the cost of a user read by one
		}
	}

	u := s.tenant.lookup(t.key)
	ukey := s.userKey(t.key, u)
	floor, told := s.notBefore[ukey]
	if now.Before(floor) {
		s.stats.EarlyRetries++
	} else if told {
		delete(s.notBefore, ukey)
	}
	v := s.thr.admit(now, ru, writes, floor)
	s.stats.PeakUsage = max(s.stats.PeakUsage, v.usage)
	header := map[string]string{"x-ms-resource-unit": strconv.Itoa(int(ru))}
	if v.usage > 0.8 {
		header["x-ms-throttle-limit-percentage"] = strconv.FormatFloat(math.Min(1.8, math.Floor(v.usage*100)/100), 'f', -1, 64)
	}
	with := func(r result) result {
		for k, val := range header {
			r.header[k] = val
		}
		return r
	}
	if v.wait > 0 {
		s.notBefore[ukey] = now.Add(v.wait)
		s.stats.Throttled++
		r := errorResult(http.StatusTooManyRequests, "TooManyRequests",
			fmt.Sprintf("Too many requests: %s. Retry after %s seconds.", v.by.info, s.formatRetryAfter(v.wait)), now, id)
		r.header["Retry-After"] = s.formatRetryAfter(v.wait)
		r.header["x-ms-throttle-scope"] = v.by.scope
		r.header["x-ms-throttle-information"] = v.by.info
		return with(r)
	}

	if fs, ok := s.stepFault(n, now, u, t.key); ok {
		s.stats.StepFaults++
		r := errorResult(fs, faultCode(fs), faultMessage(fs), now, id)
		if fs == http.StatusTooManyRequests || fs == http.StatusServiceUnavailable {
			ra := s.faults.retryAfter()
			r.header["Retry-After"] = s.formatRetryAfter(ra)
			if fs == http.StatusTooManyRequests {
				s.stats.Throttled++
				s.notBefore[ukey] = now.Add(ra)
			}
		}
		return with(r)
	}

	if u == nil {
		return with(errorResult(http.StatusNotFound, "Request_ResourceNotFound",
			fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", t.key), now, id))
	}
	switch {
	case t.kind == opRevoke && method == http.MethodPost:
		if u.Protected {
			return with(errorResult(http.StatusForbidden, "Authorization_RequestDenied",
				"Insufficient privileges to complete the operation.", now, id))
		}
		if !u.IgnoreRevoke {
			u.SignInSessionsValidFrom = now
		}
		s.revocations[u] = append(s.revocations[u], now)
		s.stats.Revocations++
		if s.cfg.RevokeNoContent {
			return with(result{status: http.StatusNoContent, header: map[string]string{}})
		}
		return with(result{status: http.StatusOK, header: map[string]string{"Content-Type": jsonType},
			body: object("@odata.context", "https://graph.microsoft.com/"+op.version+"/$metadata#Edm.Boolean", "value", true)})
	case t.kind == opGetUser && method == http.MethodGet:
		return with(result{status: http.StatusOK, header: map[string]string{"Content-Type": jsonType},
			body: userBody(u, props, op.version)})
	}
	return with(errorResult(http.StatusMethodNotAllowed, "Request_BadRequest",
		"Specified HTTP method is not allowed for the request target.", now, id))
}

// stepFault decides whether an injected fault replaces this operation.
func (s *Server) stepFault(n int, now time.Time, u *User, key string) (int, bool) {
	f := s.faults
	if sf, ok := f.scheduled(StepFault, n, now.Sub(s.start), u, key); ok {
		return sf.Status, true
	}
	if f.StepRate > 0 && s.rng.Float64() < f.StepRate {
		return pick(s.rng, f.StepStatuses, []int{500, 502, 503, 504}), true
	}
	return 0, false
}

func faultCode(status int) string {
	switch status {
	case http.StatusTooManyRequests:
		return "TooManyRequests"
	case http.StatusBadGateway:
		return "BadGateway"
	case http.StatusServiceUnavailable:
		return "ServiceNotAvailable"
	case http.StatusGatewayTimeout:
		return "GatewayTimeout"
	default:
		return "InternalServerError"
	}
}

func faultMessage(status int) string {
	if status == http.StatusTooManyRequests {
		return "Too many requests: retry after the time given in Retry-After."
	}
	return "The service is temporarily unavailable (" + strconv.Itoa(status) + " injected by graphsim)."
}

// userBody renders a user as Graph does: @odata.context first, then the
// selected properties, or Graph's default set when nothing was selected.
func userBody(u *User, props []string, version string) json.RawMessage {
	ctx := "https://graph.microsoft.com/" + version + "/$metadata#users/$entity"
	if props != nil {
		ctx = "https://graph.microsoft.com/" + version + "/$metadata#users(" + strings.Join(props, ",") + ")/$entity"
	} else {
		props = []string{"displayName", "userPrincipalName", "id"}
	}
	kv := []any{"@odata.context", ctx}
	for _, p := range props {
		var v any
		switch p {
		case "id":
			v = u.ID
		case "userPrincipalName":
			v = u.UPN
		case "displayName":
			v = u.DisplayName
		case "accountEnabled":
			v = u.AccountEnabled
		case "userType":
			v = u.UserType
		case "signInSessionsValidFromDateTime":
			// Graph reports whole seconds, so a verifier must allow for the
			// truncation; a user never revoked reads null.
			if !u.SignInSessionsValidFrom.IsZero() {
				v = u.SignInSessionsValidFrom.UTC().Truncate(time.Second).Format(time.RFC3339)
			}
		}
		kv = append(kv, p, v)
	}
	return object(kv...)
}

// userKey is the notBefore key of a user: its object id when it exists, whatever the form
// the client addressed it by.
func (s *Server) userKey(key string, u *User) string {
	if u != nil {
		return "u:" + strings.ToLower(u.ID)
	}
	return "u:" + strings.ToLower(key)
}

// userKeyOf is userKey for a request path; "" when the path names no user. It needs no lock:
// the tenant's index is built by New and only read afterwards.
func (s *Server) userKeyOf(path string) string {
	t, status, _, _ := parseTarget(path)
	if status != 0 || t.key == "" {
		return ""
	}
	return s.userKey(t.key, s.tenant.lookup(t.key))
}
