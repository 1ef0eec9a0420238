package spec

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Severity says whether a diagnostic stops the build (Error) or is advice
// (Warning).
type Severity string

// Severities.
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
)

// Code classifies a diagnostic. Codes in the "input" and "structure" groups
// are decided by the shape of the document alone; "rule" codes come from the
// compatibility rules, which look at several fields together.
type Code string

// Diagnostic codes.
const (
	// Input: the bytes themselves cannot be read as a spec.
	CodeTooLarge     Code = "too-large"
	CodeEncoding     Code = "encoding"
	CodeSyntax       Code = "syntax"
	CodeTooDeep      Code = "too-deep"
	CodeAliasBomb    Code = "alias-expansion"
	CodeDuplicateKey Code = "duplicate-key"
	CodeMultiDoc     Code = "multiple-documents"
	CodeMergeKey     Code = "merge-key"
	CodeTag          Code = "unsupported-tag"

	// Structure: what the JSON Schema also decides.
	CodeUnknownField Code = "unknown-field"
	CodeType         Code = "type"
	CodeEnum         Code = "enum"
	CodePattern      Code = "pattern"
	CodeRange        Code = "range"
	CodeRequired     Code = "required"

	// Rule: compatibility between fields, and normalisation findings.
	CodeRule Code = "rule"
)

// IsStructural reports whether the code is one the JSON Schema decides too,
// so that the Go decoder and the schema must agree on it.
func (c Code) IsStructural() bool {
	switch c {
	case CodeUnknownField, CodeType, CodeEnum, CodePattern, CodeRange, CodeRequired:
		return true
	}
	return false
}

// Pos is a 1-based line and column in the source file. The zero Pos means
// "no position" (for example a value that was filled in by a default).
type Pos struct {
	Line   int `json:"line"`
	Column int `json:"column"`
}

// IsValid reports whether p names a real place in the source.
func (p Pos) IsValid() bool { return p.Line > 0 }

// Diagnostic is one finding about a spec.
type Diagnostic struct {
	File     string   `json:"file"`
	Pos      Pos      `json:"pos"`
	Severity Severity `json:"severity"`
	Code     Code     `json:"code"`
	// Path is the dotted field path, with [i] for list items, e.g.
	// "securityFeatures.firewall.allowedPorts[2]". Empty for the document.
	Path    string `json:"path"`
	Message string `json:"message"`
	// Hint is an optional suggestion ("did you mean ...").
	Hint string `json:"hint,omitempty"`
}

// String formats d as "file:line:col: severity: path: message (hint)", the
// form editors and terminals recognise as a clickable location.
func (d Diagnostic) String() string {
	var b strings.Builder
	b.WriteString(d.File)
	if d.Pos.IsValid() {
		fmt.Fprintf(&b, ":%d:%d", d.Pos.Line, d.Pos.Column)
	}
	fmt.Fprintf(&b, ": %s: ", d.Severity)
	if d.Path != "" {
		b.WriteString(d.Path)
		b.WriteString(": ")
	}
	b.WriteString(d.Message)
	if d.Hint != "" {
		fmt.Fprintf(&b, " (%s)", d.Hint)
	}
	return b.String()
}

// Diagnostics is a list of findings, in source order once sorted.
type Diagnostics []Diagnostic

// HasErrors reports whether any diagnostic is an error.
func (ds Diagnostics) HasErrors() bool {
	return slices.ContainsFunc(ds, func(d Diagnostic) bool { return d.Severity == SeverityError })
}

// Errors returns only the errors.
func (ds Diagnostics) Errors() Diagnostics {
	return ds.filter(SeverityError)
}

// Warnings returns only the warnings.
func (ds Diagnostics) Warnings() Diagnostics {
	return ds.filter(SeverityWarning)
}

func (ds Diagnostics) filter(s Severity) Diagnostics {
	var out Diagnostics
	for _, d := range ds {
		if d.Severity == s {
			out = append(out, d)
		}
	}
	return out
}

// Sort orders diagnostics by file, line, column, then path and message, so
// output is deterministic.
func (ds Diagnostics) Sort() {
	slices.SortStableFunc(ds, func(a, b Diagnostic) int {
		return cmp.Or(
			cmp.Compare(a.File, b.File),
			cmp.Compare(a.Pos.Line, b.Pos.Line),
			cmp.Compare(a.Pos.Column, b.Pos.Column),
			cmp.Compare(a.Path, b.Path),
			cmp.Compare(a.Message, b.Message),
		)
	})
}

// Error makes Diagnostics usable as an error value: it lists the errors,
// one per line.
func (ds Diagnostics) Error() string {
	var lines []string
	for _, d := range ds.Errors() {
		lines = append(lines, d.String())
	}
	return strings.Join(lines, "\n")
}

// Report is the machine-readable result of validating specs: what `bot
// validate --format json` prints and what the REST API answers.
type Report struct {
	Valid       bool        `json:"valid"`
	Errors      int         `json:"errors"`
	Warnings    int         `json:"warnings"`
	Diagnostics Diagnostics `json:"diagnostics"`
}

// NewReport summarises ds (never a nil list of diagnostics).
func NewReport(ds Diagnostics) Report {
	rep := Report{Valid: !ds.HasErrors(), Errors: len(ds.Errors()), Warnings: len(ds.Warnings()), Diagnostics: ds}
	if rep.Diagnostics == nil {
		rep.Diagnostics = Diagnostics{}
	}
	return rep
}
