package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/logging"
	"github.com/linux-builder/linux-builder/internal/run"
)

// The run's log lines are stamped by the injected clock, and what the
// pipeline logs for operators carries the run's id on top of what the
// caller's context carries (a queue job's id).
func TestClockAndContextLogger(t *testing.T) {
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	st := &memStore{rec: RunRecord{ID: 1, SpecPath: "linux-build.yaml", SpecSrc: []byte(goodSpec)}, state: run.Pending, cache: map[string][]Artifact{}}
	p, err := New(Config{Store: st, Renderer: fakeRenderer{"h1"}, Builder: &fakeBuilder{}, ArtifactsDir: t.TempDir(),
		Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if len(st.logs) == 0 {
		t.Fatal("no log lines")
	}
	for _, l := range st.logs {
		if !l.At.Equal(at) {
			t.Fatalf("log line %q stamped %s, want the injected clock's %s", l.Message, l.At, at)
		}
	}

	var buf bytes.Buffer
	ctx := logging.With(logging.WithLogger(context.Background(), slog.New(slog.NewJSONHandler(&buf, nil))), logging.KeyJob, int64(77))
	if err := p.Run(ctx, 1); err != nil { // the run has ended: it says so
		t.Fatal(err)
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(buf.String())), &line); err != nil {
		t.Fatalf("%v: %q", err, buf.String())
	}
	if line["msg"] != "run already ended" || line[logging.KeyRun] != float64(1) || line[logging.KeyJob] != float64(77) {
		t.Fatalf("logged %v, want the run's and the job's ids", line)
	}
}
