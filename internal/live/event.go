package live

import (
	"encoding/json"
	"sort"
	"time"

	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
)

// Kind is an event's name on the wire (SSE's "event:" line).
type Kind string

// Event kinds.
const (
	KindStatus   Kind = "status"
	KindStep     Kind = "step"
	KindLog      Kind = "log"
	KindArtifact Kind = "artifact"
	KindEnd      Kind = "end"
	// KindBuild is the WebSocket's message: a run's status or step
	// changed (BuildMessage).
	KindBuild Kind = "build"
)

// Event is one event of a run, its data encoded once (it is shared by
// every subscriber and never changed after it is made).
type Event struct {
	Kind Kind
	// Data is the event's JSON.
	Data []byte

	runID int64
	key   int64     // what the event raises in a Cursor: log or artifact id, step time (ms)
	at    time.Time // when it happened, to merge kinds in order
	step  run.State // a step event's step
	snap  string    // a step or status event's state, to drop repeats
}

// StatusData is a status event's data.
type StatusData struct {
	RunID         int64      `json:"runId"`
	Status        run.Status `json:"status"`
	Step          run.State  `json:"step"`
	RetryReason   string     `json:"retryReason,omitempty"`
	FailureReason string     `json:"failureReason,omitempty"`
	UpdatedAt     time.Time  `json:"updatedAt"`
}

// StepData is a step event's data. Status "pending" with no times is a
// step reset (the run started over).
type StepData struct {
	RunID      int64          `json:"runId"`
	Step       run.State      `json:"step"`
	Title      string         `json:"title"`
	Status     run.StepStatus `json:"status"`
	StartedAt  *time.Time     `json:"startedAt,omitempty"`
	FinishedAt *time.Time     `json:"finishedAt,omitempty"`
	DurationMS int64          `json:"durationMs"`
}

// LogData is a log event's data.
type LogData struct {
	ID      int64        `json:"id"`
	Step    run.State    `json:"step"`
	Level   run.LogLevel `json:"level"`
	Message string       `json:"message"`
	At      time.Time    `json:"at"`
}

// ArtifactData is an artifact event's data (and an item of a WebSocket
// message's artifacts).
type ArtifactData struct {
	ID     int64            `json:"id"`
	Name   string           `json:"name"`
	Type   run.ArtifactType `json:"type"`
	Size   int64            `json:"size"`
	SHA256 string           `json:"sha256,omitempty"`
	// URL is where to download it (Options.ArtifactURL); empty without.
	URL string `json:"url,omitempty"`
}

// EndData is the end event's data.
type EndData struct {
	RunID         int64      `json:"runId"`
	Status        run.Status `json:"status"`
	Step          run.State  `json:"step"`
	FailureReason string     `json:"failureReason,omitempty"`
	DurationMS    int64      `json:"durationMs"`
}

func mustJSON(v any) []byte {
	// The data types above hold strings, numbers and times only: Marshal
	// cannot fail on them.
	b, err := json.Marshal(v)
	if err != nil {
		panic("live: encode event: " + err.Error())
	}
	return b
}

func statusEvent(h *store.RunHead) *Event {
	d := StatusData{RunID: h.ID, Status: h.Status, Step: h.Step, RetryReason: h.RetryReason, UpdatedAt: h.UpdatedAt}
	if h.Status.Terminal() {
		d.FailureReason = h.FailureReason
	}
	snap := string(h.Status) + "\x00" + string(h.Step) + "\x00" + h.RetryReason + "\x00" + d.FailureReason
	return &Event{Kind: KindStatus, Data: mustJSON(d), at: h.UpdatedAt, snap: snap}
}

// stepMark is the time of a step's last transition, in Unix ms.
func stepMark(s *store.RunStep) time.Time {
	if s.FinishedAt != nil {
		return s.FinishedAt.UTC()
	}
	return s.StartedAt.UTC()
}

func stepSnap(s *store.RunStep) string {
	snap := string(s.Status) + "\x00" + s.StartedAt.UTC().Format(time.RFC3339Nano)
	if s.FinishedAt != nil {
		snap += "\x00" + s.FinishedAt.UTC().Format(time.RFC3339Nano)
	}
	return snap
}

func stepEvent(s *store.RunStep) *Event {
	started := s.StartedAt.UTC()
	d := StepData{RunID: s.RunID, Step: s.Step, Title: s.Step.Title(), Status: s.Status, StartedAt: &started, DurationMS: s.DurationMS}
	if s.FinishedAt != nil {
		f := s.FinishedAt.UTC()
		d.FinishedAt = &f
	}
	at := stepMark(s)
	return &Event{Kind: KindStep, Data: mustJSON(d), key: at.UnixMilli(), at: at, step: s.Step, snap: stepSnap(s)}
}

// stepReset says step of run is no longer started (the run started over).
func stepReset(runID int64, step run.State, at time.Time) *Event {
	d := StepData{RunID: runID, Step: step, Title: step.Title(), Status: run.StepPending}
	return &Event{Kind: KindStep, Data: mustJSON(d), key: at.UnixMilli(), at: at, step: step, snap: string(run.StepPending)}
}

func logEvent(l *store.RunLog) *Event {
	d := LogData{ID: l.ID, Step: l.Step, Level: l.Level, Message: l.Message, At: l.At.UTC()}
	return &Event{Kind: KindLog, Data: mustJSON(d), key: l.ID, at: l.At.UTC()}
}

func artifactData(a *store.Artifact, url func(runID int64, name string) string) ArtifactData {
	d := ArtifactData{ID: a.ID, Name: a.Name, Type: a.Type, Size: a.Size, SHA256: a.SHA256}
	if url != nil {
		d.URL = url(a.RunID, a.Name)
	}
	return d
}

func artifactEvent(a *store.Artifact, url func(runID int64, name string) string) *Event {
	return &Event{Kind: KindArtifact, Data: mustJSON(artifactData(a, url)), key: a.ID, at: a.CreatedAt.UTC()}
}

func endEvent(h *store.RunHead) *Event {
	d := EndData{RunID: h.ID, Status: h.Status, Step: h.Step, FailureReason: h.FailureReason, DurationMS: h.BuildDuration}
	return &Event{Kind: KindEnd, Data: mustJSON(d), at: h.UpdatedAt}
}

// mergeByTime merges lists, each in its own order, into one ordered by
// time: a list's order is kept (log lines by id), and at equal times the
// earlier list goes first.
func mergeByTime(lists ...[]*Event) []*Event {
	n := 0
	for _, l := range lists {
		n += len(l)
	}
	out := make([]*Event, 0, n)
	idx := make([]int, len(lists))
	for len(out) < n {
		best := -1
		for i, l := range lists {
			if idx[i] < len(l) && (best < 0 || l[idx[i]].at.Before(lists[best][idx[best]].at)) {
				best = i
			}
		}
		out = append(out, lists[best][idx[best]])
		idx[best]++
	}
	return out
}

// sortSteps orders step events by their transition time, then by the
// run's step order.
func sortSteps(evs []*Event) {
	pos := map[run.State]int{}
	for i, s := range run.Order {
		pos[s] = i
	}
	sort.SliceStable(evs, func(i, j int) bool {
		if !evs[i].at.Equal(evs[j].at) {
			return evs[i].at.Before(evs[j].at)
		}
		return pos[evs[i].step] < pos[evs[j].step]
	})
}

// BuildMessage is the WebSocket's message, the seed's shape plus the
// step: sent when a run's status or step changes; Artifacts are listed
// once the run has ended (empty before).
type BuildMessage struct {
	BuildID   int64          `json:"buildId"`
	Status    run.Status     `json:"status"`
	Step      run.State      `json:"step"`
	Artifacts []ArtifactData `json:"artifacts"`
}

func buildEvent(h *store.RunHead, arts []ArtifactData) *Event {
	if arts == nil {
		arts = []ArtifactData{}
	}
	m := BuildMessage{BuildID: h.ID, Status: h.Status, Step: h.Step, Artifacts: arts}
	return &Event{Kind: KindBuild, Data: mustJSON(m), runID: h.ID, at: h.UpdatedAt}
}

// sortByKey orders events by their cursor key (artifacts by id).
func sortByKey(evs []*Event) {
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].key < evs[j].key })
}
