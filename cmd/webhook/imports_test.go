package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The receiver links what intake needs and nothing else: no private key's
// client (ghinstallation), no SQLite, no build machinery, no metrics
// library (its metrics are metrics/lean's: client_golang cost 3.7 MiB of
// RSS).
func TestReceiverLinksLittle(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 {
		t.Fatalf("go list listed %d packages", len(deps))
	}
	forbidden := []string{
		"github.com/prometheus/",
		"google.golang.org/protobuf/",
		"github.com/bradleyfalzon/ghinstallation",
		"modernc.org/sqlite",
		"github.com/docker/docker",
		"github.com/linux-builder/linux-builder/internal/pipeline",
		"github.com/linux-builder/linux-builder/internal/github",
		"github.com/linux-builder/linux-builder/internal/metrics\n", // the client_golang half
	}
	for _, d := range deps {
		for _, f := range forbidden {
			if strings.HasPrefix(d+"\n", f) {
				t.Errorf("the receiver links %s", d)
			}
		}
	}
}
