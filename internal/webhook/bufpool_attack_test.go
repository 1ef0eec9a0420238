package webhook

import (
	"fmt"
	"net"
	"runtime"
	"testing"
	"time"
)

// Unauthenticated clients cannot make the receiver hold more body memory
// than its budget allows: a full body with a wrong signature leaves its
// buffer in the pool, then a slow body declaring just over the small-body
// size asks for a buffer. With the first pool it got the kept 25 MiB
// buffer while the budget counted 257 KiB, and 28 such pairs held 700 MiB
// (an attacker's review, reproduced here); now a buffer is handed out only
// to a body of at least half its size and the budget is charged its whole
// capacity.
func TestPooledBuffersStayWithinTheBudget(t *testing.T) {
	const maxBody, budget = MaxBody, DefaultBodyBudget
	app := stubApp(t, Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.Shutdown() })
	addr := ln.Addr().String()
	heap := func() uint64 { runtime.GC(); var m runtime.MemStats; runtime.ReadMemStats(&m); return m.HeapAlloc }
	base := heap()
	big := make([]byte, maxBody)
	holders := 0
	for i := 0; i < 30; i++ {
		// 1: a full MaxBody body with a wrong signature: read whole, 401, its buffer kept.
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "POST /webhook HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\nX-GitHub-Delivery: d%d\r\nX-Hub-Signature-256: sha256=%064x\r\nContent-Length: %d\r\n\r\n", i, 0, maxBody)
		if _, err := conn.Write(big); err != nil {
			// Refused before the whole body was sent (the budget is held
			// by the slow bodies): the attack stops growing memory here.
			conn.Close()
			t.Logf("cycle %d: big body refused while sending: %v", i, err)
			break
		}
		st := status(t, conn)
		conn.Close()
		if st != 401 {
			t.Logf("cycle %d: big body answered %d", i, st)
			break
		}
		// 2: a slow 257 KiB body: takes the kept 4 MiB buffer, counted as 257 KiB.
		rawPost(t, addr, fmt.Sprintf("Content-Length: %d\r\n", 256<<10+1), make([]byte, 8<<10))
		holders++
		time.Sleep(30 * time.Millisecond)
	}
	held := heap() - base
	t.Logf("holders %d (budget counts %d KiB), heap grew by %d MiB; budget %d MiB", holders, holders*(256+1), held>>20, budget>>20)
	if held > 2*budget {
		t.Errorf("body memory %d MiB exceeds twice the %d MiB budget", held>>20, budget>>20)
	}
}
