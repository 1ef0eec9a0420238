package artifacts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// Object is a stored artifact: its key, size in bytes and sha256 (hex).
// Put and PutFile fill SHA256; Stat, Get and List do not (the store keeps
// no digest: the caller's record of Put's result does).
type Object struct {
	Key     string
	Size    int64
	SHA256  string
	ModTime time.Time
}

// Store is an artifact store. It is safe for concurrent use.
type Store struct {
	bucket      *blob.Bucket
	url         string // redacted
	file        bool
	dir         string // the file store's root
	partSize    int
	concurrency int
	obs         Observer
}

// Observer is told of every object stored (metrics).
type Observer interface {
	// ArtifactStored reports an object of size bytes stored by op: "put"
	// (Put, PutFile) or "copy" (Copy).
	ArtifactStored(op string, size int64)
}

// SetObserver makes o the store's Observer. Call it before the store is
// used.
func (s *Store) SetObserver(o Observer) { s.obs = o }

// stored tells the observer, if any, of obj stored by op.
func (s *Store) stored(op string, obj Object) {
	if s.obs != nil {
		s.obs.ArtifactStored(op, obj.Size)
	}
}

// String is the store's URL without secrets.
func (s *Store) String() string { return s.url }

// Close releases the store's resources.
func (s *Store) Close() error { return s.bucket.Close() }

// Check reports whether the store can be used: the directory or bucket
// exists and the credentials are accepted.
func (s *Store) Check(ctx context.Context) error {
	ok, err := s.bucket.IsAccessible(ctx)
	if err != nil {
		return s.wrap("check", "", err)
	}
	if !ok {
		return s.wrap("check", "", &Error{Kind: KindNoBucket, Err: errors.New("the bucket or directory does not exist")})
	}
	return nil
}

// Put streams r to key and returns the object with the size and sha256 of
// the bytes written. On any error, nothing is visible under key that was not
// there before (an existing object is replaced only by a complete one).
func (s *Store) Put(ctx context.Context, key string, r io.Reader) (Object, error) {
	obj, err := s.put(ctx, key, r)
	if err == nil {
		s.stored("put", obj)
	}
	return obj, err
}

// put is Put, untold: Copy tells of its own.
func (s *Store) put(ctx context.Context, key string, r io.Reader) (Object, error) {
	if err := ValidKey(key); err != nil {
		return Object{}, s.wrap("put", key, &Error{Kind: KindBadKey, Err: err})
	}
	// Cancelling the writer's context before Close aborts the write: the
	// file store removes its temporary file, S3 aborts the multipart upload.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := s.bucket.NewWriter(wctx, key, &blob.WriterOptions{
		ContentType:    "application/octet-stream",
		BufferSize:     s.partSize,
		MaxConcurrency: s.concurrency,
	})
	if err != nil {
		return Object{}, s.wrap("put", key, err)
	}
	h := sha256.New()
	cr := &countingReader{r: r, h: h}
	_, err = io.Copy(w, cr)
	if err != nil {
		cancel()
		_ = w.Close() // the copy's error is the one to report; Close only aborts
		return Object{}, s.wrap("put", key, err)
	}
	if err := w.Close(); err != nil {
		return Object{}, s.wrap("put", key, err)
	}
	return Object{Key: key, Size: cr.n, SHA256: hex.EncodeToString(h.Sum(nil)), ModTime: time.Now()}, nil
}

// PutFile uploads the file at path to key (see Put). Being a file, it can
// be put again after a failure.
func (s *Store) PutFile(ctx context.Context, key, path string) (Object, error) {
	f, err := os.Open(path)
	if err != nil {
		return Object{}, s.wrap("put", key, err)
	}
	defer f.Close()
	return s.Put(ctx, key, f)
}

// countingReader hashes and counts what is read through it. It hides any
// WriterTo of the underlying reader, so every byte passes through h.
type countingReader struct {
	r io.Reader
	h hash.Hash
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	return n, err
}

// Get opens key for streamed reading. The caller closes the reader.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, Object, error) {
	return s.GetRange(ctx, key, 0, -1)
}

// GetRange opens n bytes of key from offset off (n < 0: to the end), for
// HTTP Range requests and for publishing a large artifact in parts. The
// returned Object describes the whole object.
func (s *Store) GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, Object, error) {
	if err := ValidKey(key); err != nil {
		return nil, Object{}, s.wrap("get", key, &Error{Kind: KindBadKey, Err: err})
	}
	if off < 0 {
		return nil, Object{}, s.wrap("get", key, &Error{Kind: KindBadKey, Err: fmt.Errorf("negative offset %d", off)})
	}
	r, err := s.bucket.NewRangeReader(ctx, key, off, n, nil)
	if err != nil {
		return nil, Object{}, s.wrap("get", key, err)
	}
	return &reader{r: r, s: s, key: key}, Object{Key: key, Size: r.Size(), ModTime: r.ModTime()}, nil
}

// reader wraps a blob reader so its errors say what and where.
type reader struct {
	r   *blob.Reader
	s   *Store
	key string
}

func (r *reader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		err = r.s.wrap("read", r.key, err)
	}
	return n, err
}

func (r *reader) Close() error {
	if err := r.r.Close(); err != nil {
		return r.s.wrap("read", r.key, err)
	}
	return nil
}

// Stat returns key's size and modification time.
func (s *Store) Stat(ctx context.Context, key string) (Object, error) {
	if err := ValidKey(key); err != nil {
		return Object{}, s.wrap("stat", key, &Error{Kind: KindBadKey, Err: err})
	}
	a, err := s.bucket.Attributes(ctx, key)
	if err != nil {
		return Object{}, s.wrap("stat", key, err)
	}
	return Object{Key: key, Size: a.Size, ModTime: a.ModTime}, nil
}

// Delete removes key; deleting a missing key is not an error (retention
// and retries may delete twice).
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := ValidKey(key); err != nil {
		return s.wrap("delete", key, &Error{Kind: KindBadKey, Err: err})
	}
	err := s.bucket.Delete(ctx, key)
	if err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return s.wrap("delete", key, err)
	}
	return nil
}

// List calls fn for each object whose key starts with prefix, in key
// order, until fn returns an error (returned as is). Temporary files of
// writes in progress are not listed.
func (s *Store) List(ctx context.Context, prefix string, fn func(Object) error) error {
	if prefix != "" {
		if err := ValidKey(strings.TrimSuffix(prefix, "/")); err != nil {
			return s.wrap("list", prefix, &Error{Kind: KindBadKey, Err: err})
		}
	}
	it := s.bucket.List(&blob.ListOptions{Prefix: prefix})
	for {
		o, err := it.Next(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return s.wrap("list", prefix, err)
		}
		if o.IsDir || ValidKey(o.Key) != nil || (s.file && strings.HasSuffix(o.Key, ".tmp")) {
			continue
		}
		if err := fn(Object{Key: o.Key, Size: o.Size, ModTime: o.ModTime}); err != nil {
			return err
		}
	}
}

// Verify wraps r so that reading it to the end checks the bytes against
// want (its Size and SHA256, where set): a mismatch makes the last Read
// return an error of kind KindCorrupt instead of io.EOF.
func Verify(r io.Reader, want Object) io.Reader {
	return &verifier{r: r, want: want, h: sha256.New()}
}

type verifier struct {
	r    io.Reader
	want Object
	h    hash.Hash
	n    int64
}

func (v *verifier) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	if err != io.EOF {
		return n, err
	}
	if (v.want.SHA256 != "" || v.want.Size > 0) && v.n != v.want.Size {
		return n, &Error{Op: "verify", Key: v.want.Key, Kind: KindCorrupt, Err: fmt.Errorf("read %d bytes, %d were recorded", v.n, v.want.Size)}
	}
	if got := hex.EncodeToString(v.h.Sum(nil)); v.want.SHA256 != "" && got != v.want.SHA256 {
		return n, &Error{Op: "verify", Key: v.want.Key, Kind: KindCorrupt, Err: fmt.Errorf("sha256 is %s, %s was recorded", got, v.want.SHA256)}
	}
	return n, io.EOF
}
