package disk

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"unicode/utf16"
)

// The partition table is written here, in Go, on a regular file: a
// protective MBR, the primary GPT header and entries, and the backup
// ones at the end of the disk (UEFI 2.10, chapter 5).

const (
	sector     = 512
	mib        = 1 << 20
	gptEntries = 128
	gptEntry   = 128
	// gptSectors is what the entries take (128 × 128 bytes).
	gptSectors = gptEntries * gptEntry / sector
)

// GUID is a GPT GUID in its textual byte order (as uuidgen prints it).
type GUID [16]byte

// Partition type GUIDs.
var (
	typeESP       = mustGUID("C12A7328-F81F-11D2-BA4B-00A0C93EC93B")
	typeLinuxX64  = mustGUID("4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709") // root (x86-64), the discoverable partitions spec
	typeBIOSBoot  = mustGUID("21686148-6449-6E6F-744E-656564454649")
	typeSwap      = mustGUID("0657FD6D-A4AB-43C4-84E5-0933C84B4F4F")
	typeLinuxData = mustGUID("0FC63DAF-8483-4772-8E79-3D69D8477DE4") // a file system mounted by fstab
)

func mustGUID(s string) GUID {
	g, err := parseGUID(s)
	if err != nil {
		panic(err)
	}
	return g
}

func parseGUID(s string) (GUID, error) {
	var g GUID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return g, fmt.Errorf("GUID %q: want 8-4-4-4-12 hex digits", s)
	}
	hex := s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:]
	for i := range g {
		var b byte
		if _, err := fmt.Sscanf(hex[2*i:2*i+2], "%02x", &b); err != nil {
			return g, fmt.Errorf("GUID %q: %w", s, err)
		}
		g[i] = b
	}
	return g, nil
}

func (g GUID) String() string {
	return fmt.Sprintf("%X-%X-%X-%X-%X", g[0:4], g[4:6], g[6:8], g[8:10], g[10:])
}

// newGUID is a random (version 4) GUID.
func newGUID() (GUID, error) {
	var g GUID
	if _, err := rand.Read(g[:]); err != nil {
		return g, err
	}
	g[6] = g[6]&0x0f | 0x40
	g[8] = g[8]&0x3f | 0x80
	return g, nil
}

// newGUIDs makes n random GUIDs.
func newGUIDs(n int) ([]GUID, error) {
	out := make([]GUID, n)
	for i := range out {
		g, err := newGUID()
		if err != nil {
			return nil, err
		}
		out[i] = g
	}
	return out, nil
}

// mixed is g as GPT stores it: the first three fields little-endian.
func (g GUID) mixed() [16]byte {
	var m [16]byte
	m[0], m[1], m[2], m[3] = g[3], g[2], g[1], g[0]
	m[4], m[5] = g[5], g[4]
	m[6], m[7] = g[7], g[6]
	copy(m[8:], g[8:])
	return m
}

// part is one partition: its first sector and its size in sectors.
type part struct {
	typ, id     GUID
	name        string
	first, size int64
}

// writeGPT writes the protective MBR and both GPTs of a disk of
// diskSectors sectors onto f (f must be that size).
func writeGPT(f io.WriterAt, diskSectors int64, diskID GUID, parts []part) error {
	last := diskSectors - 1
	firstUsable, lastUsable := int64(2+gptSectors), last-1-gptSectors
	if len(parts) > gptEntries {
		return errors.New("partition table: too many partitions")
	}
	entries := make([]byte, gptEntries*gptEntry)
	for i, p := range parts {
		if p.first < firstUsable || p.size <= 0 || p.first+p.size-1 > lastUsable {
			return fmt.Errorf("partition table: partition %d (%s) at sectors %d+%d is outside the usable %d-%d",
				i+1, p.name, p.first, p.size, firstUsable, lastUsable)
		}
		for j, q := range parts[:i] {
			if p.first < q.first+q.size && q.first < p.first+p.size {
				return fmt.Errorf("partition table: partitions %d and %d overlap", j+1, i+1)
			}
		}
		e := entries[i*gptEntry : (i+1)*gptEntry]
		t, id := p.typ.mixed(), p.id.mixed()
		copy(e[0:16], t[:])
		copy(e[16:32], id[:])
		binary.LittleEndian.PutUint64(e[32:], uint64(p.first))
		binary.LittleEndian.PutUint64(e[40:], uint64(p.first+p.size-1))
		name := utf16.Encode([]rune(p.name))
		if len(name) > 36 {
			return fmt.Errorf("partition table: name %q is over 36 UTF-16 units", p.name)
		}
		for k, u := range name {
			binary.LittleEndian.PutUint16(e[56+2*k:], u)
		}
	}
	entriesCRC := crc32.ChecksumIEEE(entries)

	// The protective MBR: one partition of type 0xEE over the disk.
	mbr := make([]byte, sector)
	pe := mbr[446:462]
	pe[1], pe[2], pe[3] = 0x00, 0x02, 0x00 // CHS of sector 1
	pe[4] = 0xEE
	pe[5], pe[6], pe[7] = 0xFF, 0xFF, 0xFF
	binary.LittleEndian.PutUint32(pe[8:], 1)
	binary.LittleEndian.PutUint32(pe[12:], uint32(min(diskSectors-1, 0xFFFFFFFF)))
	mbr[510], mbr[511] = 0x55, 0xAA
	if _, err := f.WriteAt(mbr, 0); err != nil {
		return fmt.Errorf("partition table: %w", err)
	}

	header := func(current, backup, entriesAt int64) []byte {
		h := make([]byte, sector)
		copy(h, "EFI PART")
		binary.LittleEndian.PutUint32(h[8:], 0x00010000)
		binary.LittleEndian.PutUint32(h[12:], 92)
		binary.LittleEndian.PutUint64(h[24:], uint64(current))
		binary.LittleEndian.PutUint64(h[32:], uint64(backup))
		binary.LittleEndian.PutUint64(h[40:], uint64(firstUsable))
		binary.LittleEndian.PutUint64(h[48:], uint64(lastUsable))
		id := diskID.mixed()
		copy(h[56:72], id[:])
		binary.LittleEndian.PutUint64(h[72:], uint64(entriesAt))
		binary.LittleEndian.PutUint32(h[80:], gptEntries)
		binary.LittleEndian.PutUint32(h[84:], gptEntry)
		binary.LittleEndian.PutUint32(h[88:], entriesCRC)
		binary.LittleEndian.PutUint32(h[16:], crc32.ChecksumIEEE(h[:92]))
		return h
	}
	for _, w := range []struct {
		at   int64
		data []byte
	}{
		{1, header(1, last, 2)}, {2, entries},
		{last - gptSectors, entries}, {last, header(last, 1, last-gptSectors)},
	} {
		if _, err := f.WriteAt(w.data, w.at*sector); err != nil {
			return fmt.Errorf("partition table: %w", err)
		}
	}
	return nil
}

// copyInto copies the file at src into f at byte off, leaving runs of
// zeros as holes (f is sparse: a new file truncated to the disk's size),
// and fails if src is larger than max bytes.
func copyInto(f *os.File, off int64, src string, max int64) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		return err
	}
	if info.Size() > max {
		return fmt.Errorf("%d bytes do not fit in the partition's %d", info.Size(), max)
	}
	return copyReaderInto(f, off, in)
}

// copyReaderInto copies r into f at byte off, leaving runs of zeros as
// holes (f's own bytes there must be zeros already: a sparse file).
func copyReaderInto(f *os.File, off int64, r io.Reader) error {
	buf := make([]byte, 1<<20)
	zero := make([]byte, 64<<10)
	for pos := int64(0); ; {
		n, err := io.ReadFull(r, buf)
		for i := 0; i < n; i += len(zero) {
			chunk := buf[i:min(i+len(zero), n)]
			if !isZero(chunk, zero) {
				if _, werr := f.WriteAt(chunk, off+pos+int64(i)); werr != nil {
					return werr
				}
			}
		}
		pos += int64(n)
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func isZero(b, zero []byte) bool {
	return string(b) == string(zero[:len(b)])
}
