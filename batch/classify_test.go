package batch

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

// TestCheckRetry: the one table of what an answer means, for steps, envelopes and listings.
func TestCheckRetry(t *testing.T) {
	for _, c := range []struct {
		a    Answer
		want Verdict
	}{
		{Answer{Status: 200}, Done},
		{Answer{Status: 204}, Done},
		{Answer{Status: 429}, Throttled},
		{Answer{Status: 429, RetryAfter: time.Second, HasRetryAfter: true}, Throttled},
		{Answer{Status: 503, RetryAfter: time.Second, HasRetryAfter: true}, Throttled},
		{Answer{Status: 503}, Transient},
		{Answer{Status: 500}, Transient},
		{Answer{Status: 502}, Transient},
		{Answer{Status: 504}, Transient},
		{Answer{Status: 408}, Transient},
		{Answer{}, Transient}, // no answer at all
		{Answer{Status: 401}, Refused},
		{Answer{NoToken: true}, Refused},
		{Answer{Status: 400}, Final},
		{Answer{Status: 403}, Final},
		{Answer{Status: 404}, Final},
		{Answer{Status: 405}, Final},
		{Answer{Status: 412}, Final},
	} {
		if got := CheckRetry(c.a); got != c.want {
			t.Errorf("CheckRetry(%+v) = %d, want %d", c.a, got, c.want)
		}
	}
}

// TestRetryWait: Graph's Retry-After when it sent one; else a jittered exponential backoff
// within [d/2, d] of base doubled per attempt, never above the ceiling.
func TestRetryWait(t *testing.T) {
	if w := RetryWait(Answer{Status: 429, RetryAfter: 1500 * time.Millisecond, HasRetryAfter: true}, 5, time.Second, time.Minute); w != 1500*time.Millisecond {
		t.Errorf("with Retry-After: %v", w)
	}
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 4: 8 * time.Second, 10: time.Minute} {
		for range 50 {
			if w := RetryWait(Answer{Status: 500}, n, time.Second, time.Minute); w < want/2 || w > want {
				t.Fatalf("attempt %d: %v, want within [%v, %v]", n, w, want/2, want)
			}
		}
	}
}

// TestEnvelopeAnswer: what an envelope error tells: its status and Retry-After, a missing
// token, or nothing (the network).
func TestEnvelopeAnswer(t *testing.T) {
	if a := envelopeAnswer(&EnvelopeError{Status: 503, RetryAfter: 2 * time.Second}); a.Status != 503 || !a.HasRetryAfter || a.RetryAfter != 2*time.Second {
		t.Errorf("503: %+v", a)
	}
	if a := envelopeAnswer(&EnvelopeError{Status: http.StatusTooManyRequests, RetryAfter: -1}); a.HasRetryAfter {
		t.Errorf("429 without Retry-After: %+v", a)
	}
	if a := envelopeAnswer(&AuthError{Err: errors.New("no")}); !a.NoToken || CheckRetry(a) != Refused {
		t.Errorf("auth: %+v", a)
	}
	if a := envelopeAnswer(errors.New("connection reset")); CheckRetry(a) != Transient {
		t.Errorf("network: %+v", a)
	}
}

// TestNamesCount: only a 400 about how many ids the call carried halves the call; any other 400
// is Graph's answer for those users.
func TestNamesCount(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		n    int
		want bool
	}{
		{"The number of userIds (60) exceeds the maximum allowed (50).", 60, true},
		{"Too many userIds in the request.", 60, true},
		{"userIds must hold at most 30 values; got 60", 60, true},
		{"Invalid user id 'x'.", 60, false},
		{"Resource 600 not found.", 60, false},
		{"", 60, false},
	} {
		if got := namesCount(tc.msg, tc.n); got != tc.want {
			t.Errorf("namesCount(%q, %d) = %v, want %v", tc.msg, tc.n, got, tc.want)
		}
	}
}
