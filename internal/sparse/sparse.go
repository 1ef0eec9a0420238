// Package sparse copies files leaving holes where they read as zeros:
// a disk image of many gigabytes costs what its data takes.
package sparse

import (
	"errors"
	"fmt"
	"io"
	"os"
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
	const block = 64 << 10
	buf := make([]byte, block)
	var off int64
	for {
		n, rerr := io.ReadFull(in, buf)
		if n > 0 {
			if !allZero(buf[:n]) {
				if _, err := out.WriteAt(buf[:n], off); err != nil {
					return err
				}
			}
			off += int64(n)
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			return rerr
		}
	}
	if off != info.Size() {
		return fmt.Errorf("copy of %s: read %d bytes of %d", src, off, info.Size())
	}
	return out.Truncate(off)
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
