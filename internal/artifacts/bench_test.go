package artifacts

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkTransfer moves one artifact (2 GiB, or ARTIFACT_BENCH_BYTES)
// into the store and back out, for the file store and for S3 (gofakes3 on
// loopback, through the real client; ARTIFACT_BENCH_PART_SIZE sets the
// part size), and reports throughput and the peak
// RSS above idle of the process doing it. The transfer runs in a child
// process (this test binary, TestTransferChild), so the measurement holds
// the client alone, not the fake server's copy of the object.
//
//	go test ./internal/artifacts -run '^$' -bench Transfer -benchtime 1x
func BenchmarkTransfer(b *testing.B) {
	size := int64(2 << 30)
	if v := os.Getenv("ARTIFACT_BENCH_BYTES"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		size = n
	}
	for _, kind := range []string{"file", "s3"} {
		b.Run(kind, func(b *testing.B) {
			setCreds(b, testAccessKey, testSecretKey)
			url := "file://" + b.TempDir()
			if kind == "s3" {
				url = newFakeS3(b).URL(testBucket)
			}
			var last transferResult
			for range b.N {
				last = runChild(b, url, size)
			}
			b.ReportMetric(last.PutMBps, "put-MB/s")
			b.ReportMetric(last.GetMBps, "get-MB/s")
			b.ReportMetric(float64(last.PutRSS)/(1<<20), "put-peak-RSS-MiB")
			b.ReportMetric(float64(last.GetRSS)/(1<<20), "get-peak-RSS-MiB")
			b.Logf("%s: %d bytes; put %.0f MB/s, peak RSS +%.1f MiB; get %.0f MB/s, peak RSS +%.1f MiB (idle RSS %.1f MiB)",
				kind, size, last.PutMBps, float64(last.PutRSS)/(1<<20), last.GetMBps, float64(last.GetRSS)/(1<<20), float64(last.IdleRSS)/(1<<20))
			if limit := int64(64 << 20); last.PutRSS > limit || last.GetRSS > limit {
				b.Errorf("peak RSS above idle is over 64 MiB: put %d, get %d bytes", last.PutRSS, last.GetRSS)
			}
		})
	}
}

type transferResult struct {
	IdleRSS, PutRSS, GetRSS int64
	PutMBps, GetMBps        float64
	Err                     string
}

func runChild(b *testing.B, url string, size int64) transferResult {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestTransferChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "ARTIFACT_BENCH_CHILD="+url, fmt.Sprintf("ARTIFACT_BENCH_CHILD_BYTES=%d", size))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	var res transferResult
	for _, line := range strings.Split(string(out), "\n") {
		if j, ok := strings.CutPrefix(line, "RESULT "); ok {
			if err := json.Unmarshal([]byte(j), &res); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err != nil || res.Err != "" {
		b.Fatalf("child: %v %s\n%s", err, res.Err, out)
	}
	return res
}

// TestTransferChild is BenchmarkTransfer's child process; run on its own
// it does nothing.
func TestTransferChild(t *testing.T) {
	url := os.Getenv("ARTIFACT_BENCH_CHILD")
	if url == "" {
		return
	}
	size, _ := strconv.ParseInt(os.Getenv("ARTIFACT_BENCH_CHILD_BYTES"), 10, 64)
	res := transfer(url, size)
	j, _ := json.Marshal(res)
	fmt.Printf("RESULT %s\n", j)
}

func transfer(url string, size int64) (res transferResult) {
	fail := func(err error) transferResult { res.Err = err.Error(); return res }
	ctx := context.Background()
	part, _ := strconv.Atoi(os.Getenv("ARTIFACT_BENCH_PART_SIZE")) // 0: the default
	s, err := Open(ctx, Config{URL: url, PartSize: part})
	if err != nil {
		return fail(err)
	}
	defer s.Close()
	idle := settle()
	res.IdleRSS = idle
	start := time.Now()
	obj, err := s.Put(ctx, "runs/1/big.iso", bufio.NewReaderSize(&detReader{r: rand.NewPCG(1, 2), left: size}, 64<<10))
	if err != nil {
		return fail(err)
	}
	res.PutMBps = float64(size) / 1e6 / time.Since(start).Seconds()
	res.PutRSS = procStatus("VmHWM") - idle
	if obj.Size != size {
		return fail(fmt.Errorf("put %d bytes, want %d", obj.Size, size))
	}

	idle = settle()
	start = time.Now()
	rc, _, err := s.Get(ctx, "runs/1/big.iso")
	if err != nil {
		return fail(err)
	}
	_, err = io.Copy(io.Discard, Verify(rc, obj))
	rc.Close()
	if err != nil {
		return fail(err)
	}
	res.GetMBps = float64(size) / 1e6 / time.Since(start).Seconds()
	res.GetRSS = procStatus("VmHWM") - idle
	return res
}

// settle collects garbage, resets the peak RSS (VmHWM) to the current RSS
// and returns that RSS.
func settle() int64 {
	runtime.GC()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		panic(err) // a benchmark child: the parent reports it
	}
	return procStatus("VmRSS")
}

// procStatus is a /proc/self/status field in bytes.
func procStatus(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return -1
}

// detReader is left deterministic pseudo-random bytes.
type detReader struct {
	r    *rand.PCG
	left int64
}

func (d *detReader) Read(p []byte) (int, error) {
	if d.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > d.left {
		p = p[:d.left]
	}
	n := len(p) &^ 7
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(p[i:], d.r.Uint64())
	}
	for i := n; i < len(p); i++ {
		p[i] = byte(d.r.Uint64())
	}
	d.left -= int64(len(p))
	return len(p), nil
}
