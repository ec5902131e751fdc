package graphsim

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2025, 6, 2, 9, 0, 0, 0, time.UTC)

const testToken = "test-token"

const adeleID = "6e1f7c2a-0b8e-4d9f-9a51-1c2d3e4f5a6b"

// trapUsers holds one user per encoding trap in graph-notes.md.
func trapUsers() []User {
	mk := func(id, upn string) User {
		return User{ID: id, UPN: upn, DisplayName: upn, AccountEnabled: true, SignInSessionsValidFrom: t0.Add(-48 * time.Hour)}
	}
	users := []User{
		mk(adeleID, "adele@x.com"),
		mk("11111111-1111-4111-8111-111111111111", "john_contoso.com#EXT#@t.onmicrosoft.com"),
		mk("22222222-2222-4222-8222-222222222222", "$adele@x.com"),
		mk("33333333-3333-4333-8333-333333333333", "o'brien@x.com"),
		mk("44444444-4444-4444-8444-444444444444", "a+b@x.com"),
		mk("55555555-5555-4555-8555-555555555555", "100%@x.com"),
		mk("66666666-6666-4666-8666-666666666666", "admin@x.com"),
		mk("77777777-7777-4777-8777-777777777777", "stuck@x.com"),
	}
	users[6].Protected = true
	users[7].IgnoreRevoke = true
	return users
}

// start serves a new graphsim over real HTTP on loopback.
func start(t *testing.T, cfg Config, users []User) (*Server, string) {
	t.Helper()
	if cfg.Token == "" {
		cfg.Token = testToken
	}
	s := New(cfg, users)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts.URL
}

type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

// errCode returns error.code from a Graph error body, or "".
func (r reply) errCode() string { return errField(r.body, "code") }

func (r reply) errMessage() string { return errField(r.body, "message") }

// expect fails t unless the reply has status and, where code is not "", Graph's error code.
func (r reply) expect(t *testing.T, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d: %s", r.status, status, r.raw)
	}
	if code != "" && r.errCode() != code {
		t.Errorf("error code = %q, want %q", r.errCode(), code)
	}
}

func errField(body map[string]any, field string) string {
	e, _ := body["error"].(map[string]any)
	s, _ := e[field].(string)
	return s
}

// call sends one request with the test token. rawURL is sent exactly as
// written, percent-escapes and all, through the ordinary client URL parser.
func call(t *testing.T, method, rawURL string, body []byte, hdr map[string]string) reply {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("build request %s: %v", rawURL, err)
	}
	return send(t, req, hdr)
}

// callOpaque sends path verbatim, even when Go's URL parser would reject it
// (a bad percent-escape).
func callOpaque(t *testing.T, method, base, path string) reply {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(method, base, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.URL = &url.URL{Scheme: u.Scheme, Host: u.Host, Opaque: path}
	return send(t, req, nil)
}

func send(t *testing.T, req *http.Request, hdr map[string]string) reply {
	t.Helper()
	if _, ok := hdr["Authorization"]; !ok {
		req.Header.Set("Authorization", "Bearer "+testToken)
	}
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := reply{status: res.StatusCode, header: res.Header, raw: raw}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			t.Fatalf("%s %s: body is not JSON: %v: %s", req.Method, req.URL, err, raw)
		}
	}
	return r
}

type testStep struct {
	ID        string            `json:"id"`
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers,omitempty"`
	Body      any               `json:"body,omitempty"`
	DependsOn []string          `json:"dependsOn,omitempty"`
}

// revokeStep is a revoke step in the documented safe form.
func revokeStep(id, key string) testStep {
	return testStep{ID: id, Method: "POST", URL: "/users/" + key + "/revokeSignInSessions",
		Headers: map[string]string{"Content-Type": "application/json"}, Body: map[string]any{}}
}

type stepReply struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    map[string]any    `json:"body"`
}

// batch posts steps to /v1.0/$batch and returns the envelope reply and the
// step replies by id.
func batch(t *testing.T, base string, steps []testStep) (reply, map[string]stepReply) {
	t.Helper()
	b, err := json.Marshal(map[string]any{"requests": steps})
	if err != nil {
		t.Fatal(err)
	}
	env := call(t, "POST", base+"/v1.0/$batch", b, map[string]string{"Content-Type": "application/json"})
	return env, stepReplies(t, env)
}

func stepReplies(t *testing.T, env reply) map[string]stepReply {
	t.Helper()
	if env.status != http.StatusOK {
		return nil
	}
	var out struct {
		Responses []stepReply `json:"responses"`
	}
	if err := json.Unmarshal(env.raw, &out); err != nil {
		t.Fatalf("batch response: %v: %s", err, env.raw)
	}
	m := map[string]stepReply{}
	for _, r := range out.Responses {
		m[r.ID] = r
	}
	return m
}
