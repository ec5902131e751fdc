package batch

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
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

// TestReleaseTwice: the second release of an item panics where it happens; given silently, it
// would free another item's hold on the run and let Run return before that item's row.
func TestReleaseTwice(t *testing.T) {
	e := &engine{}
	it := &item{row: Row{Line: 7}, stage: stRevoke}
	e.live.Add(2)
	e.release(it)
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "line 7") {
			t.Errorf("second release: recovered %v, want a panic naming line 7", r)
		}
	}()
	e.release(it)
}

// TestDocNamesTests: every test doc.go names as holding a rule exists in this package (or in
// package bench, for the rules held against graphsim's quota shapes), so that the page cannot
// keep a rule whose test was renamed or removed.
func TestDocNamesTests(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	named := regexp.MustCompile(`\bTest[A-Z]\w*`).FindAllString(string(doc), -1)
	if len(named) < 10 {
		t.Fatalf("doc.go names %d tests; the rules section is gone or unreadable", len(named))
	}
	// A rule the engine keeps against Graph's model may be held in the bench package, which
	// runs the engine against graphsim on cells of every quota shape.
	var tests []string
	for _, glob := range []string{"*_test.go", "../bench/*_test.go"} {
		more, err := filepath.Glob(glob)
		if err != nil {
			t.Fatal(err)
		}
		tests = append(tests, more...)
	}
	declared := map[string]bool{}
	fset := token.NewFileSet()
	for _, path := range tests {
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv == nil {
				declared[fn.Name.Name] = true
			}
		}
	}
	for _, name := range named {
		if !declared[name] {
			t.Errorf("doc.go names %s, which no test file of the package declares", name)
		}
	}
}

// TestStageOps: every stage names its own operation. OpRevoke is Op's zero value, so a stage
// added without an entry in stageOps would revoke instead of doing its step.
func TestStageOps(t *testing.T) {
	seen := map[Op]stage{}
	for s := range stageCount {
		op := stageOps[s]
		if op == OpRevoke && s != stRevoke {
			t.Errorf("stage %s has no operation in stageOps: it would send a revoke", s)
		}
		if other, ok := seen[op]; ok {
			t.Errorf("stages %s and %s both send %s", other, s, op)
		}
		seen[op] = s
	}
}
