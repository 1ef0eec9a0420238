package webhook

import "testing"

func TestParseCommand(t *testing.T) {
	tests := []struct {
		body string
		ok   bool
		want Command
	}{
		{"/build", true, Command{Name: CmdBuild}},
		{"  /Build  ", true, Command{Name: CmdBuild}},
		{"/build\r\nthanks", true, Command{Name: CmdBuild}},
		{"/build approve", true, Command{Name: CmdApprove}},
		{"/build APPROVE now", true, Command{Name: CmdApprove, Arg: "now"}},
		{"/build approve 1a2b3c4 thanks", true, Command{Name: CmdApprove, Arg: "1a2b3c4"}},
		{"/build approve\t1A2B3C4D\nlooks good", true, Command{Name: CmdApprove, Arg: "1A2B3C4D"}},
		{"/build confirm 0123abcd", true, Command{Name: CmdConfirm, Arg: "0123abcd"}},
		{"/build confirm", true, Command{Name: CmdConfirm}},
		{"/build retry", true, Command{Name: CmdRetry}},
		{"/build\tcancel", true, Command{Name: CmdCancel}},
		{"/build --pr\ta desktop", true, Command{Name: CmdPrompt, Prompt: "a desktop", PR: true}},
		{"/build cancel", true, Command{Name: CmdCancel}},
		{"/build help", true, Command{Name: CmdHelp}},
		{"/build a hardened arch\nwith zsh", true, Command{Name: CmdPrompt, Prompt: "a hardened arch\nwith zsh"}},
		{"/build --pr a minimal debian", true, Command{Name: CmdPrompt, Prompt: "a minimal debian", PR: true}},
		{"/build --pr", true, Command{Name: CmdHelp}},
		{"\ufeff/build", true, Command{Name: CmdBuild}},
		{"   /build", true, Command{Name: CmdBuild}}, // three spaces: still a paragraph
		{"    /build", false, Command{}},             // four: a code block
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
		got, ok := ParseCommand(tc.body)
		if ok != tc.ok || got != tc.want {
			t.Errorf("ParseCommand(%q) = %+v, %v; want %+v, %v", tc.body, got, ok, tc.want, tc.ok)
		}
	}
}
