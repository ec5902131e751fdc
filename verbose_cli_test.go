package main

// -v (issue 19, item 4): one debug line per $batch envelope, in both log formats, naming
// operations and statuses and never a credential.

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulkrevoke/bulkrevoke/graphsim"
)

// debugLine is what a test reads off one envelope's debug line.
type debugLine struct {
	crid, steps, statuses, requestID, retryAfter, app, tenant, attempt string
}

// verboseFaults throttle a step and a whole envelope once each, so that the lines show a 429 among
// the statuses, Graph's wait, and envelopes sent again.
var verboseFaults = graphsim.Faults{RetryAfter: 300 * time.Millisecond, Schedule: []graphsim.Scheduled{
	{Kind: graphsim.StepFault, Status: 429, Nth: 5},
	{Kind: graphsim.EnvelopeFault, Status: 429, Nth: 2},
}}

// TestVerboseEnvelopes: a revoke run with -v against the emulator logs exactly as many debug
// lines as graphsim received $batch envelopes, with distinct client-request-ids; their steps add
// up to the operations graphsim ran and their 429s to the throttles it sent, and Graph's wait is
// given. In text (signed in with a token) and in JSON (signed in with a client secret through the
// emulator's token endpoint), neither the token, the secret nor any JWT appears on stderr.
func TestVerboseEnvelopes(t *testing.T) {
	t.Parallel()
	users := graphsim.GenerateUsers(90, 19)
	input := writeFile(t, "users.csv", upnList(users))

	t.Run("text, token", func(t *testing.T) {
		t.Parallel()
		sim, url := startSim(t, graphsim.Config{Seed: 19, Quota: graphsim.QuotaOff, Faults: verboseFaults, FractionalRetryAfter: true}, users)
		out := filepath.Join(t.TempDir(), "r.csv")
		res := runCLI(t, tokenEnv(), "", cliArgs("revoke", url, input, out, "-v")...)
		if res.code != 0 {
			t.Fatalf("exit %d\n%s", res.code, res.stderr)
		}
		checkDebugLines(t, sim, res.stderr, textDebugLines(t, res.stderr), "", "", simToken)
	})

	t.Run("json, secret", func(t *testing.T) {
		t.Parallel()
		const tenant, app, secret = "3c1b7e52-19aa-4c55-8d8e-0f9d1f0e4b21", "7d9c3a10-5b1e-4f7e-9a3c-19e5c0d2a6f4", "vb~secret.19-Qx7"
		sim := graphsim.New(graphsim.Config{Seed: 19, Quota: graphsim.QuotaOff, Faults: verboseFaults, FractionalRetryAfter: true, TenantID: tenant,
			Apps: []graphsim.App{{ClientID: app, Secret: secret, Tenants: []string{tenant}}}}, users)
		ss := serveSim(t, sim, simOpts{})
		out := filepath.Join(t.TempDir(), "r.csv")
		res := runCLI(t, map[string]string{"AZURE_CLIENT_SECRET": secret}, "", append([]string{
			"revoke", "--verbose", "--log-format", "json", "--auth", "secret", "--tenant-id", tenant, "--client-id", app,
			"--input", input, "--report", out, "--yes"}, ss.secretSignIn()...)...)
		if res.code != 0 {
			t.Fatalf("exit %d\n%s", res.code, res.stderr)
		}
		if st := sim.Stats(); st.TokensIssued == 0 {
			t.Fatalf("no token was issued: the run did not sign in with the secret")
		}
		checkDebugLines(t, sim, res.stderr, jsonDebugLines(t, res.stderr), app, tenant, secret)
	})
}

// textDebugLines reads the debug lines of a text log.
func textDebugLines(t *testing.T, stderr string) []debugLine {
	t.Helper()
	attr := regexp.MustCompile(`(\w+)=("(?:[^"\\]|\\.)*"|\S*)`)
	var out []debugLine
	for _, l := range strings.Split(stderr, "\n") {
		if !strings.Contains(l, "level=DEBUG") {
			continue
		}
		m := map[string]string{}
		for _, kv := range attr.FindAllStringSubmatch(l, -1) {
			v := kv[2]
			if u, err := strconv.Unquote(v); err == nil {
				v = u
			}
			m[kv[1]] = v
		}
		if m["msg"] != "batch request" {
			t.Errorf("a debug line that is not an envelope's: %s", l)
			continue
		}
		out = append(out, debugLine{m["client_request_id"], m["steps"], m["statuses"], m["request_id"], m["retry_after"], m["app"], m["tenant"], m["attempt"]})
	}
	return out
}

// jsonDebugLines reads the debug lines of a JSON log; every line of stderr before the summary is JSON.
func jsonDebugLines(t *testing.T, stderr string) []debugLine {
	t.Helper()
	var out []debugLine
	for _, l := range strings.Split(stderr, "\n") {
		if !strings.HasPrefix(l, "{") {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("a log line that is not JSON: %v\n%s", err, l)
		}
		if m["level"] != "DEBUG" {
			continue
		}
		if m["msg"] != "batch request" {
			t.Errorf("a debug line that is not an envelope's: %s", l)
			continue
		}
		s := func(k string) string {
			switch v := m[k].(type) {
			case string:
				return v
			case float64: // slog's JSON writes durations as nanoseconds and ints as numbers
				if k == "retry_after" {
					return time.Duration(v).String()
				}
				return strconv.FormatFloat(v, 'f', -1, 64)
			case nil:
				return ""
			}
			return fmt.Sprint(m[k])
		}
		out = append(out, debugLine{s("client_request_id"), s("steps"), s("statuses"), s("request_id"), s("retry_after"), s("app"), s("tenant"), s("attempt")})
	}
	return out
}

// checkDebugLines holds the debug lines against what graphsim saw, and the whole log against the
// credential the run used.
func checkDebugLines(t *testing.T, sim *graphsim.Server, stderr string, lines []debugLine, app, tenant, credential string) {
	t.Helper()
	// Tokens graphsim mints are JWTs: base64 of {"typ":... starts with eyJ.
	for _, secret := range []string{credential, "eyJ"} {
		if strings.Contains(stderr, secret) {
			t.Errorf("stderr holds %q", secret)
		}
	}
	st := sim.Stats()
	if len(lines) != st.Envelopes {
		t.Errorf("%d debug lines for the %d envelopes graphsim received", len(lines), st.Envelopes)
	}
	crids := map[string]bool{}
	steps, throttled, waits, retried := 0, 0, 0, 0
	stepRE := regexp.MustCompile(`^(\w+)=(\d+)$`)
	statusRE := regexp.MustCompile(`^(\d{3})x(\d+)$`)
	for _, l := range lines {
		if l.crid == "" || crids[l.crid] {
			t.Errorf("client_request_id %q missing or repeated", l.crid)
		}
		crids[l.crid] = true
		if l.requestID == "" {
			t.Errorf("envelope %s: no request_id", l.crid)
		}
		if l.app != app || l.tenant != tenant {
			t.Errorf("envelope %s: app %q tenant %q, want %q and %q", l.crid, l.app, l.tenant, app, tenant)
		}
		if n, err := strconv.Atoi(l.attempt); err != nil || n < 1 {
			t.Errorf("envelope %s: attempt %q", l.crid, l.attempt)
		} else if n > 1 {
			retried++
		}
		for _, f := range strings.Fields(l.steps) {
			m := stepRE.FindStringSubmatch(f)
			if m == nil || m[1] != "revoke" {
				t.Errorf("envelope %s: steps %q, want revoke=N", l.crid, l.steps)
				continue
			}
			n, _ := strconv.Atoi(m[2])
			steps += n
		}
		if l.statuses == "envelope 429" {
			throttled++
		} else {
			for _, f := range strings.Fields(l.statuses) {
				m := statusRE.FindStringSubmatch(f)
				if m == nil || (m[1] != "200" && m[1] != "204" && m[1] != "429") {
					t.Errorf("envelope %s: statuses %q", l.crid, l.statuses)
					continue
				}
				if m[1] == "429" {
					n, _ := strconv.Atoi(m[2])
					throttled += n
				}
			}
		}
		if l.retryAfter != "" {
			// graphsim asks a client that comes back early for what is left of its wait.
			if d, err := time.ParseDuration(l.retryAfter); err != nil || d <= 0 || d > 300*time.Millisecond {
				t.Errorf("envelope %s: retry_after %q, want at most graphsim's 300ms", l.crid, l.retryAfter)
			}
			waits++
		}
	}
	// Every step the lines count was run by graphsim (revokes only, all through $batch), except
	// those of the envelope it refused whole.
	if envelopeSteps := steps - refusedSteps(lines); envelopeSteps != st.Steps {
		t.Errorf("the lines count %d steps graphsim ran, graphsim ran %d", envelopeSteps, st.Steps)
	}
	if throttled != st.Throttled || throttled < 2 {
		t.Errorf("the lines count %d 429s, graphsim sent %d; want the same, at least the 2 scheduled", throttled, st.Throttled)
	}
	if waits < 2 || retried == 0 {
		t.Errorf("%d lines give Graph's wait (want the 2 scheduled at least), %d carry a step sent again (want some)", waits, retried)
	}
	t.Logf("%d envelopes, %d steps, %d throttled, e.g. %+v", len(lines), steps, throttled, lines[0])
}

// refusedSteps counts the steps of envelopes graphsim refused whole: it ran none of them.
func refusedSteps(lines []debugLine) int {
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l.statuses, "envelope ") {
			for _, f := range strings.Fields(l.steps) {
				_, c, _ := strings.Cut(f, "=")
				k, _ := strconv.Atoi(c)
				n += k
			}
		}
	}
	return n
}
