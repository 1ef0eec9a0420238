package pipeline

import (
	"context"
	"os"
	"regexp"
	"sync"
	"testing"
	"time"
)

// markerISO records the marker each ISO was asked to carry.
type markerISO struct{ got *[]string }

func (m markerISO) Build(_ context.Context, req ISORequest, _ func(string)) error {
	*m.got = append(*m.got, req.Marker)
	return os.WriteFile(req.Output, []byte("iso"), 0o644)
}

// markerBoot records the marker each boot waited for.
type markerBoot struct {
	mu  *sync.Mutex
	got *[]string
}

func (m markerBoot) Boot(_ context.Context, req BootRequest, _ func(string)) (time.Duration, error) {
	m.mu.Lock()
	*m.got = append(*m.got, req.Marker)
	m.mu.Unlock()
	return time.Second, os.WriteFile(req.SerialLog, []byte(req.Marker+"\n"), 0o644)
}

// The attack: the boot test passes when the console shows the marker, and
// a spec's kernel parameters (echoed on the console by the kernel) or an
// image's scripts could print it without the system having booted, were
// the marker known in advance. It was "LINUX-BUILDER-BOOT-OK run=<id>",
// and run ids are sequential and public. Each attempt's marker carries a
// random part: two attempts of the same run differ, and the ISO and its
// boots agree.
func TestBootMarkerCannotBeGuessed(t *testing.T) {
	want := regexp.MustCompile(`^LINUX-BUILDER-BOOT-OK run=1 [A-Z2-7]{26}$`)
	var markers []string
	for range 2 {
		var isos, boots []string
		p, st, _ := newTestPipeline(t, goodSpec, &fakeBuilder{}, markerISO{&isos}, markerBoot{&sync.Mutex{}, &boots})
		if err := p.Run(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
		if len(isos) != 1 || len(boots) == 0 {
			t.Fatalf("ended %s (%s): %d ISOs, %d boots", st.state, st.reason, len(isos), len(boots))
		}
		if !want.MatchString(isos[0]) {
			t.Fatalf("marker %q, want %s", isos[0], want)
		}
		for _, b := range boots {
			if b != isos[0] {
				t.Fatalf("a boot waited for %q, the ISO carries %q", b, isos[0])
			}
		}
		markers = append(markers, isos[0])
	}
	if markers[0] == markers[1] {
		t.Fatalf("two attempts of run 1 carried the same marker %q", markers[0])
	}
}
