package live

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// server is a hub behind a real Fiber server on a loopback listener.
type server struct {
	hub  *Hub
	app  *fiber.App
	base string // http://127.0.0.1:port
	db   *store.DB
	c    *storetest.Clock
}

func artifactURL(runID int64, name string) string {
	return fmt.Sprintf("/api/v1/builds/%d/artifacts/%s", runID, name)
}

// hidden is the run the test's authorisation refuses.
const hidden = int64(1 << 40)

func startServer(t testing.TB, db *store.DB, c *storetest.Clock, opt Options) *server {
	t.Helper()
	opt.Store = db
	if opt.Interval == 0 {
		opt.Interval = 50 * time.Millisecond
	}
	opt.ArtifactURL = artifactURL
	// The hub's clock is the real one: the store's test clock is moved by
	// the test's goroutine only (tests that need the two close set the
	// store's to the real time first).
	if opt.Now == nil {
		opt.Now = time.Now
	}
	hub, err := NewHub(opt)
	if err != nil {
		t.Fatal(err)
	}
	sse, err := hub.SSE(SSEOptions{
		Authorize: func(fc *fiber.Ctx, id int64) error {
			if fc.Get("Authorization") != "Bearer ok" || id == hidden {
				return ErrNotVisible
			}
			return nil
		},
		Heartbeat:    200 * time.Millisecond,
		WriteTimeout: 500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ws, err := hub.WebSocket(WSOptions{
		Authorize: func(fc *fiber.Ctx) (func(int64) bool, error) {
			switch fc.Query("who") {
			case "all":
				return func(int64) bool { return true }, nil
			case "odd":
				return func(id int64) bool { return id%2 == 1 }, nil
			}
			return nil, ErrNotVisible
		},
		AllowedOrigins: []string{"https://builds.example.com"},
		WriteTimeout:   500 * time.Millisecond,
		PingInterval:   time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/api/v1/builds/:id/events", sse)
	app.Get("/ws", ws)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() {
		hub.Close()
		_ = app.ShutdownWithTimeout(5 * time.Second)
	})
	return &server{hub: hub, app: app, base: "http://" + ln.Addr().String(), db: db, c: c}
}

func (s *server) newRun(t testing.TB) int64 {
	t.Helper()
	r := &store.Run{Trigger: run.TriggerAPI, Repo: "o/r", Ref: "refs/heads/main", HeadSHA: strings.Repeat("a", 40)}
	if err := s.db.CreateRun(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return r.ID
}

func (s *server) enter(t testing.TB, id int64, step run.State) {
	t.Helper()
	s.c.Advance(time.Second)
	if err := s.db.EnterStep(context.Background(), id, step); err != nil {
		t.Fatal(err)
	}
}

func (s *server) logs(t testing.TB, id int64, msgs ...string) {
	t.Helper()
	s.c.Advance(time.Millisecond)
	lines := make([]store.RunLog, len(msgs))
	for i, m := range msgs {
		lines[i] = store.RunLog{RunID: id, Step: run.Building, Message: m}
	}
	if err := s.db.AppendLogs(context.Background(), lines); err != nil {
		t.Fatal(err)
	}
}

func (s *server) artifact(t testing.TB, id int64, name string) {
	t.Helper()
	s.c.Advance(time.Millisecond)
	a := &store.Artifact{RunID: id, Name: name, Type: run.ArtifactISO, Key: fmt.Sprintf("runs/%d/%s", id, name), Size: 42, SHA256: strings.Repeat("b", 64)}
	if err := s.db.AddArtifact(context.Background(), a); err != nil {
		t.Fatal(err)
	}
}

func (s *server) finish(t testing.TB, id int64) {
	t.Helper()
	s.c.Advance(time.Second)
	if err := s.db.Finish(context.Background(), id, run.Complete, ""); err != nil {
		t.Fatal(err)
	}
}

// sseEvent is one event as a client parsed it.
type sseEvent struct {
	ID, Event, Data string
}

// sseClient reads one stream with net/http, as a browser would.
type sseClient struct {
	resp   *http.Response
	events chan sseEvent
	done   chan error // the stream's end: nil at EOF
	cancel context.CancelFunc
}

func (s *server) get(t testing.TB, id int64, lastID string) *http.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return s.getCtx(t, ctx, id, lastID, "Bearer ok")
}

func (s *server) getCtx(t testing.TB, ctx context.Context, id int64, lastID, auth string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/api/v1/builds/%d/events", s.base, id), nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func (s *server) follow(t testing.TB, id int64, lastID string) *sseClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	resp := s.getCtx(t, ctx, id, lastID, "Bearer ok")
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		cancel()
		t.Fatalf("GET events of run %d: %s %s", id, resp.Status, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	c := &sseClient{resp: resp, events: make(chan sseEvent, 100000), done: make(chan error, 1), cancel: cancel}
	go c.read()
	t.Cleanup(c.close)
	return c
}

func (c *sseClient) close() {
	c.cancel()
	c.resp.Body.Close()
}

func (c *sseClient) read() {
	sc := bufio.NewScanner(c.resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.Event != "" {
				c.events <- ev
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, "id: "):
			ev.ID = line[4:]
		case strings.HasPrefix(line, "event: "):
			ev.Event = line[7:]
		case strings.HasPrefix(line, "data: "):
			ev.Data = line[6:]
		}
	}
	close(c.events)
	c.done <- sc.Err()
}

// next returns the next event other than a status snapshot (unless
// status is asked for), or fails after a timeout.
func (c *sseClient) next(t testing.TB, kinds ...string) sseEvent {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-c.events:
			if !ok {
				t.Fatalf("stream ended; want one of %v", kinds)
			}
			for _, k := range kinds {
				if ev.Event == k {
					return ev
				}
			}
			if ev.Event == string(KindStatus) {
				continue
			}
			t.Fatalf("got %s event %s; want one of %v", ev.Event, ev.Data, kinds)
		case <-timeout:
			t.Fatalf("no event within 10 s; want one of %v", kinds)
		}
	}
}

// ended waits for the stream to close.
func (c *sseClient) ended(t testing.TB) []sseEvent {
	t.Helper()
	var rest []sseEvent
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-c.events:
			if !ok {
				return rest
			}
			rest = append(rest, ev)
		case <-timeout:
			t.Fatal("stream still open after 10 s")
		}
	}
}

func decode[T any](t testing.TB, ev sseEvent) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(ev.Data), &v); err != nil {
		t.Fatalf("%s event data %q: %v", ev.Event, ev.Data, err)
	}
	return v
}

// eventually polls cond for up to 10 s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 10 s: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// httpTransportIdle returns a func closing the default client's idle
// connections (their goroutines are not the hub's).
func httpTransportIdle() func() {
	return func() { http.DefaultClient.CloseIdleConnections() }
}
