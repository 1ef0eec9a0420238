package render

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	linuxbuilder "github.com/linux-builder/linux-builder"
	"github.com/linux-builder/linux-builder/internal/spec"
)

var update = flag.Bool("update", false, "rewrite golden files")

const repoRoot = "../.."

func newRenderer(t testing.TB) *Renderer {
	t.Helper()
	r, err := New(linuxbuilder.Templates)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// renderFile parses an example and, when base is set, rebases it. It
// returns the context, or the diagnostics that stopped it.
func renderFile(t testing.TB, r *Renderer, file string, base spec.Base) (*Context, spec.Diagnostics) {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	doc, diags := spec.Parse(filepath.Base(file), src)
	if diags.HasErrors() {
		t.Fatalf("%s does not validate:\n%s", file, diags.Error())
	}
	if base != "" {
		if diags, err = spec.Rebase(doc, base); err != nil {
			t.Fatal(err)
		}
		if diags.HasErrors() {
			return nil, diags
		}
	}
	c, err := r.Render(doc, diags, Options{})
	if err != nil {
		t.Fatalf("render %s on %s: %v", file, base, err)
	}
	return c, nil
}

func examples(t testing.TB) []string {
	files, err := filepath.Glob(filepath.Join(repoRoot, "examples", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	return files
}

// golden formats a context (or the diagnostics that refused it) as one text
// file: a header, then each file as "-- path (mode) --" and its content.
func golden(c *Context, refused spec.Diagnostics) []byte {
	var b bytes.Buffer
	if c == nil {
		b.WriteString("# not rendered: the spec is invalid on this distribution\n")
		for _, d := range refused {
			fmt.Fprintf(&b, "# %s\n", d)
		}
		return b.Bytes()
	}
	fmt.Fprintf(&b, "# context hash %s\n# image %s\n", c.Hash, c.Image)
	for _, w := range c.Warnings {
		fmt.Fprintf(&b, "# %s\n", w)
	}
	for _, f := range c.Files {
		fmt.Fprintf(&b, "-- %s (%04o) --\n", f.Path, f.Mode)
		b.Write(f.Data)
		if len(f.Data) > 0 && f.Data[len(f.Data)-1] != '\n' {
			b.WriteString("\n")
		}
	}
	return b.Bytes()
}

// TestRenderExamplesOnEveryDistro renders every example on every
// distribution, proves each context with the real tools, and compares it
// with its golden file.
func TestRenderExamplesOnEveryDistro(t *testing.T) {
	r := newRenderer(t)
	tools := map[spec.Base]map[string]bool{}
	rendered := 0
	extra, err := filepath.Glob(filepath.Join("testdata", "specs", "*.yaml"))
	if err != nil || len(extra) == 0 {
		t.Fatalf("no render test specs: %v", err)
	}
	for _, file := range append(examples(t), extra...) {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		for _, base := range spec.Bases {
			t.Run(name+"/"+string(base), func(t *testing.T) {
				c, refused := renderFile(t, r, file, base)
				goldenFile := filepath.Join("testdata", "golden", name, string(base)+".txt")
				got := golden(c, refused)
				if *update {
					if err := os.MkdirAll(filepath.Dir(goldenFile), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(goldenFile, got, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(goldenFile)
				if err != nil {
					t.Fatalf("%v (run with -update to create)", err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s differs from the rendered context; run go test ./internal/render -update and review the diff", goldenFile)
				}
				if c == nil {
					return
				}
				rendered++
				checkDockerfile(t, c)
				checkDockerfileCopies(t, c.System, false)
				if tools[base] == nil {
					tools[base] = map[string]bool{"buildkit parser": true}
				}
				for _, f := range c.Files {
					if tool := lintFile(t, f, "/etc/fail2ban"); tool != "" {
						tools[base][tool] = true
					}
				}
			})
		}
	}
	if rendered < 70 {
		t.Errorf("only %d example×distro contexts rendered", rendered)
	}
	// The per-distro list of what the real tools proved, for the record.
	for _, base := range spec.Bases {
		var names []string
		for n := range tools[base] {
			names = append(names, n)
		}
		sort.Strings(names)
		t.Logf("%-8s verified by: %s", base, strings.Join(names, ", "))
	}
}

func TestRenderIsDeterministic(t *testing.T) {
	r := newRenderer(t)
	for _, file := range examples(t) {
		a, _ := renderFile(t, r, file, "")
		b, _ := renderFile(t, r, file, "")
		if a.Hash != b.Hash || !bytes.Equal(golden(a, nil), golden(b, nil)) {
			t.Fatalf("%s: two renders differ", file)
		}
		var ta, tb bytes.Buffer
		if err := a.WriteTar(&ta); err != nil {
			t.Fatal(err)
		}
		if err := b.WriteTar(&tb); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ta.Bytes(), tb.Bytes()) {
			t.Fatalf("%s: tar streams differ", file)
		}
	}
	// A change anywhere changes the hash.
	a, _ := renderFile(t, r, filepath.Join(repoRoot, "examples", "minimal-debian.yaml"), "")
	c, _ := renderFile(t, r, filepath.Join(repoRoot, "examples", "minimal-debian.yaml"), spec.BaseUbuntu)
	if a.Hash == c.Hash || a.SpecHash == c.SpecHash {
		t.Fatal("different specs share a hash")
	}
}

func TestWriteDirRefusesNonEmptyDir(t *testing.T) {
	r := newRenderer(t)
	c, _ := renderFile(t, r, filepath.Join(repoRoot, "examples", "minimal-debian.yaml"), "")
	dir := t.TempDir()
	if err := c.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, "rootfs/usr/local/lib/linux-builder/setup.sh"))
	if err != nil || st.Mode().Perm() != 0o755 {
		t.Fatalf("setup.sh: %v %v", st, err)
	}
	if err := c.WriteDir(dir); err == nil {
		t.Fatal("wrote into a non-empty directory")
	}
}
