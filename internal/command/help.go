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

// maxEcho is the longest word of a comment a reply repeats.
const maxEcho = 32

// Echo is the first word of an Unknown command's argument as the bot may
// repeat it (in a reply, in a delivery's reason): letters, digits and
// dashes only, at most maxEcho characters; "" when the word is anything
// else. A reply never repeats more of a stranger's comment: backticks,
// links, mentions or markup in it would be the bot's words.
func Echo(arg string) string {
	first := strings.TrimSpace(arg)
	if i := strings.IndexAny(first, " \t\r\n"); i >= 0 {
		first = first[:i]
	}
	if first == "" || len(first) > maxEcho {
		return ""
	}
	for _, r := range first {
		if (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '-' {
			return ""
		}
	}
	return first
}

// UnknownText is the reply to an Unknown command: its first word when it
// is plain (Echo), the command meant when one is near, and the help. Of
// the comment it repeats nothing else.
func UnknownText(arg string) string {
	var b strings.Builder
	first := Echo(arg)
	switch {
	case first == "--pr":
		b.WriteString("`/build --pr` needs a description of the system, a few words or more.")
	case first != "":
		fmt.Fprintf(&b, "`/build %s` is not a command.", first)
	default:
		b.WriteString("That is not a `/build` command.")
	}
	if s := Suggest(first); first != "" && s != "" && s != strings.ToLower(first) {
		fmt.Fprintf(&b, " Did you mean `/build %s`?", s)
	}
	if !strings.HasPrefix(first, "-") || first == "--pr" {
		b.WriteString(" To build from a description, describe the system in a few words, such as `/build a minimal Debian with SSH`.")
	}
	b.WriteString("\n\n" + HelpText)
	return b.String()
}
