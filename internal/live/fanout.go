package live

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// batch is what one poll found: events in order, shared by every
// subscriber.
type batch struct {
	events []*Event
	// low is the poller's log low-water mark: it sends no log line at or
	// below it any more.
	low int64
}

// fanout is a poller's subscribers. Sends and closes of a subscriber's
// channel happen under mu only, so neither races the other.
type fanout struct {
	mu      sync.Mutex
	subs    map[*Subscription]struct{}
	closing bool // the poller stops: no new subscriber
	queue   int
	h       *Hub
	// stop is closed when the poller must stop (last subscriber gone,
	// hub closed).
	stop     chan struct{}
	stopOnce sync.Once
	// forget removes the poller from the hub; h.mu is held.
	forget func()
}

func newFanout(h *Hub, forget func()) *fanout {
	return &fanout{subs: map[*Subscription]struct{}{}, queue: h.opt.Queue, h: h, stop: make(chan struct{}), forget: forget}
}

func (f *fanout) isClosing() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closing
}

// add makes a subscriber, within the caps; h.mu is held.
func (f *fanout) add(h *Hub, maxSubs int) (*Subscription, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.subs) >= maxSubs {
		return nil, fmt.Errorf("%w: %d on this run, at most %d", ErrTooManySubscribers, len(f.subs), maxSubs)
	}
	if err := h.reserve(); err != nil {
		return nil, err
	}
	s := &Subscription{f: f, c: make(chan *batch, f.queue)}
	f.subs[s] = struct{}{}
	return s, nil
}

// remove takes s out; f.mu is held. It reports whether s was in.
func (f *fanout) remove(s *Subscription) bool {
	if _, ok := f.subs[s]; !ok {
		return false
	}
	delete(f.subs, s)
	close(s.c)
	f.h.total.Add(-1)
	return true
}

// unsubscribe is Subscription.Close: the last one out stops the poller.
func (f *fanout) unsubscribe(s *Subscription) {
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.remove(s) || len(f.subs) > 0 || f.closing {
		return
	}
	f.closing = true
	f.forget()
	f.stopPoller()
}

func (f *fanout) stopPoller() { f.stopOnce.Do(func() { close(f.stop) }) }

// send hands b to every subscriber; one whose queue is full is dropped
// (its channel closed, Dropped set). It returns how many were dropped.
func (f *fanout) send(b *batch) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	dropped := 0
	for s := range f.subs {
		select {
		case s.c <- b:
		default:
			s.dropped.Store(true)
			f.remove(s)
			dropped++
		}
	}
	return dropped
}

// retire ends every subscription (after what was sent: channels are
// FIFO) and takes the poller out of the hub.
func (f *fanout) retire() {
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closing {
		f.closing = true
		f.forget()
	}
	for s := range f.subs {
		f.remove(s)
	}
}

// Subscription is one subscriber's feed of live events.
type Subscription struct {
	f *fanout
	c chan *batch
	// low is the poller's log low-water mark when a run's subscription
	// began: log lines above it may come both from a replay and live.
	low     int64
	dropped atomic.Bool
}

// Close ends the subscription; a poller stops with its last one.
func (s *Subscription) Close() { s.f.unsubscribe(s) }

// Dropped reports whether the subscription ended because its queue was
// full (the subscriber fell behind).
func (s *Subscription) Dropped() bool { return s.dropped.Load() }
