package command

import "testing"

func TestParseCommand(t *testing.T) {
	tests := []struct {
		body string
		ok   bool
		want Command
	}{
		{"/build", true, Command{Name: Build}},
		{"  /Build  ", true, Command{Name: Build}},
		{"/build\r\nthanks", true, Command{Name: Build}},
		{"/build approve", true, Command{Name: Approve}},
		{"/build APPROVE now", true, Command{Name: Approve, Arg: "now"}},
		{"/build approve 1a2b3c4 thanks", true, Command{Name: Approve, Arg: "1a2b3c4"}},
		{"/build approve\t1A2B3C4D\nlooks good", true, Command{Name: Approve, Arg: "1A2B3C4D"}},
		{"/build confirm 0123abcd", true, Command{Name: Confirm, Arg: "0123abcd"}},
		{"/build confirm", true, Command{Name: Confirm}},
		{"/build retry", true, Command{Name: Retry}},
		{"/build\tcancel", true, Command{Name: Cancel}},
		{"/build --pr\ta desktop", true, Command{Name: Prompt, Description: "a desktop", PR: true}},
		{"/build cancel", true, Command{Name: Cancel}},
		{"/build help", true, Command{Name: Help}},
		{"/build a hardened arch\nwith zsh", true, Command{Name: Prompt, Description: "a hardened arch\nwith zsh"}},
		{"/build --pr a minimal debian", true, Command{Name: Prompt, Description: "a minimal debian", PR: true}},
		{"/build --pr", true, Command{Name: Help}},
		{"\ufeff/build", true, Command{Name: Build}},
		{"   /build", true, Command{Name: Build}}, // three spaces: still a paragraph
		{"    /build", false, Command{}},          // four: a code block
		{"\t/build", false, Command{}},
		{"> /build", false, Command{}},
		{"```\n/build\n```", false, Command{}},
		{"please /build", false, Command{}},
		{"/builder", false, Command{}},
		{"/build-it", false, Command{}},
		{"", false, Command{}},
		{"hello\n/build", false, Command{}},
	}
	for _, tc := range tests {
		got, ok := Parse(tc.body)
		if ok != tc.ok || got != tc.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v, %v", tc.body, got, ok, tc.want, tc.ok)
		}
	}
}
