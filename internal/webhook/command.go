package webhook

import (
	"strings"
)

// Command is a "/build" command from the first line of a comment.
type Command struct {
	// Name is build, approve, retry, cancel, help or prompt.
	Name string
	// Prompt is the description of a prompt build; PR asks for the
	// generated spec as a pull request too (/build --pr …).
	Prompt string
	PR     bool
	// Arg is the word after approve or confirm: the commit SHA (or its
	// prefix) approved, the hash of the generated spec confirmed. It is
	// as written; the event job checks it against GitHub's state.
	Arg string
}

// Argument is what the event job gets as the command's argument: the
// description of a prompt build, otherwise Arg.
func (c Command) Argument() string {
	if c.Name == CmdPrompt {
		return c.Prompt
	}
	return c.Arg
}

// Commands.
const (
	CmdBuild   = "build"
	CmdApprove = "approve"
	CmdRetry   = "retry"
	CmdCancel  = "cancel"
	CmdHelp    = "help"
	CmdPrompt  = "prompt"
	CmdConfirm = "confirm"
)

// ParseCommand reads a comment. Only a first line that starts with
// "/build" (any case, followed by a space or the end of the line) is a
// command: a quoted reply ("> /build"), a code block (``` or an indented
// block of four spaces or a tab) or "/build" later in the text is not.
// The rest of the line, and for prompts the lines after it, are the
// command's arguments.
func ParseCommand(body string) (Command, bool) {
	first, rest, _ := strings.Cut(body, "\n")
	first = strings.TrimRight(first, "\r")
	first = strings.TrimPrefix(first, "\ufeff")
	// Markdown: up to three spaces of indentation are still a paragraph;
	// four, or a tab, make a code block.
	lead := len(first) - len(strings.TrimLeft(first, " "))
	if lead > 3 || strings.HasPrefix(strings.TrimLeft(first, " "), "\t") {
		return Command{}, false
	}
	first = strings.TrimSpace(first)
	const word = "/build"
	if len(first) < len(word) || !strings.EqualFold(first[:len(word)], word) {
		return Command{}, false
	}
	args := first[len(word):]
	if args != "" && args[0] != ' ' && args[0] != '\t' {
		return Command{}, false // "/builder", "/build-it"
	}
	args = strings.TrimSpace(args)
	verb, tail := args, ""
	if i := strings.IndexAny(args, " \t"); i >= 0 {
		verb, tail = args[:i], args[i+1:]
	}
	switch strings.ToLower(verb) {
	case "":
		return Command{Name: CmdBuild}, true
	case CmdRetry, CmdCancel, CmdHelp:
		return Command{Name: strings.ToLower(verb)}, true
	case CmdApprove, CmdConfirm:
		arg, _, _ := strings.Cut(strings.TrimSpace(tail), " ")
		arg, _, _ = strings.Cut(arg, "\t")
		return Command{Name: strings.ToLower(verb), Arg: arg}, true
	case "--pr":
		prompt := joinPrompt(tail, rest)
		if prompt == "" {
			return Command{Name: CmdHelp}, true
		}
		return Command{Name: CmdPrompt, Prompt: prompt, PR: true}, true
	}
	return Command{Name: CmdPrompt, Prompt: joinPrompt(args, rest)}, true
}

func joinPrompt(line, rest string) string {
	line, rest = strings.TrimSpace(line), strings.TrimSpace(strings.ReplaceAll(rest, "\r\n", "\n"))
	if rest == "" {
		return line
	}
	return strings.TrimSpace(line + "\n" + rest)
}

// HelpText is the reply to "/build help" and to commands that cannot be
// run where they were written.
const HelpText = "**Linux Builder commands** (first line of a comment; users with write access):\n\n" +
	"| command | what it does |\n|---|---|\n" +
	"| `/build` | on a pull request: build its `linux-build.yaml` at the head commit |\n" +
	"| `/build approve <sha>` | on a pull request from a fork or a user without write access: build the commit you reviewed, named by its SHA (at least 7 characters; it must still be the head; a new push needs a new approval) |\n" +
	"| `/build retry` | build again what the last run of this issue or pull request built |\n" +
	"| `/build cancel` | cancel this issue's or pull request's running builds |\n" +
	"| `/build <description>` | generate a spec from a plain-English description and build it (a spec that runs scripts or fetches dotfiles is shown first) |\n" +
	"| `/build confirm <hash>` | build the generated spec shown with that hash |\n" +
	"| `/build --pr <description>` | the same, and open a pull request adding the generated spec |\n" +
	"| `/build help` | this list |\n"
