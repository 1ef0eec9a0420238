package webhook

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/linux-builder/linux-builder/internal/store"
)

// benchStore is the receiver's reads answered at once.
type benchStore struct{ downStore }

func (benchStore) Installation(_ context.Context, id int64) (*store.Installation, error) {
	return &store.Installation{ID: id}, nil
}

// benchIntake records nothing and answers a new run at once: what is
// measured is the receiver, not the database.
type benchIntake struct{ n atomic.Int64 }

func (b *benchIntake) Intake(context.Context, *store.IntakeItem) (store.IntakeResult, error) {
	return store.IntakeResult{DeliveryRowID: 1, RunID: b.n.Add(1)}, nil
}

// benchmarkReceive posts a signed real push that adds the spec (decided:
// a run queued) to the real Fiber app over an in-memory listener, from
// parallel keep-alive clients; edit adjusts the receiver's configuration.
func benchmarkReceive(b *testing.B, edit func(*Config)) {
	body := pushWithSpec(&testing.T{}, "0000000000000000000000000000000000000001")
	cfg := Config{Secret: secret, AppID: 1, Store: benchStore{}, Intake: &benchIntake{}, Logger: quiet, ReplayWindow: -1}
	edit(&cfg)
	app, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ln := fasthttputil.NewInmemoryListener()
	go func() { _ = app.Listener(ln) }()
	defer func() { _ = app.ShutdownWithTimeout(5 * time.Second) }()
	client := &fasthttp.Client{Dial: func(string) (net.Conn, error) { return ln.Dial() }, MaxConnsPerHost: 1024}
	sig := Sign(secret, body)
	var id atomic.Int64
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		for pb.Next() {
			req.Reset()
			req.SetRequestURI("http://receiver/webhook")
			req.Header.SetMethod(fasthttp.MethodPost)
			req.Header.Set("X-GitHub-Event", "push")
			req.Header.Set("X-GitHub-Delivery", fmt.Sprint("d-", id.Add(1)))
			req.Header.Set("X-Hub-Signature-256", sig)
			req.Header.SetContentType("application/json")
			req.SetBody(body)
			if err := client.Do(req, resp); err != nil {
				b.Error(err)
				return
			}
			if resp.StatusCode() != 202 {
				b.Errorf("answered %d %s", resp.StatusCode(), resp.Body())
				return
			}
		}
	})
}

// BenchmarkReceive is the receive path without metrics.
func BenchmarkReceive(b *testing.B) {
	benchmarkReceive(b, func(*Config) {})
}
