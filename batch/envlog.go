package batch

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// logEnvelope writes the debug line of one $batch envelope (-v): who sent it, what it carried
// and what came back, so that a run can be matched to Graph's side (client-request-id,
// request-id) and its throttling read off. It names operations and statuses only: never a step's
// key, URL, headers or body, nor the error text of a failed sign-in, since a step may carry a
// password and an error may quote a credential.
func logEnvelope(lg *slog.Logger, app, tenant string, attempt int, crid string, steps []Step, env *Envelope, err error, now time.Time) {
	if !lg.Enabled(context.Background(), slog.LevelDebug) {
		// Building the line costs a map and a sort per envelope: not for runs that discard it.
		return
	}
	ops := map[string]int{}
	for _, s := range steps {
		ops[s.Op.String()]++
	}
	var statuses, requestID string
	wait := time.Duration(-1)
	var ee *EnvelopeError
	var ae *AuthError
	switch {
	case err == nil:
		counts := map[int]int{}
		for _, sr := range env.Steps {
			counts[sr.Status]++
			if ra, ok := ParseRetryAfter(sr.Headers["retry-after"], now); ok {
				wait = max(wait, ra)
			}
		}
		var b strings.Builder
		for _, st := range slices.Sorted(maps.Keys(counts)) {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(strconv.Itoa(st) + "x" + strconv.Itoa(counts[st]))
		}
		if missing := len(steps) - len(env.Steps); missing > 0 {
			// Graph skipped steps: the engine retries them as missing_response.
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString("missingx" + strconv.Itoa(missing))
		}
		statuses, requestID = b.String(), env.RequestID
	case errors.As(err, &ee):
		statuses, requestID = "envelope "+strconv.Itoa(ee.Status), ee.RequestID
		if ee.RetryAfter >= 0 {
			wait = ee.RetryAfter
		}
	case errors.As(err, &ae):
		statuses = "no token" // the warning that follows says why
	default:
		statuses = "no answer"
	}
	var opText strings.Builder
	for _, op := range slices.Sorted(maps.Keys(ops)) {
		if opText.Len() > 0 {
			opText.WriteByte(' ')
		}
		opText.WriteString(op + "=" + strconv.Itoa(ops[op]))
	}
	attrs := []slog.Attr{
		slog.String("client_request_id", crid),
		slog.String("steps", opText.String()),
		slog.String("statuses", statuses),
		slog.String("request_id", requestID),
	}
	if wait >= 0 {
		attrs = append(attrs, slog.Duration("retry_after", wait))
	}
	attrs = append(attrs, slog.String("app", app), slog.String("tenant", tenant), slog.Int("attempt", attempt))
	lg.LogAttrs(context.Background(), slog.LevelDebug, "batch request", attrs...)
}
