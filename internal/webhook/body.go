package webhook

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/sync/semaphore"
)

// Defaults of the limits on what a request may cost before its signature
// is known.
const (
	// DefaultBodyBudget is how many bytes of request bodies the receiver
	// holds in memory at once: one delivery of GitHub's largest size, or
	// many small ones.
	DefaultBodyBudget = 32 << 20
	// DefaultBodyWait is how long a body waits for room in the budget
	// before the request is answered 503.
	DefaultBodyWait = 5 * time.Second
	// smallBody is the largest body drawn from the small bodies' own
	// budget (smallBudget), so senders holding the main budget with slow
	// large bodies do not hold up the usual deliveries (tens of KiB).
	smallBody   = 256 << 10
	smallBudget = 16 << 20
	// DefaultMaxConns caps the open connections (fasthttp's Concurrency);
	// beyond it a connection is answered 503 and closed.
	DefaultMaxConns = 4096
)

var (
	// eventName is what GitHub sends as X-GitHub-Event (push,
	// pull_request_review_comment, …).
	eventName = regexp.MustCompile(`^[a-z][a-z_]{0,63}$`)
	// deliveryID is what GitHub sends as X-GitHub-Delivery (a GUID); the
	// charset keeps ids printable and safe in logs and answers.
	deliveryID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$`)
)

// refusal is a request refused before its body was read.
type refusal struct {
	code int
	msg  string
}

// precheck refuses, from its headers alone, a request whose body the
// receiver should not read: a compressed body (GitHub sends none, and
// inflating is how a few hundred bytes become gigabytes), a missing or
// malformed signature, event or delivery id, or a body over the limit.
// It returns the signature's bytes.
func precheck(cfg *Config, c *fiber.Ctx) ([]byte, *refusal) {
	if enc := strings.TrimSpace(c.Get(fiber.HeaderContentEncoding)); enc != "" && !strings.EqualFold(enc, "identity") {
		return nil, &refusal{fiber.StatusUnsupportedMediaType, "compressed bodies are not accepted"}
	}
	if n := c.Request().Header.ContentLength(); n > cfg.MaxBody {
		return nil, &refusal{fiber.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes", cfg.MaxBody)}
	}
	hexSig, ok := strings.CutPrefix(c.Get("X-Hub-Signature-256"), "sha256=")
	sig, err := hex.DecodeString(hexSig)
	if !ok || err != nil || len(sig) != 32 {
		return nil, &refusal{fiber.StatusUnauthorized, "bad or missing signature"}
	}
	if !eventName.MatchString(c.Get("X-GitHub-Event")) || !deliveryID.MatchString(c.Get("X-GitHub-Delivery")) {
		return nil, &refusal{fiber.StatusBadRequest, "missing or malformed X-GitHub-Event or X-GitHub-Delivery"}
	}
	return sig, nil
}

// errTooLarge is a chunked body that turned out larger than the limit.
var errTooLarge = errors.New("body too large")

// readBody reads the raw body (never a decoded one) within the body
// budget: it waits for room for the body's declared length (the limit
// when the length is unknown), then reads it. release gives the room back
// once the body is no longer needed: a large body's buffer is then reused
// by the next large body, so nothing may keep body, or a slice of it,
// after release (what the deciders decode is a copy: goccy/go-json
// decodes from its own copy of the input).
func readBody(ctx context.Context, cfg *Config, c *fiber.Ctx) (body []byte, release func(), ref *refusal) {
	n := c.Request().Header.ContentLength()
	weight := int64(n)
	if n < 0 {
		weight = int64(cfg.MaxBody)
	}
	wctx, cancel := context.WithTimeout(ctx, cfg.BodyWait)
	defer cancel()
	pool := cfg.bodies
	if n >= 0 && n <= smallBody {
		pool = cfg.smallBodies
	}
	if err := pool.Acquire(wctx, weight); err != nil {
		c.Set(fiber.HeaderRetryAfter, "5")
		return nil, nil, &refusal{fiber.StatusServiceUnavailable, "busy; please redeliver"}
	}
	stream := c.Request().BodyStream()
	// A large body reads into a pooled buffer once it has its room in the
	// budget (nothing is allocated for a body that waits), and the budget
	// is charged the buffer's whole capacity (less than twice the body):
	// when there is no room for the difference, a new buffer of the
	// body's size is made instead.
	var buf []byte
	if n > smallBody && stream != nil {
		buf = cfg.bufs.get(n)
		if extra := int64(cap(buf)) - weight; extra > 0 {
			if pool.TryAcquire(extra) {
				weight += extra
			} else {
				cfg.bufs.put(buf)
				buf = make([]byte, n)
			}
		}
	}
	release = func() { pool.Release(weight) }
	var err error
	switch {
	case stream == nil:
		// Not streamed (an empty body): the raw bytes fasthttp read.
		body = c.Request().Body()
	case buf != nil:
		// The buffer goes back to the pool with its budget: nothing of
		// the request may hold it after release.
		body = buf
		release = func() {
			cfg.bufs.put(buf)
			pool.Release(weight)
		}
		_, err = io.ReadFull(stream, body)
	case n >= 0:
		body = make([]byte, n)
		_, err = io.ReadFull(stream, body)
	default:
		body, err = io.ReadAll(io.LimitReader(stream, int64(cfg.MaxBody)+1))
		if err == nil && len(body) > cfg.MaxBody {
			err = errTooLarge
		}
	}
	if errors.Is(err, errTooLarge) {
		release()
		return nil, nil, &refusal{fiber.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes", cfg.MaxBody)}
	}
	if err != nil {
		release()
		return nil, nil, &refusal{fiber.StatusBadRequest, "could not read the body"}
	}
	return body, release, nil
}

// refuse answers r and closes the connection: the body may be unread, so
// the connection cannot carry another request.
func refuse(c *fiber.Ctx, r *refusal) error {
	c.Context().SetConnectionClose()
	return c.Status(r.code).SendString(r.msg)
}

// limitDefaults fills in the limits' defaults and makes the body budget.
func (cfg *Config) limitDefaults() error {
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = MaxBody
	}
	if cfg.BodyBudget <= 0 {
		cfg.BodyBudget = DefaultBodyBudget
	}
	if cfg.BodyBudget < int64(cfg.MaxBody) {
		return fmt.Errorf("webhook: the body budget (%d bytes) is smaller than the largest body (%d)", cfg.BodyBudget, cfg.MaxBody)
	}
	if cfg.BodyWait <= 0 {
		cfg.BodyWait = DefaultBodyWait
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	cfg.bodies, cfg.smallBodies = semaphore.NewWeighted(cfg.BodyBudget), semaphore.NewWeighted(smallBudget)
	cfg.bufs = newBufPool(int64(cfg.MaxBody), time.Minute)
	return nil
}
