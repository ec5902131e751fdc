package batch

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"time"
)

// Verdict is what one answer of Graph means for the request it answers, a step or a whole
// envelope. The engine, the listing and the lookups all decide through CheckRetry.
type Verdict int

const (
	Done      Verdict = iota // 2xx: the request did what it asked
	Final                    // a refusal that asking again will not change (404, 403, 400, ...): the user's outcome
	Throttled                // Graph asks for time (429, or 503 with Retry-After): wait, no attempt is used up
	Transient                // a fault worth another attempt (5xx, 408, no answer at all): one attempt is used up
	Refused                  // the token was refused (401) or none could be had: the sign-in's problem, not the user's
)

// Answer is the evidence one answer gives: its status (0 when none came back), its Retry-After,
// and whether it was the credential that failed.
type Answer struct {
	Status        int
	RetryAfter    time.Duration
	HasRetryAfter bool
	NoToken       bool // no token could be had (an *AuthError)
}

// CheckRetry classifies an answer. A 503 with Retry-After is Throttled here: only the engine,
// which sees other users' answers, can tell that it is one user's own failure (othersServed).
func CheckRetry(a Answer) Verdict {
	switch {
	case a.NoToken || a.Status == http.StatusUnauthorized:
		return Refused
	case a.Status >= 200 && a.Status < 300:
		return Done
	case a.Status == http.StatusTooManyRequests:
		return Throttled
	case a.Status == http.StatusServiceUnavailable && a.HasRetryAfter:
		return Throttled
	case a.Status == 0 || retryable(a.Status):
		return Transient
	}
	return Final
}

// RetryWait is how long to wait before asking again after attempts failed attempts: what Graph
// asked for, else Backoff.
func RetryWait(a Answer, attempts int, base, ceiling time.Duration) time.Duration {
	if a.HasRetryAfter {
		return a.RetryAfter
	}
	return Backoff(base, ceiling, attempts)
}

// Backoff is the wait before attempt n+1 when Graph named none: exponential from base, capped at
// ceiling, jittered over its upper half so that retries from many envelopes do not arrive
// together.
func Backoff(base, ceiling time.Duration, attempts int) time.Duration {
	d := base
	for i := 1; i < attempts && d < ceiling; i++ {
		d *= 2
	}
	d = min(d, ceiling)
	return d/2 + rand.N(d/2+1)
}

// envelopeAnswer is the evidence of an envelope Graph did not accept as a whole.
func envelopeAnswer(err error) Answer {
	var ee *EnvelopeError
	var ae *AuthError
	switch {
	case errors.As(err, &ee):
		return Answer{Status: ee.Status, RetryAfter: max(ee.RetryAfter, 0), HasRetryAfter: ee.RetryAfter >= 0}
	case errors.As(err, &ae):
		return Answer{NoToken: true}
	}
	return Answer{} // no answer: the network
}

// stepAnswer is the evidence of one step's answer inside an envelope.
func stepAnswer(sr StepResponse, now time.Time) Answer {
	ra, ok := ParseRetryAfter(sr.Headers["retry-after"], now)
	return Answer{Status: sr.Status, RetryAfter: ra, HasRetryAfter: ok}
}

// retryable is a status worth another attempt: a throttle, or a fault of Graph's side.
func retryable(status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout, http.StatusRequestTimeout:
		return true
	}
	return false
}
