package batch_test

import (
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bulkrevoke/bulkrevoke/batch"
	"github.com/bulkrevoke/bulkrevoke/graphsim"
)

// deviceCollector is a DeviceSink that keeps every device row.
type deviceCollector struct {
	mu   sync.Mutex
	rows []batch.DeviceResult
}

func (d *deviceCollector) WriteDevices(ds ...batch.DeviceResult) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.rows = append(d.rows, ds...)
	return nil
}

// containTenant is a mixed list's tenant: members, an admin the app may not block, a user synced
// from on-premises AD, a user already disabled, a guest; with devices.
func containTenant() ([]graphsim.User, []graphsim.Device) {
	users := graphsim.GenerateUsers(300, 9)
	users[3].Protected, users[3].OnPremisesSyncEnabled, users[3].AccountEnabled = true, false, true
	users[4].OnPremisesSyncEnabled = true
	users[5].AccountEnabled, users[5].OnPremisesSyncEnabled = false, false
	return users, graphsim.GenerateDevices(users, 9)
}

// containFirst is graphsim over containTenant and a list of its first n users.
func containFirst(n int) ([]graphsim.User, []graphsim.Device, []batch.Row, *graphsim.Server) {
	users, devices := containTenant()
	inputs := make([]string, n)
	for i := range inputs {
		inputs[i] = users[i].UPN
	}
	return users, devices, rowsOf(inputs...), graphsim.New(graphsim.Config{Token: token, Seed: 4, Devices: devices}, users)
}

// TestContain runs revoke --block-sign-in --disable-devices over graphsim's quota and checks the
// issue's promises from graphsim's journal: blocks land before revokes, a failed block still
// revokes, nobody already disabled gets a PATCH, no dependsOn shape Graph refuses, every device
// reported once.
func TestContain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		users, devices := containTenant()
		inputs := make([]string, len(users))
		for i, u := range users {
			inputs[i] = u.UPN
		}
		inputs = append(inputs, "ghost@contoso.onmicrosoft.com", users[7].ID) // a missing user, a repeat by id
		rows := rowsOf(inputs...)
		sim := graphsim.New(graphsim.Config{Token: token, Seed: 4, Devices: devices, FractionalRetryAfter: true,
			Latency: graphsim.Uniform{Min: 30 * time.Millisecond, Max: 70 * time.Millisecond}}, users)
		sink, devs := newCollector(t), &deviceCollector{}
		var changes []batch.Change
		var mu sync.Mutex
		cfg := batch.Config{Plan: batch.Plan{Lookup: true, Block: true, Revoke: true, Devices: true}, Devices: devs,
			BeforeChange: func(cs []batch.Change) error {
				mu.Lock()
				changes = append(changes, cs...)
				mu.Unlock()
				return nil
			}}
		if _, err := batch.Run(t.Context(), cfg, batch.Rows(rows), client(t, "http://localhost", sim.Transport()), sink); err != nil {
			t.Fatal(err)
		}
		if len(sink.byLine) != len(rows) {
			t.Fatalf("%d results for %d rows", len(sink.byLine), len(rows))
		}
		gs := sim.Stats()
		if gs.BadDependsOn != 0 || gs.EarlyRetries != 0 {
			t.Errorf("graphsim refused %d envelopes for their dependsOn shape, counted %d early retries", gs.BadDependsOn, gs.EarlyRetries)
		}
		for i, u := range users {
			r := sink.byLine[i+2]
			evs := sim.Events(u.ID)
			var blockAt, revokeAt time.Time
			blocks := 0
			for _, ev := range evs {
				switch ev.Kind {
				case graphsim.EventBlock:
					blocks++
					blockAt = ev.At
				case graphsim.EventRevoke:
					if revokeAt.IsZero() {
						revokeAt = ev.At
					}
				}
			}
			switch {
			case u.Protected: // an admin the app may not touch: the block and the revoke are both refused
				if r.Blocked == nil || *r.Blocked || !strings.Contains(r.BlockError, "403") || r.Status != batch.StatusDenied {
					t.Errorf("admin row: %s blocked=%v %q", r.Status, r.Blocked, r.BlockError)
				}
			case u.OnPremisesSyncEnabled: // never PATCHed, still revoked, told to disable it in AD
				if blocks != 0 || r.Status != batch.StatusRevoked || r.Blocked == nil || *r.Blocked || !strings.Contains(r.BlockError, "AD") {
					t.Errorf("synced row: %d blocks, %s blocked=%v %q", blocks, r.Status, r.Blocked, r.BlockError)
				}
			case !u.AccountEnabled: // already disabled: no PATCH, prior state false, revoked
				if blocks != 0 || r.Status != batch.StatusRevoked || r.PriorAccountEnabled == nil || *r.PriorAccountEnabled {
					t.Errorf("disabled row: %d blocks, %s prior=%v", blocks, r.Status, r.PriorAccountEnabled)
				}
			default:
				if r.Status != batch.StatusRevoked || r.Blocked == nil || !*r.Blocked || r.PriorAccountEnabled == nil || !*r.PriorAccountEnabled {
					t.Fatalf("line %d: %s blocked=%v prior=%v %q", r.Line, r.Status, r.Blocked, r.PriorAccountEnabled, r.Message)
				}
				if blocks != 1 || revokeAt.IsZero() || !blockAt.Before(revokeAt) {
					t.Fatalf("%s: %d blocks, block at %v, revoke at %v: the block must land first", u.UPN, blocks, blockAt, revokeAt)
				}
			}
		}
		if r := sink.byLine[len(users)+2]; r.Status != batch.StatusNotFound {
			t.Errorf("missing user: %s", r.Status)
		}
		if r := sink.byLine[len(users)+3]; r.Status != batch.StatusDuplicate || r.DupStatus != batch.StatusRevoked {
			t.Errorf("repeat by id: %s (of %s)", r.Status, r.DupStatus)
		}
		// Every device of every user found, reported once, disabled when it was enabled.
		seen := map[string]int{}
		for _, d := range devs.rows {
			seen[strings.ToLower(d.ID)]++
		}
		for _, d := range devices {
			if seen[strings.ToLower(d.ID)] != 1 {
				t.Fatalf("device %s reported %d times, want once", d.ID, seen[strings.ToLower(d.ID)])
			}
			now, _ := sim.Device(d.ID)
			if now.AccountEnabled && !d.OnPremisesSyncEnabled {
				t.Errorf("device %s still enabled", d.ID)
			}
		}
		// Every change sent was recorded before it left, with the prior state.
		mu.Lock()
		defer mu.Unlock()
		recorded := map[string]bool{}
		for _, c := range changes {
			recorded[strings.ToLower(c.ID)] = true
			if c.PriorEnabled == nil || !*c.PriorEnabled {
				t.Errorf("change %+v recorded without an enabled prior state", c)
			}
		}
		for _, ev := range sim.Journal() {
			if ev.Kind == graphsim.EventBlock || ev.Kind == graphsim.EventDeviceDisable {
				if !recorded[strings.ToLower(ev.Object)] {
					u, _ := sim.User(ev.Object)
					if !recorded[strings.ToLower(u.UPN)] {
						t.Errorf("%s of %s landed without a recorded intent", ev.Kind, ev.Object)
					}
				}
			}
		}
	})
}

// TestContainDryRun: a dry run of blocking and devices reads and counts, and writes nothing.
func TestContainDryRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		users, _, rows, sim := containFirst(40)
		sink, devs := newCollector(t), &deviceCollector{}
		cfg := batch.Config{Plan: batch.Plan{Lookup: true, Block: true, Revoke: true, Devices: true, DryRun: true}, Devices: devs}
		if _, err := batch.Run(t.Context(), cfg, batch.Rows(rows), client(t, "http://localhost", sim.Transport()), sink); err != nil {
			t.Fatal(err)
		}
		if gs := sim.Stats(); gs.Writes != 0 || gs.Patches != 0 || gs.DevicePatches != 0 {
			t.Errorf("dry run sent %d writes, %d patches, %d device patches", gs.Writes, gs.Patches, gs.DevicePatches)
		}
		for i := range rows {
			r := sink.byLine[i+2]
			want := batch.StatusWouldBlock
			if !users[i].AccountEnabled || users[i].OnPremisesSyncEnabled {
				want = batch.StatusWouldRevoke
			}
			if r.Status != want || r.Devices == nil || r.PriorAccountEnabled == nil {
				t.Errorf("line %d: %s devices=%v prior=%v, want %s with counts", r.Line, r.Status, r.Devices, r.PriorAccountEnabled, want)
			}
		}
		for _, d := range devs.rows {
			if d.Outcome != batch.DeviceWouldDisable && d.Outcome != batch.DeviceAlreadyDisabled && d.Outcome != batch.DeviceSynced {
				t.Errorf("device %s: %s in a dry run", d.ID, d.Outcome)
			}
		}
	})
}

// TestRollback: a rollback plan re-enables exactly the users and devices a containment run
// disabled, by its report rows, and nothing else.
func TestRollback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		users, devices, rows, sim := containFirst(60)
		c := client(t, "http://localhost", sim.Transport())
		sink, devs := newCollector(t), &deviceCollector{}
		contain := batch.Config{Plan: batch.Plan{Lookup: true, Block: true, Revoke: true, Devices: true}, Devices: devs}
		if _, err := batch.Run(t.Context(), contain, batch.Rows(rows), c, sink); err != nil {
			t.Fatal(err)
		}
		// What a report reader would hand the rollback: per line, the user if the run blocked it
		// and it was enabled before, and the devices it disabled.
		byLine := map[int]*batch.Restore{}
		for _, r := range sink.byLine {
			byLine[r.Line] = &batch.Restore{User: r.Blocked != nil && *r.Blocked && r.PriorAccountEnabled != nil && *r.PriorAccountEnabled}
		}
		for _, d := range devs.rows {
			if d.Outcome == batch.DeviceDisabled {
				byLine[d.Line].Devices = append(byLine[d.Line].Devices, d)
			}
		}
		back := make([]batch.Row, len(rows))
		for i, r := range rows {
			back[i] = r
			back[i].Restore = byLine[r.Line]
		}
		before := len(sim.Journal())
		sink2, devs2 := newCollector(t), &deviceCollector{}
		if _, err := batch.Run(t.Context(), batch.Config{Plan: batch.Plan{Enable: true}, Devices: devs2}, batch.Rows(back), c, sink2); err != nil {
			t.Fatal(err)
		}
		for i, u := range users[:len(rows)] {
			now, _ := sim.User(u.ID)
			if now.AccountEnabled != u.AccountEnabled {
				t.Errorf("%s: enabled %v after the rollback, %v before the run", u.UPN, now.AccountEnabled, u.AccountEnabled)
			}
			r := sink2.byLine[i+2]
			want := batch.StatusUnchanged
			if byLine[i+2].User {
				want = batch.StatusEnabled
			}
			if r.Status != want {
				t.Errorf("line %d: %s, want %s", i+2, r.Status, want)
			}
		}
		// Every device the run disabled is back, and only those were touched.
		disabled := map[string]bool{}
		for _, d := range devs.rows {
			if d.Outcome == batch.DeviceDisabled {
				disabled[d.ID] = true
			}
		}
		for _, d := range devices {
			now, _ := sim.Device(d.ID)
			if disabled[d.ID] && !now.AccountEnabled {
				t.Errorf("device %s disabled by the run, still disabled after the rollback", d.ID)
			}
			if !disabled[d.ID] && now.AccountEnabled != d.AccountEnabled {
				t.Errorf("device %s not disabled by the run, changed from %v to %v", d.ID, d.AccountEnabled, now.AccountEnabled)
			}
		}
		for _, ev := range sim.Journal()[before:] {
			if ev.Kind != graphsim.EventEnable && ev.Kind != graphsim.EventDeviceEnable {
				t.Errorf("the rollback made a %s", ev.Kind)
			}
		}
		if len(devs2.rows) == 0 {
			t.Error("no device re-enabled: the test needs some")
		}
	})
}
