package batch

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"testing"
)

// TestOutcomeLogKnowsEveryStatus: the outcome log stores a status in a byte, by its index in
// statusCodes, and drops one it does not know, so a later duplicate of that line could not say
// what happened to it. Every Status constant declared in the package must round-trip.
func TestOutcomeLogKnowsEveryStatus(t *testing.T) {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var found []Status
	for _, f := range pkgs["batch"].Files {
		ast.Inspect(f, func(n ast.Node) bool {
			vs, ok := n.(*ast.ValueSpec)
			if !ok || vs.Type == nil {
				return true
			}
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Status" {
				return true
			}
			for _, v := range vs.Values {
				if lit, ok := v.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					s, _ := strconv.Unquote(lit.Value)
					found = append(found, Status(s))
				}
			}
			return true
		})
	}
	if len(found) < 10 {
		t.Fatalf("found %d Status constants, want the package's (%v)", len(found), found)
	}
	var o outcomeLog
	for i, s := range found {
		o.set(i+1, s)
		if got, ok := o.get(i + 1); !ok || got != s {
			t.Errorf("status %q: the outcome log gives back %q, %v", s, got, ok)
		}
	}
}
