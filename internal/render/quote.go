package render

import (
	"html"
	"regexp"
	"strings"
	"unicode"
)

// Text from builds, specs and models is hostile: the check run, the status
// comment and the release notes quote it through these functions so that
// it shows as the text it is — never markdown, HTML, a mention that
// notifies people, a cross-reference, or a fence that ends ours.

// Caps on one quoted piece of text and one quoted log line, in runes:
// GitHub's 65,535-character limit then always leaves room for the rest.
const (
	maxQuoted  = 2000
	maxLogLine = 1000
)

// zwsp (a zero-width space) after @ and # keeps GitHub from resolving a
// mention or a cross-reference; readers see the same text.
const zwsp = "\u200b"

// markdownEscaped are the ASCII characters that make markdown syntax
// inside a line (quoted text never starts a line: list and heading
// markers need not be escaped); a backslash makes each literal (CommonMark
// allows a backslash before any ASCII punctuation). $ starts GitHub's math;
// with [ and ] escaped, ( and ) make no link.
const markdownEscaped = "\\`*_[]|~$"

// Quote renders hostile text as one line of literal markdown text: line
// breaks and control characters become spaces, markdown punctuation is
// escaped, HTML's <, > and & become entities, @ and # are followed by a
// zero-width space, and the text is cut at maxQuoted runes.
func Quote(s string) string {
	s = ghRef.ReplaceAllString(Truncate(s, maxQuoted, "…"), "${1}-"+zwsp+"${2}")
	var b strings.Builder
	b.Grow(len(s) + len(s)/8)
	for _, r := range s {
		switch {
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '&':
			b.WriteString("&amp;")
		case r == '@' || r == '#':
			b.WriteRune(r)
			b.WriteString(zwsp)
		case r < 0x80 && strings.ContainsRune(markdownEscaped, r):
			b.WriteByte('\\')
			b.WriteRune(r)
		case unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == '\u2028' || r == '\u2029':
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// logLine makes one line of hostile output safe inside a fenced code
// block: control characters (terminal escapes, carriage returns, line
// breaks) are dropped or become spaces and the line is cut at maxLogLine
// runes. Mentions and markdown are not rendered inside code.
func logLine(s string) string {
	s = Truncate(s, maxLogLine, "…")
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t':
			return r
		case r == '\n' || r == '\r' || r == '\u2028' || r == '\u2029':
			return ' '
		case unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r):
			return -1
		}
		return r
	}, s)
}

// longestRun is the length of the longest run of c in s.
func longestRun(s string, c byte) int {
	best, n := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			n++
			best = max(best, n)
		} else {
			n = 0
		}
	}
	return best
}

// Fence is a code fence for content (a string or lines): backticks, one
// more than the longest backtick run in it and at least three, so nothing
// inside can close it (CommonMark: a closing fence is at least as long as
// the opening one).
func Fence(content any) string {
	n := 0
	switch c := content.(type) {
	case string:
		n = longestRun(c, '`')
	case []string:
		for _, s := range c {
			n = max(n, longestRun(s, '`'))
		}
	}
	return strings.Repeat("`", max(3, n+1))
}

// Code is hostile text as an inline code span: delimited by a backtick
// run longer than any inside, padded with spaces when it starts or ends
// with a backtick, on one line.
func Code(s string) string {
	s = strings.Join(strings.Fields(logLine(s)), " ")
	d := strings.Repeat("`", longestRun(s, '`')+1)
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") || len(d) > 1 {
		return d + " " + s + " " + d
	}
	return d + s + d
}

// ghRef is GitHub's GH-<number> cross-reference.
var ghRef = regexp.MustCompile(`(?i)\b(gh)-([0-9])`)

var loginRE = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:\[bot\])?$`)

// Login is a GitHub login to mention (@login): a name that is not a valid
// login is quoted instead, so it mentions no one.
func Login(s string) string {
	if loginRE.MatchString(s) {
		return "@" + s
	}
	return Quote(s)
}

// endLine is s ending with a line break (a closing fence must start a
// line).
func endLine(s string) string {
	if s == "" || strings.HasSuffix(s, "\n") {
		return s
	}
	return s + "\n"
}

// HTMLText is hostile text inside our own HTML (markdown is not processed
// there): HTML-escaped, on one line, with mentions and cross-references
// neutralised.
func HTMLText(s string) string {
	s = html.EscapeString(strings.Join(strings.Fields(logLine(Truncate(s, maxQuoted, "…"))), " "))
	s = ghRef.ReplaceAllString(s, "${1}-"+zwsp+"${2}")
	return strings.NewReplacer("@", "@"+zwsp, "#", "#"+zwsp).Replace(s)
}
