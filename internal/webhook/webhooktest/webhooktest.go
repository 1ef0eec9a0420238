// Package webhooktest sends deliveries to a receiver in tests, the way
// GitHub does.
package webhooktest

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gofiber/fiber/v2"
)

// Secret is the webhook secret the tests' receivers use.
const Secret = "It's a Secret to Everybody"

// Post sends body as delivery id of event to app's /webhook with the
// X-Hub-Signature-256 sig (none when empty) and returns the status and
// the answer's body.
func Post(t testing.TB, app *fiber.App, event, id string, body []byte, sig string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", id)
	if sig != "" {
		req.Header.Set("X-Hub-Signature-256", sig)
	}
	resp, err := app.Test(req, 10000)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
