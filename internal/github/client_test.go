package github

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"github.com/linux-builder/linux-builder/internal/github/githubtest"
)

func testKey(t testing.TB) []byte {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
}

func TestFetchFileAtSHA(t *testing.T) {
	fake := githubtest.New(t)
	fake.SetFile("octo/repo", "abc123", "linux-build.yaml", []byte("base: debian\n"))
	app, err := NewApp(Config{AppID: 42, PrivateKey: testKey(t), APIURL: fake.APIURL()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	got, err := app.FetchFile(ctx, 7, "octo/repo", "linux-build.yaml", "abc123")
	if err != nil || string(got) != "base: debian\n" {
		t.Fatalf("fetch: %q %v", got, err)
	}
	if _, err := app.FetchFile(ctx, 7, "octo/repo", "linux-build.yaml", "def456"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing file: %v", err)
	}
	calls := strings.Join(fake.Calls(), "\n")
	if strings.Count(calls, "POST /app/installations/7/access_tokens") != 1 || strings.Count(calls, "GET /repos/octo/repo/contents/linux-build.yaml") != 2 {
		t.Fatalf("calls:\n%s", calls)
	}
}

func TestNewAppNeedsAKey(t *testing.T) {
	if _, err := NewApp(Config{AppID: 1}); err == nil {
		t.Fatal("accepted an app without a key")
	}
	if _, err := NewApp(Config{AppID: 1, PrivateKey: []byte("not a key")}); err == nil {
		t.Fatal("accepted a broken key")
	}
}
