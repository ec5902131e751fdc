// Package batch is bulkrevoke's engine: it turns input rows into Microsoft Graph $batch
// requests and every row into exactly one classified Result, under a shared rate limit, with
// retry on throttling and transient failure, and with cancellation.
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
)

// OK reports whether the status counts as success for the exit code.
func (s Status) OK() bool { return s == StatusRevoked || s == StatusWouldRevoke }

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
}
