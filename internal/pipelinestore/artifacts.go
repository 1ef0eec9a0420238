package pipelinestore

import (
	"context"
	"fmt"

	"github.com/linux-builder/linux-builder/internal/artifacts"
	"github.com/linux-builder/linux-builder/internal/pipeline"
)

// Artifacts adapts the artifact store to pipeline.ArtifactStore: run id's
// artifact name is the object artifacts.RunKey(id, name).
type Artifacts struct {
	Store *artifacts.Store
	// Fence, when set, is checked before an object is written
	// (store.DB.CheckFence): a superseded attempt does not overwrite the
	// new attempt's objects, which share their keys.
	Fence func(ctx context.Context) error
}

var _ pipeline.ArtifactStore = Artifacts{}

// Upload implements pipeline.ArtifactStore.
func (a Artifacts) Upload(ctx context.Context, runID int64, name, path string) (pipeline.StoredArtifact, error) {
	key, err := artifacts.RunKey(runID, name)
	if err != nil {
		return pipeline.StoredArtifact{}, err
	}
	if err := a.fence(ctx); err != nil {
		return pipeline.StoredArtifact{}, err
	}
	obj, err := a.Store.PutFile(ctx, key, path)
	if err != nil {
		return pipeline.StoredArtifact{}, err
	}
	return pipeline.StoredArtifact{Key: obj.Key, Size: obj.Size, SHA256: obj.SHA256}, nil
}

// Adopt implements pipeline.ArtifactStore: a copy in the store (on the
// server for S3), checked against the source's recorded size.
func (a Artifacts) Adopt(ctx context.Context, runID int64, name string, src pipeline.StoredArtifact) (pipeline.StoredArtifact, error) {
	key, err := artifacts.RunKey(runID, name)
	if err != nil {
		return pipeline.StoredArtifact{}, err
	}
	if err := a.fence(ctx); err != nil {
		return pipeline.StoredArtifact{}, err
	}
	obj, err := a.Store.Copy(ctx, key, src.Key)
	if err != nil {
		return pipeline.StoredArtifact{}, err
	}
	if obj.Size != src.Size {
		// Not the bytes that were recorded: drop the copy.
		if derr := a.Store.Delete(ctx, key); derr != nil {
			return pipeline.StoredArtifact{}, fmt.Errorf("copy of %s has %d bytes, %d were recorded (and removing it: %w)", src.Key, obj.Size, src.Size, derr)
		}
		return pipeline.StoredArtifact{}, fmt.Errorf("copy of %s has %d bytes, %d were recorded", src.Key, obj.Size, src.Size)
	}
	return pipeline.StoredArtifact{Key: key, Size: obj.Size, SHA256: src.SHA256}, nil
}

var _ pipeline.RunObjectSweeper = Artifacts{}

// DeleteRunObjects implements pipeline.RunObjectSweeper: every object
// under run id's prefix (runs/<id>/) goes. It is called only for a run
// that starts over, whose artifact rows the restart dropped; cache hits
// copy objects under their own run's prefix, so no other run refers to
// them.
func (a Artifacts) DeleteRunObjects(ctx context.Context, runID int64) (int, error) {
	if runID <= 0 {
		return 0, fmt.Errorf("delete run objects: run id %d is not positive", runID)
	}
	if err := a.fence(ctx); err != nil {
		return 0, err
	}
	var keys []string
	prefix := fmt.Sprintf("runs/%d/", runID)
	if err := a.Store.List(ctx, prefix, func(o artifacts.Object) error {
		keys = append(keys, o.Key)
		return nil
	}); err != nil {
		return 0, fmt.Errorf("list the objects of run %d: %w", runID, err)
	}
	for i, k := range keys {
		if err := a.Store.Delete(ctx, k); err != nil {
			return i, fmt.Errorf("delete %s: %w", k, err)
		}
	}
	return len(keys), nil
}

// Retryable implements pipeline.ArtifactStore.
func (Artifacts) Retryable(err error) bool { return artifacts.Retryable(err) }

func (a Artifacts) fence(ctx context.Context) error {
	if a.Fence == nil {
		return nil
	}
	return a.Fence(ctx)
}
