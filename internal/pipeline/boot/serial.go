package boot

import (
	"bytes"
	"fmt"
	"os"

	"github.com/linux-builder/linux-builder/internal/pipeline"
)

// What the console is watched for. The marker always; under
// UEFISecureBoot also the proof that Secure Boot was on (what Debian's
// kernel prints, or the line the Linux Builder grub.cfg prints when GRUB
// runs locked down, which shim's Secure Boot makes it), the kernel saying
// it was off, and the refusals of the firmware (OVMF's boot manager, for
// the removable-media loader: "…: Access Denied"), shim ("Verification
// failed: …") and GRUB ("bad shim signature", "prohibited by secure boot
// policy").
const (
	needleMarker = iota
	needleKernelSB
	needleGRUBSB
	needleKernelNoSB
	needleRefusals // the first of the refusals
)

// refusals are the consoles' words for a binary Secure Boot refused.
var refusals = []string{"): Access Denied", "): Security Violation", "Verification failed: ", "bad shim signature", "prohibited by secure boot policy"}

// serialWatch looks for its needles in the console log, reading each
// byte once (the log grows while the system boots), a line at a time.
// The kernel echoes its command line on the console ("Command line: …",
// "Kernel command line: …"), which a spec's kernel parameters or an
// image's boot records write: on such a line only the marker (random,
// unknown to them) counts, never Secure Boot's proof or a refusal.
type serialWatch struct {
	path    string
	needles [][]byte
	found   []bool
	off     int64
	line    []byte // the line being read, up to maxLine bytes
	keep    int    // the longest needle's length less one
}

// maxLine is the longest line kept whole; a longer one (no kernel line
// is: printk records are under 1 KiB) is checked in pieces that overlap
// by the longest needle.
const maxLine = 16 << 10

// echoLine marks the kernel's echo of its command line.
var echoLine = []byte("ommand line: ")

// newSerialWatch watches path for marker and, under Secure Boot, for the
// proof and the refusals.
func newSerialWatch(path, marker string, fw pipeline.Firmware) *serialWatch {
	needles := []string{marker}
	if fw == pipeline.UEFISecureBoot {
		needles = append(needles, "secureboot: Secure boot enabled", pipeline.SecureBootGRUBLine, "secureboot: Secure boot disabled")
		needles = append(needles, refusals...)
	}
	w := &serialWatch{path: path}
	for _, n := range needles {
		w.needles = append(w.needles, []byte(n))
		w.keep = max(w.keep, len(n)-1)
	}
	w.found = make([]bool, len(w.needles))
	return w
}

// check looks for the needles in one line (or piece of a line).
func (w *serialWatch) check(line []byte) {
	echo := bytes.Contains(line, echoLine)
	for i, needle := range w.needles {
		if w.found[i] || (echo && i != needleMarker) {
			continue
		}
		w.found[i] = bytes.Contains(line, needle)
	}
}

func (w *serialWatch) size() int64 {
	info, err := os.Stat(w.path)
	if err != nil {
		return 0
	}
	return info.Size()
}

// seen reports whether needle i has appeared (as of the last scan).
func (w *serialWatch) seen(i int) bool { return i < len(w.found) && w.found[i] }

// refusal is the first refusal seen, or "".
func (w *serialWatch) refusal() string {
	for i := needleRefusals; i < len(w.needles); i++ {
		if w.found[i] {
			return string(w.needles[i])
		}
	}
	return ""
}

// scan reads what the log gained since the last scan, up to
// MaxSerialBytes.
func (w *serialWatch) scan() {
	f, err := os.Open(w.path)
	if err != nil {
		return
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for w.off < MaxSerialBytes {
		n, err := f.ReadAt(buf, w.off)
		if n > 0 {
			w.off += int64(n)
			data := buf[:n]
			for len(data) > 0 {
				i := bytes.IndexByte(data, '\n')
				if i < 0 {
					w.line = append(w.line, data...)
					break
				}
				w.line = append(w.line, data[:i]...)
				w.check(w.line)
				w.line = w.line[:0]
				data = data[i+1:]
			}
			// The line so far: what precedes a needle in it is all there,
			// a command line's echo included.
			w.check(w.line)
			if len(w.line) > maxLine {
				w.line = append(w.line[:0], w.line[len(w.line)-w.keep:]...)
			}
		}
		if err != nil {
			return
		}
	}
}

// secureBootProof checks, once a UEFISecureBoot boot reached its marker,
// that the console said Secure Boot was on: the kernel's word (a kernel
// told "quiet" does not print it), else GRUB's.
func (w *serialWatch) secureBootProof(log func(string)) error {
	w.scan()
	switch {
	case w.seen(needleKernelNoSB):
		return fmt.Errorf("%w: the kernel said %q", ErrSecureBootNotShown, w.needles[needleKernelNoSB])
	case w.seen(needleKernelSB):
		log(fmt.Sprintf("boot (%s): the kernel said %q", pipeline.UEFISecureBoot, w.needles[needleKernelSB]))
		return nil
	case w.seen(needleGRUBSB):
		log(fmt.Sprintf("boot (%s): GRUB said %q (the kernel did not say; a quiet kernel does not)", pipeline.UEFISecureBoot, w.needles[needleGRUBSB]))
		return nil
	}
	return ErrSecureBootNotShown
}
