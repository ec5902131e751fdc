package batch

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Op is what a step does.
type Op int

const (
	OpRevoke            Op = iota // POST /users/{key}/revokeSignInSessions
	OpLookup                      // GET /users/{key}?$select=... (who the user is, whether enabled)
	OpVerify                      // GET /users/{key}?$select=id,userPrincipalName,signInSessionsValidFromDateTime
	OpBlock                       // PATCH /users/{key} {"accountEnabled":false}
	OpEnable                      // PATCH /users/{key} {"accountEnabled":true}
	OpOwnedDevices                // GET /users/{key}/ownedDevices/microsoft.graph.device (or Step.URL, a next page)
	OpRegisteredDevices           // GET /users/{key}/registeredDevices/microsoft.graph.device (or Step.URL)
	OpDisableDevice               // PATCH /devices/{object id} {"accountEnabled":false}
	OpEnableDevice                // PATCH /devices/{object id} {"accountEnabled":true}
	OpGet                         // GET Step.URL, relative to the versioned root: a page of a listing
	OpResetPassword               // PATCH /users/{key} {"passwordProfile":{...}} with a fresh random password
	OpListMethods                 // GET /users/{key}/authentication/methods (or Step.URL, a next page)
	OpDeleteMethod                // DELETE Step.URL: /users/{key}/authentication/{type}Methods/{id}
)

var opNames = [...]string{"revoke", "lookup", "verify", "block", "enable", "owned_devices", "registered_devices",
	"disable_device", "enable_device", "get", "reset_password", "list_methods", "delete_method"}

func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return "op" + strconv.Itoa(int(o))
}

// Write reports whether the operation consumes Graph's write quota.
func (o Op) Write() bool {
	switch o {
	case OpRevoke, OpBlock, OpEnable, OpDisableDevice, OpEnableDevice, OpResetPassword, OpDeleteMethod:
		return true
	}
	return false
}

// Step is one request inside a $batch envelope. Key is a user key (UPN or object id) or, for
// device operations, a device's object id; URL, when set, is a page to fetch (relative to the
// versioned root) and replaces the path the operation would build.
type Step struct {
	ID  string
	Op  Op
	Key string
	URL string
	// Headers go on the step itself (ConsistencyLevel for advanced queries).
	Headers map[string]string
}

// StepResponse is Graph's answer to one step. Header names are lower case; Body holds plain
// JSON values (string, bool, float64, map[string]any, []any).
type StepResponse struct {
	ID      string
	Status  int
	Headers map[string]string
	Body    map[string]any
}

// Envelope is a $batch response that Graph accepted (HTTP 200).
type Envelope struct {
	Steps     []StepResponse
	RequestID string // the envelope's request-id header
	// Headers holds the envelope's x-ms-throttle-* headers (lower-case names), when Graph put
	// them there rather than on the steps.
	Headers map[string]string
}

// Client sends one $batch envelope. Implementations return an *EnvelopeError when Graph answered
// the envelope itself with an error status, an *AuthError when no token could be had, and any
// other error for transport failures (refused or dropped connections, timeouts).
type Client interface {
	Send(ctx context.Context, clientRequestID string, steps []Step) (*Envelope, error)
}

// EnvelopeError is a non-2xx answer to the whole $batch request.
type EnvelopeError struct {
	Status     int
	RetryAfter time.Duration // negative when Graph sent none
	Code       string
	Message    string
	RequestID  string
	Headers    map[string]string // x-ms-throttle-* headers, lower-case names
}

func (e *EnvelopeError) Error() string {
	msg := fmt.Sprintf("graph answered the batch with HTTP %d", e.Status)
	if e.Code != "" {
		msg += " " + e.Code
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// AuthError means no access token could be obtained; Err is the credential's error.
type AuthError struct{ Err error }

func (e *AuthError) Error() string { return "cannot get an access token: " + e.Err.Error() }
func (e *AuthError) Unwrap() error { return e.Err }

// MaxRetryAfter caps any wait Graph asks for. Its longest documented window is the tenant's
// 5 minutes; a longer value is a fault, and honouring a date a year away would freeze the run.
const MaxRetryAfter = 10 * time.Minute

// ParseRetryAfter reads a Retry-After value: seconds, possibly fractional (Graph has been seen
// sending "0.249"), or an HTTP date. ok is false when the value is absent or unreadable. The
// result is at most MaxRetryAfter.
func ParseRetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs != secs || secs < 0 { // NaN or negative: unusable
			return 0, false
		}
		// Compared as seconds first: a huge value would overflow a Duration.
		if secs > MaxRetryAfter.Seconds() {
			return MaxRetryAfter, true
		}
		return time.Duration(secs * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), MaxRetryAfter), true
	}
	return 0, false
}

// graphError pulls Graph's error code and message out of an error body
// {"error":{"code":"...","message":"..."}}.
func graphError(body map[string]any) (code, message string) {
	e, _ := body["error"].(map[string]any)
	if e == nil {
		return "", ""
	}
	code, _ = e["code"].(string)
	message, _ = e["message"].(string)
	return code, message
}
