package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"
)

func newInstallationCmd() *cobra.Command {
	var sf storeFlags
	cmd := &cobra.Command{
		Use:   "installation",
		Short: "Settings of GitHub App installations",
	}
	specPath := &cobra.Command{
		Use:   "spec-path INSTALLATION_ID [PATH]",
		Short: "Show or set where an installation's repositories keep their spec",
		Long: `spec-path prints the path of the spec in the repositories of an installation,
or, with PATH, sets it (for example ci/linux-build.yaml). An empty PATH ("")
restores the default (serve --spec-path, linux-build.yaml). Receivers pick the
change up within 30 seconds.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return fmt.Errorf("%w: installation id %q is not a positive number", errUsage, args[0])
			}
			ctx := cmd.Context()
			db, err := sf.openMigrated(ctx, false)
			if err != nil {
				return err
			}
			defer db.Close()
			if len(args) == 2 {
				if err := db.SetSpecPath(ctx, id, args[1]); err != nil {
					return err
				}
			}
			in, err := db.Installation(ctx, id)
			if err != nil {
				return err
			}
			path := in.SpecPath
			if path == "" {
				path = "(default)"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "installation %d (%s): %s\n", in.ID, in.Account, path)
			return nil
		},
	}
	sf.register(specPath)
	cmd.AddCommand(specPath)
	return cmd
}
