package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/linux-builder/linux-builder/internal/pipeline"
	"github.com/linux-builder/linux-builder/internal/pipeline/boot"
	"github.com/linux-builder/linux-builder/internal/pipeline/disk"
	"github.com/linux-builder/linux-builder/internal/pipeline/docker"
	"github.com/linux-builder/linux-builder/internal/spec"
)

// newDiskCmd makes a disk image of an image already in the engine: the
// pipeline's disk step (DISK_GENERATING, for specs with outputs qcow2 or
// raw) on its own.
func newDiskCmd() *cobra.Command {
	var out, qcow2, firmwares, bootloader, rootFS, compression, fromISO string
	var snapshots bool
	var size int64
	cmd := &cobra.Command{
		Use:   "disk IMAGE | disk --from-iso ISO --size BYTES",
		Short: "Make a bootable GPT disk image (raw, optionally qcow2) of a built image and boot-test it",
		Long: `Disk turns an image in the engine (e.g. linux-builder:42, kept by bot build)
into a raw disk image: GPT with a BIOS boot partition, an EFI system partition
(GRUB for BIOS; for UEFI the image's signed shim and GRUB, which boot with Secure
Boot, or systemd-boot with --bootloader systemd-boot; the image's kernel and
initramfs) and an ext4 root file system (or btrfs with --root btrfs: subvolumes
@ and @home, made by mkfs.btrfs in a sandboxed container of the bot's tools
image), mounted by UUID. The image is streamed from the engine, never unpacked
or mounted on the host. --qcow2 converts it with qemu-img; --boot-test boots a
copy under each firmware in QEMU until the marker appears.

With --from-iso, the disk is instead installed from a live ISO that carries
linux-builder-install (bot build of a Debian or Ubuntu spec): the ISO boots in
QEMU with a blank disk of --size bytes and installs its system on it unattended,
laid out as its spec's filesystem section says (how the pipeline makes disk
images with xfs and f2fs roots or LVM).`,
		Args: func(cmd *cobra.Command, args []string) error {
			iso, _ := cmd.Flags().GetString("from-iso")
			switch {
			case iso != "" && len(args) != 0:
				return fmt.Errorf("%w: disk --from-iso takes no IMAGE", errUsage)
			case iso == "" && len(args) != 1:
				return fmt.Errorf("%w: disk needs one IMAGE", errUsage)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			var fws []pipeline.Firmware
			for _, f := range strings.Split(firmwares, ",") {
				if f = strings.TrimSpace(f); f == "" {
					continue
				}
				fw, ok := pipeline.ParseFirmware(f)
				if !ok {
					return fmt.Errorf("%w: --boot-test %q: want uefi, bios or uefi-secureboot, comma-separated", errUsage, f)
				}
				fws = append(fws, fw)
			}
			ctx := cmd.Context()
			say := func(l string) { fmt.Fprintln(cmd.OutOrStdout(), l) }
			if fromISO != "" {
				if len(fws) > 0 {
					// The installed system's marker is the ISO's, which
					// this command does not know.
					return fmt.Errorf("%w: --boot-test needs IMAGE: a disk installed --from-iso is boot-tested by bot build (outputs: [qcow2] or [raw])", errUsage)
				}
				if size <= 0 {
					size = spec.DefaultInstallDiskBytes
				}
				_, err := (&disk.Builder{Installer: &boot.Tester{}}).Build(ctx, pipeline.DiskRequest{ISO: fromISO, Output: out, QCOW2: qcow2, Size: size}, say)
				return err
			}
			eng, err := docker.Connect(ctx)
			if err != nil {
				return err
			}
			defer eng.Close()
			req := pipeline.DiskRequest{Image: args[0], Output: out, QCOW2: qcow2, Size: size, Bootloader: bootloader,
				RootFS: rootFS, Compression: compression, Snapshots: snapshots}
			work := ""
			if len(fws) > 0 {
				if work, err = os.MkdirTemp(filepath.Dir(out), ".disk-boot-"); err != nil {
					return err
				}
				defer os.RemoveAll(work)
				req.Marker = fmt.Sprintf("LINUX-BUILDER-BOOT-OK disk=%d", time.Now().Unix())
				req.BootTestOutput = filepath.Join(work, "boot-test.raw")
			}
			if _, err := (&disk.Builder{Exporter: eng, Tools: eng}).Build(ctx, req, say); err != nil {
				return err
			}
			for _, fw := range fws {
				log := strings.TrimSuffix(out, filepath.Ext(out)) + "-boot-" + string(fw) + ".log"
				ttm, err := (&boot.Tester{}).Boot(ctx, pipeline.BootRequest{Disk: req.BootTestOutput, Marker: req.Marker,
					Firmware: fw, SerialLog: log, Timeout: 600 * time.Second}, say)
				if err != nil {
					return fmt.Errorf("boot test (%s): %w (console log %s)", fw, err, log)
				}
				say(fmt.Sprintf("boot test (%s): marker after %s (console log %s)", fw, ttm.Round(100*time.Millisecond), log))
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "linux.raw", "raw disk image to write")
	cmd.Flags().StringVar(&qcow2, "qcow2", "", "also write a qcow2 here")
	cmd.Flags().Int64Var(&size, "size", 0, "disk size in bytes (default: the image's file system with headroom; with --from-iso 8G)")
	cmd.Flags().StringVar(&fromISO, "from-iso", "", "install the disk from this live ISO's linux-builder-install in QEMU instead of IMAGE")
	cmd.Flags().StringVar(&firmwares, "boot-test", "", "boot-test under these firmwares, one after the other: uefi, bios, uefi-secureboot, comma-separated")
	cmd.Flags().StringVar(&bootloader, "bootloader", "grub", "UEFI boot loader: grub (the image's signed shim and GRUB when it has them) or systemd-boot (the image's); BIOS boots GRUB")
	cmd.Flags().StringVar(&rootFS, "root", "ext4", "root file system: ext4 or btrfs")
	cmd.Flags().StringVar(&compression, "compression", "", "btrfs compression: zstd, lzo or zlib")
	cmd.Flags().BoolVar(&snapshots, "snapshots", false, "btrfs: an @snapshots subvolume at /.snapshots")
	return cmd
}
