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
// byte once (the log grows while the system boots).
type serialWatch struct {
	path    string
	needles [][]byte
	found   []bool
	off     int64
	tail    []byte
	keep    int // the longest needle's length less one
}

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
			chunk := append(w.tail, buf[:n]...)
			for i, needle := range w.needles {
				if !w.found[i] && bytes.Contains(chunk, needle) {
					w.found[i] = true
				}
			}
			keep := min(w.keep, len(chunk))
			w.tail = append([]byte(nil), chunk[len(chunk)-keep:]...)
			w.off += int64(n)
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
