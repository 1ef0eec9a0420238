package disk

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/Microsoft/hcsshim/ext4/tar2ext4"

	"github.com/linux-builder/linux-builder/internal/proc"
)

// The root file system is written from the rewritten tar stream by
// tar2ext4 (hcsshim's pure-Go ext4 writer): it only ever writes into the
// one file it is given, so no name from the image reaches the host's file
// system. It writes a compact, read-only ext4 with no free space and
// neither a UUID nor a journal; the step then makes it an installed
// system's root with e2fsprogs, on a file whose every metadata block the
// bot wrote: the superblock gets a UUID and a label and loses the
// read-only flag, e2fsck checks it, resize2fs grows it to its partition
// and tune2fs adds a journal.

// ext4 superblock fields (offsets within the superblock, which starts at
// byte 1024).
const (
	sbOffset      = 1024
	sbMagicOff    = 0x38
	sbROCompatOff = 0x64
	sbUUIDOff     = 0x68
	sbLabelOff    = 0x78
	ext4Magic     = 0xEF53
	roCompatRO    = 0x1000 // EXT4_FEATURE_RO_COMPAT_READONLY
)

// writeExt4 writes the compact ext4 of the tar stream r into f, bounded
// by maxBytes (tar2ext4 stops with an error past it). what names the file
// system in errors ("root file system", "the /home file system").
func writeExt4(r io.Reader, f *os.File, maxBytes int64, what string) error {
	if err := tar2ext4.ConvertTarToExt4(r, f, tar2ext4.MaximumDiskSize(maxBytes)); err != nil {
		if strings.Contains(err.Error(), "exceeded maximum size") {
			return fmt.Errorf("%s (ext4): the image's files do not fit in %d bytes (the cap): %w", what, maxBytes, err)
		}
		// The writer's errors quote the image's names: clipped.
		return fmt.Errorf("%s (ext4): %s", what, clip(err.Error(), 200))
	}
	return nil
}

// clip shortens text from the image quoted in an error.
func clip(s string, n int) string {
	r := []rune(strings.ToValidUTF8(s, "?"))
	if len(r) <= n {
		return string(r)
	}
	return string(r[:n/2]) + "…" + string(r[len(r)-n/2:])
}

// patchSuperblock gives the ext4 in f its UUID and label and makes it
// writable (the compact writer marks it read-only).
func patchSuperblock(f *os.File, uuid [16]byte, label string) error {
	var sb [1024]byte
	if _, err := f.ReadAt(sb[:], sbOffset); err != nil {
		return fmt.Errorf("file system %s (ext4): read the superblock: %w", label, err)
	}
	if binary.LittleEndian.Uint16(sb[sbMagicOff:]) != ext4Magic {
		return fmt.Errorf("file system %s (ext4): no ext4 superblock where the writer put one", label)
	}
	if len(label) > 16 {
		return fmt.Errorf("file system (ext4): label %q is over 16 bytes", label)
	}
	ro := binary.LittleEndian.Uint32(sb[sbROCompatOff:])
	binary.LittleEndian.PutUint32(sb[sbROCompatOff:], ro&^roCompatRO)
	copy(sb[sbUUIDOff:sbUUIDOff+16], uuid[:])
	copy(sb[sbLabelOff:sbLabelOff+16], append([]byte(label), make([]byte, 16-len(label))...))
	if _, err := f.WriteAt(sb[:], sbOffset); err != nil {
		return fmt.Errorf("file system %s (ext4): write the superblock: %w", label, err)
	}
	return nil
}

// finishExt4 checks the file system in path, grows it to size bytes and
// adds a journal.
func finishExt4(ctx context.Context, path string, size int64, what string) error {
	// e2fsck's exit status 1 is "errors corrected": the compact writer
	// leaves counts e2fsck recomputes; anything above is a failure.
	if out, err := proc.Command(ctx, "e2fsck", "-f", "-y", path).CombinedOutput(); err != nil {
		var ee interface{ ExitCode() int }
		if !errors.As(err, &ee) || ee.ExitCode() > 1 {
			return fmt.Errorf("%s (ext4): e2fsck: %w: %s", what, err, lastLines(out, 5))
		}
	}
	if out, err := proc.Command(ctx, "resize2fs", path, fmt.Sprintf("%dK", size>>10)).CombinedOutput(); err != nil {
		return fmt.Errorf("%s (ext4): resize2fs to %d bytes: %w: %s", what, size, err, lastLines(out, 5))
	}
	if out, err := proc.Command(ctx, "tune2fs", "-j", path).CombinedOutput(); err != nil {
		return fmt.Errorf("%s (ext4): tune2fs -j (add a journal): %w: %s", what, err, lastLines(out, 5))
	}
	if out, err := proc.Command(ctx, "e2fsck", "-f", "-n", path).CombinedOutput(); err != nil {
		return fmt.Errorf("%s (ext4): e2fsck after resizing: %w: %s", what, err, lastLines(out, 5))
	}
	return nil
}

func lastLines(b []byte, n int) string { return proc.LastLines(b, n) }
