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
		t, err := p.acquire(ctx, classRead, 1, 1, true, nil)
		if err != nil {
			return st, err
		}
		st.Envelopes++
		st.Steps++
		sent := c.Clock.Now()
		reqCtx, cancel := context.WithTimeout(ctx, c.Timeout)
		crid, steps := c.NewRequestID(), []Step{{ID: "1", Op: OpGet, URL: next, Headers: req.Headers}}
		env, err := client.Send(reqCtx, crid, steps)
		cancel()
		logEnvelope(c.Logger, "", "", failures+1, crid, steps, env, err, c.Clock.Now())
		o := outcome{rtt: c.Clock.Now().Sub(sent), envelope: err != nil}
		var a Answer
		var sr StepResponse
		switch {
		case err != nil:
			a = envelopeAnswer(err)
		case len(env.Steps) != 1:
			a, err = Answer{}, errors.New("graph's batch response had no answer")
		default:
			sr = env.Steps[0]
			a = stepAnswer(sr, c.Clock.Now())
		}
		var wait time.Duration
		switch CheckRetry(a) {
		case Done:
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
		case Throttled:
			wait = RetryWait(a, 1, c.BaseBackoff, c.MaxBackoff)
			if a.Status == http.StatusTooManyRequests {
				st.Throttled++
				o.retryAfter = wait
				if !o.envelope {
					o.refused = 1
				}
			} else if !o.envelope {
				o.ok = 1
			}
		case Refused:
			if authFails++; authFails >= maxAuthFails {
				p.settle(t, o)
				return st, fmt.Errorf("%w: %v", ErrUnauthorized, err)
			}
			wait = Backoff(c.BaseBackoff, c.MaxBackoff, authFails)
		case Transient:
			if !o.envelope {
				o.ok = 1
			}
			if failures++; failures >= c.MaxAttempts {
				p.settle(t, o)
				why := fmt.Sprintf("HTTP %d", a.Status)
				if err != nil {
					why = err.Error()
				}
				return st, fmt.Errorf("listing %s: giving up after %d failed attempt(s): %s", next, failures, why)
			}
			wait = RetryWait(a, failures, c.BaseBackoff, c.MaxBackoff)
		case Final:
			p.settle(t, o)
			var ee *EnvelopeError
			if errors.As(err, &ee) {
				return st, &ListError{Status: ee.Status, Code: ee.Code, Message: ee.Message}
			}
			code, msg := graphError(sr.Body)
			return st, &ListError{Status: sr.Status, Code: code, Message: msg}
		}
		p.settle(t, o)
		if err := c.Clock.Sleep(ctx, wait); err != nil {
			return st, err
		}
	}
	return st, nil
}
