package graphsim

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

var methodsDay = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// methodsUser holds one method of every v1.0 type, one of a type Graph added later, two phones
// and a default method.
func methodsUser() User {
	return User{ID: "b0000000-0000-4000-8000-000000000001", UPN: "m@x.com", AccountEnabled: true, DefaultMethod: "auth-1",
		Methods: []Method{
			{ID: "pw-1", Type: "password", Created: methodsDay},
			{ID: "mob-1", Type: "phone", PhoneType: "mobile", DisplayName: "+1 555 0100"},
			{ID: "alt-1", Type: "phone", PhoneType: "alternateMobile", DisplayName: "+1 555 0101"},
			{ID: "mail-1", Type: "email", DisplayName: "m@home.example"},
			{ID: "fido-1", Type: "fido2", Created: methodsDay, DisplayName: "YubiKey 5"},
			{ID: "auth-1", Type: "microsoftAuthenticator", DisplayName: "Pixel 8"},
			{ID: "plat-1", Type: "platformCredential", Created: methodsDay, DisplayName: "MacBook"},
			{ID: "oath-1", Type: "softwareOath", Created: methodsDay},
			{ID: "tap-1", Type: "temporaryAccessPass", Created: methodsDay},
			{ID: "whfb-1", Type: "windowsHelloForBusiness", Created: methodsDay, DisplayName: "DESKTOP-1"},
			{ID: "qr-1", Type: "qrCodePin", Created: methodsDay},
		}}
}

// TestMethodsListing lists every type with its @odata.type, createdDateTime null where
// unknown (absent for phone and email), and pages when asked, in $batch too.
func TestMethodsListing(t *testing.T) {
	s, base := start(t, Config{MethodsPageSize: 4}, []User{methodsUser()})
	_ = s
	var got []map[string]any
	url := base + "/v1.0/users/m@x.com/authentication/methods"
	for pages := 0; url != ""; pages++ {
		if pages > 5 {
			t.Fatal("the listing does not end")
		}
		r := call(t, http.MethodGet, url, nil, nil)
		if r.status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", url, r.status, r.raw)
		}
		for _, v := range r.body["value"].([]any) {
			got = append(got, v.(map[string]any))
		}
		url, _ = r.body["@odata.nextLink"].(string)
	}
	if len(got) != len(methodsUser().Methods) {
		t.Fatalf("listed %d methods, want %d", len(got), len(methodsUser().Methods))
	}
	for _, m := range got {
		typ := m["@odata.type"].(string)
		created, has := m["createdDateTime"]
		switch {
		case strings.Contains(typ, "phone") || strings.Contains(typ, "email"):
			if has {
				t.Errorf("%s lists createdDateTime %v; Graph lists none", typ, created)
			}
		case m["id"] == "auth-1":
			if !has || created != nil {
				t.Errorf("%s: createdDateTime %v, want null", typ, created)
			}
		default:
			if created != methodsDay.Format(time.RFC3339) {
				t.Errorf("%s: createdDateTime %v, want %s", typ, created, methodsDay.Format(time.RFC3339))
			}
		}
	}
	if got[10]["@odata.type"] != "#microsoft.graph.qrCodePinAuthenticationMethod" {
		t.Errorf("unknown type listed as %v", got[10]["@odata.type"])
	}
	_, steps := batch(t, base, []testStep{{ID: "1", Method: "GET", URL: "/users/m@x.com/authentication/methods"}})
	if steps["1"].Status != http.StatusOK || len(steps["1"].Body["value"].([]any)) != 4 {
		t.Errorf("$batch listing: %d %v", steps["1"].Status, steps["1"].Body)
	}
}

// TestMethodsDelete models Graph's refusals: the password never; the mobile phone while the
// alternate mobile exists, then after it; the default method while others remain, then when
// it is the last; an unknown segment; a method gone. Every deletion that lands is journaled.
func TestMethodsDelete(t *testing.T) {
	s, base := start(t, Config{}, []User{methodsUser()})
	del := func(seg, id string) reply {
		t.Helper()
		return call(t, http.MethodDelete, base+"/v1.0/users/m@x.com/authentication/"+seg+"/"+id, nil, nil)
	}
	expect := func(r reply, status int, msg string) {
		t.Helper()
		if r.status != status || (msg != "" && r.errMessage() != msg) {
			t.Fatalf("got %d %q, want %d %q", r.status, r.errMessage(), status, msg)
		}
	}
	expect(del("passwordMethods", "pw-1"), http.StatusBadRequest, passwordMethodMsg)
	expect(del("phoneMethods", "mob-1"), http.StatusBadRequest, mobilePhoneMessage)
	expect(del("microsoftAuthenticatorMethods", "auth-1"), http.StatusBadRequest, defaultMethodMessage)
	expect(del("fido2Methods", "auth-1"), http.StatusNotFound, "")
	expect(del("qrCodePinMethods", "qr-1"), http.StatusBadRequest, "")
	// In $batch, as the client sends them: the alternate phone first, then the mobile.
	_, steps := batch(t, base, []testStep{{ID: "1", Method: "DELETE", URL: "/users/m@x.com/authentication/phoneMethods/alt-1"}})
	if steps["1"].Status != http.StatusNoContent {
		t.Fatalf("$batch DELETE: %d %v", steps["1"].Status, steps["1"].Body)
	}
	expect(del("phoneMethods", "mob-1"), http.StatusNoContent, "")
	for _, m := range []string{"emailMethods/mail-1", "fido2Methods/fido-1", "platformCredentialMethods/plat-1",
		"softwareOathMethods/oath-1", "temporaryAccessPassMethods/tap-1", "windowsHelloForBusinessMethods/whfb-1"} {
		seg, id, _ := strings.Cut(m, "/")
		expect(del(seg, id), http.StatusNoContent, "")
	}
	expect(del("microsoftAuthenticatorMethods", "auth-1"), http.StatusBadRequest, defaultMethodMessage) // qr-1 remains
	u, _ := s.User("m@x.com")
	var left []string
	for _, m := range u.Methods {
		left = append(left, m.ID)
	}
	if !slices.Equal(left, []string{"pw-1", "auth-1", "qr-1"}) {
		t.Errorf("left %v", left)
	}
	evs := s.Events("m@x.com")
	if len(evs) != 8 || evs[0].Kind != EventMethodRemove {
		t.Errorf("journal %v, want 8 method removals", evs)
	}
	if st := s.Stats(); st.MethodDeletes != 8 {
		t.Errorf("MethodDeletes %d", st.MethodDeletes)
	}
}

// TestMethodsPermission: an app without the permission is refused both calls.
func TestMethodsPermission(t *testing.T) {
	_, base := start(t, Config{NoMethodsPermission: true}, []User{methodsUser()})
	for _, r := range []reply{
		call(t, http.MethodGet, base+"/v1.0/users/m@x.com/authentication/methods", nil, nil),
		call(t, http.MethodDelete, base+"/v1.0/users/m@x.com/authentication/fido2Methods/fido-1", nil, nil),
	} {
		if r.status != http.StatusForbidden || r.errCode() != "Authorization_RequestDenied" {
			t.Errorf("got %d %s, want 403", r.status, r.errCode())
		}
	}
}
