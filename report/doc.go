package report

import "time"

// Doc is a run's outcome for scripts and playbooks: --summary-json writes it as one JSON object.
// Its field names are part of the tool's contract (the README documents them); fields are only
// ever added. Every field is always present: zero counts, empty strings and empty lists rather
// than missing keys, so that a schema-checking parser (a Logic App's Parse JSON) takes every run.
type Doc struct {
	Command  string    `json:"command"` // revoke, validate or enable
	Version  string    `json:"version"`
	DryRun   bool      `json:"dry_run"`
	Tenants  []string  `json:"tenants"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// ElapsedSeconds is wall-clock time from start to finish.
	ElapsedSeconds float64 `json:"elapsed_seconds"`
	// Simulated is set under --simulate, whose tenant's clock runs faster: waits are counted on it.
	Simulated bool `json:"simulated"`

	Rows int `json:"rows"` // rows counted (one per input data row when the run finished)
	// Counts has every status, zero or not.
	Counts map[string]int `json:"counts"`
	// NotDone is the rows whose user did not get what the run was for (a duplicate counts as
	// the row it repeats; an excluded user is no failure).
	NotDone    int                  `json:"not_done"`
	ByTenant   map[string]TenantDoc `json:"by_tenant"`
	Unverified int                  `json:"unverified"`
	Guests     int                  `json:"guests"`
	Blocks     BlocksDoc            `json:"blocks"`
	Passwords  PasswordsDoc         `json:"passwords"`
	Risk       RiskDoc              `json:"risk"`
	Devices    DevicesDoc           `json:"devices"`
	Methods    MethodsDoc           `json:"methods"`
	Waits      WaitsDoc             `json:"waits"`
	Dropped    []string             `json:"dropped"`
	NextSteps  []NextStep           `json:"next_steps"`

	Reports       ReportsDoc `json:"reports"`
	RetryCommand  string     `json:"retry_command"`
	ResumeCommand string     `json:"resume_command"`
	// ReportIncomplete says how many rows are missing from the report and why, when it could not
	// be written whole.
	ReportIncomplete string `json:"report_incomplete"`

	ExitCode    int    `json:"exit_code"`
	ExitMeaning string `json:"exit_meaning"`
	Error       string `json:"error"` // the first fatal error, "" when none
	Hint        string `json:"hint"`
}

// TenantDoc is one tenant's share of a run.
type TenantDoc struct {
	Rows    int            `json:"rows"`
	Done    int            `json:"done"`
	NotDone int            `json:"not_done"`
	Counts  map[string]int `json:"counts"`
}

// BlocksDoc is what --block-sign-in did.
type BlocksDoc struct {
	Blocked         int `json:"blocked"`
	AlreadyDisabled int `json:"already_disabled"`
	NotBlocked      int `json:"not_blocked"`
}

// PasswordsDoc is what --reset-password did (Would: a dry run's rows a real run would reset).
type PasswordsDoc struct {
	Reset    int `json:"reset"`
	NotReset int `json:"not_reset"`
	Would    int `json:"would_reset"`
}

// RiskDoc is what --confirm-compromised did (Would: a dry run's rows a real run would confirm).
type RiskDoc struct {
	Confirmed    int `json:"confirmed"`
	NotConfirmed int `json:"not_confirmed"`
	Would        int `json:"would_confirm"`
}

// DevicesDoc is what --disable-devices (or a rollback's --devices) did.
type DevicesDoc struct {
	Found         int            `json:"found"`
	Changed       int            `json:"changed"` // disabled, or re-enabled by a rollback
	Outcomes      map[string]int `json:"outcomes"`
	ListingFailed int            `json:"listing_failed"`
}

// MethodsDoc is what --remove-methods-since did: the methods report's rows per outcome, and
// the users whose methods Graph would not list.
type MethodsDoc struct {
	Outcomes      map[string]int `json:"outcomes"`
	ListingFailed int            `json:"listing_failed"`
}

// WaitsDoc is how Graph held the run back.
type WaitsDoc struct {
	Count              int64   `json:"count"`
	Seconds            float64 `json:"seconds"`
	ThrottledResponses int     `json:"throttled_responses"`
}

// ReportsDoc names the files the run wrote and kept; "" for those it did not.
type ReportsDoc struct {
	Report  string `json:"report"`
	Devices string `json:"devices"`
	Methods string `json:"methods"`
	Changes string `json:"changes"`
	Users   string `json:"users"`
	Retry   string `json:"retry"`
}

// NewDoc is a Doc with every list and map empty rather than null.
func NewDoc() Doc {
	d := Doc{Tenants: []string{}, Counts: map[string]int{}, ByTenant: map[string]TenantDoc{}, Dropped: []string{},
		NextSteps: []NextStep{}}
	d.Devices.Outcomes = map[string]int{}
	d.Methods.Outcomes = map[string]int{}
	for _, st := range Statuses() {
		d.Counts[string(st)] = 0
	}
	return d
}

// Fill puts what the summary counted into d, with the paths and commands of info.
func (s *Summary) Fill(d *Doc, info PrintInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d.Rows = s.total
	for st, n := range s.counts {
		d.Counts[string(st)] = n
	}
	d.NotDone = s.failed
	for name, tc := range s.tenants {
		td := TenantDoc{Rows: tc.rows, Done: tc.done, NotDone: tc.failed, Counts: map[string]int{}}
		for _, st := range Statuses() {
			td.Counts[string(st)] = 0
		}
		for st, n := range tc.counts {
			td.Counts[string(st)] = n
		}
		if name == "" {
			name = "none"
		}
		d.ByTenant[name] = td
	}
	d.Unverified, d.Guests = s.unverified, s.guests
	d.Blocks = BlocksDoc{Blocked: s.blocked, AlreadyDisabled: s.alreadyDisabled, NotBlocked: s.notBlocked}
	d.Passwords = PasswordsDoc{Reset: s.reset, NotReset: s.notReset, Would: s.wouldReset}
	d.Risk = RiskDoc{Confirmed: s.confirmed, NotConfirmed: s.notConfirmed, Would: s.wouldConfirm}
	outcomes := 0
	for o, n := range s.deviceOutcomes {
		d.Devices.Outcomes[string(o)] = n
		outcomes += n
	}
	d.Devices.Found, d.Devices.Changed, d.Devices.ListingFailed = outcomes, s.devicesDisabled, s.listFailed
	if info.DryRun {
		d.Devices.Changed = 0
	}
	for o, n := range s.methodOutcomes {
		d.Methods.Outcomes[string(o)] = n
	}
	d.Methods.ListingFailed = s.methodsListFailed
	d.Reports.Methods = info.MethodsPath
	d.Waits = WaitsDoc{Count: s.waits, Seconds: s.waited.Seconds(), ThrottledResponses: s.throttled}
	d.Dropped = append(d.Dropped, s.dropped...)
	d.NextSteps = append(d.NextSteps, s.nextSteps(info)...)
	d.Reports.Report, d.Reports.Devices, d.Reports.Retry = info.ReportPath, info.DevicesPath, info.RetryPath
	d.RetryCommand, d.ResumeCommand, d.ReportIncomplete = info.RetryCommand, info.ResumeCommand, info.Incomplete
	d.Simulated = info.Simulated > 0
}
