package main

import (
	"strings"
	"testing"
)

// bot disk checks its arguments before it touches the engine.
func TestDiskUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"disk"}, "disk needs one IMAGE"},
		{[]string{"disk", "a", "b"}, "disk needs one IMAGE"},
		{[]string{"disk", "img", "--boot-test", "efi"}, `--boot-test "efi"`},
		{[]string{"disk", "img", "--from-iso", "linux.iso"}, "disk --from-iso takes no IMAGE"},
		{[]string{"disk", "--from-iso", "linux.iso", "--boot-test", "bios"}, "--boot-test needs IMAGE"},
	} {
		code, _, stderr := runBot(t, "", tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("bot %v: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}
