package api_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

func TestOpenAPIDocumentIsValid(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t, nil), envOptions{})
	for _, p := range []string{"/api/v1/builds", "/api/v1/builds/{id}", "/api/v1/builds/{id}/logs", "/api/v1/builds/{id}/artifacts/{name}",
		"/api/v1/builds/{id}/cancel", "/api/v1/builds/{id}/rebuild", "/api/v1/specs/validate", "/api/v1/specs/generate", "/api/v1/schema"} {
		if e.doc.Paths.Find(p) == nil {
			t.Errorf("the document lacks %s", p)
		}
	}
	// The description is public; nothing else is.
	for _, p := range []string{"/api/v1/docs", "/api/v1/openapi.yaml", "/api/v1/openapi-3.0.json", "/api/v1/schemas/Build.json"} {
		resp, body := e.do("GET", p, nil, reqOpts{raw: true})
		wantStatus(t, resp, body, 200)
	}
	for _, p := range []string{"/api/v1/schema", "/api/v1/schemasX", "/api/v1/nothing"} {
		resp, body := e.do("GET", p, nil, reqOpts{raw: true})
		wantStatus(t, resp, body, 401)
	}
	// The public prefix lets nothing else through, however the path is spelt.
	for _, p := range []string{"/api/v1/schemas/../builds", "/api/v1/schemas/%2e%2e/builds", "/api/v1/schemas/..%2fbuilds", "/api/v1/docs/../builds"} {
		req, err := http.NewRequest("GET", e.base+"/x", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.URL.Opaque = p // sent as is, not cleaned by the client
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		// (huma's schema route answers "null" for a name it does not know)
		if strings.Contains(string(body), `"builds"`) || resp.StatusCode == 200 && string(body) != "null" {
			t.Fatalf("%s without a token: %d %s", p, resp.StatusCode, truncate(body))
		}
	}
}
