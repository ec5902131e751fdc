package graphsim

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestGenerateUsers(t *testing.T) {
	a, b := GenerateUsers(500, 42), GenerateUsers(500, 42)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed gave different tenants")
	}
	if reflect.DeepEqual(a, GenerateUsers(500, 43)) {
		t.Error("different seeds gave the same tenant")
	}
	var guests, disabled, apostrophes int
	keys := map[string]bool{}
	for _, u := range a {
		for _, k := range []string{strings.ToLower(u.ID), strings.ToLower(u.UPN)} {
			if keys[k] {
				t.Errorf("key %q used twice", k)
			}
			keys[k] = true
		}
		isGuest := strings.Contains(u.UPN, "#EXT#")
		if isGuest != (u.UserType == "Guest") {
			t.Errorf("%s: userType %s does not match the UPN", u.UPN, u.UserType)
		}
		if isGuest {
			guests++
		}
		if !u.AccountEnabled {
			disabled++
		}
		if strings.Contains(u.UPN, "'") {
			apostrophes++
		}
		if len(u.ID) != 36 || u.SignInSessionsValidFrom.IsZero() || u.DisplayName == "" {
			t.Errorf("incomplete user %+v", u)
		}
	}
	if guests != 25 || disabled != 17 || apostrophes == 0 {
		t.Errorf("guests=%d disabled=%d apostrophes=%d, want 25, 17 and some", guests, disabled, apostrophes)
	}
	if got := GenerateUsers(0, 1); len(got) != 0 {
		t.Errorf("GenerateUsers(0) = %d users", len(got))
	}
}

func TestReadUsersCSV(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []User
		wantErr string
	}{
		{
			name: "all columns, any case, BOM",
			in: "\ufeffID,UserPrincipalName,displayName,userType,accountEnabled,protected,ignoreRevoke,signInSessionsValidFromDateTime\n" +
				"6e1f7c2a-0b8e-4d9f-9a51-1c2d3e4f5a6b,adele@x.com,Adele,Member,true,no,yes,2025-01-02T03:04:05Z\n",
			want: []User{{ID: adeleID, UPN: "adele@x.com", DisplayName: "Adele", UserType: "Member", AccountEnabled: true,
				IgnoreRevoke: true, SignInSessionsValidFrom: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}},
		},
		{
			name: "only UPNs: defaults, generated ids, guests recognised, extra columns ignored",
			in:   "userPrincipalName,licenses\nadele@x.com,E5\n\"john_contoso.com#EXT#@t.onmicrosoft.com\",\n",
			want: []User{
				{ID: guidFromName("adele@x.com"), UPN: "adele@x.com", UserType: "Member", AccountEnabled: true},
				{ID: guidFromName("john_contoso.com#EXT#@t.onmicrosoft.com"), UPN: "john_contoso.com#EXT#@t.onmicrosoft.com", UserType: "Guest", AccountEnabled: true},
			},
		},
		{
			name: "short rows and disabled, protected users",
			in:   "userPrincipalName,accountEnabled,protected\nadmin@x.com,false,1\no'brien@x.com\n",
			want: []User{
				{ID: guidFromName("admin@x.com"), UPN: "admin@x.com", UserType: "Member", Protected: true},
				{ID: guidFromName("o'brien@x.com"), UPN: "o'brien@x.com", UserType: "Member", AccountEnabled: true},
			},
		},
		{
			name: "containment and filter columns",
			in:   "userPrincipalName,onPremisesSyncEnabled,Department,mail,jobTitle\nsynced@x.com,true,Sales,synced@x.com,Clerk\n",
			want: []User{{ID: guidFromName("synced@x.com"), UPN: "synced@x.com", UserType: "Member", AccountEnabled: true,
				OnPremisesSyncEnabled: true, Department: "Sales", Mail: "synced@x.com", JobTitle: "Clerk"}},
		},
		{name: "bad sync flag", in: "userPrincipalName,onPremisesSyncEnabled\na@x.com,perhaps\n", wantErr: "users csv:2: onPremisesSyncEnabled"},
		{name: "no header", in: "", wantErr: "empty input"},
		{name: "no UPN column", in: "id,displayName\n1,a\n", wantErr: "users csv:1: header has no userPrincipalName"},
		{name: "empty UPN", in: "userPrincipalName,id\nadele@x.com,\n,abc\n", wantErr: "users csv:3: empty userPrincipalName"},
		{name: "bad boolean", in: "userPrincipalName,accountEnabled\nadele@x.com,maybe\n", wantErr: `users csv:2: accountEnabled: "maybe" is not a boolean`},
		{name: "bad user type", in: "userPrincipalName,userType\nadele@x.com,Admin\n", wantErr: `users csv:2: userType "Admin"`},
		{name: "duplicate UPN in another case", in: "userPrincipalName\nadele@x.com\nADELE@x.com\n", wantErr: `users csv:3: "ADELE@x.com" already used on line 2`},
		{name: "bad timestamp", in: "userPrincipalName,signInSessionsValidFromDateTime\na@x.com,yesterday\n", wantErr: "users csv:2: signInSessionsValidFromDateTime"},
		{name: "broken quoting", in: "userPrincipalName\n\"adele@x.com\n", wantErr: "users csv:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadUsersCSV(strings.NewReader(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestGeneratedTenantServes(t *testing.T) {
	users := GenerateUsers(60, 9)
	s, base := start(t, Config{}, users)
	var steps []testStep
	for i := range 20 {
		// The SDK's encoding: everything outside A-Za-z0-9-._~ escaped.
		steps = append(steps, revokeStep(users[i].ID, sdkEscape(users[i].UPN)))
	}
	_, got := batch(t, base, steps)
	for _, u := range users[:20] {
		if got[u.ID].Status != 200 || len(s.Revocations(u.UPN)) != 1 {
			t.Errorf("%s: status %d, revocations %d; want 200 and 1", u.UPN, got[u.ID].Status, len(s.Revocations(u.UPN)))
		}
	}
}

func sdkEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~", c) >= 0 {
			b.WriteByte(c)
		} else {
			b.WriteString("%" + strings.ToUpper(string("0123456789abcdef"[c>>4])+string("0123456789abcdef"[c&15])))
		}
	}
	return b.String()
}
