// Package pipelinestore adapts the store and the queue's insert side to
// the pipeline's interfaces: pipeline.Store backed by store.DB (field
// mapping between the pipeline's RunRecord, states and artifacts and the
// store's rows), and the pipeline.Reporter that queues check-run syncs.
// It lives apart so that neither the store nor the queue links the
// pipeline (and with it the build machinery): the lean webhook receiver
// uses both.
package pipelinestore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/linux-builder/linux-builder/internal/pipeline"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/spec"
	"github.com/linux-builder/linux-builder/internal/store"
)

// Store adapts a store.DB to pipeline.Store.
type Store struct {
	DB *store.DB
	// Releases, when set, queues the release of a GitHub run in the
	// transaction that ends it successfully (the queue's insert side).
	// Without it (the CLI) a run publishes nothing.
	Releases store.ReleaseJobs
	// Retention, when positive, is how long artifacts are kept: each is
	// recorded with expires_at = now + Retention (ARTIFACT_RETENTION), and
	// the retention job deletes it then. Zero keeps them.
	Retention time.Duration
	// Now is the clock of expiries; default time.Now.
	Now func() time.Time
}

var _ pipeline.Store = Store{}

// LoadRun implements pipeline.Store.
func (s Store) LoadRun(ctx context.Context, id int64) (*pipeline.RunRecord, error) {
	r, err := s.DB.Run(ctx, id)
	if err != nil {
		return nil, err
	}
	state := r.Step
	if final, ok := run.FinalState(r.Status); ok {
		state = final
	}
	rec := &pipeline.RunRecord{ID: r.ID, State: state, NoCache: r.NoCache, NoBootTest: r.NoBootTest, Repo: r.Repo, SpecPath: r.SpecPath, SpecSrc: []byte(r.SpecSource),
		Distro: spec.Base(r.Distro), CreatedAt: r.CreatedAt, HeadSHA: r.HeadSHA, Retried: r.RetryReason != ""}
	if r.InstallationID != nil {
		rec.InstallationID = *r.InstallationID
	}
	return rec, nil
}

// The writes of an attempt whose context carries a store.Fence are
// refused once its job was rescued (store.ErrFenced): EnterStep, Finish,
// Restart and AddArtifact check it in their transaction, the others just
// before.

// EnterStep implements pipeline.Store.
func (s Store) EnterStep(ctx context.Context, id int64, step run.State) error {
	return s.DB.EnterStep(ctx, id, step)
}

// Finish implements pipeline.Store.
func (s Store) Finish(ctx context.Context, id int64, final run.State, reason string) error {
	return s.DB.FinishWith(ctx, id, final, reason, s.Releases)
}

// Restart implements pipeline.Store.
func (s Store) Restart(ctx context.Context, id int64, reason string) error {
	return s.DB.RestartRun(ctx, id, reason)
}

// RecordSpec implements pipeline.Store.
func (s Store) RecordSpec(ctx context.Context, id int64, info pipeline.SpecInfo) error {
	if err := s.DB.CheckFence(ctx); err != nil {
		return err
	}
	w := info.Warnings
	if w == nil {
		w = []string{}
	}
	u := store.RunUpdate{Base: &info.Base, SpecJSON: &info.ResolvedJSON, KernelVersion: &info.KernelVersion,
		InitSystem: &info.InitSystem, Architecture: &info.Architecture, SecurityLevel: &info.SecurityLevel, Warnings: w}
	if info.Source != "" {
		u.SpecSource = &info.Source
	}
	return s.DB.UpdateRun(ctx, id, u)
}

// RecordHashes implements pipeline.Store.
func (s Store) RecordHashes(ctx context.Context, id int64, cacheKey, specHash string) error {
	if err := s.DB.CheckFence(ctx); err != nil {
		return err
	}
	return s.DB.UpdateRun(ctx, id, store.RunUpdate{ContextHash: &cacheKey, SpecHash: &specHash})
}

// RecordDiagnostics implements pipeline.Store.
func (s Store) RecordDiagnostics(ctx context.Context, id int64, diags spec.Diagnostics) error {
	if err := s.DB.CheckFence(ctx); err != nil {
		return err
	}
	b, err := json.Marshal(diags)
	if err != nil {
		return fmt.Errorf("diagnostics: %w", err)
	}
	return s.DB.SetDiagnostics(ctx, id, string(b))
}

// MarkPartial implements pipeline.Store.
func (s Store) MarkPartial(ctx context.Context, id int64, p pipeline.Partial) error {
	if err := s.DB.CheckFence(ctx); err != nil {
		return err
	}
	return s.DB.SetPartialReason(ctx, id, p.Reason, p.Failed)
}

// AppendLogs implements pipeline.Store.
func (s Store) AppendLogs(ctx context.Context, lines []pipeline.LogLine) error {
	if err := s.DB.CheckFence(ctx); err != nil {
		return err
	}
	rows := make([]store.RunLog, len(lines))
	for i, l := range lines {
		rows[i] = store.RunLog{RunID: l.RunID, Step: l.Step, Level: l.Level, Message: l.Message, At: l.At}
	}
	return s.DB.AppendLogs(ctx, rows)
}

// EachLog implements pipeline.Store, a page of lines at a time.
func (s Store) EachLog(ctx context.Context, id int64, fn func(pipeline.LogLine) error) error {
	const page = 5000
	after := int64(0)
	for {
		lines, err := s.DB.Logs(ctx, id, after, page)
		if err != nil {
			return err
		}
		for _, l := range lines {
			if err := fn(pipeline.LogLine{RunID: l.RunID, Step: l.Step, Level: l.Level, Message: l.Message, At: l.At}); err != nil {
				return err
			}
			after = l.ID
		}
		if len(lines) < page {
			return nil
		}
	}
}

// AddArtifact implements pipeline.Store. An artifact in the artifact store
// is recorded by its key alone (a local path means nothing to another
// worker); an image reference, or a file without a store, by its
// location.
func (s Store) AddArtifact(ctx context.Context, id int64, a pipeline.Artifact) error {
	row := &store.Artifact{RunID: id, Name: a.Name, Type: a.Type, Key: a.Key, Location: a.Path, Size: a.Size, SHA256: a.SHA256}
	if a.Key != "" {
		row.Location = ""
	}
	if s.Retention > 0 {
		now := time.Now
		if s.Now != nil {
			now = s.Now
		}
		at := now().Add(s.Retention)
		row.ExpiresAt = &at
	}
	return s.DB.AddArtifact(ctx, row)
}

// CachedArtifacts implements pipeline.Store: the newest reusable run with
// the same context hash that has artifacts.
func (s Store) CachedArtifacts(ctx context.Context, hash string) (pipeline.Cached, error) {
	id, partial, err := s.DB.LatestReusable(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return pipeline.Cached{}, pipeline.ErrNoCache
	}
	if err != nil {
		return pipeline.Cached{}, err
	}
	arts, err := s.DB.Artifacts(ctx, id)
	if err != nil {
		return pipeline.Cached{}, err
	}
	if len(arts) == 0 {
		return pipeline.Cached{}, pipeline.ErrNoCache
	}
	out := make([]pipeline.Artifact, len(arts))
	for i, a := range arts {
		out[i] = pipeline.Artifact{Name: a.Name, Type: run.ArtifactType(a.Type), Path: a.Location, Key: a.Key, Size: a.Size, SHA256: a.SHA256}
	}
	return pipeline.Cached{Run: id, Artifacts: out, PartialReason: partial}, nil
}
