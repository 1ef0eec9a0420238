package artifacts

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"

	"gocloud.dev/blob"
)

// maxServerCopy is the largest object S3 copies in one request (5 GiB);
// larger ones are streamed through this process.
const maxServerCopy = 5 << 30

// Copy makes dst a copy of src and returns dst's object (its size; not its
// sha256, which a server-side copy does not compute: the copy has the
// source's bytes, so the caller keeps the source's recorded digest). S3
// copies on the server (CopyObject) up to 5 GiB; larger objects, and the
// file store, stream the bytes. Like Put, a failed Copy leaves nothing
// visible under dst; copying again is safe.
func (s *Store) Copy(ctx context.Context, dst, src string) (Object, error) {
	obj, err := s.copy(ctx, dst, src)
	if err == nil {
		s.stored("copy", obj)
	}
	return obj, err
}

// copy is Copy, untold.
func (s *Store) copy(ctx context.Context, dst, src string) (Object, error) {
	if err := ValidKey(dst); err != nil {
		return Object{}, s.wrap("copy", dst, &Error{Kind: KindBadKey, Err: err})
	}
	from, err := s.Stat(ctx, src)
	if err != nil {
		return Object{}, err
	}
	if s.file {
		// Objects are never written in place (a Put renames a complete
		// file over the key), so the copy can share the source's file: a
		// hard link, made under a temporary name and renamed over dst.
		if obj, ok := s.linkCopy(dst, src, from); ok {
			return obj, nil
		}
	}
	if s.file || from.Size > maxServerCopy {
		r, _, err := s.Get(ctx, src)
		if err != nil {
			return Object{}, err
		}
		defer r.Close()
		obj, err := s.put(ctx, dst, r)
		if err != nil {
			return Object{}, err
		}
		return obj, nil
	}
	if err := s.bucket.Copy(ctx, dst, src, &blob.CopyOptions{}); err != nil {
		return Object{}, s.wrap("copy", dst, err)
	}
	return s.Stat(ctx, dst)
}

// linkCopy makes dst a hard link of src in the file store; ok is false
// when it could not (another file system, no hard links), and Copy then
// streams the bytes. src and dst are valid keys: their files are inside
// the store's root.
func (s *Store) linkCopy(dst, src string, from Object) (Object, bool) {
	if err := ValidKey(src); err != nil {
		return Object{}, false
	}
	srcPath := filepath.Join(s.dir, filepath.FromSlash(src))
	dstPath := filepath.Join(s.dir, filepath.FromSlash(dst))
	if err := os.MkdirAll(filepath.Dir(dstPath), 0o755); err != nil {
		return Object{}, false
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	tmp := dstPath + ".link-" + hex.EncodeToString(b[:])
	if err := os.Link(srcPath, tmp); err != nil {
		return Object{}, false
	}
	if err := os.Rename(tmp, dstPath); err != nil {
		_ = os.Remove(tmp)
		return Object{}, false
	}
	return Object{Key: dst, Size: from.Size, ModTime: from.ModTime}, true
}
