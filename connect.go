package main

import (
	"cmp"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/bulkrevoke/bulkrevoke/batch"
)

// connection is a run's way to Graph: a lane per app and tenant that signed in, and for each
// tenant no app could sign in to, why.
type connection struct {
	lanes      []batch.Lane
	tenantErrs map[string]error
	dropped    []string // apps of a pool that could not sign in, with why
	clock      batch.Clock
	target     target
	close      func()
}

// tenantID is the id the run found for a tenant as the list names it (a domain, or "").
func (c *connection) tenantID(name string) string {
	for _, l := range c.lanes {
		if l.Tenant == name && l.TenantID != "" {
			return l.TenantID
		}
	}
	return name
}

// app is one app registration of the run: the --auth sign-in, or a row of --app-pool.
type app struct {
	clientID  string
	mode      string // --auth mode
	certFile  string
	secretEnv string
}

// readAppPool reads --app-pool: a CSV of client_id and either certificate (a file) or secret_env
// (the environment variable that holds the app's secret; secrets never sit in files we read).
func readAppPool(path string) ([]app, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open the app pool: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = i
	}
	idCol, ok := col["client_id"]
	if !ok {
		return nil, withHint(fmt.Errorf("%s:1: no client_id column", path), "the header is client_id,certificate or client_id,secret_env")
	}
	certCol, hasCert := col["certificate"]
	envCol, hasEnv := col["secret_env"]
	if !hasCert && !hasEnv {
		return nil, withHint(fmt.Errorf("%s:1: no certificate or secret_env column", path), "the header is client_id,certificate or client_id,secret_env")
	}
	var apps []app
	seen := map[string]int{}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		line, _ := r.FieldPos(0)
		cell := func(i int, has bool) string {
			if !has || i >= len(rec) {
				return ""
			}
			return strings.TrimSpace(rec[i])
		}
		a := app{clientID: cell(idCol, true), certFile: cell(certCol, hasCert), secretEnv: cell(envCol, hasEnv)}
		switch {
		case a.clientID == "" && a.certFile == "" && a.secretEnv == "":
			continue
		case !isGUID(a.clientID):
			return nil, fmt.Errorf("%s:%d: client_id %q is not an application (client) id", path, line, a.clientID)
		case (a.certFile == "") == (a.secretEnv == ""):
			return nil, withHint(fmt.Errorf("%s:%d: give either a certificate file or a secret_env variable name", path, line),
				"the secret itself goes in that environment variable, never in the file")
		case seen[strings.ToLower(a.clientID)] > 0:
			return nil, fmt.Errorf("%s:%d: app %s is already on line %d", path, line, a.clientID, seen[strings.ToLower(a.clientID)])
		}
		seen[strings.ToLower(a.clientID)] = line
		a.mode = "certificate"
		if a.secretEnv != "" {
			a.mode = "secret"
		}
		apps = append(apps, a)
	}
	if len(apps) == 0 {
		return nil, fmt.Errorf("%s: no apps in the pool", path)
	}
	return apps, nil
}

// connect signs every app of the run in to every tenant the list names (tenants; "" for rows
// naming none, which go to --tenant-id or the credential's own tenant) and builds a Graph client
// per pair. With one app and one tenant, a failed sign-in stops the run at once; otherwise a
// tenant no app could sign in to has its rows denied with the reason, and the others go on.
func connect(ctx context.Context, o *options, s *sys, t target, tenants []string) (*connection, error) {
	if o.simulate {
		return simulate(o, tenants)
	}
	if len(tenants) == 0 || o.fromGraph() {
		// A Graph query lists the users of the run's one tenant (--tenant-id, or the
		// credential's own) into a list without a tenant column: its rows name no tenant, and
		// the lanes must be the ones such rows go to, whatever --tenant-id says.
		tenants = []string{""}
	}
	if err := checkTenants(o, tenants); err != nil {
		return nil, err
	}
	apps := []app{{clientID: o.clientID, mode: o.auth, certFile: o.certificate}}
	if o.appPool != "" {
		var err error
		if apps, err = readAppPool(o.appPool); err != nil {
			return nil, err
		}
	}
	refused, err := tokenTenants(o, s, tenants)
	if err != nil {
		return nil, err
	}
	single := len(apps) == 1 && len(tenants) == 1
	conn := &connection{tenantErrs: map[string]error{}, clock: batch.RealClock, target: t, close: func() {}}
	for _, tn := range tenants {
		if err := refused[tn]; err != nil {
			// Never sent: the engine reports its rows with this reason.
			conn.tenantErrs[tn] = err
			continue
		}
		signInTo := tn
		if signInTo == "" && len(o.tenantIDs) == 1 {
			signInTo = o.tenantIDs[0]
		}
		var errs []error
		for _, a := range apps {
			lane, err := signInLane(ctx, s, t, o, a, signInTo)
			if err != nil {
				if single {
					return nil, err
				}
				// The tenant's error is reported under its tenant (a row's tenant_id, the
				// summary's "tenant X:"): it names the app only when there are several.
				if o.appPool != "" {
					conn.dropped = append(conn.dropped, "app "+a.clientID+" in tenant "+cmp.Or(signInTo, "(default)")+": "+err.Error())
					err = fmt.Errorf("app %s: %w", a.clientID, err)
				}
				errs = append(errs, err)
				continue
			}
			lane.Tenant = tn
			conn.lanes = append(conn.lanes, lane)
		}
		if len(errs) == len(apps) {
			conn.tenantErrs[tn] = errors.Join(errs...)
		}
	}
	if len(conn.lanes) == 0 {
		var all []error
		for _, tn := range tenants {
			if err := conn.tenantErrs[tn]; err != nil {
				if len(tenants) > 1 {
					name := tn
					if name == "" && len(o.tenantIDs) == 1 {
						name = o.tenantIDs[0]
					}
					err = fmt.Errorf("tenant %s: %w", cmp.Or(name, "(default)"), err)
				}
				all = append(all, err)
			}
		}
		return nil, withHint(fmt.Errorf("no sign-in worked: %w", errors.Join(all...)),
			"check --auth, --tenant-id, --client-id and the apps' consent in each tenant")
	}
	if len(tenants) == 1 && t.tenant == "" {
		conn.target.tenant = conn.lanes[0].TenantID
	}
	return conn, nil
}

// otherTenantError is why the rows of a tenant the list names are not sent with --auth token:
// the token is for one tenant, its tid claim, and that is not it (or, for a domain, cannot be
// known to be it).
type otherTenantError struct {
	tenant, tokenTenant string
}

func (e *otherTenantError) Error() string {
	if !isGUID(e.tenant) {
		return fmt.Sprintf("no credential for tenant %s: the --auth token is for tenant %s (its tid claim), and a tenant named by domain cannot be matched to it without Graph; name the tenant by its id in the list",
			e.tenant, e.tokenTenant)
	}
	return fmt.Sprintf("no credential for tenant %s: the --auth token is for tenant %s (its tid claim)", e.tenant, e.tokenTenant)
}

// tokenTenants decides, with --auth token, which tenants named by the list the token may serve:
// only its own, by the tid claim. The others are returned with the reason (their rows are
// reported and never sent). A list naming tenants with a token whose tenant cannot be read, or
// naming none of the token's, is refused.
func tokenTenants(o *options, s *sys, tenants []string) (map[string]error, error) {
	if o.auth != "token" || o.appPool != "" {
		return nil, nil
	}
	named := slices.DeleteFunc(slices.Clone(tenants), func(tn string) bool { return tn == "" })
	if len(named) == 0 {
		return nil, nil
	}
	tid := tokenTenant(strings.TrimSpace(s.getenv("BULKREVOKE_ACCESS_TOKEN")))
	if tid == "" {
		return nil, withHint(errors.New("the list names tenants, but the --auth token has no readable tenant (tid claim): its rows could go to the wrong tenant"),
			"use a Graph access token as az account get-access-token --resource-type ms-graph gives it, or sign in with --auth secret or certificate, which sign in to each tenant")
	}
	refused := map[string]error{}
	var errs []error
	for _, tn := range named {
		if isGUID(tn) && strings.EqualFold(tn, tid) {
			continue
		}
		err := &otherTenantError{tenant: tn, tokenTenant: tid}
		refused[tn] = err
		errs = append(errs, err)
	}
	if len(refused) == len(named) && !slices.Contains(tenants, "") {
		return nil, withHint(fmt.Errorf("no row of the list is in the token's tenant: %w", errors.Join(errs...)),
			"get a token of the list's tenant, or sign in with --auth secret or certificate, which sign in to each tenant")
	}
	return refused, nil
}

// checkTenants refuses a list whose tenants the run was not told to touch: with several
// --tenant-id, they are the run's whole scope.
func checkTenants(o *options, tenants []string) error {
	if len(o.tenantIDs) <= 1 {
		if len(tenants) > 1 && slices.Contains(tenants, "") && len(o.tenantIDs) == 0 {
			return withHint(errors.New("the list names tenants for some rows and none for others"),
				"give the tenant of the rest with --tenant-id, or fill the tenant column")
		}
		return nil
	}
	allowed := map[string]bool{}
	for _, id := range o.tenantIDs {
		allowed[strings.ToLower(id)] = true
	}
	for _, tn := range tenants {
		switch {
		case tn == "":
			return withHint(errors.New("several --tenant-id, but rows without a tenant: which tenant is each user in?"),
				"add a tenant column to the list (tenant id or verified domain per row)")
		case !allowed[strings.ToLower(tn)]:
			return withHint(fmt.Errorf("the list names tenant %s, which is not among --tenant-id", tn),
				"add it with another --tenant-id, or remove its rows")
		}
	}
	return nil
}

// signInLane gets a token for one app in one tenant and builds its Graph client.
func signInLane(ctx context.Context, s *sys, t target, o *options, a app, tenant string) (batch.Lane, error) {
	cred, err := credential(signIn{mode: a.mode, tenantID: tenant, clientID: a.clientID, certFile: a.certFile,
		secretEnv: a.secretEnv, authorityHost: o.authorityHost}, t, s)
	if err != nil {
		return batch.Lane{}, err
	}
	tid, err := checkToken(ctx, cred, t.scope)
	if err != nil {
		return batch.Lane{}, err
	}
	client, err := batch.NewGraphClient(batch.GraphOptions{BaseURL: t.graphURL, Credential: cred, Scopes: []string{t.scope},
		Transport: s.transport})
	if err != nil {
		return batch.Lane{}, err
	}
	return batch.Lane{TenantID: cmp.Or(tid, tenant), App: a.clientID, Client: client}, nil
}
