package render

import (
	"strings"
	"testing"

	linuxbuilder "github.com/linux-builder/linux-builder"
)

// The release notes say how to use the disk images only when the release
// has them.
func TestReleaseNotesForDiskImages(t *testing.T) {
	rp, err := NewReporter(linuxbuilder.Templates)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		files      []string
		want, dont []string
	}{
		{files: []string{"linux.iso", "image.tar.zst"}, dont: []string{"linux.qcow2", "linux.raw.zst"}},
		{files: []string{"linux.qcow2", "image.tar.zst"}, want: []string{"-drive file=linux.qcow2,if=virtio"}, dont: []string{"zstd -dc linux.raw.zst"}},
		{files: []string{"linux.raw.zst", "linux.qcow2"}, want: []string{"-drive file=linux.qcow2,if=virtio", "zstd -dc linux.raw.zst | sudo dd of=/dev/sdX"}},
	} {
		notes := &ReleaseNotes{RunID: 9, Link: "https://github.com/apps/linux-builder", SpecPath: "linux-build.yaml", HeadSHA: "6113728"}
		for _, f := range tc.files {
			notes.Files = append(notes.Files, Download{Name: f, Size: 1 << 20, SHA256: strings.Repeat("a", 64)})
		}
		md, err := rp.Release(notes)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range tc.want {
			if !strings.Contains(md, w) {
				t.Errorf("%v: the notes lack %q:\n%s", tc.files, w, md)
			}
		}
		for _, d := range tc.dont {
			if strings.Contains(md, "file="+d) || strings.Contains(md, "-dc "+d) {
				t.Errorf("%v: the notes mention %s:\n%s", tc.files, d, md)
			}
		}
	}
}
