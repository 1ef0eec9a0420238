package main

import (
	"context"
	"strings"
	"testing"

	"github.com/linux-builder/linux-builder/internal/api"
	"github.com/linux-builder/linux-builder/internal/store"
)

// TestTokenCommands: create prints the token alone on standard output,
// once; the store keeps its hash only; list never shows it; revoke ends
// it.
func TestTokenCommands(t *testing.T) {
	dir := t.TempDir()
	db := []string{"--database-url", "", "--data-dir", dir}
	if code, _, stderr := runBot(t, "", append([]string{"migrate", "up"}, db...)...); code != 0 {
		t.Fatalf("migrate: %s", stderr)
	}
	code, out, stderr := runBot(t, "", append([]string{"token", "create", "--name", "ci", "--scope", "build"}, db...)...)
	if code != 0 {
		t.Fatalf("create: exit %d: %s", code, stderr)
	}
	token := strings.TrimSuffix(out, "\n")
	if !strings.HasPrefix(token, api.TokenPrefix) || strings.ContainsAny(token, " \n") || len(token) != 47 {
		t.Fatalf("standard output %q is not one token", out)
	}
	if strings.Contains(stderr, token) {
		t.Fatal("the token is printed on standard error too")
	}
	if code, _, stderr := runBot(t, "", append([]string{"token", "create", "--name", "ci", "--scope", "read"}, db...)...); code != 1 || !strings.Contains(stderr, "revoke it first") {
		t.Fatalf("a live name again: exit %d: %s", code, stderr)
	}
	for _, bad := range [][]string{{"--name", "ci2", "--scope", "root"}, {"--name", "a b", "--scope", "read"}, {"--scope", "read"}} {
		if code, _, _ := runBot(t, "", append(append([]string{"token", "create"}, bad...), db...)...); code != 2 {
			t.Fatalf("create %v: exit %d, want 2", bad, code)
		}
	}
	for _, format := range []string{"", "--json"} {
		args := append([]string{"token", "list", "--all"}, db...)
		if format != "" {
			args = append(args, format)
		}
		code, out, stderr := runBot(t, "", args...)
		if code != 0 || !strings.Contains(out, "ci") || !strings.Contains(out, "build") || strings.Contains(out, token) || strings.Contains(out, api.HashToken(token)) {
			t.Fatalf("list %s: exit %d\n%s%s", format, code, out, stderr)
		}
	}
	s, err := (&storeFlags{dataDir: dir}).openReady(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if tk, err := s.TokenByHash(context.Background(), api.HashToken(token)); err != nil || tk.Name != "ci" || tk.Scope != store.ScopeBuild {
		t.Fatalf("the stored token: %+v %v", tk, err)
	}
	if code, _, stderr := runBot(t, "", append([]string{"token", "revoke", "ci"}, db...)...); code != 0 {
		t.Fatalf("revoke: %s", stderr)
	}
	if _, err := s.TokenByHash(context.Background(), api.HashToken(token)); err == nil {
		t.Fatal("a revoked token is still found")
	}
	if code, _, _ := runBot(t, "", append([]string{"token", "revoke", "ci"}, db...)...); code != 1 {
		t.Fatalf("revoke twice: exit %d, want 1", code)
	}
}
