package graphsim

import (
	"fmt"
	"strings"
)

// A small $filter: comparisons (eq, ne), in, startsWith and endsWith,
// joined by and, or and not, over string and boolean properties. Graph
// serves eq, in, startsWith, and and or by default; ne, not and endsWith only
// as advanced queries (header ConsistencyLevel: eventual plus $count=true),
// and endsWith only on mail and userPrincipalName (aad-advanced-queries.md).

type litKind int

const (
	litString litKind = iota + 1
	litBool
	litNull
)

type literal struct {
	kind litKind
	s    string
	b    bool
}

// propType is what a filterable property holds.
type propType int

const (
	propString propType = iota + 1
	propBool
)

// propSpec describes a property of a type for $select and $filter.
type propSpec struct {
	name       string   // Graph's spelling
	typ        propType // 0 = not filterable
	endsWithOK bool     // endsWith is indexed for it (advanced queries)
}

type filterNode interface {
	eval(o dirObject) bool
}

type andNode struct{ a, b filterNode }
type orNode struct{ a, b filterNode }
type notNode struct{ x filterNode }
type cmpNode struct {
	prop string
	ne   bool
	val  literal
}
type inNode struct {
	prop string
	vals []literal
}
type funcNode struct {
	fn   string // startsWith or endsWith
	prop string
	val  string
}

func (n andNode) eval(o dirObject) bool { return n.a.eval(o) && n.b.eval(o) }
func (n orNode) eval(o dirObject) bool  { return n.a.eval(o) || n.b.eval(o) }
func (n notNode) eval(o dirObject) bool { return !n.x.eval(o) }

func (n cmpNode) eval(o dirObject) bool {
	return matchLiteral(o, n.prop, n.val) != n.ne
}

func (n inNode) eval(o dirObject) bool {
	for _, v := range n.vals {
		if matchLiteral(o, n.prop, v) {
			return true
		}
	}
	return false
}

func (n funcNode) eval(o dirObject) bool {
	v, ok := propValue(o, n.prop)
	s, isStr := v.(string)
	if !ok || !isStr {
		return false
	}
	s, want := strings.ToLower(s), strings.ToLower(n.val)
	if n.fn == "startsWith" {
		return strings.HasPrefix(s, want)
	}
	return strings.HasSuffix(s, want)
}

// matchLiteral compares a property with a literal as directory queries do:
// strings case-insensitively, and null only equal to null.
func matchLiteral(o dirObject, prop string, l literal) bool {
	v, ok := propValue(o, prop)
	if !ok {
		return false
	}
	switch l.kind {
	case litNull:
		return v == nil
	case litBool:
		b, isBool := v.(bool)
		return isBool && b == l.b
	default:
		s, isStr := v.(string)
		return isStr && strings.EqualFold(s, l.s)
	}
}

// filterError is a refused $filter: status 400 with Graph's code.
type filterError struct {
	code, message string
}

// parsedFilter is a $filter ready to run.
type parsedFilter struct {
	root filterNode
	// advanced names the first operator that needs the advanced query
	// parameters, "" when none does.
	advanced string
}

type tokKind int

const (
	tokEOF tokKind = iota
	tokIdent
	tokString
	tokLParen
	tokRParen
	tokComma
)

type token struct {
	kind tokKind
	text string // identifier as written, or the unquoted string
	pos  int
}

type filterParser struct {
	src      string
	toks     []token
	i        int
	props    map[string]propSpec // by lower-cased name
	typeName string              // e.g. microsoft.graph.user
	resource string              // e.g. User, as Graph names it in messages
	advanced string
	err      *filterError
}

func parseFilter(src string, props map[string]propSpec, typeName, resource string) (parsedFilter, *filterError) {
	p := &filterParser{src: src, props: props, typeName: typeName, resource: resource}
	if !p.lex() {
		return parsedFilter{}, p.err
	}
	n := p.expr()
	if p.err == nil && p.peek().kind != tokEOF {
		p.syntax(p.peek().pos)
	}
	if p.err != nil {
		return parsedFilter{}, p.err
	}
	return parsedFilter{root: n, advanced: p.advanced}, nil
}

func (p *filterParser) syntax(pos int) {
	if p.err == nil {
		p.err = &filterError{"BadRequest", fmt.Sprintf("Invalid filter clause: Syntax error at position %d in '%s'.", pos, p.src)}
	}
}

func (p *filterParser) invalid(msg string) {
	if p.err == nil {
		p.err = &filterError{"BadRequest", "Invalid filter clause: " + msg}
	}
}

func (p *filterParser) unsupported(prop string) {
	if p.err == nil {
		p.err = &filterError{"Request_UnsupportedQuery",
			fmt.Sprintf("Unsupported or invalid query filter clause specified for property '%s' of resource '%s'.", prop, p.resource)}
	}
}

func (p *filterParser) needAdvanced(op string) {
	if p.advanced == "" {
		p.advanced = op
	}
}

func (p *filterParser) lex() bool {
	s := p.src
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case c == '(':
			p.toks = append(p.toks, token{tokLParen, "(", i})
			i++
		case c == ')':
			p.toks = append(p.toks, token{tokRParen, ")", i})
			i++
		case c == ',':
			p.toks = append(p.toks, token{tokComma, ",", i})
			i++
		case c == '\'':
			start := i
			var b strings.Builder
			i++
			for {
				if i >= len(s) {
					p.syntax(start)
					return false
				}
				if s[i] == '\'' {
					if i+1 < len(s) && s[i+1] == '\'' {
						b.WriteByte('\'')
						i += 2
						continue
					}
					i++
					break
				}
				b.WriteByte(s[i])
				i++
			}
			p.toks = append(p.toks, token{tokString, b.String(), start})
		case isIdentByte(c):
			start := i
			for i < len(s) && (isIdentByte(s[i]) || s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
				i++
			}
			p.toks = append(p.toks, token{tokIdent, s[start:i], start})
		default:
			p.syntax(i)
			return false
		}
	}
	p.toks = append(p.toks, token{tokEOF, "", len(s)})
	return true
}

func isIdentByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '$'
}

func (p *filterParser) peek() token { return p.toks[p.i] }

func (p *filterParser) next() token {
	t := p.toks[p.i]
	if t.kind != tokEOF {
		p.i++
	}
	return t
}

func (p *filterParser) keyword(t token, kw string) bool {
	return t.kind == tokIdent && strings.EqualFold(t.text, kw)
}

func (p *filterParser) expect(k tokKind) token {
	t := p.next()
	if t.kind != k {
		p.syntax(t.pos)
	}
	return t
}

func (p *filterParser) expr() filterNode {
	n := p.and()
	for p.err == nil && p.keyword(p.peek(), "or") {
		p.next()
		n = orNode{n, p.and()}
	}
	return n
}

func (p *filterParser) and() filterNode {
	n := p.unary()
	for p.err == nil && p.keyword(p.peek(), "and") {
		p.next()
		n = andNode{n, p.unary()}
	}
	return n
}

func (p *filterParser) unary() filterNode {
	if p.keyword(p.peek(), "not") {
		p.next()
		p.needAdvanced("not")
		return notNode{p.unary()}
	}
	return p.primary()
}

func (p *filterParser) primary() filterNode {
	t := p.next()
	switch {
	case p.err != nil:
		return nil
	case t.kind == tokLParen:
		n := p.expr()
		p.expect(tokRParen)
		return n
	case t.kind != tokIdent:
		p.syntax(t.pos)
		return nil
	case p.peek().kind == tokLParen:
		return p.function(t)
	}
	spec := p.property(t)
	op := p.next()
	switch {
	case p.keyword(op, "eq"), p.keyword(op, "ne"):
		ne := strings.EqualFold(op.text, "ne")
		if ne {
			p.needAdvanced("ne")
		}
		val := p.literal(spec, "Equal")
		if ne {
			return cmpNode{spec.name, true, val}
		}
		return cmpNode{spec.name, false, val}
	case p.keyword(op, "in"):
		p.expect(tokLParen)
		var vals []literal
		for p.err == nil {
			vals = append(vals, p.literal(spec, "In"))
			if p.peek().kind == tokComma {
				p.next()
				continue
			}
			p.expect(tokRParen)
			break
		}
		return inNode{spec.name, vals}
	case op.kind == tokIdent && isComparison(op.text):
		// ge, le, gt, lt: valid OData that Graph refuses on these properties.
		p.unsupported(spec.name)
		return nil
	}
	p.syntax(op.pos)
	return nil
}

func isComparison(s string) bool {
	switch strings.ToLower(s) {
	case "gt", "ge", "lt", "le":
		return true
	}
	return false
}

func (p *filterParser) function(name token) filterNode {
	fn := ""
	switch strings.ToLower(name.text) {
	case "startswith":
		fn = "startsWith"
	case "endswith":
		fn = "endsWith"
	default:
		p.invalid(fmt.Sprintf("An unknown function with name '%s' was found.", name.text))
		return nil
	}
	p.expect(tokLParen)
	spec := p.property(p.expect(tokIdent))
	p.expect(tokComma)
	val := p.expect(tokString)
	p.expect(tokRParen)
	if p.err != nil {
		return nil
	}
	if spec.typ != propString {
		p.unsupported(spec.name)
		return nil
	}
	if fn == "endsWith" {
		if !spec.endsWithOK {
			p.unsupported(spec.name)
			return nil
		}
		p.needAdvanced("endsWith")
	}
	return funcNode{fn, spec.name, val.text}
}

func (p *filterParser) property(t token) propSpec {
	if p.err != nil {
		return propSpec{}
	}
	spec, ok := p.props[strings.ToLower(t.text)]
	switch {
	case t.kind != tokIdent:
		p.syntax(t.pos)
	case !ok:
		p.invalid(fmt.Sprintf("Could not find a property named '%s' on type '%s'.", t.text, p.typeName))
	case spec.typ == 0:
		p.unsupported(spec.name)
	}
	return spec
}

// literal reads a literal compared with spec; a quoted boolean is a type
// error, as on Graph.
func (p *filterParser) literal(spec propSpec, opKind string) literal {
	t := p.next()
	if p.err != nil {
		return literal{}
	}
	var l literal
	switch {
	case t.kind == tokString:
		l = literal{kind: litString, s: t.text}
	case p.keyword(t, "true"), p.keyword(t, "false"):
		l = literal{kind: litBool, b: strings.EqualFold(t.text, "true")}
	case p.keyword(t, "null"):
		return literal{kind: litNull}
	default:
		p.syntax(t.pos)
		return literal{}
	}
	want, got := "Edm.String", "Edm.String"
	if spec.typ == propBool {
		want = "Edm.Boolean"
	}
	if l.kind == litBool {
		got = "Edm.Boolean"
	}
	if want != got {
		p.invalid(fmt.Sprintf("A binary operator with incompatible types was detected. Found operand types '%s' and '%s' for operator kind '%s'.", want, got, opKind))
	}
	return l
}

// indexedKeys returns the ids or UPNs a filter pins users to, when its
// top-level and-chain holds an eq or in on id or userPrincipalName, so that a
// lookup by key need not scan the tenant.
func indexedKeys(n filterNode) ([]string, bool) {
	switch n := n.(type) {
	case andNode:
		if k, ok := indexedKeys(n.a); ok {
			return k, true
		}
		return indexedKeys(n.b)
	case cmpNode:
		if !n.ne && n.val.kind == litString && (n.prop == "id" || n.prop == "userPrincipalName") {
			return []string{n.val.s}, true
		}
	case inNode:
		if n.prop == "id" || n.prop == "userPrincipalName" {
			var keys []string
			for _, v := range n.vals {
				if v.kind == litString {
					keys = append(keys, v.s)
				}
			}
			return keys, true
		}
	}
	return nil, false
}
