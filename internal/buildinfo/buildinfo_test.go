package buildinfo

import (
	"runtime/debug"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	stamped := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.0"}, Settings: []debug.BuildSetting{
		{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
		{Key: "vcs.time", Value: "2026-11-30T12:00:00Z"}, {Key: "vcs.modified", Value: "true"},
	}}
	tests := []struct {
		name         string
		bi           *debug.BuildInfo
		ok           bool
		commit, date string
		want         string
	}{
		{name: "no build info", want: "bot (devel)\ncommit: unknown\ncommit date: unknown\nbuild date: unknown\ngo: unknown\n"},
		{name: "-buildvcs=false, a checkout", bi: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}, ok: true,
			want: "bot (devel)\ncommit: unknown\ncommit date: unknown\nbuild date: unknown\ngo: go1.26.8\n"},
		{name: "-buildvcs=false with -ldflags -X", bi: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}, ok: true,
			commit: "abc123", date: "2026-11-30T23:00:00Z",
			want: "bot (devel)\ncommit: abc123\ncommit date: unknown\nbuild date: 2026-11-30T23:00:00Z\ngo: go1.26.8\n"},
		{name: "stamped", bi: stamped, ok: true,
			want: "bot v1.2.0\ncommit: 0123456789abcdef0123456789abcdef01234567 (modified)\ncommit date: 2026-11-30T12:00:00Z\nbuild date: unknown\ngo: go1.26.8\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			Commit, BuildDate = tt.commit, tt.date
			t.Cleanup(func() { Commit, BuildDate = "", "" })
			if got := FromBuildInfo(tt.bi, tt.ok).String("bot"); got != tt.want {
				t.Fatalf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}
