package live

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// A subscriber that never reads its queue is dropped when the queue is
// full, while one that reads keeps getting every event.
func TestHubDropsASubscriberThatStopsReading(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB, c *storetest.Clock) {
		s := startServer(t, db, c, Options{Queue: 2})
		id := s.newRun(t)
		ctx := t.Context()
		stuck, err := s.hub.Subscribe(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		defer stuck.Close()
		fast := s.follow(t, id, "")
		for i := range 6 {
			s.logs(t, id, fmt.Sprint(i))
			if l := decode[LogData](t, fast.next(t, "log")); l.Message != fmt.Sprint(i) {
				t.Fatalf("fast client got %+v, want line %d", l, i)
			}
		}
		eventually(t, "the stuck subscriber is dropped", func() bool { return stuck.Dropped() })
		n := 0
		for range stuck.c { // closed: what was queued, then the end
			n++
		}
		if n != 2 {
			t.Fatalf("the stuck subscriber had %d batches queued, want the queue's 2", n)
		}
		if got := s.hub.Subscribers(); got != 1 {
			t.Fatalf("%d subscribers after the drop, want the fast one", got)
		}
		s.finish(t, id)
		fast.next(t, "end")
	})
}

// A client that stops reading its TCP connection is cut off by the write
// deadline, and the others go on.
func TestSSECutsOffAClientThatStopsReading(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB, c *storetest.Clock) {
		s := startServer(t, db, c, Options{})
		id := s.newRun(t)
		raw, err := net.Dial("tcp", strings.TrimPrefix(s.base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		if tc, ok := raw.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(4 << 10)
		}
		fmt.Fprintf(raw, "GET /api/v1/builds/%d/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ok\r\n\r\n", id)
		fast := s.follow(t, id, "")
		eventually(t, "both subscribed", func() bool { return s.hub.Subscribers() == 2 })
		big := strings.Repeat("x", 3000)
		want := 0
		for i := 0; i < 40 && s.hub.Subscribers() == 2; i++ {
			lines := make([]string, 200)
			for j := range lines {
				lines[j] = big
			}
			s.logs(t, id, lines...)
			want += len(lines)
			for range lines {
				fast.next(t, "log")
			}
		}
		eventually(t, "the client that stopped reading is cut off", func() bool { return s.hub.Subscribers() == 1 })
		s.logs(t, id, "after")
		for {
			if l := decode[LogData](t, fast.next(t, "log")); l.Message == "after" {
				break
			}
		}
		t.Logf("cut off after %d lines of 3000 bytes", want)
	})
}

// Pollers and streams leave no goroutine behind once their subscribers
// and the hub are gone.
func TestNoGoroutineLeaks(t *testing.T) {
	db := storetest.SQLite(t, &storetest.Clock{T: time.Now()})
	opt := goleak.IgnoreCurrent()
	func() {
		c := &storetest.Clock{T: time.Now()}
		s := startServer(t, db, c, Options{})
		id := s.newRun(t)
		cls := make([]*sseClient, 5)
		for i := range cls {
			cls[i] = s.follow(t, id, "")
		}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		sub, err := s.hub.Subscribe(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		s.logs(t, id, "x")
		for _, cl := range cls {
			cl.next(t, "log")
			cl.close()
		}
		sub.Close()
		eventually(t, "the poller stops with its last subscriber", func() bool {
			return s.hub.Watched() == 0 && s.hub.Subscribers() == 0 && s.hub.pollers.Load() == 0
		})
		// And the hub's Close ends the streams still open.
		open := s.follow(t, id, "")
		open.next(t, "status")
		s.hub.Close()
		open.ended(t)
		if err := s.app.ShutdownWithTimeout(5 * time.Second); err != nil {
			t.Fatal(err)
		}
		http := httpTransportIdle()
		http()
	}()
	// fasthttp's worker pool cleaner sleeps out its last 10 s after the
	// server stops, and its Date header ticker lives as long as the
	// process: the server's, not the hub's.
	goleak.VerifyNone(t, opt, goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"))
}

// A run that starts over (a lost worker's build, retried) resets its
// steps: the stream says so, then goes on with the new attempt.
func TestSSEShowsARestart(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB, c *storetest.Clock) {
		s := startServer(t, db, c, Options{})
		id := s.newRun(t)
		s.enter(t, id, run.Validating)
		cl := s.follow(t, id, "")
		cl.next(t, "step")
		c.Advance(time.Second)
		if err := db.RestartRun(context.Background(), id, "its worker was lost"); err != nil {
			t.Fatal(err)
		}
		var sawStatus, sawReset bool
		for !sawStatus || !sawReset {
			ev := cl.next(t, "status", "step", "log")
			switch ev.Event {
			case "status":
				st := decode[StatusData](t, ev)
				sawStatus = sawStatus || st.RetryReason == "its worker was lost" && st.Status == run.StatusPending
			case "step":
				st := decode[StepData](t, ev)
				sawReset = st.Step == run.Validating && st.Status == run.StepPending
			}
		}
		s.enter(t, id, run.Validating)
		ev := cl.next(t, "step", "log")
		for ev.Event == "log" { // the restart's own line
			ev = cl.next(t, "step", "log")
		}
		if st := decode[StepData](t, ev); st.Status != run.StepRunning {
			t.Fatalf("after the restart: %+v", st)
		}
	})
}
