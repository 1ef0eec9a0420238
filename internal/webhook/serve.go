package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"time"

	"github.com/gofiber/fiber/v2"
)

// Serve answers on ln until ctx is done, then shuts app down, giving
// requests in flight up to ten seconds to finish (their deliveries are
// committed or refused, never half-answered).
func Serve(ctx context.Context, app *fiber.App, ln net.Listener) error {
	served := make(chan error, 1)
	go func() { served <- app.Listener(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	if err := app.ShutdownWithTimeout(10 * time.Second); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	return nil
}

// Sign returns the X-Hub-Signature-256 value GitHub would send.
func Sign(secret string, body []byte) string {
	return "sha256=" + hex.EncodeToString(mac(secret, body))
}

func mac(secret string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return m.Sum(nil)
}
