package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/linux-builder/linux-builder/internal/run"
)

// bootOutcome is how one firmware's boot ended.
type bootOutcome struct {
	fw   Firmware
	took time.Duration
	err  error
	// stopped: the boot was cancelled because another firmware's boot
	// failed first; it is not a failure of its own.
	stopped bool
}

// serialLogName is the artifact name of a firmware's console log.
func serialLogName(fw Firmware) string { return fmt.Sprintf("boot-%s.log", fw) }

// bootTest boots the ISO under every configured firmware at the same time
// (one after the other would double the step's wall time under TCG); the
// first boot that fails cancels the others. Each boot's console log, even
// a partial one, is kept as an artifact. A failed boot makes the run
// partial, naming the firmwares that failed (not those stopped because of
// them).
func (r *execution) bootTest(ctx context.Context, iso string) (Event, error) {
	if r.p.cfg.Boot == nil {
		return SoftFail, r.partial(ctx, Partial{Reason: "the boot test is not configured; the ISO was not booted"})
	}
	start := time.Now()
	outcomes := r.bootAll(ctx, iso)
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	// Artifacts and warnings are recorded here, in the firmwares' order,
	// once every boot has returned: only the log buffer is shared with the
	// boots while they run.
	var failed []string
	for _, o := range outcomes {
		name := serialLogName(o.fw)
		if _, statErr := os.Stat(filepath.Join(r.dir, name)); statErr == nil {
			if err := r.addFileArtifact(ctx, name, run.ArtifactBootLog); err != nil {
				return "", err
			}
		}
		switch {
		case o.stopped:
			r.logs.Add(ctx, run.LogInfo, fmt.Sprintf("boot test (%s) stopped: another firmware's boot failed first", o.fw))
		case o.err != nil:
			failed = append(failed, string(o.fw))
			r.warn(ctx, fmt.Sprintf("boot test (%s) failed: %v", o.fw, o.err))
		default:
			r.logs.Add(ctx, run.LogInfo, fmt.Sprintf("boot test (%s) passed: marker after %s", o.fw, o.took.Round(100*time.Millisecond)))
		}
	}
	r.logs.Add(ctx, run.LogInfo, fmt.Sprintf("boot tests: %d at once in %s", len(outcomes), time.Since(start).Round(100*time.Millisecond)))
	if len(failed) > 0 {
		return SoftFail, r.mark(ctx, Partial{Reason: "the ISO did not boot (" + strings.Join(failed, ", ") + ")", Failed: true})
	}
	return Next, nil
}

// bootAll runs one boot per firmware concurrently and returns their
// outcomes in the firmwares' order. The first boot to fail cancels the
// others; a boot that then returns with an error is marked stopped. The
// boots only touch the run's log buffer (safe for concurrent use) and
// their own serial log files.
func (r *execution) bootAll(ctx context.Context, iso string) []bootOutcome {
	fws := r.p.cfg.Firmwares
	out := make([]bootOutcome, len(fws))
	gctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		mu sync.Mutex // orders "the first failure" among the boots
		wg sync.WaitGroup
	)
	for i, fw := range fws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := BootRequest{ISO: iso, Marker: r.marker(), Firmware: fw, SerialLog: filepath.Join(r.dir, serialLogName(fw)),
				Timeout: r.p.cfg.BootTimeout, Concurrent: len(fws)}
			took, err := r.p.cfg.Boot.Boot(gctx, req, func(line string) { r.logs.Add(ctx, run.LogInfo, line) })
			mu.Lock()
			defer mu.Unlock()
			o := bootOutcome{fw: fw, took: took, err: err}
			if err != nil {
				// Cancelled already (by an earlier failure, or the run's
				// own context, which bootTest checks): not a failure.
				o.stopped = gctx.Err() != nil
				cancel(fmt.Errorf("the %s boot failed: %w", fw, err))
			}
			out[i] = o
		}()
	}
	wg.Wait()
	return out
}
