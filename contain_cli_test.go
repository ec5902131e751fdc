package main

// CLI tests of containment (issue 10): revoke --block-sign-in --disable-devices on a mixed list,
// its dry run, enable --from (the rollback), a containment run killed with SIGKILL and resumed
// then rolled back, and the reports enable must refuse. Every test runs the command against
// graphsim over real loopback HTTP and judges it by graphsim's journal (what landed, in which
// order) as much as by the reports; batch/contain_test.go covers the same promises at the
// engine level. No test or subtest here runs in parallel: the command runs in-process, and
// urfave/cli sets its flags up in state that concurrent runs share (the race detector says so).

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulkrevoke/bulkrevoke/batch"
	"github.com/bulkrevoke/bulkrevoke/graphsim"
	"github.com/bulkrevoke/bulkrevoke/report"
)

// The tenant and app the containment tests sign in as, and a second tenant for the report of
// "another tenant".
const (
	containTenant = "c0ffee00-1111-4222-8333-444455556666"
	foreignTenant = "0dd0dd00-7777-4888-8999-aaaabbbbcccc"
	containApp    = "a9900000-1111-4222-8333-444455556666"
)

// population is a tenant for containment and the list naming part of it. Users and devices are as
// seeded: the state every rollback must return to.
type population struct {
	users   []graphsim.User
	devices []graphsim.Device

	admin, synced, disabled, guest, excluded graphsim.User
	// processed are the users the list names that the run acts on: found, not excluded.
	processed                        []graphsim.User
	line                             map[string]int // user id -> its input line
	ghostLine, dupLine, excludedLine int
	list, exclude                    string // file contents
}

// newPopulation builds 48 users: 41 listed by UPN (one of them excluded), then a user that does
// not exist and a repeat of a listed user by object id; the last 7 are not listed. Among the
// listed: an admin the app may not touch (403, when withAdmin), a user synced from on-premises
// AD, a user already disabled and a guest. Devices are graphsim's random ones plus three that
// pin the edges: one only an unlisted user has, one only the excluded user has, and one owned
// by an unlisted user but registered to a listed one (found through registeredDevices).
func newPopulation(t *testing.T, withAdmin bool) *population {
	t.Helper()
	users := graphsim.GenerateUsers(48, 21)
	for i := range users {
		// Only the roles below, so that every user's expected fate is known by name.
		users[i].Protected, users[i].OnPremisesSyncEnabled, users[i].AccountEnabled = false, false, true
	}
	p := &population{line: map[string]int{}}
	users[3].Protected = withAdmin
	users[4].OnPremisesSyncEnabled = true
	users[5].AccountEnabled = false
	p.admin, p.synced, p.disabled, p.excluded = users[3], users[4], users[5], users[40]
	for _, u := range users[6:40] {
		if u.UserType == "Guest" {
			p.guest = u
			break
		}
	}
	if p.guest.ID == "" {
		t.Fatal("the seed gives no guest among the listed users")
	}
	devices := graphsim.GenerateDevices(users, 21)
	devices = append(devices,
		graphsim.Device{ID: "d0000001-0000-4000-8000-000000000001", DeviceID: "e0000001-0000-4000-8000-000000000001", DisplayName: "UNLISTED-ONLY",
			AccountEnabled: true, Owners: []string{users[45].ID}, RegisteredUsers: []string{users[45].ID}},
		graphsim.Device{ID: "d0000002-0000-4000-8000-000000000002", DeviceID: "e0000002-0000-4000-8000-000000000002", DisplayName: "EXCLUDED-ONLY",
			AccountEnabled: true, Owners: []string{users[40].ID}, RegisteredUsers: []string{users[40].ID}},
		graphsim.Device{ID: "d0000003-0000-4000-8000-000000000003", DeviceID: "e0000003-0000-4000-8000-000000000003", DisplayName: "SHARED-KIOSK",
			AccountEnabled: true, Owners: []string{users[46].ID}, RegisteredUsers: []string{users[46].ID, users[12].ID}},
	)
	p.users, p.devices = users, devices
	var b strings.Builder
	b.WriteString("userPrincipalName\n")
	for i, u := range users[:41] {
		b.WriteString(u.UPN + "\n")
		p.line[u.ID] = i + 2
	}
	p.excludedLine = p.line[p.excluded.ID]
	p.ghostLine, p.dupLine = 43, 44
	b.WriteString("ghost.user@contoso.onmicrosoft.com\n" + users[7].ID + "\n")
	p.list = b.String()
	p.exclude = p.excluded.UPN + "\n"
	p.processed = users[:40]
	return p
}

// devicesOf lists the devices a user owns or is registered to: what the run must find.
func (p *population) devicesOf(userID string) []graphsim.Device {
	var out []graphsim.Device
	for _, d := range p.devices {
		if slices.Contains(d.Owners, userID) || slices.Contains(d.RegisteredUsers, userID) {
			out = append(out, d)
		}
	}
	return out
}

// devicesCount reports whether a report row's devices count is right for the user: every
// device the user owns or is registered to, each once, whichever user's listing Graph answered
// first for a shared device.
func (p *population) devicesCount(userID string, got *int) bool {
	return got != nil && *got == len(p.devicesOf(userID))
}

// reachable is every device of a processed user, by object id.
func (p *population) reachable() map[string]graphsim.Device {
	m := map[string]graphsim.Device{}
	for _, u := range p.processed {
		for _, d := range p.devicesOf(u.ID) {
			m[d.ID] = d
		}
	}
	return m
}

func (p *population) userByLine(line int) (graphsim.User, bool) {
	for _, u := range p.users {
		if p.line[u.ID] == line {
			return u, true
		}
	}
	return graphsim.User{}, false
}

// containWorld is a population served by graphsim in tenant containTenant, signed in to with a token of
// that tenant (so that reports carry its id), with the list and exclusions written to dir.
type containWorld struct {
	*population
	sim                  *graphsim.Server
	url                  string
	env                  map[string]string
	dir, input, excludes string
}

// startContain serves a new population (with an admin the app may not touch, when withAdmin).
func startContain(t *testing.T, withAdmin bool) *containWorld {
	t.Helper()
	p := newPopulation(t, withAdmin)
	sim, url := startSim(t, graphsim.Config{Seed: 21, TenantID: containTenant, AppID: containApp, Devices: p.devices,
		Latency: graphsim.Uniform{Min: time.Millisecond, Max: 8 * time.Millisecond},
		Tenants: []graphsim.Tenant{{ID: foreignTenant, Users: graphsim.GenerateUsers(3, 5)}}}, p.users)
	w := &containWorld{population: p, sim: sim, url: url}
	w.env = map[string]string{"BULKREVOKE_ACCESS_TOKEN": sim.IssueToken(containApp, containTenant)}
	w.dir, w.input, w.excludes = p.files(t)
	return w
}

// files writes the list and the exclusions to a fresh directory.
func (p *population) files(t *testing.T) (dir, input, excludes string) {
	t.Helper()
	dir = t.TempDir()
	input, excludes = filepath.Join(dir, "users.csv"), filepath.Join(dir, "exclude.csv")
	for path, content := range map[string]string{input: p.list, excludes: p.exclude} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir, input, excludes
}

// contain runs revoke --block-sign-in --disable-devices over the list into report.
func (w *containWorld) contain(t *testing.T, reportPath string, extra ...string) cliResult {
	t.Helper()
	args := cliArgs("revoke", w.url, w.input, reportPath, append([]string{"--block-sign-in", "--disable-devices", "--exclude", w.excludes}, extra...)...)
	return runCLI(t, w.env, "", args...)
}

// enable runs enable --from from --report reportPath --yes.
func (w *containWorld) enable(t *testing.T, env map[string]string, from, reportPath string, extra ...string) cliResult {
	t.Helper()
	return runCLI(t, env, "", enableArgs(w.url, from, reportPath, extra...)...)
}

// enableArgs is a non-interactive rollback of the run reported in from, signed in with a token.
func enableArgs(url, from, reportPath string, extra ...string) []string {
	return append([]string{"enable", "--auth", "token", "--graph-url", url, "--from", from, "--report", reportPath, "--yes"}, extra...)
}

// eventsByObject splits graphsim's journal by object: what landed on each user and device, in
// landing order.
func eventsByObject(evs []graphsim.Event) map[string][]graphsim.Event {
	m := map[string][]graphsim.Event{}
	for _, ev := range evs {
		k := strings.ToLower(ev.Object)
		m[k] = append(m[k], ev)
	}
	return m
}

// countKind counts the events of one kind.
func countKind(evs []graphsim.Event, kind graphsim.EventKind) int {
	n := 0
	for _, ev := range evs {
		if ev.Kind == kind {
			n++
		}
	}
	return n
}

// deviceOutcome is what a containment run reports for a device of a listed user: already
// disabled, or synced from AD, else what the run does to enabled cloud devices (disabled, or
// would_disable in a dry run).
func deviceOutcome(g graphsim.Device, enabled batch.DeviceOutcome) batch.DeviceOutcome {
	switch {
	case !g.AccountEnabled:
		return batch.DeviceAlreadyDisabled
	case g.OnPremisesSyncEnabled:
		return batch.DeviceSynced
	}
	return enabled
}

// intText prints an optional count cell for a failure message.
func intText(n *int) string {
	if n == nil {
		return "nil"
	}
	return strconv.Itoa(*n)
}

// checkSeeded asserts graphsim's users and devices are as seeded: what a rollback must leave.
func checkSeeded(t *testing.T, sim *graphsim.Server, p *population, what string) {
	t.Helper()
	for _, u := range p.users {
		now, _ := sim.User(u.ID)
		if now.AccountEnabled != u.AccountEnabled {
			t.Errorf("%s: user %s accountEnabled %v, %v before the containment run", what, u.UPN, now.AccountEnabled, u.AccountEnabled)
		}
	}
	for _, d := range p.devices {
		now, _ := sim.Device(d.ID)
		if now.AccountEnabled != d.AccountEnabled {
			t.Errorf("%s: device %s (%s) accountEnabled %v, %v before the containment run", what, d.ID, d.DisplayName, now.AccountEnabled, d.AccountEnabled)
		}
	}
}

// TestCLIContain runs revoke --block-sign-in --disable-devices on the mixed list and checks the
// issue's promises from graphsim's journal and the two reports: each block lands before its
// revoke, a failed block (admin, synced user) does not stop the revoke and is explained, users
// already disabled get no PATCH, no envelope has a dependsOn shape Graph refuses, the devices
// report lists every device of the listed users once with its outcome, and the new columns are
// filled. It first declines the confirmation prompt, which must say what will happen in words.
func TestCLIContain(t *testing.T) {
	t.Parallel()
	w := startContain(t, true)
	out := filepath.Join(w.dir, "report.csv")

	// At a terminal, without --yes: the prompt names the containment, and "no" sends nothing.
	res := confirmRevoke(t, w.url, w.input, out, "no\n", "--block-sign-in", "--disable-devices", "--exclude", w.excludes)
	containsAll(t, "declined prompt", res.stderr,
		"About to BLOCK SIGN-IN, revoke the sessions and DISABLE THE DEVICES of ",
		"Their accounts will be disabled until re-enabled (bulkrevoke enable --from <this report>).",
		"bulkrevoke: not confirmed; nothing was revoked",
	)
	if res.code != exitFailure {
		t.Errorf("declined: exit %d, want 1", res.code)
	}
	// Only the exclusion entry was looked up (a read): nothing was changed.
	if gs := w.sim.Stats(); gs.Writes != 0 || gs.Patches != 0 || gs.DevicePatches != 0 || gs.Reads > 1 {
		t.Fatalf("the declined run sent %d writes, %d user and %d device patches, %d reads", gs.Writes, gs.Patches, gs.DevicePatches, gs.Reads)
	}
	noFile(t, out)

	res = w.contain(t, out)
	// The admin is denied; the synced user is revoked but not blocked: both make the exit code 2.
	if res.code != exitIncomplete {
		t.Fatalf("exit %d, want 2\n%s", res.code, res.stderr)
	}
	if !strings.Contains(res.stderr, "could not be blocked (see block_error)") {
		t.Errorf("the summary does not mention the users that could not be blocked:\n%s", res.stderr)
	}
	rows := readReport(t, out)
	devs := readDevices(t, report.DevicesPath(out))
	gs := w.sim.Stats()
	byObject := eventsByObject(w.sim.Journal())

	if len(rows) != 43 {
		t.Errorf("%d report rows, want one per data line (43)", len(rows))
	}
	// users[7] is named twice; the checks below are written for its earlier line doing the
	// work. When the later line did (it was sent before the earlier's lookup came back), its
	// row and devices are checked as the earlier line's.
	first := w.line[w.users[7].ID]
	if doer, dup := samePair(t, rows, first, w.dupLine); doer != first {
		rows[first], rows[w.dupLine] = rows[doer], rows[dup]
		for i := range devs {
			if devs[i].Line == doer {
				devs[i].Line, devs[i].User = first, w.users[7].UPN
			}
		}
	}
	disabledOn := map[int]int{} // devices disabled, by the line they are reported with
	for _, d := range devs {
		if d.Outcome == batch.DeviceDisabled {
			disabledOn[d.Line]++
		}
	}
	blocked, revoked := 0, 0
	for _, u := range w.processed {
		line := w.line[u.ID]
		r, ok := rows[line]
		if !ok {
			t.Errorf("line %d (%s): no report row", line, u.UPN)
			continue
		}
		evs := byObject[strings.ToLower(u.ID)]
		var bad []string
		check := func(ok bool, format string, a ...any) {
			if !ok {
				bad = append(bad, fmt.Sprintf(format, a...))
			}
		}
		// Columns every processed row fills: the state read before any change, the devices
		// found (owned and registered, each once) and disabled, the tenant the run signed in to.
		check(r.TenantID == containTenant, "tenant_id %q", r.TenantID)
		check(r.PriorAccountEnabled != nil && *r.PriorAccountEnabled == u.AccountEnabled, "prior_account_enabled %s, seeded %v", boolText(r.PriorAccountEnabled), u.AccountEnabled)
		n := len(w.devicesOf(u.ID))
		check(w.devicesCount(u.ID, r.Devices), "devices %s, the user has %d", intText(r.Devices), n)
		check(r.DevicesDisabled != nil && *r.DevicesDisabled == disabledOn[line], "devices_disabled %s, the devices report has %d disabled for the line", intText(r.DevicesDisabled), disabledOn[line])
		blocks, revokes := countKind(evs, graphsim.EventBlock), countKind(evs, graphsim.EventRevoke)
		switch u.ID {
		case w.admin.ID:
			// 403 on the block and on the revoke: denied, and told which role would do.
			check(r.Status == batch.StatusDenied, "status %s, want denied", r.Status)
			check(isFalse(r.Blocked), "blocked %s, want false", boolText(r.Blocked))
			check(strings.Contains(r.BlockError, "403") && strings.Contains(r.BlockError, "Privileged Authentication Administrator"), "block_error %q", r.BlockError)
			check(blocks == 0 && revokes == 0, "%d blocks and %d revokes landed on a protected admin", blocks, revokes)
		case w.synced.ID:
			// Graph cannot block it: never PATCHed, still revoked, told to disable it in AD.
			check(r.Status == batch.StatusRevoked, "status %s, want revoked", r.Status)
			check(isFalse(r.Blocked), "blocked %s, want false", boolText(r.Blocked))
			check(strings.Contains(r.BlockError, "disable the account in AD"), "block_error %q, want the advice to disable it in AD", r.BlockError)
			check(strings.Contains(r.Note, "sign-in not blocked"), "note %q", r.Note)
			check(blocks == 0 && revokes == 1, "%d blocks, %d revokes; want 0 and 1", blocks, revokes)
		case w.disabled.ID:
			// Disabled before the run: no PATCH, and the prior state says so.
			check(r.Status == batch.StatusRevoked, "status %s, want revoked", r.Status)
			check(isFalse(r.Blocked) && strings.Contains(r.BlockError, "already disabled"), "blocked %s block_error %q", boolText(r.Blocked), r.BlockError)
			check(blocks == 0 && revokes == 1, "%d blocks, %d revokes; want 0 and 1", blocks, revokes)
		default:
			check(r.Status == batch.StatusRevoked, "status %s %s, want revoked", r.Status, r.Message)
			check(isTrue(r.Blocked) && r.BlockError == "", "blocked %s block_error %q, want true and none", boolText(r.Blocked), r.BlockError)
			check(blocks == 1 && revokes == 1, "%d blocks, %d revokes; want one each", blocks, revokes)
			// Landing order, by graphsim's sequence: the block first, or a fresh sign-in
			// between the two would outlive the containment.
			var blockSeq, revokeSeq int
			for _, ev := range evs {
				switch ev.Kind {
				case graphsim.EventBlock:
					blockSeq = ev.Seq
				case graphsim.EventRevoke:
					revokeSeq = ev.Seq
				}
			}
			check(blockSeq != 0 && blockSeq < revokeSeq, "block landed at #%d, revoke at #%d: the block must land first", blockSeq, revokeSeq)
			if u.ID == w.guest.ID {
				check(strings.Contains(r.Note, "guest"), "guest row without the guest note: %q", r.Note)
			}
			blocked++
		}
		if r.Status == batch.StatusRevoked {
			revoked++
		}
		if len(bad) > 0 {
			t.Errorf("line %d (%s): %s", line, u.UPN, strings.Join(bad, "; "))
		}
	}
	if blocked < 30 {
		t.Fatalf("only %d users blocked: the population is not what the test needs", blocked)
	}
	for line, want := range map[int]batch.Status{w.ghostLine: batch.StatusNotFound, w.dupLine: batch.StatusDuplicate, w.excludedLine: batch.StatusExcluded} {
		r := rows[line]
		if r.Status != want || r.Blocked != nil || r.Devices != nil {
			t.Errorf("line %d: %s blocked=%s devices=%s, want %s and neither blocked nor devices", line, r.Status, boolText(r.Blocked), intText(r.Devices), want)
		}
	}
	if r := rows[w.ghostLine]; r.TenantID != containTenant {
		t.Errorf("not_found row: tenant_id %q, want %s", r.TenantID, containTenant)
	}

	// Every PATCH graphsim received was a block that landed or the admin's refused one: none
	// went to the user disabled already nor to the synced user, and none was retried.
	if gs.Patches != blocked+1 {
		t.Errorf("graphsim received %d user PATCHes, want %d (the blocked users and the admin)", gs.Patches, blocked+1)
	}
	if gs.BadDependsOn != 0 || gs.EnvelopeStatuses[http.StatusBadRequest] != 0 {
		t.Errorf("graphsim refused %d envelopes for their dependsOn shape (%d envelopes answered 400)", gs.BadDependsOn, gs.EnvelopeStatuses[http.StatusBadRequest])
	}
	if gs.Revocations != revoked || gs.EarlyRetries != 0 {
		t.Errorf("%d revocations landed for %d revoked rows; %d early retries", gs.Revocations, revoked, gs.EarlyRetries)
	}

	// The devices report: every device of the processed users exactly once, with the line of
	// one of its users, its prior state and the outcome its state and sync flag call for.
	want := w.reachable()
	seen := map[string]int{}
	for _, d := range devs {
		seen[strings.ToLower(d.ID)]++
		g, ok := want[d.ID]
		if !ok {
			t.Errorf("devices report lists %s (%s), which no processed user owns or is registered to", d.ID, d.DisplayName)
			continue
		}
		u, _ := w.userByLine(d.Line)
		var bad []string
		if !slices.Contains(g.Owners, u.ID) && !slices.Contains(g.RegisteredUsers, u.ID) || d.User != u.UPN {
			bad = append(bad, fmt.Sprintf("reported with line %d (%s), not one of its users", d.Line, d.User))
		}
		if d.TenantID != containTenant || d.DeviceID != g.DeviceID || d.DisplayName != g.DisplayName {
			bad = append(bad, fmt.Sprintf("tenant %q device_id %q name %q", d.TenantID, d.DeviceID, d.DisplayName))
		}
		if d.PriorEnabled == nil || *d.PriorEnabled != g.AccountEnabled {
			bad = append(bad, "prior_account_enabled "+boolText(d.PriorEnabled))
		}
		wantOutcome := deviceOutcome(g, batch.DeviceDisabled)
		if d.Outcome != wantOutcome || (wantOutcome == batch.DeviceDisabled) != (d.HTTP == http.StatusNoContent) {
			bad = append(bad, fmt.Sprintf("outcome %s (HTTP %d), want %s", d.Outcome, d.HTTP, wantOutcome))
		}
		disables := countKind(byObject[strings.ToLower(d.ID)], graphsim.EventDeviceDisable)
		if (wantOutcome == batch.DeviceDisabled) != (disables == 1) || disables > 1 {
			bad = append(bad, fmt.Sprintf("%d disables landed", disables))
		}
		if len(bad) > 0 {
			t.Errorf("device %s (%s): %s", d.ID, g.DisplayName, strings.Join(bad, "; "))
		}
	}
	for id, g := range want {
		if seen[strings.ToLower(id)] != 1 {
			t.Errorf("device %s (%s) is in the devices report %d times, want once", id, g.DisplayName, seen[strings.ToLower(id)])
		}
	}
	if gs.DevicePatches != sumValues(disabledOn) {
		t.Errorf("graphsim received %d device PATCHes, the devices report has %d disabled: none may go to a synced or disabled device", gs.DevicePatches, sumValues(disabledOn))
	}
	// Nothing else landed: no event on an unlisted or excluded user, nor on a device only they have.
	for obj, evs := range byObject {
		_, isDevice := want[obj]
		isUser := slices.ContainsFunc(w.processed, func(u graphsim.User) bool { return strings.EqualFold(u.ID, obj) })
		if !isDevice && !isUser {
			t.Errorf("%d events landed on %s, which the run had no business touching", len(evs), obj)
		}
	}
	for _, id := range []string{"d0000001-0000-4000-8000-000000000001", "d0000002-0000-4000-8000-000000000002"} {
		if d, _ := w.sim.Device(id); !d.AccountEnabled {
			t.Errorf("device %s of an unlisted or excluded user was disabled", id)
		}
	}
	if d, _ := w.sim.Device("d0000003-0000-4000-8000-000000000003"); d.AccountEnabled {
		t.Error("a device registered to a listed user (owned by an unlisted one) was left enabled")
	}
}

// TestCLIContainDryRun: --dry-run with --block-sign-in --disable-devices reads each user and
// lists their devices, reports who would be blocked (would_block) or only revoked (disabled
// already, synced), the prior state and the device counts, and sends no write of any kind.
func TestCLIContainDryRun(t *testing.T) {
	t.Parallel()
	w := startContain(t, true)
	out := filepath.Join(w.dir, "dry.csv")
	// No --yes: a dry run changes nothing, so it asks nothing.
	args := slices.DeleteFunc(cliArgs("revoke", w.url, w.input, out, "--dry-run", "--block-sign-in", "--disable-devices", "--exclude", w.excludes),
		func(a string) bool { return a == "--yes" })
	res := runCLI(t, w.env, "", args...)
	// The missing user makes the exit code 2, as in any dry run.
	if res.code != exitIncomplete || !strings.Contains(res.stderr, "Dry run: nothing was revoked") {
		t.Fatalf("exit %d, want 2 with the dry run's summary\n%s", res.code, res.stderr)
	}
	gs := w.sim.Stats()
	if gs.Writes != 0 || gs.Patches != 0 || gs.DevicePatches != 0 || gs.Revocations != 0 {
		t.Errorf("the dry run sent %d revokes, %d user PATCHes, %d device PATCHes", gs.Writes, gs.Patches, gs.DevicePatches)
	}
	if evs := w.sim.Journal(); len(evs) != 0 {
		t.Errorf("%d changes landed in a dry run, the first %v on %s", len(evs), evs[0].Kind, evs[0].Object)
	}
	if gs.Reads == 0 || gs.Lists == 0 {
		t.Errorf("%d reads and %d listings: the dry run must read the users and list their devices", gs.Reads, gs.Lists)
	}
	if _, err := os.Stat(report.ChangesPath(out)); err == nil {
		t.Error("a dry run wrote a changes journal: it has no change to record")
	}
	rows := readReport(t, out)
	devs := readDevices(t, report.DevicesPath(out))
	samePair(t, rows, w.line[w.users[7].ID], w.dupLine)
	w.line[w.users[7].ID] = w.doerLine(rows)
	for _, u := range w.processed {
		line := w.line[u.ID]
		r := rows[line]
		want := batch.StatusWouldBlock
		if !u.AccountEnabled || u.OnPremisesSyncEnabled {
			want = batch.StatusWouldRevoke // nothing to block, or nothing Graph may block
		}
		n := len(w.devicesOf(u.ID))
		if r.Status != want || r.TenantID != containTenant ||
			r.PriorAccountEnabled == nil || *r.PriorAccountEnabled != u.AccountEnabled ||
			!w.devicesCount(u.ID, r.Devices) || r.DevicesDisabled == nil || *r.DevicesDisabled != 0 {
			t.Errorf("line %d (%s): %s prior=%s devices=%s disabled=%s tenant=%q; want %s prior=%v devices=%d disabled=0",
				line, u.UPN, r.Status, boolText(r.PriorAccountEnabled), intText(r.Devices), intText(r.DevicesDisabled), r.TenantID, want, u.AccountEnabled, n)
		}
	}
	want := w.reachable()
	seen := map[string]int{}
	for _, d := range devs {
		seen[d.ID]++
		g := want[d.ID]
		wantOutcome := deviceOutcome(g, batch.DeviceWouldDisable)
		if d.Outcome != wantOutcome || d.PriorEnabled == nil || *d.PriorEnabled != g.AccountEnabled {
			t.Errorf("device %s (%s): %s prior=%s, want %s prior=%v", d.ID, g.DisplayName, d.Outcome, boolText(d.PriorEnabled), wantOutcome, g.AccountEnabled)
		}
	}
	for id, g := range want {
		if seen[id] != 1 {
			t.Errorf("device %s (%s) is in the devices report %d times, want once", id, g.DisplayName, seen[id])
		}
	}
	if len(seen) != len(want) {
		t.Errorf("the devices report lists %d devices, the processed users have %d", len(seen), len(want))
	}
}

// contained is a world after revoke --block-sign-in --disable-devices: its report, the rows
// and device rows it holds, and graphsim's journal length then.
type contained struct {
	*containWorld
	out  string
	rows map[int]batch.Result
	devs []batch.DeviceResult
	mark int
	// users (by id) and devices (by object id) the run disabled that were enabled before it:
	// exactly what a rollback re-enables.
	blockedIDs, disabledIDs map[string]bool
}

// startContained is a containWorld after its containment run, with what that run disabled.
func startContained(t *testing.T, withAdmin bool) *contained {
	t.Helper()
	w := startContain(t, withAdmin)
	c := &contained{containWorld: w, out: filepath.Join(w.dir, "report.csv"), blockedIDs: map[string]bool{}, disabledIDs: map[string]bool{}}
	if res := w.contain(t, c.out); res.code != exitIncomplete { // the synced user is not blocked
		t.Fatalf("containment run: exit %d, want 2\n%s", res.code, res.stderr)
	}
	c.rows, c.devs, c.mark = readReport(t, c.out), readDevices(t, report.DevicesPath(c.out)), len(w.sim.Journal())
	w.line[w.users[7].ID] = w.doerLine(c.rows)
	for _, r := range c.rows {
		if isTrue(r.Blocked) && isTrue(r.PriorAccountEnabled) {
			c.blockedIDs[r.UserID] = true
		}
	}
	for _, d := range c.devs {
		if d.Outcome == batch.DeviceDisabled {
			c.disabledIDs[d.ID] = true
		}
	}
	// The journal agrees: what the rollback must undo is what landed.
	for _, ev := range w.sim.Journal() {
		switch {
		case ev.Kind == graphsim.EventBlock && !c.blockedIDs[ev.Object]:
			t.Fatalf("user %s was blocked, its report row does not say so", ev.Object)
		case ev.Kind == graphsim.EventDeviceDisable && !c.disabledIDs[ev.Object]:
			t.Fatalf("device %s was disabled, the devices report does not say so", ev.Object)
		}
	}
	if len(c.blockedIDs) < 30 || len(c.disabledIDs) < 20 {
		t.Fatalf("the run disabled %d users and %d devices: too few for the test", len(c.blockedIDs), len(c.disabledIDs))
	}
	return c
}

// doerLine is the line whose row did the work for users[7], named twice: the row that is not
// the other's duplicate (see samePair).
func (w *population) doerLine(rows map[int]batch.Result) int {
	first := w.line[w.users[7].ID]
	if rows[first].Status == batch.StatusDuplicate && rows[w.dupLine].Status != batch.StatusDuplicate {
		return w.dupLine
	}
	return first
}

// checkUndone asserts that what landed since the containment run is one re-enable of each user
// in users and each device in devices, and nothing else.
func (c *contained) checkUndone(t *testing.T, users, devices map[string]bool) {
	t.Helper()
	got := map[graphsim.EventKind]map[string]int{graphsim.EventEnable: {}, graphsim.EventDeviceEnable: {}}
	for _, ev := range c.sim.Journal()[c.mark:] {
		m, ok := got[ev.Kind]
		if !ok {
			t.Errorf("the rollback made a %s of %s", ev.Kind, ev.Object)
			continue
		}
		m[ev.Object]++
	}
	for kind, want := range map[graphsim.EventKind]map[string]bool{graphsim.EventEnable: users, graphsim.EventDeviceEnable: devices} {
		for id := range want {
			if got[kind][id] != 1 {
				t.Errorf("%s of %s landed %d times, want once: the run disabled it", kind, id, got[kind][id])
			}
		}
		for id, n := range got[kind] {
			if !want[id] {
				t.Errorf("%s of %s landed %d times: the run did not disable it", kind, id, n)
			}
		}
	}
}

// TestCLIRollback: enable --from the containment run's report re-enables exactly the users and
// devices that run disabled, as graphsim's journal shows, never a user the run found disabled
// already; without --devices only the users; --dry-run nothing, also when it resumes an earlier
// rollback.
func TestCLIRollback(t *testing.T) {
	t.Parallel()
	t.Run("users and devices", func(t *testing.T) {
		c := startContained(t, true)
		back := filepath.Join(c.dir, "back.csv")

		// Declined at a terminal: the prompt counts what would be re-enabled; nothing is sent.
		before := c.sim.Stats().Requests
		args := slices.DeleteFunc(enableArgs(c.url, c.out, back, "--devices"), func(a string) bool { return a == "--yes" })
		res := runCLIWith(t, cliOpts{env: c.env, tty: true, stdin: "no\n"}, args...)
		if res.code != exitFailure || !strings.Contains(res.stderr, "About to RE-ENABLE sign-in for ") ||
			!strings.Contains(res.stderr, fmt.Sprintf(" and %d devices that the run reported in %s disabled.", len(c.disabledIDs), c.out)) ||
			!strings.Contains(res.stderr, "nothing was re-enabled") {
			t.Errorf("declined rollback: exit %d\n%s", res.code, res.stderr)
		}
		if n := c.sim.Stats().Requests - before; n != 0 {
			t.Errorf("the declined rollback sent %d requests", n)
		}
		noFile(t, back)

		res = c.enable(t, c.env, c.out, back, "--devices")
		// The admin's block was recorded as an intent, but the report says Graph refused it:
		// there is nothing to undo, so no PATCH, the row unchanged, and the rollback succeeds.
		if res.code != exitOK {
			t.Errorf("rollback: exit %d, want 0\n%s", res.code, res.stderr)
		}
		c.checkUndone(t, c.blockedIDs, c.disabledIDs)
		checkSeeded(t, c.sim, c.population, "after the rollback")
		if now, _ := c.sim.User(c.disabled.ID); now.AccountEnabled {
			t.Errorf("the user the run found disabled already was re-enabled")
		}
		rows := readReport(t, back)
		for _, u := range c.processed {
			r, ok := rows[c.line[u.ID]]
			want := batch.StatusUnchanged
			if c.blockedIDs[u.ID] {
				want = batch.StatusEnabled
			}
			switch {
			case !ok:
				t.Errorf("line %d (%s): no rollback row", c.line[u.ID], u.UPN)
			case r.Status != want || r.TenantID != containTenant:
				t.Errorf("line %d (%s): %s in tenant %q, want %s in %s\n%s", r.Line, u.UPN, r.Status, r.TenantID, want, containTenant, res.stderr)
			}
		}
		for _, line := range []int{c.ghostLine, c.excludedLine} {
			if r, ok := rows[line]; ok && r.Status != batch.StatusUnchanged {
				t.Errorf("line %d: %s in the rollback, want unchanged (the run changed nothing of it)", line, r.Status)
			}
		}
		seen := map[string]int{}
		for _, d := range readDevices(t, report.DevicesPath(back)) {
			seen[d.ID]++
			if d.Outcome != batch.DeviceEnabled || !c.disabledIDs[d.ID] {
				t.Errorf("rollback devices report: %s %s (disabled by the run: %v)", d.ID, d.Outcome, c.disabledIDs[d.ID])
			}
		}
		for id := range c.disabledIDs {
			if seen[id] != 1 {
				t.Errorf("device %s is in the rollback's devices report %d times, want once", id, seen[id])
			}
		}
	})

	t.Run("users only", func(t *testing.T) {
		c := startContained(t, true)
		back := filepath.Join(c.dir, "back.csv")
		if res := c.enable(t, c.env, c.out, back); res.code != exitOK {
			t.Errorf("rollback of users: exit %d, want 0\n%s", res.code, res.stderr)
		}
		c.checkUndone(t, c.blockedIDs, nil)
		for id := range c.disabledIDs {
			if d, _ := c.sim.Device(id); d.AccountEnabled {
				t.Errorf("device %s re-enabled without --devices", id)
			}
		}
		if _, err := os.Stat(report.DevicesPath(back)); err == nil {
			t.Error("a rollback without --devices wrote a devices report")
		}
		rows := readReport(t, back)
		for id := range c.blockedIDs {
			if r := rows[c.line[id]]; r.Status != batch.StatusEnabled {
				t.Errorf("line %d: %s, want enabled", c.line[id], r.Status)
			}
		}
	})

	t.Run("dry run", func(t *testing.T) {
		c := startContained(t, true)
		before := c.sim.Stats()
		dry := filepath.Join(c.dir, "dry.csv")
		res := c.enable(t, c.env, c.out, dry, "--devices", "--dry-run")
		if res.code != exitOK {
			t.Errorf("dry rollback: exit %d, want 0\n%s", res.code, res.stderr)
		}
		if gs := c.sim.Stats(); gs.Patches != before.Patches || gs.DevicePatches != before.DevicePatches || gs.Writes != before.Writes {
			t.Errorf("the dry rollback sent %d user and %d device PATCHes", gs.Patches-before.Patches, gs.DevicePatches-before.DevicePatches)
		}
		c.checkUndone(t, nil, nil)
		rows := readReport(t, dry)
		for id := range c.blockedIDs {
			if r := rows[c.line[id]]; r.Status != batch.StatusWouldEnable || !strings.Contains(r.Note, "dry run: would re-enable sign-in") {
				t.Errorf("line %d: %s %q, want would_enable with what would be re-enabled", c.line[id], r.Status, r.Note)
			}
		}
		if r := rows[c.line[c.disabled.ID]]; strings.Contains(r.Note, "would re-enable sign-in") {
			t.Errorf("the user disabled before the run: %q", r.Note)
		}
	})

	t.Run("dry run resuming a rollback", func(t *testing.T) {
		c := startContained(t, false)
		back := filepath.Join(c.dir, "back.csv")
		if res := c.enable(t, c.env, c.out, back, "--devices"); res.code != exitOK {
			t.Fatalf("rollback: exit %d\n%s", res.code, res.stderr)
		}
		// The rollback as a crash would have left it: ten re-enabled users' rows missing.
		var drop []int
		for id := range c.blockedIDs {
			if len(drop) < 10 {
				drop = append(drop, c.line[id])
			}
		}
		cutReport(t, back, drop...)
		before, mark := c.sim.Stats(), len(c.sim.Journal())
		dry := filepath.Join(c.dir, "dry.csv")
		res := c.enable(t, c.env, c.out, dry, "--devices", "--dry-run", "--resume", back)
		if res.code != exitOK {
			t.Errorf("dry resumed rollback: exit %d, want 0\n%s", res.code, res.stderr)
		}
		if gs := c.sim.Stats(); gs.Patches != before.Patches || gs.DevicePatches != before.DevicePatches {
			t.Errorf("a dry run resuming a rollback sent %d user and %d device PATCHes", gs.Patches-before.Patches, gs.DevicePatches-before.DevicePatches)
		}
		if evs := c.sim.Journal()[mark:]; len(evs) != 0 {
			t.Errorf("%d changes landed in a dry run", len(evs))
		}
		rows := readReport(t, dry)
		for _, line := range drop {
			if r := rows[line]; r.Status != batch.StatusWouldEnable || !strings.Contains(r.Note, "dry run: would re-enable sign-in") {
				t.Errorf("line %d, missing from the resumed rollback's report: %s %q, want what would be re-enabled", line, r.Status, r.Note)
			}
		}
	})
}

// countPatches counts the PATCH steps of a $batch body whose URL starts with /users or /devices
// (object is "users" or "devices"). The SDK gzips request bodies.
func countPatches(body []byte, encoding, object string) int64 {
	if strings.EqualFold(encoding, "gzip") {
		gz, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return 0
		}
		if body, err = io.ReadAll(gz); err != nil {
			return 0
		}
	}
	var env struct {
		Requests []struct{ Method, URL string }
	}
	if json.Unmarshal(body, &env) != nil {
		return 0
	}
	var n int64
	for _, r := range env.Requests {
		if strings.EqualFold(r.Method, http.MethodPatch) && strings.HasPrefix(strings.TrimPrefix(r.URL, "/"), object) {
			n++
		}
	}
	return n
}

// TestCLIContainKillResume kills revoke --block-sign-in --disable-devices (a real child
// process, SIGKILL) right after Graph carried out the envelope holding its Nth user or device
// PATCH, before the answer reaches it: those changes landed, and the dead run recorded only its
// intent to make them. The run is resumed from its (possibly torn) report, then rolled back
// with enable --devices. graphsim's state must be back to what it was for every user and
// device, each change the run made undone exactly once, and nothing sent twice that the
// killed run's report says was done.
func TestCLIContainKillResume(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		object string // what the Nth PATCH changes
		nth    int64
	}{{"users", 25}, {"devices", 12}} {
		t.Run(fmt.Sprintf("%s PATCH %d", tc.object, tc.nth), func(t *testing.T) {
			containKillResume(t, tc.object, tc.nth)
		})
	}
}

// containKillResume is one case of TestCLIContainKillResume: the kill at the nth PATCH of object.
func containKillResume(t *testing.T, object string, nth int64) {
	p := newPopulation(t, false)
	dir, input, excludes := p.files(t)
	child := new(childProc)
	var (
		patches atomic.Int64
		fired   atomic.Bool
	)
	rs := serveSim(t, tokenSim(graphsim.Config{Seed: nth, Devices: p.devices, Latency: graphsim.Uniform{Min: time.Millisecond, Max: 8 * time.Millisecond}}, p.users), simOpts{hook: func(rs *simServer, _ int64, w http.ResponseWriter, r *http.Request) bool {
		if fired.Load() {
			return false // what the dead child had sent already still arrives
		}
		body, err := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if err != nil {
			return false
		}
		n := countPatches(body, r.Header.Get("Content-Encoding"), object)
		if n == 0 || patches.Add(n) < nth || !fired.CompareAndSwap(false, true) {
			return false
		}
		// Graph does the work; the answer dies with the process.
		rs.serveThen(w, r, func() bool { child.signal(os.Kill); return false })
		return true
	}})
	first, second, back := filepath.Join(dir, "first.csv"), filepath.Join(dir, "second.csv"), filepath.Join(dir, "back.csv")
	containArgs := []string{"--block-sign-in", "--disable-devices", "--exclude", excludes}
	childURL, closeChild := rs.separate(t)
	child.start(t, dir, nil, cliArgs("revoke", childURL, input, first, containArgs...)...)
	if code := child.wait(t); code != -1 || !fired.Load() {
		t.Fatalf("first run exited %d (kill fired: %v), want killed at %s PATCH %d; stderr:\n%s", code, fired.Load(), object, nth, child.stderr.String())
	}
	closeChild()
	rs.drain()
	firstRows, _ := readTornReport(t, first) // torn last line allowed
	firstDevs := readDevices(t, report.DevicesPath(first))
	mark1 := len(rs.sim.Journal())

	env := map[string]string{"BULKREVOKE_ACCESS_TOKEN": simToken}
	res := runCLI(t, env, "", cliArgs("revoke", rs.url, input, second, append(containArgs, "--resume", first)...)...)
	if res.code != exitIncomplete { // the synced user cannot be blocked
		t.Fatalf("resumed run: exit %d, want 2\n%s", res.code, res.stderr)
	}
	rs.drain()
	mark2 := len(rs.sim.Journal())
	secondRows := readReport(t, second)
	if len(secondRows) != 43 {
		t.Errorf("the resumed report has %d rows, want 43", len(secondRows))
	}
	// The resumed report states the prior state the killed run found, not the disabled state
	// it left: a rollback of the resumed run reads it there.
	p.line[p.users[7].ID] = p.doerLine(secondRows)
	for _, u := range p.processed {
		r := secondRows[p.line[u.ID]]
		wantBlocked := u.AccountEnabled && !u.OnPremisesSyncEnabled
		if r.Status != batch.StatusRevoked || isTrue(r.Blocked) != wantBlocked ||
			r.PriorAccountEnabled == nil || *r.PriorAccountEnabled != u.AccountEnabled {
			t.Errorf("resumed report, line %d (%s): %s blocked=%s prior=%s; want revoked blocked=%v prior=%v",
				r.Line, u.UPN, r.Status, boolText(r.Blocked), boolText(r.PriorAccountEnabled), wantBlocked, u.AccountEnabled)
		}
	}
	reachable := p.reachable()
	seen := map[string]int{}
	for _, d := range readDevices(t, report.DevicesPath(second)) {
		seen[d.ID]++
		g := reachable[d.ID]
		if g.AccountEnabled && !g.OnPremisesSyncEnabled && (d.Outcome != batch.DeviceDisabled || !isTrue(d.PriorEnabled)) {
			t.Errorf("resumed devices report: %s (%s) %s prior=%s, want disabled prior=true", d.ID, g.DisplayName, d.Outcome, boolText(d.PriorEnabled))
		}
	}
	for id, g := range reachable {
		if seen[id] != 1 {
			t.Errorf("device %s (%s) is in the resumed devices report %d times, want once", id, g.DisplayName, seen[id])
		}
	}

	res = runCLI(t, env, "", enableArgs(rs.url, second, back, "--devices")...)
	if res.code != exitOK {
		t.Errorf("rollback: exit %d, want 0\n%s", res.code, res.stderr)
	}
	rs.drain()
	checkSeeded(t, rs.sim, p, "after kill, resume and rollback")

	// The journal, run by run: 1 the killed run, 2 the resumed one, 3 the rollback.
	type tally struct{ blocks, revokes, disables [3]int }
	by := map[string]*tally{}
	firstBlock, firstRevoke := map[string]int{}, map[string]int{}
	for i, ev := range rs.sim.Journal() {
		run := 0
		switch {
		case i >= mark2:
			run = 2
		case i >= mark1:
			run = 1
		}
		k := strings.ToLower(ev.Object)
		if by[k] == nil {
			by[k] = &tally{}
		}
		switch ev.Kind {
		case graphsim.EventBlock, graphsim.EventDeviceDisable:
			by[k].blocks[run]++
			if firstBlock[k] == 0 {
				firstBlock[k] = ev.Seq
			}
		case graphsim.EventRevoke:
			by[k].revokes[run]++
			if firstRevoke[k] == 0 {
				firstRevoke[k] = ev.Seq
			}
		case graphsim.EventEnable, graphsim.EventDeviceEnable:
			by[k].disables[run]++ // re-enables, all in the rollback
		}
		if (run == 2) != (ev.Kind == graphsim.EventEnable || ev.Kind == graphsim.EventDeviceEnable) {
			t.Errorf("%s of %s landed in run %d", ev.Kind, ev.Object, run+1)
		}
	}
	get := func(id string) tally {
		if x := by[strings.ToLower(id)]; x != nil {
			return *x
		}
		return tally{}
	}
	firstSaysBlocked := map[string]bool{}
	for _, r := range firstRows {
		if isTrue(r.Blocked) {
			firstSaysBlocked[strings.ToLower(r.UserID)] = true
		}
	}
	pending, resent := 0, 0
	for _, u := range p.processed {
		x := get(u.ID)
		r, inFirst := firstRows[p.line[u.ID]]
		contain := u.AccountEnabled && !u.OnPremisesSyncEnabled
		switch {
		case !contain && x.blocks != [3]int{}:
			t.Errorf("%s (disabled before, or synced) was blocked: %v", u.UPN, x.blocks)
		case contain && x.blocks[0]+x.blocks[1] == 0:
			t.Errorf("%s was never blocked", u.UPN)
		case contain && x.blocks[0] > 1 || x.blocks[1] > 1:
			t.Errorf("%s was blocked %v times in one run", u.UPN, x.blocks)
		case x.blocks[0] == 1 && x.blocks[1] == 1 && firstSaysBlocked[strings.ToLower(u.ID)]:
			// Sending a block again is tolerable only when the killed run never learned that it
			// landed; its report said it did.
			t.Errorf("%s: the killed run's report says blocked, and the resumed run blocked it again", u.UPN)
		}
		if x.blocks[0] == 1 && !inFirst {
			pending++ // blocked, its row never written: the resume had only the changes journal
			if x.blocks[1] > 0 {
				resent++
			}
		}
		if contain && firstBlock[strings.ToLower(u.ID)] > firstRevoke[strings.ToLower(u.ID)] {
			t.Errorf("%s: the revoke landed before the block (#%d, #%d)", u.UPN, firstRevoke[strings.ToLower(u.ID)], firstBlock[strings.ToLower(u.ID)])
		}
		if x.revokes[0]+x.revokes[1] == 0 || x.revokes[0] > 1 || x.revokes[1] > 1 {
			t.Errorf("%s revoked %v times in the two runs", u.UPN, x.revokes)
		}
		if inFirst && r.Status == batch.StatusRevoked {
			if x.revokes[0] != 1 {
				t.Errorf("line %d says revoked, graphsim saw %d revokes of %s in the killed run", r.Line, x.revokes[0], u.UPN)
			}
			// A plain revoke does not look users up, so it cannot tell that the list names
			// users[7] twice (by UPN and by object id): only a containment run may skip it.
			if x.revokes[1] != 0 && (contain || u.ID != p.users[7].ID) {
				t.Errorf("%s: revoked in the killed run's report, and revoked again by the resumed run", u.UPN)
			}
		}
		if want := btoi(contain); x.disables[2] != want {
			t.Errorf("%s re-enabled %d times by the rollback, want %d", u.UPN, x.disables[2], want)
		}
	}
	firstSaysDisabled := map[string]bool{}
	for _, d := range firstDevs {
		if d.Outcome == batch.DeviceDisabled {
			firstSaysDisabled[d.ID] = true
		}
	}
	devPending := 0
	for id, g := range reachable {
		x := get(id)
		contain := g.AccountEnabled && !g.OnPremisesSyncEnabled
		switch {
		case !contain && x.blocks != [3]int{}:
			t.Errorf("device %s (disabled before, or synced) was disabled: %v", id, x.blocks)
		case contain && (x.blocks[0]+x.blocks[1] == 0 || x.blocks[0] > 1 || x.blocks[1] > 1):
			t.Errorf("device %s disabled %v times", id, x.blocks)
		case x.blocks[0] == 1 && x.blocks[1] == 1 && firstSaysDisabled[id]:
			t.Errorf("device %s: the killed run's devices report says disabled, and the resumed run disabled it again", id)
		}
		if x.blocks[0] == 1 && !firstSaysDisabled[id] {
			devPending++
		}
		if want := btoi(contain); x.disables[2] != want {
			t.Errorf("device %s re-enabled %d times by the rollback, want %d", id, x.disables[2], want)
		}
	}
	for k := range by {
		_, isDevice := reachable[k]
		if !isDevice && !slices.ContainsFunc(p.processed, func(u graphsim.User) bool { return strings.EqualFold(u.ID, k) }) {
			t.Errorf("changes landed on %s, which no run had any business touching", k)
		}
	}
	// The kill must have left the resume something to do from the changes journal alone, or
	// the test proved nothing about it.
	switch {
	case object == "users" && pending == 0:
		t.Errorf("no user was blocked by the killed run without its row: the kill came too late")
	case object == "devices" && devPending == 0:
		t.Errorf("no device was disabled by the killed run without its row: the kill came too late")
	}
	t.Logf("killed run: %d rows; %d users blocked without a row (%d blocked again), %d devices disabled without a row",
		len(firstRows), pending, resent, devPending)
}

// TestCLIRollbackRefused: enable refuses, with the reason and what to do instead, and sends
// nothing to Graph, when given a report it cannot or must not undo: a run that contained
// nothing, a dry run, a rollback's own report, a report of another tenant, a report that is
// corrupt (not merely cut short), and no report at all.
func TestCLIRollbackRefused(t *testing.T) {
	t.Parallel()
	c := startContained(t, false)
	plain := filepath.Join(c.dir, "plain.csv")
	if res := runCLI(t, c.env, "", cliArgs("revoke", c.url, c.input, plain, "--exclude", c.excludes)...); res.code != exitIncomplete {
		t.Fatalf("plain revoke: exit %d\n%s", res.code, res.stderr)
	}
	dry := filepath.Join(c.dir, "dry.csv")
	if res := runCLI(t, c.env, "", cliArgs("revoke", c.url, c.input, dry, "--dry-run", "--block-sign-in", "--disable-devices", "--exclude", c.excludes)...); res.code != exitIncomplete {
		t.Fatalf("dry run: exit %d\n%s", res.code, res.stderr)
	}
	back := filepath.Join(c.dir, "back.csv")
	if res := c.enable(t, c.env, c.out, back, "--devices"); res.code != exitOK {
		t.Fatalf("rollback: exit %d\n%s", res.code, res.stderr)
	}
	// A report whose middle is damaged, not cut short by a crash: which rows can be trusted?
	data, err := os.ReadFile(c.out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(data), "\n")
	lines[5] = "7,this row,has,too few fields\n"
	corrupt := filepath.Join(t.TempDir(), "corrupt.csv")
	if err := os.WriteFile(corrupt, []byte(strings.Join(lines, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	otherTenant := map[string]string{"BULKREVOKE_ACCESS_TOKEN": c.sim.IssueToken(containApp, foreignTenant)}

	for _, tc := range []struct {
		name       string
		env        map[string]string
		args       []string // after enable --auth token --graph-url URL --report R --yes
		want, hint string
	}{
		{"a run that neither blocked nor disabled devices", c.env, []string{"--from", plain, "--devices"},
			plain + ": this run neither blocked sign-in nor disabled devices", "enable undoes revoke --block-sign-in and --disable-devices runs"},
		{"a dry run", c.env, []string{"--from", dry, "--devices"},
			dry + ": this is the report of a dry run: it changed nothing", "enable undoes revoke --block-sign-in and --disable-devices runs"},
		{"a rollback's report", c.env, []string{"--from", back, "--devices"},
			back + ": this is the report of a rollback", "give enable the report of the revoke run"},
		{"another tenant", otherTenant, []string{"--from", c.out, "--devices"},
			c.out + " is a report of tenant " + containTenant + ", but the sign-in is for tenant " + foreignTenant, "--tenant-id " + containTenant},
		{"a corrupt report", c.env, []string{"--from", corrupt, "--devices"}, corrupt + ":6: malformed report line", ""},
		{"no --from", c.env, []string{"--devices"}, "no report to undo", "bulkrevoke enable --from report.csv"},
		{"a --from that does not exist", c.env, []string{"--from", filepath.Join(c.dir, "nope.csv")},
			"open report: open " + filepath.Join(c.dir, "nope.csv"), "give --from the report that the revoke"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, mark := c.sim.Stats(), len(c.sim.Journal())
			out := filepath.Join(t.TempDir(), "rollback.csv")
			args := append([]string{"enable", "--auth", "token", "--graph-url", c.url, "--report", out, "--yes"}, tc.args...)
			res := runCLI(t, tc.env, "", args...)
			if res.code != exitFailure || !strings.Contains(res.stderr, "bulkrevoke: "+tc.want) {
				t.Errorf("exit %d, want 1 with %q\n%s", res.code, tc.want, res.stderr)
			}
			if _, hint, _ := strings.Cut(res.stderr, "\nhint: "); tc.hint != "" && !strings.Contains(hint, tc.hint) {
				t.Errorf("hint %q, want it to say %q", hint, tc.hint)
			}
			if gs := c.sim.Stats(); gs.Requests != before.Requests || gs.Patches != before.Patches || gs.DevicePatches != before.DevicePatches {
				t.Errorf("a refused rollback sent %d requests (%d user and %d device PATCHes)",
					gs.Requests-before.Requests, gs.Patches-before.Patches, gs.DevicePatches-before.DevicePatches)
			}
			if n := len(c.sim.Journal()) - mark; n != 0 {
				t.Errorf("%d changes landed", n)
			}
			noFile(t, out)
			noFile(t, report.DevicesPath(out))
			noFile(t, report.ChangesPath(out))
		})
	}
}

// tearRow rewrites a report as a crash mid-write leaves it: the row of input line `line` last
// and cut in the middle of its user_id cell, without a newline. It returns the torn text.
func tearRow(t *testing.T, path string, line int) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	var row string
	for i, l := range strings.SplitAfter(strings.TrimSuffix(string(data), "\n"), "\n") {
		if i > 0 && strings.HasPrefix(l, strconv.Itoa(line)+",") {
			row = strings.TrimSuffix(l, "\n")
			continue
		}
		kept = append(kept, strings.TrimSuffix(l, "\n")+"\n")
	}
	cells := strings.SplitN(row, ",", 4) // line, input, user_id, rest: no quotes in the first three
	if len(cells) < 4 || len(cells[2]) != 36 {
		t.Fatalf("line %d: cannot tear row %q", line, row)
	}
	torn := strings.Join(cells[:2], ",") + "," + cells[2][:18]
	if err := os.WriteFile(path, []byte(strings.Join(kept, "")+torn), 0o600); err != nil {
		t.Fatal(err)
	}
	return torn
}

// TestCLIRollbackTorn: a containment run's report cut short mid-row (the process died while
// writing it) still rolls back; only its complete rows count as rows. With the changes journal
// next to it, the user of the torn row is re-enabled all the same, from the intent the run
// recorded before blocking; with the report alone, that user is left alone and every user of a
// complete row is re-enabled. Nothing is sent for the torn text (a half user id would be
// addressed by the input's UPN, or answered 404).
func TestCLIRollbackTorn(t *testing.T) {
	t.Parallel()
	for _, alone := range []bool{false, true} {
		name := "with the changes journal"
		if alone {
			name = "report alone"
		}
		t.Run(name, func(t *testing.T) {
			c := startContained(t, false)
			var tornID string
			for _, u := range c.processed {
				if c.blockedIDs[u.ID] && u.ID != c.users[7].ID {
					tornID = u.ID // a user the run blocked; not the one listed twice
				}
			}
			from := c.out
			if alone {
				from = filepath.Join(t.TempDir(), "report.csv")
				data, err := os.ReadFile(c.out)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(from, data, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			torn := tearRow(t, from, c.line[tornID])
			back := filepath.Join(c.dir, "back.csv")
			res := c.enable(t, c.env, from, back)
			if res.code != exitOK {
				t.Fatalf("rollback of a torn report: exit %d, want 0\n%s", res.code, res.stderr)
			}
			want := maps.Clone(c.blockedIDs)
			if alone {
				delete(want, tornID)
			}
			c.checkUndone(t, want, nil)
			if gs := c.sim.Stats(); gs.Statuses[http.StatusNotFound] != 1 { // the list's missing user, in the containment run
				t.Errorf("%d answers 404: something of the torn row %q was sent", gs.Statuses[http.StatusNotFound], torn)
			}
			rows := readReport(t, back)
			r, ok := rows[c.line[tornID]]
			switch {
			case alone && ok:
				t.Errorf("the torn row's line %d has a rollback row: %s", c.line[tornID], r.Status)
			case !alone && (!ok || r.Status != batch.StatusEnabled):
				t.Errorf("the torn row's line %d: %s (row: %v), want enabled from the changes journal", c.line[tornID], r.Status, ok)
			}
			for id := range want {
				if r := rows[c.line[id]]; r.Status != batch.StatusEnabled {
					t.Errorf("line %d: %s, want enabled", c.line[id], r.Status)
				}
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// sumValues adds up the values of m.
func sumValues(m map[int]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// TestDryRunSays: a dry run says it is one before it starts, and enable --dry-run reports what
// the rollback would do: would_enable rows, the devices it would re-enable in its devices
// report, and the summary in the conditional.
func TestDryRunSays(t *testing.T) {
	t.Parallel()
	c := startContained(t, true)
	dry := filepath.Join(c.dir, "dry.csv")
	res := c.enable(t, c.env, c.out, dry, "--devices", "--dry-run")
	if res.code != exitOK {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	if !strings.HasPrefix(res.stderr, "DRY RUN: nothing will be re-enabled") {
		t.Errorf("no dry-run banner first:\n%s", res.stderr)
	}
	rows := readReport(t, dry)
	// A would_enable row re-enables sign-in (the run being undone found the user enabled), or
	// only devices.
	would, signIn, devs := 0, 0, 0
	for _, r := range rows {
		if r.Status == batch.StatusWouldEnable {
			would++
			if isTrue(r.PriorAccountEnabled) {
				signIn++
			}
			if r.Devices != nil {
				devs += *r.Devices
			}
		}
	}
	ds := readDevices(t, report.DevicesPath(dry))
	for _, d := range ds {
		if d.Outcome != batch.DeviceWouldEnable || !c.disabledIDs[d.ID] || rows[d.Line].Status != batch.StatusWouldEnable {
			t.Errorf("devices report: %s %s for line %d (%s)", d.ID, d.Outcome, d.Line, rows[d.Line].Status)
		}
	}
	if signIn != len(c.blockedIDs) || len(ds) != len(c.disabledIDs) || devs != len(ds) {
		t.Errorf("%d would_enable rows re-enable sign-in, %d devices (%d by the rows); want %d users and %d devices",
			signIn, len(ds), devs, len(c.blockedIDs), len(c.disabledIDs))
	}
	want := fmt.Sprintf("Dry run: nothing was re-enabled. The rollback would re-enable sign-in for %d users and %d devices",
		len(c.blockedIDs), len(c.disabledIDs))
	if !strings.Contains(res.stderr, want) || !strings.Contains(res.stderr, fmt.Sprintf("  would_enable   %d\n", would)) ||
		!strings.Contains(res.stderr, fmt.Sprintf("Devices: %d would be re-enabled", len(c.disabledIDs))) {
		t.Errorf("the summary lacks %q and the counts:\n%s", want, res.stderr)
	}
	c.checkUndone(t, nil, nil)

	// The dry rollback's report is no report to undo.
	res = c.enable(t, c.env, dry, filepath.Join(c.dir, "again.csv"))
	if res.code != exitFailure || !strings.Contains(res.stderr, "this is the report of a rollback") {
		t.Errorf("enable --from a dry rollback: exit %d\n%s", res.code, res.stderr)
	}

	res = runCLI(t, c.env, "", cliArgs("validate", c.url, c.input, filepath.Join(c.dir, "v.csv"), "--exclude", c.excludes)...)
	if !strings.HasPrefix(res.stderr, "DRY RUN: users are only read; nothing will be revoked, blocked or disabled.\n") {
		t.Errorf("validate: no dry-run banner first:\n%s", res.stderr)
	}
}
