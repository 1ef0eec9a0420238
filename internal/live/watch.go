package live

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/linux-builder/linux-builder/internal/logging"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
)

// watch polls one run for its subscribers.
type watch struct {
	h     *Hub
	runID int64
	fan   *fanout
	// ready is closed once the poller knows where the run stands
	// (initErr set when it could not).
	ready   chan struct{}
	initErr error
	low     atomic.Int64 // the log low-water mark (lowAt)

	// The poller's own state.
	statusSnap string
	updatedAt  time.Time            // the run's updated_at at the last steps read
	stepsSkip  int                  // polls since the last steps read
	steps      map[run.State]string // step → snapshot sent
	arts       map[int64]bool
	logHigh    int64              // newest log id seen
	seen       map[int64]struct{} // log ids in (low, logHigh] seen
	marks      []logMark
	errSince   time.Time // first of the current run of poll errors
	errLogged  time.Time
}

// stepsBackstop is how many polls may skip reading the steps of a run
// whose updated_at did not change.
const stepsBackstop = 10

// logMark is the newest log id seen at a poll.
type logMark struct {
	at   time.Time
	high int64
}

func newWatch(h *Hub, runID int64) *watch {
	w := &watch{h: h, runID: runID, ready: make(chan struct{}),
		steps: map[run.State]string{}, arts: map[int64]bool{}, seen: map[int64]struct{}{}}
	w.fan = newFanout(h, func() {
		if h.watches[runID] == w {
			delete(h.watches, runID)
		}
	})
	return w
}

func (w *watch) lowAt() int64 { return w.low.Load() }

func (w *watch) loop() {
	defer w.h.wg.Done()
	w.h.pollers.Add(1)
	defer w.h.pollers.Add(-1)
	defer w.fan.retire()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-w.fan.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	ictx, icancel := context.WithTimeout(ctx, pollTimeout)
	w.initErr = w.init(ictx)
	icancel()
	close(w.ready)
	if w.initErr != nil {
		return
	}
	t := time.NewTicker(w.h.opt.Interval)
	defer t.Stop()
	for {
		select {
		case <-w.fan.stop:
			return
		case <-t.C:
		}
		pctx, pcancel := context.WithTimeout(ctx, pollTimeout)
		evs, done, err := w.poll(pctx)
		pcancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			w.pollFailed(err)
			continue
		}
		w.errSince = time.Time{}
		if len(evs) > 0 {
			if n := w.fan.send(&batch{events: evs, low: w.low.Load()}); n > 0 {
				w.h.log.Info("live: dropped subscribers that stopped reading", logging.KeyRun, w.runID, "dropped", n)
			}
		}
		if done {
			return
		}
	}
}

// pollFailed logs a failed poll, at most once a minute; subscribers keep
// waiting (and get heartbeats) while the store is away.
func (w *watch) pollFailed(err error) {
	now := w.h.opt.Now()
	if w.errSince.IsZero() {
		w.errSince = now
	}
	if now.Sub(w.errLogged) >= errorLogEvery {
		w.errLogged = now
		w.h.log.Warn("live: poll run", logging.KeyRun, w.runID, "failing_since", w.errSince, logging.KeyErr, err)
	}
}

// init learns where the run stands; events start after it.
func (w *watch) init(ctx context.Context) error {
	head, err := w.h.opt.Store.RunHeadOf(ctx, w.runID)
	if err != nil {
		return err
	}
	w.statusSnap = statusEvent(head).snap
	w.updatedAt = head.UpdatedAt
	steps, err := w.h.opt.Store.Steps(ctx, w.runID)
	if err != nil {
		return fmt.Errorf("steps of run %d: %w", w.runID, err)
	}
	for i := range steps {
		w.steps[steps[i].Step] = stepSnap(&steps[i])
	}
	arts, err := w.h.opt.Store.Artifacts(ctx, w.runID)
	if err != nil {
		return fmt.Errorf("artifacts of run %d: %w", w.runID, err)
	}
	for _, a := range arts {
		w.arts[a.ID] = true
	}
	if w.logHigh, err = w.h.opt.Store.LastLogID(ctx, w.runID); err != nil {
		return err
	}
	w.low.Store(w.logHigh)
	w.marks = []logMark{{at: w.h.opt.Now(), high: w.logHigh}}
	return nil
}

// poll reads what changed since the last poll; done is set with the end
// event (the run ended and its log was read to the end), or when the run
// is gone.
func (w *watch) poll(ctx context.Context) (evs []*Event, done bool, err error) {
	st := w.h.opt.Store
	head, err := st.RunHeadOf(ctx, w.runID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, true, nil // deleted: nothing more will come
	}
	if err != nil {
		return nil, false, err
	}
	if se := statusEvent(head); se.snap != w.statusSnap {
		w.statusSnap = se.snap
		evs = append(evs, se)
	}
	steps, err := w.pollSteps(ctx, head)
	if err != nil {
		return nil, false, err
	}
	arts, err := w.pollArtifacts(ctx)
	if err != nil {
		return nil, false, err
	}
	logs, drained, err := w.pollLogs(ctx)
	if err != nil {
		return nil, false, err
	}
	evs = append(evs, mergeByTime(steps, arts, logs)...)
	if head.Status.Terminal() && drained {
		evs = append(evs, endEvent(head))
		return evs, true, nil
	}
	return evs, false, nil
}

func (w *watch) pollSteps(ctx context.Context, head *store.RunHead) ([]*Event, error) {
	if head.UpdatedAt.Equal(w.updatedAt) && w.stepsSkip < stepsBackstop {
		// Entering, finishing and restarting steps all touch the run's
		// updated_at: unchanged, the steps are too. (Every
		// stepsBackstop polls they are read anyway: two changes within
		// one tick of a writer's clock.)
		w.stepsSkip++
		return nil, nil
	}
	w.stepsSkip = 0
	steps, err := w.h.opt.Store.Steps(ctx, w.runID)
	if err != nil {
		return nil, fmt.Errorf("steps of run %d: %w", w.runID, err)
	}
	w.updatedAt = head.UpdatedAt
	var evs []*Event
	now := map[run.State]bool{}
	for i := range steps {
		s := &steps[i]
		now[s.Step] = true
		if snap := stepSnap(s); w.steps[s.Step] != snap {
			w.steps[s.Step] = snap
			evs = append(evs, stepEvent(s))
		}
	}
	for step := range w.steps {
		if !now[step] {
			delete(w.steps, step)
			evs = append(evs, stepReset(w.runID, step, head.UpdatedAt))
		}
	}
	sortSteps(evs)
	return evs, nil
}

func (w *watch) pollArtifacts(ctx context.Context) ([]*Event, error) {
	arts, err := w.h.opt.Store.Artifacts(ctx, w.runID)
	if err != nil {
		return nil, fmt.Errorf("artifacts of run %d: %w", w.runID, err)
	}
	var evs []*Event
	now := make(map[int64]bool, len(arts))
	for i := range arts {
		now[arts[i].ID] = true
		if !w.arts[arts[i].ID] {
			evs = append(evs, artifactEvent(&arts[i], w.h.opt.ArtifactURL))
		}
	}
	w.arts = now // a restart deletes artifacts: forget them
	sortByKey(evs)
	return evs, nil
}

// pollLogs reads the log lines above the low-water mark not seen yet, at
// most LogLinesPerPoll; drained says it read to the end.
func (w *watch) pollLogs(ctx context.Context) ([]*Event, bool, error) {
	var evs []*Event
	after := w.low.Load()
	budget := w.h.opt.LogLinesPerPoll // rows read, seen again or not
	for budget > 0 {
		n := min(logPage, budget)
		lines, err := w.h.opt.Store.Logs(ctx, w.runID, after, n)
		if err != nil {
			return nil, false, fmt.Errorf("logs of run %d: %w", w.runID, err)
		}
		budget -= len(lines)
		for i := range lines {
			l := &lines[i]
			after = l.ID
			if _, ok := w.seen[l.ID]; ok {
				continue
			}
			w.seen[l.ID] = struct{}{}
			w.logHigh = max(w.logHigh, l.ID)
			evs = append(evs, logEvent(l))
		}
		if len(lines) < n {
			w.advanceLow()
			return evs, true, nil
		}
	}
	w.advanceLow()
	return evs, false, nil
}

// advanceLow moves the low-water mark to the newest log id seen
// LogLookback ago, forgetting the seen ids at or below it.
func (w *watch) advanceLow() {
	now := w.h.opt.Now()
	w.marks = append(w.marks, logMark{at: now, high: w.logHigh})
	cut := now.Add(-w.h.opt.LogLookback)
	i := 0
	for i+1 < len(w.marks) && !w.marks[i+1].at.After(cut) {
		i++
	}
	w.marks = w.marks[i:]
	low := w.marks[0].high
	if !w.marks[0].at.After(cut) && low > w.low.Load() {
		w.low.Store(low)
		for id := range w.seen {
			if id <= low {
				delete(w.seen, id)
			}
		}
	}
}
