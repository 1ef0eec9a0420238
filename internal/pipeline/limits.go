package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/linux-builder/linux-builder/internal/run"
)

// Limits bound what one run may consume. A build runs a stranger's
// scripts: without them one spec can hold a worker for hours, fill the
// disk or the database with its output.
type Limits struct {
	// Step time limits; a step over its limit fails the run with a reason
	// that names the step and the limit. Boot tests have their own
	// per-boot limit (Config.BootTimeout).
	ValidateTimeout time.Duration // fetching and checking the spec; default 2m
	BuildTimeout    time.Duration // docker build (and docker save without an ISO step); default 60m
	ISOTimeout      time.Duration // the ISO and, from its export, image.tar.zst; default 20m
	DiskTimeout     time.Duration // the disk images (outputs qcow2, raw); default 40m
	// MaxImageBytes caps the image artifact before compression (docker
	// save's bytes, or the ISO step's export of the image); default 16 GiB.
	MaxImageBytes int64
	// MaxLogLines and MaxLogBytes cap the log kept for one attempt of a
	// run: its first lines up to three quarters of them, then one "N lines
	// omitted" line and its last lines in the last quarter (logs.go).
	// MaxLineBytes cuts single lines. Defaults 20,000 lines, 8 MiB, 4 KiB.
	MaxLogLines  int
	MaxLogBytes  int64
	MaxLineBytes int
}

func (l Limits) withDefaults() Limits {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&l.ValidateTimeout, 2*time.Minute)
	def(&l.BuildTimeout, 60*time.Minute)
	def(&l.ISOTimeout, 20*time.Minute)
	def(&l.DiskTimeout, 40*time.Minute)
	if l.MaxImageBytes <= 0 {
		l.MaxImageBytes = 16 << 30
	}
	if l.MaxLogLines <= 0 {
		l.MaxLogLines = 20_000
	}
	if l.MaxLogBytes <= 0 {
		l.MaxLogBytes = 8 << 20
	}
	if l.MaxLineBytes <= 0 {
		l.MaxLineBytes = 4 << 10
	}
	return l
}

// errStepTimeout is the cause of a step context that ran out of time.
type errStepTimeout struct {
	step  run.State
	limit time.Duration
}

func (e *errStepTimeout) Error() string {
	return fmt.Sprintf("the %s step exceeded its time limit (%s)", e.step, e.limit)
}

// stepTimeout is the time limit of the current step; 0 is none.
func (r *execution) stepTimeout() time.Duration {
	l := r.p.cfg.Limits
	switch r.state {
	case run.Validating:
		return l.ValidateTimeout
	case run.Building:
		return l.BuildTimeout
	case run.ISOGenerating:
		return l.ISOTimeout
	case run.DiskGenerating:
		return l.DiskTimeout
	case run.BootTesting:
		// Each boot has its own limit; the step's covers them all, one
		// after the other at worst (MaxBoots at once).
		iso, _ := isoFirmwares(r.spec, r.p.cfg.Firmwares)
		boots := len(iso)
		if r.wantsDisk() {
			disk, _ := diskFirmwares(r.spec, r.p.cfg.Firmwares)
			boots += len(disk)
		}
		return time.Duration(boots)*r.p.cfg.BootTimeout + time.Minute
	}
	return 0
}

// stepContext is ctx bounded by the current step's time limit.
func (r *execution) stepContext(ctx context.Context) (context.Context, context.CancelFunc) {
	d := r.stepTimeout()
	if d <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeoutCause(ctx, d, &errStepTimeout{step: r.state, limit: d})
}

// stepTimedOut turns the error of a step whose own time ran out (and not
// the run's) into a step failure that says so.
func (r *execution) stepTimedOut(ctx, sctx context.Context, err error) error {
	var te *errStepTimeout
	if err != nil && ctx.Err() == nil && errors.As(context.Cause(sctx), &te) {
		return stepFailed(te.Error(), te)
	}
	return err
}
