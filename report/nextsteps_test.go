package report

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bulkrevoke/bulkrevoke/batch"
)

// TestNextSteps: one step per class that needs action, naming the five lowest lines' users (or
// the lines, for invalid rows) and how many more; denied rows are told apart by their fix.
func TestNextSteps(t *testing.T) {
	s := NewSummary(time.Time{})
	s.SetFix(func(r batch.Result) string { return Fix(Access{Plan: batch.Plan{Revoke: true}}, r) })
	for line := 20; line >= 2; line-- { // arriving out of order, as rows do
		s.Add(batch.Result{Line: line, Input: "u" + strings.Repeat("x", line) + "@contoso.com", Status: batch.StatusFailed})
	}
	s.Add(batch.Result{Line: 30, Input: "admin@contoso.com", Status: batch.StatusDenied, HTTP: 403, Code: "Authorization_RequestDenied"})
	s.Add(batch.Result{Line: 31, Input: "far@contoso.com", Status: batch.StatusDenied, Code: "sign_in"})
	s.Add(batch.Result{Line: 32, Input: "bad value", Status: batch.StatusInvalid})
	s.Add(batch.Result{Line: 33, Input: "x@contoso.com", Status: batch.StatusRevoked})
	s.Add(batch.Result{Line: 34, Input: "gone@contoso.com", Status: batch.StatusNotFound, TenantID: "t1"})

	steps := s.NextSteps(PrintInfo{RetryPath: "r.retry.csv", RetryCommand: "bulkrevoke revoke --input r.retry.csv"})
	var got []string
	for _, ns := range steps {
		got = append(got, ns.Status)
	}
	if want := []string{"denied", "denied", "not_found", "invalid", "failed"}; !slices.Equal(got, want) {
		t.Fatalf("steps %v, want %v", got, want)
	}
	failed := steps[4]
	if failed.Count != 19 || !slices.Equal(failed.Lines, []int{2, 3, 4, 5, 6}) || failed.Users[0] != "uxx@contoso.com" ||
		!strings.Contains(failed.Fix, "run them again from r.retry.csv") {
		t.Errorf("failed step %+v", failed)
	}
	if !strings.Contains(steps[2].Fix, "in tenant t1") {
		t.Errorf("not_found fix %q does not name the tenant", steps[2].Fix)
	}
	var b strings.Builder
	if err := s.Print(&b, PrintInfo{RetryPath: "r.retry.csv", RetryCommand: "bulkrevoke revoke --input r.retry.csv"}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Next steps:\n",
		"  denied 1 (admin@contoso.com): Graph refuses this for an admin the app may not touch: give the app's service principal the Privileged Authentication Administrator",
		"  denied 1 (far@contoso.com): the run has no sign-in for this row's tenant",
		"  invalid 1 (line 32): ",
		"  failed 19 (uxx@contoso.com, uxxx@contoso.com, uxxxx@contoso.com, uxxxxx@contoso.com, uxxxxxx@contoso.com and 14 more): ",
		"To run the failed and not attempted rows again, run:\n  bulkrevoke revoke --input r.retry.csv\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
}

// TestFix: a denied row's fix follows the step Graph refused (from the plan and what the row
// learned) and Graph's code, as the README's permissions table has them; a block not made, its
// block_error.
func TestFix(t *testing.T) {
	denied := batch.Result{Status: batch.StatusDenied, HTTP: 403, Code: "Authorization_RequestDenied"}
	looked := denied
	looked.DisplayName, looked.AccountEnabled = "Admin", ptr(true)
	for _, tc := range []struct {
		name   string
		access Access
		row    batch.Result
		want   string
	}{
		{"revoke of an admin", Access{Plan: batch.Plan{Revoke: true}}, denied, "Privileged Authentication Administrator"},
		{"revoke, delegated", Access{Plan: batch.Plan{Revoke: true}, Delegated: true}, denied, "Helpdesk, User, Password"},
		{"block run: the lookup refused", Access{Plan: batch.Plan{Lookup: true, Block: true, Revoke: true}}, denied, "User.Read.All"},
		{"block run: the revoke refused", Access{Plan: batch.Plan{Lookup: true, Block: true, Revoke: true}}, looked, "Privileged Authentication Administrator"},
		{"dry run", Access{Plan: batch.Plan{Lookup: true, Revoke: true, DryRun: true}}, looked, "User.Read.All"},
		{"rollback", Access{Plan: batch.Plan{Enable: true}}, denied, "User.EnableDisableAccount.All"},
		{"another code", Access{Plan: batch.Plan{Revoke: true}}, batch.Result{Status: batch.StatusDenied, HTTP: 403, Code: "Forbidden"}, "(Graph's code: Forbidden)"},
		{"no sign-in", Access{Plan: batch.Plan{Revoke: true}}, batch.Result{Status: batch.StatusDenied, Code: "sign_in"}, "admin consent"},
		{"lane dropped", Access{Plan: batch.Plan{Revoke: true}}, batch.Result{Status: batch.StatusDenied, Code: "lane_dropped"}, "consent or credential"},
		{"block refused", Access{Plan: batch.Plan{Lookup: true, Block: true, Revoke: true}}, batch.Result{Status: batch.StatusRevoked,
			Blocked: ptr(false), PriorAccountEnabled: ptr(true), BlockHTTP: 403, BlockError: "not allowed (HTTP 403 Authorization_RequestDenied): blocking an admin needs ..."},
			"User.EnableDisableAccount.All; for an admin, the app's service principal also needs the Privileged Authentication Administrator"},
		{"block of a synced user", Access{Plan: batch.Plan{Lookup: true, Block: true, Revoke: true}}, batch.Result{Status: batch.StatusRevoked,
			Blocked: ptr(false), PriorAccountEnabled: ptr(true), Synced: true, BlockError: "synced from on-premises AD: Graph cannot block it"}, "disable the accounts in AD"},
		{"block failed", Access{Plan: batch.Plan{Lookup: true, Block: true, Revoke: true}}, batch.Result{Status: batch.StatusRevoked,
			Blocked: ptr(false), PriorAccountEnabled: ptr(true), BlockHTTP: 500, BlockError: "HTTP 500: giving up"}, "--resume"},
		// The decision is the row's values, never its words: Graph's message may say anything.
		{"block failed, words of another class", Access{Plan: batch.Plan{Lookup: true, Block: true, Revoke: true}}, batch.Result{Status: batch.StatusRevoked,
			Blocked: ptr(false), PriorAccountEnabled: ptr(true), BlockHTTP: 500, BlockError: "HTTP 500: on-premises HTTP 403 complexity"}, "--resume"},
		{"reset refused", Access{Plan: batch.Plan{Lookup: true, Reset: true, Revoke: true}}, batch.Result{Status: batch.StatusRevoked,
			Reset: ptr(false), ResetHTTP: 403, ResetError: "not allowed"}, "User-PasswordProfile.ReadWrite.All"},
		{"reset of a synced user", Access{Plan: batch.Plan{Lookup: true, Reset: true, Revoke: true}}, batch.Result{Status: batch.StatusRevoked,
			Reset: ptr(false), Synced: true, ResetError: "synced"}, "reset them in AD, twice"},
		{"reset the policy refused", Access{Plan: batch.Plan{Lookup: true, Reset: true, Revoke: true}}, batch.Result{Status: batch.StatusRevoked,
			Reset: ptr(false), ResetHTTP: 400, ResetError: "HTTP 400"}, "password policy"},
		{"reset failed, words of another class", Access{Plan: batch.Plan{Lookup: true, Reset: true, Revoke: true}}, batch.Result{Status: batch.StatusRevoked,
			Reset: ptr(false), ResetHTTP: 503, ResetError: "on-premises HTTP 403 complexity"}, "--resume"},
		{"confirmation refused by the tenant", Access{Plan: batch.Plan{Lookup: true, Confirm: true, Revoke: true}}, batch.Result{Status: batch.StatusRevoked,
			RiskConfirmed: ptr(false), RiskHTTP: 403, RiskError: "not confirmed"}, "Entra ID P2 in the tenant and the application permission IdentityRiskyUser.ReadWrite.All"},
		{"confirmation refused for those users", Access{Plan: batch.Plan{Lookup: true, Confirm: true, Revoke: true}}, batch.Result{Status: batch.StatusRevoked,
			RiskConfirmed: ptr(false), RiskHTTP: 400, RiskError: "not confirmed"}, "confirm these users in the Entra portal"},
		{"confirmation failed, words of another class", Access{Plan: batch.Plan{Lookup: true, Confirm: true, Revoke: true}}, batch.Result{Status: batch.StatusRevoked,
			RiskConfirmed: ptr(false), RiskError: "not confirmed: giving up after 8 failed attempt(s): HTTP 403 Entra ID P2"}, "--resume"},
	} {
		if got := Fix(tc.access, tc.row); !strings.Contains(got, tc.want) {
			t.Errorf("%s: %q, want it to say %q", tc.name, got, tc.want)
		}
	}
}

// TestWriteRetry: the failed and not attempted rows of a report, as a list the reader takes, in
// report order; a tenant column when asked; nothing at all when there is nothing to retry; an
// existing file refused unless forced.
func TestWriteRetry(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, rows ...batch.Result) string {
		p := filepath.Join(dir, name)
		j, err := Create(p, false)
		if err != nil {
			t.Fatal(err)
		}
		if err := j.Write(rows...); err != nil {
			t.Fatal(err)
		}
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const (
		id   = "aaaaaaaa-0000-4000-8000-000000000001"
		tidA = "a0a0a0a0-0000-4000-8000-00000000000a"
		tidB = "b0b0b0b0-0000-4000-8000-00000000000b"
	)
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	rep := write("r.csv",
		batch.Result{Line: 2, Input: "done@contoso.com", Status: batch.StatusRevoked, At: at, TenantID: tidA},
		batch.Result{Line: 3, Input: "-dash@contoso.com", Status: batch.StatusFailed, At: at, TenantID: tidA},
		batch.Result{Line: 4, Input: id, UserID: id, Status: batch.StatusNotAttempted, Code: "no_answer", At: at, TenantID: tidB},
		batch.Result{Line: 5, Input: "gone@contoso.com", Status: batch.StatusNotFound, At: at, TenantID: tidA},
		batch.Result{Line: 6, Input: "admin@contoso.com", Status: batch.StatusDenied, At: at, TenantID: tidA},
	)
	out := RetryPath(rep)
	if want := filepath.Join(dir, "r.retry.csv"); out != want {
		t.Fatalf("RetryPath = %s, want %s", out, want)
	}
	n, err := WriteRetry(rep, out, false, true, func(r batch.Result) string {
		return map[string]string{tidA: "a.example"}[r.TenantID]
	})
	if err != nil || n != 2 {
		t.Fatalf("WriteRetry = %d, %v; want 2 rows", n, err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	// The cell as the list had it, unescaped (the report prefixes "-" against formulas).
	if want := "userPrincipalName,tenant\n-dash@contoso.com,a.example\n" + id + "," + tidB + "\n"; string(data) != want {
		t.Errorf("retry list:\n%s\nwant:\n%s", data, want)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("retry list mode: %v %v", fi.Mode(), err)
	}
	r, err := batch.NewReader(strings.NewReader(string(data)), batch.ReaderOptions{Name: "retry"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []batch.Kind{batch.KindUPN, batch.KindObjectID} {
		row, err := r.Next()
		if err != nil || row.Kind != want || row.Tenant == "" {
			t.Errorf("read back: %+v %v; want a %s with its tenant", row, err, want)
		}
	}

	if _, err := WriteRetry(rep, out, false, false, nil); !errors.Is(err, fs.ErrExist) {
		t.Errorf("an existing retry list: %v, want it refused", err)
	}
	if n, err := WriteRetry(rep, out, true, false, nil); err != nil || n != 2 {
		t.Errorf("forced: %d, %v", n, err)
	}
	if data, _ := os.ReadFile(out); !strings.HasPrefix(string(data), "userPrincipalName\n") {
		t.Errorf("without tenants:\n%s", data)
	}

	ids := write("ids.csv", batch.Result{Line: 2, Input: id, UserID: id, Status: batch.StatusFailed, At: at})
	if _, err := WriteRetry(ids, RetryPath(ids), false, false, nil); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(RetryPath(ids)); string(data) != "id\n"+id+"\n" {
		t.Errorf("object ids only:\n%s", data)
	}

	none := write("none.csv", batch.Result{Line: 2, Input: "done@contoso.com", Status: batch.StatusRevoked, At: at})
	old := RetryPath(none)
	if err := os.WriteFile(old, []byte("userPrincipalName\nold@contoso.com\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if n, err := WriteRetry(none, old, true, false, nil); n != 0 || err != nil {
		t.Errorf("nothing to retry: %d, %v", n, err)
	}
	if data, _ := os.ReadFile(old); string(data) != "userPrincipalName\nold@contoso.com\n" {
		t.Errorf("a run with nothing to retry touched the list already there: %q", data)
	}
}

// TestMethodsFix decides on the row's values, never its words.
func TestMethodsFix(t *testing.T) {
	for _, tc := range []struct {
		name string
		row  batch.Result
		want string
	}{
		{"listing refused", batch.Result{Status: batch.StatusRevoked, MethodsListHTTP: 403, MethodsError: "cannot list"}, "UserAuthenticationMethod.ReadWrite.All"},
		{"listing failed", batch.Result{Status: batch.StatusRevoked, MethodsListHTTP: 503, MethodsError: "UserAuthenticationMethod"}, "would not list"},
		{"removals left", batch.Result{Status: batch.StatusRevoked, MethodsRemoved: ptr(2), MethodsError: "cannot list UserAuthenticationMethod"},
			"default method must be changed first"},
	} {
		if got := MethodsFix(tc.row); !strings.Contains(got, tc.want) {
			t.Errorf("%s: %q, want it to say %q", tc.name, got, tc.want)
		}
	}
}
