package app_test

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

// The application layer knows no transport: no HTTP package, no status
// codes, no endpoints; httpapi maps its results and errors.
func TestTheApplicationLayerSpeaksNoHTTP(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	forbidden := []string{"net/http", "github.com/gin-gonic/gin", "github.com/ticketd/ticketd/httpapi"}
	endpoint := regexp.MustCompile(`^(GET|HEAD|POST|PUT|PATCH|DELETE) |^/(tickets|showings|holds|events)\b`)
	fset := token.NewFileSet()
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
			s, err := strconv.Unquote(lit.Value)
			switch {
			case err != nil:
				t.Errorf("%s: %v", fset.Position(lit.Pos()), err)
			case endpoint.MatchString(s) || strings.HasPrefix(s, "github.com/ticketd/ticketd/httpapi"):
				t.Errorf("%s: %q names an endpoint or the HTTP adapter", fset.Position(lit.Pos()), s)
			default:
				for _, pkg := range forbidden {
					if s == pkg {
						t.Errorf("%s: imports %s", fset.Position(lit.Pos()), pkg)
					}
				}
			}
			return true
		})
	}
	if len(files) < 4 {
		t.Fatalf("read %v; want the package's files", files)
	}
}
