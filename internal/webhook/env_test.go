package webhook

import (
	"testing"
	"time"
)

func TestLimitsFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    Config
		wantErr bool
	}{
		{name: "unset", env: map[string]string{}, want: Config{}},
		{name: "all set", env: map[string]string{"WEBHOOK_BODY_BUDGET": "67108864", "WEBHOOK_MAX_CONNS": "100", "WEBHOOK_REPLAY_WINDOW": "2h"},
			want: Config{BodyBudget: 64 << 20, MaxConns: 100, ReplayWindow: 2 * time.Hour}},
		{name: "replay check off", env: map[string]string{"WEBHOOK_REPLAY_WINDOW": "0"}, want: Config{ReplayWindow: -1}},
		{name: "bad budget", env: map[string]string{"WEBHOOK_BODY_BUDGET": "lots"}, wantErr: true},
		{name: "negative conns", env: map[string]string{"WEBHOOK_MAX_CONNS": "-1"}, wantErr: true},
		{name: "negative window", env: map[string]string{"WEBHOOK_REPLAY_WINDOW": "-1h"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Config
			err := LimitsFromEnv(&got, func(k string) string { return tt.env[k] })
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want one: %v", err, tt.wantErr)
			}
			if !tt.wantErr && (got.BodyBudget != tt.want.BodyBudget || got.MaxConns != tt.want.MaxConns || got.ReplayWindow != tt.want.ReplayWindow) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	// A budget smaller than the largest body is refused at start.
	if _, err := New(Config{Secret: "s", Store: stubStore{}, Intake: stubIntake{}, BodyBudget: 1 << 20}); err == nil {
		t.Fatal("started with a body budget under the largest body")
	}
}
