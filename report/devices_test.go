package report

import (
	"bytes"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bulkrevoke/bulkrevoke/batch"
)

// goldenDevices covers every outcome and the hostile cells.
var goldenDevices = []batch.DeviceResult{
	{Line: 16, TenantID: tenantA, User: "alex@contoso.com", ID: "5f2a0000-0000-4000-8000-0000000000d1", DeviceID: "c0ffee00-0000-4000-8000-000000000001",
		DisplayName: "ALEX-LAPTOP", PriorEnabled: ptr(true), Outcome: batch.DeviceDisabled, HTTP: 204, RequestID: "req-d1", At: t0},
	{Line: 16, TenantID: tenantA, User: "alex@contoso.com", ID: "5f2a0000-0000-4000-8000-0000000000d2", DisplayName: "Alex's iPhone",
		PriorEnabled: ptr(false), Outcome: batch.DeviceAlreadyDisabled, At: t0},
	{Line: 17, TenantID: tenantA, User: "synced@contoso.com", ID: "d3", DisplayName: "HYBRID-PC", PriorEnabled: ptr(true),
		Outcome: batch.DeviceSynced, Message: "synced from on-premises AD: disable it there", At: t0},
	{Line: 19, TenantID: tenantA, User: "dry@contoso.com", ID: "d4", PriorEnabled: ptr(true), Outcome: batch.DeviceWouldDisable, At: t0},
	{Line: 23, TenantID: tenantB, User: "x@fabrikam.com", ID: "d5", DisplayName: "=HYPERLINK(\"http://evil\")", PriorEnabled: ptr(true),
		Outcome: batch.DeviceFailed, HTTP: 403, Code: "Authorization_RequestDenied", Message: "Insufficient privileges\r\nto complete", At: t0},
	{Line: 24, User: "later@contoso.com", ID: "d6", PriorEnabled: ptr(true), Outcome: batch.DeviceNotAttempted, Code: "interrupted"},
	{Line: 20, TenantID: tenantA, User: "back@contoso.com", ID: "d7", Outcome: batch.DeviceEnabled, HTTP: 204, At: t0},
}

func canonicalDevice(d batch.DeviceResult) batch.DeviceResult {
	for _, s := range []*string{&d.TenantID, &d.User, &d.ID, &d.DeviceID, &d.DisplayName, &d.Code, &d.Message, &d.RequestID} {
		*s = flat(*s)
	}
	if !d.At.IsZero() {
		d.At = d.At.UTC().Truncate(time.Millisecond)
	}
	return d
}

func devicesText(t *testing.T, ds ...batch.DeviceResult) string {
	t.Helper()
	var buf bytes.Buffer
	j := newDeviceJournal(&buf, nil, "")
	return flushed(t, &buf, j.WriteDevices(ds...), j.Flush)
}

func TestDevicesGolden(t *testing.T) {
	out := devicesText(t, goldenDevices...)
	golden(t, "devices.golden", []byte(out))
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if got, want := lines[0], "line,tenant_id,user,device_object_id,device_id,display_name,prior_account_enabled,outcome,"+
		"http_status,error_code,error_message,request_id,completed_at"; got != want {
		t.Errorf("header:\ngot  %s\nwant %s", got, want)
	}
	if len(lines) != 1+len(goldenDevices) {
		t.Errorf("%d lines, want one per device and the header", len(lines))
	}
	if !strings.Contains(out, `,"'=HYPERLINK(""http://evil"")",`) || !strings.Contains(out, "Insufficient privileges  to complete") {
		t.Errorf("hostile cells not neutralised:\n%s", out)
	}
}

func TestDevicesRoundTrip(t *testing.T) {
	ds, err := ReadDevices(strings.NewReader(devicesText(t, goldenDevices...)))
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != len(goldenDevices) {
		t.Fatalf("read %d devices, want %d", len(ds), len(goldenDevices))
	}
	for i, want := range goldenDevices {
		if !reflect.DeepEqual(ds[i], canonicalDevice(want)) {
			t.Errorf("device %d:\ngot  %+v\nwant %+v", i, ds[i], canonicalDevice(want))
		}
	}
}

func TestReadDevicesErrors(t *testing.T) {
	full := devicesText(t, goldenDevices[:2]...)
	lines := strings.SplitAfter(full, "\n")
	header, row := lines[0], lines[1]
	tests := []struct {
		name, text, wantErr string
		want                int // devices read, when no error
	}{
		{name: "torn last line", text: full[:len(full)-5], want: 1},
		{name: "empty", text: ""},
		{name: "unknown outcome", text: header + strings.Replace(row, ",disabled,", ",stolen,", 1) + lines[2],
			wantErr: `line 2: column outcome: unknown outcome "stolen"`},
		{name: "line zero", text: header + "0" + strings.TrimPrefix(row, "16") + lines[2],
			wantErr: `line 2: column line: "0" is not a positive line number`},
		{name: "a report is not a devices report", text: reportOf(t, goldenResults[0]),
			wantErr: "line 1: not a bulkrevoke devices report: the header does not match (no column user)"},
		{name: "torn middle line", text: header + row[:20] + "\n" + lines[2],
			wantErr: "line 2: malformed devices report line: wrong number of fields"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds, err := ReadDevices(strings.NewReader(tt.text))
			if readErr(t, err, tt.wantErr) && len(ds) != tt.want {
				t.Fatalf("read %d devices; want %d", len(ds), tt.want)
			}
		})
	}
}

func TestDevicesTornAtEveryByte(t *testing.T) {
	tornEverywhere(t, devicesText(t, goldenDevices...), ReadDevices)
}

func TestCreateDevices(t *testing.T) {
	j, path := created(t, "out.devices.csv", CreateDevices)
	if b, _ := os.ReadFile(path); string(b) != strings.Join(DevicesHeader, ",")+"\n" {
		t.Errorf("right after CreateDevices the file holds %q, want the header", b)
	}
	writeConcurrently(t, 4, 50, 10, func(w, i int) error { return j.WriteDevices(deviceResult(1+w*50+i, false)) }, j.Flush)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if ds := readFile(t, path, ReadDevices); len(ds) != 200 {
		t.Fatalf("read back %d devices; want 200", len(ds))
	}
	checkRefuses(t, path, "create devices report", CreateDevices)
	j, err := CreateDevices(path, true)
	if err != nil {
		t.Fatal(err)
	}
	j.Close()
	if b, _ := os.ReadFile(path); string(b) != strings.Join(DevicesHeader, ",")+"\n" {
		t.Errorf("forced CreateDevices left %q", b)
	}
}

func TestWriteDevicesRejectsLineZero(t *testing.T) {
	j := newDeviceJournal(&bytes.Buffer{}, nil, "")
	if err := j.WriteDevices(batch.DeviceResult{ID: "d", Outcome: batch.DeviceDisabled}); err == nil {
		t.Error("WriteDevices accepted a device with line 0")
	}
}

func TestSiblingPaths(t *testing.T) {
	tests := []struct{ report, devices, changes, users string }{
		{"out.csv", "out.devices.csv", "out.changes.csv", "out.users.csv"},
		{"dir/Report.CSV", "dir/Report.devices.csv", "dir/Report.changes.csv", "dir/Report.users.csv"},
		{"report", "report.devices.csv", "report.changes.csv", "report.users.csv"},
		{"a.csv.bak", "a.csv.bak.devices.csv", "a.csv.bak.changes.csv", "a.csv.bak.users.csv"},
		{".csv", ".devices.csv", ".changes.csv", ".users.csv"},
	}
	for _, tt := range tests {
		got := fmt.Sprint(DevicesPath(tt.report), " ", ChangesPath(tt.report), " ", UsersPath(tt.report))
		if want := fmt.Sprint(tt.devices, " ", tt.changes, " ", tt.users); got != want {
			t.Errorf("paths of %q = %s, want %s", tt.report, got, want)
		}
	}
}
