package webhook

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/linux-builder/linux-builder/internal/metrics"
	"github.com/linux-builder/linux-builder/internal/metrics/metricstest"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/webhook/webhooktest"
)

var _ Observer = (*metrics.Metrics)(nil)

// Each kind of request to the webhook path counts once under its event
// and outcome in the real metrics' exposition, and only acknowledged
// deliveries join the intake latency histogram. Hostile event headers
// never become labels.
func TestDeliveriesShowInTheMetrics(t *testing.T) {
	rerequested := []byte(`{"action":"rerequested","check_suite":{"head_sha":"abc","app":{"id":1}},
		"repository":{"full_name":"o/r"},"installation":{"id":5},"sender":{"login":"u"}}`)
	tests := []struct {
		name, event   string
		body          []byte
		sig           string // "": signed with the secret
		st            scriptStore
		intake        Intaker
		res           store.IntakeResult
		code          int
		label, result string
		acked         bool
	}{
		{name: "ping", event: "ping", body: []byte(`{}`), code: 200, label: "ping", result: OutcomePing, acked: true},
		{name: "run queued", event: "check_suite", body: rerequested, res: store.IntakeResult{DeliveryRowID: 1, RunID: 7},
			code: 202, label: "check_suite", result: OutcomeQueued, acked: true},
		{name: "rejected", event: "check_suite", body: []byte(`[]`), code: 202, label: "check_suite", result: OutcomeRejected, acked: true},
		{name: "event not handled", event: "star", body: []byte(`{}`), code: 202, label: EventOther, result: OutcomeIgnored, acked: true},
		{name: "duplicate", event: "star", body: []byte(`{}`), res: store.IntakeResult{Duplicate: true, DeliveryRowID: 1},
			code: 200, label: EventOther, result: OutcomeDuplicate, acked: true},
		{name: "replay", event: "push", body: []byte(`{}`), res: store.IntakeResult{DeliveryRowID: 2, ReplayOf: "d0"},
			code: 200, label: "push", result: OutcomeReplay, acked: true},
		{name: "bad signature", event: "push", body: []byte(`{}`), sig: Sign("wrong", []byte(`{}`)), code: 401,
			label: "push", result: OutcomeUnauthorized},
		{name: "malformed event header", event: "../../etc/passwd", body: []byte(`{}`), code: 400, label: EventOther, result: OutcomeRefused},
		{name: "database down", event: "check_suite", body: rerequested, st: scriptStore{latestErr: errors.New("connection refused")},
			code: 503, label: "check_suite", result: OutcomeUnavailable},
		{name: "intake panics", event: "issue_comment", body: []byte(`{"action":"deleted"}`), intake: &panicOnce{},
			code: 500, label: "issue_comment", result: OutcomeError},
	}
	m := metrics.New(metrics.Options{Events: Events(), Outcomes: Outcomes()})
	acked := 0
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := tc.st
			in := tc.intake
			if in == nil {
				in = &scriptIntake{res: tc.res}
			}
			app, err := New(Config{Secret: secret, AppID: 1, Store: &st, Intake: in, Logger: quiet, Observer: m})
			if err != nil {
				t.Fatal(err)
			}
			sig := tc.sig
			if sig == "" {
				sig = Sign(secret, tc.body)
			}
			before := metricstest.Get(t, m.Handler()).Must(t, "linux_builder_webhook_deliveries_total", "event="+tc.label, "outcome="+tc.result)
			if code, answer := webhooktest.Post(t, app, tc.event, "d1", tc.body, sig); code != tc.code {
				t.Fatalf("answered %d %q, want %d", code, answer, tc.code)
			}
			s := metricstest.Get(t, m.Handler())
			if got := s.Must(t, "linux_builder_webhook_deliveries_total", "event="+tc.label, "outcome="+tc.result); got != before+1 {
				t.Fatalf("deliveries{event=%s,outcome=%s} = %v, want %v", tc.label, tc.result, got, before+1)
			}
			if tc.acked {
				acked++
			}
			if got := s.Must(t, "linux_builder_webhook_intake_seconds"); got != float64(acked) {
				t.Fatalf("%v latencies observed, want %d (acknowledged deliveries)", got, acked)
			}
		})
	}
	// An oversized body, refused once fasthttp's look-ahead of the
	// streamed body (8 KiB) is in, as TestDatabaseDownIs503AndBodyCapIs413
	// sends it (over a real connection: fasthttp's in-memory test client
	// cannot send a body shorter than its Content-Length).
	app, err := New(Config{Secret: secret, AppID: 1, Store: &scriptStore{}, Intake: &scriptIntake{}, Logger: quiet, Observer: m})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	defer app.Shutdown()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /webhook HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\nX-GitHub-Delivery: d2\r\nX-Hub-Signature-256: %s\r\nContent-Length: %d\r\n\r\n%s",
		Sign(secret, []byte("{}")), MaxBody+1, strings.Repeat("x", 8<<10+1))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("oversized body: %v", err)
	}
	resp.Body.Close()
	s := metricstest.Get(t, m.Handler())
	if resp.StatusCode != 413 || s.Must(t, "linux_builder_webhook_deliveries_total", "event=push", "outcome="+OutcomeRefused) != 1 {
		t.Fatalf("oversized body: %d, refused pushes %v", resp.StatusCode, s.Must(t, "linux_builder_webhook_deliveries_total", "event=push", "outcome="+OutcomeRefused))
	}
	// No label holds anything but the receiver's own words.
	for _, f := range []string{"linux_builder_webhook_deliveries_total"} {
		if l := s.Labels(f); strings.Contains(l, "passwd") || strings.Contains(l, "star") {
			t.Fatalf("a header leaked into a label: %s", l)
		}
	}
}

// The observed path allocates nothing more than the unobserved one: the
// labels are the receiver's strings and the counters are resolved up
// front.
func TestObserverAllocatesNothing(t *testing.T) {
	m := metrics.New(metrics.Options{Events: Events(), Outcomes: Outcomes()})
	allocs := testing.AllocsPerRun(1000, func() {
		m.Delivery(eventLabel("push"), OutcomeQueued, true, 1500000)
		m.Delivery(eventLabel("no-such-event"), "no-such-outcome", false, 0)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per delivery observed", allocs)
	}
}
