package proc

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestChildSeesNoSecret is the attack: the bot's secrets are in its
// environment, and a child process prints its environment.
func TestChildSeesNoSecret(t *testing.T) {
	secrets := map[string]string{
		"GITHUB_WEBHOOK_SECRET":  "canary-webhook-secret",
		"GITHUB_APP_PRIVATE_KEY": "canary-private-key",
		"DATABASE_URL":           "postgres://u:canary-db-password@db/x",
		"AWS_SECRET_ACCESS_KEY":  "canary-aws",
		"OLLAMA_URL":             "http://user:canary-ollama@ollama",
	}
	for k, v := range secrets {
		t.Setenv(k, v)
	}
	out, err := Command(context.Background(), "env").Output()
	if err != nil {
		t.Fatalf("env: %v", err)
	}
	for _, v := range secrets {
		if strings.Contains(string(out), v) {
			t.Errorf("a child process saw %q; its environment:\n%s", v, out)
		}
	}
	for _, want := range []string{"PATH=", "LANG=C.UTF-8", "HOME=/nonexistent"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("a child process lacks %s; its environment:\n%s", want, out)
		}
	}
}

// TestOnlyProcStartsProcesses fails when non-test code outside this
// package calls os/exec's Command, CommandContext or os.StartProcess, so
// no new child process can slip past Env.
func TestOnlyProcStartsProcesses(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	self, _ := filepath.Abs(".")
	checked := 0
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && p != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") || filepath.Dir(p) == self {
			return nil
		}
		checked++
		f, err := parser.ParseFile(token.NewFileSet(), p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			if path, _ := strconv.Unquote(imp.Path.Value); path == "os/exec" {
				t.Errorf("%s imports os/exec: start child processes with internal/proc", p)
			}
		}
		full, err := parser.ParseFile(token.NewFileSet(), p, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(full, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok && sel.Sel.Name == "StartProcess" {
				if id, ok := sel.X.(*ast.Ident); ok && (id.Name == "os" || id.Name == "syscall") {
					t.Errorf("%s calls %s.StartProcess: start child processes with internal/proc", p, id.Name)
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("checked only %d files under %s: is the walk rooted right?", checked, root)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("%s is not the module root: %v", root, err)
	}
}

// TestNobodyCannotReadTheBotsEnvironment is the review's attack: a child
// reads /proc/<bot>/environ, which holds the environment the bot started
// with (secrets included) whatever the child's own environment is. As
// root it can; as nobody it cannot.
func TestNobodyCannotReadTheBotsEnvironment(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI runs as root")
		}
		t.Skip("needs root")
	}
	const canary = "canary-from-the-bots-start"
	read := func(asNobody bool) string {
		cmd := Command(context.Background(), "/bin/sh", "-c", "cat /proc/$PPID/environ 2>&1 | tr '\\0' '\\n'")
		if asNobody && !AsNobody(cmd) {
			t.Fatal("AsNobody did nothing as root")
		}
		out, _ := cmd.CombinedOutput()
		return string(out)
	}
	if os.Getenv("LINUX_BUILDER_PROC_CANARY") != canary {
		// Re-run this test in a child process whose start-up environment
		// holds the canary (a t.Setenv is not in /proc/self/environ).
		self, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(self, "-test.run", "^TestNobodyCannotReadTheBotsEnvironment$", "-test.v")
		cmd.Env = append(os.Environ(), "LINUX_BUILDER_PROC_CANARY="+canary)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestNobodyCannotReadTheBotsEnvironment") {
			t.Fatalf("%v\n%s", err, out)
		}
		return
	}
	if root := read(false); !strings.Contains(root, canary) {
		t.Fatalf("a root child could not read its parent's environment (the attack's premise):\n%s", root)
	}
	if nobody := read(true); strings.Contains(nobody, canary) {
		t.Fatalf("a child run as nobody read the bot's environment:\n%s", nobody)
	}
}
