package graphsim

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Method is one of a user's authentication methods, as
// GET /users/{id}/authentication/methods lists it.
type Method struct {
	ID string `json:"id"`
	// Type is the v1.0 name: email, fido2, microsoftAuthenticator, password, phone,
	// platformCredential, softwareOath, temporaryAccessPass or windowsHelloForBusiness. Any
	// other name is listed as #microsoft.graph.{Type}AuthenticationMethod and has no
	// delete endpoint, as a type added to Graph after the client was built.
	Type string `json:"type"`
	// Created is createdDateTime; zero lists it as null (absent for phone and email, which
	// Graph lists without it).
	Created     time.Time `json:"createdDateTime,omitzero"`
	DisplayName string    `json:"displayName,omitempty"` // fido2: model; phone: the number; email: the address
	PhoneType   string    `json:"phoneType,omitempty"`   // phone: mobile, alternateMobile or office
}

// methodSegments maps a delete endpoint's segment (lower case) to its method type.
var methodSegments = map[string]string{}

// methodTypes are the v1.0 types, each with its own delete endpoint but password's.
var methodTypes = []string{"email", "fido2", "microsoftAuthenticator", "password", "phone", "platformCredential",
	"softwareOath", "temporaryAccessPass", "windowsHelloForBusiness"}

func init() {
	for _, t := range methodTypes {
		methodSegments[strings.ToLower(t)+"methods"] = t
	}
}

// Graph's refusals of a method deletion.
const (
	defaultMethodMessage = "Cannot delete default method with other methods configured. Please change the default method first."
	mobilePhoneMessage   = "Cannot delete the mobile phone method while an alternate mobile phone method exists."
	passwordMethodMsg    = "The password method cannot be deleted."
)

// parseAuthRoute reads what follows /users/{key}/authentication: methods (the listing) or
// {type}Methods/{id} (one method).
func parseAuthRoute(r route, rest []string, notFound func(string) (route, *problem)) (route, *problem) {
	if len(rest) == 0 {
		return notFound("authentication")
	}
	seg, _ := url.PathUnescape(rest[0])
	if strings.EqualFold(seg, "methods") && len(rest) == 1 {
		r.kind = routeMethods
		return r, nil
	}
	typ, ok := methodSegments[strings.ToLower(seg)]
	if !ok || len(rest) != 2 {
		return notFound(rest[0])
	}
	id, err := url.PathUnescape(rest[1])
	if err != nil || id == "" {
		return route{}, badRequest("Request_BadRequest", errEscape)
	}
	r.kind, r.rel, r.item = routeMethod, typ, id
	return r, nil
}

// listMethods answers GET /users/{key}/authentication/methods, a page of Config.MethodsPageSize
// (all of them when 0) at a time.
func (s *Server) listMethods(op operation, u *User) result {
	pos := 0
	if q, err := url.ParseQuery(op.query); err == nil {
		if v, ok := option(q, "skiptoken"); ok {
			p, good := s.readSkipToken(v, op)
			if !good {
				return errorResult(http.StatusBadRequest, "Request_BadRequest", "Invalid Skip Token", s.clock.Now(), ids{})
			}
			pos = p
		}
	}
	size := s.cfg.MethodsPageSize
	if size <= 0 {
		size = len(u.Methods)
	}
	end := min(pos+size, len(u.Methods))
	var b bytes.Buffer
	b.WriteString(`{"@odata.context":`)
	writeJSON(&b, "https://graph.microsoft.com/"+op.version+"/$metadata#users('"+u.ID+"')/authentication/methods")
	if end < len(u.Methods) {
		b.WriteString(`,"@odata.nextLink":`)
		writeJSON(&b, op.base+"/"+op.version+op.path+"?$skiptoken="+s.skipToken(end, op, ""))
	}
	b.WriteString(`,"value":[`)
	for i, m := range u.Methods[min(pos, end):end] {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSON(&b, methodBody(m))
	}
	b.WriteString("]}")
	return result{status: http.StatusOK, header: map[string]string{"Content-Type": jsonType}, body: b.Bytes()}
}

// methodBody is a method as Graph lists it: the properties of its type.
func methodBody(m Method) map[string]any {
	o := map[string]any{"@odata.type": "#microsoft.graph." + m.Type + "AuthenticationMethod", "id": m.ID}
	if !m.Created.IsZero() {
		o["createdDateTime"] = m.Created.UTC().Format(time.RFC3339)
	} else if m.Type != "phone" && m.Type != "email" {
		o["createdDateTime"] = nil
	}
	switch m.Type {
	case "phone":
		o["phoneNumber"], o["phoneType"], o["smsSignInState"] = m.DisplayName, m.PhoneType, "notEnabled"
	case "email":
		o["emailAddress"] = m.DisplayName
	case "fido2":
		o["displayName"], o["model"], o["attestationLevel"] = m.DisplayName, m.DisplayName, "attested"
	case "microsoftAuthenticator":
		o["displayName"], o["deviceTag"], o["phoneAppVersion"] = m.DisplayName, "SoftwareTokenActivated", "6.2401.0119"
	case "windowsHelloForBusiness", "platformCredential":
		o["displayName"], o["keyStrength"] = m.DisplayName, "normal"
	case "password":
		o["password"] = nil
	case "softwareOath":
		o["secretKey"] = nil
	case "temporaryAccessPass":
		o["lifetimeInMinutes"], o["isUsableOnce"], o["isUsable"] = 60, true, true
	default:
		if m.DisplayName != "" {
			o["displayName"] = m.DisplayName
		}
	}
	return o
}

// deleteMethod answers DELETE /users/{key}/authentication/{type}Methods/{id} with Graph's
// refusals: the password never, a mobile phone while an alternate mobile phone exists, the
// default method while the user has others.
func (s *Server) deleteMethod(d *directory, r route, u *User, now time.Time) (int, string, string) {
	i := slices.IndexFunc(u.Methods, func(m Method) bool { return strings.EqualFold(m.ID, r.item) && m.Type == r.rel })
	if i < 0 {
		return http.StatusNotFound, "itemNotFound", fmt.Sprintf("The %s method '%s' was not found.", r.rel, r.item)
	}
	m := u.Methods[i]
	others := slices.ContainsFunc(u.Methods, func(x Method) bool { return x.ID != m.ID && x.Type != "password" })
	switch {
	case m.Type == "password":
		return http.StatusBadRequest, "badRequest", passwordMethodMsg
	case m.Type == "phone" && m.PhoneType == "mobile" &&
		slices.ContainsFunc(u.Methods, func(x Method) bool { return x.Type == "phone" && x.PhoneType == "alternateMobile" }):
		return http.StatusBadRequest, "badRequest", mobilePhoneMessage
	case strings.EqualFold(u.DefaultMethod, m.ID) && others:
		return http.StatusBadRequest, "badRequest", defaultMethodMessage
	}
	// A new array: users handed out by User() keep theirs.
	u.Methods = append(u.Methods[:i:i], u.Methods[i+1:]...)
	s.stats.MethodDeletes++
	s.recordUser(d, u, EventMethodRemove, now)
	return http.StatusNoContent, "", ""
}

// GiveMethods gives each user the authentication methods a real tenant's users have,
// deterministically from seed, dated from now: the password (no createdDateTime, as Graph lists
// it), often a mobile phone and an email (Graph gives them no date either), an Authenticator
// app undated or registered long ago, sometimes a FIDO2 key or an OATH token months old, and,
// for about one user in five, a method registered in the last two days: what an attacker who
// held the password leaves behind, and what --remove-methods-since 72h removes.
func GiveMethods(users []User, seed int64, now time.Time) {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x3c6ef372fe94f82b))
	days := func(lo, hi int) time.Time {
		return now.Add(-time.Duration(lo+rng.IntN(hi-lo+1)) * 24 * time.Hour).Truncate(time.Second)
	}
	for i := range users {
		u := &users[i]
		add := func(m Method) {
			m.ID = randomGUID(rng)
			u.Methods = append(u.Methods, m)
		}
		add(Method{Type: "password"})
		if rng.IntN(2) == 0 {
			add(Method{Type: "phone", PhoneType: "mobile", DisplayName: fmt.Sprintf("+1 425 555 %04d", rng.IntN(10000))})
		}
		if rng.IntN(3) == 0 {
			add(Method{Type: "email", DisplayName: strings.Split(u.UPN, "@")[0] + "@outlook.com"})
		}
		switch rng.IntN(3) {
		case 0:
			add(Method{Type: "microsoftAuthenticator", DisplayName: "Pixel 8"})
		case 1:
			add(Method{Type: "microsoftAuthenticator", DisplayName: "iPhone 14", Created: days(90, 400)})
		}
		if rng.IntN(4) == 0 {
			add(Method{Type: "fido2", DisplayName: "YubiKey 5 NFC", Created: days(60, 500)})
		}
		if rng.IntN(5) == 0 {
			add(Method{Type: "softwareOath", Created: days(30, 300)})
		}
		if rng.IntN(5) == 0 {
			// The attacker's: registered hours ago, on a device the user never had.
			add(Method{Type: "microsoftAuthenticator", DisplayName: "SM-A146P",
				Created: now.Add(-time.Duration(2+rng.IntN(44)) * time.Hour).Truncate(time.Second)})
		}
	}
}
