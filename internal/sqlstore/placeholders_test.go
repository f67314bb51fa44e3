package sqlstore

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var placeholder = regexp.MustCompile(`\$(\d+)`)

// TestQueriesNumberTheirParametersInOrder holds the shared SQL to what
// SQLite needs of $NNN parameters: it binds them in the order they first
// appear, so each must first appear after the one numbered before it. A
// fragment of a query (a condition appended to another) may start at any
// number, but counts up from there.
func TestQueriesNumberTheirParametersInOrder(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			text, err := strconv.Unquote(lit.Value)
			if err != nil {
				return true
			}
			next := 0
			for _, m := range placeholder.FindAllStringSubmatch(text, -1) {
				n, _ := strconv.Atoi(m[1])
				switch {
				case next == 0:
					next = n + 1
				case n == next:
					next++
				case n > next:
					t.Errorf("%s: $%d appears before $%d in %q", fset.Position(lit.Pos()), n, next, text)
				}
			}
			if next > 0 {
				checked++
			}
			return true
		})
	}
	if checked < 20 {
		t.Fatalf("only %d queries with parameters found: the test no longer reads the package's SQL", checked)
	}
}
