package graphsim

import (
	"reflect"
	"testing"
	"time"
)

// TestGiveMethods: every user has a password method without a date, phones and email carry no
// date (as Graph lists them), some users have a method registered in the last two days and
// none has one in the future, and the same seed gives the same methods.
func TestGiveMethods(t *testing.T) {
	now := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	users := GenerateUsers(200, 3)
	GiveMethods(users, 7, now)
	recent := 0
	for _, u := range users {
		if len(u.Methods) == 0 || u.Methods[0].Type != "password" || !u.Methods[0].Created.IsZero() {
			t.Fatalf("%s: methods %+v, want the password first, undated", u.UPN, u.Methods)
		}
		for _, m := range u.Methods {
			switch {
			case (m.Type == "phone" || m.Type == "email") && !m.Created.IsZero():
				t.Errorf("%s: a dated %s; Graph lists them without createdDateTime", u.UPN, m.Type)
			case m.Created.After(now):
				t.Errorf("%s: a %s created after now", u.UPN, m.Type)
			case !m.Created.IsZero() && now.Sub(m.Created) < 72*time.Hour:
				recent++
			}
		}
	}
	if recent < 20 || recent > 80 {
		t.Errorf("%d of 200 users have a method from the last 72 hours, want about one in five", recent)
	}
	again := GenerateUsers(200, 3)
	GiveMethods(again, 7, now)
	if !reflect.DeepEqual(users, again) {
		t.Error("the same seed gave other methods")
	}
}
