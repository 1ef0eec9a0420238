package render

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// Every per-feature builder is in the builders table, once: a builder that
// is written but not listed would silently decide nothing.
func TestBuilderTableListsEveryBuilder(t *testing.T) {
	listed := map[string]int{}
	names := map[string]bool{}
	for _, x := range builders {
		if names[x.name] {
			t.Errorf("builder name %s is used twice", x.name)
		}
		names[x.name] = true
		fn := runtime.FuncForPC(reflect.ValueOf(x.build).Pointer()).Name()
		listed[fn[strings.LastIndex(fn, ".")+1:]]++
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			fd, ok := decl.(*ast.FuncDecl)
			if !ok || fd.Recv != nil || !isBuilderFunc(fd.Type) {
				continue
			}
			found++
			if n := listed[fd.Name.Name]; n != 1 {
				t.Errorf("%s (%s) is listed %d times in builders, want once", fd.Name.Name, file, n)
			}
		}
	}
	if found < 15 {
		t.Fatalf("found only %d builder functions: is isBuilderFunc out of date?", found)
	}
}

// isBuilderFunc reports whether ft is func(*modelBuilder) error.
func isBuilderFunc(ft *ast.FuncType) bool {
	if len(ft.Params.List) != 1 || len(ft.Params.List[0].Names) > 1 || ft.Results == nil || len(ft.Results.List) != 1 {
		return false
	}
	star, ok := ft.Params.List[0].Type.(*ast.StarExpr)
	if !ok {
		return false
	}
	id, ok := star.X.(*ast.Ident)
	res, ok2 := ft.Results.List[0].Type.(*ast.Ident)
	return ok && ok2 && id.Name == "modelBuilder" && res.Name == "error"
}
