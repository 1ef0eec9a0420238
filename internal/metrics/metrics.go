// Package metrics is the bot's Prometheus instrumentation: one registry
// per process (never the global one) with the Go and process collectors
// and the bot's own metrics, all named linux_builder_*. A Metrics is the
// Observer of the packages that do the work — the webhook receiver, the
// GitHub client, the pipeline and the artifact store — which declare
// their narrow observer interfaces and import nothing of this package;
// the database's gauges (runs not ended, queue depth) are read from the
// store when Prometheus scrapes, bounded by a timeout.
//
// Labels are bounded: events, outcomes, steps, routes, queues and states
// come from fixed lists (anything else is "other"); never a repository,
// a run id, an installation or a raw path. The receiver's hot path takes
// counters resolved when the Metrics is made, so a delivery costs a few
// atomic additions and no allocation.
//
// Handler serves the exposition; package expose says where (METRICS_ADDR,
// or the main port behind METRICS_TOKEN). The lean receiver uses
// metrics/lean instead, which links no metrics library.
package metrics

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/linux-builder/linux-builder/internal/logging"
)

// namespace prefixes every metric of the bot's own.
const namespace = "linux_builder"

// LabelOther is the value of a label whose real value is not one the
// metric knows (an unknown event, route or queue).
const LabelOther = "other"

// Options configures a Metrics.
type Options struct {
	// Events and Outcomes are the webhook's (webhook.Events,
	// webhook.Outcomes): the delivery counters of every pair are made up
	// front. Others are counted as LabelOther.
	Events, Outcomes []string
	// Counts, when set, is read at each scrape for the database's gauges
	// (runs not ended, River's queues); nil: those gauges are not
	// exported (the lean receiver).
	Counts Counts
	// Queues are the queue names the queue gauge knows (queue.Names);
	// jobs of other queues are counted under LabelOther.
	Queues []string
	// QueryTimeout bounds each scrape's database queries (default 2s).
	QueryTimeout time.Duration
	// Logger receives scrape errors; default slog.Default().
	Logger *slog.Logger
}

// Metrics is one process's metrics. Its methods are the observers of
// webhook, github, pipeline and artifacts; all are safe for concurrent
// use.
type Metrics struct {
	reg *prometheus.Registry
	log *slog.Logger
	*deliveries
	*githubCalls
	*pipelineMetrics
	*artifactBytes
}

// New makes a Metrics and registers its collectors, the Go runtime's and
// the process's on a registry of its own.
func New(o Options) *Metrics {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.QueryTimeout <= 0 {
		o.QueryTimeout = 2 * time.Second
	}
	m := &Metrics{
		reg:             prometheus.NewRegistry(),
		log:             o.Logger,
		deliveries:      newDeliveries(o.Events, o.Outcomes),
		githubCalls:     newGitHubCalls(),
		pipelineMetrics: newPipelineMetrics(),
		artifactBytes:   newArtifactBytes(),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m.deliveries.register(m.reg)
	m.githubCalls.register(m.reg)
	m.pipelineMetrics.register(m.reg)
	m.artifactBytes.register(m.reg)
	if o.Counts != nil {
		m.reg.MustRegister(newCountsCollector(o.Counts, o.Queues, o.QueryTimeout, o.Logger))
	}
	return m
}

// Registry is the registry the metrics are on (tests gather from it).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the exposition (text, or OpenMetrics when asked for),
// gzip-compressed when the scraper accepts it. A collector that fails is
// logged and the rest is served. At most 4 scrapes are served at once (a
// fifth gets 503: a scrape costs database queries), and a scrape that
// takes over 10 s gets 503.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:            slogLogger{m.log},
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
		EnableOpenMetrics:   true,
	})
}

// slogLogger is promhttp's error log on slog.
type slogLogger struct{ log *slog.Logger }

func (l slogLogger) Println(v ...any) {
	l.log.Error("metrics scrape", logging.KeyErr, fmt.Sprint(v...))
}
