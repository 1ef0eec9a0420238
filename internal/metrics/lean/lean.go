// Package lean is the lean receiver's metrics: its deliveries and their
// intake latency, and a few of the process's, written in Prometheus's text
// format by hand. The receiver links no metrics library: client_golang and
// what it brings (protobuf, the OpenMetrics parser) added 3.7 MiB to its
// idle RSS, whose target is 32 MiB at full load. The names, labels and
// buckets are package metrics' (the bot's), so one dashboard reads both;
// a test in package metrics holds the two expositions equal.
package lean

import (
	"bufio"
	"fmt"
	"math"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// IntakeBuckets are the intake histogram's upper bounds (package metrics'
// intakeBuckets).
var IntakeBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// other is the label of a value not in the lists given to New.
const other = "other"

// Deliveries counts the receiver's deliveries; it is a webhook.Observer
// and an http.Handler serving the exposition. Safe for concurrent use.
type Deliveries struct {
	events, outcomes     []string
	eventIdx, outcomeIdx map[string]int
	counts               []atomic.Uint64 // events × outcomes
	buckets              []atomic.Uint64 // per bucket, not cumulative; the last is +Inf
	sumNanos, n          atomic.Uint64
	start                time.Time
}

// New makes the counters of every event and outcome (webhook.Events,
// webhook.Outcomes), "other" added to both.
func New(events, outcomes []string) *Deliveries {
	d := &Deliveries{events: withOther(events), outcomes: withOther(outcomes), eventIdx: map[string]int{}, outcomeIdx: map[string]int{},
		buckets: make([]atomic.Uint64, len(IntakeBuckets)+1), start: time.Now()}
	for i, e := range d.events {
		d.eventIdx[e] = i
	}
	for i, o := range d.outcomes {
		d.outcomeIdx[o] = i
	}
	d.counts = make([]atomic.Uint64, len(d.events)*len(d.outcomes))
	return d
}

func withOther(labels []string) []string {
	out := append(slices.Clone(labels), other)
	slices.Sort(out)
	return slices.Compact(out)
}

// Delivery counts one request to the webhook path and, when it was
// acknowledged, its latency (webhook.Observer). It allocates nothing.
func (d *Deliveries) Delivery(event, outcome string, acked bool, latency time.Duration) {
	i, ok := d.eventIdx[event]
	if !ok {
		i = d.eventIdx[other]
	}
	j, ok := d.outcomeIdx[outcome]
	if !ok {
		j = d.outcomeIdx[other]
	}
	d.counts[i*len(d.outcomes)+j].Add(1)
	if !acked {
		return
	}
	s := latency.Seconds()
	b, _ := slices.BinarySearch(IntakeBuckets, s) // the first bound ≥ s; len: +Inf
	d.buckets[b].Add(1)
	d.sumNanos.Add(uint64(max(latency, 0)))
	d.n.Add(1)
}

// ServeHTTP writes the exposition (text format 0.0.4).
func (d *Deliveries) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	bw := bufio.NewWriter(w)
	d.write(bw)
	_ = bw.Flush() // the client went away: nothing to tell it
}

func (d *Deliveries) write(w *bufio.Writer) {
	fmt.Fprintln(w, "# HELP linux_builder_webhook_deliveries_total Requests to the webhook path by X-GitHub-Event (the events the bot acts on, else other) and outcome.")
	fmt.Fprintln(w, "# TYPE linux_builder_webhook_deliveries_total counter")
	for i, e := range d.events {
		for j, o := range d.outcomes {
			fmt.Fprintf(w, "linux_builder_webhook_deliveries_total{event=%q,outcome=%q} %d\n", e, o, d.counts[i*len(d.outcomes)+j].Load())
		}
	}
	fmt.Fprintln(w, "# HELP linux_builder_webhook_intake_seconds Time from a delivery's receipt to its acknowledgement (2xx answers: recorded durably, or a duplicate).")
	fmt.Fprintln(w, "# TYPE linux_builder_webhook_intake_seconds histogram")
	// A scrape races deliveries: the count is the buckets' total, read
	// once, so the histogram is consistent with itself.
	var cum uint64
	for i, le := range IntakeBuckets {
		cum += d.buckets[i].Load()
		fmt.Fprintf(w, "linux_builder_webhook_intake_seconds_bucket{le=%q} %d\n", formatFloat(le), cum)
	}
	cum += d.buckets[len(IntakeBuckets)].Load()
	fmt.Fprintf(w, "linux_builder_webhook_intake_seconds_bucket{le=\"+Inf\"} %d\n", cum)
	fmt.Fprintf(w, "linux_builder_webhook_intake_seconds_sum %s\n", formatFloat(float64(d.sumNanos.Load())/1e9))
	fmt.Fprintf(w, "linux_builder_webhook_intake_seconds_count %d\n", cum)
	writeProcess(w, d.start)
}

// writeProcess writes the process's metrics that matter for the
// receiver (a subset of client_golang's Go and process collectors, same
// names).
func writeProcess(w *bufio.Writer, start time.Time) {
	gauge(w, "go_goroutines", "Number of goroutines that currently exist.", float64(runtime.NumGoroutine()))
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	gauge(w, "go_memstats_heap_inuse_bytes", "Number of heap bytes that are in use.", float64(ms.HeapInuse))
	gauge(w, "process_start_time_seconds", "Start time of the process since unix epoch in seconds.", float64(start.Unix()))
	if rss, ok := residentBytes(); ok {
		gauge(w, "process_resident_memory_bytes", "Resident memory size in bytes.", float64(rss))
	}
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		gauge(w, "process_open_fds", "Number of open file descriptors.", float64(len(fds)))
	}
}

func gauge(w *bufio.Writer, name, help string, v float64) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %s\n", name, help, name, name, formatFloat(v))
}

// residentBytes reads the resident set from /proc/self/statm (Linux).
func residentBytes() (int64, bool) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0, false
	}
	return pages * int64(os.Getpagesize()), true
}

func formatFloat(v float64) string {
	if math.IsInf(v, 1) {
		return "+Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
