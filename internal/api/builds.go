package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/linux-builder/linux-builder/internal/ai"
	"github.com/linux-builder/linux-builder/internal/resolve"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
)

// apiRepo is the repository of runs the API starts from a spec: they have
// none (as `bot build`'s runs are "local").
const apiRepo = "api"

type createBuildInput struct {
	ContentType string `header:"Content-Type"`
	Outputs     string `query:"outputs" maxLength:"64" pattern:"^[a-z0-9]+(,[a-z0-9]+)*$" doc:"Make these outputs instead of the spec's (iso, qcow2, raw; comma-separated), as bot build --outputs does." example:"iso,qcow2"`
	NoBootTest  bool   `query:"noBootTest" doc:"Do not boot-test the ISO and disk images (as bot build --no-boot-test does, for this build alone): they get no boot-test marker and the build is not partial for it. Rebuilds keep it."`
	RawBody     []byte
}

type createBuildOutput struct {
	Location string `header:"Location"`
	Body     BuildCreated
}

// errorsOf declares the problems an operation may answer, besides the
// ones every authenticated operation may (401, 429, 503).
func errorsOf(codes ...int) []int {
	return append([]int{http.StatusUnauthorized, http.StatusTooManyRequests, http.StatusServiceUnavailable}, codes...)
}

// specRequestBody describes a body holding a spec or a description.
func specRequestBody(prompt bool) *huma.RequestBody {
	desc := "A spec (linux-build.yaml's content) as JSON, or as YAML with Content-Type: application/yaml."
	if prompt {
		desc += ` Or, in JSON, {"prompt": "a description"}: the spec is generated from it (Ollama).`
	}
	return &huma.RequestBody{Required: true, Description: desc, Content: map[string]*huma.MediaType{
		"application/json": {Schema: &huma.Schema{Type: "object", Description: "A spec, or {\"prompt\": \"…\"}; see GET /api/v1/schema.", AdditionalProperties: true}},
		"application/yaml": {Schema: &huma.Schema{Type: "object", Description: "A spec: linux-build.yaml as it is.", AdditionalProperties: true}},
	}}
}

// specProblemResponses documents the spec problems (400, 413, 422): the
// diagnostics of bot validate --format json. It is applied once huma has
// registered op (which declares its own 422).
func (a *API) specProblemResponses(op *huma.Operation) {
	schema := a.huma.OpenAPI().Components.Schemas.Schema(reflectType[SpecProblem](), true, "SpecProblem")
	if op.Responses == nil {
		op.Responses = map[string]*huma.Response{}
	}
	for _, code := range []int{http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity} {
		op.Responses[strconv.Itoa(code)] = &huma.Response{Description: http.StatusText(code) + ": the body or its spec, with diagnostics where there are some",
			Content: map[string]*huma.MediaType{"application/problem+json": {Schema: &huma.Schema{OneOf: []*huma.Schema{schema, a.errorSchema()}}}}}
	}
}

func (a *API) errorSchema() *huma.Schema {
	return a.huma.OpenAPI().Components.Schemas.Schema(reflectType[huma.ErrorModel](), true, "ErrorModel")
}

func (a *API) registerBuilds() {
	op := huma.Operation{OperationID: "create-build", Method: http.MethodPost, Path: Prefix + "/builds", Tags: []string{"builds"},
		Summary: "Start a build", Description: "Validates the spec and queues its build (scope build). A spec with errors is refused " +
			"with its diagnostics (422); a malformed body with its position (400).",
		DefaultStatus: http.StatusAccepted, MaxBodyBytes: int64(a.cfg.MaxBody), SkipValidateBody: true, // parsed and validated here
		Errors: errorsOf(http.StatusForbidden, http.StatusUnsupportedMediaType)}
	huma.Register(a.huma, op, func(ctx context.Context, in *createBuildInput) (*createBuildOutput, error) {
		r, err := a.createBuild(ctx, in.ContentType, in.RawBody, buildOptions{Outputs: splitList(in.Outputs), NoBootTest: in.NoBootTest})
		if err != nil {
			return nil, err
		}
		l := links(a.cfg.PublicURL, r.ID)
		return &createBuildOutput{Location: l.Self, Body: BuildCreated{ID: r.ID, Status: r.Status, Links: l}}, nil
	})
	a.setRequestBody(op.Method, op.Path, specRequestBody(true))
	a.specProblemResponses(a.huma.OpenAPI().Paths[op.Path].Post)
}

// setRequestBody replaces the request body huma describes for a RawBody
// operation (binary) with body.
func (a *API) setRequestBody(method, path string, body *huma.RequestBody) {
	item := a.huma.OpenAPI().Paths[path]
	if item == nil {
		return
	}
	if op := map[string]*huma.Operation{http.MethodPost: item.Post, http.MethodPut: item.Put}[method]; op != nil {
		op.RequestBody = body
	}
}

// buildOptions are what a request asks of a build besides its spec.
type buildOptions struct {
	// Outputs replace the spec's (none: the spec's own).
	Outputs []string
	// NoBootTest asks for no boot test (store.Run.NoBootTest).
	NoBootTest bool
}

// createBuild starts a build of the spec in body, or of one generated
// from the description in it, for the request's token.
func (a *API) createBuild(ctx context.Context, contentType string, body []byte, opts buildOptions) (*store.Run, error) {
	caller, err := need(ctx, store.ScopeBuild)
	if err != nil {
		return nil, err
	}
	req, err := parseBody(contentType, body, true)
	if err != nil {
		return nil, err
	}
	r := &store.Run{Trigger: run.TriggerAPI, Repo: apiRepo, RequestedBy: "token:" + caller.Name, APITokenID: &caller.TokenID, NoBootTest: opts.NoBootTest}
	if req.prompt != "" {
		gen, err := a.generate(ctx, req.prompt)
		if err != nil {
			return nil, err
		}
		if exec := resolve.ExecutableContent(gen.YAML); len(exec) > 0 {
			return nil, huma.Error422UnprocessableEntity("the generated spec runs code the model chose (" + strings.Join(exec, "; ") +
				"): not built. Review it (POST /api/v1/specs/generate) and send it as the spec to build it.")
		}
		req.src, req.file = gen.YAML, yamlFile
		r.Prompt = req.prompt
	}
	src, _, err := checkSpec(req.file, req.src, opts.Outputs)
	if err != nil {
		return nil, err
	}
	r.SpecSource, r.SpecPath = string(src), req.file
	if err := a.cfg.Store.StartRun(ctx, r, a.cfg.Jobs); err != nil {
		return nil, a.internal(ctx, "start run", err)
	}
	a.cfg.Logger.InfoContext(ctx, "api: build queued", "run", r.ID, "token", caller.Name, "prompt", r.Prompt != "", "no_boot_test", r.NoBootTest)
	return r, nil
}

// generateTimeout bounds one description's generation, all attempts.
const generateTimeout = 10 * time.Minute

// generate turns a description into a valid spec, at most
// MaxGenerations at once.
func (a *API) generate(ctx context.Context, prompt string) (*ai.Result, error) {
	if a.cfg.Generator == nil {
		return nil, huma.Error503ServiceUnavailable("no AI service is configured (OLLAMA_URL)")
	}
	select {
	case a.generating <- struct{}{}:
		defer func() { <-a.generating }()
	default:
		return nil, huma.ErrorWithHeaders(huma.Error503ServiceUnavailable("the AI service is busy with other descriptions; try again"),
			http.Header{"Retry-After": []string{"30"}})
	}
	ctx, cancel := context.WithTimeout(ctx, generateTimeout)
	defer cancel()
	res, err := a.cfg.Generator.GenerateLogged(ctx, prompt, nil)
	var ge *ai.GenerateError
	switch {
	case errors.As(err, &ge):
		return nil, huma.Error422UnprocessableEntity(fmt.Sprintf("the model did not produce a valid spec in %d attempts: %s",
			ge.Attempts, strings.Join(ge.Problems, "; ")))
	case errors.Is(err, ai.ErrUnreachable), errors.Is(err, ai.ErrModelMissing):
		return nil, huma.Error503ServiceUnavailable("the AI service is not available: " + err.Error())
	case err != nil:
		a.cfg.Logger.WarnContext(ctx, "api: generate", "err", err)
		return nil, huma.Error503ServiceUnavailable("the AI service failed; try again")
	}
	return res, nil
}

// splitList splits a comma-separated list ("" is none).
func splitList(v string) []string {
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}
