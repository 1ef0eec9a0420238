package queue

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/linux-builder/linux-builder/internal/logging"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// lockedBuffer is a bytes.Buffer safe for the worker's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// What a job logs through its context carries the job's id and kind and
// the run's id, set once by the worker: the runner names none of them.
func TestJobContextCarriesItsLogger(t *testing.T) {
	db := storetest.Postgres(t, nil)
	var buf lockedBuffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	runner := newFakeRunner(func(ctx context.Context, _ int64) error {
		logging.From(ctx).InfoContext(ctx, "building")
		return nil
	})
	q, err := newQueue(db, WorkerConfig{Workers: 1, Runner: runner, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Stop(context.Background()) })
	res := intake(t, db, q, "d-log", "sha-log")
	waitRun(t, runner, res.RunID)
	var found map[string]any
	for _, l := range strings.Split(buf.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "building" {
			found = m
		}
	}
	if found == nil {
		t.Fatalf("the runner's line was not logged through the worker's logger:\n%s", buf.String())
	}
	if found[logging.KeyRun] != float64(res.RunID) || found[logging.KeyJobKind] != (BuildArgs{}).Kind() || found[logging.KeyJob] == nil {
		t.Fatalf("line %v lacks the job's and the run's ids", found)
	}
	var _ store.Jobs = q
}
