package main

// Users from Graph (--group, --filter, --all-users), many tenants (a tenant column, repeated
// --tenant-id) and app pools (--app-pool), end to end (issues 11 and 12): the command runs
// in-process, or as a child process where it must die by SIGKILL, against graphsim served over
// loopback HTTP, or over TLS where the run signs in with a client secret through the emulator's
// token endpoint. Every test reads back the report, graphsim's journal and what the requests
// were; a handler wrapper records each $batch step and lets a test act at a given request.
//
// Unless a test is about pacing, graphsim runs with QuotaOff: its quotas at Graph's real size
// would make the 10,000-user runs take minutes of real time, and none of these tests is about
// throttling.

import (
	"bytes"
	"cmp"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulkrevoke/bulkrevoke/batch"
	"github.com/bulkrevoke/bulkrevoke/graphsim"
	"github.com/bulkrevoke/bulkrevoke/report"
)

// tenantIDs are the tenant ids of these tests; the first is each emulator's default tenant.
var tenantIDs = []string{
	"a0000000-0000-4000-8000-00000000000a",
	"b0000000-0000-4000-8000-00000000000b",
	"c0000000-0000-4000-8000-00000000000c",
	"d0000000-0000-4000-8000-00000000000d",
	"e0000000-0000-4000-8000-00000000000e",
}

// certFile writes the TLS server's certificate where a child process's TLS stack finds it
// (SSL_CERT_FILE), so that the child trusts the emulator as the in-process runs trust it
// through sys.transport. Every front has the same one (httptest's).
func certFile(t *testing.T, ss *simServer) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "graphsim-cert.pem")
	data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ss.srv.Certificate().Raw})
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// sourceArgs is a non-interactive revoke of users from Graph with the fixed test token.
func sourceArgs(url, reportPath string, extra ...string) []string {
	return append([]string{"revoke", "--auth", "token", "--graph-url", url, "--report", reportPath, "--yes"}, extra...)
}

// readList reads a resolved user list as --input would, returning its rows.
func readList(t *testing.T, path string) []batch.Row {
	t.Helper()
	rows, err := readListErr(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return rows
}

// revokedOnce asserts that each of want was revoked exactly once in tenant v and nobody
// else there at all.
func revokedOnce(t *testing.T, v *graphsim.TenantView, want map[string]bool) {
	t.Helper()
	bad := 0
	for _, u := range v.Users() {
		n, w := len(v.Revocations(u.ID)), 0
		if want[u.ID] {
			w = 1
		}
		if n != w {
			if bad++; bad <= 10 {
				t.Errorf("tenant %s: %s (%s) revoked %d times, want %d", v.ID(), u.UPN, u.ID, n, w)
			}
		}
	}
	if bad > 10 {
		t.Errorf("tenant %s: ... and %d more users revoked the wrong number of times", v.ID(), bad-10)
	}
}

func idSet(users []graphsim.User) map[string]bool {
	m := make(map[string]bool, len(users))
	for _, u := range users {
		m[u.ID] = true
	}
	return m
}

// testGUID makes a recognisable object id.
func testGUID(prefix, n int) string {
	return fmt.Sprintf("%08x-%04x-4000-8000-%012x", prefix, n>>16&0xffff, n)
}

// stepQuery reads a step URL's query.
func stepQuery(t *testing.T, u string) url.Values {
	t.Helper()
	_, q, _ := strings.Cut(u, "?")
	v, err := url.ParseQuery(q)
	if err != nil {
		t.Fatalf("step url %q: %v", u, err)
	}
	return v
}

// TestSrcGroup: --group by object id resolves a three-level nested group of 2,500 users (a
// user and a group reachable along two paths, a cycle) to exactly its users across three pages
// of $top=999, writes them to <report>.users.csv before the first revoke, and revokes each
// once; the group's members that are not users are counted on stderr and never sent.
func TestSrcGroup(t *testing.T) {
	t.Parallel()
	users := graphsim.GenerateUsers(3000, 41)
	members := users[:2500]
	groups := graphsim.NestedGroup("Incident Responders", members)
	top := groups[0]
	devices := []graphsim.Device{
		{ID: testGUID(0xd0, 1), DeviceID: testGUID(0xd1, 1), DisplayName: "KIOSK-01", AccountEnabled: true},
		{ID: testGUID(0xd0, 2), DeviceID: testGUID(0xd1, 2), DisplayName: "KIOSK-02", AccountEnabled: true},
	}
	sps := []graphsim.ServicePrincipal{{ID: testGUID(0x5e, 1), DisplayName: "IR automation"}}
	// Devices in the middle group, a service principal in the leaf: both below the top.
	groups[1].Members = append(groups[1].Members, devices[0].ID, devices[1].ID)
	groups[3].Members = append(groups[3].Members, sps[0].ID)
	sim := graphsim.New(graphsim.Config{Token: simToken, Seed: 41, Quota: graphsim.QuotaOff, TenantID: tenantIDs[0],
		Groups: groups, Devices: devices, ServicePrincipals: sps}, users)

	dir := t.TempDir()
	out := filepath.Join(dir, "report.csv")
	listPath := report.UsersPath(out)
	// At the first revoke, the resolved list must be complete on disk already.
	var atFirstRevoke []batch.Row
	var listErr error
	ss := serveSim(t, sim, simOpts{record: true, batches: func(ss *simServer, env envelope) batchAction {
		if env.revokes() > 0 && atFirstRevoke == nil && listErr == nil {
			atFirstRevoke, listErr = readListErr(listPath)
		}
		return batchServe
	}})
	res := runCLI(t, tokenEnv(), "", sourceArgs(ss.url, out, "--group", top.ID)...)
	if res.code != exitOK {
		t.Fatalf("exit %d, want 0\n%s", res.code, res.stderr)
	}
	ss.drain()

	if listErr != nil || len(atFirstRevoke) != len(members) {
		t.Errorf("at the first revoke, %s held %d users (%v), want all %d", listPath, len(atFirstRevoke), listErr, len(members))
	}
	// The list reads as any --input: exactly the group's users, each once.
	want := idSet(members)
	listed := readList(t, listPath)
	seen := map[string]bool{}
	byUPN := map[string]string{}
	for _, u := range users {
		byUPN[strings.ToLower(u.UPN)] = u.ID
	}
	for _, row := range listed {
		id := byUPN[strings.ToLower(row.Key)]
		switch {
		case row.Kind != batch.KindUPN || row.DupOf != 0:
			t.Errorf("%s line %d: %+v, want a UPN seen once", listPath, row.Line, row)
		case !want[id]:
			t.Errorf("%s line %d: %s is not a member of the group", listPath, row.Line, row.Key)
		}
		seen[id] = true
	}
	if len(listed) != len(members) || len(seen) != len(members) {
		t.Errorf("%s lists %d users (%d distinct), want %d", listPath, len(listed), len(seen), len(members))
	}

	// Three pages of users, each asked for as Graph documents: $select, $top=999, then the
	// nextLink's skip token as given.
	var userPages, memberPages []batchStep
	for _, s := range ss.steps() {
		switch {
		case s.Method == "GET" && strings.HasPrefix(s.URL, "/groups/"+top.ID+"/transitiveMembers/microsoft.graph.user"):
			userPages = append(userPages, s)
		case s.Method == "GET" && strings.HasPrefix(s.URL, "/groups/"+top.ID+"/transitiveMembers"):
			memberPages = append(memberPages, s)
		case s.Method == "GET":
			t.Errorf("unexpected listing %s", s.URL)
		}
	}
	if len(userPages) != 3 {
		t.Errorf("%d pages of the group's users, want 3 ($top=999 for 2,500 users)", len(userPages))
	}
	for i, p := range userPages {
		q := stepQuery(t, p.URL)
		if q.Get("$top") != "999" || !strings.Contains(q.Get("$select"), "userPrincipalName") {
			t.Errorf("page %d: %s, want $select and $top=999", i+1, p.URL)
		}
		if hasToken := q.Get("$skiptoken") != ""; hasToken != (i > 0) {
			t.Errorf("page %d: %s: skip token %v", i+1, p.URL, hasToken)
		}
	}
	if len(memberPages) == 0 {
		t.Errorf("the members that are not users were never counted")
	}

	containsAll(t, "stderr", res.stderr, "2500 users, written to "+listPath, "Members that are not users, left alone: 1 servicePrincipal, 2 device, 3 group.")
	rows := readReport(t, out)
	if st := countStatuses(rows); st[batch.StatusRevoked] != len(members) || len(rows) != len(members) {
		t.Errorf("report: %v for %d rows, want %d revoked", st, len(rows), len(members))
	}
	revokedOnce(t, sim.Tenant(tenantIDs[0]), want)
	// Nothing but users was written to: no step addresses a device, group or service principal.
	for _, s := range ss.steps() {
		if s.Method != "GET" && !s.revoke() {
			t.Errorf("unexpected write %s %s", s.Method, s.URL)
		}
		if s.revoke() {
			for _, id := range []string{devices[0].ID, devices[1].ID, sps[0].ID, groups[1].ID, groups[2].ID, groups[3].ID} {
				if strings.Contains(s.URL, id) {
					t.Errorf("revoke sent to a member that is not a user: %s", s.URL)
				}
			}
		}
	}
	if gs := sim.Stats(); gs.Writes != len(members) || gs.Revocations != len(members) {
		t.Errorf("graphsim: %d writes, %d revocations, want %d each", gs.Writes, gs.Revocations, len(members))
	}
}

func readListErr(path string) (rows []batch.Row, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := batch.NewReader(f, batch.ReaderOptions{Name: path})
	if err != nil {
		return nil, err
	}
	for {
		row, err := r.Next()
		if err == io.EOF {
			return rows, nil
		}
		if err != nil {
			return rows, err
		}
		rows = append(rows, row)
	}
}

// TestSrcGroupByName: --group with a display name looks the group up first. Exactly one match
// is used like its object id (quotes in the name included); none, or several, stop the run with
// an error that says so before anything is written to Graph or to disk.
func TestSrcGroupByName(t *testing.T) {
	t.Parallel()
	users := graphsim.GenerateUsers(90, 43)
	var groups []graphsim.Group
	groups = append(groups, graphsim.NestedGroup("O'Brien's R&D #1", users[:30])...)
	helpdesk := []graphsim.Group{
		{ID: testGUID(0x6e, 1), DisplayName: "Helpdesk", Members: []string{users[40].ID}},
		{ID: testGUID(0x6e, 2), DisplayName: "Helpdesk", Members: []string{users[41].ID}},
	}
	groups = append(groups, helpdesk...)
	tests := []struct {
		name, group string
		code        int
		stderr      []string
		revoked     []graphsim.User
	}{
		{name: "one match", group: "O'Brien's R&D #1", code: exitOK, revoked: users[:30],
			stderr: []string{"Resolved the transitive members of group O'Brien's R&D #1: 30 users"}},
		{name: "none", group: "Nobody's group", code: exitFailure,
			stderr: []string{`bulkrevoke: no group is named "Nobody's group"`, "hint: give the group's object id, or its exact display name"}},
		{name: "several", group: "Helpdesk", code: exitFailure,
			stderr: []string{`bulkrevoke: 2 groups are named "Helpdesk": ` + helpdesk[0].ID + ", " + helpdesk[1].ID, "hint: give the object id of the one you mean"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sim := graphsim.New(graphsim.Config{Token: simToken, Seed: 43, Quota: graphsim.QuotaOff, TenantID: tenantIDs[0], Groups: groups}, users)
			ss := serveSim(t, sim, simOpts{record: true})
			dir := t.TempDir()
			res := runCLI(t, tokenEnv(), "", sourceArgs(ss.url, filepath.Join(dir, "report.csv"), "--group", tc.group)...)
			ss.drain()
			if res.code != tc.code {
				t.Fatalf("exit %d, want %d\n%s", res.code, tc.code, res.stderr)
			}
			containsAll(t, "stderr", res.stderr, tc.stderr...)
			// The lookup asks for the name exactly, quotes doubled as OData wants them.
			steps := ss.steps()
			if len(steps) == 0 || steps[0].Method != "GET" {
				t.Fatalf("first step %+v, want the group lookup", steps)
			}
			if f := stepQuery(t, steps[0].URL).Get("$filter"); f != "displayName eq '"+strings.ReplaceAll(tc.group, "'", "''")+"'" {
				t.Errorf("group lookup filter %q", f)
			}
			revokedOnce(t, sim.Tenant(tenantIDs[0]), idSet(tc.revoked))
			if tc.code != exitOK {
				if gs := sim.Stats(); gs.Writes != 0 || len(steps) != 1 {
					t.Errorf("refused run: %d writes, %d steps, want only the lookup", gs.Writes, len(steps))
				}
				noFiles(t, dir)
			}
		})
	}
}

// appPool is an app pool of n apps in the emulator's tenants, with the pool file and the
// environment holding their secrets.
type appPool struct {
	apps []graphsim.App
	file string
	env  map[string]string
}

func newAppPool(t *testing.T, n int, tenants ...string) appPool {
	t.Helper()
	p := appPool{env: map[string]string{}}
	var b strings.Builder
	b.WriteString("client_id,secret_env\n")
	for i := range n {
		a := graphsim.App{ClientID: testGUID(0xa99, i+1), Secret: fmt.Sprintf("pool-secret-%d~x", i+1), DisplayName: fmt.Sprintf("bulkrevoke %d", i+1), Tenants: tenants}
		p.apps = append(p.apps, a)
		name := fmt.Sprintf("POOL_SECRET_%d", i+1)
		p.env[name] = a.Secret
		fmt.Fprintf(&b, "%s,%s\n", a.ClientID, name)
	}
	p.file = writeFile(t, "pool.csv", b.String())
	return p
}

// revokesByApp counts revoke steps by the app whose token carried them.
func revokesByApp(steps []batchStep) map[string]int {
	m := map[string]int{}
	for _, s := range steps {
		if s.revoke() {
			m[s.App]++
		}
	}
	return m
}

// TestSrcAllUsers: --all-users --exclude on a 10,000-user tenant revokes everyone but the
// break-glass accounts (excluded by UPN or by object id), whose rows say excluded and who never
// reach Graph; the prompt states the count. Without --exclude or --no-exclude the run is refused
// before any request. --max-users (10,000 by default) applies to the resolved count like to a
// file: the count is stated, and nothing is written to Graph or left on disk.
//
// graphsim's quotas are off, but the engine paces itself to Graph's documented quotas: once
// its first bursts are spent, one app+tenant pair sends 20 writes/s, minutes of real time for
// 10,000 users. --rate lifts that pace, and three apps (a pool, signed in with secrets
// through the token endpoint, with --tenant-id) share the work; this is also the sign-in of
// --auth secret and certificate, which need --tenant-id.
func TestSrcAllUsers(t *testing.T) {
	t.Parallel()
	users := graphsim.GenerateUsers(10000, 47)
	pool := newAppPool(t, 3, tenantIDs[0])
	sim := graphsim.New(graphsim.Config{Seed: 47, Quota: graphsim.QuotaOff, TenantID: tenantIDs[0], Apps: pool.apps}, users)
	ss := serveSim(t, sim, simOpts{tls: true, record: true})
	tr := ss.srv.Client().Transport
	args := func(out string, extra ...string) []string {
		a := append([]string{"revoke", "--all-users", "--report", out, "--app-pool", pool.file, "--tenant-id", tenantIDs[0],
			"--rate", "2000"}, ss.secretSignIn()...)
		return append(a, extra...)
	}
	breakglass := []graphsim.User{users[17], users[4242], users[9999]}
	exclude := writeFile(t, "breakglass.csv", "userPrincipalName,note\n"+breakglass[0].UPN+",by UPN\n"+
		strings.ToUpper(breakglass[1].UPN)+",by UPN in capitals\n"+breakglass[2].ID+",by object id\n")

	t.Run("refused without --exclude", func(t *testing.T) {
		dir := t.TempDir()
		res := runCLIWith(t, cliOpts{env: pool.env, transport: tr}, append(args(filepath.Join(dir, "r.csv")), "--yes")...)
		if res.code != exitFailure || !strings.Contains(res.stderr, "--all-users needs --exclude") ||
			!strings.Contains(res.stderr, "hint: add --exclude breakglass.csv, or --no-exclude") {
			t.Errorf("exit %d\n%s", res.code, res.stderr)
		}
		if gs := sim.Stats(); gs.Requests != 0 {
			t.Errorf("refused run sent %d requests (%d token requests)", gs.Requests, gs.TokenRequests)
		}
		noFiles(t, dir)
	})

	t.Run("over --max-users", func(t *testing.T) {
		dir := t.TempDir()
		res := runCLIWith(t, cliOpts{env: pool.env, transport: tr}, append(args(filepath.Join(dir, "r.csv")), "--no-exclude", "--max-users", "9999", "--yes")...)
		if res.code != exitFailure || !strings.Contains(res.stderr, "has 10000 users to revoke, more than --max-users 9999") ||
			!strings.Contains(res.stderr, "raise --max-users (0 means no limit)") {
			t.Errorf("exit %d\n%s", res.code, res.stderr)
		}
		if gs := sim.Stats(); gs.Writes != 0 {
			t.Errorf("refused run sent %d writes", gs.Writes)
		}
		noFiles(t, dir)
	})

	t.Run("with --exclude", func(t *testing.T) {
		dir := t.TempDir()
		out := filepath.Join(dir, "report.csv")
		start := time.Now()
		// At a terminal, without --yes: the prompt states how many users, and where they come from.
		res := runCLIWith(t, cliOpts{env: pool.env, transport: tr, tty: true, stdin: "yes\n"}, append(args(out), "--exclude", exclude)...)
		if res.code != exitOK {
			data, _ := os.ReadFile(out)
			t.Fatalf("exit %d, want 0\n%s\n%.2000s", res.code, res.stderr, data)
		}
		t.Logf("10,000 users in %v", time.Since(start).Round(time.Millisecond))
		ss.drain()
		containsAll(t, "the prompt", res.stderr,
			"About to revoke the sign-in sessions of 9997 users", "(resolved now from Graph: 10000 users, listed in "+report.UsersPath(out)+")",
			"Type yes to continue: ",
		)
		rows := readReport(t, out)
		if st := countStatuses(rows); len(rows) != 10000 || st[batch.StatusRevoked] != 9997 || st[batch.StatusExcluded] != 3 {
			t.Errorf("report: %v for %d rows, want 9,997 revoked and 3 excluded", st, len(rows))
		}
		excluded := map[string]bool{}
		for _, r := range rows {
			if r.Status == batch.StatusExcluded {
				excluded[strings.ToLower(r.Input)] = true
				if !strings.Contains(r.Note, "on the --exclude list") || r.HTTP != 0 || r.Attempts != 0 {
					t.Errorf("line %d: excluded row %+v", r.Line, r)
				}
			}
		}
		for _, u := range breakglass {
			if !excluded[strings.ToLower(u.UPN)] {
				t.Errorf("break-glass %s (%s) is not reported excluded", u.UPN, u.ID)
			}
		}
		want := idSet(users)
		for _, u := range breakglass {
			delete(want, u.ID)
		}
		revokedOnce(t, sim.Tenant(tenantIDs[0]), want)
		for _, s := range ss.steps() {
			for _, u := range breakglass {
				if s.revoke() && (strings.Contains(strings.ToLower(s.URL), strings.ToLower(url.PathEscape(u.UPN))) || strings.Contains(s.URL, u.ID)) {
					t.Errorf("break-glass %s reached Graph: %s %s", u.UPN, s.Method, s.URL)
				}
			}
		}
		t.Logf("revoke steps by app: %v", revokesByApp(ss.steps()))
	})
}

// graphError asks graphsim directly for a listing and returns its error message: what the
// admin must read unchanged.
func graphError(t *testing.T, ss *simServer, path string, header map[string]string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest("GET", ss.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+simToken)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := ss.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		Error struct{ Code, Message string }
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, body.Error.Code, body.Error.Message
}

// TestSrcFilter: --filter lists the users an OData filter selects, across pages; a filter Graph
// runs only as an advanced query (ne, endsWith) goes with ConsistencyLevel: eventual and
// $count=true, which a plain one does not need. A filter Graph refuses ends the run with
// Graph's own message, unchanged, before any write and leaving no file behind.
func TestSrcFilter(t *testing.T) {
	t.Parallel()
	users := graphsim.GenerateUsers(7000, 53)
	newSim := func() *graphsim.Server {
		return graphsim.New(graphsim.Config{Token: simToken, Seed: 53, Quota: graphsim.QuotaOff, TenantID: tenantIDs[0]}, users)
	}
	selected := func(keep func(u graphsim.User) bool) []graphsim.User {
		var out []graphsim.User
		for _, u := range users {
			if keep(u) {
				out = append(out, u)
			}
		}
		return out
	}
	good := []struct {
		name, filter string
		advanced     bool
		pages        int
		want         []graphsim.User
	}{
		{name: "eq", filter: "department eq 'Finance'", pages: 2,
			want: selected(func(u graphsim.User) bool { return u.Department == "Finance" })},
		{name: "endsWith", filter: "endswith(mail,'@fabrikam.com')", advanced: true, pages: 1,
			want: selected(func(u graphsim.User) bool { return strings.HasSuffix(u.Mail, "@fabrikam.com") })},
		{name: "ne", filter: "department eq 'Legal' and jobTitle ne 'Analyst'", advanced: true, pages: 1,
			want: selected(func(u graphsim.User) bool { return u.Department == "Legal" && u.JobTitle != "Analyst" })},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.want) < 100 || (tc.pages == 2) != (len(tc.want) > 999) {
				t.Fatalf("the tenant selects %d users for %s: the test needs another tenant", len(tc.want), tc.filter)
			}
			sim := newSim()
			ss := serveSim(t, sim, simOpts{record: true})
			out := filepath.Join(t.TempDir(), "report.csv")
			res := runCLI(t, tokenEnv(), "", sourceArgs(ss.url, out, "--filter", tc.filter)...)
			if res.code != exitOK {
				t.Fatalf("exit %d, want 0\n%s", res.code, res.stderr)
			}
			ss.drain()
			var pages []batchStep
			for _, s := range ss.steps() {
				if s.Method == "GET" {
					pages = append(pages, s)
				}
			}
			if len(pages) != tc.pages {
				t.Errorf("%d pages, want %d", len(pages), tc.pages)
			}
			for i, p := range pages {
				q := stepQuery(t, p.URL)
				if i == 0 && q.Get("$filter") != tc.filter {
					t.Errorf("$filter %q, want %q", q.Get("$filter"), tc.filter)
				}
				eventual := false
				for k, v := range p.Headers {
					eventual = eventual || strings.EqualFold(k, "ConsistencyLevel") && strings.EqualFold(v, "eventual")
				}
				if eventual != tc.advanced || (q.Get("$count") == "true") != tc.advanced && i == 0 {
					t.Errorf("page %d: %s with headers %v: advanced query %v, want %v", i+1, p.URL, p.Headers, eventual, tc.advanced)
				}
			}
			rows := readReport(t, out)
			if st := countStatuses(rows); len(rows) != len(tc.want) || st[batch.StatusRevoked] != len(tc.want) {
				t.Errorf("report: %v for %d rows, want %d revoked", st, len(rows), len(tc.want))
			}
			revokedOnce(t, sim.Tenant(tenantIDs[0]), idSet(tc.want))
		})
	}

	bad := []struct{ name, filter string }{
		{"syntax", "department eq 'Finance"},
		{"unknown property", "city eq 'Paris'"},
		{"endsWith on a property Graph does not index", "endswith(displayName,'Vance')"},
		{"not a boolean", "accountEnabled eq 'yes'"},
	}
	for _, tc := range bad {
		t.Run("refused/"+tc.name, func(t *testing.T) {
			sim := newSim()
			ss := serveSim(t, sim, simOpts{record: true})
			header := map[string]string{}
			path := "/users?$filter=" + queryEscape(tc.filter) + "&$select=id"
			if advancedFilter(tc.filter) {
				header["ConsistencyLevel"] = "eventual"
				path += "&$count=true"
			}
			status, code, msg := graphError(t, ss, path, header)
			if status != http.StatusBadRequest || msg == "" {
				t.Fatalf("graphsim answers %s with %d %s %q: the test needs a filter Graph refuses", tc.filter, status, code, msg)
			}
			before := sim.Stats()
			dir := t.TempDir()
			res := runCLI(t, tokenEnv(), "", sourceArgs(ss.url, filepath.Join(dir, "report.csv"), "--filter", tc.filter)...)
			ss.drain()
			if res.code != exitFailure || !strings.Contains(res.stderr, msg) || !strings.Contains(res.stderr, code) {
				t.Errorf("exit %d, want 1 and Graph's %s %q:\n%s", res.code, code, msg, res.stderr)
			}
			if gs := sim.Stats(); gs.Writes != before.Writes {
				t.Errorf("%d writes sent, want none", gs.Writes-before.Writes)
			}
			if steps := ss.steps(); len(steps) != 1 || steps[0].Method != "GET" {
				t.Errorf("steps %+v, want the one listing", steps)
			}
			noFiles(t, dir)
		})
	}
}

// liveRevoked counts the revoked rows of the complete lines of a report a live process is
// writing; -1 when it cannot be read.
func liveRevoked(path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		return -1
	}
	rows, err := report.ReadReport(bytes.NewReader(data[:bytes.LastIndexByte(data, '\n')+1]))
	if err != nil {
		return -1
	}
	return countStatuses(rows)[batch.StatusRevoked]
}

// envelopeKiller kills a child run (SIGKILL) in the middle: from its nth revoke envelope on, no
// revoke envelope is answered, and the child dies at the first that arrives when every revoke
// graphsim has landed is in the report on disk already (each arrival is the child's sign that
// it handled an answer: its workers send the next envelope after writing the last one's rows).
// So nothing the report does not say was done has been done, and a resume must revoke every
// other user exactly once. (Killing at a fixed envelope would race the answers of the
// envelopes in flight beside it.)
type envelopeKiller struct {
	report string
	nth    int

	mu     sync.Mutex
	child  *childProc
	seen   int // revoke envelopes so far
	killed int // the revoke envelope the child was killed at; 0 while alive
}

func (k *envelopeKiller) setChild(c *childProc) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.child = c
}

func (k *envelopeKiller) at() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.killed
}

func (k *envelopeKiller) hook(ss *simServer, env envelope) batchAction {
	k.mu.Lock()
	defer k.mu.Unlock()
	if env.revokes() == 0 || k.killed > 0 {
		return batchServe
	}
	if k.seen++; k.seen < k.nth {
		return batchServe
	}
	if liveRevoked(k.report) == ss.sim.Stats().Revocations {
		k.killed = k.seen
		k.child.signal(os.Kill)
		ss.stop()
	}
	return batchHold
}

// killRun starts the child run, waits for it to die by the killer's hand and returns the
// rows of its report.
func killRun(t *testing.T, ss *simServer, k *envelopeKiller, dir string, env []string, args ...string) map[int]batch.Result {
	t.Helper()
	c := startChild(t, dir, env, args...)
	k.setChild(c)
	if code := c.wait(t); code != -1 || k.at() == 0 {
		t.Fatalf("first run exited %d (killed at revoke envelope %d), want killed by the test; stderr:\n%s", code, k.at(), c.stderr.String())
	}
	ss.drain()
	rows, _ := readTornReport(t, k.report)
	revoked := countStatuses(rows)[batch.StatusRevoked]
	if revoked == 0 || revoked != ss.sim.Stats().Revocations {
		t.Fatalf("killed at revoke envelope %d: the report says %d revoked, graphsim %d", k.at(), revoked, ss.sim.Stats().Revocations)
	}
	t.Logf("killed at revoke envelope %d with %d rows in the report, %d revoked", k.at(), len(rows), revoked)
	return rows
}

// TestSrcKillAndResume: a run from --group, --filter or --all-users killed (SIGKILL) in the
// middle, resumed as the README says (--input <report>.users.csv --resume <report>), finishes
// with every listed user revoked exactly once. The resolved list, written before the first
// revoke, survives the kill whole. A break-glass account the killed run excluded stays
// untouched by the resume, whose command does not repeat --exclude.
func TestSrcKillAndResume(t *testing.T) {
	t.Parallel()
	users := graphsim.GenerateUsers(900, 59)
	groups := graphsim.NestedGroup("Compromised", users[:700])
	breakglass := users[123]
	finance := func(u graphsim.User) bool { return u.Department == "Finance" }
	tests := []struct {
		name   string
		source func(dir string) []string
		want   func(u graphsim.User) bool
	}{
		{name: "group", source: func(string) []string { return []string{"--group", groups[0].ID} },
			want: func(u graphsim.User) bool {
				return slices.ContainsFunc(users[:700], func(m graphsim.User) bool { return m.ID == u.ID })
			}},
		{name: "filter", source: func(string) []string { return []string{"--filter", "department eq 'Finance' or department eq 'Sales'"} },
			want: func(u graphsim.User) bool { return finance(u) || u.Department == "Sales" }},
		{name: "all-users", source: func(dir string) []string {
			p := filepath.Join(dir, "breakglass.csv")
			if err := os.WriteFile(p, []byte(breakglass.ID+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			return []string{"--all-users", "--exclude", p}
		}, want: func(u graphsim.User) bool { return u.ID != breakglass.ID }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sim := graphsim.New(graphsim.Config{Token: simToken, Seed: 59, Quota: graphsim.QuotaOff, TenantID: tenantIDs[0], Groups: groups}, users)
			dir := t.TempDir()
			first := filepath.Join(dir, "first.csv")
			k := &envelopeKiller{report: first, nth: 6}
			ss := serveSim(t, sim, simOpts{record: true, batches: k.hook})
			listed := 0
			var want []graphsim.User
			for _, u := range users {
				if tc.want(u) {
					want = append(want, u)
				}
			}
			killRun(t, ss, k, dir, nil, sourceArgs(ss.url, first, tc.source(dir)...)...)
			list := report.UsersPath(first)
			rows := readList(t, list)
			listed = len(rows)
			if tc.name == "all-users" {
				listed-- // the break-glass account is listed, and excluded
			}
			if listed != len(want) {
				t.Fatalf("%s lists %d users, want %d", list, listed, len(want))
			}

			second := filepath.Join(dir, "second.csv")
			f := ss.front(t)
			resume := startChild(t, dir, nil, cliArgs("revoke", f.url, list, second, "--resume", first)...)
			if code := resume.wait(t); code != exitOK {
				t.Fatalf("resumed run exited %d, want 0; stderr:\n%s", code, resume.stderr.String())
			}
			ss.drain()
			got, n := readTornReport(t, second)
			st := countStatuses(got)
			if n != len(rows) || st[batch.StatusRevoked] != len(want) || st[batch.StatusRevoked]+st[batch.StatusExcluded] != len(rows) {
				t.Errorf("resumed report: %v in %d rows, want %d revoked of %d", st, n, len(want), len(rows))
			}
			revokedOnce(t, sim.Tenant(tenantIDs[0]), idSet(want))
			for _, r := range got {
				if r.Status == batch.StatusExcluded && (r.UPN != breakglass.UPN || !strings.Contains(r.Note, "excluded by the run reported in "+first)) {
					t.Errorf("line %d: excluded %s, note %q", r.Line, r.UPN, r.Note)
				}
			}

			// Resuming with the query instead of its list is refused, with the way to do it.
			res := runCLI(t, tokenEnv(), "", sourceArgs(f.url, filepath.Join(dir, "third.csv"), append([]string{"--resume", first}, tc.source(dir)...)...)...)
			if res.code != exitFailure || !strings.Contains(res.stderr, "hint: resume with --input <report>.users.csv --resume <report>") {
				t.Errorf("resume of a query: exit %d\n%s", res.code, res.stderr)
			}
		})
	}
}

// fiveTenants is five tenants of n users each (the first is the default tenant), and one
// multi-tenant app with a secret, consented in the tenants listed.
func fiveTenants(n int, consented []string, seed int64) (*graphsim.Server, [][]graphsim.User, graphsim.App) {
	all := make([][]graphsim.User, len(tenantIDs))
	var extra []graphsim.Tenant
	for i, id := range tenantIDs {
		all[i] = graphsim.GenerateUsers(n, seed+int64(i))
		if i > 0 {
			extra = append(extra, graphsim.Tenant{ID: id, Users: all[i]})
		}
	}
	app := graphsim.App{ClientID: "0000c11e-0000-4000-8000-00000000c11e", Secret: "msp-secret~Zq8", DisplayName: "MSP responder", Tenants: consented}
	sim := graphsim.New(graphsim.Config{Seed: seed, Quota: graphsim.QuotaOff, TenantID: tenantIDs[0], Tenants: extra, Apps: []graphsim.App{app}}, all[0])
	return sim, all, app
}

// tenantList names every user of the given tenants, by tenant id and UPN, the tenants'
// rows interleaved as an MSP's merged export would have them.
func tenantList(t *testing.T, all [][]graphsim.User, tenants ...int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("tenant,userPrincipalName\n")
	for i := range len(all[0]) {
		for _, tn := range tenants {
			fmt.Fprintf(&b, "%s,%s\n", tenantIDs[tn], all[tn][i].UPN)
		}
	}
	return writeFile(t, "tenants.csv", b.String())
}

// checkTenantRows checks the report of a tenantList of every tenant: each row carries its
// tenant's id, the rows of tenant denied are as deniedOK says (want, in words), every other
// row is revoked; in graphsim every user of the other tenants is revoked once, and nobody of
// the denied tenant at all.
func checkTenantRows(t *testing.T, sim *graphsim.Server, all [][]graphsim.User, rows map[int]batch.Result, denied int, want string, deniedOK func(batch.Result) bool) {
	t.Helper()
	for _, r := range rows {
		tn := (r.Line - 2) % len(tenantIDs)
		switch {
		case r.TenantID != tenantIDs[tn]:
			t.Errorf("line %d: tenant_id %q, want %s", r.Line, r.TenantID, tenantIDs[tn])
		case tn != denied && r.Status != batch.StatusRevoked:
			t.Errorf("line %d (tenant %d): %s %s %s, want revoked", r.Line, tn, r.Status, r.Code, r.Message)
		case tn == denied && !deniedOK(r):
			t.Errorf("line %d (tenant without consent): %s %d %s %q (%d attempts), want %s", r.Line, r.Status, r.HTTP, r.Code, r.Message, r.Attempts, want)
		}
	}
	for i, users := range all {
		want := idSet(users)
		if i == denied {
			want = nil
		}
		revokedOnce(t, sim.Tenant(tenantIDs[i]), want)
	}
}

// summaryByTenant reads the summary's per-tenant table: tenant -> rows, done, not done.
func summaryByTenant(stderr string) map[string][3]int {
	out := map[string][3]int{}
	_, table, ok := strings.Cut(stderr, "By tenant:\n")
	if !ok {
		return out
	}
	for _, line := range strings.Split(table, "\n")[1:] {
		var name string
		var c [3]int
		if n, _ := fmt.Sscanf(line, "  %s %d %d %d", &name, &c[0], &c[1], &c[2]); n != 4 {
			break
		}
		out[name] = c
	}
	return out
}

// TestSrcManyTenants: one run over a list with a tenant column naming five tenants, signing in
// to each with one multi-tenant app's client secret through the token endpoint. The app has no
// consent in the fifth: its token request fails (AADSTS700016), its rows are denied with that
// error, the four others complete, the exit code is 2, every row carries its tenant_id and the
// summary counts by tenant. Repeated --tenant-id is the run's whole scope: a list naming
// another tenant is refused before anything is sent.
func TestSrcManyTenants(t *testing.T) {
	t.Parallel()
	sim, all, app := fiveTenants(60, tenantIDs[:4], 61)
	ss := serveSim(t, sim, simOpts{tls: true, record: true})
	tr := ss.srv.Client().Transport
	env := map[string]string{"AZURE_CLIENT_SECRET": app.Secret}
	signIn := append([]string{"--auth", "secret", "--client-id", app.ClientID}, ss.secretSignIn()...)
	list := tenantList(t, all, 0, 1, 2, 3, 4)

	t.Run("one tenant without consent", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "report.csv")
		res := runCLIWith(t, cliOpts{env: env, transport: tr}, append([]string{"revoke", "--input", list, "--report", out, "--yes"}, signIn...)...)
		if res.code != exitIncomplete {
			t.Fatalf("exit %d, want 2\n%s", res.code, res.stderr)
		}
		ss.drain()
		rows := readReport(t, out)
		if len(rows) != 5*60 {
			t.Errorf("%d rows, want %d", len(rows), 5*60)
		}
		checkTenantRows(t, sim, all, rows, 4, "denied by the sign-in error", func(r batch.Result) bool {
			return r.Status == batch.StatusDenied && r.Code == "sign_in" && strings.Contains(r.Message, "AADSTS700016") && r.Attempts == 0
		})
		byTenant := summaryByTenant(res.stderr)
		for i, id := range tenantIDs {
			want := [3]int{60, 60, 0}
			if i == 4 {
				want = [3]int{60, 0, 60}
			}
			if byTenant[id] != want {
				t.Errorf("summary for tenant %s: %v, want rows, revoked, not revoked %v\n%s", id, byTenant[id], want, res.stderr)
			}
		}
		if !strings.Contains(res.stderr, "Dropped from the run:\n  tenant "+tenantIDs[4]+": cannot sign in: ") || !strings.Contains(res.stderr, "AADSTS700016") {
			t.Errorf("the summary does not say why the tenant was skipped:\n%s", res.stderr)
		}
		// Each tenant's users went with a token of that tenant, and nothing went to the fifth.
		for _, s := range ss.steps() {
			if s.App != strings.ToLower(app.ClientID) || s.Tenant == tenantIDs[4] {
				t.Errorf("step %s %s sent with a token of app %q in tenant %q", s.Method, s.URL, s.App, s.Tenant)
			}
		}
	})

	requests := sim.Stats().Requests
	t.Run("--tenant-id restricts the tenants", func(t *testing.T) {
		dir := t.TempDir()
		res := runCLIWith(t, cliOpts{env: env, transport: tr}, append([]string{"revoke", "--input", list, "--report", filepath.Join(dir, "report.csv"), "--yes",
			"--tenant-id", tenantIDs[0], "--tenant-id", strings.ToUpper(tenantIDs[1])}, signIn...)...)
		if res.code != exitFailure || !strings.Contains(res.stderr, "the list names tenant "+tenantIDs[2]+", which is not among --tenant-id") {
			t.Errorf("exit %d\n%s", res.code, res.stderr)
		}
		if gs := sim.Stats(); gs.Requests != requests {
			t.Errorf("refused run sent %d requests", gs.Requests-requests)
		}
		noFiles(t, dir)

		// The same flags with a list of those two tenants only (named in other capitals).
		two := writeFile(t, "two.csv", strings.ToUpper(keepTenants(t, list, 0, 1)))
		out := filepath.Join(dir, "report.csv")
		res = runCLIWith(t, cliOpts{env: env, transport: tr}, append([]string{"revoke", "--input", two, "--report", out, "--yes",
			"--tenant-id", tenantIDs[0], "--tenant-id", strings.ToUpper(tenantIDs[1])}, signIn...)...)
		if res.code != exitOK {
			t.Fatalf("exit %d\n%s", res.code, res.stderr)
		}
		if st := countStatuses(readReport(t, out)); st[batch.StatusRevoked] != 120 {
			t.Errorf("report %v, want 120 revoked", st)
		}
	})
}

// TestSrcTenantDeniedByGraph: a tenant whose sign-in works but where Graph answers 403 to
// every step (the app's consent withdrawn there once the run had its token, which still names
// the roles) has no other app to try: nothing about the lane itself is known, so each user's
// 403 is that user's own answer, denied with Graph's code and message; the other tenants
// complete, exit 2. No 403 of one tenant touches the users of another.
func TestSrcTenantDeniedByGraph(t *testing.T) {
	t.Parallel()
	sim, all, app := fiveTenants(100, tenantIDs, 71)
	withdrawn := 0
	ss := serveSim(t, sim, simOpts{tls: true, record: true, batches: func(ss *simServer, env envelope) batchAction {
		if withdrawn == 0 && len(env.Steps) > 0 && env.Steps[0].Tenant == tenantIDs[3] {
			withdrawn = env.N
			ss.sim.SetConsent(app.ClientID, tenantIDs[3], false)
		}
		return batchServe
	}})
	list := tenantList(t, all, 0, 1, 2, 3, 4)
	out := filepath.Join(t.TempDir(), "report.csv")
	res := runCLIWith(t, cliOpts{env: map[string]string{"AZURE_CLIENT_SECRET": app.Secret}, transport: ss.srv.Client().Transport},
		append([]string{"revoke", "--input", list, "--report", out, "--yes", "--auth", "secret", "--client-id", app.ClientID},
			ss.secretSignIn()...)...)
	if res.code != exitIncomplete {
		t.Fatalf("exit %d, want 2\n%s", res.code, res.stderr)
	}
	ss.drain()
	rows := readReport(t, out)
	checkTenantRows(t, sim, all, rows, 3, "denied with Graph's own answer", func(r batch.Result) bool {
		return r.Status == batch.StatusDenied && r.HTTP == http.StatusForbidden && r.Code == "Authorization_RequestDenied" &&
			r.Message == "Insufficient privileges to complete the operation."
	})
	if byTenant := summaryByTenant(res.stderr); byTenant[tenantIDs[3]] != [3]int{100, 0, 100} || byTenant[tenantIDs[4]] != [3]int{100, 100, 0} {
		t.Errorf("summary by tenant %v\n%s", byTenant, res.stderr)
	}
	// Every user of the tenant was asked once, refused once (none of those the run sent before
	// the withdrawal was refused); nothing was dropped.
	if gs := sim.Stats(); gs.Denied < 1 || gs.Denied > 100 {
		t.Errorf("graphsim denied %d steps, want at most one per user of the tenant", gs.Denied)
	}
	if strings.Contains(res.stderr, "Dropped from the run") {
		t.Errorf("a tenant was dropped on the users' 403s alone:\n%s", res.stderr)
	}
}

// keepTenants keeps the header and the rows of the given tenants of a tenant list.
func keepTenants(t *testing.T, list string, tenants ...int) string {
	t.Helper()
	data, err := os.ReadFile(list)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	out := []string{lines[0]}
	for _, l := range lines[1:] {
		for _, tn := range tenants {
			if strings.HasPrefix(l, tenantIDs[tn]+",") {
				out = append(out, l)
			}
		}
	}
	return strings.Join(out, "\n") + "\n"
}

// upnFile is an input naming users by UPN.
func upnFile(t *testing.T, users []graphsim.User) string {
	t.Helper()
	return writeFile(t, "users.csv", upnList(users))
}

// TestSrcAppPool: --app-pool spreads one tenant's users over three apps signed in with their
// own secrets, each user revoked once. An app whose consent is withdrawn mid-run (Graph then
// answers its every step 403) is dropped with a warning, and the users it had are finished by
// the other two: nobody is left out, nobody revoked twice.
func TestSrcAppPool(t *testing.T) {
	t.Parallel()
	users := graphsim.GenerateUsers(3000, 67)
	list := upnFile(t, users)
	for _, withdraw := range []bool{false, true} {
		name := "spread"
		if withdraw {
			name = "consent withdrawn mid-run"
		}
		t.Run(name, func(t *testing.T) {
			pool := newAppPool(t, 3, tenantIDs[0])
			sim := graphsim.New(graphsim.Config{Seed: 67, Quota: graphsim.QuotaOff, TenantID: tenantIDs[0], Apps: pool.apps,
				Latency: graphsim.Uniform{Min: time.Millisecond, Max: 3 * time.Millisecond}}, users)
			victim := strings.ToLower(pool.apps[1].ClientID)
			revokes, withdrawnAt := 0, 0
			ss := serveSim(t, sim, simOpts{tls: true, record: true, batches: func(ss *simServer, env envelope) batchAction {
				revokes += env.revokes()
				if withdraw && withdrawnAt == 0 && revokes >= 600 {
					withdrawnAt = env.N
					ss.sim.RevokeApp(victim)
				}
				return batchServe
			}})
			out := filepath.Join(t.TempDir(), "report.csv")
			args := append([]string{"revoke", "--input", list, "--report", out, "--yes", "--app-pool", pool.file, "--tenant-id", tenantIDs[0]}, ss.secretSignIn()...)
			res := runCLIWith(t, cliOpts{env: pool.env, transport: ss.srv.Client().Transport}, args...)
			if res.code != exitOK {
				t.Fatalf("exit %d, want 0\n%s", res.code, res.stderr)
			}
			ss.drain()
			rows := readReport(t, out)
			if st := countStatuses(rows); st[batch.StatusRevoked] != len(users) {
				t.Errorf("report: %v, want %d revoked", st, len(users))
			}
			revokedOnce(t, sim.Tenant(tenantIDs[0]), idSet(users))

			// Who carried what: every app a share before the withdrawal, none but the two
			// others after it.
			before, after := map[string]int{}, map[string]int{}
			ss.mu.Lock()
			for _, e := range ss.envelopes {
				for _, s := range e.Steps {
					if !s.revoke() {
						continue
					}
					if withdrawnAt == 0 || e.N < withdrawnAt {
						before[s.App]++
					} else {
						after[s.App]++
					}
				}
			}
			ss.mu.Unlock()
			t.Logf("revoke steps by app: %v before the withdrawal, %v after", before, after)
			total := 0
			for _, n := range before {
				total += n
			}
			// Every app carries a share. Over a whole run the shares are even, give or take what
			// one app's envelopes in flight make; the first 600 revokes take some 30 ms, in which
			// an app whose token came a moment later (a race build signs in slowly) carries fewer,
			// so before a withdrawal each app need only have carried envelopes of its own.
			least := total / 6
			if withdraw {
				least = 2 * 20
			}
			for _, a := range pool.apps {
				if n := before[strings.ToLower(a.ClientID)]; n < least {
					t.Errorf("app %s carried %d revokes of %d, want at least %d", a.ClientID, n, total, least)
				}
			}
			gs := sim.Stats()
			if !withdraw {
				if gs.Denied != 0 || strings.Contains(res.stderr, "Dropped from the run") {
					t.Errorf("%d denied steps, stderr:\n%s", gs.Denied, res.stderr)
				}
				return
			}
			if gs.Denied == 0 || after[victim] != gs.Denied {
				t.Errorf("graphsim denied %d steps; the withdrawn app sent %d after the withdrawal", gs.Denied, after[victim])
			}
			// The first refused envelope's users go to another app, and the refused app takes no
			// new work until their answers tell whether it was them or the app: only the
			// envelopes already on their way (the default concurrency of 4) are refused.
			if after[victim] > 4*20 {
				t.Errorf("the withdrawn app went on sending %d revokes after its first refused envelope", after[victim])
			}
			containsAll(t, "stderr", res.stderr,
				"msg=\"dropping a sign-in from the run\" lane=\"app "+pool.apps[1].ClientID,
				"Dropped from the run:\n  app "+pool.apps[1].ClientID+": Graph refused it (HTTP 403) ",
				"users in a row that app ",
			)
		})
	}
}

// TestSrcKillAndResumeLanes: a run over several lanes killed (SIGKILL) in the middle and
// resumed with the same flags finishes with every user revoked exactly once: a pool of three
// apps in one tenant, and one app over five tenants of which one has not consented (its rows
// are denied in both runs, so the resumed run exits 2).
func TestSrcKillAndResumeLanes(t *testing.T) {
	t.Parallel()
	t.Run("app pool", func(t *testing.T) {
		t.Parallel()
		users := graphsim.GenerateUsers(1500, 73)
		pool := newAppPool(t, 3, tenantIDs[0])
		sim := graphsim.New(graphsim.Config{Seed: 73, Quota: graphsim.QuotaOff, TenantID: tenantIDs[0], Apps: pool.apps}, users)
		dir := t.TempDir()
		first, second := filepath.Join(dir, "first.csv"), filepath.Join(dir, "second.csv")
		k := &envelopeKiller{report: first, nth: 10}
		ss := serveSim(t, sim, simOpts{tls: true, record: true, batches: k.hook})
		env := []string{"SSL_CERT_FILE=" + certFile(t, ss)}
		for name, v := range pool.env {
			env = append(env, name+"="+v)
		}
		list := upnFile(t, users)
		args := func(f *simFront, extra ...string) []string {
			a := append([]string{"revoke", "--input", list, "--yes", "--app-pool", pool.file, "--tenant-id", tenantIDs[0]}, f.secretSignIn()...)
			return append(a, extra...)
		}
		killRun(t, ss, k, dir, env, args(ss.simFront, "--report", first)...)
		t.Logf("revokes by app before the kill: %v", revokesByApp(ss.steps()))

		resume := startChild(t, dir, env, args(ss.front(t), "--resume", first, "--report", second)...)
		if code := resume.wait(t); code != exitOK {
			t.Fatalf("resumed run exited %d, want 0; stderr:\n%s", code, resume.stderr.String())
		}
		ss.drain()
		rows, n := readTornReport(t, second)
		if st := countStatuses(rows); n != len(users) || st[batch.StatusRevoked] != len(users) {
			t.Errorf("resumed report: %v in %d rows, want %d revoked", st, n, len(users))
		}
		revokedOnce(t, sim.Tenant(tenantIDs[0]), idSet(users))
		if apps := revokesByApp(ss.steps()); len(apps) != 3 {
			t.Errorf("the runs sent revokes with %d apps' tokens, want the pool's 3: %v", len(apps), apps)
		}
		noSecrets(t, "the runs' output", resume.stderr.String())
		for _, a := range pool.apps {
			if strings.Contains(resume.stderr.String(), a.Secret) {
				t.Errorf("the resumed run printed app %s's secret", a.ClientID)
			}
		}
	})

	t.Run("many tenants", func(t *testing.T) {
		t.Parallel()
		sim, all, app := fiveTenants(120, tenantIDs[:4], 79)
		dir := t.TempDir()
		first, second := filepath.Join(dir, "first.csv"), filepath.Join(dir, "second.csv")
		k := &envelopeKiller{report: first, nth: 8}
		ss := serveSim(t, sim, simOpts{tls: true, record: true, batches: k.hook})
		env := []string{"SSL_CERT_FILE=" + certFile(t, ss), "AZURE_CLIENT_SECRET=" + app.Secret}
		list := tenantList(t, all, 0, 1, 2, 3, 4)
		args := func(f *simFront, extra ...string) []string {
			a := append([]string{"revoke", "--input", list, "--yes", "--auth", "secret", "--client-id", app.ClientID}, f.secretSignIn()...)
			return append(a, extra...)
		}
		killed := killRun(t, ss, k, dir, env, args(ss.simFront, "--report", first)...)
		tenantsDone := map[string]bool{}
		for _, r := range killed {
			if r.Status == batch.StatusRevoked {
				tenantsDone[r.TenantID] = true
			}
		}
		if len(tenantsDone) < 2 {
			t.Errorf("the killed run revoked in %d tenants: the kill was not in the middle of a multi-tenant run", len(tenantsDone))
		}

		resume := startChild(t, dir, env, args(ss.front(t), "--resume", first, "--report", second)...)
		if code := resume.wait(t); code != exitIncomplete {
			t.Fatalf("resumed run exited %d, want 2 (a tenant without consent); stderr:\n%s", code, resume.stderr.String())
		}
		ss.drain()
		rows, n := readTornReport(t, second)
		if st := countStatuses(rows); n != 5*120 || st[batch.StatusRevoked] != 4*120 || st[batch.StatusDenied] != 120 {
			t.Errorf("resumed report: %v in %d rows, want %d revoked and 120 denied", st, n, 4*120)
		}
		for _, r := range rows {
			if want := tenantIDs[(r.Line-2)%5]; r.TenantID != want {
				t.Errorf("line %d: tenant_id %q, want %s", r.Line, r.TenantID, want)
			}
		}
		for i, users := range all {
			want := idSet(users)
			if i == 4 {
				want = nil
			}
			revokedOnce(t, sim.Tenant(tenantIDs[i]), want)
		}
	})
}

// exportsTenant has the users the files under testdata/exports name, in the states that
// give each status: a guest, a disabled user, a protected admin (403), and none of
// #ops-oncall@contoso.com (404).
func exportsTenant() []graphsim.User {
	return []graphsim.User{
		{ID: "87d349ed-44d7-43e1-9a83-5f2406dee5bd", UPN: "AdeleV@contoso.com", DisplayName: "Adele Vance", UserType: "Member", AccountEnabled: true},
		{ID: "4782e723-f4f4-4af3-a76e-25e3bab0d896", UPN: "Sean.OBrien@contoso.com", DisplayName: "Seán O'Brien", UserType: "Member", AccountEnabled: true},
		{ID: "5bde3e51-d13b-4db1-9948-fe4b109d11a7", UPN: "john.doe_fabrikam.com#EXT#@contoso.onmicrosoft.com", DisplayName: "Doe, John", UserType: "Guest", AccountEnabled: true},
		{ID: "0a4f1e2b-77c1-4c0e-9d0b-3b1e8c2f9a11", UPN: "$svc-backup@contoso.com", DisplayName: "Backup service", UserType: "Member", AccountEnabled: true},
		{ID: "48d31887-5fad-4d73-a9f5-3c356e68a038", UPN: "MeganB@contoso.com", DisplayName: "Megan Bowen", UserType: "Member", AccountEnabled: true},
		{ID: "b2c6f7d1-3a4e-4f5b-8c9d-0e1f2a3b4c5d", UPN: "AlexW@contoso.com", DisplayName: "Alex Wilber", UserType: "Member", AccountEnabled: false},
		{ID: "c5d6e7f8-a9b0-4c1d-8e2f-3a4b5c6d7e8f", UPN: "diegos@contoso.com", DisplayName: "Diego Siciliani", UserType: "Member", AccountEnabled: true, Protected: true},
	}
}

// goldenRun renders one run for a golden file: the command, its exit code, the report's
// stable columns row by row, the summary's counts and, against graphsim, how often each user
// of the tenant was revoked.
func goldenRun(t *testing.T, b *strings.Builder, sim *graphsim.Server, args []string, res cliResult, out string) {
	t.Helper()
	fmt.Fprintf(b, "$ bulkrevoke %s\nexit %d\n", strings.Join(args, " "), res.code)
	rows := readReport(t, out)
	lines := make([]int, 0, len(rows))
	for l := range rows {
		lines = append(lines, l)
	}
	slices.Sort(lines)
	b.WriteString("line,input,status,http_status,error_code,user_id,user_principal_name,tenant_id,note,error_message\n")
	for _, l := range lines {
		r := rows[l]
		fmt.Fprintf(b, "%d,%q,%s,%d,%s,%s,%s,%s,%q,%q\n", r.Line, r.Input, r.Status, r.HTTP, r.Code, r.UserID, r.UPN, r.TenantID, r.Note, r.Message)
	}
	in := false
	for _, l := range strings.Split(res.stderr, "\n") {
		switch {
		case strings.HasPrefix(l, "Revoked sign-in sessions") || strings.HasPrefix(l, "Dry run:"):
			in = true
		case strings.HasPrefix(l, "Elapsed"):
			in = false
		}
		if in {
			b.WriteString("| " + l + "\n")
		}
	}
	if sim != nil {
		for _, u := range sim.Users() {
			fmt.Fprintf(b, "revocations %s %d\n", u.UPN, len(sim.Revocations(u.ID)))
		}
	}
	b.WriteString("\n")
}

// TestSrcExportsGolden runs the CLI on each file shape responders hold (Windows PowerShell
// 5.1 and PowerShell 7 Export-Csv, a Defender hunting export, an Entra sign-in log download,
// a UTF-16 Out-File list): validate --offline, and a revoke against graphsim, each compared
// with testdata/golden/cli-exports/<file>.txt (go test . -run TestSrcExportsGolden -update
// rewrites them). Each file must give its statuses: no "#TYPE" line read as a user, no
// "invalid" page for a quoted export, duplicates that carry their first row's outcome.
func TestSrcExportsGolden(t *testing.T) {
	t.Parallel()
	// A break-glass list naming Megan by object id, where the export is read by UPN.
	breakglass := writeFile(t, "breakglass.csv", "AccountObjectId\n48d31887-5fad-4d73-a9f5-3c356e68a038\n")
	tests := []struct {
		file, golden string
		extra        []string
	}{
		{file: "ps51-export-csv.csv"},
		{file: "ps51-export-csv-utf8bom.csv"},
		{file: "ps7-export-csv.csv"},
		{file: "defender-advanced-hunting.csv"},
		{file: "defender-advanced-hunting.csv", golden: "defender-advanced-hunting-exclude-by-id", extra: []string{"--exclude", breakglass}},
		{file: "entra-signin-log.csv"},
		{file: "outfile-utf16le.txt"},
	}
	for _, tc := range tests {
		name := cmp.Or(tc.golden, strings.TrimSuffix(tc.file, filepath.Ext(tc.file)))
		t.Run(name, func(t *testing.T) {
			input := filepath.Join("testdata", "exports", tc.file)
			var b strings.Builder
			dir := t.TempDir()

			out := filepath.Join(dir, "offline.csv")
			args := append([]string{"validate", "--offline", "--input", input}, tc.extra...)
			res := runCLI(t, nil, "", append(args, "--report", out)...)
			goldenRun(t, &b, nil, args, res, out)

			sim, url := startSim(t, graphsim.Config{Seed: 83, Quota: graphsim.QuotaOff, TenantID: tenantIDs[0]}, exportsTenant())
			out = filepath.Join(dir, "revoke.csv")
			args = append([]string{"revoke", "--auth", "token", "--input", input, "--yes"}, tc.extra...)
			res = runCLI(t, tokenEnv(), "", append(args, "--graph-url", url, "--report", out)...)
			goldenRun(t, &b, sim, args, res, out)

			golden := filepath.Join("testdata", "golden", "cli-exports", name+".txt")
			got := strings.ReplaceAll(b.String(), breakglass, "breakglass.csv")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test . -run TestSrcExportsGolden -update writes it)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs (go test . -run TestSrcExportsGolden -update rewrites it):\n%s", golden, lineDiff(string(want), got))
			}
		})
	}
}

// TestSrcAppPoolSignInFails: an app of the pool that cannot sign in (no consent in the tenant:
// AADSTS700016) is left out with a warning, and the other apps do the work.
func TestSrcAppPoolSignInFails(t *testing.T) {
	t.Parallel()
	users := graphsim.GenerateUsers(400, 89)
	pool := newAppPool(t, 3, tenantIDs[0])
	pool.apps[2].Tenants = nil
	sim := graphsim.New(graphsim.Config{Seed: 89, Quota: graphsim.QuotaOff, TenantID: tenantIDs[0], Apps: pool.apps}, users)
	ss := serveSim(t, sim, simOpts{tls: true, record: true})
	out := filepath.Join(t.TempDir(), "report.csv")
	res := runCLIWith(t, cliOpts{env: pool.env, transport: ss.srv.Client().Transport}, append([]string{"revoke", "--input", upnFile(t, users), "--report", out, "--yes",
		"--app-pool", pool.file, "--tenant-id", tenantIDs[0]}, ss.secretSignIn()...)...)
	if res.code != exitOK {
		t.Fatalf("exit %d, want 0\n%s", res.code, res.stderr)
	}
	ss.drain()
	if st := countStatuses(readReport(t, out)); st[batch.StatusRevoked] != len(users) {
		t.Errorf("report %v, want %d revoked", st, len(users))
	}
	revokedOnce(t, sim.Tenant(tenantIDs[0]), idSet(users))
	apps := revokesByApp(ss.steps())
	if len(apps) != 2 || apps[strings.ToLower(pool.apps[2].ClientID)] != 0 {
		t.Errorf("revokes by app %v, want the two that signed in", apps)
	}
	containsAll(t, "stderr", res.stderr,
		"msg=\"an app of the pool could not sign in and is left out\"",
		"Dropped from the run:\n  app "+pool.apps[2].ClientID+" in tenant "+tenantIDs[0]+": cannot sign in: ", "AADSTS700016",
	)
}
