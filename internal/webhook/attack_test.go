package webhook

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/andybalholm/brotli"

	"github.com/linux-builder/linux-builder/internal/store"
)

// helperEnv makes the test binary a bare receiver (see TestMain): the
// attacks below measure that process's memory, not the test's.
const helperEnv = "LB_WEBHOOK_ATTACK_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		if err := serveHelper(); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// stubStore and stubIntake stand in for the database: the helper measures
// the receiver alone.
type stubStore struct{}

func (stubStore) Ready(context.Context) error                                   { return nil }
func (stubStore) UpsertInstallation(context.Context, *store.Installation) error { return nil }
func (stubStore) DeleteInstallation(context.Context, int64) error               { return nil }
func (stubStore) Installation(context.Context, int64) (*store.Installation, error) {
	return &store.Installation{}, nil
}
func (stubStore) PayloadSeen(context.Context, int64, string, string, time.Time) (string, error) {
	return "", nil
}
func (stubStore) Run(context.Context, int64) (*store.Run, error) { return nil, store.ErrNotFound }
func (stubStore) LatestRunAt(context.Context, string, string) (*store.Run, error) {
	return nil, store.ErrNotFound
}

type stubIntake struct{}

func (stubIntake) Intake(context.Context, *store.IntakeItem) (store.IntakeResult, error) {
	return store.IntakeResult{DeliveryRowID: 1}, nil
}

// serveHelper serves the webhook on a loopback port until stdin closes,
// after printing the address.
func serveHelper() error {
	app, err := New(Config{Secret: secret, AppID: 1, Store: stubStore{}, Intake: stubIntake{}, Logger: quiet})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Println("LISTENING", ln.Addr().String())
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); cancel() }()
	return Serve(ctx, app, ln)
}

// helper is a receiver in a child process.
type helper struct {
	cmd  *exec.Cmd
	addr string
}

func startHelper(t *testing.T) *helper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=1", "GOGC=")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "LISTENING ")
	if err != nil || !ok {
		t.Fatalf("helper did not start: %q %v", line, err)
	}
	return &helper{cmd: cmd, addr: addr}
}

// status reads a field of /proc/<pid>/status in KiB.
func (h *helper) status(t *testing.T, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", h.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, h.cmd.Process.Pid)
	return 0
}

// post sends one delivery; a refused connection (the receiver answered
// and closed before the body was sent) counts as status 0.
func (h *helper) post(body []byte, header map[string]string) (int, error) {
	req, err := http.NewRequest(http.MethodPost, "http://"+h.addr+"/webhook", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

var bombs = sync.OnceValue(func() [2][]byte {
	// 512 gzip members of 1 MiB of zeros each: 512 MiB inflated from
	// about half a MiB (a gzip reader reads concatenated members).
	var one bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&one, gzip.BestCompression)
	_, _ = zw.Write(make([]byte, 1<<20))
	_ = zw.Close()
	gz := bytes.Repeat(one.Bytes(), 512)
	// The same wrapped in brotli: Fiber decodes "br, gzip" in that order.
	var br bytes.Buffer
	bw := brotli.NewWriterLevel(&br, brotli.BestCompression)
	_, _ = bw.Write(gz)
	_ = bw.Close()
	return [2][]byte{gz, br.Bytes()}
})

// Compressed bodies are refused before anything inflates them, signed or
// not: the process stays under 100 MiB (the old receiver inflated a
// 512 MiB bomb before checking the signature).
func TestCompressionBombIsRefused(t *testing.T) {
	b := bombs()
	tests := []struct {
		name, encoding string
		body           []byte
		signed         bool
	}{
		{name: "gzip unsigned", encoding: "gzip", body: b[0]},
		{name: "gzip signed", encoding: "gzip", body: b[0], signed: true},
		{name: "br then gzip signed", encoding: "br, gzip", body: b[1], signed: true},
		{name: "br then gzip unsigned", encoding: "br, gzip", body: b[1]},
		{name: "deflate signed", encoding: "deflate", body: b[0], signed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := startHelper(t)
			hdr := map[string]string{"Content-Encoding": tt.encoding}
			if tt.signed {
				hdr["X-Hub-Signature-256"] = Sign(secret, tt.body)
			}
			code, err := h.post(tt.body, hdr)
			if err == nil && (code < 400 || code >= 500) {
				t.Errorf("status %d, want 4xx", code)
			}
			peak := h.status(t, "VmHWM")
			t.Logf("%d-byte body: status %d (%v), peak RSS %d KiB", len(tt.body), code, err, peak)
			if peak > 100<<10 {
				t.Errorf("peak RSS %d KiB, want < 100 MiB", peak)
			}
		})
	}
}

// Bodies nobody signed cost the receiver little memory however many
// arrive at once: 8 parallel 24 MiB bodies (without a signature, and
// with a well-formed wrong one) grow the peak RSS by at most 64 MiB.
func TestParallelUnsignedBodiesAreBounded(t *testing.T) {
	body := bytes.Repeat([]byte("A"), 24<<20)
	tests := []struct {
		name, sig string
	}{
		{name: "no signature"},
		{name: "wrong signature", sig: Sign("not the secret", body)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := startHelper(t)
			// Warm up with a small delivery, then take the idle RSS.
			if code, err := h.post([]byte(`{}`), map[string]string{"X-Hub-Signature-256": Sign(secret, []byte(`{}`))}); err != nil || code >= 300 {
				t.Fatalf("warm-up: %d %v", code, err)
			}
			time.Sleep(200 * time.Millisecond)
			idle := h.status(t, "VmRSS")
			var wg sync.WaitGroup
			codes := make([]int, 8)
			errs := make([]error, 8)
			for i := range codes {
				wg.Add(1)
				go func() {
					defer wg.Done()
					hdr := map[string]string{}
					if tt.sig != "" {
						hdr["X-Hub-Signature-256"] = tt.sig
					}
					codes[i], errs[i] = h.post(body, hdr)
				}()
			}
			wg.Wait()
			peak := h.status(t, "VmHWM")
			closed := 0
			for _, err := range errs {
				if err != nil {
					closed++
				}
			}
			t.Logf("idle RSS %d KiB, peak RSS %d KiB, growth %d KiB; statuses %v (0: closed while sending, %d)", idle, peak, peak-idle, codes, closed)
			for i, c := range codes {
				if errs[i] == nil && c < 400 {
					t.Errorf("request %d: status %d, want a refusal", i, c)
				}
			}
			if peak-idle > 64<<10 {
				t.Errorf("peak RSS grew by %d KiB, want <= 64 MiB", peak-idle)
			}
		})
	}
}
