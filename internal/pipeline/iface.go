package pipeline

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/spec"
)

// RunRecord is what the pipeline needs to know about a run.
type RunRecord struct {
	ID    int64
	State run.State // the current step, or the terminal state
	// NoCache asks for a fresh build: no cached artifacts, no layer cache.
	NoCache bool
	// NoBootTest asks for no boot test: the ISO and disk images get no
	// boot-test marker and BOOT_TESTING boots nothing, whatever the
	// pipeline's Boot (POST /api/v1/builds?noBootTest=true).
	NoBootTest bool
	Repo       string
	SpecPath   string // for diagnostics: linux-build.yaml, examples/x.yaml
	SpecSrc    []byte // the spec as the user wrote it; empty until fetched
	// InstallationID and HeadSHA say where to fetch the spec from for runs
	// that came from GitHub.
	InstallationID int64
	HeadSHA        string
	Distro         spec.Base
	CreatedAt      time.Time
	// Retried is set when an earlier attempt of the run ended without
	// ending it (its worker stopped or was lost): the run starts over.
	Retried bool
}

// SpecInfo is what validation learns about a run.
type SpecInfo struct {
	Source                                                       string // the spec as fetched (empty: unchanged)
	Base, KernelVersion, InitSystem, Architecture, SecurityLevel string
	ResolvedJSON                                                 string
	Warnings                                                     []string
}

// LogLine is one line of a run's log.
type LogLine struct {
	RunID   int64
	Step    run.State
	Level   run.LogLevel
	Message string
	At      time.Time
}

// Artifact is a file a run produced.
type Artifact struct {
	Name string
	Type run.ArtifactType
	// Path is the file's local path while the run works on it (or, for an
	// image reference, the registry name). With an ArtifactStore, the
	// recorded artifact is Key: the path means nothing on another machine.
	Path string
	// Key is the artifact's key in the ArtifactStore ("" without one).
	Key    string
	Size   int64
	SHA256 string
}

// StoredArtifact is an artifact's object in the ArtifactStore: its key,
// size and sha256.
type StoredArtifact struct {
	Key    string
	Size   int64
	SHA256 string
}

// ArtifactStore keeps the bytes of runs' file artifacts where every
// worker can read them (internal/artifacts through pipelinestore): the
// pipeline uploads each file once it is produced and records its key, so
// publishing and cache hits on any machine read the store, never this
// machine's disk.
type ArtifactStore interface {
	// Upload streams the file at path to run id's artifact name and
	// returns its object, with the size and sha256 of the bytes sent. A
	// failed Upload leaves nothing under the key.
	Upload(ctx context.Context, runID int64, name, path string) (StoredArtifact, error)
	// Adopt gives run id its own copy of src as artifact name (a cache
	// hit), checked against src's size; the copy keeps src's sha256.
	Adopt(ctx context.Context, runID int64, name string, src StoredArtifact) (StoredArtifact, error)
	// Retryable reports whether a failed call may succeed later (the
	// store was unreachable or failing), so the job is retried.
	Retryable(err error) bool
}

// ErrNoCache is returned by Store.CachedArtifacts when no earlier run built
// the same context.
var ErrNoCache = errors.New("no cached build")

// Store persists runs. Every method is durable when it returns.
type Store interface {
	LoadRun(ctx context.Context, id int64) (*RunRecord, error)
	EnterStep(ctx context.Context, id int64, step run.State) error
	Finish(ctx context.Context, id int64, final run.State, reason string) error
	// Restart makes a run that has not ended start over: PENDING, without
	// the steps, artifacts and partial result of its earlier attempts,
	// with reason as its retry reason and a line of its log. A run that
	// has ended is left alone (an error).
	Restart(ctx context.Context, id int64, reason string) error
	RecordSpec(ctx context.Context, id int64, info SpecInfo) error
	// RecordHashes keeps the run's cache key (its build context's hash
	// qualified by the tenant and the pipeline) and its spec's hash.
	RecordHashes(ctx context.Context, id int64, cacheKey, specHash string) error
	// RecordDiagnostics keeps the spec's errors and warnings, with their
	// positions, for reporting (check run annotations).
	RecordDiagnostics(ctx context.Context, id int64, diags spec.Diagnostics) error
	// MarkPartial records that the run will end with the image only: the
	// ISO or the boot test did not succeed.
	MarkPartial(ctx context.Context, id int64, p Partial) error
	AppendLogs(ctx context.Context, lines []LogLine) error
	// EachLog calls fn with each line of run id's log, oldest first,
	// stopping at fn's first error (the run's build.log is written from
	// it).
	EachLog(ctx context.Context, id int64, fn func(LogLine) error) error
	AddArtifact(ctx context.Context, id int64, a Artifact) error
	// CachedArtifacts returns the newest reusable run that built
	// contextHash: successful, and not partial because a step failed. Or
	// ErrNoCache.
	CachedArtifacts(ctx context.Context, contextHash string) (Cached, error)
}

// Partial says why a successful run has the image only.
type Partial struct {
	Reason string
	// run.Failed is set when a step failed: the ISO could not be made or did
	// not boot. Such a run is never reused by the cache (the failure may be
	// the machine's: a full disk, a slow boot), so an identical run builds
	// again. Otherwise the pipeline's configuration decided it (no ISO
	// builder, no boot tester), which the cache key includes: the run is
	// reused, and a hit carries its reason over.
	Failed bool
}

// Cached is an earlier run's result that a run with the same cache key
// reuses.
type Cached struct {
	Run       int64
	Artifacts []Artifact
	// PartialReason is set when the cached run had the image only (for a
	// reason its configuration decided): the reusing run says the same.
	PartialReason string
}

// BuildContext is a rendered build context.
type BuildContext interface {
	ContextHash() string
	SpecHash() string
	WriteTar(w io.Writer) error
}

// Renderer renders a validated spec.
type Renderer interface {
	Render(doc *spec.Document, diags spec.Diagnostics) (BuildContext, spec.Diagnostics, error)
}

// BuildRequest asks for an image build.
type BuildRequest struct {
	Context BuildContext
	Tag     string
	Labels  map[string]string
	// NoCache builds every layer anew (the engine's cache is not used).
	NoCache bool
}

// ImageBuilder builds and exports images (pipeline/docker).
type ImageBuilder interface {
	Build(ctx context.Context, req BuildRequest, log func(string)) (imageID string, err error)
	Save(ctx context.Context, imageID string, w io.Writer) error
	Remove(ctx context.Context, imageID string) error
}

// ISORequest asks for a bootable ISO of an image.
type ISORequest struct {
	Image    string
	Output   string // path of the ISO to write
	VolumeID string
	// Marker, when set, is printed on the serial console once the system
	// is up, and the system then powers off: the boot test's signal. It
	// is baked into the ISO only, not the image.
	Marker string
	// Tee, when set, receives a copy of the image's export stream, byte
	// for byte, as the ISO step reads it (the pipeline writes the image
	// artifact from it: one export feeds both). The ISO step never reads
	// back from it. A write error of Tee stops the export and fails the
	// step. Tee holds the whole export only when Build returns nil, and
	// Build does not write to it after it returns.
	Tee io.Writer
}

// ISOBuilder turns an image into a bootable ISO (pipeline/iso).
type ISOBuilder interface {
	Build(ctx context.Context, req ISORequest, log func(string)) error
}

// DiskRequest asks for a bootable disk image of an image (issue 18's
// outputs raw and qcow2).
type DiskRequest struct {
	Image string
	// Output is the raw disk image to write (linux.raw).
	Output string
	// QCOW2, when set, is a qcow2 converted from Output.
	QCOW2 string
	// Size is the disk's size in bytes (the spec's filesystem section);
	// 0 sizes it from the image, with headroom, under the builder's cap.
	Size int64
	// RootFS is the root file system: "ext4" (the default when empty) or
	// "btrfs" (the spec's filesystem.root), with Compression (btrfs's
	// compress=: zstd, lzo or zlib; "" none) and Snapshots (an
	// @snapshots subvolume at /.snapshots).
	RootFS      string
	Compression string
	Snapshots   bool
	// Partitions are the file systems besides the root (the spec's
	// partitions mounted at /home, /var…): each an ext4 partition after
	// the root, in order, holding the image's files under its mount point.
	Partitions []DiskPartition
	// Swap is the size in bytes of the swap partition (the spec's
	// partition mounted as swap), 0 for none: the last partition, after
	// the root and Partitions. The root gets what they leave.
	Swap int64
	// Marker, when set, is the boot-test marker: the installed system
	// prints it when its kernel command line arms it, which its boot
	// loader does only on a machine with the boot test's SMBIOS signal
	// (BootTestSMBIOSFamily): on a user's machine the disk boots and stays
	// up.
	Marker string
	// Bootloader is the UEFI boot loader the spec asks for
	// (customization.bootloader): "grub" (the default when empty) or
	// "systemd-boot". BIOS boots with GRUB either way.
	Bootloader string
	// BootTestOutput, with Marker, is where to write the copy of the
	// disk the boot test boots: the same bytes as Output (the test's
	// machine writes to its copy).
	BootTestOutput string
	// ISO, when set, is the run's live ISO, which carries
	// linux-builder-install: the disk is then installed from it in a
	// virtual machine (unattended, on a blank disk of Size bytes) and laid
	// out as the installer lays out a disk, for what the builder does not
	// lay out itself (spec.DiskByInstall: xfs and f2fs roots, LVM). The
	// layout fields above are then the ISO's installer's, and the ISO's
	// marker (armed by the same SMBIOS signal) is the installed system's.
	ISO string
}

// DiskPartition is a file system of a disk image besides the root.
type DiskPartition struct {
	// Mount is its absolute mount point (/home).
	Mount string
	// Size is its size in bytes.
	Size int64
	// FS is its file system: "ext4" (the default when empty) or "btrfs"
	// (uncompressed, without subvolumes).
	FS string
}

// DiskBuilder turns an image into a bootable GPT disk image with an EFI
// system partition (pipeline/disk).
type DiskBuilder interface {
	Build(ctx context.Context, req DiskRequest, log func(string)) (DiskResult, error)
}

// DiskResult tells what a disk build made.
type DiskResult struct {
	Size     int64  // the disk's size (the raw file's apparent size)
	RootUUID string // the root file system's UUID
}

// Firmware is how a test machine boots.
type Firmware string

// Firmwares.
const (
	BIOS Firmware = "bios"
	UEFI Firmware = "uefi"
	// UEFISecureBoot is UEFI with Secure Boot enforced: OVMF's secboot
	// build with Microsoft's keys enrolled (Debian's ovmf), which loads
	// only boot loaders signed by a key in its db (shim, signed by
	// Microsoft, which loads the distribution's signed GRUB and kernel).
	UEFISecureBoot Firmware = "uefi-secureboot"
)

// ParseFirmware reads a firmware's name.
func ParseFirmware(s string) (Firmware, bool) {
	switch f := Firmware(s); f {
	case BIOS, UEFI, UEFISecureBoot:
		return f, true
	}
	return "", false
}

// IsUEFI reports whether f boots with UEFI (OVMF), Secure Boot or not.
func (f Firmware) IsUEFI() bool { return f == UEFI || f == UEFISecureBoot }

// BootRequest asks for a boot test.
type BootRequest struct {
	ISO string
	// Disk, instead of ISO, is a raw disk image to boot from (attached as
	// a virtio disk the machine may write to: a throwaway copy).
	Disk      string
	Marker    string
	Firmware  Firmware
	SerialLog string
	Timeout   time.Duration
	// Concurrent is how many boots of the run are in flight at the same
	// time, this one included (0 means 1): the tester sizes the machine
	// so that together they fit the host (vCPUs per boot).
	Concurrent int
}

// BootTester boots an ISO and waits for its marker (pipeline/boot). The
// pipeline calls Boot for several firmwares at once, with the same log
// function: Boot must be safe for concurrent use, and return soon after
// ctx is cancelled (with ctx's error, or a nil error when the marker was
// already seen).
type BootTester interface {
	Boot(ctx context.Context, req BootRequest, log func(string)) (timeToMarker time.Duration, err error)
}

// SpecFetcher fetches a run's spec from where it lives (the repository at
// the run's head SHA). ErrSpecNotFound means there is none.
type SpecFetcher interface {
	FetchSpec(ctx context.Context, rec *RunRecord) ([]byte, error)
}

// ErrSpecNotFound is returned by a SpecFetcher when the spec does not exist.
var ErrSpecNotFound = errors.New("spec not found")

// ErrEngineLost wraps a failure of the image builder's engine itself, not
// of the build: the connection to the Docker engine was lost (dockerd
// restarted or crashed, its socket went away) under a build, a save or an
// export. The attempt is given up and the run retried
// (run.ReasonEngineLost); a build's own failure (a RUN step that exits
// non-zero) never wraps it.
var ErrEngineLost = errors.New("the Docker engine was lost")

// EngineWaiter is an image builder that can wait for its engine to answer
// again (pipeline/docker): a retried attempt waits, up to
// Config.EngineWait, for an engine that was lost to come back before it
// starts over.
type EngineWaiter interface {
	WaitEngine(ctx context.Context, within time.Duration) error
}

// Pusher pushes a built image to a registry (pipeline/docker).
type Pusher interface {
	Push(ctx context.Context, imageID, ref string, log func(string)) error
}

// Reporter observes a run: transitions after they are persisted, and log
// lines. Reporters must not block for long, and Log must be safe for
// concurrent use (the boots of a run log at the same time).
type Reporter interface {
	Transition(ctx context.Context, runID int64, from, to run.State, note string)
	Log(ctx context.Context, line LogLine)
}

// SystemImager is a build context that starts FROM a shared system image,
// which has its own build context (render's system/): the pipeline makes
// sure the image tag exists, and is fresh, before the context's build. A
// context without it builds as it is.
type SystemImager interface {
	System() (tag string, ctx BuildContext)
}

// ImageInfo is what an engine tells of a local image.
type ImageInfo struct {
	ID     string
	Labels map[string]string
	// The image's platform, creation time and run-time configuration: a
	// flattened copy of the image (imagearchive.go) carries them over.
	Architecture, OS, Variant string
	Created                   time.Time
	Config                    ImageRunConfig
}

// ImageRunConfig is how a container of an image runs (the image config's
// "config" less its labels, which are ImageInfo.Labels).
type ImageRunConfig struct {
	Env, Cmd, Entrypoint         []string
	WorkingDir, User, StopSignal string
	// ExposedPorts ("80/tcp") and Volumes ("/data"), sorted.
	ExposedPorts, Volumes []string
}

// ImageInspector reads a local image's ID, labels and configuration
// (pipeline/docker).
// found is false, with a nil error, when the engine has no image ref. An
// ImageBuilder without it rebuilds the system image every run (from the
// engine's layer cache).
type ImageInspector interface {
	InspectImage(ctx context.Context, ref string) (info ImageInfo, found bool, err error)
}

// IndexProber tells the date of the package indexes a distribution's
// mirror serves now (the Date of Debian's InRelease). The date joins the
// cache key, so a rebuild after the distribution published updates is a
// real build, and a shared system image older than it is rebuilt.
type IndexProber interface {
	IndexDate(ctx context.Context, base spec.Base, release string) (time.Time, error)
}
