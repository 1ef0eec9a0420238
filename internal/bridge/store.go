package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/linux-builder/linux-builder/internal/pipeline"
	"github.com/linux-builder/linux-builder/internal/spec"
)

// PipelineStore adapts a DB to pipeline.Store.
type PipelineStore struct{ DB *DB }

var _ pipeline.Store = PipelineStore{}

// finalStatus maps the pipeline's terminal states to run statuses.
var finalStatus = map[pipeline.State]RunStatus{
	pipeline.Complete: StatusSuccess, pipeline.Failed: StatusFailed, pipeline.Cancelled: StatusCancelled,
}

// LoadRun implements pipeline.Store.
func (s PipelineStore) LoadRun(ctx context.Context, id int64) (*pipeline.RunRecord, error) {
	r, err := s.DB.Run(ctx, id)
	if err != nil {
		return nil, err
	}
	state := pipeline.State(r.Step)
	if r.Status.Terminal() {
		for st, status := range finalStatus {
			if status == r.Status {
				state = st
			}
		}
	}
	rec := &pipeline.RunRecord{ID: r.ID, State: state, Repo: r.Repo, SpecPath: r.SpecPath, SpecSrc: []byte(r.SpecSource),
		Distro: spec.Base(r.Distro), CreatedAt: r.CreatedAt, HeadSHA: r.HeadSHA}
	if r.InstallationID != nil {
		rec.InstallationID = *r.InstallationID
	}
	return rec, nil
}

// EnterStep implements pipeline.Store.
func (s PipelineStore) EnterStep(ctx context.Context, id int64, step pipeline.State) error {
	return s.DB.EnterStep(ctx, id, string(step))
}

// Finish implements pipeline.Store.
func (s PipelineStore) Finish(ctx context.Context, id int64, final pipeline.State, reason string) error {
	status, ok := finalStatus[final]
	if !ok {
		return fmt.Errorf("finish run %d: %s is not a final state", id, final)
	}
	return s.DB.Finish(ctx, id, status, string(final), reason)
}

// RecordSpec implements pipeline.Store.
func (s PipelineStore) RecordSpec(ctx context.Context, id int64, info pipeline.SpecInfo) error {
	w := info.Warnings
	if w == nil {
		w = []string{}
	}
	u := RunUpdate{Base: &info.Base, SpecJSON: &info.ResolvedJSON, KernelVersion: &info.KernelVersion,
		InitSystem: &info.InitSystem, Architecture: &info.Architecture, SecurityLevel: &info.SecurityLevel, Warnings: w}
	if info.Source != "" {
		u.SpecSource = &info.Source
	}
	return s.DB.UpdateRun(ctx, id, u)
}

// RecordContextHash implements pipeline.Store.
func (s PipelineStore) RecordContextHash(ctx context.Context, id int64, hash string) error {
	return s.DB.UpdateRun(ctx, id, RunUpdate{ContextHash: &hash})
}

// RecordDiagnostics implements pipeline.Store.
func (s PipelineStore) RecordDiagnostics(ctx context.Context, id int64, diags spec.Diagnostics) error {
	b, err := json.Marshal(diags)
	if err != nil {
		return fmt.Errorf("diagnostics: %w", err)
	}
	return s.DB.setRunColumn(ctx, id, "diagnostics", string(b))
}

// MarkPartial implements pipeline.Store.
func (s PipelineStore) MarkPartial(ctx context.Context, id int64, reason string) error {
	return s.DB.setRunColumn(ctx, id, "partial_reason", reason)
}

// AppendLogs implements pipeline.Store.
func (s PipelineStore) AppendLogs(ctx context.Context, lines []pipeline.LogLine) error {
	rows := make([]RunLog, len(lines))
	for i, l := range lines {
		rows[i] = RunLog{RunID: l.RunID, Step: string(l.Step), Level: LogLevel(l.Level), Message: l.Message, At: l.At}
	}
	return s.DB.AppendLogs(ctx, rows)
}

// AddArtifact implements pipeline.Store.
func (s PipelineStore) AddArtifact(ctx context.Context, id int64, a pipeline.Artifact) error {
	return s.DB.AddArtifact(ctx, &Artifact{RunID: id, Name: a.Name, Type: ArtifactType(a.Type), Location: a.Path, Size: a.Size, SHA256: a.SHA256})
}

// CachedArtifacts implements pipeline.Store: the newest successful run with
// the same context hash that has artifacts.
func (s PipelineStore) CachedArtifacts(ctx context.Context, hash string) (int64, []pipeline.Artifact, error) {
	var runs []Run
	err := s.DB.withRetry(ctx, "cache lookup", func(ctx context.Context) error {
		runs = nil
		return s.DB.Bun.NewSelect().Model(&runs).Column("id").
			Where("context_hash = ? AND status = ?", hash, StatusSuccess).OrderExpr("id DESC").Limit(1).Scan(ctx)
	})
	if err != nil {
		return 0, nil, err
	}
	if len(runs) == 0 {
		return 0, nil, pipeline.ErrNoCache
	}
	arts, err := s.DB.Artifacts(ctx, runs[0].ID)
	if err != nil {
		return 0, nil, err
	}
	if len(arts) == 0 {
		return 0, nil, pipeline.ErrNoCache
	}
	out := make([]pipeline.Artifact, len(arts))
	for i, a := range arts {
		out[i] = pipeline.Artifact{Name: a.Name, Type: pipeline.ArtifactType(a.Type), Path: a.Location, Size: a.Size, SHA256: a.SHA256}
	}
	return runs[0].ID, out, nil
}
