package store_test

import (
	"context"
	"testing"

	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// Every artifact type the pipeline records is accepted by both dialects'
// CHECK constraint (a type added to internal/run without its migration
// fails here, not in a user's run); an unknown type is refused.
func TestEveryArtifactTypeIsAccepted(t *testing.T) {
	types := []run.ArtifactType{run.ArtifactImage, run.ArtifactImageRef, run.ArtifactISO, run.ArtifactDisk, run.ArtifactRootfs,
		run.ArtifactSBOM, run.ArtifactLog, run.ArtifactBootLog, run.ArtifactChecksum, run.ArtifactSpec, run.ArtifactManifest}
	storetest.ForEach(t, func(t *testing.T, db *store.DB, _ *storetest.Clock) {
		ctx := context.Background()
		rn := &store.Run{Trigger: run.TriggerCLI, Repo: "local", SpecPath: "x.yaml"}
		if err := db.CreateRun(ctx, rn); err != nil {
			t.Fatal(err)
		}
		for _, typ := range types {
			if err := db.AddArtifact(ctx, &store.Artifact{RunID: rn.ID, Name: string(typ) + ".bin", Type: typ, Location: "/x"}); err != nil {
				t.Errorf("type %s: %v", typ, err)
			}
		}
		if err := db.AddArtifact(ctx, &store.Artifact{RunID: rn.ID, Name: "x.vmdk", Type: "vmdk", Location: "/x"}); err == nil {
			t.Error("an unknown artifact type was accepted")
		}
	})
}
