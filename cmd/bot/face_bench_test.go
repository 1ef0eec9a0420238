package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/api"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
	"github.com/linux-builder/linux-builder/internal/webhook"
)

// BenchmarkGetBuildAt200PerSecond is issue 17's latency figure: GET
// /api/v1/builds/{id} of a build with 9 steps' worth of rows, 40 log lines
// and 12 artifacts, sent at a steady 200 requests a second for 10 s
// through the real server (the webhook's app with the web face, on
// PostgreSQL), reporting p50, p99 and max. Run:
//
//	go test ./cmd/bot -run '^$' -bench GetBuildAt200PerSecond -benchtime 1x
func BenchmarkGetBuildAt200PerSecond(b *testing.B) {
	db := storetest.Postgres(b, nil)
	ctx := context.Background()
	fake, gh, ins := faceParts(b, db)
	quietLog := slog.New(slog.NewTextHandler(io.Discard, nil))
	b.Setenv("API_RATE", "off")
	b.Setenv("PUBLIC_URL", "")
	app, err := webhook.New(webhook.Config{Secret: "s", Store: db, Intake: store.NewCommitter(db, ins, 1, 1), Logger: quietLog})
	if err != nil {
		b.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	closeFace, err := serveFace(sctx, app, db, ins, gh, fake.APIURL(), b.TempDir(), "", 0)
	if err != nil {
		b.Fatal(err)
	}
	defer closeFace()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = webhook.Serve(sctx, app, ln) }()

	tok, hash, err := api.NewToken()
	if err != nil {
		b.Fatal(err)
	}
	row, err := db.CreateToken(ctx, "bench", store.ScopeRead, hash)
	if err != nil {
		b.Fatal(err)
	}
	r := &store.Run{Trigger: run.TriggerAPI, Repo: "api", SpecSource: "name: bench\n", APITokenID: &row.ID}
	if err := db.CreateRun(ctx, r); err != nil {
		b.Fatal(err)
	}
	for _, st := range run.Steps {
		if err := db.EnterStep(ctx, r.ID, st); err != nil {
			b.Fatal(err)
		}
	}
	var lines []store.RunLog
	for i := range 40 {
		lines = append(lines, store.RunLog{RunID: r.ID, Step: run.Building, Level: run.LogInfo, Message: fmt.Sprintf("line %d", i), At: time.Now()})
	}
	if err := db.AppendLogs(ctx, lines); err != nil {
		b.Fatal(err)
	}
	for i := range 12 {
		if err := db.AddArtifact(ctx, &store.Artifact{RunID: r.ID, Name: fmt.Sprintf("a%d", i), Type: run.ArtifactLog, Key: fmt.Sprintf("runs/%d/a%d", r.ID, i), Size: 1, SHA256: strings.Repeat("e", 64)}); err != nil {
			b.Fatal(err)
		}
	}
	url := fmt.Sprintf("http://%s%s/builds/%d", ln.Addr(), api.Prefix, r.ID)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	get := func() (time.Duration, error) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("status %d", resp.StatusCode)
		}
		return time.Since(start), nil
	}
	for range 20 { // warm connections and caches
		if _, err := get(); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		const rate, seconds = 200, 10
		var mu sync.Mutex
		var lat []time.Duration
		var wg sync.WaitGroup
		tick := time.NewTicker(time.Second / rate)
		for range rate * seconds {
			<-tick.C
			wg.Add(1)
			go func() {
				defer wg.Done()
				d, err := get()
				if err != nil {
					b.Error(err)
					return
				}
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}()
		}
		tick.Stop()
		wg.Wait()
		slices.Sort(lat)
		pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
		b.ReportMetric(pct(0.50), "p50-ms")
		b.ReportMetric(pct(0.99), "p99-ms")
		b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
		b.ReportMetric(float64(len(lat)), "requests")
	}
}
