package artifacts

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
)

// TestS3Failures: refused credentials, a missing bucket and a connection
// dropped midway each give a clear error naming the key and the store,
// leave no object, and (for the dropped connection) a retry succeeds.
func TestS3Failures(t *testing.T) {
	ctx := context.Background()
	f := newFakeS3(t)
	in := data(9, 2*testPart+77)

	t.Run("bad access key", func(t *testing.T) {
		setCreds(t, "AKIDWRONG", testSecretKey)
		s := mustOpen(t, Config{URL: f.URL(testBucket), PartSize: testPart})
		_, err := s.Put(ctx, "runs/5/linux.iso", bytes.NewReader(in))
		assertErr(t, err, KindDenied, "runs/5/linux.iso", "InvalidAccessKeyId")
		if err := s.Check(ctx); KindOf(err) != KindDenied {
			t.Fatalf("Check = %v, want access denied", err)
		}
	})
	t.Run("bad secret key", func(t *testing.T) {
		const wrong = "not-the-secret-at-all"
		setCreds(t, testAccessKey, wrong)
		s := mustOpen(t, Config{URL: f.URL(testBucket), PartSize: testPart})
		_, err := s.Put(ctx, "runs/5/linux.iso", bytes.NewReader(in[:100]))
		assertErr(t, err, KindDenied, "runs/5/linux.iso", "SignatureDoesNotMatch")
		if strings.Contains(err.Error(), wrong) {
			t.Fatalf("the error shows the secret: %v", err)
		}
	})
	setCreds(t, testAccessKey, testSecretKey)
	t.Run("missing bucket", func(t *testing.T) {
		s := mustOpen(t, Config{URL: f.URL("no-such-bucket"), PartSize: testPart})
		_, err := s.Put(ctx, "runs/5/linux.iso", bytes.NewReader(in))
		assertErr(t, err, KindNoBucket, "runs/5/linux.iso", "no-such-bucket")
		if err := s.Check(ctx); KindOf(err) != KindNoBucket || !strings.Contains(err.Error(), "no-such-bucket") {
			t.Fatalf("Check = %v, want a missing bucket named", err)
		}
	})
	for _, tc := range []struct {
		name string
		size int
	}{
		{"connection dropped, single part", 3 << 20},
		{"connection dropped, multipart", len(in)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustOpen(t, Config{URL: f.URL(testBucket), PartSize: testPart})
			key := "runs/6/dropped.iso"
			f.proxy.DropAfter(1 << 20)
			_, err := s.Put(ctx, key, bytes.NewReader(in[:tc.size]))
			f.proxy.DropAfter(-1)
			if f.proxy.Drops() == 0 {
				t.Fatal("the proxy dropped no connection")
			}
			if err == nil || !Retryable(err) || !strings.Contains(err.Error(), key) {
				t.Fatalf("Put through a dropping proxy = %v (kind %v), want a retryable error naming the key", err, KindOf(err))
			}
			if _, err := s.Stat(ctx, key); !IsNotFound(err) {
				t.Fatalf("after the dropped upload, Stat = %v, want not found", err)
			}
			if p := pendingUploads(t, f); len(p) > 0 {
				t.Fatalf("multipart uploads left: %v", p)
			}
			obj, err := s.Put(ctx, key, bytes.NewReader(in[:tc.size]))
			if err != nil || obj.SHA256 != sum(in[:tc.size]) {
				t.Fatalf("retry: %+v, %v", obj, err)
			}
			if err := s.Delete(ctx, key); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func assertErr(t *testing.T, err error, kind Kind, key, detail string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	if KindOf(err) != kind || !strings.Contains(msg, key) || !strings.Contains(msg, detail) || !strings.Contains(msg, "s3://") {
		t.Fatalf("error %q (kind %v): want kind %v naming %q, %q and the store", msg, KindOf(err), kind, key, detail)
	}
	if Retryable(err) {
		t.Fatalf("error %q is retryable; configuration errors are not", msg)
	}
	if strings.Contains(msg, testSecretKey) {
		t.Fatalf("error %q shows the secret", msg)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, url, data, want string
	}{
		{"relative default", "", "data", `DATA_DIR "data" is not an absolute path`},
		{"relative file", "file://rel/dir", "", "a file URL has no host"},
		{"relative file path", "file:rel", "", `"" is not an absolute path`},
		{"file with parameters", "file:///tmp/x?create_dir=1", "", "takes no parameters"},
		{"unknown scheme", "gs://bucket", "", `unsupported scheme "gs"`},
		{"no scheme", "/abs/dir", "", `unsupported scheme ""`},
		{"no bucket", "s3://?region=us-east-1", "", "names its bucket"},
		{"s3 path", "s3://bucket/sub?region=x", "", "has no path"},
		{"bad endpoint", "s3://bucket?endpoint=ftp://x", "", `endpoint "ftp://x" is not an http(s) URL`},
		{"unknown parameter", "s3://bucket?regoin=x", "", `unknown query parameter "regoin"`},
		{"credentials in URL", "s3://AKID:SECRETSAUCE@bucket?region=x", "", "credentials in the URL are not accepted"},
		{"credentials in endpoint", "s3://bucket?endpoint=http://AKID:SECRETSAUCE@127.0.0.1:9", "", "credentials in the endpoint"},
		{"not a URL", "s3://bucket?x=%zzSECRETSAUCE", "", "not a URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			setCreds(t, testAccessKey, testSecretKey)
			_, err := Open(ctx, Config{URL: tc.url, DataDir: tc.data})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open(%q) = %v, want %q", tc.url, err, tc.want)
			}
			if strings.Contains(err.Error(), "SECRETSAUCE") {
				t.Fatalf("the error shows a secret: %v", err)
			}
		})
	}
	s := mustOpen(t, Config{DataDir: t.TempDir()})
	if !strings.HasSuffix(s.String(), "/artifacts") {
		t.Fatalf("default store %s, want <DATA_DIR>/artifacts", s)
	}
}

func TestValidKey(t *testing.T) {
	for _, k := range []string{"runs/1/linux.iso", "runs/12/image.tar.zst", "a", "runs/1/SHA256SUMS", "x/y=z@v+w_-"} {
		if err := ValidKey(k); err != nil {
			t.Errorf("ValidKey(%q) = %v", k, err)
		}
	}
	for _, k := range []string{"", "/etc/passwd", "../x", "runs/../../x", "runs/1/..", "runs/./x", "runs//x", "runs/1/",
		"runs/1/.hidden", "runs/1/a b", "runs/1/a\nb", "runs/1/a\x00b", `runs\1`, "runs/1/é", strings.Repeat("a", MaxKeyLen+1)} {
		if err := ValidKey(k); err == nil {
			t.Errorf("ValidKey(%q) accepted a bad key", k)
		}
	}
	if _, err := RunKey(3, "../../etc/passwd"); err == nil {
		t.Error("RunKey accepted a name with a slash")
	}
	if _, err := RunKey(3, ".."); err == nil {
		t.Error(`RunKey accepted ".."`)
	}
	if k, err := RunKey(3, "linux.iso"); err != nil || k != "runs/3/linux.iso" {
		t.Errorf("RunKey = %q, %v", k, err)
	}
}

// TestHostileKeysTouchNothing: operations on bad keys fail before any I/O,
// for every operation.
func TestHostileKeysTouchNothing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := mustOpen(t, Config{URL: "file://" + dir + "/store"})
	for _, k := range []string{"../outside", "/abs", "runs/../../outside"} {
		if _, err := s.Put(ctx, k, strings.NewReader("x")); KindOf(err) != KindBadKey {
			t.Errorf("Put(%q) = %v, want a bad key", k, err)
		}
		if _, _, err := s.Get(ctx, k); KindOf(err) != KindBadKey {
			t.Errorf("Get(%q) = %v", k, err)
		}
		if _, err := s.Stat(ctx, k); KindOf(err) != KindBadKey {
			t.Errorf("Stat(%q) = %v", k, err)
		}
		if err := s.Delete(ctx, k); KindOf(err) != KindBadKey {
			t.Errorf("Delete(%q) = %v", k, err)
		}
	}
	if err := s.List(ctx, "../", func(Object) error { return nil }); KindOf(err) != KindBadKey {
		t.Errorf("List(../) = %v", err)
	}
}

func TestVerify(t *testing.T) {
	in := []byte("hello, artifacts")
	good := Object{Key: "k", Size: int64(len(in)), SHA256: sum(in)}
	for _, tc := range []struct {
		name string
		want Object
		ok   bool
	}{
		{"matches", good, true},
		{"short", Object{Key: "k", Size: good.Size + 1, SHA256: good.SHA256}, false},
		{"other bytes", Object{Key: "k", Size: good.Size, SHA256: sum([]byte("x"))}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := io.ReadAll(Verify(bytes.NewReader(in), tc.want))
			if (err == nil) != tc.ok || (!tc.ok && KindOf(err) != KindCorrupt) {
				t.Fatalf("Verify: %v", err)
			}
		})
	}
}
