package main

import (
	"testing"

	"github.com/linux-builder/linux-builder/internal/store"
)

func TestQuotasFromEnv(t *testing.T) {
	tests := []struct {
		name, commands, builds string
		wantCommands           store.Quota
		wantBuilds             store.Quota
		err                    bool
	}{
		{name: "defaults", wantCommands: store.DefaultCommandQuota, wantBuilds: store.DefaultBuildQuota},
		{name: "set", commands: "user=3", builds: "installation=0,repo=4,user=2",
			wantCommands: store.Quota{Installation: store.DefaultCommandQuota.Installation, Repo: store.DefaultCommandQuota.Repo, User: store.Limit{PerHour: 3}},
			wantBuilds:   store.Quota{Repo: store.Limit{PerHour: 4}, User: store.Limit{PerHour: 2}}},
		{name: "bad commands", commands: "everyone=1", err: true},
		{name: "bad builds", builds: "user=-2", err: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("COMMAND_QUOTA", tc.commands)
			t.Setenv("BUILD_QUOTA", tc.builds)
			c, b, err := quotasFromEnv()
			if (err != nil) != tc.err || (!tc.err && (c != tc.wantCommands || b != tc.wantBuilds)) {
				t.Fatalf("quotasFromEnv() = %+v, %+v, %v", c, b, err)
			}
		})
	}
}
