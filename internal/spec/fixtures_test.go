package spec

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// repoRoot is the repository root, from this package's directory.
const repoRoot = "../.."

// expectation is one "# expect: LINE:COL SEVERITY CODE [PATH]" line.
type expectation struct {
	line, col int
	sev       Severity
	code      Code
	path      string
}

func (e expectation) String() string {
	return fmt.Sprintf("%d:%d %s %s %s", e.line, e.col, e.sev, e.code, e.path)
}

func (e expectation) matches(d Diagnostic) bool {
	return d.Pos.Line == e.line && d.Pos.Column == e.col && d.Severity == e.sev && d.Code == e.code &&
		(e.path == "" || d.Path == e.path)
}

func readExpectations(t *testing.T, file string, src []byte) []expectation {
	t.Helper()
	if side, err := os.ReadFile(file + ".expect"); err == nil {
		src = side
	}
	var out []expectation
	sc := bufio.NewScanner(bytes.NewReader(src))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "# expect: ")
		if !ok {
			continue
		}
		var e expectation
		var sev, code string
		n, _ := fmt.Sscanf(rest, "%d:%d %s %s %s", &e.line, &e.col, &sev, &code, &e.path)
		if n < 4 {
			t.Fatalf("%s: bad expect line %q", file, sc.Text())
		}
		e.sev, e.code = Severity(sev), Code(code)
		out = append(out, e)
	}
	return out
}

// parseBounded runs Parse with a guard: hostile input must never hang the
// decoder. The guard is generous (timings are measured by the benchmarks).
func parseBounded(t testing.TB, file string, src []byte) (*Document, Diagnostics) {
	t.Helper()
	type result struct {
		doc   *Document
		diags Diagnostics
	}
	ch := make(chan result, 1)
	go func() {
		doc, diags := Parse(file, src)
		ch <- result{doc, diags}
	}()
	select {
	case r := <-ch:
		return r.doc, r.diags
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: Parse did not return within 10s", file)
		return nil, nil
	}
}

func specFiles(t testing.TB, pattern string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot, pattern))
	if err != nil || len(files) == 0 {
		t.Fatalf("no files match %s (err %v)", pattern, err)
	}
	var out []string
	for _, f := range files {
		if !strings.HasSuffix(f, ".expect") && !strings.HasSuffix(f, ".md") {
			out = append(out, f)
		}
	}
	return out
}

func TestValidSpecs(t *testing.T) {
	files := append(specFiles(t, "examples/*"), specFiles(t, "testdata/specs/valid/*")...)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			doc, diags := parseBounded(t, file, src)
			if diags.HasErrors() {
				t.Fatalf("unexpected errors:\n%s", diags.Error())
			}
			if doc.Spec == nil || doc.Spec.Base == "" || doc.Spec.Init == "" || doc.Spec.Architecture == "" {
				t.Fatalf("spec not decoded and normalised: %+v", doc.Spec)
			}
		})
	}
}

func TestInvalidSpecs(t *testing.T) {
	for _, file := range specFiles(t, "testdata/specs/invalid/*") {
		t.Run(filepath.Base(file), func(t *testing.T) {
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			want := readExpectations(t, file, src)
			if len(want) == 0 {
				t.Fatalf("fixture has no # expect: lines")
			}
			_, diags := parseBounded(t, filepath.Base(file), src)
			if !diags.HasErrors() {
				t.Fatalf("expected errors, got none")
			}
			for _, w := range want {
				found := false
				for _, d := range diags {
					found = found || w.matches(d)
				}
				if !found {
					t.Errorf("missing diagnostic %s; got:\n%s", w, dump(diags))
				}
			}
			for _, d := range diags.Errors() {
				listed := false
				for _, w := range want {
					listed = listed || w.matches(d)
				}
				if !listed {
					t.Errorf("unexpected error %s", d)
				}
			}
			for _, d := range diags {
				if d.File != filepath.Base(file) || !d.Pos.IsValid() || d.Message == "" {
					t.Errorf("diagnostic lacks file, position or message: %+v", d)
				}
			}
		})
	}
}

func dump(ds Diagnostics) string {
	var b strings.Builder
	for _, d := range ds {
		fmt.Fprintf(&b, "  %d:%d %s %s %s: %s\n", d.Pos.Line, d.Pos.Column, d.Severity, d.Code, d.Path, d.Message)
	}
	return b.String()
}
