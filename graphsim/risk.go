package graphsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Identity Protection's confirmCompromised, as the Graph notes have it: POST
// /identityProtection/riskyUsers/confirmCompromised {"userIds": [...]} -> 204, throttled at 1
// request per second per tenant for all apps with 429s that carry no Retry-After, and refused
// 403 in a tenant without Entra ID P2. How many ids one call may carry is not documented
// (beta's dismiss: 60): Config.MaxRiskyUserIDs.

// DefaultMaxRiskyUserIDs is the most ids a confirmCompromised call may carry when
// Config.MaxRiskyUserIDs is 0.
const DefaultMaxRiskyUserIDs = 60

// riskInterval is Identity Protection's documented pace: one request a second per tenant.
const riskInterval = time.Second

// RiskCall is one confirmCompromised request graphsim received, answered or refused: tests
// measure the pace from these.
type RiskCall struct {
	Tenant string // tenant id
	App    string // the caller's client id
	At     time.Time
	IDs    int // userIds in the body
	Status int
}

// isRiskPath reports whether a path (relative to the version) is confirmCompromised.
func isRiskPath(path string) bool {
	return strings.EqualFold(strings.TrimSuffix(path, "/"), "/identityProtection/riskyUsers/confirmCompromised")
}

// serveConfirm answers a direct confirmCompromised call. It is not a $batch step here: the
// notes say one call carries many ids, and at one call a second batching gains nothing.
func (s *Server) serveConfirm(method string, body []byte, who principal, id ids) result {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	d := who.dir
	var req struct {
		UserIDs []string `json:"userIds"`
	}
	bad := json.Unmarshal(body, &req) != nil
	call := RiskCall{Tenant: d.id, App: who.app, At: now, IDs: len(req.UserIDs)}
	answer := func(res result) result {
		call.Status = res.status
		s.riskCalls = append(s.riskCalls, call)
		s.stats.Statuses[res.status]++
		return res
	}
	if method != http.MethodPost {
		return answer(errorResult(http.StatusMethodNotAllowed, "Request_BadRequest", "The request method is not supported for this resource.", now, id))
	}
	if s.dryRun {
		s.stats.DryRunWrites++
	}
	// Every request counts against the tenant's second, refused ones too: Graph keeps charging
	// requests made while a caller is throttled.
	last, seen := s.riskLast[d]
	s.riskLast[d] = now
	forced := s.cfg.ThrottleConfirms > s.riskForced[d]
	if forced {
		s.riskForced[d]++
	}
	if forced || (seen && now.Sub(last) < riskInterval) {
		s.stats.Throttled++
		s.stats.RiskThrottled++
		// No Retry-After, as Identity Protection sends none.
		return answer(errorResult(http.StatusTooManyRequests, "TooManyRequests",
			"Too many requests. Identity Protection allows 1 request per second per tenant.", now, id))
	}
	noPermission := slices.ContainsFunc(s.cfg.NoRiskPermission, func(a string) bool { return strings.EqualFold(a, who.app) })
	if who.denied || d.noP2 || noPermission {
		// What Graph says without P2 is not documented; a bare 403 has been reported. An app
		// without the permission gets the same answer.
		return answer(errorResult(http.StatusForbidden, "Forbidden", "", now, id))
	}
	most := s.cfg.MaxRiskyUserIDs
	if most <= 0 {
		most = DefaultMaxRiskyUserIDs
	}
	switch {
	case bad || len(req.UserIDs) == 0:
		return answer(errorResult(http.StatusBadRequest, "BadRequest", "The request body must hold a non-empty list of userIds.", now, id))
	case len(req.UserIDs) > most:
		return answer(errorResult(http.StatusBadRequest, "BadRequest",
			fmt.Sprintf("The number of userIds (%d) exceeds the maximum allowed (%d).", len(req.UserIDs), most), now, id))
	}
	// Ids that name no user are passed over: Graph's answer to them is not documented.
	for _, uid := range req.UserIDs {
		u := d.lookup(uid)
		if u == nil || !strings.EqualFold(u.ID, uid) {
			continue
		}
		u.RiskConfirmed = true
		s.recordUser(d, u, EventConfirm, now)
	}
	return answer(result{status: http.StatusNoContent, header: map[string]string{}})
}

// RiskCalls returns every confirmCompromised request received, in every tenant, in arrival
// order.
func (s *Server) RiskCalls() []RiskCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.riskCalls)
}

// Confirmed returns the ids of the tenant's users confirmed compromised, in seeding order.
func (v *TenantView) Confirmed() []string {
	v.s.mu.Lock()
	defer v.s.mu.Unlock()
	var out []string
	for _, u := range v.d.users {
		if u.RiskConfirmed {
			out = append(out, u.ID)
		}
	}
	return out
}

// Confirmed is Tenant(Config.TenantID).Confirmed.
func (s *Server) Confirmed() []string { return s.defView().Confirmed() }
