package graphsim

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

const (
	defaultPageSize = 100
	maxPageSize     = 999
)

// queryOpts are a request's OData query options, validated.
type queryOpts struct {
	props    []string // $select in Graph's spelling; nil = default set
	top      int      // $top; 0 = not given
	filter   *parsedFilter
	rawFilt  string
	count    bool // @odata.count requested and allowed
	pos      int  // where the page starts in the listing ($skiptoken)
	eventual bool // ConsistencyLevel: eventual
}

// option reads a query option with or without its $, as Graph accepts both
// in v1.0.
func option(q url.Values, name string) (string, bool) {
	if v, ok := q["$"+name]; ok {
		return v[0], true
	}
	if v, ok := q[name]; ok {
		return v[0], true
	}
	return "", false
}

// parseQuery validates the query options of a GET the way Graph does; the
// listing itself happens later, under the server lock.
func (s *Server) parseQuery(r route, op operation) (queryOpts, *problem) {
	var o queryOpts
	q, err := url.ParseQuery(op.query)
	if err != nil {
		return o, badRequest("Request_BadRequest", "Bad request: the query string is malformed.")
	}
	typ := routeType(r)
	if v, ok := option(q, "select"); ok && v != "" {
		for _, p := range strings.Split(v, ",") {
			spec, ok := typ.props[strings.ToLower(strings.TrimSpace(p))]
			if !ok {
				return o, badRequest("Request_BadRequest", fmt.Sprintf("Could not find a property named '%s' on type '%s'.", strings.TrimSpace(p), typ.typeName))
			}
			o.props = append(o.props, spec.name)
		}
	}
	if !r.collection() {
		return o, nil
	}
	o.eventual = strings.EqualFold(strings.TrimSpace(op.header("ConsistencyLevel")), "eventual")
	if v, ok := option(q, "top"); ok {
		n, err := strconv.Atoi(v)
		switch {
		case err != nil || n < 0:
			return o, badRequest("BadRequest", fmt.Sprintf("Invalid value '%s' for $top query option found. The $top query option requires a non-negative integer value.", v))
		case n < 1 || n > maxPageSize:
			return o, badRequest("Request_UnsupportedQuery", fmt.Sprintf("Invalid page size specified: '%s'. Must be between 1 and %d inclusive.", v, maxPageSize))
		}
		o.top = n
	}
	if v, ok := option(q, "count"); ok {
		switch strings.ToLower(v) {
		case "true":
			// Without ConsistencyLevel, Graph ignores $count=true silently
			// (aad-advanced-queries.md, "Error handling").
			o.count = o.eventual
		case "false":
		default:
			return o, badRequest("BadRequest", fmt.Sprintf("Invalid value '%s' for $count query option found. Valid values are 'true' and 'false'.", v))
		}
	}
	if v, ok := option(q, "filter"); ok && strings.TrimSpace(v) != "" {
		f, ferr := parseFilter(v, typ.props, typ.typeName, typ.resource)
		if ferr != nil {
			return o, badRequest(ferr.code, ferr.message)
		}
		if f.advanced != "" && !o.count {
			return o, badRequest("Request_UnsupportedQuery", fmt.Sprintf("Operator '%s' is not supported because the required parameters might be missing. "+
				"Try adding $count=true query parameter and ConsistencyLevel:eventual header. Refer to https://aka.ms/graph-docs/advanced-queries for more information", f.advanced))
		}
		o.filter, o.rawFilt = &f, v
	}
	if v, ok := option(q, "skiptoken"); ok {
		pos, good := s.readSkipToken(v, op)
		if !good {
			return o, badRequest("Request_BadRequest", "Invalid Skip Token")
		}
		o.pos = pos
	}
	return o, nil
}

// skipMagic starts every skip token, as "DSpt" starts Graph's (base64
// RFNwdA...): a token is opaque, but recognisably a directory one.
var skipMagic = []byte("DSpt")

// listingHash binds a skip token to the listing it came from, so a token
// pasted into another query is refused rather than silently misread.
func listingHash(op operation, filter string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(op.dir.id))
	h.Write([]byte{0})
	h.Write([]byte(strings.ToLower(op.path)))
	h.Write([]byte{0})
	h.Write([]byte(filter))
	return h.Sum32()
}

// skipToken encodes a position so that no client can build or adjust one:
// it carries the server's nonce and the listing's hash.
func (s *Server) skipToken(pos int, op operation, filter string) string {
	b := make([]byte, 0, 24)
	b = append(b, skipMagic...)
	b = append(b, s.nonce[:]...)
	b = binary.BigEndian.AppendUint32(b, listingHash(op, filter))
	b = binary.AppendUvarint(b, uint64(pos))
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *Server) readSkipToken(tok string, op operation) (int, bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	n := len(skipMagic) + len(s.nonce) + 4
	if err != nil || len(b) <= n || !bytes.Equal(b[:len(skipMagic)], skipMagic) ||
		!bytes.Equal(b[len(skipMagic):len(skipMagic)+len(s.nonce)], s.nonce[:]) {
		return 0, false
	}
	q, _ := url.ParseQuery(op.query)
	filter, _ := option(q, "filter")
	if strings.TrimSpace(filter) == "" {
		filter = ""
	}
	if binary.BigEndian.Uint32(b[n-4:n]) != listingHash(op, filter) {
		return 0, false
	}
	pos, k := binary.Uvarint(b[n:])
	if k <= 0 || k != len(b)-n || pos > 1<<31 {
		return 0, false
	}
	return int(pos), true
}

// source is a listing's underlying sequence, which the page walks.
type source struct {
	n  int
	at func(int) dirObject
}

func usersSource(us []*User) source {
	return source{len(us), func(i int) dirObject { return dirObject{kind: kindUser, user: us[i]} }}
}

func devicesSource(ds []*Device) source {
	return source{len(ds), func(i int) dirObject { return dirObject{kind: kindDevice, device: ds[i]} }}
}

func objectsSource(os []dirObject) source {
	return source{len(os), func(i int) dirObject { return os[i] }}
}

// listSource picks the sequence a collection route walks. For users pinned
// by id or UPN it looks them up instead of scanning the tenant.
func listSource(d *directory, r route, q queryOpts, u *User, g *Group) source {
	switch r.kind {
	case routeUsers:
		if q.filter != nil {
			if keys, ok := indexedKeys(q.filter.root); ok {
				seen := map[*User]bool{}
				var us []*User
				for _, k := range keys {
					if p := d.lookup(k); p != nil && !seen[p] {
						seen[p] = true
						us = append(us, p)
					}
				}
				return usersSource(us)
			}
		}
		return usersSource(d.users)
	case routeDevices:
		return devicesSource(d.devices)
	case routeGroups:
		gs := d.groups
		return source{len(gs), func(i int) dirObject { return dirObject{kind: kindGroup, group: gs[i]} }}
	case routeUserDevices:
		if r.rel == "ownedDevices" {
			return devicesSource(d.owned[u])
		}
		return devicesSource(d.registered[u])
	case routeMembers:
		if r.rel == "members" {
			return objectsSource(d.members(g))
		}
		return objectsSource(d.transitiveMembers(g))
	}
	return source{}
}

// listPage answers one page of a collection: up to $top matching objects
// from the token's position, @odata.count on the first page of an advanced
// query, and an @odata.nextLink while objects remain. The next position is
// that of the next match, so following pages never rescan and a listing
// that ends on a full page gets no empty extra page.
func (s *Server) listPage(op operation, r route, q queryOpts, u *User, g *Group) result {
	src := listSource(op.dir, r, q, u, g)
	var match func(dirObject) bool
	if r.cast != 0 || q.filter != nil {
		match = func(o dirObject) bool {
			return (r.cast == 0 || o.kind == r.cast) && (q.filter == nil || q.filter.root.eval(o))
		}
	}
	size := q.top
	if size == 0 {
		size = defaultPageSize
	}
	var items bytes.Buffer
	items.WriteByte('[')
	got, pos := 0, q.pos
	for ; pos < src.n && got < size; pos++ {
		o := src.at(pos)
		if match != nil && !match(o) {
			continue
		}
		if got > 0 {
			items.WriteByte(',')
		}
		writeObject(&items, o, q.props, r.directoryObjects())
		got++
	}
	items.WriteByte(']')
	for match != nil && pos < src.n && !match(src.at(pos)) {
		pos++
	}

	set := routeType(r).set
	if r.directoryObjects() && r.cast == 0 {
		set = "directoryObjects"
	}
	ctx := "https://graph.microsoft.com/" + op.version + "/$metadata#" + set
	if q.props != nil {
		ctx += "(" + strings.Join(q.props, ",") + ")"
	}
	var b bytes.Buffer
	b.WriteString(`{"@odata.context":`)
	writeJSON(&b, ctx)
	if q.count && q.pos == 0 {
		n := src.n
		if match != nil {
			n = 0
			for i := range src.n {
				if match(src.at(i)) {
					n++
				}
			}
		}
		b.WriteString(`,"@odata.count":`)
		b.WriteString(strconv.Itoa(n))
	}
	if pos < src.n {
		b.WriteString(`,"@odata.nextLink":`)
		writeJSON(&b, s.nextLink(op, pos, q.rawFilt))
	}
	b.WriteString(`,"value":`)
	b.Write(items.Bytes())
	b.WriteByte('}')
	return result{status: http.StatusOK, header: map[string]string{"Content-Type": jsonType}, body: b.Bytes()}
}

// writeJSON appends v without HTML escaping: Graph writes the & of a
// nextLink as &, not \u0026.
func writeJSON(b *bytes.Buffer, v any) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	b.Truncate(b.Len() - 1) // Encode's newline
}

// nextLink is the absolute URL of the next page: the request's own scheme
// and host, its path and query options, and a fresh $skiptoken. A client
// follows it as given, or strips the root to send it as a $batch step.
func (s *Server) nextLink(op operation, pos int, filter string) string {
	var qs []string
	for _, kv := range strings.Split(op.query, "&") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			key = k
		}
		if strings.EqualFold(strings.TrimPrefix(key, "$"), "skiptoken") {
			continue
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			val = v
		}
		qs = append(qs, escapeQuery(key)+"="+escapeQuery(val))
	}
	qs = append(qs, "$skiptoken="+s.skipToken(pos, op, filter))
	return op.base + "/" + op.version + op.path + "?" + strings.Join(qs, "&")
}

// escapeQuery escapes a query key or value, keeping the characters OData
// query options are made of readable, and a space as %20 (never +).
func escapeQuery(s string) string {
	e := strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
	return strings.NewReplacer("%24", "$", "%27", "'", "%28", "(", "%29", ")", "%2C", ",").Replace(e)
}
