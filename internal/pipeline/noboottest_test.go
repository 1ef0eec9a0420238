package pipeline

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/linux-builder/linux-builder/internal/run"
)

// A run that asked for no boot test (NoBootTest) with a boot tester
// configured: its ISO and disk images get no marker, nothing is booted,
// BOOT_TESTING is entered and says so once, and the run completes, not
// partial. The same run without the flag is boot-tested (the fakes would
// see it).
func TestNoBootTestRunBootsNothing(t *testing.T) {
	const withDisk = "base: debian\noutputs: [iso, qcow2]\n"
	tests := []struct {
		name       string
		spec       string
		noBootTest bool
		boots      int // boots the tester saw
	}{
		{name: "iso, no boot test", spec: goodSpec, noBootTest: true},
		{name: "iso and qcow2, no boot test", spec: withDisk, noBootTest: true},
		{name: "iso, boot-tested", spec: goodSpec, boots: 3},
		{name: "iso and qcow2, boot-tested", spec: withDisk, boots: 3 + 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			iso, disk, boot := &countingISO{}, &fakeDisk{}, &watchBoot{t: t}
			p, st := newDiskPipeline(t, tc.spec, iso, disk, boot)
			p.cfg.MaxBoots = 8
			st.rec.NoBootTest = tc.noBootTest
			if err := p.Run(context.Background(), 1); err != nil {
				t.Fatal(err)
			}
			if st.state != run.Complete || st.partial != "" {
				t.Fatalf("ended %s (%q), partial %q; want COMPLETE and not partial", st.state, st.reason, st.partial)
			}
			if st.steps[len(st.steps)-1] != run.BootTesting {
				t.Fatalf("steps %v: BOOT_TESTING was not entered", st.steps)
			}
			if len(boot.reqs) != tc.boots {
				t.Fatalf("the boot tester was called %d times, want %d", len(boot.reqs), tc.boots)
			}
			if len(iso.markers) != 1 || (iso.markers[0] == "") != tc.noBootTest {
				t.Fatalf("ISO requests' markers %q (noBootTest %v)", iso.markers, tc.noBootTest)
			}
			if strings.Contains(tc.spec, "qcow2") {
				if len(disk.reqs) != 1 {
					t.Fatalf("disk requests: %d", len(disk.reqs))
				}
				if d := disk.reqs[0]; (d.Marker == "") != tc.noBootTest || (d.BootTestOutput == "") != tc.noBootTest {
					t.Fatalf("disk request marker %q, boot-test copy %q (noBootTest %v)", d.Marker, d.BootTestOutput, tc.noBootTest)
				}
			}
			said := 0
			for _, l := range st.logs {
				if l.Message == noBootTestLine {
					said++
					if l.Step != run.BootTesting {
						t.Errorf("%q logged in %s", l.Message, l.Step)
					}
				}
			}
			if want := map[bool]int{true: 1, false: 0}[tc.noBootTest]; said != want {
				t.Fatalf("the log says %q %d times, want %d", noBootTestLine, said, want)
			}
			for _, a := range st.arts {
				if a.Type == run.ArtifactBootLog && tc.noBootTest {
					t.Errorf("a run that booted nothing has the boot log %s", a.Name)
				}
			}
		})
	}
}

// noBootRun runs a build of goodSpec (ISO and boot tester configured)
// for installation 1, asking for no boot test or not, with the cache
// holding cached; b fails when a cache hit is expected.
func noBootRun(t *testing.T, dir string, id int64, noBootTest bool, b *fakeBuilder, cached map[string][]Artifact) *memStore {
	t.Helper()
	st := &memStore{rec: RunRecord{ID: id, InstallationID: 1, NoBootTest: noBootTest, SpecPath: "linux-build.yaml", SpecSrc: []byte(goodSpec)},
		state: run.Pending, cache: map[string][]Artifact{}}
	for k, v := range cached {
		st.cache[k] = v
	}
	p, err := New(Config{Store: st, Renderer: fakeRenderer{"h1"}, Builder: b, ISO: fakeISO{}, Boot: fakeBoot{}, ArtifactsDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if st.state != run.Complete {
		t.Fatalf("run %d ended %s: %s", id, st.state, st.reason)
	}
	return st
}

// The artifacts of a boot-tested run never answer a run that asked for no
// boot test, nor the other way round (their ISOs differ: the marker);
// runs that asked the same share them.
func TestNoBootTestCacheKeyedApart(t *testing.T) {
	tests := []struct {
		name          string
		first, second bool // NoBootTest of the cached run and of the next
		hit           bool
	}{
		{name: "boot-tested after no boot test builds", first: true, second: false},
		{name: "no boot test after boot-tested builds", first: false, second: true},
		{name: "no boot test after no boot test reuses", first: true, second: true, hit: true},
		{name: "boot-tested after boot-tested reuses", first: false, second: false, hit: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			first := noBootRun(t, dir, 1, tc.first, &fakeBuilder{}, nil)
			b := &fakeBuilder{}
			if tc.hit {
				b.fail = errors.New("must not build: cache hit expected")
			}
			second := noBootRun(t, dir, 2, tc.second, b, map[string][]Artifact{first.hash: first.arts})
			if (first.hash == second.hash) != tc.hit {
				t.Fatalf("cache keys %q and %q", first.hash, second.hash)
			}
			hit := false
			for _, l := range second.logs {
				hit = hit || strings.Contains(l.Message, "cache hit")
			}
			if hit != tc.hit {
				t.Fatalf("cache hit %v, want %v: steps %v", hit, tc.hit, second.steps)
			}
		})
	}
}

// The cache key names the run's own option, and keeps the firmwares to
// boot-tested runs. Without a boot tester the flag still keys the run
// apart (a run left unbooted by configuration is partial for it, one that
// asked for none is not), and a run that asked for none has the same key
// on a worker with a boot tester and on one without: the same media.
func TestCacheKeyOfNoBootTest(t *testing.T) {
	p, _, _ := newTestPipeline(t, goodSpec, &fakeBuilder{}, fakeISO{}, fakeBoot{})
	tested, asked := p.cacheKey("h", nil, false), p.cacheKey("h", nil, true)
	if !strings.Contains(tested, string(UEFI)) || strings.Contains(tested, "no-boot-test") {
		t.Errorf("a boot-tested run's key %q", tested)
	}
	if !strings.HasSuffix(asked, "+no-boot-test") || strings.Contains(asked, string(BIOS)) {
		t.Errorf("a no-boot-test run's key %q: want +no-boot-test and no firmware", asked)
	}
	unbooted, _, _ := newTestPipeline(t, goodSpec, &fakeBuilder{}, fakeISO{}, nil)
	if k := unbooted.cacheKey("h", nil, true); k == unbooted.cacheKey("h", nil, false) || k != asked {
		t.Errorf("without a boot tester: asked %q, not asked %q", k, unbooted.cacheKey("h", nil, false))
	}
}
