package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/linux-builder/linux-builder/internal/api"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/spec"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

func exampleYAML(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("../../examples/minimal-debian.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func exampleJSON(t *testing.T) []byte {
	t.Helper()
	var v map[string]any
	if err := yaml.Unmarshal(exampleYAML(t), &v); err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBuildLifecycle starts builds from YAML and JSON specs, reads,
// lists, cancels and rebuilds them, against both stores: each build's
// run and its queued job are committed together.
func TestBuildLifecycle(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB, _ *storetest.Clock) {
		e := newEnv(t, db, envOptions{})
		tok, row := e.token("ci", store.ScopeBuild)
		ctx := context.Background()

		resp, body := e.do("POST", "/api/v1/builds?outputs=iso,qcow2", exampleYAML(t), reqOpts{token: tok, ctype: "application/yaml"})
		wantStatus(t, resp, body, http.StatusAccepted)
		created := decode[api.BuildCreated](t, body)
		if created.Status != run.StatusPending || created.Links.Self != fmt.Sprintf("/api/v1/builds/%d", created.ID) ||
			resp.Header.Get("Location") != created.Links.Self {
			t.Fatalf("created %+v, Location %q", created, resp.Header.Get("Location"))
		}
		r, err := db.Run(ctx, created.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r.JobID == nil || r.Trigger != run.TriggerAPI || r.APITokenID == nil || *r.APITokenID != row.ID || r.SpecPath != "linux-build.yaml" {
			t.Fatalf("run %+v", r)
		}
		if !strings.Contains(r.SpecSource, "outputs: [iso, qcow2]") || !strings.Contains(r.SpecSource, "openssh-server") {
			t.Fatalf("the run's spec lacks the outputs asked for:\n%s", r.SpecSource)
		}
		var jobs int
		if err := db.Bun.NewRaw("SELECT count(*) FROM river_job WHERE id = ?", *r.JobID).Scan(ctx, &jobs); err != nil || jobs != 1 {
			t.Fatalf("the build's job: %d rows, %v", jobs, err)
		}

		resp, body = e.do("POST", "/api/v1/builds", exampleJSON(t), reqOpts{token: tok})
		wantStatus(t, resp, body, http.StatusAccepted)
		second := decode[api.BuildCreated](t, body)
		if second.ID == created.ID {
			t.Fatal("the same spec asked twice joined one build: each API build is its own")
		}
		if r2, _ := db.Run(ctx, second.ID); r2 == nil || r2.SpecPath != "linux-build.json" || r2.JobID == nil || *r2.JobID == *r.JobID {
			t.Fatalf("second run %+v", r2)
		}

		resp, body = e.do("GET", fmt.Sprintf("/api/v1/builds/%d", created.ID), nil, reqOpts{token: tok})
		wantStatus(t, resp, body, http.StatusOK)
		b := decode[api.Build](t, body)
		if b.ID != created.ID || b.Status != run.StatusPending || b.Trigger != run.TriggerAPI || b.RequestedBy != "token:ci" || b.Steps == nil || b.Artifacts == nil {
			t.Fatalf("build %+v", b)
		}

		resp, body = e.do("GET", "/api/v1/builds?limit=1", nil, reqOpts{token: tok})
		wantStatus(t, resp, body, http.StatusOK)
		page := decode[api.BuildList](t, body)
		if len(page.Builds) != 1 || page.Builds[0].ID != second.ID || page.NextCursor == "" {
			t.Fatalf("first page %+v", page)
		}
		resp, body = e.do("GET", "/api/v1/builds?limit=1&cursor="+page.NextCursor, nil, reqOpts{token: tok})
		wantStatus(t, resp, body, http.StatusOK)
		if page = decode[api.BuildList](t, body); len(page.Builds) != 1 || page.Builds[0].ID != created.ID {
			t.Fatalf("second page %+v", page)
		}
		resp, body = e.do("GET", "/api/v1/builds?status=SUCCESS&trigger=api", nil, reqOpts{token: tok})
		wantStatus(t, resp, body, http.StatusOK)
		if page = decode[api.BuildList](t, body); len(page.Builds) != 0 {
			t.Fatalf("filtered by status: %+v", page)
		}

		resp, body = e.do("POST", fmt.Sprintf("/api/v1/builds/%d/cancel", created.ID), nil, reqOpts{token: tok})
		wantStatus(t, resp, body, http.StatusAccepted)
		if c := decode[api.BuildCreated](t, body); c.Status != run.StatusCancelled {
			t.Fatalf("cancelled: %+v", c)
		}
		resp, body = e.do("POST", fmt.Sprintf("/api/v1/builds/%d/cancel", created.ID), nil, reqOpts{token: tok})
		wantStatus(t, resp, body, http.StatusConflict)

		resp, body = e.do("POST", fmt.Sprintf("/api/v1/builds/%d/rebuild", created.ID), nil, reqOpts{token: tok})
		wantStatus(t, resp, body, http.StatusAccepted)
		again := decode[api.BuildCreated](t, body)
		ra, err := db.Run(ctx, again.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !ra.NoCache || ra.Trigger != run.TriggerRerun || ra.APITokenID == nil || *ra.APITokenID != row.ID || ra.SpecSource != r.SpecSource || ra.JobID == nil {
			t.Fatalf("rebuild %+v", ra)
		}
	})
}

// TestSpecProblems: an invalid spec is refused with bot validate's
// diagnostics (422), a malformed body with its position (400), an
// oversized one with 413, an unknown content type with 415.
func TestSpecProblems(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t, nil), envOptions{maxBody: 64 << 10})
	tok, _ := e.token("ci", store.ScopeBuild)

	invalid := strings.Replace(string(exampleYAML(t)), "init: systemd", "init: systemd\ndisplay:\n  compositr: sway", 1)
	resp, body := e.do("POST", "/api/v1/builds", []byte(invalid), reqOpts{token: tok, ctype: "application/yaml"})
	wantStatus(t, resp, body, http.StatusUnprocessableEntity)
	p := decode[api.SpecProblem](t, body)
	if p.Valid || p.Errors != 1 || len(p.Diagnostics) == 0 || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("problem %+v", p)
	}
	d := p.Diagnostics[0]
	if d.Path != "display.compositr" || d.Pos.Line != 11 || d.Pos.Column != 3 || d.Code != spec.CodeUnknownField || d.Hint == "" {
		t.Fatalf("diagnostic %+v", d)
	}

	resp, body = e.do("POST", "/api/v1/builds", []byte("base: debian\npackages: [curl\n"), reqOpts{token: tok, ctype: "application/yaml", invalid: true})
	wantStatus(t, resp, body, http.StatusBadRequest)
	p = decode[api.SpecProblem](t, body)
	if len(p.Diagnostics) == 0 || p.Diagnostics[0].Code != spec.CodeSyntax || p.Diagnostics[0].Pos.Line == 0 {
		t.Fatalf("malformed YAML: %+v", p)
	}

	resp, body = e.do("POST", "/api/v1/builds", []byte("{\n  \"base\": \"debian\",\n  \"packages\": [\"curl\",]\n}"), reqOpts{token: tok, invalid: true})
	wantStatus(t, resp, body, http.StatusBadRequest)
	if !strings.Contains(string(body), "linux-build.json:3:") {
		t.Fatalf("malformed JSON without its position: %s", body)
	}

	huge := "base: debian\npackages:\n" + strings.Repeat("  - curl\n", 10000)
	resp, body = e.do("POST", "/api/v1/builds", []byte(huge), reqOpts{token: tok, ctype: "application/yaml"})
	wantStatus(t, resp, body, http.StatusRequestEntityTooLarge)

	resp, body = e.do("POST", "/api/v1/builds", []byte("base: debian"), reqOpts{token: tok, ctype: "text/html", invalid: true})
	wantStatus(t, resp, body, http.StatusUnsupportedMediaType)

	resp, body = e.do("POST", "/api/v1/builds?outputs=iso,floppy", exampleYAML(t), reqOpts{token: tok, ctype: "application/yaml"})
	wantStatus(t, resp, body, http.StatusUnprocessableEntity)

	resp, body = e.do("POST", "/api/v1/builds", nil, reqOpts{token: tok, ctype: "application/json", invalid: true})
	wantStatus(t, resp, body, http.StatusBadRequest)

	runs, err := e.db.ListRuns(context.Background(), store.RunFilter{})
	if err != nil || len(runs) != 0 {
		t.Fatalf("refused specs left runs: %d %v", len(runs), err)
	}
}

// TestValidateAndSchema: the validation report of bot validate --format
// json, and the schema of bot schema.
func TestValidateAndSchema(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t, nil), envOptions{})
	tok, _ := e.token("reader", store.ScopeRead)
	resp, body := e.do("POST", "/api/v1/specs/validate", exampleYAML(t), reqOpts{token: tok, ctype: "application/yaml"})
	wantStatus(t, resp, body, http.StatusOK)
	if rep := decode[spec.Report](t, body); !rep.Valid || rep.Errors != 0 {
		t.Fatalf("valid spec: %+v", rep)
	}
	resp, body = e.do("POST", "/api/v1/specs/validate", []byte(`{"base": "debain"}`), reqOpts{token: tok})
	wantStatus(t, resp, body, http.StatusOK)
	rep := decode[spec.Report](t, body)
	if rep.Valid || rep.Errors == 0 || rep.Diagnostics[0].Path != "base" || rep.Diagnostics[0].Pos.Line != 1 {
		t.Fatalf("invalid spec: %+v", rep)
	}
	resp, body = e.do("POST", "/api/v1/specs/validate", []byte("{\"base\": "), reqOpts{token: tok, invalid: true})
	wantStatus(t, resp, body, http.StatusOK)
	if rep := decode[spec.Report](t, body); rep.Valid || rep.Diagnostics[0].Code != spec.CodeSyntax {
		t.Fatalf("malformed spec: %+v", rep)
	}
	resp, body = e.do("GET", "/api/v1/schema", nil, reqOpts{token: tok})
	wantStatus(t, resp, body, http.StatusOK)
	want, err := spec.SchemaJSON()
	if err != nil {
		t.Fatal(err)
	}
	var got, exp any
	if json.Unmarshal(body, &got) != nil || json.Unmarshal(want, &exp) != nil || fmt.Sprint(got) != fmt.Sprint(exp) {
		t.Fatalf("schema differs from bot schema's:\n%s", truncate(body))
	}
}
