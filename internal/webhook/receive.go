package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/linux-builder/linux-builder/internal/logging"
	"github.com/linux-builder/linux-builder/internal/store"
)

// receive answers one delivery, step by step: its headers, its body
// within the budget, the signature over the raw bytes, what it asks for
// (decide), the installation's suspension, the durable intake, and only
// then the answer. It sets *outcome when the delivery is answered with an
// outcome its status code does not tell (see Observer).
func receive(cfg *Config, c *fiber.Ctx, outcome *string) error {
	// Headers first: nothing of a compressed, unsigned or oversized body
	// is read.
	sig, ref := precheck(cfg, c)
	if ref != nil {
		return refuse(c, ref)
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), 8*time.Second)
	defer cancel()
	body, release, ref := readBody(ctx, cfg, c)
	if ref != nil {
		return refuse(c, ref)
	}
	defer release()
	// Then the signature, over the raw bytes: nothing of an unsigned body
	// is parsed.
	if !hmac.Equal(sig, mac(cfg.Secret, body)) {
		return c.Status(fiber.StatusUnauthorized).SendString("bad or missing signature")
	}
	r := newReceived(cfg, c, body)
	if r.event == "ping" {
		*outcome = OutcomePing
		return c.Status(fiber.StatusOK).SendString("pong")
	}
	in, later := r.decide(ctx)
	if later == nil {
		in, later = r.unlessSuspended(ctx, in)
	}
	if later != nil {
		return later.answer(c)
	}
	res, later := r.intake(ctx, in)
	if later != nil {
		return later.answer(c)
	}
	return r.answer(ctx, c, in, res, outcome)
}

// received is a delivery whose signature holds, being decided and
// recorded.
type received struct {
	cfg       *Config
	body      []byte
	event, id string
	// d is the delivery's record: the deciders describe the delivery
	// in it.
	d *store.Delivery
}

// newReceived reads the delivery's event and id from the headers and
// digests its body.
func newReceived(cfg *Config, c *fiber.Ctx, body []byte) *received {
	// Copies: Fiber's strings alias the connection's buffers, reused for
	// the next request, and a delivery may still be committed after its
	// request timed out.
	event, id := strings.Clone(c.Get("X-GitHub-Event")), strings.Clone(c.Get("X-GitHub-Delivery"))
	sum := sha256.Sum256(body)
	return &received{cfg: cfg, body: body, event: event, id: id,
		d: &store.Delivery{AppID: cfg.AppID, DeliveryID: id, Event: event, PayloadSHA256: hex.EncodeToString(sum[:])}}
}

// with is the delivery's attributes, then args, for a line logged. The
// receiver's hot path attaches them when a line is logged rather than
// enriching a logger in the context (logging.With) for every delivery,
// logged or not: same keys, no allocation per delivery.
func (r *received) with(args ...any) []any {
	return append([]any{logging.KeyDelivery, r.id, logging.KeyEvent, r.event}, args...)
}

// redeliver is the answer to a delivery that could not be checked,
// decided or recorded now: 503, not acknowledged, so GitHub shows the
// delivery as failed and it can be redelivered (by hand, or by the
// missed-delivery job).
type redeliver struct{ msg string }

// answer answers 503 with the reason.
func (rd *redeliver) answer(c *fiber.Ctx) error {
	return c.Status(fiber.StatusServiceUnavailable).SendString(rd.msg)
}

// decide returns what the delivery asks for: installation events are
// applied (installation), the events with a decider are decided by it
// (its error rejects the delivery, a transientError asks for a
// redelivery), the others are ignored.
func (r *received) decide(ctx context.Context) (store.Intent, *redeliver) {
	if r.event == "installation" || r.event == "installation_repositories" {
		return r.installation(ctx)
	}
	decider, ok := handlers[r.event]
	if !ok {
		return ignored(fmt.Sprintf("%s events are not handled", r.event)), nil
	}
	in, err := decider(ctx, r.cfg, r.body, r.d)
	if err == nil {
		return in, nil
	}
	var te transientError
	if errors.As(err, &te) {
		r.cfg.Logger.ErrorContext(ctx, "deciding the delivery failed", r.with(logging.KeyErr, err)...)
		return in, &redeliver{"could not decide the delivery; please redeliver"}
	}
	return store.Intent{Outcome: store.OutcomeRejected, Reason: err.Error()}, nil
}

// installation applies an installation event. These change state before
// the delivery is recorded: a replay (a suspension, say) is caught here,
// not by intake.
func (r *received) installation(ctx context.Context) (store.Intent, *redeliver) {
	first, err := r.cfg.replayOf(ctx, r.d.PayloadSHA256, r.id)
	if err != nil {
		r.cfg.Logger.ErrorContext(ctx, "replay lookup failed", r.with(logging.KeyErr, err)...)
		return store.Intent{}, &redeliver{"could not check the delivery; please redeliver"}
	}
	if first != "" {
		return ignored(fmt.Sprintf("replay of delivery %s (the same payload)", first)), nil
	}
	in, err := applyInstallation(ctx, r.cfg.Store, r.event, r.body, r.d)
	if err != nil {
		r.cfg.Logger.ErrorContext(ctx, "recording the installation failed", r.with(logging.KeyErr, err)...)
		return in, &redeliver{"could not record the installation; please redeliver"}
	}
	if r.d.InstallationID != nil {
		r.cfg.installs.forget(*r.d.InstallationID)
	}
	return in, nil
}

// unlessSuspended ignores what the delivery asks for (a run, an event
// job) when its installation is suspended.
func (r *received) unlessSuspended(ctx context.Context, in store.Intent) (store.Intent, *redeliver) {
	if in.Run == nil && in.Event == nil {
		return in, nil
	}
	inst, err := r.cfg.installs.get(ctx, r.d.InstallationID)
	if err != nil {
		r.cfg.Logger.ErrorContext(ctx, "installation lookup failed", r.with(logging.KeyErr, err)...)
		return in, &redeliver{"could not check the installation; please redeliver"}
	}
	if inst.Suspended {
		return ignored("the installation is suspended"), nil
	}
	return in, nil
}

// intake durably records the delivery and what it asks for.
func (r *received) intake(ctx context.Context, in store.Intent) (store.IntakeResult, *redeliver) {
	r.d.ReceivedAt = r.cfg.Now().UTC()
	res, err := r.cfg.Intake.Intake(ctx, &store.IntakeItem{Delivery: r.d, Intent: in, ReplayWindow: max(r.cfg.ReplayWindow, 0)})
	if err != nil {
		r.cfg.Logger.ErrorContext(ctx, "intake failed", r.with(logging.KeyErr, err)...)
		return res, &redeliver{"could not record the delivery; please redeliver"}
	}
	return res, nil
}

// answer acknowledges a recorded delivery: 200 for a duplicate or a
// replay (recorded, nothing started), else 202 with its run or its
// outcome.
func (r *received) answer(ctx context.Context, c *fiber.Ctx, in store.Intent, res store.IntakeResult, outcome *string) error {
	log := r.cfg.Logger
	*outcome = outcomeLabel(in.Outcome)
	if res.Duplicate {
		*outcome = OutcomeDuplicate
		return c.Status(fiber.StatusOK).SendString("already received")
	}
	if res.ReplayOf != "" {
		*outcome = OutcomeReplay
		// Acknowledged, so GitHub does not retry; recorded; nothing started.
		log.WarnContext(ctx, "a delivered payload came again under a new delivery id", r.with("replay_of", res.ReplayOf)...)
		return c.Status(fiber.StatusOK).SendString("already received as delivery " + res.ReplayOf)
	}
	if log.Enabled(ctx, slog.LevelInfo) {
		log.InfoContext(ctx, "delivery recorded", r.with("outcome", in.Outcome, "reason", in.Reason, logging.KeyRun, res.RunID,
			"coalesced", res.Coalesced, "cancelled", res.Cancelled)...)
	}
	if res.RunID != 0 {
		return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"run_id": res.RunID, "coalesced": res.Coalesced, "cancelled": res.Cancelled})
	}
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"outcome": in.Outcome, "reason": in.Reason, "cancelled": res.Cancelled})
}
