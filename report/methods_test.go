package report

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bulkrevoke/bulkrevoke/batch"
)

// testMethods covers every outcome and a hostile cell.
var testMethods = []batch.MethodResult{
	{Line: 2, TenantID: tenantA, User: "a@contoso.com", Type: "fido2", ID: "f1", Created: t0.Add(-time.Hour), DisplayName: "YubiKey 5",
		Outcome: batch.MethodRemoved, HTTP: 204, RequestID: "req-1", At: t0},
	{Line: 2, User: "a@contoso.com", Type: "phone", ID: "p1", DisplayName: "mobile +1 555 0100", Outcome: batch.MethodKeptUnknownAge, At: t0},
	{Line: 2, User: "a@contoso.com", Type: "softwareOath", ID: "o1", Created: t0.Add(-900 * time.Hour), Outcome: batch.MethodKeptOlder, At: t0},
	{Line: 2, User: "a@contoso.com", Type: "password", ID: "pw", Outcome: batch.MethodKeptPassword, At: t0},
	{Line: 3, User: "b@contoso.com", Type: "fido2", ID: "f2", Created: t0, Outcome: batch.MethodWouldRemove, At: t0},
	{Line: 4, User: "c@contoso.com", Type: "microsoftAuthenticator", ID: "m1", Created: t0, DisplayName: "=HYPERLINK(\"x\")",
		Outcome: batch.MethodFailed, HTTP: 400, Code: "badRequest", Message: "Cannot delete default method\nwith other methods configured.", At: t0},
	{Line: 5, User: "d@contoso.com", Type: "fido2", ID: "f3", Created: t0, Outcome: batch.MethodNotAttempted, At: t0},
}

func canonicalMethod(m batch.MethodResult) batch.MethodResult {
	for _, s := range []*string{&m.TenantID, &m.User, &m.Type, &m.ID, &m.DisplayName, &m.Code, &m.Message, &m.RequestID} {
		*s = flat(*s)
	}
	for _, tm := range []*time.Time{&m.At, &m.Created} {
		if !tm.IsZero() {
			*tm = tm.UTC().Truncate(time.Millisecond)
		}
	}
	return m
}

// TestMethodsReport writes every outcome to a methods report on disk and reads it back, with
// a torn last line (a crash mid-write) ignored; a hostile cell is neutralised.
func TestMethodsReport(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.methods.csv")
	j, err := CreateMethods(path, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.WriteMethods(testMethods...); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("6,,e@contoso.com,fido2,f9,,,remo")
	f.Close()
	raw, _ := os.ReadFile(path)
	if !strings.Contains(string(raw), `,"'=HYPERLINK(`) {
		t.Errorf("the hostile display name is not neutralised:\n%s", raw)
	}
	if !strings.HasPrefix(string(raw), strings.Join(MethodsHeader, ",")+"\n") {
		t.Errorf("header: %s", raw)
	}
	in, _ := os.Open(path)
	defer in.Close()
	got, err := ReadMethods(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(testMethods) {
		t.Fatalf("read %d rows, want %d", len(got), len(testMethods))
	}
	for i := range got {
		want := canonicalMethod(testMethods[i])
		if !reflect.DeepEqual(got[i], want) {
			t.Errorf("row %d:\ngot  %+v\nwant %+v", i, got[i], want)
		}
	}
	if _, err := CreateMethods(path, false); err == nil {
		t.Error("an existing methods report was replaced without --force")
	}
}

// TestResumeMethods: a resumed run sends again a row whose methods were not listed to the end
// or not all removed for a reason that may pass, and not one whose removal Graph refused for
// good; it carries the removed methods' rows.
func TestResumeMethods(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r.csv")
	j, err := Create(path, false)
	if err != nil {
		t.Fatal(err)
	}
	rows := []batch.Result{
		{Line: 2, Input: "a@contoso.com", Status: batch.StatusRevoked, At: t0, MethodsRemoved: ptr(1)},
		{Line: 3, Input: "b@contoso.com", Status: batch.StatusRevoked, At: t0, MethodsError: "cannot list authentication methods: HTTP 503"},
		{Line: 4, Input: "c@contoso.com", Status: batch.StatusRevoked, At: t0, MethodsRemoved: ptr(0), MethodsError: "1 not removed"},
		{Line: 5, Input: "d@contoso.com", Status: batch.StatusRevoked, At: t0, MethodsRemoved: ptr(0), MethodsError: "1 not removed"},
		{Line: 6, Input: "e@contoso.com", Status: batch.StatusRevoked, At: t0, MethodsRemoved: ptr(2), MethodsError: "1 not removed"},
		{Line: 7, Input: "f@contoso.com", Status: batch.StatusRevoked, At: t0, MethodsRemoved: ptr(1)},
		{Line: 8, Input: "g@contoso.com", Status: batch.StatusRevoked, At: t0, MethodsRemoved: ptr(1)},
	}
	if err := j.Write(rows...); err != nil {
		t.Fatal(err)
	}
	j.Close()
	mj, _ := CreateMethods(MethodsPath(path), false)
	mj.WriteMethods(append(testMethods,
		batch.MethodResult{Line: 6, Type: "fido2", ID: "x1", Outcome: batch.MethodRemoved, HTTP: 204},
		batch.MethodResult{Line: 6, Type: "fido2", ID: "x2", Outcome: batch.MethodRemoved, HTTP: 204},
		batch.MethodResult{Line: 6, Type: "fido2", ID: "x3", Outcome: batch.MethodFailed, HTTP: 503, Code: "ServiceNotAvailable"},
		// Line 7's removal settled; line 8's was sent and the process died before the answer.
		batch.MethodResult{Line: 7, Type: "fido2", ID: "y1", Outcome: batch.MethodRemoving},
		batch.MethodResult{Line: 7, Type: "fido2", ID: "y1", Outcome: batch.MethodRemoved, HTTP: 204},
		batch.MethodResult{Line: 8, Type: "fido2", ID: "z1", Outcome: batch.MethodRemoving},
		batch.MethodResult{Line: 8, Type: "fido2", ID: "z1", Outcome: batch.MethodRemoving})...)
	mj.Close()
	prev, err := OpenPrevious(path)
	if err != nil {
		t.Fatal(err)
	}
	for line, want := range map[int]bool{2: true, 3: false, 4: true, 5: false, 6: false, 7: true, 8: false} {
		if got := prev.Done(line, false); got != want {
			t.Errorf("line %d: done %v, want %v", line, got, want)
		}
	}
	if got := prev.MethodsRemoving(8); len(got) != 1 || got[0].ID != "z1" || len(prev.MethodsRemoving(7)) != 0 {
		t.Errorf("removals never answered: line 8 %+v, line 7 %+v", got, prev.MethodsRemoving(7))
	}
	if got := prev.MethodsRemoved(6); len(got) != 2 || got[0].ID != "x1" || got[1].ID != "x2" {
		t.Errorf("removed rows of line 6: %+v", got)
	}
}
