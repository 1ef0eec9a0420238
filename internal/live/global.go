package live

import (
	"context"
	"fmt"
	"time"

	"github.com/linux-builder/linux-builder/internal/logging"
	"github.com/linux-builder/linux-builder/internal/store"
)

// globalWatch polls the runs table (by updated_at) for every run's
// status and step changes, for the WebSocket's subscribers.
type globalWatch struct {
	h       *Hub
	fan     *fanout
	ready   chan struct{}
	initErr error

	// since, afterID: the newest (updated_at, id) read. Each poll reads
	// again from since less the lookback (a writer whose clock is a
	// little behind, a transaction committed late) and sends only runs
	// whose status or step differs from what was sent.
	start   time.Time // when the poller started
	since   time.Time
	afterID int64
	sent    map[int64]sentRun
	errLog  time.Time
}

type sentRun struct {
	snap      string
	updatedAt time.Time
}

func newGlobalWatch(h *Hub) *globalWatch {
	g := &globalWatch{h: h, ready: make(chan struct{}), sent: map[int64]sentRun{}}
	g.fan = newFanout(h, func() {
		if h.global == g {
			h.global = nil
		}
	})
	return g
}

func (g *globalWatch) loop() {
	defer g.h.wg.Done()
	g.h.pollers.Add(1)
	defer g.h.pollers.Add(-1)
	defer g.fan.retire()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-g.fan.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	// What changed before the poller started is history; what changed
	// since (the first subscriber is waiting) is sent at the first poll.
	g.start = g.h.opt.Now().UTC()
	g.since = g.start.Add(-defaultGlobalLookback)
	ictx, icancel := context.WithTimeout(ctx, pollTimeout)
	_, g.initErr = g.poll(ictx, true)
	icancel()
	close(g.ready)
	if g.initErr != nil {
		return
	}
	t := time.NewTicker(g.h.opt.Interval)
	defer t.Stop()
	for {
		select {
		case <-g.fan.stop:
			return
		case <-t.C:
		}
		pctx, pcancel := context.WithTimeout(ctx, pollTimeout)
		evs, err := g.poll(pctx, false)
		pcancel()
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			if now := g.h.opt.Now(); now.Sub(g.errLog) >= errorLogEvery {
				g.errLog = now
				g.h.log.Warn("live: poll runs", logging.KeyErr, err)
			}
		case len(evs) > 0:
			if n := g.fan.send(&batch{events: evs}); n > 0 {
				g.h.log.Info("live: dropped WebSocket subscribers that stopped reading", "dropped", n)
			}
		}
	}
}

// poll reads the runs changed since the last poll (at most
// defaultGlobalRunsPerPoll; more are read at the next) and returns an
// event per run whose status or step changed, with its artifacts once it
// has ended.
func (g *globalWatch) poll(ctx context.Context, initial bool) ([]*Event, error) {
	from := g.since.Add(-defaultGlobalLookback)
	var fromID int64
	var evs []*Event
	for read := 0; read < defaultGlobalRunsPerPoll; {
		heads, err := g.h.opt.Store.RunsChangedSince(ctx, from, fromID, min(500, defaultGlobalRunsPerPoll-read))
		if err != nil {
			return nil, err
		}
		read += len(heads)
		for i := range heads {
			hd := &heads[i]
			from, fromID = hd.UpdatedAt, hd.ID
			if hd.UpdatedAt.After(g.since) || (hd.UpdatedAt.Equal(g.since) && hd.ID > g.afterID) {
				g.since, g.afterID = hd.UpdatedAt, hd.ID
			}
			snap := string(hd.Status) + "\x00" + string(hd.Step)
			if prev, ok := g.sent[hd.ID]; ok && prev.snap == snap {
				continue
			}
			if initial {
				if hd.UpdatedAt.Before(g.start) {
					g.sent[hd.ID] = sentRun{snap: snap, updatedAt: hd.UpdatedAt}
				}
				continue
			}
			g.sent[hd.ID] = sentRun{snap: snap, updatedAt: hd.UpdatedAt}
			ev, err := g.event(ctx, hd)
			if err != nil {
				return nil, err
			}
			evs = append(evs, ev)
		}
		if len(heads) < 500 {
			break
		}
	}
	// Forget what the next poll cannot read again.
	cut := g.since.Add(-2 * defaultGlobalLookback)
	for id, s := range g.sent {
		if s.updatedAt.Before(cut) {
			delete(g.sent, id)
		}
	}
	return evs, nil
}

func (g *globalWatch) event(ctx context.Context, hd *store.RunHead) (*Event, error) {
	if !hd.Status.Terminal() {
		return buildEvent(hd, nil), nil
	}
	arts, err := g.h.opt.Store.Artifacts(ctx, hd.ID)
	if err != nil {
		return nil, fmt.Errorf("artifacts of run %d: %w", hd.ID, err)
	}
	out := make([]ArtifactData, 0, len(arts))
	for i := range arts {
		out = append(out, artifactData(&arts[i], g.h.opt.ArtifactURL))
	}
	return buildEvent(hd, out), nil
}
