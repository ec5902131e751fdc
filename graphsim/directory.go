package graphsim

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
)

// Device is a device object of the emulated directory. Graph addresses it by
// its object id (ID); DeviceID is the id the device itself reports, which
// /devices/{id} does not accept.
type Device struct {
	ID             string `json:"id"`
	DeviceID       string `json:"deviceId,omitempty"`
	DisplayName    string `json:"displayName,omitempty"`
	AccountEnabled bool   `json:"accountEnabled"`
	// OnPremisesSyncEnabled devices are mastered in on-premises AD, so
	// Graph refuses to disable them.
	OnPremisesSyncEnabled bool `json:"onPremisesSyncEnabled,omitempty"`
	// Owners and RegisteredUsers hold user object ids.
	Owners          []string `json:"owners,omitempty"`
	RegisteredUsers []string `json:"registeredUsers,omitempty"`
}

// Group is a group of the emulated directory. Members holds the object ids of
// users, groups, devices and service principals; nested groups may form
// cycles, as Graph does not forbid them either.
type Group struct {
	ID          string   `json:"id"`
	DisplayName string   `json:"displayName"`
	Members     []string `json:"members,omitempty"`
}

// ServicePrincipal exists so that groups can hold members that are neither
// users nor devices, as real groups do.
type ServicePrincipal struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName,omitempty"`
}

// objKind is the type of a directory object, as @odata.type names it.
type objKind int

const (
	kindUser objKind = iota + 1
	kindGroup
	kindDevice
	kindServicePrincipal
)

func (k objKind) odataType() string {
	switch k {
	case kindUser:
		return "#microsoft.graph.user"
	case kindGroup:
		return "#microsoft.graph.group"
	case kindDevice:
		return "#microsoft.graph.device"
	case kindServicePrincipal:
		return "#microsoft.graph.servicePrincipal"
	}
	return "#microsoft.graph.directoryObject"
}

// castKind reads an OData cast segment such as microsoft.graph.user.
func castKind(seg string) (objKind, bool) {
	switch strings.ToLower(seg) {
	case "microsoft.graph.user":
		return kindUser, true
	case "microsoft.graph.group":
		return kindGroup, true
	case "microsoft.graph.device":
		return kindDevice, true
	case "microsoft.graph.serviceprincipal":
		return kindServicePrincipal, true
	}
	return 0, false
}

// dirObject is one member of a directory object collection.
type dirObject struct {
	kind   objKind
	user   *User
	group  *Group
	device *Device
	sp     *ServicePrincipal
}

func (o dirObject) id() string {
	switch o.kind {
	case kindUser:
		return o.user.ID
	case kindGroup:
		return o.group.ID
	case kindDevice:
		return o.device.ID
	default:
		return o.sp.ID
	}
}

// directory is one tenant's objects, indexed by lower-cased id (and UPN for
// users): Graph matches both case-insensitively, and UPNs are ASCII, so plain
// lower-casing suffices. Objects are created by New and only their
// properties change afterwards, so the indexes need no maintenance.
type directory struct {
	id      string
	domains []string // verified domain names, for sign-in
	size    int      // picks the resource-unit budget
	sized   bool     // size was given, not the number of users
	noP2    bool     // no Entra ID P2: Identity Protection's calls answer 403

	users []*User
	byKey map[string]*User

	devices    []*Device
	deviceByID map[string]*Device
	owned      map[*User][]*Device
	registered map[*User][]*Device

	groups    []*Group
	groupByID map[string]*Group
	spByID    map[string]*ServicePrincipal
	sps       []*ServicePrincipal // in seeding order
	// transitive caches each group's flattened membership: membership never
	// changes, and a nested group is walked by every page of a listing.
	transitive map[*Group][]dirObject

	// The journal lives with the objects, in about the space the old
	// revocation list took: a million revokes must not cost the bench's
	// process hundreds of megabytes. Journal() merges it by sequence.
	userLog   map[*User][]rec
	deviceLog map[*Device][]rec
}

func newDirectory(id string, size int, users []User, devices []Device, groups []Group, sps []ServicePrincipal) *directory {
	d := &directory{
		id:         id,
		size:       size,
		byKey:      make(map[string]*User, 2*len(users)),
		deviceByID: make(map[string]*Device, len(devices)),
		owned:      map[*User][]*Device{},
		registered: map[*User][]*Device{},
		groupByID:  make(map[string]*Group, len(groups)),
		spByID:     make(map[string]*ServicePrincipal, len(sps)),
		transitive: map[*Group][]dirObject{},
		userLog:    map[*User][]rec{},
		deviceLog:  map[*Device][]rec{},
	}
	if d.size == 0 {
		d.size = len(users)
	}
	for i := range users {
		u := users[i]
		if u.UserType == "" {
			u.UserType = userTypeFor(u.UPN)
		}
		u.Methods = slices.Clone(u.Methods) // deletions must not reach the caller's users
		p := &u
		d.users = append(d.users, p)
		d.byKey[strings.ToLower(u.ID)] = p
		d.byKey[strings.ToLower(u.UPN)] = p
	}
	for i := range devices {
		dv := devices[i]
		p := &dv
		d.devices = append(d.devices, p)
		d.deviceByID[strings.ToLower(dv.ID)] = p
		for _, o := range dv.Owners {
			if u := d.byKey[strings.ToLower(o)]; u != nil {
				d.owned[u] = append(d.owned[u], p)
			}
		}
		for _, o := range dv.RegisteredUsers {
			if u := d.byKey[strings.ToLower(o)]; u != nil {
				d.registered[u] = append(d.registered[u], p)
			}
		}
	}
	for i := range groups {
		g := groups[i]
		p := &g
		d.groups = append(d.groups, p)
		d.groupByID[strings.ToLower(g.ID)] = p
	}
	for i := range sps {
		sp := sps[i]
		d.spByID[strings.ToLower(sp.ID)] = &sp
		d.sps = append(d.sps, &sp)
	}
	return d
}

func (d *directory) lookup(key string) *User {
	return d.byKey[strings.ToLower(key)]
}

func (d *directory) device(id string) *Device {
	return d.deviceByID[strings.ToLower(id)]
}

func (d *directory) group(id string) *Group {
	return d.groupByID[strings.ToLower(id)]
}

// object finds a directory object of any type by id, through the indexes
// each type has anyway rather than one more map of every object.
func (d *directory) object(id string) (dirObject, bool) {
	k := strings.ToLower(id)
	if u := d.byKey[k]; u != nil && strings.EqualFold(u.ID, id) {
		return dirObject{kind: kindUser, user: u}, true
	}
	if dv := d.deviceByID[k]; dv != nil {
		return dirObject{kind: kindDevice, device: dv}, true
	}
	if g := d.groupByID[k]; g != nil {
		return dirObject{kind: kindGroup, group: g}, true
	}
	if sp := d.spByID[k]; sp != nil {
		return dirObject{kind: kindServicePrincipal, sp: sp}, true
	}
	return dirObject{}, false
}

// members lists a group's direct members that exist, in the group's order.
func (d *directory) members(g *Group) []dirObject {
	out := make([]dirObject, 0, len(g.Members))
	for _, id := range g.Members {
		if o, ok := d.object(id); ok {
			out = append(out, o)
		}
	}
	return out
}

// transitiveMembers flattens nesting depth-first; every object appears once
// (nested groups too, as Graph lists them) and a cycle ends where it meets a
// group already walked.
func (d *directory) transitiveMembers(g *Group) []dirObject {
	if out, ok := d.transitive[g]; ok {
		return out
	}
	seen := map[string]bool{strings.ToLower(g.ID): true}
	var out []dirObject
	var walk func(*Group)
	walk = func(g *Group) {
		for _, o := range d.members(g) {
			k := strings.ToLower(o.id())
			if seen[k] {
				continue
			}
			seen[k] = true
			out = append(out, o)
			if o.kind == kindGroup {
				walk(o.group)
			}
		}
	}
	walk(g)
	d.transitive[g] = out
	return out
}

// GenerateDevices gives each user 0 to 3 devices, deterministically from
// seed: every device is owned by and registered to its user, about one in six
// is also registered to another user (a shared machine), one in eight is
// synced from on-premises AD, and one in twenty is already disabled.
func GenerateDevices(users []User, seed int64) []Device {
	rng := rand.New(rand.NewPCG(uint64(seed), 0xbb67ae8584caa73b))
	kinds := []string{"DESKTOP", "LAPTOP", "iPhone", "Android"}
	var out []Device
	for i, u := range users {
		for range rng.IntN(4) {
			k := kinds[rng.IntN(len(kinds))]
			dv := Device{
				ID:              randomGUID(rng),
				DeviceID:        randomGUID(rng),
				DisplayName:     fmt.Sprintf("%s-%04X", k, rng.IntN(1<<16)),
				AccountEnabled:  rng.IntN(20) != 0,
				Owners:          []string{u.ID},
				RegisteredUsers: []string{u.ID},
			}
			dv.OnPremisesSyncEnabled = rng.IntN(8) == 0
			if len(users) > 1 && rng.IntN(6) == 0 {
				other := users[(i+1+rng.IntN(len(users)-1))%len(users)]
				dv.RegisteredUsers = append(dv.RegisteredUsers, other.ID)
			}
			out = append(out, dv)
		}
	}
	return out
}

// NestedGroup builds a group named displayName whose transitive user
// members are exactly users, over three levels of nesting with the traps
// real groups have: a user reachable along two paths, a nested group
// reachable along two paths, and a cycle back to a group above. Ids derive
// from displayName. The top group comes first; seed the tenant with all of
// them (Config.Groups).
func NestedGroup(displayName string, users []User) []Group {
	id := func(level string) string { return guidFromName("group:" + displayName + ":" + level) }
	top := Group{ID: id("top"), DisplayName: displayName}
	a := Group{ID: id("a"), DisplayName: displayName + " A"}
	b := Group{ID: id("b"), DisplayName: displayName + " B"}
	leaf := Group{ID: id("leaf"), DisplayName: displayName + " leaf"}
	third := len(users) / 3
	for i, u := range users {
		switch {
		case i < third:
			top.Members = append(top.Members, u.ID)
		case i < 2*third:
			a.Members = append(a.Members, u.ID)
		default:
			leaf.Members = append(leaf.Members, u.ID)
		}
	}
	if len(users) > 0 {
		// The first user is also reachable through the leaf.
		leaf.Members = append(leaf.Members, users[0].ID)
	}
	top.Members = append(top.Members, a.ID, b.ID)
	a.Members = append(a.Members, leaf.ID)
	b.Members = append(b.Members, leaf.ID)
	leaf.Members = append(leaf.Members, a.ID) // a cycle: leaf -> a -> leaf
	return []Group{top, a, b, leaf}
}
