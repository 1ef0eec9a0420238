package pipeline

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/spec"
)

// floodBuilder is a build whose scripts print without end, or whose
// image is larger than it should be.
type floodBuilder struct {
	fakeBuilder
	lines     int
	lineBytes int
	imageSize int64
}

func (b *floodBuilder) Build(ctx context.Context, req BuildRequest, log func(string)) (string, error) {
	for i := 0; i < b.lines; i++ {
		log(strings.Repeat("x", b.lineBytes))
	}
	return b.fakeBuilder.Build(ctx, req, log)
}

func (b *floodBuilder) Save(_ context.Context, _ string, w io.Writer) error {
	if b.imageSize == 0 {
		return b.fakeBuilder.Save(context.Background(), "", w)
	}
	chunk := make([]byte, 64<<10)
	for n := int64(0); n < b.imageSize; n += int64(len(chunk)) {
		if _, err := w.Write(chunk); err != nil {
			return err
		}
	}
	return nil
}

// blockingISO never finishes on its own.
type blockingISO struct{}

func (blockingISO) Build(ctx context.Context, _ ISORequest, _ func(string)) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestRunLimits(t *testing.T) {
	cases := []struct {
		name    string
		builder *floodBuilder
		iso     ISOBuilder
		limits  Limits
		state   run.State
		reason  string
		check   func(t *testing.T, st *memStore)
	}{
		{name: "a build over its time limit fails and says which step",
			builder: &floodBuilder{fakeBuilder: fakeBuilder{block: true}}, limits: Limits{BuildTimeout: 150 * time.Millisecond},
			state: run.Failed, reason: "the BUILDING step exceeded its time limit (150ms)"},
		{name: "an ISO step over its time limit fails and says so",
			builder: &floodBuilder{}, iso: blockingISO{}, limits: Limits{ISOTimeout: 150 * time.Millisecond},
			state: run.Failed, reason: "the ISO_GENERATING step exceeded its time limit (150ms)"},
		{name: "an image over the size limit fails",
			builder: &floodBuilder{imageSize: 4 << 20}, limits: Limits{MaxImageBytes: 1 << 20},
			state: run.Failed, reason: "the image is larger than the limit of 1048576 bytes"},
		{name: "a flood of output keeps the limit's lines and an omission mark",
			builder: &floodBuilder{lines: 5000, lineBytes: 10}, limits: Limits{MaxLogLines: 100},
			state: run.Complete,
			check: func(t *testing.T, st *memStore) {
				if len(st.logs) > 100+settleSlack+2 {
					t.Errorf("kept %d lines, want about 100", len(st.logs))
				}
				var marks int
				for _, l := range st.logs {
					if strings.Contains(l.Message, "lines omitted") && l.Level == "warn" {
						marks++
					}
				}
				if marks == 0 {
					t.Errorf("no omission mark in %d lines", len(st.logs))
				}
			}},
		{name: "a flood of bytes is cut by the byte limit",
			builder: &floodBuilder{lines: 200, lineBytes: 1000}, limits: Limits{MaxLogBytes: 20_000},
			state: run.Complete,
			check: func(t *testing.T, st *memStore) {
				var n int
				for _, l := range st.logs {
					n += len(l.Message)
				}
				if n > 21_000 || !strings.Contains(strings.Join(messages(st.logs), "\n"), "lines omitted") {
					t.Errorf("kept %d bytes in %d lines; last %q", n, len(st.logs), st.logs[len(st.logs)-1].Message)
				}
			}},
		{name: "a long line is cut",
			builder: &floodBuilder{lines: 1, lineBytes: 1 << 20}, limits: Limits{MaxLineBytes: 1000},
			state: run.Complete,
			check: func(t *testing.T, st *memStore) {
				for _, l := range st.logs {
					if len(l.Message) > 1100 {
						t.Fatalf("kept a line of %d bytes", len(l.Message))
					}
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, st, _ := newTestPipeline(t, goodSpec, &tc.builder.fakeBuilder, tc.iso, nil)
			p.cfg.Builder = tc.builder
			p.cfg.Limits = tc.limits.withDefaults()
			start := time.Now()
			if err := p.Run(context.Background(), 1); err != nil {
				t.Fatal(err)
			}
			if time.Since(start) > 30*time.Second {
				t.Errorf("the run took %s", time.Since(start))
			}
			if st.state != tc.state || (tc.reason != "" && !strings.Contains(st.reason, tc.reason)) {
				t.Fatalf("ended %s: %q; want %s with %q", st.state, st.reason, tc.state, tc.reason)
			}
			if tc.check != nil {
				tc.check(t, st)
			}
		})
	}
}

// basedContext names its base image; basedBuilder knows base images' IDs.
type basedContext struct{ fakeContext }

func (basedContext) BaseImage() string { return "debian:bookworm" }

type basedRenderer struct{}

func (basedRenderer) Render(*spec.Document, spec.Diagnostics) (BuildContext, spec.Diagnostics, error) {
	return basedContext{fakeContext{"h1"}}, nil, nil
}

type basedBuilder struct {
	fakeBuilder
	id string
}

func (b *basedBuilder) ImageID(_ context.Context, ref string) (string, error) {
	if b.id == "" {
		return "", errors.New("no such image")
	}
	return b.id, nil
}

// TestCacheKeyFollowsTheBaseImage: a re-imported base image (security
// updates) must not be served from the cache of builds on the old one.
func TestCacheKeyFollowsTheBaseImage(t *testing.T) {
	key := func(id string) (string, *memStore) {
		b := &basedBuilder{id: id}
		p, st, _ := newTestPipeline(t, goodSpec, &b.fakeBuilder, nil, nil)
		p.cfg.Builder, p.cfg.Renderer = b, basedRenderer{}
		if err := p.Run(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
		return st.hash, st
	}
	a, _ := key("sha256:aaaa")
	a2, _ := key("sha256:aaaa")
	b, _ := key("sha256:bbbb")
	if a != a2 || a == b || !strings.Contains(a, "+base:sha256:aaaa") {
		t.Fatalf("keys %q %q %q: want equal for the same base, different for another", a, a2, b)
	}
	if _, st := key(""); st.state != run.Failed || !strings.Contains(st.reason, "base image debian:bookworm") {
		t.Fatalf("missing base: ended %s %q", st.state, st.reason)
	}
}

func messages(lines []LogLine) []string {
	var out []string
	for _, l := range lines {
		out = append(out, l.Message)
	}
	return out
}
