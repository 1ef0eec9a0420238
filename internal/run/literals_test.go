package run

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// spellings are the words only this package may spell.
func spellings() []string {
	var out []string
	for _, s := range append(append([]State{}, Order...), Complete, Failed, Cancelled) {
		out = append(out, string(s))
	}
	for _, s := range []Status{StatusPending, StatusInProgress, StatusSuccess, StatusFailed, StatusCancelled} {
		out = append(out, string(s))
	}
	return out
}

// stateLiterals finds, in the Go source src, string literals that are a
// state's or a status's spelling, or that hold one quoted for SQL
// ('FAILED'). It returns their positions.
func stateLiterals(t *testing.T, name string, src []byte) []string {
	t.Helper()
	words := map[string]bool{}
	var alt []string
	for _, w := range spellings() {
		words[w] = true
		alt = append(alt, regexp.QuoteMeta(w))
	}
	sqlQuoted := regexp.MustCompile(`'(` + strings.Join(alt, "|") + `)'`)
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	var found []string
	ast.Inspect(f, func(n ast.Node) bool {
		lit, ok := n.(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return true
		}
		v, err := strconv.Unquote(lit.Value)
		if err != nil {
			return true
		}
		if words[v] || sqlQuoted.MatchString(v) {
			found = append(found, fset.Position(lit.Pos()).String()+": "+lit.Value)
		}
		return true
	})
	return found
}

func TestStateLiteralsDetected(t *testing.T) {
	tests := []struct {
		name, src string
		want      int
	}{
		{name: "a bare state", src: `package p; var s = "CANCELLED"`, want: 1},
		{name: "a status in SQL", src: "package p; const q = `UPDATE runs SET status = 'FAILED'`", want: 1},
		{name: "a constant", src: `package p; var s = run.Cancelled`, want: 0},
		{name: "a word inside a sentence", src: `package p; var s = "the build FAILED here"`, want: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := stateLiterals(t, "x.go", []byte(tc.src)); len(got) != tc.want {
				t.Fatalf("found %v, want %d", got, tc.want)
			}
		})
	}
}

// The run's states and statuses are spelled in this package only: any
// other non-test Go file of the module that spells one as a literal fails.
func TestStatesAreDefinedOnlyHere(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found at %s: %v", root, err)
	}
	here, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	files := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path == here || strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		rel, _ := filepath.Rel(root, path)
		found = append(found, stateLiterals(t, rel, src)...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 50 {
		t.Fatalf("only %d Go files under %s: the walk is wrong", files, root)
	}
	if len(found) > 0 {
		t.Fatalf("run states spelled outside internal/run (use the run package's constants):\n%s", strings.Join(found, "\n"))
	}
}
