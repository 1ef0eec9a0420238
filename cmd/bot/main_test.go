package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/linux-builder/linux-builder/internal/pipeline"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/spec"
	"github.com/linux-builder/linux-builder/internal/store"
)

func runBot(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := cli(args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestValidateExamplesExitZero(t *testing.T) {
	examples, err := filepath.Glob("../../examples/*.yaml")
	if err != nil || len(examples) < 8 {
		t.Fatalf("examples: %v %v", examples, err)
	}
	code, out, stderr := runBot(t, "", append([]string{"validate"}, examples...)...)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, stderr)
	}
	if strings.Contains(out, ": error: ") {
		t.Fatalf("errors printed:\n%s", out)
	}
}

func TestValidateMACConflictNamesLineAndPath(t *testing.T) {
	file := "../../testdata/specs/invalid/mac-conflict.yaml"
	code, out, _ := runBot(t, "", "validate", file)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	want := file + ":12:3: error: securityFeatures.mac: AppArmor and SELinux cannot both be enabled"
	if !strings.Contains(out, want) {
		t.Fatalf("output lacks %q:\n%s", want, out)
	}
}

func TestValidateJSONFormat(t *testing.T) {
	code, out, _ := runBot(t, "", "validate", "--format", "json", "../../testdata/specs/invalid/unknown-field.yaml", "../../examples/minimal-debian.yaml")
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	var rep spec.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if rep.Valid || rep.Errors != 2 || len(rep.Diagnostics) != 2 {
		t.Fatalf("report %+v", rep)
	}
	d := rep.Diagnostics[0]
	if d.Pos.Line != 6 || d.Pos.Column != 3 || d.Path != "display.compositr" || d.Code != spec.CodeUnknownField || d.Hint == "" {
		t.Fatalf("first diagnostic %+v", d)
	}
}

func TestValidateStdinAndMissingFile(t *testing.T) {
	code, out, _ := runBot(t, "base: debian\n", "validate", "-")
	if code != 0 || out != "" {
		t.Fatalf("stdin: exit %d out %q", code, out)
	}
	code, out, _ = runBot(t, "", "validate", "does-not-exist.yaml")
	if code != 1 || !strings.Contains(out, "does-not-exist.yaml: error: read spec:") {
		t.Fatalf("missing file: exit %d out %q", code, out)
	}
}

func TestValidateOversizeFileIsNotReadWhole(t *testing.T) {
	big := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(big, bytes.Repeat([]byte("# x\n"), 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runBot(t, "", "validate", big)
	if code != 1 || !strings.Contains(out, "the limit is 262144 bytes") {
		t.Fatalf("exit %d out %q", code, out)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"validate"}, {"validate", "--format", "xml", "x.yaml"}, {"--no-such-flag"}, {"--log-level", "loud", "schema"}} {
		code, _, stderr := runBot(t, "", args...)
		if code != 2 || stderr == "" {
			t.Errorf("%v: exit %d stderr %q, want 2 and a message", args, code, stderr)
		}
	}
}

func TestSchemaCommandPrintsCommittedSchema(t *testing.T) {
	code, out, _ := runBot(t, "", "schema")
	want, err := os.ReadFile("../../schema/linux-build.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if code != 0 || out != string(want) {
		t.Fatalf("exit %d; schema output differs from the committed file", code)
	}
}

func TestHelpListsCommands(t *testing.T) {
	code, out, _ := runBot(t, "", "--help")
	if code != 0 || !strings.Contains(out, "validate") || !strings.Contains(out, "schema") || !strings.Contains(out, "LOG_FORMAT") {
		t.Fatalf("exit %d help:\n%s", code, out)
	}
}

func TestRenderWritesAContext(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ctx")
	code, out, stderr := runBot(t, "", "render", "../../examples/minimal-debian.yaml", "-o", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if len(strings.TrimSpace(out)) != 64 {
		t.Fatalf("want the context hash on stdout, got %q", out)
	}
	// The system image's Dockerfile starts FROM the distribution's image.
	df, err := os.ReadFile(filepath.Join(dir, "system", "Dockerfile"))
	if err != nil || !strings.Contains(string(df), "FROM debian:bookworm") {
		t.Fatalf("Dockerfile: %v\n%s", err, df)
	}
	// The same spec renders to the same hash.
	code, out2, _ := runBot(t, "", "render", "../../examples/minimal-debian.yaml", "-o", filepath.Join(t.TempDir(), "again"))
	if code != 0 || out2 != out {
		t.Fatalf("second render: exit %d hash %q vs %q", code, out2, out)
	}
}

func TestRenderDistroOverride(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ctx")
	code, _, stderr := runBot(t, "", "render", "../../examples/minimal-debian.yaml", "--distro", "fedora", "-o", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	df, _ := os.ReadFile(filepath.Join(dir, "system", "Dockerfile"))
	if !strings.Contains(string(df), "FROM fedora:40") {
		t.Fatalf("not rendered for fedora:\n%s", df)
	}
	// An init the new distribution lacks is an error at the spec's line.
	code, _, stderr = runBot(t, "", "render", "../../examples/minimal-debian.yaml", "--distro", "alpine", "-o", filepath.Join(t.TempDir(), "x"))
	if code != 1 || !strings.Contains(stderr, "minimal-debian.yaml:9:1: error: init:") {
		t.Fatalf("exit %d stderr %q", code, stderr)
	}
	code, _, _ = runBot(t, "", "render", "../../examples/minimal-debian.yaml", "--distro", "plan9", "-o", filepath.Join(t.TempDir(), "y"))
	if code != 2 {
		t.Fatalf("unknown distro: exit %d, want 2", code)
	}
}

func TestRenderRefusesInvalidSpec(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ctx")
	code, _, stderr := runBot(t, "", "render", "../../testdata/specs/invalid/mac-conflict.yaml", "-o", dir)
	if code != 1 || !strings.Contains(stderr, "securityFeatures.mac") {
		t.Fatalf("exit %d stderr %q", code, stderr)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Fatal("a context was written for an invalid spec")
	}
}

func TestMigrateSQLite(t *testing.T) {
	dir := t.TempDir()
	code, out, stderr := runBot(t, "", "migrate", "up", "--database-url", "", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "applied 20261126000001") || !strings.Contains(out, "applied river_") {
		t.Fatalf("up: exit %d\n%s%s", code, out, stderr)
	}
	code, out, _ = runBot(t, "", "migrate", "status", "--database-url", "", "--data-dir", dir)
	if code != 0 || strings.Contains("\n"+out, "\npending ") || !strings.Contains(out, "applied  20261126000001_initial") {
		t.Fatalf("status: exit %d\n%s", code, out)
	}
	code, out, _ = runBot(t, "", "migrate", "down", "--database-url", "", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "rolled back 20261126000001") {
		t.Fatalf("down: exit %d\n%s", code, out)
	}
	code, out, _ = runBot(t, "", "migrate", "status", "--database-url", "", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "pending  20261126000001_initial") {
		t.Fatalf("status after down: exit %d\n%s", code, out)
	}
	if code, _, _ := runBot(t, "", "migrate", "sideways"); code != 2 {
		t.Fatalf("bad argument: exit %d", code)
	}
	if code, _, stderr := runBot(t, "", "migrate", "up", "--database-url", "mysql://x"); code != 1 || !strings.Contains(stderr, "want postgres://") {
		t.Fatalf("bad URL: exit %d %s", code, stderr)
	}
}

func TestDisplay(t *testing.T) {
	var buf bytes.Buffer
	d := newDisplay(&buf)
	ctx := context.Background()
	d.Transition(ctx, 1, run.Pending, run.Validating, "")
	d.Log(ctx, pipeline.LogLine{Step: run.Validating, Message: "checking"})
	d.Transition(ctx, 1, run.Validating, run.Failed, "the spec has 1 error(s)")
	out := buf.String()
	for _, want := range []string{"● VALIDATING", "[VALIDATING] checking", "✗ VALIDATING", "■ FAILED: the spec has 1 error(s)"} {
		if !strings.Contains(out, want) {
			t.Errorf("display output lacks %q:\n%s", want, out)
		}
	}
}

// bot build wires the real engine: an image-only build of the minimal
// example completes and lists its artifacts; a second is a cache hit.
func TestBuildImageOnly(t *testing.T) {
	if err := exec.Command("docker", "image", "inspect", "debian:bookworm").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("docker with debian:bookworm is needed: %v", err)
		}
		t.Skipf("docker with debian:bookworm is needed: %v", err)
	}
	dir := t.TempDir()
	args := []string{"build", "../../examples/minimal-debian.yaml", "--no-iso", "--keep-image=false", "--database-url", "", "--data-dir", dir, "-o", filepath.Join(dir, "out")}
	code, out, stderr := runBot(t, "", args...)
	if code != 0 || !strings.Contains(out, "run 1 SUCCESS (COMPLETE)") || !strings.Contains(out, "image.tar.zst") || !strings.Contains(out, "ISO generation is not configured") {
		t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "out", "image.tar.zst")); err != nil {
		t.Fatalf("artifact not linked into -o: %v", err)
	}
	code, out, _ = runBot(t, "", args...)
	if code != 0 || !strings.Contains(out, "cache hit: run 1") {
		t.Fatalf("second build: exit %d\n%s", code, out)
	}
}

func TestInstallationSpecPath(t *testing.T) {
	dir := t.TempDir()
	if code, out, stderr := runBot(t, "", "migrate", "up", "--database-url", "", "--data-dir", dir); code != 0 {
		t.Fatalf("migrate: %d %s %s", code, out, stderr)
	}
	db, err := store.Open(context.Background(), store.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.UpsertInstallation(context.Background(), &store.Installation{ID: 5, Account: "octo"}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	code, out, stderr := runBot(t, "", "installation", "spec-path", "5", "ci/linux-build.yaml", "--database-url", "", "--data-dir", dir)
	if code != 0 || out != "installation 5 (octo): ci/linux-build.yaml\n" {
		t.Fatalf("set: exit %d %q %s", code, out, stderr)
	}
	code, out, _ = runBot(t, "", "installation", "spec-path", "5", "", "--database-url", "", "--data-dir", dir)
	if code != 0 || out != "installation 5 (octo): (default)\n" {
		t.Fatalf("reset: exit %d %q", code, out)
	}
	if code, _, stderr := runBot(t, "", "installation", "spec-path", "6", "x.yaml", "--database-url", "", "--data-dir", dir); code != 1 || !strings.Contains(stderr, "installation 6") {
		t.Fatalf("unknown installation: exit %d %s", code, stderr)
	}
	if code, _, _ := runBot(t, "", "installation", "spec-path", "nope"); code != 2 {
		t.Fatalf("bad id: exit %d", code)
	}
}

func TestGenerate(t *testing.T) {
	answers := []string{`{"name":"x","base":"debain"}`, "Sure!\n```json\n{\"name\":\"zsh box\",\"base\":\"debian\",\"customization\":{\"shell\":\"zsh\"}}\n```"}
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/version" {
			fmt.Fprint(w, `{"version":"0.6.2"}`)
			return
		}
		a := answers[min(n, len(answers)-1)]
		n++
		_ = json.NewEncoder(w).Encode(map[string]any{"message": map[string]string{"role": "assistant", "content": a}, "done": true})
	}))
	defer srv.Close()
	code, out, stderr := runBot(t, "", "generate", "a", "debian", "with", "zsh", "--ollama-url", srv.URL)
	if code != 0 || !strings.Contains(out, "base: debian") || !strings.Contains(out, "shell: zsh") || !strings.Contains(stderr, "attempt 1: 1 problem(s)") {
		t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
	}
	answers = []string{`{"base":"debain"}`}
	n = 0
	code, out, stderr = runBot(t, "", "generate", "x", "--ollama-url", srv.URL, "--attempts", "2")
	if code != 1 || out != "" || !strings.Contains(stderr, `unknown value "debain"`) || !strings.Contains(stderr, "2 attempts") {
		t.Fatalf("never valid: exit %d\n%s\n%s", code, out, stderr)
	}
}

// `bot --version` and `bot version` print the same build facts; a test
// binary has no VCS stamp, so the gaps read "(devel)" and "unknown".
func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}} {
		var stdout, stderr bytes.Buffer
		if code := cli(args, strings.NewReader(""), &stdout, &stderr); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr.String())
		}
		if got := stdout.String(); !strings.HasPrefix(got, "bot ") || !strings.Contains(got, "\ncommit: ") ||
			!strings.Contains(got, "\nbuild date: ") || got != versionText() {
			t.Fatalf("%v printed %q", args, got)
		}
	}
}
