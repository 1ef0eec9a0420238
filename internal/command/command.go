// Package command reads "/build" commands from comments: the command
// words, the parser and the help text. The receiver (internal/webhook)
// parses a comment into a Command; the worker that carries commands out
// switches on the same words and answers with the same help.
package command

import (
	"strings"
)

// Command is a "/build" command from the first line of a comment.
type Command struct {
	// Name is build, approve, retry, cancel, help, confirm, prompt or
	// unknown.
	Name string
	// Description is the description of a prompt build; PR asks for the
	// generated spec as a pull request too (/build --pr …).
	Description string
	PR          bool
	// Arg is the word after approve or confirm: the commit SHA (or its
	// prefix) approved, the hash of the generated spec confirmed. It is
	// as written; the event job checks it against GitHub's state.
	Arg string
}

// Argument is what the event job gets as the command's argument: the
// description of a prompt build, otherwise Arg (for Unknown, the word
// written).
func (c Command) Argument() string {
	if c.Name == Prompt {
		return c.Description
	}
	return c.Arg
}

// The command words (Command.Name).
const (
	Build   = "build"
	Approve = "approve"
	Retry   = "retry"
	Cancel  = "cancel"
	Help    = "help"
	Prompt  = "prompt"
	Confirm = "confirm"
	// Unknown is a word after "/build" that is neither a command nor the
	// start of a description (Arg holds it): it is answered with the help.
	Unknown = "unknown"
)

// Parse reads a comment. Only a first line that starts with
// "/build" (any case, followed by a space or the end of the line) is a
// command: a quoted reply ("> /build"), a code block (``` or an indented
// block of four spaces or a tab) or "/build" later in the text is not.
// The rest of the line, and for prompts the lines after it, are the
// command's arguments.
//
// The first word after "/build" is a command word (any case) or --pr;
// "--help" and "-h" are help. Anything else is a description, and so a
// prompt build, only when it is one (see isDescription): a single word
// ("/build status", "/build aprove"), a flag the bot does not know
// ("/build --verbose …") or a mistyped command word followed by more
// ("/build aprove 1a2b3c4") is Unknown, with the word in Arg, and is
// answered with the help instead of a model call and a build.
func Parse(body string) (Command, bool) {
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
		return Command{Name: Build}, true
	case Retry, Cancel, Help:
		return Command{Name: strings.ToLower(verb)}, true
	case Approve, Confirm:
		arg, _, _ := strings.Cut(strings.TrimSpace(tail), " ")
		arg, _, _ = strings.Cut(arg, "\t")
		return Command{Name: strings.ToLower(verb), Arg: arg}, true
	case "--help", "-h":
		return Command{Name: Help}, true
	case "--pr":
		prompt := joinPrompt(tail, rest)
		if prompt == "" {
			return Command{Name: Help}, true
		}
		if !isDescription(prompt) {
			return Command{Name: Unknown, Arg: verb + " " + prompt}, true
		}
		return Command{Name: Prompt, Description: prompt, PR: true}, true
	}
	if prompt := joinPrompt(args, rest); isDescription(prompt) {
		return Command{Name: Prompt, Description: prompt}, true
	}
	return Command{Name: Unknown, Arg: verb}, true
}

// minWords is the fewest words a description has: one word is a command
// (mistyped, or one the bot does not have), not a system to build.
const minWords = 2

// isDescription reports whether s describes a system: at least minWords
// words, the first neither flag-like ("-…") nor a command word mistyped
// (one edit from one, for words of four letters or more: "aprove",
// "retyr", "cancle", "hlpe"). A description that happens to start with
// such a word ("retro gaming box") is answered with the help too: a
// reworded comment costs less than a build nobody asked for.
func isDescription(s string) bool {
	words := strings.Fields(s)
	if len(words) < minWords {
		return false
	}
	first := strings.ToLower(words[0])
	if strings.HasPrefix(first, "-") {
		return false
	}
	if len([]rune(first)) < 4 {
		return true
	}
	for _, w := range commandWords {
		if distance(first, w) <= 1 {
			return false
		}
	}
	return true
}

func joinPrompt(line, rest string) string {
	line, rest = strings.TrimSpace(line), strings.TrimSpace(strings.ReplaceAll(rest, "\r\n", "\n"))
	if rest == "" {
		return line
	}
	return strings.TrimSpace(line + "\n" + rest)
}
