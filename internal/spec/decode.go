package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"
)

// Limits on hostile input. They are far above what a real spec needs (the
// largest example is a few hundred nodes) and low enough that decoding any
// input stays within milliseconds and a few megabytes.
const (
	// MaxFileSize is the largest spec accepted, in bytes.
	MaxFileSize = 256 << 10
	// MaxDepth is the deepest nesting of mappings and lists accepted.
	MaxDepth = 32
	// MaxNodes is the most YAML nodes a document may hold once its aliases
	// are expanded.
	MaxNodes = 20000
)

// Document is a decoded spec together with where each field came from.
type Document struct {
	// File is the name used in diagnostics.
	File string
	// Spec is the decoded and normalised spec. It is nil when the input
	// could not be read at all.
	Spec *Spec
	// positions maps a field path to the position of its key (for fields)
	// or its value (for list items).
	positions map[string]Pos
}

// Pos returns the source position of the field at path, or of its nearest
// ancestor present in the source (a defaulted field points at the section
// that would hold it). It returns the zero Pos when nothing matches.
func (d *Document) Pos(p string) Pos {
	for {
		if pos, ok := d.positions[p]; ok {
			return pos
		}
		if p == "" {
			return Pos{}
		}
		p = parentPath(p)
	}
}

// parentPath strips the last element of a field path.
func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}

// Parse decodes src (YAML, or JSON when file ends in .json), fills in
// defaults and applies the compatibility rules. The returned diagnostics are
// sorted; the Document is never nil, but its Spec is nil when the input
// could not be decoded at all.
func Parse(file string, src []byte) (*Document, Diagnostics) {
	doc, diags := Decode(file, src)
	if doc.Spec != nil && !diags.HasErrors() {
		Normalize(doc.Spec)
		diags = append(diags, checkRules(doc)...)
	}
	diags.Sort()
	return doc, diags
}

// Decode reads src into a Spec without applying defaults or rules. It
// reports input problems (size, encoding, syntax, depth, aliases, duplicate
// keys) and structural ones (unknown fields, types, values).
func Decode(file string, src []byte) (*Document, Diagnostics) {
	d := &decoder{file: file, positions: map[string]Pos{"": {Line: 1, Column: 1}}}
	doc := &Document{File: file, positions: d.positions}
	root := d.parse(src)
	if root == nil {
		return doc, d.diags
	}
	if !d.check(root) {
		return doc, d.diags
	}
	if r := resolve(root); r.Kind == yaml.ScalarNode && r.Tag == "!!null" {
		d.errorf(root, CodeRequired, "base", "", "the spec is empty; at least base is required")
		return doc, d.diags
	}
	var s Spec
	d.structValue(resolve(root), "", reflect.ValueOf(&s).Elem())
	doc.Spec = &s
	return doc, d.diags
}

type decoder struct {
	file      string
	diags     Diagnostics
	positions map[string]Pos
}

func posOf(n *yaml.Node) Pos {
	if n == nil {
		return Pos{Line: 1, Column: 1}
	}
	return Pos{Line: n.Line, Column: n.Column}
}

func (d *decoder) add(pos Pos, sev Severity, code Code, path, hint, format string, args ...any) {
	d.diags = append(d.diags, Diagnostic{
		File: d.file, Pos: pos, Severity: sev, Code: code, Path: path,
		Message: fmt.Sprintf(format, args...), Hint: hint,
	})
}

func (d *decoder) errorf(n *yaml.Node, code Code, path, hint, format string, args ...any) {
	d.add(posOf(n), SeverityError, code, path, hint, format, args...)
}

var reYAMLLine = regexp.MustCompile(`^yaml: line ([0-9]+): (.*)$`)

// parse checks the raw bytes and parses them into a node tree. It returns
// the top-level node, or nil after reporting why there is none.
func (d *decoder) parse(src []byte) (root *yaml.Node) {
	start := Pos{Line: 1, Column: 1}
	if len(src) > MaxFileSize {
		d.add(start, SeverityError, CodeTooLarge, "", "", "file is %d bytes; the limit is %d bytes (256 KiB)", len(src), MaxFileSize)
		return nil
	}
	if !utf8.Valid(src) {
		d.add(offsetPos(src, invalidUTF8Offset(src)), SeverityError, CodeEncoding, "", "save the file as UTF-8",
			"file is not valid UTF-8")
		return nil
	}
	if strings.EqualFold(path.Ext(d.file), ".json") {
		var v any
		if err := json.Unmarshal(src, &v); err != nil {
			var se *json.SyntaxError
			pos := start
			if errors.As(err, &se) {
				// Offset counts the bytes read, including the bad one.
				pos = offsetPos(src, int(se.Offset)-1)
			}
			d.add(pos, SeverityError, CodeSyntax, "", "", "invalid JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
			return nil
		}
	}
	// go-yaml has been fuzzed for years, but a panic on hostile input must
	// never take the bot down: turn it into a syntax error.
	defer func() {
		if r := recover(); r != nil {
			d.add(start, SeverityError, CodeSyntax, "", "", "cannot parse YAML: %v", r)
			root = nil
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var top yaml.Node
	if err := dec.Decode(&top); err != nil {
		if errors.Is(err, io.EOF) {
			d.add(start, SeverityError, CodeRequired, "", "", "the spec is empty; at least base is required")
			return nil
		}
		d.syntaxError(err)
		return nil
	}
	var second yaml.Node
	if err := dec.Decode(&second); err == nil {
		d.add(posOf(&second), SeverityError, CodeMultiDoc, "", "remove the --- separator", "the file holds more than one YAML document; a spec is one document")
		return nil
	} else if !errors.Is(err, io.EOF) {
		d.syntaxError(err)
		return nil
	}
	if top.Kind != yaml.DocumentNode || len(top.Content) == 0 {
		d.add(start, SeverityError, CodeRequired, "", "", "the spec is empty; at least base is required")
		return nil
	}
	return top.Content[0]
}

func (d *decoder) syntaxError(err error) {
	msg := err.Error()
	pos := Pos{Line: 1, Column: 1}
	if m := reYAMLLine.FindStringSubmatch(msg); m != nil {
		if line, convErr := strconv.Atoi(m[1]); convErr == nil {
			pos.Line = line
		}
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	d.add(pos, SeverityError, CodeSyntax, "", "", "invalid YAML: %s", msg)
}

// invalidUTF8Offset returns the offset of the first byte that is not part of
// a valid UTF-8 sequence.
func invalidUTF8Offset(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return len(b)
}

// offsetPos converts a byte offset into a 1-based line and column, counting
// line breaks as YAML does (\n, \r\n and a lone \r); columns count
// characters.
func offsetPos(b []byte, off int) Pos {
	off = min(max(off, 0), len(b))
	line, lineStart := 1, 0
	for i := 0; i < off; i++ {
		switch {
		case b[i] == '\n', b[i] == '\r' && (i+1 >= len(b) || b[i+1] != '\n'):
			line++
			lineStart = i + 1
		}
	}
	return Pos{Line: line, Column: 1 + utf8.RuneCount(b[lineStart:off])}
}

// lineCount is the number of lines in b, by the same rule as offsetPos.
func lineCount(b []byte) int {
	return offsetPos(b, len(b)).Line
}
