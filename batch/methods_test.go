package batch_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bulkrevoke/bulkrevoke/batch"
	"github.com/bulkrevoke/bulkrevoke/graphsim"
)

// methodCollector is a MethodSink that keeps every row and fails the test on a second row for
// a method.
type methodCollector struct {
	t    *testing.T
	mu   sync.Mutex
	rows map[string]batch.MethodResult // by line/id
}

func newMethodCollector(t *testing.T) *methodCollector {
	return &methodCollector{t: t, rows: map[string]batch.MethodResult{}}
}

func (c *methodCollector) WriteMethods(ms ...batch.MethodResult) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range ms {
		k := fmt.Sprintf("%d/%s", m.Line, m.ID)
		if old, dup := c.rows[k]; dup {
			c.t.Errorf("method %s reported twice: %s then %s", k, old.Outcome, m.Outcome)
		}
		c.rows[k] = m
	}
	return nil
}

// with lists the rows of one outcome as line/id, sorted.
func (c *methodCollector) with(o batch.MethodOutcome) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for k, m := range c.rows {
		if m.Outcome == o {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// methodsTenant gives each user a method of every v1.0 type around the cut-off: the password
// (new, never removed), new ones (the cut-off itself included), an old one, two of unknown age,
// both mobile phones; every 5th user one of a type Graph added later; every 7th (from the 2nd)
// a new default method Graph keeps while the old ones remain, and every 7th (from the 3rd) a
// new default method that goes once the user's other new methods are gone.
func methodsTenant(n int, cut time.Time) []graphsim.User {
	users := graphsim.GenerateUsers(n, 21)
	for i := range users {
		u := &users[i]
		u.OnPremisesSyncEnabled, u.AccountEnabled = false, true
		id := func(s string) string { return fmt.Sprintf("%s-%d", s, i) }
		u.Methods = []graphsim.Method{
			{ID: id("pw"), Type: "password", Created: cut.Add(time.Hour)},
			{ID: id("fido"), Type: "fido2", Created: cut.Add(2 * time.Hour), DisplayName: "YubiKey 5 NFC"},
			{ID: id("auth"), Type: "microsoftAuthenticator", DisplayName: "Pixel 8"},
			{ID: id("mob"), Type: "phone", PhoneType: "mobile", Created: cut.Add(3 * time.Hour), DisplayName: "+1 555 0100"},
			{ID: id("alt"), Type: "phone", PhoneType: "alternateMobile", Created: cut.Add(3 * time.Hour), DisplayName: "+1 555 0101"},
			{ID: id("mail"), Type: "email", DisplayName: "x@home.example"},
			{ID: id("oath"), Type: "softwareOath", Created: cut.Add(-time.Second)},
			{ID: id("tap"), Type: "temporaryAccessPass", Created: cut},
			{ID: id("whfb"), Type: "windowsHelloForBusiness", Created: cut.Add(4 * time.Hour), DisplayName: "DESKTOP-7"},
		}
		if i%5 == 0 {
			u.Methods = append(u.Methods, graphsim.Method{ID: id("qr"), Type: "qrCodePin", Created: cut.Add(time.Hour)})
		}
		switch i % 7 {
		case 1:
			u.DefaultMethod = id("fido")
		case 2:
			u.DefaultMethod = id("fido")
			u.Methods = []graphsim.Method{u.Methods[0], u.Methods[1], u.Methods[8]}
		}
	}
	return users
}

func methodsRun(t *testing.T, users []graphsim.User, cut time.Time, dry bool) (*graphsim.Server, *collector, *methodCollector) {
	sim := graphsim.New(graphsim.Config{Token: token, Seed: 9, MethodsPageSize: 3,
		Latency: graphsim.Uniform{Min: 20 * time.Millisecond, Max: 60 * time.Millisecond}}, users)
	sink, ms := newCollector(t), newMethodCollector(t)
	cfg := batch.Config{Plan: batch.Plan{Lookup: true, Methods: true, Revoke: true, DryRun: dry}, MethodsSince: cut, Methods: ms}
	if _, err := batch.Run(t.Context(), cfg, batch.Rows(upnRows(users)), client(t, "http://localhost", sim.Transport()), sink); err != nil {
		t.Fatal(err)
	}
	return sim, sink, ms
}

// TestMethodsRemoved checks a real run against graphsim's state after it: exactly the methods
// created at or after the cut-off are gone (the password never, a type not known here never),
// the others are reported kept and those without a createdDateTime counted; the mobile phone
// goes after the alternate one (no refusal for it reaches Graph); a default method Graph keeps
// is sent again after the user's other removals and, refused again, reported failed with
// Graph's message and the hint; every removal lands before the user's revoke.
func TestMethodsRemoved(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cut := time.Now().Add(-72 * time.Hour)
		users := methodsTenant(70, cut)
		sim, sink, ms := methodsRun(t, users, cut, false)
		refusals := 0
		for i, u := range users {
			r := sink.byLine[i+2]
			if r.Status != batch.StatusRevoked {
				t.Errorf("%s: %s %s, want revoked", u.UPN, r.Status, r.Message)
			}
			want := []string{"pw", "auth", "mail", "oath"} // kept
			removed := 5
			switch i % 7 {
			case 1:
				want = append(want, "fido")
				removed--
				refusals += 2
			case 2:
				want, removed = []string{"pw"}, 2
				refusals++
			}
			if i%5 == 0 && i%7 != 2 {
				want = append(want, "qr")
			}
			now, _ := sim.User(u.ID)
			var left []string
			for _, m := range now.Methods {
				left = append(left, strings.TrimSuffix(m.ID, fmt.Sprintf("-%d", i)))
			}
			slices.Sort(left)
			slices.Sort(want)
			if !slices.Equal(left, want) {
				t.Errorf("%s (user %d): methods left %v, want %v", u.UPN, i, left, want)
			}
			if r.MethodsRemoved == nil || *r.MethodsRemoved != removed {
				t.Errorf("%s (user %d): methods_removed %v, want %d", u.UPN, i, r.MethodsRemoved, removed)
			}
			failed := i%7 == 1 || (i%5 == 0 && i%7 != 2)
			if failed != (r.MethodsError != "") {
				t.Errorf("%s (user %d): methods error %q", u.UPN, i, r.MethodsError)
			}
			kinds := eventKinds(sim, u.ID)
			if got, wantJ := kinds, strings.Repeat("method-remove,", removed)+"revoke"; got != wantJ {
				t.Errorf("%s (user %d): journal %s, want %s", u.UPN, i, got, wantJ)
			}
			if i%7 == 1 {
				m := ms.rows[fmt.Sprintf("%d/fido-%d", i+2, i)]
				if m.Outcome != batch.MethodFailed || m.HTTP != http.StatusBadRequest || !strings.Contains(m.Message, "Cannot delete default method") ||
					!strings.Contains(m.Message, "change the user's default method") {
					t.Errorf("default method row: %s %d %q", m.Outcome, m.HTTP, m.Message)
				}
			}
		}
		st := sim.Stats()
		if st.Statuses[http.StatusBadRequest] != refusals {
			t.Errorf("graphsim answered %d removals 400, want %d (the default methods only)", st.Statuses[http.StatusBadRequest], refusals)
		}
		for _, k := range ms.with(batch.MethodKeptPassword) {
			if !strings.Contains(k, "/pw-") {
				t.Errorf("%s kept as a password", k)
			}
		}
		if n, want := len(ms.with(batch.MethodKeptPassword)), len(users); n != want {
			t.Errorf("%d passwords reported, want %d", n, want)
		}
		if n, want := len(ms.with(batch.MethodKeptUnknownAge)), 2*(len(users)-10); n != want {
			t.Errorf("%d kept_unknown_age, want %d", n, want)
		}
		for _, k := range ms.with(batch.MethodKeptOlder) {
			if !strings.Contains(k, "/oath-") {
				t.Errorf("%s kept as older", k)
			}
		}
		unknownAge := sink.byLine[2].Note
		if !strings.Contains(unknownAge, "2 authentication method(s) of unknown age kept") {
			t.Errorf("note %q does not count the methods of unknown age", unknownAge)
		}
		if m := ms.rows["2/mob-0"]; m.DisplayName != "mobile +1 555 0100" || m.Type != "phone" || !m.Created.Equal(cut.Add(3*time.Hour)) {
			t.Errorf("phone row %+v", m)
		}
		if m := ms.rows["2/qr-0"]; m.Outcome != batch.MethodFailed || m.Type != "qrCodePin" || m.Code != "unknown_method_type" {
			t.Errorf("unknown type row %+v", m)
		}
		if st.EarlyRetries != 0 {
			t.Errorf("%d early retries", st.EarlyRetries)
		}
	})
}

// TestMethodsDryRunMatches: on the same tenant, a dry run's would_remove rows are exactly a
// real run's removed rows, and the dry run deletes nothing.
func TestMethodsDryRunMatches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cut := time.Now().Add(-72 * time.Hour)
		users := methodsTenant(40, cut)
		dry, dsink, dms := methodsRun(t, users, cut, true)
		_, _, rms := methodsRun(t, users, cut, false)
		would, removed := dms.with(batch.MethodWouldRemove), rms.with(batch.MethodRemoved)
		// A default method Graph keeps is not known to be kept until Graph says so.
		var defaults []string
		for i := range users {
			if i%7 == 1 {
				defaults = append(defaults, fmt.Sprintf("%d/fido-%d", i+2, i))
			}
		}
		removed = append(removed, defaults...)
		slices.Sort(removed)
		if !slices.Equal(would, removed) {
			t.Errorf("dry run would remove %d methods, the real run removed (or was refused) %d:\n%v\n%v", len(would), len(removed), would, removed)
		}
		if st := dry.Stats(); st.MethodDeletes != 0 || st.Revocations != 0 {
			t.Errorf("the dry run deleted %d methods and revoked %d users", st.MethodDeletes, st.Revocations)
		}
		if r := dsink.byLine[3]; r.Status != batch.StatusWouldRevoke || r.MethodsRemoved != nil ||
			!strings.Contains(r.Note, "5 authentication method(s) would be removed") {
			t.Errorf("dry run row: %s removed=%v note=%q", r.Status, r.MethodsRemoved, r.Note)
		}
	})
}
