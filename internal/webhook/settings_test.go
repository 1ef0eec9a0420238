package webhook

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

// Settings come from the environment over the defaults, and a flag given
// wins over its variable; a value that does not parse is named.
func TestSettings(t *testing.T) {
	base := map[string]string{"GITHUB_WEBHOOK_SECRET": "s", "GITHUB_APP_ID": "9"}
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		migrate bool // the program's default
		want    Settings
		wantErr string
	}{
		{name: "defaults", want: Settings{ProxyHeader: "X-Real-IP", Secret: "s", AppID: 9, Addr: ":8080", Path: "/webhook", SpecPath: "linux-build.yaml",
			Committers: 2, Batch: 256, BodyBudget: DefaultBodyBudget, MaxConns: DefaultMaxConns, ReplayWindow: DefaultReplayWindow}},
		{name: "bot serve migrates by default", migrate: true, want: Settings{ProxyHeader: "X-Real-IP", Secret: "s", AppID: 9, Addr: ":8080", Path: "/webhook",
			SpecPath: "linux-build.yaml", Migrate: true, Committers: 2, Batch: 256, BodyBudget: DefaultBodyBudget, MaxConns: DefaultMaxConns,
			ReplayWindow: DefaultReplayWindow}},
		{name: "environment", env: map[string]string{"HOST": "127.0.0.1", "PORT": "9000", "WEBHOOK_PATH": "/hooks", "SPEC_PATH": "ci/l.yaml",
			"DATABASE_URL": "postgres://db/x", "MIGRATE": "true", "INTAKE_COMMITTERS": "4", "INTAKE_BATCH": "64",
			"WEBHOOK_BODY_BUDGET": "67108864", "WEBHOOK_MAX_CONNS": "100", "WEBHOOK_REPLAY_WINDOW": "0"},
			want: Settings{ProxyHeader: "X-Real-IP", Secret: "s", AppID: 9, Addr: "127.0.0.1:9000", Path: "/hooks", SpecPath: "ci/l.yaml", DatabaseURL: "postgres://db/x",
				Migrate: true, Committers: 4, Batch: 64, BodyBudget: 64 << 20, MaxConns: 100}},
		{name: "flags win", env: map[string]string{"WEBHOOK_PATH": "/hooks", "MIGRATE": "true", "GITHUB_APP_ID": "3"},
			args: []string{"--app-id", "9", "--path", "/gh", "--migrate=false", "--addr", "127.0.0.1:1", "--spec-path", "x.yaml",
				"--database-url", "postgres://db/y", "--intake-committers", "1", "--intake-batch", "8", "--webhook-body-budget", "33554432",
				"--webhook-max-conns", "10", "--webhook-replay-window", "1h"},
			want: Settings{ProxyHeader: "X-Real-IP", Secret: "s", AppID: 9, Addr: "127.0.0.1:1", Path: "/gh", SpecPath: "x.yaml", DatabaseURL: "postgres://db/y",
				Committers: 1, Batch: 8, BodyBudget: 32 << 20, MaxConns: 10, ReplayWindow: time.Hour}},
		{name: "no secret", env: map[string]string{"GITHUB_WEBHOOK_SECRET": ""}, wantErr: "GITHUB_WEBHOOK_SECRET is required"},
		{name: "no app id", env: map[string]string{"GITHUB_APP_ID": ""}, wantErr: "GITHUB_APP_ID is required"},
		{name: "app id from the flag", env: map[string]string{"GITHUB_APP_ID": ""}, args: []string{"--app-id", "9"},
			want: Settings{ProxyHeader: "X-Real-IP", Secret: "s", AppID: 9, Addr: ":8080", Path: "/webhook", SpecPath: "linux-build.yaml",
				Committers: 2, Batch: 256, BodyBudget: DefaultBodyBudget, MaxConns: DefaultMaxConns, ReplayWindow: DefaultReplayWindow}},
		{name: "app id not a number", env: map[string]string{"GITHUB_APP_ID": "my-app"}, wantErr: "GITHUB_APP_ID"},
		{name: "bad MIGRATE", env: map[string]string{"MIGRATE": "yes please"}, wantErr: "MIGRATE"},
		{name: "bad batch", env: map[string]string{"INTAKE_BATCH": "many"}, wantErr: "INTAKE_BATCH"},
		{name: "bad replay window", env: map[string]string{"WEBHOOK_REPLAY_WINDOW": "a day"}, wantErr: "WEBHOOK_REPLAY_WINDOW"},
		{name: "negative flag", args: []string{"--webhook-max-conns", "-1"}, wantErr: "--webhook-max-conns"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tt.env {
				env[k] = v
			}
			s := SettingsFromEnv(func(k string) string { return env[k] }, tt.migrate)
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			s.Register(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			err := s.Validate()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			s.envErr = nil
			if *s != tt.want {
				t.Fatalf("got  %+v\nwant %+v", *s, tt.want)
			}
		})
	}
}

// Apply hands the settings to the receiver's Config; a replay window of 0
// turns the check off.
func TestSettingsApply(t *testing.T) {
	s := Settings{Secret: "s", AppID: 9, Path: "/gh", SpecPath: "x.yaml", BodyBudget: 32 << 20, MaxConns: 10}
	var cfg Config
	s.Apply(&cfg)
	if cfg.Secret != "s" || cfg.AppID != 9 || cfg.Path != "/gh" || cfg.SpecPath != "x.yaml" || cfg.BodyBudget != 32<<20 ||
		cfg.MaxConns != 10 || cfg.ReplayWindow >= 0 {
		t.Fatalf("config %+v", cfg)
	}
}
