package githubtest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net/http"
)

// manifestRoute converts a code of GitHub's App-manifest flow into the
// App it created (unauthenticated).
const manifestRoute = "/app-manifests/{code}/conversions"

// ManifestApp is the App the fake hands out for a manifest code, with its
// credentials; tests may change it before the code is converted.
type ManifestApp struct {
	ID                                         int64
	Slug, Name, Owner                          string
	ClientID, ClientSecret, WebhookSecret, PEM string
	// Extra fields are merged into the answer (a hostile or odd GitHub).
	Extra map[string]any
	// Conversions is how many times the code was converted (GitHub allows
	// one).
	Conversions int
}

// AddManifestCode makes code convertible once into an App with a fresh
// 2048-bit RSA key and random secrets, and returns that App.
func (s *Server) AddManifestCode(code string) *ManifestApp {
	s.t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		s.t.Fatalf("fake GitHub: RSA key: %v", err)
	}
	random := func() string {
		b := make([]byte, 20)
		_, _ = rand.Read(b)
		return hex.EncodeToString(b)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	app := &ManifestApp{ID: s.nextID, Slug: fmt.Sprintf("linux-builder-%d", s.nextID), Name: "Linux Builder", Owner: "octo-org",
		ClientID: "Iv23li" + random()[:14], ClientSecret: random(), WebhookSecret: random(),
		PEM: string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))}
	if s.manifests == nil {
		s.manifests = map[string]*ManifestApp{}
	}
	s.manifests[code] = app
	return app
}

// handleManifestConversion fakes POST /app-manifests/{code}/conversions:
// a known code once (201), then 404, as GitHub answers a used or expired
// code.
func (s *Server) handleManifestConversion(rq call) {
	s.mu.Lock()
	app, ok := s.manifests[rq.params["code"]]
	if ok {
		app.Conversions++
		delete(s.manifests, rq.params["code"])
	}
	s.mu.Unlock()
	if !ok {
		notFound(rq.w, "https://docs.github.com/rest/apps/apps#create-a-github-app-from-a-manifest")
		return
	}
	base := "https://github.com"
	out := map[string]any{"id": app.ID, "slug": app.Slug, "node_id": "A_fake", "name": app.Name, "description": "",
		"external_url": "https://builder.example.com", "html_url": base + "/apps/" + app.Slug,
		"owner":      map[string]any{"login": app.Owner, "id": 1, "type": "Organization"},
		"created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
		"permissions": map[string]string{"checks": "write", "contents": "write", "metadata": "read"}, "events": []string{"push"},
		"client_id": app.ClientID, "client_secret": app.ClientSecret, "webhook_secret": app.WebhookSecret, "pem": app.PEM}
	for k, v := range app.Extra {
		out[k] = v
	}
	writeJSON(rq.w, http.StatusCreated, out)
}
