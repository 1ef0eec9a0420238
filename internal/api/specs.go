package api

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/linux-builder/linux-builder/internal/resolve"
	"github.com/linux-builder/linux-builder/internal/spec"
	"github.com/linux-builder/linux-builder/internal/store"
)

type validateInput struct {
	ContentType string `header:"Content-Type"`
	RawBody     []byte
}

type validateOutput struct{ Body spec.Report }

type generateInput struct {
	Body struct {
		Prompt string `json:"prompt" minLength:"1" maxLength:"4000" doc:"A plain-English description of the system."`
	}
}

// GeneratedSpec is a spec generated from a description.
type GeneratedSpec struct {
	Spec     string            `json:"spec" doc:"linux-build.yaml."`
	Warnings []spec.Diagnostic `json:"warnings"`
	Attempts int               `json:"attempts" doc:"Answers the model took."`
	RunsCode []string          `json:"runsCode" doc:"What in the spec runs code the model chose: review it before building."`
}

type generateOutput struct{ Body GeneratedSpec }

type schemaOutput struct{ Body json.RawMessage }

func (a *API) registerSpecs() {
	op := huma.Operation{OperationID: "validate-spec", Method: http.MethodPost, Path: Prefix + "/specs/validate", Tags: []string{"specs"},
		Summary: "Validate a spec", Description: "The report of bot validate --format json: valid, counts, and each diagnostic's path, line, column, code, message and hint.",
		MaxBodyBytes: int64(a.cfg.MaxBody), SkipValidateBody: true, Errors: errorsOf(http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType)}
	huma.Register(a.huma, op, a.validate)
	a.setRequestBody(op.Method, op.Path, specRequestBody(false))
	huma.Register(a.huma, huma.Operation{OperationID: "generate-spec", Method: http.MethodPost, Path: Prefix + "/specs/generate", Tags: []string{"specs"},
		Summary: "Generate a spec from a description", Description: "A valid spec from the model (Ollama); nothing is built (scope build).",
		MaxBodyBytes: 16 << 10, Errors: errorsOf(http.StatusForbidden, http.StatusUnprocessableEntity)}, a.generateSpec)
	huma.Register(a.huma, huma.Operation{OperationID: "get-schema", Method: http.MethodGet, Path: Prefix + "/schema", Tags: []string{"specs"},
		Summary: "The JSON Schema of linux-build.yaml", Description: "What bot schema prints (draft 2020-12).", Errors: errorsOf()}, a.schema)
}

func (a *API) validate(ctx context.Context, in *validateInput) (*validateOutput, error) {
	if _, err := need(ctx, store.ScopeRead); err != nil {
		return nil, err
	}
	req, err := parseBody(in.ContentType, in.RawBody, false)
	var src []byte
	file := jsonFile
	switch {
	case err == nil:
		src, file = req.src, req.file
	case isStatus(err, http.StatusBadRequest):
		// Malformed: the validator says where, as bot validate does.
		src = in.RawBody
	default:
		return nil, err
	}
	_, diags := spec.Parse(file, src)
	return &validateOutput{Body: spec.NewReport(diags)}, nil
}

func (a *API) generateSpec(ctx context.Context, in *generateInput) (*generateOutput, error) {
	if _, err := need(ctx, store.ScopeBuild); err != nil {
		return nil, err
	}
	res, err := a.generate(ctx, in.Body.Prompt)
	if err != nil {
		return nil, err
	}
	out := GeneratedSpec{Spec: string(res.YAML), Warnings: res.Warnings, Attempts: res.Attempts, RunsCode: resolve.ExecutableContent(res.YAML)}
	if out.Warnings == nil {
		out.Warnings = []spec.Diagnostic{}
	}
	if out.RunsCode == nil {
		out.RunsCode = []string{}
	}
	return &generateOutput{Body: out}, nil
}

func (a *API) schema(ctx context.Context, _ *struct{}) (*schemaOutput, error) {
	if _, err := need(ctx, store.ScopeRead); err != nil {
		return nil, err
	}
	b, err := spec.SchemaJSON()
	if err != nil {
		return nil, a.internal(ctx, "schema", err)
	}
	return &schemaOutput{Body: b}, nil
}

// isStatus reports whether err is a problem with status.
func isStatus(err error, status int) bool {
	se, ok := err.(huma.StatusError)
	return ok && se.GetStatus() == status
}
