package webhook

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/webhook/webhooktest"
)

// panicOnce is an Intaker whose first call panics (a bug deep in intake);
// later calls record.
type panicOnce struct{ calls atomic.Int32 }

func (p *panicOnce) Intake(context.Context, *store.IntakeItem) (store.IntakeResult, error) {
	if p.calls.Add(1) == 1 {
		panic("injected intake bug")
	}
	return store.IntakeResult{DeliveryRowID: 1}, nil
}

// syncBuffer is a log destination safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A handler that panics answers 500 (not acknowledged: GitHub can
// redeliver), the panic is logged with the delivery id, and the process
// serves the next delivery.
func TestPanickingHandlerAnswers500AndServerLives(t *testing.T) {
	var logs syncBuffer
	app, err := New(Config{Secret: secret, AppID: 1, Store: stubStore{}, Intake: &panicOnce{},
		Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"zen":"x"}`)
	// An event the bot does not handle is still recorded: it reaches intake.
	if code, _ := webhooktest.Post(t, app, "star", "d-panic", body, Sign(secret, body)); code != 500 {
		t.Fatalf("panicking intake: %d, want 500", code)
	}
	if !strings.Contains(logs.String(), `"delivery_id":"d-panic"`) || !strings.Contains(logs.String(), "injected intake bug") {
		t.Fatalf("the panic is not logged with the delivery id:\n%s", logs.String())
	}
	if code, _ := webhooktest.Post(t, app, "star", "d-next", body, Sign(secret, body)); code != 202 {
		t.Fatalf("the delivery after the panic: %d, want 202", code)
	}
}
