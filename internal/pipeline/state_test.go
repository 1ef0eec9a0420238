package pipeline

import (
	"testing"

	"github.com/linux-builder/linux-builder/internal/run"
)

func TestTransition(t *testing.T) {
	tests := []struct {
		name    string
		from    run.State
		ev      Event
		want    run.State
		wantErr bool
	}{
		{"start", run.Pending, Next, run.Validating, false},
		{"validated", run.Validating, Next, run.Generating, false},
		{"rendered", run.Generating, Next, run.Building, false},
		{"built", run.Building, Next, run.ISOGenerating, false},
		{"iso made", run.ISOGenerating, Next, run.DiskGenerating, false},
		{"disks made", run.DiskGenerating, Next, run.BootTesting, false},
		{"booted", run.BootTesting, Next, run.Complete, false},
		{"cache hit", run.Generating, CacheHit, run.Complete, false},
		{"cache hit elsewhere", run.Building, CacheHit, "", true},
		{"iso failed", run.ISOGenerating, SoftFail, run.Complete, false},
		{"boot failed", run.BootTesting, SoftFail, run.Complete, false},
		{"no publishing step", "UPLOADING", Next, "", true},
		{"build cannot soft-fail", run.Building, SoftFail, "", true},
		{"validation cannot soft-fail", run.Validating, SoftFail, "", true},
		{"unknown event", run.Building, "explode", "", true},
		{"unknown state", "WEIRD", Next, "", true},
	}
	for _, s := range run.Order {
		tests = append(tests,
			struct {
				name    string
				from    run.State
				ev      Event
				want    run.State
				wantErr bool
			}{"cancel from " + string(s), s, Cancel, run.Cancelled, false},
			struct {
				name    string
				from    run.State
				ev      Event
				want    run.State
				wantErr bool
			}{"fail from " + string(s), s, Fail, run.Failed, false})
	}
	for _, s := range []run.State{run.Complete, run.Failed, run.Cancelled} {
		for _, ev := range []Event{Next, Fail, Cancel, SoftFail, CacheHit} {
			tests = append(tests, struct {
				name    string
				from    run.State
				ev      Event
				want    run.State
				wantErr bool
			}{string(ev) + " after " + string(s), s, ev, "", true})
		}
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Transition(tc.from, tc.ev)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("Transition(%s, %s) = %q, %v; want %q, err %v", tc.from, tc.ev, got, err, tc.want, tc.wantErr)
			}
		})
	}
}
