// Command bot is Linux Builder: a GitHub App that turns a linux-build.yaml
// into a Docker image and a bootable ISO. This file wires the subcommands;
// the work lives in internal/.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/linux-builder/linux-builder/internal/logging"
)

// exitError carries a process exit status through cobra without printing
// usage; its message (if any) has already been printed.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func main() {
	os.Exit(cli(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// cli executes the CLI and returns the exit status: 0 success, 1 failure
// (including invalid specs), 2 usage errors.
func cli(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runContext(context.Background(), args, stdin, stdout, stderr)
}

// runContext is cli with a context whose end stops long-running commands
// (serve, worker) as a signal would.
func runContext(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd(stdin, stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	default:
		fmt.Fprintln(stderr, "bot:", err)
		if errors.Is(err, errUsage) {
			return 2
		}
		return 1
	}
}

var errUsage = errors.New("usage")

func newRootCmd(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	logOpts := logging.FromEnv()
	root := &cobra.Command{
		Use:   "bot",
		Short: "Linux Builder: build bootable Linux images from linux-build.yaml",
		Long: `Linux Builder turns a linux-build.yaml (or a /build comment) into a Docker
image and a bootable ISO, and reports every step on GitHub.

Environment:
  LOG_FORMAT  text, json or auto (text on a terminal, JSON otherwise)
  LOG_LEVEL   debug, info, warn or error (default info)`,
		Version:       versionText(),
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := logging.New(stderr, logOpts)
			if err != nil {
				return fmt.Errorf("%w: %w", errUsage, err)
			}
			slog.SetDefault(logger)
			return nil
		},
	}
	root.SetVersionTemplate("{{.Version}}")
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return fmt.Errorf("%w: %w", errUsage, err) })
	root.PersistentFlags().StringVar(&logOpts.Format, "log-format", logOpts.Format, "log format: text, json or auto (env LOG_FORMAT)")
	root.PersistentFlags().StringVar(&logOpts.Level, "log-level", logOpts.Level, "log level: debug, info, warn, error (env LOG_LEVEL)")
	root.AddCommand(newValidateCmd(), newSchemaCmd(), newRenderCmd(), newMigrateCmd(), newBuildCmd(), newBaseCmd(), newWorkerCmd(), newServeCmd(), newInstallationCmd(), newGenerateCmd(), newNetworkCmd(), newVersionCmd(), newRunsCmd(), newGCCmd(), newDiskCmd(), newSetupCmd(), newTokenCmd())
	return root
}
