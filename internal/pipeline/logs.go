package pipeline

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// logBuffer batches a run's log lines into the store (every 200 lines or
// 500 ms) and hands each line to the reporters as it arrives.
type logBuffer struct {
	store     Store
	reporters []Reporter
	runID     int64
	log       *slog.Logger

	mu      sync.Mutex
	step    State
	pending []LogLine
	stop    chan struct{}
	done    chan struct{}
}

func newLogBuffer(store Store, reporters []Reporter, runID int64, log *slog.Logger) *logBuffer {
	b := &logBuffer{store: store, reporters: reporters, runID: runID, log: log, step: Pending,
		stop: make(chan struct{}), done: make(chan struct{})}
	go b.loop()
	return b
}

func (b *logBuffer) loop() {
	defer close(b.done)
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			b.Flush(context.Background())
		}
	}
}

func (b *logBuffer) setStep(s State) {
	b.mu.Lock()
	b.step = s
	b.mu.Unlock()
}

// Add appends a line at the current step.
func (b *logBuffer) Add(ctx context.Context, level, msg string) {
	b.mu.Lock()
	line := LogLine{RunID: b.runID, Step: b.step, Level: level, Message: msg, At: time.Now().UTC()}
	b.pending = append(b.pending, line)
	full := len(b.pending) >= 200
	b.mu.Unlock()
	for _, r := range b.reporters {
		r.Log(ctx, line)
	}
	if full {
		b.Flush(ctx)
	}
}

// Flush writes the pending lines. A failed write keeps them for the next
// flush: logs are not worth failing a build over, but are not dropped.
func (b *logBuffer) Flush(ctx context.Context) {
	b.mu.Lock()
	lines := b.pending
	b.pending = nil
	b.mu.Unlock()
	if len(lines) == 0 {
		return
	}
	if err := b.store.AppendLogs(context.WithoutCancel(ctx), lines); err != nil {
		b.log.WarnContext(ctx, "append run logs", "run_id", b.runID, "lines", len(lines), "err", err)
		b.mu.Lock()
		b.pending = append(lines, b.pending...)
		b.mu.Unlock()
	}
}

// Close stops the flusher and writes what is left.
func (b *logBuffer) Close() {
	close(b.stop)
	<-b.done
	b.Flush(context.Background())
}
