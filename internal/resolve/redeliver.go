package resolve

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/linux-builder/linux-builder/internal/github"
	"github.com/linux-builder/linux-builder/internal/logging"
)

// DeliveryLister is the App-level GitHub API the missed-delivery job uses.
type DeliveryLister interface {
	Deliveries(ctx context.Context, since time.Time, maxPages int) ([]github.Delivery, error)
	Redeliver(ctx context.Context, id int64) error
}

// RecordedDeliveries tells which delivery GUIDs the store has.
type RecordedDeliveries interface {
	RecordedDeliveries(ctx context.Context, appID int64, ids []string) (map[string]bool, error)
}

// Redeliverer finds webhook deliveries GitHub could not hand to the bot
// (it was down, or answered 503 because the database was) and asks GitHub
// to send them again: GitHub never redelivers on its own.
type Redeliverer struct {
	GitHub DeliveryLister
	Store  RecordedDeliveries
	AppID  int64
	// Window is how far back to look; GitHub keeps deliveries for three
	// days. Default 24h.
	Window time.Duration
	// MaxAttempts caps the attempts of one delivery (the first one
	// included), so a delivery that always fails is not redelivered for
	// ever. Default 4.
	MaxAttempts int
	// MaxPerRun caps the redeliveries asked for in one run. Default 100.
	MaxPerRun int
	Logger    *slog.Logger
	Now       func() time.Time
}

// RedeliverMissed implements queue.Redeliverer.
func (r *Redeliverer) RedeliverMissed(ctx context.Context) error {
	window, maxAttempts, maxRun := r.Window, r.MaxAttempts, r.MaxPerRun
	if window <= 0 {
		window = 24 * time.Hour
	}
	if maxAttempts <= 0 {
		maxAttempts = 4
	}
	if maxRun <= 0 {
		maxRun = 100
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	log := r.Logger
	if log == nil {
		log = slog.Default()
	}
	list, err := r.GitHub.Deliveries(ctx, now().Add(-window), 50)
	if err != nil {
		return err
	}
	// The attempts of one delivery share its GUID; the list is newest
	// first, so the first attempt seen is the latest.
	type summary struct {
		latest    github.Delivery
		attempts  int
		succeeded bool
		retryable bool
	}
	byGUID := map[string]*summary{}
	var order []string
	for _, d := range list {
		s, ok := byGUID[d.GUID]
		if !ok {
			s = &summary{latest: d}
			byGUID[d.GUID] = s
			order = append(order, d.GUID)
		}
		s.attempts++
		if d.StatusCode >= 200 && d.StatusCode < 300 {
			s.succeeded = true
		}
	}
	var candidates []string
	for _, guid := range order {
		s := byGUID[guid]
		code := s.latest.StatusCode
		// Only failures a redelivery can fix: no answer (0), a timeout or
		// a server error. A 4xx (a bad signature) would fail again.
		s.retryable = code == 0 || code == 408 || code == 429 || code >= 500
		if !s.succeeded && s.retryable && s.attempts < maxAttempts {
			candidates = append(candidates, guid)
		}
	}
	if len(candidates) == 0 {
		return nil
	}
	recorded, err := r.Store.RecordedDeliveries(ctx, r.AppID, candidates)
	if err != nil {
		return fmt.Errorf("missed deliveries: %w", err)
	}
	asked := 0
	for _, guid := range candidates {
		if recorded[guid] || asked >= maxRun {
			continue
		}
		s := byGUID[guid]
		if err := r.GitHub.Redeliver(ctx, s.latest.ID); err != nil {
			log.WarnContext(ctx, "redelivery failed", "guid", guid, "attempt", s.latest.ID, logging.KeyErr, err)
			continue
		}
		asked++
		log.InfoContext(ctx, "asked GitHub to redeliver a missed delivery", "guid", guid, "event", s.latest.Event,
			"status_code", s.latest.StatusCode, "attempts", s.attempts)
	}
	return nil
}
