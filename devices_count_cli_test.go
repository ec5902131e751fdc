package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulkrevoke/bulkrevoke/graphsim"
	"github.com/bulkrevoke/bulkrevoke/report"
)

// TestDeviceCountOnce: one device count everywhere (issue 19). Machines shared by two listed
// users are in both users' rows (each row counts its own user's devices) but in the devices
// report once, and the summary's "found", in text and in --summary-json, is the devices
// report's count: the summary said 45 found beside a devices report of 42 rows.
func TestDeviceCountOnce(t *testing.T) {
	users := graphsim.GenerateUsers(30, 61)
	devices := graphsim.GenerateDevices(users, 61)
	shared := 0
	for _, d := range devices {
		if len(d.RegisteredUsers) > 1 {
			shared++
		}
	}
	if shared == 0 {
		t.Fatal("the seed gives no shared device: the test would not hold the rule")
	}
	var list strings.Builder
	list.WriteString("userPrincipalName\n")
	for _, u := range users {
		list.WriteString(u.UPN + "\n")
	}
	_, url := startSim(t, graphsim.Config{Seed: 61, Quota: graphsim.QuotaOff, Devices: devices}, users)
	input := writeFile(t, "users.csv", list.String())
	out := filepath.Join(t.TempDir(), "report.csv")
	res := runCLI(t, tokenEnv(), "", cliArgs("revoke", url, input, out, "--disable-devices", "--summary-json", "-")...)
	if res.code != exitOK && res.code != exitIncomplete {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}

	devs := readDevices(t, report.DevicesPath(out))
	if len(devs) != len(devices) {
		t.Fatalf("devices report: %d rows, want every device of the tenant once (%d)", len(devs), len(devices))
	}
	rowSum := 0
	for _, r := range readReport(t, out) {
		if r.Devices != nil {
			rowSum += *r.Devices
		}
	}
	if rowSum != len(devices)+shared {
		t.Errorf("the rows count %d devices, want each user's own (%d devices, %d of them shared by two users)", rowSum, len(devices), shared)
	}
	if want := fmt.Sprintf("Devices: %d found, ", len(devices)); !strings.Contains(res.stderr, want) {
		t.Errorf("the summary lacks %q:\n%s", want, res.stderr)
	}
	var doc struct {
		Devices struct {
			Found int `json:"found"`
		} `json:"devices"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &doc); err != nil {
		t.Fatalf("--summary-json: %v\n%s", err, res.stdout)
	}
	if doc.Devices.Found != len(devices) {
		t.Errorf("--summary-json devices.found %d, want %d", doc.Devices.Found, len(devices))
	}
}
