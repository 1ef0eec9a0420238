// Package iso turns a built image into a hybrid BIOS + UEFI live ISO
// without ever unpacking the image on the host: the image's export is
// read as a tar stream (stream.go), rewritten into the live system's tar,
// and piped into tar2sqfs (Debian's squashfs-tools-ng), which writes the
// squashfs. The kernel and initramfs are taken from the stream as regular
// files, with their names resolved inside the image's own namespace;
// grub-mkrescue (xorriso) writes the ISO from a tree holding only files
// this package created or captured; an image with the distribution's
// signed shim and GRUB gets an ISO that boots with Secure Boot (signed.go). The tools come from Debian's packages
// (squashfs-tools-ng, grub-common, grub-pc-bin, grub-efi-amd64-bin,
// xorriso, mtools), installed by scripts/setup.sh, and run with a minimal
// environment (internal/proc).
package iso

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/linux-builder/linux-builder/internal/pipeline"
	"github.com/linux-builder/linux-builder/internal/proc"
)

// Exporter streams an image's root file system as a tar.
type Exporter interface {
	Export(ctx context.Context, imageID string, w io.Writer) error
}

// Builder makes ISOs.
type Builder struct {
	Exporter Exporter
	// CompressionLevel is the squashfs's zstd level; default 3.
	CompressionLevel int
	// Jobs is how many threads tar2sqfs compresses with; default the
	// CPUs (at most maxJobs). tar2sqfs's own default is one.
	Jobs int
	// Limits bound what an image may make the step read and keep.
	Limits Limits
}

var _ pipeline.ISOBuilder = (*Builder)(nil)

// Build writes req.Output. Its work directory sits beside the output and
// is removed in every case.
func (b *Builder) Build(ctx context.Context, req pipeline.ISORequest, log func(string)) error {
	level := b.CompressionLevel
	if level == 0 {
		level = 3
	}
	if !validVolumeID(req.VolumeID) {
		return fmt.Errorf("iso: volume id %q: want 1-32 of A-Z, 0-9, _", req.VolumeID)
	}
	work, err := os.MkdirTemp(filepath.Dir(req.Output), ".iso-work-")
	if err != nil {
		return fmt.Errorf("iso work directory: %w", err)
	}
	defer os.RemoveAll(work)
	captured, tree := filepath.Join(work, "captured"), filepath.Join(work, "iso")
	for _, d := range []string{captured, filepath.Join(tree, "boot", "grub")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("iso work directory: %w", err)
		}
	}

	start := time.Now()
	squashfs := filepath.Join(tree, "root.squashfs")
	var rec *records
	found, err := b.squash(ctx, req.Image, req.Tee, squashfs, level, b.jobs(), captured, req.Marker, func(found *Rewritten) ([]file, error) {
		r, err := readRecords(found.tree)
		if err != nil {
			return nil, err
		}
		rec = r
		return r.liveFiles(req.Marker)
	})
	if err != nil {
		return err
	}
	log(fmt.Sprintf("iso: squashfs of %d entries in %s (the image streamed, never unpacked)",
		found.Entries, time.Since(start).Round(100*time.Millisecond)))
	for _, reason := range sortedKeys(found.Dropped) {
		log(fmt.Sprintf("iso: dropped %d entries of the image: %s", found.Dropped[reason], reason))
	}

	var liveArgs, squashName string
	switch rec.initramfs {
	case "initramfs-tools":
		liveArgs, squashName = "boot=live components", "live/filesystem.squashfs"
	case "dracut":
		liveArgs, squashName = "root=live:CDLABEL="+req.VolumeID+" rd.live.image", "LiveOS/squashfs.img"
	default:
		return fmt.Errorf("live boot with the %q initramfs is not supported yet", rec.initramfs)
	}
	if err := os.MkdirAll(filepath.Join(tree, filepath.Dir(squashName)), 0o755); err != nil {
		return fmt.Errorf("iso tree: %w", err)
	}
	if err := os.Rename(squashfs, filepath.Join(tree, squashName)); err != nil {
		return fmt.Errorf("iso tree: %w", err)
	}
	for _, f := range []struct{ key, name, dst string }{
		{"KERNEL", rec.kernel, "boot/vmlinuz"}, {"INITRD", rec.initrd, "boot/initrd.img"},
	} {
		src, err := found.tree.bootFile(f.name, b.Limits.withDefaults().MaxBootFile)
		if err != nil {
			return fmt.Errorf("boot-files %s=%s: %w", f.key, f.name, err)
		}
		if err := os.Link(src, filepath.Join(tree, f.dst)); err != nil {
			return fmt.Errorf("iso tree: %w", err)
		}
	}
	cfg := grubConfig(req.VolumeID, liveArgs, rec.cmdline, rec.init)
	if err := os.WriteFile(filepath.Join(tree, "boot/grub/grub.cfg"), []byte(cfg), 0o644); err != nil {
		return fmt.Errorf("grub.cfg: %w", err)
	}
	loaders, err := found.tree.loaders(b.Limits.withDefaults().MaxBootFile)
	if err != nil {
		return fmt.Errorf("boot loaders: %w", err)
	}
	start = time.Now()
	tmpISO := req.Output + ".part"
	defer os.Remove(tmpISO)
	how := "grub-mkrescue"
	if loaders.Signed(true) {
		how = "xorriso"
		err = makeSignedISO(ctx, tree, tmpISO, req.VolumeID, loaders)
	} else if out, mkErr := proc.Command(ctx, "grub-mkrescue", "-o", tmpISO, tree, "--", "-volid", req.VolumeID).CombinedOutput(); mkErr != nil {
		err = fmt.Errorf("grub-mkrescue: %w: %s", mkErr, lastLines(out, 5))
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmpISO, req.Output); err != nil {
		return fmt.Errorf("iso: %w", err)
	}
	log(fmt.Sprintf("iso: %s in %s; %s", how, time.Since(start).Round(100*time.Millisecond), uefiLoaderNote(loaders)))
	return nil
}

// uefiLoaderNote says what the ISO's UEFI boot loader is.
func uefiLoaderNote(l Loaders) string {
	if l.Signed(true) {
		return "UEFI boots the image's shim and signed GRUB (Secure Boot), BIOS the host's GRUB"
	}
	return "UEFI and BIOS boot the host's GRUB: the image has no signed shim and GRUB (Debian's shim-signed and grub-efi-amd64-signed), " +
		"so UEFI machines boot the ISO only with Secure Boot off"
}

// squash streams the image's export through the rewriter into tar2sqfs.
// A tee, when given, gets a copy of the export's bytes as they stream (for
// the image artifact): it only copies; nothing here reads from it, and a
// write error of it stops the export like the rewriter's would.
func (b *Builder) squash(ctx context.Context, image string, tee io.Writer, out string, level, jobs int, captured, marker string, add extras) (*Rewritten, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// --num-jobs: compressor threads; the backlog stays tar2sqfs's
	// default of 10 blocks of 128 KiB a job.
	cmd := proc.Command(ctx, "tar2sqfs", "--quiet", "--no-skip", "--force", "--num-jobs", strconv.Itoa(jobs),
		"--compressor", "zstd", "--comp-extra", fmt.Sprintf("level=%d", level),
		"--defaults", "uid=0,gid=0,mode=0755", out)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("tar2sqfs: %w", err)
	}
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start tar2sqfs (package squashfs-tools-ng): %w", err)
	}

	pr, pw := io.Pipe()
	exported := make(chan error, 1)
	var exportTo io.Writer = pw
	if tee != nil {
		// The rewriter's side first: the tee sees no byte the rewriter
		// refused to read.
		exportTo = io.MultiWriter(pw, tee)
	}
	go func() {
		err := b.Exporter.Export(ctx, image, exportTo)
		pw.CloseWithError(err)
		exported <- err
	}()
	forced := []string{"etc"}
	if marker != "" {
		forced = append(forced, markerDirs()...)
	}
	buf := bufio.NewWriterSize(stdin, 1<<20)
	found, rwErr := rewrite(pr, buf, captured, b.Limits, forced, add)
	if rwErr == nil {
		rwErr = buf.Flush()
	}
	if rwErr == nil {
		// What follows the tar's end (the record padding) is read so the
		// export ends normally; anything longer is not an export.
		if n, err := io.Copy(io.Discard, io.LimitReader(pr, maxTrailer+1)); err != nil {
			rwErr = fmt.Errorf("read the image's tar stream: %w", err)
		} else if n > maxTrailer {
			rwErr = fmt.Errorf("the image's tar stream goes on for more than %d bytes after its end", maxTrailer)
		}
	}
	// Stop the export when the rewriter gave up early, and tar2sqfs when
	// the stream is incomplete: a partial squashfs is never kept.
	pr.CloseWithError(errors.New("the ISO step stopped reading"))
	if rwErr != nil {
		cancel()
	}
	stdin.Close()
	waitErr := cmd.Wait()
	exportErr := <-exported
	switch {
	case exportErr != nil && ctx.Err() == nil:
		return nil, fmt.Errorf("export image: %w", exportErr)
	case rwErr != nil:
		return nil, fmt.Errorf("iso: %w", rwErr)
	case waitErr != nil:
		return nil, fmt.Errorf("tar2sqfs: %w: %s", waitErr, lastLines(stderr.Bytes(), 5))
	}
	return found, nil
}

// maxJobs bounds tar2sqfs's threads by default.
const maxJobs = 8

func (b *Builder) jobs() int {
	if b.Jobs > 0 {
		return min(b.Jobs, maxJobs)
	}
	return min(max(runtime.NumCPU(), 1), maxJobs)
}

func grubConfig(volid, liveArgs, cmdline, init string) string {
	args := strings.TrimSpace(liveArgs + " console=tty0 console=ttyS0,115200n8 panic=10 " + cmdline)
	return fmt.Sprintf(`# Generated by Linux Builder.
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set timeout=3
set default=0

search --no-floppy --set=root --label %s

%s
menuentry "Linux Builder live (%s)" {
	linux /boot/vmlinuz %s $lb_test
	initrd /boot/initrd.img
}
`, volid, pipeline.GRUBBootTestGate(), init, args)
}

func validVolumeID(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for _, c := range s {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

func lastLines(b []byte, n int) string { return proc.LastLines(b, n) }

// maxTrailer bounds the bytes after the end of an export's tar.
const maxTrailer = 1 << 20
