package report

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/bulkrevoke/bulkrevoke/batch"
)

// reportText is a well-formed report of goldenResults[:3] (lines 2, 3, 4).
func reportText(t *testing.T) string {
	t.Helper()
	var buf bytes.Buffer
	j := NewJournal(&buf)
	if err := j.Write(goldenResults[:3]...); err != nil {
		t.Fatal(err)
	}
	if err := j.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestReadReport(t *testing.T) {
	full := reportText(t)
	lines := strings.SplitAfter(full, "\n") // header, 3 rows, ""
	header := lines[0]
	tests := []struct {
		name      string
		text      string
		wantLines []int  // input lines read back, when no error
		wantErr   string // substring of the error
	}{
		{name: "complete", text: full, wantLines: []int{2, 3, 4}},
		{name: "empty file", text: "", wantLines: nil},
		{name: "header only", text: header, wantLines: nil},
		{name: "torn header", text: header[:20], wantLines: nil},
		{name: "torn last line mid-field", text: full[:len(full)-10], wantLines: []int{2, 3}},
		{name: "torn last line, newline missing only", text: full[:len(full)-1], wantLines: []int{2, 3}},
		{name: "torn last line inside a quoted field", text: header + lines[1] + `4,"megan@con`, wantLines: []int{2}},
		{name: "last line with too few fields", text: header + lines[1] + "4,megan@contoso.com\n", wantLines: []int{2}},
		{name: "BOM and CRLF from a spreadsheet", text: "\uFEFF" + strings.ReplaceAll(full, "\n", "\r\n"), wantLines: []int{2, 3, 4}},
		{name: "torn middle line", text: header + lines[1][:30] + "\n" + lines[2] + lines[3],
			wantErr: "line 2: malformed report line: wrong number of fields"},
		{name: "bad status", text: header + strings.Replace(lines[1], ",revoked,", ",gone,", 1) + lines[2],
			wantErr: `line 2: column status: unknown status "gone"`},
		{name: "bad status on last line", text: header + lines[1] + strings.Replace(lines[2], ",revoked,", ",gone,", 1),
			wantErr: `line 3: column status: unknown status "gone"`},
		{name: "bad time", text: header + strings.Replace(lines[1], "15:04:05.123Z", "15:04:05Z", 1) + lines[2],
			wantErr: `line 2: column completed_at: "2026-11-28T15:04:05Z" is not a time`},
		{name: "bad number", text: header + strings.Replace(lines[1], ",200,", ",2x0,", 1) + lines[2],
			wantErr: `line 2: column http_status: "2x0" is not a number`},
		{name: "bad bool", text: header + strings.Replace(lines[1], ",true,", ",yes,", 1) + lines[2],
			wantErr: `line 2: column account_enabled: "yes" is not true or false`},
		{name: "line zero", text: header + "0" + strings.TrimPrefix(lines[1], "2") + lines[2],
			wantErr: `line 2: column line: "0" is not a positive line number`},
		{name: "duplicate input line", text: header + lines[1] + lines[1] + lines[2],
			wantErr: "line 3: input line 2 is already in the report at line 2"},
		{name: "not UTF-8", text: header + strings.Replace(lines[1], "Adele", "Ad\xe8le", 1) + lines[2],
			wantErr: `line 2: column display_name: "Ad\xe8le Vance" is not valid UTF-8`},
		// The report never holds a line break in a cell: a quote open at the end of a line that
		// is not the last is damage, not a cell to read on into the next line.
		{name: "line break in a cell", text: header + strings.Replace(lines[1], "Adele Vance", "\"Adele\nVance\"", 1) + lines[2],
			wantErr: `line 2: malformed report line: extraneous or missing " in quoted-field`},
		{name: "CR in a cell", text: header + strings.Replace(lines[1], "Adele Vance", "Adele\rVance", 1) + lines[2],
			wantErr: `line 2: column display_name: "Adele\rVance" holds a line break`},
		{name: "torn last line, unclosed quote with its newline", text: header + lines[1] + `3,"guest` + "\n", wantLines: []int{2}},
		{name: "torn last line, bare quote", text: header + lines[1] + `3,gu"est` + "\n", wantLines: []int{2}},
		{name: "torn CRLF line cut after the CR", text: strings.ReplaceAll(header+lines[1]+lines[2], "\n", "\r\n")[:len(header+lines[1]+lines[2])+2],
			wantLines: []int{2}},
		{name: "blank lines", text: header + "\n" + lines[1] + "\r\n\n" + lines[2], wantLines: []int{2, 3}},
		{name: "torn header that is no report's", text: "userPrincipalName,disp", wantErr: "line 1: not a bulkrevoke report"},
		{name: "header missing a column", text: strings.Replace(header, ",status,", ",", 1),
			wantErr: "line 1: not a bulkrevoke report: the header does not match (no column status)"},
		{name: "header with a column twice", text: strings.TrimSuffix(header, "\n") + ",note\n",
			wantErr: "line 1: not a bulkrevoke report: the header does not match (column note appears twice)"},
		{name: "not a report", text: "userPrincipalName,displayName\nadele@contoso.com,Adele\n",
			wantErr: "line 1: not a bulkrevoke report"},
		{name: "open quote swallowing the rest", text: header + lines[1] + `3,"guest` + "\n" + lines[2] + lines[3],
			wantErr: "line 3: malformed report line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := ReadReport(strings.NewReader(tt.text))
			if !readErr(t, err, tt.wantErr) {
				return
			}
			var got []int
			for line := range rows {
				got = append(got, line)
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.wantLines) {
				t.Fatalf("lines = %v, want %v", got, tt.wantLines)
			}
			for _, line := range got {
				want := canonical(goldenResults[line-2])
				if !reflect.DeepEqual(rows[line], want) {
					t.Errorf("line %d:\ngot  %+v\nwant %+v", line, rows[line], want)
				}
			}
		})
	}
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "previous.csv")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestOpenPreviousErrorsNameFile(t *testing.T) {
	lines := strings.SplitAfter(reportText(t), "\n")
	path := writeFile(t, lines[0]+lines[1][:30]+"\n"+lines[2])
	_, err := OpenPrevious(path)
	if want := path + ":2: malformed report line"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("err = %v, want prefix %q", err, want)
	}
	_, err = OpenPrevious(filepath.Join(t.TempDir(), "missing.csv"))
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "missing.csv") {
		t.Errorf("missing file: err = %v", err)
	}
}

func TestPrevious(t *testing.T) {
	path := writeFile(t, reportText(t))
	prev, err := OpenPrevious(path)
	if err != nil {
		t.Fatal(err)
	}
	if prev.Path() != path || prev.Len() != 3 {
		t.Errorf("Path, Len = %q, %d; want %q, 3", prev.Path(), prev.Len(), path)
	}

	revoked := []struct {
		line int
		want bool
	}{{2, true}, {3, true}, {4, false}, {99, false}} // line 4 was would_revoke: a dry run revoked nobody
	for _, tt := range revoked {
		r, ok := prev.Revoked(tt.line)
		if ok != tt.want || (ok && r.Line != tt.line) {
			t.Errorf("Revoked(%d) = line %d, %v; want %v", tt.line, r.Line, ok, tt.want)
		}
	}

	checks := []struct {
		row     batch.Row
		wantErr string
	}{
		{batch.Row{Line: 2, Input: "adele@contoso.com"}, ""},
		{batch.Row{Line: 99, Input: "anyone@contoso.com"}, ""}, // not in the report: nothing to compare
		{batch.Row{Line: 4, Input: "b@x.com"}, path + `: line 4 was "megan@contoso.com" in that report but is "b@x.com" in the input: the report is from a different input file`},
	}
	for _, tt := range checks {
		err := prev.Check(tt.row)
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("Check(%+v) = %v, want nil", tt.row, err)
			}
			continue
		}
		var me *MismatchError
		if err == nil || err.Error() != tt.wantErr || !errors.As(err, &me) || me.Hint() == "" {
			t.Errorf("Check(%+v) = %v\nwant %s", tt.row, err, tt.wantErr)
		}
	}
}

// TestCheckFlattenedInput: an input cell with a line break is stored flattened; the same input
// must still match on resume.
func TestCheckFlattenedInput(t *testing.T) {
	var buf bytes.Buffer
	j := NewJournal(&buf)
	in := "=a\nb"
	if err := j.Write(batch.Result{Line: 2, Input: in, Status: batch.StatusInvalid}); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	prev, err := OpenPrevious(writeFile(t, buf.String()))
	if err != nil {
		t.Fatal(err)
	}
	if err := prev.Check(batch.Row{Line: 2, Input: in}); err != nil {
		t.Errorf("Check of the same input: %v", err)
	}
	if err := prev.Check(batch.Row{Line: 2, Input: "=a b c"}); err == nil {
		t.Error("Check accepted a different input")
	}
}

// FuzzReadReport: whatever a previous report holds, reading it returns rows or an error, never
// a panic, and every row it returns is one Journal can write again identically.
func FuzzReadReport(f *testing.F) {
	var buf bytes.Buffer
	j := NewJournal(&buf)
	j.Write(goldenResults...)
	j.Write(containedResults...)
	j.Flush()
	full := buf.String()
	f.Add(full)
	f.Add(full[:len(full)-7])
	f.Add(strings.Join(Header, ",") + "\n1,\"a\n")
	if legacy, err := os.ReadFile("testdata/report-v1.csv"); err == nil {
		f.Add(string(legacy))
		f.Add(string(legacy[:len(legacy)-30]))
	}
	f.Add(strings.Join(Header[:legacyColumns], ",") + ",tenant_id,devices\n2,a@b.co,,,revoked,,,,,,,,,,,,,,t,0\n")
	for _, name := range []string{"devices.golden", "changes.golden"} {
		if b, err := os.ReadFile(filepath.Join("testdata", name)); err == nil {
			f.Add(string(b))
			f.Add(string(b[:len(b)-9]))
		}
	}
	f.Fuzz(func(t *testing.T, text string) {
		// The same text as a devices report and a changes journal: the readers share their
		// line reader, and what they return must be written again as it was read.
		if ds, err := ReadDevices(strings.NewReader(text)); err == nil {
			for _, d := range ds {
				if got := readOne(t, devicesText(t, d), ReadDevices); !reflect.DeepEqual(got, d) {
					t.Fatalf("device read from a devices report does not survive a rewrite:\ngot  %+v\nwant %+v", got, d)
				}
			}
		}
		if cs, err := ReadChanges(strings.NewReader(text)); err == nil {
			for _, c := range cs {
				if got := readOne(t, changesText(t, c), ReadChanges); !reflect.DeepEqual(got, c) {
					t.Fatalf("change read from a changes journal does not survive a rewrite:\ngot  %+v\nwant %+v", got, c)
				}
			}
		}
		rows, err := ReadReport(strings.NewReader(text))
		if err != nil {
			return
		}
		for line, r := range rows {
			if line != r.Line || line <= 0 {
				t.Fatalf("row keyed %d has line %d", line, r.Line)
			}
			if got := roundTrip(t, r); !reflect.DeepEqual(got, r) {
				t.Fatalf("row read from a report does not survive a rewrite:\ngot  %+v\nwant %+v", got, r)
			}
		}
	})
}

// TestReadLegacyReport reads a report of the first release, whose header ends at verified.
func TestReadLegacyReport(t *testing.T) {
	b, err := os.ReadFile("testdata/report-v1.csv")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(strings.SplitN(string(b), "\n", 2)[0], ",sessions_valid_from,verified") {
		t.Fatal("testdata/report-v1.csv is not a first-release report")
	}
	rows, err := ReadReport(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(goldenResults) {
		t.Fatalf("read %d rows, want %d", len(rows), len(goldenResults))
	}
	for _, want := range goldenResults {
		if got := rows[want.Line]; !reflect.DeepEqual(got, canonical(want)) {
			t.Errorf("line %d:\ngot  %+v\nwant %+v", want.Line, got, canonical(want))
		}
	}
}

// TestReadReportByName: columns are found by their names, in any order; a column this release
// does not know (a later release's, or one added by hand) is ignored.
func TestReadReportByName(t *testing.T) {
	want := canonical(containedResults[0])
	full := reportOf(t, containedResults[0])
	recs, err := csv.NewReader(strings.NewReader(full)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	// Reverse the columns and add one.
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	for _, rec := range recs {
		rev := slices.Clone(rec)
		slices.Reverse(rev)
		extra := "later_column"
		if rec[0] != "line" {
			extra = "x"
		}
		w.Write(append(rev, extra))
	}
	w.Flush()
	rows, err := ReadReport(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if got := rows[want.Line]; !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func reportOf(t *testing.T, rs ...batch.Result) string {
	t.Helper()
	var buf bytes.Buffer
	j := NewJournal(&buf)
	return flushed(t, &buf, j.Write(rs...), j.Flush)
}

// TestTornAtEveryByte cuts a report after every byte, as a crash can, with LF and CRLF line
// ends: every cut reads without error and yields exactly the rows whose line was complete.
func TestTornAtEveryByte(t *testing.T) {
	// A quoted cell, a neutralised one, empty cells and every new column; each cut reads the
	// whole prefix, so the file is kept short.
	all := []batch.Result{goldenResults[1], goldenResults[4], goldenResults[11], goldenResults[12],
		containedResults[0], containedResults[1], containedResults[6]}
	lf := reportOf(t, all...)
	for _, full := range []string{lf, strings.ReplaceAll(lf, "\n", "\r\n")} {
		for n := 0; n <= len(full); n++ {
			text := full[:n]
			rows, err := ReadReport(strings.NewReader(text))
			if err != nil {
				t.Fatalf("cut at byte %d: %v\n%q", n, err, text[max(0, n-80):])
			}
			complete := strings.Count(text, "\n") - 1 // less the header
			if complete < 0 {
				complete = 0
			}
			if len(rows) != complete {
				t.Fatalf("cut at byte %d: %d rows, want the %d complete ones\n%q", n, len(rows), complete, text[max(0, n-80):])
			}
			if near := strings.LastIndexByte(text, '\n'); near < n-3 {
				continue // the rows are compared where a line ends; counting them is enough elsewhere
			}
			for _, r := range all[:complete] {
				if !reflect.DeepEqual(rows[r.Line], canonical(r)) {
					t.Fatalf("cut at byte %d: line %d reads as %+v", n, r.Line, rows[r.Line])
				}
			}
		}
	}
}

// writeRun writes a run's report and, when given, its devices report and changes journal
// (nil: no such file), and returns the report's path.
func writeRun(t *testing.T, rows []batch.Result, devs []batch.DeviceResult, cs []batch.Change) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "run.csv")
	if err := os.WriteFile(path, []byte(reportOf(t, rows...)), 0o600); err != nil {
		t.Fatal(err)
	}
	if devs != nil {
		if err := os.WriteFile(DevicesPath(path), []byte(devicesText(t, devs...)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if cs != nil {
		if err := os.WriteFile(ChangesPath(path), []byte(changesText(t, cs...)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// containmentRun is a --block-sign-in --disable-devices run cut short, with a row of every kind
// a resumed run must tell apart.
func containmentRun() ([]batch.Result, []batch.DeviceResult, []batch.Change) {
	rev := func(line int, prior, blocked *bool, blockErr string, devices *int) batch.Result {
		return batch.Result{Line: line, Input: fmt.Sprintf("u%d@contoso.com", line), UPN: fmt.Sprintf("u%d@contoso.com", line),
			Status: batch.StatusRevoked, At: t0, PriorAccountEnabled: prior, Blocked: blocked, BlockError: blockErr, Devices: devices}
	}
	refusedBlock := rev(3, ptr(true), ptr(false), "not allowed (HTTP 403)", iptr(0)) // the block Graph refused
	refusedBlock.BlockHTTP = 403
	rows := []batch.Result{
		rev(2, ptr(true), ptr(true), "", iptr(1)), // all done
		refusedBlock,
		rev(4, ptr(false), ptr(false), "already disabled before this run: not changed", iptr(0)),
		rev(5, ptr(true), ptr(true), "", nil),     // device listing cut short
		rev(6, ptr(true), ptr(true), "", iptr(2)), // a device failed
		rev(7, ptr(true), ptr(true), "", iptr(1)), // a device not attempted
		{Line: 8, Input: "u8@contoso.com", UPN: "u8@contoso.com", Status: batch.StatusNotAttempted, Code: "interrupted",
			PriorAccountEnabled: ptr(true), Blocked: ptr(true)}, // blocked, then stopped before the revoke
		{Line: 12, Input: "u12@contoso.com", Status: batch.StatusRevoked, PriorAccountEnabled: ptr(true)}, // no --block-sign-in
	}
	devs := []batch.DeviceResult{
		{Line: 2, User: "u2@contoso.com", ID: "DEV-A", Outcome: batch.DeviceDisabled, PriorEnabled: ptr(true), HTTP: 204, At: t0},
		{Line: 6, User: "u6@contoso.com", ID: "dev-c", Outcome: batch.DeviceFailed, PriorEnabled: ptr(true), HTTP: 403, At: t0},
		{Line: 6, User: "u6@contoso.com", ID: "dev-d", Outcome: batch.DeviceAlreadyDisabled, PriorEnabled: ptr(false), At: t0},
		{Line: 7, User: "u7@contoso.com", ID: "dev-g", Outcome: batch.DeviceNotAttempted, PriorEnabled: ptr(true), At: t0},
	}
	cs := []batch.Change{
		{Line: 2, ID: "u2@contoso.com", PriorEnabled: ptr(true)},
		{Line: 2, Device: true, ID: "DEV-A", PriorEnabled: ptr(true)},
		{Line: 6, Device: true, ID: "dev-c", PriorEnabled: ptr(true)}, // refused by Graph: not made
		{Line: 7, Device: true, ID: "dev-g", PriorEnabled: ptr(true)}, // answer never recorded
		{Line: 9, ID: "u9@contoso.com", PriorEnabled: ptr(true)},      // killed before the row was written
		{Line: 9, Device: true, ID: "dev-b", Name: "B", PriorEnabled: ptr(true)},
		{Line: 10, ID: "u10@contoso.com"},                               // prior unknown
		{Line: 11, Device: true, ID: "dev-e", PriorEnabled: ptr(false)}, // disabled before
		{Line: 11, ID: "u11@contoso.com", Enable: true, PriorEnabled: ptr(true)},
	}
	return rows, devs, cs
}

func TestPreviousContainment(t *testing.T) {
	rows, devs, cs := containmentRun()
	prev, err := OpenPrevious(writeRun(t, rows, devs, cs))
	if err != nil {
		t.Fatal(err)
	}
	done := []struct {
		line              int
		withDevices, want bool
	}{
		{2, true, true}, {2, false, true},
		{3, false, true}, // a block Graph refused (403) would be refused again: not tried again
		{4, true, true},  // found disabled: nothing to block
		{5, true, false}, {5, false, true},
		{6, true, false}, {6, false, true},
		{7, true, false},
		{8, false, false}, {9, false, false}, {99, false, false},
		{12, false, true}, // revoked by a run without blocking
	}
	for _, tt := range done {
		if got := prev.Done(tt.line, tt.withDevices); got != tt.want {
			t.Errorf("Done(%d, %v) = %v, want %v", tt.line, tt.withDevices, got, tt.want)
		}
	}
	for line, want := range map[int]bool{2: true, 3: false, 4: false, 5: true, 8: true, 9: true, 10: false, 11: false, 12: false} {
		got := prev.Prior(line)
		if want != (got != nil) || got != nil && !*got {
			t.Errorf("Prior(%d) = %v, want true: %v", line, got, want)
		}
	}
	wantDevices := map[string]bool{"dev-a": true, "dev-b": true, "dev-g": true}
	if got := prev.PriorDevices(); !maps.Equal(got, wantDevices) {
		t.Errorf("PriorDevices() = %v, want %v", got, wantDevices)
	}
	if got := prev.Devices(6); len(got) != 2 || got[0].ID != "dev-c" || got[1].ID != "dev-d" {
		t.Errorf("Devices(6) = %+v", got)
	}
	var inherited []string
	for _, c := range prev.Inherit() {
		if c.Enable || !isTrue(c.PriorEnabled) {
			t.Errorf("Inherit() holds %+v", c)
		}
		inherited = append(inherited, fmt.Sprintf("%d %v %s", c.Line, c.Device, c.ID))
	}
	want := []string{"2 false u2@contoso.com", "2 true DEV-A", "5 false u5@contoso.com", "6 false u6@contoso.com",
		"7 false u7@contoso.com", "7 true dev-g", "8 false u8@contoso.com", "9 false u9@contoso.com", "9 true dev-b"}
	if !slices.Equal(inherited, want) {
		t.Errorf("Inherit() =\n%q\nwant\n%q", inherited, want)
	}
}

// TestPreviousLegacy: a report of the first release has no containment: its revoked rows are
// done unless devices are needed, and nothing is inherited.
func TestPreviousLegacy(t *testing.T) {
	b, err := os.ReadFile("testdata/report-v1.csv")
	if err != nil {
		t.Fatal(err)
	}
	prev, err := OpenPrevious(writeFile(t, string(b)))
	if err != nil {
		t.Fatal(err)
	}
	if !prev.Done(2, false) || prev.Done(2, true) || prev.Done(4, false) {
		t.Errorf("Done(2, false), Done(2, true), Done(4, false) = %v, %v, %v; want true, false, false",
			prev.Done(2, false), prev.Done(2, true), prev.Done(4, false))
	}
	if prev.Prior(2) != nil || len(prev.PriorDevices()) != 0 || len(prev.Inherit()) != 0 {
		t.Error("a first-release report yields containment state")
	}
}

func TestOpenPreviousCompanionErrors(t *testing.T) {
	path := writeRun(t, goldenResults[:1], nil, nil)
	if err := os.WriteFile(DevicesPath(path), []byte(strings.Join(DevicesHeader, ",")+"\n1,,u,d,,,true,gone,,,,,\n2,"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := OpenPrevious(path)
	if want := DevicesPath(path) + `:2: column outcome: unknown outcome "gone"`; err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}
	os.Remove(DevicesPath(path))
	if err := os.Mkdir(ChangesPath(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenPrevious(path); err == nil || !strings.Contains(err.Error(), ChangesPath(path)) {
		t.Errorf("a changes journal that cannot be read: err = %v", err)
	}
}

// TestCheckTenants: a row of the same input in another tenant is another user: the report is
// then of another input. A domain and an id can only be compared through SetTenantIDs.
func TestCheckTenants(t *testing.T) {
	const idA, idB = "72f988bf-86f1-41af-91ab-2d7cd011db47", "0b8a3c6e-1111-4222-8333-444455556666"
	rows := []batch.Result{
		{Line: 2, Input: "a@contoso.com", Status: batch.StatusRevoked, TenantID: idA},
		{Line: 3, Input: "b@contoso.com", Status: batch.StatusRevoked, TenantID: "contoso.com"},
		{Line: 4, Input: "c@contoso.com", Status: batch.StatusRevoked},
	}
	path := writeRun(t, rows, nil, nil)
	tests := []struct {
		name    string
		ids     map[string]string
		row     batch.Row
		wantErr bool
	}{
		{"same id", nil, batch.Row{Line: 2, Input: "a@contoso.com", Tenant: idA}, false},
		{"same id, other case", nil, batch.Row{Line: 2, Input: "a@contoso.com", Tenant: strings.ToUpper(idA)}, false},
		{"other id", nil, batch.Row{Line: 2, Input: "a@contoso.com", Tenant: idB}, true},
		{"domain against an id, unknown", nil, batch.Row{Line: 2, Input: "a@contoso.com", Tenant: "fabrikam.com"}, false},
		{"domain resolved to the id", map[string]string{"contoso.com": idA}, batch.Row{Line: 2, Input: "a@contoso.com", Tenant: "contoso.com"}, false},
		{"domain resolved to another id", map[string]string{"fabrikam.com": idB}, batch.Row{Line: 2, Input: "a@contoso.com", Tenant: "fabrikam.com"}, true},
		{"same domain", nil, batch.Row{Line: 3, Input: "b@contoso.com", Tenant: "contoso.com"}, false},
		{"same domain, known now", map[string]string{"contoso.com": idA}, batch.Row{Line: 3, Input: "b@contoso.com", Tenant: "contoso.com"}, false},
		{"other domain", nil, batch.Row{Line: 3, Input: "b@contoso.com", Tenant: "fabrikam.com"}, true},
		{"no tenant in the input", nil, batch.Row{Line: 2, Input: "a@contoso.com"}, false},
		{"no tenant in the report", nil, batch.Row{Line: 4, Input: "c@contoso.com", Tenant: idB}, false},
		{"other input, same tenant", nil, batch.Row{Line: 2, Input: "z@contoso.com", Tenant: idA}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prev, err := OpenPrevious(path)
			if err != nil {
				t.Fatal(err)
			}
			if tt.ids != nil {
				prev.SetTenantIDs(tt.ids)
			}
			err = prev.Check(tt.row)
			var me *MismatchError
			if tt.wantErr != (err != nil) || err != nil && !errors.As(err, &me) {
				t.Fatalf("Check = %v, want an error: %v", err, tt.wantErr)
			}
			if err != nil && me.Is == me.Was && !strings.Contains(err.Error(), "in tenant "+me.WasTenant) {
				t.Errorf("a tenant mismatch does not name the tenants: %v", err)
			}
		})
	}
}

// TestCountReport: the rows a run checks on disk at its end are the complete rows ReadReport
// reads, without keeping them; a torn last row is not counted, a line twice is an error.
func TestCountReport(t *testing.T) {
	var b bytes.Buffer
	j := NewJournal(&b)
	for l := 2; l <= 101; l++ {
		if err := j.Write(batch.Result{Line: l, Input: fmt.Sprint("u", l, "@x.com"), Status: batch.StatusRevoked}); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Flush(); err != nil {
		t.Fatal(err)
	}
	full := b.String()
	for _, tc := range []struct {
		name string
		data string
		want int
	}{
		{"whole", full, 100},
		{"torn last row", full[:len(full)-7], 99},
		{"header only", full[:strings.Index(full, "\n")+1], 0},
	} {
		n, err := CountReport(strings.NewReader(tc.data))
		rows, rerr := ReadReport(strings.NewReader(tc.data))
		if err != nil || rerr != nil || n != tc.want || len(rows) != n {
			t.Errorf("%s: CountReport = %d, %v; ReadReport %d rows, %v; want %d", tc.name, n, err, len(rows), rerr, tc.want)
		}
	}
	twice := full + full[strings.Index(full, "\n")+1:]
	if _, err := CountReport(strings.NewReader(twice)); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("a line reported twice: err = %v", err)
	}
}

// TestPreviousConfirm: a row confirmed compromised is done and ConfirmDone; one whose
// confirmation failed on a fault or never left is sent again (not done); one its tenant refused
// (403) is done, since sending it again would be refused again.
func TestPreviousConfirm(t *testing.T) {
	rows := []batch.Result{
		{Line: 2, Input: "a@contoso.com", Status: batch.StatusRevoked, RiskConfirmed: ptr(true)},
		{Line: 3, Input: "b@contoso.com", Status: batch.StatusRevoked, RiskConfirmed: ptr(false), RiskHTTP: 403,
			RiskError: "not confirmed: the tenant refused confirmCompromised (HTTP 403 Forbidden): it needs Entra ID P2"},
		{Line: 4, Input: "c@contoso.com", Status: batch.StatusRevoked, RiskConfirmed: ptr(false),
			RiskError: "not confirmed: the run stopped before Identity Protection answered"},
		{Line: 5, Input: "d@contoso.com", Status: batch.StatusRevoked, RiskConfirmed: ptr(false), RiskHTTP: 503,
			RiskError: "not confirmed: giving up after 8 failed attempt(s): HTTP 503 serviceUnavailable"},
		// Decided on the status column, never the words: these say 403 and are a 500.
		{Line: 6, Input: "e@contoso.com", Status: batch.StatusRevoked, RiskConfirmed: ptr(false), RiskHTTP: 500,
			RiskError: "not confirmed: HTTP 403 in the words only"},
	}
	prev, err := OpenPrevious(writeRun(t, rows, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	for line, want := range map[int][2]bool{2: {true, true}, 3: {true, false}, 4: {false, false}, 5: {false, false}, 6: {false, false}} {
		if done, confirmed := prev.Done(line, false), prev.ConfirmDone(line); done != want[0] || confirmed != want[1] {
			t.Errorf("line %d: Done %v ConfirmDone %v, want %v %v", line, done, confirmed, want[0], want[1])
		}
	}
}
