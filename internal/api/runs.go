package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/danielgtaylor/huma/v2"

	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
)

// Page sizes.
const (
	defaultPage = 50
	maxPage     = 200
	defaultLogs = 500
	maxLogs     = 2000
)

type listBuildsInput struct {
	Repository string `query:"repository" maxLength:"200" doc:"owner/name (api for builds started through the API)."`
	Status     string `query:"status" enum:"PENDING,IN_PROGRESS,SUCCESS,FAILED,CANCELLED" doc:"Only builds with this status."`
	Trigger    string `query:"trigger" enum:"push,pull_request,comment,api,cli,rerun,schedule" doc:"Only builds started this way."`
	Cursor     string `query:"cursor" maxLength:"20" pattern:"^[0-9]+$" doc:"The nextCursor of the previous page."`
	Limit      int    `query:"limit" minimum:"1" maximum:"200" default:"50" doc:"Builds per page."`
}

// BuildList is a page of builds, newest first.
type BuildList struct {
	Builds     []BuildSummary `json:"builds"`
	NextCursor string         `json:"nextCursor,omitempty" doc:"Pass it as cursor for the next page; absent on the last."`
}

type listBuildsOutput struct{ Body BuildList }

type buildIDInput struct {
	ID int64 `path:"id" minimum:"1" doc:"The build's id."`
}

type buildOutput struct{ Body *Build }

type createdOutput struct {
	Location string `header:"Location"`
	Body     BuildCreated
}

type logsInput struct {
	ID    int64 `path:"id" minimum:"1"`
	After int64 `query:"after" minimum:"0" doc:"Only lines after this line id (the previous page's next)."`
	Limit int   `query:"limit" minimum:"1" maximum:"2000" default:"500" doc:"Lines per page."`
}

// LogLine is one line of a build's log.
type LogLine struct {
	ID      int64        `json:"id"`
	Step    run.State    `json:"step"`
	Level   run.LogLevel `json:"level" enum:"info,warn,error"`
	Message string       `json:"message"`
	At      string       `json:"at" format:"date-time"`
}

// LogPage is a page of a build's log.
type LogPage struct {
	Lines []LogLine `json:"lines"`
	Next  int64     `json:"next" doc:"Pass it as after for the lines that follow (also once more arrive)."`
	More  bool      `json:"more" doc:"Whether more lines are already there."`
	Done  bool      `json:"done" doc:"Whether the build is over (no line will be added)."`
}

type logsOutput struct{ Body LogPage }

func (a *API) registerRuns() {
	huma.Register(a.huma, huma.Operation{OperationID: "list-builds", Method: http.MethodGet, Path: Prefix + "/builds", Tags: []string{"builds"},
		Summary: "List builds", Description: "Newest first, paged with cursor. A read or build token lists the builds it started; an admin token every build.",
		Errors: errorsOf(http.StatusUnprocessableEntity)}, a.listBuilds)
	huma.Register(a.huma, huma.Operation{OperationID: "get-build", Method: http.MethodGet, Path: Prefix + "/builds/{id}", Tags: []string{"builds"},
		Summary: "Get a build", Description: "Status, steps with durations, warnings and diagnostics, artifacts with size, sha256 and download URL.",
		Errors: errorsOf(http.StatusNotFound, http.StatusUnprocessableEntity)}, a.getBuild)
	huma.Register(a.huma, huma.Operation{OperationID: "cancel-build", Method: http.MethodPost, Path: Prefix + "/builds/{id}/cancel", Tags: []string{"builds"},
		Summary: "Cancel a build", Description: "A waiting build ends now; a running one stops and ends CANCELLED (scope build). 409 when it is over.",
		DefaultStatus: http.StatusAccepted, Errors: errorsOf(http.StatusForbidden, http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity)}, a.cancelBuild)
	huma.Register(a.huma, huma.Operation{OperationID: "rebuild-build", Method: http.MethodPost, Path: Prefix + "/builds/{id}/rebuild", Tags: []string{"builds"},
		Summary: "Build again", Description: "A new build of the same spec, built fresh (no cache), for this token (scope build); it keeps the build's noBootTest.",
		DefaultStatus: http.StatusAccepted, Errors: errorsOf(http.StatusForbidden, http.StatusNotFound, http.StatusUnprocessableEntity)}, a.rebuild)
	huma.Register(a.huma, huma.Operation{OperationID: "get-build-logs", Method: http.MethodGet, Path: Prefix + "/builds/{id}/logs", Tags: []string{"builds"},
		Summary: "Read a build's log", Description: "Lines in order, a page at a time: pass next as after.",
		Errors: errorsOf(http.StatusNotFound, http.StatusUnprocessableEntity)}, a.logs)
}

func (a *API) listBuilds(ctx context.Context, in *listBuildsInput) (*listBuildsOutput, error) {
	c, err := need(ctx, store.ScopeRead)
	if err != nil {
		return nil, err
	}
	f := store.RunFilter{Repo: in.Repository, Status: run.Status(in.Status), Trigger: run.Trigger(in.Trigger), Limit: in.Limit}
	if f.Limit <= 0 || f.Limit > maxPage {
		f.Limit = defaultPage
	}
	if in.Cursor != "" {
		if f.BeforeID, err = strconv.ParseInt(in.Cursor, 10, 64); err != nil || f.BeforeID <= 0 {
			return nil, huma.Error422UnprocessableEntity("cursor: not one this API gave")
		}
	}
	if c.Scope != store.ScopeAdmin {
		f.APITokenID = c.TokenID
	}
	runs, err := a.cfg.Store.ListRunSummaries(ctx, f)
	if err != nil {
		return nil, a.internal(ctx, "list runs", err)
	}
	out := &listBuildsOutput{Body: BuildList{Builds: make([]BuildSummary, 0, len(runs))}}
	for i := range runs {
		if !store.RunVisible(&runs[i], c.TokenID, c.Scope) {
			continue // the filter already excludes them; never shown by mistake
		}
		out.Body.Builds = append(out.Body.Builds, a.summary(&runs[i]))
	}
	if len(runs) == f.Limit {
		out.Body.NextCursor = strconv.FormatInt(runs[len(runs)-1].ID, 10)
	}
	return out, nil
}

func (a *API) getBuild(ctx context.Context, in *buildIDInput) (*buildOutput, error) {
	if _, err := need(ctx, store.ScopeRead); err != nil {
		return nil, err
	}
	r, err := a.VisibleRun(ctx, in.ID)
	if err != nil {
		return nil, err
	}
	steps, err := a.cfg.Store.Steps(ctx, r.ID)
	if err != nil {
		return nil, a.internal(ctx, "read steps", err)
	}
	arts, err := a.cfg.Store.Artifacts(ctx, r.ID)
	if err != nil {
		return nil, a.internal(ctx, "read artifacts", err)
	}
	return &buildOutput{Body: a.build(r, steps, arts)}, nil
}

func (a *API) cancelBuild(ctx context.Context, in *buildIDInput) (*createdOutput, error) {
	c, err := need(ctx, store.ScopeBuild)
	if err != nil {
		return nil, err
	}
	r, err := a.OwnedRun(ctx, in.ID)
	if err != nil {
		return nil, err
	}
	active, err := a.cfg.Store.CancelRun(ctx, r.ID, "cancelled through the API by token "+c.Name, a.cfg.Jobs)
	if err != nil {
		return nil, a.internal(ctx, "cancel run", err)
	}
	if !active {
		return nil, huma.Error409Conflict(fmt.Sprintf("build %d is over (%s)", r.ID, r.Status))
	}
	if r, err = a.cfg.Store.Run(ctx, r.ID); err != nil {
		return nil, a.internal(ctx, "read run", err)
	}
	a.cfg.Logger.InfoContext(ctx, "api: build cancelled", "run", r.ID, "token", c.Name)
	l := links(a.cfg.PublicURL, r.ID)
	return &createdOutput{Location: l.Self, Body: BuildCreated{ID: r.ID, Status: r.Status, Links: l}}, nil
}

func (a *API) rebuild(ctx context.Context, in *buildIDInput) (*createdOutput, error) {
	c, err := need(ctx, store.ScopeBuild)
	if err != nil {
		return nil, err
	}
	prev, err := a.OwnedRun(ctx, in.ID)
	if err != nil {
		return nil, err
	}
	again := prev.Rerun("token:" + c.Name)
	again.APITokenID = &c.TokenID
	if err := a.cfg.Store.StartRun(ctx, again, a.cfg.Jobs); err != nil {
		return nil, a.internal(ctx, "start rebuild", err)
	}
	a.cfg.Logger.InfoContext(ctx, "api: rebuild queued", "run", again.ID, "of", prev.ID, "token", c.Name)
	l := links(a.cfg.PublicURL, again.ID)
	return &createdOutput{Location: l.Self, Body: BuildCreated{ID: again.ID, Status: again.Status, Links: l}}, nil
}

func (a *API) logs(ctx context.Context, in *logsInput) (*logsOutput, error) {
	if _, err := need(ctx, store.ScopeRead); err != nil {
		return nil, err
	}
	r, err := a.VisibleRun(ctx, in.ID)
	if err != nil {
		return nil, err
	}
	limit := in.Limit
	if limit <= 0 || limit > maxLogs {
		limit = defaultLogs
	}
	// One line more than asked says whether there are more.
	lines, err := a.cfg.Store.Logs(ctx, r.ID, in.After, limit+1)
	if err != nil {
		return nil, a.internal(ctx, "read logs", err)
	}
	page := LogPage{Lines: make([]LogLine, 0, min(len(lines), limit)), Next: in.After, More: len(lines) > limit, Done: r.Status.Terminal()}
	for _, l := range lines[:min(len(lines), limit)] {
		page.Lines = append(page.Lines, LogLine{ID: l.ID, Step: l.Step, Level: l.Level, Message: l.Message, At: l.At.UTC().Format("2006-01-02T15:04:05.000Z07:00")})
		page.Next = l.ID
	}
	return &logsOutput{Body: page}, nil
}
