package graphsim

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestPasswordReset models Graph's answers to a PATCH of passwordProfile: 204 and a journal
// entry for a user it may reset; 400 with Graph's message for a user synced from AD and for a
// password the policy refuses; 403 for an admin the app may not touch and for an app without
// the permission; nothing recorded for any refusal.
func TestPasswordReset(t *testing.T) {
	users := []User{
		{ID: "a0000000-0000-4000-8000-000000000001", UPN: "plain@x.com", AccountEnabled: true},
		{ID: "a0000000-0000-4000-8000-000000000002", UPN: "synced@x.com", AccountEnabled: true, OnPremisesSyncEnabled: true},
		{ID: "a0000000-0000-4000-8000-000000000003", UPN: "admin@x.com", AccountEnabled: true, Admin: true},
	}
	body := func(p string) []byte {
		return []byte(`{"passwordProfile":{"password":"` + p + `","forceChangePasswordNextSignIn":true}}`)
	}
	const strong = "Xy7!kQ2#mN9$pL4%rT6^vW8&zB3*cD5(fG1)hJ0"
	for _, tc := range []struct {
		name   string
		cfg    Config
		user   string
		pw     string
		status int
		code   string
		msg    string
	}{
		{"plain", Config{}, "plain@x.com", strong, http.StatusNoContent, "", ""},
		{"synced", Config{}, "synced@x.com", strong, http.StatusBadRequest, "Request_BadRequest", syncedMessage},
		{"admin", Config{}, "admin@x.com", strong, http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."},
		{"weak", Config{}, "plain@x.com", "password", http.StatusBadRequest, "Request_BadRequest", weakPasswordMessage},
		{"two classes", Config{}, "plain@x.com", "abcdefgh12345678", http.StatusBadRequest, "Request_BadRequest", weakPasswordMessage},
		{"policy", Config{RefusePasswords: true}, "plain@x.com", strong, http.StatusBadRequest, "Request_BadRequest", weakPasswordMessage},
		{"no permission", Config{NoPasswordPermission: true}, "plain@x.com", strong, http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, base := start(t, tc.cfg, users)
			r := call(t, http.MethodPatch, base+"/v1.0/users/"+tc.user, body(tc.pw), map[string]string{"Content-Type": "application/json"})
			if r.status != tc.status || r.errCode() != tc.code || r.errMessage() != tc.msg {
				t.Fatalf("PATCH: %d %s %q, want %d %s %q", r.status, r.errCode(), r.errMessage(), tc.status, tc.code, tc.msg)
			}
			evs := s.Events(tc.user)
			pw := s.Passwords()
			if tc.status == http.StatusNoContent {
				if len(evs) != 1 || evs[0].Kind != EventReset || len(pw) != 1 || pw[0] != tc.pw {
					t.Errorf("journal %v, passwords %d; want one reset holding the password sent", evs, len(pw))
				}
				return
			}
			if len(evs) != 0 || len(pw) != 0 {
				t.Errorf("a refused reset left journal %v and %d passwords", evs, len(pw))
			}
		})
	}
}

// TestPasswordResetNotInState: the state graphsim saves never holds a password it received.
func TestPasswordResetNotInState(t *testing.T) {
	const pw = "Qw3rty!Secret#Value9876"
	s, base := start(t, Config{}, []User{{ID: "a0000000-0000-4000-8000-000000000001", UPN: "plain@x.com", AccountEnabled: true}})
	r := call(t, http.MethodPatch, base+"/v1.0/users/plain@x.com", []byte(`{"passwordProfile":{"password":"`+pw+`"}}`),
		map[string]string{"Content-Type": "application/json"})
	if r.status != http.StatusNoContent {
		t.Fatalf("PATCH: %d", r.status)
	}
	b, err := json.Marshal(s.State())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), pw) {
		t.Error("the saved state holds the password")
	}
}
