package batch

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
)

// Claims is what an access token says about itself. It is read without checking the
// signature: Graph checks the token; the tool only reads which tenant and which permissions it
// names, as evidence about a lane.
type Claims struct {
	TenantID string   // tid
	AppOnly  bool     // an application token (idtyp "app", or roles without scp)
	Roles    []string // application permissions (roles)
	Scopes   []string // delegated permissions (scp)
}

// ParseClaims reads a JWT access token's payload; ok is false when it is not one.
func ParseClaims(token string) (c Claims, ok bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return c, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return c, false
	}
	var raw struct {
		TID   string   `json:"tid"`
		Roles []string `json:"roles"`
		SCP   string   `json:"scp"`
		IDTyp string   `json:"idtyp"`
	}
	if json.Unmarshal(payload, &raw) != nil {
		return c, false
	}
	c.TenantID = strings.ToLower(raw.TID)
	c.Roles = raw.Roles
	c.Scopes = strings.Fields(raw.SCP)
	c.AppOnly = raw.IDTyp == "app" || (raw.SCP == "" && raw.IDTyp != "user")
	return c, true
}

// permissions are the Graph permissions (application or delegated, same names) any one of
// which lets a token do an operation; the first is the least privileged.
var permissions = map[Op][]string{
	OpRevoke:            {"User.RevokeSessions.All", "User.ReadWrite.All", "Directory.ReadWrite.All"},
	OpBlock:             {"User.EnableDisableAccount.All", "User.ReadWrite.All", "Directory.ReadWrite.All"},
	OpEnable:            {"User.EnableDisableAccount.All", "User.ReadWrite.All", "Directory.ReadWrite.All"},
	OpLookup:            {"User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"},
	OpVerify:            {"User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"},
	OpOwnedDevices:      {"Device.Read.All", "Device.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"},
	OpRegisteredDevices: {"Device.Read.All", "Device.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"},
	OpDisableDevice:     {"Device.ReadWrite.All", "Directory.ReadWrite.All"},
	OpEnableDevice:      {"Device.ReadWrite.All", "Directory.ReadWrite.All"},
	// OpResetPassword is left out on purpose: a lane found lacking a permission is dropped,
	// and with it the revokes of every user in the tenant, while a reset refused must leave
	// the revoke to happen. Its 403s stand per user. OpListMethods and OpDeleteMethod
	// likewise: a method refused must not cost the tenant its revokes.
}

// Lacks reports whether the claims show that the token cannot do op, and names the permission.
// A token whose claims cannot tell (a delegated token names scopes, not the admin roles that
// also decide) is never said to lack anything: only what the token states is evidence.
func (c Claims) Lacks(op Op) (string, bool) {
	need, known := permissions[op]
	if !known {
		return "", false
	}
	granted := c.Scopes
	if c.AppOnly {
		granted = c.Roles
	} else if len(granted) == 0 {
		return "", false
	}
	if slices.ContainsFunc(need, func(p string) bool {
		return slices.ContainsFunc(granted, func(g string) bool { return strings.EqualFold(g, p) })
	}) {
		return "", false
	}
	return need[0], true
}

// claimer is a Client that can show the claims of the token it sends.
type claimer interface {
	Claims(ctx context.Context) (Claims, error)
}

// lacks reports, from the claims of the token the lane sends now, whether the lane lacks the
// permission op needs, and says so for the summary.
func (l *lane) lacks(ctx context.Context, op Op) (string, bool) {
	c, ok := l.Client.(claimer)
	if !ok {
		return "", false
	}
	claims, err := c.Claims(ctx)
	if err != nil {
		return "", false
	}
	perm, lacks := claims.Lacks(op)
	if !lacks {
		return "", false
	}
	kind := "roles"
	if !claims.AppOnly {
		kind = "scp"
	}
	return "its access token's " + kind + " claim lacks " + perm + " (or a broader permission), which " + op.String() + " needs", true
}
