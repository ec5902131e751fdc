package graphsim

import (
	"maps"
	"slices"
	"time"
)

// Stats is the server's journal of what it received and answered. Tests
// and benchmarks assert on it ("no early retries", "zero writes").
type Stats struct {
	Requests  int // HTTP requests received, of any kind
	Envelopes int // $batch requests received
	Steps     int // operations run: $batch steps plus direct calls
	Writes    int // revoke operations received, whatever their outcome
	Reads     int // GET user operations received
	// Revocations is how many revokes landed (answered with success),
	// counting IgnoreRevoke users, whose timestamp did not move.
	Revocations int
	// DryRunWrites is how many revokes arrived while SetDryRun(true).
	DryRunWrites int

	Throttled         int // 429s sent, steps and envelopes together
	EnvelopeThrottled int // the part of Throttled sent for whole envelopes
	// EarlyRetries counts requests for a user (or, for envelopes, from a
	// client) that arrived before the Retry-After graphsim had given it.
	EarlyRetries int
	Unauthorized int // 401s sent

	StepFaults     int // injected step errors (any status)
	EnvelopeFaults int // injected envelope 429/503s
	Drops          int // connections closed without a response
	SlowResponses  int // responses held back by SlowFault or SlowRate

	// Statuses counts the statuses of operations (steps and direct calls);
	// EnvelopeStatuses those of $batch envelopes.
	Statuses         map[int]int
	EnvelopeStatuses map[int]int

	// PeakUsage is the highest quota usage seen after a charge, as a
	// fraction of the limit (1.0 = throttling starts).
	PeakUsage float64
}

func (st Stats) clone() Stats {
	st.Statuses = maps.Clone(st.Statuses)
	st.EnvelopeStatuses = maps.Clone(st.EnvelopeStatuses)
	return st
}

// Stats returns a snapshot of the journal.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats.clone()
}

// Revocations returns when each revoke that landed for the user happened,
// oldest first; key is an id or UPN in any case.
func (s *Server) Revocations(key string) []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.tenant.lookup(key)
	if u == nil {
		return nil
	}
	return slices.Clone(s.revocations[u])
}

// User returns the current state of a user; key is an id or UPN in any case.
func (s *Server) User(key string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.tenant.lookup(key)
	if u == nil {
		return User{}, false
	}
	return *u, true
}

// Users returns the current state of every user, in seeding order.
func (s *Server) Users() []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]User, len(s.tenant.users))
	for i, u := range s.tenant.users {
		out[i] = *u
	}
	return out
}
