package pipeline

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// layerTar is a small root file system tar.
func layerTar(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var testInfo = ImageInfo{
	ID: "sha256:built", Labels: map[string]string{"io.linux-builder.run-id": "7"},
	Architecture: "amd64", OS: "linux", Created: time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC),
	Config: ImageRunConfig{Env: []string{"PATH=/usr/bin", "LANG=C.UTF-8"}, Cmd: []string{"/bin/bash"}, Entrypoint: []string{"/init"},
		WorkingDir: "/root", User: "0", StopSignal: "SIGRTMIN+3", ExposedPorts: []string{"22/tcp"}, Volumes: []string{"/data"}},
}

// readArchive reads a docker-archive into name → contents.
func readArchive(t testing.TB, r io.Reader) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, dup := files[hdr.Name]; dup {
			t.Errorf("%s twice in the archive", hdr.Name)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[hdr.Name] = b
	}
}

// checkArchive checks every reference of a one-layer docker-archive and
// returns its config and layer.
func checkArchive(t testing.TB, files map[string][]byte, tag string) (ocispec.Image, []byte) {
	t.Helper()
	var manifest []manifestEntry
	if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	if len(manifest) != 1 || len(manifest[0].Layers) != 1 || !reflect.DeepEqual(manifest[0].RepoTags, []string{tag}) {
		t.Fatalf("manifest %+v", manifest)
	}
	m := manifest[0]
	config, ok := files[m.Config]
	if !ok {
		t.Fatalf("manifest names config %s, not in the archive", m.Config)
	}
	if sum := sha256.Sum256(config); hex.EncodeToString(sum[:])+".json" != m.Config {
		t.Errorf("config %s has sha256 %x", m.Config, sum)
	}
	layer, ok := files[m.Layers[0]]
	if !ok {
		t.Fatalf("manifest names layer %s, not in the archive", m.Layers[0])
	}
	var img ocispec.Image
	if err := json.Unmarshal(config, &img); err != nil {
		t.Fatalf("config: %v", err)
	}
	sum := sha256.Sum256(layer)
	diffID := "sha256:" + hex.EncodeToString(sum[:])
	if img.RootFS.Type != "layers" || len(img.RootFS.DiffIDs) != 1 || string(img.RootFS.DiffIDs[0]) != diffID {
		t.Errorf("rootfs %+v, layer.tar's sha256 is %s", img.RootFS, diffID)
	}
	if m.Layers[0] != hex.EncodeToString(sum[:])+"/layer.tar" {
		t.Errorf("layer named %s", m.Layers[0])
	}
	var repos map[string]map[string]string
	if err := json.Unmarshal(files["repositories"], &repos); err != nil {
		t.Fatalf("repositories: %v", err)
	}
	repo, tg := splitTag(tag)
	if repos[repo][tg] != hex.EncodeToString(sum[:]) {
		t.Errorf("repositories %v", repos)
	}
	return img, layer
}

func TestImageArchiveIsConsistent(t *testing.T) {
	layer := layerTar(t, map[string]string{"etc/os-release": "ID=debian\n", "bin/sh": "#!"})
	sum := sha256.Sum256(layer)
	var out bytes.Buffer
	err := writeImageArchive(&out, flatImage{Info: testInfo, Tag: "linux-builder:7", Layer: bytes.NewReader(layer),
		LayerSize: int64(len(layer)), DiffID: hex.EncodeToString(sum[:])})
	if err != nil {
		t.Fatal(err)
	}
	files := readArchive(t, &out)
	if len(files) != 5 { // the layer's directory, layer.tar, config, manifest.json, repositories
		t.Errorf("archive holds %d entries", len(files))
	}
	img, got := checkArchive(t, files, "linux-builder:7")
	if !bytes.Equal(got, layer) {
		t.Error("layer.tar is not the layer's bytes")
	}
	c := img.Config
	if img.Architecture != "amd64" || img.OS != "linux" || img.Created == nil || !img.Created.Equal(testInfo.Created) ||
		!reflect.DeepEqual(c.Env, testInfo.Config.Env) || !reflect.DeepEqual(c.Cmd, testInfo.Config.Cmd) ||
		!reflect.DeepEqual(c.Entrypoint, testInfo.Config.Entrypoint) || c.WorkingDir != "/root" || c.User != "0" ||
		c.StopSignal != "SIGRTMIN+3" || c.Labels["io.linux-builder.run-id"] != "7" ||
		!reflect.DeepEqual(c.ExposedPorts, map[string]struct{}{"22/tcp": {}}) || !reflect.DeepEqual(c.Volumes, map[string]struct{}{"/data": {}}) {
		t.Errorf("config %+v", img)
	}
	if len(img.History) != 1 || !strings.Contains(img.History[0].CreatedBy, "flattened export of image sha256:built") {
		t.Errorf("history %+v", img.History)
	}
}

func TestImageArchiveRefusesABadDiffID(t *testing.T) {
	err := writeImageArchive(io.Discard, flatImage{Info: testInfo, Tag: "x:1", Layer: strings.NewReader(""), DiffID: "../../etc"})
	if err == nil {
		t.Fatal("a diff id that is not a sha256 was written as a path")
	}
}

func TestSplitTag(t *testing.T) {
	for ref, want := range map[string][2]string{
		"linux-builder:7": {"linux-builder", "7"}, "registry:5000/lb:run-1": {"registry:5000/lb", "run-1"}, "registry:5000/lb": {"registry:5000/lb", "latest"},
	} {
		if r, tg := splitTag(ref); r != want[0] || tg != want[1] {
			t.Errorf("splitTag(%q) = %q %q", ref, r, tg)
		}
	}
}

func TestLayerSpoolIsCapped(t *testing.T) {
	dir := t.TempDir()
	s, err := newLayerSpool(dir, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer s.remove()
	if n, err := s.Write([]byte("0123456")); n != 7 || err != nil {
		t.Fatalf("write %d %v", n, err)
	}
	if _, err := s.Write([]byte("7890")); !errors.Is(err, errImageTooLarge) || !s.over {
		t.Fatalf("a write past the cap: %v (over %v)", err, s.over)
	}
	if _, err := s.Write([]byte("7")); err == nil {
		t.Fatal("the spool took bytes after going over")
	}
	sum := sha256.Sum256([]byte("0123456"))
	if s.n != 7 || s.diffID() != hex.EncodeToString(sum[:]) {
		t.Errorf("spool %d bytes, %s", s.n, s.diffID())
	}
	s.remove()
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("left %v", left)
	}
}

// writeFlattened makes image.tar.zst from the spool; its size and sha256
// are the file's; the archive's bytes are capped by MaxImageBytes.
func TestWriteFlattened(t *testing.T) {
	layer := layerTar(t, map[string]string{"etc/motd": strings.Repeat("hello ", 10_000)})
	for _, tc := range []struct {
		name  string
		limit int64
		fails string
	}{{"fits", 1 << 20, ""}, {"over the limit", int64(len(layer)), "larger than the limit"}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p, _, _ := newTestPipeline(t, goodSpec, &fakeBuilder{}, nil, nil)
			p.cfg.Limits.MaxImageBytes = tc.limit
			r := &execution{p: p, dir: dir}
			spool, err := newLayerSpool(dir, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			defer spool.remove()
			if _, err := spool.Write(layer); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "image.tar.zst")
			size, sum, err := r.writeFlattened(context.Background(), spool, testInfo, "linux-builder:7", path)
			if tc.fails != "" {
				if err == nil || !strings.Contains(err.Error(), tc.fails) {
					t.Fatalf("err %v, want %q", err, tc.fails)
				}
				if _, err := os.Stat(path); err == nil {
					t.Error("an over-limit image was kept")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			fsize, fsum, err := hashFile(path)
			if err != nil || fsize != size || fsum != sum {
				t.Fatalf("recorded %d %s, file %d %s (%v)", size, sum, fsize, fsum, err)
			}
			f, _ := os.Open(path)
			defer f.Close()
			// A zstd frame first (what tools sniffing the format look
			// for), the skippable padding after it.
			magic := make([]byte, 4)
			if _, err := io.ReadFull(f, magic); err != nil || !bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}) {
				t.Fatalf("the file starts with %x (%v), not a zstd frame", magic, err)
			}
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			dec, err := zstd.NewReader(f)
			if err != nil {
				t.Fatal(err)
			}
			defer dec.Close()
			_, got := checkArchive(t, readArchive(t, dec), "linux-builder:7")
			if !bytes.Equal(got, layer) {
				t.Error("layer.tar is not the spooled bytes")
			}
		})
	}
}
