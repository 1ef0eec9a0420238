package report

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
)

// A scheduled rebuild's release lists the package updates it was started
// for, and publishes the run's package manifest.
func TestScheduledRebuildReleaseListsUpdates(t *testing.T) {
	r, fake, db := newReleases(t)
	ctx := context.Background()
	manifest := "libc6\t2.36-9+deb12u7\tamd64\nopenssl\t3.0.15-1~deb12u1\tamd64\n"
	rn := successfulRun(t, db, legacyDir(r), map[string][]byte{"image.tar.zst": []byte("img"), "packages.txt": []byte(manifest)}, run.TriggerSchedule)
	updates := `[{"name":"libc6","old":"2.36-9+deb12u4","new":"2.36-9+deb12u7"},{"name":"openssl","old":"3.0.11-1~deb12u2","new":"3.0.15-1~deb12u1"}]`
	if _, err := db.Bun.NewUpdate().Model((*store.Run)(nil)).Set("package_updates = ?", updates).Where("id = ?", rn.ID).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.Publish(ctx, rn.ID); err != nil {
		t.Fatal(err)
	}
	rel := fake.Releases()[0]
	for _, want := range []string{
		"**Security updates**",
		"- `libc6` `2.36-9+deb12u4` → `2.36-9+deb12u7`",
		"- `openssl` `3.0.11-1~deb12u2` → `3.0.15-1~deb12u1`",
		fmt.Sprintf("(run %d, schedule)", rn.ID),
	} {
		if !strings.Contains(rel.Body, want) {
			t.Errorf("release body lacks %q:\n%s", want, rel.Body)
		}
	}
	found := false
	for _, a := range rel.Assets {
		found = found || (a.Name == "packages.txt" && a.State == "uploaded" && a.Digest == digestOf([]byte(manifest)))
	}
	if !found {
		t.Fatalf("packages.txt not published: %+v", rel.Assets)
	}
}

func TestPackageUpdatesAreBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("[")
	for i := range 250 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"name":"p%d","old":"1","new":"2"}`, i)
	}
	b.WriteString("]")
	ups, more := packageUpdates(b.String())
	if len(ups) != 200 || more != 50 {
		t.Fatalf("%d listed, %d more", len(ups), more)
	}
	// A record cut at dpkg.MaxRecorded counts what it left out.
	if ups, more := packageUpdates(`{"updates":[{"name":"p","old":"1","new":"2"}],"more":4000}`); len(ups) != 1 || more != 4000 {
		t.Fatalf("a cut record: %d listed, %d more", len(ups), more)
	}
	if ups, more := packageUpdates("not json"); ups != nil || more != 0 {
		t.Fatalf("garbage: %v %d", ups, more)
	}
}
