package report

import (
	"bytes"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulkrevoke/bulkrevoke/batch"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func ptr[T any](v T) *T { return &v }

func iptr(n int) *int { return &n }

var t0 = time.Date(2026, 11, 28, 15, 4, 5, 123456789, time.UTC)

// goldenResults covers every status and every kind of hostile cell.
var goldenResults = []batch.Result{
	{Line: 2, Input: "adele@contoso.com", UserID: "0a1b2c3d-0000-4000-8000-000000000001", UPN: "adele@contoso.com",
		Status: batch.StatusRevoked, HTTP: 200, Attempts: 1, RequestID: "req-1", ClientRequestID: "creq-1", At: t0,
		DisplayName: "Adele Vance", AccountEnabled: ptr(true), UserType: "Member",
		SessionsValidFrom: t0.Add(time.Second), Verified: ptr(true)},
	{Line: 3, Input: "guest_fabrikam.com#EXT#@contoso.onmicrosoft.com", UserID: "0a1b2c3d-0000-4000-8000-000000000002",
		UPN: "guest_fabrikam.com#EXT#@contoso.onmicrosoft.com", Status: batch.StatusRevoked, HTTP: 200, Attempts: 2,
		RequestID: "req-2", ClientRequestID: "creq-2", At: t0, DisplayName: "Guest, External", AccountEnabled: ptr(false),
		UserType: "Guest", Note: "guest user: sessions in the home tenant are not revoked", Verified: ptr(false)},
	{Line: 4, Input: "megan@contoso.com", Status: batch.StatusWouldRevoke, At: t0},
	{Line: 5, Input: "nobody@contoso.com", Status: batch.StatusNotFound, HTTP: 404, Code: "Request_ResourceNotFound",
		Message:  "Resource 'nobody@contoso.com' does not exist or one of its queried reference-property objects are not present.",
		Attempts: 1, RequestID: "req-5", ClientRequestID: "creq-5", At: t0},
	{Line: 6, Input: `=HYPERLINK("http://x","y")`, Status: batch.StatusInvalid, Message: "not a user principal name or object id", At: t0},
	{Line: 7, Input: "+1-555-0100", Status: batch.StatusInvalid, Message: "not a user principal name or object id", At: t0},
	{Line: 8, Input: "-2+3", Status: batch.StatusInvalid, Message: "not a user principal name or object id", At: t0},
	{Line: 9, Input: "@SUM(A1:A9)", Status: batch.StatusInvalid, Message: "not a user principal name or object id", At: t0},
	{Line: 10, Input: "'quoted", Status: batch.StatusInvalid, Message: "not a user principal name or object id", At: t0},
	{Line: 11, Input: "adele@contoso.com", Status: batch.StatusDuplicate, Note: "same user as line 2", At: t0},
	{Line: 12, Input: "admin@contoso.com", Status: batch.StatusDenied, HTTP: 403, Code: "Authorization_RequestDenied",
		Message: "Insufficient privileges to complete the operation.", Attempts: 1, RequestID: "req-12", At: t0},
	{Line: 13, Input: "flaky@contoso.com", Status: batch.StatusFailed, HTTP: 503, Code: "serviceUnavailable",
		Message: "upstream said \"no\", then\r\nclosed the connection", Attempts: 5, At: t0},
	{Line: 14, Input: "later@contoso.com", Status: batch.StatusNotAttempted, Note: "interrupted"},
	{Line: 15, Input: "breakglass@contoso.com", Status: batch.StatusExcluded, Note: "in the exclude list"},
}

const (
	tenantA = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	tenantB = "fabrikam.onmicrosoft.com"
)

// containedResults covers the containment and tenant columns and the statuses of blocking and
// rollback runs.
var containedResults = []batch.Result{
	{Line: 16, Input: "alex@contoso.com", UserID: "0a1b2c3d-0000-4000-8000-000000000016", UPN: "alex@contoso.com",
		Status: batch.StatusRevoked, HTTP: 204, Attempts: 3, RequestID: "req-16", At: t0, AccountEnabled: ptr(true),
		PriorAccountEnabled: ptr(true), Blocked: ptr(true), Devices: iptr(2), DevicesDisabled: iptr(1), TenantID: tenantA},
	{Line: 17, Input: "synced@contoso.com", Status: batch.StatusRevoked, HTTP: 204, Attempts: 1, At: t0,
		PriorAccountEnabled: ptr(true), Blocked: ptr(false), Synced: true,
		BlockError: "synced from on-premises AD: Graph cannot block it; disable the account in AD (sessions were still revoked)",
		Devices:    iptr(0), DevicesDisabled: iptr(0), TenantID: tenantA},
	{Line: 18, Input: "off@fabrikam.com", Status: batch.StatusRevoked, HTTP: 204, Attempts: 1, At: t0, AccountEnabled: ptr(false),
		PriorAccountEnabled: ptr(false), Blocked: ptr(false), BlockError: "already disabled before this run: not changed",
		Devices: iptr(3), TenantID: tenantB},
	{Line: 19, Input: "dry@contoso.com", Status: batch.StatusWouldBlock, HTTP: 200, Attempts: 1, At: t0, AccountEnabled: ptr(true),
		PriorAccountEnabled: ptr(true), TenantID: tenantA},
	{Line: 20, Input: "back@contoso.com", Status: batch.StatusEnabled, HTTP: 204, Attempts: 1, At: t0,
		Devices: iptr(1), DevicesDisabled: iptr(1), TenantID: tenantA},
	{Line: 21, Input: "same@contoso.com", Status: batch.StatusUnchanged, At: t0,
		Note: "sign-in was not changed by the run being undone", TenantID: tenantA},
	{Line: 22, Input: "evil@contoso.com", Status: batch.StatusFailed, HTTP: 400, At: t0, Blocked: ptr(false),
		BlockError: "=cmd|' /C calc'!A0", TenantID: "-evil"},
	{Line: 23, Input: "admin@contoso.com", Status: batch.StatusRevoked, HTTP: 200, Attempts: 1, At: t0,
		Reset: ptr(false), ResetHTTP: 403, ResetError: "not allowed (HTTP 403 Authorization_RequestDenied Insufficient privileges to complete the operation.)",
		TenantID: tenantA},
	{Line: 24, Input: "reset@contoso.com", Status: batch.StatusRevoked, HTTP: 200, Attempts: 1, At: t0, Reset: ptr(true), TenantID: tenantA},
	{Line: 25, Input: "methods@contoso.com", Status: batch.StatusRevoked, HTTP: 200, Attempts: 4, At: t0, TenantID: tenantA,
		MethodsRemoved: ptr(3), MethodsError: "1 authentication method(s) not removed (see the methods report)"},
	{Line: 26, Input: "nolist@contoso.com", Status: batch.StatusRevoked, HTTP: 200, Attempts: 2, At: t0, TenantID: tenantA,
		MethodsError: "=cannot list authentication methods: HTTP 403"},
	{Line: 27, Input: "risky@contoso.com", Status: batch.StatusRevoked, HTTP: 200, Attempts: 1, At: t0, RiskConfirmed: ptr(true), TenantID: tenantA},
	{Line: 28, Input: "nop2@fabrikam.com", Status: batch.StatusRevoked, HTTP: 200, Attempts: 1, At: t0, RiskConfirmed: ptr(false),
		RiskError: "not confirmed: the tenant refused confirmCompromised (HTTP 403 Forbidden): it needs Entra ID P2", TenantID: tenantA},
}

func TestGolden(t *testing.T) {
	var buf bytes.Buffer
	j := NewJournal(&buf)
	if err := j.Write(append(slices.Clone(goldenResults), containedResults...)...); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.golden", buf.Bytes())
}

// created creates a journal named name in a fresh directory and fails unless it names its path
// and only its owner can read it: reports name users, their devices and Graph's errors for them.
func created[J interface{ Path() string }](t *testing.T, name string, create func(string, bool) (J, error)) (J, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	j, err := create(path, false)
	if err != nil {
		t.Fatal(err)
	}
	if j.Path() != path {
		t.Errorf("Path() = %q, want %q", j.Path(), path)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", st.Mode().Perm())
	}
	return j, path
}

// checkRefuses: without force, create leaves a file that is there as it was and fails with
// fs.ErrExist, saying what it was creating (want), since that file may be the only record of a
// run.
func checkRefuses[J any](t *testing.T, path, want string, create func(string, bool) (J, error)) {
	t.Helper()
	before, _ := os.ReadFile(path)
	if _, err := create(path, false); !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), want) {
		t.Errorf("creating %s again without force: err = %v, want fs.ErrExist saying %q", path, err, want)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("a refused create changed the existing file")
	}
}

// writeConcurrently has writers goroutines call write(w, i) for i below each, the way the
// engine's workers share a journal, and flush after every flushEvery-th write when flushEvery is
// above 0; it is there for -race.
func writeConcurrently(t *testing.T, writers, each, flushEvery int, write func(w, i int) error, flush func() error) {
	t.Helper()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if err := write(w, i); err != nil {
					t.Error(err)
					return
				}
				if flushEvery > 0 && i%flushEvery == 0 {
					if err := flush(); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

// readErr fails t unless a read failed with an error holding want, or succeeded where want is
// empty; it says whether there are results to check, which only a successful read has.
func readErr(t *testing.T, err error, want string) bool {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatal(err)
		}
		return true
	}
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want %q", err, want)
	}
	return false
}

// tornEverywhere cuts a file written by a journal after every byte, with LF and CRLF line ends:
// every cut reads without error and yields as many rows as it has complete lines after the
// header.
func tornEverywhere[T any](t *testing.T, full string, read func(io.Reader) ([]T, error)) {
	t.Helper()
	for _, text := range []string{full, strings.ReplaceAll(full, "\n", "\r\n")} {
		for n := 0; n <= len(text); n++ {
			rows, err := read(strings.NewReader(text[:n]))
			if err != nil {
				t.Fatalf("cut at byte %d: %v", n, err)
			}
			if want := max(0, strings.Count(text[:n], "\n")-1); len(rows) != want {
				t.Fatalf("cut at byte %d: %d rows, want %d", n, len(rows), want)
			}
		}
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run go test -update if the change is intended)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// TestFormatRules checks the format contract on the golden output itself, so that a wrong
// golden file cannot be blessed by -update unnoticed.
func TestFormatRules(t *testing.T) {
	var buf bytes.Buffer
	j := NewJournal(&buf)
	all := append(slices.Clone(goldenResults), containedResults...)
	if err := j.Write(all...); err != nil {
		t.Fatal(err)
	}
	if err := j.Flush(); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.Contains(out, "\r") || strings.HasPrefix(out, "\uFEFF") {
		t.Errorf("output has a CR or a BOM")
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if got, want := len(lines), 1+len(all); got != want {
		t.Fatalf("got %d lines, want %d: one per row, no line break inside a cell", got, want)
	}
	if got, want := lines[0], strings.Join(Header, ","); got != want {
		t.Errorf("header:\ngot  %s\nwant %s", got, want)
	}
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for i, rec := range recs[1:] {
		for c, cell := range rec {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) && c != 11 && c != 16 {
				t.Errorf("row %d column %s = %q: starts with a formula character", i+1, Header[c], cell)
			}
		}
	}
	wantCells := map[string]string{ // line -> input cell as written
		"6":  `'=HYPERLINK("http://x","y")`,
		"7":  "'+1-555-0100",
		"8":  "'-2+3",
		"9":  "'@SUM(A1:A9)",
		"10": "''quoted",
		"2":  "adele@contoso.com",
	}
	for _, rec := range recs[1:] {
		if want, ok := wantCells[rec[0]]; ok && rec[1] != want {
			t.Errorf("line %s input cell = %q, want %q", rec[0], rec[1], want)
		}
		if rec[0] == "2" {
			if got, want := rec[11], "2026-11-28T15:04:05.123Z"; got != want {
				t.Errorf("completed_at = %q, want %q", got, want)
			}
			if rec[5] != "200" || rec[8] != "1" || rec[13] != "true" || rec[17] != "true" {
				t.Errorf("line 2 numbers/bools = %q %q %q %q", rec[5], rec[8], rec[13], rec[17])
			}
		}
		if rec[0] == "14" && (rec[5] != "" || rec[8] != "" || rec[11] != "" || rec[13] != "" || rec[16] != "" || rec[17] != "") {
			t.Errorf("line 14: zero values must be empty cells, got %q", rec)
		}
		if rec[0] == "13" {
			if got, want := rec[7], `upstream said "no", then  closed the connection`; got != want {
				t.Errorf("message cell = %q, want %q", got, want)
			}
		}
		if rec[0] == "14" && strings.Join(rec[18:], ",") != strings.Repeat(",", len(Header)-19) {
			t.Errorf("line 14: containment cells of a run without containment must be empty, got %q", rec[18:])
		}
	}
	// The containment columns by name, so a reordering of Header cannot slip through.
	col := func(rec []string, name string) string { return rec[slices.Index(Header, name)] }
	wantContained := map[string][6]string{ // line -> prior, blocked, block_error, devices, disabled, tenant
		"16": {"true", "true", "", "2", "1", tenantA},
		"17": {"true", "false", containedResults[1].BlockError, "0", "0", tenantA}, // a count of 0 is written
		"18": {"false", "false", "already disabled before this run: not changed", "3", "", tenantB},
		"21": {"", "", "", "", "", tenantA},
		"22": {"", "false", "'=cmd|' /C calc'!A0", "", "", "'-evil"},
	}
	for _, rec := range recs[1:] {
		want, ok := wantContained[rec[0]]
		if !ok {
			continue
		}
		got := [6]string{col(rec, "prior_account_enabled"), col(rec, "blocked"), col(rec, "block_error"),
			col(rec, "devices"), col(rec, "devices_disabled"), col(rec, "tenant_id")}
		if got != want {
			t.Errorf("line %s containment cells = %q, want %q", rec[0], got, want)
		}
	}
}

// TestHeaderAppendOnly: admins script against the column order, so the first release's columns
// keep their places and new ones come after them.
func TestHeaderAppendOnly(t *testing.T) {
	first := "line,input,user_id,user_principal_name,status,http_status,error_code,error_message,attempts," +
		"request_id,client_request_id,completed_at,display_name,account_enabled,user_type,note,sessions_valid_from,verified"
	if got := strings.Join(Header[:legacyColumns], ","); got != first {
		t.Errorf("the first %d columns changed:\ngot  %s\nwant %s", legacyColumns, got, first)
	}
	if got, want := strings.Join(Header[legacyColumns:], ","),
		"prior_account_enabled,blocked,block_error,devices,devices_disabled,tenant_id,password_reset,password_reset_error,methods_removed,methods_error,risk_confirmed,risk_confirmed_error,"+
			"on_premises_synced,block_http_status,password_reset_http_status,risk_http_status"; got != want {
		t.Errorf("columns after the first release's = %s, want %s", got, want)
	}
}

// canonical is what a Result reads back as: times in UTC at millisecond precision, text cells
// in valid UTF-8 with every CR and LF turned into a space.
func canonical(r batch.Result) batch.Result {
	for _, s := range []*string{&r.Input, &r.UserID, &r.UPN, &r.Code, &r.Message, &r.RequestID,
		&r.ClientRequestID, &r.DisplayName, &r.UserType, &r.Note, &r.BlockError, &r.TenantID, &r.ResetError, &r.MethodsError, &r.RiskError} {
		*s = flat(*s)
	}
	r.DupStatus = ""       // not a column: a duplicate's note names the status it repeats
	r.WouldReset = false   // not a column: the dry run's note says it
	r.WouldConfirm = false // not a column: the dry run's note says it
	r.MethodsListHTTP = 0  // not a column: methods_error says it; a resumed run lists again
	for _, tm := range []*time.Time{&r.At, &r.SessionsValidFrom} {
		if !tm.IsZero() {
			*tm = tm.UTC().Truncate(time.Millisecond)
		}
	}
	return r
}

// flat is what a text cell reads back as.
func flat(s string) string {
	return strings.Map(func(c rune) rune {
		if c == '\r' || c == '\n' {
			return ' '
		}
		return c
	}, strings.ToValidUTF8(s, "\uFFFD"))
}

func roundTrip(t *testing.T, r batch.Result) batch.Result {
	t.Helper()
	var buf bytes.Buffer
	j := NewJournal(&buf)
	if err := j.Write(r); err != nil {
		t.Fatal(err)
	}
	if err := j.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(buf.String(), "\n"); n != 2 {
		t.Fatalf("wrote %d lines, want 2:\n%s", n, buf.String())
	}
	rows, err := ReadReport(&buf)
	if err != nil {
		t.Fatalf("read back: %v\n%s", err, buf.String())
	}
	if len(rows) != 1 {
		t.Fatalf("read back %d rows, want 1", len(rows))
	}
	return rows[r.Line]
}

func TestRoundTrip(t *testing.T) {
	paris := time.FixedZone("CET", 3600)
	tests := []struct {
		name string
		in   batch.Result
		want batch.Result // zero: same as in
	}{
		{name: "minimal", in: batch.Result{Line: 1, Status: batch.StatusNotAttempted}},
		{name: "full", in: goldenResults[0], want: func() batch.Result {
			r := goldenResults[0]
			r.At = time.Date(2026, 11, 28, 15, 4, 5, 123000000, time.UTC)
			r.SessionsValidFrom = r.At.Add(time.Second)
			return r
		}()},
		{name: "every formula start", in: batch.Result{Line: 2, Status: batch.StatusInvalid,
			Input: "=1", UserID: "+1", UPN: "-1", Code: "@1", Message: "\tx", RequestID: "'x", ClientRequestID: "''",
			DisplayName: "'", UserType: "=", Note: "@"}},
		{name: "quotes and commas", in: batch.Result{Line: 3, Status: batch.StatusFailed,
			Message: `a, "b", c`, Input: ` leading space`, Note: `\.`}},
		{name: "negative numbers", in: batch.Result{Line: 4, Status: batch.StatusFailed, HTTP: -1, Attempts: -2}},
		{name: "time zone and sub-ms", in: batch.Result{Line: 5, Status: batch.StatusRevoked,
			At: time.Date(2026, 1, 2, 3, 4, 5, 999999999, paris), SessionsValidFrom: time.Unix(0, 1)},
			want: batch.Result{Line: 5, Status: batch.StatusRevoked,
				At: time.Date(2026, 1, 2, 2, 4, 5, 999000000, time.UTC), SessionsValidFrom: time.Unix(0, 0).UTC()}},
		{name: "line breaks flattened", in: batch.Result{Line: 6, Status: batch.StatusFailed,
			Message: "a\r\nb\nc\rd", Input: "\nx"},
			want: batch.Result{Line: 6, Status: batch.StatusFailed, Message: "a  b c d", Input: " x"}},
		{name: "bad utf-8 replaced", in: batch.Result{Line: 7, Status: batch.StatusInvalid, Input: "a\xffb"},
			want: batch.Result{Line: 7, Status: batch.StatusInvalid, Input: "a\uFFFDb"}},
		{name: "false bools", in: batch.Result{Line: 8, Status: batch.StatusRevoked, AccountEnabled: ptr(false), Verified: ptr(false)}},
		{name: "containment", in: containedResults[0], want: canonical(containedResults[0])},
		{name: "zero counts", in: batch.Result{Line: 9, Status: batch.StatusRevoked, Devices: iptr(0), DevicesDisabled: iptr(0),
			PriorAccountEnabled: ptr(false), Blocked: ptr(false)}},
		{name: "negative counts", in: batch.Result{Line: 10, Status: batch.StatusEnabled, Devices: iptr(-1), DevicesDisabled: iptr(-2)}},
		{name: "hostile block error and tenant", in: batch.Result{Line: 11, Status: batch.StatusFailed, BlockError: "@x\ny",
			TenantID: "+t"},
			want: batch.Result{Line: 11, Status: batch.StatusFailed, BlockError: "@x y", TenantID: "+t"}},
		{name: "password reset", in: batch.Result{Line: 13, Status: batch.StatusRevoked, Reset: ptr(false),
			ResetError: "=not allowed\n(HTTP 403)"},
			want: batch.Result{Line: 13, Status: batch.StatusRevoked, Reset: ptr(false), ResetError: "=not allowed (HTTP 403)"}},
		{name: "methods", in: batch.Result{Line: 14, Status: batch.StatusRevoked, MethodsRemoved: ptr(0),
			MethodsError: "+2 not\nremoved"},
			want: batch.Result{Line: 14, Status: batch.StatusRevoked, MethodsRemoved: ptr(0), MethodsError: "+2 not removed"}},
		{name: "risk confirmation", in: batch.Result{Line: 14, Status: batch.StatusRevoked, RiskConfirmed: ptr(false),
			RiskError: "+not confirmed\r\n(HTTP 403)"},
			want: batch.Result{Line: 14, Status: batch.StatusRevoked, RiskConfirmed: ptr(false), RiskError: "+not confirmed  (HTTP 403)"}},
		{name: "duplicate status is not a column", in: batch.Result{Line: 12, Status: batch.StatusDuplicate, DupStatus: batch.StatusRevoked,
			Note: "revoked at line 2"},
			want: batch.Result{Line: 12, Status: batch.StatusDuplicate, Note: "revoked at line 2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.want
			if reflect.DeepEqual(want, batch.Result{}) {
				want = tt.in
			}
			got := roundTrip(t, tt.in)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("round trip:\ngot  %+v\nwant %+v", got, want)
			}
			if !reflect.DeepEqual(canonical(tt.in), want) {
				t.Errorf("test table disagrees with canonical(): %+v", canonical(tt.in))
			}
		})
	}
}

func FuzzRoundTrip(f *testing.F) {
	for _, r := range goldenResults {
		f.Add(r.Line, r.Input, r.UserID, r.UPN, uint8(0), r.HTTP, r.Code, r.Message, r.Attempts,
			r.RequestID, r.ClientRequestID, r.At.UnixNano(), r.DisplayName, uint8(1), r.UserType, r.Note, int64(0), uint8(2),
			uint8(0), uint8(0), "", 0, 0, uint8(0), "")
	}
	for i, r := range containedResults {
		f.Add(r.Line, r.Input, r.UserID, r.UPN, uint8(i), r.HTTP, r.Code, r.Message, r.Attempts,
			r.RequestID, r.ClientRequestID, r.At.UnixNano(), r.DisplayName, uint8(i), r.UserType, r.Note, int64(0), uint8(0),
			uint8(i+1), uint8(i+2), r.BlockError, i, i-1, uint8(i), r.TenantID)
	}
	f.Add(1, "=cmd|' /C calc'!A0", "\x00", "\"", uint8(3), 0, "\r", "a\nb", 0, "", "'", int64(-1), "\uFEFF", uint8(0), "\t", " ", int64(1), uint8(1),
		uint8(2), uint8(1), "\n=1", 0, 0, uint8(3), "@tenant")
	f.Fuzz(func(t *testing.T, line int, input, id, upn string, status uint8, httpStatus int, code, msg string,
		attempts int, reqID, creqID string, at int64, name string, enabled uint8, userType, note string,
		validFrom int64, verified uint8, prior, blocked uint8, blockErr string, devices, disabled int, counts uint8,
		tenant string) {
		if line <= 0 {
			return
		}
		tri := func(v uint8) *bool {
			switch v % 3 {
			case 1:
				return ptr(false)
			case 2:
				return ptr(true)
			}
			return nil
		}
		// Keep times inside years 1970..9999, the range RFC 3339 can spell; 0 is the zero time.
		tm := func(ns int64) time.Time {
			if ns == 0 {
				return time.Time{}
			}
			if ns < 0 {
				ns = -(ns + 1)
			}
			return time.Unix(0, ns).Add(time.Duration(ns%1000) * 24 * 365 * time.Hour)
		}
		sts := Statuses()
		r := batch.Result{Line: line, Input: input, UserID: id, UPN: upn, Status: sts[int(status)%len(sts)],
			HTTP: httpStatus, Code: code, Message: msg, Attempts: attempts, RequestID: reqID, ClientRequestID: creqID,
			At: tm(at), DisplayName: name, AccountEnabled: tri(enabled), UserType: userType, Note: note,
			SessionsValidFrom: tm(validFrom), Verified: tri(verified),
			PriorAccountEnabled: tri(prior), Blocked: tri(blocked), BlockError: blockErr, TenantID: tenant}
		// counts says which counts are known: a nil count and a count of 0 are different cells.
		if counts&1 != 0 {
			r.Devices = &devices
		}
		if counts&2 != 0 {
			r.DevicesDisabled = &disabled
		}
		got := roundTrip(t, r)
		if want := canonical(r); !reflect.DeepEqual(got, want) {
			t.Errorf("round trip:\ngot  %#v\nwant %#v", got, want)
		}

		// The same values as a device and as a change, through their own files.
		outcomes := slices.Sorted(maps.Keys(deviceOutcomes))
		d := batch.DeviceResult{Line: line, TenantID: tenant, User: input, ID: id, DeviceID: upn, DisplayName: name,
			PriorEnabled: tri(prior), Outcome: outcomes[int(status)%len(outcomes)], HTTP: httpStatus, Code: code,
			Message: msg, RequestID: reqID, At: tm(at)}
		if got, want := readOne(t, devicesText(t, d), ReadDevices), canonicalDevice(d); !reflect.DeepEqual(got, want) {
			t.Errorf("device round trip:\ngot  %#v\nwant %#v", got, want)
		}
		c := batch.Change{Line: line, TenantID: tenant, Device: status&1 != 0, ID: id, Name: name, Enable: status&2 != 0,
			PriorEnabled: tri(prior)}
		if got, want := readOne(t, changesText(t, c), ReadChanges), canonicalChange(c); !reflect.DeepEqual(got, want) {
			t.Errorf("change round trip:\ngot  %#v\nwant %#v", got, want)
		}
	})
}

// flushed is what a journal writing to buf holds once the write that returned err is flushed.
func flushed(t *testing.T, buf *bytes.Buffer, err error, flush func() error) string {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if err := flush(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// readOne reads back the one row a journal's text holds.
func readOne[T any](t *testing.T, text string, read func(io.Reader) ([]T, error)) T {
	t.Helper()
	rows, err := read(strings.NewReader(text))
	if err != nil || len(rows) != 1 {
		t.Fatalf("read back %d rows, err %v:\n%s", len(rows), err, text)
	}
	return rows[0]
}

// readFile reads the journal at path with read, as --resume and the undo do, and fails on a
// torn or foreign file.
func readFile[R any](t *testing.T, path string, read func(io.Reader) (R, error)) R {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := read(f)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func canonicalChange(c batch.Change) batch.Change {
	c.TenantID, c.ID, c.Name = flat(c.TenantID), flat(c.ID), flat(c.Name)
	return c
}

func TestWriteRejectsLineZero(t *testing.T) {
	j := NewJournal(&bytes.Buffer{})
	if err := j.Write(batch.Result{Line: 0, Input: "x"}); err == nil {
		t.Error("Write accepted a result with line 0")
	}
}

func TestCreate(t *testing.T) {
	j, path := created(t, "out.csv", Create)
	// The header is on disk before any result, so a bad path fails before revoking anyone.
	if b, _ := os.ReadFile(path); string(b) != strings.Join(Header, ",")+"\n" {
		t.Errorf("right after Create the file holds %q, want the header", b)
	}
	if err := j.Write(goldenResults[0]); err != nil {
		t.Fatal(err)
	}
	if err := j.Flush(); err != nil {
		t.Fatal(err)
	}
	// After Flush the row is in the OS: another reader sees it before Close.
	prev, err := OpenPrevious(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := prev.Revoked(2); !ok {
		t.Error("flushed row not visible in the file before Close")
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err == nil {
		t.Error("second Close succeeded")
	}
	if err := j.Write(goldenResults[1]); err == nil {
		t.Error("Write after Close succeeded")
	}

	checkRefuses(t, path, path, Create)
}

func TestCreateForce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.csv")
	if err := os.WriteFile(path, []byte("old content that must go\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil { // beat the umask
		t.Fatal(err)
	}
	j, err := Create(path, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if want := strings.Join(Header, ",") + "\n"; string(b) != want {
		t.Errorf("forced Create left %q, want only the header", b)
	}
	st, _ := os.Stat(path)
	if got := st.Mode().Perm(); got != 0o600 {
		t.Errorf("mode after forced Create = %v, want 0600", got)
	}
}

func TestCreateErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name  string
		path  string
		force bool
		want  string
	}{
		{"directory", dir, false, "is a directory"},
		{"directory forced", dir, true, "is a directory"},
		{"missing parent", filepath.Join(dir, "no", "such", "out.csv"), false, "does not exist"},
		{"device", os.DevNull, true, "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, err := Create(tt.path, tt.force)
			if err == nil {
				j.Close()
				t.Fatalf("Create(%q) succeeded", tt.path)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.path) {
				t.Errorf("err = %q, want it to name %q and say %q", err, tt.path, tt.want)
			}
		})
	}
}

// TestConcurrentWrite runs writers and flushers together; run it with -race.
func TestConcurrentWrite(t *testing.T) {
	j, path := created(t, "out.csv", Create)
	const writers, each = 8, 250
	writeConcurrently(t, writers, each, 20, func(w, i int) error {
		line := 2 + w*each + i
		return j.Write(batch.Result{Line: line, Input: fmt.Sprintf("user%d@contoso.com", line), Status: batch.StatusRevoked,
			Message: strings.Repeat("x", i), At: t0})
	}, j.Flush)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	prev, err := OpenPrevious(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := prev.Len(), writers*each; got != want {
		t.Fatalf("read back %d rows, want %d", got, want)
	}
	for line := 2; line < 2+writers*each; line++ {
		r, ok := prev.Result(line)
		if want := fmt.Sprintf("user%d@contoso.com", line); !ok || r.Input != want {
			t.Errorf("line %d: got %q (found %v), want %q", line, r.Input, ok, want)
		}
	}
}
