package main

import (
	"fmt"
	"net/netip"

	"github.com/spf13/cobra"

	"github.com/linux-builder/linux-builder/internal/pipeline/docker"
)

func newNetworkCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "network",
		Short: "Manage the builds' network",
	}
	n := docker.BuildNetwork{}
	var subnet string
	setup := &cobra.Command{
		Use:   "setup",
		Short: "Create the build network and its egress policy (idempotent; workers also make and restore the default one)",
		Long: `Setup creates a Docker bridge network for builds and installs iptables rules
that drop its traffic to private (10/8, 172.16/12, 192.168/16), shared (100.64/10),
link-local (169.254/16), loopback, multicast and reserved addresses, and to the
host itself; DNS to the host's resolvers (port 53) is allowed. Builds on it reach
the public internet only: the distributions' mirrors. Workers build on
linux-builder-build by default and make it (and restore its rules) at start;
use setup for another name, bridge or subnet, then --build-network NAME.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := netip.ParsePrefix(subnet)
			if err != nil {
				return fmt.Errorf("%w: --subnet: %w", errUsage, err)
			}
			n.Subnet = p
			eng, err := docker.Connect(cmd.Context())
			if err != nil {
				return err
			}
			defer eng.Close()
			if err := eng.EnsureBuildNetwork(cmd.Context(), n); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "build network %s (%s on %s) ready: run workers with --build-network %s\n", n.Name, n.Subnet, n.Bridge, n.Name)
			return nil
		},
	}
	def := docker.DefaultBuildNetwork
	setup.Flags().StringVar(&n.Name, "name", def.Name, "Docker network name")
	setup.Flags().StringVar(&n.Bridge, "bridge", def.Bridge, "host bridge interface name")
	setup.Flags().StringVar(&subnet, "subnet", def.Subnet.String(), "IPv4 subnet of the network")
	cmd.AddCommand(setup)
	return cmd
}
