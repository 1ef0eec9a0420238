package live

import (
	"context"
	"errors"
	"time"

	"github.com/linux-builder/linux-builder/internal/store"
)

// replayTimeout bounds a stream's replay from the store.
const replayTimeout = 2 * time.Minute

// replay writes the run's status, then what came after the client's
// cursor, from the store; ended says it wrote the end event.
func (s *sseStream) replay() (ended bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), replayTimeout)
	defer cancel()
	st := s.h.opt.Store
	head, err := st.RunHeadOf(ctx, s.runID)
	if errors.Is(err, store.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	se := statusEvent(head)
	s.status = se.snap
	if err := s.write(se); err != nil {
		return false, err
	}
	others, err := s.replayStepsAndArtifacts(ctx)
	if err != nil {
		return false, err
	}
	if err := s.replayLogs(ctx, others); err != nil {
		return false, err
	}
	if head.Status.Terminal() {
		// The head was read first: everything the run wrote before it
		// ended has been replayed.
		if err := s.write(endEvent(head)); err != nil {
			return false, err
		}
		return true, s.flush()
	}
	return false, s.flush()
}

func (s *sseStream) replayStepsAndArtifacts(ctx context.Context) ([]*Event, error) {
	steps, err := s.h.opt.Store.Steps(ctx, s.runID)
	if err != nil {
		return nil, err
	}
	var stepEvs []*Event
	for i := range steps {
		ev := stepEvent(&steps[i])
		s.steps[string(ev.step)] = ev.snap
		if ev.key >= s.from.Step {
			stepEvs = append(stepEvs, ev)
		}
	}
	sortSteps(stepEvs)
	arts, err := s.h.opt.Store.Artifacts(ctx, s.runID)
	if err != nil {
		return nil, err
	}
	var artEvs []*Event
	for i := range arts {
		s.arts[arts[i].ID] = true
		if arts[i].ID > s.from.Artifact {
			artEvs = append(artEvs, artifactEvent(&arts[i], s.h.opt.ArtifactURL))
		}
	}
	sortByKey(artEvs)
	return mergeByTime(stepEvs, artEvs), nil
}

// replayLogs writes the log lines after the cursor, page by page, with
// others (steps and artifacts) merged in by time.
func (s *sseStream) replayLogs(ctx context.Context, others []*Event) error {
	after := s.from.Log
	for {
		lines, err := s.h.opt.Store.Logs(ctx, s.runID, after, logPage)
		if err != nil {
			return err
		}
		evs := make([]*Event, 0, len(lines))
		for i := range lines {
			evs = append(evs, logEvent(&lines[i]))
			after = lines[i].ID
			if s.sub != nil && lines[i].ID > s.sub.low && len(s.replayed) < maxReplaySetBeforePruning {
				s.replayed[lines[i].ID] = struct{}{}
			}
		}
		last := len(lines) < logPage
		n := len(others)
		if !last {
			// Steps and artifacts up to this page's last line.
			end := evs[len(evs)-1].at
			n = 0
			for n < len(others) && !others[n].at.After(end) {
				n++
			}
		}
		for _, ev := range mergeByTime(others[:n], evs) {
			if err := s.write(ev); err != nil {
				return err
			}
		}
		others = others[n:]
		if err := s.flush(); err != nil {
			return err
		}
		if last {
			return nil
		}
	}
}

// live writes the poller's events the client has not had, until the end
// event, the subscription's end or a failed write; idle streams get a
// heartbeat comment.
func (s *sseStream) live() error {
	hb := time.NewTicker(s.opt.Heartbeat)
	defer hb.Stop()
	for {
		select {
		case b, ok := <-s.sub.c:
			if !ok {
				if s.sub.Dropped() {
					// Resuming with Last-Event-ID loses nothing.
					return s.comment("dropped: this client fell behind; reconnect with Last-Event-ID")
				}
				return nil
			}
			ended, err := s.deliver(b)
			if err != nil {
				return err
			}
			if err := s.flush(); err != nil {
				return err
			}
			if ended {
				return nil
			}
		case <-hb.C:
			if err := s.comment("ping"); err != nil {
				return err
			}
		}
	}
}

// deliver writes b's events but those the client has (replayed, or
// before its cursor).
func (s *sseStream) deliver(b *batch) (ended bool, err error) {
	if len(s.replayed) > 0 {
		for id := range s.replayed {
			if id <= b.low {
				delete(s.replayed, id)
			}
		}
	}
	for _, ev := range b.events {
		if !s.fresh(ev) {
			continue
		}
		if err := s.write(ev); err != nil {
			return false, err
		}
		if ev.Kind == KindEnd {
			return true, nil
		}
	}
	return false, nil
}

// fresh reports whether the client has not had ev, and records it.
func (s *sseStream) fresh(ev *Event) bool {
	switch ev.Kind {
	case KindStatus:
		if s.status == ev.snap {
			return false
		}
		s.status = ev.snap
	case KindStep:
		if s.steps[string(ev.step)] == ev.snap {
			return false
		}
		s.steps[string(ev.step)] = ev.snap
	case KindArtifact:
		if ev.key <= s.from.Artifact || s.arts[ev.key] {
			return false
		}
		s.arts[ev.key] = true
	case KindLog:
		if ev.key <= s.from.Log {
			return false
		}
		if _, ok := s.replayed[ev.key]; ok {
			delete(s.replayed, ev.key)
			return false
		}
	}
	return true
}
