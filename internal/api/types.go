package api

import (
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/spec"
	"github.com/linux-builder/linux-builder/internal/store"
)

// Links are where to go next from a build.
type Links struct {
	Self      string `json:"self" doc:"This build."`
	Logs      string `json:"logs" doc:"Its log, paged."`
	Events    string `json:"events" doc:"Its live events (Server-Sent Events)."`
	Artifacts string `json:"artifacts" doc:"Where its artifacts are downloaded: append the artifact's name."`
	Cancel    string `json:"cancel" doc:"POST: stop it."`
	Rebuild   string `json:"rebuild" doc:"POST: build it again, fresh."`
	Page      string `json:"page" doc:"Its page for people."`
}

// BuildCreated is the answer to a build asked for.
type BuildCreated struct {
	ID     int64      `json:"id" doc:"The build's id."`
	Status run.Status `json:"status" enum:"PENDING,IN_PROGRESS,SUCCESS,FAILED,CANCELLED"`
	Links  Links      `json:"links"`
}

// BuildSummary is a build in a list.
type BuildSummary struct {
	ID          int64       `json:"id"`
	Status      run.Status  `json:"status" enum:"PENDING,IN_PROGRESS,SUCCESS,FAILED,CANCELLED"`
	Step        run.State   `json:"step" doc:"The step it is in, or its final state."`
	Trigger     run.Trigger `json:"trigger" enum:"push,pull_request,comment,api,cli,rerun,schedule"`
	Repository  string      `json:"repository" doc:"owner/name for builds from GitHub; api or local otherwise."`
	Ref         string      `json:"ref,omitempty"`
	Commit      string      `json:"commit,omitempty"`
	RequestedBy string      `json:"requestedBy"`
	CreatedAt   time.Time   `json:"createdAt"`
	UpdatedAt   time.Time   `json:"updatedAt"`
	DurationMS  int64       `json:"durationMs" doc:"How long it took, once over."`
	Links       Links       `json:"links"`
}

// Step is one step of a build.
type Step struct {
	Name       run.State      `json:"name"`
	Title      string         `json:"title"`
	Status     run.StepStatus `json:"status" enum:"pending,running,done,failed,cancelled,skipped"`
	StartedAt  time.Time      `json:"startedAt"`
	FinishedAt *time.Time     `json:"finishedAt,omitempty"`
	DurationMS int64          `json:"durationMs"`
}

// Artifact is a file a build made.
type Artifact struct {
	Name       string           `json:"name"`
	Type       run.ArtifactType `json:"type"`
	Size       int64            `json:"size" doc:"Bytes."`
	SHA256     string           `json:"sha256"`
	URL        string           `json:"url,omitempty" doc:"Its download, from the artifact store (absent for an image pushed to a registry)."`
	Location   string           `json:"location,omitempty" doc:"An image pushed to a registry: its reference."`
	ReleaseURL string           `json:"releaseUrl,omitempty" doc:"The release asset on GitHub, once published."`
	ExpiresAt  *time.Time       `json:"expiresAt,omitempty" doc:"When the artifact store deletes it (ARTIFACT_RETENTION)."`
	CreatedAt  time.Time        `json:"createdAt"`
}

// Build is a build in full.
type Build struct {
	BuildSummary
	FailureReason string            `json:"failureReason,omitempty"`
	PartialReason string            `json:"partialReason,omitempty" doc:"Why a successful build has the image only."`
	RetryReason   string            `json:"retryReason,omitempty"`
	NoBootTest    bool              `json:"noBootTest" doc:"Whether the build asked for no boot test (POST /api/v1/builds?noBootTest=true): its media are not booted."`
	Prompt        string            `json:"prompt,omitempty" doc:"The description its spec was generated from."`
	SpecPath      string            `json:"specPath"`
	Warnings      []string          `json:"warnings"`
	Diagnostics   []spec.Diagnostic `json:"diagnostics" doc:"The spec's errors and warnings with their positions."`
	Steps         []Step            `json:"steps"`
	Artifacts     []Artifact        `json:"artifacts"`
}

// links are a build's links, under base (PUBLIC_URL, or "" for paths).
func links(base string, id int64) Links {
	b := fmt.Sprintf("%s%s/builds/%d", base, Prefix, id)
	return Links{Self: b, Logs: b + "/logs", Events: b + "/events", Artifacts: b + "/artifacts/", Cancel: b + "/cancel",
		Rebuild: b + "/rebuild", Page: fmt.Sprintf("%s/runs/%d", base, id)}
}

func (a *API) summary(r *store.Run) BuildSummary {
	return BuildSummary{ID: r.ID, Status: r.Status, Step: r.Step, Trigger: r.Trigger, Repository: r.Repo, Ref: r.Ref, Commit: r.HeadSHA,
		RequestedBy: r.RequestedBy, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, DurationMS: r.BuildDuration, Links: links(a.cfg.PublicURL, r.ID)}
}

func (a *API) artifact(runID int64, x store.Artifact) Artifact {
	out := Artifact{Name: x.Name, Type: x.Type, Size: x.Size, SHA256: x.SHA256, ReleaseURL: x.URL, ExpiresAt: x.ExpiresAt, CreatedAt: x.CreatedAt}
	if x.Key != "" {
		out.URL = fmt.Sprintf("%s%s/builds/%d/artifacts/%s", a.cfg.PublicURL, Prefix, runID, url.PathEscape(x.Name))
	} else if x.Type == run.ArtifactImageRef {
		out.Location = x.Location
	}
	return out
}

func (a *API) build(r *store.Run, steps []store.RunStep, arts []store.Artifact) *Build {
	b := &Build{BuildSummary: a.summary(r), FailureReason: r.FailureReason, PartialReason: r.PartialReason, RetryReason: r.RetryReason, NoBootTest: r.NoBootTest,
		Prompt: r.Prompt, SpecPath: r.SpecPath, Warnings: r.Warnings, Diagnostics: []spec.Diagnostic{}, Steps: []Step{}, Artifacts: []Artifact{}}
	if b.Warnings == nil {
		b.Warnings = []string{}
	}
	if r.Diagnostics != "" {
		var ds []spec.Diagnostic
		if err := json.Unmarshal([]byte(r.Diagnostics), &ds); err == nil && ds != nil {
			b.Diagnostics = ds
		}
	}
	for _, s := range steps {
		b.Steps = append(b.Steps, Step{Name: s.Step, Title: s.Step.Title(), Status: s.Status, StartedAt: s.StartedAt, FinishedAt: s.FinishedAt, DurationMS: s.DurationMS})
	}
	for _, x := range arts {
		b.Artifacts = append(b.Artifacts, a.artifact(r.ID, x))
	}
	return b
}
