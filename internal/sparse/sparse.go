// Package sparse copies files leaving holes where they read as zeros:
// a disk image of many gigabytes costs what its data takes.
package sparse

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// Copy copies src to dst (created, not existing) leaving holes
// where src reads as zeros in whole blocks: a boot-test disk of many
// gigabytes costs what its data takes. dst has src's size.
func Copy(src, dst string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = os.Remove(dst)
		}
	}()
	// Only the file's data is read (SEEK_DATA and SEEK_HOLE): a disk of
	// many gigabytes, mostly holes, is copied in the time its data takes.
	// A file system without them reports the whole file as data.
	var off int64
	for off < info.Size() {
		data, err := in.Seek(off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break // nothing but a hole to the end
		}
		if err != nil {
			data = off // no SEEK_DATA here: read it all
		}
		end, err := in.Seek(data, unix.SEEK_HOLE)
		if err != nil || end > info.Size() || end <= data {
			end = info.Size() // read the rest: every pass moves forward
		}
		if err := copyRange(in, out, data, end); err != nil {
			return err
		}
		off = end
	}
	// A file that changed size while it was copied is no copy of it.
	if now, err := in.Stat(); err != nil || now.Size() != info.Size() {
		return fmt.Errorf("copy of %s: it changed size while it was copied", src)
	}
	return out.Truncate(info.Size())
}

// copyRange copies [from, to) of in to out at the same offsets, leaving
// holes where whole blocks read as zeros.
func copyRange(in, out *os.File, from, to int64) error {
	const block = 64 << 10
	buf := make([]byte, block)
	for off := from; off < to; {
		n, err := in.ReadAt(buf[:min(int64(block), to-off)], off)
		if n > 0 && !allZero(buf[:n]) {
			if _, err := out.WriteAt(buf[:n], off); err != nil {
				return err
			}
		}
		off += int64(n)
		if errors.Is(err, io.EOF) {
			if off < to {
				return fmt.Errorf("copy of %s: read %d bytes of %d", in.Name(), off, to)
			}
			break
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
