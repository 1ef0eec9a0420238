package metrics_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/linux-builder/linux-builder/internal/metrics"
	"github.com/linux-builder/linux-builder/internal/metrics/lean"
	"github.com/linux-builder/linux-builder/internal/metrics/metricstest"
)

// The lean receiver's exposition (metrics/lean, written by hand) and the
// bot's (client_golang) say the same of the same deliveries: names,
// labels, counts, buckets and sums; and the lean one parses as
// Prometheus's text format.
func TestLeanExpositionIsTheBots(t *testing.T) {
	events, outcomes := []string{"push", "ping", "check_run"}, []string{"queued", "duplicate", "unauthorized"}
	full := metrics.New(metrics.Options{Events: events, Outcomes: outcomes, Logger: quiet})
	small := lean.New(events, outcomes)
	for i, d := range []struct {
		event, outcome string
		acked          bool
		latency        time.Duration
	}{
		{"push", "queued", true, 3 * time.Millisecond},
		{"push", "queued", true, time.Millisecond}, // on a bucket's bound: counted in it
		{"push", "duplicate", true, 800 * time.Microsecond},
		{"ping", "unauthorized", false, time.Millisecond},
		{"star", "queued", true, 40 * time.Second}, // over the last bound
		{"push", "made-up", false, 0},
	} {
		for range i + 1 {
			full.Delivery(d.event, d.outcome, d.acked, d.latency)
			small.Delivery(d.event, d.outcome, d.acked, d.latency)
		}
	}
	a := metricstest.Get(t, full.Handler())
	b := metricstest.Get(t, small)
	for _, name := range []string{"linux_builder_webhook_deliveries_total", "linux_builder_webhook_intake_seconds"} {
		if a.Labels(name) != b.Labels(name) {
			t.Fatalf("%s: label sets differ\nbot:  %s\nlean: %s", name, a.Labels(name), b.Labels(name))
		}
		for _, m := range a[name].Metric {
			var labels []string
			for _, l := range m.Label {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			if got, want := b.Must(t, name, labels...), a.Must(t, name, labels...); got != want {
				t.Errorf("%s%v: lean %v, bot %v", name, labels, got, want)
			}
		}
	}
	if got := b.Must(t, "linux_builder_webhook_deliveries_total", "event=other", "outcome=queued"); got != 5 {
		t.Fatalf("unknown event: %v", got)
	}
	ha, hb := a.Histogram("linux_builder_webhook_intake_seconds"), b.Histogram("linux_builder_webhook_intake_seconds")
	if fmt.Sprint(buckets(ha)) != fmt.Sprint(buckets(hb)) || ha.GetSampleCount() != hb.GetSampleCount() || fmt.Sprintf("%.9f", ha.GetSampleSum()) != fmt.Sprintf("%.9f", hb.GetSampleSum()) {
		t.Fatalf("histograms differ\nbot:  %v %d %v\nlean: %v %d %v", buckets(ha), ha.GetSampleCount(), ha.GetSampleSum(), buckets(hb), hb.GetSampleCount(), hb.GetSampleSum())
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "process_open_fds"} {
		if v, ok := b.Value(name); !ok || v <= 0 {
			t.Errorf("lean %s = %v, %v", name, v, ok)
		}
	}
}

func buckets(h *dto.Histogram) []string {
	var out []string
	for _, b := range h.GetBucket() {
		out = append(out, fmt.Sprintf("%g:%d", b.GetUpperBound(), b.GetCumulativeCount()))
	}
	return out
}

// The lean counters take no allocation per delivery, and answer only GET
// and HEAD.
func TestLeanDeliveries(t *testing.T) {
	d := lean.New([]string{"push"}, []string{"queued"})
	if n := testing.AllocsPerRun(1000, func() { d.Delivery("push", "queued", true, time.Millisecond) }); n != 0 {
		t.Fatalf("%v allocations per delivery", n)
	}
	rec := httptest.NewRecorder()
	d.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/metrics", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d", rec.Code)
	}
	if got := metricstest.Get(t, d).Must(t, "linux_builder_webhook_deliveries_total", "event=push", "outcome=queued"); got != 1001 {
		t.Fatalf("%v deliveries, want 1001", got)
	}
}
