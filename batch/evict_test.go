package batch_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bulkrevoke/bulkrevoke/batch"
	"github.com/bulkrevoke/bulkrevoke/graphsim"
)

// evictTenant is a list's tenant for --reset-password: members, an admin the app may not reset,
// a user synced from AD, a user already disabled.
func evictTenant(n int) []graphsim.User {
	users := graphsim.GenerateUsers(n, 20)
	for i := range users {
		users[i].OnPremisesSyncEnabled, users[i].AccountEnabled, users[i].Admin = false, true, false
	}
	users[3].Admin = true
	users[4].OnPremisesSyncEnabled = true
	users[5].AccountEnabled = false
	return users
}

// TestResetOrder runs block, reset and revoke over graphsim's quota and checks, from its
// journal, each user's order (block, then reset, then revoke), that the admin and the synced
// user are revoked with their reasons, and that no password graphsim received is in any result
// or debug log line.
func TestResetOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		users := evictTenant(200)
		sim := graphsim.New(graphsim.Config{Token: token, Seed: 5, FractionalRetryAfter: true,
			Latency: graphsim.Uniform{Min: 20 * time.Millisecond, Max: 60 * time.Millisecond}}, users)
		var logs bytes.Buffer
		sink := newCollector(t)
		cfg := batch.Config{Plan: batch.Plan{Lookup: true, Block: true, Reset: true, Revoke: true},
			Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
		if _, err := batch.Run(t.Context(), cfg, batch.Rows(upnRows(users)), client(t, "http://localhost", sim.Transport()), sink); err != nil {
			t.Fatal(err)
		}
		resets := 0
		for i, u := range users {
			r := sink.byLine[i+2]
			if r.Status != batch.StatusRevoked {
				t.Errorf("%s: %s %s, want revoked", u.UPN, r.Status, r.Message)
			}
			kinds := eventKinds(sim, u.ID)
			got := kinds
			want := "block,reset,revoke"
			switch i {
			case 3:
				want = "block,revoke"
				if r.Reset == nil || *r.Reset || !strings.Contains(r.ResetError, "Insufficient privileges to complete the operation.") ||
					!strings.Contains(r.ResetError, "Privileged Authentication Administrator") || !strings.Contains(r.Note, "password not reset") {
					t.Errorf("admin: reset=%v error=%q note=%q; want not reset, Graph's message and the role", r.Reset, r.ResetError, r.Note)
				}
			case 4:
				want = "revoke"
				if r.Reset == nil || *r.Reset || !strings.Contains(r.ResetError, "reset it in AD, twice") {
					t.Errorf("synced: reset=%v error=%q; want not reset, reset in AD twice", r.Reset, r.ResetError)
				}
			case 5:
				want = "reset,revoke"
			}
			if got != want {
				t.Errorf("%s (user %d): journal %s, want %s", u.UPN, i, got, want)
			}
			if i != 3 && i != 4 {
				if r.Reset == nil || !*r.Reset || r.ResetError != "" {
					t.Errorf("%s: reset=%v error=%q, want reset", u.UPN, r.Reset, r.ResetError)
				}
				resets++
			}
		}
		pw := sim.Passwords()
		if len(pw) != resets {
			t.Fatalf("graphsim received %d passwords, want %d", len(pw), resets)
		}
		everything := logs.String() + fmt.Sprintf("%+v", sink.byLine)
		seen := map[string]bool{}
		for _, p := range pw {
			if len(p) < batch.PasswordLength || seen[p] {
				t.Errorf("password of %d characters (repeated: %v)", len(p), seen[p])
			}
			seen[p] = true
			if strings.Contains(everything, p) || strings.Contains(everything, p[:16]) {
				t.Errorf("a password graphsim received is in a result or a log line")
			}
		}
		if st := sim.Stats(); st.EarlyRetries != 0 {
			t.Errorf("%d early retries", st.EarlyRetries)
		}
	})
}

// TestResetRefused: whatever Graph refuses of the reset (the tenant's password policy, the
// app's missing permission), every user is still revoked, with Graph's message kept.
func TestResetRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  graphsim.Config
		want string
	}{
		{"policy", graphsim.Config{RefusePasswords: true}, "password complexity requirements"},
		{"permission", graphsim.Config{NoPasswordPermission: true}, "HTTP 403 Authorization_RequestDenied Insufficient privileges"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				users := evictTenant(60)
				var inputs []string
				for _, u := range users {
					inputs = append(inputs, u.ID)
				}
				cfg := tc.cfg
				cfg.Token, cfg.Seed = token, 2
				sim := graphsim.New(cfg, users)
				sink := newCollector(t)
				plan := batch.Plan{Lookup: true, Reset: true, Revoke: true}
				if _, err := batch.Run(t.Context(), batch.Config{Plan: plan}, batch.Rows(upnRows(users)), client(t, "http://localhost", sim.Transport()), sink); err != nil {
					t.Fatal(err)
				}
				for i, u := range users {
					r := sink.byLine[i+2]
					if r.Status != batch.StatusRevoked || len(sim.Revocations(u.ID)) != 1 {
						t.Errorf("%s: %s with %d revocations, want revoked once", u.UPN, r.Status, len(sim.Revocations(u.ID)))
					}
					// The synced user is not sent a reset; the admin is refused before the policy is read.
					if r.Reset == nil || *r.Reset || (i != 4 && (i != 3 || tc.name == "permission") && !strings.Contains(r.ResetError, tc.want)) {
						t.Errorf("%s: reset=%v error=%q, want not reset with %q", u.UPN, r.Reset, r.ResetError, tc.want)
					}
				}
				if n := len(sim.Passwords()); n != 0 {
					t.Errorf("%d passwords landed, want none", n)
				}
			})
		})
	}
}

// TestResetResumed: a row the run being resumed reset is not reset again; its block and revoke
// still go.
func TestResetResumed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		users := evictTenant(10)
		rows := upnRows(users)
		rows[0].ResetDone, rows[1].ResetDone = true, true
		sim := graphsim.New(graphsim.Config{Token: token}, users)
		sink := newCollector(t)
		plan := batch.Plan{Lookup: true, Block: true, Reset: true, Revoke: true}
		if _, err := batch.Run(t.Context(), batch.Config{Plan: plan}, batch.Rows(rows), client(t, "http://localhost", sim.Transport()), sink); err != nil {
			t.Fatal(err)
		}
		for i, u := range users[:2] {
			r := sink.byLine[i+2]
			kinds := eventKinds(sim, u.ID)
			if kinds != "block,revoke" || r.Reset == nil || !*r.Reset || !strings.Contains(r.Note, "reset by the run being resumed") {
				t.Errorf("%s: journal %v reset=%v note=%q; want block,revoke, reset by the run being resumed", u.UPN, kinds, r.Reset, r.Note)
			}
		}
		if n := len(sim.Passwords()); n != 6 { // 10 users, 2 reset before, 1 synced, 1 admin
			t.Errorf("%d resets landed, want 6", n)
		}
	})
}

// TestResetDryRun: a dry run resets nothing and says, per row, whether a real run would.
func TestResetDryRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		users := evictTenant(10)
		sim := graphsim.New(graphsim.Config{Token: token}, users)
		sink := newCollector(t)
		plan := batch.Plan{Lookup: true, Block: true, Reset: true, Revoke: true, DryRun: true}
		if _, err := batch.Run(t.Context(), batch.Config{Plan: plan}, batch.Rows(upnRows(users)), client(t, "http://localhost", sim.Transport()), sink); err != nil {
			t.Fatal(err)
		}
		would := 0
		for i := range users {
			r := sink.byLine[i+2]
			if r.WouldReset {
				would++
			}
			if (i == 4) == r.WouldReset || r.Reset != nil {
				t.Errorf("line %d: would reset %v, reset %v; note %q", i+2, r.WouldReset, r.Reset, r.Note)
			}
		}
		if would != 9 || len(sim.Passwords()) != 0 || sim.Stats().Patches != 0 {
			t.Errorf("%d would reset (want 9), %d passwords and %d PATCHes received (want none)", would, len(sim.Passwords()), sim.Stats().Patches)
		}
	})
}

// TestNewPassword: every password is long, of every class, and new.
func TestNewPassword(t *testing.T) {
	seen := map[string]bool{}
	for range 2000 {
		p, err := batch.NewPassword()
		if err != nil {
			t.Fatal(err)
		}
		if len(p) != batch.PasswordLength || !strings.ContainsAny(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") ||
			!strings.ContainsAny(p, "abcdefghijklmnopqrstuvwxyz") || !strings.ContainsAny(p, "0123456789") ||
			!strings.ContainsAny(p, "!#$%*+-=?@^_~.:,;()[]{}") || seen[p] {
			t.Fatalf("password %d characters long, missing a class or repeated", len(p))
		}
		seen[p] = true
	}
}
