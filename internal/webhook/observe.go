package webhook

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/linux-builder/linux-builder/internal/store"
)

// Observer is told of every request to the webhook's path once it is
// answered (metrics). It is called on the receiver's hot path: it must be
// quick and must not allocate.
type Observer interface {
	// Delivery reports one request: its event (one of Events, whatever
	// the header said), its outcome (one of Outcomes), whether it was
	// acknowledged (a 2xx answer: GitHub counts it delivered) and the
	// time from its receipt to its answer.
	Delivery(event, outcome string, acked bool, latency time.Duration)
}

// Outcomes of a request to the webhook's path, as an Observer is told.
const (
	// The delivery was recorded with its intent's outcome (202).
	OutcomeQueued   = string(store.OutcomeQueued)
	OutcomeIgnored  = string(store.OutcomeIgnored)
	OutcomeRejected = string(store.OutcomeRejected)
	OutcomeDeferred = string(store.OutcomeDeferred)
	// OutcomeDuplicate: a delivery id seen before (200); OutcomeReplay: a
	// payload seen before under another id (200); OutcomePing: GitHub's
	// ping (200).
	OutcomeDuplicate = "duplicate"
	OutcomeReplay    = "replay"
	OutcomePing      = "ping"
	// OutcomeUnauthorized: a missing or wrong signature (401).
	OutcomeUnauthorized = "unauthorized"
	// OutcomeRefused: refused from its headers or body before the
	// signature (400, 413, 415, 431…).
	OutcomeRefused = "refused"
	// OutcomeUnavailable: not acknowledged for GitHub to redeliver: the
	// database, the body budget or a decision failed (503).
	OutcomeUnavailable = "unavailable"
	// OutcomeError: the handler failed or panicked (500).
	OutcomeError = "error"
)

// Outcomes lists every outcome an Observer is told.
func Outcomes() []string {
	return []string{OutcomeQueued, OutcomeIgnored, OutcomeRejected, OutcomeDeferred, OutcomeDuplicate, OutcomeReplay,
		OutcomePing, OutcomeUnauthorized, OutcomeRefused, OutcomeUnavailable, OutcomeError}
}

// EventOther is the event of a request whose X-GitHub-Event the receiver
// does not act on (or a malformed one).
const EventOther = "other"

// events are the events the receiver acts on, by their header value: the
// value is the same string, so a label never holds a header's bytes.
var events = func() map[string]string {
	m := map[string]string{"ping": "ping", "installation": "installation", "installation_repositories": "installation_repositories"}
	for e := range handlers {
		m[e] = e
	}
	return m
}()

// Events lists every event an Observer is told (EventOther included).
func Events() []string {
	out := []string{EventOther}
	for e := range events {
		out = append(out, e)
	}
	return out
}

// eventLabel is the event of X-GitHub-Event value h, as an Observer is
// told: one of the receiver's own strings.
func eventLabel(h string) string {
	if e, ok := events[h]; ok {
		return e
	}
	return EventOther
}

// outcomeLabel is the outcome of an intent (one of the constants).
func outcomeLabel(o store.Outcome) string {
	switch o {
	case store.OutcomeQueued:
		return OutcomeQueued
	case store.OutcomeIgnored:
		return OutcomeIgnored
	case store.OutcomeRejected:
		return OutcomeRejected
	case store.OutcomeDeferred:
		return OutcomeDeferred
	}
	return OutcomeError
}

// statusOutcome is the outcome of an answer whose handler named none, by
// its status code.
func statusOutcome(code int) string {
	switch {
	case code == fiber.StatusUnauthorized:
		return OutcomeUnauthorized
	case code == fiber.StatusServiceUnavailable:
		return OutcomeUnavailable
	case code >= 400 && code < 500:
		return OutcomeRefused
	}
	return OutcomeError
}

// observed serves a request with receive and tells cfg.Observer about it.
// A panic in receive is told as OutcomeError and goes on to
// recoverPanics.
func observed(cfg *Config, c *fiber.Ctx) (err error) {
	var outcome string
	done := false
	defer func() {
		// The request's receipt: when fasthttp called the handler, after
		// the headers were read (the body is streamed: reading it is part
		// of the handling).
		latency := time.Since(c.Context().Time())
		code := c.Response().StatusCode()
		switch {
		case !done || err != nil:
			// A panic (recoverPanics answers 500) or an error (the error
			// handler answers).
			outcome, code = OutcomeError, fiber.StatusInternalServerError
		case outcome == "":
			outcome = statusOutcome(code)
		}
		cfg.Observer.Delivery(eventLabel(c.Get("X-GitHub-Event")), outcome, code >= 200 && code < 300, latency)
	}()
	err = receive(cfg, c, &outcome)
	done = true
	return err
}
