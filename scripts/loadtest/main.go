// Command loadtest is the webhook load benchmark's helper (see
// scripts/loadtest.sh):
//
//	loadtest bare ADDR           a bare Fiber handler: the ceiling to compare with
//	loadtest bodies N FIRST SECRET OUT
//	                             write a push delivery template and the
//	                             signatures of N commits for wrk
//	loadtest full-bodies N FIRST SECRET OUT
//	                             write N finished signed bodies (the bare
//	                             ceiling's cheap requests)
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
		return fmt.Errorf("usage: loadtest bare ADDR | bodies N FIRST SECRET OUT | rss PID")
	}
	switch args[0] {
	case "bare":
		if len(args) != 2 {
			return fmt.Errorf("usage: loadtest bare ADDR")
		}
		app := fiber.New(fiber.Config{DisableStartupMessage: true, BodyLimit: webhook.MaxBody})
		app.Post("/webhook", func(c *fiber.Ctx) error { return c.Status(fiber.StatusAccepted).SendString("ok") })
		return app.Listen(args[1])
	case "bodies", "full-bodies":
		if len(args) != 5 {
			return fmt.Errorf("usage: loadtest %s N FIRST SECRET OUT", args[0])
		}
		var n, first int
		if _, err := fmt.Sscan(args[1], &n); err != nil || n < 1 {
			return fmt.Errorf("the number of deliveries N must be a positive integer, got %q", args[1])
		}
		if _, err := fmt.Sscan(args[2], &first); err != nil || first < 1 {
			return fmt.Errorf("FIRST: %q", args[2])
		}
		return bodies(n, first, args[3], args[4], args[0] == "full-bodies")
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
				if _, err := fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kb); err != nil {
					return fmt.Errorf("VmHWM %q: %w", v, err)
				}
				fmt.Printf("%.1f\n", float64(kb)/1024)
				return nil
			}
		}
		return fmt.Errorf("no VmHWM for %s", args[1])
	}
	return fmt.Errorf("unknown command %q", args[0])
}

// shaMark stands for the commit SHA in the template bodies writes.
const shaMark = "@SHA@"

// bodies writes GitHub's recorded push payload
// (testdata/github/webhooks/push/00-none.json) as a template adding
// linux-build.yaml on one commit, whose SHA is shaMark: the first line is
// "template<TAB>body". Then, one per line as "signature<TAB>sha", the
// signatures of n pushes of the commits first, first+1, … (as 40 hex
// digits): every delivery the wrk script makes from them is a different
// push, as GitHub sends them, and the file stays small. With full, the
// lines are "signature<TAB>body" instead, without the template.
func bodies(n, first int, secret, out string, full bool) error {
	raw, err := os.ReadFile("testdata/github/webhooks/push/00-none.json")
	if err != nil {
		return err
	}
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		return err
	}
	commit := map[string]any{"id": shaMark, "message": "spec", "added": []string{"linux-build.yaml"}, "removed": []string{}, "modified": []string{}}
	ev["ref"], ev["after"], ev["deleted"] = "refs/heads/main", shaMark, false
	ev["commits"], ev["head_commit"] = []any{commit}, commit
	ev["installation"] = map[string]any{"id": 1}
	tmpl, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	if strings.ContainsAny(string(tmpl), "\t\n") {
		return fmt.Errorf("the template has a tab or a newline")
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	if !full {
		fmt.Fprintf(w, "template\t%s\n", tmpl)
	}
	for i := range n {
		sha := fmt.Sprintf("%040x", first+i)
		body := strings.ReplaceAll(string(tmpl), shaMark, sha)
		if full {
			fmt.Fprintf(w, "%s\t%s\n", webhook.Sign(secret, []byte(body)), body)
		} else {
			fmt.Fprintf(w, "%s\t%s\n", webhook.Sign(secret, []byte(body)), sha)
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}
