package pipeline

import "testing"

func TestTransition(t *testing.T) {
	tests := []struct {
		name    string
		from    State
		ev      Event
		want    State
		wantErr bool
	}{
		{"start", Pending, Next, Validating, false},
		{"validated", Validating, Next, Generating, false},
		{"rendered", Generating, Next, Building, false},
		{"built", Building, Next, ISOGenerating, false},
		{"iso made", ISOGenerating, Next, BootTesting, false},
		{"booted", BootTesting, Next, Complete, false},
		{"cache hit", Generating, CacheHit, Complete, false},
		{"cache hit elsewhere", Building, CacheHit, "", true},
		{"iso failed", ISOGenerating, SoftFail, Complete, false},
		{"boot failed", BootTesting, SoftFail, Complete, false},
		{"no publishing step", "UPLOADING", Next, "", true},
		{"build cannot soft-fail", Building, SoftFail, "", true},
		{"validation cannot soft-fail", Validating, SoftFail, "", true},
		{"unknown event", Building, "explode", "", true},
		{"unknown state", "WEIRD", Next, "", true},
	}
	for _, s := range Order {
		tests = append(tests,
			struct {
				name    string
				from    State
				ev      Event
				want    State
				wantErr bool
			}{"cancel from " + string(s), s, Cancel, Cancelled, false},
			struct {
				name    string
				from    State
				ev      Event
				want    State
				wantErr bool
			}{"fail from " + string(s), s, Fail, Failed, false})
	}
	for _, s := range []State{Complete, Failed, Cancelled} {
		for _, ev := range []Event{Next, Fail, Cancel, SoftFail, CacheHit} {
			tests = append(tests, struct {
				name    string
				from    State
				ev      Event
				want    State
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
