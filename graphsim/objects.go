package graphsim

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"
)

// Each type's properties for $select and $filter, by lower-cased name.
var (
	userProps = propTable(
		propSpec{name: "id", typ: propString},
		propSpec{name: "userPrincipalName", typ: propString, endsWithOK: true},
		propSpec{name: "displayName", typ: propString},
		propSpec{name: "accountEnabled", typ: propBool},
		propSpec{name: "userType", typ: propString},
		propSpec{name: "signInSessionsValidFromDateTime"},
		propSpec{name: "onPremisesSyncEnabled", typ: propBool},
		propSpec{name: "department", typ: propString},
		propSpec{name: "mail", typ: propString, endsWithOK: true},
		propSpec{name: "jobTitle", typ: propString},
	)
	deviceProps = propTable(
		propSpec{name: "id", typ: propString},
		propSpec{name: "deviceId", typ: propString},
		propSpec{name: "displayName", typ: propString},
		propSpec{name: "accountEnabled", typ: propBool},
		propSpec{name: "onPremisesSyncEnabled", typ: propBool},
	)
	groupProps = propTable(
		propSpec{name: "id", typ: propString},
		propSpec{name: "displayName", typ: propString},
	)
	spProps = groupProps
	// A directoryObject collection selects and filters on any member type's
	// properties; an object without the property leaves it out.
	anyProps = mergeProps(userProps, deviceProps, groupProps)
)

func propTable(specs ...propSpec) map[string]propSpec {
	m := make(map[string]propSpec, len(specs))
	for _, s := range specs {
		m[strings.ToLower(s.name)] = s
	}
	return m
}

func mergeProps(tables ...map[string]propSpec) map[string]propSpec {
	m := map[string]propSpec{}
	for _, t := range tables {
		for k, v := range t {
			m[k] = v
		}
	}
	return m
}

// defaultProps is what Graph returns without $select (a subset, for users).
func defaultProps(k objKind) []string {
	switch k {
	case kindUser:
		return []string{"displayName", "userPrincipalName", "id"}
	case kindDevice:
		return []string{"id", "deviceId", "displayName", "accountEnabled", "onPremisesSyncEnabled"}
	default:
		return []string{"id", "displayName"}
	}
}

// typeInfo is what a route's objects are, for $select, $filter and messages.
type typeInfo struct {
	props    map[string]propSpec
	typeName string // microsoft.graph.user
	resource string // User
	set      string // users, as in @odata.context
}

var (
	userType   = typeInfo{userProps, "microsoft.graph.user", "User", "users"}
	deviceType = typeInfo{deviceProps, "microsoft.graph.device", "Device", "devices"}
	groupType  = typeInfo{groupProps, "microsoft.graph.group", "Group", "groups"}
	spType     = typeInfo{spProps, "microsoft.graph.servicePrincipal", "ServicePrincipal", "servicePrincipals"}
	anyType    = typeInfo{anyProps, "microsoft.graph.directoryObject", "DirectoryObject", "directoryObjects"}
)

func kindType(k objKind) typeInfo {
	switch k {
	case kindUser:
		return userType
	case kindDevice:
		return deviceType
	case kindGroup:
		return groupType
	case kindServicePrincipal:
		return spType
	}
	return anyType
}

// routeType is the type of the objects a route returns.
func routeType(r route) typeInfo {
	switch r.kind {
	case routeUser, routeUsers:
		return userType
	case routeDevice, routeDevices, routeUserDevices:
		return deviceType
	case routeGroup, routeGroups:
		return groupType
	case routeMembers:
		return kindType(r.cast)
	}
	return anyType
}

// propValue reads a property; ok is false when the object's type has none.
// Optional strings read null when empty, and onPremisesSyncEnabled is null
// for objects never synced, as on Graph.
func propValue(o dirObject, p string) (v any, ok bool) {
	nullable := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	syncFlag := func(b bool) any {
		if b {
			return true
		}
		return nil
	}
	switch o.kind {
	case kindUser:
		u := o.user
		switch p {
		case "id":
			return u.ID, true
		case "userPrincipalName":
			return u.UPN, true
		case "displayName":
			return u.DisplayName, true
		case "accountEnabled":
			return u.AccountEnabled, true
		case "userType":
			return u.UserType, true
		case "signInSessionsValidFromDateTime":
			// Graph reports whole seconds, so a verifier must allow for the
			// truncation; a user never revoked reads null.
			if u.SignInSessionsValidFrom.IsZero() {
				return nil, true
			}
			return u.SignInSessionsValidFrom.UTC().Truncate(time.Second).Format(time.RFC3339), true
		case "onPremisesSyncEnabled":
			return syncFlag(u.OnPremisesSyncEnabled), true
		case "department":
			return nullable(u.Department), true
		case "mail":
			return nullable(u.Mail), true
		case "jobTitle":
			return nullable(u.JobTitle), true
		}
	case kindDevice:
		d := o.device
		switch p {
		case "id":
			return d.ID, true
		case "deviceId":
			return d.DeviceID, true
		case "displayName":
			return d.DisplayName, true
		case "accountEnabled":
			return d.AccountEnabled, true
		case "onPremisesSyncEnabled":
			return syncFlag(d.OnPremisesSyncEnabled), true
		}
	case kindGroup:
		switch p {
		case "id":
			return o.group.ID, true
		case "displayName":
			return o.group.DisplayName, true
		}
	case kindServicePrincipal:
		switch p {
		case "id":
			return o.sp.ID, true
		case "displayName":
			return o.sp.DisplayName, true
		}
	}
	return nil, false
}

// writeObject appends one object as Graph renders it: @odata.type first when
// asked for (directoryObject collections), then the selected properties or
// the type's default set.
func writeObject(b *bytes.Buffer, o dirObject, props []string, withType bool) {
	b.WriteByte('{')
	n := 0
	field := func(k string, v any) {
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		writeJSON(b, k)
		b.WriteByte(':')
		writeJSON(b, v)
	}
	if withType {
		field("@odata.type", o.kind.odataType())
	}
	if props == nil {
		props = defaultProps(o.kind)
	}
	for _, p := range props {
		if v, ok := propValue(o, p); ok {
			field(p, v)
		}
	}
	b.WriteByte('}')
}

// entityBody renders one object with its @odata.context, as a GET of a
// single entity answers.
func entityBody(o dirObject, props []string, version string) json.RawMessage {
	set := kindType(o.kind).set
	ctx := "https://graph.microsoft.com/" + version + "/$metadata#" + set + "/$entity"
	if props != nil {
		ctx = "https://graph.microsoft.com/" + version + "/$metadata#" + set + "(" + strings.Join(props, ",") + ")/$entity"
	}
	var obj bytes.Buffer
	writeObject(&obj, o, props, false)
	var b bytes.Buffer
	b.WriteString(`{"@odata.context":`)
	writeJSON(&b, ctx)
	if inner := obj.Bytes(); len(inner) > 2 {
		b.WriteByte(',')
		b.Write(inner[1:])
	} else {
		b.WriteByte('}')
	}
	return b.Bytes()
}
