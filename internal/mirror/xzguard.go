package mirror

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// maxXZDict is the largest LZMA2 dictionary a Packages.xz may ask for.
// The xz reader allocates the dictionary a block header names before it
// reads any data (up to 4 GiB); xz -9 uses 64 MiB.
const maxXZDict = 64 << 20

// checkXZDict peeks at an xz stream's first block header and refuses a
// dictionary over maxXZDict. It returns a reader that still starts at the
// stream's first byte.
func checkXZDict(r io.Reader) (io.Reader, error) {
	br := bufio.NewReaderSize(r, 1<<12)
	head, err := br.Peek(13)
	if err != nil {
		return br, nil // too short: the xz reader reports it
	}
	if string(head[:6]) != "\xfd7zXZ\x00" || head[12] == 0 {
		return br, nil // not xz, or no block: the xz reader reports it
	}
	size := (int(head[12]) + 1) * 4
	blk, err := br.Peek(12 + size)
	if err != nil {
		return br, nil
	}
	dict, err := lzma2Dict(blk[12:])
	if err != nil {
		return nil, fmt.Errorf("xz block header: %w", err)
	}
	if dict > maxXZDict {
		return nil, fmt.Errorf("xz: a dictionary of %d bytes is over the limit of %d", dict, maxXZDict)
	}
	return br, nil
}

// lzma2Dict reads the LZMA2 dictionary size of an xz block header (the
// .xz file format, 3.1). 0 when the block has no LZMA2 filter.
func lzma2Dict(h []byte) (int64, error) {
	pos := 2
	vli := func() (uint64, error) {
		var v uint64
		for i := 0; i < 9; i++ {
			if pos >= len(h) {
				return 0, errors.New("truncated")
			}
			b := h[pos]
			pos++
			v |= uint64(b&0x7f) << (7 * i)
			if b&0x80 == 0 {
				return v, nil
			}
		}
		return 0, errors.New("bad number")
	}
	flags := h[1]
	for _, bit := range []byte{0x40, 0x80} {
		if flags&bit != 0 {
			if _, err := vli(); err != nil {
				return 0, err
			}
		}
	}
	for range int(flags&3) + 1 {
		id, err := vli()
		if err != nil {
			return 0, err
		}
		n, err := vli()
		if err != nil {
			return 0, err
		}
		if n > uint64(len(h)-pos) {
			return 0, errors.New("truncated filter properties")
		}
		props := h[pos : pos+int(n)]
		pos += int(n)
		if id == 0x21 && len(props) == 1 {
			c := props[0]
			if c > 40 {
				return 0, fmt.Errorf("bad dictionary size code %d", c)
			}
			if c == 40 {
				return 1<<32 - 1, nil
			}
			return int64(2|(c&1)) << (c/2 + 11), nil
		}
	}
	return 0, nil
}
