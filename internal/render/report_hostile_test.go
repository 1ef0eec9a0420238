package render

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	linuxbuilder "github.com/linux-builder/linux-builder"
)

// Hostile build output and spec text, as the check run, the status
// comment and the release notes would quote it.
var hostile = []string{
	"```\n# Heading\n@octo-org/security-team please look at #123",
	"````````` escape the fence",
	"<img src=https://evil.example/pixel.gif> <details open><summary>x</summary>",
	"[click here](https://evil.example/phish) ![x](https://evil.example/t.png)",
	"| a | b |\n|---|---|\n| table | row |",
	"@everyone @octocat owner/repo#7 GH-9",
	"\x1b[31mred\x1b[0m \u202eevil",
	strings.Repeat("long line ", 5000),
}

var (
	mention  = regexp.MustCompile(`@[A-Za-z0-9]`)
	issueRef = regexp.MustCompile(`#[0-9]`)
	rawHTML  = regexp.MustCompile(`<[A-Za-z/!]`)
	mdLink   = regexp.MustCompile(`(^|[^\\])\]\(`) // an unescaped ](
)

// hostileReport is a failed run whose every text field is hostile.
func hostileReport() *RunReport {
	r := &RunReport{RunID: 9, Status: "FAILED", Repo: "o/r", HeadSHA: "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
		SpecPath: "specs/`x`.yaml", RequestedBy: "octocat", Steps: steps("done", "done", "failed"),
		FailureReason: strings.Join(hostile, " "), PartialReason: hostile[0], Warnings: hostile,
		LogStep: "Build the image", LogTail: hostile,
		Prompt: "a desktop", GeneratedSpec: "base: debian\n# ```\npackages: [curl]\n"}
	return r
}

// outsideCode removes fenced code blocks (the fence as opened, until the
// same fence closes it) and inline code spans from markdown: what is left
// is what GitHub renders as markdown.
func outsideCode(t *testing.T, md string) string {
	t.Helper()
	var out []string
	fence := ""
	for _, line := range strings.Split(md, "\n") {
		switch {
		case fence == "" && strings.HasPrefix(line, "```"):
			fence = line[:len(line)-len(strings.TrimLeft(line, "`"))]
		case fence != "" && strings.TrimRight(line, " ") == fence:
			fence = ""
		case fence != "":
			if strings.HasPrefix(line, fence) {
				t.Fatalf("line %q closes or breaks the fence %q", line, fence)
			}
		default:
			out = append(out, line)
		}
	}
	if fence != "" {
		t.Fatalf("fence %q never closed in:\n%s", fence, md)
	}
	return strings.Join(out, "\n")
}

// Hostile text is quoted: fences are longer than any backtick run in what
// they hold, mentions and cross-references do not resolve, HTML and links
// are shown as text, and very long lines are cut.
func TestHostileTextIsQuoted(t *testing.T) {
	rp, err := NewReporter(linuxbuilder.Templates)
	if err != nil {
		t.Fatal(err)
	}
	r := hostileReport()
	notes := &ReleaseNotes{RunID: 9, Link: "https://github.com/apps/linux-builder", SpecPath: r.SpecPath, HeadSHA: r.HeadSHA,
		Warnings: hostile, Facts: []struct{ K, V string }{{"kernel", hostile[0]}}}
	tests := []struct {
		name   string
		render func() (string, error)
	}{
		{name: "summary", render: func() (string, error) { return rp.Summary(r) }},
		{name: "text", render: func() (string, error) { return rp.Text(r) }},
		{name: "comment", render: func() (string, error) { return rp.Comment(r) }},
		{name: "release", render: func() (string, error) { return rp.Release(notes) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			md, err := tc.render()
			if err != nil {
				t.Fatal(err)
			}
			rest := outsideCode(t, md)
			// Inline code spans of our own (the spec path) are code too,
			// and the requester is mentioned on purpose.
			rest = strings.ReplaceAll(rest, "`` specs/`x`.yaml ``", "")
			rest = strings.Replace(rest, "requested by @octocat", "", 1)
			for _, own := range []string{"<details><summary>", "</summary>", "<code>", "</code>", "</details>", "[Linux Builder]("} {
				rest = strings.ReplaceAll(rest, own, "")
			}
			for _, re := range []*regexp.Regexp{mention, issueRef, rawHTML, mdLink, ghRef} {
				if m := re.FindString(rest); m != "" {
					t.Fatalf("%s renders %q outside code:\n%s", tc.name, m, Truncate(rest, 3000, "…"))
				}
			}
			for _, line := range strings.Split(md, "\n") {
				if n := utf8.RuneCountInString(line); n > 4200 {
					t.Fatalf("a line of %d characters", n)
				}
			}
		})
	}
}
