package webhook

import (
	"sync"
	"time"
)

// bufPool keeps the buffers of large bodies once their requests are done,
// for the next large bodies. Without it a burst of large bodies leaves
// dead buffers on the heap until the collector catches up: 8 parallel
// 24 MiB bodies, read one at a time within the body budget, grew the
// receiver by two or three bodies instead of one. It holds at most max
// bytes (one largest body: idle buffers and the budget's bodies together
// stay under budget + max), lets them go after idle without a large
// body, and hands out only a buffer close to the size asked for (less
// than twice it): a small body never holds a large buffer, so the budget,
// charged with what a body holds, bounds memory.
type bufPool struct {
	max  int64
	idle time.Duration

	mu    sync.Mutex
	free  [][]byte
	bytes int64
	timer *time.Timer
}

func newBufPool(max int64, idle time.Duration) *bufPool { return &bufPool{max: max, idle: idle} }

// get returns a buffer of length n: a kept one large enough and less than
// twice n (the smallest) or a new one. Nobody else holds it until put;
// its capacity is what it costs the budget.
func (p *bufPool) get(n int) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	best := -1
	for i, b := range p.free {
		if cap(b) >= n && cap(b) < 2*n && (best < 0 || cap(b) < cap(p.free[best])) {
			best = i
		}
	}
	if best < 0 {
		return make([]byte, n)
	}
	b := p.free[best]
	p.free = append(p.free[:best], p.free[best+1:]...)
	p.bytes -= int64(cap(b))
	return b[:n]
}

// put keeps b for a later get when there is room; the caller must not use
// b afterwards.
func (p *bufPool) put(b []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bytes+int64(cap(b)) > p.max {
		return
	}
	p.free = append(p.free, b)
	p.bytes += int64(cap(b))
	if p.timer == nil {
		p.timer = time.AfterFunc(p.idle, p.drop)
	} else {
		p.timer.Reset(p.idle)
	}
}

// drop lets every kept buffer go (the collector frees them).
func (p *bufPool) drop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.free, p.bytes = nil, 0
}

// kept is how many bytes the pool holds.
func (p *bufPool) kept() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.bytes
}
