package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/linux-builder/linux-builder/internal/run"
)

// pipelineMetrics are the build pipeline's metrics: step durations,
// cache lookups and the runs it ended.
type pipelineMetrics struct {
	steps *prometheus.HistogramVec
	cache *prometheus.CounterVec
	ended *prometheus.CounterVec
}

// stepBuckets span a step: a validation in a second, a desktop image's
// build in an hour, up to the build's time limit.
var stepBuckets = []float64{1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400}

// The label values the pipeline reports (pipeline's constants; this
// package does not import the pipeline, so a test holds them equal).
var (
	stepOutcomes  = []string{"ok", "failed", "retried", "cancelled"}
	cacheResults  = []string{"hit", "miss", "unusable", "bypassed"}
	endedStatuses = []run.Status{run.StatusSuccess, run.StatusFailed, run.StatusCancelled}
)

func newPipelineMetrics() *pipelineMetrics {
	p := &pipelineMetrics{
		steps: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "pipeline", Name: "step_duration_seconds",
			Help:    "How long the pipeline's steps took, by step and outcome (ok, failed, retried, cancelled).",
			Buckets: stepBuckets,
		}, []string{"step", "outcome"}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "pipeline", Name: "cache_lookups_total",
			Help: "Build cache lookups by result: hit (an earlier run's artifacts reused), miss, unusable (found but not adoptable), bypassed (a fresh build was asked for).",
		}, []string{"result"}),
		ended: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "pipeline", Name: "runs_ended_total",
			Help: "Runs this process's pipeline ended, by final status.",
		}, []string{"status"}),
	}
	for _, s := range run.Steps {
		for _, o := range stepOutcomes {
			p.steps.WithLabelValues(string(s), o)
		}
	}
	for _, r := range cacheResults {
		p.cache.WithLabelValues(r)
	}
	for _, s := range endedStatuses {
		p.ended.WithLabelValues(string(s))
	}
	return p
}

func (p *pipelineMetrics) register(reg prometheus.Registerer) {
	reg.MustRegister(p.steps, p.cache, p.ended)
}

// StepFinished observes a step's duration (pipeline.Observer).
func (p *pipelineMetrics) StepFinished(step run.State, outcome string, d time.Duration) {
	p.steps.WithLabelValues(stepLabel(step), oneOf(outcome, stepOutcomes)).Observe(d.Seconds())
}

// CacheLookup counts a cache lookup (pipeline.Observer).
func (p *pipelineMetrics) CacheLookup(result string) {
	p.cache.WithLabelValues(oneOf(result, cacheResults)).Inc()
}

// RunEnded counts a run ended (pipeline.Observer).
func (p *pipelineMetrics) RunEnded(status run.Status) {
	for _, s := range endedStatuses {
		if s == status {
			p.ended.WithLabelValues(string(s)).Inc()
			return
		}
	}
	p.ended.WithLabelValues(LabelOther).Inc()
}

// stepLabel is step as a label: one of run.Order, else LabelOther.
func stepLabel(step run.State) string {
	for _, s := range run.Order {
		if s == step {
			return string(s)
		}
	}
	return LabelOther
}

// oneOf is v when it is one of known, else LabelOther.
func oneOf(v string, known []string) string {
	for _, k := range known {
		if k == v {
			return k
		}
	}
	return LabelOther
}
