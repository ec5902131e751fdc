package graphsim

import (
	"maps"
	"slices"
	"strings"
	"time"
)

// Stats is the server's journal of what it received and answered. Tests
// and benchmarks assert on it ("no early retries", "zero writes").
type Stats struct {
	Requests  int // HTTP requests received, of any kind
	Envelopes int // $batch requests received
	Steps     int // operations run: $batch steps plus direct calls
	Writes    int // revoke operations received, whatever their outcome
	Reads     int // GETs of one user, device or group received
	// Lists counts collection GETs received, one per page.
	Lists int
	// Patches and DevicePatches count PATCH /users/{key} and
	// PATCH /devices/{id} received, whatever their outcome.
	Patches, DevicePatches int
	// Revocations is how many revokes landed (answered with success),
	// counting IgnoreRevoke users, whose timestamp did not move.
	Revocations int
	// DryRunWrites is how many writes (revokes and PATCHes) arrived while
	// SetDryRun(true).
	DryRunWrites int
	// BadDependsOn counts envelopes refused because their dependsOn was
	// neither parallel, serial nor all on one step (see Config.AnyDependsOn).
	BadDependsOn int

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

// EventKind is what landed on an object.
type EventKind int

const (
	// EventBlock is a PATCH of a user's accountEnabled to false that landed.
	EventBlock EventKind = iota + 1
	// EventEnable is a PATCH of a user's accountEnabled to true.
	EventEnable
	// EventRevoke is a revokeSignInSessions that landed.
	EventRevoke
	// EventDeviceDisable and EventDeviceEnable are PATCHes of a device's
	// accountEnabled.
	EventDeviceDisable
	EventDeviceEnable
)

func (k EventKind) String() string {
	switch k {
	case EventBlock:
		return "block"
	case EventEnable:
		return "enable"
	case EventRevoke:
		return "revoke"
	case EventDeviceDisable:
		return "device-disable"
	case EventDeviceEnable:
		return "device-enable"
	}
	return "unknown"
}

// Event is one change that landed, so tests can assert on order ("every
// blocked user was blocked before its revoke landed").
type Event struct {
	Seq    int // landing order across the server, from 1
	Kind   EventKind
	Tenant string // tenant id
	Object string // user or device object id
	At     time.Time
}

func (s *Server) record(d *directory, object string, kind EventKind, at time.Time) {
	e := Event{Seq: len(s.journal) + 1, Kind: kind, Tenant: d.id, Object: object, At: at}
	s.journal = append(s.journal, e)
	k := strings.ToLower(object)
	d.events[k] = append(d.events[k], e)
}

// Journal returns every event that landed, in landing order.
func (s *Server) Journal() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.journal)
}

// Revocations returns when each revoke that landed for the user happened,
// oldest first; key is an id or UPN in any case.
func (s *Server) Revocations(key string) []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.def.lookup(key)
	if u == nil {
		return nil
	}
	return slices.Clone(s.def.revocations[u])
}

// Events returns what landed on a user, in landing order; key is an id or
// UPN in any case.
func (s *Server) Events(key string) []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.def.lookup(key)
	if u == nil {
		return nil
	}
	return slices.Clone(s.def.events[strings.ToLower(u.ID)])
}

// DeviceEvents returns what landed on a device (by object id), in landing
// order.
func (s *Server) DeviceEvents(id string) []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.def.events[strings.ToLower(id)])
}

// User returns the current state of a user; key is an id or UPN in any case.
func (s *Server) User(key string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.def.lookup(key)
	if u == nil {
		return User{}, false
	}
	return *u, true
}

// Users returns the current state of every user, in seeding order.
func (s *Server) Users() []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]User, len(s.def.users))
	for i, u := range s.def.users {
		out[i] = *u
	}
	return out
}

// Device returns the current state of a device, by object id.
func (s *Server) Device(id string) (Device, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.def.device(id)
	if d == nil {
		return Device{}, false
	}
	return *d, true
}

// Devices returns the current state of every device, in seeding order.
func (s *Server) Devices() []Device {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Device, len(s.def.devices))
	for i, d := range s.def.devices {
		out[i] = *d
	}
	return out
}
