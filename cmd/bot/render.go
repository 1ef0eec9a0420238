package main

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"

	linuxbuilder "github.com/linux-builder/linux-builder"
	"github.com/linux-builder/linux-builder/internal/render"
	"github.com/linux-builder/linux-builder/internal/spec"
)

func newRenderCmd() *cobra.Command {
	var (
		out, distro, user, timezone string
		images                      []string
	)
	cmd := &cobra.Command{
		Use:   "render SPEC -o DIR",
		Short: "Write the Docker build context (Dockerfile, config files, scripts) for a spec",
		Long: `Render validates SPEC and writes its complete build context to DIR (which must
not exist or be empty): a Dockerfile for the spec's distribution, rootfs/ with the
configuration files, and post-install/ with the postInstall scripts. The same
spec always renders byte-identical files; the context hash is printed.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("%w: render needs exactly one SPEC", errUsage)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return fmt.Errorf("%w: -o DIR is required", errUsage)
			}
			opts := render.Options{User: render.User{Name: user}, Timezone: timezone, Images: map[spec.Base]string{}}
			for _, kv := range images {
				b, ref, ok := strings.Cut(kv, "=")
				if !ok {
					return fmt.Errorf("%w: --image %q: want DISTRO=IMAGE", errUsage, kv)
				}
				opts.Images[spec.Base(b)] = ref
			}
			src, err := readSpec(cmd.InOrStdin(), args[0])
			if err != nil {
				return err
			}
			doc, diags := spec.Parse(args[0], src)
			if distro != "" && doc.Spec != nil && !diags.HasErrors() {
				rebased, err := spec.Rebase(doc, spec.Base(distro))
				if err != nil {
					return fmt.Errorf("%w: --distro: %w", errUsage, err)
				}
				diags = rebased
			}
			for _, d := range diags {
				fmt.Fprintln(cmd.ErrOrStderr(), d.String())
			}
			if diags.HasErrors() {
				return exitError{code: 1}
			}
			r, err := render.New(linuxbuilder.Templates)
			if err != nil {
				return err
			}
			ctx, err := r.Render(doc, diags, opts)
			if err != nil {
				return err
			}
			for _, w := range ctx.Warnings {
				fmt.Fprintln(cmd.ErrOrStderr(), w.String())
			}
			if err := ctx.WriteDir(out); err != nil {
				return err
			}
			slog.Info("rendered build context", "spec", args[0], "base", doc.Spec.Base, "dir", out, "files", len(ctx.Files), "context_hash", ctx.Hash)
			fmt.Fprintf(cmd.OutOrStdout(), "%s\n", ctx.Hash)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "directory to write the build context to (must not exist or be empty)")
	cmd.Flags().StringVar(&distro, "distro", "", "render for this distribution instead of the spec's base")
	cmd.Flags().StringArrayVar(&images, "image", nil, "base image override, DISTRO=IMAGE (repeatable)")
	cmd.Flags().StringVar(&user, "user", "live", "console user of a spec without users: no password, logged in automatically on the console only (users with passwords or keys go in the spec's users section)")
	cmd.Flags().StringVar(&timezone, "timezone", "UTC", "time zone of the image")
	return cmd
}
