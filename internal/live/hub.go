package live

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/linux-builder/linux-builder/internal/store"
)

// Store is what the hub reads: *store.DB.
type Store interface {
	RunHeadOf(ctx context.Context, id int64) (*store.RunHead, error)
	Steps(ctx context.Context, id int64) ([]store.RunStep, error)
	Artifacts(ctx context.Context, runID int64) ([]store.Artifact, error)
	Logs(ctx context.Context, runID, afterID int64, limit int) ([]store.RunLog, error)
	LastLogID(ctx context.Context, runID int64) (int64, error)
	RunsChangedSince(ctx context.Context, since time.Time, afterID int64, limit int) ([]store.RunHead, error)
}

var _ Store = (*store.DB)(nil)

// Defaults of Options.
const (
	DefaultInterval           = 300 * time.Millisecond
	DefaultLogLookback        = time.Second
	DefaultQueue              = 64
	DefaultMaxPerRun          = 2000
	DefaultMaxSubscribers     = 10000
	DefaultMaxPerOwner        = 32
	DefaultLogLinesPerPoll    = 4000
	minInterval               = 50 * time.Millisecond
	maxInterval               = 2 * time.Second
	defaultGlobalRunsPerPoll  = 2000
	defaultGlobalLookback     = 5 * time.Second
	pollTimeout               = 10 * time.Second
	errorLogEvery             = time.Minute
	logPage                   = 1000
	maxReplaySetBeforePruning = 1 << 20
)

// Options configure a Hub. Zero values take the defaults.
type Options struct {
	Store  Store
	Logger *slog.Logger
	// Interval is how often a watched run (and the runs table, for the
	// WebSocket) is polled: DefaultInterval, within 50 ms..2 s.
	Interval time.Duration
	// LogLookback is how far back (in time) each poll reads log lines
	// again, for lines committed out of id order.
	LogLookback time.Duration
	// Queue is how many poll batches a subscriber may have waiting; one
	// whose queue is full is dropped.
	Queue int
	// MaxPerRun and MaxSubscribers cap the subscribers of one run and of
	// the hub (SSE streams and WebSockets together); beyond them
	// Subscribe returns ErrTooManySubscribers (503).
	MaxPerRun, MaxSubscribers int
	// MaxPerOwner caps the SSE streams and WebSockets one owner (a token,
	// a signed-in person, an address: SSEOptions.Owner, WSOptions.Owner)
	// has open at once, so that one caller cannot take every slot of the
	// hub from the others; beyond it the request gets 429.
	MaxPerOwner int
	// LogLinesPerPoll bounds the log lines one poll of a run reads; a
	// run that printed more is caught up over the next polls.
	LogLinesPerPoll int
	// ArtifactURL is an artifact's download URL (nil: none).
	ArtifactURL func(runID int64, name string) string
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// ErrTooManySubscribers is returned by Subscribe beyond the caps.
var ErrTooManySubscribers = errors.New("too many live subscribers")

// ErrOwnerLimit is returned by claim beyond Options.MaxPerOwner.
var ErrOwnerLimit = errors.New("too many live connections for one caller")

// ErrClosed is returned by Subscribe once the hub is closed.
var ErrClosed = errors.New("live hub closed")

// Hub turns store changes into events for its subscribers.
type Hub struct {
	opt Options
	log *slog.Logger

	total atomic.Int64 // open subscriptions

	mu      sync.Mutex // guards closed, watches and global; taken before a fanout's
	closed  bool
	watches map[int64]*watch
	global  *globalWatch
	wg      sync.WaitGroup // pollers
	pollers atomic.Int64   // running pollers (tests)

	ownersMu sync.Mutex
	owners   map[string]int // open streams and sockets per owner
}

// NewHub returns a hub over opt.Store. Close it to stop its pollers and
// end its subscriptions.
func NewHub(opt Options) (*Hub, error) {
	if opt.Store == nil {
		return nil, errors.New("live: Options.Store is required")
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Interval == 0 {
		opt.Interval = DefaultInterval
	}
	if opt.Interval < minInterval || opt.Interval > maxInterval {
		return nil, fmt.Errorf("live: poll interval %s: want %s..%s", opt.Interval, minInterval, maxInterval)
	}
	if opt.LogLookback == 0 {
		opt.LogLookback = DefaultLogLookback
	}
	if opt.LogLookback < 0 || opt.LogLookback > time.Minute {
		return nil, fmt.Errorf("live: log lookback %s: want 0..1m", opt.LogLookback)
	}
	if opt.Queue <= 0 {
		opt.Queue = DefaultQueue
	}
	if opt.MaxPerRun <= 0 {
		opt.MaxPerRun = DefaultMaxPerRun
	}
	if opt.MaxSubscribers <= 0 {
		opt.MaxSubscribers = DefaultMaxSubscribers
	}
	if opt.MaxPerOwner <= 0 {
		opt.MaxPerOwner = DefaultMaxPerOwner
	}
	if opt.LogLinesPerPoll <= 0 {
		opt.LogLinesPerPoll = DefaultLogLinesPerPoll
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Hub{opt: opt, log: opt.Logger, watches: map[int64]*watch{}, owners: map[string]int{}}, nil
}

// Close ends every subscription and waits for the pollers to stop.
func (h *Hub) Close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	ws := make([]*watch, 0, len(h.watches))
	for _, w := range h.watches {
		ws = append(ws, w)
	}
	g := h.global
	h.mu.Unlock()
	for _, w := range ws {
		w.fan.stopPoller()
	}
	if g != nil {
		g.fan.stopPoller()
	}
	h.wg.Wait()
}

// Subscribers is the number of open subscriptions (runs' and global).
func (h *Hub) Subscribers() int {
	return int(h.total.Load())
}

// Watched is the number of runs being polled.
func (h *Hub) Watched() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.watches)
}

// claim counts one more open stream or socket of owner against
// MaxPerOwner; release (once) gives it back. The map holds only owners
// with something open, so it is bounded by the hub's other caps.
func (h *Hub) claim(owner string) (release func(), err error) {
	h.ownersMu.Lock()
	defer h.ownersMu.Unlock()
	if n := h.owners[owner]; n >= h.opt.MaxPerOwner {
		return nil, fmt.Errorf("%w: %d open, at most %d", ErrOwnerLimit, n, h.opt.MaxPerOwner)
	}
	h.owners[owner]++
	var once sync.Once
	return func() {
		once.Do(func() {
			h.ownersMu.Lock()
			defer h.ownersMu.Unlock()
			if h.owners[owner]--; h.owners[owner] <= 0 {
				delete(h.owners, owner)
			}
		})
	}, nil
}

// ownerFull reports whether owner has MaxPerOwner open (a check before a
// WebSocket upgrade, so that the refusal is a 429, not a close).
func (h *Hub) ownerFull(owner string) bool {
	h.ownersMu.Lock()
	defer h.ownersMu.Unlock()
	return h.owners[owner] >= h.opt.MaxPerOwner
}

// ownerOf is the owner key of a request: owner(c), or the client's
// address when there is no owner hook or it has no answer.
func ownerOf(c *fiber.Ctx, owner func(*fiber.Ctx) string) string {
	if owner != nil {
		if k := owner(c); k != "" {
			return k
		}
	}
	return "addr:" + c.IP()
}

// reserve counts one more subscriber against the total cap.
func (h *Hub) reserve() error {
	for {
		n := h.total.Load()
		if n >= int64(h.opt.MaxSubscribers) {
			return fmt.Errorf("%w: %d open, at most %d", ErrTooManySubscribers, n, h.opt.MaxSubscribers)
		}
		if h.total.CompareAndSwap(n, n+1) {
			return nil
		}
	}
}

// Subscribe starts (or joins) the poller of run runID and returns a
// subscription that gets every change the poller finds after it
// returns. A subscriber that wants the run's history reads the store
// after Subscribe returns, so nothing falls between the two (the events
// found both ways are told apart by the subscriber: see sse.go).
func (h *Hub) Subscribe(ctx context.Context, runID int64) (*Subscription, error) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrClosed
	}
	w := h.watches[runID]
	if w == nil || w.fan.isClosing() {
		w = newWatch(h, runID)
		h.watches[runID] = w
		h.wg.Add(1)
		go w.loop()
	}
	s, err := w.fan.add(h, h.opt.MaxPerRun)
	h.mu.Unlock()
	if err != nil {
		return nil, err
	}
	select {
	case <-w.ready:
	case <-ctx.Done():
		s.Close()
		return nil, ctx.Err()
	}
	if w.initErr != nil {
		s.Close()
		return nil, w.initErr
	}
	s.low = w.lowAt()
	return s, nil
}

// SubscribeAll joins the global poller (every run's status and step
// changes, for the WebSocket), starting it if needed.
func (h *Hub) SubscribeAll(ctx context.Context) (*Subscription, error) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrClosed
	}
	g := h.global
	if g == nil || g.fan.isClosing() {
		g = newGlobalWatch(h)
		h.global = g
		h.wg.Add(1)
		go g.loop()
	}
	s, err := g.fan.add(h, h.opt.MaxSubscribers)
	h.mu.Unlock()
	if err != nil {
		return nil, err
	}
	select {
	case <-g.ready:
	case <-ctx.Done():
		s.Close()
		return nil, ctx.Err()
	}
	if g.initErr != nil {
		s.Close()
		return nil, g.initErr
	}
	return s, nil
}
