package webhook

import (
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/metrics"
	"github.com/linux-builder/linux-builder/internal/metrics/lean"
)

// BenchmarkReceiveObserved is BenchmarkReceive with the real metrics
// observing every delivery.
func BenchmarkReceiveObserved(b *testing.B) {
	m := metrics.New(metrics.Options{Events: Events(), Outcomes: Outcomes()})
	benchmarkReceive(b, func(c *Config) { c.Observer = m })
	b.StopTimer()
	// The deliveries were counted (the benchmark measured what it says).
	var n int
	for _, f := range must(m.Registry().Gather()) {
		if f.GetName() == "linux_builder_webhook_deliveries_total" {
			for _, s := range f.Metric {
				n += int(s.GetCounter().GetValue())
			}
		}
	}
	if n < b.N {
		b.Fatalf("%d deliveries counted, %d sent", n, b.N)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// BenchmarkObserverDelivery is what observing adds to one delivery: its
// event's label, the counter and the latency histogram.
func BenchmarkObserverDelivery(b *testing.B) {
	m := metrics.New(metrics.Options{Events: Events(), Outcomes: Outcomes()})
	start := time.Now()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Delivery(eventLabel("push"), OutcomeQueued, true, time.Since(start))
		}
	})
}

// BenchmarkReceiveLean is BenchmarkReceive with the lean receiver's
// metrics (metrics/lean) observing every delivery.
func BenchmarkReceiveLean(b *testing.B) {
	benchmarkReceive(b, func(c *Config) { c.Observer = lean.New(Events(), Outcomes()) })
}

// BenchmarkObserverDeliveryLean is BenchmarkObserverDelivery with
// metrics/lean.
func BenchmarkObserverDeliveryLean(b *testing.B) {
	m := lean.New(Events(), Outcomes())
	start := time.Now()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Delivery(eventLabel("push"), OutcomeQueued, true, time.Since(start))
		}
	})
}
