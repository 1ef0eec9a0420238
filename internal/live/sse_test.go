package live

import (
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// A client following a running build sees its steps, log lines,
// artifacts and end in order, with ids that never go back, and the
// stream closes after the end.
func TestSSEFollowsARun(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB, c *storetest.Clock) {
		s := startServer(t, db, c, Options{})
		id := s.newRun(t)
		cl := s.follow(t, id, "")
		st := decode[StatusData](t, cl.next(t, "status"))
		if st.RunID != id || st.Status != run.StatusPending {
			t.Fatalf("first event: %+v", st)
		}
		eventually(t, "the run is watched", func() bool { return s.hub.Watched() == 1 })

		s.enter(t, id, run.Validating)
		step := decode[StepData](t, cl.next(t, "step"))
		if step.Step != run.Validating || step.Status != run.StepRunning || step.StartedAt == nil {
			t.Fatalf("step event %+v", step)
		}
		s.enter(t, id, run.Building)
		var got []StepData
		for len(got) < 2 {
			got = append(got, decode[StepData](t, cl.next(t, "step")))
		}
		if got[0].Step != run.Validating || got[0].Status != run.StepDone || got[0].DurationMS != 1000 ||
			got[1].Step != run.Building || got[1].Status != run.StepRunning {
			t.Fatalf("step events after Building: %+v", got)
		}
		s.logs(t, id, "one", "two", "three")
		for _, want := range []string{"one", "two", "three"} {
			if l := decode[LogData](t, cl.next(t, "log")); l.Message != want || l.Step != run.Building {
				t.Fatalf("log %+v, want %q", l, want)
			}
		}
		s.artifact(t, id, "linux.iso")
		a := decode[ArtifactData](t, cl.next(t, "artifact"))
		if a.Name != "linux.iso" || a.Size != 42 || a.URL != artifactURL(id, "linux.iso") {
			t.Fatalf("artifact %+v", a)
		}
		s.logs(t, id, "four")
		s.finish(t, id)
		if l := decode[LogData](t, cl.next(t, "log")); l.Message != "four" {
			t.Fatalf("log %+v", l)
		}
		if st := decode[StepData](t, cl.next(t, "step")); st.Step != run.Building || st.Status != run.StepDone {
			t.Fatalf("last step %+v", st)
		}
		end := cl.next(t, "end")
		if e := decode[EndData](t, end); e.Status != run.StatusSuccess || e.Step != run.Complete {
			t.Fatalf("end %+v", e)
		}
		if cur, err := ParseCursor(end.ID); err != nil || !cur.End || cur.Artifact == 0 || cur.Log == 0 || cur.Step == 0 {
			t.Fatalf("end id %q: %+v, %v", end.ID, cur, err)
		}
		if rest := cl.ended(t); len(rest) != 0 {
			t.Fatalf("events after end: %+v", rest)
		}
		eventually(t, "the poller stops with the run", func() bool { return s.hub.Watched() == 0 && s.hub.Subscribers() == 0 })
	})
}

// Ids along a whole stream, replay and live, never go back.
func TestSSEIdsAreMonotonic(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB, c *storetest.Clock) {
		s := startServer(t, db, c, Options{})
		id := s.newRun(t)
		s.enter(t, id, run.Validating)
		s.logs(t, id, "a", "b")
		cl := s.follow(t, id, "")
		s.enter(t, id, run.Building)
		s.logs(t, id, "c")
		s.artifact(t, id, "linux.iso")
		s.logs(t, id, "d")
		s.finish(t, id)
		var prev Cursor
		n := 0
		for _, ev := range cl.ended(t) {
			if ev.ID == "" {
				continue
			}
			cur, err := ParseCursor(ev.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !cursorGE(cur, prev) {
				t.Fatalf("id %q after %q went back", ev.ID, prev)
			}
			prev = cur
			n++
		}
		if !prev.End || n < 8 {
			t.Fatalf("%d events with ids, last %+v", n, prev)
		}
	})
}

// Resuming with Last-Event-ID replays only what came after it, then goes
// on live; resuming after the end is 204 (EventSource stops).
func TestSSEResumes(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB, c *storetest.Clock) {
		s := startServer(t, db, c, Options{})
		id := s.newRun(t)
		s.enter(t, id, run.Validating)
		s.logs(t, id, "1", "2", "3")
		s.enter(t, id, run.Building)
		cl := s.follow(t, id, "")
		var second sseEvent
		for i := 0; i < 2; i++ {
			second = cl.next(t, "log", "step")
			for second.Event != "log" {
				second = cl.next(t, "log", "step")
			}
		}
		if decode[LogData](t, second).Message != "2" {
			t.Fatalf("second line %s", second.Data)
		}
		cl.close()
		eventually(t, "the first client leaves", func() bool { return s.hub.Subscribers() == 0 })

		s.logs(t, id, "4")
		s.artifact(t, id, "linux.iso")
		again := s.follow(t, id, second.ID)
		var msgs []string
		var arts, steps int
		for len(msgs) < 2 || arts < 1 {
			ev := again.next(t, "log", "artifact", "step")
			switch ev.Event {
			case "log":
				msgs = append(msgs, decode[LogData](t, ev).Message)
			case "artifact":
				arts++
			case "step":
				steps++
				st := decode[StepData](t, ev)
				mark := st.StartedAt
				if st.FinishedAt != nil {
					mark = st.FinishedAt
				}
				if from, _ := ParseCursor(second.ID); mark.UnixMilli() < from.Step {
					t.Fatalf("replayed step %+v from before the cursor %q", st, second.ID)
				}
			}
		}
		if fmt.Sprint(msgs) != "[3 4]" || arts != 1 {
			t.Fatalf("replayed lines %v, artifacts %d: want [3 4] and 1", msgs, arts)
		}
		if steps > 2 {
			// Validating's finish and Building's start share the
			// cursor's millisecond: both are sent again, nothing older.
			t.Fatalf("%d step events replayed; want at most the two at the cursor's time", steps)
		}
		s.logs(t, id, "5")
		if l := decode[LogData](t, again.next(t, "log")); l.Message != "5" {
			t.Fatalf("live line %+v", l)
		}
		s.finish(t, id)
		if st := decode[StepData](t, again.next(t, "step")); st.Status != run.StepDone {
			t.Fatalf("last step %+v", st)
		}
		end := again.next(t, "end")
		again.ended(t)

		resp := s.get(t, id, end.ID)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("resume after end: %s, want 204", resp.Status)
		}
		// A finished run replays whole to a new client, then ends.
		all := s.follow(t, id, "")
		var lines int
		for _, ev := range all.ended(t) {
			if ev.Event == "log" {
				lines++
			}
		}
		if lines != 5 {
			t.Fatalf("finished run replayed %d lines, want 5", lines)
		}
	})
}

// Unknown and refused runs get the same 404; bad ids 404; a bad
// Last-Event-ID 400.
func TestSSERefusals(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB, c *storetest.Clock) {
		s := startServer(t, db, c, Options{})
		id := s.newRun(t)
		body := func(resp *http.Response) string {
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return fmt.Sprintf("%d %s", resp.StatusCode, b)
		}
		ctx := t.Context()
		unknown := body(s.getCtx(t, ctx, id+1000, "", "Bearer ok"))
		refused := body(s.getCtx(t, ctx, id, "", "Bearer nope"))
		hiddenRun := body(s.getCtx(t, ctx, hidden, "", "Bearer ok"))
		if unknown != refused || unknown != hiddenRun || unknown[:3] != "404" {
			t.Fatalf("unknown %q, refused %q, hidden %q: want one 404", unknown, refused, hiddenRun)
		}
		for _, bad := range []string{"0", "-1", "x", "99999999999999999999999"} {
			resp, err := http.Get(s.base + "/api/v1/builds/" + bad + "/events")
			if err != nil {
				t.Fatal(err)
			}
			if got := body(resp); got != unknown {
				t.Fatalf("id %q: %q, want %q", bad, got, unknown)
			}
		}
		if got := body(s.getCtx(t, ctx, id, "1-2", "Bearer ok")); got[:3] != "400" {
			t.Fatalf("bad Last-Event-ID: %q", got)
		}
		if s.hub.Subscribers() != 0 || s.hub.Watched() != 0 {
			t.Fatalf("refusals left %d subscribers, %d watches", s.hub.Subscribers(), s.hub.Watched())
		}
	})
}

// Subscribers are capped per run and in total: 503 beyond.
func TestSSECaps(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB, c *storetest.Clock) {
		s := startServer(t, db, c, Options{MaxPerRun: 2, MaxSubscribers: 3})
		a, b := s.newRun(t), s.newRun(t)
		s.follow(t, a, "")
		s.follow(t, a, "")
		resp := s.get(t, a, "")
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("third on one run: %s", resp.Status)
		}
		s.follow(t, b, "")
		resp = s.get(t, b, "")
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("fourth in all: %s", resp.Status)
		}
		if n := s.hub.Subscribers(); n != 3 {
			t.Fatalf("%d subscribers, want 3", n)
		}
	})
}
