package docker

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
)

// What a tool container may do, seen from inside: the disk step runs its
// tools on a stranger's files there, so a file that fools a tool gets a
// container with no network (only lo), none of root's powers but the
// five unpacking needs (no CAP_SYS_ADMIN to mount, no CAP_MKNOD to make a
// device of the engine's disk, no CAP_NET_RAW…), no way to gain more
// (no_new_privs), a pids and memory bound, and it is gone afterwards.
func TestToolContainerIsConfined(t *testing.T) {
	e := engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	since := time.Now().Add(-time.Second)
	var out bytes.Buffer
	script := `set -eu
read -r word
echo "word $word"
grep -E '^(CapEff|CapBnd|NoNewPrivs):' /proc/self/status
echo "net $(ls /sys/class/net | tr '\n' ' ')"
echo "pids $(cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max)"
echo "memory $(cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes)"
if mknod /tmp/disk b 8 0 2>/dev/null; then echo "mknod yes"; else echo "mknod no"; fi
echo "arg $1"`
	if err := e.RunTool(ctx, script, []string{"a b"}, strings.NewReader("hello\n"), &out, func(l string) { t.Log(l) }); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		k, v, _ := strings.Cut(strings.Replace(l, "\t", " ", 1), " ")
		got[strings.TrimSuffix(k, ":")] = strings.TrimSpace(v)
	}
	t.Logf("%q", got)
	// CHOWN 0, DAC_OVERRIDE 1, FOWNER 3, FSETID 4, SETFCAP 31.
	const want = "000000008000001b"
	for k, v := range map[string]string{"word": "hello", "arg": "a b", "CapEff": want, "CapBnd": want, "NoNewPrivs": "1",
		"net": "lo", "pids": "128", "memory": "4294967296", "mknod": "no"} {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
	// A failing tool's error carries its last words.
	err := e.RunTool(ctx, "echo 'mkfs: not enough space' >&2; exit 7", nil, strings.NewReader(""), &out, func(string) {})
	if err == nil || !strings.Contains(err.Error(), "exit status 7") || !strings.Contains(err.Error(), "not enough space") {
		t.Errorf("a failing tool: %v", err)
	}
	// Cancelled while it waits for input: it returns, and is removed.
	cctx, ccancel := context.WithTimeout(ctx, 3*time.Second)
	defer ccancel()
	block := &blockingReader{done: cctx.Done()}
	if err := e.RunTool(cctx, "cat >/dev/null", nil, block, &out, func(string) {}); err == nil {
		t.Error("a cancelled tool returned no error")
	}
	time.Sleep(2 * time.Second) // the engine's auto-removal
	cs, err := e.c.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", labelPrefix+"tool"))})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.Created >= since.Unix() {
			t.Errorf("tool container %s (%s) left behind", c.ID[:12], c.State)
		}
	}
}

type blockingReader struct{ done <-chan struct{} }

func (b *blockingReader) Read([]byte) (int, error) {
	<-b.done
	return 0, context.Canceled
}
