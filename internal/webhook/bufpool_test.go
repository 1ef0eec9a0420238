package webhook

import (
	"testing"
	"time"
)

// The pool hands a kept buffer to one holder at a time, the smallest that
// fits and never one twice the size asked for or more (a small body must
// not hold, uncharged, a large buffer); keeps no more than its bound; and
// lets everything go after idle.
func TestBufPool(t *testing.T) {
	p := newBufPool(100, 50*time.Millisecond)
	a, b := p.get(60), p.get(30)
	if len(a) != 60 || len(b) != 30 {
		t.Fatalf("lengths %d %d", len(a), len(b))
	}
	p.put(a)
	p.put(b)
	if got := p.kept(); got != 90 {
		t.Fatalf("kept %d bytes, want 90", got)
	}
	c := p.get(20) // the smallest that fits: b's
	if cap(c) != 30 || &c[0] != &b[0] {
		t.Fatalf("got a buffer of cap %d, want b's (30)", cap(c))
	}
	if small := p.get(20); cap(small) != 20 { // a's 60 is three times 20: not handed out
		t.Fatalf("a request of 20 got a buffer of cap %d, want a new one of 20", cap(small))
	}
	d := p.get(40) // b is held: a's
	if cap(d) != 60 || &d[0] != &a[0] {
		t.Fatalf("got a buffer of cap %d, want a's (60)", cap(d))
	}
	if e := p.get(20); &e[0] == &a[0] || &e[0] == &b[0] {
		t.Fatal("a held buffer was handed out again")
	}
	p.put(d)
	p.put(make([]byte, 50)) // 60 + 50 > 100: not kept
	if got := p.kept(); got != 60 {
		t.Fatalf("kept %d bytes over the bound, want 60", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for p.kept() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("still %d bytes kept after idle", p.kept())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
