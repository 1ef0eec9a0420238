package expose_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/metrics"
	"github.com/linux-builder/linux-builder/internal/metrics/expose"
	"github.com/linux-builder/linux-builder/internal/metrics/metricstest"
)

const token = "0123456789abcdef0123456789abcdef"

func TestSettings(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string // "" valid, else part of the error
	}{
		{"none", nil, ""},
		{"address", map[string]string{"METRICS_ADDR": "127.0.0.1:9090"}, ""},
		{"address and token", map[string]string{"METRICS_ADDR": ":9090", "METRICS_TOKEN": token}, ""},
		{"token", map[string]string{"METRICS_TOKEN": token}, ""},
		{"address without a port", map[string]string{"METRICS_ADDR": "127.0.0.1"}, "METRICS_ADDR"},
		{"short token", map[string]string{"METRICS_TOKEN": "hunter2"}, "at least 16"},
		{"token with spaces", map[string]string{"METRICS_TOKEN": " " + token}, "METRICS_TOKEN"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := expose.SettingsFromEnv(func(k string) string { return tc.env[k] })
			err := s.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("valid settings refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), token) {
				t.Fatal("the error shows the token")
			}
		})
	}
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func logTo(b *bytes.Buffer) *slog.Logger { return slog.New(slog.NewTextHandler(b, nil)) }

// On the main port, /metrics asks for the bearer token: none, a wrong
// one, one of another scheme, the token's prefix or the token with more
// after it answer 401; the token answers the exposition.
func TestMainPortNeedsTheToken(t *testing.T) {
	var logs bytes.Buffer
	s := &expose.Settings{Token: token}
	e, err := s.Expose(context.Background(), metrics.New(metrics.Options{Logger: quiet}).Handler(), logTo(&logs), true)
	if err != nil {
		t.Fatal(err)
	}
	if e.MainPort == nil || e.Addr != nil {
		t.Fatalf("exposure %+v, want the main port only", e)
	}
	for _, auth := range []string{"", "Bearer", "Bearer ", "Bearer wrong", "Basic " + token, "bearer " + token, "Bearer " + token[:16],
		"Bearer " + token + "x", "Bearer  " + token, token} {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		e.MainPort.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized || rec.Header().Get("WWW-Authenticate") == "" || strings.Contains(rec.Body.String(), "go_goroutines") {
			t.Fatalf("Authorization %q: %d %q", auth, rec.Code, rec.Body.String())
		}
	}
	sc := metricstest.Get(t, e.MainPort, "Authorization", "Bearer "+token)
	if _, ok := sc["go_goroutines"]; !ok {
		t.Fatal("no exposition with the token")
	}
	if !strings.Contains(logs.String(), "main port") || strings.Contains(logs.String(), token) {
		t.Fatalf("log %q", logs.String())
	}
}

// METRICS_ADDR is a listener of its own: /metrics answers there (with the
// token when one is set), nothing else does, and it stops with the
// context.
func TestOwnListener(t *testing.T) {
	for _, tok := range []string{"", token} {
		t.Run("token="+tok, func(t *testing.T) {
			var logs bytes.Buffer
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s := &expose.Settings{Addr: "127.0.0.1:0", Token: tok}
			e, err := s.Expose(ctx, metrics.New(metrics.Options{Logger: quiet}).Handler(), logTo(&logs), true)
			if err != nil {
				t.Fatal(err)
			}
			if e.MainPort != nil || e.Addr == nil {
				t.Fatalf("exposure %+v, want its own listener only", e)
			}
			base := "http://" + e.Addr.String()
			client := &http.Client{Timeout: 5 * time.Second}
			get := func(path, auth string) (int, string) {
				req, _ := http.NewRequest(http.MethodGet, base+path, nil)
				if auth != "" {
					req.Header.Set("Authorization", auth)
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, string(b)
			}
			code, body := get("/metrics", "Bearer "+tok)
			if code != 200 || !strings.Contains(body, "linux_builder_webhook_intake_seconds") {
				t.Fatalf("GET /metrics: %d", code)
			}
			if tok != "" {
				if code, _ := get("/metrics", ""); code != 401 {
					t.Fatalf("no token: %d", code)
				}
			}
			if code, _ := get("/debug/pprof/", ""); code != 404 {
				t.Fatalf("other path: %d", code)
			}
			resp, err := client.Post(base+"/metrics", "text/plain", strings.NewReader("x"))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusMethodNotAllowed {
				t.Fatalf("POST /metrics: %d", resp.StatusCode)
			}
			cancel()
			done := make(chan error, 1)
			go func() { done <- e.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("stopped with %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the listener did not stop")
			}
			if _, err := client.Get(base + "/metrics"); err == nil {
				t.Fatal("still answering after the context ended")
			}
		})
	}
}

// A taken METRICS_ADDR stops start-up with the address in the error.
func TestOwnListenerAddressTaken(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first, err := (&expose.Settings{Addr: "127.0.0.1:0"}).Expose(ctx, metrics.New(metrics.Options{Logger: quiet}).Handler(), quiet, false)
	if err != nil {
		t.Fatal(err)
	}
	_, err = (&expose.Settings{Addr: first.Addr.String()}).Expose(ctx, metrics.New(metrics.Options{Logger: quiet}).Handler(), quiet, false)
	if err == nil || !strings.Contains(err.Error(), first.Addr.String()) {
		t.Fatalf("second listener on the same address: %v", err)
	}
}

// Without an address or a token nothing is served, and the log says how
// to serve them; a token in a process without a main port is a warning.
func TestNotServedSaysSo(t *testing.T) {
	for _, tc := range []struct {
		name     string
		s        expose.Settings
		mainPort bool
		want     string
	}{
		{"neither", expose.Settings{}, true, "set METRICS_ADDR"},
		{"a token without a main port", expose.Settings{Token: token}, false, "no main port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			e, err := tc.s.Expose(context.Background(), metrics.New(metrics.Options{Logger: quiet}).Handler(), logTo(&logs), tc.mainPort)
			if err != nil {
				t.Fatal(err)
			}
			if e.MainPort != nil || e.Addr != nil || e.Wait() != nil {
				t.Fatalf("served: %+v", e)
			}
			if !strings.Contains(logs.String(), "metrics are not served") || !strings.Contains(logs.String(), tc.want) {
				t.Fatalf("log %q", logs.String())
			}
		})
	}
}
