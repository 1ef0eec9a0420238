package artifacts

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

const testPart = 5 << 20 // the smallest part S3 takes: multipart from 5 MiB

// backend is one kind of store under test.
type backend struct {
	name string
	open func(t *testing.T) *Store
	// pending lists multipart uploads left on the server (S3 only).
	pending func(t *testing.T) []string
}

func backends(t *testing.T) []backend {
	return []backend{
		{name: "file", open: func(t *testing.T) *Store {
			return mustOpen(t, Config{URL: "file://" + t.TempDir(), PartSize: testPart})
		}},
		{name: "s3", open: func(t *testing.T) *Store {
			f := newFakeS3(t)
			setCreds(t, testAccessKey, testSecretKey)
			s := mustOpen(t, Config{URL: f.URL(testBucket), PartSize: testPart})
			lastFake = f
			return s
		}, pending: func(t *testing.T) []string { return pendingUploads(t, lastFake) }},
	}
}

// lastFake is the fake server the last s3 backend opened (tests in this
// package do not run in parallel).
var lastFake *fakeS3

func mustOpen(t testing.TB, cfg Config) *Store {
	t.Helper()
	s, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// pendingUploads lists the multipart uploads in progress on f, through a
// plain S3 client.
func pendingUploads(t *testing.T, f *fakeS3) []string {
	t.Helper()
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(testRegion))
	if err != nil {
		t.Fatal(err)
	}
	c := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String("http://" + f.Server.Listener.Addr().String())
		o.UsePathStyle = true
	})
	out, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(testBucket)})
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "NoSuchUpload" {
		return nil // gofakes3's answer when the bucket has no upload in progress
	}
	if err != nil {
		t.Fatalf("list multipart uploads: %v", err)
	}
	var keys []string
	for _, u := range out.Uploads {
		keys = append(keys, aws.ToString(u.Key))
	}
	return keys
}

// data is n deterministic bytes of seed.
func data(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// failingReader gives n bytes of its data, then an error.
type failingReader struct {
	r   io.Reader
	n   int
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, f.err
	}
	if len(p) > f.n {
		p = p[:f.n]
	}
	k, err := f.r.Read(p)
	f.n -= k
	return k, err
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			s := b.open(t)
			for _, tc := range []struct {
				name string
				size int
			}{
				{"empty", 0},
				{"small", 1000},
				{"multipart", 2*testPart + 12345},
			} {
				t.Run(tc.name, func(t *testing.T) {
					key := "runs/7/" + tc.name + ".bin"
					in := data(uint64(tc.size), tc.size)
					obj, err := s.Put(ctx, key, bytes.NewReader(in))
					if err != nil {
						t.Fatal(err)
					}
					if obj.Key != key || obj.Size != int64(tc.size) || obj.SHA256 != sum(in) {
						t.Fatalf("Put = %+v, want size %d sha256 %s", obj, tc.size, sum(in))
					}
					st, err := s.Stat(ctx, key)
					if err != nil || st.Size != int64(tc.size) {
						t.Fatalf("Stat = %+v, %v", st, err)
					}
					rc, got, err := s.Get(ctx, key)
					if err != nil {
						t.Fatal(err)
					}
					out, err := io.ReadAll(Verify(rc, obj))
					rc.Close()
					if err != nil || !bytes.Equal(out, in) || got.Size != int64(tc.size) {
						t.Fatalf("Get: %d bytes (object %+v), err %v; want %d bytes", len(out), got, err, tc.size)
					}
					if tc.size > 100 {
						rc, _, err := s.GetRange(ctx, key, 10, 50)
						if err != nil {
							t.Fatal(err)
						}
						part, err := io.ReadAll(rc)
						rc.Close()
						if err != nil || !bytes.Equal(part, in[10:60]) {
							t.Fatalf("GetRange(10, 50) = %d bytes, %v", len(part), err)
						}
					}
				})
			}
			var listed []string
			if err := s.List(ctx, "runs/7/", func(o Object) error { listed = append(listed, o.Key); return nil }); err != nil {
				t.Fatal(err)
			}
			if want := "runs/7/empty.bin runs/7/multipart.bin runs/7/small.bin"; strings.Join(listed, " ") != want {
				t.Fatalf("List = %v, want %s", listed, want)
			}
			if err := s.Delete(ctx, "runs/7/small.bin"); err != nil {
				t.Fatal(err)
			}
			if err := s.Delete(ctx, "runs/7/small.bin"); err != nil {
				t.Fatalf("deleting twice: %v", err)
			}
			_, err := s.Stat(ctx, "runs/7/small.bin")
			if !IsNotFound(err) || !strings.Contains(err.Error(), `"runs/7/small.bin"`) {
				t.Fatalf("Stat of a deleted key: %v, want a not-found error naming the key", err)
			}
			if _, _, err := s.Get(ctx, "runs/7/nothing"); !IsNotFound(err) || Retryable(err) {
				t.Fatalf("Get of a missing key: %v, want not found and not retryable", err)
			}
		})
	}
}

// TestFailedPutLeavesNothing: a Put whose source fails midway (before or
// after multipart began) leaves no object, no temporary file and no
// pending multipart upload, and an existing object stays as it was.
func TestFailedPutLeavesNothing(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			s := b.open(t)
			old := data(1, 3000)
			if _, err := s.Put(ctx, "runs/1/kept.iso", bytes.NewReader(old)); err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				name string
				key  string
				n    int
			}{
				{"single part", "runs/1/new-small.iso", 1000},
				{"multipart", "runs/1/new-big.iso", 2*testPart + 1},
				{"replacing", "runs/1/kept.iso", 2*testPart + 1},
			} {
				t.Run(tc.name, func(t *testing.T) {
					boom := errors.New("the disk went away")
					src := &failingReader{r: bytes.NewReader(data(2, 4*testPart)), n: tc.n, err: boom}
					_, err := s.Put(ctx, tc.key, src)
					if !errors.Is(err, boom) {
						t.Fatalf("Put = %v, want the reader's error", err)
					}
					if !strings.Contains(err.Error(), tc.key) || !strings.Contains(err.Error(), s.String()) {
						t.Fatalf("error %q does not say what and where", err)
					}
					if tc.key == "runs/1/kept.iso" {
						rc, _, err := s.Get(ctx, tc.key)
						if err != nil {
							t.Fatal(err)
						}
						got, _ := io.ReadAll(rc)
						rc.Close()
						if !bytes.Equal(got, old) {
							t.Fatalf("a failed Put changed the existing object: %d bytes", len(got))
						}
					} else if _, err := s.Stat(ctx, tc.key); !IsNotFound(err) {
						t.Fatalf("after a failed Put, Stat = %v, want not found", err)
					}
					assertClean(t, s, b)
				})
			}
		})
	}
}

// assertClean checks that the store lists only whole objects and, on S3,
// that no multipart upload is left.
func assertClean(t *testing.T, s *Store, b backend) {
	t.Helper()
	var keys []string
	if err := s.List(context.Background(), "", func(o Object) error { keys = append(keys, o.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k != "runs/1/kept.iso" && !strings.HasPrefix(k, "runs/2/") {
			t.Errorf("unexpected object %s", k)
		}
	}
	if b.pending != nil {
		if p := b.pending(t); len(p) > 0 {
			t.Errorf("multipart uploads left: %v", p)
		}
	}
	if s.file {
		dir := strings.TrimPrefix(s.url, "file://")
		_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err == nil && strings.HasSuffix(path, ".tmp") {
				t.Errorf("temporary file left: %s", path)
			}
			return nil
		})
	}
}

func TestCancelledPutLeavesNothing(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			s := b.open(t)
			ctx, cancel := context.WithCancel(context.Background())
			pr, pw := io.Pipe()
			go func() {
				_, _ = pw.Write(data(3, 2*testPart+10))
				cancel()
				time.Sleep(50 * time.Millisecond)
				pw.CloseWithError(context.Canceled)
			}()
			_, err := s.Put(ctx, "runs/2/cancelled.iso", pr)
			if err == nil || KindOf(err) != KindCancelled || Retryable(err) {
				t.Fatalf("Put = %v (kind %v), want cancelled", err, KindOf(err))
			}
			if _, err := s.Stat(context.Background(), "runs/2/cancelled.iso"); !IsNotFound(err) {
				t.Fatalf("Stat after a cancelled Put = %v, want not found", err)
			}
			assertClean(t, s, b)
		})
	}
}
