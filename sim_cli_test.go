//go:build unix

package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/bulkrevoke/bulkrevoke/batch"
	"github.com/bulkrevoke/bulkrevoke/graphsim"
)

// TestTryLocally runs testdata/script/local: the README's "Try everything locally" section,
// each command a separate process against a background `bulkrevoke sim`.
func TestTryLocally(t *testing.T) {
	testscript.Run(t, scriptParams(t, "testdata/script/local", map[string]func(ts *testscript.TestScript, neg bool, args []string){
		"mkfifo":   scriptMkfifo,
		"readline": scriptReadline,
		"cols":     scriptCols,
	}))
}

// scriptMkfifo makes a named pipe: "mkfifo NAME".
func scriptMkfifo(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: mkfifo NAME")
	}
	ts.Check(syscall.Mkfifo(ts.MkAbs(args[0]), 0o600))
}

// scriptReadline reads one line from a named pipe into an environment variable:
// "readline PIPE VAR". It blocks until a writer (sim --ready-file) writes the line; a writer
// that never comes fails the script after two minutes.
func scriptReadline(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: readline PIPE VAR")
	}
	// Opened read-write, the pipe does not wait for a writer to open, and reads take a
	// deadline (the runtime polls a pipe).
	f, err := os.OpenFile(ts.MkAbs(args[0]), os.O_RDWR, 0)
	ts.Check(err)
	defer f.Close()
	ts.Check(f.SetReadDeadline(time.Now().Add(2 * time.Minute)))
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil {
		ts.Fatalf("readline %s: %v (did the emulator start?)", args[0], err)
	}
	ts.Setenv(args[1], strings.TrimSpace(line))
}

// scriptCols prints the named columns of a CSV report, rows ordered by its line column:
// "cols FILE COLUMN...".
func scriptCols(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: cols FILE COLUMN...")
	}
	out, err := csvCols(ts.MkAbs(args[0]), args[1:])
	ts.Check(err)
	fmt.Fprint(ts.Stdout(), out)
}

func csvCols(path string, cols []string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil || len(recs) == 0 {
		return "", fmt.Errorf("%s: %v", path, err)
	}
	idx := map[string]int{}
	for i, h := range recs[0] {
		idx[h] = i
	}
	for _, c := range cols {
		if _, ok := idx[c]; !ok {
			return "", fmt.Errorf("%s: no column %q", path, c)
		}
	}
	rows := recs[1:]
	if l, ok := idx["line"]; ok {
		sort.SliceStable(rows, func(i, j int) bool {
			a, _ := strconv.Atoi(rows[i][l])
			b, _ := strconv.Atoi(rows[j][l])
			return a < b
		})
	}
	var b strings.Builder
	b.WriteString(strings.Join(cols, ",") + "\n")
	for _, r := range rows {
		cells := make([]string, len(cols))
		for i, c := range cols {
			cells[i] = r[idx[c]]
		}
		b.WriteString(strings.Join(cells, ",") + "\n")
	}
	return b.String(), nil
}

// TestTryLocallyREADME: every bulkrevoke command of the README's "Try everything locally"
// section is run by testdata/script/local/try-locally.txtar, in the README's order and with the
// same arguments (the script's $SIM standing for http://127.0.0.1:8080, $REPO/ for the
// repository, and --ready-file added). The README usage block's commands each appear there.
func TestTryLocallyREADME(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Try everything locally\n")
	if !ok {
		t.Fatal("README has no \"## Try everything locally\" section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var want [][]string
	for _, line := range strings.Split(section, "\n") {
		line, ok := strings.CutPrefix(line, "    ")
		if !ok || !strings.HasPrefix(line, "bulkrevoke ") {
			continue
		}
		words, err := shellWords(line)
		if err != nil {
			t.Fatalf("README: %q: %v", line, err)
		}
		want = append(want, words)
	}
	if len(want) < 10 {
		t.Fatalf("README's section has %d bulkrevoke commands", len(want))
	}

	script, err := os.ReadFile("testdata/script/local/try-locally.txtar")
	if err != nil {
		t.Fatal(err)
	}
	var got [][]string
	for _, line := range strings.Split(string(script), "\n") {
		if strings.HasPrefix(line, "-- ") {
			break
		}
		line = strings.TrimPrefix(line, "! ")
		rest, ok := strings.CutPrefix(line, "exec bulkrevoke ")
		if !ok {
			continue
		}
		words := append([]string{"bulkrevoke"}, scriptWords(rest)...)
		got = append(got, normalizeScriptCommand(words))
	}
	i := 0
	for _, g := range got {
		if i < len(want) && slices.Equal(g, want[i]) {
			i++
		}
	}
	if i < len(want) {
		t.Errorf("the script does not run README's command %d (in order):\n  %q\nscript commands:\n%s", i+1, want[i], quoteAll(got))
	}

	// The usage block: each command in it is tried in the section.
	_, usage, _ := strings.Cut(string(readme), "\n## Usage\n")
	usage, _, _ = strings.Cut(usage, "\nBuild with")
	for _, line := range strings.Split(usage, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "bulkrevoke" {
			continue
		}
		cmd := f[1]
		found := false
		for _, w := range want {
			found = found || w[1] == cmd
		}
		if !found {
			t.Errorf("the usage block's %q is not tried in \"Try everything locally\"", cmd)
		}
	}
}

func quoteAll(cmds [][]string) string {
	var b strings.Builder
	for _, c := range cmds {
		fmt.Fprintf(&b, "  %q\n", c)
	}
	return b.String()
}

// normalizeScriptCommand turns a script's command into the README's: the background marker
// and --ready-file dropped, $SIM and $REPO/ written as the README writes them.
func normalizeScriptCommand(words []string) []string {
	var out []string
	for i := 0; i < len(words); i++ {
		w := words[i]
		switch {
		case w == "--ready-file":
			i++
			continue
		case strings.HasPrefix(w, "&") && strings.HasSuffix(w, "&"):
			continue
		}
		w = strings.ReplaceAll(w, "$SIM", "http://127.0.0.1:8080")
		w = strings.ReplaceAll(w, "$REPO/", "")
		if w == "127.0.0.1:0" {
			w = "127.0.0.1:8080"
		}
		out = append(out, w)
	}
	return out
}

// shellWords splits a README command line as a POSIX shell would for these examples: quotes
// grouping words, a trailing & and a # comment left out.
func shellWords(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\'' || c == '"':
			j := strings.IndexByte(line[i+1:], c)
			if j < 0 {
				return nil, errors.New("unclosed quote")
			}
			cur.WriteString(line[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '#' && !inWord:
			i = len(line)
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	if n := len(words); n > 0 && words[n-1] == "&" {
		words = words[:n-1]
	}
	return words, nil
}

// scriptWords splits a testscript command line: single quotes group, and two of them inside
// quotes stand for one.
func scriptWords(line string) []string {
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quoted && c == '\'' && i+1 < len(line) && line[i+1] == '\'':
			cur.WriteByte('\'')
			i++
		case c == '\'':
			quoted, inWord = !quoted, true
		case !quoted && (c == ' ' || c == '\t'):
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// serveDemo serves the demo tenants and apps (those of --simulate and sim --demo) over
// loopback HTTP, the apps accepting secret, with graphsim's quotas off.
func serveDemo(t *testing.T, secret string) (*simServer, *appCounter) {
	t.Helper()
	cfg, users, err := demoWorld()
	if err != nil {
		t.Fatal(err)
	}
	for i := range cfg.Apps {
		cfg.Apps[i].Secret = secret
	}
	cfg.Quota = graphsim.QuotaOff
	cfg.Seed = 5
	apps := &appCounter{seen: map[string]int{}}
	ss := serveSim(t, graphsim.New(cfg, users), simOpts{seen: apps.see})
	if !strings.HasPrefix(ss.base, "http://127.0.0.1:") {
		t.Fatalf("the emulator listens on %s, not 127.0.0.1", ss.base)
	}
	return ss, apps
}

// appCounter counts Graph requests by the app (appid claim) whose token carried them, and
// token requests by client id (as "sign-in:<id>").
type appCounter struct {
	mu   sync.Mutex
	seen map[string]int
}

// see is a simOpts.seen.
func (a *appCounter) see(r *http.Request) {
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token") {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if form, err := url.ParseQuery(string(body)); err == nil {
			a.count("sign-in:" + form.Get("client_id"))
		}
	}
	if app, _ := tokenClaims(r.Header.Get("Authorization")); app != "" && strings.HasPrefix(r.URL.Path, "/v1.0/") {
		a.count(app)
	}
}

func (a *appCounter) count(app string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seen[app]++
}

func (a *appCounter) apps() map[string]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return maps.Clone(a.seen)
}

const demoSecret = "demo-app-secret-Qx7~k2"

// noSecret fails the test if the secret appears in the run's output or in any file of dir.
func noSecret(t *testing.T, res cliResult, dir, secret string) {
	t.Helper()
	if strings.Contains(res.stdout+res.stderr, secret) {
		t.Errorf("the secret is in the output:\n%s%s", res.stdout, res.stderr)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		if strings.Contains(string(b), secret) {
			t.Errorf("the secret is in %s", e.Name())
		}
	}
}

// TestSimSignInSecret: --auth secret signs in to the emulator on loopback through its token
// endpoint over plain http (azidentity, MSAL and its issuer check included), by tenant domain,
// and revokes with the token it got; the report records the tenant's id. A wrong secret is
// Entra's AADSTS7000215, exit 1, and nothing is sent to Graph. The secret appears nowhere.
func TestSimSignInSecret(t *testing.T) {
	t.Parallel()
	ss, apps := serveDemo(t, demoSecret)
	dir := t.TempDir()
	env := map[string]string{"AZURE_CLIENT_SECRET": demoSecret}
	out := filepath.Join(dir, "report.csv")
	args := append([]string{"revoke", "--auth", "secret", "--tenant-id", "contoso.com", "--client-id", simAppID,
		"--input", "testdata/demo-users.csv", "--report", out, "--yes"}, ss.secretSignIn()...)
	res := runCLI(t, env, "", args...)
	if res.code != exitIncomplete {
		t.Fatalf("exit %d, want 2 (the demo list's bad rows)\n%s", res.code, res.stderr)
	}
	rows := readReport(t, out)
	if r := rows[2]; r.Status != batch.StatusRevoked || r.TenantID != simTenantID {
		t.Errorf("line 2: %s in tenant %q, want revoked in %s", r.Status, r.TenantID, simTenantID)
	}
	if st := ss.sim.Stats(); st.TokenRequests == 0 || st.TokensIssued != st.TokenRequests || st.Revocations != 34 {
		t.Errorf("%d token requests, %d tokens, %d revocations; want sign-ins that all got a token and the 34 revocable users", st.TokenRequests, st.TokensIssued, st.Revocations)
	}
	if got := apps.apps(); len(got) != 2 || got[simAppID] == 0 || got["sign-in:"+simAppID] == 0 {
		t.Errorf("requests by app %v, want sign-ins and Graph requests of %s only", got, simAppID)
	}
	noSecret(t, res, dir, demoSecret)

	// A wrong secret: Entra's error, nothing sent to Graph.
	before := ss.sim.Stats()
	bad := filepath.Join(dir, "bad.csv")
	res = runCLI(t, map[string]string{"AZURE_CLIENT_SECRET": "not-" + demoSecret}, "",
		append([]string{"revoke", "--auth", "secret", "--tenant-id", simTenantID, "--client-id", simAppID,
			"--input", "testdata/demo-users.csv", "--report", bad, "--yes"}, ss.secretSignIn()...)...)
	if res.code != exitFailure || !strings.Contains(res.stderr, "AADSTS7000215") {
		t.Errorf("wrong secret: exit %d, want 1 with AADSTS7000215\n%s", res.code, res.stderr)
	}
	if st := ss.sim.Stats(); st.Steps != before.Steps || st.TokenRequests != before.TokenRequests+1 {
		t.Errorf("wrong secret: %d steps and %d token requests more, want only the refused sign-in", st.Steps-before.Steps, st.TokenRequests-before.TokenRequests)
	}
	noSecret(t, res, dir, "not-"+demoSecret)
	noFile(t, bad)
}

// TestSimAuthorityHost: a plain-http sign-in authority is accepted on a loopback address only
// (as --graph-url is); anywhere else it is refused before any request, and https is always
// accepted.
func TestSimAuthorityHost(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		host string
		ok   bool
	}{
		{"https://login.microsoftonline.us/", true},
		{"https://login.example.com", true},
		{"http://127.0.0.1:8080", true},
		{"http://localhost:8080/", true},
		{"http://[::1]:8080", true},
		{"http://login.example.com", false},
		{"http://10.0.0.5:8080", false},
		{"ftp://127.0.0.1", false},
		{"127.0.0.1:8080", false},
	} {
		_, err := checkAuthorityHost(tc.host)
		if (err == nil) != tc.ok {
			t.Errorf("checkAuthorityHost(%q): %v, want ok=%v", tc.host, err, tc.ok)
		}
	}

	ss, _ := serveDemo(t, demoSecret)
	dir := t.TempDir()
	out := filepath.Join(dir, "r.csv")
	res := runCLI(t, map[string]string{"AZURE_CLIENT_SECRET": demoSecret}, "", "revoke", "--auth", "secret",
		"--tenant-id", simTenantID, "--client-id", simAppID, "--input", "testdata/demo-users.csv", "--report", out, "--yes",
		"--authority-host", "http://login.example.com", "--graph-url", ss.url)
	if res.code != exitFailure || !strings.Contains(res.stderr, `--authority-host "http://login.example.com": only https is allowed (plain http only to a loopback address)`) {
		t.Errorf("exit %d\n%s", res.code, res.stderr)
	}
	if st := ss.sim.Stats(); st.Requests != 0 {
		t.Errorf("%d requests reached the emulator", st.Requests)
	}
	noFile(t, out)
}

// TestSimAppPool: --app-pool signs every app of the pool in to the emulator on loopback, each
// with the secret from the environment variable its row names, and the run revokes everyone
// revocable; every Graph request carries a token of one of the pool's apps.
func TestSimAppPool(t *testing.T) {
	t.Parallel()
	ss, apps := serveDemo(t, demoSecret)
	dir := t.TempDir()
	out := filepath.Join(dir, "pool.csv")
	res := runCLI(t, map[string]string{"AZURE_CLIENT_SECRET": demoSecret}, "",
		append([]string{"revoke", "--app-pool", "testdata/demo-app-pool.csv", "--tenant-id", "contoso.com",
			"--input", "testdata/demo-users.csv", "--report", out, "--yes"}, ss.secretSignIn()...)...)
	if res.code != exitIncomplete {
		t.Fatalf("exit %d, want 2\n%s", res.code, res.stderr)
	}
	if st := ss.sim.Stats(); st.TokensIssued != st.TokenRequests || st.Revocations != 34 {
		t.Errorf("%d token requests, %d tokens, %d revocations; want sign-ins that all got a token and 34 revocations", st.TokenRequests, st.TokensIssued, st.Revocations)
	}
	got := apps.apps()
	for _, app := range simAppIDs {
		if got["sign-in:"+app] == 0 {
			t.Errorf("app %s of the pool did not sign in: %v", app, got)
		}
	}
	for app := range got {
		if !slices.Contains(simAppIDs, strings.TrimPrefix(app, "sign-in:")) {
			t.Errorf("a request of app %s, not of the pool", app)
		}
	}
	noSecret(t, res, dir, demoSecret)
}

// TestSimulateTenants: --simulate serves the tenants a list's tenant column names: the demo
// tenants by id or domain, each row answered by its own tenant (a user of the other tenant is
// not found there), and any other tenant as a copy of the demo tenant, under its own id.
func TestSimulateTenants(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out := filepath.Join(dir, "tenants.csv")
	res := runCLI(t, nil, "", "revoke", "--simulate", "--input", "testdata/demo-tenants.csv", "--report", out, "--yes")
	if res.code != exitIncomplete || strings.Contains(res.stderr, "no_sign_in") {
		t.Fatalf("exit %d, want 2 (an admin and a user of the other tenant)\n%s", res.code, res.stderr)
	}
	rows := readReport(t, out)
	want := map[int][2]string{
		2: {"revoked", simTenantID}, 3: {"revoked", simTenantID}, 4: {"revoked", simTenantID},
		5: {"revoked", simTenant2ID}, 6: {"revoked", simTenant2ID}, 7: {"denied", simTenant2ID},
		8: {"revoked", simTenant2ID}, 9: {"not_found", simTenant2ID},
	}
	for line, w := range want {
		if r := rows[line]; string(r.Status) != w[0] || r.TenantID != w[1] {
			t.Errorf("line %d: %s in %q, want %s in %s", line, r.Status, r.TenantID, w[0], w[1])
		}
	}

	// Tenants outside the demo set, by id and by domain: copies of contoso.
	other := "0d0e0f00-1111-4222-8333-444455556666"
	list := writeFile(t, "other.csv", "tenant,upn\n"+other+",adele.vance@contoso.com\nexample.org,lee.gu@contoso.com\nfabrikam.com,gina.russo@fabrikam.com\n")
	out = filepath.Join(filepath.Dir(list), "other-report.csv")
	res = runCLI(t, nil, "", "revoke", "--simulate", "--input", list, "--report", out, "--yes")
	if res.code != exitOK {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	rows = readReport(t, out)
	if r := rows[2]; r.Status != batch.StatusRevoked || r.TenantID != other {
		t.Errorf("tenant by id: %s in %q", r.Status, r.TenantID)
	}
	if r := rows[3]; r.Status != batch.StatusRevoked || !isGUID(r.TenantID) || r.TenantID == simTenantID || r.TenantID == other {
		t.Errorf("tenant by domain: %s in %q, want revoked in a tenant of its own", r.Status, r.TenantID)
	}
	if r := rows[4]; r.Status != batch.StatusRevoked || r.TenantID != simTenant2ID {
		t.Errorf("fabrikam: %s in %q", r.Status, r.TenantID)
	}

	// Rows naming no tenant go to --tenant-id's.
	out = filepath.Join(dir, "fabrikam.csv")
	list = writeFile(t, "fab.csv", "userPrincipalName\ncarla.santos@fabrikam.com\n")
	res = runCLI(t, nil, "", "revoke", "--simulate", "--tenant-id", "fabrikam.com", "--input", list, "--report", out, "--yes")
	if res.code != exitOK || readReport(t, out)[2].TenantID != simTenant2ID {
		t.Errorf("--tenant-id fabrikam.com: exit %d\n%s", res.code, res.stderr)
	}
}

// TestSimulateDirectory: the demo tenant has what every source and containment needs: a nested
// Finance group (validate --simulate --group Finance reads its users, the nested groups counted
// apart), departments for --filter, and devices for --disable-devices.
func TestSimulateDirectory(t *testing.T) {
	t.Parallel()
	users, err := graphsim.ReadUsersCSV(strings.NewReader(string(demoTenant)))
	if err != nil {
		t.Fatal(err)
	}
	var finance []string
	for _, u := range users {
		if u.Department == "Finance" {
			finance = append(finance, u.UPN)
		}
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "finance.csv")
	res := runCLI(t, nil, "", "validate", "--simulate", "--group", "Finance", "--report", out)
	if res.code != exitOK {
		t.Fatalf("validate --group Finance: exit %d\n%s", res.code, res.stderr)
	}
	var got []string
	for _, r := range readReport(t, out) {
		if r.Status != batch.StatusWouldRevoke {
			t.Errorf("line %d: %s", r.Line, r.Status)
		}
		got = append(got, r.UPN)
	}
	slices.Sort(got)
	slices.Sort(finance)
	if len(finance) < 5 || !slices.Equal(got, finance) {
		t.Errorf("group Finance: %v, want the Finance department %v", got, finance)
	}

	out = filepath.Join(dir, "sales.csv")
	res = runCLI(t, nil, "", "revoke", "--simulate", "--filter", "department eq 'Sales'", "--dry-run", "--disable-devices", "--report", out)
	if res.code != exitOK {
		t.Fatalf("--filter: exit %d\n%s", res.code, res.stderr)
	}
	devices := 0
	for _, r := range readReport(t, out) {
		if r.Devices != nil {
			devices += *r.Devices
		}
	}
	if devices == 0 {
		t.Error("the Sales users of the demo tenant have no devices")
	}
}

// TestSimStateSaver: the emulator's state file follows every change without waiting for the
// emulator to stop: after a block lands, the saver writes a state in which the user is
// blocked, and a server built from the file serves the block.
func TestSimStateSaver(t *testing.T) {
	t.Parallel()
	cfg, users, err := demoWorld()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Token = simToken
	sim := graphsim.New(cfg, users)
	ss := serveSim(t, sim, simOpts{})
	path := filepath.Join(t.TempDir(), "state.json")
	state := &simState{path: path, sim: sim}
	saved := make(chan error, 16) // a change may be signalled twice: never block the saver
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		keepState(state, stop, func(err error) { saved <- err })
	}()
	defer func() { close(stop); <-done }()

	req, _ := http.NewRequest("PATCH", ss.url+"/users/adele.vance@contoso.com", strings.NewReader(`{"accountEnabled":false}`))
	req.Header.Set("Authorization", "Bearer "+simToken)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 204 {
		t.Fatalf("block: %v %v", res, err)
	}
	res.Body.Close()
	select {
	case err := <-saved:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("no save after the change")
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := graphsim.ReadState(f)
	if err != nil {
		t.Fatal(err)
	}
	cfg2, users2 := st.Config(graphsim.Config{})
	if u, _ := graphsim.New(cfg2, users2).User("adele.vance@contoso.com"); u.AccountEnabled {
		t.Error("the saved state has the user enabled")
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %v (%v), want 0600", info.Mode(), err)
	}
}

// TestSimStateRefused: a state file the emulator cannot serve stops sim before it listens,
// saying so, and is left as it was; a loopback address is still required.
func TestSimStateRefused(t *testing.T) {
	t.Parallel()
	bad := writeFile(t, "state.json", `{"version":1,"tenants":[],"defaultApp":"x","apps":[]}`)
	res := runCLI(t, nil, "", "sim", "--state", bad, "--addr", "127.0.0.1:0")
	if res.code != exitFailure || !strings.Contains(res.stderr, "graphsim state: no tenant") ||
		!strings.Contains(res.stderr, "hint: remove the file to start from a fresh tenant") || res.stdout != "" {
		t.Errorf("exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if b, _ := os.ReadFile(bad); !strings.Contains(string(b), `"tenants":[]`) {
		t.Errorf("the refused state file was rewritten: %s", b)
	}
	res = runCLI(t, nil, "", "sim", "--demo", "--addr", "0.0.0.0:0")
	if res.code != exitFailure || !strings.Contains(res.stderr, "is not a loopback address") {
		t.Errorf("--addr 0.0.0.0:0: exit %d\n%s", res.code, res.stderr)
	}
}
