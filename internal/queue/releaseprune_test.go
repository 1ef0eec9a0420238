package queue

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// countingPruner counts its passes; every pass fails.
type countingPruner struct{ passes atomic.Int32 }

func (p *countingPruner) PruneReleases(context.Context) error {
	p.passes.Add(1)
	return errors.New("GitHub is down")
}

// With a ReleasePruner the worker runs it at start and every
// ReleasePruneEvery; a failing pass does not stop the next one.
func TestReleasePruneRunsPeriodically(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB, _ *storetest.Clock) {
		p := &countingPruner{}
		q, err := newQueue(db, WorkerConfig{Workers: 1, Runner: newFakeRunner(nil),
			ReleasePruner: p, ReleasePruneEvery: 300 * time.Millisecond, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		if err := q.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer q.Stop(context.Background())
		deadline := time.Now().Add(20 * time.Second)
		for p.passes.Load() < 2 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if n := p.passes.Load(); n < 2 {
			t.Fatalf("%d passes in 20 s, want at least 2", n)
		}
	})
}
