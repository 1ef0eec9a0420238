package logging

import (
	"context"
	"log/slog"
)

// Attribute keys: every log line that names one of these things names it
// with the same key, so one query finds a delivery's or a run's lines
// across the receiver, the worker and the reporting.
const (
	KeyDelivery     = "delivery_id"     // X-GitHub-Delivery
	KeyEvent        = "event"           // X-GitHub-Event
	KeyInstallation = "installation_id" // a GitHub App installation
	KeyRepo         = "repo"            // owner/name
	KeyRun          = "run_id"
	KeyJob          = "job_id" // a River job
	KeyJobKind      = "job_kind"
	KeyStep         = "step"
	KeyErr          = "err"
)

type ctxKey struct{}

// With returns a context whose logger (From) carries args (key-value
// pairs or slog.Attrs) after those it already has. Entry points enrich
// the context once — the receiver with the delivery, a job with its run —
// and everything below logs through From(ctx).
func With(ctx context.Context, args ...any) context.Context {
	return context.WithValue(ctx, ctxKey{}, From(ctx).With(args...))
}

// WithLogger returns a context carrying l.
func WithLogger(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, ctxKey{}, l)
}

// Carried reports whether ctx carries a logger (With or WithLogger).
func Carried(ctx context.Context) bool {
	l, ok := ctx.Value(ctxKey{}).(*slog.Logger)
	return ok && l != nil
}

// From is the logger ctx carries, or slog.Default() when it carries none.
func From(ctx context.Context) *slog.Logger {
	if ctx != nil {
		if l, ok := ctx.Value(ctxKey{}).(*slog.Logger); ok && l != nil {
			return l
		}
	}
	return slog.Default()
}
