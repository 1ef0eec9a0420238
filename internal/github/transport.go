package github

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// limitTransport makes one installation's client behave well with GitHub:
// mutations are sent one at a time (GitHub's advice against secondary rate
// limits), rate-limited requests (429; 403 with x-ratelimit-remaining: 0
// or a secondary limit) are retried after Retry-After or x-ratelimit-reset
// when that is soon, and server errors (5xx) and failed connections are
// retried with backoff for requests that are safe to repeat (GET, HEAD,
// PUT, PATCH, DELETE). A POST is not repeated after a server error: the
// caller knows whether it can be (a check run is looked up by its
// external id first).
type limitTransport struct {
	base http.RoundTripper
	mu   sync.Mutex
	// Attempts is how often a request is tried; MaxWait is the longest
	// wait for a rate limit, beyond which the response is returned (the
	// job that made the request retries later).
	attempts int
	maxWait  time.Duration
	backoff  time.Duration
	sleep    func(ctx context.Context, d time.Duration) error
}

func newLimitTransport(base http.RoundTripper) *limitTransport {
	return &limitTransport{base: base, attempts: 4, maxWait: time.Minute, backoff: time.Second, sleep: sleepCtx}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func repeatable(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

func (t *limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		t.mu.Lock()
		defer t.mu.Unlock()
	}
	ctx := req.Context()
	for attempt := 1; ; attempt++ {
		if attempt > 1 {
			if req.Body != nil && req.Body != http.NoBody {
				if req.GetBody == nil {
					return nil, errNoRewind
				}
				body, err := req.GetBody()
				if err != nil {
					return nil, err
				}
				req.Body = body
			}
		}
		resp, err := t.base.RoundTrip(req)
		last := attempt >= t.attempts
		if err != nil {
			if last || !repeatable(req.Method) || ctx.Err() != nil || (req.Body != nil && req.Body != http.NoBody && req.GetBody == nil) {
				return nil, err
			}
			if err := t.sleep(ctx, t.backoff<<(attempt-1)); err != nil {
				return nil, err
			}
			continue
		}
		wait, retry := t.classify(resp, attempt)
		if !retry || last || wait > t.maxWait || (req.Body != nil && req.Body != http.NoBody && req.GetBody == nil) {
			return resp, nil
		}
		if err := discard(resp.Body); err != nil {
			return nil, fmt.Errorf("github: dropping an answer before a retry: %w", err)
		}
		if err := t.sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

type rewindError struct{}

func (rewindError) Error() string {
	return "github: cannot repeat a request whose body cannot be re-read"
}

var errNoRewind error = rewindError{}

// classify says whether resp asks for a retry, and after how long.
func (t *limitTransport) classify(resp *http.Response, attempt int) (time.Duration, bool) {
	switch {
	case resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusForbidden:
		if d, ok := retryAfter(resp.Header); ok {
			return d, true
		}
		if resp.Header.Get("X-Ratelimit-Remaining") == "0" {
			if reset, err := strconv.ParseInt(resp.Header.Get("X-Ratelimit-Reset"), 10, 64); err == nil {
				return max(time.Until(time.Unix(reset, 0))+time.Second, time.Second), true
			}
		}
		if resp.StatusCode == http.StatusTooManyRequests || secondaryLimit(resp) {
			// No hint: GitHub asks for at least a minute.
			return time.Minute, true
		}
		return 0, false
	case resp.StatusCode >= 500 && repeatable(resp.Request.Method):
		return t.backoff << (attempt - 1), true
	}
	return 0, false
}

func retryAfter(h http.Header) (time.Duration, bool) {
	v := h.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(time.Until(at), 0), true
	}
	return 0, false
}

// secondaryLimit reports whether a 403 is GitHub's secondary rate limit,
// which says so only in its message. The body is put back for the caller
// as it was (with the read error, if reading failed).
func secondaryLimit(resp *http.Response) bool {
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<10))
	var rest io.Reader = resp.Body
	if err != nil {
		rest = errReader{err}
	}
	resp.Body = readCloser{io.MultiReader(bytes.NewReader(b), rest), resp.Body}
	return strings.Contains(strings.ToLower(string(b)), "secondary rate limit")
}

// discard reads what is left of a body that is not wanted (up to 64 KiB,
// so the connection can be reused) and closes it.
func discard(body io.ReadCloser) error {
	_, err := io.Copy(io.Discard, io.LimitReader(body, 64<<10))
	return errors.Join(err, body.Close())
}

type readCloser struct {
	io.Reader
	io.Closer
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }
