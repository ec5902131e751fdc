package graphsim

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

const maxBatchSteps = 20

type stepIn struct {
	ID        string            `json:"id"`
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers"`
	Body      json.RawMessage   `json:"body"`
	DependsOn []string          `json:"dependsOn"`
}

type stepOut struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    json.RawMessage   `json:"body,omitempty"`
}

// readBody reads a request body of at most limit bytes, inflating it when
// the client compressed it (the SDK's CompressionHandler does).
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	var rd io.Reader = r.Body
	if strings.EqualFold(strings.TrimSpace(r.Header.Get("Content-Encoding")), "gzip") {
		gz, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, fmt.Errorf("gzip body: %w", err)
		}
		defer gz.Close()
		rd = gz
	}
	b, err := io.ReadAll(io.LimitReader(rd, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("body larger than %d bytes", limit)
	}
	return b, nil
}

func (s *Server) serveBatch(r *http.Request, who principal, version string, id ids, base string) result {
	s.mu.Lock()
	s.stats.Envelopes++
	s.nEnvelopes++
	n := s.nEnvelopes
	s.mu.Unlock()
	res := s.serveBatchEnvelope(r, who, version, id, n, base)
	s.mu.Lock()
	s.stats.EnvelopeStatuses[res.status]++
	s.mu.Unlock()
	return res
}

func (s *Server) serveBatchEnvelope(r *http.Request, who principal, version string, id ids, n int, base string) result {
	if r.Method != http.MethodPost {
		return errorResult(http.StatusMethodNotAllowed, "Request_BadRequest",
			"Specified HTTP method is not allowed for the request target.", s.clock.Now(), id)
	}
	bad := func(msg string) result {
		return errorResult(http.StatusBadRequest, "BadRequest", msg, s.clock.Now(), id)
	}
	raw, err := readBody(r, 4<<20)
	if err != nil {
		return bad("Invalid batch payload: " + err.Error() + ".")
	}
	// An envelope Graph would refuse is still answered 429 first when the
	// client is held back, and keyed by what it addresses.
	steps, problem, badShape := parseBatch(raw, s.cfg.LenientBatchBodies, s.cfg.AnyDependsOn)
	keySteps := steps
	if problem != "" {
		keySteps, _, _ = parseBatch(raw, true, true)
	}
	keys := batchKeys(keySteps, version, who)
	if res, refused := s.clientEarly(who.client, id, keys); refused {
		return res
	}
	if res, faulted := s.envelopeFault(who.client, n, id, keys); faulted {
		return res
	}
	if problem != "" {
		if badShape {
			s.mu.Lock()
			s.stats.BadDependsOn++
			s.mu.Unlock()
		}
		return bad(problem)
	}

	s.mu.Lock()
	s.stats.Steps += len(steps)
	order := s.rng.Perm(len(steps))
	s.mu.Unlock()

	// Independent steps run in an arbitrary order, as on Graph; a step runs
	// once everything it depends on has answered. parseBatch ruled out
	// cycles, so every pass makes progress.
	statusByID := map[string]int{}
	out := make([]stepOut, 0, len(steps))
	for len(out) < len(steps) {
		for _, i := range order {
			st := steps[i]
			key := strings.ToLower(st.ID)
			if _, done := statusByID[key]; done {
				continue
			}
			ready, failed := true, false
			for _, d := range st.DependsOn {
				ds, ok := statusByID[strings.ToLower(d)]
				if !ok {
					ready = false
				} else if ds < 200 || ds > 299 {
					failed = true
				}
			}
			if !ready {
				continue
			}
			var res result
			if failed {
				res = errorResult(http.StatusFailedDependency, "FailedDependency",
					"The request was not run because a request it depends on failed.", s.clock.Now(), id)
				res.header["x-ms-resource-unit"] = "0"
				s.mu.Lock()
				s.stats.Statuses[res.status]++
				s.mu.Unlock()
			} else {
				op := stepOperation(st, version)
				op.base = base
				op.as(who)
				res = s.run(op, id)
			}
			statusByID[key] = res.status
			out = append(out, stepOut{ID: st.ID, Status: res.status, Headers: res.header, Body: res.body})
		}
	}

	s.mu.Lock()
	s.rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	s.mu.Unlock()
	units := 0
	for _, o := range out {
		u, _ := strconv.Atoi(o.Headers["x-ms-resource-unit"])
		units += u
	}
	header := s.envelopeThrottleHeaders(out)
	header["x-ms-resource-unit"] = strconv.Itoa(units)
	var buf bytes.Buffer
	writeJSON(&buf, struct {
		Responses []stepOut `json:"responses"`
	}{out})
	body := buf.Bytes()
	return result{status: http.StatusOK, header: header, body: body}
}

// batchKeys lists the throttling keys of the objects an envelope addresses, so that an
// envelope-level 429 can tell a retry of that envelope from others sent alongside it.
func batchKeys(steps []stepIn, version string, who principal) []string {
	keys := make([]string, 0, len(steps))
	for _, st := range steps {
		op := stepOperation(st, version)
		op.as(who)
		keys = append(keys, keyOf(op))
	}
	return keys
}

// envelopeFault answers the whole envelope with an injected 429 or 503.
func (s *Server) envelopeFault(client string, n int, id ids, users []string) (result, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	f := s.faults
	status := 0
	if sf, ok := f.scheduled(EnvelopeFault, n, now.Sub(s.start), nil, ""); ok {
		status = sf.Status
	} else if f.EnvelopeRate > 0 && s.rng.Float64() < f.EnvelopeRate {
		status = pick(s.rng, f.EnvelopeStatuses, []int{429, 503})
	}
	if status == 0 {
		return result{}, false
	}
	s.stats.EnvelopeFaults++
	res := errorResult(status, faultCode(status), faultMessage(status), now, id)
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		ra := f.retryAfter()
		res.header["Retry-After"] = s.formatRetryAfter(ra)
		if status == http.StatusTooManyRequests {
			s.stats.Throttled++
			s.stats.EnvelopeThrottled++
			s.notBefore["c:"+client] = now.Add(ra)
			for _, k := range users {
				s.notBefore[k] = now.Add(ra)
			}
		}
	}
	return res, true
}

// parseBatch validates an envelope the way Graph does before running any
// step; problem is the 400 message when the envelope is refused, and
// badShape says the refusal was for the dependsOn shape alone.
func parseBatch(raw []byte, lenient, anyDependsOn bool) (steps []stepIn, problem string, badShape bool) {
	var env struct {
		Requests []stepIn `json:"requests"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) || errors.Is(err, io.ErrUnexpectedEOF) || len(raw) == 0 {
			return nil, "Invalid batch payload format.", false
		}
		return nil, "Invalid batch payload: " + err.Error() + ".", false
	}
	if len(env.Requests) == 0 {
		return nil, "Invalid batch payload format: requests is missing or empty.", false
	}
	if len(env.Requests) > maxBatchSteps {
		return nil, fmt.Sprintf("The number of requests in a batch exceeds the limit of %d.", maxBatchSteps), false
	}
	seen := map[string]bool{}
	for _, st := range env.Requests {
		switch {
		case st.ID == "":
			return nil, "Invalid batch payload: a request has no id.", false
		case seen[strings.ToLower(st.ID)]:
			return nil, "Batch request contains duplicate Id '" + st.ID + "'.", false
		case st.Method == "":
			return nil, "Invalid batch payload: request id " + st.ID + " has no method.", false
		case st.URL == "":
			return nil, "Invalid batch payload: request id " + st.ID + " has no url.", false
		case isAbsolute(st.URL):
			return nil, "Invalid request URL '" + st.URL + "' in request id " + st.ID + ": batch request URLs must be relative.", false
		}
		seen[strings.ToLower(st.ID)] = true
		hasBody := len(st.Body) > 0 && string(st.Body) != "null"
		hasType := headerValue(st.Headers, "Content-Type") != ""
		write := strings.EqualFold(st.Method, "POST") || strings.EqualFold(st.Method, "PATCH") || strings.EqualFold(st.Method, "PUT")
		if (hasBody && !hasType) || (write && !lenient && (!hasBody || !hasType)) {
			return nil, "Write request id : " + st.ID + " does not contain Content-Type header or body.", false
		}
	}
	for _, st := range env.Requests {
		for _, d := range st.DependsOn {
			if !seen[strings.ToLower(d)] {
				return nil, "Request id " + st.ID + " depends on unknown request id '" + d + "'.", false
			}
		}
	}
	if hasCycle(env.Requests) {
		return nil, "Invalid batch payload: dependsOn forms a cycle.", false
	}
	if !anyDependsOn && !dependsOnShapeOK(env.Requests) {
		return nil, "Invalid batch payload: dependsOn must make the requests fully parallel, fully sequential, or all depend on one same request.", true
	}
	return env.Requests, "", false
}

// dependsOnShapeOK accepts the three shapes Microsoft's batch clients
// allow: parallel (no dependsOn), serial (each step depends on exactly the
// step listed before it) and "same" (every step with dependsOn names the
// same single step, which depends on nothing).
func dependsOnShapeOK(steps []stepIn) bool {
	parallel, serial := true, true
	same := ""
	sameOK := true
	for i, st := range steps {
		if len(st.DependsOn) > 0 {
			parallel = false
		}
		if i == 0 {
			serial = serial && len(st.DependsOn) == 0
		} else {
			serial = serial && len(st.DependsOn) == 1 && strings.EqualFold(st.DependsOn[0], steps[i-1].ID)
		}
		switch {
		case len(st.DependsOn) == 0:
		case len(st.DependsOn) > 1:
			sameOK = false
		case same == "":
			same = strings.ToLower(st.DependsOn[0])
		case same != strings.ToLower(st.DependsOn[0]):
			sameOK = false
		}
	}
	if sameOK && same != "" {
		for _, st := range steps {
			if strings.ToLower(st.ID) == same && len(st.DependsOn) > 0 {
				sameOK = false
			}
		}
	}
	return parallel || serial || sameOK
}

func isAbsolute(u string) bool {
	l := strings.ToLower(u)
	return strings.Contains(l, "://") || strings.HasPrefix(l, "//") ||
		strings.HasPrefix(l, "http:") || strings.HasPrefix(l, "https:")
}

func headerValue(h map[string]string, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// hasCycle runs Kahn's algorithm over dependsOn.
func hasCycle(steps []stepIn) bool {
	done := map[string]bool{}
	for progressed := true; progressed; {
		progressed = false
		for _, st := range steps {
			k := strings.ToLower(st.ID)
			if done[k] {
				continue
			}
			ready := true
			for _, d := range st.DependsOn {
				if !done[strings.ToLower(d)] {
					ready = false
				}
			}
			if ready {
				done[k], progressed = true, true
			}
		}
	}
	return len(done) < len(steps)
}

// stepOperation turns a step into an operation relative to the envelope's
// version. Graph accepts step URLs with or without the leading slash, and a
// raw '#' ends the URL there, as in any URI. A step sees its own headers
// only: ConsistencyLevel for an advanced query goes in the step.
func stepOperation(st stepIn, version string) operation {
	u, _, _ := strings.Cut(st.URL, "#")
	if !strings.HasPrefix(u, "/") {
		u = "/" + u
	}
	path, query, _ := strings.Cut(u, "?")
	h := st.Headers
	return operation{method: st.Method, path: path, query: query, version: version, body: st.Body,
		header: func(name string) string { return headerValue(h, name) }}
}
