package live

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/linux-builder/linux-builder/internal/logging"
	"github.com/linux-builder/linux-builder/internal/store"
)

// ErrNotVisible is what an Authorize hook returns (or wraps) for a run
// the request may not see: answered 404, as an unknown run is.
var ErrNotVisible = errors.New("build not found")

// SSEOptions configure the SSE handler.
type SSEOptions struct {
	// Authorize decides whether the request may read run runID; it runs
	// before anything about the run is read. nil: allowed; an error
	// wrapping ErrNotVisible: 404 (the answer to an unknown run too);
	// another error: 500, logged. Required.
	Authorize func(c *fiber.Ctx, runID int64) error
	// Param is the route parameter holding the run id (default "id").
	Param string
	// Heartbeat is how often a comment is sent on an idle stream
	// (default 15 s): proxies keep the stream open, and a client that
	// went away is noticed.
	Heartbeat time.Duration
	// WriteTimeout bounds each write to the client (default 10 s); a
	// client that does not take the bytes in time is cut off.
	WriteTimeout time.Duration
	// Owner names who the request is for the per-owner cap
	// (Options.MaxPerOwner), asked after Authorize: a token, a person.
	// nil or "": the client's address.
	Owner func(c *fiber.Ctx) string
}

// SSE returns the handler of GET /api/v1/builds/{id}/events: the run's
// events as text/event-stream, resumable with Last-Event-ID (the header,
// or the lastEventId query parameter for clients that cannot set it).
func (h *Hub) SSE(opt SSEOptions) (fiber.Handler, error) {
	if opt.Authorize == nil {
		return nil, errors.New("live: SSEOptions.Authorize is required (runs of private repositories are private)")
	}
	if opt.Param == "" {
		opt.Param = "id"
	}
	if opt.Heartbeat <= 0 {
		opt.Heartbeat = 15 * time.Second
	}
	if opt.WriteTimeout <= 0 {
		opt.WriteTimeout = 10 * time.Second
	}
	return func(c *fiber.Ctx) error { return h.serveSSE(c, &opt) }, nil
}

// notFound is the one answer to an unknown run and a refused one.
func notFound(c *fiber.Ctx) error {
	return c.Status(fiber.StatusNotFound).JSON(fiber.Map{"error": "build not found"})
}

func (h *Hub) serveSSE(c *fiber.Ctx, opt *SSEOptions) error {
	id, err := strconv.ParseInt(c.Params(opt.Param), 10, 64)
	if err != nil || id <= 0 {
		return notFound(c)
	}
	if err := opt.Authorize(c, id); err != nil {
		if errors.Is(err, ErrNotVisible) {
			return notFound(c)
		}
		h.log.ErrorContext(c.UserContext(), "live: authorize events", logging.KeyRun, id, logging.KeyErr, err)
		return c.Status(fiber.StatusInternalServerError).JSON(fiber.Map{"error": "internal error"})
	}
	last := c.Get("Last-Event-ID")
	if last == "" {
		last = c.Query("lastEventId")
	}
	cur, err := ParseCursor(last)
	if err != nil {
		return c.Status(fiber.StatusBadRequest).JSON(fiber.Map{"error": "Last-Event-ID: " + err.Error()})
	}
	if cur.End {
		// EventSource stops reconnecting on 204.
		return c.SendStatus(fiber.StatusNoContent)
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), pollTimeout)
	defer cancel()
	head, err := h.opt.Store.RunHeadOf(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return notFound(c)
	}
	if err != nil {
		h.log.ErrorContext(ctx, "live: read run", logging.KeyRun, id, logging.KeyErr, err)
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"error": "store unavailable"})
	}
	release, err := h.claim(ownerOf(c, opt.Owner))
	if err != nil {
		return ownerLimited(c)
	}
	var sub *Subscription
	if !head.Status.Terminal() {
		if sub, err = h.Subscribe(ctx, id); err != nil {
			release()
			return h.subscribeFailed(c, id, err)
		}
	}
	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	s := &sseStream{h: h, opt: opt, runID: id, cur: cur, from: cur, sub: sub, release: release, conn: c.Context().Conn(),
		log: h.log.With(logging.KeyRun, id)}
	c.Context().SetBodyStreamWriter(s.run)
	return nil
}

// ownerLimited answers a caller over its cap of open streams and sockets.
func ownerLimited(c *fiber.Ctx) error {
	c.Set(fiber.HeaderRetryAfter, "5")
	return c.Status(fiber.StatusTooManyRequests).JSON(fiber.Map{"error": "too many live streams open with these credentials; close one and try again"})
}

func (h *Hub) subscribeFailed(c *fiber.Ctx, id int64, err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return notFound(c)
	case errors.Is(err, ErrTooManySubscribers), errors.Is(err, ErrClosed):
		c.Set(fiber.HeaderRetryAfter, "5")
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"error": "too many live streams; try again later"})
	}
	h.log.ErrorContext(c.UserContext(), "live: subscribe", logging.KeyRun, id, logging.KeyErr, err)
	return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"error": "store unavailable"})
}

// sseStream is one client's stream: a replay from the store from its
// cursor, then the poller's events it has not had.
type sseStream struct {
	h     *Hub
	opt   *SSEOptions
	runID int64
	cur   Cursor // the id of the last event written
	from  Cursor // where the client started
	sub   *Subscription
	// release gives back the owner's slot (Hub.claim) when the stream ends.
	release func()
	conn    net.Conn
	w       *bufio.Writer
	log     *slog.Logger

	status   string
	steps    map[string]string // step → snapshot written
	arts     map[int64]bool
	replayed map[int64]struct{} // replayed log ids above sub.low
}

// errWrite is a failed write: the client is gone or too slow.
type errWrite struct{ err error }

func (e errWrite) Error() string { return "write to client: " + e.err.Error() }
func (e errWrite) Unwrap() error { return e.err }

func (s *sseStream) run(w *bufio.Writer) {
	if s.release != nil {
		defer s.release()
	}
	if s.sub != nil {
		defer s.sub.Close()
	}
	s.w = w
	s.steps, s.arts, s.replayed = map[string]string{}, map[int64]bool{}, map[int64]struct{}{}
	if _, err := w.WriteString("retry: 3000\n\n"); err != nil {
		return
	}
	ended, err := s.replay()
	if err == nil && !ended && s.sub != nil {
		err = s.live()
	}
	var ew errWrite
	switch {
	case errors.As(err, &ew):
		s.log.Debug("live: events client gone", logging.KeyErr, err)
	case err != nil:
		s.log.Warn("live: events stream", logging.KeyErr, err)
		_ = s.comment("error: " + err.Error())
	}
}

// write writes one event (id: the cursor after it; status events carry
// none).
func (s *sseStream) write(ev *Event) error {
	s.cur.advance(ev)
	var err error
	if ev.Kind != KindStatus {
		_, err = s.w.WriteString("id: " + s.cur.String() + "\n")
	}
	if err == nil {
		_, err = s.w.WriteString("event: " + string(ev.Kind) + "\ndata: ")
	}
	if err == nil {
		_, err = s.w.Write(ev.Data)
	}
	if err == nil {
		_, err = s.w.WriteString("\n\n")
	}
	if err != nil {
		return errWrite{err}
	}
	return nil
}

// flush sends what is buffered, within the write deadline.
func (s *sseStream) flush() error {
	if s.conn != nil {
		if err := s.conn.SetWriteDeadline(time.Now().Add(s.opt.WriteTimeout)); err != nil {
			return errWrite{err}
		}
	}
	if err := s.w.Flush(); err != nil {
		return errWrite{err}
	}
	return nil
}

func (s *sseStream) comment(text string) error {
	if _, err := s.w.WriteString(": " + text + "\n\n"); err != nil {
		return errWrite{err}
	}
	return s.flush()
}
