// Package artifactstest is an S3-compatible server for tests: gofakes3 (in
// memory) on loopback, behind a middleware that checks AWS signature
// version 4 against test credentials, and a proxy that can drop
// connections midway. Tests of the artifact store and of everything that
// moves artifacts between machines use it through the real S3 client.
package artifactstest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Credentials, region and bucket of the fake S3 server.
const (
	AccessKey = "AKIDTESTARTIFACTS"
	SecretKey = "s3cr3t-artifacts-test-key"
	Region    = "us-east-1"
	Bucket    = "artifacts"
)

// S3 is an S3-compatible server on loopback (gofakes3, in memory)
// behind an authenticating middleware and a proxy that can drop
// connections.
type S3 struct {
	// Server is the fake itself; Backend its storage; Proxy sits in front.
	Server  *httptest.Server
	Backend *s3mem.Backend
	Proxy   *DropProxy
	// Endpoint is the URL the clients use (through the proxy).
	Endpoint string
}

// NewS3 starts the fake on loopback with the bucket Bucket; it stops when
// the test ends.
func NewS3(t testing.TB) *S3 {
	t.Helper()
	be := s3mem.New()
	if err := be.CreateBucket(Bucket); err != nil {
		t.Fatal(err)
	}
	faker := gofakes3.New(be, gofakes3.WithTimeSkewLimit(0))
	srv := httptest.NewServer(requireSigV4(faker.Server()))
	t.Cleanup(srv.Close)
	p := newDropProxy(t, srv.Listener.Addr().String())
	return &S3{Server: srv, Backend: be, Proxy: p, Endpoint: "http://" + p.Addr()}
}

// URL is the ARTIFACT_STORE URL of bucket on the fake server.
func (f *S3) URL(bucket string) string {
	return fmt.Sprintf("s3://%s?endpoint=%s&region=%s&use_path_style=true", bucket, f.Endpoint, Region)
}

// SetCreds puts the credentials in the environment, as a deployment does.
func SetCreds(t testing.TB, id, secret string) {
	t.Setenv("AWS_ACCESS_KEY_ID", id)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

var credRE = regexp.MustCompile(`Credential=([^/]+)/(\d{8})/([^/]+)/s3/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]+)`)

// requireSigV4 answers like S3 to a request whose AWS signature version 4
// is not made with the test credentials: 403 and an S3 error document.
func requireSigV4(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := credRE.FindStringSubmatch(r.Header.Get("Authorization"))
		switch {
		case m == nil:
			s3Error(w, r, http.StatusForbidden, "AccessDenied", "Anonymous access is forbidden for this operation")
			return
		case m[1] != AccessKey:
			s3Error(w, r, http.StatusForbidden, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.")
			return
		}
		if !signatureMatches(r, m[4], m[5]) {
			s3Error(w, r, http.StatusForbidden, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method.")
			return
		}
		next.ServeHTTP(w, r)
		_, _ = io.Copy(io.Discard, r.Body) // see s3Error
	})
}

// signatureMatches signs a copy of r's signed headers with the test secret
// and compares the signatures.
func signatureMatches(r *http.Request, signed, sig string) bool {
	at, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return false
	}
	c, err := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), nil)
	if err != nil {
		return false
	}
	c.ContentLength = r.ContentLength
	for _, h := range strings.Split(signed, ";") {
		switch h {
		case "host", "content-length":
			continue
		}
		if v, ok := r.Header[http.CanonicalHeaderKey(h)]; ok {
			c.Header[http.CanonicalHeaderKey(h)] = v
		}
	}
	creds := aws.Credentials{AccessKeyID: AccessKey, SecretAccessKey: SecretKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, c, r.Header.Get("X-Amz-Content-Sha256"), "s3", Region, at); err != nil {
		return false
	}
	m := credRE.FindStringSubmatch(c.Header.Get("Authorization"))
	return m != nil && m[5] == sig
}

// s3Error answers an S3 error document, once the request's body is read:
// a server that answers before reading makes the client see a reset
// connection rather than the answer.
func s3Error(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	_, _ = io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<Error><Code>%s</Code><Message>%s</Message><RequestId>test</RequestId></Error>`, code, msg)
}

// DropProxy forwards TCP connections on loopback to a target; while armed
// it closes each connection after it carried limit bytes from the client,
// like a server or network that drops an upload midway.
type DropProxy struct {
	ln     net.Listener
	target string
	limit  atomic.Int64 // < 0: unlimited
	drops  atomic.Int64
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]bool
}

func newDropProxy(t testing.TB, target string) *DropProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &DropProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	p.limit.Store(-1)
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

// Addr is the proxy's host:port.
func (p *DropProxy) Addr() string { return p.ln.Addr().String() }

// Drops is how many connections the proxy has dropped.
func (p *DropProxy) Drops() int64 { return p.drops.Load() }

// DropAfter arms the proxy (n >= 0) or disarms it (n < 0).
func (p *DropProxy) DropAfter(n int64) { p.limit.Store(n) }

func (p *DropProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.pipe(c)
		}()
	}
}

func (p *DropProxy) track(c net.Conn, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on {
		p.conns[c] = true
	} else {
		delete(p.conns, c)
	}
}

func (p *DropProxy) pipe(c net.Conn) {
	defer c.Close()
	u, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer u.Close()
	p.track(c, true)
	p.track(u, true)
	defer p.track(c, false)
	defer p.track(u, false)
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(c, u)
		c.Close()
		close(done)
	}()
	buf := make([]byte, 32<<10)
	var n int64
	for {
		k, err := c.Read(buf)
		if k > 0 {
			if lim := p.limit.Load(); lim >= 0 && n+int64(k) > lim {
				if cut := lim - n; cut > 0 {
					_, _ = u.Write(buf[:cut])
				}
				p.drops.Add(1)
				u.Close()
				break
			}
			n += int64(k)
			if _, err := u.Write(buf[:k]); err != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	u.Close()
	c.Close()
	<-done
}

// Env is the environment of a child process that uses the fake: the test
// credentials and no other source of them.
func Env() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + AccessKey, "AWS_SECRET_ACCESS_KEY=" + SecretKey, "AWS_SESSION_TOKEN=", "AWS_PROFILE=",
		"AWS_CONFIG_FILE=/nonexistent", "AWS_SHARED_CREDENTIALS_FILE=/nonexistent", "AWS_EC2_METADATA_DISABLED=true",
	}
}
