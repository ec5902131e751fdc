package graphsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// change is a validated PATCH body: the properties it sets.
type change struct {
	accountEnabled *bool
	strs           map[string]*string // displayName, department, ...; nil value = null
	password       *string            // passwordProfile.password
}

func (c change) empty() bool { return c.accountEnabled == nil && len(c.strs) == 0 && c.password == nil }

// Graph's answer to a password its complexity policy refuses.
const weakPasswordMessage = "The specified password does not comply with password complexity requirements. Please provide a different password."

// complexEnough is Entra's documented rule for cloud passwords: 8 to 256 characters, of at
// least three of upper case, lower case, digits and symbols.
func complexEnough(p string) bool {
	if len(p) < 8 || len(p) > 256 {
		return false
	}
	var up, low, dig, sym int
	for _, r := range p {
		switch {
		case r >= 'A' && r <= 'Z':
			up = 1
		case r >= 'a' && r <= 'z':
			low = 1
		case r >= '0' && r <= '9':
			dig = 1
		default:
			sym = 1
		}
	}
	return up+low+dig+sym >= 3
}

// Graph's answer to a body it cannot read.
const unreadableBody = "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format."

// syncedMessage is what Graph answers when a change would touch an object
// mastered in on-premises AD.
const syncedMessage = "Unable to update the specified properties for on-premises mastered Directory Sync objects or objects currently undergoing migration."

// patchable lists, per type, what graphsim lets a PATCH change: the
// containment switch and a few strings. readOnly names properties Graph
// refuses to set; anything else unknown is an invalid property.
var (
	userPatchable   = map[string]string{"accountenabled": "accountEnabled", "displayname": "displayName", "department": "department", "jobtitle": "jobTitle", "mail": "mail", "passwordprofile": "passwordProfile"}
	userReadOnly    = map[string]string{"id": "id", "onpremisessyncenabled": "onPremisesSyncEnabled", "signinsessionsvalidfromdatetime": "signInSessionsValidFromDateTime", "createddatetime": "createdDateTime"}
	userUnmodelled  = map[string]string{"userprincipalname": "userPrincipalName", "usertype": "userType"}
	devicePatchable = map[string]string{"accountenabled": "accountEnabled", "displayname": "displayName"}
	deviceReadOnly  = map[string]string{"id": "id", "deviceid": "deviceId", "onpremisessyncenabled": "onPremisesSyncEnabled"}
)

// parsePatch validates a PATCH body for a user or a device, before the
// object is looked up, as Graph deserializes the payload first.
func parsePatch(body []byte, kind objKind) (change, *problem) {
	var c change
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var raw map[string]json.RawMessage
	if err := dec.Decode(&raw); err != nil || raw == nil || dec.More() {
		return c, badRequest("BadRequest", unreadableBody)
	}
	patchable, readOnly := userPatchable, userReadOnly
	if kind == kindDevice {
		patchable, readOnly = devicePatchable, deviceReadOnly
	}
	for k, v := range raw {
		lk := strings.ToLower(k)
		name, ok := patchable[lk]
		switch {
		case ok:
		case readOnly[lk] != "":
			return c, badRequest("Request_BadRequest", fmt.Sprintf("Property '%s' is read-only and cannot be set.", readOnly[lk]))
		case kind == kindUser && userUnmodelled[lk] != "":
			return c, badRequest("Request_BadRequest", fmt.Sprintf("graphsim does not model changing '%s'.", userUnmodelled[lk]))
		default:
			return c, badRequest("Request_BadRequest", fmt.Sprintf("Invalid property '%s'.", k))
		}
		if kind == kindUser && lk == "passwordprofile" {
			var pp struct {
				Password *string `json:"password"`
			}
			if err := json.Unmarshal(v, &pp); err != nil || pp.Password == nil {
				return c, badRequest("Request_BadRequest", "Invalid value specified for property 'passwordProfile' of resource 'User'.")
			}
			c.password = pp.Password
			continue
		}
		if name == "accountEnabled" {
			var b bool
			if err := json.Unmarshal(v, &b); err != nil || string(v) == "null" {
				return c, badRequest("BadRequest", "Cannot convert a primitive value to the expected type 'Edm.Boolean'. See the inner exception for more details.")
			}
			c.accountEnabled = &b
			continue
		}
		var sp *string
		if err := json.Unmarshal(v, &sp); err != nil {
			return c, badRequest("BadRequest", "Cannot convert a primitive value to the expected type 'Edm.String'. See the inner exception for more details.")
		}
		if sp == nil && name == "displayName" {
			return c, badRequest("Request_BadRequest", fmt.Sprintf("Invalid value specified for property 'displayName' of resource '%s'.", map[objKind]string{kindUser: "User", kindDevice: "Device"}[kind]))
		}
		if c.strs == nil {
			c.strs = map[string]*string{}
		}
		c.strs[name] = sp
	}
	return c, nil
}

func (c change) applyUser(u *User) {
	if c.accountEnabled != nil {
		u.AccountEnabled = *c.accountEnabled
	}
	for k, v := range c.strs {
		s := ""
		if v != nil {
			s = *v
		}
		switch k {
		case "displayName":
			u.DisplayName = s
		case "department":
			u.Department = s
		case "jobTitle":
			u.JobTitle = s
		case "mail":
			u.Mail = s
		}
	}
}

func (c change) applyDevice(d *Device) {
	if c.accountEnabled != nil {
		d.AccountEnabled = *c.accountEnabled
	}
	if v, ok := c.strs["displayName"]; ok && v != nil {
		d.DisplayName = *v
	}
}
