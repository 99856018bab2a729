package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// components are the trees whose code must not walk a parent chain itself:
// internal/join walks them (Engine.Resolve, Climb, Lineage.Resolve).
var components = []string{"processor", "connector"}

// parentSelectors are the names a walk up a chain steps through.
var parentSelectors = map[string]bool{"parent": true, "Parent": true, "ParentSpanID": true}

// TestParentChainsWalkedInJoinOnly fails on any loop in a component that reads a span's parent and assigns
// a variable declared outside the loop: the shape of every walk up a parent chain (cur = a.parent,
// k = k.WithSpan(b.parent), j = index[e.parent]). Components hand parents to internal/join instead.
func TestParentChainsWalkedInJoinOnly(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	checked := 0
	for _, tree := range components {
		err := filepath.WalkDir(filepath.Join(root, tree), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			checked++
			for _, pos := range parentWalks(f) {
				rel, _ := filepath.Rel(root, path)
				t.Errorf("%s:%d: a loop walks a parent chain; use internal/join (Climb, Lineage or the Engine)",
					rel, fset.Position(pos).Line)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if checked == 0 {
		t.Fatal("no component source found: the check checked nothing")
	}
}

// parentWalks returns the loops of f that read a parent and assign a variable declared before the loop.
func parentWalks(f *ast.File) []token.Pos {
	var found []token.Pos
	ast.Inspect(f, func(n ast.Node) bool {
		var body *ast.BlockStmt
		switch l := n.(type) {
		case *ast.ForStmt:
			body = l.Body
		case *ast.RangeStmt:
			body = l.Body
		default:
			return true
		}
		if readsParent(body) && assignsOuter(body) {
			found = append(found, n.Pos())
		}
		return true
	})
	return found
}

func readsParent(body *ast.BlockStmt) bool {
	reads := false
	ast.Inspect(body, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok && parentSelectors[sel.Sel.Name] {
			reads = true
		}
		return !reads
	})
	return reads
}

// assignsOuter reports whether body assigns (=, not :=) a plain variable it does not declare itself.
func assignsOuter(body *ast.BlockStmt) bool {
	declared := map[string]bool{}
	ast.Inspect(body, func(n ast.Node) bool {
		switch d := n.(type) {
		case *ast.AssignStmt:
			if d.Tok == token.DEFINE {
				for _, l := range d.Lhs {
					if id, ok := l.(*ast.Ident); ok {
						declared[id.Name] = true
					}
				}
			}
		case *ast.ValueSpec:
			for _, id := range d.Names {
				declared[id.Name] = true
			}
		case *ast.RangeStmt:
			for _, e := range []ast.Expr{d.Key, d.Value} {
				if id, ok := e.(*ast.Ident); ok && d.Tok == token.DEFINE {
					declared[id.Name] = true
				}
			}
		}
		return true
	})
	outer := false
	ast.Inspect(body, func(n ast.Node) bool {
		a, ok := n.(*ast.AssignStmt)
		if !ok || a.Tok != token.ASSIGN {
			return !outer
		}
		for _, l := range a.Lhs {
			if id, ok := l.(*ast.Ident); ok && id.Name != "_" && !declared[id.Name] {
				outer = true
			}
		}
		return !outer
	})
	return outer
}

// TestParentWalkDetector pins what the check finds: the three walks the components had before they moved
// into internal/join, and not the loops that only hand parents on.
func TestParentWalkDetector(t *testing.T) {
	walks := map[string]string{
		"connector's same-batch walk": `for depth := 0; depth < max && !cur.IsEmpty(); depth++ {
			a, ok := index[ref{trace, cur}]
			if !ok { break }
			cur = a.parent
		}`,
		"projectionlag's climb": `for range depth {
			b, ok := spans[k]
			if !ok { return }
			k = k.WithSpan(b.parent)
		}`,
		"cqrsside's resolve": `for {
			e := &entries[j]
			if pi, ok := index[e.parent]; ok { j = pi; continue }
			break
		}`,
	}
	for name, loop := range walks {
		assert.Len(t, parentWalks(parseFunc(t, loop)), 1, name)
	}
	handsOn := `for k := 0; k < spans.Len(); k++ {
		s := spans.At(k)
		climb.Span(join.NewKey(s.TraceID(), s.SpanID()), s.ParentSpanID(), kind)
		e.parent = pcommon.SpanID{}
	}`
	assert.Empty(t, parentWalks(parseFunc(t, handsOn)))
}

func parseFunc(t *testing.T, body string) *ast.File {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "x.go", "package x\nfunc f() {\n"+body+"\n}\n", parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
