// Package efi writes the FAT file systems UEFI firmware reads: the EFI
// system partition of disk images and the El Torito EFI image of ISOs.
// mtools writes them into a regular file the caller made room for (mformat,
// mmd, mcopy -i): no mount, no loop device. Every file copied in is a host
// file the bot made or captured itself; no name comes from an image.
package efi

import (
	"bytes"
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/linux-builder/linux-builder/internal/proc"
)

// File is a file to put on a FAT file system: a host path the bot made,
// and its name there (slash-separated, relative).
type File struct{ Src, Dst string }

// FAT describes a FAT file system to write.
type FAT struct {
	// Sectors is its size in 512-byte sectors; Hidden the sectors before
	// it on its disk (a partition's offset; 0 for an El Torito image).
	Sectors, Hidden int64
	// Serial is the volume ID, 8 hex digits; Label the volume label.
	Serial, Label string
	// FAT32 forces FAT32 (an ESP); otherwise mformat picks by size.
	FAT32 bool
}

// Make writes the file system into file (created, or overwritten) with
// files on it, making the directories they need.
func Make(ctx context.Context, file string, fs FAT, files []File) error {
	args := []string{"-i", file, "-C", "-T", fmt.Sprint(fs.Sectors), "-H", fmt.Sprint(fs.Hidden)}
	if fs.FAT32 {
		args = append(args, "-F")
	}
	if fs.Serial != "" {
		args = append(args, "-N", fs.Serial)
	}
	if fs.Label != "" {
		args = append(args, "-v", fs.Label)
	}
	if err := mtools(ctx, "mformat", append(args, "::")...); err != nil {
		return err
	}
	made := map[string]bool{}
	for _, f := range files {
		var dirs []string
		for d := path.Dir(f.Dst); d != "." && d != "/" && !made[d]; d = path.Dir(d) {
			dirs = append([]string{d}, dirs...)
			made[d] = true
		}
		for _, d := range dirs {
			if err := mtools(ctx, "mmd", "-i", file, "::/"+d); err != nil {
				return err
			}
		}
		if err := mtools(ctx, "mcopy", "-i", file, "-o", f.Src, "::/"+f.Dst); err != nil {
			return err
		}
	}
	return nil
}

func mtools(ctx context.Context, name string, args ...string) error {
	cmd := proc.Command(ctx, name, args...)
	cmd.Env = append(cmd.Env, "MTOOLS_SKIP_CHECK=1")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s (package mtools): %w: %s", name, err, LastLines(b, 5))
	}
	return nil
}

// LastLines is the last n lines of a tool's output, on one line.
func LastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(bytes.ToValidUTF8(b, []byte("?")))), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
