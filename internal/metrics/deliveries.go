package metrics

import (
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// deliveries are the webhook receiver's metrics: requests by event and
// outcome, and the intake latency of acknowledged deliveries.
type deliveries struct {
	total   *prometheus.CounterVec
	latency prometheus.Histogram
	// eventIdx and outcomeIdx index counters; both maps are written only
	// by newDeliveries, so the hot path reads them without a lock.
	eventIdx, outcomeIdx map[string]int
	counters             [][]prometheus.Counter
}

// intakeBuckets span a delivery's answer: a millisecond when the
// database is idle, group commit under load, the 10 s GitHub allows.
var intakeBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

func newDeliveries(events, outcomes []string) *deliveries {
	d := &deliveries{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "webhook", Name: "deliveries_total",
			Help: "Requests to the webhook path by X-GitHub-Event (the events the bot acts on, else other) and outcome.",
		}, []string{"event", "outcome"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "webhook", Name: "intake_seconds",
			Help:    "Time from a delivery's receipt to its acknowledgement (2xx answers: recorded durably, or a duplicate).",
			Buckets: intakeBuckets,
		}),
		eventIdx: map[string]int{}, outcomeIdx: map[string]int{},
	}
	events = withOther(events)
	outcomes = withOther(outcomes)
	for i, e := range events {
		d.eventIdx[e] = i
	}
	for i, o := range outcomes {
		d.outcomeIdx[o] = i
	}
	// Every pair up front: no lookup under a lock, no allocation, and
	// every series exists from the start (a rate over a series that
	// appears on its first increment misses that increment).
	d.counters = make([][]prometheus.Counter, len(events))
	for i, e := range events {
		d.counters[i] = make([]prometheus.Counter, len(outcomes))
		for j, o := range outcomes {
			d.counters[i][j] = d.total.WithLabelValues(e, o)
		}
	}
	return d
}

// withOther is labels, deduplicated, with LabelOther.
func withOther(labels []string) []string {
	out := slices.Clone(labels)
	out = append(out, LabelOther)
	slices.Sort(out)
	return slices.Compact(out)
}

func (d *deliveries) register(reg prometheus.Registerer) {
	reg.MustRegister(d.total, d.latency)
}

// Delivery counts one request to the webhook path and, when it was
// acknowledged, its latency (webhook.Observer).
func (d *deliveries) Delivery(event, outcome string, acked bool, latency time.Duration) {
	i, ok := d.eventIdx[event]
	if !ok {
		i = d.eventIdx[LabelOther]
	}
	j, ok := d.outcomeIdx[outcome]
	if !ok {
		j = d.outcomeIdx[LabelOther]
	}
	d.counters[i][j].Inc()
	if acked {
		d.latency.Observe(latency.Seconds())
	}
}
