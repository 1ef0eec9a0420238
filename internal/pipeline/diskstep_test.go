package pipeline

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/sparse"
	"github.com/linux-builder/linux-builder/internal/spec"
)

// rawDisk is what fakeDisk writes as the raw disk: a sparse file with data
// at its start and its end.
const rawDiskSize = 64 << 20

var (
	rawHead = []byte("GPT head")
	rawTail = []byte("backup GPT")
)

// fakeDisk writes the files a DiskBuilder writes.
type fakeDisk struct {
	mu   sync.Mutex
	reqs []DiskRequest
	fail error
}

func (f *fakeDisk) Build(_ context.Context, req DiskRequest, log func(string)) (DiskResult, error) {
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()
	if f.fail != nil {
		return DiskResult{}, f.fail
	}
	log("disk: made")
	write := func(path string, marker string) error {
		fh, err := os.Create(path)
		if err != nil {
			return err
		}
		defer fh.Close()
		if _, err := fh.WriteAt(append(append([]byte{}, rawHead...), marker...), 0); err != nil {
			return err
		}
		if _, err := fh.WriteAt(rawTail, rawDiskSize-int64(len(rawTail))); err != nil {
			return err
		}
		return nil
	}
	if err := write(req.Output, ""); err != nil {
		return DiskResult{}, err
	}
	if req.QCOW2 != "" {
		if err := os.WriteFile(req.QCOW2, []byte("QFI\xfb qcow2"), 0o644); err != nil {
			return DiskResult{}, err
		}
	}
	if req.Marker != "" {
		if err := write(req.BootTestOutput, req.Marker); err != nil {
			return DiskResult{}, err
		}
	}
	return DiskResult{Size: rawDiskSize, RootUUID: "0f0e"}, nil
}

// countingISO is an ISO builder that counts its builds and keeps their
// markers.
type countingISO struct {
	mu      sync.Mutex
	builds  int
	markers []string
}

func (c *countingISO) Build(ctx context.Context, req ISORequest, log func(string)) error {
	c.mu.Lock()
	c.builds++
	c.markers = append(c.markers, req.Marker)
	c.mu.Unlock()
	return fakeISO{}.Build(ctx, req, log)
}

// watchBoot records the boots, how many ran at once, and checks each disk
// boot's copy: its own file, the boot-test disk's bytes, still there while
// it boots.
type watchBoot struct {
	t        *testing.T
	fail     map[string]bool // "disk-uefi", "iso-bios"
	mu       sync.Mutex
	inFlight int
	most     int
	reqs     []BootRequest
}

func (w *watchBoot) Boot(ctx context.Context, req BootRequest, _ func(string)) (time.Duration, error) {
	w.mu.Lock()
	w.inFlight++
	w.most = max(w.most, w.inFlight)
	w.reqs = append(w.reqs, req)
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.inFlight--
		w.mu.Unlock()
	}()
	name := "iso-" + string(req.Firmware)
	if req.Disk != "" {
		name = "disk-" + string(req.Firmware)
		b, err := os.ReadFile(req.Disk)
		if err != nil {
			return 0, err
		}
		if len(b) != rawDiskSize || !bytes.HasPrefix(b, append(append([]byte{}, rawHead...), req.Marker...)) || !bytes.HasSuffix(b, rawTail) {
			w.t.Errorf("%s: the disk copy is not the boot-test disk", name)
		}
		// The machine writes to its copy.
		if err := os.WriteFile(req.Disk, []byte("written by "+name), 0o600); err != nil {
			return 0, err
		}
	}
	if err := os.WriteFile(req.SerialLog, []byte("console "+req.Marker), 0o644); err != nil {
		return 0, err
	}
	select {
	case <-time.After(20 * time.Millisecond): // long enough to overlap
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	if w.fail[name] {
		return 0, errors.New("no marker")
	}
	return time.Second, nil
}

func newDiskPipeline(t *testing.T, src string, iso ISOBuilder, disk DiskBuilder, boot BootTester) (*Pipeline, *memStore) {
	t.Helper()
	p, st, _ := newTestPipeline(t, src, &fakeBuilder{}, iso, boot)
	p.cfg.Disk = disk
	return p, st
}

func TestDiskOutputs(t *testing.T) {
	const both = "base: debian\noutputs: [iso, qcow2, raw]\nfilesystem: {diskSize: 8G, partitions: [{mount: swap, size: 10%}]}\n"
	tests := []struct {
		name      string
		spec      string
		iso       bool // an ISO builder
		disk      *fakeDisk
		boot      *watchBoot
		maxBoots  int
		steps     []run.State
		artifacts []string
		partial   string
		failed    bool // the partial result is a failure's (never cached)
		isoBuilds int
		bootsSeen int // boots started
		most      int // boots at once, at most
		logHas    string
	}{
		{name: "iso, qcow2 and raw, booted under every firmware", spec: both, iso: true, disk: &fakeDisk{}, boot: &watchBoot{}, maxBoots: 2,
			steps: []run.State{run.Validating, run.Generating, run.Building, run.ISOGenerating, run.DiskGenerating, run.BootTesting},
			artifacts: []string{"SHA256SUMS", "boot-bios.log", "boot-disk-bios.log", "boot-disk-uefi-secureboot.log", "boot-disk-uefi.log", "boot-uefi-secureboot.log", "boot-uefi.log",
				"build.log", "image.tar.zst", "linux.iso", "linux.qcow2", "linux.raw.zst", "spec.json"},
			isoBuilds: 1, bootsSeen: 6, most: 2},
		{name: "raw alone: no ISO, the disk boots under UEFI, with Secure Boot too", spec: "base: debian\noutputs: [raw]\ncustomization: {firmware: uefi}\n", iso: true, disk: &fakeDisk{}, boot: &watchBoot{},
			steps:     []run.State{run.Validating, run.Generating, run.Building, run.DiskGenerating, run.BootTesting},
			artifacts: []string{"SHA256SUMS", "boot-disk-uefi-secureboot.log", "boot-disk-uefi.log", "build.log", "image.tar.zst", "linux.raw.zst", "spec.json"},
			bootsSeen: 2, most: 2},
		{name: "no signed chain: no Secure Boot boots, and a warning", spec: "base: fedora\noutputs: [iso, raw]\ncustomization: {firmware: uefi}\n", iso: true, disk: &fakeDisk{}, boot: &watchBoot{},
			steps:     []run.State{run.Validating, run.Generating, run.Building, run.ISOGenerating, run.DiskGenerating, run.BootTesting},
			artifacts: []string{"SHA256SUMS", "boot-bios.log", "boot-disk-uefi.log", "boot-uefi.log", "build.log", "image.tar.zst", "linux.iso", "linux.raw.zst", "spec.json"},
			isoBuilds: 1, bootsSeen: 3, most: 2, logHas: "Secure Boot is not supported for fedora on x86_64 yet"},
		{name: "systemd-boot: the disk is not booted with Secure Boot, and a warning", spec: "base: debian\noutputs: [raw]\ncustomization: {firmware: uefi, bootloader: systemd-boot}\n", iso: true, disk: &fakeDisk{}, boot: &watchBoot{},
			steps:     []run.State{run.Validating, run.Generating, run.Building, run.DiskGenerating, run.BootTesting},
			artifacts: []string{"SHA256SUMS", "boot-disk-uefi.log", "build.log", "image.tar.zst", "linux.raw.zst", "spec.json"},
			bootsSeen: 1, most: 1, logHas: "systemd-boot, is not signed by debian"},
		{name: "a disk that fails is soft: the ISO still boots", spec: both, iso: true, disk: &fakeDisk{fail: errors.New("mkfs: no space")}, boot: &watchBoot{},
			steps:     []run.State{run.Validating, run.Generating, run.Building, run.ISOGenerating, run.DiskGenerating, run.BootTesting},
			artifacts: []string{"SHA256SUMS", "boot-bios.log", "boot-uefi-secureboot.log", "boot-uefi.log", "build.log", "image.tar.zst", "linux.iso", "spec.json"},
			partial:   "disk image generation failed: mkfs: no space", failed: true, isoBuilds: 1, bootsSeen: 3, most: 2},
		{name: "a disk that does not boot cancels the waiting boots", spec: "base: debian\noutputs: [qcow2]\n", disk: &fakeDisk{},
			boot: &watchBoot{fail: map[string]bool{"disk-bios": true}}, maxBoots: 1,
			steps:     []run.State{run.Validating, run.Generating, run.Building, run.DiskGenerating, run.BootTesting},
			artifacts: []string{"SHA256SUMS", "boot-disk-bios.log", "build.log", "image.tar.zst", "linux.qcow2", "spec.json"},
			partial:   "the disk image did not boot (bios)", failed: true, bootsSeen: 1, most: 1},
		{name: "no boot tester: no marker, nothing booted", spec: "base: debian\noutputs: [iso, raw]\n", iso: true, disk: &fakeDisk{},
			steps:     []run.State{run.Validating, run.Generating, run.Building, run.ISOGenerating, run.DiskGenerating, run.BootTesting},
			artifacts: []string{"SHA256SUMS", "build.log", "image.tar.zst", "linux.iso", "linux.raw.zst", "spec.json"},
			partial:   "the boot test is not configured; the ISO and the disk image were not booted", isoBuilds: 1},
		{name: "a failed disk stays a failure when nothing boots", spec: "base: debian\noutputs: [iso, raw]\n", iso: true, disk: &fakeDisk{fail: errors.New("mkfs: no space")},
			steps:     []run.State{run.Validating, run.Generating, run.Building, run.ISOGenerating, run.DiskGenerating, run.BootTesting},
			artifacts: []string{"SHA256SUMS", "build.log", "image.tar.zst", "linux.iso", "spec.json"},
			partial:   "disk image generation failed: mkfs: no space; the boot test is not configured; the ISO was not booted", failed: true, isoBuilds: 1},
		{name: "an xfs root: installed from an ISO made for it, neither published nor booted", spec: "base: debian\noutputs: [qcow2]\nfilesystem: {root: xfs}\n", iso: true, disk: &fakeDisk{}, boot: &watchBoot{}, maxBoots: 2,
			steps:     []run.State{run.Validating, run.Generating, run.Building, run.ISOGenerating, run.DiskGenerating, run.BootTesting},
			artifacts: []string{"SHA256SUMS", "boot-disk-bios.log", "boot-disk-uefi-secureboot.log", "boot-disk-uefi.log", "build.log", "image.tar.zst", "linux.qcow2", "spec.json"},
			isoBuilds: 1, bootsSeen: 3, most: 2, logHas: "the live ISO is made to install the disk image from, and not published"},
		{name: "lvm with the ISO asked for: the published ISO is installed from", spec: "base: ubuntu\noutputs: [iso, raw]\nfilesystem: {lvm: true, diskSize: 12G}\ncustomization: {firmware: bios}\n", iso: true, disk: &fakeDisk{}, boot: &watchBoot{}, maxBoots: 2,
			steps:     []run.State{run.Validating, run.Generating, run.Building, run.ISOGenerating, run.DiskGenerating, run.BootTesting},
			artifacts: []string{"SHA256SUMS", "boot-bios.log", "boot-disk-bios.log", "boot-uefi.log", "build.log", "image.tar.zst", "linux.iso", "linux.raw.zst", "spec.json"},
			isoBuilds: 1, bootsSeen: 3, most: 2, logHas: "an ext4 root on LVM: the disk image is installed from the live ISO by linux-builder-install"},
		{name: "no disk builder: partial", spec: "base: debian\noutputs: [iso, raw]\n", iso: true, boot: &watchBoot{},
			steps:     []run.State{run.Validating, run.Generating, run.Building, run.ISOGenerating, run.DiskGenerating, run.BootTesting},
			artifacts: []string{"SHA256SUMS", "boot-bios.log", "boot-uefi-secureboot.log", "boot-uefi.log", "build.log", "image.tar.zst", "linux.iso", "spec.json"},
			partial:   "disk images are not configured; the run publishes no raw", isoBuilds: 1, bootsSeen: 3, most: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			iso := &countingISO{}
			var isoB ISOBuilder
			if tc.iso {
				isoB = iso
			}
			var disk DiskBuilder
			if tc.disk != nil {
				disk = tc.disk
			}
			var boot BootTester
			if tc.boot != nil {
				tc.boot.t = t
				boot = tc.boot
			}
			p, st := newDiskPipeline(t, tc.spec, isoB, disk, boot)
			if tc.maxBoots > 0 {
				p.cfg.MaxBoots = tc.maxBoots
			}
			if err := p.Run(context.Background(), 1); err != nil {
				t.Fatal(err)
			}
			if st.state != run.Complete {
				t.Fatalf("ended %s (%q)\n%s", st.state, st.reason, logText(st))
			}
			if !slices.Equal(st.steps, tc.steps) {
				t.Errorf("steps %v, want %v", st.steps, tc.steps)
			}
			names := artifactNames(st)
			sort.Strings(names)
			if !slices.Equal(names, tc.artifacts) {
				t.Errorf("artifacts %v, want %v", names, tc.artifacts)
			}
			if !strings.Contains(st.partial, tc.partial) || (tc.partial == "") != (st.partial == "") {
				t.Errorf("partial %q, want %q", st.partial, tc.partial)
			}
			if st.partialFailed != tc.failed {
				t.Errorf("partial failed = %v, want %v", st.partialFailed, tc.failed)
			}
			if !strings.Contains(logText(st), tc.logHas) {
				t.Errorf("the log does not say %q:\n%s", tc.logHas, logText(st))
			}
			if iso.builds != tc.isoBuilds {
				t.Errorf("%d ISO builds, want %d", iso.builds, tc.isoBuilds)
			}
			// The ISO has the marker only when it is boot-tested
			// (--no-boot-test: none of its files, for any init).
			for _, m := range iso.markers {
				if (tc.boot != nil) != strings.HasPrefix(m, "LINUX-BUILDER-BOOT-OK run=1 ") || (tc.boot == nil && m != "") {
					t.Errorf("ISO request with marker %q (boot-tested: %v)", m, tc.boot != nil)
				}
			}
			dir := filepath.Join(p.cfg.ArtifactsDir, "1")
			if tc.boot != nil {
				if len(tc.boot.reqs) != tc.bootsSeen || tc.boot.most > tc.most {
					t.Errorf("%d boots, %d at once; want %d, at most %d", len(tc.boot.reqs), tc.boot.most, tc.bootsSeen, tc.most)
				}
				copies := map[string]bool{}
				for _, r := range tc.boot.reqs {
					if !strings.HasPrefix(r.Marker, "LINUX-BUILDER-BOOT-OK run=1 ") || r.Concurrent < 1 || r.Concurrent > p.cfg.MaxBoots {
						t.Errorf("boot request %+v", r)
					}
					if r.Disk != "" {
						if copies[r.Disk] {
							t.Errorf("two boots of %s", r.Disk)
						}
						copies[r.Disk] = true
					}
				}
			}
			// No scratch is left: the raw disk, the boot-test disk and its
			// copies are gone; the work directory too.
			if _, err := os.Stat(filepath.Join(dir, "work")); !errors.Is(err, os.ErrNotExist) {
				entries, _ := os.ReadDir(filepath.Join(dir, "work"))
				t.Errorf("the work directory is left: %v", entries)
			}
			noPartFiles(t, dir)
			if tc.disk == nil || len(tc.disk.reqs) == 0 {
				return
			}
			req := tc.disk.reqs[0]
			if tc.boot == nil {
				if req.Marker != "" || req.BootTestOutput != "" {
					t.Errorf("a boot-test disk without a boot test: %+v", req)
				}
			} else if !strings.HasPrefix(req.Marker, "LINUX-BUILDER-BOOT-OK run=1 ") || req.BootTestOutput == "" {
				t.Errorf("disk request without the run's marker: %+v", req)
			}
			if strings.Contains(tc.spec, "8G") && (req.Size != 8<<30 || req.Swap != 8<<30/10) {
				t.Errorf("disk size %d, swap %d; want filesystem.diskSize's 8G, and 10%% of it", req.Size, req.Swap)
			}
			// A disk the spec's layout needs installed is installed from
			// the run's ISO (the published one, or the scratch one, gone
			// with the work directory); other disks are not.
			byInstall := strings.Contains(tc.spec, "xfs") || strings.Contains(tc.spec, "lvm")
			switch {
			case byInstall && !publishesISO(tc.spec) && req.ISO != filepath.Join(dir, "work", "install.iso"):
				t.Errorf("disk installed from %q, want the scratch ISO", req.ISO)
			case byInstall && publishesISO(tc.spec) && req.ISO != filepath.Join(dir, "linux.iso"):
				t.Errorf("disk installed from %q, want the published ISO", req.ISO)
			case !byInstall && req.ISO != "":
				t.Errorf("a disk the builder lays out is installed from %q", req.ISO)
			}
			if want := map[bool]int64{true: spec.DefaultInstallDiskBytes}[byInstall]; byInstall && !strings.Contains(tc.spec, "diskSize") && req.Size != want {
				t.Errorf("disk size %d, want the installed disk's default %d", req.Size, want)
			}
			if strings.Contains(tc.spec, "12G") && req.Size != 12<<30 {
				t.Errorf("disk size %d, want 12G", req.Size)
			}
			if tc.disk.fail != nil {
				return
			}
			for _, a := range st.arts {
				if a.Name != rawZstName {
					continue
				}
				if a.Type != run.ArtifactDisk {
					t.Errorf("%s has type %s", a.Name, a.Type)
				}
				b, err := os.ReadFile(a.Path)
				if err != nil {
					t.Fatal(err)
				}
				if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != a.SHA256 || int64(len(b)) != a.Size {
					t.Errorf("%s: recorded sha256 %s size %d, the file has %x %d", a.Name, a.SHA256, a.Size, sum, len(b))
				}
				// A decoder for DecodeAll only: one made with a stream to
				// read has a goroutine of its own that DecodeAll can wait
				// on forever (seen on a loaded 2-core machine).
				dec, err := zstd.NewReader(nil)
				if err != nil {
					t.Fatal(err)
				}
				raw, err := dec.DecodeAll(b, nil)
				dec.Close()
				if err != nil || len(raw) != rawDiskSize || !bytes.HasPrefix(raw, rawHead) || !bytes.HasSuffix(raw, rawTail) {
					t.Errorf("%s does not decompress to the raw disk (%d bytes, %v)", a.Name, len(raw), err)
				}
			}
		})
	}
}

func publishesISO(src string) bool { return strings.Contains(src, "outputs: [iso") }

// The cache key tells the outputs apart: a run that made the ISO alone
// does not satisfy a spec that asks for a qcow2 too, which builds; a run
// that made the qcow2 is reused, its disk image adopted.
func TestDiskOutputsCacheKey(t *testing.T) {
	withDisk := "base: debian\noutputs: [iso, qcow2]\n"
	p, st := newDiskPipeline(t, withDisk, fakeISO{}, &fakeDisk{}, fakeBoot{})
	keyISO := tenantKey(0, p.cacheKey("h1", []spec.Output{spec.OutputISO}, false))
	keyDisk := tenantKey(0, p.cacheKey("h1", []spec.Output{spec.OutputISO, spec.OutputQCOW2}, false))
	if keyISO == keyDisk {
		t.Fatal("[iso] and [iso, qcow2] share a cache key")
	}
	noDisk, _ := newDiskPipeline(t, withDisk, fakeISO{}, nil, fakeBoot{})
	if noDisk.cacheKey("h1", []spec.Output{spec.OutputISO, spec.OutputQCOW2}, false) == p.cacheKey("h1", []spec.Output{spec.OutputISO, spec.OutputQCOW2}, false) {
		t.Error("a pipeline without a disk builder shares the key of one with")
	}

	src := filepath.Join(t.TempDir(), "linux.iso")
	if err := os.WriteFile(src, []byte("old iso"), 0o644); err != nil {
		t.Fatal(err)
	}
	st.cache[keyISO] = []Artifact{{Name: "linux.iso", Type: run.ArtifactISO, Path: src}}
	if err := p.Run(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(st.steps, run.DiskGenerating) || !slices.Contains(artifactNames(st), qcow2Name) {
		t.Fatalf("the [iso] run's cache was used for [iso, qcow2]: steps %v, artifacts %v", st.steps, artifactNames(st))
	}
	if st.hash != keyDisk {
		t.Errorf("recorded key %q, want %q", st.hash, keyDisk)
	}

	// A hit on the key that has the disk adopts linux.qcow2.
	p2, st2 := newDiskPipeline(t, withDisk, fakeISO{}, &fakeDisk{fail: errors.New("must not build")}, fakeBoot{})
	q := filepath.Join(t.TempDir(), qcow2Name)
	if err := os.WriteFile(q, []byte("cached qcow2"), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("cached qcow2"))
	st2.cache[keyDisk] = []Artifact{{Name: "linux.iso", Type: run.ArtifactISO, Path: src}, {Name: qcow2Name, Type: run.ArtifactDisk, Path: q, SHA256: hex.EncodeToString(sum[:])}}
	if err := p2.Run(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(st2.steps, []run.State{run.Validating, run.Generating}) {
		t.Fatalf("steps %v: want a cache hit", st2.steps)
	}
	b, err := os.ReadFile(filepath.Join(p2.cfg.ArtifactsDir, "1", qcow2Name))
	if err != nil || string(b) != "cached qcow2" {
		t.Fatalf("adopted qcow2: %q %v", b, err)
	}
}

// sparseCopy keeps the holes of what it copies and its bytes.
func TestSparseCopy(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	const size = 256 << 20
	if _, err := f.WriteAt([]byte("head"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("middle"), 100<<20+3); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := sparse.Copy(src, dst); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(src)
	b, _ := os.ReadFile(dst)
	if !bytes.Equal(a, b) {
		t.Fatal("the copy differs")
	}
	if used := diskUsage(t, dst); used > 1<<20 {
		t.Errorf("the copy of a 256 MiB file of 10 bytes takes %d bytes on disk", used)
	}
	if err := sparse.Copy(src, dst); err == nil {
		t.Error("an existing copy was overwritten")
	}
}

func diskUsage(t *testing.T, path string) int64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}
