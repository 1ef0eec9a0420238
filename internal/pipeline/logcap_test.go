package pipeline

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/run"
)

// chattyFailingBuilder prints lines numbered from 0, then fails.
type chattyFailingBuilder struct {
	fakeBuilder
	lines int
}

func (b *chattyFailingBuilder) Build(_ context.Context, _ BuildRequest, log func(string)) (string, error) {
	for i := 0; i < b.lines; i++ {
		log(fmt.Sprintf("line %d of the build's output", i))
	}
	log("E: the last words of the build")
	return "", errors.New("the command returned a non-zero code: 100")
}

// A build printing a million lines (the attack) leaves a bounded log: its
// first lines, one "lines omitted" line and its last lines — the end of
// the failed build, which is what its user needs — and memory stays flat.
func TestLogFloodKeepsHeadAndTail(t *testing.T) {
	const printed = 1_000_000
	lim := Limits{MaxLogLines: 2000}.withDefaults()
	p, st, _ := newTestPipeline(t, goodSpec, &fakeBuilder{}, nil, nil)
	p.cfg.Builder = &chattyFailingBuilder{lines: printed}
	p.cfg.Limits = lim
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	if err := p.Run(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	t.Logf("%d lines printed in %s: %d kept, heap %d → %d KiB", printed, time.Since(start).Round(time.Millisecond), len(st.logs),
		before.HeapAlloc>>10, after.HeapAlloc>>10)
	if st.state != run.Failed {
		t.Fatalf("ended %s, want FAILED", st.state)
	}
	if max := lim.MaxLogLines + settleSlack + 2; len(st.logs) > max {
		t.Errorf("kept %d lines, want at most %d", len(st.logs), max)
	}
	var all strings.Builder
	var bytes int64
	for _, l := range st.logs {
		all.WriteString(l.Message + "\n")
		bytes += int64(len(l.Message))
	}
	text := all.String()
	for _, want := range []string{"line 0 of", "line 1000 of", fmt.Sprintf("line %d of", printed-1), "E: the last words of the build", "lines omitted"} {
		if !strings.Contains(text, want+" ") && !strings.Contains(text, want+"\n") && !strings.Contains(text, want) {
			t.Errorf("the kept log lacks %q", want)
		}
	}
	if strings.Contains(text, fmt.Sprintf("line %d of", printed/2)) {
		t.Errorf("the middle of the output was kept")
	}
	if bytes > lim.MaxLogBytes+64<<10 {
		t.Errorf("kept %d bytes, over the limit %d", bytes, lim.MaxLogBytes)
	}
	// The marker says how much is missing, and comes before the tail.
	mark, lastLine := -1, -1
	for i, l := range st.logs {
		if strings.Contains(l.Message, "lines omitted") {
			mark = i
			if l.Level != run.LogWarn {
				t.Errorf("the mark's level is %s", l.Level)
			}
		}
		if strings.HasPrefix(l.Message, fmt.Sprintf("line %d of", printed-1)) {
			lastLine = i
		}
	}
	if mark < 0 || lastLine < mark {
		t.Errorf("the mark (line %d) must precede the tail (the last printed line is kept at %d)", mark, lastLine)
	}
	if after.HeapAlloc > before.HeapAlloc+32<<20 {
		t.Errorf("the heap grew from %d to %d KiB", before.HeapAlloc>>10, after.HeapAlloc>>10)
	}
}

// The byte limit works the same way: long lines fill the head's bytes
// long before its lines, and the tail is still the end.
func TestLogFloodByBytesKeepsTail(t *testing.T) {
	lim := Limits{MaxLogBytes: 64 << 10}.withDefaults()
	b := newLogBuffer(nil, nil, 1, nil, time.Now, lim)
	st := &memStore{}
	b.store = st
	for i := 0; i < 100_000; i++ {
		b.Add(context.Background(), run.LogInfo, fmt.Sprintf("%06d %s", i, strings.Repeat("y", 900)))
	}
	b.Close()
	var n int64
	for _, l := range st.logs {
		n += int64(len(l.Message))
	}
	if n > lim.MaxLogBytes+4<<10 {
		t.Errorf("kept %d bytes, limit %d", n, lim.MaxLogBytes)
	}
	last := st.logs[len(st.logs)-1].Message
	if !strings.HasPrefix(last, "099999 ") {
		t.Errorf("the last kept line is %.20q, want the last added", last)
	}
	if !strings.HasPrefix(st.logs[0].Message, "000000 ") {
		t.Errorf("the first kept line is %.20q", st.logs[0].Message)
	}
}
