package graphsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// State is what the emulated tenants hold, as it stands: every tenant's
// objects (users with their sign-in state and session timestamp, devices,
// groups, service principals, domains) and the registered apps with their
// consent. A server built from a saved State serves the same directory, so
// what a run changed (blocked users, disabled devices, revoked sessions)
// outlives the process (bulkrevoke sim --state). Secrets are never part of
// it, nor are the journal, the statistics and the quota counters.
type State struct {
	Version int `json:"version"`
	// Tenants come default first: Config.TenantID, whose users New takes.
	Tenants []Tenant `json:"tenants"`
	// AppID is the default app (Config.AppID), the one the fixed token acts as.
	AppID string `json:"defaultApp"`
	Apps  []App  `json:"apps"`
}

// StateVersion is the version of the State format this package writes and reads.
const StateVersion = 1

// Changes is signalled, without ever blocking the server, after an object
// changed (a revoke landed, a user or device PATCH applied): a reader that
// saves State on each signal misses no change, and a burst of changes made
// while it was saving comes as one signal.
func (s *Server) Changes() <-chan struct{} { return s.changed }

// touch signals Changes; the caller holds s.mu.
func (s *Server) touch() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// dirByName finds a tenant by id or verified domain name, any case.
func (s *Server) dirByName(name string) *directory {
	k := strings.ToLower(name)
	if d := s.dirs[k]; d != nil {
		return d
	}
	return s.domains[k]
}

// State returns a copy of the tenants and apps as they are now.
func (s *Server) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := State{Version: StateVersion, AppID: s.cfg.AppID}
	for _, d := range s.order {
		t := Tenant{ID: d.id, Domains: slices.Clone(d.domains), Users: make([]User, len(d.users)), NoP2: d.noP2}
		if d.sized {
			t.Size = d.size
		}
		for i, u := range d.users {
			t.Users[i] = *u
			// A removal changes the live slice in place; the state is saved outside the lock.
			t.Users[i].Methods = slices.Clone(u.Methods)
		}
		for _, dv := range d.devices {
			c := *dv
			c.Owners, c.RegisteredUsers = slices.Clone(dv.Owners), slices.Clone(dv.RegisteredUsers)
			t.Devices = append(t.Devices, c)
		}
		for _, g := range d.groups {
			c := *g
			c.Members = slices.Clone(g.Members)
			t.Groups = append(t.Groups, c)
		}
		for _, sp := range d.sps {
			t.ServicePrincipals = append(t.ServicePrincipals, *sp)
		}
		st.Tenants = append(st.Tenants, t)
	}
	apps := make([]*appState, 0, len(s.apps))
	for _, a := range s.apps {
		apps = append(apps, a)
	}
	slices.SortFunc(apps, func(a, b *appState) int { return a.seq - b.seq })
	for _, a := range apps {
		app := App{ClientID: a.id, DisplayName: a.name, Tenants: []string{}}
		// Consent in the served tenants first, in their order, then in any others.
		var others []string
		for k, ok := range a.consent {
			if ok && s.dirs[k] == nil {
				others = append(others, k)
			}
		}
		for _, d := range s.order {
			if a.consent[strings.ToLower(d.id)] {
				app.Tenants = append(app.Tenants, d.id)
			}
		}
		slices.Sort(others)
		app.Tenants = append(app.Tenants, others...)
		switch {
		case slices.Equal(a.roles, defaultRoles):
			// nil: the default set.
		case len(a.roles) == 0:
			app.Roles = []string{}
		default:
			app.Roles = slices.Clone(a.roles)
		}
		st.Apps = append(st.Apps, app)
	}
	return st
}

// Config returns base with the state's tenants and apps in place of its own,
// and the default tenant's users, for New. The apps have no secrets: set
// App.Secret in the returned Config.Apps before New.
func (st State) Config(base Config) (Config, []User) {
	cfg := base
	t := st.Tenants[0]
	cfg.TenantID, cfg.TenantDomains, cfg.TenantSize, cfg.NoP2 = t.ID, slices.Clone(t.Domains), t.Size, t.NoP2
	cfg.Devices, cfg.Groups, cfg.ServicePrincipals = t.Devices, t.Groups, t.ServicePrincipals
	cfg.Tenants = slices.Clone(st.Tenants[1:])
	cfg.AppID = st.AppID
	cfg.Apps = slices.Clone(st.Apps)
	return cfg, t.Users
}

// ReadState reads a State written as JSON (json.Marshal of a State) and
// checks what New would otherwise panic on or serve wrongly.
func ReadState(r io.Reader) (State, error) {
	var st State
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return State{}, fmt.Errorf("graphsim state: %w", err)
	}
	if st.Version != StateVersion {
		return State{}, fmt.Errorf("graphsim state: version %d, want %d", st.Version, StateVersion)
	}
	if len(st.Tenants) == 0 {
		return State{}, errors.New("graphsim state: no tenant")
	}
	if st.AppID == "" {
		return State{}, errors.New("graphsim state: no defaultApp")
	}
	names := map[string]bool{}
	for i, t := range st.Tenants {
		for _, n := range append([]string{t.ID}, t.Domains...) {
			if n == "" {
				return State{}, fmt.Errorf("graphsim state: tenant %d: empty id or domain", i+1)
			}
			if names[strings.ToLower(n)] {
				return State{}, fmt.Errorf("graphsim state: tenant %s given twice", n)
			}
			names[strings.ToLower(n)] = true
		}
		keys := map[string]bool{}
		for j, u := range t.Users {
			if u.ID == "" || u.UPN == "" {
				return State{}, fmt.Errorf("graphsim state: tenant %s: user %d has no id or userPrincipalName", t.ID, j+1)
			}
			for _, k := range []string{u.ID, u.UPN} {
				if keys[strings.ToLower(k)] {
					return State{}, fmt.Errorf("graphsim state: tenant %s: user %s given twice", t.ID, k)
				}
				keys[strings.ToLower(k)] = true
			}
		}
	}
	for i, a := range st.Apps {
		if a.ClientID == "" {
			return State{}, fmt.Errorf("graphsim state: app %d has no clientId", i+1)
		}
	}
	return st, nil
}
