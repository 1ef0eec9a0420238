package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/webhook/webhooktest"
)

// scriptStore answers the receiver's reads as scripted.
type scriptStore struct {
	downStore
	seen                           string
	seenErr, saveErr, latestErr    error
	installErr                     error
	suspended                      bool
	installReads, installsRecorded int
}

func (s *scriptStore) PayloadSeen(context.Context, int64, string, string, time.Time) (string, error) {
	return s.seen, s.seenErr
}
func (s *scriptStore) UpsertInstallation(context.Context, *store.Installation) error {
	s.installsRecorded++
	return s.saveErr
}
func (s *scriptStore) DeleteInstallation(context.Context, int64) error {
	s.installsRecorded++
	return s.saveErr
}
func (s *scriptStore) Installation(_ context.Context, id int64) (*store.Installation, error) {
	s.installReads++
	if s.installErr != nil {
		return nil, s.installErr
	}
	return &store.Installation{ID: id, Suspended: s.suspended}, nil
}
func (s *scriptStore) LatestRunAt(_ context.Context, repo, sha string) (*store.Run, error) {
	if s.latestErr != nil {
		return nil, s.latestErr
	}
	return &store.Run{ID: 41, Trigger: run.TriggerPush, Repo: repo, HeadSHA: sha}, nil
}

// scriptIntake records what it is given and answers as scripted.
type scriptIntake struct {
	res  store.IntakeResult
	err  error
	item *store.IntakeItem
}

func (s *scriptIntake) Intake(_ context.Context, item *store.IntakeItem) (store.IntakeResult, error) {
	s.item = item
	return s.res, s.err
}

// Every answer of the receiver after the signature, one case per step
// (decide, installation events, suspension, intake, answer): status and
// body exactly, and the intent recorded (none when the delivery is not
// acknowledged).
func TestReceiveAnswers(t *testing.T) {
	created, err := os.ReadFile("../../testdata/github/webhooks/installation/01-created.json")
	if err != nil {
		t.Fatal(err)
	}
	rerequested := []byte(`{"action":"rerequested","check_suite":{"head_sha":"abc","app":{"id":1}},
		"repository":{"full_name":"o/r"},"installation":{"id":5},"sender":{"login":"u"}}`)
	down := errors.New("connection refused")
	tests := []struct {
		name, event string
		body        []byte
		st          scriptStore
		res         store.IntakeResult
		intakeErr   error
		code        int
		answer      string
		// outcome and reason are the intent recorded ("": no intake).
		outcome store.Outcome
		reason  string
		// installsRecorded is how many installation changes were saved.
		installsRecorded int
	}{
		{name: "ping", event: "ping", body: []byte(`{}`), code: 200, answer: "pong"},
		{name: "event not handled", event: "star", body: []byte(`{}`), code: 202,
			answer:  `{"cancelled":null,"outcome":"ignored","reason":"star events are not handled"}`,
			outcome: store.OutcomeIgnored, reason: "star events are not handled"},
		{name: "decider rejects", event: "check_suite", body: []byte(`[]`), code: 202,
			answer:  accepted(t, "rejected", "decode check_suite event: "+decodeErr(t, []byte(`[]`))),
			outcome: store.OutcomeRejected, reason: "decode check_suite event: " + decodeErr(t, []byte(`[]`))},
		{name: "decider fails transiently", event: "check_suite", body: rerequested, st: scriptStore{latestErr: down},
			code: 503, answer: "could not decide the delivery; please redeliver"},
		{name: "run asked", event: "check_suite", body: rerequested,
			res:  store.IntakeResult{DeliveryRowID: 1, RunID: 7, Coalesced: true, Cancelled: []int64{3}},
			code: 202, answer: `{"cancelled":[3],"coalesced":true,"run_id":7}`,
			outcome: store.OutcomeQueued, reason: "rebuild of run 41"},
		{name: "installation unreadable", event: "check_suite", body: rerequested, st: scriptStore{installErr: down},
			code: 503, answer: "could not check the installation; please redeliver"},
		{name: "installation suspended", event: "check_suite", body: rerequested, st: scriptStore{suspended: true},
			res:  store.IntakeResult{DeliveryRowID: 1},
			code: 202, answer: `{"cancelled":null,"outcome":"ignored","reason":"the installation is suspended"}`,
			outcome: store.OutcomeIgnored, reason: "the installation is suspended"},
		{name: "installation event", event: "installation", body: created, res: store.IntakeResult{DeliveryRowID: 1},
			code: 202, answer: `{"cancelled":null,"outcome":"ignored","reason":"installation created"}`,
			outcome: store.OutcomeIgnored, reason: "installation created", installsRecorded: 1},
		{name: "installation replay lookup fails", event: "installation", body: created, st: scriptStore{seenErr: down},
			code: 503, answer: "could not check the delivery; please redeliver"},
		{name: "installation replayed", event: "installation", body: created, st: scriptStore{seen: "d0"},
			code: 202, answer: `{"cancelled":null,"outcome":"ignored","reason":"replay of delivery d0 (the same payload)"}`,
			outcome: store.OutcomeIgnored, reason: "replay of delivery d0 (the same payload)"},
		{name: "installation not saved", event: "installation", body: created, st: scriptStore{saveErr: down},
			code: 503, answer: "could not record the installation; please redeliver", installsRecorded: 1},
		{name: "intake fails", event: "star", body: []byte(`{}`), intakeErr: down,
			code: 503, answer: "could not record the delivery; please redeliver",
			outcome: store.OutcomeIgnored, reason: "star events are not handled"},
		{name: "duplicate", event: "star", body: []byte(`{}`), res: store.IntakeResult{Duplicate: true, DeliveryRowID: 1},
			code: 200, answer: "already received",
			outcome: store.OutcomeIgnored, reason: "star events are not handled"},
		{name: "replay", event: "star", body: []byte(`{}`), res: store.IntakeResult{DeliveryRowID: 2, ReplayOf: "d0"},
			code: 200, answer: "already received as delivery d0",
			outcome: store.OutcomeIgnored, reason: "star events are not handled"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := tc.st
			in := &scriptIntake{res: tc.res, err: tc.intakeErr}
			now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.FixedZone("x", 3600))
			app, err := New(Config{Secret: secret, AppID: 1, Store: &st, Intake: in, Logger: quiet, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			code, answer := webhooktest.Post(t, app, tc.event, "d1", tc.body, Sign(secret, tc.body))
			if code != tc.code || answer != tc.answer {
				t.Fatalf("answered %d %q, want %d %q", code, answer, tc.code, tc.answer)
			}
			if st.installsRecorded != tc.installsRecorded {
				t.Fatalf("%d installation changes saved, want %d", st.installsRecorded, tc.installsRecorded)
			}
			switch {
			case tc.outcome == "" && in.item != nil:
				t.Fatalf("recorded %+v, want nothing", in.item.Intent)
			case tc.outcome == "":
			case in.item == nil:
				t.Fatal("nothing recorded")
			default:
				it := in.item
				if it.Intent.Outcome != tc.outcome || it.Intent.Reason != tc.reason {
					t.Fatalf("recorded %s %q, want %s %q", it.Intent.Outcome, it.Intent.Reason, tc.outcome, tc.reason)
				}
				d := it.Delivery
				if d.AppID != 1 || d.DeliveryID != "d1" || d.Event != tc.event || len(d.PayloadSHA256) != 64 ||
					!d.ReceivedAt.Equal(now) || d.ReceivedAt.Location() != time.UTC || it.ReplayWindow != DefaultReplayWindow {
					t.Fatalf("delivery %+v, replay window %v", d, it.ReplayWindow)
				}
			}
		})
	}
}

// accepted is the answer (202) to a delivery recorded without a run.
func accepted(t *testing.T, outcome, reason string) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"cancelled": nil, "outcome": outcome, "reason": reason})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// decodeErr is the error decoding body as a check_suite event gives.
func decodeErr(t *testing.T, body []byte) string {
	t.Helper()
	var ev checkSuiteEvent
	err := decodePayload(body, &ev)
	if err == nil {
		t.Fatalf("%s decodes", body)
	}
	return err.Error()
}
