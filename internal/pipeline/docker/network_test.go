package docker

import (
	"context"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/network"

	"github.com/linux-builder/linux-builder/internal/pipeline"
)

// TestBuildNetworkPolicy makes the build network, reads back the rules
// the kernel holds (no traffic is sent anywhere), checks that a worker's
// start-up check sees a missing rule, and runs a build step on the
// network that reads its own address from the kernel.
func TestBuildNetworkPolicy(t *testing.T) {
	e := engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	n := BuildNetwork{Name: "linux-builder-test-net", Bridge: "lb-test0", Subnet: netip.MustParsePrefix("172.30.251.0/24"),
		Resolvers: nil}
	cleanup := func() {
		rs, _ := hostResolvers("/etc/resolv.conf")
		n.Resolvers = rs
		for _, r := range n.Rules() {
			for exec.Command(r.cmd, append([]string{"-w", "-D", r.chain}, r.args...)...).Run() == nil {
			}
		}
		_ = e.c.NetworkRemove(context.Background(), n.Name)
	}
	cleanup()
	t.Cleanup(cleanup)
	for range 2 { // idempotent
		if err := e.EnsureBuildNetwork(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.CheckBuildNetwork(ctx, n.Name); err != nil {
		t.Fatalf("check after setup: %v", err)
	}
	out, err := exec.Command("iptables", "-w", "-S", "DOCKER-USER").Output()
	if err != nil {
		t.Fatal(err)
	}
	rules := string(out)
	for _, d := range []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "127.0.0.0/8", "100.64.0.0/10"} {
		want := "-A DOCKER-USER -d " + d + " -i lb-test0 "
		if !strings.Contains(rules, want) || strings.Count(rules, want) != 1 {
			t.Errorf("DOCKER-USER lacks (or repeats) %q:\n%s", want, rules)
		}
	}
	// DNS is let through before the drops.
	if rs, _ := hostResolvers("/etc/resolv.conf"); len(rs) > 0 {
		dns := strings.Index(rules, "-d "+rs[0].String()+"/32 -i lb-test0 -p udp")
		drop := strings.Index(rules, "-d 10.0.0.0/8 -i lb-test0")
		if dns < 0 || dns > drop {
			t.Errorf("the resolver's DNS rule is missing or after the drops:\n%s", rules)
		}
	}
	in, _ := exec.Command("iptables", "-w", "-S", "INPUT").Output()
	if !strings.Contains(string(in), "-A INPUT -i lb-test0") {
		t.Errorf("INPUT lacks the drop of the bridge's traffic to the host:\n%s", in)
	}
	for _, chain := range []string{"INPUT", "FORWARD"} {
		in6, _ := exec.Command("ip6tables", "-w", "-S", chain).Output()
		if !strings.Contains(string(in6), "-A "+chain+" -i lb-test0") || !strings.Contains(string(in6), "-j DROP") {
			t.Errorf("ip6tables %s lacks the drop of the bridge's traffic:\n%s", chain, in6)
		}
	}
	insp, err := e.c.NetworkInspect(ctx, n.Name, network.InspectOptions{})
	if err != nil || insp.EnableIPv6 || insp.Options["com.docker.network.bridge.enable_icc"] != "false" {
		t.Errorf("network %+v %v: want no IPv6 and no traffic between builds", insp.Options, err)
	}

	// A build step on the network has an address in its subnet.
	e.Network = n.Name
	defer func() { e.Network = "" }()
	var lines []string
	id, err := e.Build(ctx, pipeline.BuildRequest{Context: dockerfile("FROM debian:bookworm\nRUN cat /proc/net/fib_trie\n"), Tag: "linux-builder-net-test:1"},
		func(l string) { lines = append(lines, l) })
	if id != "" {
		defer e.Remove(context.Background(), id)
	}
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(lines, "\n"), "172.30.251.") {
		t.Errorf("the build step did not run on the build network:\n%s", strings.Join(lines, "\n"))
	}

	// A flushed rule is found missing by the worker's check, and a build
	// refuses to start on the network.
	r := n.Rules()[len(n.Rules())-4]
	if err := exec.Command(r.cmd, append([]string{"-w", "-D", r.chain}, r.args...)...).Run(); err != nil {
		t.Fatal(err)
	}
	if err := e.CheckBuildNetwork(ctx, n.Name); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("check with a rule missing: %v", err)
	}
	// A build puts it back before it starts.
	var restored []string
	id2, err := e.Build(ctx, pipeline.BuildRequest{Context: dockerfile("FROM debian:bookworm\nRUN true\n"), Tag: "linux-builder-net-test:2"},
		func(l string) { restored = append(restored, l) })
	if id2 != "" {
		defer e.Remove(context.Background(), id2)
	}
	if err != nil || !strings.Contains(strings.Join(restored, "\n"), "restoring its rules") {
		t.Errorf("a build with a rule missing: %v\n%s", err, strings.Join(restored, "\n"))
	}
	if !r.check(ctx) {
		t.Errorf("the build did not restore %s", r)
	}
	if err := exec.Command(r.cmd, append([]string{"-w", "-D", r.chain}, r.args...)...).Run(); err != nil {
		t.Fatal(err)
	}
	// A worker's start puts it back, keeping the network's own subnet.
	if err := e.PrepareBuildNetwork(ctx, n.Name); err != nil {
		t.Fatal(err)
	}
	if err := e.CheckBuildNetwork(ctx, n.Name); err != nil {
		t.Errorf("check after a worker's start: %v", err)
	}
}
