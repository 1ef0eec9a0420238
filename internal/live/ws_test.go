package live

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	fws "github.com/fasthttp/websocket"

	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

func (s *server) dialWS(t *testing.T, who, origin string) (*fws.Conn, *http.Response, error) {
	t.Helper()
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	d := fws.Dialer{HandshakeTimeout: 5 * time.Second}
	conn, resp, err := d.Dial("ws"+strings.TrimPrefix(s.base, "http")+"/ws?who="+who, h)
	if conn != nil {
		t.Cleanup(func() { conn.Close() })
	}
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	return conn, resp, err
}

// readBuild reads the next message within 10 s.
func readBuild(t *testing.T, conn *fws.Conn) BuildMessage {
	t.Helper()
	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	_, b, err := conn.ReadMessage()
	if err != nil {
		t.Fatalf("read WebSocket: %v", err)
	}
	var m BuildMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("message %q: %v", b, err)
	}
	return m
}

// Every step change and the completion reach the clients allowed to see
// the run, with the artifacts' download URLs at the end; a client that
// may not see a run gets none of its messages.
func TestWebSocketBroadcastsStepsAndCompletion(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB, c *storetest.Clock) {
		c.T = time.Now() // the global poller starts at the hub's (real) time
		s := startServer(t, db, c, Options{})
		all, _, err := s.dialWS(t, "all", s.base) // same origin
		if err != nil {
			t.Fatal(err)
		}
		odd, _, err := s.dialWS(t, "odd", "")
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, "both sockets subscribed", func() bool { return s.hub.Subscribers() == 2 })
		c.Advance(time.Second)               // after the poller's start: news, not history
		one, two := s.newRun(t), s.newRun(t) // ids 1 and 2
		if one%2 != 1 || two != one+1 {
			t.Fatalf("run ids %d, %d", one, two)
		}
		seen := map[int64][]BuildMessage{}
		for len(seen[one]) < 1 || len(seen[two]) < 1 {
			m := readBuild(t, all)
			seen[m.BuildID] = append(seen[m.BuildID], m)
		}
		s.enter(t, two, run.Validating)
		if m := readBuild(t, all); m.BuildID != two || m.Status != run.StatusInProgress || m.Step != run.Validating || len(m.Artifacts) != 0 {
			t.Fatalf("step change: %+v", m)
		}
		s.enter(t, two, run.Building)
		if m := readBuild(t, all); m.BuildID != two || m.Step != run.Building {
			t.Fatalf("step change: %+v", m)
		}
		s.artifact(t, two, "linux.iso")
		s.finish(t, two)
		m := readBuild(t, all)
		if m.BuildID != two || m.Status != run.StatusSuccess || len(m.Artifacts) != 1 || m.Artifacts[0].URL != artifactURL(two, "linux.iso") {
			t.Fatalf("completion: %+v", m)
		}
		s.enter(t, one, run.Validating)
		if m := readBuild(t, all); m.BuildID != one {
			t.Fatalf("run one: %+v", m)
		}
		// The odd client saw run one only: created, then Validating.
		for _, want := range []run.State{run.Pending, run.Validating} {
			if m := readBuild(t, odd); m.BuildID != one || m.Step != want {
				t.Fatalf("odd client got %+v, want run %d at %s", m, one, want)
			}
		}
	})
}

// A page of another site cannot open the socket; nor can a request
// without credentials; a plain GET is told to upgrade.
func TestWebSocketRefusals(t *testing.T) {
	db := storetest.SQLite(t, &storetest.Clock{T: time.Now()})
	s := startServer(t, db, &storetest.Clock{T: time.Now()}, Options{})
	for _, tc := range []struct {
		name, who, origin string
		status            int
	}{
		{name: "cross-site origin", who: "all", origin: "https://evil.example", status: http.StatusForbidden},
		{name: "look-alike of the allowed origin", who: "all", origin: "https://builds.example.com.evil.example", status: http.StatusForbidden},
		{name: "allowed origin's host over http", who: "all", origin: "http://builds.example.com", status: http.StatusForbidden},
		{name: "null origin", who: "all", origin: "null", status: http.StatusForbidden},
		{name: "no credentials", who: "", origin: "", status: http.StatusUnauthorized},
		{name: "allowed origin", who: "all", origin: "https://builds.example.com", status: http.StatusSwitchingProtocols},
		{name: "same origin", who: "all", origin: s.base, status: http.StatusSwitchingProtocols},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, resp, err := s.dialWS(t, tc.who, tc.origin)
			if resp == nil {
				t.Fatalf("no response: %v", err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (%v)", resp.StatusCode, tc.status, err)
			}
			if (conn != nil) != (tc.status == http.StatusSwitchingProtocols) {
				t.Fatalf("connection %v for status %d", conn != nil, resp.StatusCode)
			}
		})
	}
	resp, err := http.Get(s.base + "/ws?who=all")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired {
		t.Fatalf("plain GET: %s", resp.Status)
	}
}

// A socket whose client stops reading (so answers no ping) is cut off
// within two ping intervals; the others go on. (A full queue drops a
// subscriber too: TestHubDropsASubscriberThatStopsReading.)
func TestWebSocketDropsAClientThatStopsReading(t *testing.T) {
	db := storetest.SQLite(t, &storetest.Clock{T: time.Now()})
	c := &storetest.Clock{T: time.Now()}
	s := startServer(t, db, c, Options{Queue: 2})
	stuck, _, err := s.dialWS(t, "all", "")
	if err != nil {
		t.Fatal(err)
	}
	_ = stuck
	fast, _, err := s.dialWS(t, "all", "")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "both sockets subscribed", func() bool { return s.hub.Subscribers() == 2 })
	start := time.Now()
	for i := 0; s.hub.Subscribers() == 2; i++ {
		if i > 3000 {
			t.Fatal("the client that stopped reading was never dropped")
		}
		id := s.newRun(t)
		for m := readBuild(t, fast); m.BuildID != id; m = readBuild(t, fast) {
		}
	}
	id := s.newRun(t)
	for m := readBuild(t, fast); m.BuildID != id; m = readBuild(t, fast) {
	}
	t.Logf("dropped after %d runs, %s", id, time.Since(start))
}
