package report

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/bulkrevoke/bulkrevoke/batch"
)

var goldenChanges = []batch.Change{
	{Line: 16, TenantID: tenantA, ID: "alex@contoso.com", PriorEnabled: ptr(true)},
	{Line: 16, TenantID: tenantA, Device: true, ID: "5f2a0000-0000-4000-8000-0000000000d1", Name: "ALEX-LAPTOP", PriorEnabled: ptr(true)},
	{Line: 25, TenantID: tenantB, ID: "0a1b2c3d-0000-4000-8000-000000000025"}, // not read first: prior unknown
	{Line: 20, TenantID: tenantA, ID: "back@contoso.com", Enable: true},
	{Line: 20, TenantID: tenantA, Device: true, ID: "d7", Name: "=evil()\nname", Enable: true, PriorEnabled: ptr(false)},
}

func changesText(t *testing.T, cs ...batch.Change) string {
	t.Helper()
	var buf bytes.Buffer
	j := newChangeJournal(&buf, nil, "", fixedNow)
	if err := j.Record(cs); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestChangesGolden(t *testing.T) {
	out := changesText(t, goldenChanges...)
	golden(t, "changes.golden", []byte(out))
	if !strings.HasPrefix(out, "line,tenant_id,object,id,name,action,prior_account_enabled,recorded_at\n") {
		t.Errorf("header: %q", strings.SplitN(out, "\n", 2)[0])
	}
	if !strings.Contains(out, ",device,d7,'=evil() name,enable,false,2026-11-28T15:04:05.123Z\n") {
		t.Errorf("device change not written as expected:\n%s", out)
	}
}

func TestChangesRoundTrip(t *testing.T) {
	cs, err := ReadChanges(strings.NewReader(changesText(t, goldenChanges...)))
	if err != nil {
		t.Fatal(err)
	}
	want := make([]batch.Change, len(goldenChanges))
	for i, c := range goldenChanges {
		c.Name = flat(c.Name)
		want[i] = c
	}
	if !reflect.DeepEqual(cs, want) {
		t.Errorf("got  %+v\nwant %+v", cs, want)
	}
}

func TestReadChangesErrors(t *testing.T) {
	full := changesText(t, goldenChanges[:2]...)
	lines := strings.SplitAfter(full, "\n")
	tests := []struct{ name, text, wantErr string }{
		{"bad object", lines[0] + strings.Replace(lines[1], ",user,", ",group,", 1), `line 2: column object: "group" is neither user nor device`},
		{"bad action", lines[0] + strings.Replace(lines[1], ",disable,", ",delete,", 1), `line 2: column action: "delete" is neither disable nor enable`},
		{"bad time", lines[0] + strings.Replace(lines[1], ".123Z", "Z", 1) + lines[2], `line 2: column recorded_at: "2026-11-28T15:04:05Z" is not a time`},
		{"devices report", devicesText(t, goldenDevices[0]), "line 1: not a bulkrevoke changes journal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadChanges(strings.NewReader(tt.text))
			readErr(t, err, tt.wantErr)
		})
	}
}

func TestChangesTornAtEveryByte(t *testing.T) {
	tornEverywhere(t, changesText(t, goldenChanges...), ReadChanges)
}

// TestRecordReachesTheOS: a change is in the file when Record returns, before any Close: a
// process killed right after Record has recorded it.
func TestRecordReachesTheOS(t *testing.T) {
	j, path := created(t, "out.changes.csv", CreateChanges)
	defer j.Close()
	writeConcurrently(t, 4, 25, 0, func(w, i int) error { return j.Record(changes(1+w*25+i, false)) }, nil)
	if cs := readFile(t, path, ReadChanges); len(cs) != 100 {
		t.Fatalf("before Close the file holds %d changes, want 100", len(cs))
	}
	checkRefuses(t, path, "create changes journal", CreateChanges)
}

func TestRecordRejectsLineZero(t *testing.T) {
	var buf bytes.Buffer
	j := newChangeJournal(&buf, nil, "", fixedNow)
	if err := j.Record([]batch.Change{{Line: 3, ID: "a@b.co"}, {ID: "c@d.co"}}); err == nil {
		t.Error("Record accepted a change with line 0")
	}
	// None of the envelope's changes is recorded: the envelope must not leave.
	if strings.Contains(buf.String(), "a@b.co") {
		t.Error("Record wrote part of a refused envelope")
	}
}
