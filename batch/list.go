package batch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// ListRequest is a Graph collection to read page by page: users matching a filter, a group's
// members, the whole tenant.
type ListRequest struct {
	URL     string            // relative to the versioned root, query included
	Headers map[string]string // on every page's request, e.g. ConsistencyLevel: eventual
}

// ListError is Graph's final refusal of a listing (a filter it cannot run, a group that does
// not exist). Message is Graph's own, for the admin to read unchanged.
type ListError struct {
	Status  int
	Code    string
	Message string
}

func (e *ListError) Error() string {
	msg := "graph refused the listing: HTTP " + strconv.Itoa(e.Status)
	if e.Code != "" {
		msg += " " + e.Code
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// List reads every page of a collection through $batch, paced on the resource-unit quota and
// retried like any step (throttling waited out, transient failures retried up to MaxAttempts),
// and hands each page's objects to page, in order. It follows @odata.nextLink exactly as Graph
// gives it, never beyond the client's own root. A page Graph refuses for good ends the listing
// with a *ListError; a refused token with ErrUnauthorized.
func List(ctx context.Context, cfg Config, client Client, req ListRequest, page func([]map[string]any) error) (Stats, error) {
	c := cfg.withDefaults()
	ctrl := newController(c.Clock)
	p := &pacer{c: ctrl, batch: 1}
	p.paths[classRead] = []*quota{ctrl.quota("pairru/list", PriorPairRead, float64(c.Rate), float64(c.Burst))}
	base := ""
	if b, ok := client.(interface{ Base() string }); ok {
		base = b.Base()
	}
	var st Stats
	next := req.URL
	failures, authFails := 0, 0
	for next != "" {
		t, err := p.acquire(ctx, classRead, 1, 1, true)
		if err != nil {
			return st, err
		}
		st.Envelopes++
		st.Steps++
		sent := c.Clock.Now()
		reqCtx, cancel := context.WithTimeout(ctx, c.Timeout)
		env, err := client.Send(reqCtx, c.NewRequestID(), []Step{{ID: "1", Op: OpGet, URL: next, Headers: req.Headers}})
		cancel()
		o := outcome{rtt: c.Clock.Now().Sub(sent)}
		var wait time.Duration
		switch {
		case err != nil:
			o.envelope = true
			var ee *EnvelopeError
			var ae *AuthError
			switch {
			case errors.As(err, &ee) && ee.Status == http.StatusTooManyRequests:
				st.Throttled++
				wait = max(ee.RetryAfter, c.BaseBackoff)
				o.retryAfter = wait
			case errors.As(err, &ee) && ee.Status == http.StatusUnauthorized, errors.As(err, &ae):
				if authFails++; authFails >= maxAuthFails {
					p.settle(t, o)
					return st, fmt.Errorf("%w: %v", ErrUnauthorized, err)
				}
				wait = c.BaseBackoff
			case errors.As(err, &ee) && !retryable(ee.Status):
				p.settle(t, o)
				return st, &ListError{Status: ee.Status, Code: ee.Code, Message: ee.Message}
			default:
				if failures++; failures >= c.MaxAttempts {
					p.settle(t, o)
					return st, fmt.Errorf("listing %s: giving up after %d failed attempt(s): %w", next, failures, err)
				}
				wait = max(0, ee.retryAfterOr(-1))
				if wait == 0 {
					wait = backoffFor(c, failures)
				}
			}
			p.settle(t, o)
		case len(env.Steps) != 1:
			p.settle(t, o)
			if failures++; failures >= c.MaxAttempts {
				return st, fmt.Errorf("listing %s: graph's batch response had no answer", next)
			}
			wait = backoffFor(c, failures)
		default:
			sr := env.Steps[0]
			ra, hasRA := ParseRetryAfter(sr.Headers["retry-after"], c.Clock.Now())
			switch {
			case sr.Status == http.StatusTooManyRequests:
				st.Throttled++
				o.refused = 1
				o.retryAfter = ra
				if !hasRA {
					o.retryAfter = c.BaseBackoff
				}
				wait = o.retryAfter
			case sr.Status == http.StatusServiceUnavailable && hasRA:
				o.ok = 1
				wait = ra
			case retryable(sr.Status):
				o.ok = 1
				if failures++; failures >= c.MaxAttempts {
					p.settle(t, o)
					return st, fmt.Errorf("listing %s: giving up after %d failed attempt(s): HTTP %d", next, failures, sr.Status)
				}
				wait = backoffFor(c, failures)
				if hasRA {
					wait = ra
				}
			case sr.Status < 200 || sr.Status > 299:
				p.settle(t, o)
				code, msg := graphError(sr.Body)
				return st, &ListError{Status: sr.Status, Code: code, Message: msg}
			default:
				o.ok = 1
				p.settle(t, o)
				failures, authFails = 0, 0
				values, _ := sr.Body["value"].([]any)
				objs := make([]map[string]any, 0, len(values))
				for _, v := range values {
					if m, ok := v.(map[string]any); ok {
						objs = append(objs, m)
					}
				}
				if err := page(objs); err != nil {
					return st, err
				}
				next = ""
				if link, _ := sr.Body["@odata.nextLink"].(string); link != "" {
					if next, err = RelativeTo(base, link); err != nil {
						return st, err
					}
				}
				continue
			}
			p.settle(t, o)
		}
		if err := c.Clock.Sleep(ctx, wait); err != nil {
			return st, err
		}
	}
	return st, nil
}

func (e *EnvelopeError) retryAfterOr(d time.Duration) time.Duration {
	if e == nil || e.RetryAfter < 0 {
		return d
	}
	return e.RetryAfter
}

func backoffFor(c Config, attempts int) time.Duration {
	e := &engine{cfg: c}
	return e.backoff(attempts)
}
