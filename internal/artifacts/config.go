package artifacts

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	"gocloud.dev/blob/s3blob"
)

// Defaults for S3 uploads: an upload holds at most PartSize × (Concurrency+1)
// bytes of parts in memory. 8 MiB parts allow objects up to 78 GiB (S3 takes
// at most 10,000 parts).
const (
	DefaultPartSize    = 8 << 20
	DefaultConcurrency = 2
	minPartSize        = 5 << 20
)

// Config says which store to open.
type Config struct {
	// URL is ARTIFACT_STORE: file:///abs/dir or s3://bucket?… (see the
	// package doc). Empty means file://<DataDir>/artifacts.
	URL string
	// DataDir is DATA_DIR, for the default URL; it must be absolute then.
	DataDir string
	// PartSize and Concurrency bound S3 multipart uploads; 0 means the
	// defaults.
	PartSize    int
	Concurrency int
}

// DefaultURL is the store used when ARTIFACT_STORE is empty: the artifacts
// directory under dataDir.
func DefaultURL(dataDir string) (string, error) {
	if !filepath.IsAbs(dataDir) {
		return "", fmt.Errorf("artifact store: ARTIFACT_STORE is empty and DATA_DIR %q is not an absolute path", dataDir)
	}
	return (&url.URL{Scheme: "file", Path: filepath.Join(dataDir, "artifacts")}).String(), nil
}

// Open opens the store cfg names. It checks the URL, not the server: call
// [Store.Check] to find a missing bucket or refused credentials at start-up.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	raw := cfg.URL
	if raw == "" {
		var err error
		if raw, err = DefaultURL(cfg.DataDir); err != nil {
			return nil, err
		}
	}
	u, err := url.Parse(raw)
	if err == nil {
		_, err = url.ParseQuery(u.RawQuery)
	}
	if err != nil {
		// url's errors quote the whole input, which may hold a secret.
		return nil, fmt.Errorf("artifact store: ARTIFACT_STORE is not a URL (want file:///abs/dir or s3://bucket?region=…)")
	}
	if u.User != nil {
		return nil, fmt.Errorf("artifact store %s: credentials in the URL are not accepted: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", redact(u))
	}
	s := &Store{
		url:         redact(u),
		partSize:    cfg.PartSize,
		concurrency: cfg.Concurrency,
	}
	if s.partSize <= 0 {
		s.partSize = DefaultPartSize
	}
	if s.concurrency <= 0 {
		s.concurrency = DefaultConcurrency
	}
	if s.partSize < minPartSize {
		return nil, fmt.Errorf("artifact store %s: part size %d is below S3's minimum of %d bytes", s.url, s.partSize, minPartSize)
	}
	switch u.Scheme {
	case "file":
		s.bucket, err = openFile(u)
		s.file, s.dir = true, filepath.Clean(u.Path)
	case "s3":
		s.bucket, err = openS3(ctx, u)
	default:
		return nil, fmt.Errorf("artifact store %s: unsupported scheme %q (want file:///abs/dir or s3://bucket?…)", s.url, u.Scheme)
	}
	if err != nil {
		return nil, fmt.Errorf("artifact store %s: %w", s.url, err)
	}
	return s, nil
}

func openFile(u *url.URL) (*blob.Bucket, error) {
	if u.Host != "" && u.Host != "localhost" {
		return nil, fmt.Errorf("a file URL has no host (%q): write file:///abs/dir", u.Host)
	}
	if u.RawQuery != "" {
		return nil, fmt.Errorf("a file URL takes no parameters")
	}
	dir := u.Path
	if dir == "" || !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("the directory %q is not an absolute path: write file:///abs/dir", dir)
	}
	// The temporary file of a write sits next to its object (the same file
	// system, so the final rename is atomic); no metadata sidecar files.
	return fileblob.OpenBucket(filepath.Clean(dir), &fileblob.Options{
		CreateDir: true,
		NoTempDir: true,
		Metadata:  fileblob.MetadataDontWrite,
	})
}

func openS3(ctx context.Context, u *url.URL) (*blob.Bucket, error) {
	if u.Host == "" {
		return nil, fmt.Errorf("an s3 URL names its bucket: s3://bucket?region=…")
	}
	if u.Path != "" && u.Path != "/" {
		return nil, fmt.Errorf("an s3 URL has no path (%q): the bucket is the host", u.Path)
	}
	q := u.Query()
	if e := q.Get("endpoint"); e != "" {
		eu, err := url.Parse(e)
		if err != nil || (eu.Scheme != "http" && eu.Scheme != "https") || eu.Host == "" {
			return nil, fmt.Errorf("endpoint %q is not an http(s) URL", e)
		}
		if eu.User != nil {
			return nil, fmt.Errorf("credentials in the endpoint are not accepted: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
		}
	}
	// Third-party S3 servers reject the SDK's default trailing checksums;
	// "when_required" sends none unless an operation needs one. Our own
	// integrity check is the sha256 Put computes.
	if !q.Has("request_checksum_calculation") {
		q.Set("request_checksum_calculation", "when_required")
	}
	if !q.Has("response_checksum_validation") {
		q.Set("response_checksum_validation", "when_required")
	}
	u2 := *u
	u2.RawQuery = q.Encode()
	b, err := (&s3blob.URLOpener{}).OpenBucketURL(ctx, &u2)
	if err != nil {
		return nil, scrub(err, u, &u2)
	}
	return b, nil
}

// redact is u as it may be shown: without user information and with the
// values of parameters that could hold a secret masked.
func redact(u *url.URL) string {
	c := *u
	c.User = nil
	q := c.Query()
	for k, vs := range q {
		if v, err := url.Parse(vs[0]); err == nil && v.User != nil {
			v.User = nil
			q.Set(k, v.String())
		}
		l := strings.ToLower(k)
		if strings.Contains(l, "secret") || strings.Contains(l, "token") || strings.Contains(l, "password") ||
			strings.Contains(l, "key") || strings.Contains(l, "credential") {
			q.Set(k, "REDACTED")
		}
	}
	c.RawQuery = q.Encode()
	return c.String()
}

// scrub replaces the raw URLs in err's text by the redacted one.
func scrub(err error, us ...*url.URL) error {
	msg := err.Error()
	for _, u := range us {
		msg = strings.ReplaceAll(msg, u.String(), redact(u))
	}
	return fmt.Errorf("%s", msg)
}
