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
	Reads     int // GETs of one user, device or group received
	// Lists counts collection GETs received, one per page.
	Lists int
	// Patches and DevicePatches count PATCH /users/{key} and
	// PATCH /devices/{id} received, whatever their outcome.
	Patches, DevicePatches int
	// MethodDeletes counts the authentication methods deleted.
	MethodDeletes int
	// Revocations is how many revokes landed (answered with success),
	// counting IgnoreRevoke users, whose timestamp did not move.
	Revocations int
	// DryRunWrites is how many writes (revokes and PATCHes) arrived while
	// SetDryRun(true).
	DryRunWrites int
	// BadDependsOn counts envelopes refused because their dependsOn was
	// neither parallel, serial nor all on one step (see Config.AnyDependsOn).
	BadDependsOn int
	// Denied counts operations refused 403 because the app has no consent
	// in the token's tenant.
	Denied int
	// TokenRequests counts POSTs to the token endpoint, TokensIssued the
	// tokens minted (IssueToken included) and TokenErrors the AADSTS errors
	// the sign-in endpoints answered.
	TokenRequests, TokensIssued, TokenErrors int

	Throttled         int // 429s sent, steps and envelopes together
	EnvelopeThrottled int // the part of Throttled sent for whole envelopes
	// ThrottledByLevel counts quota 429s by the limit that refused, named
	// as x-ms-throttle-scope names it without ids: Tenant_Application/Write,
	// Tenant_Application/ResourceUnit, Tenant_Application/DeviceWrite,
	// Tenant/Write, Application/Write, Application/ResourceUnit. Injected
	// faults are not counted here.
	ThrottledByLevel map[string]int
	// EarlyRetries counts requests for a user (or, for envelopes, from a
	// client) that arrived before the Retry-After graphsim had given it.
	EarlyRetries int
	Unauthorized int // 401s sent
	// RiskCalls counts confirmCompromised requests received; RiskThrottled those refused 429
	// (also in Throttled).
	RiskCalls, RiskThrottled int

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
	st.ThrottledByLevel = maps.Clone(st.ThrottledByLevel)
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
	// EventReset is a PATCH of a user's passwordProfile that landed.
	EventReset
	// EventMethodRemove is a DELETE of one of a user's authentication methods that landed.
	EventMethodRemove
	// EventConfirm is a user confirmed compromised in Identity Protection.
	EventConfirm
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
	case EventReset:
		return "reset"
	case EventMethodRemove:
		return "method-remove"
	case EventConfirm:
		return "confirm"
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

// rec is one journal entry as stored, next to its object.
type rec struct {
	at   time.Time
	seq  uint32
	kind uint8 // an EventKind
}

func (s *Server) recordUser(d *directory, u *User, kind EventKind, at time.Time) {
	s.touch()
	s.seq++
	d.userLog[u] = append(d.userLog[u], rec{at, s.seq, uint8(kind)})
}

func (s *Server) recordDevice(d *directory, dv *Device, kind EventKind, at time.Time) {
	s.touch()
	s.seq++
	d.deviceLog[dv] = append(d.deviceLog[dv], rec{at, s.seq, uint8(kind)})
}

func events(d *directory, object string, recs []rec) []Event {
	out := make([]Event, len(recs))
	for i, r := range recs {
		out[i] = Event{Seq: int(r.seq), Kind: EventKind(r.kind), Tenant: d.id, Object: object, At: r.at}
	}
	return out
}

// Journal returns every event that landed, in every tenant, in landing
// order.
func (s *Server) Journal() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Event, 0, s.seq)
	for _, d := range s.dirs {
		for u, recs := range d.userLog {
			out = append(out, events(d, u.ID, recs)...)
		}
		for dv, recs := range d.deviceLog {
			out = append(out, events(d, dv.ID, recs)...)
		}
	}
	slices.SortFunc(out, func(a, b Event) int { return a.Seq - b.Seq })
	return out
}

// Passwords returns every password a reset that landed set, in every tenant, in landing
// order: tests search a client's outputs for them. They are kept nowhere else (not on the
// user, not in State).
func (s *Server) Passwords() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.passwords)
}

// TenantView reads the state of one tenant of the server.
type TenantView struct {
	s *Server
	d *directory
}

// Tenant returns a view of the tenant with this id or verified domain name
// (any case), or nil.
func (s *Server) Tenant(id string) *TenantView {
	d := s.dirByName(id)
	if d == nil {
		return nil
	}
	return &TenantView{s, d}
}

// ID is the tenant's id.
func (v *TenantView) ID() string { return v.d.id }

// Revocations returns when each revoke that landed for the user happened,
// oldest first; key is an id or UPN in any case.
func (v *TenantView) Revocations(key string) []time.Time {
	v.s.mu.Lock()
	defer v.s.mu.Unlock()
	u := v.d.lookup(key)
	if u == nil {
		return nil
	}
	var out []time.Time
	for _, r := range v.d.userLog[u] {
		if EventKind(r.kind) == EventRevoke {
			out = append(out, r.at)
		}
	}
	return out
}

// Events returns what landed on a user, in landing order; key is an id or
// UPN in any case.
func (v *TenantView) Events(key string) []Event {
	v.s.mu.Lock()
	defer v.s.mu.Unlock()
	u := v.d.lookup(key)
	if u == nil {
		return nil
	}
	return events(v.d, u.ID, v.d.userLog[u])
}

// DeviceEvents returns what landed on a device (by object id), in landing
// order.
func (v *TenantView) DeviceEvents(id string) []Event {
	v.s.mu.Lock()
	defer v.s.mu.Unlock()
	dv := v.d.device(id)
	if dv == nil {
		return nil
	}
	return events(v.d, dv.ID, v.d.deviceLog[dv])
}

// User returns the current state of a user; key is an id or UPN in any case.
func (v *TenantView) User(key string) (User, bool) {
	v.s.mu.Lock()
	defer v.s.mu.Unlock()
	u := v.d.lookup(key)
	if u == nil {
		return User{}, false
	}
	return *u, true
}

// Users returns the current state of every user, in seeding order.
func (v *TenantView) Users() []User {
	v.s.mu.Lock()
	defer v.s.mu.Unlock()
	out := make([]User, len(v.d.users))
	for i, u := range v.d.users {
		out[i] = *u
	}
	return out
}

// Device returns the current state of a device, by object id.
func (v *TenantView) Device(id string) (Device, bool) {
	v.s.mu.Lock()
	defer v.s.mu.Unlock()
	d := v.d.device(id)
	if d == nil {
		return Device{}, false
	}
	return *d, true
}

// Devices returns the current state of every device, in seeding order.
func (v *TenantView) Devices() []Device {
	v.s.mu.Lock()
	defer v.s.mu.Unlock()
	out := make([]Device, len(v.d.devices))
	for i, d := range v.d.devices {
		out[i] = *d
	}
	return out
}

// The Server's own accessors read the default tenant (Config.TenantID).

func (s *Server) defView() *TenantView { return &TenantView{s, s.def} }

// Revocations is Tenant(Config.TenantID).Revocations.
func (s *Server) Revocations(key string) []time.Time { return s.defView().Revocations(key) }

// Events is Tenant(Config.TenantID).Events.
func (s *Server) Events(key string) []Event { return s.defView().Events(key) }

// DeviceEvents is Tenant(Config.TenantID).DeviceEvents.
func (s *Server) DeviceEvents(id string) []Event { return s.defView().DeviceEvents(id) }

// User is Tenant(Config.TenantID).User.
func (s *Server) User(key string) (User, bool) { return s.defView().User(key) }

// Users is Tenant(Config.TenantID).Users.
func (s *Server) Users() []User { return s.defView().Users() }

// Device is Tenant(Config.TenantID).Device.
func (s *Server) Device(id string) (Device, bool) { return s.defView().Device(id) }

// Devices is Tenant(Config.TenantID).Devices.
func (s *Server) Devices() []Device { return s.defView().Devices() }
