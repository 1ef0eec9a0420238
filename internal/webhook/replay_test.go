package webhook

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
	"github.com/linux-builder/linux-builder/internal/webhook/webhooktest"
)

// A captured signed body posted again under a new delivery id is
// acknowledged (GitHub must not retry), recorded, and starts nothing: no
// second run, and an installation event is not applied again.
func TestReplayUnderNewDeliveryID(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB, _ *storetest.Clock) {
		app := newApp(t, db)
		ctx := context.Background()
		push := pushWithSpec(t, "00000000000000000000000000000000000000aa")
		var m map[string]any
		_ = json.Unmarshal(push, &m)
		m["installation"] = map[string]any{"id": 957387}
		push, _ = json.Marshal(m)
		edit := func(m map[string]any) { m["installation"].(map[string]any)["id"] = 957387 }
		tests := []struct {
			name   string
			send   func(id string) int
			ids    []string // the first sends the body, the others replay it
			after  func(t *testing.T)
			first  int
			replay int
		}{
			{name: "push", ids: []string{"push-1", "push-2", "push-3"}, first: 202, replay: 200,
				send: func(id string) int {
					code, _ := webhooktest.Post(t, app, "push", id, push, Sign(secret, push))
					return code
				},
				after: func(t *testing.T) {
					if runs, err := db.ListRuns(ctx, store.RunFilter{}); err != nil || len(runs) != 1 {
						t.Fatalf("%d runs (%v), want 1", len(runs), err)
					}
				}},
			{name: "installation suspended", ids: []string{"susp-1", "susp-2"}, first: 202, replay: 200,
				send: func(id string) int { return sendFile(t, app, "installation", "05-suspend.json", id, edit) },
				after: func(t *testing.T) {
					// Unsuspended since: the replayed suspension must not apply.
					if code := sendFile(t, app, "installation", "06-unsuspend.json", "unsusp", edit); code != 202 {
						t.Fatalf("unsuspend: %d", code)
					}
					if code := sendFile(t, app, "installation", "05-suspend.json", "susp-3", edit); code != 200 {
						t.Fatalf("replayed suspension: %d", code)
					}
					if in, err := db.Installation(ctx, 957387); err != nil || in.Suspended {
						t.Fatalf("installation %+v %v after a replayed suspension", in, err)
					}
				}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if code := tt.send(tt.ids[0]); code != tt.first {
					t.Fatalf("first delivery: %d, want %d", code, tt.first)
				}
				for _, id := range tt.ids[1:] {
					if code := tt.send(id); code != tt.replay {
						t.Fatalf("replay %s: %d, want %d", id, code, tt.replay)
					}
					d, err := db.Delivery(ctx, 1, id)
					if err != nil || d.Outcome != store.OutcomeIgnored || !strings.Contains(d.Reason, "replay of delivery "+tt.ids[0]) {
						t.Fatalf("replay %s recorded as %+v (%v)", id, d, err)
					}
				}
				tt.after(t)
			})
		}
	})
}
