package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/linux-builder/linux-builder/internal/buildinfo"
)

// versionText is what `bot version` and `bot --version` print.
func versionText() string { return buildinfo.Read().String("bot") }

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, the commit and the build date",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprint(cmd.OutOrStdout(), versionText())
			return err
		},
	}
}
