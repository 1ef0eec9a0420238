package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/linux-builder/linux-builder/internal/github/githubtest"
)

// lockedBuffer is an io.Writer read while a command writes to it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// bot setup end to end: the printed link, the form, GitHub's redirect
// (against the fake, as GHES), the files, and the command's exit.
func TestSetupCommand(t *testing.T) {
	fake := githubtest.New(t)
	t.Setenv("GITHUB_APP_ID", "")
	t.Setenv("SETUP_ENABLED", "")
	t.Setenv("GITHUB_URL", "")
	t.Setenv("GITHUB_API_URL", fake.APIURL())
	t.Setenv("PUBLIC_URL", "https://builder.example.com")
	out := filepath.Join(t.TempDir(), "github-app.env")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr lockedBuffer
	exit := make(chan int, 1)
	go func() {
		exit <- runContext(ctx, []string{"setup", "--addr", freeAddr(t), "--output", out}, strings.NewReader(""), &stdout, &stderr)
	}()
	link := regexp.MustCompile(`Open (http://\S+/setup\?token=\S+) to register`)
	var start string
	for deadline := time.Now().Add(20 * time.Second); start == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := link.FindStringSubmatch(stdout.String()); m != nil {
			start = m[1]
		}
	}
	if start == "" {
		t.Fatalf("no link printed; stdout %q stderr %q", stdout.String(), stderr.String())
	}
	token := strings.SplitN(start, "token=", 2)[1]
	if strings.Contains(stderr.String(), token) {
		t.Error("the token was logged")
	}
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 20 * time.Second}
	body := get(t, browser, start, http.StatusOK)
	m := regexp.MustCompile(`action="([^"]+)"`).FindStringSubmatch(body)
	if m == nil || !strings.HasPrefix(strings.ReplaceAll(m[1], "&amp;", "&"), fake.URL+"/settings/apps/new?state=") {
		t.Fatalf("form action %v, want the GHES host's new-App page", m)
	}
	action, _ := url.Parse(strings.ReplaceAll(m[1], "&amp;", "&"))
	app := fake.AddManifestCode("0123abcd")
	u, _ := url.Parse(start)
	body = get(t, browser, "http://"+u.Host+"/setup/callback?code=0123abcd&state="+url.QueryEscape(action.Query().Get("state")), http.StatusOK)
	if strings.Contains(body, app.WebhookSecret) || strings.Contains(body, app.ClientSecret) {
		t.Error("the page shows a secret")
	}
	select {
	case code := <-exit:
		if code != 0 {
			t.Fatalf("exit %d; stderr %s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("bot setup did not exit after the App was registered")
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"GITHUB_APP_ID=" + itoa64(app.ID) + "\n", "GITHUB_WEBHOOK_SECRET=" + app.WebhookSecret + "\n",
		"GITHUB_PRIVATE_KEY_PATH=" + strings.TrimSuffix(out, ".env") + ".pem\n", "GITHUB_API_URL=" + fake.URL + "/api/v3\n"} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("%s lacks %q:\n%s", out, want, raw)
		}
	}
	for _, s := range []string{app.WebhookSecret, app.ClientSecret, "PRIVATE KEY"} {
		if strings.Contains(stderr.String()+stdout.String(), s) {
			t.Errorf("a secret (%.10s…) reached the output", s)
		}
	}
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

func get(t *testing.T, c *http.Client, u string, want int) string {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("GET %s: %d, want %d: %s", u, resp.StatusCode, want, b)
	}
	return string(b)
}

func TestSetupCommandRefuses(t *testing.T) {
	t.Setenv("PUBLIC_URL", "https://builder.example.com")
	t.Setenv("GITHUB_API_URL", "")
	cases := []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"an App is configured", map[string]string{"GITHUB_APP_ID": "12", "SETUP_ENABLED": ""}, nil},
		{"SETUP_ENABLED not a bool", map[string]string{"GITHUB_APP_ID": "12", "SETUP_ENABLED": "yes please"}, nil},
		{"not loopback", map[string]string{"GITHUB_APP_ID": ""}, []string{"--addr", "0.0.0.0:0"}},
		{"no public URL", map[string]string{"GITHUB_APP_ID": "", "PUBLIC_URL": ""}, []string{"--addr", "127.0.0.1:0"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var stdout, stderr lockedBuffer
			args := append([]string{"setup", "--output", filepath.Join(t.TempDir(), "a.env")}, tc.args...)
			if code := runContext(ctx, args, strings.NewReader(""), &stdout, &stderr); code != 2 {
				t.Errorf("exit %d, want 2; stderr %s", code, stderr.String())
			}
			if strings.Contains(stdout.String(), "token=") {
				t.Error("a setup link was printed")
			}
		})
	}
}

// bot serve mounts /setup only with SETUP_ENABLED=true, and then only
// with a SETUP_TOKEN.
func TestMountSetup(t *testing.T) {
	t.Setenv("PUBLIC_URL", "https://builder.example.com")
	t.Setenv("GITHUB_API_URL", "")
	t.Setenv("GITHUB_URL", "")
	t.Setenv("SETUP_OUTPUT", filepath.Join(t.TempDir(), "github-app.env"))
	const token = "a-setup-token-of-some-length"
	status := func(app *fiber.App, path string) int {
		resp, err := app.Test(httptest.NewRequest(http.MethodGet, path, nil), 5000)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	t.Setenv("SETUP_ENABLED", "")
	app := fiber.New()
	if err := mountSetup(app, t.TempDir(), "/webhook"); err != nil {
		t.Fatal(err)
	}
	if code := status(app, "/setup?token="+token); code != http.StatusNotFound {
		t.Errorf("not enabled: %d, want 404", code)
	}
	t.Setenv("SETUP_ENABLED", "true")
	t.Setenv("SETUP_TOKEN", "short")
	if err := mountSetup(fiber.New(), t.TempDir(), "/webhook"); err == nil {
		t.Error("enabled with a short token")
	}
	t.Setenv("SETUP_TOKEN", token)
	app = fiber.New()
	if err := mountSetup(app, t.TempDir(), "/webhook"); err != nil {
		t.Fatal(err)
	}
	if code := status(app, "/setup?token="+token); code != http.StatusOK {
		t.Errorf("enabled: %d, want 200", code)
	}
	if code := status(app, "/setup?token=wrong"); code != http.StatusForbidden {
		t.Errorf("wrong token: %d, want 403", code)
	}
}
