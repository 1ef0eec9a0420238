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
// 500 ms) and hands each kept line to the reporters as it arrives. It keeps
// at most lim's lines and bytes of an attempt (a build's output is a
// stranger's to choose), cutting long lines: the head of the log up to
// three quarters of the limits, then — as the end of a failed build is
// what its user needs — only the newest lines (a ring of a quarter of the
// limits), written after one "N lines omitted" line when the attempt ends
// (settle). Memory and storage stay bounded whatever the build prints.
type logBuffer struct {
	store     Store
	reporters []Reporter
	runID     int64
	log       *slog.Logger
	now       func() time.Time
	lim       Limits

	// Budgets: the head's lines and bytes, the tail ring's.
	headLines, tailLines int
	headBytes, tailBytes int64

	kept      int   // lines stored or pending, markers included
	keptBytes int64 // their bytes
	omitting  bool  // the head is full: lines go to the ring
	omitted   int   // lines dropped from the ring since the last settle
	omitBytes int64
	omitStep  run.State
	ring      []LogLine // the newest lines past the head, oldest first
	ringBytes int64

	mu      sync.Mutex
	step    run.State
	pending []LogLine
	stop    chan struct{}
	done    chan struct{}
}

func newLogBuffer(store Store, reporters []Reporter, runID int64, log *slog.Logger, now func() time.Time, lim Limits) *logBuffer {
	b := &logBuffer{store: store, reporters: reporters, runID: runID, log: log, now: now, lim: lim.withDefaults(), step: run.Pending,
		stop: make(chan struct{}), done: make(chan struct{})}
	b.tailLines = max(b.lim.MaxLogLines/4, 1)
	b.headLines = max(b.lim.MaxLogLines-b.tailLines-1, 1)
	b.tailBytes = max(b.lim.MaxLogBytes/4, 1)
	b.headBytes = max(b.lim.MaxLogBytes-b.tailBytes, 1)
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
			b.flush(context.Background())
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
	line := LogLine{RunID: b.runID, Step: b.step, Level: level, Message: msg, At: b.now().UTC()}
	if !b.omitting && (b.kept >= b.headLines || b.keptBytes+int64(len(msg)) > b.headBytes) {
		b.omitting, b.omitStep = true, b.step
	}
	if b.omitting {
		b.toRing(line)
		b.mu.Unlock()
		return
	}
	b.kept++
	b.keptBytes += int64(len(msg))
	b.pending = append(b.pending, line)
	full := len(b.pending) >= 200
	b.mu.Unlock()
	for _, r := range b.reporters {
		r.Log(ctx, line)
	}
	if full {
		b.flush(ctx)
	}
}

// toRing keeps line among the newest past the head, dropping the oldest
// beyond the tail's budgets. b.mu is held.
func (b *logBuffer) toRing(line LogLine) {
	b.ring = append(b.ring, line)
	b.ringBytes += int64(len(line.Message))
	drop := 0
	for len(b.ring)-drop > b.tailLines || (b.ringBytes > b.tailBytes && len(b.ring)-drop > 1) {
		b.ringBytes -= int64(len(b.ring[drop].Message))
		b.omitted++
		b.omitBytes += int64(len(b.ring[drop].Message))
		drop++
	}
	if drop > 0 {
		// Reslicing alone would keep the dropped lines' array growing
		// with the output: copy once the dead prefix is as long as the
		// ring.
		b.ring = b.ring[drop:]
		if cap(b.ring) > 2*b.tailLines+16 {
			b.ring = append(make([]LogLine, 0, b.tailLines+1), b.ring...)
		}
	}
}

// settleSlack is how many tail lines a settle keeps past the line budget:
// the last lines of a run whose budget an earlier settle used up.
const settleSlack = 20

// settleTail moves the tail ring into the pending lines, after one line
// saying how many lines (and bytes) were omitted. The tail is written
// only while the attempt's line budget allows, less settleSlack lines
// (and the marker) always: a settle comes at the attempt's last writes
// (its build.log, its end), so the stored log stays within the limits
// plus a few lines. b.mu is held.
func (b *logBuffer) settleTail() {
	if !b.omitting || (b.omitted == 0 && len(b.ring) == 0) {
		return
	}
	room := max(b.lim.MaxLogLines-b.kept-1, min(settleSlack, b.tailLines))
	keep := b.ring
	if room < len(keep) {
		keep = keep[len(keep)-max(room, 0):]
	}
	for _, l := range b.ring[:len(b.ring)-len(keep)] {
		b.omitted++
		b.omitBytes += int64(len(l.Message))
	}
	if b.omitted > 0 {
		msg := fmt.Sprintf("… %d lines omitted (%d bytes): the run's log keeps its first %d lines and its last %d (limits: %d lines, %d bytes per run) …",
			b.omitted, b.omitBytes, b.headLines, b.tailLines, b.lim.MaxLogLines, b.lim.MaxLogBytes)
		at := b.now().UTC()
		if len(keep) > 0 {
			at = keep[0].At
		}
		b.pending = append(b.pending, LogLine{RunID: b.runID, Step: b.omitStep, Level: run.LogWarn, Message: msg, At: at})
		b.kept++
		b.keptBytes += int64(len(msg))
	}
	for _, l := range keep {
		b.kept++
		b.keptBytes += int64(len(l.Message))
	}
	b.pending = append(b.pending, keep...)
	b.ring, b.ringBytes, b.omitted, b.omitBytes = nil, 0, 0, 0
	b.omitStep = b.step
}

// Flush writes the pending lines, and the tail kept past the head after
// its "lines omitted" mark: the run's log is whole as far as it goes.
// Called where the attempt's log must be read back (its build.log, its
// end); lines added later start a new tail.
func (b *logBuffer) Flush(ctx context.Context) {
	b.mu.Lock()
	b.settleTail()
	b.mu.Unlock()
	b.flush(ctx)
}

// flush writes the pending lines. A failed write keeps them for the next
// flush: logs are not worth failing a build over, but are not dropped.
func (b *logBuffer) flush(ctx context.Context) {
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

// Close stops the flusher and writes what is left, the tail included.
func (b *logBuffer) Close() {
	close(b.stop)
	<-b.done
	b.Flush(context.Background())
}
