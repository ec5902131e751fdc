package graphsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// deviceUsers is adele with five devices (two shared with o'brien, one
// synced), o'brien registered on two of them, and nobody else with any.
func deviceUsers() ([]User, []Device) {
	users := trapUsers()
	obrien := users[3].ID
	var devices []Device
	for i := range 5 {
		d := Device{
			ID:              fmt.Sprintf("d0000000-0000-4000-8000-00000000000%d", i),
			DeviceID:        fmt.Sprintf("e0000000-0000-4000-8000-00000000000%d", i),
			DisplayName:     fmt.Sprintf("LAPTOP-%d", i),
			AccountEnabled:  true,
			Owners:          []string{adeleID},
			RegisteredUsers: []string{adeleID},
		}
		if i >= 3 {
			d.RegisteredUsers = append(d.RegisteredUsers, obrien)
		}
		d.OnPremisesSyncEnabled = i == 4
		devices = append(devices, d)
	}
	return users, devices
}

// page is one decoded collection page.
type page struct {
	status   int
	next     string
	count    any
	context  string
	items    []map[string]any
	errCode  string
	errMsg   string
	ru       string
	response reply
}

func getPage(t *testing.T, url string, hdr map[string]string) page {
	t.Helper()
	r := call(t, "GET", url, nil, hdr)
	p := page{status: r.status, errCode: r.errCode(), errMsg: r.errMessage(), ru: r.header.Get("x-ms-resource-unit"), response: r}
	if r.status != 200 {
		return p
	}
	p.next, _ = r.body["@odata.nextLink"].(string)
	p.context, _ = r.body["@odata.context"].(string)
	p.count = r.body["@odata.count"]
	for _, it := range r.body["value"].([]any) {
		p.items = append(p.items, it.(map[string]any))
	}
	return p
}

// followAll follows @odata.nextLink exactly as given until it is absent and
// returns every item and the number of pages.
func followAll(t *testing.T, url string, hdr map[string]string) ([]map[string]any, int) {
	t.Helper()
	var all []map[string]any
	pages := 0
	for url != "" {
		p := getPage(t, url, hdr)
		if p.status != 200 {
			t.Fatalf("GET %s: %d %s %s", url, p.status, p.errCode, p.errMsg)
		}
		pages++
		all = append(all, p.items...)
		url = p.next
		if pages > 10000 {
			t.Fatal("paging does not end")
		}
	}
	return all, pages
}

func itemIDs(items []map[string]any) []string {
	var out []string
	for _, it := range items {
		out = append(out, it["id"].(string))
	}
	return out
}

func TestUserDevices(t *testing.T) {
	users, devices := deviceUsers()
	tests := []struct {
		name  string
		path  string
		want  []int // indexes into devices
		pages int
	}{
		{name: "owned, default page", path: "/users/adele@x.com/ownedDevices", want: []int{0, 1, 2, 3, 4}, pages: 1},
		{name: "owned, cast, selected, two per page", path: "/users/adele@x.com/ownedDevices/microsoft.graph.device?$select=id,displayName,accountEnabled,deviceId&$top=2",
			want: []int{0, 1, 2, 3, 4}, pages: 3},
		{name: "registered by the co-user", path: "/users('o''brien@x.com')/registeredDevices?$top=1", want: []int{3, 4}, pages: 2},
		{name: "registered, cast, exact pages", path: "/users/" + adeleID + "/registeredDevices/microsoft.graph.device?$top=5", want: []int{0, 1, 2, 3, 4}, pages: 1},
		{name: "a user without devices", path: "/users/a%2Bb@x.com/ownedDevices", pages: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, base := start(t, Config{Devices: devices, Seed: 3}, users)
			items, pages := followAll(t, base+"/v1.0"+tc.path, nil)
			var want []string
			for _, i := range tc.want {
				want = append(want, devices[i].ID)
			}
			if got := itemIDs(items); !slices.Equal(got, want) || pages != tc.pages {
				t.Errorf("got %v in %d pages, want %v in %d", got, pages, want, tc.pages)
			}
			for _, it := range items {
				if it["@odata.type"] != "#microsoft.graph.device" {
					t.Errorf("item %v has no @odata.type device", it)
				}
				if strings.Contains(tc.path, "$select") && len(it) != 5 {
					t.Errorf("item %v, want @odata.type and the four selected properties", it)
				}
			}
			if st := s.Stats(); st.Lists != pages {
				t.Errorf("Lists = %d, want %d", st.Lists, pages)
			}
		})
	}
}

func TestListingRefusals(t *testing.T) {
	users, devices := deviceUsers()
	_, base := start(t, Config{Devices: devices}, users)
	own := base + "/v1.0/users/adele@x.com/ownedDevices"
	first := getPage(t, own+"?$top=2", nil)
	tests := []struct {
		name    string
		url     string
		status  int
		code    string
		message string
	}{
		{name: "top too large", url: own + "?$top=1000", status: 400, code: "Request_UnsupportedQuery",
			message: "Invalid page size specified: '1000'. Must be between 1 and 999 inclusive."},
		{name: "top zero", url: own + "?$top=0", status: 400, code: "Request_UnsupportedQuery"},
		{name: "top not a number", url: own + "?$top=ten", status: 400, code: "BadRequest"},
		{name: "top 999", url: own + "?$top=999", status: 200},
		{name: "garbage skip token", url: own + "?$skiptoken=abc", status: 400, code: "Request_BadRequest", message: "Invalid Skip Token"},
		{name: "a plain offset", url: own + "?$skiptoken=2", status: 400, code: "Request_BadRequest"},
		{name: "token of another listing", url: base + "/v1.0/users/adele@x.com/registeredDevices?" + first.next[strings.Index(first.next, "$skiptoken"):],
			status: 400, code: "Request_BadRequest"},
		{name: "unknown selected property", url: own + "?$select=id,manufacturer", status: 400, code: "Request_BadRequest",
			message: "Could not find a property named 'manufacturer' on type 'microsoft.graph.device'."},
		{name: "user cast on ownedDevices", url: own + "/microsoft.graph.user", status: 400, code: "BadRequest"},
		{name: "unknown user", url: base + "/v1.0/users/ghost@x.com/ownedDevices", status: 404, code: "Request_ResourceNotFound"},
		{name: "POST on a listing", url: own, status: 405, code: "Request_BadRequest"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			method := "GET"
			if tc.status == 405 {
				method = "POST"
			}
			r := call(t, method, tc.url, nil, nil)
			if r.status != tc.status || r.errCode() != tc.code || !strings.Contains(r.errMessage(), tc.message) {
				t.Errorf("%d %q %q, want %d %q %q", r.status, r.errCode(), r.errMessage(), tc.status, tc.code, tc.message)
			}
		})
	}
}

// TestNextLink: the link is absolute, on the host the client used, under
// /v1.0, with an opaque $skiptoken; stripped of its root it works as a
// $batch step URL too.
func TestNextLink(t *testing.T) {
	users, devices := deviceUsers()
	_, base := start(t, Config{Devices: devices}, users)
	p := getPage(t, base+"/v1.0/users/adele@x.com/ownedDevices?$select=id&$top=2", nil)
	if !strings.HasPrefix(p.next, base+"/v1.0/users/adele@x.com/ownedDevices?") || !strings.Contains(p.next, "$skiptoken=") {
		t.Fatalf("nextLink %q, want an absolute link on %s under /v1.0 with a $skiptoken", p.next, base)
	}
	if strings.Contains(string(p.response.raw), `\u0026`) {
		t.Errorf("the body escapes & as \\u0026: %s", p.response.raw)
	}
	tok := p.next[strings.Index(p.next, "$skiptoken=")+len("$skiptoken="):]
	if tok == "2" || strings.Contains(tok, "=2") {
		t.Errorf("skip token %q looks like an offset", tok)
	}
	var all []string
	link := p.next
	for _, it := range p.items {
		all = append(all, it["id"].(string))
	}
	for link != "" {
		rel := strings.TrimPrefix(link, base+"/v1.0")
		env, got := batch(t, base, []testStep{{ID: "1", Method: "GET", URL: rel}})
		if strings.Contains(string(env.raw), `\u0026`) {
			t.Errorf("the envelope escapes & as \\u0026: %s", env.raw)
		}
		r := got["1"]
		if r.Status != 200 {
			t.Fatalf("nextLink as a step: %d %v", r.Status, r.Body)
		}
		for _, it := range r.Body["value"].([]any) {
			all = append(all, it.(map[string]any)["id"].(string))
		}
		link, _ = r.Body["@odata.nextLink"].(string)
	}
	var want []string
	for _, d := range devices {
		want = append(want, d.ID)
	}
	if !slices.Equal(all, want) {
		t.Errorf("paged through steps: %v, want %v", all, want)
	}
}

func TestNextLinkInMemory(t *testing.T) {
	users, devices := deviceUsers()
	s := New(Config{Token: testToken, Devices: devices}, users)
	client := &http.Client{Transport: s.Transport()}
	req, _ := http.NewRequest("GET", "https://graph.test/v1.0/users/adele@x.com/ownedDevices?$top=2", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		Next string `json:"@odata.nextLink"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(body.Next, "https://graph.test/v1.0/users/adele@x.com/ownedDevices?$top=2&$skiptoken=") {
		t.Errorf("nextLink %q, want one on https://graph.test", body.Next)
	}
}

func TestPatchDevice(t *testing.T) {
	users, devices := deviceUsers()
	tests := []struct {
		name    string
		path    string
		body    string
		status  int
		code    string
		enabled bool // device 0's or 4's state afterwards
		event   EventKind
	}{
		{name: "disable by object id", path: "/devices/" + devices[0].ID, body: `{"accountEnabled":false}`, status: 204, event: EventDeviceDisable},
		{name: "enable", path: "/devices/" + strings.ToUpper(devices[0].ID), body: `{"accountEnabled":true}`, status: 204, enabled: true, event: EventDeviceEnable},
		{name: "by deviceId is not found", path: "/devices/" + devices[0].DeviceID, body: `{"accountEnabled":false}`, status: 404, code: "Request_ResourceNotFound", enabled: true},
		{name: "synced", path: "/devices/" + devices[4].ID, body: `{"accountEnabled":false}`, status: 400, code: "Request_BadRequest", enabled: true},
		{name: "read-only deviceId", path: "/devices/" + devices[0].ID, body: `{"deviceId":"x"}`, status: 400, code: "Request_BadRequest", enabled: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, base := start(t, Config{Devices: devices, Clock: NewManualClock(t0)}, users)
			r := call(t, "PATCH", base+"/v1.0"+tc.path, []byte(tc.body), jsonHeader)
			if r.status != tc.status || r.errCode() != tc.code || r.header.Get("x-ms-resource-unit") != "1" {
				t.Fatalf("%d %q RU %s, want %d %q charged 1: %s", r.status, r.errCode(), r.header.Get("x-ms-resource-unit"), tc.status, tc.code, r.raw)
			}
			idx := 0
			if strings.Contains(tc.path, devices[4].ID) {
				idx = 4
			}
			d, _ := s.Device(devices[idx].ID)
			if d.AccountEnabled != tc.enabled {
				t.Errorf("accountEnabled %v, want %v", d.AccountEnabled, tc.enabled)
			}
			ev := s.DeviceEvents(devices[idx].ID)
			if tc.event != 0 && (len(ev) != 1 || ev[0].Kind != tc.event) || tc.event == 0 && len(ev) != 0 {
				t.Errorf("events %v, want %v", ev, tc.event)
			}
			if st := s.Stats(); st.DevicePatches != 1 {
				t.Errorf("DevicePatches = %d, want 1", st.DevicePatches)
			}
		})
	}
}

func TestGetDevice(t *testing.T) {
	users, devices := deviceUsers()
	_, base := start(t, Config{Devices: devices}, users)
	r := call(t, "GET", base+"/v1.0/devices/"+devices[4].ID+"?$select=id,deviceId,onPremisesSyncEnabled", nil, nil)
	want := map[string]any{"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#devices(id,deviceId,onPremisesSyncEnabled)/$entity",
		"id": devices[4].ID, "deviceId": devices[4].DeviceID, "onPremisesSyncEnabled": true}
	if r.status != 200 || !reflect.DeepEqual(r.body, want) {
		t.Errorf("GET device: %d %v, want %v", r.status, r.body, want)
	}
	if r := call(t, "GET", base+"/v1.0/devices/"+devices[4].DeviceID, nil, nil); r.status != 404 {
		t.Errorf("GET by deviceId: %d, want 404", r.status)
	}
}

func TestGenerateDevices(t *testing.T) {
	users := GenerateUsers(300, 2)
	a, b := GenerateDevices(users, 9), GenerateDevices(users, 9)
	if !reflect.DeepEqual(a, b) || reflect.DeepEqual(a, GenerateDevices(users, 10)) {
		t.Fatal("GenerateDevices is not a function of its seed")
	}
	perUser := map[string]int{}
	var shared, synced int
	seen := map[string]bool{}
	for _, d := range a {
		if len(d.Owners) != 1 || d.RegisteredUsers[0] != d.Owners[0] || seen[d.ID] || d.ID == d.DeviceID {
			t.Errorf("malformed device %+v", d)
		}
		seen[d.ID] = true
		perUser[d.Owners[0]]++
		if len(d.RegisteredUsers) > 1 {
			shared++
		}
		if d.OnPremisesSyncEnabled {
			synced++
		}
	}
	none := 0
	for _, u := range users {
		if perUser[u.ID] > 3 {
			t.Errorf("%s owns %d devices", u.UPN, perUser[u.ID])
		}
		if perUser[u.ID] == 0 {
			none++
		}
	}
	if none == 0 || none == len(users) || shared == 0 || synced == 0 {
		t.Errorf("%d devices: %d users without any, %d shared, %d synced; want some of each", len(a), none, shared, synced)
	}
	s, base := start(t, Config{Devices: a}, users)
	items, pages := followAll(t, base+"/v1.0/devices?$top=999&$filter=accountEnabled%20eq%20true", nil)
	enabled := 0
	for _, d := range a {
		if d.AccountEnabled {
			enabled++
		}
	}
	if len(items) != enabled || pages != (enabled+998)/999 || len(s.Devices()) != len(a) {
		t.Errorf("listed %d enabled devices in %d pages of %d held, want %d", len(items), pages, len(s.Devices()), enabled)
	}
}
