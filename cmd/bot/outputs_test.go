package main

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/linux-builder/linux-builder/internal/spec"
)

// --outputs is checked before anything is opened or built: an unknown or
// repeated output is a usage error that says so.
func TestBuildOutputsFlagRefusesWhatIsNotBuilt(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ flag, want string }{
		{"", "no output named"},
		{"iso,iso", "iso is listed twice"},
		{"vmdk", `unknown value "vmdk"`},
	} {
		code, out, stderr := runBot(t, "", "build", "../../examples/minimal-debian.yaml", "--outputs", tc.flag, "--database-url", "", "--data-dir", dir)
		if code != 2 || !strings.Contains(stderr, "--outputs: "+tc.want) {
			t.Errorf("--outputs %s: exit %d, want 2 and %q\n%s\n%s", tc.flag, code, tc.want, out, stderr)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		t.Errorf("a refused --outputs opened the data directory: %v", entries)
	}
}

// The override replaces the spec's outputs in the text the run records
// and validates; every other field stays on its line.
func TestOverrideOutputs(t *testing.T) {
	src := []byte("base: debian\noutputs:\n  - qcow2\n  - raw\ndisplay: {server: wayland, compositor: sway, bar: polybar}\n")
	got, err := overrideOutputs("linux-build.yaml", src, []string{"iso"})
	if err != nil {
		t.Fatal(err)
	}
	doc, diags := spec.Parse("linux-build.yaml", got)
	if doc.Spec == nil || !slices.Equal(doc.Spec.Outputs, []spec.Output{spec.OutputISO}) {
		t.Fatalf("outputs not overridden:\n%s", got)
	}
	// The polybar error is still at line 5, where the user wrote it.
	errs := diags.Errors()
	if len(errs) != 1 || errs[0].Path != "display.bar" || errs[0].Pos.Line != 5 {
		t.Fatalf("diagnostics after the override:\n%s", diags.Error())
	}
	if _, err := overrideOutputs("linux-build.yaml", []byte("{base: debian}"), []string{"iso"}); err == nil {
		t.Error("a flow-mapping spec was rewritten")
	}
	if _, err := overrideOutputs("x.yaml", src, []string{"vmdk"}); !errors.Is(err, errUsage) {
		t.Errorf("vmdk: %v, want a usage error", err)
	}
}
