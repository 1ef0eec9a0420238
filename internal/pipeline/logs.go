package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/linux-builder/linux-builder/internal/logging"
	"github.com/linux-builder/linux-builder/internal/run"
)

// logBuffer batches a run's log lines into the store (every 200 lines or
// 500 ms) and hands each line to the reporters as it arrives. It keeps at
// most lim's lines and bytes of a run (a build's output is a stranger's to
// choose), cutting long lines, and marks where it stopped keeping.
type logBuffer struct {
	store     Store
	reporters []Reporter
	runID     int64
	log       *slog.Logger
	now       func() time.Time
	lim       Limits

	kept      int
	keptBytes int64
	truncated bool

	mu      sync.Mutex
	step    run.State
	pending []LogLine
	stop    chan struct{}
	done    chan struct{}
}

func newLogBuffer(store Store, reporters []Reporter, runID int64, log *slog.Logger, now func() time.Time, lim Limits) *logBuffer {
	b := &logBuffer{store: store, reporters: reporters, runID: runID, log: log, now: now, lim: lim.withDefaults(), step: run.Pending,
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

func (b *logBuffer) setStep(s run.State) {
	b.mu.Lock()
	b.step = s
	b.mu.Unlock()
}

// Add appends a line at the current step, within the run's log limits.
func (b *logBuffer) Add(ctx context.Context, level run.LogLevel, msg string) {
	if len(msg) > b.lim.MaxLineBytes {
		msg = strings.ToValidUTF8(msg[:b.lim.MaxLineBytes], "") + fmt.Sprintf(" … [line cut: %d bytes]", len(msg))
	}
	b.mu.Lock()
	if b.truncated {
		b.mu.Unlock()
		return
	}
	b.kept++
	b.keptBytes += int64(len(msg))
	if b.kept >= b.lim.MaxLogLines || b.keptBytes > b.lim.MaxLogBytes {
		b.truncated = true
		level = run.LogWarn
		msg = fmt.Sprintf("log truncated: the run's log reached its limit (%d lines or %d bytes); later output is not kept",
			b.lim.MaxLogLines, b.lim.MaxLogBytes)
	}
	line := LogLine{RunID: b.runID, Step: b.step, Level: level, Message: msg, At: b.now().UTC()}
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
		b.log.WarnContext(ctx, "append run logs", "lines", len(lines), logging.KeyErr, err)
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
