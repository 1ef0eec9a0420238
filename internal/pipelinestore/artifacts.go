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
}

var _ pipeline.ArtifactStore = Artifacts{}

// Upload implements pipeline.ArtifactStore.
func (a Artifacts) Upload(ctx context.Context, runID int64, name, path string) (pipeline.StoredArtifact, error) {
	key, err := artifacts.RunKey(runID, name)
	if err != nil {
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

// Retryable implements pipeline.ArtifactStore.
func (Artifacts) Retryable(err error) bool { return artifacts.Retryable(err) }
