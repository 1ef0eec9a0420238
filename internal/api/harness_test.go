package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/linux-builder/linux-builder/internal/ai"
	"github.com/linux-builder/linux-builder/internal/api"
	"github.com/linux-builder/linux-builder/internal/artifacts"
	"github.com/linux-builder/linux-builder/internal/queue"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/webhook"
)

// env is a real server on loopback: the webhook's Fiber app with the API
// registered, a migrated store, River's insert side and a file artifact
// store. Every /api/v1 exchange is checked against the served OpenAPI
// document.
type env struct {
	t      *testing.T
	db     *store.DB
	as     *artifacts.Store
	jobs   *queue.Inserter
	gen    *fakeGenerator
	base   string
	router routers.Router
	doc    *openapi3.T
	client *http.Client
}

type envOptions struct {
	rate       api.Rate
	failedRate api.Rate
	maxBody    int
	streamIdle time.Duration
}

func newEnv(t *testing.T, db *store.DB, o envOptions) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	as, err := artifacts.Open(ctx, artifacts.Config{URL: "file://" + t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ins, err := queue.NewInserter(db, queue.InserterConfig{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	gen := &fakeGenerator{}
	app, err := webhook.New(webhook.Config{Secret: "s", Store: db, Intake: noIntake{}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	a, err := api.New(api.Config{Store: db, Jobs: ins, Artifacts: as, Generator: gen, Rate: o.rate, FailedAuthRate: o.failedRate,
		MaxBody: o.maxBody, StreamIdle: o.streamIdle, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	a.Register(app)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- webhook.Serve(ctx, app, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-served:
		case <-time.After(15 * time.Second):
			t.Error("the server did not stop")
		}
		as.Close()
	})
	e := &env{t: t, db: db, as: as, jobs: ins, gen: gen, base: "http://" + ln.Addr().String(),
		client: &http.Client{Timeout: 20 * time.Second}}
	e.loadDoc()
	return e
}

// loadDoc fetches the served OpenAPI document, checks that it is valid
// and makes the router requests are validated with.
func (e *env) loadDoc() {
	e.t.Helper()
	resp, err := e.client.Get(e.base + "/api/v1/openapi.json")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		e.t.Fatalf("openapi.json: %d %s", resp.StatusCode, raw)
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(raw)
	if err != nil {
		e.t.Fatalf("load OpenAPI: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		e.t.Fatalf("OpenAPI version %q, want 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background()); err != nil {
		e.t.Fatalf("the OpenAPI document is not valid: %v", err)
	}
	doc.Servers = openapi3.Servers{{URL: e.base}}
	if e.router, err = gorillamux.NewRouter(doc); err != nil {
		e.t.Fatal(err)
	}
	e.doc = doc
}

// reqOpts are how a test request is made and checked.
type reqOpts struct {
	token   string
	ctype   string
	headers map[string]string
	// invalid marks a request the document itself refuses (an attack):
	// its validation against the document must fail; the response is
	// still checked.
	invalid bool
	// raw skips the document (the seed's routes are not in it).
	raw bool
}

// do sends a request and returns the response with its body read, having
// checked both against the OpenAPI document.
func (e *env) do(method, path string, body []byte, o reqOpts) (*http.Response, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.base+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if o.token != "" {
		req.Header.Set("Authorization", "Bearer "+o.token)
	}
	if o.ctype != "" {
		req.Header.Set("Content-Type", o.ctype)
	} else if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range o.headers {
		req.Header.Set(k, v)
	}
	var in *openapi3filter.RequestValidationInput
	if !o.raw {
		route, params, err := e.router.FindRoute(req)
		if err != nil {
			e.t.Fatalf("%s %s is not in the OpenAPI document: %v", method, path, err)
		}
		in = &openapi3filter.RequestValidationInput{Request: cloneReq(e.t, req, body), PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
		err = openapi3filter.ValidateRequest(context.Background(), in)
		switch {
		case err != nil && !o.invalid:
			e.t.Fatalf("%s %s: the request does not match the document: %v", method, path, err)
		case err == nil && o.invalid:
			e.t.Fatalf("%s %s: the document accepts a request the test sends as invalid", method, path)
		}
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	if in != nil {
		out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
			Options: &openapi3filter.Options{IncludeResponseStatus: true}}
		out.SetBodyBytes(got)
		if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
			e.t.Fatalf("%s %s: the response (%d %s) does not match the document: %v", method, path, resp.StatusCode, truncate(got), err)
		}
	}
	return resp, got
}

func cloneReq(t *testing.T, r *http.Request, body []byte) *http.Request {
	t.Helper()
	c := r.Clone(context.Background())
	c.Body = io.NopCloser(bytes.NewReader(body))
	return c
}

func truncate(b []byte) string {
	if len(b) > 400 {
		return string(b[:400]) + "…"
	}
	return string(b)
}

// with is e reporting to t (a subtest).
func (e *env) with(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

// token makes a token of scope and returns it.
func (e *env) token(name string, scope store.Scope) (string, *store.APIToken) {
	e.t.Helper()
	tok, hash, err := api.NewToken()
	if err != nil {
		e.t.Fatal(err)
	}
	row, err := e.db.CreateToken(context.Background(), name, scope, hash)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok, row
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %T: %v: %s", v, err, truncate(b))
	}
	return v
}

func wantStatus(t *testing.T, resp *http.Response, body []byte, want int) {
	t.Helper()
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d: %s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, want, truncate(body))
	}
}

// fakeGenerator stands for Ollama: it answers a fixed spec.
type fakeGenerator struct {
	mu      sync.Mutex
	yaml    string
	err     error
	prompts []string
	// block, when set, holds every generation until it is closed.
	block   chan struct{}
	started chan struct{}
}

func (g *fakeGenerator) GenerateLogged(ctx context.Context, prompt string, _ func(string)) (*ai.Result, error) {
	if g.block != nil {
		g.started <- struct{}{}
		select {
		case <-g.block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.prompts = append(g.prompts, prompt)
	if g.err != nil {
		return nil, g.err
	}
	return &ai.Result{YAML: []byte(g.yaml), Attempts: 1}, nil
}

type noIntake struct{}

func (noIntake) Intake(context.Context, *store.IntakeItem) (store.IntakeResult, error) {
	return store.IntakeResult{}, nil
}

var quiet = slogDiscard()
