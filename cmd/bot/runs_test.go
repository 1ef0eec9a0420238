package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	linuxbuilder "github.com/linux-builder/linux-builder"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
)

// bot runs list and show read the store an operator points them at: a
// filter narrows the list, show gives steps, artifacts and the end of the
// log, with a stranger's escape sequences defused; bad input is a usage
// error, a missing run an error that says so.
func TestRunsCommands(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("DATABASE_URL", "")
	ctx := context.Background()
	db, err := store.Open(ctx, store.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if code, _, errs := runBot(t, "", "runs", "list", "--data-dir", dir); code != 1 || !strings.Contains(errs, "migrat") {
		t.Fatalf("list on a database never migrated: %d %s", code, errs)
	}
	if _, err := db.MigrateUp(ctx, linuxbuilder.Migrations); err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, repo := range []string{"o/a", "o/b", "o/a"} {
		r := &store.Run{Trigger: run.TriggerPush, Repo: repo, Ref: "refs/heads/main", HeadSHA: "abc", SpecPath: "linux-build.yaml",
			FailureReason: "docker build failed: \x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J step 3 \u202etxt.exe"}
		if err := db.CreateRun(ctx, r); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	last := ids[2]
	if err := db.EnterStep(ctx, last, run.Building); err != nil {
		t.Fatal(err)
	}
	if err := db.AppendLogs(ctx, []store.RunLog{{RunID: last, Step: "BUILDING", Level: run.LogInfo, Message: "hello \x1b]0;pwned\x07 world", At: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	if err := db.AddArtifact(ctx, &store.Artifact{RunID: last, Name: "linux.iso", Type: run.ArtifactISO, Location: "/x/linux.iso", Size: 7, SHA256: "ff"}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	bot := func(args ...string) (int, string, string) { return runBot(t, "", append(args, "--data-dir", dir)...) }
	code, out, errs := bot("runs", "list", "--repo", "o/a", "--json")
	if code != 0 {
		t.Fatalf("list: %d %s", code, errs)
	}
	var views []runView
	if err := json.Unmarshal([]byte(out), &views); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(views) != 2 || views[0].ID != last || views[1].ID != ids[0] {
		t.Fatalf("list --repo o/a: %+v", views)
	}
	if code, out, _ = bot("runs", "list", "--status", "IN_PROGRESS"); code != 0 || !strings.Contains(out, "BUILDING") || strings.Count(out, "\n") != 2 {
		t.Fatalf("list --status: %d %q", code, out)
	}
	code, out, errs = bot("runs", "show", "3")
	if code != 0 {
		t.Fatalf("show: %d %s", code, errs)
	}
	for _, want := range []string{"run 3: IN_PROGRESS", "linux.iso", "hello \uFFFD]0;pwned\uFFFD world"} {
		if !strings.Contains(out, want) {
			t.Fatalf("show lacks %q:\n%s", want, out)
		}
	}
	if strings.ContainsAny(out, "\x1b\x07\u202e") {
		t.Fatalf("show printed a control or format character from the log or the failure reason:\n%q", out)
	}
	if code, _, errs = bot("runs", "list", "--status", "DONE"); code != 2 || !strings.Contains(errs, "--status") {
		t.Fatalf("bad status: %d %s", code, errs)
	}
	if code, _, errs = bot("runs", "show", "99"); code != 1 || !strings.Contains(errs, "not found") {
		t.Fatalf("missing run: %d %s", code, errs)
	}
	if code, _, _ = bot("runs", "show", "x"); code != 2 {
		t.Fatalf("bad id: %d", code)
	}
}

// Usage text never shows the database password from DATABASE_URL: --help
// and a mistyped flag print it, often into a deployment's logs.
func TestUsageHidesTheDatabasePassword(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://lb:S3cretPW@db.example/lb")
	for _, args := range [][]string{{"serve", "--help"}, {"worker", "--help"}, {"migrate", "up", "--help"}, {"runs", "list", "--help"}} {
		_, out, errs := runBot(t, "", args...)
		if strings.Contains(out+errs, "S3cretPW") {
			t.Fatalf("bot %v printed the database password:\n%s%s", args, out, errs)
		}
		if !strings.Contains(out+errs, "database-url") {
			t.Fatalf("bot %v printed no usage:\n%s%s", args, out, errs)
		}
	}
}
