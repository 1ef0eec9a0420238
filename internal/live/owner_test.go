package live

import (
	"net/http"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// One caller (here: one address, the server having no Owner hook) cannot
// hold more than MaxPerOwner streams and sockets: beyond it 429, whatever
// room the hub has; a closed stream gives its slot back.
func TestOneCallerCannotTakeEverySlot(t *testing.T) {
	db := storetest.SQLite(t, &storetest.Clock{T: time.Now()})
	c := &storetest.Clock{T: time.Now()}
	s := startServer(t, db, c, Options{MaxPerOwner: 3})
	id := s.newRun(t)
	var open []*sseClient
	for range 3 {
		open = append(open, s.follow(t, id, ""))
	}
	resp := s.get(t, id, "")
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("a 4th stream of one caller: %s (Retry-After %q), want 429", resp.Status, resp.Header.Get("Retry-After"))
	}
	if _, wsResp, _ := s.dialWS(t, "all", ""); wsResp == nil || wsResp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a socket beyond the caller's cap: %v, want 429", wsResp)
	}
	if n := s.hub.Subscribers(); n != 3 {
		t.Fatalf("%d subscribers, want the 3 streams", n)
	}
	// A closed stream's slot is given back (once the server notices).
	open[0].close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, wsResp, err := s.dialWS(t, "all", "")
		if conn != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the slot of a closed stream was not given back: %v %v", wsResp, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
