package graphsim

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// problem is an error answer decided before the operation runs.
type problem struct {
	status        int
	code, message string
}

func badRequest(code, msg string) *problem {
	return &problem{http.StatusBadRequest, code, msg}
}

type routeKind int

const (
	routeUser        routeKind = iota + 1 // /users/{key}
	routeRevoke                           // /users/{key}/revokeSignInSessions
	routeUsers                            // /users
	routeUserDevices                      // /users/{key}/ownedDevices or /registeredDevices
	routeDevices                          // /devices
	routeDevice                           // /devices/{id}
	routeGroups                           // /groups
	routeGroup                            // /groups/{id}
	routeMembers                          // /groups/{id}/members or /transitiveMembers
	routeMethods                          // /users/{key}/authentication/methods
	routeMethod                           // /users/{key}/authentication/{type}Methods/{id}
)

// route is a parsed request path, relative to the version.
type route struct {
	kind routeKind
	key  string  // decoded user key, device or group id
	rel  string  // ownedDevices, registeredDevices, members or transitiveMembers
	cast objKind // an OData cast segment after rel; 0 = none
	item string  // an authentication method's id (rel is then its type)
}

// collection reports whether the route lists objects, and so pages.
func (r route) collection() bool {
	switch r.kind {
	case routeUsers, routeUserDevices, routeDevices, routeGroups, routeMembers:
		return true
	}
	return false
}

// directoryObjects reports whether the route lists directoryObject-typed
// navigation properties, whose items carry @odata.type.
func (r route) directoryObjects() bool {
	return r.kind == routeUserDevices || r.kind == routeMembers
}

var errEscape = "Bad request: the URL contains an invalid percent-encoding."

// parseRoute decodes a path the way Graph's URL parser does: each segment is
// percent-decoded exactly once, and a user may be addressed as /users/{key}
// or /users('{key}').
func parseRoute(path string) (route, *problem) {
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if len(segs) > 1 && segs[len(segs)-1] == "" {
		segs = segs[:len(segs)-1]
	}
	first, err := url.PathUnescape(segs[0])
	if err != nil {
		return route{}, badRequest("Request_BadRequest", errEscape)
	}
	notFound := func(seg string) (route, *problem) {
		s, _ := url.PathUnescape(seg)
		return route{}, badRequest("BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", s))
	}
	var r route
	var rest []string
	switch lower := strings.ToLower(first); {
	case lower == "users":
		if len(segs) == 1 {
			return route{kind: routeUsers}, nil
		}
		key, err := url.PathUnescape(segs[1])
		if err != nil {
			return route{}, badRequest("Request_BadRequest", errEscape)
		}
		if key == "" {
			return route{}, badRequest("Request_BadRequest", "Invalid object identifier ''.")
		}
		if strings.HasPrefix(key, "$") {
			// Graph reads /users/$x as an OData system segment.
			return route{}, badRequest("Request_BadRequest", fmt.Sprintf("Unsupported segment '%s': a key starting with '$' must use the form users('%s').", key, key))
		}
		r.key, rest = key, segs[2:]
	case strings.HasPrefix(lower, "users(") && strings.HasSuffix(lower, ")"):
		key, err := keyLiteral(first[len("users(") : len(first)-1])
		if err != nil {
			return route{}, badRequest("Request_BadRequest", fmt.Sprintf("Invalid key literal in '%s': %v.", first, err))
		}
		r.key, rest = key, segs[1:]
	case lower == "devices" || lower == "groups":
		list, item := routeDevices, routeDevice
		if lower == "groups" {
			list, item = routeGroups, routeGroup
		}
		if len(segs) == 1 {
			return route{kind: list}, nil
		}
		key, err := url.PathUnescape(segs[1])
		if err != nil {
			return route{}, badRequest("Request_BadRequest", errEscape)
		}
		if key == "" {
			return route{}, badRequest("Request_BadRequest", "Invalid object identifier ''.")
		}
		r = route{kind: item, key: key}
		if len(segs) == 2 {
			return r, nil
		}
		rel, _ := url.PathUnescape(segs[2])
		switch {
		case item == routeGroup && strings.EqualFold(rel, "members"):
			r.rel = "members"
		case item == routeGroup && strings.EqualFold(rel, "transitiveMembers"):
			r.rel = "transitiveMembers"
		default:
			return notFound(segs[2])
		}
		r.kind = routeMembers
		return withCast(r, segs[3:], notFound, 0)
	default:
		return notFound(segs[0])
	}
	switch {
	case len(rest) == 0:
		r.kind = routeUser
		return r, nil
	case len(rest) == 1 && isRevokeAction(rest[0]):
		r.kind = routeRevoke
		return r, nil
	case isRevokeAction(rest[0]):
		return notFound(rest[1])
	}
	rel, _ := url.PathUnescape(rest[0])
	switch {
	case strings.EqualFold(rel, "authentication"):
		return parseAuthRoute(r, rest[1:], notFound)
	case strings.EqualFold(rel, "ownedDevices"):
		r.rel = "ownedDevices"
	case strings.EqualFold(rel, "registeredDevices"):
		r.rel = "registeredDevices"
	default:
		return notFound(rest[0])
	}
	r.kind = routeUserDevices
	return withCast(r, rest[1:], notFound, kindDevice)
}

// withCast reads an optional cast segment; only is the one cast the
// navigation property admits (0 = any directory object type).
func withCast(r route, rest []string, notFound func(string) (route, *problem), only objKind) (route, *problem) {
	if len(rest) == 0 {
		return r, nil
	}
	seg, _ := url.PathUnescape(rest[0])
	k, ok := castKind(seg)
	if !ok || (only != 0 && k != only) || len(rest) > 1 {
		if ok && len(rest) > 1 {
			return notFound(rest[1])
		}
		return notFound(rest[0])
	}
	r.cast = k
	return r, nil
}

func isRevokeAction(seg string) bool {
	s, err := url.PathUnescape(seg)
	if err != nil {
		return false
	}
	s = strings.ToLower(s)
	return s == "revokesigninsessions" || s == "microsoft.graph.revokesigninsessions"
}

// keyLiteral unquotes an OData string literal, in which a doubled
// apostrophe stands for one apostrophe.
func keyLiteral(lit string) (string, error) {
	if len(lit) < 2 || lit[0] != '\'' || lit[len(lit)-1] != '\'' {
		return "", fmt.Errorf("want a quoted key")
	}
	inner := lit[1 : len(lit)-1]
	var b strings.Builder
	for i := 0; i < len(inner); i++ {
		c := inner[i]
		if c == '\'' {
			if i+1 >= len(inner) || inner[i+1] != '\'' {
				return "", fmt.Errorf("unescaped quote at position %d", i+2)
			}
			i++
		}
		b.WriteByte(c)
	}
	if b.Len() == 0 {
		return "", fmt.Errorf("empty key")
	}
	return b.String(), nil
}

// allows reports whether Graph serves method on the route; others get 405.
func (r route) allows(method string) bool {
	switch strings.ToUpper(method) {
	case http.MethodGet:
		return r.kind != routeRevoke && r.kind != routeMethod
	case http.MethodPatch:
		return r.kind == routeUser || r.kind == routeDevice
	case http.MethodPost:
		return r.kind == routeRevoke
	case http.MethodDelete:
		return r.kind == routeMethod
	}
	return false
}
