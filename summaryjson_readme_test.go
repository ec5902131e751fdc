package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/bulkrevoke/bulkrevoke/report"
)

// TestSummaryJSONREADME keeps the README's --summary-json section and report.Doc in step: every
// field the document has, nested ones too, is named in the README, and the README's example
// decodes into it with no field it does not have. Playbooks are written against that section.
func TestSummaryJSONREADME(t *testing.T) {
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	var names func(reflect.Type, string)
	names = func(ty reflect.Type, path string) {
		for f := range ty.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			if !strings.Contains(readme, "`"+name+"`") {
				t.Errorf("--summary-json field %s%s is not named in the README", path, name)
			}
			if f.Type.Kind() == reflect.Struct && f.Type.PkgPath() == ty.PkgPath() {
				names(f.Type, path+name+".")
			}
		}
	}
	names(reflect.TypeFor[report.Doc](), "")

	start := strings.Index(readme, "```json\n")
	end := strings.Index(readme[start+8:], "```")
	if start < 0 || end < 0 {
		t.Fatal("the README has no ```json example")
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(readme[start+8 : start+8+end])))
	dec.DisallowUnknownFields()
	var d report.Doc
	if err := dec.Decode(&d); err != nil {
		t.Errorf("the README's example is not a --summary-json document: %v", err)
	}
}

// TestSummaryJSONEviction: --summary-json counts passwords reset and users confirmed
// compromised as the report's rows say, in a dry run and in a real one, on the simulated tenant.
func TestSummaryJSONEviction(t *testing.T) {
	for _, dry := range []bool{true, false} {
		out := filepath.Join(t.TempDir(), "evict.csv")
		args := []string{"revoke", "--simulate", "--input", "testdata/demo-users.csv", "--report", out, "--yes",
			"--reset-password", "--confirm-compromised", "--summary-json", "-"}
		if dry {
			args = append(args, "--dry-run")
		}
		res := runCLI(t, nil, "", args...)
		if res.code != exitIncomplete {
			t.Fatalf("dry run %v: exit %d, want 2 (the demo list has invalid rows)\n%s", dry, res.code, res.stderr)
		}
		d := decodeDoc(t, []byte(res.stdout))
		var reset, notReset, wouldReset, confirmed, notConfirmed, wouldConfirm int
		for _, r := range readReport(t, out) {
			switch {
			case r.Reset != nil && *r.Reset:
				reset++
			case r.Reset != nil && r.Status.OK():
				notReset++
			}
			switch {
			case r.RiskConfirmed != nil && *r.RiskConfirmed:
				confirmed++
			case r.RiskConfirmed != nil:
				notConfirmed++
			}
			if strings.Contains(r.Note, "password would be reset") {
				wouldReset++
			}
			if strings.Contains(r.Note, "would confirm compromised") {
				wouldConfirm++
			}
		}
		want := report.PasswordsDoc{Reset: reset, NotReset: notReset, Would: wouldReset}
		if d.Passwords != want || (dry && wouldReset == 0) || (!dry && reset == 0) {
			t.Errorf("dry run %v: passwords %+v, the report says %+v", dry, d.Passwords, want)
		}
		wantRisk := report.RiskDoc{Confirmed: confirmed, NotConfirmed: notConfirmed, Would: wouldConfirm}
		if d.Risk != wantRisk || (dry && wouldConfirm == 0) || (!dry && confirmed == 0) {
			t.Errorf("dry run %v: risk %+v, the report says %+v", dry, d.Risk, wantRisk)
		}
	}
}
