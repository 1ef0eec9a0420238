package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/github/githubtest"
)

func TestConvertManifest(t *testing.T) {
	fake := githubtest.New(t)
	want := fake.AddManifestCode("a180b1a3d263c81bc6441d7b990bae27d4c10679")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, api := range []string{fake.URL, fake.APIURL()} { // github.com's form and GHES's /api/v3
		t.Run(api, func(t *testing.T) {
			if api == fake.APIURL() {
				want = fake.AddManifestCode("a180b1a3d263c81bc6441d7b990bae27d4c10679")
			}
			app, err := ConvertManifest(ctx, nil, api, "a180b1a3d263c81bc6441d7b990bae27d4c10679")
			if err != nil {
				t.Fatal(err)
			}
			if app.ID != want.ID || app.Slug != want.Slug || app.ClientID != want.ClientID || app.ClientSecret != want.ClientSecret ||
				app.WebhookSecret != want.WebhookSecret || app.PEM != want.PEM {
				t.Errorf("got %+v, want the fake's App %+v", app, want)
			}
			if s := fmt.Sprint(app) + fmt.Sprintf("%v", *app); strings.Contains(s, want.ClientSecret) {
				// %v of the value goes through String.
				t.Errorf("the App prints its client secret: %s", s)
			}
			// A code converts once, as on GitHub.
			if _, err := ConvertManifest(ctx, nil, api, "a180b1a3d263c81bc6441d7b990bae27d4c10679"); !errors.Is(err, ErrManifestCode) {
				t.Errorf("second conversion: %v, want ErrManifestCode", err)
			}
		})
	}
	if _, err := ConvertManifest(ctx, nil, fake.URL, "../../app/installations"); err == nil {
		t.Error("a code with a path in it was sent")
	}
	for _, c := range fake.Calls() {
		if strings.Contains(c, "installations") {
			t.Errorf("the fake saw %s", c)
		}
	}
}

func TestConvertManifestHostileAnswers(t *testing.T) {
	cases := []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"oversized", http.StatusCreated, `{"id":1,"pem":"` + strings.Repeat("A", 2<<20) + `"}`, "over"},
		{"not JSON", http.StatusCreated, `<html>`, "not the App's JSON"},
		{"no key", http.StatusCreated, `{"id":1,"slug":"x","client_id":"c","client_secret":"s","webhook_secret":"w","html_url":"https://github.com/apps/x","pem":"nope"}`, "private key"},
		{"no webhook secret", http.StatusCreated, `{"id":1,"slug":"x","client_id":"c","client_secret":"s","html_url":"https://github.com/apps/x"}`, "webhook secret"},
		{"no id", http.StatusCreated, `{"slug":"x"}`, "no App id"},
		{"server error", http.StatusInternalServerError, `{"message":"boom\nsecond line"}`, "boom second line"},
		{"validation", http.StatusUnprocessableEntity, `{"message":"Validation Failed"}`, "Validation Failed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := ConvertManifest(ctx, nil, srv.URL, "abc123")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one saying %q", err, tc.want)
			}
			if len(err.Error()) > 400 {
				t.Errorf("error of %d bytes", len(err.Error()))
			}
		})
	}
}

// A GitHub that never answers is given up on within the client's timeout.
func TestConvertManifestTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	start := time.Now()
	_, err := ConvertManifest(context.Background(), &http.Client{Timeout: 200 * time.Millisecond}, srv.URL, "abc123")
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("err = %v after %s, want a timeout", err, time.Since(start))
	}
}
