package docker

import (
	"bufio"
	"context"
	"fmt"
	cerrdefs "github.com/containerd/errdefs"
	"net/netip"
	"os"
	"strings"

	"github.com/docker/docker/api/types/network"

	"github.com/linux-builder/linux-builder/internal/proc"
)

// The build network keeps a stranger's RUN steps away from everything but
// the public internet (the distributions' mirrors): a dedicated bridge
// whose traffic to private, link-local, shared, loopback, multicast and
// reserved addresses is dropped in Docker's DOCKER-USER chain, and whose
// traffic to the host itself is dropped in INPUT. DNS to the host's own
// resolvers (port 53 only) is let through first, as the build must
// resolve the mirrors. IPv6 is not enabled on it.

// BuildNetwork describes the network.
type BuildNetwork struct {
	Name   string // Docker network name, e.g. linux-builder-build
	Bridge string // host bridge interface, e.g. lb-build0 (at most 15 bytes)
	Subnet netip.Prefix
	// Resolvers are the DNS servers builds may reach on port 53; default
	// the host's /etc/resolv.conf name servers.
	Resolvers []netip.Addr
}

// blockedDestinations are never reachable from a build.
var blockedDestinations = []string{
	"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
	"192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4",
}

// rule is one firewall rule: the command (iptables or ip6tables), the
// chain and the match.
type rule struct {
	cmd   string
	chain string
	args  []string
}

// Rules are the firewall rules, in the order they are meant to match,
// that enforce n's policy. They match the bridge interface, not source
// addresses: a build step with CAP_NET_RAW can forge those.
func (n BuildNetwork) Rules() []rule {
	var rules []rule
	for _, r := range n.Resolvers {
		for _, p := range []string{"udp", "tcp"} {
			rules = append(rules, rule{"iptables", "DOCKER-USER", []string{"-i", n.Bridge, "-d", r.String() + "/32", "-p", p, "--dport", "53",
				"-m", "comment", "--comment", "linux-builder build dns", "-j", "RETURN"}})
		}
	}
	for _, d := range blockedDestinations {
		rules = append(rules, rule{"iptables", "DOCKER-USER", []string{"-i", n.Bridge, "-d", d, "-m", "comment", "--comment", "linux-builder build egress", "-j", "DROP"}})
	}
	rules = append(rules, rule{"iptables", "INPUT", []string{"-i", n.Bridge, "-m", "comment", "--comment", "linux-builder build to host", "-j", "DROP"}})
	// The network has no IPv6, but older engines give containers
	// link-local IPv6 addresses all the same: none of it leaves the bridge.
	for _, chain := range []string{"INPUT", "FORWARD"} {
		rules = append(rules, rule{"ip6tables", chain, []string{"-i", n.Bridge, "-m", "comment", "--comment", "linux-builder build ipv6", "-j", "DROP"}})
	}
	return rules
}

func (r rule) String() string { return r.cmd + " " + r.chain + " " + strings.Join(r.args, " ") }

// check reports whether the rule is in place.
func (r rule) check(ctx context.Context) bool {
	return proc.Command(ctx, r.cmd, append([]string{"-w", "-C", r.chain}, r.args...)...).Run() == nil
}

// EnsureBuildNetwork creates the network when missing (an existing one
// must have the same subnet and bridge) and installs its rules when
// missing; running it again changes nothing.
func (e *Engine) EnsureBuildNetwork(ctx context.Context, n BuildNetwork) error {
	if len(n.Bridge) == 0 || len(n.Bridge) > 15 {
		return fmt.Errorf("bridge name %q: want 1-15 bytes", n.Bridge)
	}
	if !n.Subnet.IsValid() || !n.Subnet.Addr().Is4() {
		return fmt.Errorf("subnet %s: want an IPv4 prefix", n.Subnet)
	}
	if len(n.Resolvers) == 0 {
		rs, err := hostResolvers("/etc/resolv.conf")
		if err != nil {
			return err
		}
		n.Resolvers = rs
	}
	insp, err := e.c.NetworkInspect(ctx, n.Name, network.InspectOptions{})
	switch {
	case cerrdefs.IsNotFound(err):
		_, err = e.c.NetworkCreate(ctx, n.Name, network.CreateOptions{
			Driver: "bridge",
			IPAM:   &network.IPAM{Config: []network.IPAMConfig{{Subnet: n.Subnet.String()}}},
			Options: map[string]string{
				"com.docker.network.bridge.name":                 n.Bridge,
				"com.docker.network.bridge.enable_icc":           "false",
				"com.docker.network.bridge.enable_ip_masquerade": "true",
			},
			Labels: map[string]string{"io.linux-builder.network": "build"},
		})
		if err != nil {
			return fmt.Errorf("create network %s: %w", n.Name, err)
		}
	case err != nil:
		return fmt.Errorf("inspect network %s: %w", n.Name, err)
	default:
		if err := n.matches(insp); err != nil {
			return err
		}
	}
	// Insert in reverse so the rules end up in Rules' order at the top.
	rules := n.Rules()
	for i := len(rules) - 1; i >= 0; i-- {
		r := rules[i]
		if r.check(ctx) {
			continue
		}
		if out, err := proc.Command(ctx, r.cmd, append([]string{"-w", "-I", r.chain, "1"}, r.args...)...).CombinedOutput(); err != nil {
			return fmt.Errorf("insert %s: %w: %s", r, err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

// DefaultBuildNetwork is the network workers build on unless told
// otherwise; PrepareBuildNetwork makes it on first use.
var DefaultBuildNetwork = BuildNetwork{Name: "linux-builder-build", Bridge: "lb-build0", Subnet: netip.MustParsePrefix("172.30.240.0/24")}

// PrepareBuildNetwork makes sure the network name exists with its policy
// in force: an existing one keeps its bridge and subnet and gets any
// missing rule back (a host restart flushes iptables); a missing one is
// made like DefaultBuildNetwork.
func (e *Engine) PrepareBuildNetwork(ctx context.Context, name string) error {
	n := DefaultBuildNetwork
	n.Name = name
	insp, err := e.c.NetworkInspect(ctx, name, network.InspectOptions{})
	switch {
	case cerrdefs.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("inspect network %s: %w", name, err)
	default:
		if n, err = inspected(name, insp); err != nil {
			return err
		}
	}
	return e.EnsureBuildNetwork(ctx, n)
}

// inspected is the policy of an existing build network.
func inspected(name string, insp network.Inspect) (BuildNetwork, error) {
	n := BuildNetwork{Name: name, Bridge: insp.Options["com.docker.network.bridge.name"]}
	if len(insp.IPAM.Config) != 1 || n.Bridge == "" || insp.EnableIPv6 || insp.Driver != "bridge" {
		return n, fmt.Errorf("build network %s: want a bridge with one IPv4 subnet, a named bridge interface and no IPv6 (as 'bot network setup' makes)", name)
	}
	var err error
	if n.Subnet, err = netip.ParsePrefix(insp.IPAM.Config[0].Subnet); err != nil {
		return n, fmt.Errorf("build network %s: subnet: %w", name, err)
	}
	return n, nil
}

// CheckBuildNetwork fails unless the network name exists with the rules
// of its bridge and subnet: a worker must not build on a network whose
// policy is gone (a host restart flushes iptables).
func (e *Engine) CheckBuildNetwork(ctx context.Context, name string) error {
	insp, err := e.c.NetworkInspect(ctx, name, network.InspectOptions{})
	if err != nil {
		return fmt.Errorf("build network %s: %w (run 'bot network setup')", name, err)
	}
	n, err := inspected(name, insp)
	if err != nil {
		return err
	}
	if n.Resolvers, err = hostResolvers("/etc/resolv.conf"); err != nil {
		return err
	}
	for _, r := range n.Rules() {
		if !r.check(ctx) {
			return fmt.Errorf("build network %s: the rule %q is missing (a worker restores it at start; or run 'bot network setup')", name, r)
		}
	}
	return nil
}

func (n BuildNetwork) matches(insp network.Inspect) error {
	if insp.Options["com.docker.network.bridge.name"] != n.Bridge {
		return fmt.Errorf("network %s exists with bridge %q, not %q", n.Name, insp.Options["com.docker.network.bridge.name"], n.Bridge)
	}
	for _, c := range insp.IPAM.Config {
		if c.Subnet == n.Subnet.String() {
			return nil
		}
	}
	return fmt.Errorf("network %s exists without the subnet %s", n.Name, n.Subnet)
}

// hostResolvers are the IPv4 name servers of a resolv.conf; loopback
// ones are left out (Docker does not hand those to containers).
func hostResolvers(path string) ([]netip.Addr, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("resolvers: %w", err)
	}
	defer f.Close()
	var out []netip.Addr
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "nameserver" {
			if a, err := netip.ParseAddr(fields[1]); err == nil && a.Is4() && !a.IsLoopback() {
				out = append(out, a)
			}
		}
	}
	return out, sc.Err()
}
