package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"go.yaml.in/yaml/v3"

	"github.com/linux-builder/linux-builder/internal/github/githubtest"
	"github.com/linux-builder/linux-builder/internal/run"
)

// TestWebFaceBuildsAndServesAnISO is the web face end to end through the
// real `bot serve` and the real pipeline: a token made with `bot token
// create` starts examples/minimal-debian.yaml (as JSON) with the seed's
// POST /build/start; the WebSocket and the build's Server-Sent Events are
// followed to the end; the ISO is downloaded whole and as a range, and its
// sha256 is the one /build/status gives.
func TestWebFaceBuildsAndServesAnISO(t *testing.T) {
	needDocker(t)
	fake := githubtest.New(t)
	appEnv(t, "face-secret", fake)
	dir, addr := t.TempDir(), freeAddr(t)
	base := "http://" + addr
	t.Setenv("PUBLIC_URL", base)

	token := tokenCreate(t, dir)

	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan int, 1)
	stderr := &lockedBuffer{}
	go func() {
		exited <- runContext(ctx, []string{"serve", "--addr", addr, "--database-url", "", "--data-dir", dir, "--no-boot-test",
			"--log-format", "json", "--log-level", "warn"}, strings.NewReader(""), io.Discard, stderr)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-exited:
		case <-time.After(2 * time.Minute):
			t.Error("serve did not stop")
		}
	})
	waitReady(t, base, stderr)

	src, err := os.ReadFile("../../examples/minimal-debian.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := yaml.Unmarshal(src, &doc); err != nil {
		t.Fatal(err)
	}
	specJSON, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}

	// The WebSocket first, so it sees every change of the build.
	hdr := http.Header{"Authorization": {"Bearer " + token}}
	ws, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws", hdr)
	if err != nil {
		t.Fatalf("open /ws: %v (%v)", err, resp)
	}
	defer ws.Close()

	var started struct {
		BuildID int64      `json:"buildId"`
		Status  run.Status `json:"status"`
	}
	do(t, http.MethodPost, base+"/build/start", token, "application/json", specJSON, http.StatusAccepted, &started)
	if started.BuildID == 0 || started.Status != run.StatusPending {
		t.Fatalf("/build/start: %+v", started)
	}

	wsDone := make(chan error, 1)
	go func() { wsDone <- followSocket(ws, started.BuildID) }()
	end := followEvents(t, base, token, started.BuildID)
	if end.Status != run.StatusSuccess {
		t.Fatalf("the build ended %s (%s)\n%s", end.Status, end.FailureReason, stderr.String())
	}
	select {
	case err := <-wsDone:
		if err != nil {
			t.Errorf("WebSocket: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("the WebSocket never said the build ended")
	}

	var status struct {
		Status    run.Status `json:"status"`
		Artifacts []struct {
			Name, Type, SHA256, URL string
			Size                    int64
		} `json:"artifacts"`
	}
	do(t, http.MethodGet, fmt.Sprintf("%s/build/status/%d", base, started.BuildID), token, "", nil, http.StatusOK, &status)
	var isoURL, isoSHA string
	var isoSize int64
	for _, a := range status.Artifacts {
		if a.Type == string(run.ArtifactISO) {
			isoURL, isoSHA, isoSize = a.URL, a.SHA256, a.Size
		}
	}
	if isoURL == "" || len(isoSHA) != 64 || isoSize < 1<<20 {
		t.Fatalf("no ISO with a URL and sha256 in /build/status: %+v", status)
	}
	if !strings.HasPrefix(isoURL, base+"/") {
		t.Fatalf("the ISO's URL %q is not on the server (PUBLIC_URL %s)", isoURL, base)
	}

	// A range, then the whole file: both agree with the recorded sha256.
	req, _ := http.NewRequest(http.MethodGet, isoURL, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Range", "bytes=32768-36863") // the ISO 9660 volume descriptor
	rr, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	part, _ := io.ReadAll(rr.Body)
	rr.Body.Close()
	if rr.StatusCode != http.StatusPartialContent || len(part) != 4096 || rr.Header.Get("Content-Range") != fmt.Sprintf("bytes 32768-36863/%d", isoSize) {
		t.Fatalf("range: %d, %d bytes, Content-Range %q", rr.StatusCode, len(part), rr.Header.Get("Content-Range"))
	}
	if string(part[1:6]) != "CD001" {
		t.Errorf("the range is not the ISO's volume descriptor: % x", part[:8])
	}
	req, _ = http.NewRequest(http.MethodGet, isoURL, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	whole, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer whole.Body.Close()
	h := sha256.New()
	var head bytes.Buffer
	n, err := io.Copy(io.MultiWriter(h, &limitWriter{w: &head, n: 36864}), whole.Body)
	if err != nil || whole.StatusCode != http.StatusOK || n != isoSize {
		t.Fatalf("whole ISO: %d, %d of %d bytes, %v", whole.StatusCode, n, isoSize, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != isoSHA {
		t.Errorf("the ISO's sha256 is %s, /build/status says %s", got, isoSHA)
	}
	if whole.Header.Get("ETag") != `"`+isoSHA+`"` {
		t.Errorf("ETag %q, want the sha256", whole.Header.Get("ETag"))
	}
	if !bytes.Equal(head.Bytes()[32768:36864], part) {
		t.Error("the range differs from the same bytes of the whole file")
	}
}

// tokenCreate runs `bot token create` on the data directory's store and
// returns the token it printed.
func tokenCreate(t *testing.T, dir string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := runContext(context.Background(), []string{"migrate", "up", "--database-url", "", "--data-dir", dir}, strings.NewReader(""), io.Discard, &errb); code != 0 {
		t.Fatalf("bot migrate up: exit %d\n%s", code, errb.String())
	}
	if code := runContext(context.Background(), []string{"token", "create", "--name", "e2e", "--scope", "build", "--database-url", "", "--data-dir", dir},
		strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("bot token create: exit %d\n%s", code, errb.String())
	}
	token := strings.TrimSpace(out.String())
	if !strings.HasPrefix(token, "lbt_") || strings.ContainsAny(token, " \n") {
		t.Fatalf("bot token create printed %q", out.String())
	}
	return token
}

func waitReady(t *testing.T, base string, log *lockedBuffer) {
	t.Helper()
	for start := time.Now(); ; {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Since(start) > 60*time.Second {
			t.Fatalf("serve not ready: %v\n%s", err, log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// do sends a request with the token and decodes the JSON answer.
func do(t *testing.T, method, url, token, ctype string, body []byte, want int, out any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d, want %d\n%s", method, url, resp.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v\n%s", method, url, err, b)
		}
	}
}

// endEvent is the SSE stream's end event.
type endEvent struct {
	Status        run.Status `json:"status"`
	Step          run.State  `json:"step"`
	FailureReason string     `json:"failureReason"`
}

// followEvents reads the build's Server-Sent Events to the end event,
// checking that ids never go back, that steps and log lines came, and
// resuming once with Last-Event-ID half-way.
func followEvents(t *testing.T, base, token string, id int64) endEvent {
	t.Helper()
	deadline := time.Now().Add(25 * time.Minute)
	last, kinds := "", map[string]int{}
	resumed := false
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/api/v1/builds/%d/events", base, id), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		if last != "" {
			req.Header.Set("Last-Event-ID", last)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			resp.Body.Close()
			t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		var kind, data string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				kind = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data = strings.TrimPrefix(line, "data: ")
			case strings.HasPrefix(line, "id: "):
				last = strings.TrimPrefix(line, "id: ")
			case line == "" && kind != "":
				kinds[kind]++
				if kind == "end" {
					resp.Body.Close()
					var e endEvent
					if err := json.Unmarshal([]byte(data), &e); err != nil {
						t.Fatalf("end event %q: %v", data, err)
					}
					if kinds["step"] == 0 || kinds["log"] == 0 || kinds["artifact"] == 0 {
						t.Errorf("events before the end: %v", kinds)
					}
					return e
				}
				kind, data = "", ""
				// Resume once, from the middle of the build.
				if !resumed && kinds["log"] > 20 {
					resumed = true
					resp.Body.Close()
				}
			}
		}
		resp.Body.Close()
	}
	t.Fatalf("no end event within 25 minutes; saw %v", kinds)
	return endEvent{}
}

// followSocket reads the WebSocket until a message says build id ended.
func followSocket(ws *websocket.Conn, id int64) error {
	if err := ws.SetReadDeadline(time.Now().Add(26 * time.Minute)); err != nil {
		return err
	}
	steps := map[run.State]bool{}
	for {
		var m struct {
			BuildID   int64      `json:"buildId"`
			Status    run.Status `json:"status"`
			Step      run.State  `json:"step"`
			Artifacts []struct {
				Name, URL string
			} `json:"artifacts"`
		}
		if err := ws.ReadJSON(&m); err != nil {
			return fmt.Errorf("read (steps seen %v): %w", steps, err)
		}
		if m.BuildID != id {
			continue
		}
		steps[m.Step] = true
		if m.Status.Terminal() {
			if !steps[run.Building] {
				return fmt.Errorf("the socket never said the build was building: %v", steps)
			}
			for _, a := range m.Artifacts {
				if a.Name == "linux.iso" && a.URL != "" {
					return nil
				}
			}
			return fmt.Errorf("the end message lists no ISO with a URL: %+v", m.Artifacts)
		}
	}
}

type limitWriter struct {
	w io.Writer
	n int
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		if _, err := l.w.Write(p[:k]); err != nil {
			return 0, err
		}
		l.n -= k
	}
	return len(p), nil
}
