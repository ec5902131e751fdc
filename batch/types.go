package batch

import "time"

// Kind says how an input value addresses a user.
type Kind int

const (
	KindInvalid  Kind = iota // not usable as a user key; Row.Reason says why
	KindObjectID             // a GUID, the user's object id
	KindUPN                  // a userPrincipalName
)

func (k Kind) String() string {
	switch k {
	case KindObjectID:
		return "object_id"
	case KindUPN:
		return "upn"
	}
	return "invalid"
}

// Row is one data row of the input file, already classified.
type Row struct {
	Line   int    // physical line number of the record in the input file, 1-based
	Input  string // the cell as read, trimmed of surrounding white space
	Key    string // the value used to address the user (GUIDs in lower case); empty when invalid
	Kind   Kind
	Reason string // why the row is invalid, for KindInvalid
	DupOf  int    // line of the first occurrence when this row repeats an earlier one, else 0
	// Tenant is the row's tenant column (a tenant id in lower case, or a verified domain), ""
	// when the list has no such column: the run's --tenant-id applies then.
	Tenant string
	// Restore, in a rollback, is what the run being undone changed for this row.
	Restore *Restore
	// Prior, in a resumed containment run, is the account's state the run being resumed found
	// before it blocked the user: the user now reads as disabled, but by that run.
	Prior *bool
	// ResetDone, in a resumed run, says the run being resumed reset this row's password: it is
	// not reset again.
	ResetDone bool
	// MethodsRemoved, in a resumed run, counts the authentication methods the run being
	// resumed removed for this row: this run's count adds to it (they are gone from the
	// listing).
	MethodsRemoved int
	// ConfirmDone, in a resumed run, says the run being resumed confirmed this row's user
	// compromised: it is not confirmed again.
	ConfirmDone bool
}

// Restore is what a rollback re-enables for one row.
type Restore struct {
	User    bool           // re-enable the user's sign-in
	Devices []DeviceResult // re-enable these devices
}

// Status is the final outcome of one input row. The string values are part of the report
// format and must not change.
type Status string

const (
	StatusRevoked      Status = "revoked"
	StatusWouldRevoke  Status = "would_revoke"
	StatusNotFound     Status = "not_found"
	StatusInvalid      Status = "invalid"
	StatusDuplicate    Status = "duplicate"
	StatusDenied       Status = "denied"
	StatusFailed       Status = "failed"
	StatusNotAttempted Status = "not_attempted"
	StatusExcluded     Status = "excluded"
	StatusWouldBlock   Status = "would_block"  // dry run of --block-sign-in: the user would be blocked and revoked
	StatusEnabled      Status = "enabled"      // rollback: sign-in re-enabled
	StatusUnchanged    Status = "unchanged"    // rollback: nothing of this row's to restore
	StatusWouldEnable  Status = "would_enable" // dry run of a rollback: sign-in or devices would be re-enabled
)

// OK reports whether the status counts as success for the exit code.
func (s Status) OK() bool {
	switch s {
	case StatusRevoked, StatusWouldRevoke, StatusWouldBlock, StatusEnabled, StatusUnchanged, StatusWouldEnable:
		return true
	}
	return false
}

// Result is the final outcome for one input row: one Result per Row, always.
type Result struct {
	Line            int
	Input           string
	UserID          string // object id, when known
	UPN             string // userPrincipalName, when known
	Status          Status
	HTTP            int    // HTTP status of the last step response, 0 when none
	Code            string // Graph error code of the last failure, or a tool code such as "network"
	Message         string
	Attempts        int // requests that carried this user
	RequestID       string
	ClientRequestID string
	At              time.Time // when the final status was decided

	DisplayName    string
	AccountEnabled *bool
	UserType       string
	Note           string

	SessionsValidFrom time.Time // read back by --verify; zero when not read
	Verified          *bool     // nil when not verified

	// DupStatus is, for a duplicate row, the status of the row it repeats: a duplicate of a
	// revoked user is no failure.
	DupStatus Status
	TenantID  string // the tenant the row was processed in (its id when known), "" for the run's only tenant

	// Containment (--block-sign-in, --disable-devices) and rollback.
	PriorAccountEnabled *bool  // accountEnabled as read before any change; nil when not read
	Blocked             *bool  // nil when blocking was not asked for; false with BlockError when it failed or was not needed
	BlockError          string // why the block was not made
	Devices             *int   // devices found (owned and registered, each once); nil when not listed
	DevicesDisabled     *int   // of those, disabled by this run (or, for a rollback, re-enabled)
	DeviceListFailed    bool   // Graph would not list the user's devices (Note says why)

	// --reset-password. Reset is nil when no reset was asked for (or, in a dry run, made);
	// false with ResetError when it was not made. WouldReset marks a dry run's row whose
	// password a real run would reset.
	Reset      *bool
	ResetError string
	WouldReset bool

	// Why a block or a reset was not made, as values for the decisions that depend on it (the
	// next step to take, whether --resume sends it again): BlockError and ResetError say it in
	// words for people. The report keeps them (on_premises_synced, block_http_status,
	// password_reset_http_status).
	Synced    bool // the lookup said onPremisesSyncEnabled: blocks and resets belong to AD
	BlockHTTP int  // Graph's status for the block PATCH; 0 when none was sent
	ResetHTTP int  // Graph's status for the password PATCH; 0 when none was sent

	// --remove-methods-since. MethodsRemoved is nil when methods were not asked for, not
	// listed to the end, or in a dry run; MethodsError says why some were not removed (the
	// listing failed, removals failed or were not attempted). The methods report has a row
	// per method.
	MethodsRemoved *int
	MethodsError   string
	// MethodsListHTTP is Graph's status for the listing that failed (0 when none did), for
	// the next step to take; not kept in the report.
	MethodsListHTTP int
	// --confirm-compromised. RiskConfirmed is nil when no confirmation was asked for (or, in a
	// dry run, made), or the user was never reached; false with RiskError when it was not
	// made. WouldConfirm marks a dry run's row a real run would confirm.
	RiskConfirmed *bool
	RiskError     string
	WouldConfirm  bool
	// RiskHTTP is Graph's status for the call that settled the confirmation (0 when none did:
	// never sent, no answer): the next step and --resume decide on it, RiskError says it in
	// words. The report keeps it (risk_http_status).
	RiskHTTP int
}

// Outcome is the status that decides the exit code: a duplicate counts as the row it repeats.
func (r Result) Outcome() Status {
	if r.Status == StatusDuplicate && r.DupStatus != "" {
		return r.DupStatus
	}
	return r.Status
}

// DeviceResult is what a run did to one device, reported once per device.
type DeviceResult struct {
	Line         int    // the input line of the user the device was found for
	TenantID     string // as in Result
	User         string // the user as the input named them
	ID           string // the device's object id (what PATCH /devices/{id} takes)
	DeviceID     string // the device's deviceId, as Intune and the Entra portal show it
	DisplayName  string
	PriorEnabled *bool
	Outcome      DeviceOutcome
	HTTP         int
	Code         string
	Message      string
	RequestID    string
	At           time.Time
}

// DeviceOutcome is the fate of one device. The values are part of the devices report.
type DeviceOutcome string

const (
	DeviceDisabled        DeviceOutcome = "disabled"
	DeviceAlreadyDisabled DeviceOutcome = "already_disabled"
	DeviceWouldDisable    DeviceOutcome = "would_disable"
	DeviceSynced          DeviceOutcome = "synced"
	DeviceFailed          DeviceOutcome = "failed"
	DeviceNotAttempted    DeviceOutcome = "not_attempted"
	DeviceEnabled         DeviceOutcome = "enabled"
	DeviceWouldEnable     DeviceOutcome = "would_enable" // dry run of a rollback
)

// MethodResult is what a run did to one authentication method, reported once per method.
type MethodResult struct {
	Line        int    // the input line of the user the method belongs to
	TenantID    string // as in Result
	User        string // the user as the input named them
	Type        string // the v1.0 type (phone, fido2, ...), or Graph's @odata.type for a type not known here
	ID          string
	Created     time.Time // createdDateTime; zero when Graph gave none
	DisplayName string    // the display name, device model, phone (with its type) or address Graph gives
	Outcome     MethodOutcome
	HTTP        int
	Code        string
	Message     string
	RequestID   string
	At          time.Time
}

// MethodOutcome is the fate of one authentication method. The values are part of the methods
// report.
type MethodOutcome string

const (
	MethodRemoved        MethodOutcome = "removed"
	MethodWouldRemove    MethodOutcome = "would_remove"
	MethodKeptOlder      MethodOutcome = "kept_older"       // created before the cut-off
	MethodKeptUnknownAge MethodOutcome = "kept_unknown_age" // no createdDateTime: a person must review it
	MethodKeptPassword   MethodOutcome = "kept_password"    // never removed (--reset-password replaces it)
	MethodFailed         MethodOutcome = "failed"
	MethodNotAttempted   MethodOutcome = "not_attempted" // the run stopped before its removal was answered
	// MethodRemoving is the intent recorded before a removal leaves (Config.BeforeRemove): a
	// later row of the same method says how it ended. Alone, after a crash, it says the method
	// may be gone, and a resumed run finds out.
	MethodRemoving MethodOutcome = "removing"
)

// Change is a directory change about to be sent. The engine hands every change of an envelope
// to Config.BeforeChange before the envelope leaves, so that a rollback can find a change even
// when the process dies before Graph's answer is recorded.
type Change struct {
	Line         int
	TenantID     string
	Device       bool   // a device rather than the user
	ID           string // the user key or the device's object id
	Name         string // a device's display name
	Enable       bool   // re-enable rather than disable
	PriorEnabled *bool
}
