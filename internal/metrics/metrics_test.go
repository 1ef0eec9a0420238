package metrics_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	gh "github.com/google/go-github/v88/github"

	"github.com/linux-builder/linux-builder/internal/artifacts"
	"github.com/linux-builder/linux-builder/internal/github"
	"github.com/linux-builder/linux-builder/internal/github/githubtest"
	"github.com/linux-builder/linux-builder/internal/metrics"
	"github.com/linux-builder/linux-builder/internal/metrics/metricstest"
	"github.com/linux-builder/linux-builder/internal/pipeline"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
)

var (
	_ github.Observer    = (*metrics.Metrics)(nil)
	_ pipeline.Observer  = (*metrics.Metrics)(nil)
	_ artifacts.Observer = (*metrics.Metrics)(nil)
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func testKey(t testing.TB) []byte {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
}

// Calls through the real GitHub client and its transports, against the
// fake GitHub (a GitHub Enterprise Server URL): each exchange counts under
// its route template and status, a retried 502 counts each attempt, and
// the rate-limit gauge follows X-RateLimit-Remaining.
func TestGitHubCallsShowInTheMetrics(t *testing.T) {
	fake := githubtest.New(t)
	m := metrics.New(metrics.Options{Logger: quiet})
	app, err := github.NewApp(github.Config{AppID: 1, PrivateKey: testKey(t), APIURL: fake.APIURL(), UploadURL: fake.UploadsURL(),
		Observer: m, RetryBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	fake.SetFile("octo/repo", "abc", "linux-build.yaml", []byte("base: debian\n"))
	if _, err := app.FetchFile(ctx, 9, "octo/repo", "linux-build.yaml", "abc"); err != nil {
		t.Fatal(err)
	}
	if _, err := app.FetchFile(ctx, 9, "octo/repo", "missing.yaml", "abc"); err == nil {
		t.Fatal("a missing file was found")
	}
	cr, err := app.CreateCheckRun(ctx, 9, "octo/repo", gh.CreateCheckRunOptions{Name: "Linux build", HeadSHA: strings.Repeat("a", 40)})
	if err != nil {
		t.Fatal(err)
	}
	// A PATCH answered 502 once, then served: two attempts.
	fake.Inject(&githubtest.Fault{Method: http.MethodPatch, Path: "/repos/{owner}/{repo}/check-runs/{check_run_id}", Status: 502})
	if _, err := app.UpdateCheckRun(ctx, 9, "octo/repo", cr.GetID(), gh.UpdateCheckRunOptions{Name: "Linux build", Status: gh.Ptr("in_progress")}); err != nil {
		t.Fatal(err)
	}

	s := metricstest.Get(t, m.Handler())
	const name = "linux_builder_github_requests_total"
	for _, tc := range []struct {
		method, route, status string
		want                  float64
	}{
		{"POST", "/app/installations/{installation_id}/access_tokens", "201", 1},
		{"GET", "/repos/{owner}/{repo}/contents/{path}", "200", 1},
		{"GET", "/repos/{owner}/{repo}/contents/{path}", "404", 1},
		{"POST", "/repos/{owner}/{repo}/check-runs", "201", 1},
		{"PATCH", "/repos/{owner}/{repo}/check-runs/{check_run_id}", "502", 1},
		{"PATCH", "/repos/{owner}/{repo}/check-runs/{check_run_id}", "200", 1},
	} {
		if got := s.Must(t, name, "method="+tc.method, "route="+tc.route, "status="+tc.status); got != tc.want {
			t.Errorf("%s %s %s = %v, want %v", tc.method, tc.route, tc.status, got, tc.want)
		}
	}
	// Nothing but templates in the route label: no repository, no id.
	if l := s.Labels(name); strings.Contains(l, "octo") || strings.Contains(l, "linux-build.yaml") || strings.Contains(l, strconv.FormatInt(cr.GetID(), 10)) {
		t.Fatalf("raw path in the labels: %s", l)
	}
	calls := len(fake.Calls())
	if calls != 6 {
		t.Fatalf("the fake saw %d calls, want 6", calls)
	}
	if got := s.Must(t, "linux_builder_github_rate_limit_remaining", "resource=core"); got != float64(githubtest.RateLimit-calls) {
		t.Fatalf("rate limit remaining %v, want %d", got, githubtest.RateLimit-calls)
	}
}

// The rate-limit gauge keeps the window closest to exhaustion until it
// resets; a refused connection counts as status "error".
func TestRateLimitGauge(t *testing.T) {
	m := metrics.New(metrics.Options{Logger: quiet})
	hdr := func(left int, reset time.Time, resource string) http.Header {
		h := http.Header{}
		h.Set("X-RateLimit-Remaining", strconv.Itoa(left))
		h.Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
		if resource != "" {
			h.Set("X-RateLimit-Resource", resource)
		}
		return h
	}
	later, past := time.Now().Add(time.Hour), time.Now().Add(-time.Minute)
	route := "/repos/{owner}/{repo}/check-runs"
	steps := []struct {
		name string
		h    http.Header
		want float64
	}{
		{"first answer", hdr(4000, later, "core"), 4000},
		{"another installation with more left is not closer to exhaustion", hdr(4900, later, "core"), 4000},
		{"the same window goes down", hdr(3999, later, "core"), 3999},
		{"a garbage header changes nothing", http.Header{"X-Ratelimit-Remaining": {"lots"}}, 3999},
		{"no resource header is core (GHES)", hdr(100, later, ""), 100},
	}
	for _, st := range steps {
		m.GitHubResponse("GET", route, 200, st.h)
		if got := metricstest.Get(t, m.Handler()).Must(t, "linux_builder_github_rate_limit_remaining", "resource=core"); got != st.want {
			t.Fatalf("%s: %v, want %v", st.name, got, st.want)
		}
	}
	// That window resets (its reset time passed): the next answer counts.
	m.GitHubResponse("GET", route, 200, hdr(50, past, "core"))
	m.GitHubResponse("GET", route, 200, hdr(4999, later, "core"))
	if got := metricstest.Get(t, m.Handler()).Must(t, "linux_builder_github_rate_limit_remaining", "resource=core"); got != 4999 {
		t.Fatalf("after the reset: %v, want 4999", got)
	}
	m.GitHubResponse("GET", route, 200, hdr(10, later, "<script>"))
	m.GitHubResponse("BREW", "/repos/o/r/secret", 0, nil)
	m.GitHubResponse("GET", "no template", 999, nil)
	s := metricstest.Get(t, m.Handler())
	if got := s.Must(t, "linux_builder_github_rate_limit_remaining", "resource=other"); got != 10 {
		t.Fatalf("unknown resource: %v", got)
	}
	if got := s.Must(t, "linux_builder_github_requests_total", "method=other", "route=/repos/o/r/secret", "status=error"); got != 1 {
		t.Fatalf("no response: %v", got)
	}
	if got := s.Must(t, "linux_builder_github_requests_total", "method=GET", "route=other", "status=other"); got != 1 {
		t.Fatalf("a bad route and status: %v", got)
	}
}

// However many routes a caller makes up, the route label has at most 100
// values.
func TestRouteLabelIsBounded(t *testing.T) {
	m := metrics.New(metrics.Options{Logger: quiet})
	for i := range 500 {
		m.GitHubResponse("GET", "/r/"+strconv.Itoa(i), 200, nil)
	}
	f := metricstest.Get(t, m.Handler())["linux_builder_github_requests_total"]
	if f == nil || len(f.Metric) > 101 {
		t.Fatalf("%d series", len(f.GetMetric()))
	}
}

// The label values the metrics pre-create are the pipeline's words.
func TestPipelineWordsAreTheMetricsLabels(t *testing.T) {
	m := metrics.New(metrics.Options{Logger: quiet})
	for _, o := range []string{pipeline.StepOK, pipeline.StepFailed, pipeline.StepRetried, pipeline.StepCancelled} {
		m.StepFinished(run.Building, o, time.Second)
	}
	for _, r := range []string{pipeline.CacheLookupHit, pipeline.CacheLookupMiss, pipeline.CacheLookupUnusable, pipeline.CacheLookupBypassed} {
		m.CacheLookup(r)
	}
	s := metricstest.Get(t, m.Handler())
	for _, o := range []string{pipeline.StepOK, pipeline.StepFailed, pipeline.StepRetried, pipeline.StepCancelled} {
		if got := s.Must(t, "linux_builder_pipeline_step_duration_seconds", "step="+string(run.Building), "outcome="+o); got != 1 {
			t.Errorf("step outcome %s: %v", o, got)
		}
	}
	for _, r := range []string{pipeline.CacheLookupHit, pipeline.CacheLookupMiss, pipeline.CacheLookupUnusable, pipeline.CacheLookupBypassed} {
		if got := s.Must(t, "linux_builder_pipeline_cache_lookups_total", "result="+r); got != 1 {
			t.Errorf("cache result %s: %v", r, got)
		}
	}
	h := s.Histogram("linux_builder_pipeline_step_duration_seconds", "step="+string(run.Building), "outcome=ok")
	if h == nil || h.GetSampleSum() != 1 {
		t.Fatalf("step histogram %v", h)
	}
	if _, ok := s.Value("linux_builder_pipeline_step_duration_seconds", "step=other", "outcome=ok"); ok {
		t.Fatal("an unused label pair was made")
	}
	m.StepFinished("DROP TABLE", "bogus", time.Second)
	if got := metricstest.Get(t, m.Handler()).Must(t, "linux_builder_pipeline_step_duration_seconds", "step=other", "outcome=other"); got != 1 {
		t.Fatalf("unknown step: %v", got)
	}
}

// The artifact store's puts and copies count their bytes and objects.
func TestArtifactsStoredShowInTheMetrics(t *testing.T) {
	m := metrics.New(metrics.Options{Logger: quiet})
	s, err := artifacts.Open(context.Background(), artifacts.Config{URL: "file://" + t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SetObserver(m)
	if _, err := s.Put(context.Background(), "runs/1/linux.iso", strings.NewReader(strings.Repeat("x", 4096))); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Copy(context.Background(), "runs/2/linux.iso", "runs/1/linux.iso"); err != nil {
		t.Fatal(err)
	}
	sc := metricstest.Get(t, m.Handler())
	if got := sc.Must(t, "linux_builder_artifacts_stored_bytes_total", "op=put"); got != 4096 {
		t.Fatalf("put bytes %v", got)
	}
	if got := sc.Must(t, "linux_builder_artifacts_stored_bytes_total", "op=copy"); got != 4096 {
		t.Fatalf("copied bytes %v", got)
	}
	if got := sc.Must(t, "linux_builder_artifacts_stored_objects_total", "op=put"); got != 1 {
		t.Fatalf("objects put %v", got)
	}
}

// counts is a scripted Counts.
type counts struct {
	runs  []store.RunCount
	jobs  []store.JobCount
	err   error
	block bool
}

func (c *counts) ActiveRunCounts(ctx context.Context) ([]store.RunCount, error) {
	if c.block {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return c.runs, c.err
}
func (c *counts) QueueJobCounts(ctx context.Context) ([]store.JobCount, error) {
	if c.block {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return c.jobs, c.err
}

// The database's gauges: every status, step, queue and state is present
// (0 when empty); unknown queues are "other"; a failed or slow query
// drops its gauges, says so in linux_builder_metrics_query_success, and
// the scrape is still served within the timeout.
func TestDatabaseGauges(t *testing.T) {
	c := &counts{
		runs: []store.RunCount{{Status: run.StatusPending, Step: run.Pending, N: 4}, {Status: run.StatusInProgress, Step: run.Building, N: 2}},
		jobs: []store.JobCount{{Queue: "default", State: "available", N: 7}, {Queue: "evil-queue-name", State: "running", N: 1}},
	}
	m := metrics.New(metrics.Options{Counts: c, Queues: []string{"default", "events"}, Logger: quiet, QueryTimeout: 100 * time.Millisecond})
	s := metricstest.Get(t, m.Handler())
	for _, tc := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"status=" + string(run.StatusPending), "step=" + string(run.Pending)}, 4},
		{[]string{"status=" + string(run.StatusInProgress), "step=" + string(run.Building)}, 2},
		{[]string{"status=" + string(run.StatusInProgress), "step=" + string(run.BootTesting)}, 0},
	} {
		if got := s.Must(t, "linux_builder_runs_active", tc.labels...); got != tc.want {
			t.Errorf("runs %v = %v, want %v", tc.labels, got, tc.want)
		}
	}
	for _, tc := range []struct {
		queue, state string
		want         float64
	}{{"default", "available", 7}, {"events", "scheduled", 0}, {"other", "running", 1}} {
		if got := s.Must(t, "linux_builder_queue_jobs", "queue="+tc.queue, "state="+tc.state); got != tc.want {
			t.Errorf("queue %s/%s = %v, want %v", tc.queue, tc.state, got, tc.want)
		}
	}
	if strings.Contains(s.Labels("linux_builder_queue_jobs"), "evil") {
		t.Fatal("an unknown queue name became a label")
	}
	for _, q := range []string{"runs", "queue"} {
		if got := s.Must(t, "linux_builder_metrics_query_success", "query="+q); got != 1 {
			t.Fatalf("query %s success %v", q, got)
		}
	}
	c.err = errors.New("connection refused")
	s = metricstest.Get(t, m.Handler())
	if _, ok := s["linux_builder_runs_active"]; ok || s.Must(t, "linux_builder_metrics_query_success", "query=runs") != 0 {
		t.Fatal("a failed query still exported its gauge, or said it succeeded")
	}
	if _, ok := s["go_goroutines"]; !ok {
		t.Fatal("the rest of the scrape is missing")
	}
	c.err, c.block = nil, true
	start := time.Now()
	s = metricstest.Get(t, m.Handler())
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("a hung database held the scrape %s", d)
	}
	if s.Must(t, "linux_builder_metrics_query_success", "query=queue") != 0 {
		t.Fatal("a timed-out query said it succeeded")
	}
}

// The Go runtime's and the process's collectors are on the registry,
// and the metrics without a Counts have no database gauges.
func TestRuntimeCollectors(t *testing.T) {
	s := metricstest.Get(t, metrics.New(metrics.Options{Logger: quiet}).Handler())
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "linux_builder_webhook_intake_seconds"} {
		if _, ok := s[name]; !ok {
			t.Errorf("no %s", name)
		}
	}
	if _, ok := s["linux_builder_runs_active"]; ok {
		t.Error("database gauges without a database")
	}
	var names []string
	for n := range s {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if !strings.HasPrefix(n, "linux_builder_") && !strings.HasPrefix(n, "go_") && !strings.HasPrefix(n, "process_") {
			t.Errorf("unexpected family %s", n)
		}
	}
}
