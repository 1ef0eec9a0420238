package live

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// rawSSE is a lean SSE client (a socket and a 4 KiB reader) that reports
// when it reads a log line carrying a marker, so the figures are mostly
// the server's.
func rawSSE(b *testing.B, addr string, id int64, seen chan<- time.Time) net.Conn {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	fmt.Fprintf(conn, "GET /api/v1/builds/%d/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ok\r\n\r\n", id)
	go func() {
		r := bufio.NewReaderSize(conn, 4<<10)
		for {
			line, err := r.ReadSlice('\n')
			if err != nil {
				return
			}
			if strings.Contains(string(line), "mark-") {
				seen <- time.Now()
			}
		}
	}()
	return conn
}

// dephase waits a random part of a poll interval, so writes do not keep
// one phase with the poller (right after a poll, the worst case).
func dephase(iv time.Duration) { time.Sleep(rand.N(iv)) }

func rssKiB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			n, _ := strconv.ParseInt(strings.Fields(l)[1], 10, 64)
			return n
		}
	}
	return 0
}

func heapInuse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// BenchmarkSSE1000Subscribers: 1,000 SSE clients on one running build
// (PostgreSQL, the default poll interval). Reports the heap and RSS the
// 1,000 streams add (server and the lean clients, in one process), and
// the delay from a log line's write to the store to its arrival at every
// client (p50, p99, max over all clients and iterations).
func BenchmarkSSE1000Subscribers(b *testing.B) {
	const n = 1000
	c := &storetest.Clock{T: time.Now()}
	db := storetest.Postgres(b, c)
	s := startServer(b, db, c, Options{Interval: DefaultInterval, Now: time.Now})
	id := s.newRun(b)
	heap0, rss0 := heapInuse(), rssKiB()
	seen := make(chan time.Time, n*4)
	addr := strings.TrimPrefix(s.base, "http://")
	for range n {
		conn := rawSSE(b, addr, id, seen)
		b.Cleanup(func() { conn.Close() })
	}
	eventually(b, "all subscribed", func() bool { return s.hub.Subscribers() == n })
	time.Sleep(time.Second) // replays done
	heap1, rss1 := heapInuse(), rssKiB()
	var delays []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dephase(DefaultInterval)
		sent := time.Now()
		s.logs(b, id, "mark-"+strconv.Itoa(i))
		for range n {
			select {
			case at := <-seen:
				delays = append(delays, at.Sub(sent))
			case <-time.After(10 * time.Second):
				b.Fatalf("iteration %d: a client never got the line", i)
			}
		}
	}
	b.StopTimer()
	sort.Slice(delays, func(i, j int) bool { return delays[i] < delays[j] })
	q := func(p float64) float64 { return float64(delays[int(p*float64(len(delays)-1))].Microseconds()) / 1000 }
	b.ReportMetric(float64(heap1-heap0)/(1<<20), "heap-MiB")
	b.ReportMetric(float64(rss1-rss0)/1024, "rss-MiB")
	b.ReportMetric(float64(rss1)/1024, "rss-total-MiB")
	b.ReportMetric(float64(heap1-heap0)/n/1024, "heap-KiB/sub")
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(q(1), "max-ms")
}

// BenchmarkStoreWriteToEvent: the delay from a log line's write to the
// store to its arrival at one SSE subscriber, per poll interval.
func BenchmarkStoreWriteToEvent(b *testing.B) {
	for _, iv := range []time.Duration{100 * time.Millisecond, DefaultInterval} {
		b.Run(iv.String(), func(b *testing.B) {
			c := &storetest.Clock{T: time.Now()}
			db := storetest.Postgres(b, c)
			s := startServer(b, db, c, Options{Interval: iv, Now: time.Now})
			id := s.newRun(b)
			seen := make(chan time.Time, 4)
			conn := rawSSE(b, strings.TrimPrefix(s.base, "http://"), id, seen)
			defer conn.Close()
			eventually(b, "subscribed", func() bool { return s.hub.Subscribers() == 1 })
			var total, worst time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				dephase(iv)
				sent := time.Now()
				s.logs(b, id, "mark-"+strconv.Itoa(i))
				select {
				case at := <-seen:
					d := at.Sub(sent)
					total += d
					worst = max(worst, d)
				case <-time.After(10 * time.Second):
					b.Fatal("the line never came")
				}
			}
			b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "mean-ms")
			b.ReportMetric(float64(worst.Microseconds())/1000, "max-ms")
		})
	}
}
