package queue

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/linux-builder/linux-builder/internal/logging"
	"github.com/linux-builder/linux-builder/internal/store"
)

// heartbeat records that this worker process is alive, every period,
// under its River client id (the id River writes into
// river_job.attempted_by). A worker silent for longer than the rescue's
// dead-after is declared lost and its running jobs are rescued (rescue.go).
type heartbeat struct {
	db     *store.DB
	id     string
	every  time.Duration
	now    func() time.Time
	log    *slog.Logger
	onLost func(error)
	cancel context.CancelFunc
	done   chan struct{}
}

// start registers the worker and beats until stop.
func (h *heartbeat) start(ctx context.Context) error {
	if err := h.db.RegisterWorker(ctx, h.id, h.now()); err != nil {
		return err
	}
	ctx, h.cancel = context.WithCancel(context.WithoutCancel(ctx))
	h.done = make(chan struct{})
	go h.loop(ctx)
	return nil
}

func (h *heartbeat) loop(ctx context.Context) {
	defer close(h.done)
	t := time.NewTicker(h.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := h.db.Heartbeat(ctx, h.id, h.now())
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, store.ErrWorkerLost):
			// This process was silent for too long (a long pause, a
			// cut-off database) and its running jobs were given to other
			// workers. It is alive again: it registers anew, and the
			// attempts it still runs can no longer write (the store
			// fences them) and, with onLost, the process goes.
			h.log.ErrorContext(ctx, "this worker was declared lost and its running jobs were rescued elsewhere", "worker", h.id)
			if h.onLost != nil {
				h.onLost(err)
			}
			if err := h.db.RegisterWorker(ctx, h.id, h.now()); err != nil {
				h.log.WarnContext(ctx, "could not register the worker again", "worker", h.id, logging.KeyErr, err)
			}
		case err != nil:
			h.log.WarnContext(ctx, "could not record the worker's heartbeat", "worker", h.id, logging.KeyErr, err)
		}
	}
}

// stop stops beating; the row stays (forget deletes it).
func (h *heartbeat) stop() {
	if h.cancel != nil {
		h.cancel()
		<-h.done
		h.cancel = nil
	}
}
