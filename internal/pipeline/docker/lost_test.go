package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/linux-builder/linux-builder/internal/pipeline"
)

// fakeEngine is a Docker Engine API on a unix socket that a test can take
// away (down: the socket is gone, as when dockerd dies) and bring back
// (up). Its routes answer by the request path's suffix.
type fakeEngine struct {
	t      *testing.T
	sock   string
	mu     sync.Mutex
	l      net.Listener
	srv    *http.Server
	routes map[string]http.HandlerFunc
}

func newFakeEngine(t *testing.T) *fakeEngine {
	t.Helper()
	// A short path: a unix socket's is at most 108 bytes.
	dir, err := os.MkdirTemp("", "fake-dockerd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	f := &fakeEngine{t: t, sock: filepath.Join(dir, "docker.sock"), routes: map[string]http.HandlerFunc{}}
	f.up()
	t.Cleanup(f.down)
	return f
}

func (f *fakeEngine) up() {
	f.t.Helper()
	l, err := net.Listen("unix", f.sock)
	if err != nil {
		f.t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(f.serve), ReadHeaderTimeout: 10 * time.Second}
	f.mu.Lock()
	f.l, f.srv = l, srv
	f.mu.Unlock()
	go func() { _ = srv.Serve(l) }()
}

// down takes the socket away: new connections fail at once, idle ones
// are closed; requests under way go on (a handler ends its own), and
// their connections close after them.
func (f *fakeEngine) down() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.l != nil {
		_ = f.l.Close()
		f.srv.SetKeepAlivesEnabled(false)
		f.l = nil
	}
}

func (f *fakeEngine) route(suffix string, h http.HandlerFunc) { f.routes[suffix] = h }

func (f *fakeEngine) serve(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, "/_ping") {
		w.Header().Set("API-Version", "1.41")
		_, _ = io.WriteString(w, "OK")
		return
	}
	for suffix, h := range f.routes {
		if strings.HasSuffix(r.URL.Path, suffix) {
			h(w, r)
			return
		}
	}
	http.Error(w, `{"message":"no such route in the fake engine"}`, http.StatusNotFound)
}

func (f *fakeEngine) engine() *Engine {
	f.t.Helper()
	c, err := client.NewClientWithOpts(client.WithHost("unix://"+f.sock), client.WithAPIVersionNegotiation())
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { c.Close() })
	return &Engine{c: c}
}

// stream answers with the JSON lines of a progress stream, complete.
func stream(lines ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		for _, l := range lines {
			_, _ = io.WriteString(w, l+"\r\n")
			w.(http.Flusher).Flush()
		}
	}
}

// dropMidStream starts a chunked answer with the lines, then closes the
// connection without ending it, as a dying dockerd does; then (if
// after is set) it runs after.
func dropMidStream(after func(), lines ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			panic(err)
		}
		fmt.Fprint(buf, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
		for _, l := range lines {
			fmt.Fprintf(buf, "%x\r\n%s\r\n", len(l)+1, l+"\n")
		}
		_ = buf.Flush()
		if after != nil {
			after()
		}
		_ = conn.Close()
	}
}

type tarContext struct{}

func (tarContext) ContextHash() string        { return "h" }
func (tarContext) SpecHash() string           { return "s" }
func (tarContext) WriteTar(w io.Writer) error { _, err := w.Write(make([]byte, 1024)); return err }

func fakeBuild(ctx context.Context, e *Engine) (string, error) {
	return e.Build(ctx, pipeline.BuildRequest{Context: tarContext{}, Tag: "linux-builder-test:lost"}, func(string) {})
}

const (
	stepLine = `{"stream":"Step 2/2 : RUN sleep 30\n"}`
	// A RUN step's own failure: the engine is fine.
	runFailed = `{"errorDetail":{"code":1,"message":"The command '/bin/sh -c false' returned a non-zero code: 1"},"error":"The command '/bin/sh -c false' returned a non-zero code: 1"}`
	// What a build says when dockerd stops (SIGTERM) and kills its step.
	runKilled = `{"errorDetail":{"code":137,"message":"The command '/bin/sh -c sleep 30' returned a non-zero code: 137"},"error":"The command '/bin/sh -c sleep 30' returned a non-zero code: 137"}`
)

// A build whose engine goes away under it fails with ErrEngineLost: its
// connection dropped mid-stream (dockerd killed), the engine stopping
// (SIGTERM: the stream ends with its step killed and the socket is gone),
// the socket gone before the build, a stream that ends without an image
// while the engine is unreachable. A build's own failure, with the engine
// fine, is not an engine loss.
func TestBuildClassifiesALostEngine(t *testing.T) {
	cases := []struct {
		name  string
		setup func(f *fakeEngine)
		lost  bool
		want  string
	}{
		{name: "connection dropped mid-build", lost: true, want: "unexpected EOF", setup: func(f *fakeEngine) {
			f.route("/build", dropMidStream(f.down, stepLine))
		}},
		{name: "connection dropped, engine back at once", lost: true, want: "unexpected EOF", setup: func(f *fakeEngine) {
			f.route("/build", dropMidStream(nil, stepLine))
		}},
		{name: "engine stopping kills the step", lost: true, want: "non-zero code: 137", setup: func(f *fakeEngine) {
			f.route("/build", func(w http.ResponseWriter, r *http.Request) {
				f.down()
				stream(stepLine, runKilled)(w, r)
			})
		}},
		{name: "socket gone before the build", lost: true, setup: func(f *fakeEngine) { f.down() }},
		{name: "stream ends without an image, engine gone", lost: true, setup: func(f *fakeEngine) {
			f.route("/build", func(w http.ResponseWriter, r *http.Request) {
				f.down()
				stream(stepLine)(w, r)
			})
		}},
		{name: "a RUN step fails", lost: false, want: "returned a non-zero code: 1", setup: func(f *fakeEngine) {
			f.route("/build", stream(stepLine, runFailed))
		}},
		{name: "a RUN step is killed, engine fine", lost: false, want: "non-zero code: 137", setup: func(f *fakeEngine) {
			f.route("/build", stream(stepLine, runKilled))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeEngine(t)
			e := f.engine()
			tc.setup(f)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, err := fakeBuild(ctx, e)
			if err == nil {
				t.Fatal("the build succeeded")
			}
			if errors.Is(err, pipeline.ErrEngineLost) != tc.lost {
				t.Fatalf("error %q: engine lost = %v, want %v", err, !tc.lost, tc.lost)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

// A build the caller cancels is not an engine loss, even if the engine is
// gone by then.
func TestCancelledBuildIsNotAnEngineLoss(t *testing.T) {
	f := newFakeEngine(t)
	e := f.engine()
	ctx, cancel := context.WithCancel(context.Background())
	f.route("/build", dropMidStream(func() { cancel(); f.down() }, stepLine))
	_, err := fakeBuild(ctx, e)
	if err == nil || errors.Is(err, pipeline.ErrEngineLost) {
		t.Fatalf("error %v, want the cancellation", err)
	}
}

// Save and Export streams cut by a dying engine fail with ErrEngineLost;
// a writer's own failure (the disk, the ISO step that stopped reading)
// does not.
func TestSaveAndExportClassifyALostEngine(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tarBytes := strings.Repeat("t", 4096)
	t.Run("save dropped", func(t *testing.T) {
		f := newFakeEngine(t)
		f.route("/images/get", dropMidStream(f.down, tarBytes))
		err := f.engine().Save(ctx, "sha256:x", io.Discard)
		if !errors.Is(err, pipeline.ErrEngineLost) {
			t.Fatalf("save: %v, want ErrEngineLost", err)
		}
	})
	t.Run("export dropped", func(t *testing.T) {
		f := newFakeEngine(t)
		f.route("/containers/create", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, `{"Id":"c1","Warnings":[]}`)
		})
		f.route("/containers/c1/export", dropMidStream(f.down, tarBytes))
		f.route("/containers/c1", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
		err := f.engine().Export(ctx, "sha256:x", io.Discard)
		if !errors.Is(err, pipeline.ErrEngineLost) {
			t.Fatalf("export: %v, want ErrEngineLost", err)
		}
	})
	t.Run("writer fails", func(t *testing.T) {
		f := newFakeEngine(t)
		f.route("/images/get", stream(tarBytes))
		err := f.engine().Save(ctx, "sha256:x", failingWriter{})
		if err == nil || errors.Is(err, pipeline.ErrEngineLost) {
			t.Fatalf("save: %v, want the writer's error alone", err)
		}
	})
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

// WaitEngine returns once the engine answers again, and fails with
// ErrEngineLost when it does not within the bound.
func TestWaitEngine(t *testing.T) {
	f := newFakeEngine(t)
	e := f.engine()
	ctx := context.Background()
	if err := e.WaitEngine(ctx, time.Second); err != nil {
		t.Fatalf("an engine that answers: %v", err)
	}
	f.down()
	start := time.Now()
	err := e.WaitEngine(ctx, 1500*time.Millisecond)
	if !errors.Is(err, pipeline.ErrEngineLost) {
		t.Fatalf("an engine that is gone: %v, want ErrEngineLost", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the wait took %s, past its bound", took)
	}
	time.AfterFunc(700*time.Millisecond, f.up)
	if err := e.WaitEngine(ctx, 20*time.Second); err != nil {
		t.Fatalf("an engine that came back: %v", err)
	}
}
