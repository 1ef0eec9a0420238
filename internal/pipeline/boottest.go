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
	"github.com/linux-builder/linux-builder/internal/sparse"
)

// bootOutcome is how one boot ended.
type bootOutcome struct {
	boot
	took time.Duration
	err  error
	// stopped: the boot was cancelled because another boot failed first;
	// it is not a failure of its own.
	stopped bool
}

// noBootTestLine is what the log of a run that asked for no boot test
// says in BOOT_TESTING.
const noBootTestLine = "boot test skipped: the build asked for none (noBootTest)"

// boot is one boot of the boot test: the ISO, or the disk image, under
// one firmware.
type boot struct {
	fw   Firmware
	disk bool
	// media is the ISO, or the disk image each disk boot copies.
	media string
}

func (b boot) what() string {
	if b.disk {
		return "disk image"
	}
	return "ISO"
}

// label names the boot in the log: "uefi", "disk, uefi".
func (b boot) label() string {
	if b.disk {
		return "disk, " + string(b.fw)
	}
	return string(b.fw)
}

// serialLogName is the artifact name of a boot's console log:
// boot-uefi.log for the ISO, boot-disk-uefi.log for the disk image.
func serialLogName(b boot) string {
	if b.disk {
		return fmt.Sprintf("boot-disk-%s.log", b.fw)
	}
	return fmt.Sprintf("boot-%s.log", b.fw)
}

// bootTest boots the ISO under every configured firmware and the disk
// image under every firmware of the spec, at the same time up to MaxBoots
// (one after the other would multiply the step's wall time under TCG);
// the first boot that fails cancels the others. Each disk boot boots its
// own sparse copy of the boot-test disk (the machine writes to it),
// removed afterwards. Each boot's console log, even a partial one, is
// kept as an artifact. A failed boot makes the run partial, naming the
// boots that failed (not those stopped because of them). A run that asked
// for no boot test boots nothing and is not partial for it: it has what
// it asked for (its media have no marker: makeISO, makeDisk).
func (r *execution) bootTest(ctx context.Context, iso string, disk *diskBoot) (Event, error) {
	if r.rec.NoBootTest {
		r.logs.Add(ctx, run.LogInfo, noBootTestLine)
		return Next, nil
	}
	var boots []boot
	var what []string
	if iso != "" {
		what = append(what, "the ISO")
		fws, skipped := isoFirmwares(r.spec, r.p.cfg.Firmwares)
		for _, why := range skipped {
			r.warnOnce(ctx, why)
		}
		for _, fw := range fws {
			boots = append(boots, boot{fw: fw, media: iso})
		}
	}
	if disk != nil {
		what = append(what, "the disk image")
		if disk.path != "" {
			defer os.Remove(disk.path)
		}
		for _, fw := range disk.firmwares {
			boots = append(boots, boot{fw: fw, disk: true, media: disk.path})
		}
	}
	if len(what) == 0 {
		// The outputs failed or were not made: their steps said why.
		r.logs.Add(ctx, run.LogInfo, "boot test: nothing to boot")
		return Next, nil
	}
	if r.p.cfg.Boot == nil {
		verb := " was not booted"
		if len(what) > 1 {
			verb = " were not booted"
		}
		return SoftFail, r.partial(ctx, Partial{Reason: "the boot test is not configured; " + strings.Join(what, " and ") + verb})
	}
	start := time.Now()
	outcomes := r.bootAll(ctx, boots)
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	// Artifacts and warnings are recorded here, in the boots' order, once
	// every boot has returned: only the log buffer is shared with the
	// boots while they run.
	failed := map[string][]string{}
	var failedWhat []string
	for _, o := range outcomes {
		name := serialLogName(o.boot)
		if _, statErr := os.Stat(filepath.Join(r.dir, name)); statErr == nil {
			if err := r.addFileArtifact(ctx, name, run.ArtifactBootLog); err != nil {
				return "", err
			}
		}
		switch {
		case o.stopped:
			r.logs.Add(ctx, run.LogInfo, fmt.Sprintf("boot test (%s) stopped: another boot failed first", o.label()))
		case o.err != nil:
			if failed[o.what()] == nil {
				failedWhat = append(failedWhat, o.what())
			}
			failed[o.what()] = append(failed[o.what()], string(o.fw))
			r.warn(ctx, fmt.Sprintf("boot test (%s) failed: %v", o.label(), o.err))
		default:
			r.logs.Add(ctx, run.LogInfo, fmt.Sprintf("boot test (%s) passed: marker after %s", o.label(), o.took.Round(100*time.Millisecond)))
		}
	}
	r.logs.Add(ctx, run.LogInfo, fmt.Sprintf("boot tests: %d, up to %d at once, in %s", len(outcomes), min(len(outcomes), r.p.cfg.MaxBoots),
		time.Since(start).Round(100*time.Millisecond)))
	if len(failedWhat) > 0 {
		var parts []string
		for _, w := range failedWhat {
			parts = append(parts, "the "+w+" did not boot ("+strings.Join(failed[w], ", ")+")")
		}
		return SoftFail, r.mark(ctx, Partial{Reason: strings.Join(parts, "; "), Failed: true})
	}
	return Next, nil
}

// bootAll runs the boots concurrently, at most MaxBoots at once, and
// returns their outcomes in the boots' order. The first boot to fail
// cancels the others (those still waiting for their turn do not start);
// a boot that then returns with an error is marked stopped. The boots
// only touch the run's log buffer (safe for concurrent use), their own
// serial log files and their own disk copies.
func (r *execution) bootAll(ctx context.Context, boots []boot) []bootOutcome {
	out := make([]bootOutcome, len(boots))
	gctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	concurrent := min(len(boots), r.p.cfg.MaxBoots)
	slots := make(chan struct{}, concurrent)
	var (
		mu sync.Mutex // orders "the first failure" among the boots
		wg sync.WaitGroup
	)
	// The boots start in their order as slots free up; once one has
	// failed, those still waiting do not start.
	for i, b := range boots {
		select {
		case slots <- struct{}{}:
		case <-gctx.Done():
		}
		if gctx.Err() != nil {
			out[i] = bootOutcome{boot: b, err: context.Cause(gctx), stopped: true}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			took, err := r.boot(gctx, ctx, b, concurrent)
			mu.Lock()
			o := bootOutcome{boot: b, took: took, err: err}
			if err != nil {
				// Cancelled already (by an earlier failure, or the run's
				// own context, which bootTest checks): not a failure.
				o.stopped = gctx.Err() != nil
				cancel(fmt.Errorf("the %s boot failed: %w", b.label(), err))
			}
			out[i] = o
			mu.Unlock()
			<-slots // after the cancel: a waiting boot sees it
		}()
	}
	wg.Wait()
	return out
}

// boot runs one boot. A disk boot boots a sparse copy of the boot-test
// disk of its own, removed when it returns.
// Its log lines go to the run's log under logCtx, which outlives ctx.
func (r *execution) boot(ctx, logCtx context.Context, b boot, concurrent int) (time.Duration, error) {
	req := BootRequest{Marker: r.marker(), Firmware: b.fw, SerialLog: filepath.Join(r.dir, serialLogName(b)),
		Timeout: r.p.cfg.BootTimeout, Concurrent: concurrent}
	if b.disk {
		cp := filepath.Join(filepath.Dir(b.media), fmt.Sprintf("boot-%s.raw", b.fw))
		_ = os.Remove(cp) // a retried attempt's
		if err := sparse.Copy(b.media, cp); err != nil {
			return 0, fmt.Errorf("the boot test's copy of the disk: %w", err)
		}
		defer os.Remove(cp)
		req.Disk = cp
	} else {
		req.ISO = b.media
	}
	return r.p.cfg.Boot.Boot(ctx, req, func(line string) { r.logs.Add(logCtx, run.LogInfo, line) })
}
