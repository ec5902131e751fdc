package graphsim

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestBatchEnvelopeRejected(t *testing.T) {
	ok := `{"id":"1","method":"POST","url":"/users/adele@x.com/revokeSignInSessions","headers":{"Content-Type":"application/json"},"body":{}}`
	many := make([]string, 21)
	for i := range many {
		many[i] = strings.Replace(ok, `"id":"1"`, fmt.Sprintf(`"id":"%d"`, i+1), 1)
	}
	tests := []struct {
		name    string
		body    string
		lenient bool
	}{
		{name: "malformed JSON", body: `{"requests":[` + ok},
		{name: "not JSON", body: `requests=1`},
		{name: "empty body", body: ``},
		{name: "requests missing", body: `{}`},
		{name: "requests empty", body: `{"requests":[]}`},
		{name: "requests null", body: `{"requests":null}`},
		{name: "21 requests", body: `{"requests":[` + strings.Join(many, ",") + `]}`},
		{name: "duplicate ids differing in case", body: `{"requests":[` + strings.Replace(ok, `"1"`, `"a"`, 1) + `,` + strings.Replace(ok, `"1"`, `"A"`, 1) + `]}`},
		{name: "absolute https url", body: `{"requests":[` + strings.Replace(ok, `"/users/`, `"https://graph.microsoft.com/v1.0/users/`, 1) + `]}`},
		{name: "absolute http url", body: `{"requests":[` + strings.Replace(ok, `"/users/`, `"http://127.0.0.1/v1.0/users/`, 1) + `]}`},
		{name: "missing id", body: `{"requests":[` + strings.Replace(ok, `"id":"1",`, ``, 1) + `]}`},
		{name: "numeric id", body: `{"requests":[` + strings.Replace(ok, `"id":"1"`, `"id":1`, 1) + `]}`},
		{name: "missing url", body: `{"requests":[` + strings.Replace(ok, `"url":"/users/adele@x.com/revokeSignInSessions",`, ``, 1) + `]}`},
		{name: "dependsOn unknown id", body: `{"requests":[` + strings.Replace(ok, `"body":{}`, `"body":{},"dependsOn":["9"]`, 1) + `]}`},
		{name: "body without content type", body: `{"requests":[{"id":"1","method":"POST","url":"/users/adele@x.com/revokeSignInSessions","body":{}}]}`},
		{name: "post with null body, as the SDK sends it by default", body: `{"requests":[{"id":"1","method":"POST","url":"/users/adele@x.com/revokeSignInSessions","body":null}]}`},
		{name: "header value not a string", body: `{"requests":[{"id":"1","method":"POST","url":"/users/adele@x.com/revokeSignInSessions","headers":{"Content-Type":1},"body":{}}]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, base := start(t, Config{LenientBatchBodies: tc.lenient}, trapUsers())
			r := call(t, "POST", base+"/v1.0/$batch", []byte(tc.body), map[string]string{"Content-Type": "application/json"})
			r.expect(t, http.StatusBadRequest, "BadRequest")
			if st := s.Stats(); st.Writes != 0 || st.Steps != 0 {
				t.Errorf("writes=%d steps=%d, want nothing run", st.Writes, st.Steps)
			}
		})
	}
}

func TestBatchLenientBodies(t *testing.T) {
	body := `{"requests":[{"id":"1","method":"POST","url":"/users/adele@x.com/revokeSignInSessions","body":null}]}`
	_, base := start(t, Config{LenientBatchBodies: true}, trapUsers())
	r := call(t, "POST", base+"/v1.0/$batch", []byte(body), map[string]string{"Content-Type": "application/json"})
	steps := stepReplies(t, r)
	if r.status != 200 || steps["1"].Status != 200 {
		t.Fatalf("envelope %d step %d, want 200/200: %s", r.status, steps["1"].Status, r.raw)
	}
}

func TestBatchSteps(t *testing.T) {
	s, base := start(t, Config{Seed: 7}, trapUsers())
	steps := []testStep{
		revokeStep("ok", "adele@x.com"),
		revokeStep("guest", "john_contoso.com%23EXT%23@t.onmicrosoft.com"),
		revokeStep("guest-cut", "john_contoso.com#EXT#@t.onmicrosoft.com"),
		revokeStep("dollar-plain", "$adele@x.com"),
		{ID: "dollar-literal", Method: "POST", URL: "/users('$adele@x.com')/revokeSignInSessions",
			Headers: map[string]string{"content-type": "application/json"}, Body: map[string]any{}},
		{ID: "quote-literal", Method: "POST", URL: "users('o''brien@x.com')/microsoft.graph.revokeSignInSessions",
			Headers: map[string]string{"Content-Type": "application/json"}, Body: map[string]any{}},
		revokeStep("plus", "a%2Bb@x.com"),
		revokeStep("percent", "100%25@x.com"),
		revokeStep("bad-escape", "100%zz@x.com"),
		revokeStep("protected", "admin@x.com"),
		revokeStep("missing", "nobody@x.com"),
		{ID: "read", Method: "GET", URL: "/users/" + strings.ToUpper(adeleID) + "?$select=id,signInSessionsValidFromDateTime"},
		{ID: "no-slash", Method: "GET", URL: "users/a+b@x.com?$select=userPrincipalName"},
	}
	env, got := batch(t, base, steps)
	if env.status != 200 {
		t.Fatalf("envelope status = %d: %s", env.status, env.raw)
	}
	want := map[string]struct {
		status int
		code   string
	}{
		"ok":             {200, ""},
		"guest":          {200, ""},
		"guest-cut":      {404, "Request_ResourceNotFound"},
		"dollar-plain":   {400, "Request_BadRequest"},
		"dollar-literal": {200, ""},
		"quote-literal":  {200, ""},
		"plus":           {200, ""},
		"percent":        {200, ""},
		"bad-escape":     {400, "Request_BadRequest"},
		"protected":      {403, "Authorization_RequestDenied"},
		"missing":        {404, "Request_ResourceNotFound"},
		"read":           {200, ""},
		"no-slash":       {200, ""},
	}
	if len(got) != len(want) {
		t.Errorf("got %d step responses, want %d", len(got), len(want))
	}
	for id, w := range want {
		r, ok := got[id]
		if !ok {
			t.Errorf("step %s: no response", id)
			continue
		}
		if r.Status != w.status {
			t.Errorf("step %s: status = %d, want %d (%v)", id, r.Status, w.status, r.Body)
		}
		if w.code != "" && errField(r.Body, "code") != w.code {
			t.Errorf("step %s: code = %q, want %q", id, errField(r.Body, "code"), w.code)
		}
		if r.Headers["x-ms-resource-unit"] == "" {
			t.Errorf("step %s: no x-ms-resource-unit header", id)
		}
	}
	if got["ok"].Body["value"] != true {
		t.Errorf("revoke step body = %v, want value true", got["ok"].Body)
	}
	if got["no-slash"].Body["userPrincipalName"] != "a+b@x.com" {
		t.Errorf("no-slash read = %v, want a+b@x.com", got["no-slash"].Body)
	}
	if msg := errField(got["guest-cut"].Body, "message"); !strings.Contains(msg, "'john_contoso.com'") {
		t.Errorf("cut guest message = %q, want the truncated key quoted", msg)
	}
	st := s.Stats()
	if st.Envelopes != 1 || st.Steps != len(steps) || st.Revocations != 6 || st.Reads != 2 {
		t.Errorf("stats envelopes=%d steps=%d revocations=%d reads=%d, want 1/%d/6/2", st.Envelopes, st.Steps, st.Revocations, st.Reads, len(steps))
	}
}

func TestBatchShufflesResponses(t *testing.T) {
	_, base := start(t, Config{Seed: 3}, GenerateUsers(40, 1))
	users := GenerateUsers(40, 1)
	var steps []testStep
	for i := range 20 {
		steps = append(steps, testStep{ID: fmt.Sprint(i), Method: "GET", URL: "/users/" + users[i].ID + "?$select=id"})
	}
	env, _ := batch(t, base, steps)
	var out struct {
		Responses []stepReply `json:"responses"`
	}
	if err := json.Unmarshal(env.raw, &out); err != nil {
		t.Fatal(err)
	}
	inOrder := true
	for i, r := range out.Responses {
		inOrder = inOrder && r.ID == fmt.Sprint(i)
	}
	if len(out.Responses) != 20 || inOrder {
		t.Errorf("got %d responses, in request order = %v; want 20 in shuffled order", len(out.Responses), inOrder)
	}
}

func TestBatchDependsOn(t *testing.T) {
	// Two chains in one envelope is a shape Microsoft's clients refuse; Graph
	// may run it, and that is what this test is about.
	s, base := start(t, Config{AnyDependsOn: true}, trapUsers())
	steps := []testStep{
		revokeStep("1", "nobody@x.com"),
		revokeStep("2", "adele@x.com"),
		revokeStep("3", "o'brien@x.com"),
		revokeStep("4", "a%2Bb@x.com"),
	}
	steps[1].DependsOn = []string{"1"} // 1 fails: 2 must not run
	steps[2].DependsOn = []string{"2"} // chain: 3 fails too
	steps[3].DependsOn = []string{"5"}
	steps = append(steps, revokeStep("5", "100%25@x.com")) // 4 waits for 5, which succeeds
	_, got := batch(t, base, steps)
	want := map[string]int{"1": 404, "2": 424, "3": 424, "4": 200, "5": 200}
	for id, w := range want {
		if got[id].Status != w {
			t.Errorf("step %s: status = %d, want %d", id, got[id].Status, w)
		}
	}
	if n := len(s.Revocations("adele@x.com")); n != 0 {
		t.Errorf("adele revoked %d times, want 0 (its dependency failed)", n)
	}
}

// TestBatchDependsOnCycle tells a cycle from a dependency on an unknown id:
// both are 400 BadRequest, so the message is what differs.
func TestBatchDependsOnCycle(t *testing.T) {
	tests := []struct {
		name    string
		deps    [2][]string // dependsOn of steps a and b
		any     bool
		message string
	}{
		{name: "cycle, any shape allowed", deps: [2][]string{{"B"}, {"a"}}, any: true, message: "dependsOn forms a cycle"},
		{name: "self-dependency", deps: [2][]string{{"a"}, nil}, any: true, message: "dependsOn forms a cycle"},
		{name: "unknown id", deps: [2][]string{nil, {"c"}}, any: true, message: "depends on unknown request id 'c'"},
		{name: "unknown id before the shape check", deps: [2][]string{{"c"}, {"a"}}, message: "depends on unknown request id 'c'"},
		{name: "cycle before the shape check", deps: [2][]string{{"b"}, {"a"}}, message: "dependsOn forms a cycle"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, base := start(t, Config{AnyDependsOn: tc.any}, trapUsers())
			a, b := revokeStep("a", "adele@x.com"), revokeStep("b", "a%2Bb@x.com")
			a.DependsOn, b.DependsOn = tc.deps[0], tc.deps[1]
			env, _ := batch(t, base, []testStep{a, b})
			if env.status != 400 || env.errCode() != "BadRequest" || !strings.Contains(env.errMessage(), tc.message) {
				t.Errorf("envelope %d %q %q, want 400 BadRequest saying %q", env.status, env.errCode(), env.errMessage(), tc.message)
			}
			if st := s.Stats(); st.Steps != 0 || st.BadDependsOn != 0 {
				t.Errorf("steps=%d BadDependsOn=%d, want nothing run and no shape refusal", st.Steps, st.BadDependsOn)
			}
		})
	}
}

func TestBatchGzipBody(t *testing.T) {
	s, base := start(t, Config{}, trapUsers())
	raw, _ := json.Marshal(map[string]any{"requests": []testStep{revokeStep("1", "adele@x.com")}})
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	_, _ = w.Write(raw)
	_ = w.Close()
	tests := []struct {
		name   string
		body   []byte
		status int
	}{
		{name: "gzip", body: gz.Bytes(), status: 200},
		// What a retry through a badly ordered SDK middleware sends.
		{name: "gzip label on a plain body", body: raw, status: 400},
	}
	for _, tc := range tests {
		r := call(t, "POST", base+"/v1.0/$batch", tc.body, map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip"})
		if r.status != tc.status {
			t.Errorf("%s: status = %d, want %d: %s", tc.name, r.status, tc.status, r.raw)
		}
	}
	if n := len(s.Revocations("adele@x.com")); n != 1 {
		t.Errorf("revocations = %d, want 1", n)
	}
}

func TestBatchMethodAndVersion(t *testing.T) {
	_, base := start(t, Config{}, trapUsers())
	if r := call(t, "GET", base+"/v1.0/$batch", nil, nil); r.status != 405 {
		t.Errorf("GET $batch: status = %d, want 405", r.status)
	}
	// A step URL carrying the version is a resource path Graph cannot find.
	env, got := batch(t, base, []testStep{{ID: "1", Method: "GET", URL: "/v1.0/users/adele@x.com"}})
	if env.status != 200 || got["1"].Status != 400 {
		t.Errorf("versioned step url: envelope %d step %d, want 200/400", env.status, got["1"].Status)
	}
}
