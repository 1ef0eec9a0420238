package api_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/linux-builder/linux-builder/internal/api"
	"github.com/linux-builder/linux-builder/internal/artifacts"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
	"github.com/linux-builder/linux-builder/internal/store/storetest"
)

// addArtifact stores n random bytes as artifact name of run id and
// records it, as the pipeline does.
func (e *env) addArtifact(id int64, name string, typ run.ArtifactType, n int) []byte {
	e.t.Helper()
	data := make([]byte, n)
	if _, err := rand.Read(data); err != nil {
		e.t.Fatal(err)
	}
	key, err := artifacts.RunKey(id, name)
	if err != nil {
		e.t.Fatal(err)
	}
	obj, err := e.as.Put(context.Background(), key, bytes.NewReader(data))
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.db.AddArtifact(context.Background(), &store.Artifact{RunID: id, Name: name, Type: typ, Key: key, Size: obj.Size, SHA256: obj.SHA256}); err != nil {
		e.t.Fatal(err)
	}
	return data
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestArtifactDownloads: a whole artifact and ranges of it match what was
// stored and its sha256; HEAD, ETag, If-None-Match and bad ranges behave;
// hostile names find nothing.
func TestArtifactDownloads(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t, nil), envOptions{})
	tok, _ := e.token("ci", store.ScopeBuild)
	id := e.start(tok)
	iso := e.addArtifact(id, "linux.iso", run.ArtifactISO, 300_000)
	if err := e.db.AddArtifact(context.Background(), &store.Artifact{RunID: id, Name: "image-ref", Type: run.ArtifactImageRef, Location: "registry.example/img:run-1"}); err != nil {
		t.Fatal(err)
	}

	resp, body := e.do("GET", fmt.Sprintf("/api/v1/builds/%d", id), nil, reqOpts{token: tok})
	wantStatus(t, resp, body, http.StatusOK)
	b := decode[api.Build](t, body)
	var rec *api.Artifact
	for i := range b.Artifacts {
		if b.Artifacts[i].Name == "linux.iso" {
			rec = &b.Artifacts[i]
		}
	}
	if rec == nil || rec.Size != int64(len(iso)) || rec.SHA256 != sha(iso) || rec.URL != fmt.Sprintf("/api/v1/builds/%d/artifacts/linux.iso", id) {
		t.Fatalf("artifact record %+v", rec)
	}

	resp, body = e.do("GET", rec.URL, nil, reqOpts{token: tok})
	wantStatus(t, resp, body, http.StatusOK)
	if sha(body) != rec.SHA256 || resp.Header.Get("ETag") != `"`+rec.SHA256+`"` || resp.ContentLength != int64(len(iso)) ||
		resp.Header.Get("Content-Disposition") != `attachment; filename="linux.iso"` || resp.Header.Get("Accept-Ranges") != "bytes" {
		t.Fatalf("whole download: sha %s, headers %v", sha(body), resp.Header)
	}

	for _, tc := range []struct {
		rng        string
		off, end   int
		wantStatus int
	}{
		{"bytes=100-199", 100, 200, 206},
		{"bytes=299000-", 299000, 300000, 206},
		{"bytes=-500", 299500, 300000, 206},
		{"bytes=0-999999999", 0, 300000, 206},
		{"bytes=0-0,5-9", 0, 300000, 200}, // several ranges: the whole artifact
		{"items=0-5", 0, 300000, 200},     // another unit: ignored
	} {
		resp, body := e.do("GET", rec.URL, nil, reqOpts{token: tok, headers: map[string]string{"Range": tc.rng}})
		wantStatus(t, resp, body, tc.wantStatus)
		if !bytes.Equal(body, iso[tc.off:tc.end]) {
			t.Fatalf("Range %s: %d bytes, not the stored ones", tc.rng, len(body))
		}
		if tc.wantStatus == 206 && resp.Header.Get("Content-Range") != fmt.Sprintf("bytes %d-%d/%d", tc.off, tc.end-1, len(iso)) {
			t.Fatalf("Range %s: Content-Range %q", tc.rng, resp.Header.Get("Content-Range"))
		}
	}
	// The ranges of the whole, put together, are the artifact.
	var joined []byte
	for off := 0; off < len(iso); off += 70_000 {
		resp, body := e.do("GET", rec.URL, nil, reqOpts{token: tok, headers: map[string]string{"Range": fmt.Sprintf("bytes=%d-%d", off, off+69_999)}})
		wantStatus(t, resp, body, http.StatusPartialContent)
		joined = append(joined, body...)
	}
	if sha(joined) != rec.SHA256 {
		t.Fatal("the ranges put together do not have the artifact's sha256")
	}

	for _, bad := range []string{"bytes=300000-", "bytes=abc", "bytes=5-1", "bytes=-0", "bytes=+1-2", "bytes=--5", "bytes=99999999999999999999-", "bytes"} {
		resp, body := e.do("GET", rec.URL, nil, reqOpts{token: tok, headers: map[string]string{"Range": bad}})
		wantStatus(t, resp, body, http.StatusRequestedRangeNotSatisfiable)
		if resp.Header.Get("Content-Range") != fmt.Sprintf("bytes */%d", len(iso)) {
			t.Fatalf("Range %q: Content-Range %q", bad, resp.Header.Get("Content-Range"))
		}
	}
	resp, body = e.do("GET", rec.URL, nil, reqOpts{token: tok, headers: map[string]string{"Range": "bytes=0-9", "If-Range": `"stale"`}})
	wantStatus(t, resp, body, http.StatusOK)

	resp, body = e.do("HEAD", rec.URL, nil, reqOpts{token: tok})
	wantStatus(t, resp, body, http.StatusOK)
	if resp.ContentLength != int64(len(iso)) || len(body) != 0 || resp.Header.Get("ETag") == "" {
		t.Fatalf("HEAD: length %d, body %d, headers %v", resp.ContentLength, len(body), resp.Header)
	}
	resp, body = e.do("GET", rec.URL, nil, reqOpts{token: tok, headers: map[string]string{"If-None-Match": `"` + rec.SHA256 + `"`}})
	wantStatus(t, resp, body, http.StatusNotModified)

	for _, name := range []string{"..", "..%2F..%2Fetc%2Fpasswd", "%2e%2e", "linux.iso%00", "runs%2F1%2Flinux.iso", "image-ref"} {
		resp, body := e.do("GET", fmt.Sprintf("/api/v1/builds/%d/artifacts/%s", id, name), nil, reqOpts{token: tok})
		wantStatus(t, resp, body, http.StatusNotFound)
	}
	resp, body = e.do("GET", fmt.Sprintf("/api/v1/builds/%d/artifacts/../../../etc/passwd", id), nil, reqOpts{token: tok, raw: true})
	if resp.StatusCode != http.StatusNotFound || bytes.Contains(body, []byte("root:")) {
		t.Fatalf("traversal: %d %s", resp.StatusCode, truncate(body))
	}

	// The seed's download: the same bytes, ranges too.
	resp, body = e.do("GET", fmt.Sprintf("/build/download/%d/iso", id), nil, reqOpts{token: tok, raw: true})
	wantStatus(t, resp, body, http.StatusOK)
	if sha(body) != rec.SHA256 {
		t.Fatal("seed download differs")
	}
	resp, body = e.do("GET", fmt.Sprintf("/build/download/%d/iso", id), nil, reqOpts{token: tok, raw: true, headers: map[string]string{"Range": "bytes=10-19"}})
	wantStatus(t, resp, body, http.StatusPartialContent)
	if !bytes.Equal(body, iso[10:20]) {
		t.Fatal("seed range differs")
	}
	for _, typ := range []string{"qcow2", "floppy", "..%2Fiso"} {
		resp, body := e.do("GET", fmt.Sprintf("/build/download/%d/%s", id, typ), nil, reqOpts{token: tok, raw: true})
		wantStatus(t, resp, body, http.StatusNotFound)
	}
}

// TestStalledDownloadIsDropped: a client that stops reading is dropped
// after StreamIdle, not held for the server's write timeout (or ever).
func TestStalledDownloadIsDropped(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t, nil), envOptions{streamIdle: 300 * time.Millisecond})
	tok, _ := e.token("ci", store.ScopeBuild)
	id := e.start(tok)
	const size = 48 << 20 // far more than the sockets' buffers
	e.addArtifact(id, "image.tar.zst", run.ArtifactImage, size)

	conn, err := net.Dial("tcp", strings.TrimPrefix(e.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(64 << 10)
	}
	fmt.Fprintf(conn, "GET /api/v1/builds/%d/artifacts/image.tar.zst HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", id, tok)
	br := bufio.NewReader(conn)
	status, err := br.ReadString('\n')
	if err != nil || !strings.Contains(status, "200") {
		t.Fatalf("status line %q, %v", status, err)
	}
	time.Sleep(2 * time.Second) // stop reading
	_ = conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	n, err := io.Copy(io.Discard, br)
	if n >= size {
		t.Fatalf("the stalled client still got all %d bytes (%v)", n, err)
	}
	t.Logf("stalled client dropped after %d of %d bytes (%v)", n, size, err)
}

// TestSlowDownloadOutlivesTheWriteTimeout: a client that keeps taking
// bytes, slowly, gets the whole artifact although it takes longer than the
// server's 10-second write timeout (which would cut it off whole).
func TestSlowDownloadOutlivesTheWriteTimeout(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t, nil), envOptions{streamIdle: 3 * time.Second})
	tok, _ := e.token("ci", store.ScopeBuild)
	id := e.start(tok)
	const size = 24 << 20
	data := e.addArtifact(id, "image.tar.zst", run.ArtifactImage, size)

	conn, err := net.Dial("tcp", strings.TrimPrefix(e.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(64 << 10)
	}
	fmt.Fprintf(conn, "GET /api/v1/builds/%d/artifacts/image.tar.zst HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n", id, tok)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	start := time.Now()
	var got bytes.Buffer
	for got.Len() < size {
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.CopyN(&got, resp.Body, 2<<20); err != nil {
			t.Fatalf("after %d bytes in %s: %v", got.Len(), time.Since(start), err)
		}
		time.Sleep(time.Second) // 2 MiB a second: 12 seconds in all
	}
	if took := time.Since(start); took < 11*time.Second || sha(got.Bytes()) != sha(data) {
		t.Fatalf("%d bytes in %s, sha256 equal: %v", got.Len(), took, sha(got.Bytes()) == sha(data))
	}
}
