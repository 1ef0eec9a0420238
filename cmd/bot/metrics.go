package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"

	"github.com/linux-builder/linux-builder/internal/metrics"
	"github.com/linux-builder/linux-builder/internal/metrics/expose"
	"github.com/linux-builder/linux-builder/internal/queue"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/webhook"
)

// startMetrics makes the process's metrics, with the database's gauges
// (runs not ended, the queues) read from db at each scrape, and serves
// them as ms says (mainPort: the process has a main port to mount them
// on, see mountMetrics).
func startMetrics(ctx context.Context, ms *expose.Settings, db *store.DB, mainPort bool) (*metrics.Metrics, *expose.Exposure, error) {
	m := metrics.New(metrics.Options{Events: webhook.Events(), Outcomes: webhook.Outcomes(), Counts: db, Queues: queue.Names(), Logger: slog.Default()})
	e, err := ms.Expose(ctx, m.Handler(), slog.Default(), mainPort)
	if err != nil {
		return nil, nil, err
	}
	return m, e, nil
}

// mountMetrics adds GET /metrics to the main port's app when e says they
// are served there.
func mountMetrics(app *fiber.App, e *expose.Exposure) {
	if e.MainPort != nil {
		app.Get("/metrics", adaptor.HTTPHandler(e.MainPort))
	}
}

// validateMetrics is ms.Validate as a usage error.
func validateMetrics(ms *expose.Settings) error {
	if err := ms.Validate(); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	return nil
}
