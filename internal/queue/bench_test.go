package queue

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// BenchmarkIntake measures the intake transaction: delivery row + run row
// + River job insert, committed together. It reports throughput and the
// 99th-percentile latency of one intake, with 1 and 8 concurrent callers.
func BenchmarkIntake(b *testing.B) {
	for _, dbCase := range []struct {
		name string
		open func(testing.TB, *storetest.Clock) *store.DB
	}{{"postgres", storetest.Postgres}, {"sqlite", storetest.SQLite}} {
		for _, mode := range []string{"direct", "group"} {
			for _, conc := range []int{1, 8, 64} {
				b.Run(fmt.Sprintf("%s/%s/callers=%d", dbCase.name, mode, conc), func(b *testing.B) {
					db := dbCase.open(b, nil)
					q, err := NewInserter(db, InserterConfig{Logger: quiet})
					if err != nil {
						b.Fatal(err)
					}
					intake := func(ctx context.Context, it *store.IntakeItem) (store.IntakeResult, error) {
						return db.Intake(ctx, it, q)
					}
					if mode == "group" {
						c := store.NewCommitter(db, q, benchCommitters, 0)
						defer c.Close()
						intake = c.Intake
					}
					var seq atomic.Int64
					var mu sync.Mutex
					latencies := make([]time.Duration, 0, b.N)
					b.ResetTimer()
					start := time.Now()
					var wg sync.WaitGroup
					per := (b.N + conc - 1) / conc
					for w := range conc {
						wg.Add(1)
						go func() {
							defer wg.Done()
							local := make([]time.Duration, 0, per)
							for i := w * per; i < min((w+1)*per, b.N); i++ {
								n := seq.Add(1)
								id := fmt.Sprintf("bench-%d", n)
								t0 := time.Now()
								_, err := intake(context.Background(), &store.IntakeItem{Delivery: &store.Delivery{AppID: 1, DeliveryID: id, Event: "push", Repo: "o/r", Outcome: store.OutcomeQueued, PayloadSHA256: "x"}, Intent: store.Intent{Outcome: store.OutcomeQueued, Run: &store.Run{Trigger: run.TriggerPush, Repo: "o/r", Ref: "refs/heads/main", HeadSHA: id}}})
								if err != nil {
									b.Error(err)
									return
								}
								local = append(local, time.Since(t0))
							}
							mu.Lock()
							latencies = append(latencies, local...)
							mu.Unlock()
						}()
					}
					wg.Wait()
					elapsed := time.Since(start)
					b.StopTimer()
					if len(latencies) == 0 {
						return
					}
					slices.Sort(latencies)
					p99 := latencies[min(len(latencies)-1, len(latencies)*99/100)]
					b.ReportMetric(float64(len(latencies))/elapsed.Seconds(), "intakes/s")
					b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
				})
			}
		}
	}
}

var benchCommitters = envInt("BENCH_COMMITTERS", 0)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}
