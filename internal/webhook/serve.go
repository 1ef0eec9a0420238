package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/linux-builder/linux-builder/internal/logging"
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

// recoverPanics answers a request whose handler panicked with 500 (the
// delivery is not acknowledged: GitHub shows it failed, and it can be
// redelivered) and logs the panic with the delivery id and the stack; the
// process goes on serving.
func recoverPanics(log *slog.Logger) fiber.Handler {
	return func(c *fiber.Ctx) (err error) {
		defer func() {
			r := recover()
			if r == nil {
				return
			}
			log.ErrorContext(c.UserContext(), "request handler panicked", logging.KeyDelivery, c.Get("X-GitHub-Delivery"),
				logging.KeyEvent, c.Get("X-GitHub-Event"), "path", c.Path(), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = c.Status(fiber.StatusInternalServerError).SendString("internal error; please redeliver")
		}()
		return c.Next()
	}
}
