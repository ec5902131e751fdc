package report

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulkrevoke/bulkrevoke/batch"
)

type listedUser struct{ id, upn, name, tenant string }

var listedUsers = []listedUser{
	{"0A1B2C3D-0000-4000-8000-000000000001", "adele@contoso.com", "Vance, Adele", tenantA},
	{"0a1b2c3d-0000-4000-8000-000000000002", "guest_fabrikam.com#EXT#@contoso.onmicrosoft.com", "=HYPERLINK(\"x\")", tenantA},
	{"0a1b2c3d-0000-4000-8000-000000000003", "-dash'quote@contoso.com", "", "Fabrikam.onmicrosoft.com"},
}

// readList reads a user list the way --input does.
func readList(t *testing.T, path string, opts batch.ReaderOptions) (*batch.Reader, []batch.Row) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	opts.Name = path
	r, err := batch.NewReader(f, opts)
	if err != nil {
		t.Fatal(err)
	}
	var rows []batch.Row
	for {
		row, err := r.Next()
		if err == io.EOF {
			return r, rows
		}
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, row)
	}
}

func writeList(t *testing.T, users []listedUser, withTenant bool) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "run.users.csv")
	u, err := CreateUsers(path, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range users {
		tenant := ""
		if withTenant {
			tenant = x.tenant
		}
		if err := u.Write(x.id, x.upn, x.name, tenant); err != nil {
			t.Fatal(err)
		}
	}
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestUserListReadsAsInput: what the run resolved is read back by batch.NewReader as the same
// users, by UPN by default and by object id with --column id, with their tenants.
func TestUserListReadsAsInput(t *testing.T) {
	for _, withTenant := range []bool{false, true} {
		path := writeList(t, listedUsers, withTenant)
		b, _ := os.ReadFile(path)
		wantHeader := "id,userPrincipalName,displayName\n"
		if withTenant {
			wantHeader = "id,userPrincipalName,displayName,tenant\n"
		}
		if !strings.HasPrefix(string(b), wantHeader) {
			t.Errorf("tenant %v: the list starts %q, want %q", withTenant, b, wantHeader)
		}
		if !strings.Contains(string(b), `"'=HYPERLINK(""x"")"`) {
			t.Errorf("a display name was not neutralised:\n%s", b)
		}
		for _, column := range []string{"", "id"} {
			r, rows := readList(t, path, batch.ReaderOptions{Column: column})
			wantColumn := "userPrincipalName"
			if column != "" {
				wantColumn = column
			}
			if r.Column() != wantColumn {
				t.Errorf("tenant %v, --column %q: the reader took column %q, want %q", withTenant, column, r.Column(), wantColumn)
			}
			if wantTC := map[bool]string{false: "", true: "tenant"}[withTenant]; r.TenantColumn() != wantTC {
				t.Errorf("tenant %v: tenant column %q, want %q", withTenant, r.TenantColumn(), wantTC)
			}
			if len(rows) != len(listedUsers) {
				t.Fatalf("read %d rows, want %d", len(rows), len(listedUsers))
			}
			for i, row := range rows {
				x := listedUsers[i]
				wantKey, wantKind := x.upn, batch.KindUPN
				if column == "id" {
					wantKey, wantKind = strings.ToLower(x.id), batch.KindObjectID
				}
				wantTenant := ""
				if withTenant {
					wantTenant = strings.ToLower(x.tenant)
				}
				if row.Line != i+2 || row.Key != wantKey || row.Kind != wantKind || row.Tenant != wantTenant || row.DupOf != 0 {
					t.Errorf("tenant %v, --column %q, row %d = %+v; want line %d, key %q, tenant %q",
						withTenant, column, i, row, i+2, wantKey, wantTenant)
				}
			}
		}
	}
}

func TestUserListEmpty(t *testing.T) {
	path := writeList(t, nil, false)
	if b, _ := os.ReadFile(path); string(b) != "id,userPrincipalName,displayName\n" {
		t.Errorf("an empty list holds %q, want the header", b)
	}
	if _, rows := readList(t, path, batch.ReaderOptions{}); len(rows) != 0 {
		t.Errorf("an empty list reads as %d rows", len(rows))
	}
}

func TestUserListErrors(t *testing.T) {
	const id = "0a1b2c3d-0000-4000-8000-000000000001"
	tests := []struct {
		name    string
		first   *listedUser // written before, when set
		user    listedUser
		wantErr string
	}{
		{name: "no key", user: listedUser{name: "Nobody"}, wantErr: "a user needs an id or a userPrincipalName"},
		{name: "id not an object id", user: listedUser{id: "adele@contoso.com"}, wantErr: `id "adele@contoso.com" is not an object id`},
		{name: "upn not a upn", user: listedUser{id: id, upn: "=1+1"}, wantErr: `"=1+1" is not a userPrincipalName`},
		{name: "upn an object id", user: listedUser{upn: id}, wantErr: "is not a userPrincipalName (an object id)"},
		{name: "bad tenant", user: listedUser{id: id, tenant: "con toso.com"}, wantErr: `tenant "con toso.com" contains a space`},
		{name: "tenant after none", first: &listedUser{id: id}, user: listedUser{upn: "a@b.co", tenant: "b.co"},
			wantErr: `user "a@b.co" has tenant "b.co", but the first user had none`},
		{name: "none after a tenant", first: &listedUser{id: id, tenant: "b.co"}, user: listedUser{upn: "a@b.co"},
			wantErr: `user "a@b.co" has no tenant, but the list has a tenant column`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			u := newUserList(&buf, nil, "")
			if tt.first != nil {
				if err := u.Write(tt.first.id, tt.first.upn, tt.first.name, tt.first.tenant); err != nil {
					t.Fatal(err)
				}
			}
			err := u.Write(tt.user.id, tt.user.upn, tt.user.name, tt.user.tenant)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if err := u.Close(); err != nil {
				t.Fatal(err)
			}
			if strings.Count(buf.String(), "\n") != 1+map[bool]int{false: 0, true: 1}[tt.first != nil] {
				t.Errorf("a refused user was written:\n%s", buf.String())
			}
		})
	}
}

func TestCreateUsers(t *testing.T) {
	u, path := created(t, "run.users.csv", CreateUsers)
	if err := u.Write(listedUsers[0].id, listedUsers[0].upn, "", ""); err != nil {
		t.Fatal(err)
	}
	if err := u.Flush(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); strings.Count(string(b), "\n") != 2 {
		t.Errorf("after Flush the file holds %q", b)
	}
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	if err := u.Write(listedUsers[1].id, "", "", ""); err == nil {
		t.Error("Write after Close succeeded")
	}
	checkRefuses(t, path, "create user list", CreateUsers)
}
