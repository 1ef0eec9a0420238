package store

import (
	"time"

	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/uptrace/bun"
)

// Run is one build of a spec (the original design's "UserBuild").
type Run struct {
	bun.BaseModel `bun:"table:runs,alias:r"`

	ID             int64       `bun:"id,pk,autoincrement"`
	CreatedAt      time.Time   `bun:"created_at,notnull"`
	UpdatedAt      time.Time   `bun:"updated_at,notnull"`
	Status         run.Status  `bun:"status,notnull"`
	Step           run.State   `bun:"step,notnull"`
	Trigger        run.Trigger `bun:"trigger,notnull"`
	InstallationID *int64      `bun:"installation_id"`
	Repo           string      `bun:"repo,notnull"`
	Ref            string      `bun:"ref,notnull"`
	HeadSHA        string      `bun:"head_sha,notnull"`
	Number         *int        `bun:"number"` // pull request or issue number
	RequestedBy    string      `bun:"requested_by,notnull"`
	Base           string      `bun:"base,notnull"`
	Spec           string      `bun:"spec,notnull"`        // the resolved spec, JSON
	SpecSource     string      `bun:"spec_source,notnull"` // the spec as written
	SpecPath       string      `bun:"spec_path,notnull"`
	Distro         string      `bun:"distro,notnull"`       // base override (bot build --distro)
	ContextHash    string      `bun:"context_hash,notnull"` // render hash: the cache key
	SpecHash       string      `bun:"spec_hash,notnull"`
	KernelVersion  string      `bun:"kernel_version,notnull"`
	InitSystem     string      `bun:"init_system,notnull"`
	Architecture   string      `bun:"architecture,notnull"`
	SecurityLevel  string      `bun:"security_level,notnull"`
	Warnings       []string    `bun:"warnings,notnull"`
	BuildDuration  int64       `bun:"build_duration_ms,notnull"` // milliseconds
	CheckRunID     *int64      `bun:"check_run_id"`
	ReleaseID      *int64      `bun:"release_id"`
	JobID          *int64      `bun:"job_id"`
	SupersededBy   *int64      `bun:"superseded_by"`
	FailureReason  string      `bun:"failure_reason,notnull"`
	// Diagnostics are the spec's errors and warnings with positions
	// (spec.Diagnostics as JSON): the check run's annotations.
	Diagnostics string `bun:"diagnostics,notnull"`
	// PartialReason says why a successful run has the image only (the
	// ISO or the boot test did not succeed): a neutral conclusion.
	PartialReason string `bun:"partial_reason,notnull"`
	// PartialFailed is set when the partial result comes from a failed
	// step (not from the configuration): the cache never reuses the run.
	PartialFailed   bool   `bun:"partial_failed,notnull"`
	AnnotationsSent int    `bun:"annotations_sent,notnull"`
	CommentID       *int64 `bun:"comment_id"`        // the bot's reply comment of a comment-triggered run
	SourceComment   *int64 `bun:"source_comment_id"` // the comment that asked for the run
	// Prompt is the description the spec was generated from (/build
	// <description>); empty for specs from the repository.
	Prompt string `bun:"prompt,notnull"`
	// SpecPRURL is the pull request proposing the generated spec
	// (/build --pr).
	SpecPRURL  string `bun:"spec_pr_url,notnull"`
	ReleaseURL string `bun:"release_url,notnull"`
	// ReleaseDraft is set when the release is a draft (a pull request
	// from a fork): only people with push access see it.
	ReleaseDraft bool `bun:"release_draft,notnull"`
	// ReportError is what could not be reported to GitHub, if anything.
	ReportError string `bun:"report_error,notnull"`
	// NoCache asks for a fresh build: no earlier run's artifacts, no
	// layer of the engine's cache (Rerun sets it; bot build --no-cache).
	NoCache bool `bun:"no_cache,notnull"`
	// NoBootTest asks for no boot test (POST /api/v1/builds?noBootTest=true):
	// the ISO and disk images get no boot-test marker and are not booted.
	// A rebuild of the run keeps it (Rerun).
	NoBootTest bool `bun:"no_boot_test,notnull"`
	// ReportedFinal is set once GitHub shows the run's conclusion.
	ReportedFinal bool `bun:"reported_final,notnull"`
	// DefaultBranch is the repository's default branch when the run was
	// asked for (push runs and their reruns): the latest successful run
	// of that branch is what a spec's schedule rebuilds.
	DefaultBranch string `bun:"default_branch,notnull"`
	// PackageUpdates is, for a scheduled rebuild, the package updates
	// that caused it (JSON: [{"name","old","new"}]); empty otherwise.
	PackageUpdates string `bun:"package_updates,notnull"`
	// RetryReason says why the run is being built again (its worker
	// stopped, or was lost) once an attempt of it ended without ending the
	// run; empty for a run on its first attempt. Check runs show it while
	// the run is not over.
	RetryReason string `bun:"retry_reason,notnull"`
	// APITokenID is the API token that asked for the run (POST
	// /api/v1/builds, a rebuild through the API); nil for the runs of
	// GitHub and the CLI. A read or build token sees only its own runs.
	APITokenID *int64 `bun:"api_token_id"`
}

// Outcome is what intake did with a delivery.
type Outcome string

// Delivery outcomes.
const (
	OutcomeQueued   Outcome = "queued"
	OutcomeIgnored  Outcome = "ignored"
	OutcomeRejected Outcome = "rejected"
)

// Delivery is one GitHub webhook delivery, recorded before it is
// acknowledged. (AppID, DeliveryID) is unique: a redelivery is recognised.
type Delivery struct {
	bun.BaseModel `bun:"table:deliveries,alias:d"`

	ID             int64     `bun:"id,pk,autoincrement"`
	AppID          int64     `bun:"app_id,notnull"`
	DeliveryID     string    `bun:"delivery_id,notnull"`
	Event          string    `bun:"event,notnull"`
	Action         string    `bun:"action,notnull"`
	InstallationID *int64    `bun:"installation_id"`
	Repo           string    `bun:"repo,notnull"`
	ReceivedAt     time.Time `bun:"received_at,notnull"`
	Outcome        Outcome   `bun:"outcome,notnull"`
	Reason         string    `bun:"reason,notnull"`
	PayloadSHA256  string    `bun:"payload_sha256,notnull"`
	RunID          *int64    `bun:"run_id"`
}

// RunStep records when a step of a run started and finished.
type RunStep struct {
	bun.BaseModel `bun:"table:run_steps,alias:s"`

	RunID      int64          `bun:"run_id,pk"`
	Step       run.State      `bun:"step,pk"`
	Status     run.StepStatus `bun:"status,notnull"`
	StartedAt  time.Time      `bun:"started_at,notnull"`
	FinishedAt *time.Time     `bun:"finished_at"`
	DurationMS int64          `bun:"duration_ms,notnull"`
}

// RunLog is one line of a run's log. Logs are append-only.
type RunLog struct {
	bun.BaseModel `bun:"table:run_logs,alias:l"`

	ID      int64        `bun:"id,pk,autoincrement"`
	RunID   int64        `bun:"run_id,notnull"`
	Step    run.State    `bun:"step,notnull"`
	Level   run.LogLevel `bun:"level,notnull"`
	Message string       `bun:"message,notnull"`
	At      time.Time    `bun:"at,notnull"`
}

// Artifact is a file a run produced: an object in the artifact store (Key),
// or an image in a registry (Location).
type Artifact struct {
	bun.BaseModel `bun:"table:artifacts,alias:a"`

	ID    int64            `bun:"id,pk,autoincrement"`
	RunID int64            `bun:"run_id,notnull"`
	Name  string           `bun:"name,notnull"`
	Type  run.ArtifactType `bun:"type,notnull"`
	// Key is the object's key in the artifact store (runs/<run>/<name>);
	// empty for an image reference and for rows recorded before the store.
	Key string `bun:"object_key,notnull"`
	// Location is an image reference's registry name; for a row without a
	// key, the file's absolute path on the machine that built it.
	Location  string     `bun:"location,notnull"`
	Size      int64      `bun:"size,notnull"`
	SHA256    string     `bun:"sha256,notnull"`
	URL       string     `bun:"url,notnull"` // the release asset's download URL, once published
	CreatedAt time.Time  `bun:"created_at,notnull"`
	ExpiresAt *time.Time `bun:"expires_at"`
}

// Installation is a GitHub App installation.
type Installation struct {
	bun.BaseModel `bun:"table:installations,alias:i"`

	ID           int64    `bun:"id,pk"`
	Account      string   `bun:"account,notnull"`
	Suspended    bool     `bun:"suspended,notnull"`
	Repositories []string `bun:"repositories,notnull"`
	// SpecPath is where this installation's repositories keep their spec;
	// empty means the bot's default (linux-build.yaml).
	SpecPath  string    `bun:"spec_path,notnull"`
	CreatedAt time.Time `bun:"created_at,notnull"`
	UpdatedAt time.Time `bun:"updated_at,notnull"`
}

// Rerun is a new run of the same commit, spec path and target as r, asked
// for by by. It is built fresh (NoCache): a rebuild is asked for to pick
// up what changed outside the spec (the distribution's updates), or to
// retry what failed, never to be given the same result again. A rerun of
// a spec generated from a description keeps the description (Prompt): it
// is still that experiment (its report shows it, and RELEASE_KEEP groups
// it with the other generated specs, not with the branch's builds). It
// keeps the run's NoBootTest too: the rebuild is the build that was asked
// for, again.
func (r *Run) Rerun(by string) *Run {
	return &Run{
		Trigger: run.TriggerRerun, InstallationID: r.InstallationID, Repo: r.Repo, Ref: r.Ref, HeadSHA: r.HeadSHA,
		Number: r.Number, RequestedBy: by, SpecPath: r.SpecPath, Distro: r.Distro, SpecSource: r.SpecSource, Prompt: r.Prompt,
		NoCache: true, NoBootTest: r.NoBootTest, DefaultBranch: r.DefaultBranch,
	}
}
