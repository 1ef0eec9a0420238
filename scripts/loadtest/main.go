// Command loadtest is the webhook load benchmark's helper (see
// scripts/loadtest.sh):
//
//	loadtest bare ADDR           a bare Fiber handler: the ceiling to compare with
//	loadtest bodies N SECRET OUT write N signed push deliveries for wrk
//	loadtest rss PID             print a process's peak RSS (VmHWM) in MiB
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/linux-builder/linux-builder/internal/webhook"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: loadtest bare ADDR | bodies N SECRET OUT | rss PID")
	}
	switch args[0] {
	case "bare":
		if len(args) != 2 {
			return fmt.Errorf("usage: loadtest bare ADDR")
		}
		app := fiber.New(fiber.Config{DisableStartupMessage: true, BodyLimit: webhook.MaxBody})
		app.Post("/webhook", func(c *fiber.Ctx) error { return c.Status(fiber.StatusAccepted).SendString("ok") })
		return app.Listen(args[1])
	case "bodies":
		if len(args) != 4 {
			return fmt.Errorf("usage: loadtest bodies N SECRET OUT")
		}
		var n int
		if _, err := fmt.Sscan(args[1], &n); err != nil || n < 1 {
			return fmt.Errorf("N: %q", args[1])
		}
		return bodies(n, args[2], args[3])
	case "rss":
		if len(args) != 2 {
			return fmt.Errorf("usage: loadtest rss PID")
		}
		b, err := os.ReadFile("/proc/" + args[1] + "/status")
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				var kb int
				fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kb)
				fmt.Printf("%.1f\n", float64(kb)/1024)
				return nil
			}
		}
		return fmt.Errorf("no VmHWM for %s", args[1])
	}
	return fmt.Errorf("unknown command %q", args[0])
}

// bodies writes n variants of GitHub's recorded push payload
// (testdata/github/webhooks/push/00-none.json), each adding
// linux-build.yaml on its own commit, one per line as
// "signature<TAB>body", for the wrk script to send.
func bodies(n int, secret, out string) error {
	raw, err := os.ReadFile("testdata/github/webhooks/push/00-none.json")
	if err != nil {
		return err
	}
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for i := range n {
		sha := fmt.Sprintf("%040x", i+1)
		commit := map[string]any{"id": sha, "message": "spec", "added": []string{"linux-build.yaml"}, "removed": []string{}, "modified": []string{}}
		ev["ref"], ev["after"], ev["deleted"] = "refs/heads/main", sha, false
		ev["commits"], ev["head_commit"] = []any{commit}, commit
		ev["installation"] = map[string]any{"id": 1}
		b, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%s\t%s\n", webhook.Sign(secret, b), b)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}
