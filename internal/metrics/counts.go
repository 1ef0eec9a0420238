package metrics

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/linux-builder/linux-builder/internal/logging"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
)

// Counts is what the database's gauges are read from (a *store.DB).
type Counts interface {
	ActiveRunCounts(ctx context.Context) ([]store.RunCount, error)
	QueueJobCounts(ctx context.Context) ([]store.JobCount, error)
}

// countsCollector reads the runs that have not ended and River's queues
// from the database when Prometheus scrapes.
//
// Why a gauge read at scrape time rather than counters kept at state
// changes: runs change state in many processes (receivers create them,
// any worker runs them, the reaper and cancellations end them), so no
// process's counters know how many runs wait or build now; the database
// does, with one query over the runs not ended (an index on status), which
// stays cheap however long the history. Runs ended are counted as they
// end instead (linux_builder_pipeline_runs_ended_total): counting the
// history at each scrape would grow with it.
type countsCollector struct {
	counts  Counts
	queues  map[string]string
	timeout time.Duration
	log     *slog.Logger
	// mu makes concurrent scrapes query one at a time.
	mu sync.Mutex

	runs, jobs, up *prometheus.Desc
}

// The queries' names in linux_builder_metrics_query_success.
const (
	queryRuns = "runs"
	queryJobs = "queue"
)

func newCountsCollector(c Counts, queues []string, timeout time.Duration, log *slog.Logger) *countsCollector {
	q := map[string]string{}
	for _, name := range queues {
		q[name] = name
	}
	return &countsCollector{counts: c, queues: q, timeout: timeout, log: log,
		runs: prometheus.NewDesc(namespace+"_runs_active", "Runs that have not ended, by status (PENDING, IN_PROGRESS) and step, read from the database at scrape time.",
			[]string{"status", "step"}, nil),
		jobs: prometheus.NewDesc(namespace+"_queue_jobs", "River jobs waiting or running, by queue and state (available, pending, retryable, running, scheduled), read from the database at scrape time.",
			[]string{"queue", "state"}, nil),
		up: prometheus.NewDesc(namespace+"_metrics_query_success", "Whether the scrape's database query succeeded (1) or failed or timed out (0): its gauges are missing then.",
			[]string{"query"}, nil),
	}
}

func (c *countsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.runs
	ch <- c.jobs
	ch <- c.up
}

func (c *countsCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	c.collectRuns(ctx, ch)
	c.collectJobs(ctx, ch)
}

// collectRuns sends the runs not ended: every status and step a run can
// wait or work in, 0 when none is.
func (c *countsCollector) collectRuns(ctx context.Context, ch chan<- prometheus.Metric) {
	counts, err := c.counts.ActiveRunCounts(ctx)
	if !c.success(ch, queryRuns, err) {
		return
	}
	type key struct{ status, step string }
	n := map[key]float64{{string(run.StatusPending), string(run.Pending)}: 0}
	for _, s := range run.Steps {
		n[key{string(run.StatusInProgress), string(s)}] = 0
	}
	for _, rc := range counts {
		k := key{string(run.StatusPending), string(run.Pending)}
		if rc.Status == run.StatusInProgress {
			k = key{string(run.StatusInProgress), stepLabel(rc.Step)}
		}
		n[k] += float64(rc.N)
	}
	for k, v := range n {
		ch <- prometheus.MustNewConstMetric(c.runs, prometheus.GaugeValue, v, k.status, k.step)
	}
}

// collectJobs sends the jobs waiting or running: every known queue in
// every state counted, 0 when it has none.
func (c *countsCollector) collectJobs(ctx context.Context, ch chan<- prometheus.Metric) {
	counts, err := c.counts.QueueJobCounts(ctx)
	if !c.success(ch, queryJobs, err) {
		return
	}
	type key struct{ queue, state string }
	n := map[key]float64{}
	for q := range c.queues {
		for _, s := range store.JobStatesCounted {
			n[key{q, s}] = 0
		}
	}
	for _, jc := range counts {
		q, ok := c.queues[jc.Queue]
		if !ok {
			q = LabelOther
		}
		n[key{q, oneOf(jc.State, store.JobStatesCounted)}] += float64(jc.N)
	}
	for k, v := range n {
		ch <- prometheus.MustNewConstMetric(c.jobs, prometheus.GaugeValue, v, k.queue, k.state)
	}
}

// success sends whether query succeeded, logging its error.
func (c *countsCollector) success(ch chan<- prometheus.Metric, query string, err error) bool {
	v := 1.0
	if err != nil {
		v = 0
		c.log.Error("metrics: database query failed", "query", query, logging.KeyErr, err)
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, v, query)
	return err == nil
}
