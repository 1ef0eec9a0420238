package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/danielgtaylor/huma/v2"

	"github.com/linux-builder/linux-builder/internal/spec"
)

// MaxPrompt is the longest description accepted, in bytes.
const MaxPrompt = 4000

// SpecProblem is the problem (RFC 9457) of a spec that cannot be built:
// the diagnostics are those of `bot validate --format json`, with their
// field path, line, column, code, message and hint.
type SpecProblem struct {
	Type   string `json:"type,omitempty" doc:"A URI reference to documentation for the problem type."`
	Title  string `json:"title" doc:"A short summary of the problem."`
	Status int    `json:"status" doc:"The HTTP status code."`
	Detail string `json:"detail" doc:"What is wrong, and where."`
	spec.Report
}

func (p *SpecProblem) Error() string { return p.Detail }

// GetStatus implements huma.StatusError.
func (p *SpecProblem) GetStatus() int { return p.Status }

// ContentType implements huma.ContentTypeFilter: problems are
// application/problem+json.
func (p *SpecProblem) ContentType(ct string) string {
	if ct == "application/json" {
		return "application/problem+json"
	}
	return ct
}

// inputCodes are the diagnostics that say the bytes are not a readable
// document at all: a malformed request (400), not an invalid spec (422).
var inputCodes = map[spec.Code]bool{
	spec.CodeEncoding: true, spec.CodeSyntax: true, spec.CodeTooDeep: true, spec.CodeAliasBomb: true,
	spec.CodeDuplicateKey: true, spec.CodeMultiDoc: true, spec.CodeMergeKey: true, spec.CodeTag: true,
}

// specProblem is the problem of diags (which hold an error): 413 for a
// spec over the size limit, 400 for a malformed document, 422 for an
// invalid spec.
func specProblem(diags spec.Diagnostics) *SpecProblem {
	status, title := http.StatusUnprocessableEntity, "the spec is not valid"
	for _, d := range diags.Errors() {
		switch {
		case d.Code == spec.CodeTooLarge:
			status, title = http.StatusRequestEntityTooLarge, "the spec is too large"
		case inputCodes[d.Code] && status != http.StatusRequestEntityTooLarge:
			status, title = http.StatusBadRequest, "the body is not a readable document"
		}
	}
	first := diags.Errors()[0]
	return &SpecProblem{Title: title, Status: status, Detail: first.String(), Report: spec.NewReport(diags)}
}

// buildRequest is what a body asking for a build or a validation holds:
// a spec (JSON or YAML) or, in JSON, {"prompt": "…"}.
type buildRequest struct {
	src    []byte // the spec as sent
	file   string // the name diagnostics give it
	prompt string
}

// specFile names a spec of the API in diagnostics.
const (
	yamlFile = "linux-build.yaml"
	jsonFile = "linux-build.json"
)

// parseBody reads a request body: YAML with a YAML content type, else
// JSON, where an object with a "prompt" key asks for a spec generated
// from the description.
func parseBody(contentType string, body []byte, allowPrompt bool) (*buildRequest, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, huma.Error400BadRequest("the body is empty: send a spec (JSON, or YAML with Content-Type: application/yaml)" + promptHint(allowPrompt))
	}
	mt := "application/json"
	if contentType != "" {
		var err error
		if mt, _, err = mime.ParseMediaType(contentType); err != nil {
			return nil, huma.Error415UnsupportedMediaType(fmt.Sprintf("Content-Type %q cannot be read", contentType))
		}
	}
	switch {
	case mt == "application/yaml" || mt == "application/x-yaml" || mt == "text/yaml" || mt == "text/x-yaml":
		return &buildRequest{src: body, file: yamlFile}, nil
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
	default:
		return nil, huma.Error415UnsupportedMediaType(fmt.Sprintf("Content-Type %q: send application/json or application/yaml", mt))
	}
	var probe map[string]json.RawMessage
	err := json.Unmarshal(body, &probe)
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &syn):
		line, col := position(body, syn.Offset)
		return nil, huma.Error400BadRequest(fmt.Sprintf("%s:%d:%d: malformed JSON: %v", jsonFile, line, col, syn))
	case err != nil:
		// Not an object: the spec's validation says where and why.
		return &buildRequest{src: body, file: jsonFile}, nil
	}
	raw, ok := probe["prompt"]
	if !ok || !allowPrompt {
		return &buildRequest{src: body, file: jsonFile}, nil
	}
	if len(probe) != 1 {
		return nil, huma.Error400BadRequest(`a description is sent alone: {"prompt": "…"} (options go in the query string)`)
	}
	var prompt string
	if err := json.Unmarshal(raw, &prompt); err != nil {
		return nil, huma.Error400BadRequest("prompt: want a string")
	}
	prompt = strings.TrimSpace(prompt)
	switch {
	case prompt == "":
		return nil, huma.Error400BadRequest("prompt: describe the system to build")
	case len(prompt) > MaxPrompt || !utf8.ValidString(prompt):
		return nil, huma.Error400BadRequest(fmt.Sprintf("prompt: at most %d bytes of UTF-8", MaxPrompt))
	}
	return &buildRequest{prompt: prompt}, nil
}

func promptHint(allowPrompt bool) string {
	if allowPrompt {
		return `, or {"prompt": "a description"}`
	}
	return ""
}

// position is the 1-based line and column of byte offset off in b.
func position(b []byte, off int64) (line, col int) {
	off = min(max(off, 0), int64(len(b)))
	before := b[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	col = utf8.RuneCount(before[bytes.LastIndexByte(before, '\n')+1:]) + 1
	return line, col
}

// checkSpec applies outputs (when given) to src, as `bot build --outputs`
// does, and validates it: the spec to build, or the problem.
func checkSpec(file string, src []byte, outputs []string) ([]byte, spec.Diagnostics, error) {
	if len(outputs) > 0 {
		outs, err := spec.ParseOutputs(outputs)
		if err != nil {
			return nil, nil, huma.Error422UnprocessableEntity("outputs: " + err.Error())
		}
		if src, err = spec.SetOutputs(file, src, outs); err != nil {
			// A malformed document says so at its position.
			if _, diags := spec.Parse(file, src); diags.HasErrors() {
				return nil, nil, specProblem(diags)
			}
			return nil, nil, huma.Error422UnprocessableEntity("outputs: " + err.Error())
		}
	}
	_, diags := spec.Parse(file, src)
	if diags.HasErrors() {
		return nil, nil, specProblem(diags)
	}
	return src, diags, nil
}
