package report

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/bulkrevoke/bulkrevoke/batch"
)

// restoreOf describes a rollback row for comparison: line, key, tenant, user or not, devices.
func restoreOf(r batch.Row) string {
	var ids []string
	for _, d := range r.Restore.Devices {
		ids = append(ids, d.ID)
	}
	return fmt.Sprintf("%d key=%q kind=%v tenant=%q user=%v devices=%v", r.Line, r.Key, r.Kind, r.Tenant, r.Restore.User, ids)
}

func TestRollback(t *testing.T) {
	rows, devs, cs := containmentRun()
	rb, err := OpenRollback(writeRun(t, rows, devs, cs))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rb.Rows() {
		got = append(got, restoreOf(r))
	}
	want := []string{
		`2 key="u2@contoso.com" kind=upn tenant="" user=true devices=[DEV-A]`, // a row and an intent: once
		`3 key="u3@contoso.com" kind=upn tenant="" user=false devices=[]`,     // the block failed: unchanged
		`4 key="u4@contoso.com" kind=upn tenant="" user=false devices=[]`,     // disabled before the run
		`5 key="u5@contoso.com" kind=upn tenant="" user=true devices=[]`,
		`6 key="u6@contoso.com" kind=upn tenant="" user=true devices=[]`, // Graph refused dev-c; dev-d was disabled before
		`7 key="u7@contoso.com" kind=upn tenant="" user=true devices=[dev-g]`,
		`8 key="u8@contoso.com" kind=upn tenant="" user=true devices=[]`,      // blocked, then interrupted
		`9 key="u9@contoso.com" kind=upn tenant="" user=true devices=[dev-b]`, // intents only: killed
		`12 key="u12@contoso.com" kind=upn tenant="" user=false devices=[]`,   // a run without blocking
	}
	if !slices.Equal(got, want) {
		t.Errorf("Rows():\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if rb.Users() != 6 || rb.Devices() != 3 {
		t.Errorf("Users(), Devices() = %d, %d; want 6, 3", rb.Users(), rb.Devices())
	}
	if ts := rb.Tenants(); !slices.Equal(ts, []string{""}) {
		t.Errorf("Tenants() = %q, want [\"\"]", ts)
	}
	for _, r := range rb.Rows() {
		if r.Restore == nil {
			t.Fatalf("line %d has no Restore", r.Line)
		}
		for _, d := range r.Restore.Devices {
			if d.Outcome != "" || d.HTTP != 0 || d.RequestID != "" || !isTrue(d.PriorEnabled) {
				t.Errorf("device %s carries the undone run's answer: %+v", d.ID, d)
			}
		}
	}
}

// TestRollbackRules: what is re-enabled, case by case. Only what was enabled before the run,
// and only what the run changed or may have changed.
func TestRollbackRules(t *testing.T) {
	const idA, idB = "72f988bf-86f1-41af-91ab-2d7cd011db47", "0b8a3c6e-1111-4222-8333-444455556666"
	const uid = "0a1b2c3d-0000-4000-8000-000000000002"
	row := func(line int, st batch.Status, prior, blocked *bool) batch.Result {
		return batch.Result{Line: line, Input: fmt.Sprintf("u%d@contoso.com", line), Status: st, At: t0,
			PriorAccountEnabled: prior, Blocked: blocked}
	}
	dev := func(line int, id string, o batch.DeviceOutcome, prior *bool, status int) batch.DeviceResult {
		return batch.DeviceResult{Line: line, User: fmt.Sprintf("u%d@contoso.com", line), ID: id, Outcome: o, PriorEnabled: prior, HTTP: status, At: t0}
	}
	tests := []struct {
		name string
		rows []batch.Result
		devs []batch.DeviceResult
		cs   []batch.Change
		want []string
	}{
		{name: "blocked, enabled before",
			rows: []batch.Result{row(2, batch.StatusRevoked, ptr(true), ptr(true))},
			want: []string{`2 key="u2@contoso.com" kind=upn tenant="" user=true devices=[]`}},
		{name: "blocked, prior unknown: never",
			rows: []batch.Result{row(2, batch.StatusRevoked, nil, ptr(true))},
			want: []string{`2 key="u2@contoso.com" kind=upn tenant="" user=false devices=[]`}},
		{name: "the object id the run resolved is preferred to the input",
			rows: []batch.Result{{Line: 2, Input: "old-name@contoso.com", UserID: strings.ToUpper(uid), UPN: "new@contoso.com",
				Status: batch.StatusRevoked, PriorAccountEnabled: ptr(true), Blocked: ptr(true), TenantID: idA}},
			want: []string{`2 key="` + uid + `" kind=object_id tenant="` + idA + `" user=true devices=[]`}},
		{name: "an intent re-enables even where the row says the block failed",
			rows: []batch.Result{row(2, batch.StatusRevoked, ptr(true), ptr(false))},
			cs:   []batch.Change{{Line: 2, ID: "u2@contoso.com", PriorEnabled: ptr(true)}},
			want: []string{`2 key="u2@contoso.com" kind=upn tenant="" user=true devices=[]`}},
		{name: "a row without a usable key takes the intent's",
			rows: []batch.Result{{Line: 2, Status: batch.StatusNotAttempted, Code: "interrupted"}},
			cs:   []batch.Change{{Line: 2, ID: "u2@contoso.com", PriorEnabled: ptr(true)}},
			want: []string{`2 key="u2@contoso.com" kind=upn tenant="" user=true devices=[]`}},
		{name: "intents with prior false or unknown, and enables, restore nothing",
			rows: []batch.Result{row(2, batch.StatusRevoked, ptr(false), ptr(false))},
			cs: []batch.Change{{Line: 2, ID: "u2@contoso.com", PriorEnabled: ptr(false)}, {Line: 3, ID: "u3@contoso.com"},
				{Line: 4, ID: "u4@contoso.com", Enable: true, PriorEnabled: ptr(true)},
				{Line: 4, Device: true, ID: "d4", PriorEnabled: ptr(false)}},
			want: []string{`2 key="u2@contoso.com" kind=upn tenant="" user=false devices=[]`}},
		{name: "devices: disabled and carried from a resumed run, not those found disabled or refused",
			rows: []batch.Result{row(2, batch.StatusRevoked, ptr(false), ptr(false))},
			devs: []batch.DeviceResult{dev(2, "d1", batch.DeviceDisabled, ptr(true), 204),
				dev(2, "d2", batch.DeviceAlreadyDisabled, ptr(true), 0), // a resumed run's, disabled by the run it resumed
				dev(2, "d3", batch.DeviceAlreadyDisabled, ptr(false), 0),
				dev(2, "d4", batch.DeviceFailed, ptr(true), 403),
				dev(2, "d5", batch.DeviceSynced, ptr(true), 0),
				dev(2, "d6", batch.DeviceDisabled, nil, 204),
				dev(2, "d7", batch.DeviceWouldDisable, ptr(true), 0)},
			want: []string{`2 key="u2@contoso.com" kind=upn tenant="" user=false devices=[d1 d2]`}},
		{name: "device intents: restored unless Graph refused the change",
			rows: []batch.Result{row(2, batch.StatusRevoked, nil, nil)},
			devs: []batch.DeviceResult{dev(2, "d4", batch.DeviceFailed, ptr(true), 403), dev(2, "d5", batch.DeviceFailed, ptr(true), 0),
				dev(2, "d6", batch.DeviceNotAttempted, ptr(true), 0)},
			cs: []batch.Change{{Line: 2, Device: true, ID: "d4", PriorEnabled: ptr(true)}, {Line: 2, Device: true, ID: "d5", PriorEnabled: ptr(true)},
				{Line: 2, Device: true, ID: "d6", PriorEnabled: ptr(true)}, {Line: 2, Device: true, ID: "d8", PriorEnabled: ptr(true)}},
			want: []string{`2 key="u2@contoso.com" kind=upn tenant="" user=false devices=[d5 d6 d8]`}},
		{name: "the same device twice is restored once",
			rows: []batch.Result{row(2, batch.StatusRevoked, nil, nil)},
			devs: []batch.DeviceResult{dev(2, "D1", batch.DeviceDisabled, ptr(true), 204), dev(2, "d1", batch.DeviceDisabled, ptr(true), 204)},
			cs:   []batch.Change{{Line: 2, Device: true, ID: "d1", PriorEnabled: ptr(true)}},
			want: []string{`2 key="u2@contoso.com" kind=upn tenant="" user=false devices=[D1]`}},
		{name: "invalid and duplicate rows are left out",
			rows: []batch.Result{row(2, batch.StatusRevoked, ptr(true), ptr(true)),
				{Line: 3, Input: "=junk", Status: batch.StatusInvalid, Blocked: ptr(false)},
				{Line: 4, Input: "u2@contoso.com", UPN: "u2@contoso.com", Status: batch.StatusDuplicate, DupStatus: batch.StatusRevoked}},
			want: []string{`2 key="u2@contoso.com" kind=upn tenant="" user=true devices=[]`}},
		{name: "a line known from the devices report alone names its user there",
			rows: []batch.Result{row(2, batch.StatusRevoked, nil, nil)},
			devs: []batch.DeviceResult{dev(5, "d1", batch.DeviceDisabled, ptr(true), 204)},
			want: []string{`2 key="u2@contoso.com" kind=upn tenant="" user=false devices=[]`,
				`5 key="u5@contoso.com" kind=upn tenant="" user=false devices=[d1]`}},
		{name: "a line known from a device intent alone has no user key",
			rows: []batch.Result{row(2, batch.StatusRevoked, nil, nil)},
			cs:   []batch.Change{{Line: 7, Device: true, ID: "d9", PriorEnabled: ptr(true), TenantID: idB}},
			want: []string{`2 key="u2@contoso.com" kind=upn tenant="" user=false devices=[]`,
				`7 key="" kind=object_id tenant="` + idB + `" user=false devices=[d9]`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			devs := tt.devs
			if devs == nil {
				devs = []batch.DeviceResult{} // the run had --disable-devices: a devices report exists
			}
			rb, err := OpenRollback(writeRun(t, tt.rows, devs, tt.cs))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			users, devices := 0, 0
			for _, r := range rb.Rows() {
				got = append(got, restoreOf(r))
				if r.Restore.User {
					users++
				}
				devices += len(r.Restore.Devices)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Rows():\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if rb.Users() != users || rb.Devices() != devices {
				t.Errorf("Users(), Devices() = %d, %d; the rows say %d, %d", rb.Users(), rb.Devices(), users, devices)
			}
		})
	}
}

func TestRollbackTenants(t *testing.T) {
	const idA, idB, idC = "72f988bf-86f1-41af-91ab-2d7cd011db47", "0b8a3c6e-1111-4222-8333-444455556666", "11111111-2222-4333-8444-555555555555"
	rows := []batch.Result{
		{Line: 2, Input: "a@contoso.com", Status: batch.StatusRevoked, PriorAccountEnabled: ptr(true), Blocked: ptr(true), TenantID: idB},
		{Line: 3, Input: "b@contoso.com", Status: batch.StatusRevoked, PriorAccountEnabled: ptr(true), Blocked: ptr(true), TenantID: idA},
		{Line: 4, Input: "c@contoso.com", Status: batch.StatusRevoked, PriorAccountEnabled: ptr(false), Blocked: ptr(false), TenantID: idC},
		{Line: 5, Input: "d@contoso.com", Status: batch.StatusRevoked, PriorAccountEnabled: ptr(true), Blocked: ptr(true), TenantID: idA},
	}
	rb, err := OpenRollback(writeRun(t, rows, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	// idC has nothing to restore: no sign-in there.
	if got := rb.Tenants(); !slices.Equal(got, []string{idB, idA}) && !slices.Equal(got, []string{idA, idB}) || len(got) != 2 {
		t.Errorf("Tenants() = %q", got)
	}
	if len(rb.Rows()) != 4 {
		t.Errorf("%d rows, want 4", len(rb.Rows()))
	}
}

func TestOpenRollbackErrors(t *testing.T) {
	legacy, err := os.ReadFile("testdata/report-v1.csv")
	if err != nil {
		t.Fatal(err)
	}
	revoked := batch.Result{Line: 2, Input: "a@contoso.com", Status: batch.StatusRevoked}
	tests := []struct {
		name     string
		report   string
		devs     []batch.DeviceResult
		cs       []batch.Change
		wantErr  string
		wantHint string
	}{
		{name: "a user list", report: "userPrincipalName,displayName\na@contoso.com,A\n",
			wantErr: ":1: not a bulkrevoke report: the header does not match"},
		{name: "a first-release report", report: string(legacy),
			wantErr: ": this run neither blocked sign-in nor disabled devices", wantHint: "enable undoes revoke --block-sign-in"},
		{name: "a revoke without containment", report: reportOf(t, revoked),
			wantErr: ": this run neither blocked sign-in nor disabled devices", wantHint: "enable undoes"},
		{name: "a dry run", report: reportOf(t, batch.Result{Line: 2, Input: "a@contoso.com", Status: batch.StatusWouldBlock,
			PriorAccountEnabled: ptr(true)}), devs: []batch.DeviceResult{{Line: 2, ID: "d", Outcome: batch.DeviceWouldDisable}},
			wantErr: ": this is the report of a dry run"},
		{name: "a rollback", report: reportOf(t, batch.Result{Line: 2, Input: "a@contoso.com", Status: batch.StatusEnabled}),
			cs: []batch.Change{{Line: 2, ID: "a@contoso.com", Enable: true}}, wantErr: ": this is the report of a rollback (input line 2 is enabled)"},
		{name: "a broken devices report", report: reportOf(t, revoked), devs: nil, wantErr: ".devices.csv:2: column outcome"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, tt.report)
			if tt.devs != nil {
				os.WriteFile(DevicesPath(path), []byte(devicesText(t, tt.devs...)), 0o600)
			}
			if tt.cs != nil {
				os.WriteFile(ChangesPath(path), []byte(changesText(t, tt.cs...)), 0o600)
			}
			if tt.name == "a broken devices report" {
				os.WriteFile(DevicesPath(path), []byte(strings.Join(DevicesHeader, ",")+"\n2,,a,d,,,true,lost,,,,,\n"), 0o600)
			}
			_, err := OpenRollback(path)
			if err == nil || !strings.HasPrefix(err.Error(), strings.TrimSuffix(path, ".csv")) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q after the file's path", err, tt.wantErr)
			}
			var re *RollbackError
			if tt.wantHint != "" && (!errors.As(err, &re) || !strings.Contains(re.Hint(), tt.wantHint)) {
				t.Errorf("hint = %v, want %q", err, tt.wantHint)
			}
		})
	}
	if _, err := OpenRollback("/nonexistent/run.csv"); err == nil || !strings.Contains(err.Error(), "/nonexistent/run.csv") {
		t.Errorf("missing report: %v", err)
	}
}

// TestRollbackTornLastRow: only complete rows count: a blocked row torn by a crash is not
// restored from the report, but its intent in the changes journal still restores it.
func TestRollbackTornLastRow(t *testing.T) {
	rows := []batch.Result{
		{Line: 2, Input: "a@contoso.com", Status: batch.StatusRevoked, PriorAccountEnabled: ptr(true), Blocked: ptr(true)},
		{Line: 3, Input: "b@contoso.com", Status: batch.StatusRevoked, PriorAccountEnabled: ptr(true), Blocked: ptr(true)},
	}
	full := reportOf(t, rows...)
	for _, withIntent := range []bool{false, true} {
		path := writeFile(t, full[:len(full)-3])
		want := 1
		if withIntent {
			os.WriteFile(ChangesPath(path), []byte(changesText(t, batch.Change{Line: 3, ID: "b@contoso.com", PriorEnabled: ptr(true)})), 0o600)
			want = 2
		}
		rb, err := OpenRollback(path)
		if err != nil {
			t.Fatal(err)
		}
		if rb.Users() != want {
			t.Errorf("intent %v: %d users to re-enable, want %d", withIntent, rb.Users(), want)
		}
	}
}
