package graphsim

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
)

var eventual = map[string]string{"ConsistencyLevel": "eventual"}

func TestListUsersFilter(t *testing.T) {
	users := GenerateUsers(300, 5)
	_, base := start(t, Config{}, users)
	guest := func(u User) bool { return u.UserType == "Guest" }
	tests := []struct {
		name   string
		query  string
		hdr    map[string]string
		match  func(User) bool
		count  bool // @odata.count expected on the first page
		status int
		code   string
		msg    string // substring of the error message
	}{
		{name: "all users", query: "$top=50", match: func(User) bool { return true }},
		{name: "default page size", query: "", match: func(User) bool { return true }},
		{name: "department, any case", query: "$filter=department eq 'sales'", match: func(u User) bool { return u.Department == "Sales" }},
		{name: "and", query: "$filter=department eq 'Sales' and jobTitle eq 'Manager'&$top=3",
			match: func(u User) bool { return u.Department == "Sales" && u.JobTitle == "Manager" }},
		{name: "or, parenthesised", query: "$filter=(department eq 'Legal' or department eq 'Finance') and accountEnabled eq true",
			match: func(u User) bool { return (u.Department == "Legal" || u.Department == "Finance") && u.AccountEnabled }},
		{name: "guests", query: "$filter=userType eq 'Guest'", match: guest},
		{name: "disabled", query: "$filter=accountEnabled eq false", match: func(u User) bool { return !u.AccountEnabled }},
		{name: "synced", query: "$filter=onPremisesSyncEnabled eq true", match: func(u User) bool { return u.OnPremisesSyncEnabled }},
		{name: "startsWith, any case", query: "$filter=startsWith(displayName,'ad')", match: func(u User) bool { return strings.HasPrefix(u.DisplayName, "Ad") }},
		{name: "in on UPNs", query: "$filter=userPrincipalName in (" + lit(users[3].UPN) + "," + lit(strings.ToUpper(users[200].UPN)) + ",'nobody@x.com')",
			match: func(u User) bool { return u.ID == users[3].ID || u.ID == users[200].ID }},
		{name: "id eq", query: "$filter=id eq '" + users[42].ID + "'", match: func(u User) bool { return u.ID == users[42].ID }},
		{name: "a quote inside a literal", query: "$filter=startsWith(userPrincipalName,'" + strings.ReplaceAll(apostropheUPN(users)[:10], "'", "''") + "')",
			match: func(u User) bool { return strings.HasPrefix(u.UPN, apostropheUPN(users)[:10]) }},
		{name: "mail is null for nobody", query: "$filter=mail eq null", match: func(User) bool { return false }},
		{name: "ne needs advanced parameters", query: "$filter=userType ne 'Guest'", status: 400, code: "Request_UnsupportedQuery",
			msg: "Operator 'ne' is not supported because the required parameters might be missing."},
		{name: "ne with the header alone", query: "$filter=userType ne 'Guest'", hdr: eventual, status: 400, code: "Request_UnsupportedQuery"},
		{name: "ne as an advanced query", query: "$filter=userType ne 'Guest'&$count=true", hdr: eventual, count: true,
			match: func(u User) bool { return !guest(u) }},
		{name: "not as an advanced query", query: "$filter=not(department eq 'Sales')&$count=true&$top=40", hdr: eventual, count: true,
			match: func(u User) bool { return u.Department != "Sales" }},
		{name: "not without", query: "$filter=not startsWith(displayName,'A')", status: 400, code: "Request_UnsupportedQuery", msg: "Operator 'not'"},
		{name: "endsWith on mail", query: "$filter=endsWith(mail,'@fabrikam.com')&$count=true", hdr: eventual, count: true, match: guest},
		{name: "endsWith without", query: "$filter=endsWith(mail,'@fabrikam.com')", status: 400, code: "Request_UnsupportedQuery", msg: "Operator 'endsWith'"},
		{name: "endsWith on displayName", query: "$filter=endsWith(displayName,'x')&$count=true", hdr: eventual, status: 400,
			code: "Request_UnsupportedQuery", msg: "Unsupported or invalid query filter clause specified for property 'displayName' of resource 'User'."},
		{name: "count without the header is ignored", query: "$count=true&$filter=userType eq 'Guest'", match: guest},
		{name: "count of everything", query: "$count=true&$top=999", hdr: eventual, count: true, match: func(User) bool { return true }},
		{name: "quoted boolean", query: "$filter=accountEnabled eq 'true'", status: 400, code: "BadRequest",
			msg: "Found operand types 'Edm.Boolean' and 'Edm.String'"},
		{name: "unknown property", query: "$filter=city eq 'Paris'", status: 400, code: "BadRequest",
			msg: "Invalid filter clause: Could not find a property named 'city' on type 'microsoft.graph.user'."},
		{name: "syntax error names the clause", query: "$filter=department eq", status: 400, code: "BadRequest",
			msg: "Invalid filter clause: Syntax error at position 13 in 'department eq'."},
		{name: "unclosed literal", query: "$filter=department eq 'Sales", status: 400, code: "BadRequest", msg: "Invalid filter clause"},
		{name: "unknown function", query: "$filter=contains(displayName,'a')", status: 400, code: "BadRequest", msg: "unknown function"},
		{name: "ordering operator", query: "$filter=displayName ge 'M'", status: 400, code: "Request_UnsupportedQuery"},
		{name: "startsWith on a boolean", query: "$filter=startsWith(accountEnabled,'t')", status: 400, code: "Request_UnsupportedQuery"},
		{name: "unselectable property", query: "$select=id,manager", status: 400, code: "Request_BadRequest"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := base + "/v1.0/users?" + escapeSpaces(tc.query)
			if tc.status != 0 {
				p := getPage(t, u, tc.hdr)
				if p.status != tc.status || p.errCode != tc.code || !strings.Contains(p.errMsg, tc.msg) {
					t.Errorf("%d %q %q, want %d %q containing %q", p.status, p.errCode, p.errMsg, tc.status, tc.code, tc.msg)
				}
				return
			}
			first := getPage(t, u, tc.hdr)
			items, pages := followAll(t, u, tc.hdr)
			var want []string
			for _, u := range users {
				if tc.match(u) {
					want = append(want, u.ID)
				}
			}
			if got := itemIDs(items); !slices.Equal(got, want) {
				t.Errorf("got %d users, want %d: %v", len(got), len(want), got)
			}
			size := 100
			if q, _ := url.ParseQuery(tc.query); q.Get("$top") != "" {
				fmt.Sscan(q.Get("$top"), &size)
			}
			if wantPages := max(1, (len(want)+size-1)/size); pages != wantPages {
				t.Errorf("%d pages, want %d", pages, wantPages)
			}
			if tc.count != (first.count != nil) || tc.count && first.count != float64(len(want)) {
				t.Errorf("@odata.count = %v, want %v (%d)", first.count, tc.count, len(want))
			}
		})
	}
}

// lit quotes an OData string literal.
func lit(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func apostropheUPN(users []User) string {
	for _, u := range users {
		if strings.Contains(u.UPN[:10], "'") {
			return u.UPN
		}
	}
	panic("no UPN with an apostrophe in its first ten characters")
}

// escapeSpaces makes a hand-written query sendable: Go's client refuses raw
// spaces, and Graph clients send them as %20.
func escapeSpaces(q string) string {
	return strings.NewReplacer(" ", "%20", "#", "%23").Replace(q)
}

func TestListUsersCost(t *testing.T) {
	_, base := start(t, Config{}, GenerateUsers(30, 1))
	for query, want := range map[string]string{
		"":                   "2",
		"$select=id":         "1",
		"$top=10":            "1",
		"$top=10&$select=id": "1",
		"$top=20":            "2",
	} {
		if p := getPage(t, base+"/v1.0/users?"+query, nil); p.ru != want {
			t.Errorf("GET /users?%s: x-ms-resource-unit %s, want %s", query, p.ru, want)
		}
	}
}

// TestListUsersSelect: $select keeps only what was asked, optional strings
// read null, and @odata.context names the selection.
func TestListUsersSelect(t *testing.T) {
	users := containmentUsers()
	users[0].Department = "Sales"
	_, base := start(t, Config{}, users)
	p := getPage(t, base+"/v1.0/users?$select=id,department,onPremisesSyncEnabled,jobTitle&$top=999", nil)
	if p.context != "https://graph.microsoft.com/v1.0/$metadata#users(id,department,onPremisesSyncEnabled,jobTitle)" {
		t.Errorf("@odata.context %q", p.context)
	}
	if len(p.items) != len(users) {
		t.Fatalf("%d items, want %d", len(p.items), len(users))
	}
	for i, it := range p.items {
		want := map[string]any{"id": users[i].ID, "department": nil, "onPremisesSyncEnabled": nil, "jobTitle": nil}
		if i == 0 {
			want["department"] = "Sales"
		}
		if users[i].OnPremisesSyncEnabled {
			want["onPremisesSyncEnabled"] = true
		}
		if fmt.Sprint(it) != fmt.Sprint(want) {
			t.Errorf("item %d = %v, want %v", i, it, want)
		}
	}
}

// groupTenant is 30 users in a nested group, plus a device and a service
// principal in one of its subgroups and an unrelated group.
func groupTenant() (Config, []User) {
	users := GenerateUsers(40, 8)
	groups := NestedGroup("Breach responders", users[:30])
	dev := Device{ID: "d0000000-0000-4000-8000-00000000000a", DeviceID: "e0000000-0000-4000-8000-00000000000a", DisplayName: "KIOSK-1", AccountEnabled: true}
	sp := ServicePrincipal{ID: "5e000000-0000-4000-8000-000000000001", DisplayName: "Payroll sync"}
	groups[2].Members = append(groups[2].Members, dev.ID, sp.ID, "00000000-dead-4000-8000-000000000000")
	groups = append(groups, Group{ID: "9f000000-0000-4000-8000-000000000001", DisplayName: "Everyone else", Members: []string{users[35].ID}},
		Group{ID: "9f000000-0000-4000-8000-000000000002", DisplayName: "Self", Members: []string{"9f000000-0000-4000-8000-000000000002", users[36].ID}})
	return Config{Groups: groups, Devices: []Device{dev}, ServicePrincipals: []ServicePrincipal{sp}}, users
}

func TestGroups(t *testing.T) {
	cfg, users := groupTenant()
	groups := cfg.Groups
	_, base := start(t, cfg, users)
	var want30 []string
	for _, u := range users[:30] {
		want30 = append(want30, u.ID)
	}
	slices.Sort(want30)

	p := getPage(t, base+"/v1.0/groups?"+escapeSpaces("$filter=displayName eq 'breach responders'&$select=id,displayName"), nil)
	if p.status != 200 || len(p.items) != 1 || p.items[0]["id"] != groups[0].ID {
		t.Fatalf("group by name: %d %v", p.status, p.items)
	}
	if r := call(t, "GET", base+"/v1.0/groups/"+groups[0].ID+"?$select=displayName", nil, nil); r.status != 200 || r.body["displayName"] != "Breach responders" {
		t.Errorf("GET group: %d %v", r.status, r.body)
	}

	tests := []struct {
		name  string
		path  string
		want  []string // ids, sorted
		types map[string]int
		ru    string
	}{
		{name: "transitive users, selected, small pages", path: "/groups/" + groups[0].ID + "/transitiveMembers/microsoft.graph.user?$select=id,userPrincipalName&$top=7",
			want: want30, types: map[string]int{"#microsoft.graph.user": 30}, ru: "3"},
		{name: "transitive users, default page", path: "/groups/" + groups[0].ID + "/transitiveMembers/microsoft.graph.user",
			want: want30, types: map[string]int{"#microsoft.graph.user": 30}, ru: "5"},
		{name: "every transitive member once", path: "/groups/" + groups[0].ID + "/transitiveMembers?$select=id",
			types: map[string]int{"#microsoft.graph.user": 30, "#microsoft.graph.group": 3, "#microsoft.graph.device": 1, "#microsoft.graph.servicePrincipal": 1}, ru: "4"},
		{name: "direct members", path: "/groups/" + groups[0].ID + "/members",
			types: map[string]int{"#microsoft.graph.user": 10, "#microsoft.graph.group": 2}, ru: "3"},
		{name: "direct members that are groups", path: "/groups/" + groups[0].ID + "/members/microsoft.graph.group",
			want: sortedIDs(groups[1].ID, groups[2].ID), types: map[string]int{"#microsoft.graph.group": 2}, ru: "3"},
		{name: "a group that contains itself", path: "/groups/9f000000-0000-4000-8000-000000000002/transitiveMembers",
			want: sortedIDs(users[36].ID), types: map[string]int{"#microsoft.graph.user": 1}, ru: "5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if p := getPage(t, base+"/v1.0"+tc.path, nil); p.ru != tc.ru {
				t.Errorf("x-ms-resource-unit %s, want %s", p.ru, tc.ru)
			}
			items, _ := followAll(t, base+"/v1.0"+tc.path, nil)
			types := map[string]int{}
			seen := map[string]bool{}
			for _, it := range items {
				types[it["@odata.type"].(string)]++
				id := it["id"].(string)
				if seen[id] {
					t.Errorf("%s listed twice", id)
				}
				seen[id] = true
			}
			if fmt.Sprint(types) != fmt.Sprint(tc.types) {
				t.Errorf("types %v, want %v", types, tc.types)
			}
			if got := itemIDs(items); tc.want != nil {
				slices.Sort(got)
				if !slices.Equal(got, tc.want) {
					t.Errorf("ids %v, want %v", got, tc.want)
				}
			}
		})
	}

	for _, path := range []string{"/groups/9f000000-0000-4000-8000-0000000000ff", "/groups/9f000000-0000-4000-8000-0000000000ff/transitiveMembers/microsoft.graph.user"} {
		if r := call(t, "GET", base+"/v1.0"+path, nil, nil); r.status != 404 || r.errCode() != "Request_ResourceNotFound" {
			t.Errorf("GET %s: %d %q, want 404 Request_ResourceNotFound", path, r.status, r.errCode())
		}
	}
}

func sortedIDs(ids ...string) []string {
	slices.Sort(ids)
	return ids
}

// TestListingInBatch: collection GETs run as $batch steps exactly as direct
// calls do, the ConsistencyLevel header travelling in the step.
func TestListingInBatch(t *testing.T) {
	cfg, users := groupTenant()
	s, base := start(t, cfg, users)
	steps := []testStep{
		{ID: "members", Method: "GET", URL: "/groups/" + cfg.Groups[0].ID + "/transitiveMembers/microsoft.graph.user?$select=id&$top=999"},
		{ID: "advanced", Method: "GET", URL: "/users?$filter=userType ne 'Guest'&$count=true&$top=1", Headers: eventual},
		{ID: "no-header", Method: "GET", URL: "/users?$filter=userType ne 'Guest'&$count=true"},
		{ID: "groups", Method: "GET", URL: "groups?$filter=displayName eq 'Everyone else'"},
	}
	env, got := batch(t, base, steps)
	if env.status != 200 {
		t.Fatalf("envelope %d: %s", env.status, env.raw)
	}
	if v, _ := got["members"].Body["value"].([]any); got["members"].Status != 200 || len(v) != 30 {
		t.Errorf("members step: %d, %d items", got["members"].Status, len(v))
	}
	adv := got["advanced"]
	next, _ := adv.Body["@odata.nextLink"].(string)
	if adv.Status != 200 || adv.Body["@odata.count"] != float64(38) || !strings.HasPrefix(next, base+"/v1.0/users?") {
		t.Errorf("advanced step: %d count %v next %q", adv.Status, adv.Body["@odata.count"], next)
	}
	if got["no-header"].Status != 400 || errField(got["no-header"].Body, "code") != "Request_UnsupportedQuery" {
		t.Errorf("step without ConsistencyLevel: %d %v", got["no-header"].Status, got["no-header"].Body)
	}
	if v, _ := got["groups"].Body["value"].([]any); len(v) != 1 {
		t.Errorf("groups step: %v", got["groups"].Body)
	}
	if st := s.Stats(); st.Lists != 3 || st.Steps != 4 {
		t.Errorf("Lists=%d Steps=%d, want 3 and 4", st.Lists, st.Steps)
	}
}
