package artifacts

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"
)

// storedLog is an Observer that keeps what it is told.
type storedLog struct{ got []string }

func (l *storedLog) ArtifactStored(op string, size int64) {
	l.got = append(l.got, op+":"+itoa(size))
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

var _ Observer = (*storedLog)(nil)

// Every object stored is told once with its size, a copy as a copy (its
// streamed path included), and a failed Put or Copy is not told.
func TestObserverIsToldOfObjectsStored(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			s := b.open(t)
			obs := &storedLog{}
			s.SetObserver(obs)
			if _, err := s.Put(ctx, "runs/1/a.iso", bytes.NewReader(data(1, 3000))); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Copy(ctx, "runs/2/a.iso", "runs/1/a.iso"); err != nil {
				t.Fatal(err)
			}
			boom := errors.New("the disk went away")
			if _, err := s.Put(ctx, "runs/1/b.iso", &failingReader{r: bytes.NewReader(data(2, 5000)), n: 100, err: boom}); !errors.Is(err, boom) {
				t.Fatalf("Put = %v", err)
			}
			if _, err := s.Copy(ctx, "runs/3/a.iso", "runs/1/missing.iso"); err == nil {
				t.Fatal("a copy of nothing succeeded")
			}
			if _, err := s.Put(ctx, "../escape", bytes.NewReader(nil)); err == nil {
				t.Fatal("a bad key was stored")
			}
			if want := []string{"put:3000", "copy:3000"}; !slices.Equal(obs.got, want) {
				t.Fatalf("told %q, want %q", obs.got, want)
			}
		})
	}
}
