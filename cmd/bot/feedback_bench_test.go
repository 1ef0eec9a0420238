package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/github"
	"github.com/linux-builder/linux-builder/internal/github/githubtest"
	"github.com/linux-builder/linux-builder/internal/queue"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
	"github.com/linux-builder/linux-builder/internal/webhook"
)

// checkRunClock is a proxy in front of the fake GitHub that notes when
// each check run was created: the moment the fake answered the bot's POST
// .../check-runs, by the check run's external_id (the run id).
type checkRunClock struct {
	*httptest.Server
	mu      sync.Mutex
	created map[string]time.Time
	waiting map[string]chan time.Time
}

func newCheckRunClock(tb testing.TB, upstream string) *checkRunClock {
	tb.Helper()
	u, err := url.Parse(upstream)
	if err != nil {
		tb.Fatal(err)
	}
	c := &checkRunClock{created: map[string]time.Time{}, waiting: map[string]chan time.Time{}}
	proxy := httputil.NewSingleHostReverseProxy(u)
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/check-runs") {
			proxy.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		var cr struct {
			ExternalID string `json:"external_id"`
		}
		_ = json.Unmarshal(body, &cr) // the fake validates the body
		rw := &statusWriter{ResponseWriter: w}
		proxy.ServeHTTP(rw, r)
		if rw.status == http.StatusCreated {
			c.note(cr.ExternalID, time.Now())
		}
	}))
	tb.Cleanup(c.Close)
	return c
}

func (c *checkRunClock) note(id string, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.created[id]; ok {
		return
	}
	c.created[id] = at
	if ch, ok := c.waiting[id]; ok {
		ch <- at
	}
}

// wait returns when run id's check run was created, waiting up to d.
func (c *checkRunClock) wait(id string, d time.Duration) (time.Time, bool) {
	c.mu.Lock()
	if at, ok := c.created[id]; ok {
		c.mu.Unlock()
		return at, true
	}
	ch := make(chan time.Time, 1)
	c.waiting[id] = ch
	c.mu.Unlock()
	select {
	case at := <-ch:
		return at, true
	case <-time.After(d):
		return time.Time{}, false
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// nopRunner is the pipeline of the benchmark: only the first check run
// matters, not the build.
type nopRunner struct{}

func (nopRunner) Run(context.Context, int64) error { return nil }

// BenchmarkPushToCheckRun measures first feedback on PostgreSQL: signed
// push deliveries (the recorded payload testdata/github/webhooks/push,
// each adding linux-build.yaml at a new commit of an installation) go
// through the real receiver on loopback (group commit, as `bot serve`
// wires it), a running worker syncs check runs through the real reporter
// and GitHub client, and the fake GitHub sees the check run created. Each
// iteration is one push, timed from the receiver's 202 to the fake's
// answer to the check run's POST; pushes are spaced by a random 0–100 ms
// (a fixed seed) so they land at every phase of the workers' poll. It
// reports p50, p90, p99 and max in ms:
//
//	TEST_DATABASE_URL=postgres://… go test -run '^$' -bench BenchmarkPushToCheckRun -benchtime 100x ./cmd/bot
//
// (scripts/bench-feedback.sh).
func BenchmarkPushToCheckRun(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	db := storetest.Postgres(b, nil)

	fake := githubtest.New(b)
	clock := newCheckRunClock(b, fake.URL)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	gh, err := github.NewApp(github.Config{AppID: 1, APIURL: strings.Replace(fake.APIURL(), fake.URL, clock.URL, 1),
		PrivateKey: pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})})
	if err != nil {
		b.Fatal(err)
	}

	ins, err := queue.NewInserter(db, queue.InserterConfig{Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	work, err := newGithubWork(db, ins, gh, 1, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	w, err := queue.NewWorker(ins, queue.WorkerConfig{Workers: 1, Runner: nopRunner{}, Syncer: work.checks, Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	if err := w.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := w.Stop(stopCtx); err != nil {
			b.Error(err)
		}
	}()

	const secret = "bench-secret"
	committer := store.NewCommitter(db, ins, 0, 0)
	defer committer.Close()
	app, err := webhook.New(webhook.Config{Secret: secret, AppID: 1, Store: db, Intake: committer, Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- webhook.Serve(ctx, app, ln) }()
	defer func() {
		cancel()
		if err := <-served; err != nil && ctx.Err() == nil {
			b.Error(err)
		}
	}()
	base := "http://" + ln.Addr().String()

	raw, err := os.ReadFile("../../testdata/github/webhooks/push/00-none.json")
	if err != nil {
		b.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		b.Fatal(err)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	seq := 0
	// push delivers a push of a new commit and returns the run's id and
	// when the 202 arrived.
	push := func() (string, time.Time) {
		seq++
		sha := fmt.Sprintf("%040x", seq)
		commit := map[string]any{"id": sha, "added": []string{"linux-build.yaml"}, "modified": []string{}, "removed": []string{}}
		ev["ref"], ev["after"], ev["deleted"], ev["commits"], ev["head_commit"] = "refs/heads/main", sha, false, []any{commit}, commit
		ev["installation"] = map[string]any{"id": 7}
		body, err := json.Marshal(ev)
		if err != nil {
			b.Fatal(err)
		}
		req, err := http.NewRequest(http.MethodPost, base+"/webhook", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("X-GitHub-Delivery", "bench-"+strconv.Itoa(seq))
		req.Header.Set("X-Hub-Signature-256", webhook.Sign(secret, body))
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		at := time.Now()
		var ack struct {
			RunID int64 `json:"run_id"`
		}
		err = json.NewDecoder(resp.Body).Decode(&ack)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted || err != nil || ack.RunID == 0 {
			b.Fatalf("push answered %d, run %d (%v)", resp.StatusCode, ack.RunID, err)
		}
		return strconv.FormatInt(ack.RunID, 10), at
	}
	measure := func() time.Duration {
		id, acked := push()
		created, ok := clock.wait(id, 30*time.Second)
		if !ok {
			b.Fatalf("run %s: no check run on the fake GitHub 30 s after the 202:\n%s", id, strings.Join(fake.Calls(), "\n"))
		}
		return max(0, created.Sub(acked))
	}
	// Warm up: the installation token, River's leader election, the
	// connections.
	for range 3 {
		measure()
	}
	gaps := mrand.New(mrand.NewPCG(1, 2))
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		time.Sleep(time.Duration(gaps.Int64N(int64(100 * time.Millisecond))))
		b.StartTimer()
		lat = append(lat, measure())
	}
	b.StopTimer()
	slices.Sort(lat)
	// Nearest rank: p99 of 100 is the 99th smallest.
	q := func(p int) time.Duration { return lat[max(0, (len(lat)*p+99)/100-1)] }
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(q(50)), "p50-ms")
	b.ReportMetric(ms(q(90)), "p90-ms")
	b.ReportMetric(ms(q(99)), "p99-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
}
