package graphsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

const syncedID = "88888888-8888-4888-8888-888888888888"

// containmentUsers adds a user synced from on-premises AD to trapUsers.
func containmentUsers() []User {
	users := trapUsers()
	u := users[0]
	u.ID, u.UPN, u.DisplayName, u.OnPremisesSyncEnabled = syncedID, "synced@x.com", "synced@x.com", true
	return append(users, u)
}

var jsonHeader = map[string]string{"Content-Type": "application/json"}

func TestPatchUser(t *testing.T) {
	tests := []struct {
		name    string
		path    string // after /v1.0
		body    string
		status  int
		code    string
		message string // substring of the error message
		enabled *bool  // the user's accountEnabled afterwards (the one named by upn)
		upn     string
		event   EventKind
	}{
		{name: "block by UPN", path: "/users/adele@x.com", body: `{"accountEnabled":false}`, status: 204,
			upn: "adele@x.com", enabled: ptr(false), event: EventBlock},
		{name: "enable by key literal", path: "/users('o''brien@x.com')", body: `{"accountEnabled":true}`, status: 204,
			upn: "o'brien@x.com", enabled: ptr(true), event: EventEnable},
		{name: "block by object id, any case", path: "/users/" + strings.ToUpper(adeleID), body: `{"AccountEnabled":false}`, status: 204,
			upn: "adele@x.com", enabled: ptr(false), event: EventBlock},
		{name: "guest with escaped #", path: "/users/john_contoso.com%23EXT%23@t.onmicrosoft.com", body: `{"accountEnabled":false}`, status: 204,
			upn: "john_contoso.com#EXT#@t.onmicrosoft.com", enabled: ptr(false), event: EventBlock},
		{name: "unknown property", path: "/users/adele@x.com", body: `{"accountEnabled":false,"favouriteColour":"blue"}`, status: 400,
			code: "Request_BadRequest", message: "Invalid property 'favouriteColour'.", upn: "adele@x.com", enabled: ptr(true)},
		{name: "read-only property", path: "/users/adele@x.com", body: `{"id":"x"}`, status: 400,
			code: "Request_BadRequest", message: "Property 'id' is read-only and cannot be set."},
		{name: "string for a boolean", path: "/users/adele@x.com", body: `{"accountEnabled":"false"}`, status: 400,
			code: "BadRequest", message: "'Edm.Boolean'", upn: "adele@x.com", enabled: ptr(true)},
		{name: "null for a boolean", path: "/users/adele@x.com", body: `{"accountEnabled":null}`, status: 400, code: "BadRequest"},
		{name: "malformed JSON", path: "/users/adele@x.com", body: `{"accountEnabled":`, status: 400,
			code: "BadRequest", message: "Unable to read JSON request payload"},
		{name: "not an object", path: "/users/adele@x.com", body: `[false]`, status: 400, code: "BadRequest"},
		{name: "synced from on-premises", path: "/users/synced@x.com", body: `{"accountEnabled":false}`, status: 400,
			code: "Request_BadRequest", message: "on-premises mastered Directory Sync objects", upn: "synced@x.com", enabled: ptr(true)},
		{name: "protected admin", path: "/users/admin@x.com", body: `{"accountEnabled":false}`, status: 403,
			code: "Authorization_RequestDenied", upn: "admin@x.com", enabled: ptr(true)},
		{name: "unknown user", path: "/users/ghost@x.com", body: `{"accountEnabled":false}`, status: 404,
			code: "Request_ResourceNotFound", message: "Resource 'ghost@x.com' does not exist"},
		{name: "dollar key in plain form", path: "/users/$adele@x.com", body: `{"accountEnabled":false}`, status: 400, code: "Request_BadRequest"},
		{name: "PATCH on the revoke action", path: "/users/adele@x.com/revokeSignInSessions", body: `{}`, status: 405},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, base := start(t, Config{Clock: NewManualClock(t0)}, containmentUsers())
			r := call(t, "PATCH", base+"/v1.0"+tc.path, []byte(tc.body), jsonHeader)
			r.expect(t, tc.status, tc.code)
			if tc.status == 204 && len(r.raw) != 0 {
				t.Errorf("204 with a body: %s", r.raw)
			}
			if !strings.Contains(r.errMessage(), tc.message) {
				t.Errorf("message %q, want it to contain %q", r.errMessage(), tc.message)
			}
			if tc.upn != "" {
				u, _ := s.User(tc.upn)
				if u.AccountEnabled != *tc.enabled {
					t.Errorf("accountEnabled = %v, want %v", u.AccountEnabled, *tc.enabled)
				}
				ev := s.Events(tc.upn)
				if tc.event == 0 && len(ev) != 0 || tc.event != 0 && (len(ev) != 1 || ev[0].Kind != tc.event || !ev[0].At.Equal(t0)) {
					t.Errorf("events %v, want one %v at t0", ev, tc.event)
				}
			}
			// Everything that got past the URL parser was charged.
			wantRU := "1"
			if strings.Contains(tc.path, "$") {
				wantRU = "0"
			}
			if ru := r.header.Get("x-ms-resource-unit"); ru != wantRU {
				t.Errorf("x-ms-resource-unit %q, want %q", ru, wantRU)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestPatchChargesWrites: a PATCH costs one resource unit and one write like
// a revoke, whatever it is answered, and its early retries are counted.
func TestPatchChargesWrites(t *testing.T) {
	clock := NewManualClock(t0)
	users := append(containmentUsers(), GenerateUsers(100, 1)...)
	s, base := start(t, Config{Clock: clock, Quota: QuotaSlidingWindow}, users)
	patches := []struct{ key, body string }{
		{"adele@x.com", `{"accountEnabled":false}`},  // 204
		{"synced@x.com", `{"accountEnabled":false}`}, // 400, synced
		{"admin@x.com", `{"accountEnabled":false}`},  // 403
		{"ghost@x.com", `{"accountEnabled":false}`},  // 404
		{"adele@x.com", `{"colour":1}`},              // 400, invalid property
	}
	for _, p := range patches {
		r := call(t, "PATCH", base+"/v1.0/users/"+p.key, []byte(p.body), jsonHeader)
		if r.header.Get("x-ms-resource-unit") != "1" {
			t.Errorf("PATCH %s %s: x-ms-resource-unit %q, want 1", p.key, p.body, r.header.Get("x-ms-resource-unit"))
		}
	}
	// The five PATCHes took five of the 3,000 writes.
	replies := burst(t, base, users[len(containmentUsers()):], 2995)
	for i, r := range replies {
		if r.Status != 200 {
			t.Fatalf("revoke %d: status %d, want 2995 admitted", i, r.Status)
		}
	}
	steps := []testStep{{ID: "p", Method: "PATCH", URL: "/users/o'brien@x.com", Headers: jsonHeader, Body: map[string]any{"accountEnabled": false}}}
	_, got := batch(t, base, steps)
	if got["p"].Status != 429 || got["p"].Headers["Retry-After"] != "150" {
		t.Fatalf("PATCH past the quota: status %d Retry-After %q, want 429 after 150", got["p"].Status, got["p"].Headers["Retry-After"])
	}
	clock.Advance(time.Minute)
	if _, got = batch(t, base, steps); got["p"].Status != 429 {
		t.Errorf("early retry: status %d, want 429", got["p"].Status)
	}
	st := s.Stats()
	if st.Patches != 7 || st.EarlyRetries != 1 || st.Writes != 2995 {
		t.Errorf("patches=%d early=%d writes=%d, want 7, 1 and 2995", st.Patches, st.EarlyRetries, st.Writes)
	}
	if u, _ := s.User("o'brien@x.com"); !u.AccountEnabled {
		t.Error("a refused PATCH blocked the user")
	}
}

// TestJournalOrder: blocks sent before revokes land before them, and the
// journal says so per user and across the server.
func TestJournalOrder(t *testing.T) {
	clock := NewManualClock(t0)
	users := GenerateUsers(30, 3)
	s, base := start(t, Config{Clock: clock, Seed: 4}, users)
	var blocks, revokes []testStep
	for i, u := range users[:10] {
		blocks = append(blocks, testStep{ID: fmt.Sprint("b", i), Method: "PATCH", URL: "/users/" + u.ID, Headers: jsonHeader, Body: map[string]any{"accountEnabled": false}})
		revokes = append(revokes, revokeStep(fmt.Sprint("r", i), u.ID))
	}
	batch(t, base, blocks)
	clock.Advance(time.Second)
	batch(t, base, revokes)
	blocked := 0
	for _, u := range users[:10] {
		ev := s.Events(u.UPN)
		if u.OnPremisesSyncEnabled {
			if len(ev) != 1 || ev[0].Kind != EventRevoke {
				t.Errorf("synced %s: events %v, want the revoke alone", u.UPN, ev)
			}
			continue
		}
		blocked++
		if len(ev) != 2 || ev[0].Kind != EventBlock || ev[1].Kind != EventRevoke || ev[0].Seq >= ev[1].Seq || !ev[0].At.Before(ev[1].At) {
			t.Errorf("%s: events %v, want a block then a revoke", u.UPN, ev)
		}
		if ev[0].Tenant != s.cfg.TenantID || !strings.EqualFold(ev[0].Object, u.ID) {
			t.Errorf("%s: event names tenant %s object %s", u.UPN, ev[0].Tenant, ev[0].Object)
		}
	}
	all := s.Journal()
	if len(all) != blocked+10 {
		t.Fatalf("journal holds %d events, want %d", len(all), blocked+10)
	}
	for i, e := range all {
		if e.Seq != i+1 || (i < blocked) != (e.Kind == EventBlock) {
			t.Errorf("journal[%d] = %+v, want blocks first, in sequence", i, e)
		}
	}
}

func TestBatchDependsOnShapes(t *testing.T) {
	mk := func(deps ...string) []testStep {
		keys := []string{"adele@x.com", "a%2Bb@x.com", "admin@x.com", "100%25@x.com"}
		var steps []testStep
		for i, d := range deps {
			st := revokeStep(fmt.Sprint(i+1), keys[i])
			if d != "" {
				st.DependsOn = strings.Split(d, ",")
			}
			steps = append(steps, st)
		}
		return steps
	}
	tests := []struct {
		name  string
		steps []testStep
		any   bool
		want  map[string]int // step statuses; nil = envelope refused
	}{
		{name: "parallel", steps: mk("", "", "", ""), want: map[string]int{"1": 200, "2": 200, "3": 403, "4": 200}},
		{name: "serial: a 403 fails every later step", steps: mk("", "1", "2", "3"), want: map[string]int{"1": 200, "2": 200, "3": 403, "4": 424}},
		{name: "same: all on the first", steps: mk("", "1", "1", "1"), want: map[string]int{"1": 200, "2": 200, "3": 403, "4": 200}},
		{name: "same: some on a later step", steps: mk("", "3", "", "3"), want: map[string]int{"1": 200, "2": 424, "3": 403, "4": 424}},
		{name: "pairs", steps: mk("", "1", "", "3")},
		{name: "serial out of listed order", steps: mk("2", "", "1", "3")},
		{name: "two dependencies", steps: mk("", "", "1,2", "")},
		{name: "same on a dependent step", steps: mk("", "1", "2", "2")},
		{name: "pairs when any shape is allowed", steps: mk("", "1", "", "3"), any: true, want: map[string]int{"1": 200, "2": 200, "3": 403, "4": 424}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, base := start(t, Config{AnyDependsOn: tc.any}, trapUsers())
			env, got := batch(t, base, tc.steps)
			if tc.want == nil {
				if env.status != 400 || env.errCode() != "BadRequest" || !strings.Contains(env.errMessage(), "dependsOn") {
					t.Fatalf("envelope %d %s, want 400 BadRequest about dependsOn", env.status, env.raw)
				}
				if st := s.Stats(); st.BadDependsOn != 1 || st.Steps != 0 {
					t.Errorf("BadDependsOn=%d Steps=%d, want 1 and 0", st.BadDependsOn, st.Steps)
				}
				return
			}
			if env.status != 200 {
				t.Fatalf("envelope %d: %s", env.status, env.raw)
			}
			for id, w := range tc.want {
				if got[id].Status != w {
					t.Errorf("step %s: status %d, want %d", id, got[id].Status, w)
				}
			}
		})
	}
}

func TestPatchInBatchNeedsBody(t *testing.T) {
	_, base := start(t, Config{}, trapUsers())
	env, _ := batch(t, base, []testStep{{ID: "1", Method: "PATCH", URL: "/users/adele@x.com"}})
	if env.status != 400 {
		t.Errorf("PATCH step without body: envelope %d, want 400", env.status)
	}
	raw, _ := json.Marshal(map[string]any{"requests": []testStep{{ID: "1", Method: "PATCH", URL: "/users/adele@x.com", Headers: jsonHeader, Body: map[string]any{"accountEnabled": false}}}})
	r := call(t, "POST", base+"/v1.0/$batch", raw, jsonHeader)
	if steps := stepReplies(t, r); steps["1"].Status != http.StatusNoContent || steps["1"].Body != nil {
		t.Errorf("PATCH step: %d %v, want 204 without body", steps["1"].Status, steps["1"].Body)
	}
}
