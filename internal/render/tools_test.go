package render

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// requireTool finds a linter. Under CI=true a missing tool fails the test:
// .ci/run installs them all, so absence means the proof did not run.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed; .ci/run must install it", name)
		}
		t.Skipf("%s is not installed (install it, or run bash .ci/run)", name)
	}
	return p
}

// runTool runs a linter on data written to a temporary file named like
// the context file, and fails with its output when it exits non-zero.
func runTool(t *testing.T, what string, data []byte, name string, args ...string) {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, filepath.Base(what))
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	full := make([]string, 0, len(args))
	for _, a := range args {
		full = append(full, strings.ReplaceAll(a, "FILE", file))
	}
	cmd := exec.Command(requireTool(t, name), full...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Errorf("%s: %s %s: %v\n%s\n--- file ---\n%s", what, name, strings.Join(args, " "), err, out.String(), numbered(data))
	}
}

func numbered(b []byte) string {
	var s strings.Builder
	for i, l := range strings.Split(string(b), "\n") {
		fmt.Fprintf(&s, "%4d  %s\n", i+1, l)
	}
	return s.String()
}

// checkDockerfile parses the Dockerfile with BuildKit's own parser and
// instruction decoder, fails on any BuildKit lint warning, and checks that
// every COPY source exists in the context.
func checkDockerfile(t *testing.T, c *Context) {
	t.Helper()
	checkDockerfileCopies(t, c, true)
}

// checkDockerfileCopies is checkDockerfile; mustCopy asks for at least one
// COPY (the system image's Dockerfile has none where the distribution needs
// no package manager settings).
func checkDockerfileCopies(t *testing.T, c *Context, mustCopy bool) {
	t.Helper()
	df := c.File("Dockerfile")
	if df == nil {
		t.Fatal("no Dockerfile")
	}
	res, err := parser.Parse(bytes.NewReader(df.Data))
	if err != nil {
		t.Fatalf("Dockerfile does not parse: %v", err)
	}
	for _, w := range res.Warnings {
		t.Errorf("Dockerfile parser warning: %s", w.Short)
	}
	var lintWarnings []string
	lint := linter.New(&linter.Config{Warn: func(rule, _, _, msg string, _ []parser.Range) {
		lintWarnings = append(lintWarnings, rule+": "+msg)
	}})
	stages, _, err := instructions.Parse(res.AST, lint)
	if err != nil {
		t.Fatalf("Dockerfile instructions: %v", err)
	}
	if len(lintWarnings) > 0 {
		t.Errorf("BuildKit lint warnings:\n%s", strings.Join(lintWarnings, "\n"))
	}
	if len(stages) == 0 {
		t.Fatal("Dockerfile has no stage")
	}
	copies := 0
	for _, st := range stages {
		for _, cmd := range st.Commands {
			cp, ok := cmd.(*instructions.CopyCommand)
			if !ok {
				continue
			}
			copies++
			for _, src := range cp.SourcePaths {
				prefix := strings.TrimSuffix(src, "/") + "/"
				found := false
				for _, f := range c.Files {
					found = found || f.Path == src || strings.HasPrefix(f.Path, prefix)
				}
				if !found {
					t.Errorf("COPY source %s is not in the context", src)
				}
			}
		}
	}
	if copies == 0 && mustCopy {
		t.Errorf("Dockerfile copies nothing from the context")
	}
}

// lintFile checks one context file with the real tool for its kind. It
// returns the tool's name, or "" when no tool applies.
func lintFile(t *testing.T, f File, fail2banDir string) string {
	t.Helper()
	p := f.Path
	switch {
	case strings.HasPrefix(p, "post-install/"):
		return "" // the user's own scripts
	case strings.HasSuffix(p, "/.bashrc"):
		runTool(t, p, f.Data, "shellcheck", "-s", "bash", "FILE")
		runTool(t, p, f.Data, "bash", "-n", "FILE")
		return "shellcheck+bash -n"
	case strings.HasSuffix(p, "/.zshrc") || strings.HasSuffix(p, "/.zpreztorc"):
		runTool(t, p, f.Data, "zsh", "-n", "FILE")
		return "zsh -n"
	case strings.HasSuffix(p, "/config.fish"):
		runTool(t, p, f.Data, "fish", "--no-execute", "FILE")
		return "fish --no-execute"
	case strings.HasSuffix(p, ".nft"):
		runTool(t, p, f.Data, "nft", "-c", "-f", "FILE")
		return "nft -c"
	case strings.HasSuffix(p, "/iptables.rules") || strings.HasSuffix(p, "/ufw/user.rules"):
		runTool(t, p, f.Data, "iptables-restore", "--test", "FILE")
		return "iptables-restore --test"
	case strings.HasSuffix(p, "/ip6tables.rules") || strings.HasSuffix(p, "/ufw/user6.rules"):
		runTool(t, p, f.Data, "ip6tables-restore", "--test", "FILE")
		return "ip6tables-restore --test"
	case strings.HasSuffix(p, "/jail.local"):
		checkFail2ban(t, f.Data, fail2banDir)
		return "fail2ban-client -t"
	case strings.HasSuffix(p, ".toml"):
		var v map[string]any
		if _, err := toml.Decode(string(f.Data), &v); err != nil {
			t.Errorf("%s: TOML: %v", p, err)
		}
		return "toml"
	case strings.HasSuffix(p, "/grub.d/90-linux-builder.cfg"):
		runTool(t, p, f.Data, "shellcheck", "-s", "sh", "FILE")
		return "shellcheck"
	case bytes.HasPrefix(f.Data, []byte("#!/bin/sh")) || bytes.HasPrefix(f.Data, []byte("#!/sbin/openrc-run")):
		runTool(t, p, f.Data, "shellcheck", "-s", "sh", "FILE")
		runTool(t, p, f.Data, "sh", "-n", "FILE")
		return "shellcheck+sh -n"
	}
	return ""
}

// checkFail2ban runs fail2ban's own configuration test on a copy of the
// installed configuration with the rendered jail.local added.
func checkFail2ban(t *testing.T, jail []byte, base string) {
	t.Helper()
	requireTool(t, "fail2ban-client")
	dir := filepath.Join(t.TempDir(), "fail2ban")
	if err := exec.Command("cp", "-a", base, dir).Run(); err != nil {
		t.Fatalf("copy %s: %v", base, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "jail.local"), jail, 0o644); err != nil {
		t.Fatal(err)
	}
	// The sshd jail needs a log to read when the backend is not systemd.
	logDir := t.TempDir()
	logFile := filepath.Join(logDir, "auth.log")
	if err := os.WriteFile(logFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	paths := fmt.Sprintf("[DEFAULT]\nsshd_log = %s\nsyslog_authpriv = %s\n", logFile, logFile)
	if err := os.WriteFile(filepath.Join(dir, "paths-overrides.local"), []byte(paths), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("fail2ban-client", "-c", dir, "-t").CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("OK")) {
		t.Errorf("fail2ban-client -t: %v\n%s\n--- jail.local ---\n%s", err, out, jail)
	}
}
