package command

import (
	"strings"
	"testing"
)

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
		// Help, however asked.
		{"/build --help", true, Command{Name: Help}},
		{"/build -H", true, Command{Name: Help}},
		// One word, a flag the bot does not have or a mistyped command is
		// not a description.
		{"/build aprove", true, Command{Name: Unknown, Arg: "aprove"}},
		{"/build Aprove 1a2b3c4", true, Command{Name: Unknown, Arg: "Aprove"}},
		{"/build status", true, Command{Name: Unknown, Arg: "status"}},
		{"/build debian\n", true, Command{Name: Unknown, Arg: "debian"}},
		{"/build --verbose a minimal debian", true, Command{Name: Unknown, Arg: "--verbose"}},
		{"/build -pr a desktop", true, Command{Name: Unknown, Arg: "-pr"}},
		{"/build cancle now", true, Command{Name: Unknown, Arg: "cancle"}},
		{"/build --pr debian", true, Command{Name: Unknown, Arg: "--pr debian"}},
		{"/build --pr --verbose debian", true, Command{Name: Unknown, Arg: "--pr --verbose debian"}},
		// A description: two words or more, on the first line or after it.
		{"/build minimal debian", true, Command{Name: Prompt, Description: "minimal debian"}},
		{"/build debian\nwith zsh", true, Command{Name: Prompt, Description: "debian\nwith zsh"}},
		{"/build a retro gaming box", true, Command{Name: Prompt, Description: "a retro gaming box"}},
		{"/build help-desk kiosk", true, Command{Name: Prompt, Description: "help-desk kiosk"}},
	}
	for _, tc := range tests {
		got, ok := Parse(tc.body)
		if ok != tc.ok || got != tc.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v, %v", tc.body, got, ok, tc.want, tc.ok)
		}
	}
}

func TestSuggest(t *testing.T) {
	for word, want := range map[string]string{
		"aprove": Approve, "APPROVED": Approve, "apporve": Approve, "confrim": Confirm, "retyr": Retry, "cancle": Cancel,
		"hlep": Help, "-pr": "--pr", "--hlep": "--help", "-help": "--help",
		"status": "", "debian": "", "a": "", "desktop": "", "": "",
	} {
		if got := Suggest(word); got != want {
			t.Errorf("Suggest(%q) = %q, want %q", word, got, want)
		}
	}
}

func TestUnknownText(t *testing.T) {
	for word, want := range map[string][]string{
		"aprove":      {"`/build aprove` is not a command. Did you mean `/build approve`?", "a few words", HelpText},
		"status":      {"`/build status` is not a command. To build", HelpText},
		"--verbose":   {"`/build --verbose` is not a command.\n\n", HelpText},
		"--pr debian": {"`/build --pr` needs a description of the system, a few words or more. To build", HelpText},
		// A stranger's markup is never repeated: only a plain first word is.
		"x`@acme/admins`[click](https://evil.example)":                                  {"That is not a `/build` command.", HelpText},
		"--pr -x\n# Download the signed ISO\n[here](https://evil.example) @acme/admins": {"`/build --pr` needs a description", HelpText},
	} {
		got := UnknownText(word)
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("UnknownText(%q) = %q, want it to contain %q", word, got, w)
			}
		}
	}
}

// The reply to an unknown command never repeats a stranger's markup,
// mentions or links: only a plain first word (an attack the first
// version of the reply let through: it echoed the whole argument).
func TestUnknownTextRepeatsNoMarkup(t *testing.T) {
	for _, body := range []string{
		"/build x`@acme/admins`[click](https://evil.example)",
		"/build --pr -x\n# Download the signed ISO\n[here](https://evil.example) @acme/admins <img src=x>",
		"/build aprove [x](https://evil.example) @acme/admins",
		"/build " + strings.Repeat("a", 40),
	} {
		c, ok := Parse(body)
		if !ok || c.Name != Unknown {
			t.Fatalf("Parse(%q) = %+v, %v; want an unknown command", body, c, ok)
		}
		got := UnknownText(c.Arg)
		for _, bad := range []string{"evil.example", "@acme", "Download", "<img", strings.Repeat("a", 40)} {
			if strings.Contains(got, bad) {
				t.Errorf("the reply to %q repeats %q:\n%s", body, bad, got)
			}
		}
		if len(Echo(c.Arg)) > maxEcho {
			t.Errorf("Echo(%q) is longer than %d", c.Arg, maxEcho)
		}
	}
}
