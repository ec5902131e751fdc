package graphsim

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// operation is one Graph call, arriving directly or as a $batch step.
type operation struct {
	method  string
	path    string // relative to the version, escapes intact, e.g. /users/a%23b
	query   string // raw query
	version string
	body    []byte
	header  func(name string) string // the request's or the step's headers
	base    string                   // scheme://host the client reached, for nextLinks
	dir     *directory               // the tenant the caller's token is for
	app     string                   // the caller's app (client id)
	denied  bool                     // the app has no consent in dir
}

// as runs the operation on behalf of who.
func (op *operation) as(who principal) {
	op.dir, op.app, op.denied = who.dir, who.app, who.denied
}

// cost is what Graph's identity cost table charges a request (throttling
// docs: GET users 2, groups/{id}/members 3, transitiveMembers 5, anything
// else 1; $select and $top under 20 take one off, never below 1; every
// write costs 1 RU and 1 write).
func cost(r route, method string, q queryOpts) (ru, writes float64) {
	if method != http.MethodGet {
		return 1, 1
	}
	ru = 1
	switch r.kind {
	case routeUser, routeUsers:
		ru = 2
	case routeMembers:
		ru = 3
		if r.rel == "transitiveMembers" {
			ru = 5
		}
	}
	if q.props != nil {
		ru--
	}
	if q.top > 0 && q.top < 20 {
		ru--
	}
	return max(ru, 1), 0
}

// run executes one operation: routing and validation, then (under the lock)
// early-retry detection, throttling, fault injection, the object lookup and
// the action itself. Graph charges a request before it knows whether the
// object exists, so a 404 costs quota too.
func (s *Server) run(op operation, id ids) result {
	op.method = strings.ToUpper(op.method)
	r, prob := parseRoute(op.path)
	var q queryOpts
	if prob == nil && op.method == http.MethodGet {
		q, prob = s.parseQuery(r, op)
	}
	if op.denied {
		// A token without consent carries no roles: every operation is
		// refused by authorization, before any quota is charged.
		prob = &problem{http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	s.nOps++
	var res result
	if prob != nil {
		if op.denied {
			s.stats.Denied++
		}
		res = errorResult(prob.status, prob.code, prob.message, now, id)
		res.header["x-ms-resource-unit"] = "0" // refused before anything was charged
	} else {
		res = s.runLocked(op, r, q, s.nOps, now, id)
	}
	s.stats.Statuses[res.status]++
	return res
}

func (s *Server) runLocked(op operation, r route, q queryOpts, n int, now time.Time, id ids) result {
	d := op.dir
	// A method the target does not serve is answered 405 once the target
	// is known to exist (404 first), and charged as a read.
	allowed := r.allows(op.method)
	ru, writes := cost(r, op.method, q)
	if !allowed {
		ru, writes = 1, 0
	}
	switch {
	case !allowed:
	case r.kind == routeRevoke:
		s.stats.Writes++
	case r.kind == routeUser && op.method == http.MethodPatch:
		s.stats.Patches++
	case r.kind == routeDevice && op.method == http.MethodPatch:
		s.stats.DevicePatches++
	case r.kind == routeMethod:
	case r.collection() || r.kind == routeMethods:
		s.stats.Lists++
	default:
		s.stats.Reads++
	}
	if s.dryRun && writes > 0 {
		s.stats.DryRunWrites++
	}

	var u *User
	var dv *Device
	var g *Group
	switch r.kind {
	case routeUser, routeRevoke, routeUserDevices, routeMethods, routeMethod:
		u = d.lookup(r.key)
	case routeDevice:
		dv = d.device(r.key)
	case routeGroup, routeMembers:
		g = d.group(r.key)
	}
	okey := objectKey(r, op, u)
	floor, told := s.notBefore[okey]
	if now.Before(floor) {
		s.stats.EarlyRetries++
	} else if told {
		delete(s.notBefore, okey)
	}
	v := s.thr.admit(now, step{app: op.app, tenant: d.id, size: d.size, ru: ru, writes: writes, device: r.kind == routeDevice}, floor)
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
	fail := func(status int, code, msg string) result {
		return with(errorResult(status, code, msg, now, id))
	}
	if v.wait > 0 {
		s.notBefore[okey] = now.Add(v.wait)
		s.stats.Throttled++
		s.stats.ThrottledByLevel[v.by.level]++
		res := fail(http.StatusTooManyRequests, "TooManyRequests",
			fmt.Sprintf("Too many requests: %s. Retry after %s seconds.", v.by.info, s.formatRetryAfter(v.wait)))
		res.header["Retry-After"] = s.formatRetryAfter(v.wait)
		res.header["x-ms-throttle-scope"] = v.by.scope
		res.header["x-ms-throttle-information"] = v.by.info
		return res
	}

	if u != nil && u.FailingDevices != 0 && r.kind == routeUserDevices {
		if u.FailingDevices == http.StatusForbidden {
			return fail(http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
		}
		return fail(u.FailingDevices, faultCode(u.FailingDevices), faultMessage(u.FailingDevices))
	}
	if u != nil && u.Failing != 0 {
		s.stats.StepFaults++
		res := fail(u.Failing, faultCode(u.Failing), faultMessage(u.Failing))
		if u.FailingRetryAfter > 0 {
			res.header["Retry-After"] = s.formatRetryAfter(u.FailingRetryAfter)
		}
		return res
	}
	if fs, ok := s.stepFault(n, now, u, r.key); ok {
		s.stats.StepFaults++
		res := fail(fs, faultCode(fs), faultMessage(fs))
		if fs == http.StatusTooManyRequests || fs == http.StatusServiceUnavailable {
			ra := s.faults.retryAfter()
			res.header["Retry-After"] = s.formatRetryAfter(ra)
			if fs == http.StatusTooManyRequests {
				s.stats.Throttled++
				s.notBefore[okey] = now.Add(ra)
			}
		}
		return res
	}

	var ch change
	if allowed && op.method == http.MethodPatch {
		kind := kindUser
		if r.kind == routeDevice {
			kind = kindDevice
		}
		var prob *problem
		if ch, prob = parsePatch(op.body, kind); prob != nil {
			return fail(prob.status, prob.code, prob.message)
		}
	}
	if (u == nil && (r.kind == routeUser || r.kind == routeRevoke || r.kind == routeUserDevices || r.kind == routeMethods || r.kind == routeMethod)) ||
		(dv == nil && r.kind == routeDevice) || (g == nil && (r.kind == routeGroup || r.kind == routeMembers)) {
		return fail(http.StatusNotFound, "Request_ResourceNotFound",
			fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", r.key))
	}

	switch {
	case !allowed:
		return fail(http.StatusMethodNotAllowed, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")
	case r.kind == routeRevoke:
		if u.Protected {
			return fail(http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
		}
		if !u.IgnoreRevoke {
			u.SignInSessionsValidFrom = now
		}
		s.recordUser(d, u, EventRevoke, now)
		s.stats.Revocations++
		if s.cfg.RevokeNoContent {
			return with(result{status: http.StatusNoContent, header: map[string]string{}})
		}
		return with(result{status: http.StatusOK, header: map[string]string{"Content-Type": jsonType}, body: revokeBody(op.version)})
	case r.kind == routeUser && op.method == http.MethodPatch:
		if u.Protected || (ch.password != nil && (u.Admin || s.cfg.NoPasswordPermission)) {
			// Graph gives an admin the app may not touch the same answer as a missing permission.
			return fail(http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
		}
		if u.OnPremisesSyncEnabled && !ch.empty() {
			return fail(http.StatusBadRequest, "Request_BadRequest", syncedMessage)
		}
		if ch.password != nil && (s.cfg.RefusePasswords || !complexEnough(*ch.password)) {
			return fail(http.StatusBadRequest, "Request_BadRequest", weakPasswordMessage)
		}
		if ch.password != nil {
			s.passwords = append(s.passwords, *ch.password)
			s.recordUser(d, u, EventReset, now)
		}
		ch.applyUser(u)
		if !ch.empty() {
			s.touch()
		}
		if ch.accountEnabled != nil {
			kind := EventBlock
			if *ch.accountEnabled {
				kind = EventEnable
			}
			s.recordUser(d, u, kind, now)
		}
		return with(result{status: http.StatusNoContent, header: map[string]string{}})
	case r.kind == routeDevice && op.method == http.MethodPatch:
		if dv.OnPremisesSyncEnabled && !ch.empty() {
			return fail(http.StatusBadRequest, "Request_BadRequest", syncedMessage)
		}
		ch.applyDevice(dv)
		if !ch.empty() {
			s.touch()
		}
		if ch.accountEnabled != nil {
			kind := EventDeviceDisable
			if *ch.accountEnabled {
				kind = EventDeviceEnable
			}
			s.recordDevice(d, dv, kind, now)
		}
		return with(result{status: http.StatusNoContent, header: map[string]string{}})
	case r.kind == routeMethods || r.kind == routeMethod:
		if s.cfg.NoMethodsPermission {
			return fail(http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
		}
		if r.kind == routeMethods {
			return with(s.listMethods(op, u))
		}
		status, code, msg := s.deleteMethod(d, r, u, now)
		if status != http.StatusNoContent {
			return fail(status, code, msg)
		}
		return with(result{status: http.StatusNoContent, header: map[string]string{}})
	case r.collection():
		return with(s.listPage(op, r, q, u, g))
	}
	var o dirObject
	switch r.kind {
	case routeUser:
		o = dirObject{kind: kindUser, user: u}
	case routeDevice:
		o = dirObject{kind: kindDevice, device: dv}
	default:
		o = dirObject{kind: kindGroup, group: g}
	}
	return with(result{status: http.StatusOK, header: map[string]string{"Content-Type": jsonType},
		body: entityBody(o, q.props, op.version)})
}

// revokeBody is Graph's real answer to a revoke, built once per version:
// every landed revoke sends it.
func revokeBody(version string) []byte {
	if b, ok := revokeBodies.Load(version); ok {
		return b.([]byte)
	}
	b := object("@odata.context", "https://graph.microsoft.com/"+version+"/$metadata#Edm.Boolean", "value", true)
	revokeBodies.Store(version, []byte(b))
	return b
}

var revokeBodies sync.Map

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

// objectKey is the notBefore key of what an operation addresses: a user by
// object id whatever form the client used (or by the key when missing), a
// device by id, a listing by its path and query. Keys carry the app and the
// tenant: a Retry-After told to one app is not another's, and two tenants
// may hold the same ids.
func objectKey(r route, op operation, u *User) string {
	who := strings.ToLower(op.app) + ":" + op.dir.id + ":"
	switch r.kind {
	case routeUser, routeRevoke:
		if u != nil {
			return "u:" + who + strings.ToLower(u.ID)
		}
		return "u:" + who + strings.ToLower(r.key)
	case routeDevice:
		return "d:" + who + strings.ToLower(r.key)
	}
	return "q:" + who + strings.ToLower(op.path) + "?" + op.query
}

// keyOf is objectKey for a request path; "" when the path does not parse. It
// needs no lock: the directory's indexes are built by New and only read
// afterwards.
func keyOf(op operation) string {
	r, prob := parseRoute(op.path)
	if prob != nil {
		return ""
	}
	var u *User
	if r.kind == routeUser || r.kind == routeRevoke {
		u = op.dir.lookup(r.key)
	}
	return objectKey(r, op, u)
}
