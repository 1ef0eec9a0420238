package artifacts

import (
	"context"

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
	if err := ValidKey(dst); err != nil {
		return Object{}, s.wrap("copy", dst, &Error{Kind: KindBadKey, Err: err})
	}
	from, err := s.Stat(ctx, src)
	if err != nil {
		return Object{}, err
	}
	if s.file || from.Size > maxServerCopy {
		r, _, err := s.Get(ctx, src)
		if err != nil {
			return Object{}, err
		}
		defer r.Close()
		obj, err := s.Put(ctx, dst, r)
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
