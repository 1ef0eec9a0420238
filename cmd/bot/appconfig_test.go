package main

import (
	"strings"
	"testing"
)

// `bot serve` (and `bot worker`) refuse to start without the App's id,
// key and webhook secret, naming what is missing.
func TestAppConfigFromEnv(t *testing.T) {
	ok := map[string]string{"GITHUB_APP_ID": "1", "GITHUB_PRIVATE_KEY": "key", "GITHUB_PRIVATE_KEY_PATH": "", "GITHUB_WEBHOOK_SECRET": "s"}
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
		{name: "no key", env: map[string]string{"GITHUB_PRIVATE_KEY": ""}, want: "GITHUB_PRIVATE_KEY"},
		{name: "no secret", env: map[string]string{"GITHUB_WEBHOOK_SECRET": ""}, want: "GITHUB_WEBHOOK_SECRET"},
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
