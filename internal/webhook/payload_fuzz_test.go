package webhook

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/google/go-github/v88/github"
)

// FuzzDecodePayload: the fast decoder never panics, and a push payload
// encoding/json accepts decodes to the same ref, commit and files.
func FuzzDecodePayload(f *testing.F) {
	for _, name := range []string{"00-none.json", "01-none.json"} {
		b, err := os.ReadFile("../../testdata/github/webhooks/push/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"ref":"refs/heads/main","after":"abc","commits":[{"added":["linux-build.yaml"]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var fast, std github.PushEvent
		errFast := decodePayload(body, &fast)
		if json.Unmarshal(body, &std) != nil || errFast != nil {
			return // malformed or mistyped: an error either way is fine, a panic is not
		}
		if fast.GetRef() != std.GetRef() || fast.GetAfter() != std.GetAfter() || fast.GetDeleted() != std.GetDeleted() ||
			len(fast.Commits) != len(std.Commits) || fast.GetRepo().GetFullName() != std.GetRepo().GetFullName() {
			t.Fatalf("decoders disagree on %q", body)
		}
		for i := range std.Commits {
			if len(fast.Commits[i].Added) != len(std.Commits[i].Added) || len(fast.Commits[i].Modified) != len(std.Commits[i].Modified) {
				t.Fatalf("decoders disagree on commit %d of %q", i, body)
			}
		}
	})
}
