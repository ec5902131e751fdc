package graphsim

import (
	"crypto/sha1"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// User is one directory object of the emulated tenant.
type User struct {
	ID          string `json:"id"`
	UPN         string `json:"userPrincipalName"`
	DisplayName string `json:"displayName,omitempty"`
	UserType    string `json:"userType,omitempty"` // "Member" or "Guest"
	// AccountEnabled false is a user whose sign-in is blocked.
	AccountEnabled bool `json:"accountEnabled"`
	// Protected users answer revoke with 403 Authorization_RequestDenied, like
	// an admin the caller's role may not act on.
	Protected bool `json:"protected,omitempty"`
	// Admin users hold an admin role the app may not touch: a password reset answers 403
	// Authorization_RequestDenied (only Privileged Authentication Administrator covers every
	// admin); blocking and revoking them work.
	Admin bool `json:"admin,omitempty"`
	// RiskConfirmed is set once Identity Protection's confirmCompromised named the user.
	RiskConfirmed bool `json:"riskConfirmed,omitempty"`
	// IgnoreRevoke users answer revoke with success but keep their timestamp,
	// so a client's verification step has something to catch.
	IgnoreRevoke            bool      `json:"ignoreRevoke,omitempty"`
	SignInSessionsValidFrom time.Time `json:"signInSessionsValidFromDateTime,omitzero"`
	// OnPremisesSyncEnabled users are mastered in on-premises AD: Graph
	// refuses to change their accountEnabled (block them in AD instead), but
	// revoking their sessions works.
	OnPremisesSyncEnabled bool `json:"onPremisesSyncEnabled,omitempty"`
	// Failing, when set, is the status every step on this user answers (500, or 503 with
	// FailingRetryAfter): a user Graph cannot serve while it serves everyone else.
	Failing           int           `json:"failing,omitempty"`
	FailingRetryAfter time.Duration `json:"failingRetryAfter,omitempty"`
	// FailingDevices, when set, is the status its device listings answer.
	FailingDevices int `json:"failingDevices,omitempty"`
	// Department, Mail and JobTitle exist so that $filter has something to
	// select a population by.
	Department string `json:"department,omitempty"`
	Mail       string `json:"mail,omitempty"`
	JobTitle   string `json:"jobTitle,omitempty"`
	// Methods are the user's authentication methods; DefaultMethod is the id of the one
	// Graph will not delete while others remain (v1.0 does not show which it is).
	Methods       []Method `json:"methods,omitempty"`
	DefaultMethod string   `json:"defaultMethod,omitempty"`
}

func userTypeFor(upn string) string {
	if strings.Contains(strings.ToUpper(upn), "#EXT#") {
		return "Guest"
	}
	return "Member"
}

var (
	firstNames  = []string{"adele", "alex", "diego", "grady", "henrietta", "isaiah", "johanna", "joni", "lee", "lidia", "lynne", "megan", "miriam", "nestor", "patti", "pradeep", "sean", "zoe"}
	departments = []string{"Sales", "Finance", "Engineering", "Legal", "Operations", "Marketing"}
	jobTitles   = []string{"Analyst", "Manager", "Engineer", "Director"}
	lastNames   = []string{"vance", "wilber", "siciliani", "archie", "mueller", "langer", "lorenz", "sherman", "gu", "holloway", "robbins", "bowen", "graham", "wilke", "fernandez", "gupta", "o'brien", "d'arcy"}
)

// GenerateUsers builds a deterministic tenant of n users from seed: mostly
// members, every 20th user a guest with an #EXT# UPN, every 30th disabled,
// every 25th synced from on-premises AD. Departments and job titles rotate
// so that $filter can pick a population. Some surnames carry an apostrophe
// so the key-literal quoting gets exercised.
func GenerateUsers(n int, seed int64) []User {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	users := make([]User, 0, max(n, 0))
	for i := range n {
		first := firstNames[rng.IntN(len(firstNames))]
		last := lastNames[rng.IntN(len(lastNames))]
		local := fmt.Sprintf("%s.%s%d", first, last, i+1)
		u := User{
			ID:                      randomGUID(rng),
			UPN:                     local + "@contoso.onmicrosoft.com",
			DisplayName:             title(first) + " " + title(last),
			UserType:                "Member",
			AccountEnabled:          i%30 != 11,
			SignInSessionsValidFrom: base.Add(time.Duration(rng.IntN(365*24)) * time.Hour),
			// Derived from i, not drawn, so that ids stay what they were
			// before these fields existed.
			OnPremisesSyncEnabled: i%25 == 3,
			Department:            departments[i%len(departments)],
			JobTitle:              jobTitles[(i/len(departments))%len(jobTitles)],
			Mail:                  local + "@contoso.com",
		}
		if i%20 == 7 {
			u.UPN = local + "_fabrikam.com#EXT#@contoso.onmicrosoft.com"
			u.UserType = "Guest"
			u.Mail = local + "@fabrikam.com"
			u.Department, u.JobTitle = "", ""
		}
		users = append(users, u)
	}
	return users
}

func title(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func randomGUID(rng *rand.Rand) string {
	var b [16]byte
	for i := range b {
		b[i] = byte(rng.UintN(256))
	}
	return formatGUID(b)
}

func formatGUID(b [16]byte) string {
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// guidFromName derives a stable object id for CSV rows without one, so the
// same file always yields the same tenant.
func guidFromName(name string) string {
	sum := sha1.Sum([]byte(strings.ToLower(name)))
	var b [16]byte
	copy(b[:], sum[:16])
	return formatGUID(b)
}

// ReadUsersCSV reads a tenant from CSV. The header names columns
// (case-insensitively): id, userPrincipalName (required), displayName,
// userType, accountEnabled, protected, ignoreRevoke,
// signInSessionsValidFromDateTime (RFC 3339), onPremisesSyncEnabled,
// department, mail and jobTitle. Unknown columns are ignored,
// missing ones take defaults, and an empty id is derived from the UPN.
func ReadUsersCSV(r io.Reader) ([]User, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("users csv: empty input, want a header line")
	}
	if err != nil {
		return nil, fmt.Errorf("users csv: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		if i == 0 {
			h = strings.TrimPrefix(h, "\ufeff")
		}
		col[strings.ToLower(strings.TrimSpace(h))] = i
	}
	if _, ok := col["userprincipalname"]; !ok {
		return nil, errors.New("users csv:1: header has no userPrincipalName column")
	}
	var users []User
	seen := map[string]int{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return users, nil
		}
		if err != nil {
			return nil, fmt.Errorf("users csv: %w", err)
		}
		line, _ := cr.FieldPos(0)
		u, err := userFromRecord(rec, col)
		if err != nil {
			return nil, fmt.Errorf("users csv:%d: %w", line, err)
		}
		for _, k := range []string{u.UPN, u.ID} {
			if prev, dup := seen[strings.ToLower(k)]; dup {
				return nil, fmt.Errorf("users csv:%d: %q already used on line %d", line, k, prev)
			}
			seen[strings.ToLower(k)] = line
		}
		users = append(users, u)
	}
}

func userFromRecord(rec []string, col map[string]int) (User, error) {
	get := func(name string) string {
		i, ok := col[name]
		if !ok || i >= len(rec) {
			return ""
		}
		return strings.TrimSpace(rec[i])
	}
	u := User{
		ID:          get("id"),
		UPN:         get("userprincipalname"),
		DisplayName: get("displayname"),
		Department:  get("department"),
		Mail:        get("mail"),
		JobTitle:    get("jobtitle"),
	}
	if u.UPN == "" {
		return u, errors.New("empty userPrincipalName")
	}
	if u.ID == "" {
		u.ID = guidFromName(u.UPN)
	}
	switch t := strings.ToLower(get("usertype")); t {
	case "":
		u.UserType = userTypeFor(u.UPN)
	case "member":
		u.UserType = "Member"
	case "guest":
		u.UserType = "Guest"
	default:
		return u, fmt.Errorf("userType %q is neither Member nor Guest", get("usertype"))
	}
	var err error
	if u.AccountEnabled, err = parseBool(get("accountenabled"), true); err != nil {
		return u, fmt.Errorf("accountEnabled: %w", err)
	}
	if u.Protected, err = parseBool(get("protected"), false); err != nil {
		return u, fmt.Errorf("protected: %w", err)
	}
	if u.Admin, err = parseBool(get("admin"), false); err != nil {
		return u, fmt.Errorf("admin: %w", err)
	}
	if u.IgnoreRevoke, err = parseBool(get("ignorerevoke"), false); err != nil {
		return u, fmt.Errorf("ignoreRevoke: %w", err)
	}
	if u.OnPremisesSyncEnabled, err = parseBool(get("onpremisessyncenabled"), false); err != nil {
		return u, fmt.Errorf("onPremisesSyncEnabled: %w", err)
	}
	if v := get("signinsessionsvalidfromdatetime"); v != "" {
		if u.SignInSessionsValidFrom, err = time.Parse(time.RFC3339, v); err != nil {
			return u, fmt.Errorf("signInSessionsValidFromDateTime: %w", err)
		}
	}
	return u, nil
}

func parseBool(s string, def bool) (bool, error) {
	switch strings.ToLower(s) {
	case "":
		return def, nil
	case "yes", "y":
		return true, nil
	case "no", "n":
		return false, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, fmt.Errorf("%q is not a boolean", s)
	}
	return b, nil
}
