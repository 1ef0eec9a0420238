package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/linux-builder/linux-builder/internal/pipeline/docker"
	"github.com/linux-builder/linux-builder/internal/proc"
)

// debootstrap sources: the suites and mirrors base images come from.
var baseMirrors = map[string]string{
	"debian": "http://deb.debian.org/debian",
	"ubuntu": "http://archive.ubuntu.com/ubuntu",
}

func newBaseCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "base",
		Short: "Manage offline base images",
	}
	var mirror string
	var force bool
	imp := &cobra.Command{
		Use:   "import DISTRO:SUITE",
		Short: "Build a base image from the distribution's packages (debootstrap) and import it",
		Long: `Import makes the base image a Dockerfile starts FROM without a registry:
debootstrap --variant=minbase SUITE into a directory, then a tar stream of it
into the engine as DISTRO:SUITE (e.g. debian:bookworm). An image already present
is kept unless --force. Needs root and debootstrap.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 || !strings.Contains(args[0], ":") {
				return fmt.Errorf("%w: base import needs DISTRO:SUITE, e.g. debian:bookworm", errUsage)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			distro, suite, _ := strings.Cut(args[0], ":")
			if mirror == "" {
				mirror = baseMirrors[distro]
			}
			if mirror == "" {
				return fmt.Errorf("%w: base import supports %s (debootstrap); use --mirror for others", errUsage, "debian, ubuntu")
			}
			if !reSuite.MatchString(suite) {
				return fmt.Errorf("%w: suite %q", errUsage, suite)
			}
			ctx := cmd.Context()
			eng, err := docker.Connect(ctx)
			if err != nil {
				return err
			}
			defer eng.Close()
			if has, err := eng.HasImage(ctx, args[0]); err != nil {
				return err
			} else if has && !force {
				fmt.Fprintf(cmd.OutOrStdout(), "%s is already present\n", args[0])
				return nil
			}
			return importBase(ctx, eng, distro, suite, mirror, args[0], cmd)
		},
	}
	imp.Flags().StringVar(&mirror, "mirror", "", "package mirror (default: the distribution's)")
	imp.Flags().BoolVar(&force, "force", false, "import even when the image exists")
	cmd.AddCommand(imp)
	return cmd
}

func importBase(ctx context.Context, eng *docker.Engine, distro, suite, mirror, ref string, cmd *cobra.Command) error {
	dir, err := os.MkdirTemp("", "linux-builder-base-")
	if err != nil {
		return fmt.Errorf("base import: %w", err)
	}
	defer os.RemoveAll(dir)
	root := filepath.Join(dir, "root")
	fmt.Fprintf(cmd.OutOrStdout(), "debootstrap %s from %s\n", suite, mirror)
	boot := proc.Command(ctx, "debootstrap", "--variant=minbase", suite, root, mirror)
	boot.Stdout, boot.Stderr = cmd.ErrOrStderr(), cmd.ErrOrStderr()
	if err := boot.Run(); err != nil {
		return fmt.Errorf("debootstrap %s: %w", suite, err)
	}
	// Like the official images: updates and security sources, no package
	// lists or caches.
	if distro == "debian" {
		sources := fmt.Sprintf("deb %[1]s %[2]s main\ndeb %[1]s %[2]s-updates main\ndeb %[3]s %[2]s-security main\n",
			mirror, suite, strings.TrimSuffix(mirror, "/debian")+"/debian-security")
		if err := os.WriteFile(filepath.Join(root, "etc/apt/sources.list"), []byte(sources), 0o644); err != nil {
			return fmt.Errorf("sources.list: %w", err)
		}
	}
	for _, glob := range []string{"var/lib/apt/lists/*", "var/cache/apt/*.bin", "var/cache/apt/archives/*.deb"} {
		matches, _ := filepath.Glob(filepath.Join(root, glob))
		for _, m := range matches {
			_ = os.RemoveAll(m)
		}
	}
	tar := proc.Command(ctx, "tar", "-C", root, "--numeric-owner", "-c", ".")
	out, err := tar.StdoutPipe()
	if err != nil {
		return err
	}
	if err := tar.Start(); err != nil {
		return fmt.Errorf("tar: %w", err)
	}
	importErr := eng.Import(ctx, out, ref, []string{`CMD ["bash"]`})
	if err := tar.Wait(); err != nil && importErr == nil {
		importErr = fmt.Errorf("tar: %w", err)
	}
	if importErr != nil {
		return importErr
	}
	fmt.Fprintf(cmd.OutOrStdout(), "imported %s\n", ref)
	return nil
}
