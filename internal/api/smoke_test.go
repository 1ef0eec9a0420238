package api_test

import (
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
}
