package command

import (
	"fmt"
	"strings"
)

// HelpText is the reply to "/build help" and to commands that cannot be
// run where they were written.
const HelpText = "**Linux Builder commands** (first line of a comment; users with write access):\n\n" +
	"| command | what it does |\n|---|---|\n" +
	"| `/build` | on a pull request: build its `linux-build.yaml` at the head commit |\n" +
	"| `/build approve <sha>` | on a pull request from a fork or a user without write access: build the commit you reviewed, named by its SHA (at least 7 characters; it must still be the head; a new push needs a new approval) |\n" +
	"| `/build retry` | build again what the last run of this issue or pull request built |\n" +
	"| `/build cancel` | cancel this issue's or pull request's running builds |\n" +
	"| `/build <description>` | generate a spec from a plain-English description of a few words or more and build it (a spec that runs scripts or fetches dotfiles is shown first) |\n" +
	"| `/build confirm <hash>` | build the generated spec shown with that hash |\n" +
	"| `/build --pr <description>` | the same, and open a pull request adding the generated spec |\n" +
	"| `/build help` (or `--help`, `-h`) | this list |\n"

// UnknownText is the reply to an Unknown command: what was written, the
// command meant when one is near, and the help.
func UnknownText(word string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "`/build %s` is not a command.", word)
	first, _, _ := strings.Cut(word, " ")
	if s := Suggest(first); s != "" && s != strings.ToLower(first) {
		fmt.Fprintf(&b, " Did you mean `/build %s`?", s)
	}
	if !strings.HasPrefix(word, "-") || strings.HasPrefix(word, "--pr ") {
		b.WriteString(" To build from a description, describe the system in a few words, such as `/build a minimal Debian with SSH`.")
	}
	b.WriteString("\n\n" + HelpText)
	return b.String()
}
