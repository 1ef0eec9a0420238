package resolve

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/linux-builder/linux-builder/internal/ai"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/webhook"
	"github.com/linux-builder/linux-builder/internal/webhook/webhooktest"

	linuxbuilder "github.com/linux-builder/linux-builder"
	"github.com/linux-builder/linux-builder/internal/github"
	"github.com/linux-builder/linux-builder/internal/github/githubtest"
	"github.com/linux-builder/linux-builder/internal/queue"
	"github.com/linux-builder/linux-builder/internal/render"
	"github.com/linux-builder/linux-builder/internal/report"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

const secret = webhooktest.Secret

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

const (
	testInstallation = 4242
	testRepo         = "Codertocat/Hello-World" // the repository of the recorded payloads
	maintainer       = "maintainer"
	outsider         = "forker"
)

// waitingRunner stands in for the pipeline: these tests are about which
// runs are made and cancelled, not about building them. A run starts and
// stays running until it is cancelled, and then ends CANCELLED, as the
// pipeline does.
type waitingRunner struct {
	db *store.DB
	q  *queue.Inserter
}

func (r waitingRunner) Run(ctx context.Context, id int64) error {
	if run, err := r.db.Run(ctx, id); err != nil || run.Status.Terminal() {
		return err
	}
	if err := r.db.EnterStep(ctx, id, run.Validating); err != nil {
		return nil // cancelled before it started
	}
	_ = r.q.Sync(ctx, id, run.SyncState)
	<-ctx.Done()
	err := r.db.Finish(context.WithoutCancel(ctx), id, run.Cancelled, "cancelled")
	_ = r.q.Sync(context.WithoutCancel(ctx), id, run.SyncState) // as the pipeline's reporter does
	return err
}

// stack is the bot's intake with real queue workers deciding deferred
// deliveries against the fake GitHub.
type stack struct {
	events *Events
	app    *fiber.App
	db     *store.DB
	gh     *githubtest.Server
	seq    int
	mu     sync.Mutex
	t      *testing.T
	appC   *github.App
}

func newStack(t *testing.T, db *store.DB) *stack {
	t.Helper()
	fake := githubtest.New(t)
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	key := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	gh, err := github.NewApp(github.Config{AppID: 1, PrivateKey: key, APIURL: fake.APIURL()})
	if err != nil {
		t.Fatal(err)
	}
	// The insert side first, then the handlers with it, then the worker
	// side over them: as cmd/bot wires them.
	ins, err := queue.NewInserter(db, queue.InserterConfig{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	events := &Events{GitHub: gh, Store: db, Jobs: ins, Logger: quiet}
	reports, err := render.NewReporter(linuxbuilder.Templates)
	if err != nil {
		t.Fatal(err)
	}
	checks := &report.Checks{GitHub: gh, Store: db, Reports: reports, Logger: quiet}
	q, err := queue.NewWorker(ins, queue.WorkerConfig{Workers: 1, Runner: waitingRunner{db, ins}, Events: events, Syncer: checks,
		Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stopCtx, c := context.WithTimeout(context.Background(), 10*time.Second)
		defer c()
		_ = q.Stop(stopCtx)
		cancel()
	})
	c := store.NewCommitter(db, ins, 0, 0)
	t.Cleanup(c.Close)
	app, err := webhook.New(webhook.Config{Secret: secret, AppID: 1, Store: db, Intake: c, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	fake.SetPermission(testRepo, maintainer, "write")
	return &stack{events: events, app: app, db: db, gh: fake, t: t, appC: gh}
}

// send posts a recorded payload, edited, and returns the delivery as
// finally decided (waiting for the event job when it was deferred).
func (s *stack) send(event, file string, edit func(m map[string]any)) *store.Delivery {
	s.t.Helper()
	b, err := os.ReadFile("../../testdata/github/webhooks/" + event + "/" + file)
	if err != nil {
		s.t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		s.t.Fatal(err)
	}
	m["installation"] = map[string]any{"id": testInstallation, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMQ=="}
	if edit != nil {
		edit(m)
	}
	s.mu.Lock()
	s.seq++
	id := fmt.Sprintf("%s-%d", event, s.seq)
	s.mu.Unlock()
	// Every GitHub delivery has a body of its own (ids, timestamps); the
	// same body under a new delivery id is a replay and does nothing.
	m["test_delivery"] = id
	b, _ = json.Marshal(m)
	if code, body := webhooktest.Post(s.t, s.app, event, id, b, webhook.Sign(secret, b)); code != 202 {
		s.t.Fatalf("%s %s: %d %s", event, file, code, body)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		d, err := s.db.Delivery(context.Background(), 1, id)
		if err != nil {
			s.t.Fatal(err)
		}
		if d.Outcome != store.OutcomeDeferred {
			return d
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("delivery %s still deferred: %+v", id, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitEnded waits until every run has ended.
func (s *stack) waitEnded() []store.Run {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		runs := s.runs()
		active := 0
		for _, r := range runs {
			if !r.Status.Terminal() {
				active++
			}
		}
		if active == 0 {
			return runs
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%d runs still active: %+v", active, runs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *stack) runs() []store.Run {
	s.t.Helper()
	runs, err := s.db.ListRuns(context.Background(), store.RunFilter{})
	if err != nil {
		s.t.Fatal(err)
	}
	return runs
}

// waitComments waits until n comments were posted and returns them.
func (s *stack) waitComments(n int) []githubtest.Comment {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := s.gh.Comments()
		if len(c) >= n || time.Now().After(deadline) {
			if len(c) != n {
				s.t.Fatalf("%d comments, want %d: %+v", len(c), n, c)
			}
			return c
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pullRequest edits a pull_request payload to be number 7 of testRepo at
// head sha from headRepo, sent by sender.
func pullRequest(action, sha, headRepo, sender string) func(m map[string]any) {
	return func(m map[string]any) {
		m["action"], m["number"] = action, 7
		m["repository"].(map[string]any)["full_name"] = testRepo
		pr := m["pull_request"].(map[string]any)
		pr["number"] = 7
		head := pr["head"].(map[string]any)
		head["sha"] = sha
		head["repo"] = map[string]any{"full_name": headRepo}
		pr["base"].(map[string]any)["repo"] = map[string]any{"full_name": testRepo}
		m["sender"] = map[string]any{"login": sender, "type": "User"}
	}
}

// comment edits an issue_comment payload: body by sender on number 7 of
// testRepo (a pull request when pr is set).
func comment(body, sender string, pr bool) func(m map[string]any) {
	return func(m map[string]any) {
		m["action"] = "created"
		m["repository"].(map[string]any)["full_name"] = testRepo
		issue := m["issue"].(map[string]any)
		issue["number"] = 7
		delete(issue, "pull_request")
		if pr {
			issue["pull_request"] = map[string]any{"url": "https://api.github.com/repos/" + testRepo + "/pulls/7"}
		}
		c := m["comment"].(map[string]any)
		c["body"], c["user"] = body, map[string]any{"login": sender, "type": "User"}
		m["sender"] = map[string]any{"login": sender, "type": "User"}
	}
}

const (
	shaA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	shaB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

// A fork's pull request builds only after a maintainer's "/build
// approve", and the approval covers only the commit it was given for.
func TestForkPullRequestNeedsApprovalPerCommit(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB, _ *storetest.Clock) {
		s := newStack(t, db)
		fork := "forker/Hello-World"
		s.gh.SetPullRequest(githubtest.PullRequest{Repo: testRepo, Number: 7, HeadSHA: shaA, HeadRepo: fork, Author: outsider,
			Files: []githubtest.File{{Name: "README.md", Status: "modified"}, {Name: "linux-build.yaml", Status: "added"}}})
		d := s.send("pull_request", "00-opened.json", pullRequest("opened", shaA, fork, outsider))
		if d.Outcome != store.OutcomeIgnored || !strings.Contains(d.Reason, "awaiting approval") || d.RunID != nil {
			t.Fatalf("fork PR opened: %+v", d)
		}
		if c := s.waitComments(1); !strings.Contains(c[0].Body, "/build approve") || c[0].Number != 7 {
			t.Fatalf("approval request %+v", c[0])
		}
		// The fork's author cannot approve their own pull request.
		d = s.send("issue_comment", "00-created.json", comment("/build approve "+shaA, outsider, true))
		if d.Outcome != store.OutcomeRejected || len(s.runs()) != 0 {
			t.Fatalf("self-approval: %+v, %d runs", d, len(s.runs()))
		}
		// The pull request had its refusal comment this hour (the
		// approval request): the refused command gets a 👎.
		s.waitReactions("-1", 1)
		// A maintainer's approval builds commit A.
		d = s.send("issue_comment", "00-created.json", comment("/build approve "+shaA, maintainer, true))
		runs := s.runs()
		if d.Outcome != store.OutcomeQueued || len(runs) != 1 || runs[0].HeadSHA != shaA || *d.RunID != runs[0].ID ||
			runs[0].Trigger != run.TriggerPullRequest || runs[0].Ref != "refs/pull/7/head" {
			t.Fatalf("approval: %+v, runs %+v", d, runs)
		}
		if c := s.waitComments(2); !strings.Contains(c[1].Body, fmt.Sprintf("run %d", runs[0].ID)) {
			t.Fatalf("approval reply %q", c[1].Body)
		}
		// A new push to the fork: the approval of A does not cover B.
		s.gh.SetPullRequest(githubtest.PullRequest{Repo: testRepo, Number: 7, HeadSHA: shaB, HeadRepo: fork, Author: outsider,
			Files: []githubtest.File{{Name: "linux-build.yaml", Status: "added"}}})
		d = s.send("pull_request", "00-opened.json", pullRequest("synchronize", shaB, fork, outsider))
		if d.Outcome != store.OutcomeIgnored || !strings.Contains(d.Reason, "fork") || len(s.runs()) != 1 {
			t.Fatalf("synchronize to B: %+v, %d runs", d, len(s.runs()))
		}
		// Approving B builds B and supersedes A's run.
		d = s.send("issue_comment", "00-created.json", comment("/build approve "+shaB[:7], maintainer, true))
		runs = s.runs()
		if d.Outcome != store.OutcomeQueued || len(runs) != 2 || runs[0].HeadSHA != shaB {
			t.Fatalf("after approving B: %+v %+v", d, runs)
		}
		if a, _ := db.Run(context.Background(), runs[1].ID); a.SupersededBy == nil || *a.SupersededBy != runs[0].ID {
			t.Fatalf("run of A not superseded: %+v", a)
		}
		if _, ok, _ := db.Approved(context.Background(), testRepo, 7, shaB); !ok {
			t.Fatal("approval of B not recorded")
		}
		// The redelivered synchronize of B now builds (approved): coalesced
		// into B's queued run, or a new one if it already ran.
		d = s.send("pull_request", "00-opened.json", pullRequest("synchronize", shaB, fork, outsider))
		if d.Outcome != store.OutcomeQueued {
			t.Fatalf("approved commit not built: %+v", d)
		}
	})
}

// Same-repository pull requests build when their author may write; others
// wait for approval; pull requests that do not touch the spec are ignored.
func TestSameRepositoryPullRequests(t *testing.T) {
	s := newStack(t, storetest.SQLite(t, nil))
	s.gh.SetPermission(testRepo, "reader", "read")
	spec := []githubtest.File{{Name: "linux-build.yaml", Status: "modified"}}
	s.gh.SetPullRequest(githubtest.PullRequest{Repo: testRepo, Number: 7, HeadSHA: shaA, HeadRepo: testRepo, Author: maintainer, Files: spec})
	d := s.send("pull_request", "00-opened.json", pullRequest("opened", shaA, testRepo, maintainer))
	if d.Outcome != store.OutcomeQueued || d.RunID == nil {
		t.Fatalf("writer's PR: %+v", d)
	}
	s.gh.SetPullRequest(githubtest.PullRequest{Repo: testRepo, Number: 7, HeadSHA: shaB, HeadRepo: testRepo, Author: "reader", Files: spec})
	d = s.send("pull_request", "00-opened.json", pullRequest("synchronize", shaB, testRepo, "reader"))
	if d.Outcome != store.OutcomeIgnored || !strings.Contains(d.Reason, "@reader has read permission") {
		t.Fatalf("reader's push: %+v", d)
	}
	s.gh.SetPullRequest(githubtest.PullRequest{Repo: testRepo, Number: 7, HeadSHA: shaB, HeadRepo: testRepo, Author: maintainer,
		Files: []githubtest.File{{Name: "linux-build.yaml", Status: "removed"}, {Name: "docs/linux-build.yaml", Status: "added"}}})
	d = s.send("pull_request", "00-opened.json", pullRequest("synchronize", shaB, testRepo, maintainer))
	if d.Outcome != store.OutcomeIgnored || !strings.Contains(d.Reason, "not changed") {
		t.Fatalf("PR without the spec: %+v", d)
	}
	// Many files: the listing is paginated.
	var many []githubtest.File
	for i := range 250 {
		many = append(many, githubtest.File{Name: fmt.Sprintf("f%03d", i), Status: "added"})
	}
	many = append(many, spec...)
	s.gh.SetPullRequest(githubtest.PullRequest{Repo: testRepo, Number: 7, HeadSHA: shaB, HeadRepo: testRepo, Author: maintainer, Files: many})
	d = s.send("pull_request", "00-opened.json", pullRequest("synchronize", shaB, testRepo, maintainer))
	if d.Outcome != store.OutcomeQueued {
		t.Fatalf("spec on the third page of files: %+v", d)
	}
	// Closing the pull request cancels its active runs.
	d = s.send("pull_request", "00-opened.json", pullRequest("closed", shaB, testRepo, maintainer))
	for _, r := range s.waitEnded() {
		if r.Status != run.StatusCancelled {
			t.Fatalf("run %d is %s after the PR closed (%+v)", r.ID, r.Status, d)
		}
	}
	if len(s.gh.Comments()) != 0 {
		t.Fatalf("comments on a same-repository PR: %+v", s.gh.Comments())
	}
}

func TestCommentCommands(t *testing.T) {
	s := newStack(t, storetest.SQLite(t, nil))
	s.gh.SetPullRequest(githubtest.PullRequest{Repo: testRepo, Number: 7, HeadSHA: shaA, HeadRepo: testRepo, Author: maintainer})
	n := 0
	reply := func(want string) {
		t.Helper()
		n++
		if c := s.waitComments(n); !strings.Contains(c[n-1].Body, want) {
			t.Fatalf("reply %d %q, want it to contain %q", n, c[n-1].Body, want)
		}
	}
	d := s.send("issue_comment", "00-created.json", comment("/build help", outsider, false))
	if d.Outcome != store.OutcomeIgnored {
		t.Fatalf("help %+v", d)
	}
	reply("/build approve")
	s.send("issue_comment", "00-created.json", comment("/BUILD", maintainer, false))
	reply("works on pull requests")
	if len(s.runs()) != 0 {
		t.Fatal("/build on an issue built")
	}
	d = s.send("issue_comment", "00-created.json", comment("  /build\r\nplease", maintainer, true))
	runs := s.runs()
	if d.Outcome != store.OutcomeQueued || len(runs) != 1 || runs[0].Trigger != run.TriggerComment || runs[0].HeadSHA != shaA || *runs[0].Number != 7 {
		t.Fatalf("/build on the PR: %+v %+v", d, runs)
	}
	// The reply names the run (it may already be its status comment).
	reply(fmt.Sprintf("run %d", runs[0].ID))
	s.send("issue_comment", "00-created.json", comment("/build retry", maintainer, true))
	runs = s.runs()
	if len(runs) != 2 || runs[0].Trigger != run.TriggerRerun || runs[0].HeadSHA != shaA || runs[0].RequestedBy != maintainer || !runs[0].NoCache || runs[1].NoCache {
		t.Fatalf("retry: %+v", runs)
	}
	reply(fmt.Sprintf("run %d", runs[0].ID))
	s.send("issue_comment", "00-created.json", comment("/build cancel", maintainer, true))
	reply("cancelled 2 runs")
	for _, r := range s.waitEnded() {
		if r.Status != run.StatusCancelled {
			t.Fatalf("run %d %s after /build cancel", r.ID, r.Status)
		}
	}
	// The comment-triggered runs: 👀 on the command, the reply edited in
	// place as the run ends, 😕 for a cancelled run.
	built, _ := s.db.Run(context.Background(), runs[1].ID)
	if built.CommentID == nil || built.SourceComment == nil {
		t.Fatalf("comment run %+v", built)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		var edited *githubtest.Comment
		for _, c := range s.gh.Comments() {
			if c.ID == *built.CommentID && c.Edits > 0 && strings.HasPrefix(c.Body, "Cancelled — run ") {
				edited = &c
			}
		}
		reacted := map[string]bool{}
		for _, r := range s.gh.Reactions() {
			if r.CommentID == *built.SourceComment {
				reacted[r.Content] = true
			}
		}
		if edited != nil && reacted["eyes"] && reacted["confused"] {
			if !strings.Contains(edited.Body, "check run") {
				t.Fatalf("status comment without the check run link: %q", edited.Body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status comment %v / reactions %v", s.gh.Comments(), s.gh.Reactions())
		}
		time.Sleep(50 * time.Millisecond)
	}
	d = s.send("issue_comment", "00-created.json", comment("/build a minimal debian with zsh", maintainer, false))
	if d.Outcome != store.OutcomeIgnored || !strings.Contains(d.Reason, "no AI service") {
		t.Fatalf("prompt: %+v", d)
	}
	reply("OLLAMA_URL")
	// Not commands: edits, quotes, code, bots.
	for _, edit := range []func(map[string]any){
		func(m map[string]any) { comment("/build", maintainer, true)(m); m["action"] = "edited" },
		comment("> /build\n\nI agree", maintainer, true),
		comment("```\n/build\n```", maintainer, true),
		comment("    /build", maintainer, true),
		func(m map[string]any) {
			comment("/build", "linux-builder[bot]", true)(m)
			m["sender"].(map[string]any)["type"] = "Bot"
		},
	} {
		if d := s.send("issue_comment", "00-created.json", edit); d.Outcome != store.OutcomeIgnored || d.RunID != nil {
			t.Fatalf("not a command, yet %+v", d)
		}
	}
	if got := len(s.gh.Comments()); got != n {
		t.Fatalf("%d replies, want %d", got, n)
	}
}

func TestCheckRunButtons(t *testing.T) {
	s := newStack(t, storetest.SQLite(t, nil))
	ctx := context.Background()
	spec := []githubtest.File{{Name: "linux-build.yaml", Status: "modified"}}
	s.gh.SetPullRequest(githubtest.PullRequest{Repo: testRepo, Number: 7, HeadSHA: shaA, HeadRepo: testRepo, Author: maintainer, Files: spec})
	sent := time.Now()
	first := s.send("pull_request", "00-opened.json", pullRequest("opened", shaA, testRepo, maintainer))
	runID := *first.RunID
	// Its check run appears on the head commit at once, with a Cancel button.
	cr := s.waitCheckRun(runID, func(c githubtest.CheckRun) bool { return c.Status != "" })
	t.Logf("check run on GitHub %s after the pull_request webhook (deferred decision included)", time.Since(sent).Round(time.Millisecond))
	if cr.HeadSHA != shaA || cr.Actions[0]["identifier"] != run.ActionCancel {
		t.Fatalf("check run of the PR run: %+v", cr)
	}
	checkRun := func(action, identifier, externalID string, app int) func(m map[string]any) {
		return func(m map[string]any) {
			m["action"] = action
			m["repository"].(map[string]any)["full_name"] = testRepo
			cr := m["check_run"].(map[string]any)
			cr["external_id"], cr["head_sha"] = externalID, shaA
			cr["app"].(map[string]any)["id"] = app
			if identifier != "" {
				m["requested_action"] = map[string]any{"identifier": identifier}
			}
			m["sender"] = map[string]any{"login": maintainer}
		}
	}
	// Another app's check run is not ours.
	if d := s.send("check_run", "07-rerequested.json", checkRun("rerequested", "", fmt.Sprint(runID), 999)); d.RunID != nil || !strings.Contains(d.Reason, "another app") {
		t.Fatalf("foreign check run: %+v", d)
	}
	d := s.send("check_run", "07-rerequested.json", checkRun("rerequested", "", fmt.Sprint(runID), 1))
	if d.Outcome != store.OutcomeQueued || d.RunID == nil || *d.RunID == runID {
		t.Fatalf("re-run: %+v", d)
	}
	again, _ := db(s).Run(ctx, *d.RunID)
	if again.Trigger != run.TriggerRerun || again.HeadSHA != shaA || again.Ref != "refs/pull/7/head" || *again.Number != 7 || !again.NoCache {
		t.Fatalf("rerun %+v", again)
	}
	// Cancel button on the rerun.
	d = s.send("check_run", "06-requested_action.json", checkRun("requested_action", run.ActionCancel, fmt.Sprint(again.ID), 1))
	if r, _ := db(s).Run(ctx, again.ID); r.Status != run.StatusCancelled || !strings.Contains(r.FailureReason, "cancelled by maintainer") {
		t.Fatalf("cancel: %+v → %+v", d, r)
	}
	if cr := s.waitCheckRun(again.ID, func(c githubtest.CheckRun) bool { return c.Conclusion != "" }); cr.Conclusion != "cancelled" ||
		cr.Actions[0]["identifier"] != run.ActionRebuild {
		t.Fatalf("check run of the cancelled run: %+v", cr)
	}
	// Rebuild button without an external id: the newest run of the commit.
	d = s.send("check_run", "06-requested_action.json", checkRun("requested_action", run.ActionRebuild, "", 1))
	if d.Outcome != store.OutcomeQueued || d.RunID == nil {
		t.Fatalf("rebuild: %+v", d)
	}
	// Re-run all checks of the suite.
	d = s.send("check_suite", "07-rerequested.json", func(m map[string]any) {
		m["repository"].(map[string]any)["full_name"] = testRepo
		cs := m["check_suite"].(map[string]any)
		cs["head_sha"] = shaA
		cs["app"].(map[string]any)["id"] = 1
	})
	if d.Outcome != store.OutcomeQueued || d.RunID == nil {
		t.Fatalf("check suite re-run: %+v", d)
	}
	d = s.send("check_suite", "07-rerequested.json", func(m map[string]any) {
		m["repository"].(map[string]any)["full_name"] = testRepo
		cs := m["check_suite"].(map[string]any)
		cs["head_sha"] = shaB
		cs["app"].(map[string]any)["id"] = 1
	})
	if d.Outcome != store.OutcomeIgnored || !strings.Contains(d.Reason, "no run") {
		t.Fatalf("suite of an unknown commit: %+v", d)
	}
}

func db(s *stack) *store.DB { return s.db }

// waitCheckRun waits for run id's check run to satisfy ok.
func (s *stack) waitCheckRun(id int64, ok func(githubtest.CheckRun) bool) githubtest.CheckRun {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		for _, c := range s.gh.CheckRuns() {
			if c.ExternalID == fmt.Sprint(id) && ok(c) {
				return c
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("no check run of run %d as wanted: %+v", id, s.gh.CheckRuns())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRedeliverMissedDeliveries(t *testing.T) {
	s := newStack(t, storetest.SQLite(t, nil))
	ctx := context.Background()
	now := time.Now()
	// One recorded delivery: GitHub saw a timeout, but the bot has it.
	if _, err := s.db.Intake(ctx, &store.IntakeItem{Delivery: &store.Delivery{AppID: 1, DeliveryID: "g-recorded", Event: "push",
		Outcome: store.OutcomeIgnored, PayloadSHA256: "x"}, Intent: store.Intent{Outcome: store.OutcomeIgnored}}, nil); err != nil {
		t.Fatal(err)
	}
	add := func(id int64, guid string, code int, age time.Duration) {
		s.gh.AddDelivery(githubtest.HookDelivery{ID: id, GUID: guid, StatusCode: code, DeliveredAt: now.Add(-age), Event: "push"})
	}
	add(1, "g-old", 503, 30*time.Hour)       // outside the window
	add(2, "g-exhausted", 503, 5*time.Hour)  // four failed attempts: given up
	add(3, "g-exhausted", 503, 4*time.Hour)  //
	add(4, "g-exhausted", 503, 3*time.Hour)  //
	add(5, "g-exhausted", 503, 2*time.Hour)  //
	add(6, "g-fixed", 503, 2*time.Hour)      // failed, then redelivered fine
	add(7, "g-fixed", 202, time.Hour)        //
	add(8, "g-badsig", 401, time.Hour)       // a redelivery would fail the same way
	add(9, "g-recorded", 0, time.Hour)       // timed out at GitHub, recorded here
	add(10, "g-missed", 503, 50*time.Minute) // the database was down
	add(11, "g-timeout", 0, 40*time.Minute)  // the bot was down
	for i := range 150 {                     // push the interesting ones past the first page
		add(int64(100+i), fmt.Sprintf("g-ok-%d", i), 202, time.Duration(150-i)*time.Second)
	}
	r := &Redeliverer{GitHub: s.appC, Store: s.db, AppID: 1, Logger: quiet}
	if err := r.RedeliverMissed(ctx); err != nil {
		t.Fatal(err)
	}
	got := s.gh.Redelivered()
	if fmt.Sprint(got) != "[11 10]" {
		t.Fatalf("redelivered %v, want [11 10]", got)
	}
	calls := strings.Join(s.gh.Calls(), "\n")
	if strings.Count(calls, "GET /app/hook/deliveries") != 2 {
		t.Fatalf("want two pages of deliveries:\n%s", calls)
	}
}

// fakeModel is an Ollama that answers every chat with answer.
func fakeModel(t *testing.T, answer string) *ai.Generator {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/version" {
			fmt.Fprint(w, `{"version":"0.6.2"}`)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"message": map[string]string{"role": "assistant", "content": answer}, "done": true})
	}))
	t.Cleanup(srv.Close)
	g, err := ai.NewGenerator(&ai.Client{URL: srv.URL, Timeout: 5 * time.Second}, linuxbuilder.Templates, linuxbuilder.Example)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// "/build <description>" on an issue: the generated spec is shown in the
// reply and built at the default branch's head; with --pr it is also
// proposed as a pull request adding linux-build.yaml.
func TestPromptBuilds(t *testing.T) {
	s := newStack(t, storetest.SQLite(t, nil))
	s.events.Prompter = &PromptBuilds{GitHub: s.appC, Generator: fakeModel(t,
		"<think>zsh on debian</think>```json\n{\"name\":\"zsh box\",\"base\":\"debian\",\"customization\":{\"shell\":\"zsh\"}}\n```")}
	s.gh.SetBranch(testRepo, "main", shaA)
	d := s.send("issue_comment", "00-created.json", func(m map[string]any) {
		comment("/build a minimal debian with zsh", maintainer, false)(m)
		m["repository"].(map[string]any)["default_branch"] = "main"
	})
	if d.Outcome != store.OutcomeQueued || d.RunID == nil {
		t.Fatalf("prompt: %+v", d)
	}
	c := s.waitComments(1)[0]
	// The reply becomes the run's status comment once it is posted.
	var run *store.Run
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		run, _ = s.db.Run(context.Background(), *d.RunID)
		if run.CommentID != nil || time.Now().After(deadline) {
			break
		}
	}
	if logs, err := s.db.Logs(context.Background(), run.ID, 0, 10); err != nil || len(logs) < 2 || !strings.Contains(logs[1].Message, "generate: attempt 1: a valid spec") {
		t.Fatalf("the run's log does not say how its spec was made: %+v %v", logs, err)
	}
	if run.HeadSHA != shaA || run.Ref != "refs/heads/main" || run.Prompt != "a minimal debian with zsh" ||
		!strings.Contains(run.SpecSource, "shell: zsh") || run.CommentID == nil {
		t.Fatalf("run %+v", run)
	}
	if !strings.Contains(c.Body, "<details>") || !strings.Contains(c.Body, "base: debian") || !strings.Contains(c.Body, fmt.Sprintf("run %d", run.ID)) {
		t.Fatalf("reply %q", c.Body)
	}
	// The status comment keeps the spec as it is edited.
	cr := s.waitCheckRun(run.ID, func(c githubtest.CheckRun) bool { return c.Status == "in_progress" })
	if cr.HeadSHA != shaA {
		t.Fatalf("check run on %s", cr.HeadSHA)
	}
	// --pr: a pull request adding the spec.
	d = s.send("issue_comment", "00-created.json", func(m map[string]any) {
		comment("/build --pr a minimal debian with zsh", maintainer, false)(m)
		m["repository"].(map[string]any)["default_branch"] = "main"
	})
	if d.Outcome != store.OutcomeQueued {
		t.Fatalf("--pr: %+v", d)
	}
	prs := s.gh.CreatedPRs()
	if len(prs) != 1 || prs[0].Base != "main" || !strings.HasPrefix(prs[0].Head, "linux-builder/spec-") ||
		!strings.Contains(string(prs[0].Files["linux-build.yaml"]), "shell: zsh") {
		t.Fatalf("pull requests %+v", prs)
	}
	if c := s.waitComments(2)[1]; !strings.Contains(c.Body, "https://github.com/"+testRepo+"/pull/100") { // kept in the status comment
		t.Fatalf("reply without the pull request: %q", c.Body)
	}
	// A model that never makes a valid spec: a clear reply, no run.
	s.events.Prompter = &PromptBuilds{GitHub: s.appC, Generator: fakeModel(t, `{"base":"debain"}`)}
	before := len(s.runs())
	d = s.send("issue_comment", "00-created.json", comment("/build something odd", maintainer, false))
	if d.Outcome != store.OutcomeRejected || len(s.runs()) != before {
		t.Fatalf("invalid spec: %+v", d)
	}
	if c := s.waitComments(3)[2]; !strings.Contains(c.Body, `unknown value "debain"`) {
		t.Fatalf("reply %q", c.Body)
	}
}
