package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/linux-builder/linux-builder/internal/webhook"
)

// testKey is a fresh RSA private key in PEM.
func testKey(t *testing.T) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
}

// What talks to GitHub as the App (`bot serve`, `bot worker`) needs the
// App's id and key, naming what is missing; not the webhook secret.
func TestAppConfigFromEnv(t *testing.T) {
	ok := map[string]string{"GITHUB_APP_ID": "1", "GITHUB_PRIVATE_KEY": testKey(t), "GITHUB_PRIVATE_KEY_PATH": "", "GITHUB_WEBHOOK_SECRET": "s"}
	tests := []struct {
		name string
		env  map[string]string
		want string // "" accepted
	}{
		{name: "complete", env: map[string]string{}},
		{name: "no app id", env: map[string]string{"GITHUB_APP_ID": ""}, want: "GITHUB_APP_ID is required"},
		{name: "app id zero", env: map[string]string{"GITHUB_APP_ID": "0"}, want: "GITHUB_APP_ID is required"},
		{name: "negative app id", env: map[string]string{"GITHUB_APP_ID": "-4"}, want: "GITHUB_APP_ID is required"},
		{name: "app id not a number", env: map[string]string{"GITHUB_APP_ID": "builder"}, want: "GITHUB_APP_ID"},
		{name: "no key", env: map[string]string{"GITHUB_PRIVATE_KEY": ""}, want: "GITHUB_PRIVATE_KEY or GITHUB_PRIVATE_KEY_PATH is required"},
		{name: "not a key", env: map[string]string{"GITHUB_PRIVATE_KEY": "key"}, want: "GITHUB_PRIVATE_KEY: want"},
		{name: "no secret: a worker checks no signature", env: map[string]string{"GITHUB_WEBHOOK_SECRET": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range ok {
				t.Setenv(k, v)
			}
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			_, err := appConfigFromEnv()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}

// A worker with the App's id and key but no webhook secret keeps its
// GitHub work (it used to drop it silently).
func TestWorkerAppWithoutWebhookSecret(t *testing.T) {
	t.Setenv("GITHUB_APP_ID", "7")
	t.Setenv("GITHUB_PRIVATE_KEY", testKey(t))
	t.Setenv("GITHUB_PRIVATE_KEY_PATH", "")
	t.Setenv("GITHUB_WEBHOOK_SECRET", "")
	app, id := workerApp()
	if app == nil || id != 7 {
		t.Fatalf("worker without a webhook secret: app %v, id %d; want the App", app, id)
	}
}

// `bot serve` receives webhooks: it still refuses to start without the
// secret, and says so.
func TestServeRequiresWebhookSecret(t *testing.T) {
	t.Setenv("GITHUB_APP_ID", "7")
	t.Setenv("GITHUB_PRIVATE_KEY", testKey(t))
	t.Setenv("GITHUB_PRIVATE_KEY_PATH", "")
	t.Setenv("GITHUB_WEBHOOK_SECRET", "")
	var stderr strings.Builder
	code := cli([]string{"serve", "--data-dir", t.TempDir(), "--database-url", "", "--workers", "0"}, strings.NewReader(""), io.Discard, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "GITHUB_WEBHOOK_SECRET is required") {
		t.Fatalf("serve without a secret: exit %d, %q", code, stderr.String())
	}
}

// The App's key may be given as the PEM GitHub hands out, as that PEM on
// one line with \n escapes, or base64-encoded (as Probot takes it): the
// worker gets a usable App from each.
func TestWorkerAppKeyForms(t *testing.T) {
	pemKey := testKey(t)
	for name, v := range map[string]string{
		"PEM":        pemKey,
		`\n-escaped`: strings.ReplaceAll(strings.TrimSpace(pemKey), "\n", `\n`),
		"base64":     base64.StdEncoding.EncodeToString([]byte(pemKey)),
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv("GITHUB_APP_ID", "7")
			t.Setenv("GITHUB_PRIVATE_KEY", v)
			t.Setenv("GITHUB_PRIVATE_KEY_PATH", "")
			if app, _ := workerApp(); app == nil {
				t.Fatal("no App from the key")
			}
		})
	}
}

// `bot serve` takes every receiver setting the lean receiver takes, by
// the same flag (one definition: webhook.Settings).
func TestServeTakesTheReceiverSettings(t *testing.T) {
	fs := flag.NewFlagSet("receiver", flag.ContinueOnError)
	webhook.SettingsFromEnv(func(string) string { return "" }, false).Register(fs)
	serve := newServeCmd()
	n := 0
	fs.VisitAll(func(f *flag.Flag) {
		n++
		if serve.Flags().Lookup(f.Name) == nil {
			t.Errorf("bot serve has no --%s", f.Name)
		}
	})
	if n < 10 {
		t.Fatalf("%d receiver flags", n)
	}
}
