package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/client"

	"github.com/linux-builder/linux-builder/internal/pipeline"
)

// The engine's own failures. A call whose connection to the engine broke
// (dockerd killed: the stream ends mid-answer; its socket gone: the
// connection is refused), or that failed while the engine stopped
// answering (dockerd stopping kills the build's step, which then "returned
// a non-zero code: 137"), failed because the engine was lost:
// pipeline.ErrEngineLost, which the pipeline retries. Any other failure,
// with the engine answering, is the build's own (a RUN step that exits
// non-zero) and is never retried.

// probeTimeout bounds the Ping that tells whether the engine is still
// there after a call failed.
const probeTimeout = 5 * time.Second

// lost classifies err, the failure of a call on the engine made under
// ctx: it wraps pipeline.ErrEngineLost when the engine was lost. A call
// the caller cancelled is never an engine loss.
func (e *Engine) lost(ctx context.Context, err error) error {
	if err == nil || ctx.Err() != nil || errors.Is(err, pipeline.ErrEngineLost) {
		return err
	}
	if brokenConnection(err) {
		return fmt.Errorf("%w: %w", pipeline.ErrEngineLost, err)
	}
	if perr := e.probe(ctx, probeTimeout); perr != nil && ctx.Err() == nil {
		return fmt.Errorf("%w (it no longer answers: %v): %w", pipeline.ErrEngineLost, perr, err)
	}
	return err
}

// brokenConnection reports whether err says the connection to the engine
// failed or broke under the call.
func brokenConnection(err error) bool {
	return client.IsErrConnectionFailed(err) || cerrdefs.IsUnavailable(err) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED)
}

// probe pings the engine, waiting at most d for its answer.
func (e *Engine) probe(ctx context.Context, d time.Duration) error {
	pctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	_, err := e.c.Ping(pctx)
	return err
}

// WaitEngine waits, up to within, for the engine to answer; one that is
// still silent then is lost (pipeline.ErrEngineLost). A retried attempt
// waits for an engine that restarts (pipeline.EngineWaiter).
func (e *Engine) WaitEngine(ctx context.Context, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		left := time.Until(deadline)
		err := e.probe(ctx, max(min(probeTimeout, left), 100*time.Millisecond))
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case left <= 0:
			return fmt.Errorf("%w: it did not answer for %s: %w", pipeline.ErrEngineLost, within, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(time.Second, max(left, 0))):
		}
	}
}

var _ pipeline.EngineWaiter = (*Engine)(nil)
