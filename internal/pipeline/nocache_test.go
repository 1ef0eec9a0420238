package pipeline

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/linux-builder/linux-builder/internal/run"
)

// requestBuilder is a builder that remembers the requests it got.
type requestBuilder struct {
	fakeBuilder
	reqs []BuildRequest
}

func (b *requestBuilder) Build(ctx context.Context, req BuildRequest, log func(string)) (string, error) {
	b.reqs = append(b.reqs, req)
	return b.fakeBuilder.Build(ctx, req, log)
}

func (b *requestBuilder) Save(ctx context.Context, id string, w io.Writer) error {
	return b.fakeBuilder.Save(ctx, id, w)
}

// A run asked to be built fresh (Rebuild, /build retry, bot build
// --no-cache) takes no earlier run's artifacts although the cache has
// them, and asks the engine for no cached layer.
func TestNoCacheRunBuildsFresh(t *testing.T) {
	dir := t.TempDir()
	first := cacheRun(t, dir, 1, 1, &fakeBuilder{}, nil)
	for _, fresh := range []bool{false, true} {
		b := &requestBuilder{}
		st := &memStore{rec: RunRecord{ID: 2, InstallationID: 1, NoCache: fresh, SpecPath: "linux-build.yaml", SpecSrc: []byte(goodSpec)},
			state: run.Pending, cache: map[string][]Artifact{first.hash: first.arts}}
		p, err := New(Config{Store: st, Renderer: fakeRenderer{"h1"}, Builder: b, ArtifactsDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Run(context.Background(), 2); err != nil {
			t.Fatal(err)
		}
		if st.state != run.Complete {
			t.Fatalf("fresh=%v: ended %s: %s", fresh, st.state, st.reason)
		}
		if !fresh {
			if len(b.reqs) != 0 {
				t.Fatal("an ordinary run built although the cache had its context")
			}
			continue
		}
		if len(b.reqs) != 1 || !b.reqs[0].NoCache {
			t.Fatalf("a fresh run's build requests %+v, want one with NoCache", b.reqs)
		}
		for _, l := range st.logs {
			if strings.Contains(l.Message, "cache hit") {
				t.Fatalf("a fresh run reused the cache: %q", l.Message)
			}
		}
	}
}
